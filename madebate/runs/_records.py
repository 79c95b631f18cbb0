"""What a run writes to disk, as versioned models: a `RunRecord` per finished example (one line
of records.jsonl) and the `RunSummary` of summary.json, with a `CellSummary` per sweep cell.

These files outlive the code that wrote them. Each document carries `schema_version`. A file
written before versions existed (version 0: no `schema_version` key) or by an older version is
brought to the current one by `upgrade`, the one place that reads the raw mappings; everything
else reads validated models. Changing the fields of these models (even adding an optional one,
such as a per-record fingerprint) bumps `SCHEMA_VERSION` and adds one step to `upgrade`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from madebate._errors import ConfigError
from madebate._results import DiscussionResult, ErrorInfo, StopReason, Usage
from madebate._yaml import config_error_from
from madebate.runs._scoring import MetricSummary

SCHEMA_VERSION: Final = 4
"""The version of `RunRecord` and `RunSummary` this code writes."""

RecordKey = tuple[str, str, int]  # (cell id, example id, repeat)
DocumentKind = Literal["record", "summary"]
StopKind = Literal["deadline", "interrupted"]  # why a session stopped early
_M = TypeVar("_M", bound=BaseModel)


class _Document(BaseModel):
    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)


class RunRecord(_Document):
    """One finished example of one cell: its outcome, its cost and its whole discussion. A run
    writes one per (cell, example, repeat); an example that failed is recorded too (scored
    wrong, `stop_reason` "error"), and a resumed run appends a new record that supersedes it."""

    schema_version: Literal[4] = SCHEMA_VERSION
    """The version of this record's fields (see `madebate.runs._records.upgrade`)."""
    cell: str
    """The sweep cell's id, e.g. "paradigm=memory,protocol=simple_voting" ("main" unswept)."""
    example_id: str
    """The dataset example's id."""
    repeat: int = Field(ge=0)
    """Which repeat of the example (0 unless the spec has `repeats`)."""
    seed: int
    """The discussion's seed: the same for an example and repeat in every cell."""
    answer: str | None
    """The final answer, normalised (the option letter for multiple choice); None if none."""
    solution: str | None
    """The final solution's full text; None if none."""
    references: list[str]
    """The example's reference answers."""
    decided: bool
    """Whether the protocol decided (False: undecided, or failed)."""
    stop_reason: StopReason
    """Why the discussion ended: consensus, vote, judge, max_turns, max_turns_tie, budget or
    error."""
    turns: int = Field(ge=0)
    """Turns the discussion took (0 when it failed before the first)."""
    scores: dict[str, float]
    """Each metric's score of the answer (a failed example scores 0.0 on each)."""
    calls: int = Field(ge=0)
    """Model calls the discussion made."""
    tokens: int = Field(ge=0)
    """Prompt plus completion tokens of those calls."""
    cache_hits: int = Field(ge=0)
    """Calls answered from the call cache."""
    retries: int = Field(ge=0)
    """Attempts beyond the first, over all calls."""
    failed_calls: int = Field(ge=0)
    """Calls that failed for good (the discussion went on without them)."""
    truncated: int = Field(ge=0)
    """Replies the model cut at max_tokens."""
    looped: int = Field(ge=0)
    """Replies stopped because the model was repeating itself."""
    unreadable: int = Field(ge=0)
    """Discussion messages from which no solution could be read."""
    wall_s: float = Field(ge=0)
    """Wall-clock seconds of the discussion."""
    error: ErrorInfo | None
    """What failed, and how far the discussion got; None when nothing did."""
    analytics: dict[str, Any] | None
    """The discussion's analytics (`madebate.runs._analytics.discussion_analytics`); None for a
    failed example."""
    result: DiscussionResult | None
    """The whole discussion: task, agents, transcript, decisions, calls; None when the example
    failed before a discussion existed."""
    cell_fingerprint: str | None = None
    """A hash of the cell's resolved settings when the record was made
    (`madebate.runs._jobs.cell_fingerprint`); a resume refuses a cell whose settings changed.
    None: unknown (written before schema 3)."""
    example_fingerprint: str | None = None
    """A hash of the example's content when the record was made
    (`madebate.runs._jobs.example_fingerprint`); a resume re-runs an example that changed.
    None: unknown (written before schema 3)."""

    @property
    def key(self) -> RecordKey:
        """(cell, example id, repeat): one per example of a cell; a later record supersedes."""
        return (self.cell, self.example_id, self.repeat)

    @property
    def failed(self) -> bool:
        """The example ended in an error: a resumed run runs it again."""
        return self.stop_reason == "error"


