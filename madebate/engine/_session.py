"""The parts of one discussion's execution, as the loop and its extensions (baselines, the
challenge, the drift judge) share them: the task, the settings, the plan, the team, the
transcript, the call gate and the speaker."""

from __future__ import annotations

from dataclasses import dataclass, field

from madebate._task import Task
from madebate.engine._config import DiscussionConfig
from madebate.engine._gate import CallGate
from madebate.engine._paradigm_compile import CompiledParadigm
from madebate.engine._plan import DiscussionPlan
from madebate.engine._speaker import Speaker
from madebate.engine._team import Team, TeamModels
from madebate.engine._transcript import Transcript
from madebate.models._model_managed import ManagedModel
from madebate.protocols._protocols import DecisionProtocol


@dataclass
class Session:
    """One execution of a discussion. Extensions call models through `gate`, read `transcript`
    and `team`, and return what they decide; only the loop adds to the transcript."""

    task: Task
    task_text: str  # the task as every prompt shows it
    config: DiscussionConfig
    plan: DiscussionPlan
    team: Team
    transcript: Transcript
    gate: CallGate
    speaker: Speaker
    warnings: list[str] = field(default_factory=list)
    models: TeamModels | None = None  # each slot's model in a mixed team

    @property
    def paradigm(self) -> CompiledParadigm:
        return self.plan.paradigm

    @property
    def protocol(self) -> DecisionProtocol:
        return self.plan.protocol


def open_session(
    *,
    task: Task,
    task_text: str,
    config: DiscussionConfig,
    plan: DiscussionPlan,
    model: ManagedModel,
    json_replies: bool,
    models: TeamModels | None = None,
) -> Session:
    """The parts of a fresh execution, wired together (no call is made). `models`: each
    slot's own model and sampling settings, in a mixed team."""
    wants_logprobs = bool(getattr(plan.protocol, "wants_logprobs", False))
    warnings: list[str] = []
    team = Team()
    gate = CallGate(
        model,
        config,
        persona_names=team.persona_names,
        logprobs=wants_logprobs,
        models=models.models if models else None,
        generations=models.generations if models else None,
    )
    transcript = Transcript(
        plan.paradigm.voters,
        memory_window=plan.paradigm.memory_window,
        blind_turns=config.blind_turns,
    )
    speaker = Speaker(
        task=task,
        task_text=task_text,
        config=config,
        gate=gate,
        json_replies=json_replies,
        wants_logprobs=wants_logprobs,
        warnings=warnings,
        json_by_slot=models.json_replies if models else None,
    )
    return Session(task, task_text, config, plan, team, transcript, gate, speaker, warnings, models)
