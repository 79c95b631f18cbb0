"""Engine edge cases on the scripted model (DESIGN.md sections 3 and 4).

Covered: which stop reason an undecided discussion records and what its detail says; the one
call gate (personas, judge, extraction, challenge and ballots count against max_calls and
max_total_tokens); the relay passing on an agreed solution; the rule for a proposer whose later
reply is unreadable; and what a message records about how its reply was written and read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest

import madebate as mb
from madebate import (
    ChatMessage,
    DiscussionResult,
    GenerateConfig,
    ModelCallError,
    ScriptedModel,
    ScriptedRequest,
    Stance,
)
from madebate.models import CallContext, ModelOutput
from madebate.protocols import track_support

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]
LETTERS = "ABCD"
# Each slot holds one answer for the whole discussion: A and C split two voters one to one.
HELD = {"A1": "A", "A2": "C"}
# "Solution 2 (...):" then the candidate's text on the next line, as the ballot prompt shows it.
_CANDIDATE = re.compile(r"^Solution (\d+)\b[^\n]*:\n([A-Z])\) ", re.M)

Reply = Callable[[ScriptedRequest], str]


def solution_of(letter: str) -> str:
    return f"{letter}) {OPTIONS[LETTERS.index(letter)]}"


def first_user(request: ScriptedRequest) -> str:
    """The ballot (or judge) prompt itself, also on a re-ask."""
    return next(m.content for m in request.messages if m.role == "user")


def own_vote(request: ScriptedRequest) -> str:
    """A JSON ballot for the candidate that is the voter's own answer."""
    shown = dict(_CANDIDATE.findall(first_user(request)))
    mine = next(label for label, answer in shown.items() if answer == HELD[request.agent or ""])
    return json.dumps({"choice": mine})


def stubborn_reply(request: ScriptedRequest) -> str:
    """A discussion reply stating the speaker's HELD answer (disagreeing once one is current)."""
    letter = HELD[request.agent or ""]
    tag = "" if "Current Solution: none yet" in request.prompt else "[DISAGREE] "
    return f"{tag}I hold {letter}.\nFinal Solution: {solution_of(letter)}"


def stubborn_panel(*, ballot: Reply | None = None, judge: Reply | None = None) -> ScriptedModel:
    """Every voter states its HELD answer each time it speaks; ballots and verdicts as given."""

    def script(request: ScriptedRequest) -> str:
        if request.role == "discussion":
            return stubborn_reply(request)
        if request.role == "ballot" and ballot is not None:
            return ballot(request)
        if request.role == "judge" and judge is not None:
            return judge(request)
        raise AssertionError(f"unexpected {request.role} request")

    return ScriptedModel(script, record_prompts=True)


def run(model: ScriptedModel, **settings: Any) -> DiscussionResult:
    settings = {"agents": 2, "personas": "none", "max_turns": 2, "seed": 3, **settings}
    return mb.Discussion("Capital of France?", options=OPTIONS, model=model, **settings).run()


def roles(model: ScriptedModel) -> list[str]:
    return [r.role for r in model.requests]


def fail(request: ScriptedRequest) -> str:
    raise ModelCallError("judge backend down", retryable=False)


# -- 1. stop reasons -----------------------------------------------------------------------------


@pytest.mark.parametrize("protocol", ["simple_voting", "consensus_voting"])
def test_a_vote_tied_at_the_last_turn_ends_max_turns_tie(protocol: str) -> None:
    model = stubborn_panel(ballot=own_vote)
    result = run(model, protocol=protocol)  # tie_break revote (the default)

    assert result.stop_reason == "max_turns_tie"
    assert not result.decided and result.answer in {"A", "C"}
    last_vote, final = result.decisions[-2], result.decisions[-1]
    assert last_vote.turn == 2 and last_vote.tie and not last_vote.decided
    assert [b.counted for b in last_vote.ballots] == [True, True]
    assert last_vote.reason.startswith("tie between ") and "discussing another turn" in (
        last_vote.reason
    )
    assert final.tie and final.reason.startswith("still tied between ")
    assert result.stop_detail == f"{final.reason} (last decision point: {last_vote.reason})"


