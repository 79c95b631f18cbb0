"""madebate: multi-agent conversational task-solving.

Agents with personas discuss a task under a paradigm (a graph of who speaks and who hears whom);
a decision protocol turns the discussion into one answer. Importing does no work: no model is
loaded, no handler installed, no file touched.

The top level holds what a user calls: `discuss`, `Discussion`, experiments and run
directories, the result records, the scripted model and the pure tallies. Extension points
live in their layer's package: `madebate.models` (providers, `ModelAPI`, `ManagedModel`),
`madebate.protocols` (`DecisionProtocol`, the registry), `madebate.engine` (paradigm
compilation, persona sources, the engine's parts) and `madebate.runs` (metrics, executors).
"""

import importlib
import warnings
from typing import Any

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
from madebate.engine._config import RESPONSE_STYLES, Agent, DiscussionConfig, DiscussionSettings
from madebate.engine._discussion import Discussion, discuss, discuss_async
from madebate.engine._paradigm import ParadigmSpec, RepeatSpec, StepSpec
from madebate.engine._paradigm_library import builtin_paradigms, load_paradigm
from madebate.engine._personas import (
    Persona,
    PersonaLibrary,
    builtin_persona_libraries,
    load_persona_library,
)
from madebate.models._model import ChatMessage, GenerateConfig
from madebate.models._models import ModelSpec
from madebate.models.providers.scripted import ScriptedModel, ScriptedRequest
from madebate.protocols._consensus import (
    consensus_tally,
    hybrid,
    majority,
    supermajority,
    unanimity,
)
from madebate.protocols._tally import Tally, approval, borda, cumulative, plurality
from madebate.report._report import ReportableRun as Run
from madebate.report._report import load_reportable_run as load_run
from madebate.runs._datasets import ColumnMap, DatasetSpec, load_dataset
from madebate.runs._experiment import ExperimentSpec, experiment_schema, load_experiment
from madebate.runs._records import CellSummary, RunRecord, RunSummary
from madebate.runs._runner import RunResult, run_experiment, run_experiment_async

__all__ = [
    "RESPONSE_STYLES",
    "Agent",
    "AgentInfo",
    "Ballot",
    "BudgetExceeded",
    "CallRecord",
    "CellSummary",
    "ChatMessage",
    "ColumnMap",
    "ConfigError",
    "DatasetSpec",
    "Decision",
    "Discussion",
    "DiscussionConfig",
    "DiscussionResult",
    "DiscussionSettings",
    "ErrorInfo",
    "ExperimentSpec",
    "GenerateConfig",
    "MadebateError",
    "Message",
    "ModelCallError",
    "ModelSpec",
    "ParadigmSpec",
    "Persona",
    "PersonaLibrary",
    "RepeatSpec",
    "Run",
    "RunRecord",
    "RunResult",
    "RunSummary",
    "ScriptedModel",
    "ScriptedRequest",
    "Stance",
    "StepSpec",
    "Tally",
    "Task",
    "Usage",
    "__version__",
    "approval",
    "borda",
    "builtin_paradigms",
    "builtin_persona_libraries",
    "consensus_tally",
    "cumulative",
    "discuss",
    "discuss_async",
    "experiment_schema",
    "hybrid",
    "load_dataset",
    "load_experiment",
    "load_paradigm",
    "load_persona_library",
    "load_run",
    "majority",
    "plurality",
    "run_experiment",
    "run_experiment_async",
    "supermajority",
    "unanimity",
]

# Extension points that used to be exported here, and the package that holds them now. They
# still resolve (with a DeprecationWarning naming the new home) so that old code keeps working.
_MOVED = {
    "CallContext": "madebate.models",
    "ManagedModel": "madebate.models",
    "ModelAPI": "madebate.models",
    "ModelOutput": "madebate.models",
    "build_model": "madebate.models",
    "create_provider": "madebate.models",
    "providers": "madebate.models",
    "DecisionContext": "madebate.protocols",
    "DecisionProtocol": "madebate.protocols",
    "SupportState": "madebate.protocols",
    "create_protocol": "madebate.protocols",
    "protocols": "madebate.protocols",
    "track_support": "madebate.protocols",
    "CompiledParadigm": "madebate.engine",
    "CompiledStep": "madebate.engine",
    "ParadigmWarning": "madebate.engine",
    "PersonaSource": "madebate.engine",
    "compile_paradigm": "madebate.engine",
    "persona_sources": "madebate.engine",
    "Cell": "madebate.runs",
    "LocalExecutor": "madebate.runs",
    "RayExecutor": "madebate.runs",
    "TaskSpec": "madebate.runs",
    "expand_cells": "madebate.runs",
    "metrics": "madebate.runs",
    "read_number": "madebate.runs",
    "score": "madebate.runs",
    "summarize": "madebate.runs",
}


def __getattr__(name: str) -> Any:
    home = _MOVED.get(name)
    if home is None:
        raise AttributeError(f"module 'madebate' has no attribute {name!r}")
    warnings.warn(f"madebate.{name} moved to {home}.{name}", DeprecationWarning, stacklevel=2)
    return getattr(importlib.import_module(home), name)
