"""Reading a finished (or interrupted) run back: records as plain dicts, the spec, the summary."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from madebate._errors import ConfigError
from madebate.runs._runlog import CELLS_FILE, RECORDS_FILE, SPEC_FILE, SUMMARY_FILE, latest_records
from madebate.runs._scoring import score
from madebate.runs._summary import summarize_records
from madebate._task import Task


@dataclass
class Run:
    run_dir: Path
    spec: dict[str, Any]
    cells: list[str]
    records: list[dict[str, Any]]

    @property
    def summary(self) -> dict[str, Any]:
        """Recomputed from the records, so it is right for an interrupted run too."""
        return summarize_records(self.records, self.cells)

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per record (no transcript): easy to tabulate without pandas."""
        flat = []
        for r in self.records:
            row = {
                k: v for k, v in r.items() if k not in ("result", "scores", "error", "analytics")
            }
            analytics = r.get("analytics") or {}
            row.update(
                {
                    f"analytics.{k}": v
                    for k, v in analytics.items()
                    if not isinstance(v, list | dict)
                }
            )
            row.update({f"score.{k}": v for k, v in (r.get("scores") or {}).items()})
            row["error"] = (r.get("error") or {}).get("message")
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

    def rescore(self, metrics: list[str]) -> list[dict[str, Any]]:
        """Scores of every record under other metrics, from the stored answer and task."""
        out = []
        for r in self.records:
            if r.get("result") is None:  # failed before a discussion existed: stays wrong
                out.append({**r, "scores": dict.fromkeys(metrics, 0.0)})
                continue
            task = Task.model_validate(r["result"]["task"])
            out.append({**r, "scores": score(r.get("answer"), r.get("solution"), task, metrics)})
        return out


def load_run(run_dir: str | Path) -> Run:
    path = Path(run_dir)
    if not (path / RECORDS_FILE).exists() and not (path / SPEC_FILE).exists():
        raise ConfigError("not a run directory (no records.jsonl or spec.yaml)", source=str(path))
    spec = (
        yaml.safe_load((path / SPEC_FILE).read_text(encoding="utf-8"))
        if (path / SPEC_FILE).exists()
        else {}
    )
    cells: list[str] = []
    if (path / CELLS_FILE).exists():
        cells = [c["id"] for c in json.loads((path / CELLS_FILE).read_text(encoding="utf-8"))]
    return Run(run_dir=path, spec=spec or {}, cells=cells, records=latest_records(path))


def read_summary_file(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / SUMMARY_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
