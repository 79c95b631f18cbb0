"""Voting and judge protocols through the real engine (DESIGN.md section 3).

Every discussion here runs on a scripted panel in which each slot holds one fixed answer for the
whole discussion and, when asked for a ballot, reads the ballot prompt and votes for the
candidate that is its own answer. Agents hold different answers, so a vote really happens.
Covered: every paradigm with every rule, ties and their tie breaks, vote_from_turn, option
validation, what the ballot prompt shows, unreadable and lost ballots, structured output per
backend (OpenAI-compatible HTTP against a loopback server, llama.cpp grammars) and the CLI.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion
from typer.testing import CliRunner

import madebate as mb
from madebate import (
    ChatMessage,
    ConfigError,
    DiscussionResult,
    GenerateConfig,
    ModelCallError,
    ScriptedModel,
    ScriptedRequest,
)
from madebate.cli import app as cli_app
from madebate.models import ManagedModel
from madebate.models.providers.openai_http import OpenAICompatibleModel
from madebate.protocols import create_protocol
from madebate.protocols._ballots import ApprovalSet, Ordering, PointsPerId, SingleChoice
from madebate.protocols._judge import JudgeProtocol
from madebate.protocols._voting import VotingProtocol

PARADIGMS = ["memory", "relay", "report", "debate", "collective_refinement"]
VOTING = [
    "simple_voting",
    "approval_voting",
    "cumulative_voting",
    "ranked_voting",
    "consensus_voting",
]
PROTOCOLS = [*VOTING, "judge"]
QUESTION = "Which option is right?"
LETTERS = "ABCD"
OPTIONS = ["option a", "option b", "option c", "option d"]

# "Solution 2 (proposed by ...) (confidence ...):" then the candidate's text on the next line.
_CANDIDATE = re.compile(r"^Solution (\d+)\b[^\n]*:\n([A-Z])\) ", re.M)
_CURRENT = re.compile(r"^Current Solution: ([A-Z])\)", re.M)
_TOKEN = re.compile(r"<<A\d\|t\d+>>")


def solution_of(letter: str) -> str:
    return f"{letter}) {OPTIONS[LETTERS.index(letter)]}"


def first_user(request: ScriptedRequest) -> str:
    """The first user message: the ballot (or judge) prompt itself, also on a re-ask."""
    return next(m.content for m in request.messages if m.role == "user")


def shown_candidates(prompt: str) -> dict[str, str]:
    """Label -> answer letter, in the order the prompt shows them."""
    return dict(_CANDIDATE.findall(prompt))


def ballot_for(schema: dict[str, Any], mine: str) -> dict[str, Any]:
    """A valid ballot for madebate's ballot schemas (and the judge's) backing `mine`."""
    props = schema["properties"]
    key = next(iter(props))
    spec = props[key]
    labels = list(spec.get("enum") or spec.get("items", {}).get("enum") or spec["properties"])
    labels = [label for label in labels if label != "new"]
    if key == "choice":
        return {"choice": mine, **{k: None for k in schema.get("required", []) if k != key}}
    if key == "approve":
        return {"approve": [mine]}
    if key == "points":
        return {"points": {label: 10 if label == mine else 0 for label in labels}}
    if key == "ranking":
        return {"ranking": [mine, *(label for label in labels if label != mine)]}
    raise AssertionError(f"unknown ballot schema {schema}")


def expected_value(protocol: str, mine: str, labels: list[str]) -> Any:
    """What the protocol should read from `ballot_for(schema, mine)`."""
    if protocol in ("simple_voting", "consensus_voting"):
        return mine
    if protocol == "approval_voting":
        return [mine]
    if protocol == "cumulative_voting":
        return {label: 10 if label == mine else 0 for label in labels}
    assert protocol == "ranked_voting"
    return [mine, *(label for label in labels if label != mine)]


class Panel:
    """A script: every slot states its fixed answer each time it speaks (agreeing when the current
    solution it sees is already its answer) and votes for that answer. Discussion replies carry a
    token <<slot|tTURN>> so tests can see which messages a prompt shows."""

    def __init__(
        self,
        answers: dict[str, str],
        *,
        judge_picks: str = "A",
        confidence: dict[str, int] | None = None,
        ballots: dict[str, Callable[[ScriptedRequest], str]] | None = None,
    ):
        self.answers = answers
        self.judge_picks = judge_picks
        self.confidence = confidence or {}
        self.ballots = ballots or {}  # a slot's own ballot behaviour (prose, failures)
        self.seen: dict[tuple[str, int], dict[str, str]] = {}  # (voter, turn) -> shown candidates

    def __call__(self, request: ScriptedRequest) -> str:
        agent, turn = request.agent, request.context.turn
        assert agent is not None
        if request.role == "discussion":
            letter = self.answers[agent]
            token = f"<<{agent}|t{turn}>>"
            current = _CURRENT.search(request.prompt)
            if current is None or agent == "D":  # a draft or the drafter's revision
                return f"{token} My reasoning.\nFinal Solution: {solution_of(letter)}"
            stance = "AGREE" if current.group(1) == letter else "DISAGREE"
            return f"[{stance}] {token} My view.\nFinal Solution: {solution_of(letter)}"
        if request.role == "confidence":
            return str(self.confidence.get(agent, 80))
        shown = shown_candidates(first_user(request))
        if request.role == "judge":
            label = next(lbl for lbl, a in shown.items() if a == self.judge_picks)
            return json.dumps({"choice": label})
        assert request.role == "ballot", request.role
        self.seen[(agent, turn)] = shown
        if agent in self.ballots:
            return self.ballots[agent](request)
        mine = next(lbl for lbl, a in shown.items() if a == self.answers[agent])
        schema = request.config.json_schema
        if schema is None:  # a backend without structured output: a prose ballot
            return f"I vote for solution {mine} of {len(shown)}."
        return json.dumps(ballot_for(schema, mine))


def discuss(
    model: ScriptedModel,
    *,
    protocol: str = "simple_voting",
    paradigm: str = "memory",
    agents: int = 3,
    max_turns: int = 2,
    seed: int | None = 7,
    drafter: bool = False,
    **options: Any,
) -> DiscussionResult:
    return mb.Discussion(
        QUESTION,
        options=OPTIONS,
        model=model,
        paradigm=paradigm,
        agents=agents,
        drafter=drafter,
        protocol=protocol,
        protocol_options=options,
        max_turns=max_turns,
        seed=seed,
        personas="none",
    ).run()


def requests(model: ScriptedModel, role: str, turn: int | None = None) -> list[ScriptedRequest]:
    return [
        r for r in model.requests if r.role == role and (turn is None or r.context.turn == turn)
    ]


# -- 1. every paradigm x every rule ------------------------------------------------------------

SPLIT = {"A1": "A", "A2": "B", "A3": "B"}  # B holds a majority; the judge picks the minority A


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("paradigm", PARADIGMS)
def test_every_paradigm_with_every_rule_votes_and_decides(paradigm: str, protocol: str) -> None:
    panel = Panel(SPLIT, judge_picks="A")
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model, protocol=protocol, paradigm=paradigm)

    assert result.error is None, result.stop_detail
    assert result.decided and result.turns == 1
    assert result.answer and result.solution == solution_of(result.answer)
    assert result.protocol == protocol and result.paradigm == paradigm
    assert [a.slot for a in result.agents if a.voter] == ["A1", "A2", "A3"]
    # Each panelist's latest position is its own answer: the vote is between A and B.
    assert {m.speaker: m.answer for m in result.messages} == SPLIT
    deciding = result.decisions[-1]
    assert deciding.decided and deciding.turn == 1 and deciding.answer == result.answer

    if protocol == "judge":
        assert result.stop_reason == "judge"
        assert result.answer == "A"  # the judge's pick, not the majority's
        assert requests(model, "ballot") == []
        (judge_call,) = requests(model, "judge")
        assert judge_call.agent == "J"
        shown = shown_candidates(first_user(judge_call))
        assert sorted(shown.values()) == ["A", "B"] and sorted(shown) == ["1", "2"]
        (ballot,) = deciding.ballots
        label_a = next(lbl for lbl, a in shown.items() if a == "A")
        assert ballot.voter == "J" and ballot.counted and ballot.reasks == 0
        assert ballot.value == label_a and json.loads(ballot.raw) == {"choice": label_a}
        assert deciding.tally == {"A": 1.0, "B": 0.0}
        judge_info = next(a for a in result.agents if a.slot == "J")
        assert judge_info.voter is False
        return

    assert result.stop_reason == "vote"
    assert result.answer == "B"
    # Ballots: one per panelist, all at the end of turn 1, nobody else asked.
    calls = requests(model, "ballot")
    assert sorted(r.agent or "" for r in calls) == ["A1", "A2", "A3"]
    assert {r.context.turn for r in calls} == {1}
    assert all(r.config.json_schema is not None for r in calls)
    assert [b.voter for b in deciding.ballots] == ["A1", "A2", "A3"]
    for ballot in deciding.ballots:
        shown = panel.seen[(ballot.voter, 1)]
        assert sorted(shown) == ["1", "2"] and sorted(shown.values()) == ["A", "B"]
        labels = list(shown)
        mine = next(lbl for lbl, a in shown.items() if a == SPLIT[ballot.voter])
        assert ballot.counted and ballot.reasks == 0 and ballot.problem is None
        schema = expected_schema(protocol, sorted(labels))
        assert json.loads(ballot.raw) == ballot_for(schema, mine)
        assert ballot.value == expected_value(protocol, mine, sorted(labels))
    expected_tally = {
        "simple_voting": {"A": 1.0, "B": 2.0},
        "consensus_voting": {"A": 1.0, "B": 2.0},
        "approval_voting": {"A": 1.0, "B": 2.0},
        "cumulative_voting": {"A": 10.0, "B": 20.0},
        "ranked_voting": {"A": 1.0, "B": 2.0},  # Borda with 2 candidates: first gets 1
    }[protocol]
    assert deciding.tally == expected_tally
    assert "3 of 3 ballots counted" in deciding.reason
    ballot_records = [c for c in result.calls if c.role == "ballot"]
    assert len(ballot_records) == 3
    assert all(c.output_format == "json_schema" for c in ballot_records)
    assert all(c.output_format == "text" for c in result.calls if c.role == "discussion")


@pytest.mark.parametrize("protocol", ["simple_voting", "judge"])
def test_debate_with_a_drafter_votes_among_panelists_only(protocol: str) -> None:
    """MALLM's debate never votes; here it does, and the drafter D never casts a ballot."""
    panel = Panel({"D": "C", **SPLIT}, judge_picks="B")
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model, protocol=protocol, paradigm="debate", drafter=True)

    assert result.error is None
    assert result.stop_reason == ("judge" if protocol == "judge" else "vote")
    assert result.decided and result.answer == "B"
    assert "D" in {m.speaker for m in result.messages}
    assert [a.slot for a in result.agents if a.voter] == ["A1", "A2", "A3"]
    assert all(r.agent != "D" for r in model.requests if r.role in ("ballot", "judge"))
    deciding = result.decisions[-1]
    if protocol == "judge":
        assert [b.voter for b in deciding.ballots] == ["J"]
    else:
        assert [b.voter for b in deciding.ballots] == ["A1", "A2", "A3"]
    # The drafter's answer C is held by no voter, so it is no candidate.
    assert set(deciding.tally) == {"A", "B"}


