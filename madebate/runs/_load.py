"""Reading a finished (or interrupted) run back: its spec, cells, records and summary, each
validated (files from older versions upgraded, see `madebate.runs._records.upgrade`)."""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from madebate._errors import ConfigError
from madebate._yaml import config_error_from, read_yaml
from madebate.runs._experiment import ExperimentSpec
from madebate.runs._records import RunRecord, RunSummary, parse_summary
from madebate.runs._runlog import CELLS_FILE, DAMAGED_HINT, SPEC_FILE, SUMMARY_FILE, latest_records
from madebate.runs._scoring import score
from madebate.runs._summary import summarize_records


class RunCell(BaseModel):
    """One sweep cell as cells.json lists it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    overrides: dict[str, Any] = {}


_CELLS = TypeAdapter(list[RunCell])


@dataclass
class Run:
    """A run directory read back."""

    run_dir: Path
    spec: ExperimentSpec
    """The experiment as the run resolved it (spec.yaml), validated."""
    spec_data: dict[str, Any]
    """spec.yaml as it is on disk (a plain mapping)."""
    cells: list[str]
    """The sweep cells' ids, in the sweep's order."""
    records: list[RunRecord]
    """One record per (cell, example, repeat): the latest written."""
    cell_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per cell id, the sweep values that made the cell ({"paradigm": "debate", ...})."""

    @property
    def summary(self) -> RunSummary:
        """The cells' summaries, recomputed from the records, so it is right for an interrupted
        run too (its session fields are None: `stored_summary` has those)."""
        return summarize_records(self.records, self.cells)

    @property
    def stored_summary(self) -> RunSummary | None:
        """summary.json as the last session wrote it (None if none did)."""
        return read_summary_file(self.run_dir)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per record (no transcript): easy to tabulate without pandas."""
        flat = []
        for r in self.records:
            row = r.model_dump(
                mode="json", exclude={"schema_version", "result", "scores", "error", "analytics"}
            )
            row.update(
                {
                    f"analytics.{k}": v
                    for k, v in (r.analytics or {}).items()
                    if not isinstance(v, list | dict)
                }
            )
            row.update({f"score.{k}": v for k, v in r.scores.items()})
            row["error"] = r.error.message if r.error else None
            flat.append(row)
        return flat

    def to_dataframe(self) -> Any:
        try:
            import pandas as pd
        except ImportError:
            raise ImportError(
                "to_dataframe() needs pandas (pip install pandas); rows() needs nothing"
            ) from None
        return pd.DataFrame(self.rows())

    def rescore(self, metrics: list[str]) -> list[RunRecord]:
        """The records scored under other metrics, from the stored answer and task."""
        out = []
        for r in self.records:
            if r.result is None:  # failed before a discussion existed: stays wrong
                scores = dict.fromkeys(metrics, 0.0)
            else:
                scores = score(r.answer, r.solution, r.result.task, metrics)
            out.append(r.model_copy(update={"scores": scores}))
        return out


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory: spec.yaml, cells.json and records.jsonl, validated."""
    path = Path(run_dir)
    spec_file = path / SPEC_FILE
    if not spec_file.exists():
        raise ConfigError("not a run directory (no spec.yaml)", source=str(path))
    spec_data = read_yaml(spec_file)
    if not isinstance(spec_data, dict):
        got = "an empty file" if spec_data is None else type(spec_data).__name__
        raise ConfigError(
            f"expected the experiment's settings, got {got}; {DAMAGED_HINT}", source=str(spec_file)
        )
    try:
        with warnings.catch_warnings():
            # A run directory's spec is as its run wrote it: an earlier layout is read through
            # the spec's own upgrade, without asking anyone to rewrite it.
            warnings.simplefilter("ignore", FutureWarning)
            spec = ExperimentSpec.model_validate(spec_data)
    except ValidationError as exc:
        raise config_error_from(exc, source=str(spec_file), model=ExperimentSpec) from None
    cells: list[RunCell] = []
    cells_file = path / CELLS_FILE
    if cells_file.exists():
        try:
            cells = _CELLS.validate_json(cells_file.read_bytes())
        except ValidationError as exc:
            err = config_error_from(exc, source=str(cells_file))
            raise ConfigError(f"{err}; {DAMAGED_HINT}") from None
        except RecursionError:
            raise ConfigError(
                f"nested too deep to read; {DAMAGED_HINT}", source=str(cells_file)
            ) from None
    return Run(
        run_dir=path,
        spec=spec,
        spec_data=spec_data,
        cells=[c.id for c in cells],
        records=latest_records(path),
        cell_overrides={c.id: c.overrides for c in cells},
    )


def read_summary_file(run_dir: Path) -> RunSummary | None:
    """summary.json of a run directory, upgraded and validated; None when there is none."""
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not JSON: {exc}", source=str(path)) from None
    return parse_summary(data, source=str(path))
