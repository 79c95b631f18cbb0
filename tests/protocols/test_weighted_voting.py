"""Weighted votes: the pure rules with per-ballot weights on exact profiles, ReConcile's
recalibration, reading a stated confidence, and confidence- and model-weighted votes through
the real engine on a scripted panel (each slot holds one answer and votes for it)."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import madebate as mb
from madebate import ConfigError, DiscussionResult, GenerateConfig, ScriptedModel, ScriptedRequest
from madebate._results import Message, Stance
from madebate._task import Task
from madebate.models._model import CallContext, ChatMessage, ModelOutput
from madebate.models.providers._gbnf import check_grammar, schema_grammar
from madebate.protocols import create_protocol
from madebate.protocols._ballots import ApprovalSet, Ordering, PointsPerId, SingleChoice
from madebate.protocols._protocols import DecisionContext
from madebate.protocols._tally import Tally, approval, borda, cumulative, plurality
from madebate.protocols._weights import (
    VoteWeighting,
    recalibrate,
    stated_confidence,
    with_confidence,
)

ABC = ["a", "b", "c"]

# -- 1. the pure rules with weights ----------------------------------------------------------


def test_weights_turn_a_plurality_around() -> None:
    ballots = ["a", "b", "b"]
    assert plurality(ballots, ABC).winner == "b"
    t = plurality(ballots, ABC, weights=[0.8, 0.3, 0.3])
    assert t.winner == "a" and t.decided and t.weighted
    assert t.scores == {"a": 0.8, "b": 0.6, "c": 0.0}
    assert t.valid_ballots == 3
    assert t.reason == "a wins with weighted score 0.8 of 3 valid ballot(s)"


def test_a_tie_under_weights_is_exact_not_a_rounding_accident() -> None:
    # In binary floating point 0.1 + 0.2 != 0.3; weights are read as the decimals they print as.
    t = plurality(["a", "a", "b"], ABC, weights=[0.1, 0.2, 0.3])
    assert not t.decided and t.winner is None
    assert t.tie == ["a", "b"]
    assert t.scores == {"a": 0.3, "b": 0.3, "c": 0.0}
    assert t.reason == "tie between a, b at weighted score 0.3"


def test_a_zero_weight_ballot_is_valid_but_adds_nothing() -> None:
    t = plurality(["a", "b", "b"], ABC, weights=[1.0, 0.0, 0.0])
    assert t.winner == "a" and t.valid_ballots == 3 and t.rejected == []
    assert t.scores == {"a": 1.0, "b": 0.0, "c": 0.0}


def test_every_valid_ballot_weighing_zero_decides_nothing_and_is_no_tie() -> None:
    t = plurality(["a", "b", None], ABC, weights=[0.0, 0.0, 5.0])
    assert not t.decided and t.winner is None and t.tie == []
    assert t.valid_ballots == 2 and t.reason == "every valid ballot weighs 0"
    assert t.rejected == ["ballot 2: abstained or lost"]


def test_the_weight_of_an_abstention_or_a_rejected_ballot_is_ignored() -> None:
    t = plurality([None, "z", "b"], ABC, weights=[9.0, 9.0, 0.5])
    assert t.winner == "b" and t.scores == {"a": 0.0, "b": 0.5, "c": 0.0}
    assert t.valid_ballots == 1 and len(t.rejected) == 2


def test_every_rule_multiplies_its_points_by_the_weight() -> None:
    a = approval([["a", "b"], ["b"], ["c"]], ABC, weights=[2.0, 0.5, 2.0])
    assert a.scores == {"a": 2.0, "b": 2.5, "c": 2.0} and a.winner == "b"
    c = cumulative([{"a": 10}, {"b": 6, "c": 4}], ABC, weights=[0.3, 0.8])
    assert c.scores == {"a": 3.0, "b": 4.8, "c": 3.2} and c.winner == "b"
    b = borda([["a", "b", "c"], ["c", "b", "a"]], ABC, weights=[0.5, 1.0])
    assert b.scores == {"a": 1.0, "b": 1.5, "c": 2.0} and b.winner == "c"
    # A ballot cumulative rejects stays rejected whatever its weight.
    r = cumulative([{"a": 9}], ABC, weights=[3.0])
    assert r.valid_ballots == 0 and r.rejected == ["ballot 0: points sum to 9, not 10"]


@pytest.mark.parametrize(
    ("weights", "fragment"),
    [
        ([1.0], "one number per ballot (2)"),
        ([1.0, -0.5], "weight 1 must be a finite number >= 0, got -0.5"),
        ([1.0, math.nan], "weight 1 must be a finite number >= 0"),
        ([math.inf, 1.0], "weight 0 must be a finite number >= 0"),
        ([True, 1.0], "weight 0 must be a finite number >= 0, got True"),
        ("ab", "one number per ballot"),
    ],
)
def test_bad_weights_are_refused_naming_the_ballot(weights: Any, fragment: str) -> None:
    with pytest.raises(ValueError, match=re.escape(fragment)):
        plurality(["a", "b"], ABC, weights=weights)


RULES: list[tuple[Callable[..., Tally], Any]] = [
    (plurality, st.one_of(st.none(), st.sampled_from(ABC))),
    (approval, st.one_of(st.none(), st.lists(st.sampled_from(ABC), max_size=3))),
    (borda, st.one_of(st.none(), st.permutations(ABC))),
    (
        cumulative,
        st.one_of(
            st.none(),
            st.integers(0, 10).map(lambda k: {"a": k, "b": 10 - k}),
            st.just({"a": 4}),
        ),
    ),
]


@pytest.mark.parametrize(("rule", "ballot"), RULES, ids=lambda x: getattr(x, "__name__", ""))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_weights_of_one_give_exactly_the_unweighted_tally(
    rule: Callable[..., Tally], ballot: Any, data: st.DataObject
) -> None:
    ballots = data.draw(st.lists(ballot, max_size=6))
    plain = rule(ballots, ABC)
    ones = rule(ballots, ABC, weights=[1.0] * len(ballots))
    assert ones.model_dump(exclude={"weighted", "reason"}) == plain.model_dump(
        exclude={"weighted", "reason"}
    )
    assert not plain.weighted and ones.weighted


# -- 2. recalibration and reading a stated confidence ----------------------------------------


@pytest.mark.parametrize(
    ("confidence", "weight"),
    [
        (100, 1.0),
        (99.9, 0.8),
        (90, 0.8),
        (89.99, 0.5),
        (80, 0.5),
        (79.9, 0.3),
        (60.01, 0.3),
        (60, 0.1),
        (30, 0.1),
        (0, 0.1),
    ],
)
def test_reconcile_recalibration_at_its_bin_edges(confidence: float, weight: float) -> None:
    assert recalibrate(confidence) == weight


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ('{"choice": "2", "confidence": 85}', 85.0),
        ('{"choice": "2", "confidence": "85%"}', 85.0),
        ('{"choice": "2", "confidence": " 72.5 "}', 72.5),
        ('{"choice": "2", "confidence": 150}', None),
        ('{"choice": "2", "confidence": -3}', None),
        ('{"choice": "2", "confidence": true}', None),
        ('{"choice": "2", "confidence": "very"}', None),
        ('{"choice": "2", "confidence": null}', None),
        ('{"choice": "2"}', None),
        ("I vote for solution 2. Confidence: 85", 85.0),
        ("Solution 2 — my confidence level is 90%", 90.0),
        ("Solution 2, confidence 85/100", 85.0),
        ("Solution 2, confidence 8/10", None),  # another scale: not read
        ("I vote for solution 2.", None),
        ("Solution 2; I am 90% confident.", 90.0),
        ("Solution 2, 75/100 sure", 75.0),
        ("Solution 2, 9/10 sure", None),
        ("Solution 2, 190% certain", None),
        ("I am confident 2 is right.", None),  # the 2 is the vote
    ],
)
def test_a_stated_confidence_is_read_tolerantly_and_never_guessed(
    reply: str, expected: float | None
) -> None:
    assert stated_confidence(reply)[0] == expected


def test_the_weight_note_says_how_the_weight_was_set() -> None:
    w = VoteWeighting(mode="stated", model_weights={"m1": 2.0, "m2": 1.0})
    got = w.weigh("A1", 85.0, "m1")
    assert (got.weight, got.confidence) == (1.0, 85.0)
    assert got.note == "stated confidence 85 -> 0.5 (ReConcile); model m1 x 2 = 1"
    missing = w.weigh("A2", None, "m2")
    assert missing.weight == 0.1 and missing.confidence is None
    assert missing.note == "no readable stated confidence: default weight 0.1; model m2 x 1 = 0.1"
    linear = VoteWeighting(mode="logprobs", recalibrate=False).weigh("A1", 42.0, None)
    assert linear.weight == 0.42
    assert linear.note == "log-probability confidence 42 -> 0.42 = 0.42"
    with pytest.raises(ConfigError, match="voter A3's model 'm3' has no weight; listed: m1, m2"):
        w.weigh("A3", 90.0, "m3")


# -- 3. through the engine -------------------------------------------------------------------

QUESTION = "Which option is right?"
LETTERS = "ABCD"
OPTIONS = ["option a", "option b", "option c", "option d"]
_CANDIDATE = re.compile(r"^Solution (\d+)\b[^\n]*:\n([A-Z])\) ", re.M)


def solution_of(letter: str) -> str:
    return f"{letter}) {OPTIONS[LETTERS.index(letter)]}"


class Panel:
    """Each slot states its fixed answer and votes for it, stating `confidence[slot]` (left out
    for a slot not listed); `prose` slots write their ballot as prose."""

    def __init__(
        self,
        answers: dict[str, str],
        confidence: dict[str, Any] | None = None,
        prose: Sequence[str] = (),
    ):
        self.answers = answers
        self.confidence = confidence or {}
        self.prose = set(prose)
        self.ballot_prompts: list[str] = []

    def __call__(self, request: ScriptedRequest) -> str:
        agent = request.agent
        assert agent is not None
        if request.role == "discussion":
            return f"My view.\nFinal Solution: {solution_of(self.answers[agent])}"
        assert request.role == "ballot", request.role
        prompt = next(m.content for m in request.messages if m.role == "user")
        self.ballot_prompts.append(prompt)
        shown = dict(_CANDIDATE.findall(prompt))
        mine = next(label for label, a in shown.items() if a == self.answers[agent])
        if agent in self.prose or request.config.json_schema is None:
            stated = self.confidence.get(agent)
            tail = f" Confidence: {stated}" if stated is not None else ""
            return f"I vote for solution {mine}.{tail}"
        ballot: dict[str, Any] = {"choice": mine}
        if "ranking" in request.config.json_schema["properties"]:
            ballot = {"ranking": [mine, *(label for label in shown if label != mine)]}
        if agent in self.confidence:
            ballot["confidence"] = self.confidence[agent]
        return json.dumps(ballot)


SPLIT = {"A1": "A", "A2": "B", "A3": "B"}  # B holds the head count


def discuss(model: Any, protocol: str = "weighted_voting", **options: Any) -> DiscussionResult:
    return mb.Discussion(
        QUESTION,
        options=OPTIONS,
        model=model,
        paradigm="memory",
        agents=3,
        protocol=protocol,
        protocol_options=options,
        max_turns=1,
        seed=7,
        personas="none",
    ).run()


def test_a_confident_minority_outweighs_an_unsure_majority() -> None:
    panel = Panel(SPLIT, confidence={"A1": 95, "A2": 70, "A3": 65})
    model = ScriptedModel(panel, record_prompts=True)
    result = discuss(model)

    assert result.error is None, result.stop_detail
    assert result.decided and result.stop_reason == "vote"
    assert result.answer == "A"  # 0.8 against 0.3 + 0.3
    decision = result.decisions[-1]
    assert decision.tally == {"A": 0.8, "B": 0.6}
    assert (
        decision.reason
        == "A wins (plurality, 3 of 3 ballots counted, weighted by stated confidence)"
    )
    got = {b.voter: (b.weight, b.confidence, b.weight_note) for b in decision.ballots}
    assert got == {
        "A1": (0.8, 95.0, "stated confidence 95 -> 0.8 (ReConcile) = 0.8"),
        "A2": (0.3, 70.0, "stated confidence 70 -> 0.3 (ReConcile) = 0.3"),
        "A3": (0.3, 65.0, "stated confidence 65 -> 0.3 (ReConcile) = 0.3"),
    }
    # The ballot asks for the confidence, in the instruction and in the JSON schema.
    ballots = [r for r in model.requests if r.role == "ballot"]
    assert len(ballots) == 3
    for r in ballots:
        schema = r.config.json_schema
        assert schema is not None
        assert schema["required"] == ["choice", "confidence"]
        assert schema["properties"]["confidence"] == {
            "type": "number",
            "minimum": 0,
            "maximum": 100,
        }
    assert all('"confidence": a number from 0 to 100' in p for p in panel.ballot_prompts)


def test_an_unreadable_confidence_gets_the_default_weight_and_says_so() -> None:
    panel = Panel(SPLIT, confidence={"A1": 100, "A2": "sure", "A3": 250})
    result = discuss(ScriptedModel(panel, record_prompts=True))
    decision = result.decisions[-1]
    notes = {b.voter: (b.weight, b.confidence, b.weight_note) for b in decision.ballots}
    assert notes["A2"] == (0.1, None, "no readable stated confidence: default weight 0.1 = 0.1")
    assert notes["A3"] == (0.1, None, "no readable stated confidence: default weight 0.1 = 0.1")
    assert notes["A1"][0] == 1.0
    assert all(b.counted for b in decision.ballots)  # the vote itself was read: never re-asked
    assert decision.tally == {"A": 1.0, "B": 0.2} and result.answer == "A"

    # The default is an option.
    result = discuss(
        ScriptedModel(Panel(SPLIT, {"A1": 100}), record_prompts=True), missing_confidence_weight=1.0
    )
    assert result.decisions[-1].tally == {"A": 1.0, "B": 2.0} and result.answer == "B"


@pytest.mark.parametrize(
    ("reply", "vote", "confidence"),
    [
        ("I vote for solution 2. Confidence: 85", "2", 85.0),
        ("Solution 2 (confidence 1)", "2", 1.0),
        ("I am 90% confident in solution 1.", "1", 90.0),
        ("I am confident 2 is right.", "2", None),
    ],
)
def test_the_confidence_is_blanked_before_a_prose_vote_is_read(
    reply: str, vote: str, confidence: float | None
) -> None:
    protocol = create_protocol("weighted_voting")
    parsed = SingleChoice().parse(protocol._without_confidence(reply), ["1", "2"])  # type: ignore[attr-defined]
    assert (parsed.value, parsed.problem) == (vote, None)
    assert stated_confidence(reply)[0] == confidence


def test_a_prose_ballot_with_a_confidence_never_reads_the_confidence_as_a_vote() -> None:
    # No structured output: ballots arrive as prose; "Confidence: 2" names no candidate.
    panel = Panel(SPLIT, confidence={"A1": 2, "A2": 85, "A3": 100})
    model = ScriptedModel(panel, structured_output=None, record_prompts=True)
    result = discuss(model)
    decision = result.decisions[-1]
    assert [b.counted for b in decision.ballots] == [True, True, True]
    assert [b.reasks for b in decision.ballots] == [0, 0, 0]
    assert [b.confidence for b in decision.ballots] == [2.0, 85.0, 100.0]
    assert decision.tally == {"A": 0.1, "B": 1.5} and result.answer == "B"


def test_equal_weights_leave_simple_voting_exactly_as_it_was() -> None:
    result = discuss(ScriptedModel(Panel(SPLIT), record_prompts=True), protocol="simple_voting")
    decision = result.decisions[-1]
    assert decision.tally == {"A": 1.0, "B": 2.0} and result.answer == "B"
    assert decision.reason == "B wins (plurality, 3 of 3 ballots counted)"
    assert all(b.weight is None and b.weight_note is None for b in decision.ballots)
    # ... and the ballot schema asks for no confidence.
    model = ScriptedModel(Panel(SPLIT), record_prompts=True)
    discuss(model, protocol="simple_voting")
    for r in model.requests:
        if r.role == "ballot":
            assert r.config.json_schema is not None
            assert "confidence" not in r.config.json_schema["properties"]


def test_any_voting_rule_can_weight_by_stated_confidence() -> None:
    panel = Panel(SPLIT, confidence={"A1": 95, "A2": 70, "A3": 65})
    result = discuss(
        ScriptedModel(panel, record_prompts=True), protocol="ranked_voting", weights="stated"
    )
    decision = result.decisions[-1]
    # Borda with two candidates: first place gets 1 point, times the weight.
    assert decision.tally == {"A": 0.8, "B": 0.6} and result.answer == "A"


class LogprobModel(ScriptedModel):
    """A scripted model whose discussion replies carry a mean log-probability per agent."""

    def __init__(self, script: Any, confidence: dict[str, float]):
        super().__init__(script)
        self.confidence = confidence
        self.asked_logprobs: list[bool] = []

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        out = await super().generate(messages, config, context)
        if context is not None and context.role == "discussion" and context.agent:
            self.asked_logprobs.append(config.logprobs)
            p = self.confidence[context.agent] / 100
            return out.model_copy(update={"mean_logprob": math.log(p)})
        return out


def test_log_probability_confidence_weights_the_ballots() -> None:
    model = LogprobModel(Panel(SPLIT), {"A1": 92.0, "A2": 50.0, "A3": 81.0})
    result = discuss(model, weights="logprobs")
    assert all(model.asked_logprobs)  # the discussion calls asked for log-probabilities
    assert [m.confidence for m in result.messages] == [92.0, 50.0, 81.0]
    decision = result.decisions[-1]
    got = {b.voter: (b.weight, b.confidence) for b in decision.ballots}
    assert got == {"A1": (0.8, 92.0), "A2": (0.1, 50.0), "A3": (0.5, 81.0)}
    assert decision.tally == {"A": 0.8, "B": 0.6} and result.answer == "A"
    assert "weighted by log-probability confidence" in decision.reason


def test_model_weights_multiply_and_a_voter_of_an_unlisted_model_is_an_error() -> None:
    result = discuss(
        ScriptedModel(Panel(SPLIT), record_prompts=True),
        protocol="simple_voting",
        model_weights={"scripted": 2.5},
    )
    decision = result.decisions[-1]
    assert decision.tally == {"A": 2.5, "B": 5.0}
    assert [b.weight_note for b in decision.ballots] == ["model scripted x 2.5 = 2.5"] * 3
    assert "weighted by model" in decision.reason

    # Checked when the discussion is made, before any call (the team is known by then).
    unlisted = ScriptedModel(Panel(SPLIT), record_prompts=True)
    with pytest.raises(ConfigError) as caught:
        discuss(unlisted, protocol="simple_voting", model_weights={"gpt": 1.0})
    assert caught.value.field == "protocol_options.model_weights"
    assert "voter A1's model 'scripted' has no weight; listed: gpt" in str(caught.value)
    assert unlisted.request_count == 0


def test_the_default_scripted_ballot_states_the_confidence_it_is_asked_for() -> None:
    """Offline demos of a weighted vote: the default script fills the ballot schema's required
    confidence (90, weight 0.8), so no ballot falls to the missing-confidence default."""
    stubborn = {"id": "scripted", "label": "other", "options": {"offset": 1, "stubborn": True}}
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model="scripted",
        agents=[mb.Agent(), mb.Agent(model=stubborn), mb.Agent(model=stubborn)],
        protocol="simple_voting",
        protocol_options={"weights": "stated"},
        max_turns=1,
        personas="none",
    )
    ballots = [b for d in result.decisions for b in d.ballots]
    assert ballots and all(b.confidence == 90.0 and b.weight == 0.8 for b in ballots)


async def _consult_mixed(model_weights: dict[str, float], confidence: dict[str, int]) -> Any:
    """A vote of a mixed team, consulted directly: A1 speaks with m-big, A2 and A3 with m-small."""
    answers = {"A1": "A", "A2": "B", "A3": "B"}
    panel = Panel(answers, confidence=confidence)
    scripted = ScriptedModel(panel, record_prompts=True)
    messages = [
        Message(
            index=i,
            turn=1,
            step=1,
            speaker=slot,
            text=t,
            raw=t,
            stance=Stance.NONE,
            solution=solution_of(a),
            answer=a,
            receivers=[s for s in answers if s != slot],
        )
        for i, (slot, a) in enumerate(answers.items())
        for t in [f"Final Solution: {solution_of(a)}"]
    ]

    async def ask(
        agent: str,
        messages: list[ChatMessage],
        role: str,
        *,
        json_schema: dict[str, Any] | None = None,
        model: Any = None,
    ) -> str | None:
        config = GenerateConfig(json_schema=json_schema)
        out = await scripted.generate(messages, config, CallContext(agent=agent, role=role))
        return out.text

    ctx = DecisionContext(
        turn=1,
        max_turns=1,
        final=True,
        voters=("A1", "A2", "A3"),
        messages=messages,
        task=Task(question=QUESTION, options=OPTIONS),
        seed=7,
        ask=ask,
        task_text=QUESTION,
        agent_models={"A1": "m-big", "A2": "m-small", "A3": "m-small"},
    )
    protocol = create_protocol("weighted_voting", model_weights=model_weights)
    return await protocol.consult(ctx)


async def test_a_mixed_team_weights_each_voter_by_its_own_model() -> None:
    same = {"A1": 100, "A2": 100, "A3": 100}
    decision = await _consult_mixed({"m-big": 3.0, "m-small": 1.0}, same)
    assert decision.tally == {"A": 3.0, "B": 2.0} and decision.answer == "A"
    notes = {b.voter: b.weight_note for b in decision.ballots}
    assert notes["A1"] == "stated confidence 100 -> 1 (ReConcile); model m-big x 3 = 3"
    assert notes["A2"] == "stated confidence 100 -> 1 (ReConcile); model m-small x 1 = 1"
    # Equal model weights: the head count decides again.
    decision = await _consult_mixed({"m-big": 1.0, "m-small": 1.0}, same)
    assert decision.answer == "B"


@pytest.mark.parametrize(
    ("key", "value", "fragment"),
    [
        ("weights", "psychic", "'psychic' is not one of equal, stated, logprobs"),
        ("recalibrate", "yes", "must be true or false"),
        ("missing_confidence_weight", -1, "must be a finite number >= 0, got -1"),
        ("missing_confidence_weight", math.nan, "must be a finite number >= 0"),
        ("model_weights", {"m": -2}, "must be a finite number >= 0, got -2"),
        ("model_weights", ["m"], "must map model ids to weights"),
        ("model_weights", {}, "must map model ids to weights"),
    ],
)
@pytest.mark.parametrize("protocol", ["simple_voting", "weighted_voting", "cumulative_voting"])
def test_bad_weight_options_name_the_field(
    protocol: str, key: str, value: Any, fragment: str
) -> None:
    with pytest.raises(ConfigError) as info:
        create_protocol(protocol, **{key: value})
    assert (info.value.field or "").startswith(f"protocol_options.{key}")
    assert fragment in str(info.value)


def test_the_report_shows_each_ballots_weight_and_how_it_was_set() -> None:
    from madebate.report._report import decision_html

    panel = Panel(SPLIT, confidence={"A1": 95, "A2": 70})
    decision = discuss(ScriptedModel(panel)).decisions[-1]
    html = decision_html(decision)
    assert (
        "yes, weight 0.8 <small>(stated confidence 95 -&gt; 0.8 (ReConcile) = 0.8)</small>" in html
    )
    assert (
        "yes, weight 0.1 <small>(no readable stated confidence: default weight 0.1 = 0.1)</small>"
        in html
    )
    plain = decision_html(
        discuss(ScriptedModel(Panel(SPLIT)), protocol="simple_voting").decisions[-1]
    )
    assert "weight" not in plain


@pytest.mark.parametrize("ballot", [SingleChoice(), ApprovalSet(), PointsPerId(), Ordering()])
def test_every_ballot_schema_with_a_confidence_compiles_to_a_llama_cpp_grammar(ballot: Any) -> None:
    schema = with_confidence(ballot.schema(["1", "2"]))
    grammar = schema_grammar(schema)
    check_grammar(grammar)
    assert '"\\"confidence\\": " "-"? [0-9]' in grammar


def test_a_mixed_team_through_the_engine_weights_each_voter_by_its_model() -> None:
    # A1 speaks with "big", A2 and A3 with "small"; everyone is certain. Model weights decide.
    panel = Panel(SPLIT, confidence={"A1": 100, "A2": 100, "A3": 100})
    big = ScriptedModel(panel, model_id="big")
    small = ScriptedModel(panel, model_id="small")

    def run(weights: dict[str, float]) -> DiscussionResult:
        return mb.Discussion(
            QUESTION,
            options=OPTIONS,
            model=small,
            agents=[mb.Agent(model=big), mb.Agent(model=small), mb.Agent(model=small)],
            paradigm="memory",
            protocol="weighted_voting",
            protocol_options={"model_weights": weights},
            max_turns=1,
            seed=7,
            personas="none",
        ).run()

    result = run({"big": 3.0, "small": 1.0})
    assert [(a.slot, a.model) for a in result.agents] == [
        ("A1", "big"),
        ("A2", "small"),
        ("A3", "small"),
    ]
    decision = result.decisions[-1]
    assert decision.tally == {"A": 3.0, "B": 2.0} and result.answer == "A"
    assert [b.weight_note for b in decision.ballots] == [
        "stated confidence 100 -> 1 (ReConcile); model big x 3 = 3",
        "stated confidence 100 -> 1 (ReConcile); model small x 1 = 1",
        "stated confidence 100 -> 1 (ReConcile); model small x 1 = 1",
    ]
    assert "weighted by stated confidence and model" in decision.reason
    assert run({"big": 1.5, "small": 1.0}).answer == "B"
