"""Who supports the current solution, read from the transcript (DESIGN.md section 3).

Support is tracked by normalised answer, so an agreeing message that restates the current
solution still counts as agreement (the MALLM consensus defect came from comparing texts).
"""

from __future__ import annotations

from collections.abc import Sequence, Set
from dataclasses import dataclass, field

from madebate._results import Message, Stance


@dataclass
class SupportState:
    current_answer: str | None = None
    current_solution: str | None = None
    proposer: str | None = None
    supporters: set[str] = field(default_factory=set)  # voters only
    latest_answer: dict[str, str] = field(default_factory=dict)  # each voter's latest position
    proposals: list[tuple[str, str]] = field(default_factory=list)  # (speaker, answer) in order

    def add(self, m: Message, voters: Set[str]) -> None:
        """Update the state with one more message (`voters` as a set): `track_support`
        one message at a time, for a reader that follows a transcript as it grows."""
        is_voter = m.speaker in voters
        if m.answer is not None and m.answer != self.current_answer:
            # A new proposal resets support to its proposer alone.
            self.current_answer, self.current_solution = m.answer, m.solution
            self.proposer = m.speaker
            self.supporters = {m.speaker} if is_voter else set()
            self.proposals.append((m.speaker, m.answer))
        elif m.answer is not None or _agrees_with_current(m, self):
            if is_voter:
                self.supporters.add(m.speaker)  # restates or agrees with the current answer
        elif _agrees_unseen(m, self):
            # The reader never saw the solution this agreement names (a relay passes on only
            # the agreement): it becomes the reader's current solution, held by the speaker.
            self.current_answer, self.current_solution = m.agreed_with, m.agreed_solution
            self.proposer = m.speaker
            self.supporters = {m.speaker} if is_voter else set()
        elif is_voter:
            # Unreadable, disagreed without an answer, or agreed with a solution that has since
            # been replaced: no support for the current one.
            self.supporters.discard(m.speaker)
        if is_voter:
            if m.answer is not None:
                self.latest_answer[m.speaker] = m.answer
            elif m.stance is Stance.AGREE and (m.agreed_with or self.current_answer):
                self.latest_answer[m.speaker] = m.agreed_with or self.current_answer or ""
            else:
                self.latest_answer.pop(m.speaker, None)


def track_support(messages: Sequence[Message], voters: Sequence[str]) -> SupportState:
    """Support and positions after `messages`. One rule for replies that state nothing: a voter's
    position is its latest reply, so a reply that states no answer and is no agreement
    (unreadable, or a disagreement without a solution) leaves that voter with no position: it
    withdraws the voter's support, even for a solution it proposed, and the voter is not
    counted for any answer (consensus, the max-turns fallback, candidates and analytics alike).
    Nothing is assumed about what an unreadable reply meant."""
    state = SupportState()
    voter_set = set(voters)
    for m in messages:
        state.add(m, voter_set)
    return state


def _agrees_with_current(m: Message, state: SupportState) -> bool:
    if m.stance is not Stance.AGREE or state.current_answer is None:
        return False
    # Messages from before `agreed_with` was recorded agree with whatever is current.
    return m.agreed_with is None or m.agreed_with == state.current_answer


def _agrees_unseen(m: Message, state: SupportState) -> bool:
    """An agreement with a solution these messages never proposed: the reader was passed the
    agreement, not the proposal. (One proposed here and since replaced is outdated instead.)"""
    return (
        m.stance is Stance.AGREE
        and m.answer is None
        and m.agreed_with is not None
        and m.agreed_with != state.current_answer
        and all(answer != m.agreed_with for _, answer in state.proposals)
    )
