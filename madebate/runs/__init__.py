"""Runs: experiment specs, datasets, scoring, the runner and its executors, run directories and
their summaries. Above the engine.

Extension points: register a metric in `metrics`; an `Executor` (see `LocalExecutor`,
`RayExecutor`) decides where a run's examples execute.
"""

from madebate.runs import _presets  # noqa: F401  (registers the preset loader)
from madebate.runs._datasets import ColumnMap, DatasetSpec, load_dataset
from madebate.runs._executor_ray import RayExecutor
from madebate.runs._experiment import Cell, ExperimentSpec, TaskSpec, expand_cells
from madebate.runs._records import CellSummary, RunRecord, RunSummary
from madebate.runs._runner import LocalExecutor, RunResult
from madebate.runs._scoring import metrics, read_number, score, summarize

__all__ = [
    "Cell",
    "CellSummary",
    "ColumnMap",
    "DatasetSpec",
    "ExperimentSpec",
    "LocalExecutor",
    "RayExecutor",
    "RunRecord",
    "RunResult",
    "RunSummary",
    "TaskSpec",
    "expand_cells",
    "load_dataset",
    "metrics",
    "read_number",
    "score",
    "summarize",
]