@dataclass(frozen=True, slots=True)
class RecordHead:
    """What bookkeeping needs of a record, without its discussion: which example it is, whether
    it failed, and what it was made of. Read from a line in a fraction of a full record's time
    and memory (the rest of the line is skipped, not built), so a resume of 100,000 records
    holds these, not the records."""

    cell: str
    example_id: str
    repeat: int
    stop_reason: str
    cell_fingerprint: str | None = None
    example_fingerprint: str | None = None
    schema_version: int = 0

    @property
    def key(self) -> RecordKey:
        return (self.cell, self.example_id, self.repeat)

    @property
    def failed(self) -> bool:
        return self.stop_reason == "error"


_HEAD = TypeAdapter(RecordHead)


def read_record_head(raw: bytes) -> RecordHead | None:
    """The head of one records.jsonl line; None when the line is not plainly a current record's
    (damaged, or a version this code does not read): `parse_record` then says what is wrong. A
    head of an older version is as valid as its record: the fields it holds are unchanged."""
    try:
        head = _HEAD.validate_json(raw)
    except ValueError:
        return None
    if not 0 <= head.schema_version <= SCHEMA_VERSION:
        return None
    return head


class FailedExample(_Document):
    """An example of a cell that ended in an error."""

    example_id: str
    """The dataset example's id."""
    repeat: int
    """Its repeat."""
    cause: str
    """The error message (up to 300 characters)."""


class OptionPositions(_Document):
    """For a multiple-choice cell: per option letter (its position), how often it was the
    reference and how often it was the answer, over the records (repeats included). A skew in
    `correct` means a constant answer can score well; compare it with `chosen`."""

    correct: dict[str, int]
    """Per letter, records whose reference sits there (an example with two references counts
    in both)."""
    chosen: dict[str, int]
    """Per letter, records that answered it (records without an answer are not counted)."""


class CellSummary(_Document):
    """One sweep cell's numbers over its records (the latest per example)."""

    n: int
    """Examples (times repeats) with a record."""
    examples: int | None
    """Distinct examples with a record (None: written before schema 2)."""
    metrics: dict[str, MetricSummary]
    """Each metric's mean with its 95% interval, over examples (`MetricSummary.method`)."""
    decision_rate: float
    """The share of examples the protocol decided."""
    undecided: int
    """Examples not decided (failed ones included)."""
    no_answer: int
    """Examples without any answer."""
    errors: int
    """Examples that ended in an error."""
    mean_turns: float
    """Turns per example."""
    calls_per_example: float
    """Model calls per example."""
    tokens_per_example: float
    """Tokens per example."""
    cache_hits: int
    """Calls answered from the call cache."""
    retries: int
    """Retried attempts, over all calls."""
    failed_calls: int
    """Calls that failed for good."""
    truncated_replies: int
    """Replies cut at max_tokens."""
    looped_replies: int
    """Replies stopped repeating themselves."""
    unreadable_replies: int
    """Discussion messages from which no solution could be read."""
    messages: int | None
    """Discussion messages, over all records (None: written before schema 2)."""
    unreadable_rate: float | None
    """`unreadable_replies` per discussion message (None: no messages, or before schema 2)."""
    truncated_rate: float | None
    """`truncated_replies` per model call (None: no calls, or before schema 2)."""
    option_positions: OptionPositions | None
    """Multiple-choice cells: where the references sit and which positions were answered;
    None for other tasks (and before schema 2)."""
    failed_examples: list[FailedExample]
    """Up to 50 failed examples, with their cause."""
    discussion_wall_s: float
    """Wall-clock seconds of the discussions, summed (discussions run concurrently, so this
    exceeds the run's wall time; that is `RunSummary.run_wall_s`)."""
    stop_reasons: dict[str, int]
    """Examples per stop reason."""
    analytics: dict[str, Any] | None
    """Means of the records' analytics (`madebate.runs._analytics.aggregate_analytics`); None
    in a summary written before analytics existed."""
    usage_by_model: dict[str, Usage] | None = None
    """Calls and tokens per model (its label, else its id), summed over the records: a mixed
    team's split (None: written before schema 4)."""


