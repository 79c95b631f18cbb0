"""Discussion analytics: per-discussion values on hand-built transcripts and on scripted
discussions (agents changing their answers on purpose), their per-cell aggregate, and both
stored by an experiment run (records.jsonl and summary.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from test_records import make_record

import madebate as mb
from madebate._results import AgentInfo, CallRecord, DiscussionResult, Message, Stance
from madebate.report import _plots
from madebate.runs._analytics import aggregate_analytics, discussion_analytics, gini
from madebate.runs._diversity import persona_diversity
from madebate.runs._scoring import accuracy, is_correct
from madebate.runs._summary import summarize_records

OPTIONS = ["Paris", "Rome", "Berlin", "Madrid"]
KEYS = [
    "turn_answers",
    "answer_flips",
    "changes_by_turn",
    "agreement_by_turn",
    "first_majority_turn",
    "final_answer_stability",
    "talk_share",
    "gini",
    "correct_proposed",
    "lost_correct",
    "answer_diversity_by_turn",
    "persona_diversity",
    "persona_diversity_method",
    "team",
]
AGGREGATE_KEYS = [
    "n",
    "mean_answer_flips",
    "mean_first_majority_turn",
    "first_majority_rate",
    "mean_final_answer_stability",
    "mean_gini",
    "n_with_references",
    "correct_proposed_rate",
    "lost_correct_rate",
    "mean_agreement_by_turn",
    "mean_changes_by_turn",
    "mean_answer_diversity_by_turn",
    "mean_persona_diversity",
    "persona_diversity_method",
    "team",
]
# The measure of these tests' personas (all without a description: diversity 0.0 either way).
BLANK_METHOD = persona_diversity(["", ""])[1]


# -- hand-built results ---------------------------------------------------------------------

STANCES = {"": Stance.NONE, "+": Stance.AGREE, "-": Stance.DISAGREE, "?": Stance.UNREADABLE}


def transcript(*turns: str) -> list[Message]:
    """One string per turn of 'SPEAKER:STANCE:ANSWER' entries, e.g. 'A1::B A2:-:C A3:+:'."""
    out: list[Message] = []
    for turn, spec in enumerate(turns, start=1):
        for entry in spec.split():
            speaker, stance, answer = entry.split(":")
            out.append(
                Message(
                    index=len(out),
                    turn=turn,
                    step=1,
                    speaker=speaker,
                    text=entry,
                    raw=entry,
                    stance=STANCES[stance],
                    solution=answer or None,
                    answer=answer or None,
                    readable=stance != "?",
                )
            )
    return out


def agents(*slots: str, drafter: str | None = None) -> list[AgentInfo]:
    made = [] if drafter is None else [_agent(drafter, voter=False)]
    return made + [_agent(s, voter=True) for s in slots]


def _agent(slot: str, *, voter: bool) -> AgentInfo:
    return AgentInfo(
        slot=slot, persona_name=slot, persona_description="", persona_source="none", voter=voter
    )


def calls(role: str = "discussion", **tokens: int) -> list[CallRecord]:
    return [
        CallRecord(role=role, agent=slot, model="scripted", completion_tokens=n)  # type: ignore[arg-type]
        for slot, n in tokens.items()
    ]


def make_result(
    messages: list[Message],
    *,
    answer: str | None,
    turns: int,
    references: list[str] | None = None,
    team: list[AgentInfo] | None = None,
    call_records: list[CallRecord] | None = None,
    options: list[str] | None = OPTIONS,
) -> DiscussionResult:
    task = mb.Task(question="Capital of Italy?", options=options, references=references or [])
    return DiscussionResult(
        task=task,
        answer=answer,
        solution=answer,
        decided=True,
        stop_reason="max_turns",
        turns=turns,
        paradigm="memory",
        protocol="majority_consensus",
        style="simple",
        seed=None,
        agents=team if team is not None else agents("A1", "A2", "A3"),
        messages=messages,
        calls=call_records or [],
    )


# B (correct) is proposed first and held by a majority after turn 1; A2 moves the panel to C.
LOST = transcript(
    "A1::B A2:-:C A3:-:B",  # current B (B, C, B); latest A1 B, A2 C, A3 B
    "A1:+: A2:-:C A3:+:C",  # current C (one change); latest A1 B, A2 C, A3 C
    "A1:+: A2:+:C A3:+:",  # nobody changes; A1's agreement moves it to C
)
LOST_CALLS = [
    *calls(A1=20, A2=10, A3=5),
    *calls(A1=20, A2=10, A3=5),
    *calls(A1=20, A2=10),
    *calls("agreement", A3=0),
    *calls("ballot", A1=1000, A2=1000),  # not talk: excluded from the share and the Gini
    *calls("persona", A3=500),
    CallRecord(role="discussion", agent=None, model="scripted", completion_tokens=99),
]


def test_correct_answer_proposed_in_turn_one_and_lost_at_the_end():
    result = make_result(LOST, answer="C", turns=3, references=["B"], call_records=LOST_CALLS)
    a = discussion_analytics(result)
    assert list(a) == KEYS
    assert a["turn_answers"] == ["B", "C", "C"]
    assert a["answer_flips"] == 3  # B -> C -> B -> C
    assert a["changes_by_turn"] == [2, 1, 0]
    assert a["agreement_by_turn"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert a["first_majority_turn"] == 1  # A1 and A3 on B
    assert a["final_answer_stability"] == pytest.approx(2 / 3)
    assert a["talk_share"] == pytest.approx({"A1": 0.6, "A2": 0.3, "A3": 0.1})
    assert list(a["talk_share"]) == ["A1", "A2", "A3"]
    # tokens 60, 30, 10: ordered-pair differences 2 * (30 + 50 + 20) over 2 * 3 * 100
    assert a["gini"] == pytest.approx(1 / 3)
    assert a["correct_proposed"] is True
    assert a["lost_correct"] is True


def test_nobody_ever_proposes_the_correct_answer():
    result = make_result(LOST, answer="C", turns=3, references=["D"], call_records=LOST_CALLS)
    a = discussion_analytics(result)
    assert a["correct_proposed"] is False and a["lost_correct"] is False
    assert a["turn_answers"] == ["B", "C", "C"] and a["answer_flips"] == 3


def test_correct_answer_kept_is_not_lost():
    result = make_result(LOST, answer="C", turns=3, references=["C"])
    a = discussion_analytics(result)
    assert a["correct_proposed"] is True and a["lost_correct"] is False


def test_without_references_correctness_is_none():
    a = discussion_analytics(make_result(LOST, answer="C", turns=3))
    assert a["correct_proposed"] is None and a["lost_correct"] is None
    assert a["talk_share"] == {} and a["gini"] is None  # no calls recorded: no tokens


def test_free_text_correctness_compares_normalised_answers():
    messages = transcript("A1::rome A2:-:paris", "A1:+: A2:+:")
    refs = ["  Paris. "]
    result = make_result(messages, answer="paris", turns=2, references=refs, options=None)
    a = discussion_analytics(result)
    assert a["correct_proposed"] is True and a["lost_correct"] is False
    lost = make_result(messages, answer="rome", turns=2, references=refs, options=None)
    assert discussion_analytics(lost)["lost_correct"] is True
    never = make_result(messages, answer="paris", turns=2, references=["Milan"], options=None)
    assert discussion_analytics(never)["correct_proposed"] is False


def test_correctness_is_the_rule_the_accuracy_metric_scores_by():
    """ "The Eiffel Tower" against the reference "Eiffel Tower": `accuracy` scores it correct,
    so the analytics must not count it as a correct answer lost."""

    def said(index: int, speaker: str, solution: str) -> Message:
        return Message(
            index=index,
            turn=1,
            step=index + 1,
            speaker=speaker,
            text=solution,
            raw=solution,
            stance=Stance.NONE if index == 0 else Stance.DISAGREE,
            solution=solution,
            answer=mb.Task(question="q").normalize(solution),
        )

    messages = [said(0, "A1", "The Eiffel Tower"), said(1, "A2", "Big Ben")]
    refs = ["Eiffel Tower"]
    kept = make_result(
        messages[:1], answer="the eiffel tower", turns=1, references=refs, options=None
    )
    kept = kept.model_copy(update={"solution": "The Eiffel Tower"})
    assert accuracy(kept.answer, kept.solution, kept.task) == 1.0
    assert is_correct(kept.answer, kept.solution, kept.task)
    a = discussion_analytics(kept)
    assert a["correct_proposed"] is True and a["lost_correct"] is False

    lost = make_result(messages, answer="big ben", turns=1, references=refs, options=None)
    assert accuracy(lost.answer, lost.solution, lost.task) == 0.0
    a = discussion_analytics(lost)
    assert a["correct_proposed"] is True and a["lost_correct"] is True


def test_one_gini_for_the_analytics_and_the_report():
    assert _plots.gini is gini  # the participation plot's fallback uses the same function
    assert gini([]) is None and gini([0, 0, 0]) is None  # nothing to share
    assert gini([5, 5, 5]) == 0.0
    assert gini([0, 0, 9]) == pytest.approx(2 / 3)  # one of three did all: (n-1)/n
    assert gini([0.5, 0.25, 0.25]) == gini([2, 1, 1])  # shares or counts alike
    values = [3, 0, 7, 1]
    pairs = sum(abs(a - b) for a in values for b in values)
    assert gini(values) == pytest.approx(pairs / (2 * len(values) * sum(values)))


def test_no_answer_until_turn_two_and_an_answer_that_flips_back():
    messages = transcript(
        "A1:?: A2:?:",  # nothing readable
        "A1::A A2:-:B",  # first proposal A, then B
        "A1:-:A A2:-:B",  # back to A, then B again
        "A1:-:A A2:-:",  # A; A2 disagrees without an answer (keeps its latest, B)
    )
    a = discussion_analytics(
        make_result(messages, answer="A", turns=4, team=agents("A1", "A2"), references=["A"])
    )
    assert a["turn_answers"] == [None, "B", "B", "A"]
    assert a["answer_flips"] == 4
    assert a["changes_by_turn"] == [0, 1, 2, 1]
    assert a["agreement_by_turn"] == [0.0, 0.5, 0.5, 0.5]
    assert a["first_majority_turn"] is None  # one of two is never more than half
    assert a["final_answer_stability"] == pytest.approx(1 / 3)  # turns 2-4: B, B, A
    assert a["correct_proposed"] is True and a["lost_correct"] is False


def test_nothing_said_at_all():
    a = discussion_analytics(make_result([], answer=None, turns=0, references=["B"]))
    assert a == {
        "turn_answers": [],
        "answer_flips": 0,
        "changes_by_turn": [],
        "agreement_by_turn": [],
        "first_majority_turn": None,
        "final_answer_stability": None,
        "talk_share": {},
        "gini": None,
        "correct_proposed": False,
        "lost_correct": False,
        "answer_diversity_by_turn": [],
        "persona_diversity": 0.0,
        "persona_diversity_method": BLANK_METHOD,
        "team": {  # tests/runs/test_team_analytics.py covers these figures
            "agents": {
                slot: {
                    "model": "model",
                    "first_answer": None,
                    "final_answer": None,
                    "first_correct": False,
                    "final_correct": False,
                    "first_won": False,
                    "final_won": False,
                    "changes": 0,
                    "unattributed_changes": 0,
                }
                for slot in ("A1", "A2", "A3")
            },
            "influence": {},
        },
    }


def test_never_proposed_gives_no_stability():
    messages = transcript("A1:?: A2:?: A3:?:", "A1:?: A2:?: A3:?:")
    a = discussion_analytics(make_result(messages, answer=None, turns=2))
    assert a["turn_answers"] == [None, None]
    assert a["final_answer_stability"] is None
    assert a["agreement_by_turn"] == [0.0, 0.0]
    assert a["first_majority_turn"] is None


def test_gini_is_zero_for_equal_talk():
    result = make_result(LOST, answer="C", turns=3, call_records=calls(A1=40, A2=40, A3=40))
    a = discussion_analytics(result)
    assert a["gini"] == 0.0
    assert a["talk_share"] == pytest.approx({"A1": 1 / 3, "A2": 1 / 3, "A3": 1 / 3})


@pytest.mark.parametrize(
    ("tokens", "gini"),
    [
        ({"A1": 100}, 2 / 3),  # one of three did all the talking: (n - 1) / n
        ({"A1": 90, "A2": 5, "A3": 5}, 340 / 600),  # 4 * 85 over 2 * 3 * 100
        ({"A1": 60, "A2": 40}, 240 / 600),  # A3 silent: 2 * (20 + 60 + 40) over 2 * 3 * 100
    ],
)
def test_gini_of_a_dominant_agent(tokens: dict[str, int], gini: float):
    result = make_result(LOST, answer="C", turns=3, call_records=calls(**tokens))
    a = discussion_analytics(result)
    assert a["gini"] == pytest.approx(gini)
    # every voter is listed, the silent ones with 0.0
    assert a["talk_share"] == pytest.approx(
        {s: tokens.get(s, 0) / sum(tokens.values()) for s in ("A1", "A2", "A3")}
    )


def test_the_drafter_is_excluded_from_agreement_majority_and_gini():
    # The drafter D proposes and redrafts; it never votes. A1 agrees, A2 holds out for C.
    messages = transcript("D::B A1:+: A2:-:C", "D::B A1:+: A2:-:C")
    result = make_result(
        messages,
        answer="B",
        turns=2,
        references=["B"],
        team=agents("A1", "A2", drafter="D"),
        call_records=calls(D=80, A1=10, A2=10),
    )
    a = discussion_analytics(result)
    assert a["turn_answers"] == ["C", "C"]
    assert a["answer_flips"] == 3  # B -> C -> B -> C: the drafter's proposals count
    assert a["changes_by_turn"] == [1, 2]
    # Voters A1 (latest B, from agreeing with D) and A2 (C): half of two, never a majority.
    # With D counted it would be 1/3 agreement on C.
    assert a["agreement_by_turn"] == [0.5, 0.5]
    assert a["first_majority_turn"] is None
    assert a["final_answer_stability"] == 0.0
    assert a["talk_share"] == pytest.approx({"D": 0.8, "A1": 0.1, "A2": 0.1})
    assert a["gini"] == 0.0  # the drafter's 80 tokens do not count
    assert a["correct_proposed"] is True and a["lost_correct"] is False


# -- scripted discussions -------------------------------------------------------------------

# What each agent says per turn: a letter to (re)propose it, None to agree without restating.
# B (correct) is proposed first; A2 and A3 back C in turn 1; A1 tries B again in turn 2.
PLAN: dict[int, dict[str, str | None]] = {
    1: {"A1": "B", "A2": "C", "A3": "C"},
    2: {"A1": "B", "A2": "C", "A3": None},
    3: {"A1": None, "A2": None, "A3": None},
}
# Distinct positions at each turn end: {B, C}, {B, C}, then everyone on C.
SHORT_DIVERSITY = 2
FULL_DIVERSITY = [2.0, 2.0, 1.0]


def planned(request: mb.ScriptedRequest) -> str:
    want = PLAN[request.context.turn][request.agent or ""]
    if "Current Solution: none yet" in request.prompt:
        return f"Because I insist.\nFinal Solution: {want}"  # 6 words (tokens)
    if want is None:
        return "[AGREE] Fine then."  # 3
    return f"[DISAGREE] I insist.\nFinal Solution: {want}"  # 6


def test_scripted_discussion_where_the_panel_abandons_the_correct_answer():
    task = mb.Task(question="Capital of Italy?", options=OPTIONS, references=["B"])
    result = mb.discuss(
        task,
        model=mb.ScriptedModel(planned),
        agents=3,
        personas="none",
        max_turns=3,
        min_turns=3,  # no decision before the end of turn 3
    )
    assert [(m.turn, m.speaker, m.answer) for m in result.messages] == [
        (1, "A1", "B"),
        (1, "A2", "C"),
        (1, "A3", "C"),
        (2, "A1", "B"),
        (2, "A2", "C"),
        (2, "A3", None),
        (3, "A1", None),
        (3, "A2", None),
        (3, "A3", None),
    ]
    assert result.answer == "C" and result.turns == 3
    a = discussion_analytics(result)
    assert a["turn_answers"] == ["C", "C", "C"]
    assert a["answer_flips"] == 3  # B -> C, C -> B, B -> C
    assert a["changes_by_turn"] == [1, 2, 0]
    assert a["agreement_by_turn"] == pytest.approx([2 / 3, 2 / 3, 1.0])
    assert a["answer_diversity_by_turn"] == FULL_DIVERSITY
    assert a["first_majority_turn"] == 1
    assert a["final_answer_stability"] == 1.0
    # A1 6+6+3, A2 6+6+3, A3 6+3+3 tokens of 42
    assert a["talk_share"] == pytest.approx({"A1": 15 / 42, "A2": 15 / 42, "A3": 12 / 42})
    assert a["gini"] == pytest.approx(12 / 252)  # 4 * 3 over 2 * 3 * 42
    assert a["correct_proposed"] is True
    assert a["lost_correct"] is True


# -- aggregates -----------------------------------------------------------------------------


def _analytics(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "turn_answers": [],
        "answer_flips": 0,
        "changes_by_turn": [],
        "agreement_by_turn": [],
        "first_majority_turn": None,
        "final_answer_stability": None,
        "talk_share": {},
        "gini": None,
        "correct_proposed": None,
        "lost_correct": None,
    }
    return {"analytics": {**base, **values}}


def test_aggregate_means_rates_and_ragged_per_turn_lists():
    records = [
        _analytics(
            answer_flips=3,
            changes_by_turn=[2, 1, 0],
            agreement_by_turn=[0.5, 0.5, 1.0],
            first_majority_turn=3,
            final_answer_stability=0.5,
            gini=0.2,
            correct_proposed=True,
            lost_correct=True,
        ),
        _analytics(
            answer_flips=0,
            changes_by_turn=[0],
            agreement_by_turn=[1.0],
            first_majority_turn=1,
            final_answer_stability=1.0,
            gini=0.4,
            correct_proposed=True,
            lost_correct=False,
        ),
        _analytics(
            answer_flips=1,
            changes_by_turn=[0, 1],
            agreement_by_turn=[0.0, 0.5],
            correct_proposed=False,
            lost_correct=False,
        ),
        _analytics(answer_flips=2, changes_by_turn=[1, 1], agreement_by_turn=[0.5, 0.0]),
        {"analytics": None},  # a failed example
        {"cell": "x"},  # a record from before analytics existed
    ]
    agg = aggregate_analytics(records)
    assert list(agg) == AGGREGATE_KEYS
    assert agg["n"] == 4
    assert agg["mean_answer_flips"] == pytest.approx(6 / 4)
    assert agg["mean_first_majority_turn"] == pytest.approx(2.0)  # over the two that got one
    assert agg["first_majority_rate"] == pytest.approx(2 / 4)
    assert agg["mean_final_answer_stability"] == pytest.approx(0.75)
    assert agg["mean_gini"] == pytest.approx(0.3)
    assert agg["n_with_references"] == 3
    assert agg["correct_proposed_rate"] == pytest.approx(2 / 3)
    assert agg["lost_correct_rate"] == pytest.approx(1 / 3)
    # turn 1 over all four, turn 2 over three, turn 3 over the one that got there
    assert agg["mean_agreement_by_turn"] == pytest.approx([2.0 / 4, 1.0 / 3, 1.0])
    assert agg["mean_changes_by_turn"] == pytest.approx([3 / 4, 3 / 3, 0.0])


def test_aggregate_of_nothing():
    assert aggregate_analytics([{"analytics": None}]) == {
        "n": 0,
        "mean_answer_flips": None,
        "mean_first_majority_turn": None,
        "first_majority_rate": None,
        "mean_final_answer_stability": None,
        "mean_gini": None,
        "n_with_references": 0,
        "correct_proposed_rate": None,
        "lost_correct_rate": None,
        "mean_agreement_by_turn": [],
        "mean_changes_by_turn": [],
        "mean_answer_diversity_by_turn": [],
        "mean_persona_diversity": None,
        "persona_diversity_method": None,
        "team": None,
    }


def test_summarize_records_aggregates_per_cell_and_skips_records_without_analytics():
    one = _analytics(answer_flips=2, gini=0.5, correct_proposed=True, lost_correct=True)
    two = _analytics(answer_flips=4, gini=0.1, correct_proposed=False, lost_correct=False)
    records = [
        make_record(cell="x", example_id="e1", **one),
        make_record(cell="y", example_id="e1", **two),
        make_record(cell="x", example_id="e2", analytics=None, stop_reason="error"),
        make_record(cell="x", example_id="e3", **two),
        make_record(cell="y", example_id="e2", analytics=None),  # from before analytics existed
    ]
    cells = summarize_records(records, ["x", "y"]).cells
    x, y = cells["x"].analytics, cells["y"].analytics
    assert cells["x"].n == 3 and x == aggregate_analytics([one, two])
    assert x is not None and x["n"] == 2
    assert x["mean_answer_flips"] == 3.0
    assert x["lost_correct_rate"] == 0.5
    assert y == aggregate_analytics([two])


# -- an experiment run ----------------------------------------------------------------------


def test_run_experiment_stores_analytics_in_records_and_the_summary(tmp_path: Path, model_seam):
    data = tmp_path / "data.jsonl"
    rows = [
        {"id": "q1", "question": "Capital of Italy?", "options": OPTIONS, "answer": "B"},
        {"id": "q2", "question": "Capital of Spain?", "options": OPTIONS, "answer": "D"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "analytics",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model_seam.use(lambda model_id, options: mb.ScriptedModel(planned)),
        "team": {"agents": 3, "personas": "none"},
        "discussion": {"max_turns": 3},
        "concurrency": 1,
        "cache": False,
        # min_turns 0: majority consensus once A2 and A3 back C in turn 1;
        # min_turns 3: the PLAN plays out over three turns
        "sweep": {"discussion.min_turns": [0, 3]},
    }
    run_dir = tmp_path / "run"
    run = mb.run_experiment(spec, out=run_dir)
    short, full = run.cells
    records = [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]
    assert len(records) == 4
    for r in records:
        assert r["analytics"] == discussion_analytics(DiscussionResult.model_validate(r["result"]))
        assert r["answer"] == "C"
        lost = r["example_id"] == "q1"  # B is correct there; nobody says D for q2
        assert r["analytics"]["correct_proposed"] is lost
        assert r["analytics"]["lost_correct"] is lost
        if r["cell"] == short:
            assert r["turns"] == 1
            assert r["analytics"] == {
                "turn_answers": ["C"],
                "answer_flips": 1,
                "changes_by_turn": [1],
                "agreement_by_turn": pytest.approx([2 / 3]),
                "first_majority_turn": 1,
                "final_answer_stability": 1.0,
                "talk_share": pytest.approx({"A1": 1 / 3, "A2": 1 / 3, "A3": 1 / 3}),
                "gini": 0.0,
                "correct_proposed": lost,
                "lost_correct": lost,
                "answer_diversity_by_turn": [SHORT_DIVERSITY],
                "persona_diversity": 0.0,
                "persona_diversity_method": BLANK_METHOD,
                # tests/runs/test_team_analytics.py covers these figures
                "team": r["analytics"]["team"],
            }
        else:
            assert r["turns"] == 3
            assert r["analytics"]["turn_answers"] == ["C", "C", "C"]
            assert r["analytics"]["changes_by_turn"] == [1, 2, 0]
            assert r["analytics"]["gini"] == pytest.approx(12 / 252)

    summary = json.loads((run_dir / "summary.json").read_text())
    for cell in (short, full):
        mine = [r for r in records if r["cell"] == cell]
        assert summary["cells"][cell]["analytics"] == aggregate_analytics(mine)
    assert summary["cells"][short]["analytics"] == {
        "n": 2,
        "mean_answer_flips": 1.0,
        "mean_first_majority_turn": 1.0,
        "first_majority_rate": 1.0,
        "mean_final_answer_stability": 1.0,
        "mean_gini": 0.0,
        "n_with_references": 2,
        "correct_proposed_rate": 0.5,
        "lost_correct_rate": 0.5,
        "mean_agreement_by_turn": pytest.approx([2 / 3]),
        "mean_changes_by_turn": [1.0],
        "mean_answer_diversity_by_turn": [SHORT_DIVERSITY],
        "mean_persona_diversity": 0.0,
        "persona_diversity_method": BLANK_METHOD,
        "team": summary["cells"][short]["analytics"]["team"],
    }
    assert summary["cells"][full]["analytics"] == {
        "n": 2,
        "mean_answer_flips": 3.0,
        "mean_first_majority_turn": 1.0,
        "first_majority_rate": 1.0,
        "mean_final_answer_stability": 1.0,
        "mean_gini": pytest.approx(12 / 252),
        "n_with_references": 2,
        "correct_proposed_rate": 0.5,
        "lost_correct_rate": 0.5,
        "mean_agreement_by_turn": pytest.approx([2 / 3, 2 / 3, 1.0]),
        "mean_changes_by_turn": [1.0, 2.0, 0.0],
        "mean_answer_diversity_by_turn": FULL_DIVERSITY,
        "mean_persona_diversity": 0.0,
        "persona_diversity_method": BLANK_METHOD,
        "team": summary["cells"][full]["analytics"]["team"],
    }
    # a run read back recomputes the same summary
    assert mb.load_run(run_dir).summary.model_dump(mode="json")["cells"] == summary["cells"]
