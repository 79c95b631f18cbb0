"""The discussion engine: settings, paradigms, personas, the turn loop and its extensions
(baselines, challenge, drift judge). Above the protocols and the models.

`Discussion` checks its settings into a `DiscussionPlan` and runs as a `Session` of parts, each
with one job, which the loop and the extensions share:

- `Transcript`: the messages, who received each, what an agent sees within the memory window
  and which solution it is shown as current (followed message by message);
- `CallGate`: every model call (turns, personas, ballots, judge, drift, challenge, extraction,
  baselines) passes it: the call and token budget, per-call seeds, the call records;
- `Speaker`: one agent's prompt, fitted to the model's context, called through the gate and
  read into a typed turn (`Spoken`);
- `Team`: the seated agents (`Agent`: persona and system prompt per slot);
- `TurnLoop`: the turns, the decision points, and a turn played again when the drift judge
  asks for it. Extensions (baselines, the challenge, the drift judge) call models through the
  gate, read the transcript and return what they decide; only the loop adds to the transcript.
"""

from madebate.engine._discussion import Discussion, discuss, discuss_async
from madebate.engine._gate import CallGate, call_seed
from madebate.engine._loop import TurnLoop
from madebate.engine._paradigm_compile import (
    CompiledParadigm,
    CompiledStep,
    ParadigmWarning,
    compile_paradigm,
)
from madebate.engine._personas import PersonaSource, PersonaWarning, persona_sources
from madebate.engine._plan import DiscussionPlan, check_config
from madebate.engine._session import Session, open_session
from madebate.engine._speaker import Speaker, Spoken
from madebate.engine._team import Agent, Team
from madebate.engine._transcript import Shown, Transcript

__all__ = [
    "Agent",
    "CallGate",
    "CompiledParadigm",
    "CompiledStep",
    "Discussion",
    "DiscussionPlan",
    "ParadigmWarning",
    "PersonaSource",
    "PersonaWarning",
    "Session",
    "Shown",
    "Speaker",
    "Spoken",
    "Team",
    "Transcript",
    "TurnLoop",
    "call_seed",
    "check_config",
    "compile_paradigm",
    "discuss",
    "discuss_async",
    "open_session",
    "persona_sources",
]