class CacheCounts(_Document):
    """The call cache over one session of a run."""

    enabled: bool
    """Whether the session used the cache."""
    hits: int
    """Calls answered from it."""
    misses: int
    """Calls it did not hold."""
    off: str | None = None
    """Why the cache was turned off during the session (it could not be read or written: a
    full disk, a read-only or locked file); None when it worked throughout."""


class ExecutorInfo(_Document):
    """A distributed session's executor (`madebate.runs._executor_ray.RayExecutor`)."""

    kind: str
    """The executor: "ray"."""
    address: str | None
    """The cluster address it was given (None: the local or the current one)."""
    workers: int
    """Workers started."""
    lost_workers: int
    """Workers lost during the session."""
    requeued_jobs: int
    """Examples handed out again after their worker was lost."""


class WorkerStats(_Document):
    """One distributed worker's throughput."""

    host: str | None
    """The host it ran on."""
    pid: int | None
    """Its process id."""
    node: str | None
    """Its Ray node id."""
    records: int
    """Records it sent back."""
    wall_s: float
    """Seconds from its first job to its last record."""
    per_s: float
    """Records per second."""
    cache: str | None
    """Its call cache file, or why it had none."""
    lost: str | None
    """Why it was lost; None if it was not."""


class RunSummary(_Document):
    """The summary of a run (summary.json): each cell's numbers and, when written by a run
    session, that session's facts. A summary recomputed from the records (`Run.summary`) has
    the cells only; its session fields are None."""

    schema_version: Literal[4] = SCHEMA_VERSION
    """The version of this summary's fields (see `madebate.runs._records.upgrade`)."""
    cells: dict[str, CellSummary]
    """Per cell id, in the sweep's order."""
    experiment: str | None = None
    """The experiment's name."""
    started_at: str | None = None
    """When the run's first session started (ISO 8601, UTC; None before schema 2)."""
    finished_at: str | None = None
    """When the session ended (ISO 8601, UTC)."""
    wall_s: float | None = None
    """The session's wall-clock seconds."""
    run_wall_s: float | None = None
    """The run's wall-clock seconds: every session's, added up (None before schema 2, where
    only the last session's `wall_s` is known)."""
    sessions: int | None = None
    """Sessions that wrote this run (a resume adds one; None before schema 2)."""
    new_records: int | None = None
    """Records the session wrote."""
    complete: bool | None = None
    """Whether every example of every cell has a record that did not fail."""
    stopped: StopKind | None = None
    """Why the session stopped early (None: it ran to the end)."""
    cache: CacheCounts | None = None
    """The call cache over the session."""
    executor: ExecutorInfo | None = None
    """A distributed session's executor; None for a local one."""
    workers: dict[str, WorkerStats] | None = None
    """A distributed session's workers, by id; None for a local one."""


# -- reading files: the one upgrade ----------------------------------------------------------

_V0_RECORD_COUNTS = ("cache_hits", "retries", "failed_calls", "truncated", "looped", "unreadable")
_V0_CELL_COUNTS = (
    "cache_hits",
    "retries",
    "failed_calls",
    "truncated_replies",
    "looped_replies",
    "unreadable_replies",
)


