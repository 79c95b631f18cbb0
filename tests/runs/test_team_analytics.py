"""Team analytics on hand-made transcripts with exact figures and influence matrices, their sum
over a cell, and the same figures through a run, `madebate summary --format json` and the
report (by agent slot for one model, by model once the agents' models differ)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import madebate as mb
from madebate._results import AgentInfo, CallRecord, DiscussionResult, Message, Stance
from madebate.cli import app
from madebate.report._report import write_report
from madebate.runs._analytics import aggregate_analytics
from madebate.runs._team_analytics import TeamTally, team_analytics

OPTIONS = ["Paris", "Rome", "Berlin", "Madrid"]
EVERYONE = ("A1", "A2", "A3")


def msg(
    index: int,
    turn: int,
    speaker: str,
    answer: str | None,
    *,
    saw: list[int],
    stance: Stance = Stance.NONE,
    agreed_with: str | None = None,
    to: tuple[str, ...] = EVERYONE,
) -> Message:
    """A message delivered to `to` (but its speaker); `saw`: what its speaker was shown."""
    return Message(
        index=index,
        turn=turn,
        step=1,
        speaker=speaker,
        text=f"{speaker}: {answer}",
        raw=f"{speaker}: {answer}",
        stance=stance,
        solution=answer,
        answer=answer,
        receivers=[s for s in to if s != speaker],
        visible_message_ids=saw,
        agreed_with=agreed_with,
    )


def result_of(
    messages: list[Message],
    *,
    answer: str | None,
    models: dict[str, str | None],
    references: list[str] | None = None,
    call_model: str = "scripted",
) -> DiscussionResult:
    return DiscussionResult(
        task=mb.Task(question="Capital of Italy?", options=OPTIONS, references=references or []),
        answer=answer,
        solution=answer,
        decided=True,
        stop_reason="vote",
        turns=max((m.turn for m in messages), default=0),
        paradigm="memory",
        protocol="simple_voting",
        style="simple",
        seed=None,
        agents=[
            AgentInfo(
                slot=slot,
                persona_name=slot,
                persona_description="",
                persona_source="none",
                voter=slot != "J",
                model=model,
            )
            for slot, model in models.items()
        ],
        messages=messages,
        calls=[CallRecord(role="discussion", agent="A1", model=call_model)],
    )


# A1 (model m1) proposes B, which is correct; A2 and A3 (model m2) say C. In turn 2 A1 moves
# to C after reading A2 and A3 (half each); A2 moves to B, which nobody said since A2 last
# spoke (A1 said it before that): unattributed; A3 agrees with A2's B (a bare [AGREE]).
MIXED = [
    msg(0, 1, "A1", "B", saw=[]),
    msg(1, 1, "A2", "C", saw=[0]),
    msg(2, 1, "A3", "C", saw=[0, 1]),
    msg(3, 2, "A1", "C", saw=[1, 2]),
    msg(4, 2, "A2", "B", saw=[2, 3]),
    msg(5, 2, "A3", None, saw=[3, 4], stance=Stance.AGREE, agreed_with="B"),
]
MIXED_MODELS: dict[str, str | None] = {"A1": "m1", "A2": "m2", "A3": "m2"}


def figures(model: str, first: Any, final: Any, fc: Any, lc: Any, fw: bool, lw: bool, ch: int, un: int) -> dict[str, Any]:  # fmt: skip
    return {
        "model": model,
        "first_answer": first,
        "final_answer": final,
        "first_correct": fc,
        "final_correct": lc,
        "first_won": fw,
        "final_won": lw,
        "changes": ch,
        "unattributed_changes": un,
    }


def test_a_mixed_discussion_gives_exact_figures_and_influence() -> None:
    team = team_analytics(result_of(MIXED, answer="B", models=MIXED_MODELS, references=["B"]))
    assert team == {
        "agents": {
            "A1": figures("m1", "B", "C", True, False, True, False, 1, 0),
            "A2": figures("m2", "C", "B", False, True, False, True, 1, 1),
            "A3": figures("m2", "C", "B", False, True, False, True, 1, 0),
        },
        "influence": {"A2": {"A1": 0.5, "A3": 1.0}, "A3": {"A1": 0.5}},
    }


def test_a_cell_sums_by_agent_and_by_model_and_shows_models_once_they_mix() -> None:
    mixed = team_analytics(result_of(MIXED, answer="B", models=MIXED_MODELS, references=["B"]))
    # The same discussion ending on C instead, without references.
    other = team_analytics(result_of(MIXED, answer="C", models=MIXED_MODELS))
    tally = TeamTally()
    for team in (mixed, None, other):
        tally.add(team)
    got = tally.result()
    assert got is not None and got["view"] == "model"
    assert got["by_model"] == {
        "m1": {
            "agent_discussions": 2,
            "with_references": 1,
            "first_accuracy": 1.0,
            "final_accuracy": 0.0,
            "first_won_rate": 0.5,  # B won the first discussion, C the second
            "final_won_rate": 0.5,
            "changes": 2,
            "unattributed_changes": 0,
        },
        "m2": {
            "agent_discussions": 4,
            "with_references": 2,
            "first_accuracy": 0.0,
            "final_accuracy": 1.0,
            "first_won_rate": 0.5,
            "final_won_rate": 0.5,
            "changes": 4,
            "unattributed_changes": 2,
        },
    }
    assert got["by_agent"]["A2"]["unattributed_changes"] == 2
    assert got["by_agent"]["A1"]["first_accuracy"] == 1.0
    assert got["influence_by_agent"] == {"A2": {"A1": 1.0, "A3": 2.0}, "A3": {"A1": 1.0}}
    # m2's agents changed m1's mind once per discussion, and each other's once.
    assert got["influence_by_model"] == {"m2": {"m1": 2.0, "m2": 2.0}}
    assert TeamTally().result() is None


def test_a_message_from_the_same_step_that_the_speaker_never_saw_does_not_count() -> None:
    # Turn 2 is one concurrent step: A1 and A2 both move to C, which A3 said in turn 1. A1's
    # turn-2 message comes before A2's in the transcript but A2 was not shown it.
    messages = [
        msg(0, 1, "A1", "B", saw=[]),
        msg(1, 1, "A2", "A", saw=[]),
        msg(2, 1, "A3", "C", saw=[]),
        msg(3, 2, "A1", "C", saw=[1, 2]),
        msg(4, 2, "A2", "C", saw=[0, 2]),
    ]
    team = team_analytics(result_of(messages, answer="C", models=MIXED_MODELS))
    assert team["influence"] == {"A3": {"A1": 1.0, "A2": 1.0}}


def test_a_change_made_having_been_shown_nothing_is_unattributed() -> None:
    # A memory window of 0 (or a transcript shrunk away to fit the context): A1 changes to C in
    # turn 2 shown nothing at all, so A3's C, delivered to it but never shown, explains nothing.
    messages = [
        msg(0, 1, "A1", "B", saw=[]),
        msg(1, 1, "A2", "B", saw=[]),
        msg(2, 1, "A3", "C", saw=[]),
        msg(3, 2, "A1", "C", saw=[]),
    ]
    team = team_analytics(result_of(messages, answer="C", models=MIXED_MODELS))
    assert team["influence"] == {}
    assert team["agents"]["A1"]["changes"] == 1
    assert team["agents"]["A1"]["unattributed_changes"] == 1


def test_a_change_back_and_forth_counts_each_time_and_repeated_senders_count_once() -> None:
    # A2 says C twice before A1 moves to C: A2 gets the whole change, once. A1 then moves back
    # to B after A3's B: A3 gets that one. Unreadable replies (no answer) change nothing.
    messages = [
        msg(0, 1, "A1", "B", saw=[]),
        msg(1, 1, "A2", "C", saw=[0]),
        msg(2, 1, "A2", "C", saw=[0, 1]),
        msg(3, 2, "A1", None, saw=[1, 2], stance=Stance.UNREADABLE),
        msg(4, 2, "A1", "C", saw=[1, 2, 3]),
        msg(5, 2, "A3", "B", saw=[0, 1, 2, 4]),
        msg(6, 3, "A1", "B", saw=[5]),
    ]
    team = team_analytics(
        result_of(messages, answer="B", models={"A1": None, "A2": None, "A3": None})
    )
    # The unreadable reply at 3 is A1's previous message for the change at 4: A2's messages
    # came before it, so that change is unattributed ("since X's previous message").
    assert team["influence"] == {"A3": {"A1": 1.0}}
    assert team["agents"]["A1"]["changes"] == 2
    assert team["agents"]["A1"]["unattributed_changes"] == 1


def test_records_before_mixed_teams_group_by_slot_with_the_discussions_one_model() -> None:
    team = team_analytics(
        result_of(
            MIXED, answer="B", models={"A1": None, "A2": None, "A3": None}, call_model="llm-x"
        )
    )
    assert {a["model"] for a in team["agents"].values()} == {"llm-x"}
    got = aggregate_analytics([{"analytics": {**_base(), "team": team}}])["team"]
    assert got["view"] == "agent"
    assert list(got["by_model"]) == ["llm-x"] and list(got["by_agent"]) == ["A1", "A2", "A3"]
    assert got["influence_by_model"] == {"llm-x": {"llm-x": 2.0}}


def test_the_judge_and_its_messages_are_left_out_and_a_drafter_is_counted() -> None:
    messages = [
        msg(0, 1, "D", "A", saw=[], to=("D", "A1")),
        msg(1, 1, "A1", "B", saw=[0], to=("D", "A1")),
        msg(2, 1, "J", "A", saw=[], to=("D", "A1")),  # a drift judge's guidance
        msg(3, 2, "A1", "A", saw=[0, 1, 2], to=("D", "A1")),
    ]
    models: dict[str, str | None] = {"D": "m1", "A1": "m2", "J": "m3"}
    team = team_analytics(result_of(messages, answer="A", models=models))
    assert list(team["agents"]) == ["D", "A1"]
    assert team["influence"] == {}  # D's message came before A1's previous one; J is no agent
    assert team["agents"]["A1"]["unattributed_changes"] == 1
    assert team["agents"]["D"]["first_won"] is True


def _base() -> dict[str, Any]:
    """The other analytics of a record, as an aggregate reads them."""
    return {
        "answer_flips": 0,
        "first_majority_turn": None,
        "final_answer_stability": None,
        "gini": None,
        "agreement_by_turn": [],
        "changes_by_turn": [],
    }


# -- through a run, the summary and the report ----------------------------------------------

PLAN: dict[int, dict[str, str | None]] = {
    1: {"A1": "B", "A2": "C", "A3": "C"},
    2: {"A1": "B", "A2": "C", "A3": None},
    3: {"A1": None, "A2": None, "A3": None},  # everyone agrees with C: A1 changes its mind
}


def planned(request: mb.ScriptedRequest) -> str:
    want = PLAN[request.context.turn][request.agent or ""]
    if "Current Solution: none yet" in request.prompt:
        return f"Because.\nFinal Solution: {want}"
    if want is None:
        return "[AGREE] Fine then."
    return f"[DISAGREE] I insist.\nFinal Solution: {want}"


@pytest.fixture
def run_dir(tmp_path: Path, model_seam: Any) -> Path:
    data = tmp_path / "data.jsonl"
    rows = [
        {"id": "q1", "question": "Capital of Italy?", "options": OPTIONS, "answer": "B"},
        {"id": "q2", "question": "Capital of Spain?", "options": OPTIONS, "answer": "D"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "teams",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model_seam.use(lambda model_id, options: mb.ScriptedModel(planned)),
        "discussion": {"agents": 3, "personas": "none", "max_turns": 3, "min_turns": 3},
        "concurrency": 1,
        "cache": False,
    }
    out = tmp_path / "run"
    mb.run_experiment(spec, out=out)
    return out


def _summary_team(run_dir: Path) -> dict[str, Any]:
    printed = CliRunner().invoke(app, ["summary", str(run_dir), "--format", "json"])
    assert printed.exit_code == 0, printed.output
    (cell,) = json.loads(printed.output)["cells"].values()
    team: dict[str, Any] = cell["analytics"]["team"]
    return team


def test_a_run_reports_the_team_by_agent_slot_in_the_summary_and_the_report(run_dir: Path) -> None:
    team = _summary_team(run_dir)
    assert team["view"] == "agent"
    assert team["by_agent"]["A1"] == {
        "agent_discussions": 2,
        "with_references": 2,
        "first_accuracy": 0.5,  # B is right for q1
        "final_accuracy": 0.0,
        "first_won_rate": 0.0,
        "final_won_rate": 1.0,  # it ends on C, the final answer
        "changes": 2,
        "unattributed_changes": 0,
    }
    assert team["by_agent"]["A2"]["first_won_rate"] == 1.0
    assert team["by_agent"]["A2"]["changes"] == 0
    # In each discussion A1 moved to C after A2's C and A3's agreement with C: half each.
    assert team["influence_by_agent"] == {"A2": {"A1": 1.0}, "A3": {"A1": 1.0}}

    index = write_report(run_dir).path.read_text(encoding="utf-8")
    assert "<h3>Teams</h3>" in index and "by agent slot" in index
    matrix = index.split('<table class="influence">')[1].split("</table>")[0]
    rows = re.findall(r'<tr><th scope="row">(\w+)</th>(.*?)</tr>', matrix, re.S)
    values = {s: re.findall(r">([^<>]+)</td>", cells) for s, cells in rows}
    assert values == {"A1": ["·", "·", "·"], "A2": ["1.00", "·", "·"], "A3": ["1.00", "·", "·"]}
    figures_table = index.split('<table class="sortable team-figures">')[1].split("</table>")[0]
    assert re.search(r"<td[^>]*>A1</td>\s*<td[^>]*>2</td>\s*<td[^>]*>50\.0%</td>", figures_table)


def test_once_agents_speak_with_different_models_the_report_shows_models(run_dir: Path) -> None:
    # Mixed teams made by hand: A1 speaks with model "big", A2 and A3 with "small".
    records = run_dir / "records.jsonl"
    lines = []
    for line in records.read_text().splitlines():
        record = json.loads(line)
        for agent in record["result"]["agents"]:
            agent["model"] = "big" if agent["slot"] == "A1" else "small"
        result = DiscussionResult.model_validate(record["result"])
        record["analytics"]["team"] = team_analytics(result)
        lines.append(json.dumps(record))
    records.write_text("\n".join(lines) + "\n")

    team = _summary_team(run_dir)
    assert team["view"] == "model"
    assert team["by_model"]["big"]["first_accuracy"] == 0.5
    assert team["by_model"]["small"]["agent_discussions"] == 4
    assert team["by_model"]["small"]["final_won_rate"] == 1.0
    assert team["influence_by_model"] == {"small": {"big": 2.0}}

    index = write_report(run_dir).path.read_text(encoding="utf-8")
    assert "by model" in index
    matrix = index.split('<table class="influence">')[1].split("</table>")[0]
    assert re.findall(r'<th scope="(?:row|col)">(\w+)</th>', matrix) == [
        "big",
        "small",
        "big",
        "small",
    ]
    assert "2.00" in matrix
    page = next((run_dir / "report" / "discussions").glob("*-q1-*.html")).read_text(
        encoding="utf-8"
    )
    assert "<td>A1</td><td>big</td><td>B</td><td>C (won)</td><td>yes</td><td>no</td>" in page
    assert "A2 → A1 0.50; A3 → A1 0.50" in page


def test_a_run_of_a_mixed_team_reports_by_model(tmp_path: Path, model_seam: Any) -> None:
    # The same plan, A1 on one model and A2, A3 on another: the figures group by model.
    data = tmp_path / "data.jsonl"
    row = {"id": "q1", "question": "Capital of Italy?", "options": OPTIONS, "answer": "B"}
    data.write_text(json.dumps(row) + "\n")
    spec = {
        "name": "mixed",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model_seam.use(
            lambda model_id, options: mb.ScriptedModel(planned, model_id=model_id)
        ),
        "discussion": {
            "agents": [{"model": "test/big"}, {"model": "test/small"}, {"model": "test/small"}],
            "personas": "none",
            "max_turns": 3,
            "min_turns": 3,
        },
        "concurrency": 1,
        "cache": False,
    }
    mb.run_experiment(spec, out=tmp_path / "run")
    (record,) = [json.loads(line) for line in (tmp_path / "run" / "records.jsonl").open()]
    models = {a["slot"]: a["model"] for a in record["result"]["agents"]}
    big, small = models["A1"], models["A2"]
    assert big != small and models["A3"] == small
    team = _summary_team(tmp_path / "run")
    assert team["view"] == "model"
    assert team["by_model"][big]["first_accuracy"] == 1.0  # A1 said B, which is right
    assert team["by_model"][big]["final_accuracy"] == 0.0  # ... and then agreed with C
    assert team["by_model"][small]["agent_discussions"] == 2
    assert team["by_model"][small]["final_won_rate"] == 1.0
    assert team["influence_by_model"] == {small: {big: 1.0}}