def test_judge_may_write_its_own_answer() -> None:
    def script(request: ScriptedRequest) -> str:
        if request.role == "judge":
            return json.dumps({"choice": "new", "answer": solution_of("D")})
        return panel(request)

    panel = Panel(SPLIT)
    result = discuss(ScriptedModel(script, record_prompts=True), protocol="judge")
    assert result.stop_reason == "judge" and result.decided
    assert (result.answer, result.solution) == ("D", solution_of("D"))
    (ballot,) = result.decisions[-1].ballots
    assert ballot.counted and ballot.value[2] == "D"


def test_judge_writing_a_null_answer_is_reasked_not_read_as_none() -> None:
    """The judge's schema makes `answer` nullable (strict mode); a null is no answer."""
    verdicts = [json.dumps({"choice": "new", "answer": None})]

    def script(request: ScriptedRequest) -> str:
        if request.role == "judge":
            if verdicts:
                return verdicts.pop()
            shown = shown_candidates(first_user(request))
            return json.dumps({"choice": next(k for k, a in shown.items() if a == "A")})
        return panel(request)

    panel = Panel(SPLIT)
    model = ScriptedModel(script, record_prompts=True)
    result = mb.Discussion(  # free text: there "None" would normalise to the answer "none"
        QUESTION, model=model, agents=3, protocol="judge", max_turns=1, personas="none"
    ).run()
    assert result.stop_reason == "judge" and result.decided
    assert result.answer == "a) option a"
    (ballot,) = result.decisions[-1].ballots
    assert ballot.reasks == 1 and ballot.counted
    second = requests(model, "judge")[1]
    assert "could not be read" in second.prompt and "cannot be read" in second.prompt