def upgrade(kind: DocumentKind, data: Mapping[str, Any]) -> dict[str, Any]:
    """A record (`kind` "record") or a summary ("summary") as read from a file, brought to
    `SCHEMA_VERSION`: the one place that reads their raw mappings.

    Version 0 is every file written before `schema_version` existed: records and summaries
    hold the fields of version 1 but may lack the ones added during that time (the counts
    of retries, failed, cut, looped and unreadable replies, cache hits; the analytics; a
    summary's failed examples and session fields), which read as zero, empty or None.
    Version 2 added to a summary the run's `started_at`, `run_wall_s` and `sessions`, and to
    each cell its example and message counts, the unreadable and cut rates, the option
    positions, and intervals over examples that name their method; a version 1 summary reads
    these as None and its intervals as "per_record" (computed over records).
    Version 3 added to a record the fingerprints of its cell's settings and of its example's
    content; an older record reads them as None (unknown: a resume cannot check it).
    Version 4 added to a summary's cache counts `off` (why the cache was turned off during the
    session) and to each cell its `usage_by_model`; an older summary reads them as None.
    Records are unchanged."""
    out = dict(data)
    version = out.pop("schema_version", 0)
    if not isinstance(version, int) or isinstance(version, bool) or version < 0:
        raise ValueError(f"schema_version must be a whole number, got {version!r}")
    if version > SCHEMA_VERSION:
        raise ValueError(
            f"schema_version {version} was written by a newer madebate (this one reads up to "
            f"{SCHEMA_VERSION}); upgrade madebate to read it"
        )
    if version == 0:
        if kind == "record":
            for name in _V0_RECORD_COUNTS:
                out.setdefault(name, 0)
            out.setdefault("analytics", None)
        else:
            cells = out.get("cells")
            if isinstance(cells, Mapping):
                out["cells"] = {cid: _v0_cell(cell) for cid, cell in cells.items()}
        version = 1
    if version == 1:
        # Records are unchanged. A summary's cells gain the example count, the message count
        # and rates, the option positions, and intervals that name their method: unknown for
        # these (None), and their intervals were computed over records ("per_record").
        if kind == "summary":
            cells = out.get("cells")
            if isinstance(cells, Mapping):
                out["cells"] = {cid: _v1_cell(cell) for cid, cell in cells.items()}
        version = 2
    if version == 2:
        # Summaries are unchanged; a record's fingerprints are unknown.
        if kind == "record":
            out.setdefault("cell_fingerprint", None)
            out.setdefault("example_fingerprint", None)
        version = 3
    if version == 3:
        # Records are unchanged; a summary's cache `off` reads as None (its default).
        version = 4
    out["schema_version"] = SCHEMA_VERSION
    return out


def _v0_cell(cell: Any) -> Any:
    if not isinstance(cell, Mapping):
        return cell  # validation says what is wrong
    out = dict(cell)
    for name in _V0_CELL_COUNTS:
        out.setdefault(name, 0)
    out.setdefault("failed_examples", [])
    out.setdefault("analytics", None)
    return out


def _v1_cell(cell: Any) -> Any:
    if not isinstance(cell, Mapping):
        return cell
    out = dict(cell)
    for name in ("examples", "messages", "unreadable_rate", "truncated_rate", "option_positions"):
        out.setdefault(name, None)
    metrics = out.get("metrics")
    if isinstance(metrics, Mapping):
        out["metrics"] = {
            name: {"examples": None, "method": "per_record", **m} if isinstance(m, Mapping) else m
            for name, m in metrics.items()
        }
    return out


def parse_record(data: object, *, source: str) -> RunRecord:
    """A record read from a file (any version), upgraded and validated; a ConfigError naming
    `source` and the field when it is not one."""
    return _parse(RunRecord, "record", data, source)


def parse_summary(data: object, *, source: str) -> RunSummary:
    """A summary read from a file (any version), upgraded and validated."""
    return _parse(RunSummary, "summary", data, source)


def _parse(model: type[_M], kind: DocumentKind, data: object, source: str) -> _M:
    if not isinstance(data, Mapping):
        raise ConfigError(f"expected a JSON object, got {type(data).__name__}", source=source)
    try:
        return model.model_validate(upgrade(kind, data))
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            raise config_error_from(exc, source=source, model=model) from None
        raise ConfigError(str(exc), source=source, field="schema_version") from None