def test_a_tie_before_the_last_turn_is_not_max_turns_tie() -> None:
    """Turn 1's vote ties; at the last turn every ballot is lost: no vote tied at the last turn."""

    def ballot(request: ScriptedRequest) -> str:
        return own_vote(request) if request.context.turn == 1 else "They all look fine to me."

    result = run(stubborn_panel(ballot=ballot), protocol="simple_voting")
    assert result.decisions[0].turn == 1 and result.decisions[0].tie
    assert result.stop_reason == "max_turns"
    assert result.decisions[-1].tie is False
    assert "(last decision point: no decision: " in result.stop_detail


def _undecided_cases() -> list[Any]:
    lost = "They all look fine to me."  # names no candidate: unreadable, re-asked, lost
    return [
        pytest.param(
            stubborn_panel(judge=lambda r: "Both have merit; hard to say."),
            {"protocol": "judge"},
            "no verdict: names no single candidate and writes no answer",
            ["judge"] * 3,  # asked, then re-asked twice
            id="judge-replies-unreadable",
        ),
        pytest.param(
            stubborn_panel(judge=fail),
            {"protocol": "judge"},
            "no verdict: the judge's model call failed",
            ["judge"],
            id="judge-always-fails",
        ),
        pytest.param(
            stubborn_panel(ballot=own_vote),
            {"protocol": "simple_voting", "protocol_options": {"vote_from_turn": 5}},
            "voting starts at turn 5",
            [],
            id="vote-never-held",
        ),
        pytest.param(
            stubborn_panel(ballot=lambda r: lost),
            {"protocol": "simple_voting"},
            None,  # checked below: every ballot lost
            ["ballot"] * 6,  # two voters, each asked and re-asked twice
            id="every-ballot-lost",
        ),
        pytest.param(
            stubborn_panel(ballot=lambda r: "I abstain."),
            {"protocol": "simple_voting"},
            "no vote held: all 2 voters abstained",
            ["ballot"] * 2,  # an abstention is never re-asked
            id="every-voter-abstained",
        ),
        pytest.param(
            stubborn_panel(),
            {"protocol": "majority_consensus"},
            "only 1 of 2 voters support C",
            [],
            id="consensus-held-answers-tie",
        ),
    ]


@pytest.mark.parametrize(("model", "settings", "last_reason", "point_calls"), _undecided_cases())
def test_an_undecided_discussion_ends_max_turns_with_what_happened(
    model: ScriptedModel,
    settings: dict[str, Any],
    last_reason: str | None,
    point_calls: list[str],
) -> None:
    result = run(model, **settings)

    # The held answers tie one to one (A1 holds A, A2 holds C), yet no vote tied at the last
    # turn: max_turns, never max_turns_tie.
    assert result.stop_reason == "max_turns"
    assert result.turns == 2 and not result.decided
    final = result.decisions[-1]
    assert final.tie is False and not final.decided
    assert final.reason == (
        "max turns reached without a decision; fell back to the most held answer "
        "(1 of 2 voters); tied with A, took the current solution"
    )
    assert result.answer == "C" and result.solution == solution_of("C")
    assert final.tally == {"A": 1.0, "C": 1.0}

    last_point = result.decisions[-2]
    assert last_point.turn == 2 and not last_point.decided and last_point.tie is False
    if last_reason is None:  # every ballot lost
        assert "0 of 2 ballots counted" in last_point.reason
        assert [b.counted for b in last_point.ballots] == [False, False]
        assert all(b.reasks == 2 for b in last_point.ballots)
        assert all(
            (b.problem or "").startswith("unreadable after 2 re-ask(s)") for b in last_point.ballots
        )
        last_reason = last_point.reason
    assert last_point.reason == last_reason
    assert result.stop_detail == f"{final.reason} (last decision point: {last_reason})"

    # What each decision point of the last turn asked the model, besides the discussion.
    turn2 = [r.role for r in model.requests if r.context.turn == 2 and r.role != "discussion"]
    assert turn2 == point_calls


