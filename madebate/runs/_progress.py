"""The live progress display of a run: per cell done/total, calls, tokens, cache hits, running
accuracy and ETA. Updated once per finished example, never per call."""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from madebate.runs._records import RunRecord


class RunProgress:
    def __init__(self, totals: dict[str, int], *, enabled: bool, console: Console | None = None):
        self.enabled = enabled
        self._stats: dict[str, dict[str, float]] = {
            cell: {"done": 0, "calls": 0, "tokens": 0, "hits": 0, "score": 0.0} for cell in totals
        }
        self._progress: Progress | None = None
        self._ids: dict[str, TaskID] = {}
        if enabled:
            self._progress = Progress(
                TextColumn("{task.fields[cell]}", style="bold"),
                BarColumn(bar_width=24),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                refresh_per_second=4,
            )
            for cell, total in totals.items():
                self._ids[cell] = self._progress.add_task("", total=total, cell=cell, stats="")

    def add(self, record: RunRecord) -> None:
        s = self._stats.get(record.cell)
        if s is None:
            return
        s["done"] += 1
        s["calls"] += record.calls
        s["tokens"] += record.tokens
        s["hits"] += record.cache_hits
        scores = record.scores
        if scores:
            s["score"] += float(next(iter(scores.values())))
        if self._progress is not None:
            metric = next(iter(scores), "score")
            text = (
                f"calls {int(s['calls'])} · tokens {int(s['tokens'])} · cache hits {int(s['hits'])}"
                f" · {metric} {s['score'] / s['done']:.3f}"
            )
            self._progress.update(self._ids[record.cell], advance=1, stats=text)

    def __enter__(self) -> RunProgress:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._progress is not None:
            self._progress.stop()
