"""Ballot formats: the tolerant parser on replies shaped like small models' real answers, the JSON
schema for structured output, and the prompted confidence reader.

Each parser case is a reply and its expected reading, or UNREADABLE (the ballot gets re-asked,
never guessed) with a fragment the problem must contain, or ABSTAINS (the voter declined to
choose: recorded as an abstention, neither a vote nor unreadable).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from madebate.protocols._ballots import (
    ApprovalSet,
    BallotFormat,
    Ordering,
    PointsPerId,
    SingleChoice,
    label_mentions,
)
from madebate.protocols._voting import read_confidence

L2 = ["1", "2"]
L3 = ["1", "2", "3"]
L4 = ["1", "2", "3", "4"]
L12 = [str(i) for i in range(1, 13)]


class _Unreadable:
    def __repr__(self) -> str:
        return "UNREADABLE"


UNREADABLE = _Unreadable()


class _Abstains:
    def __repr__(self) -> str:
        return "ABSTAINS"


ABSTAINS = _Abstains()


@dataclass
class Reply:
    text: str
    expected: Any  # the parsed value, UNREADABLE or ABSTAINS
    problem: str = ""  # a fragment of the problem when unreadable
    labels: Sequence[str] = tuple(L3)


def check(fmt: BallotFormat, case: Reply) -> None:
    parsed = fmt.parse(case.text, list(case.labels))
    if case.expected is UNREADABLE:
        assert parsed.problem is not None, f"read {parsed.value!r}, expected unreadable"
        assert parsed.value is None and not parsed.abstained
        assert case.problem in parsed.problem
    elif case.expected is ABSTAINS:
        assert parsed.abstained, f"read {parsed.value!r} ({parsed.problem}), expected abstention"
        assert parsed.value is None and parsed.problem is None
    else:
        assert parsed.problem is None, parsed.problem
        assert not parsed.abstained
        assert parsed.value == case.expected


def param(text: str, expected: Any, problem: str = "", labels: Sequence[str] = L3) -> Any:
    return pytest.param(Reply(text, expected, problem, tuple(labels)), id=repr(text)[:60])


# -- single choice (plurality, consensus voting) ----------------------------------------------

SINGLE = [
    param("2", "2"),
    param("I vote for solution 1 of 3", "1"),
    param("I vote for Solution 1 (of 3).", "1"),
    param("Solution 2/3", "2"),
    param("2/3", "2"),
    param("Solution 2", "2"),
    param("candidate #2", "2"),
    param("Candidate #3", "3"),
    param("option 3", "3"),
    param("**Solution 3**", "3"),
    param("I vote for solution 2.", "2"),
    param("After comparing them, I choose Solution 2. It is the most accurate one.", "2"),
    param("My vote: 1\n\nReason: it cites the source.", "1"),
    param("Solution 2 (because it is correct)", "2"),
    param("2.", "2"),
    param("1. Solution 3 is the best one", "3"),
    param("Solution 3.\n\nReasons:\n1. It is accurate.\n2. It is concise.", "3"),
    param('"2"', "2"),
    param('```json\n{"choice": "2"}\n```', "2"),
    param('```JSON\n{"choice": "1"}\n```\nThat is my vote.', "1"),
    param('```\n{"choice": "3"}\n```', "3"),
    param('Sure! Here is my ballot: {"choice": "1"} I hope it helps.', "1"),
    param('{"choice": 2}', "2"),
    param('{"choice": "Solution 2"}', "2"),
    param('{"choice": "candidate #3"}', "3"),
    param('{"vote": "Solution 2"}', "2"),  # another key: read as prose
    param("I vote for 1 of 12 solutions", "1", labels=L12),
    param("Solution 12", "12", labels=L12),
    param("Solution 1 and Solution 2 are both fine", UNREADABLE, "several candidates (1, 2)"),
    param("1 or 3", UNREADABLE, "several candidates"),
    param("I like 2 but 3 is also good", UNREADABLE, "several candidates"),
    param("4", UNREADABLE, "'4' is not a candidate"),
    param("Solution 4", UNREADABLE, "names no candidate"),
    param("I vote for solution 0", UNREADABLE, "names no candidate"),
    param('{"choice": "4"}', UNREADABLE, "not a candidate"),
    param('{"choice": true}', UNREADABLE, "not a candidate"),
    param('{"choice": null}', ABSTAINS),  # JSON null under the key: an abstention
    param("[2]", UNREADABLE, "not a candidate"),
    param("I pick solution 2.5", UNREADABLE, "names no candidate"),
    param("I cannot decide between them.", ABSTAINS),
    param("", UNREADABLE, "names no candidate"),
]


@pytest.mark.parametrize("case", SINGLE)
def test_single_choice(case: Reply) -> None:
    check(SingleChoice(), case)


# -- approval ----------------------------------------------------------------------------------

APPROVE = [
    param("1 and 3", ["1", "3"]),
    param("I approve 1 and 3.", ["1", "3"]),
    param("I approve solutions 1, 2 and 3", ["1", "2", "3"]),
    param("3, 1", ["1", "3"]),  # read in label order
    param("1, 1, 3", ["1", "3"]),  # duplicates count once
    param("Solution 2 and candidate #3", ["2", "3"]),
    param("2", ["2"]),  # a bare number
    param("[1, 3]", ["1", "3"]),  # a bare list
    param('["3", "1", "3"]', ["1", "3"]),
    param('{"approve": ["1", "1", "3"]}', ["1", "3"]),
    param('{"approve": ["Solution 2"]}', ["2"]),
    param('{"approve": "2"}', ["2"]),
    param('```json\n{"approve": ["2"]}\n```', ["2"]),
    param('```json\n["1"]\n```\nSolution 2 was close.', ["1"]),  # the fence wins over prose
    param('Here you go: {"approve": ["1", "2"]} Thanks!', ["1", "2"]),
    param("none", []),
    param("None of them.", []),
    param("I approve none of the solutions", []),
    param("[]", []),
    param('{"approve": []}', []),
    param("[4]", UNREADABLE, "not candidate numbers: 4"),
    param('{"approve": ["1", "4"]}', UNREADABLE, "not candidate numbers: 4"),
    param('{"approve": [true]}', UNREADABLE, "not candidate numbers"),
    param("I can't say.", UNREADABLE, "names no candidate"),
    param("", UNREADABLE, "names no candidate"),
]


@pytest.mark.parametrize("case", APPROVE)
def test_approval_set(case: Reply) -> None:
    check(ApprovalSet(), case)


def test_approval_out_of_range_in_prose_is_unreadable() -> None:
    check(ApprovalSet(), Reply("1 and 4", UNREADABLE, "'4' is not a candidate number"))


# -- cumulative points -------------------------------------------------------------------------

POINTS = [
    param("1: 6, 2: 4", {"1": 6, "2": 4}),
    param("1: 6\n2: 4\n3: 0", {"1": 6, "2": 4, "3": 0}),
    param("1 = 7, 3 = 3", {"1": 7, "3": 3}),
    param("Solution 1 gets 6 points, Solution 2 gets 4 points.", {"1": 6, "2": 4}),
    param("Solution 3 receives 10", {"3": 10}),
    param('{"points": {"1": 6, "2": 4}}', {"1": 6, "2": 4}),
    param('{"points": {"1": 6, "2": 4, "3": 0}}', {"1": 6, "2": 4, "3": 0}),
    param('{"points": {"Solution 1": 10}}', {"1": 10}),
    param('```json\n{"points": {"1": 5, "2": 3, "3": 2}}\n```', {"1": 5, "2": 3, "3": 2}),
    param('My ballot: {"points": {"2": 10}} (all on 2)', {"2": 10}),
    param("1: 6, 2: 5", UNREADABLE, "points sum to 11, not 10"),
    param("1: 10, 2: 10", UNREADABLE, "points sum to 20, not 10"),
    param('{"points": {"1": 6, "2": 3}}', UNREADABLE, "points sum to 9, not 10"),
    param('{"points": {}}', UNREADABLE, "points sum to 0, not 10"),
    param('{"points": {"1": 11, "2": -1}}', UNREADABLE, "non-negative integer"),
    param('{"points": {"1": 6.5, "2": 3.5}}', UNREADABLE, "non-negative integer"),
    param('{"points": {"1": 6.0, "2": 4}}', UNREADABLE, "non-negative integer"),
    param('{"points": {"1": true, "2": 9}}', UNREADABLE, "non-negative integer"),
    param('{"points": {"1": "6", "2": "4"}}', UNREADABLE, "non-negative integer"),
    param('{"points": {"4": 10}}', UNREADABLE, "'4' is not a candidate"),
    param("4: 10", UNREADABLE, "'4' is not a candidate"),
    param('{"points": [6, 4]}', UNREADABLE, "must be an object"),
    param("[6, 4]", UNREADABLE, "must be an object"),
    param("I give most points to the first solution.", UNREADABLE, "no 'number: points' pairs"),
]


@pytest.mark.parametrize("case", POINTS)
def test_points_per_id(case: Reply) -> None:
    check(PointsPerId(), case)


def test_points_total_is_configurable() -> None:
    fmt = PointsPerId(total=100)
    assert fmt.parse("1: 60, 2: 40", L2).value == {"1": 60, "2": 40}
    assert fmt.parse("1: 6, 2: 4", L2).problem == "points sum to 10, not 100"
    assert "100" in fmt.instruction(L2)


# -- rankings ----------------------------------------------------------------------------------

RANK = [
    param("2 > 1 > 3", ["2", "1", "3"]),
    param("2 > 1 > 3.", ["2", "1", "3"]),
    param("2, 1, 3", ["2", "1", "3"]),
    param("Ranking: Solution 2, then Solution 3, then Solution 1.", ["2", "3", "1"]),
    param("1. Solution 2\n2. Solution 1\n3. Solution 3", ["2", "1", "3"]),
    param("**1.** Solution 3\n**2.** Solution 1\n**3.** Solution 2", ["3", "1", "2"]),
    param("1. **Solution 2**\n2. **Solution 3**\n3. **Solution 1**", ["2", "3", "1"]),
    param("[2, 1, 3]", ["2", "1", "3"]),
    param('{"ranking": ["3", "1", "2"]}', ["3", "1", "2"]),
    param('```json\n{"ranking": ["2", "3", "1"]}\n```', ["2", "3", "1"]),
    param('```json\n["2", "1", "3"]\n```\nI put 3 last: it is wrong.', ["2", "1", "3"]),
    param('Final: {"ranking": ["Solution 1", "Solution 3", "Solution 2"]}', ["1", "3", "2"]),
    param("2 > 1 > 4 > 3", ["2", "1", "4", "3"], labels=L4),
    # a ranking that leaves a candidate out is never completed, in prose as in JSON
    param("2 > 1", UNREADABLE, "ranks 2 of 3"),
    param("3 > 1", UNREADABLE, "ranks 2 of 3"),
    param('{"ranking": ["3", "2"]}', UNREADABLE, "ranks 2 of 3"),
    param("2 > 1 > 4", UNREADABLE, "ranks 3 of 4", labels=L4),
    param("Solution 2 is best", UNREADABLE, "ranks 1 of 2", labels=L2),
    param("2 > 1", UNREADABLE, "ranks 2 of 4", labels=L4),
    param("Solution 2 is best", UNREADABLE, "ranks 1 of 3"),
    param("2", UNREADABLE, "must be a list"),  # a bare number cannot be a ranking
    param("2 > 1 > 2", UNREADABLE, "ranked twice"),
    param("1 > 1", UNREADABLE, "ranked twice"),
    param("1, 2, 2, 3", UNREADABLE, "ranked twice"),
    param('{"ranking": ["1", "1", "2"]}', UNREADABLE, "ranked twice"),
    param('{"ranking": ["2", "1", "4"]}', UNREADABLE, "not a candidate"),
    param('{"ranking": "2 > 1 > 3"}', UNREADABLE, "must be a list"),
    param("I like all of them.", UNREADABLE, "names no candidate"),
    param("", UNREADABLE, "names no candidate"),
]


@pytest.mark.parametrize("case", RANK)
def test_ordering(case: Reply) -> None:
    check(Ordering(), case)


def test_ordering_out_of_range_in_prose_is_unreadable() -> None:
    check(Ordering(), Reply("2 > 1 > 4", UNREADABLE, "'4' is not a candidate number"))


# -- label mentions ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("solution 1 of 3", ["1"]),
        ("1/3", ["1"]),
        ("3 of them, and I pick 2", ["2"]),  # '3 of them' counts
        ("in favour of 2", ["2"]),  # a bare 'of' only discounts a number after a mention
        ("1, 2 and 2", ["1", "2", "2"]),  # repeats are kept: the formats decide what they mean
        ("13", []),
        ("2.5 or 3.1", []),
        ("1. Solution 2\n2. Solution 3", ["2", "3"]),
        ("- 1. Solution 2\n- 2. Solution 1", ["2", "1"]),
        ("Solution 2.", ["2"]),
        ("2.\n", ["2"]),
    ],
)
def test_label_mentions(text: str, expected: list[str]) -> None:
    assert label_mentions(text, L3) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none of the 3", []),
        ("None of the 3 solutions is correct.", []),
        ("all 3", []),
        ("I like all 3 equally", []),
        ("the 3 solutions", []),
        ("these 3 options", []),
        ("of the 3, none", []),
        ("out of 3", []),
        ("3 of them", []),
        ("the other 2 are wrong", []),
        ("Having read the **3** solutions", []),
        ("3 solutions, 2 is best", ["2"]),
        ("Solution 3 answers it", ["3"]),  # 'Solution 3' names 3 whatever follows
        ("I vote for **Solution 2** of the **3**", ["2"]),
        ("Solution 2 of 3", ["2"]),
        ("both 1 and 2", ["1", "2"]),  # 'both' is no number: 1 and 2 are named
    ],
)
def test_numbers_that_count_the_candidates_are_not_mentions(text: str, expected: list[str]) -> None:
    assert label_mentions(text, L3) == expected


# -- counts, abstentions and numbers that are no candidate (issue 12, item 6) ------------------

SINGLE_NEVER_GUESSED = [
    # a number that counts the candidates is no vote for the candidate with that number
    param("None of the 3 solutions is correct.", ABSTAINS),
    param("None of the 4 proposed solutions is correct.", ABSTAINS, labels=L4),
    param("None of the 12 solutions is right.", ABSTAINS, labels=L12),
    param("I abstain: all 3 are equally good.", ABSTAINS),
    param("All 3 are equally good.", UNREADABLE, "names no candidate number"),  # no choice
    param("I have read the 3 solutions; 2 is the best.", "2"),
    param("Of these 3 options, solution 1 is the most accurate.", "1"),
    param("Of the 3, I pick 2.", "2"),
    param("Out of 3, I pick 2.", "2"),
    param("2 of them are wrong, so I vote for 1.", "1"),
    param("Two solutions are close, but I vote for 3.", "3"),
    param("Both are fine; I vote for 1.", "1", labels=L2),
    param("Among the **3** candidates, **2** stands out.", "2"),
    param("I vote for **Solution 2** of the **3**.", "2"),
    param("Solution 2 of 3", "2"),
    param("I vote for 2", "2"),
    param("Solution 2 answers the question best.", "2"),
    param("Solution 2 gives 42, the right total.", "2"),  # a quantity is not a vote
    # naming several candidates is not weighed phrase by phrase: re-asked
    param("Both 1 and 2 are good, but I vote for 2.", UNREADABLE, "several candidates (1, 2)"),
    # a number that is no candidate, cast as a vote
    param("I vote for 9", UNREADABLE, "'9' is not a candidate number"),
    param("I vote for 9, not 1.", UNREADABLE, "'9' is not a candidate number"),
    param("2 or 5", UNREADABLE, "'5' is not a candidate number"),
    param("Solution 4", UNREADABLE, "names no candidate number ('4' is not a candidate"),
    # abstentions, in prose and in JSON
    param("I abstain.", ABSTAINS),
    param("I abstain from voting.", ABSTAINS),
    param("No vote.", ABSTAINS),
    param("I cannot choose.", ABSTAINS),
    param("I can't decide which is better.", ABSTAINS),
    param("I decline to vote.", ABSTAINS),
    param("Neither is correct.", ABSTAINS, labels=L2),
    param("I vote for neither.", ABSTAINS, labels=L2),
    param('{"choice": "abstain"}', ABSTAINS),
    param('{"choice": "none"}', ABSTAINS),
    param('```json\n{"choice": null}\n```', ABSTAINS),
    param('"abstain"', ABSTAINS),
    param('{"choice": ""}', UNREADABLE, "not a candidate"),
    # rejecting all is read only when no candidate is named; an explicit abstention is not
    param("None of them is perfect, but I vote for 2.", "2"),
    param("I cannot choose between 1 and 2.", UNREADABLE, "declines to choose"),
    param("I abstain, but 2 is the best.", UNREADABLE, "declines to choose"),
]


@pytest.mark.parametrize("case", SINGLE_NEVER_GUESSED)
def test_single_choice_never_guesses(case: Reply) -> None:
    check(SingleChoice(), case)


APPROVE_NEVER_GUESSED = [
    # approving none is a valid, empty approval ...
    param("I approve none of the 3 solutions", []),
    param("None of the 3 solutions is correct.", []),
    param("I approve none.", []),
    param('{"approve": "none"}', []),
    # ... and abstaining is not
    param("I abstain.", ABSTAINS),
    param("I abstain: all 3 are equally good.", ABSTAINS),
    param("I cannot choose.", ABSTAINS),
    param('{"approve": null}', ABSTAINS),
    param('{"approve": "abstain"}', ABSTAINS),
    # numbers that are no candidate, cast as votes
    param("I approve solutions 1 and 9", UNREADABLE, "'9' is not a candidate number"),
    param("1, 2, 9 and 10", UNREADABLE, "'9', '10' are not candidate numbers"),
    param("Solution 7", UNREADABLE, "names no candidate number ('7'"),
    # counts are not approvals
    param("I approve all 3", UNREADABLE, "names no candidate number"),
    param("Of the 3 solutions, I approve 1 and 3.", ["1", "3"]),
    param("I approve 2; the other 2 are wrong.", ["2"]),
    param("I approve 1 and 3 (both answer 12).", ["1", "3"]),
    param("I approve 1 and none of the others.", ["1"]),
    param("I approve none, not even 2.", UNREADABLE, "declines to choose"),
]


@pytest.mark.parametrize("case", APPROVE_NEVER_GUESSED)
def test_approval_never_guesses(case: Reply) -> None:
    check(ApprovalSet(), case)


RANK_NEVER_GUESSED = [
    param("3 > 9 > 1", UNREADABLE, "'9' is not a candidate number"),
    param("Solution 3, then solution 9, then solution 1.", UNREADABLE, "'9' is not a candidate"),
    param("1, 2, 3, 4", UNREADABLE, "'4' is not a candidate number"),
    param("None of the 3 solutions is correct.", ABSTAINS),
    param("I abstain: all 3 are equally good.", ABSTAINS),
    param('{"ranking": null}', ABSTAINS),
    param('{"ranking": "abstain"}', ABSTAINS),
    param("Of the 3 solutions: 2 > 3 > 1", ["2", "3", "1"]),
    param("Ranking of all 3: **2** > **1** > **3**", ["2", "1", "3"]),
    param("1. Solution 2\n2. Solution 3", UNREADABLE, "ranks 2 of 3"),  # never completed
]


@pytest.mark.parametrize("case", RANK_NEVER_GUESSED)
def test_ordering_never_guesses(case: Reply) -> None:
    check(Ordering(), case)


POINTS_NEVER_GUESSED = [
    param("I abstain.", ABSTAINS),
    param("None of the 3 solutions is correct.", ABSTAINS),
    param('{"points": null}', ABSTAINS),
    param("1: 10, but I abstain", UNREADABLE, "declines to choose"),
]


@pytest.mark.parametrize("case", POINTS_NEVER_GUESSED)
def test_points_never_guess(case: Reply) -> None:
    check(PointsPerId(), case)


@pytest.mark.parametrize(
    ("fmt", "prose", "payload"),
    [
        (Ordering(), "3 > 9 > 1", ["3", "9", "1"]),
        (Ordering(), "2 > 1", ["2", "1"]),  # a ranking is never completed, in either form
        (Ordering(), "2 > 3 > 1", ["2", "3", "1"]),
        (ApprovalSet(), "I approve solutions 1 and 9", ["1", "9"]),
        (ApprovalSet(), "I approve none of the 3 solutions", []),
        (ApprovalSet(), "I approve none of the 3 solutions", "none"),
        (ApprovalSet(), "I abstain", None),
        (SingleChoice(), "I abstain", None),
        (SingleChoice(), "None of the 3 solutions is correct.", "none"),
        (SingleChoice(), "I vote for solution 9", "9"),
        (PointsPerId(), "I abstain", "abstain"),
    ],
    # Named by class: an object's default repr holds its address, which differs between
    # pytest-xdist workers, and they must collect the same test ids.
    ids=lambda v: type(v).__name__ if isinstance(v, BallotFormat) else repr(v),
)
def test_prose_and_json_agree(fmt: BallotFormat, prose: str, payload: Any) -> None:
    """The same ballot reads the same way in prose and as JSON: value, abstention or refusal."""
    a = fmt.parse(prose, L3)
    b = fmt.parse(json.dumps({fmt.key: payload}), L3)
    assert (a.value, a.abstained, a.problem is None) == (b.value, b.abstained, b.problem is None)


@given(k=st.integers(min_value=2, max_value=12), data=st.data())
def test_a_count_of_any_size_is_never_a_vote(k: int, data: st.DataObject) -> None:
    labels = [str(i) for i in range(1, k + 1)]
    vote = data.draw(st.sampled_from(labels))
    n = data.draw(st.integers(min_value=2, max_value=12))  # how many the voter says there are
    counted = data.draw(
        st.sampled_from(
            [
                "None of the {n} is perfect, but I vote for solution {v}.",
                "Of the {n} solutions, I vote for {v}.",
                "Having read all {n}, I pick solution {v}.",
                "I vote for solution {v} of {n}.",
                "Among these **{n}** options, **Solution {v}** is best.",
            ]
        )
    )
    assert SingleChoice().parse(counted.format(n=n, v=vote), labels).value == vote
    nothing = data.draw(
        st.sampled_from(
            ["None of the {n} solutions is correct.", "I abstain: all {n} are equally good."]
        )
    ).format(n=n)
    assert SingleChoice().parse(nothing, labels).abstained
    assert Ordering().parse(nothing, labels).abstained
    approval = ApprovalSet().parse(nothing, labels)
    assert approval.value == [] if "None" in nothing else approval.abstained


# -- schemas -----------------------------------------------------------------------------------

FORMATS: list[BallotFormat] = [SingleChoice(), ApprovalSet(), PointsPerId(), Ordering()]
FORMAT_IDS = [type(f).__name__ for f in FORMATS]


@pytest.mark.parametrize("labels", [L2, L3, L12], ids=["k2", "k3", "k12"])
@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_schema_shape(fmt: BallotFormat, labels: list[str]) -> None:
    schema = fmt.schema(labels)
    jsonschema.Draft202012Validator.check_schema(schema)
    json.dumps(schema)  # serialisable as sent to a backend
    assert schema["type"] == "object"
    assert schema["required"] == [fmt.key]
    assert schema["additionalProperties"] is False
    prop = schema["properties"][fmt.key]
    if isinstance(fmt, SingleChoice):
        assert prop == {"type": "string", "enum": labels}
    elif isinstance(fmt, ApprovalSet | Ordering):
        assert prop["type"] == "array"
        assert prop["items"] == {"type": "string", "enum": labels}
        assert prop["maxItems"] == len(labels)
        if isinstance(fmt, Ordering):
            assert prop["minItems"] == len(labels)
    else:
        assert prop["type"] == "object"
        assert list(prop["properties"]) == labels
        assert prop["required"] == labels
        assert prop["additionalProperties"] is False
        for p in prop["properties"].values():
            assert p == {"type": "integer", "minimum": 0, "maximum": 10}


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_schema_rejects_non_candidates(fmt: BallotFormat) -> None:
    bad = {
        "choice": {"choice": "4"},
        "approve": {"approve": ["4"]},
        "points": {"points": {"1": 5, "2": 5, "3": 0, "4": 0}},
        "ranking": {"ranking": ["1", "2", "4"]},
    }[fmt.key]
    assert not jsonschema.Draft202012Validator(fmt.schema(L3)).is_valid(bad)
    assert fmt.parse(json.dumps(bad), L3).problem is not None


@st.composite
def schema_values(draw: st.DrawFn, fmt: BallotFormat, labels: list[str]) -> Any:
    """A value of fmt's key that satisfies its schema and is a well-formed ballot."""
    if isinstance(fmt, SingleChoice):
        return draw(st.sampled_from(labels))
    if isinstance(fmt, ApprovalSet):
        return draw(st.lists(st.sampled_from(labels), unique=True))
    if isinstance(fmt, Ordering):
        return draw(st.permutations(labels))
    cuts = sorted(
        draw(st.lists(st.integers(0, 10), min_size=len(labels) - 1, max_size=len(labels) - 1))
    )
    edges = [0, *cuts, 10]
    return {label: edges[i + 1] - edges[i] for i, label in enumerate(labels)}


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
@given(data=st.data(), k=st.integers(min_value=2, max_value=12))
def test_schema_value_round_trips(fmt: BallotFormat, data: st.DataObject, k: int) -> None:
    labels = [str(i) for i in range(1, k + 1)]
    value = data.draw(schema_values(fmt, labels))
    instance = {fmt.key: value}
    jsonschema.validate(instance, fmt.schema(labels))
    wrapped = data.draw(st.sampled_from(["{}", "```json\n{}\n```", "My ballot:\n{}\nDone."]))
    parsed = fmt.parse(wrapped.format(json.dumps(instance)), labels)
    assert parsed.problem is None, parsed.problem
    if isinstance(fmt, ApprovalSet):
        assert parsed.value == sorted(value, key=labels.index)  # a set, read in label order
    else:
        assert parsed.value == value


