"""Per-cell summaries of a run, computed from its records: metric means with 95% intervals
over examples, decision rate, unreadable and failed counts and rates, option positions, turns,
calls, tokens, cache hits and summed discussion time.

The records stream through a `CellTally` per cell, one at a time, so a run of 100,000 examples
is summarised without holding them: what is kept is counts and sums, and one number per record
only where the result needs it (the scores by example for the intervals over examples, and the
floats whose sum must come out exactly as the whole list's would)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable

from madebate._results import Usage, usage_by_model
from madebate._task import LETTERS
from madebate.runs._analytics import AnalyticsTally
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
    """The cells' summaries (in `cell_order`, then any other cell by id); no session fields.
    `records` may be a stream (`madebate.runs._runlog.iter_latest_records`): each is read once
    and not kept."""
    tallies: dict[str, CellTally] = {}
    for r in records:
        tally = tallies.get(r.cell)
        if tally is None:
            tally = tallies[r.cell] = CellTally()
        tally.add(r)
    order = [k for k in (cell_order or []) if k in tallies] + sorted(
        k for k in tallies if k not in (cell_order or [])
    )
    return RunSummary(cells={key: tallies[key].summary() for key in order})


def summarize_cell(records: Iterable[RunRecord]) -> CellSummary:
    """One cell's numbers over its records (at least one)."""
    tally = CellTally()
    for r in records:
        tally.add(r)
    return tally.summary()


class CellTally:
    """One cell's `CellSummary`, built one record at a time."""

    def __init__(self) -> None:
        self.n = 0
        self.decided = 0
        self.no_answer = 0
        self.errors = 0
        self.turns = 0
        self.calls = 0
        self.tokens = 0
        self.cache_hits = 0
        self.retries = 0
        self.failed_calls = 0
        self.truncated = 0
        self.looped = 0
        self.unreadable = 0
        self.messages = 0
        self.examples: set[str] = set()
        self.stop_reasons: dict[str, int] = {}
        # Per metric, each score and its example, in record order: `summarize` averages an
        # example's repeats before the interval.
        self.scores: dict[str, array[float]] = {}
        self.score_examples: dict[str, list[str]] = {}
        self.wall = array("d")
        self.failed_examples: list[FailedExample] = []
        self.analytics = AnalyticsTally()
        self.positions = _PositionTally()
        self.by_model: dict[str, Usage] = {}  # calls and tokens per model (a mixed team's)

    def add(self, r: RunRecord) -> None:
        self.n += 1
        self.decided += r.decided
        self.no_answer += r.answer is None
        self.turns += r.turns
        self.calls += r.calls
        self.tokens += r.tokens
        self.cache_hits += r.cache_hits
        self.retries += r.retries
        self.failed_calls += r.failed_calls
        self.truncated += r.truncated
        self.looped += r.looped
        self.unreadable += r.unreadable
        self.wall.append(r.wall_s)
        self.examples.add(r.example_id)
        self.stop_reasons[r.stop_reason] = self.stop_reasons.get(r.stop_reason, 0) + 1
        for name, value in r.scores.items():
            if name not in self.scores:
                self.scores[name] = array("d")
                self.score_examples[name] = []
            self.scores[name].append(float(value))
            self.score_examples[name].append(r.example_id)
        if r.result is not None:
            self.messages += len(r.result.messages)
            for name, u in usage_by_model(r.result.calls).items():
                total = self.by_model.setdefault(name, Usage())
                total.calls += u.calls
                total.prompt_tokens += u.prompt_tokens
                total.completion_tokens += u.completion_tokens
        if r.failed:
            self.errors += 1
            if len(self.failed_examples) < _MAX_FAILED:
                cause = (r.error.message if r.error else "")[:300]
                self.failed_examples.append(
                    FailedExample(example_id=r.example_id, repeat=r.repeat, cause=cause)
                )
        self.analytics.add(r.analytics)
        self.positions.add(r)

    def summary(self) -> CellSummary:
        n = self.n
        messages, calls = self.messages, self.calls
        return CellSummary(
            n=n,
            examples=len(self.examples),
            metrics={m: summarize(v, self.score_examples[m]) for m, v in self.scores.items()},
            decision_rate=self.decided / n,
            undecided=n - self.decided,
            no_answer=self.no_answer,
            errors=self.errors,
            mean_turns=self.turns / n,
            calls_per_example=calls / n,
            tokens_per_example=self.tokens / n,
            cache_hits=self.cache_hits,
            retries=self.retries,
            failed_calls=self.failed_calls,
            truncated_replies=self.truncated,
            looped_replies=self.looped,
            unreadable_replies=self.unreadable,
            messages=messages,
            unreadable_rate=self.unreadable / messages if messages else None,
            truncated_rate=self.truncated / calls if calls else None,
            option_positions=self.positions.result(),
            failed_examples=list(self.failed_examples),
            discussion_wall_s=sum(self.wall),
            stop_reasons=dict(self.stop_reasons),
            analytics=self.analytics.result(),
            usage_by_model=dict(sorted(self.by_model.items())),
        )


class _PositionTally:
    """Where the references sit and which letters were answered, when the cell is multiple
    choice (a record's task says so; a record that failed before its discussion has no task
    but its references are letters all the same). None otherwise."""

    def __init__(self) -> None:
        self.tasks = 0  # records with a discussion (and so a task)
        self.multiple_choice = 0  # of those, multiple-choice tasks with options
        self.options = 0  # the most options any of them had
        self.references: Counter[str] = Counter()
        self.answers: Counter[str] = Counter()

    def add(self, r: RunRecord) -> None:
        if r.result is not None:
            self.tasks += 1
            task = r.result.task
            if task.is_multiple_choice and task.options:
                self.multiple_choice += 1
                self.options = max(self.options, len(task.options))
        self.references.update(r.references)
        if r.answer is not None:
            self.answers[r.answer] += 1

    def result(self) -> OptionPositions | None:
        if not self.multiple_choice or self.multiple_choice != self.tasks:
            return None
        letters = LETTERS[: self.options]  # every task's letters are a prefix of these
        return OptionPositions(
            correct={x: self.references[x] for x in letters},
            chosen={x: self.answers[x] for x in letters},
        )


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