# -- 2. ties -----------------------------------------------------------------------------------

# A 2-2 split; C is proposed first (by A1) although A comes first in every sorted order.
TIE = {"A1": "C", "A2": "C", "A3": "A", "A4": "A"}


def tied(
    seed: int | None, *, protocol: str = "simple_voting", max_turns: int = 2, **options: Any
) -> tuple[DiscussionResult, ScriptedModel]:
    model = ScriptedModel(Panel(TIE), record_prompts=True)
    result = discuss(model, protocol=protocol, agents=4, max_turns=max_turns, seed=seed, **options)
    return result, model


@pytest.mark.parametrize("protocol", ["simple_voting", "consensus_voting"])
def test_revote_discusses_another_turn_and_ends_max_turns_tie(protocol: str) -> None:
    options = {"tie_break": "revote"} if protocol == "simple_voting" else {}
    result, model = tied(3, protocol=protocol, **options)

    assert result.error is None
    assert result.stop_reason == "max_turns_tie"
    assert result.decided is False
    assert result.turns == 2
    assert result.answer in {"A", "C"} and result.solution == solution_of(result.answer)
    assert [m.turn for m in result.messages] == [1] * 4 + [2] * 4
    turn1, turn2, final = result.decisions
    for turn, decision in ((1, turn1), (2, turn2)):
        assert decision.turn == turn and decision.tie and not decision.decided
        assert decision.answer is None and "another turn" in decision.reason
        assert decision.tally == {"A": 2.0, "C": 2.0}
        assert [b.voter for b in decision.ballots] == ["A1", "A2", "A3", "A4"]
        assert all(b.counted for b in decision.ballots)
        assert len(requests(model, "ballot", turn)) == 4
    assert final.tie and not final.decided and final.answer == result.answer
    assert final.tally == {"A": 2.0, "C": 2.0}

    # The fallback pick is seeded: the same seed gives the same answer, other seeds may not.
    again, _ = tied(3, protocol=protocol, **options)
    assert (again.answer, again.stop_detail) == (result.answer, result.stop_detail)
    picks = {tied(seed, protocol=protocol, max_turns=1, **options)[0].answer for seed in range(10)}
    assert picks == {"A", "C"}


def test_random_tie_break_decides_at_once_and_reproducibly() -> None:
    result, model = tied(5, tie_break="random")
    assert result.stop_reason == "vote" and result.decided and result.turns == 1
    assert result.answer in {"A", "C"}
    (decision,) = result.decisions
    assert decision.tie and decision.decided and "random" in decision.reason
    assert decision.tally == {"A": 2.0, "C": 2.0}
    assert len(requests(model, "discussion", 2)) == 0
    for seed in (0, 5, 9):
        first, _ = tied(seed, tie_break="random")
        second, _ = tied(seed, tie_break="random")
        assert first.answer == second.answer
    assert {tied(seed, tie_break="random")[0].answer for seed in range(10)} == {"A", "C"}


def test_first_proposed_tie_break_picks_the_answer_proposed_first() -> None:
    for seed in range(5):
        result, _ = tied(seed, tie_break="first_proposed")
        assert result.stop_reason == "vote" and result.decided and result.turns == 1
        assert result.answer == "C", seed  # A1 proposed C in the first message
        (decision,) = result.decisions
        assert decision.tie and "first_proposed" in decision.reason


def test_consensus_voting_refuses_random_tie_break() -> None:
    with pytest.raises(ConfigError) as info:
        create_protocol("consensus_voting", tie_break="random")
    assert info.value.field == "protocol_options.tie_break"
    with pytest.raises(ConfigError, match="tie_break"):
        mb.Discussion(
            QUESTION,
            options=OPTIONS,
            model=ScriptedModel(Panel(TIE), record_prompts=True),
            protocol="consensus_voting",
            protocol_options={"tie_break": "random"},
        )