@pytest.mark.parametrize("fmt", FORMATS, ids=FORMAT_IDS)
def test_instruction_names_the_key_and_labels(fmt: BallotFormat) -> None:
    text = fmt.instruction(L3)
    assert f'"{fmt.key}"' in text
    assert "1" in text and "3" in text


# -- prompted confidence -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("85", 85.0),
        ("85/100", 85.0),
        ("85 / 100", 85.0),
        ("Confidence: 72%", 72.0),
        ("I am 90% sure.", 90.0),
        ("Confidence: 85.", 85.0),
        ("85.5", 85.5),
        ("100", 100.0),
        ("0", 0.0),
        ("Confidence (0-100): 85", 85.0),
        ("On a scale of 0 to 100, I'd say 70", 70.0),
        ("150", None),
        ("1000", None),
        ("-5", None),
        ("8/10", None),
        ("none", None),
        ("I am fairly confident.", None),
        ("", None),
    ],
)
def test_read_confidence(text: str, expected: float | None) -> None:
    assert read_confidence(text) == expected


# -- the one re-ask loop (ballots and the judge's verdict both go through it) -----------------


def _asker(*replies: str | None) -> tuple[Any, list[list[Any]]]:
    seen: list[list[Any]] = []
    queue = list(replies)

    async def ask(messages: list[Any]) -> str | None:
        seen.append(list(messages))
        return queue.pop(0)

    return ask, seen