def test_max_turns_detail_does_not_repeat_a_reason_already_in_it() -> None:
    """No vote could be held (no voter holds a readable answer): the fallback's own reason and
    the last decision point's both appear, once each."""
    result = run(
        ScriptedModel(lambda r: "I am still thinking.", record_prompts=True),
        protocol="simple_voting",
    )
    assert result.stop_reason == "max_turns" and result.answer is None
    assert result.stop_detail == (
        "no readable solution was ever proposed "
        "(last decision point: no voter holds a readable solution to vote on)"
    )


# -- 2. one call gate ----------------------------------------------------------------------------


def test_expert_personas_stop_at_the_call_limit() -> None:
    model = ScriptedModel(record_prompts=True)  # the default script writes valid persona JSON
    result = run(model, agents=3, personas="expert", max_calls=2)

    assert result.stop_reason == "budget" and "call limit of 2 reached" in result.stop_detail
    assert len(result.calls) == 2 and len(model.requests) == 2
    assert [c.role for c in result.calls] == ["persona", "persona"]
    assert roles(model) == ["persona", "persona"]
    assert result.messages == [] and result.usage.calls == 2


def test_persona_retries_count_against_the_call_limit() -> None:
    model = ScriptedModel(
        lambda r: "I would rather not say.", record_prompts=True
    )  # never a persona: retried
    result = run(model, agents=3, personas="expert:3", max_calls=2)

    assert result.stop_reason == "budget" and "call limit of 2 reached" in result.stop_detail
    assert [(c.role, c.agent) for c in result.calls] == [("persona", "A1"), ("persona", "A1")]
    assert len(model.requests) == 2


def _persona_call_tokens() -> list[int]:
    model = ScriptedModel(lambda r: "I would rather not say.", record_prompts=True)
    result = run(model, agents=3, personas="expert:3", max_calls=2)
    return [c.prompt_tokens + c.completion_tokens for c in result.calls]


def test_expert_personas_stop_at_the_token_limit() -> None:
    first = _persona_call_tokens()[0]
    assert first > 1
    # Valid personas: A1's call is made, A2's is not (A1's call used the whole limit).
    model = ScriptedModel(record_prompts=True)
    result = run(model, agents=3, personas="expert", max_total_tokens=1)
    assert result.stop_reason == "budget" and "token limit of 1 reached" in result.stop_detail
    assert len(result.calls) == 1 and len(model.requests) == 1
    assert result.calls[0].role == "persona"

    # Retries of one persona count the request's own calls so far: the second attempt for A1
    # is refused once the first used up the limit.
    model = ScriptedModel(lambda r: "I would rather not say.", record_prompts=True)
    result = run(model, agents=3, personas="expert:3", max_total_tokens=first)
    assert result.stop_reason == "budget"
    assert f"token limit of {first} reached ({first} used)" in result.stop_detail
    assert len(result.calls) == 1 and len(model.requests) == 1

    # One token more lets exactly the second attempt through.
    model = ScriptedModel(lambda r: "I would rather not say.", record_prompts=True)
    result = run(model, agents=3, personas="expert:3", max_total_tokens=first + 1)
    assert result.stop_reason == "budget"
    assert len(result.calls) == 2 and len(model.requests) == 2


