"""Reading a finished (or interrupted) run back: its spec, cells, records and summary, each
validated (files from older versions upgraded, see `madebate.runs._records.upgrade`)."""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from madebate._errors import ConfigError
from madebate._yaml import config_error_from, read_yaml
from madebate.runs._experiment import ExperimentSpec
from madebate.runs._records import RunRecord, RunSummary, parse_summary
from madebate.runs._runlog import (
    DAMAGED_HINT,
    SPEC_FILE,
    SUMMARY_FILE,
    iter_latest_records,
    latest_line_numbers,
    read_cells,
)
from madebate.runs._scoring import score
from madebate.runs._summary import summarize_records


@dataclass
class Run:
    """A run directory read back. Its records are read when asked for: `records` holds them
    all; `iter_records`, `summary` and `rows` stream them, so a run of any size can be
    summarised in little memory."""

    run_dir: Path
    spec: ExperimentSpec
    """The experiment as the run resolved it (spec.yaml), validated."""
    spec_data: dict[str, Any]
    """spec.yaml as it is on disk (a plain mapping)."""
    cells: list[str]
    """The sweep cells' ids, in the sweep's order."""
    cell_overrides: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Per cell id, the sweep values that made the cell ({"paradigm": "debate", ...})."""
    record_lines: list[int] = field(default_factory=list, repr=False)
    """Where the run's records are: their line numbers in records.jsonl (lines are only ever
    appended, so these stay valid while a resume adds more)."""

    @property
    def n_records(self) -> int:
        """How many records the run has (one per cell, example and repeat that finished)."""
        return len(self.record_lines)

    @cached_property
    def records(self) -> list[RunRecord]:
        """One record per (cell, example, repeat): the latest written. All of them in memory,
        transcripts included: for a large run, `iter_records` reads them one at a time."""
        return list(self.iter_records())

    def iter_records(self, positions: list[int] | None = None) -> Iterator[RunRecord]:
        """The records in order, one at a time (from memory once `records` was read); with
        `positions` (ascending places among them), those only: the others are not parsed."""
        if "records" in self.__dict__:
            held = self.records
            return iter(held if positions is None else [held[i] for i in positions])
        lines = self.record_lines
        if positions is not None:
            lines = [lines[i] for i in positions]
        return iter_latest_records(self.run_dir, lines=lines)

    @cached_property
    def summary(self) -> RunSummary:
        """The cells' summaries, recomputed from the records, so it is right for an interrupted
        run too (its session fields are None: `stored_summary` has those). Streamed: the
        records are not held."""
        return summarize_records(self.iter_records(), self.cells)

    @property
    def stored_summary(self) -> RunSummary | None:
        """summary.json as the last session wrote it (None if none did)."""
        return read_summary_file(self.run_dir)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per record (no transcript): easy to tabulate without pandas."""
        flat = []
        for r in self.iter_records():
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
        return list(self.iter_rescored(metrics))

    def iter_rescored(self, metrics: list[str]) -> Iterator[RunRecord]:
        """`rescore` one record at a time."""
        for r in self.iter_records():
            if r.result is None:  # failed before a discussion existed: stays wrong
                scores = dict.fromkeys(metrics, 0.0)
            else:
                scores = score(r.answer, r.solution, r.result.task, metrics)
            yield r.model_copy(update={"scores": scores})


def load_run(run_dir: str | Path) -> Run:
    """Read a run directory: spec.yaml, cells.json and records.jsonl, validated (each record's
    line is checked now, as far as telling which records are the run's needs; the records
    themselves are read when asked for)."""
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
    cells = read_cells(path)
    return Run(
        run_dir=path,
        spec=spec,
        spec_data=spec_data,
        cells=[c.id for c in cells],
        cell_overrides={c.id: c.overrides for c in cells},
        record_lines=latest_line_numbers(path),
    )


def read_summary_file(run_dir: Path) -> RunSummary | None:
    """summary.json of a run directory, upgraded and validated; None when there is none."""
    path = run_dir / SUMMARY_FILE
    if not path.exists():
        return None
    hint = (
        "summary.json only holds the last session's figures (the records hold the results): "
        f"delete it, and madebate run --resume {run_dir} writes it again"
    )
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:  # a folder in its place, no permission
        raise ConfigError(f"cannot read it ({exc.strerror}); {hint}", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); {hint}", source=str(path)) from None
    except (ValueError, RecursionError) as exc:  # not JSON, a number too long, nested too deep
        problem = exc if isinstance(exc, ValueError) else "nested too deep"
        raise ConfigError(f"not JSON: {problem}; {hint}", source=str(path)) from None
    try:
        return parse_summary(data, source=str(path))
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {hint}") from None