async def test_ask_until_read_reasks_with_the_problem_until_a_reply_reads() -> None:
    from madebate.models._model import ChatMessage
    from madebate.protocols._reask import ask_until_read

    ask, seen = _asker("I like them all", "Solution 2")
    first = [ChatMessage(role="user", content="Vote.")]
    got = await ask_until_read(
        ask,
        first,
        lambda reply: SingleChoice().parse(reply, ["1", "2"]),
        lambda problem: f"unreadable: {problem}",
        max_reasks=2,
    )
    assert got.read and got.reasks == 1 and got.parsed is not None and got.parsed.value == "2"
    assert got.raw == "I like them all\n---\nSolution 2"
    assert [m.role for m in seen[1]] == ["user", "assistant", "user"]
    assert seen[1][2].content.startswith("unreadable: ")
    ballot = got.ballot("A1")
    assert (ballot.counted, ballot.value, ballot.reasks, ballot.problem) == (True, "2", 1, None)


@pytest.mark.parametrize("max_reasks", [0, 1, 3])
async def test_ask_until_read_gives_up_after_max_reasks(max_reasks: int) -> None:
    from madebate.protocols._reask import ask_until_read

    ask, seen = _asker(*["no idea"] * (max_reasks + 1))
    got = await ask_until_read(
        ask, [], lambda r: SingleChoice().parse(r, ["1", "2"]), str, max_reasks=max_reasks
    )
    assert len(seen) == max_reasks + 1 and not got.read and not got.failed
    ballot = got.ballot("A2")
    assert not ballot.counted and ballot.reasks == max_reasks
    assert (ballot.problem or "").startswith(f"unreadable after {max_reasks} re-ask(s): ")


async def test_ask_until_read_stops_at_an_abstention_or_a_failed_call() -> None:
    from madebate.protocols._reask import CALL_FAILED, ask_until_read

    def parse(r: str) -> Any:
        return SingleChoice().parse(r, ["1", "2"])

    ask, seen = _asker("I abstain.")
    got = await ask_until_read(ask, [], parse, str, max_reasks=2)
    assert len(seen) == 1 and got.ballot("A1").abstained and not got.read

    ask, seen = _asker("hmm", None)
    got = await ask_until_read(ask, [], parse, str, max_reasks=2)
    assert len(seen) == 2 and got.failed and got.reasks == 1 and got.problem == CALL_FAILED
    ballot = got.ballot("A1")
    assert not ballot.counted and ballot.problem == CALL_FAILED and ballot.raw == "hmm"