def test_a_rerun_does_not_reuse_the_previous_runs_tie() -> None:
    """Running one Discussion twice: a tie left over from the first run must not decide the
    second run's fallback."""

    def fail(request: ScriptedRequest) -> str:
        raise ModelCallError("backend down", retryable=False)

    panel = Panel(SPLIT, ballots={"A3": lambda r: "I cannot decide between them."})
    model = ScriptedModel(panel, record_prompts=True)
    discussion = mb.Discussion(
        QUESTION,
        options=OPTIONS,
        model=model,
        agents=3,
        protocol="simple_voting",
        protocol_options={"max_reasks": 0},
        max_turns=1,
        seed=1,
        personas="none",
    )
    first = discussion.run()  # A1 votes A, A2 votes B, A3's ballot is unreadable: a 1-1 tie
    assert first.stop_reason == "max_turns_tie" and "still tied" in first.stop_detail

    panel.ballots = dict.fromkeys(SPLIT, fail)  # now every ballot is lost: no valid ballots, no tie
    second = discussion.run()
    assert second.decisions[0].tie is False and not second.decisions[0].decided
    assert second.stop_reason == "max_turns"
    assert "still tied" not in second.stop_detail
    assert second.answer == "B"  # the common fallback: the most held answer (2 of 3)


# -- 3. vote_from_turn and option validation ---------------------------------------------------


def test_vote_from_turn_2_holds_no_ballot_in_turn_1() -> None:
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    result = discuss(model, max_turns=3, vote_from_turn=2)

    assert result.stop_reason == "vote" and result.decided and result.answer == "B"
    assert result.turns == 2
    assert requests(model, "ballot", 1) == []
    assert len(requests(model, "ballot", 2)) == 3
    first, second = result.decisions
    assert first.turn == 1 and not first.decided and first.ballots == []
    assert "turn 2" in first.reason
    assert second.turn == 2 and second.decided and len(second.ballots) == 3


VOTING_OPTIONS = (
    "anonymous, confidence, history, max_reasks, missing_confidence_weight, model_weights, "
    "recalibrate, tie_break, vote_from_turn, weights"
)


@pytest.mark.parametrize("protocol", VOTING)
@pytest.mark.parametrize(
    ("key", "value", "valid"),
    [
        ("colour", "red", f"valid: {VOTING_OPTIONS}"),
        ("vote_from_turn", 0, "1"),
        ("confidence", "psychic", "none, prompted, logprobs"),
        ("tie_break", "sometimes", "revote"),
        ("max_reasks", -1, ">= 0"),
    ],
)
def test_bad_protocol_options_name_the_key_and_the_valid_values(
    protocol: str, key: str, value: Any, valid: str
) -> None:
    if protocol == "consensus_voting" and key == "tie_break":
        valid = "always revotes"
    with pytest.raises(ConfigError) as info:
        create_protocol(protocol, **{key: value})
    assert info.value.field == f"protocol_options.{key}"
    assert f"protocol_options.{key}" in str(info.value)
    assert valid in str(info.value)
    # The same error surfaces from a Discussion, before any model call.
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    with pytest.raises(ConfigError, match=f"protocol_options.{key}"):
        mb.Discussion(
            QUESTION, options=OPTIONS, model=model, protocol=protocol, protocol_options={key: value}
        )
    assert model.requests == []


def test_bad_judge_option_lists_the_judges_options() -> None:
    with pytest.raises(ConfigError) as info:
        create_protocol("judge", tie_break="random")
    assert info.value.field == "protocol_options.tie_break"
    for name in ("history", "max_reasks", "may_write", "model", "vote_from_turn"):
        assert name in str(info.value)


@pytest.mark.parametrize(
    ("protocol", "key"),
    [
        ("simple_voting", "history"),
        ("simple_voting", "anonymous"),
        ("judge", "history"),
        ("judge", "may_write"),
    ],
)
def test_switch_options_must_be_booleans(protocol: str, key: str) -> None:
    """'false' is a true string: a switch given as text fails instead of silently flipping."""
    with pytest.raises(ConfigError) as info:
        create_protocol(protocol, **{key: "false"})
    assert info.value.field == f"protocol_options.{key}"
    assert "true or false" in str(info.value)
    assert getattr(create_protocol(protocol, **{key: False}), key) is False


# -- 4. the ballot prompt ----------------------------------------------------------------------


def ballot_prompts(model: ScriptedModel, turn: int = 1) -> dict[str, str]:
    return {r.agent or "": first_user(r) for r in requests(model, "ballot", turn)}


def candidates_section(prompt: str) -> str:
    return prompt.split("The panel now decides", 1)[1]


def test_history_false_shows_no_transcript() -> None:
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model, history=False)
    prompts = ballot_prompts(model)
    assert sorted(prompts) == ["A1", "A2", "A3"]
    for prompt in prompts.values():
        assert "Discussion so far" not in prompt and "[Turn 1]" not in prompt
        assert not _TOKEN.search(prompt)
        assert sorted(shown_candidates(prompt).values()) == ["A", "B"]
        assert QUESTION in prompt  # the task is still there


