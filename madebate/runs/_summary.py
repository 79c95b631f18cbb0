"""Per-cell summaries of a run, computed from its records: metric means with 95% intervals,
decision rate, unreadable and failed counts, turns, calls, tokens, cache hits and wall time."""

from __future__ import annotations

from collections.abc import Iterable

from madebate.runs._analytics import aggregate_analytics
from madebate.runs._records import CellSummary, FailedExample, RunRecord, RunSummary
from madebate.runs._scoring import summarize

_MAX_FAILED = 50  # failed examples listed per cell, with their cause


def summarize_records(
    records: Iterable[RunRecord], cell_order: list[str] | None = None
) -> RunSummary:
    """The cells' summaries (in `cell_order`, then any other cell by id); no session fields."""
    by_cell: dict[str, list[RunRecord]] = {}
    for r in records:
        by_cell.setdefault(r.cell, []).append(r)
    order = [k for k in (cell_order or []) if k in by_cell] + sorted(
        k for k in by_cell if k not in (cell_order or [])
    )
    return RunSummary(cells={key: summarize_cell(by_cell[key]) for key in order})


def summarize_cell(records: list[RunRecord]) -> CellSummary:
    """One cell's numbers over its records (at least one)."""
    n = len(records)
    decided = sum(r.decided for r in records)
    scores: dict[str, list[float]] = {}
    stop_reasons: dict[str, int] = {}
    for r in records:
        for name, value in r.scores.items():
            scores.setdefault(name, []).append(float(value))
        stop_reasons[r.stop_reason] = stop_reasons.get(r.stop_reason, 0) + 1
    failed = [r for r in records if r.failed]
    return CellSummary(
        n=n,
        metrics={m: summarize(v) for m, v in scores.items()},
        decision_rate=decided / n,
        undecided=n - decided,
        no_answer=sum(r.answer is None for r in records),
        errors=len(failed),
        mean_turns=sum(r.turns for r in records) / n,
        calls_per_example=sum(r.calls for r in records) / n,
        tokens_per_example=sum(r.tokens for r in records) / n,
        cache_hits=sum(r.cache_hits for r in records),
        retries=sum(r.retries for r in records),
        failed_calls=sum(r.failed_calls for r in records),
        truncated_replies=sum(r.truncated for r in records),
        looped_replies=sum(r.looped for r in records),
        unreadable_replies=sum(r.unreadable for r in records),
        failed_examples=[
            FailedExample(
                example_id=r.example_id,
                repeat=r.repeat,
                cause=(r.error.message if r.error else "")[:300],
            )
            for r in failed[:_MAX_FAILED]
        ],
        discussion_wall_s=sum(r.wall_s for r in records),
        stop_reasons=stop_reasons,
        # aggregate_analytics reads {"analytics": ...} items: only that, not the whole record.
        analytics=aggregate_analytics(
            {"analytics": r.analytics} for r in records if r.analytics is not None
        ),
    )
