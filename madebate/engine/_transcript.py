"""The transcript of one discussion: its messages, who received each, what an agent sees within
the memory window, and which solution each agent is shown as current.

Each reader's share of the transcript and the support it shows are followed message by message
as the transcript grows, never recomputed over the whole transcript per speaker.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from operator import attrgetter

from madebate._results import Message
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._support import SupportState

_TURN = attrgetter("turn")


@dataclass(frozen=True)
class Shown:
    """The current solution as one agent is shown it (from everything delivered to it, even
    beyond its memory window: the current solution is state, not memory)."""

    answer: str | None
    solution: str | None


class _Reader:
    """The messages one agent receives, in order, and the support they show it."""

    __slots__ = ("messages", "support")

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.support = SupportState()

    def add(self, message: Message, voters: frozenset[str]) -> None:
        self.messages.append(message)
        self.support.add(message, voters)


class Transcript:
    """The messages of one discussion, in order; the only place they are added or taken back.

    `memory_window` (past turns an agent sees; None: all) and `blind_turns` (turns in which an
    agent receives only its own messages and the judge's) shape what `visible` returns.
    """

    def __init__(
        self,
        voters: Sequence[str],
        *,
        memory_window: int | None = None,
        blind_turns: Collection[int] = (),
    ) -> None:
        self.voters = tuple(voters)
        self.memory_window = memory_window
        self.blind_turns = frozenset(blind_turns)
        self._voter_set = frozenset(voters)
        self._messages: list[Message] = []
        self._everything = _Reader()
        # Readers are made on first use, keyed by (agent, blind).
        self._readers: dict[tuple[str, bool], _Reader] = {}
        self._in_turn_order = True

    @property
    def messages(self) -> Sequence[Message]:
        """Every message so far, in order (read-only: add with `add`, take back with
        `rewind`)."""
        return self._messages

    def __len__(self) -> int:
        return len(self._messages)

    def add(self, message: Message) -> None:
        """Append a message; its `index` must be its position."""
        if message.index != len(self._messages):
            raise ValueError(f"message index {message.index}, expected {len(self._messages)}")
        if self._messages and message.turn < self._messages[-1].turn:
            self._in_turn_order = False
        self._messages.append(message)
        self._everything.add(message, self._voter_set)
        readers = self._readers
        if not readers:
            return
        speaker = message.speaker
        for agent in {speaker, *message.receivers}:
            reader = readers.get((agent, False))
            if reader is not None:
                reader.add(message, self._voter_set)
        if speaker == JUDGE_SLOT:  # the judge's guidance reaches everyone, even in blind turns
            for (_, blind), reader in readers.items():
                if blind:
                    reader.add(message, self._voter_set)
        else:
            reader = readers.get((speaker, True))
            if reader is not None:
                reader.add(message, self._voter_set)

    def rewind(self, start: int) -> None:
        """Take back every message from `start` on (a turn played again)."""
        kept = self._messages[:start]
        self._messages = []
        self._everything = _Reader()
        self._readers = {}
        self._in_turn_order = True
        for message in kept:
            self.add(message)

    def support(self) -> SupportState:
        """Support and positions over the whole transcript (do not modify)."""
        return self._everything.support

    def delivered(self, agent: str, turn: int) -> Sequence[Message]:
        """Messages delivered to `agent` (its own included); in a blind turn, only its own and
        the judge's."""
        return self._reader(agent, turn in self.blind_turns).messages

    def visible(self, agent: str, turn: int) -> list[Message]:
        """What `agent` sees in `turn`: what was delivered to it within the memory window."""
        messages = self.delivered(agent, turn)
        window = self.memory_window
        if window is None:
            return list(messages)
        oldest = turn - window
        if self._in_turn_order:
            return list(messages[bisect_left(messages, oldest, key=_TURN) :])
        return [m for m in messages if m.turn >= oldest]

    def shown(self, agent: str, turn: int) -> Shown:
        """The current solution `agent` is shown in `turn`."""
        support = self._reader(agent, turn in self.blind_turns).support
        return Shown(support.current_answer, support.current_solution)

    def _reader(self, agent: str, blind: bool) -> _Reader:
        reader = self._readers.get((agent, blind))
        if reader is None:
            reader = self._readers[(agent, blind)] = _Reader()
            for m in self._messages:
                if _receives(agent, blind, m):
                    reader.add(m, self._voter_set)
        return reader


def _receives(agent: str, blind: bool, m: Message) -> bool:
    if blind:
        return m.speaker in (agent, JUDGE_SLOT)
    return m.speaker == agent or agent in m.receivers
