"""madebate: multi-agent conversational task-solving.

Agents with personas discuss a task under a paradigm (a graph of who speaks and who hears whom);
a decision protocol turns the discussion into one answer. Importing does no work: no model is
loaded, no handler installed, no file touched.
"""

from madebate._errors import BudgetExceeded, ConfigError, MadebateError, ModelCallError
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
from madebate._task import Task
from madebate._version import __version__
from madebate.engine._config import RESPONSE_STYLES, DiscussionConfig, DiscussionSettings
from madebate.engine._discussion import Discussion, discuss, discuss_async
from madebate.engine._paradigm import ParadigmSpec, RepeatSpec, StepSpec
from madebate.engine._paradigm_compile import (
    CompiledParadigm,
    CompiledStep,
    ParadigmWarning,
    compile_paradigm,
)
from madebate.engine._paradigm_library import builtin_paradigms, load_paradigm
from madebate.engine._personas import (
    Persona,
    PersonaLibrary,
    PersonaSource,
    builtin_persona_libraries,
    load_persona_library,
    persona_sources,
)
from madebate.models._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput
from madebate.models._model_managed import ManagedModel
from madebate.models._models import build_model, create_provider, providers
from madebate.models.providers.scripted import ScriptedModel, ScriptedRequest
from madebate.protocols._consensus import (
    consensus_tally,
    hybrid,
    majority,
    supermajority,
    unanimity,
)
from madebate.protocols._protocols import (
    DecisionContext,
    DecisionProtocol,
    create_protocol,
    protocols,
)
from madebate.protocols._support import SupportState, track_support
from madebate.protocols._tally import Tally, approval, borda, cumulative, plurality
from madebate.report._report import ReportableRun as Run
from madebate.report._report import load_reportable_run as load_run
from madebate.runs._datasets import ColumnMap, DatasetSpec, load_dataset
from madebate.runs._executor_ray import RayExecutor
from madebate.runs._experiment import (
    Cell,
    ExperimentSpec,
    ModelSpec,
    TaskSpec,
    expand_cells,
    experiment_schema,
    load_experiment,
)
from madebate.runs._records import CellSummary, RunRecord, RunSummary
from madebate.runs._runner import LocalExecutor, RunResult, run_experiment, run_experiment_async
from madebate.runs._scoring import metrics, read_number, score, summarize

__all__ = [
    "RESPONSE_STYLES",
    "AgentInfo",
    "Ballot",
    "BudgetExceeded",
    "CallContext",
    "CallRecord",
    "Cell",
    "CellSummary",
    "ChatMessage",
    "ColumnMap",
    "CompiledParadigm",
    "CompiledStep",
    "ConfigError",
    "DatasetSpec",
    "Decision",
    "DecisionContext",
    "DecisionProtocol",
    "Discussion",
    "DiscussionConfig",
    "DiscussionResult",
    "DiscussionSettings",
    "ErrorInfo",
    "ExperimentSpec",
    "GenerateConfig",
    "LocalExecutor",
    "MadebateError",
    "ManagedModel",
    "Message",
    "ModelAPI",
    "ModelCallError",
    "ModelOutput",
    "ModelSpec",
    "ParadigmSpec",
    "ParadigmWarning",
    "Persona",
    "PersonaLibrary",
    "PersonaSource",
    "RayExecutor",
    "RepeatSpec",
    "Run",
    "RunRecord",
    "RunResult",
    "RunSummary",
    "ScriptedModel",
    "ScriptedRequest",
    "Stance",
    "StepSpec",
    "SupportState",
    "Tally",
    "Task",
    "TaskSpec",
    "Usage",
    "__version__",
    "approval",
    "borda",
    "build_model",
    "builtin_paradigms",
    "builtin_persona_libraries",
    "compile_paradigm",
    "consensus_tally",
    "create_protocol",
    "create_provider",
    "cumulative",
    "discuss",
    "discuss_async",
    "expand_cells",
    "experiment_schema",
    "hybrid",
    "load_dataset",
    "load_experiment",
    "load_paradigm",
    "load_persona_library",
    "load_run",
    "majority",
    "metrics",
    "persona_sources",
    "plurality",
    "protocols",
    "providers",
    "read_number",
    "run_experiment",
    "run_experiment_async",
    "score",
    "summarize",
    "supermajority",
    "track_support",
    "unanimity",
]