def test_history_true_shows_what_the_voter_could_see() -> None:
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model, paradigm="memory")
    for prompt in ballot_prompts(model).values():
        assert "Discussion so far" in prompt
        assert set(_TOKEN.findall(prompt)) == {"<<A1|t1>>", "<<A2|t1>>", "<<A3|t1>>"}
    # In a relay each message goes to the next agent only: A2 saw A1's and its own.
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model, paradigm="relay")
    prompts = ballot_prompts(model)
    assert set(_TOKEN.findall(prompts["A2"])) == {"<<A1|t1>>", "<<A2|t1>>"}
    assert set(_TOKEN.findall(prompts["A1"])) == {"<<A1|t1>>", "<<A3|t1>>"}


def test_anonymous_false_names_proposers_and_true_hides_them() -> None:
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model, anonymous=False)
    for prompt in ballot_prompts(model).values():
        section = candidates_section(prompt)
        assert re.search(r"^Solution \d \(proposed by A1\b[^\n]*:\nA\) ", section, re.M)
        assert re.search(r"^Solution \d \(proposed by A2\b[^\n]*A3\b[^\n]*:\nB\) ", section, re.M)

    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model)  # anonymous by default
    for prompt in ballot_prompts(model).values():
        section = candidates_section(prompt)
        assert "proposed by" not in section
        assert not re.search(r"\bA[123]\b", section)
        assert sorted(shown_candidates(prompt).values()) == ["A", "B"]


def test_candidates_are_deduplicated_and_labelled_1_to_k() -> None:
    panel = Panel(SPLIT)  # three agents, two answers
    discuss(ScriptedModel(panel, record_prompts=True))
    for voter in ("A1", "A2", "A3"):
        shown = panel.seen[(voter, 1)]
        assert list(shown) == ["1", "2"] and sorted(shown.values()) == ["A", "B"]

    panel = Panel({"A1": "A", "A2": "B", "A3": "C", "A4": "C", "A5": "C"})
    result = discuss(ScriptedModel(panel, record_prompts=True), agents=5)
    shown = panel.seen[("A1", 1)]
    assert list(shown) == ["1", "2", "3"] and sorted(shown.values()) == ["A", "B", "C"]
    assert result.answer == "C"
    assert result.decisions[-1].tally == {"A": 1.0, "B": 1.0, "C": 3.0}


def test_candidate_order_is_seeded() -> None:
    answers = {"A1": "A", "A2": "B", "A3": "C", "A4": "C"}  # proposal order A, B, C

    def order(seed: int) -> tuple[str, ...]:
        panel = Panel(answers)
        discuss(ScriptedModel(panel, record_prompts=True), agents=4, max_turns=1, seed=seed)
        orders = {tuple(panel.seen[(v, 1)].values()) for v in answers}
        assert len(orders) == 1, "every voter of one vote sees the same order"
        return orders.pop()

    orders = {seed: order(seed) for seed in range(8)}
    assert all(sorted(o) == ["A", "B", "C"] for o in orders.values())
    for seed in (0, 3, 7):
        assert order(seed) == orders[seed]
    assert any(o != ("A", "B", "C") for o in orders.values()), "always the proposal order"
    assert len(set(orders.values())) > 1


def test_prompted_confidence_asks_each_voter_once_and_shows_it() -> None:
    panel = Panel(SPLIT, confidence={"A1": 90, "A2": 70, "A3": 50})
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model, confidence="prompted")

    assert result.stop_reason == "vote" and result.answer == "B"
    asked = requests(model, "confidence")
    assert sorted(r.agent or "" for r in asked) == ["A1", "A2", "A3"]
    assert {r.context.turn for r in asked} == {1}
    for r in asked:  # each voter is asked about its own solution
        assert solution_of(SPLIT[r.agent or ""]) in r.prompt
    first_ballot = min(r.index for r in requests(model, "ballot"))
    assert all(r.index < first_ballot for r in asked)
    assert sum(c.role == "confidence" for c in result.calls) == 3
    for prompt in ballot_prompts(model).values():
        # A is held by A1 (90); B by A2 and A3 (mean 60).
        assert re.search(r"^Solution \d \(confidence 90(\.0)?/100\):\nA\) ", prompt, re.M)
        assert re.search(r"^Solution \d \(confidence 60(\.0)?/100\):\nB\) ", prompt, re.M)


def test_prompted_confidence_is_not_asked_when_no_ballot_is_needed() -> None:
    model = ScriptedModel(Panel({"A1": "B", "A2": "B", "A3": "B"}), record_prompts=True)
    result = discuss(model, confidence="prompted")
    assert result.stop_reason == "vote" and result.answer == "B"
    assert result.decisions[-1].ballots == []
    assert requests(model, "confidence") == [] and requests(model, "ballot") == []


# -- 5. unreadable and lost ballots ------------------------------------------------------------