@pytest.mark.parametrize(
    ("settings", "max_calls", "expected"),
    [
        # Two discussion calls, then the judge's: the limit stops it.
        ({"protocol": "judge"}, 2, ["discussion", "discussion"]),
        ({"protocol": "judge"}, 3, ["discussion", "discussion", "judge"]),
        # A1's reply, then its extraction call.
        ({"extraction": "always"}, 1, ["discussion"]),
        ({"extraction": "always"}, 2, ["discussion", "extraction"]),
        # Ballots are asked together; only as many as the limit allows go out.
        ({"protocol": "simple_voting"}, 3, ["discussion", "discussion", "ballot"]),
    ],
    ids=["judge-2", "judge-3", "extraction-1", "extraction-2", "ballot-3"],
)
def test_protocol_and_extraction_calls_count_against_max_calls(
    settings: dict[str, Any], max_calls: int, expected: list[str]
) -> None:
    def script(request: ScriptedRequest) -> str:
        if request.role == "judge":
            return "No single candidate stands out."
        if request.role == "extraction":
            return solution_of(HELD[request.agent or ""])
        if request.role == "ballot":
            return own_vote(request)
        return stubborn_reply(request)

    model = ScriptedModel(script, record_prompts=True)
    result = run(model, max_calls=max_calls, **settings)
    assert result.stop_reason == "budget"
    assert f"call limit of {max_calls} reached" in result.stop_detail
    assert [c.role for c in result.calls] == expected
    assert roles(model) == expected


def agree_on_b_then_keep_it(request: ScriptedRequest) -> str:
    """A1 proposes B, everyone agrees; asked to challenge the decision, each voter keeps it."""
    if request.role == "challenge":
        return "[AGREE] It stands."
    if "Current Solution: none yet" in request.prompt:
        return f"Paris.\nFinal Solution: {solution_of('B')}"
    return f"[AGREE] Yes.\nFinal Solution: {solution_of('B')}"


@pytest.mark.parametrize("max_calls", [2, 3])
def test_challenge_calls_count_against_max_calls(max_calls: int) -> None:
    model = ScriptedModel(agree_on_b_then_keep_it, record_prompts=True)
    result = run(model, challenge=True, max_calls=max_calls)
    # The decision stands; the challenge, which cannot ask every voter, is skipped.
    assert result.stop_reason == "consensus" and result.decided and result.answer == "B"
    assert result.challenge is None
    assert f"challenge skipped: call limit of {max_calls} reached" in result.warnings
    assert len(result.calls) == len(model.requests) == max_calls
    assert roles(model) == ["discussion", "discussion", *["challenge"] * (max_calls - 2)]


def test_challenge_runs_within_the_call_limit() -> None:
    """Control for the test above: with room for it, the challenge is held and accounted."""

    model = ScriptedModel(agree_on_b_then_keep_it, record_prompts=True)
    result = run(model, challenge=True, max_calls=4)
    assert result.challenge is not None and not result.challenge.overturned
    assert [c.role for c in result.calls] == ["discussion", "discussion", "challenge", "challenge"]
    assert result.usage.calls == 4


# -- 3. relay: a bare [AGREE] passes on the agreed solution --------------------------------------


def test_relay_shows_the_next_agent_the_solution_a_bare_agree_agreed_with() -> None:
    def script(request: ScriptedRequest) -> str:
        if "Current Solution: none yet" in request.prompt:
            return f"Paris is the capital.\nFinal Solution: {solution_of('B')}"
        return "[AGREE] Looks right to me."  # no Final Solution line

    model = ScriptedModel(script, record_prompts=True)
    result = run(model, agents=3, paradigm="relay", protocol="unanimity_consensus", max_turns=1)

    a1, a2, a3 = result.messages
    assert a2.receivers == ["A3"] and a3.visible_message_ids == [a2.index]  # A3 never saw A1
    assert a2.stance is Stance.AGREE and a2.answer is None and a2.solution is None
    assert a2.agreed_with == "B" and a2.agreed_solution == "B) Paris"
    assert a3.agreed_with == "B" and a3.agreed_solution == "B) Paris"
    assert a1.agreed_with is None and a1.agreed_solution is None

    prompts = {r.agent: r.prompt for r in model.requests}
    assert "Current Solution: B) Paris" in prompts["A3"]
    assert "none yet" not in prompts["A3"]
    assert result.stop_reason == "consensus" and result.answer == "B"
    assert result.decisions[-1].reason == "3 of 3 voters support B"


