"""Typed records of a discussion: messages, model calls, decisions and the final result."""

from __future__ import annotations

from collections.abc import Callable
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from madebate._task import Task


class Stance(StrEnum):
    """A message's stance on the current solution: agree, disagree, none (a first proposal) or
    unreadable."""

    AGREE = "agree"
    DISAGREE = "disagree"
    NONE = "none"  # a first proposal, or a reply that took no stance
    UNREADABLE = "unreadable"


StopReason = Literal["consensus", "vote", "judge", "max_turns", "max_turns_tie", "budget", "error"]
CallRole = Literal[
    "discussion", "agreement", "ballot", "confidence", "persona", "judge", "extraction", "challenge"
]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Message(_Record):
    """One contribution to the discussion, with who it was delivered to."""

    index: int
    turn: int
    step: int
    speaker: str
    text: str  # what receivers see
    raw: str  # the full reply (reasoning style hides the final answer from receivers)
    stance: Stance
    solution: str | None = None  # the solution the reply states, if it could be read
    answer: str | None = None  # its normalised form (option letter for multiple choice)
    readable: bool = True
    confidence: float | None = None  # 0-100 from token log-probabilities, where available
    receivers: list[str] = Field(default_factory=list)
    visible_message_ids: list[int] = Field(default_factory=list)  # what the speaker saw
    # An [AGREE] that states no solution agrees with the one the speaker was shown, which in a
    # relay or report need not be the transcript's latest: that answer, normalised.
    agreed_with: str | None = None
    agreed_solution: str | None = None  # that solution's text, passed on to the next reader
    # Why the model stopped writing it: "stop", or "length" when it was cut at max_tokens.
    finish_reason: str | None = None
    # The model was stopped repeating itself (the repeats are not in `raw`).
    looped: bool = False
    # Why the reply could not be read (empty when it could).
    problems: list[str] = Field(default_factory=list)
    # How the solution was read: "final_solution_line", "json", or a fallback
    # ("fallback:labelled_line", "fallback:boxed", "fallback:last_line", "extraction").
    read_by: str | None = None

    @property
    def cut(self) -> bool:
        """The reply was cut at max_tokens."""
        return self.finish_reason == "length"


class CallRecord(_Record):
    """Accounting of one model call (after retries)."""

    role: CallRole
    agent: str | None
    model: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    finish_reason: str | None = None
    attempts: int = 1
    cache_hit: bool = False
    error: str | None = None
    output_format: str = "text"  # "json_schema", "grammar" or "text": how the shape was asked for
    looped: bool = False  # the model was stopped repeating itself


class Usage(_Record):
    """Calls and tokens, in total or for one agent."""

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Ballot(_Record):
    """One voter's ballot: raw reply, what was read from it, and whether it counted.

    Exactly one of three outcomes: counted (a readable vote, in `value`); abstained (the voter
    declined to choose: recorded, not re-asked, not counted, supports no candidate); or lost
    (`problem` says why: unreadable after the re-asks, or the call failed)."""

    voter: str
    raw: str = ""
    value: Any = None
    reasks: int = 0
    counted: bool = False
    problem: str | None = None
    abstained: bool = False
    # In a weighted vote: the weight this ballot counted with, the 0-100 confidence it came
    # from (None when none was read) and how it was set; all None in an unweighted vote.
    weight: float | None = None
    confidence: float | None = None
    weight_note: str | None = None


class Decision(_Record):
    """What a decision protocol concluded at one decision point."""

    protocol: str
    turn: int
    decided: bool
    answer: str | None = None
    solution: str | None = None
    tally: dict[str, float] = Field(default_factory=dict)
    reason: str = ""
    tie: bool = False
    ballots: list[Ballot] = Field(default_factory=list)


class AgentInfo(_Record):
    """One seated agent: its slot, persona and where the persona came from, and whether it votes."""

    slot: str
    persona_name: str
    persona_description: str
    persona_source: str
    voter: bool
    persona_fallback: bool = False
    # the model this agent speaks with (its provider id / label); None in records made before
    # teams could mix models, where every agent used the discussion's one model
    model: str | None = None


class ChallengeResponse(_Record):
    voter: str
    raw: str
    kept: bool  # accepted the final answer
    answer: str | None = None  # the alternative, when it proposed one
    readable: bool = True


class ChallengeResult(_Record):
    """The post-discussion challenge: every voter saw the final answer and kept or replaced it."""

    original_answer: str
    final_answer: str
    overturned: bool
    changed_by: list[str]
    responses: list[ChallengeResponse]


class Intervention(_Record):
    """A drift-watching judge's verdict after a turn whose answer changed."""

    turn: int
    previous_answer: str | None
    new_answer: str | None
    drifted: bool
    action: Literal["none", "guide", "redo"]
    guidance: str = ""
    raw: str = ""


class ErrorInfo(_Record):
    """The exception that stopped a discussion and how far it got (turn, step, calls made)."""

    type: str
    message: str
    turn: int
    step: int
    calls_made: int


class DiscussionResult(_Record):
    """The whole outcome of one discussion. `to_json()` and `from_json()` round-trip."""

    task: Task
    answer: (
        str | None
    )  # normalised (option letter for multiple choice); None only if never proposed
    solution: str | None  # the full text of the final solution
    decided: bool
    stop_reason: StopReason
    stop_detail: str = ""
    error: ErrorInfo | None = None
    turns: int
    paradigm: str
    protocol: str
    style: str
    seed: int | None
    agents: list[AgentInfo]
    messages: list[Message]
    decisions: list[Decision] = Field(default_factory=list)
    challenge: ChallengeResult | None = None
    interventions: list[Intervention] = Field(default_factory=list)
    calls: list[CallRecord] = Field(default_factory=list)
    warnings: list[str] = Field(default_factory=list)
    usage: Usage = Field(default_factory=Usage)
    usage_by_agent: dict[str, Usage] = Field(default_factory=dict)  # calls with no agent: '-'
    # per model (its label, else its id), as CallRecord.model names it: a mixed team's split
    usage_by_model: dict[str, Usage] = Field(default_factory=dict)

    def to_json(self, **kwargs: Any) -> str:
        return self.model_dump_json(**kwargs)

    @classmethod
    def from_json(cls, data: str | bytes) -> DiscussionResult:
        return cls.model_validate_json(data)


def usage_totals(calls: list[CallRecord]) -> tuple[Usage, dict[str, Usage]]:
    """Totals over all calls, and per agent slot."""
    return _sum_usage(calls), _usage_by(calls, lambda c: c.agent or "-")


def usage_by_model(calls: list[CallRecord]) -> dict[str, Usage]:
    """Totals per model, as each call record names its model."""
    return _usage_by(calls, lambda c: c.model)


def _usage_by(calls: list[CallRecord], key: Callable[[CallRecord], str]) -> dict[str, Usage]:
    groups: dict[str, list[CallRecord]] = {}
    for c in calls:
        groups.setdefault(key(c), []).append(c)
    return {k: _sum_usage(v) for k, v in groups.items()}


def _sum_usage(calls: list[CallRecord]) -> Usage:
    return Usage(
        calls=len(calls),
        prompt_tokens=sum(c.prompt_tokens for c in calls),
        completion_tokens=sum(c.completion_tokens for c in calls),
    )