@pytest.mark.parametrize("max_reasks", [0, 2])
def test_unreadable_ballot_is_reasked_then_not_counted_and_a_lost_one_is_recorded(
    max_reasks: int,
) -> None:
    unsure = "Both solutions have merit; it is a close call."  # (declining to choose abstains)

    def prose(request: ScriptedRequest) -> str:
        return unsure

    def broken(request: ScriptedRequest) -> str:
        raise ModelCallError("backend exploded", retryable=False)

    panel = Panel(SPLIT, ballots={"A2": broken, "A3": prose})
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model, max_reasks=max_reasks)

    # A1's ballot alone decides: A beats B although B is held by two panelists.
    assert result.stop_reason == "vote" and result.decided and result.answer == "A"
    decision = result.decisions[-1]
    assert decision.tally == {"A": 1.0, "B": 0.0}
    assert "1 of 3 ballots counted" in decision.reason
    good, lost, unreadable = decision.ballots
    assert (good.voter, good.counted, good.reasks) == ("A1", True, 0)

    assert lost.voter == "A2" and not lost.counted and lost.value is None
    assert lost.reasks == 0 and lost.raw == ""
    assert lost.problem is not None and "failed" in lost.problem
    assert len([r for r in requests(model, "ballot") if r.agent == "A2"]) == 1
    (lost_record,) = [c for c in result.calls if c.role == "ballot" and c.agent == "A2"]
    assert lost_record.error is not None and "backend exploded" in lost_record.error

    assert unreadable.voter == "A3" and not unreadable.counted and unreadable.value is None
    assert unreadable.reasks == max_reasks
    assert unreadable.problem is not None and "names no candidate number" in unreadable.problem
    assert unreadable.raw.count(unsure) == max_reasks + 1
    asked = [r for r in requests(model, "ballot") if r.agent == "A3"]
    assert len(asked) == max_reasks + 1  # the first ask and exactly max_reasks re-asks
    for n, reask in enumerate(asked[1:], start=1):
        assert "could not be read" in reask.prompt and "names no candidate number" in reask.prompt
        assert [m.role for m in reask.messages][-2:] == ["assistant", "user"]
        assert len(reask.messages) == len(asked[0].messages) + 2 * n
        assert reask.config.json_schema == asked[0].config.json_schema


def test_all_ballots_lost_falls_back_undecided() -> None:
    def broken(request: ScriptedRequest) -> str:
        raise ModelCallError("down", retryable=False)

    model = ScriptedModel(Panel(SPLIT, ballots=dict.fromkeys(SPLIT, broken)), record_prompts=True)
    result = discuss(model, max_turns=1)
    assert result.stop_reason == "max_turns" and not result.decided
    assert result.answer == "B"  # never empty: the most held answer
    assert all(not b.counted for b in result.decisions[0].ballots)


def abstain_in(how: str) -> Callable[[ScriptedRequest], str]:
    """A ballot behaviour that abstains: in prose, or with JSON null under the ballot's key."""

    def ballot(request: ScriptedRequest) -> str:
        if how == "prose":
            return "I abstain: all 2 are equally good."
        schema = request.config.json_schema
        assert schema is not None
        return json.dumps({next(iter(schema["properties"])): None})

    return ballot


@pytest.mark.parametrize("how", ["prose", "json"])
@pytest.mark.parametrize("protocol", VOTING)
def test_an_abstention_is_recorded_not_reasked_and_supports_no_candidate(
    protocol: str, how: str
) -> None:
    """A1 holds A and abstains: A gets nothing from it, and B wins among the counted ballots
    (abstentions do not count toward turnout; there is no quorum)."""
    model = ScriptedModel(Panel(SPLIT, ballots={"A1": abstain_in(how)}), record_prompts=True)
    result = discuss(model, protocol=protocol)

    assert result.stop_reason == "vote" and result.decided and result.answer == "B"
    decision = result.decisions[-1]
    assert decision.tally["A"] == 0.0 and decision.tally["B"] > 0
    assert "2 of 3 ballots counted, 1 abstained" in decision.reason
    abstention, *votes = decision.ballots
    assert abstention.voter == "A1" and abstention.abstained
    assert not abstention.counted and abstention.value is None and abstention.problem is None
    assert abstention.reasks == 0
    assert len([r for r in requests(model, "ballot") if r.agent == "A1"]) == 1  # not re-asked
    assert all(b.counted and not b.abstained for b in votes)
    again = DiscussionResult.from_json(result.to_json())  # the record round-trips
    assert again.decisions[-1].ballots[0].abstained


def test_every_voter_abstaining_holds_no_vote() -> None:
    model = ScriptedModel(
        Panel(SPLIT, ballots=dict.fromkeys(SPLIT, abstain_in("prose"))), record_prompts=True
    )
    result = discuss(model, max_turns=1)

    assert result.stop_reason == "max_turns" and not result.decided
    vote = result.decisions[0]
    assert not vote.decided and not vote.tie and vote.answer is None
    assert vote.reason == "no vote held: all 3 voters abstained"
    assert all(b.abstained and not b.counted and b.reasks == 0 for b in vote.ballots)
    assert len(requests(model, "ballot")) == 3
    assert result.answer == "B"  # never empty: the most held answer, as when ballots are lost


def test_abstentions_and_lost_ballots_are_told_apart() -> None:
    def broken(request: ScriptedRequest) -> str:
        raise ModelCallError("down", retryable=False)

    ballots = {"A1": abstain_in("json"), "A2": broken, "A3": broken}
    result = discuss(ScriptedModel(Panel(SPLIT, ballots=ballots), record_prompts=True), max_turns=1)
    vote = result.decisions[0]
    assert not vote.decided
    assert "no valid ballots (0 of 3 ballots counted, 1 abstained)" in vote.reason
    abstention, lost, _ = vote.ballots
    assert abstention.abstained and abstention.problem is None
    assert not lost.abstained and lost.problem is not None


@pytest.mark.parametrize(
    "reply", ['{"approve": []}', "I approve none of the 2 solutions.", '{"approve": "none"}']
)
def test_approving_none_is_a_counted_ballot_not_an_abstention(reply: str) -> None:
    model = ScriptedModel(Panel(SPLIT, ballots={"A1": lambda request: reply}), record_prompts=True)
    result = discuss(model, protocol="approval_voting")

    decision = result.decisions[-1]
    empty = decision.ballots[0]
    assert empty.counted and not empty.abstained and empty.value == []
    assert decision.tally == {"A": 0.0, "B": 2.0}
    assert "3 of 3 ballots counted" in decision.reason and "abstained" not in decision.reason


