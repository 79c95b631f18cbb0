"""The one bounded re-ask loop: ask, read the reply, and while it cannot be read say why and ask
again, at most `max_reasks` times. Every ballot-like reply (a voter's ballot, the judge's
verdict) is elicited through it, so every one records the same way whether it was read, re-asked
or lost."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from madebate._results import Ballot
from madebate.models._model import ChatMessage
from madebate.protocols._ballots import Parsed

REPLY_SEPARATOR = "\n---\n"  # between the replies of one elicitation, in `Ballot.raw`
CALL_FAILED = "the model call failed"


@dataclass(frozen=True)
class Elicited:
    """What the loop got. `parsed` is the last reading: readable (problem None), an abstention,
    or unreadable after every re-ask; None when the last call failed. `reasks` counts the
    re-asks sent (0 when the first reply was read)."""

    replies: tuple[str, ...]
    parsed: Parsed | None
    reasks: int

    @property
    def raw(self) -> str:
        return REPLY_SEPARATOR.join(self.replies)

    @property
    def failed(self) -> bool:
        """The last model call gave no reply."""
        return self.parsed is None

    @property
    def read(self) -> bool:
        """A readable reply (not an abstention, not unreadable)."""
        return self.parsed is not None and self.parsed.problem is None and not self.parsed.abstained

    @property
    def problem(self) -> str | None:
        """Why nothing was read: the failed call, or the last reply's problem; None if read."""
        if self.parsed is None:
            return CALL_FAILED
        return self.parsed.problem

    def ballot(self, voter: str) -> Ballot:
        """The ballot this makes: counted, abstained, or lost with why."""
        if self.parsed is None:
            return Ballot(
                voter=voter, raw=self.raw, reasks=self.reasks, counted=False, problem=CALL_FAILED
            )
        if self.parsed.abstained:
            return Ballot(voter=voter, raw=self.raw, reasks=self.reasks, abstained=True)
        if self.parsed.problem is None:
            return Ballot(
                voter=voter, raw=self.raw, value=self.parsed.value, reasks=self.reasks, counted=True
            )
        return Ballot(
            voter=voter,
            raw=self.raw,
            reasks=self.reasks,
            counted=False,
            problem=f"unreadable after {self.reasks} re-ask(s): {self.parsed.problem}",
        )


async def ask_until_read(
    ask: Callable[[list[ChatMessage]], Awaitable[str | None]],
    messages: list[ChatMessage],
    parse: Callable[[str], Parsed],
    reask: Callable[[str], str],
    *,
    max_reasks: int,
) -> Elicited:
    """Ask with `messages`; while the reply parses with a problem (not an abstention, which is
    an answer), append the reply and `reask(problem)` as the next user turn and ask again, at
    most `max_reasks` times. A call that gives no reply (None) ends the loop at once."""
    replies: list[str] = []
    parsed: Parsed | None = None
    for attempt in range(max_reasks + 1):
        reply = await ask(messages)
        if reply is None:
            return Elicited(tuple(replies), None, attempt)
        replies.append(reply)
        parsed = parse(reply)
        if parsed.problem is None or parsed.abstained:
            return Elicited(tuple(replies), parsed, attempt)
        if attempt < max_reasks:
            messages = [
                *messages,
                ChatMessage(role="assistant", content=reply),
                ChatMessage(role="user", content=reask(parsed.problem)),
            ]
    assert parsed is not None
    return Elicited(tuple(replies), parsed, max_reasks)
