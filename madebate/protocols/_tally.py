"""Voting rules as pure functions over ballots: no model, no prompts. Usable on your own ballots.

A ballot of `None` is an abstention or a lost ballot: it is counted as such and never guessed.
Every rule returns a `Tally` with the winner (if unique), the full scores, whether it decided,
and why not.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

CUMULATIVE_POINTS = 10


class Tally(BaseModel):
    """The outcome of counting ballots: scores, the winner or the tied candidates, and the
    rule's reason."""

    model_config = ConfigDict(extra="forbid")

    rule: str
    winner: str | None = None
    scores: dict[str, float] = Field(default_factory=dict)
    decided: bool = False
    tie: list[str] = Field(default_factory=list)  # the candidates tied for first place
    reason: str = ""
    valid_ballots: int = 0
    rejected: list[str] = Field(default_factory=list)  # why each invalid ballot was rejected


def _finish(rule: str, scores: dict[str, float], valid: int, rejected: list[str]) -> Tally:
    if valid == 0:
        return Tally(rule=rule, scores=scores, rejected=rejected, reason="no valid ballots")
    top = max(scores.values())
    leaders = [c for c, s in scores.items() if s == top]
    if len(leaders) > 1:
        return Tally(
            rule=rule,
            scores=scores,
            valid_ballots=valid,
            rejected=rejected,
            tie=leaders,
            reason=f"tie between {', '.join(leaders)} at {top:g}",
        )
    return Tally(
        rule=rule,
        winner=leaders[0],
        scores=scores,
        decided=True,
        valid_ballots=valid,
        rejected=rejected,
        reason=f"{leaders[0]} wins with {top:g} of {valid} valid ballot(s)",
    )


def _check_candidates(candidates: Sequence[str]) -> dict[str, float]:
    if len(set(candidates)) != len(candidates):
        raise ValueError(f"duplicate candidates: {list(candidates)}")
    return {c: 0.0 for c in candidates}


def plurality(ballots: Sequence[str | None], candidates: Sequence[str]) -> Tally:
    """Each ballot names one candidate; most votes wins."""
    scores = _check_candidates(candidates)
    valid, rejected = 0, []
    for i, choice in enumerate(ballots):
        if choice is None:
            rejected.append(f"ballot {i}: abstained or lost")
        elif choice not in scores:
            rejected.append(f"ballot {i}: '{choice}' is not a candidate")
        else:
            scores[choice] += 1
            valid += 1
    return _finish("plurality", scores, valid, rejected)


def approval(ballots: Sequence[Collection[str] | None], candidates: Sequence[str]) -> Tally:
    """Each ballot approves any subset; a candidate named twice on one ballot counts once."""
    scores = _check_candidates(candidates)
    valid, rejected = 0, []
    for i, approved in enumerate(ballots):
        if approved is None:
            rejected.append(f"ballot {i}: abstained or lost")
            continue
        if isinstance(approved, str):  # a str is a Collection[str] of its characters
            rejected.append(f"ballot {i}: '{approved}' is a string, not a set of candidates")
            continue
        unknown = sorted(set(approved) - set(scores))
        if unknown:
            rejected.append(f"ballot {i}: not candidates: {', '.join(unknown)}")
            continue
        for c in set(approved):
            scores[c] += 1
        valid += 1
    return _finish("approval", scores, valid, rejected)


def cumulative(
    ballots: Sequence[Mapping[str, int] | None],
    candidates: Sequence[str],
    points: int = CUMULATIVE_POINTS,
) -> Tally:
    """Each ballot spreads exactly `points` non-negative integer points; most points wins.
    A ballot that does not sum to `points` is rejected and reported, not rescaled."""
    scores = _check_candidates(candidates)
    valid, rejected = 0, []
    for i, ballot in enumerate(ballots):
        if ballot is None:
            rejected.append(f"ballot {i}: abstained or lost")
            continue
        unknown = sorted(set(ballot) - set(scores))
        bad = [v for v in ballot.values() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
        total = sum(v for v in ballot.values() if isinstance(v, int))
        if unknown:
            rejected.append(f"ballot {i}: not candidates: {', '.join(unknown)}")
        elif bad:
            rejected.append(f"ballot {i}: points must be non-negative integers")
        elif total != points:
            rejected.append(f"ballot {i}: points sum to {total}, not {points}")
        else:
            for c, v in ballot.items():
                scores[c] += v
            valid += 1
    return _finish("cumulative", scores, valid, rejected)


def borda(ballots: Sequence[Sequence[str] | None], candidates: Sequence[str]) -> Tally:
    """Each ballot ranks candidates, best first. With k candidates the first gets k-1 points,
    the next k-2, and so on; unranked candidates get 0. A ranking naming a candidate twice or a
    non-candidate is rejected."""
    scores = _check_candidates(candidates)
    k = len(candidates)
    valid, rejected = 0, []
    for i, ranking in enumerate(ballots):
        if ranking is None:
            rejected.append(f"ballot {i}: abstained or lost")
            continue
        if isinstance(ranking, str):  # a str is a Sequence[str] of its characters
            rejected.append(f"ballot {i}: '{ranking}' is a string, not a ranking")
            continue
        counts = Counter(ranking)
        unknown = sorted(set(ranking) - set(scores))
        if unknown:
            rejected.append(f"ballot {i}: not candidates: {', '.join(unknown)}")
        elif any(n > 1 for n in counts.values()):
            rejected.append(f"ballot {i}: a candidate is ranked twice")
        elif not ranking:
            rejected.append(f"ballot {i}: empty ranking")
        else:
            for place, c in enumerate(ranking):
                scores[c] += k - 1 - place
            valid += 1
    return _finish("borda", scores, valid, rejected)