@pytest.mark.parametrize(
    ("protocol", "guess"),
    [
        ("ranked_voting", "{mine} > 9 > {other}"),
        ("approval_voting", "I approve solutions {mine} and 9"),
        ("simple_voting", "I vote for 9, not {other}"),
    ],
)
def test_a_vote_for_a_number_that_is_no_candidate_is_reasked(protocol: str, guess: str) -> None:
    """In prose as in JSON, a ballot naming a non-candidate is refused and re-asked, never read
    without the stray number."""
    panel = Panel(SPLIT)

    def once_astray(request: ScriptedRequest) -> str:
        shown = shown_candidates(first_user(request))
        mine = next(lbl for lbl, a in shown.items() if a == "A")
        if not any(m.role == "assistant" for m in request.messages):  # the first ask
            other = next(lbl for lbl in shown if lbl != mine)
            return guess.format(mine=mine, other=other)
        schema = request.config.json_schema
        assert schema is not None
        return json.dumps(ballot_for(schema, mine))

    panel.ballots["A1"] = once_astray
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model, protocol=protocol)
    ballot = result.decisions[-1].ballots[0]
    assert ballot.counted and ballot.reasks == 1
    reask = [r for r in requests(model, "ballot") if r.agent == "A1"][1]
    assert "'9' is not a candidate number" in reask.prompt


def test_the_report_shows_an_abstention_as_such() -> None:
    from madebate.report._report import decision_html

    model = ScriptedModel(Panel(SPLIT, ballots={"A1": abstain_in("prose")}), record_prompts=True)
    decision = discuss(model).decisions[-1]
    html = decision_html(decision)
    assert "<td>abstained</td>" in html and "1 abstained" in html


def test_without_structured_output_prose_ballots_are_read_by_the_tolerant_parser() -> None:
    answers = {"A1": "A", "A2": "B", "A3": "C", "A4": "C"}
    panel = Panel(answers)
    model = ScriptedModel(panel, structured_output=None, record_prompts=True)
    result = discuss(model, agents=4)

    calls = requests(model, "ballot")
    assert len(calls) == 4
    assert all(r.config.json_schema is None for r in calls)
    assert all("Reply with JSON only" in first_user(r) for r in calls)  # asked in the prompt
    assert result.stop_reason == "vote" and result.answer == "C"
    decision = result.decisions[-1]
    assert decision.tally == {"A": 1.0, "B": 1.0, "C": 2.0}
    for ballot in decision.ballots:
        shown = panel.seen[(ballot.voter, 1)]
        mine = next(lbl for lbl, a in shown.items() if a == answers[ballot.voter])
        assert ballot.raw == f"I vote for solution {mine} of 3."
        assert ballot.counted and ballot.reasks == 0 and ballot.value == mine
    assert all(c.output_format == "text" for c in result.calls)


# -- 6. structured output per backend ----------------------------------------------------------


def assert_strict_compatible(schema: dict[str, Any], path: str = "$") -> None:
    """OpenAI's strict mode: every object lists all its properties as required and forbids
    additional properties (an optional field must be required and nullable)."""
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        assert schema.get("additionalProperties") is False, f"{path}: additionalProperties"
        assert set(schema.get("required", [])) == set(props), f"{path}: not all required"
        for key, sub in props.items():
            assert_strict_compatible(sub, f"{path}.{key}")
    if "items" in schema:
        assert_strict_compatible(schema["items"], f"{path}[]")


@pytest.mark.parametrize("labels", [["1", "2"], ["1", "2", "3"]])
def test_every_ballot_schema_is_valid_for_openai_strict_mode(labels: list[str]) -> None:
    for fmt in (SingleChoice(), ApprovalSet(), PointsPerId(), Ordering()):
        assert_strict_compatible(fmt.schema(labels))
    assert_strict_compatible(JudgeProtocol().schema(labels))
    assert_strict_compatible(JudgeProtocol(may_write=False).schema(labels))


HTTP_OPTIONS = ["x", "y"]
HTTP_REPLIES = [
    "Final Solution: A) x",
    "[DISAGREE] y is better.\nFinal Solution: B) y",
    "[DISAGREE] y it is.\nFinal Solution: B) y",
]


def prose_ballot(prompt: str) -> str:
    if "Distribute exactly" in prompt:
        return "1: 10, 2: 0"
    if "Rank all" in prompt:
        return "Best is solution 1, then solution 2."
    if "Approve every" in prompt:
        return "I approve solution 1."
    return "I vote for solution 1."


def ballot_responder(request: RecordedRequest) -> ScriptedResponse:
    """Ballots and verdicts back candidate 1: JSON in the requested shape, else prose."""
    body = request.body
    fmt = body.get("response_format")
    if fmt is not None:
        return completion(json.dumps(ballot_for(fmt["json_schema"]["schema"], "1")))
    return completion(prose_ballot(body["messages"][-1]["content"]))


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(default=ballot_responder) as srv:
        yield srv


def expected_schema(protocol: str, labels: list[str]) -> dict[str, Any]:
    proto = create_protocol(protocol)
    if isinstance(proto, VotingProtocol):
        return proto.ballot.schema(labels)
    assert isinstance(proto, JudgeProtocol)
    return proto.schema(labels)


