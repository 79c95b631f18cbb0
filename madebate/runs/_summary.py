"""Per-cell summaries of a run, computed from its records: metric means with 95% intervals
over examples, decision rate, unreadable and failed counts and rates, option positions, turns,
calls, tokens, cache hits and summed discussion time."""

from __future__ import annotations

from collections.abc import Iterable

from madebate.runs._analytics import aggregate_analytics
from madebate.runs._records import (
    CellSummary,
    FailedExample,
    OptionPositions,
    RunRecord,
    RunSummary,
)
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
    example_keys: dict[str, list[str]] = {}
    stop_reasons: dict[str, int] = {}
    for r in records:
        for name, value in r.scores.items():
            scores.setdefault(name, []).append(float(value))
            example_keys.setdefault(name, []).append(r.example_id)
        stop_reasons[r.stop_reason] = stop_reasons.get(r.stop_reason, 0) + 1
    failed = [r for r in records if r.failed]
    messages = sum(len(r.result.messages) for r in records if r.result is not None)
    calls = sum(r.calls for r in records)
    truncated = sum(r.truncated for r in records)
    unreadable = sum(r.unreadable for r in records)
    return CellSummary(
        n=n,
        examples=len({r.example_id for r in records}),
        metrics={m: summarize(v, example_keys[m]) for m, v in scores.items()},
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
        truncated_replies=truncated,
        looped_replies=sum(r.looped for r in records),
        unreadable_replies=unreadable,
        messages=messages,
        unreadable_rate=unreadable / messages if messages else None,
        truncated_rate=truncated / calls if calls else None,
        option_positions=option_positions(records),
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


def option_positions(records: list[RunRecord]) -> OptionPositions | None:
    """Where the references sit and which letters were answered, when the cell is multiple
    choice (a record's task says so; a record that failed before its discussion has no task
    but its references are letters all the same). None otherwise."""
    tasks = [r.result.task for r in records if r.result is not None]
    mc = [t for t in tasks if t.is_multiple_choice and t.options]
    if not mc or len(mc) != len(tasks):
        return None
    letters = max((t.letters for t in mc), key=len)
    correct = dict.fromkeys(letters, 0)
    chosen = dict.fromkeys(letters, 0)
    for r in records:
        for ref in r.references:
            if ref in correct:
                correct[ref] += 1
        if r.answer is not None and r.answer in chosen:
            chosen[r.answer] += 1
    return OptionPositions(correct=correct, chosen=chosen)


def run_time_line(stored: RunSummary | None, cells: dict[str, CellSummary]) -> str:
    """The run's wall time (its sessions added up, from summary.json) and, under its own name,
    the discussions' time summed (they run concurrently, so it is larger)."""
    summed = sum(c.discussion_wall_s for c in cells.values())
    parts = []
    if stored is not None and stored.run_wall_s is not None:
        sessions = stored.sessions or 1
        plural = "s" if sessions != 1 else ""
        parts.append(f"run wall time {stored.run_wall_s:.1f} s ({sessions} session{plural})")
    elif stored is not None and stored.wall_s is not None:
        parts.append(f"last session's wall time {stored.wall_s:.1f} s")
    parts.append(f"discussion time summed {summed:.1f} s")
    return "; ".join(parts)
