"""Consensus rules over exact stance sequences (DESIGN.md section 3), without any model.

Transcripts are written as compact tokens, one per message:

    "A1:B"   A1 proposes B (a first proposal: no stance)
    "A2+"    A2 agrees without restating the solution
    "A2+B"   A2 agrees and restates B (its 'Final Solution:' line)
    "A3-C"   A3 disagrees and proposes C
    "A3-"    A3 disagrees but states no readable answer
    "A2?"    A2's reply could not be read at all
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from madebate import (
    Discussion,
    Message,
    ScriptedModel,
    ScriptedRequest,
    Stance,
    Task,
    consensus_tally,
    hybrid,
    majority,
    supermajority,
    unanimity,
)
from madebate.protocols import DecisionContext, create_protocol, track_support
from madebate.protocols._consensus import ConsensusRule

TASK = Task(question="Capital of Italy?", options=["Paris", "Rome", "Berlin", "Madrid"])
RULES: dict[str, ConsensusRule] = {
    "majority_consensus": majority,
    "supermajority_consensus": supermajority,
    "unanimity_consensus": unanimity,
    "hybrid_consensus": hybrid,
}
_TOKEN = re.compile(r"^(?P<speaker>[A-Z]\d*)(?P<kind>[:+\-?])(?P<answer>[A-Z]?)$")
_STANCE = {":": Stance.NONE, "+": Stance.AGREE, "-": Stance.DISAGREE, "?": Stance.UNREADABLE}


def msg(
    speaker: str,
    stance: Stance = Stance.NONE,
    answer: str | None = None,
    *,
    index: int = 0,
    turn: int = 1,
) -> Message:
    """One message as the engine would record it after parsing the reply."""
    solution = f"{answer}) option {answer}" if answer else None
    readable = stance is not Stance.UNREADABLE and not (stance is Stance.DISAGREE and not answer)
    return Message(
        index=index,
        turn=turn,
        step=1,
        speaker=speaker,
        text=f"{speaker} says {stance.value} {answer or ''}".strip(),
        raw="",
        stance=stance,
        solution=solution,
        answer=answer,
        readable=readable,
    )


def transcript(spec: str) -> list[Message]:
    out = []
    for i, token in enumerate(spec.split()):
        m = _TOKEN.match(token)
        assert m, f"bad token {token!r}"
        answer = m["answer"] or None
        assert answer is not None or m["kind"] != ":", f"a proposal needs an answer: {token}"
        assert answer is None or m["kind"] != "?", f"an unreadable reply has no answer: {token}"
        out.append(msg(m["speaker"], _STANCE[m["kind"]], answer, index=i))
    return out


def panel(n: int) -> tuple[str, ...]:
    return tuple(f"A{i}" for i in range(1, n + 1))


# -- consensus_tally on exact transcripts -----------------------------------------------------

# (case, protocol, voters, turn, transcript, decided answer or None, supporters)
CASES = [
    # two agents, majority: a lone proposer is only half
    ("2 agents lone proposer", "majority_consensus", 2, 1, "A1:B", None, 1),
    ("2 agents proposer + agree", "majority_consensus", 2, 1, "A1:B A2+", "B", 2),
    ("2 agents proposer + restating agree", "majority_consensus", 2, 1, "A1:B A2+B", "B", 2),
    ("2 agents proposer + disagree", "majority_consensus", 2, 1, "A1:B A2-C", None, 1),
    # the MALLM-breaking case: everyone agrees, restating the same answer
    ("3 agree restating, majority", "majority_consensus", 3, 1, "A1:B A2+B A3+B", "B", 3),
    ("3 agree restating, super", "supermajority_consensus", 3, 1, "A1:B A2+B A3+B", "B", 3),
    ("3 agree restating, unanimity", "unanimity_consensus", 3, 1, "A1:B A2+B A3+B", "B", 3),
    ("3 agree restating, hybrid", "hybrid_consensus", 3, 1, "A1:B A2+B A3+B", "B", 3),
    ("3 agree mixed forms, unanimity", "unanimity_consensus", 3, 1, "A1:B A2+ A3+B", "B", 3),
    ("2 of 3 is a majority", "majority_consensus", 3, 1, "A1:B A2+B", "B", 2),
    ("2 of 3 is not unanimity", "unanimity_consensus", 3, 1, "A1:B A2+B", None, 2),
    # a new proposal resets support to its proposer alone
    ("new proposal resets", "majority_consensus", 3, 1, "A1:B A2+B A3-C", None, 1),
    ("new proposal then agree", "majority_consensus", 3, 1, "A1:B A2+B A3-C A1+C", "C", 2),
    ("proposer switches answer", "majority_consensus", 3, 2, "A1:B A2+ A3+ A1-C", None, 1),
    ("agree naming another answer proposes it", "majority_consensus", 3, 1, "A1:B A2+C", None, 1),
    (
        "back to an old answer is a new proposal",
        "majority_consensus",
        3,
        1,
        "A1:B A2+ A3-C A2-B",
        None,
        1,
    ),
    # a disagree without a readable answer withdraws support
    ("disagree without answer withdraws", "majority_consensus", 3, 1, "A1:B A2+ A2-", None, 1),
    ("proposer withdraws", "majority_consensus", 2, 2, "A1:B A2+ A1-", None, 1),
    ("withdraw then agree again", "majority_consensus", 2, 2, "A1:B A2+ A2- A2+", "B", 2),
    # an unreadable message withdraws support
    ("unreadable withdraws, unanimity", "unanimity_consensus", 3, 1, "A1:B A2+ A3+ A2?", None, 2),
    ("unreadable withdraws, 2 agents", "majority_consensus", 2, 1, "A1:B A2+ A2?", None, 1),
    ("unreadable proposer withdraws", "majority_consensus", 3, 2, "A1:B A2+ A1?", None, 1),
    # the drafter D proposes but never votes
    ("drafter alone has zero support", "majority_consensus", 3, 1, "D:B", None, 0),
    ("drafter + one agree", "majority_consensus", 3, 1, "D:B A1+", None, 1),
    ("drafter + two agree", "majority_consensus", 3, 1, "D:B A1+ A2+B", "B", 2),
    ("drafter agreeing adds nothing", "majority_consensus", 2, 1, "A1:B D+ D+B", None, 1),
    ("drafter revision resets to zero", "unanimity_consensus", 2, 1, "D:B A1+ A2+ D:C", None, 0),
    ("drafter + all agree, unanimity", "unanimity_consensus", 2, 1, "D:B A1+ A2+B", "B", 2),
    # supermajority thresholds: at least two thirds
    ("super 2 of 3", "supermajority_consensus", 3, 1, "A1:B A2+", "B", 2),
    ("super 1 of 3", "supermajority_consensus", 3, 1, "A1:B", None, 1),
    ("super 3 of 5", "supermajority_consensus", 5, 1, "A1:B A2+ A3+", None, 3),
    ("super 4 of 5", "supermajority_consensus", 5, 1, "A1:B A2+ A3+ A4+", "B", 4),
    ("super 3 of 6", "supermajority_consensus", 6, 1, "A1:B A2+ A3+", None, 3),
    ("super 4 of 6", "supermajority_consensus", 6, 1, "A1:B A2+ A3+ A4+", "B", 4),
    ("majority 3 of 6 is not more than half", "majority_consensus", 6, 1, "A1:B A2+ A3+", None, 3),
    ("majority 3 of 5", "majority_consensus", 5, 1, "A1:B A2+ A3+", "B", 3),
    # hybrid: unanimity while turn < 5 or n <= 3, else at least 3/4
    ("hybrid 3 of 4 at turn 5", "hybrid_consensus", 4, 5, "A1:B A2+ A3+", "B", 3),
    ("hybrid 3 of 4 at turn 4", "hybrid_consensus", 4, 4, "A1:B A2+ A3+", None, 3),
    ("hybrid 4 of 4 at turn 4", "hybrid_consensus", 4, 4, "A1:B A2+ A3+ A4+", "B", 4),
    ("hybrid 4 of 5 at turn 5", "hybrid_consensus", 5, 5, "A1:B A2+ A3+ A4+", "B", 4),
    ("hybrid 3 of 5 at turn 5", "hybrid_consensus", 5, 5, "A1:B A2+ A3+", None, 3),
    ("hybrid 4 of 5 at turn 4", "hybrid_consensus", 5, 4, "A1:B A2+ A3+ A4+", None, 4),
    ("hybrid 2 of 3 at turn 9", "hybrid_consensus", 3, 9, "A1:B A2+", None, 2),
    ("hybrid 3 of 3 at turn 1", "hybrid_consensus", 3, 1, "A1:B A2+ A3+", "B", 3),
    # nothing to decide on yet
    ("unreadable first message", "majority_consensus", 2, 1, "A1?", None, 0),
    ("agree with nothing", "majority_consensus", 2, 1, "A1? A2+", None, 0),
]


@pytest.mark.parametrize(
    ("protocol", "n", "turn", "spec", "answer", "support"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_consensus_tally(
    protocol: str, n: int, turn: int, spec: str, answer: str | None, support: int
) -> None:
    voters = panel(n)
    messages = transcript(spec)
    decision = consensus_tally(RULES[protocol], protocol, messages, voters, turn)
    assert decision.protocol == protocol
    assert decision.turn == turn
    assert decision.decided is (answer is not None)
    assert decision.answer == answer
    state = track_support(messages, voters)
    assert len(state.supporters) == support
    if state.current_answer is not None:
        assert decision.tally == {state.current_answer: float(support)}
        assert f"{support} of {n}" in decision.reason
    else:
        assert decision.tally == {}
        assert decision.reason == "no solution proposed yet"
    if answer is not None:
        assert decision.solution == f"{answer}) option {answer}"


@pytest.mark.parametrize("protocol", sorted(RULES))
async def test_protocol_consult_matches_tally(protocol: str) -> None:
    """The registered protocol object applies the same rule to its context."""
    proto = create_protocol(protocol)
    assert proto.kind == "consensus"
    for spec, n in [("A1:B A2+B A3+B", 3), ("A1:B A2+", 3), ("A1:B", 2), ("D:B A1+ A2+", 2)]:
        messages = transcript(spec)
        expected = consensus_tally(RULES[protocol], protocol, messages, panel(n), 1)
        assert await proto.consult(_context(messages, n, turn=1)) == expected


def test_track_support_state() -> None:
    state = track_support(transcript("A1:B A2+ A3-C A1+ D:A A2?"), panel(3))
    assert state.current_answer == "A"
    assert state.current_solution == "A) option A"
    assert state.proposer == "D"
    assert state.supporters == set()
    assert state.proposals == [("A1", "B"), ("A3", "C"), ("D", "A")]
    # Each voter's latest position; an unreadable latest reply holds none (README rule).
    assert state.latest_answer == {"A1": "C", "A3": "C"}


def test_restating_agreement_keeps_the_first_solution_text() -> None:
    messages = transcript("A1:B A2+B")
    messages[1] = messages[1].model_copy(update={"solution": "b"})
    state = track_support(messages, panel(2))
    assert state.current_solution == "B) option B"
    assert state.proposer == "A1"
    assert state.supporters == {"A1", "A2"}


# -- the pure rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "supporters", "n", "turn", "expected"),
    [
        (majority, 1, 2, 1, False),
        (majority, 2, 2, 1, True),
        (majority, 2, 3, 1, True),
        (majority, 2, 4, 1, False),
        (majority, 3, 4, 1, True),
        (majority, 3, 6, 1, False),
        (majority, 0, 0, 1, False),
        (supermajority, 2, 3, 1, True),
        (supermajority, 1, 3, 1, False),
        (supermajority, 3, 5, 1, False),
        (supermajority, 4, 5, 1, True),
        (supermajority, 4, 6, 1, True),
        (supermajority, 3, 6, 1, False),
        (supermajority, 1, 2, 1, False),
        (supermajority, 0, 0, 1, False),
        (unanimity, 3, 3, 1, True),
        (unanimity, 2, 3, 1, False),
        (unanimity, 0, 0, 1, False),
        (hybrid, 3, 4, 5, True),
        (hybrid, 3, 4, 4, False),
        (hybrid, 4, 4, 4, True),
        (hybrid, 4, 5, 5, True),
        (hybrid, 3, 5, 5, False),
        (hybrid, 4, 5, 4, False),
        (hybrid, 2, 3, 5, False),
        (hybrid, 3, 3, 5, True),
        (hybrid, 5, 6, 5, True),
        (hybrid, 4, 6, 50, False),
        (hybrid, 6, 8, 5, True),
        (hybrid, 0, 0, 5, False),
    ],
)
def test_pure_rules(
    rule: ConsensusRule, supporters: int, n: int, turn: int, expected: bool
) -> None:
    assert rule(supporters, n, turn) is expected


@given(
    n=st.integers(min_value=0, max_value=64),
    data=st.data(),
    turn=st.integers(min_value=1, max_value=100),
)
def test_rules_are_nested_and_monotonic(n: int, data: st.DataObject, turn: int) -> None:
    s = data.draw(st.integers(min_value=0, max_value=n))
    # unanimity => hybrid => supermajority => majority
    if unanimity(s, n, turn):
        assert hybrid(s, n, turn)
    if hybrid(s, n, turn):
        assert supermajority(s, n, turn)
    if supermajority(s, n, turn):
        assert majority(s, n, turn)
    # Nobody supporting never decides; everybody supporting always does.
    for rule in RULES.values():
        assert not rule(0, n, turn)
        assert rule(n, n, turn) is (n > 0)
        if s < n and rule(s, n, turn):
            assert rule(s + 1, n, turn)  # more support never undoes a decision


_TOKENS = st.sampled_from(["A1", "A2", "A3", "D"]).flatmap(
    lambda who: st.sampled_from([f"{who}:B", f"{who}:C", f"{who}+", f"{who}-", f"{who}?"])
)


@given(st.lists(_TOKENS, max_size=12))
def test_support_invariants(tokens: list[str]) -> None:
    voters = panel(3)
    messages = transcript(" ".join(tokens))
    state = track_support(messages, voters)
    assert state.supporters <= set(voters)
    assert set(state.latest_answer) <= set(voters)
    if state.current_answer is None:
        assert not state.supporters
    # Every voter agreeing after any history gives a unanimous decision on the current answer.
    if state.current_answer is not None:
        tail = transcript(" ".join([*tokens, "A1+", "A2+", "A3+"]))
        decision = consensus_tally(unanimity, "unanimity_consensus", tail, voters, 1)
        assert decision.decided
        assert decision.answer == state.current_answer


# -- fallback at max turns ----------------------------------------------------------------------


def _context(messages: list[Message], n: int, turn: int = 5) -> DecisionContext:
    async def ask(agent: str, prompt: object, role: str) -> str | None:
        raise AssertionError("consensus protocols never ask")

    return DecisionContext(
        turn=turn,
        max_turns=turn,
        final=True,
        voters=panel(n),
        messages=messages,
        task=TASK,
        seed=0,
        ask=ask,
    )


@pytest.mark.parametrize(
    ("spec", "n", "answer", "tie"),
    [
        pytest.param("A1:B A2-C A3+C", 3, "C", False, id="most held wins"),
        pytest.param("A1:B A2-C A3+C A1-B", 3, "C", False, id="most held beats current"),
        pytest.param("A1:B A2-C", 2, "C", True, id="tie goes to current C"),
        pytest.param("A1:B A2-C A1-B", 2, "B", True, id="tie goes to current B"),
        # README rule: an unreadable latest reply holds no position (A2 no longer holds C).
        pytest.param("A1:B A2-C A2?", 2, "B", False, id="unreadable latest reply holds none"),
        pytest.param("A1:B A2+ A3-C D:A", 3, "B", False, id="drafter's answer not held"),
    ],
)
def test_fallback_picks_most_held_latest_answer(spec: str, n: int, answer: str, tie: bool) -> None:
    protocol = create_protocol("majority_consensus")
    messages = transcript(spec)
    decision = protocol.fallback(_context(messages, n))
    assert decision.decided is False
    assert decision.answer == answer
    assert decision.solution == f"{answer}) option {answer}"
    # `tie` marks a vote that tied; the fallback held no vote and names a tie in its reason.
    assert decision.tie is False
    assert ("tied with" in decision.reason) is tie
    assert decision.protocol == "majority_consensus"
    assert decision.turn == 5
    assert "max turns" in decision.reason


def test_fallback_tie_without_current_answer_picks_a_leader() -> None:
    protocol = create_protocol("unanimity_consensus")
    decision = protocol.fallback(_context(transcript("A1:B A2+ A3-C A4+ A5-D"), 5))
    assert decision.decided is False
    assert decision.answer in {"B", "C"}
    assert decision.tie is False and "tied with" in decision.reason
    assert decision.tally == {"B": 2.0, "C": 2.0, "D": 1.0}


def test_fallback_without_any_readable_answer() -> None:
    protocol = create_protocol("majority_consensus")
    decision = protocol.fallback(_context(transcript("A1? A2? A1-"), 2))
    assert decision.decided is False
    assert decision.answer is None
    assert decision.reason == "no readable solution was ever proposed"


def test_fallback_to_drafters_solution_when_no_voter_answered() -> None:
    """The final answer is never empty while some solution exists (DESIGN.md section 3)."""
    protocol = create_protocol("majority_consensus")
    decision = protocol.fallback(_context(transcript("D:B A1? A2-"), 2))
    assert decision.decided is False
    assert decision.answer == "B"
    assert decision.solution == "B) option B"


# -- whole discussions with the scripted model --------------------------------------------------

MC = ["Paris", "Rome", "Berlin", "Madrid"]


def _agreeing_panel(request: ScriptedRequest) -> str:
    """The first speaker proposes Rome; everyone after agrees, restating it in another form."""
    if "Current Solution: none yet" in request.prompt:
        return "Rome is the capital of Italy.\nFinal Solution: B) Rome"
    restated = {"A1": "B) Rome", "A2": "Rome", "A3": "(b)"}[request.agent or ""]
    return f"[AGREE] Right, it is Rome.\nFinal Solution: {restated}"


@pytest.mark.parametrize(
    ("protocol", "messages"),
    [
        ("majority_consensus", 2),
        ("supermajority_consensus", 2),
        ("unanimity_consensus", 3),
        ("hybrid_consensus", 3),
    ],
)
async def test_three_agents_who_agree_reach_consensus(protocol: str, messages: int) -> None:
    model = ScriptedModel(_agreeing_panel, record_prompts=True)
    result = await Discussion(
        "What is the capital of Italy?",
        options=MC,
        model=model,
        agents=3,
        paradigm="memory",
        protocol=protocol,
        personas="none",
        max_turns=3,
    ).run_async()
    assert result.stop_reason == "consensus"
    assert result.decided is True
    assert result.answer == "B"
    assert result.solution == "B) Rome"
    assert result.turns == 1
    assert len(result.messages) == messages
    assert [m.speaker for m in result.messages] == ["A1", "A2", "A3"][:messages]
    assert [m.answer for m in result.messages] == ["B"] * messages
    assert len(model.requests) == messages  # one call per message, no extraction call
    assert len(result.decisions) == messages  # memory consults after each message
    assert [d.decided for d in result.decisions] == [False] * (messages - 1) + [True]
    assert result.warnings == []


def _always_disagree(request: ScriptedRequest) -> str:
    mine = {"A1": "A) Paris", "A2": "C) Berlin"}[request.agent or ""]
    if "Current Solution: none yet" in request.prompt:
        return f"I say so.\nFinal Solution: {mine}"
    return f"[DISAGREE] That is wrong.\nFinal Solution: {mine}"


@pytest.mark.parametrize("max_turns", [1, 3])
async def test_two_agents_who_always_disagree_run_out_of_turns(max_turns: int) -> None:
    model = ScriptedModel(_always_disagree, record_prompts=True)
    result = await Discussion(
        "What is the capital of Italy?",
        options=MC,
        model=model,
        agents=2,
        protocol="majority_consensus",
        personas="none",
        max_turns=max_turns,
    ).run_async()
    assert result.stop_reason == "max_turns"
    assert result.decided is False
    assert result.turns == max_turns
    assert len(result.messages) == 2 * max_turns
    assert not any(d.decided for d in result.decisions)
    # Never empty: a one-one tie, which goes to the current solution (A2's, spoken last).
    assert result.answer == "C"
    assert result.solution == "C) Berlin"
    final = result.decisions[-1]
    assert final.tie is False and "tied with A, took the current solution" in final.reason
    assert final.tally == {"A": 1.0, "C": 1.0}
    assert "max turns" in result.stop_detail


# -- an [AGREE] that states no answer agrees with what its speaker was shown ------------------


def test_agreeing_with_a_replaced_solution_is_no_support_for_the_new_one() -> None:
    # A2 and A3 were shown B; A1's C landed before their bare [AGREE]s (they spoke together).
    messages = transcript("A1:B A2+B A1-C A2+ A3+")
    messages[3] = messages[3].model_copy(update={"agreed_with": "B"})
    messages[4] = messages[4].model_copy(update={"agreed_with": "B"})
    state = track_support(messages, panel(3))
    assert state.current_answer == "C"
    assert state.supporters == {"A1"}
    assert state.latest_answer == {"A1": "C", "A2": "B", "A3": "B"}
    # Agreeing with what is current still counts, and old messages (no agreed_with) too.
    messages[4] = messages[4].model_copy(update={"agreed_with": "C"})
    assert track_support(messages, panel(3)).supporters == {"A1", "A3"}
    assert track_support(transcript("A1:B A2+ A3+"), panel(3)).supporters == {"A1", "A2", "A3"}


def _switch_while_others_agree(request: ScriptedRequest) -> str:
    # Turn 1: everyone drafts B. Turn 2 (all speak together, each shown B): A1 switches to C,
    # A2 and A3 agree without restating. Their agreement is with B, not with A1's C.
    if request.context.turn == 1:
        return "It is Rome.\nFinal Solution: B) Rome"
    if request.agent == "A1":
        return "[DISAGREE] On reflection, Berlin.\nFinal Solution: C) Berlin"
    return "[AGREE] Fine as it is."


async def test_simultaneous_bare_agreement_is_not_counted_for_a_switch_it_never_saw() -> None:
    result = await Discussion(
        "What is the capital of Italy?",
        options=MC,
        model=ScriptedModel(_switch_while_others_agree, record_prompts=True),
        agents=3,
        paradigm="collective_refinement",
        protocol="majority_consensus",
        personas="none",
        min_turns=2,
        max_turns=2,
    ).run_async()
    turn2 = [m for m in result.messages if m.turn == 2]
    assert [m.agreed_with for m in turn2] == [None, "B", "B"]
    # Counted for A1's C (which they never saw), their bare [AGREE]s made C a consensus.
    assert result.stop_reason == "max_turns" and not result.decided
    assert result.answer == "B"  # the fallback: two of three still hold B