async def http_discussion(
    server: OpenAITestServer, protocol: str, *, structured_output: bool
) -> DiscussionResult:
    server.enqueue(*(completion(text) for text in HTTP_REPLIES))
    provider = OpenAICompatibleModel(
        "m", base_url=server.base_url, api_key="k", structured_output=structured_output
    )
    model = ManagedModel(provider, max_attempts=1)
    try:
        return await mb.Discussion(
            QUESTION,
            options=HTTP_OPTIONS,
            model=model,
            agents=3,
            protocol=protocol,
            max_turns=1,
            reply_format="text",  # these tests pin the ballot path; replies stay plain text
            seed=11,
            personas="none",
        ).run_async()
    finally:
        await model.aclose()


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_http_ballots_request_json_schema_and_discussion_calls_do_not(
    server: OpenAITestServer, protocol: str
) -> None:
    result = await http_discussion(server, protocol, structured_output=True)

    assert result.error is None, result.stop_detail
    assert result.decided and result.stop_reason == ("judge" if protocol == "judge" else "vote")
    sent = server.requests
    discussion, ballots = sent[:3], sent[3:]
    assert all("response_format" not in r.body for r in discussion)
    assert len(ballots) == (1 if protocol == "judge" else 3)
    schema = expected_schema(protocol, ["1", "2"])
    for r in ballots:
        fmt = r.body["response_format"]
        assert fmt == {
            "type": "json_schema",
            "json_schema": {"name": fmt["json_schema"]["name"], "schema": schema, "strict": True},
        }
        assert re.fullmatch(r"[A-Za-z0-9_-]{1,64}", fmt["json_schema"]["name"])
    assert_strict_compatible(schema)
    decision = result.decisions[-1]
    assert decision.ballots and all(b.counted and b.reasks == 0 for b in decision.ballots)
    ballot_role = "judge" if protocol == "judge" else "ballot"
    assert [c.role for c in result.calls] == ["discussion"] * 3 + [ballot_role] * len(ballots)
    for c in result.calls:
        assert c.output_format == ("json_schema" if c.role == ballot_role else "text"), c


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_http_without_structured_output_sends_no_response_format(
    server: OpenAITestServer, protocol: str
) -> None:
    result = await http_discussion(server, protocol, structured_output=False)

    assert result.error is None, result.stop_detail
    assert result.decided and result.stop_reason == ("judge" if protocol == "judge" else "vote")
    assert len(server.requests) == 3 + (1 if protocol == "judge" else 3)
    assert all("response_format" not in r.body for r in server.requests)
    assert all(c.output_format == "text" for c in result.calls)
    decision = result.decisions[-1]
    assert all(b.counted and b.reasks == 0 for b in decision.ballots)  # prose, read tolerantly


@pytest.mark.slow
async def test_llamacpp_grammar_constrains_ballots_to_the_schema() -> None:
    from madebate.models.providers.llamacpp import LlamaCppModel

    labels = ["1", "2", "3"]
    prompt = (
        "Task: what is the capital of France?\n\nSolution 1:\nParis\n\nSolution 2:\nRome\n\n"
        "Solution 3:\nBerlin\n\n"
    )
    provider = LlamaCppModel()
    model = ManagedModel(provider)
    try:
        assert provider.structured_output == "grammar"
        for fmt in (SingleChoice(), ApprovalSet()):
            schema = fmt.schema(labels)
            messages = [ChatMessage(role="user", content=prompt + fmt.instruction(labels))]
            config = GenerateConfig(max_tokens=40, json_schema=schema)
            output, record = await model.generate(messages, config, role="ballot", agent="A1")
            assert record.output_format == "grammar" and record.error is None
            data = json.loads(output.text)
            assert set(data) == {fmt.key}, output.text
            if isinstance(fmt, SingleChoice):
                assert data["choice"] in labels
            else:
                assert isinstance(data["approve"], list) and len(data["approve"]) <= len(labels)
                assert all(item in labels for item in data["approve"])
            assert fmt.parse(output.text, labels).problem is None
        # The judge's verdict: `answer` is required but nullable (OpenAI strict mode).
        judge = JudgeProtocol()
        messages = [ChatMessage(role="user", content=prompt + "Pick the best solution.")]
        config = GenerateConfig(max_tokens=40, json_schema=judge.schema(labels))
        output, _ = await model.generate(messages, config, role="judge", agent="J")
        data = json.loads(output.text)
        assert set(data) == {"choice", "answer"}, output.text
        assert data["choice"] in [*labels, "new"]
        assert data["answer"] is None or isinstance(data["answer"], str)
    finally:
        await model.aclose()


# -- 7. the command line -----------------------------------------------------------------------

runner = CliRunner()
CLI_BASE = ["discuss", "Largest planet?", "-o", "Mars", "-o", "Jupiter", "--model", "scripted"]


def test_cli_runs_a_vote_with_protocol_options() -> None:
    out = runner.invoke(
        cli_app,
        [
            *CLI_BASE,
            "--protocol",
            "ranked_voting",
            "--protocol-option",
            "tie_break=random",
            "--protocol-option",
            "anonymous=false",
            "--seed",
            "3",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["protocol"] == "ranked_voting"
    assert data["stop_reason"] == "vote" and data["decided"] is True
    assert data["answer"] in {"A", "B"}


@pytest.mark.parametrize(
    ("option", "expected"),
    [
        ("colour=red", VOTING_OPTIONS),
        ("tie_break=sometimes", "revote, random, first_proposed"),
        ("confidence=psychic", "none, prompted, logprobs"),
    ],
)
def test_cli_bad_protocol_option_exits_2_naming_the_valid_ones(option: str, expected: str) -> None:
    out = runner.invoke(
        cli_app, [*CLI_BASE, "--protocol", "ranked_voting", "--protocol-option", option]
    )
    assert out.exit_code == 2, out.output
    text = " ".join(out.output.split())  # rich may wrap long lines
    assert f"protocol_options.{option.split('=')[0]}" in text
    assert expected in text
    assert "Traceback" not in out.output