def test_relay_shows_the_agreed_solution_even_to_a_reader_with_its_own() -> None:
    # Turn 1: A1 proposes B (to A2); A2 replaces it with C (to A3); A3 agrees with C, bare (to
    # A1). A1 never saw C. DESIGN.md 3: the solution a bare agreement agreed with "is what the
    # next speaker is shown as current": A1 should be shown C, not its own B.
    def script(request: ScriptedRequest) -> str:
        if request.context.turn == 1 and request.agent == "A1":
            return f"I think Paris.\nFinal Solution: {solution_of('B')}"
        if request.context.turn == 1 and request.agent == "A2":
            return f"[DISAGREE] It is Berlin.\nFinal Solution: {solution_of('C')}"
        return "[AGREE] Looks right to me."

    model = ScriptedModel(script, record_prompts=True)
    result = run(model, agents=3, paradigm="relay", protocol="unanimity_consensus", max_turns=2)
    a3_turn1 = result.messages[2]
    assert a3_turn1.agreed_with == "C" and a3_turn1.receivers == ["A1"]
    a1_turn2 = next(r for r in model.requests if r.agent == "A1" and r.context.turn == 2)
    assert "Current Solution: C) Berlin" in a1_turn2.prompt


# -- 4. a proposer whose later reply is unreadable no longer supports its proposal ---------------


def test_an_unreadable_proposer_is_counted_nowhere_by_consensus_and_fallback_alike() -> None:
    # Turn 1: A1 proposes B, A2 agrees, A3 disagrees without a solution. Turn 2: A1's reply is
    # unreadable, A2 agrees again, A3 disagrees again. Decisions only at the end of turn 2.
    # Were the proposer still counted, B would have 2 of 3: a majority, decided. It is not:
    # consensus and the max-turns fallback both count 1 of 3.
    def script(request: ScriptedRequest) -> str:
        if request.agent == "A1":
            if request.context.turn == 1:
                return f"Paris.\nFinal Solution: {solution_of('B')}"
            return "Hmm, I need to think about this more."
        if request.agent == "A2":
            return "[AGREE] Yes, Paris."
        return "[DISAGREE] I am not convinced by any of this."

    result = run(
        ScriptedModel(script, record_prompts=True),
        agents=3,
        protocol="majority_consensus",
        min_turns=2,
        max_turns=2,
    )
    a1_late = result.messages[3]
    assert (a1_late.turn, a1_late.speaker) == (2, "A1")
    assert not a1_late.readable and a1_late.stance is Stance.UNREADABLE

    assert result.stop_reason == "max_turns" and not result.decided
    consensus, final = result.decisions[-2], result.decisions[-1]
    assert consensus.reason == "only 1 of 3 voters support B"
    assert consensus.tally == {"B": 1.0}
    assert final.reason == (
        "max turns reached without a decision; fell back to the most held answer (1 of 3 voters)"
    )
    assert final.tally == {"B": 1.0}
    assert result.answer == "B" and result.solution == "B) Paris"
    assert result.stop_detail == f"{final.reason} (last decision point: {consensus.reason})"

    state = track_support(result.messages, ("A1", "A2", "A3"))
    assert state.proposer == "A1" and state.current_answer == "B"
    assert state.supporters == {"A2"}
    assert state.latest_answer == {"A2": "B"}


def test_an_unreadable_proposer_holds_no_candidate_for_a_vote() -> None:
    # A1 proposes B in turn 1; in turn 2 (the first vote) both replies are unreadable. Were A1
    # still holding B, B would be the only candidate and win without a ballot. No voter holds
    # a position: no vote, and the fallback takes the current solution, undecided.
    def script(request: ScriptedRequest) -> str:
        if request.agent == "A1" and request.context.turn == 1:
            return f"Paris.\nFinal Solution: {solution_of('B')}"
        return "Hmm, I need to think about this more."

    model = ScriptedModel(script, record_prompts=True)
    result = run(model, protocol="simple_voting", protocol_options={"vote_from_turn": 2})
    assert result.stop_reason == "max_turns" and not result.decided
    vote, final = result.decisions[-2], result.decisions[-1]
    assert vote.turn == 2 and vote.reason == "no voter holds a readable solution to vote on"
    assert result.answer == "B" and result.solution == "B) Paris"
    assert "no voter held a readable answer, fell back to the current solution" in final.reason
    assert "ballot" not in roles(model)


