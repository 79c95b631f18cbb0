"""The candidates of a vote: the voters' latest solutions, de-duplicated by normalised answer,
shown in a seeded random order under neutral labels 1..k."""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from madebate._results import Message
from madebate.protocols._support import track_support


@dataclass(frozen=True)
class Candidate:
    label: str
    answer: str
    solution: str
    holders: tuple[str, ...]  # voters whose latest position this is
    first_proposed: int  # index of the message that first proposed this answer
    confidence: float | None = None


def build_candidates(
    messages: Sequence[Message],
    voters: Sequence[str],
    *,
    seed: int | None,
    turn: int,
    confidence: Mapping[str, float] | None = None,
) -> list[Candidate]:
    state = track_support(messages, voters)
    by_answer: dict[str, list[str]] = {}
    for voter in voters:
        answer = state.latest_answer.get(voter)
        if answer is not None:
            by_answer.setdefault(answer, []).append(voter)
    first: dict[str, int] = {}
    text: dict[str, str] = {}
    for m in messages:
        if m.answer is not None:
            first.setdefault(m.answer, m.index)
            text[m.answer] = m.solution or m.answer  # the latest wording of that answer
    answers = sorted(by_answer, key=lambda a: first.get(a, 0))
    random.Random(f"candidates:{seed}:{turn}").shuffle(answers)
    out = []
    for i, answer in enumerate(answers, start=1):
        holders = tuple(by_answer[answer])
        conf = None
        if confidence:
            known = [confidence[h] for h in holders if h in confidence]
            conf = round(sum(known) / len(known), 1) if known else None
        out.append(
            Candidate(str(i), answer, text.get(answer, answer), holders, first.get(answer, 0), conf)
        )
    return out
