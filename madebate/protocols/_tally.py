"""Voting rules as pure functions over ballots: no model, no prompts. Usable on your own ballots.

A ballot of `None` is an abstention or a lost ballot: it is counted as such and never guessed.
Every rule returns a `Tally` with the winner (if unique), the full scores, whether it decided,
and why not.

Every rule takes optional `weights`, one per ballot: a valid ballot adds its usual points times
its weight. Without weights (or with every weight 1) the result is exactly the unweighted one.
Weights are finite and non-negative; a weight of 0 leaves the ballot valid (it counts toward
`valid_ballots`) but adds nothing, and when every valid ballot weighs 0 nothing is decided (no
tie either). The weight of an abstained, lost or rejected ballot is ignored. Weights are read as
the decimals they print as (0.1 is exactly one tenth), so 0.1 + 0.2 ties with 0.3: a tie under
weights is an exact tie, never a rounding accident.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from fractions import Fraction

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
    weighted: bool = False  # the ballots carried weights


Weights = Sequence[float] | None


def _weights(weights: Weights, n: int) -> list[Fraction] | None:
    """The weights as exact fractions of their printed decimals; None when unweighted."""
    if weights is None:
        return None
    if isinstance(weights, str | bytes) or len(weights) != n:
        raise ValueError(f"weights must give one number per ballot ({n}), got {weights!r}")
    out = []
    for i, w in enumerate(weights):
        if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w) or w < 0:
            raise ValueError(f"weight {i} must be a finite number >= 0, got {w!r}")
        out.append(Fraction(repr(float(w))))
    return out


class _Count:
    """Scores being added up, exactly, with the turnout and the rejections."""

    def __init__(self, rule: str, candidates: Sequence[str], weights: Weights, n: int):
        if len(set(candidates)) != len(candidates):
            raise ValueError(f"duplicate candidates: {list(candidates)}")
        self.rule = rule
        self.scores: dict[str, Fraction] = {c: Fraction(0) for c in candidates}
        self.weights = _weights(weights, n)
        self.valid = 0
        self.weight_total = Fraction(0)
        self.rejected: list[str] = []

    def __contains__(self, candidate: object) -> bool:
        return candidate in self.scores

    def reject(self, i: int, why: str) -> None:
        self.rejected.append(f"ballot {i}: {why}")

    def add(self, i: int, points: Mapping[str, int]) -> None:
        """Ballot i is valid and gives these points (before its weight)."""
        w = Fraction(1) if self.weights is None else self.weights[i]
        for c, v in points.items():
            self.scores[c] += v * w
        self.valid += 1
        self.weight_total += w

    def finish(self) -> Tally:
        rule, valid, rejected = self.rule, self.valid, self.rejected
        scores = {c: float(v) for c, v in self.scores.items()}
        weighted = self.weights is not None
        base = Tally(rule=rule, scores=scores, rejected=rejected, weighted=weighted)
        if valid == 0:
            return base.model_copy(update={"reason": "no valid ballots"})
        if self.weight_total == 0:
            return base.model_copy(
                update={"valid_ballots": valid, "reason": "every valid ballot weighs 0"}
            )
        top = max(self.scores.values())
        leaders = [c for c, s in self.scores.items() if s == top]
        score = f"weighted score {float(top):g}" if weighted else f"{float(top):g}"
        if len(leaders) > 1:
            reason = f"tie between {', '.join(leaders)} at {score}"
            return base.model_copy(
                update={"valid_ballots": valid, "tie": leaders, "reason": reason}
            )
        reason = f"{leaders[0]} wins with {score} of {valid} valid ballot(s)"
        update = {"winner": leaders[0], "decided": True, "valid_ballots": valid, "reason": reason}
        return base.model_copy(update=update)


def plurality(
    ballots: Sequence[str | None], candidates: Sequence[str], weights: Weights = None
) -> Tally:
    """Each ballot names one candidate; most votes (or weight) wins."""
    count = _Count("plurality", candidates, weights, len(ballots))
    for i, choice in enumerate(ballots):
        if choice is None:
            count.reject(i, "abstained or lost")
        elif choice not in count:
            count.reject(i, f"'{choice}' is not a candidate")
        else:
            count.add(i, {choice: 1})
    return count.finish()


def approval(
    ballots: Sequence[Collection[str] | None], candidates: Sequence[str], weights: Weights = None
) -> Tally:
    """Each ballot approves any subset; a candidate named twice on one ballot counts once."""
    count = _Count("approval", candidates, weights, len(ballots))
    for i, approved in enumerate(ballots):
        if approved is None:
            count.reject(i, "abstained or lost")
            continue
        if isinstance(approved, str):  # a str is a Collection[str] of its characters
            count.reject(i, f"'{approved}' is a string, not a set of candidates")
            continue
        unknown = sorted(set(approved) - set(count.scores))
        if unknown:
            count.reject(i, f"not candidates: {', '.join(unknown)}")
            continue
        count.add(i, dict.fromkeys(set(approved), 1))
    return count.finish()


def cumulative(
    ballots: Sequence[Mapping[str, int] | None],
    candidates: Sequence[str],
    points: int = CUMULATIVE_POINTS,
    weights: Weights = None,
) -> Tally:
    """Each ballot spreads exactly `points` non-negative integer points; most points wins.
    A ballot that does not sum to `points` is rejected and reported, not rescaled."""
    count = _Count("cumulative", candidates, weights, len(ballots))
    for i, ballot in enumerate(ballots):
        if ballot is None:
            count.reject(i, "abstained or lost")
            continue
        unknown = sorted(set(ballot) - set(count.scores))
        bad = [v for v in ballot.values() if not isinstance(v, int) or isinstance(v, bool) or v < 0]
        total = sum(v for v in ballot.values() if isinstance(v, int))
        if unknown:
            count.reject(i, f"not candidates: {', '.join(unknown)}")
        elif bad:
            count.reject(i, "points must be non-negative integers")
        elif total != points:
            count.reject(i, f"points sum to {total}, not {points}")
        else:
            count.add(i, ballot)
    return count.finish()


def borda(
    ballots: Sequence[Sequence[str] | None], candidates: Sequence[str], weights: Weights = None
) -> Tally:
    """Each ballot ranks candidates, best first. With k candidates the first gets k-1 points,
    the next k-2, and so on; unranked candidates get 0. A ranking naming a candidate twice or a
    non-candidate is rejected."""
    count = _Count("borda", candidates, weights, len(ballots))
    k = len(candidates)
    for i, ranking in enumerate(ballots):
        if ranking is None:
            count.reject(i, "abstained or lost")
            continue
        if isinstance(ranking, str):  # a str is a Sequence[str] of its characters
            count.reject(i, f"'{ranking}' is a string, not a ranking")
            continue
        counts = Counter(ranking)
        unknown = sorted(set(ranking) - set(count.scores))
        if unknown:
            count.reject(i, f"not candidates: {', '.join(unknown)}")
        elif any(n > 1 for n in counts.values()):
            count.reject(i, "a candidate is ranked twice")
        elif not ranking:
            count.reject(i, "empty ranking")
        else:
            count.add(i, {c: k - 1 - place for place, c in enumerate(ranking)})
    return count.finish()
