"""The voting rules of DESIGN.md section 3 as pure functions over exact ballot profiles.

Each table row is one profile with the full expected tally: winner, scores, decided, the
candidates tied for first place, and which ballots were rejected (by index, with a fragment of
the reason). `None` is an abstention or a lost ballot.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from madebate.protocols._tally import (
    CUMULATIVE_POINTS,
    Tally,
    approval,
    borda,
    cumulative,
    plurality,
)

ABC = ["a", "b", "c"]
ABCD = ["a", "b", "c", "d"]
RULES: dict[str, Callable[..., Tally]] = {
    "plurality": plurality,
    "approval": approval,
    "cumulative": cumulative,
    "borda": borda,
}


@dataclass
class Case:
    id: str
    ballots: list[Any]
    winner: str | None
    scores: dict[str, float]
    decided: bool
    tie: list[str] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (ballot index, fragment)
    candidates: list[str] = field(default_factory=lambda: list(ABC))


def check(t: Tally, case: Case, rule: str) -> None:
    assert t.rule == rule
    assert t.winner == case.winner
    assert t.scores == case.scores
    assert list(t.scores) == case.candidates  # every candidate is scored, in candidate order
    assert t.decided is case.decided
    assert t.tie == case.tie
    assert t.valid_ballots == len(case.ballots) - len(case.rejected)
    assert len(t.rejected) == len(case.rejected), t.rejected
    for message, (index, fragment) in zip(t.rejected, case.rejected, strict=True):
        assert message.startswith(f"ballot {index}:"), message
        assert fragment in message, message
    if case.decided:
        assert case.winner is not None
        assert not t.tie
    elif case.tie:
        assert "tie" in t.reason
    else:
        assert t.reason == "no valid ballots"


def ids(cases: Sequence[Case]) -> list[str]:
    return [c.id for c in cases]


PLURALITY = [
    Case("clear winner", ["a", "a", "b"], "a", {"a": 2, "b": 1, "c": 0}, True),
    Case("landslide", ["c"] * 5, "c", {"a": 0, "b": 0, "c": 5}, True),
    Case("single voter", ["b"], "b", {"a": 0, "b": 1, "c": 0}, True),
    Case("two-way tie", ["a", "b"], None, {"a": 1, "b": 1, "c": 0}, False, ["a", "b"]),
    Case(
        "two-way tie listed in candidate order",
        ["c", "a", "c", "a", "b"],
        None,
        {"a": 2, "b": 1, "c": 2},
        False,
        ["a", "c"],
    ),
    Case("three-way tie", ["a", "b", "c"], None, {"a": 1, "b": 1, "c": 1}, False, ABC),
    Case(
        "abstentions do not count",
        ["a", None, "b", None, "a"],
        "a",
        {"a": 2, "b": 1, "c": 0},
        True,
        rejected=[(1, "abstained or lost"), (3, "abstained or lost")],
    ),
    Case(
        "a lost ballot cannot break a tie",
        ["a", "b", None],
        None,
        {"a": 1, "b": 1, "c": 0},
        False,
        ["a", "b"],
        rejected=[(2, "abstained or lost")],
    ),
    Case(
        "all lost",
        [None, None],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "abstained or lost"), (1, "abstained or lost")],
    ),
    Case("no ballots", [], None, {"a": 0, "b": 0, "c": 0}, False),
    Case(
        "non-candidates rejected",
        ["z", "a", "z", "b", "b"],
        "b",
        {"a": 1, "b": 2, "c": 0},
        True,
        rejected=[(0, "'z' is not a candidate"), (2, "'z' is not a candidate")],
    ),
    Case(
        "only non-candidates",
        ["z", "A"],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "'z' is not a candidate"), (1, "'A' is not a candidate")],
    ),
    Case("one candidate", ["a"], "a", {"a": 1}, True, candidates=["a"]),
]


@pytest.mark.parametrize("case", PLURALITY, ids=ids(PLURALITY))
def test_plurality(case: Case) -> None:
    check(plurality(case.ballots, case.candidates), case, "plurality")


APPROVAL = [
    Case("clear winner", [["a", "b"], ["a"], ["c"]], "a", {"a": 2, "b": 1, "c": 1}, True),
    Case("single voter, one approval", [["b"]], "b", {"a": 0, "b": 1, "c": 0}, True),
    Case(
        "single voter approving two is a tie",
        [["c", "a"]],
        None,
        {"a": 1, "b": 0, "c": 1},
        False,
        ["a", "c"],
    ),
    Case(
        "a candidate named twice counts once",
        [["a", "a", "a"], ["b"], ["b", "c"]],
        "b",
        {"a": 1, "b": 2, "c": 1},
        True,
    ),
    Case(
        "two-way tie",
        [["a", "b"], ["a", "b", "c"]],
        None,
        {"a": 2, "b": 2, "c": 1},
        False,
        ["a", "b"],
    ),
    Case("three-way tie", [ABC, ABC], None, {"a": 2, "b": 2, "c": 2}, False, ABC),
    Case("approve nobody: all-zero tie", [[], []], None, {"a": 0, "b": 0, "c": 0}, False, ABC),
    Case(
        "empty ballot is valid, not lost",
        [[], ["c"]],
        "c",
        {"a": 0, "b": 0, "c": 1},
        True,
    ),
    Case(
        "abstentions do not count",
        [None, ["a"], None],
        "a",
        {"a": 1, "b": 0, "c": 0},
        True,
        rejected=[(0, "abstained or lost"), (2, "abstained or lost")],
    ),
    Case(
        "a ballot naming a non-candidate is rejected whole",
        [["a", "z"], ["b"]],
        "b",
        {"a": 0, "b": 1, "c": 0},
        True,
        rejected=[(0, "not candidates: z")],
    ),
    Case(
        "non-candidates listed sorted",
        [["y", "a", "x"]],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "not candidates: x, y")],
    ),
    Case(
        "a string is not read letter by letter",
        ["ab", ["b"]],
        "b",
        {"a": 0, "b": 1, "c": 0},
        True,
        rejected=[(0, "string")],
    ),
    Case("sets and tuples are ballots", [{"a", "b"}, ("a",)], "a", {"a": 2, "b": 1, "c": 0}, True),
    Case("no ballots", [], None, {"a": 0, "b": 0, "c": 0}, False),
]


@pytest.mark.parametrize("case", APPROVAL, ids=ids(APPROVAL))
def test_approval(case: Case) -> None:
    check(approval(case.ballots, case.candidates), case, "approval")


CUMULATIVE = [
    Case(
        "clear winner",
        [{"a": 6, "b": 4}, {"a": 5, "c": 5}],
        "a",
        {"a": 11, "b": 4, "c": 5},
        True,
    ),
    Case("single voter, all on one", [{"c": 10}], "c", {"a": 0, "b": 0, "c": 10}, True),
    Case(
        "zero points are allowed",
        [{"a": 0, "b": 10, "c": 0}],
        "b",
        {"a": 0, "b": 10, "c": 0},
        True,
    ),
    Case("two-way tie", [{"a": 5, "b": 5}], None, {"a": 5, "b": 5, "c": 0}, False, ["a", "b"]),
    Case(
        "three-way tie",
        [{"a": 10}, {"b": 10}, {"c": 10}],
        None,
        {"a": 10, "b": 10, "c": 10},
        False,
        ABC,
    ),
    Case(
        "sum below 10 rejected with the sum",
        [{"a": 6, "b": 3}, {"b": 10}],
        "b",
        {"a": 0, "b": 10, "c": 0},
        True,
        rejected=[(0, "points sum to 9, not 10")],
    ),
    Case(
        "sum above 10 rejected with the sum, not rescaled",
        [{"a": 20}, {"b": 6, "c": 4}],
        "b",
        {"a": 0, "b": 6, "c": 4},
        True,
        rejected=[(0, "points sum to 20, not 10")],
    ),
    Case(
        "empty ballot sums to 0",
        [{}],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "points sum to 0, not 10")],
    ),
    Case(
        "negative points rejected even when the sum is 10",
        [{"a": 11, "b": -1}, {"c": 10}],
        "c",
        {"a": 0, "b": 0, "c": 10},
        True,
        rejected=[(0, "non-negative integers")],
    ),
    Case(
        "fractional points rejected",
        [{"a": 5.5, "b": 4.5}, {"b": 10}],
        "b",
        {"a": 0, "b": 10, "c": 0},
        True,
        rejected=[(0, "non-negative integers")],
    ),
    Case(
        "whole-valued floats are not integers",
        [{"a": 6.0, "b": 4}],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "non-negative integers")],
    ),
    Case(
        "bool points rejected even when they sum to 10",
        [{"a": True, "b": 9}, {"c": 10}],
        "c",
        {"a": 0, "b": 0, "c": 10},
        True,
        rejected=[(0, "non-negative integers")],
    ),
    Case(
        "non-candidate rejected",
        [{"a": 5, "z": 5}, {"a": 4, "b": 6}],
        "b",
        {"a": 4, "b": 6, "c": 0},
        True,
        rejected=[(0, "not candidates: z")],
    ),
    Case(
        "abstentions do not count",
        [None, {"a": 3, "b": 7}],
        "b",
        {"a": 3, "b": 7, "c": 0},
        True,
        rejected=[(0, "abstained or lost")],
    ),
    Case(
        "nothing valid",
        [None, {"a": 9}],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "abstained or lost"), (1, "points sum to 9, not 10")],
    ),
]


@pytest.mark.parametrize("case", CUMULATIVE, ids=ids(CUMULATIVE))
def test_cumulative(case: Case) -> None:
    check(cumulative(case.ballots, case.candidates), case, "cumulative")


def test_cumulative_points_default_is_ten_and_can_change() -> None:
    assert CUMULATIVE_POINTS == 10
    t = cumulative([{"a": 60, "b": 40}, {"a": 6, "b": 4}], ["a", "b"], points=100)
    assert t.scores == {"a": 60, "b": 40}
    assert t.valid_ballots == 1
    assert t.rejected == ["ballot 1: points sum to 10, not 100"]


BORDA = [
    Case(
        "clear winner, full rankings (k=3: 2, 1, 0)",
        [["a", "b", "c"], ["a", "c", "b"], ["b", "a", "c"]],
        "a",
        {"a": 5, "b": 3, "c": 1},
        True,
    ),
    Case(
        "k=4: first gets 3",
        [["d", "c", "b", "a"]],
        "d",
        {"a": 0, "b": 1, "c": 2, "d": 3},
        True,
        candidates=ABCD,
    ),
    Case("single voter", [["c", "a", "b"]], "c", {"a": 1, "b": 0, "c": 2}, True),
    Case(
        "partial ranking: unranked get 0",
        [["b"]],
        "b",
        {"a": 0, "b": 2, "c": 0},
        True,
    ),
    Case(
        "partial rankings score by place, not by length",
        [["a", "b"], ["b"]],
        "b",
        {"a": 2, "b": 3, "c": 0},
        True,
    ),
    Case(
        "two-way tie",
        [["a", "b", "c"], ["b", "a", "c"]],
        None,
        {"a": 3, "b": 3, "c": 0},
        False,
        ["a", "b"],
    ),
    Case(
        "three-way tie (a Condorcet cycle)",
        [["a", "b", "c"], ["b", "c", "a"], ["c", "a", "b"]],
        None,
        {"a": 3, "b": 3, "c": 3},
        False,
        ABC,
    ),
    Case(
        "a candidate ranked twice: rejected",
        [["a", "a", "b"], ["b", "c", "a"]],
        "b",
        {"a": 0, "b": 2, "c": 1},
        True,
        rejected=[(0, "ranked twice")],
    ),
    Case(
        "non-candidate: rejected",
        [["a", "z", "b"], ["c"]],
        "c",
        {"a": 0, "b": 0, "c": 2},
        True,
        rejected=[(0, "not candidates: z")],
    ),
    Case(
        "empty ranking: rejected",
        [[], ["a"]],
        "a",
        {"a": 2, "b": 0, "c": 0},
        True,
        rejected=[(0, "empty ranking")],
    ),
    Case(
        "a string is not read letter by letter",
        ["cab"],
        None,
        {"a": 0, "b": 0, "c": 0},
        False,
        rejected=[(0, "string")],
    ),
    Case(
        "abstentions do not count",
        [None, ["b", "a", "c"], None],
        "b",
        {"a": 1, "b": 2, "c": 0},
        True,
        rejected=[(0, "abstained or lost"), (2, "abstained or lost")],
    ),
    Case("no ballots", [], None, {"a": 0, "b": 0, "c": 0}, False),
    Case("one candidate gets k-1 = 0", [["a"]], "a", {"a": 0}, True, candidates=["a"]),
]


@pytest.mark.parametrize("case", BORDA, ids=ids(BORDA))
def test_borda(case: Case) -> None:
    check(borda(case.ballots, case.candidates), case, "borda")


VALID_BALLOT = {"plurality": "a", "approval": ["a"], "cumulative": {"a": 10}, "borda": ["a"]}


@pytest.mark.parametrize("rule", list(RULES))
@pytest.mark.parametrize("candidates", [["a", "b", "a"], ["a", "a"], ["x", "y", "z", "y"]])
def test_duplicate_candidates_raise(rule: str, candidates: list[str]) -> None:
    with pytest.raises(ValueError, match="duplicate candidates"):
        RULES[rule]([VALID_BALLOT[rule]], candidates)


@pytest.mark.parametrize("rule", list(RULES))
def test_winner_reason_names_the_count(rule: str) -> None:
    t = RULES[rule]([VALID_BALLOT[rule], None], ["a", "b"])
    assert t.decided and t.winner == "a"
    assert "1 valid ballot" in t.reason


# -- properties --------------------------------------------------------------------------------


@st.composite
def candidate_lists(draw: st.DrawFn, min_size: int = 1) -> list[str]:
    k = draw(st.integers(min_value=min_size, max_value=6))
    return [f"c{i}" for i in range(k)]


@given(data=st.data())
def test_everyone_ranks_x_first_then_x_wins_borda(data: st.DataObject) -> None:
    candidates = data.draw(candidate_lists(min_size=2))
    x = data.draw(st.sampled_from(candidates))
    others = [c for c in candidates if c != x]
    n = data.draw(st.integers(min_value=1, max_value=9))
    ballots = []
    for _ in range(n):
        rest = data.draw(st.permutations(others))
        cut = data.draw(st.integers(min_value=0, max_value=len(rest)))  # partial rankings too
        ballots.append([x, *rest[:cut]])
    t = borda(ballots, candidates)
    assert t.decided and t.winner == x
    assert t.scores[x] == n * (len(candidates) - 1)
    assert t.valid_ballots == n


@given(data=st.data())
def test_everyone_names_x_then_x_wins_plurality(data: st.DataObject) -> None:
    candidates = data.draw(candidate_lists())
    x = data.draw(st.sampled_from(candidates))
    n = data.draw(st.integers(min_value=1, max_value=20))
    t = plurality([x] * n, candidates)
    assert t.decided and t.winner == x
    assert t.scores[x] == n == t.valid_ballots
    assert sum(t.scores.values()) == n
    assert not t.rejected


@given(data=st.data())
def test_cumulative_not_summing_to_ten_is_rejected_and_reported(data: st.DataObject) -> None:
    candidates = data.draw(candidate_lists())
    points = st.integers(min_value=0, max_value=25)
    ballot = st.dictionaries(st.sampled_from(candidates), points)
    ballots = data.draw(st.lists(ballot, max_size=8))
    t = cumulative(ballots, candidates)
    bad = [i for i, b in enumerate(ballots) if sum(b.values()) != CUMULATIVE_POINTS]
    assert t.valid_ballots == len(ballots) - len(bad)
    assert len(t.rejected) == len(bad)
    for i, message in zip(bad, t.rejected, strict=True):
        total = sum(ballots[i].values())
        assert message == f"ballot {i}: points sum to {total}, not {CUMULATIVE_POINTS}"
    good = [b for b in ballots if sum(b.values()) == CUMULATIVE_POINTS]
    for c in candidates:
        assert t.scores[c] == sum(b.get(c, 0) for b in good)


@given(data=st.data())
def test_approval_score_never_exceeds_valid_ballots(data: st.DataObject) -> None:
    candidates = data.draw(candidate_lists())
    name = st.sampled_from([*candidates, "stranger"])
    ballot = st.none() | st.lists(name, max_size=10)  # duplicates and non-candidates allowed
    ballots = data.draw(st.lists(ballot, max_size=10))
    t = approval(ballots, candidates)
    for c in candidates:
        assert 0 <= t.scores[c] <= t.valid_ballots
    valid = [b for b in ballots if b is not None and set(b) <= set(candidates)]
    assert t.valid_ballots == len(valid)
    assert t.scores == {c: sum(c in b for b in valid) for c in candidates}


def _ballot_strategy(rule: str, candidates: list[str]) -> st.SearchStrategy[Any]:
    name = st.sampled_from([*candidates, "stranger"])
    if rule == "plurality":
        return st.none() | name
    if rule == "approval":
        return st.none() | st.lists(name, max_size=5)
    if rule == "cumulative":
        return st.none() | st.dictionaries(name, st.integers(min_value=-2, max_value=10))
    return st.none() | st.lists(name, max_size=len(candidates) + 1)


def _without_index(messages: list[str]) -> Counter[str]:
    return Counter(re.sub(r"^ballot \d+: ", "", m) for m in messages)


@settings(max_examples=200)
@given(data=st.data(), rule=st.sampled_from(list(RULES)))
def test_ballot_order_never_changes_the_tally(data: st.DataObject, rule: str) -> None:
    candidates = data.draw(candidate_lists())
    ballots = data.draw(st.lists(_ballot_strategy(rule, candidates), max_size=8))
    shuffled = data.draw(st.permutations(ballots))
    a, b = RULES[rule](ballots, candidates), RULES[rule](shuffled, candidates)
    assert a.model_dump(exclude={"rejected"}) == b.model_dump(exclude={"rejected"})
    assert _without_index(a.rejected) == _without_index(b.rejected)


def _invalid_ballot_strategy(rule: str, candidates: list[str]) -> st.SearchStrategy[Any]:
    stranger = st.sampled_from(["stranger", "", "C0"])
    if rule == "plurality":
        return st.none() | stranger
    if rule == "approval":
        return st.none() | st.lists(stranger, min_size=1, max_size=3)
    if rule == "cumulative":
        off_total = st.integers(min_value=0, max_value=30).filter(lambda n: n != 10)
        return st.none() | st.dictionaries(st.sampled_from(candidates), off_total, max_size=1)
    return st.none() | st.just([]) | st.lists(stranger, min_size=1, max_size=3)


@given(data=st.data(), rule=st.sampled_from(list(RULES)))
def test_no_valid_ballots_decides_nothing(data: st.DataObject, rule: str) -> None:
    candidates = data.draw(candidate_lists())
    ballots = data.draw(st.lists(_invalid_ballot_strategy(rule, candidates), max_size=6))
    t = RULES[rule](ballots, candidates)
    assert not t.decided
    assert t.winner is None
    assert t.tie == []
    assert t.valid_ballots == 0
    assert len(t.rejected) == len(ballots)
    assert t.scores == dict.fromkeys(candidates, 0.0)
    assert t.reason == "no valid ballots"
