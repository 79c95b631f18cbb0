"""madebate: multi-agent conversational task-solving.

Agents with personas discuss a task under a paradigm (a graph of who speaks and who hears whom);
a decision protocol turns the discussion into one answer. Importing does no work: no model is
loaded, no handler installed, no file touched.
"""

from madebate._config import RESPONSE_STYLES, DiscussionConfig
from madebate._consensus import consensus_tally, hybrid, majority, supermajority, unanimity
from madebate._discussion import Discussion, discuss, discuss_async
from madebate._errors import BudgetExceeded, ConfigError, MadebateError, ModelCallError
from madebate._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput
from madebate._model_managed import ManagedModel
from madebate._models import create_provider, providers
from madebate._paradigm import ParadigmSpec, RepeatSpec, StepSpec, builtin_paradigms, load_paradigm
from madebate._paradigm_compile import CompiledParadigm, CompiledStep, compile_paradigm
from madebate._personas import (
    Persona,
    PersonaLibrary,
    PersonaSource,
    builtin_persona_libraries,
    load_persona_library,
    persona_sources,
)
from madebate._protocols import DecisionContext, DecisionProtocol, create_protocol, protocols
from madebate._results import (
    AgentInfo,
    Ballot,
    CallRecord,
    Decision,
    DiscussionResult,
    ErrorInfo,
    Message,
    Stance,
    Usage,
)
from madebate._support import SupportState, track_support
from madebate._task import Task
from madebate.providers.scripted import ScriptedModel, ScriptedRequest

__version__ = "0.1.0"

__all__ = [
    "RESPONSE_STYLES",
    "AgentInfo",
    "Ballot",
    "BudgetExceeded",
    "CallContext",
    "CallRecord",
    "ChatMessage",
    "CompiledParadigm",
    "CompiledStep",
    "ConfigError",
    "Decision",
    "DecisionContext",
    "DecisionProtocol",
    "Discussion",
    "DiscussionConfig",
    "DiscussionResult",
    "ErrorInfo",
    "GenerateConfig",
    "MadebateError",
    "ManagedModel",
    "Message",
    "ModelAPI",
    "ModelCallError",
    "ModelOutput",
    "ParadigmSpec",
    "Persona",
    "PersonaLibrary",
    "PersonaSource",
    "RepeatSpec",
    "ScriptedModel",
    "ScriptedRequest",
    "Stance",
    "StepSpec",
    "SupportState",
    "Task",
    "Usage",
    "__version__",
    "builtin_paradigms",
    "builtin_persona_libraries",
    "compile_paradigm",
    "consensus_tally",
    "create_protocol",
    "create_provider",
    "discuss",
    "discuss_async",
    "hybrid",
    "load_paradigm",
    "load_persona_library",
    "majority",
    "persona_sources",
    "protocols",
    "providers",
    "supermajority",
    "track_support",
    "unanimity",
]