# -- 5. what a message records -------------------------------------------------------------------


class CutModel(ScriptedModel):
    """A scripted model whose replies for the slots in `cut` stop at max_tokens."""

    def __init__(self, script: Any, cut: set[tuple[str, str]]):
        super().__init__(script, record_prompts=True)
        self.cut = cut  # (agent, role) pairs

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        output = await super().generate(messages, config, context)
        request = self.requests[-1]
        if (request.agent, request.role) in self.cut:
            output.finish_reason = "length"
        return output


def test_a_reply_cut_at_max_tokens_is_recorded() -> None:
    replies = {
        "A1": [f"Paris, since\nFinal Solution: {solution_of('B')}"],
        "A2": [f"[AGREE] Yes.\nFinal Solution: {solution_of('B')}"],
    }
    model = CutModel(replies, cut={("A1", "discussion")})
    result = run(model, max_turns=1)

    a1, a2 = result.messages
    assert a1.finish_reason == "length" and a1.cut is True
    assert a2.finish_reason == "stop" and a2.cut is False
    assert [c.finish_reason for c in result.calls] == ["length", "stop"]
    # Cut is not unreadable: the answer was read.
    assert a1.readable and a1.answer == "B"


def test_a_cut_agreement_call_marks_the_splitfreetext_message_cut() -> None:
    # splitfreetext asks A2 for its stance first, then its revision: the first call was cut.
    def script(request: ScriptedRequest) -> str:
        if request.agent == "A1":
            return f"Rome.\nFinal Solution: {solution_of('A')}"
        if request.role == "agreement":
            return "[DISAGREE] Rome is not the capital of France, because"
        return f"Final Solution: {solution_of('B')}"

    model = CutModel(script, cut={("A2", "agreement")})
    result = run(model, style="splitfreetext", max_turns=1)
    a2 = result.messages[1]
    assert [(r.agent, r.role) for r in model.requests][1:] == [
        ("A2", "agreement"),
        ("A2", "discussion"),
    ]
    assert a2.stance is Stance.DISAGREE and a2.answer == "B"
    assert a2.finish_reason == "length" and a2.cut


def test_an_unreadable_reply_records_its_problems() -> None:
    model = ScriptedModel(
        {"A1": ["I need more time to think."], "A2": ["Not sure yet."]}, record_prompts=True
    )
    result = run(model, max_turns=1)
    first = result.messages[0]
    assert first.readable is False
    assert first.problems and all(isinstance(p, str) and p for p in first.problems)
    assert first.answer is None and first.solution is None and first.read_by is None
    assert first.finish_reason == "stop" and not first.cut
    assert any("unreadable" in w and "; ".join(first.problems) in w for w in result.warnings)


def test_a_readable_reply_has_no_problems() -> None:
    replies = {
        "A1": [f"Paris.\nFinal Solution: {solution_of('B')}"],
        "A2": [f"[AGREE] Yes.\nFinal Solution: {solution_of('B')}"],
    }
    result = run(ScriptedModel(replies, record_prompts=True), max_turns=1)
    for m in result.messages:
        assert m.readable and m.problems == []
        assert m.finish_reason == "stop" and not m.cut and not m.looped


def test_a_json_reply_is_recorded_as_read_by_json() -> None:
    def script(request: ScriptedRequest) -> str:
        assert request.config.json_schema is not None  # asked as structured output
        if request.agent == "A1":
            return json.dumps({"reasoning": "Paris is the capital.", "answer": "B"})
        return json.dumps({"reasoning": "Agreed.", "stance": "agree", "answer": "B"})

    result = run(ScriptedModel(script, record_prompts=True), reply_format="json", max_turns=1)
    a1, a2 = result.messages
    assert a1.read_by == "json" and a1.answer == "B" and a1.solution == "B) Paris"
    assert a1.readable and a1.problems == []
    assert a2.read_by == "json" and a2.stance is Stance.AGREE
    assert result.stop_reason == "consensus" and result.answer == "B"
