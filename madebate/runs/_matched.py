"""The ablation baseline at a matched budget in a sweep: an ablation cell refines as many times
as its matched discussion cell (the cell with the same settings but `method: discussion`) used
messages for the same example and repeat, as MALLM's `use_ablation` does.

Its jobs therefore wait for the discussions': the runner runs every other job first, then
reads N from their records (this session's and an earlier one's) and runs the ablation jobs.
An ablation cell with `refinements` set, or with no matched cell in the sweep, runs at once
with its own N (see `DiscussionConfig.refinements`)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from madebate.runs._experiment import Cell
from madebate.runs._jobs import Job, cell_settings, failed_record
from madebate.runs._records import RecordKey, RunRecord

# What an ablation cell may differ in from its matched discussion cell.
_BASELINE_ONLY = ("method", "refinements")


class UnmatchedDiscussion(RuntimeError):
    """The matched discussion left no message count to match (it failed, or made no message):
    the ablation is recorded as failed (scored wrong, run again on resume)."""


def matched_cells(cells: list[Cell]) -> dict[str, str]:
    """Ablation cell id -> the id of its matched discussion cell, for each ablation cell
    without its own `refinements` that has one."""
    discussions: dict[str, str] = {}
    for cell in cells:
        if cell.spec.discussion.method == "discussion":
            discussions.setdefault(_key(cell), cell.id)
    matches = {}
    for cell in cells:
        d = cell.spec.discussion
        if d.method == "ablation" and d.refinements is None:
            match = discussions.get(_key(cell))
            if match is not None:
                matches[cell.id] = match
    return matches


def _key(cell: Cell) -> str:
    settings: dict[str, Any] = cell_settings(cell)
    discussion = dict(settings.get("discussion") or {})
    for name in _BASELINE_ONLY:
        discussion.pop(name, None)
    settings["discussion"] = discussion
    return repr(sorted(settings.items()))


def split_matched(jobs: list[Job], matches: dict[str, str]) -> tuple[list[Job], list[Job]]:
    """(jobs that can run now, ablation jobs that wait for their matched discussion)."""
    now = [j for j in jobs if j.cell.id not in matches]
    later = [j for j in jobs if j.cell.id in matches]
    return now, later


def resolve_matched(
    jobs: list[Job], matches: dict[str, str], records: Iterable[RunRecord]
) -> tuple[list[Job], list[RunRecord]]:
    """The waiting ablation jobs with N set from their matched discussion's record, and a
    failed record for each whose discussion left no count. A job whose discussion has no
    record yet (the session stopped first) is left for a later session."""
    by_key: dict[RecordKey, RunRecord] = {r.key: r for r in records}
    ready: list[Job] = []
    failed: list[RunRecord] = []
    for job in jobs:
        cell = matches[job.cell.id]
        record = by_key.get((cell, str(job.task.id), job.repeat))
        if record is None:
            continue
        n = len(record.result.messages) if record.result is not None else 0
        if record.failed or n == 0:
            why = (
                "failed for this example; a resumed run runs both again"
                if record.failed
                else "made no message for this example; give the cell `refinements` to run it"
            )
            message = f"the matched discussion (cell {cell}) {why}"
            failed.append(failed_record(job, UnmatchedDiscussion(message)))
            continue
        ready.append(replace(job, refinements=n, matched=cell))
    return ready, failed
