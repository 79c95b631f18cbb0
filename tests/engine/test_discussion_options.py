"""Discussion options end to end on the scripted model: the judge protocol, the drift-watching
judge, the post-discussion challenge, All-Agents Drafting, blind turns and the baselines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections import Counter
from typing import Any

import pytest

import madebate as mb
from madebate import ScriptedModel, ScriptedRequest

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]
HELD = {"A1": "A", "A2": "B", "A3": "C"}  # each panelist's stubborn answer


def option(letter: str) -> str:
    return f"{letter}) {OPTIONS[ord(letter) - 65]}"


def stubborn_reply(req: ScriptedRequest, letter: str, note: str = "") -> str:
    """A draft when nothing was proposed yet, otherwise a disagreement with `letter`."""
    tag = "" if "Current Solution: none yet" in req.prompt else "[DISAGREE] "
    return f"{tag}{req.agent} holds {letter}{note}.\nFinal Solution: {option(letter)}"


_CANDIDATE = re.compile(r"^Solution (\d+):\n(.+)$", re.M)


def judge_labels(prompt: str) -> dict[str, str]:
    """Answer letter -> the neutral label the judge prompt shows it under."""
    return {text.strip()[0]: label for label, text in _CANDIDATE.findall(prompt)}


def roles(result: mb.DiscussionResult) -> list[str]:
    return [c.role for c in result.calls]


# -- 1. the judge protocol -----------------------------------------------------------------


def judged_panel(verdict):
    """Panelists hold A, B, C; the judge's reply comes from `verdict(request)`."""

    def script(req: ScriptedRequest) -> str:
        if req.role == "judge":
            assert req.agent == "J"
            return verdict(req)
        return stubborn_reply(req, HELD[req.agent])

    return script


@pytest.mark.parametrize("pick", ["A", "B", "C"])
def test_judge_picks_a_candidate_by_label(pick: str):
    def verdict(req: ScriptedRequest) -> str:
        return json.dumps({"choice": judge_labels(req.prompt)[pick]})

    model = ScriptedModel(judged_panel(verdict), record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, protocol="judge")
    assert result.stop_reason == "judge" and result.decided
    assert result.answer == pick and result.solution == option(pick)
    assert result.turns == 1
    assert roles(result) == ["discussion"] * 3 + ["judge"]
    judge_call = result.calls[-1]
    assert judge_call.agent == "J" and judge_call.model == "scripted"
    (judge_request,) = [r for r in model.requests if r.role == "judge"]
    labels = judge_labels(judge_request.prompt)
    assert set(labels) == {"A", "B", "C"}  # every voter's position is a candidate
    schema = judge_request.config.json_schema
    assert schema is not None
    assert sorted(schema["properties"]["choice"]["enum"]) == sorted([*labels.values(), "new"])
    decision = result.decisions[-1]
    (ballot,) = decision.ballots
    assert ballot.voter == "J" and ballot.counted and ballot.value == labels[pick]
    assert ballot.reasks == 0
    agents = {a.slot: a for a in result.agents}
    assert set(agents) == {"A1", "A2", "A3", "J"}
    assert agents["J"].voter is False
    assert all(agents[s].voter for s in ("A1", "A2", "A3"))
    assert "J" in result.usage_by_agent


def test_judge_writes_its_own_answer():
    model = ScriptedModel(
        judged_panel(lambda req: '{"choice": "new", "answer": "D) Madrid"}'), record_prompts=True
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, protocol="judge")
    assert result.stop_reason == "judge" and result.decided
    assert result.answer == "D" and result.solution == "D) Madrid"
    assert "wrote D" in result.stop_detail


def test_judge_that_may_not_write_is_reasked_then_lost_and_the_discussion_goes_on():
    model = ScriptedModel(
        judged_panel(lambda req: '{"choice": "new", "answer": "D) Madrid"}'), record_prompts=True
    )
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=3,
        max_turns=2,
        protocol="judge",
        protocol_options={"may_write": False},
    )
    assert not result.decided and result.stop_reason in ("max_turns", "max_turns_tie")
    assert result.answer != "D"
    assert result.turns == 2 and [m.turn for m in result.messages] == [1, 1, 1, 2, 2, 2]
    # Default max_reasks=2: three judge calls per turn, every verdict lost.
    assert roles(result) == (["discussion"] * 3 + ["judge"] * 3) * 2
    judged = [d for d in result.decisions if d.ballots]
    assert len(judged) == 2
    for decision in judged:
        assert not decision.decided
        (ballot,) = decision.ballots
        assert not ballot.counted and ballot.reasks == 2 and "new" in (ballot.problem or "")
    first = next(r for r in model.requests if r.role == "judge")
    schema = first.config.json_schema
    assert schema is not None
    assert "new" not in schema["properties"]["choice"]["enum"]
    assert "answer" not in schema["properties"]
    assert '"new"' not in first.prompt


@pytest.mark.parametrize("max_reasks", [0, 1, 3])
def test_unreadable_verdict_is_reasked_at_most_max_reasks_times(max_reasks: int):
    model = ScriptedModel(judged_panel(lambda req: "I really cannot decide."), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=3,
        max_turns=1,
        protocol="judge",
        protocol_options={"max_reasks": max_reasks},
    )
    judge_requests = [r for r in model.requests if r.role == "judge"]
    assert len(judge_requests) == max_reasks + 1
    for later in judge_requests[1:]:
        assert "could not be read" in later.prompt  # the re-ask says why
    assert not result.decided and result.stop_reason != "judge"
    (ballot,) = next(d for d in result.decisions if d.ballots).ballots
    assert ballot.reasks == max_reasks and not ballot.counted


def test_a_reasked_judge_that_then_answers_decides():
    def verdict(req: ScriptedRequest) -> str:
        if "could not be read" not in req.prompt:
            return "Hmm, they all look plausible."
        return json.dumps({"choice": judge_labels(req.messages[1].content)["B"]})

    model = ScriptedModel(judged_panel(verdict), record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, max_turns=1, protocol="judge")
    assert result.stop_reason == "judge" and result.answer == "B"
    assert roles(result).count("judge") == 2
    (ballot,) = result.decisions[-1].ballots
    assert ballot.reasks == 1 and ballot.counted


def test_judge_model_given_as_an_id_answers_judge_calls_and_is_closed():
    panel = ScriptedModel(
        judged_panel(lambda req: pytest.fail("the panel model was asked")), record_prompts=True
    )
    panel.model_id = "panel"
    discussion = mb.Discussion(
        "Q?",
        options=OPTIONS,
        model=panel,
        agents=3,
        protocol="judge",
        protocol_options={"model": "scripted"},
    )
    judge_model = discussion.protocol.model  # type: ignore[attr-defined]
    assert judge_model is not None
    judge_provider = judge_model.provider
    assert isinstance(judge_provider, ScriptedModel) and judge_provider is not panel
    closed: list[bool] = []

    async def close() -> None:
        closed.append(True)

    judge_provider.aclose = close  # type: ignore[method-assign]
    judge_provider.record_prompts = True  # built from an id: asked to keep its prompts here
    result = discussion.run()
    assert result.stop_reason == "judge" and result.decided
    assert closed == [True]
    judge_calls = [c for c in result.calls if c.role == "judge"]
    assert judge_calls and all(c.model == "scripted" and c.agent == "J" for c in judge_calls)
    assert all(c.model == "panel" for c in result.calls if c.role != "judge")
    assert all(r.role != "judge" for r in panel.requests)
    assert [r.role for r in judge_provider.requests] == ["judge"]
    # The default script backs the first label: the answer is that candidate's.
    labels = judge_labels(judge_provider.requests[0].prompt)
    assert labels[result.answer or ""] == "1"


def test_judge_under_debate_rules_once_per_turn():
    verdicts = iter(["No idea yet.", None])

    def verdict(req: ScriptedRequest) -> str:
        text = next(verdicts)
        return text if text is not None else json.dumps({"choice": judge_labels(req.prompt)["C"]})

    model = ScriptedModel(judged_panel(verdict), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=3,
        paradigm="debate",
        max_turns=3,
        protocol="judge",
        protocol_options={"max_reasks": 0},
    )
    assert result.stop_reason == "judge" and result.answer == "C" and result.turns == 2
    # Debate: the lead drafts, then two sub-rounds over A2, A3; the judge rules at turn end.
    assert roles(result) == (["discussion"] * 5 + ["judge"]) * 2
    assert [m.speaker for m in result.messages if m.turn == 1] == ["A1", "A2", "A3", "A2", "A3"]
    assert {a.slot: a.voter for a in result.agents}["J"] is False


# -- 2. the drift-watching judge -------------------------------------------------------------


def drifting(judge_replies, answers=None):
    """Two panelists whose answers never meet; the current answer alternates B, D, B, D ...
    per turn unless `answers(agent, turn)` says otherwise. Every reply is unique (its call
    index), so a discarded message can be told from its replay."""
    replies = iter(judge_replies)

    def script(req: ScriptedRequest) -> str:
        if req.role == "judge":
            return next(replies)
        t = req.context.turn
        if answers is not None:
            letter = answers(req.agent, t)
        else:
            letter = "ABCD"[(2 * t - 2 + (req.agent == "A2")) % 4]
        return stubborn_reply(req, letter, f" (call {req.index})")

    return script


def discussion_prompts(model: ScriptedModel, turn: int) -> list[ScriptedRequest]:
    return [r for r in model.requests if r.role == "discussion" and r.context.turn == turn]


def test_drift_guidance_is_delivered_to_everyone_and_shown_next_turn():
    guidance = "Stay on the capital question."
    model = ScriptedModel(drifting([f"[[B]] {guidance}"] * 5), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=2,
        max_turns=4,
        drift_judge={"action": "guide", "max_interventions": 2},
    )
    assert result.stop_reason == "max_turns" and result.turns == 4
    notes = [m for m in result.messages if m.speaker == "J"]
    assert [m.turn for m in notes] == [2, 3]
    for note in notes:
        assert note.text == guidance and sorted(note.receivers) == ["A1", "A2"]
        assert note.stance is mb.Stance.NONE and note.answer is None
    assert [(i.turn, i.previous_answer, i.new_answer) for i in result.interventions] == [
        (2, "B", "D"),
        (3, "D", "B"),
    ]
    assert all(i.drifted and i.action == "guide" for i in result.interventions)
    assert all(i.guidance == guidance for i in result.interventions)
    # Guidance reaches every agent's prompt from the next turn on, never before.
    for turn, expected in ((2, False), (3, True), (4, True)):
        prompts = discussion_prompts(model, turn)
        assert len(prompts) == 2
        assert all((f"J: {guidance}" in r.prompt) is expected for r in prompts)
    # Nothing is discarded under guide: every discussion call is in the transcript.
    assert sum(m.speaker != "J" for m in result.messages) == roles(result).count("discussion")
    assert roles(result).count("judge") == 2
    assert {a.slot: a.voter for a in result.agents}["J"] is False


def test_drift_judge_is_only_consulted_when_the_answer_changed():
    # Current answer after each turn: B, B, C, C, C. Only turn 3 changed it.
    model = ScriptedModel(
        drifting(
            ["[[A]] On track."],
            answers=lambda agent, t: "A" if agent == "A1" else ("B" if t < 3 else "C"),
        ),
        record_prompts=True,
    )
    result = mb.discuss(
        "Q?", options=OPTIONS, model=model, agents=2, max_turns=5, drift_judge={"action": "guide"}
    )
    assert result.turns == 5
    assert roles(result).count("judge") == 1
    assert [(i.turn, i.previous_answer, i.new_answer) for i in result.interventions] == [
        (3, "B", "C")
    ]
    judge_request = next(r for r in model.requests if r.role == "judge")
    assert judge_request.context.turn == 3


def test_drift_judge_saying_on_track_changes_nothing():
    model = ScriptedModel(drifting(["[[A]] All fine, keep going."] * 5), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=2,
        max_turns=4,
        drift_judge={"action": "redo", "max_interventions": 1},
    )
    plain = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(drifting([]), record_prompts=True),
        agents=2,
        max_turns=4,
    )
    assert all(m.speaker != "J" for m in result.messages)
    strip = re.compile(r" \(call \d+\)")
    assert [(m.turn, m.speaker, strip.sub("", m.text)) for m in result.messages] == [
        (m.turn, m.speaker, strip.sub("", m.text)) for m in plain.messages
    ]
    # Checked after turns 2 and 3 (never after the first or the last turn), no action taken.
    assert [(i.turn, i.drifted, i.action) for i in result.interventions] == [
        (2, False, "none"),
        (3, False, "none"),
    ]
    assert roles(result).count("judge") == 2


def test_drift_interventions_are_bounded_by_max_interventions():
    replies = ["[[A]] Fine.", "[[B]] Refocus one.", "[[B]] Refocus two.", "[[B]] Too many."]
    model = ScriptedModel(drifting(replies), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=2,
        max_turns=7,
        drift_judge={"action": "guide", "max_interventions": 2},
    )
    # A check that finds no drift does not count against the bound; actions do.
    assert [(i.turn, i.action) for i in result.interventions] == [
        (2, "none"),
        (3, "guide"),
        (4, "guide"),
    ]
    assert roles(result).count("judge") == 3
    assert [m.text for m in result.messages if m.speaker == "J"] == ["Refocus one.", "Refocus two."]
    assert result.turns == 7


def test_drift_redo_discards_the_turn_and_plays_it_again():
    guidance = "Go back to the question."
    model = ScriptedModel(drifting([f"[[B]] {guidance}"] * 5), record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=2,
        max_turns=3,
        drift_judge={"action": "redo", "max_interventions": 1},
    )
    assert result.turns == 3
    assert [(m.turn, m.speaker) for m in result.messages] == [
        (1, "A1"),
        (1, "A2"),
        (2, "J"),
        (2, "A1"),
        (2, "A2"),
        (3, "A1"),
        (3, "A2"),
    ]
    assert [m.index for m in result.messages] == list(range(len(result.messages)))
    assert result.messages[2].text == guidance
    # Turn 2 was played twice: 2 + 2 + 2 + 2 discussion calls, one judge call.
    assert roles(result).count("discussion") == 8 and roles(result).count("judge") == 1
    turn2 = discussion_prompts(model, 2)
    assert len(turn2) == 4
    discarded = [f"(call {r.index})" for r in turn2[:2]]
    texts = " ".join(m.text for m in result.messages)
    assert not any(tag in texts for tag in discarded)
    # The replay and everything after it see the guidance and none of the discarded messages.
    later = [r for r in model.requests if r.role == "discussion" and r.index > turn2[1].index]
    assert len(later) == 4
    for request in later:
        assert f"J: {guidance}" in request.prompt
        assert not any(tag in request.prompt for tag in discarded)
    for m in result.messages:
        assert all(i < m.index for i in m.visible_message_ids)
    assert [(i.turn, i.action, i.drifted) for i in result.interventions] == [(2, "redo", True)]


def test_drift_judge_model_given_as_an_id_is_used_and_closed(model_seam: Any):
    closed: list[ScriptedModel] = []

    class Closing(ScriptedModel):
        async def aclose(self) -> None:
            closed.append(self)

    judge = model_seam.use(lambda model_id, options: Closing(model_id=model_id))
    panel = Closing(drifting([]), model_id="panel")
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=panel,
        agents=2,
        max_turns=3,
        drift_judge={"model": judge, "action": "guide"},
    )
    assert model_seam.made == [judge]
    judge_calls = [c for c in result.calls if c.role == "judge"]
    assert len(judge_calls) == 1 and judge_calls[0].model == judge
    assert all(c.model == "panel" for c in result.calls if c.role != "judge")
    assert len(result.interventions) == 1
    # The judge's own model is closed; the panel's, passed in by the caller, is not.
    assert len(closed) == 1 and closed[0] is not panel and closed[0].model_id == judge


# -- 3. the challenge ---------------------------------------------------------------------


def agreeing_panel(challenges: dict[str, str], *, letter: str = "B"):
    """The panel settles on `letter` by consensus; each voter's challenge reply is given."""

    def script(req: ScriptedRequest) -> str:
        if req.role == "challenge":
            return challenges[req.agent or ""]
        if "Current Solution: none yet" in req.prompt:
            return f"Proposal.\nFinal Solution: {option(letter)}"
        return f"[AGREE] Fine.\nFinal Solution: {option(letter)}"

    return script


def test_challenge_everyone_agrees_keeps_the_answer():
    model = ScriptedModel(
        agreeing_panel({"A1": "AGREE", "A2": "AGREE", "A3": "AGREE"}), record_prompts=True
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, challenge=True)
    assert result.stop_reason == "consensus" and result.answer == "B" and result.decided
    challenge = result.challenge
    assert challenge is not None and not challenge.overturned
    assert challenge.original_answer == challenge.final_answer == "B"
    assert challenge.changed_by == []
    assert all(r.kept for r in challenge.responses)
    calls = [c for c in result.calls if c.role == "challenge"]
    assert sorted(c.agent or "" for c in calls) == ["A1", "A2", "A3"]
    assert roles(result)[-3:] == ["challenge"] * 3  # after the decision
    assert all(option("B") in r.prompt for r in model.requests if r.role == "challenge")
    assert "overturned" not in result.stop_detail


def test_challenge_majority_with_one_alternative_overturns():
    model = ScriptedModel(
        agreeing_panel(
            {
                "A1": "DISAGREE. It is Madrid.\nFinal Solution: D) Madrid",
                "A2": "DISAGREE, Madrid.\nFinal Solution: D",
                "A3": "AGREE",
            }
        ),
        record_prompts=True,
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, challenge=True)
    assert result.answer == "D" and result.solution == "D) Madrid"
    assert result.stop_reason == "consensus"
    challenge = result.challenge
    assert challenge is not None and challenge.overturned
    assert (challenge.original_answer, challenge.final_answer) == ("B", "D")
    assert sorted(challenge.changed_by) == ["A1", "A2"]
    assert "overturned by the challenge to D" in result.stop_detail
    assert result.decisions[-1].protocol == "challenge" and result.decisions[-1].answer == "D"


@pytest.mark.parametrize(
    ("replies", "changed", "kept", "readable"),
    [
        # a minority replaces the answer
        (
            {"A1": "DISAGREE\nFinal Solution: D", "A2": "AGREE", "A3": "AGREE"},
            ["A1"],
            [False, True, True],
            [True, True, True],
        ),
        # a majority replaces it, but with no unique most-proposed alternative
        (
            {
                "A1": "DISAGREE\nFinal Solution: D",
                "A2": "DISAGREE\nFinal Solution: C",
                "A3": "AGREE",
            },
            ["A1", "A2"],
            [False, False, True],
            [True, True, True],
        ),
        # disagreeing but restating the same answer keeps it
        (
            {
                "A1": "DISAGREE\nFinal Solution: B",
                "A2": "DISAGREE\nFinal Solution: B",
                "A3": "AGREE",
            },
            [],
            [True, True, True],
            [True, True, True],
        ),
        # disagreeing without a readable alternative replaces nothing
        (
            {"A1": "DISAGREE, no idea.", "A2": "DISAGREE!", "A3": "AGREE"},
            [],
            [False, False, True],
            [False, False, True],
        ),
    ],
)
def test_challenge_without_a_clear_majority_does_not_overturn(replies, changed, kept, readable):
    model = ScriptedModel(agreeing_panel(replies), record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, challenge=True)
    assert result.answer == "B" and result.solution == option("B")
    challenge = result.challenge
    assert challenge is not None and not challenge.overturned
    assert challenge.final_answer == "B"
    assert sorted(challenge.changed_by) == changed
    responses = sorted(challenge.responses, key=lambda r: r.voter)
    assert [r.kept for r in responses] == kept
    assert [r.readable for r in responses] == readable
    assert "overturned" not in result.stop_detail
    assert all(d.protocol != "challenge" for d in result.decisions)


def test_challenge_asks_voters_only_never_the_drafter():
    def script(req: ScriptedRequest) -> str:
        if req.role == "challenge":
            return "AGREE"
        if req.agent == "D":
            return "Draft.\nFinal Solution: B) Paris"
        return "[AGREE] ok\nFinal Solution: B) Paris"

    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(script, record_prompts=True),
        agents=3,
        paradigm="debate",
        drafter=True,
        challenge=True,
    )
    assert result.challenge is not None
    asked = sorted(c.agent or "" for c in result.calls if c.role == "challenge")
    assert asked == ["A1", "A2", "A3"]


def test_no_challenge_after_an_error():
    def script(req: ScriptedRequest) -> str:
        if req.role == "challenge":
            return "DISAGREE\nFinal Solution: D"
        if req.context.turn == 2:
            raise mb.ModelCallError("backend down", retryable=False)
        return stubborn_reply(req, HELD[req.agent or ""])

    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(script, record_prompts=True),
        agents=3,
        max_turns=3,
        challenge=True,
    )
    assert result.stop_reason == "error" and result.error is not None
    assert result.challenge is None
    assert "challenge" not in roles(result)


def test_no_challenge_after_running_out_of_budget():
    model = ScriptedModel(
        agreeing_panel(dict.fromkeys(HELD, "DISAGREE\nFinal Solution: D")), record_prompts=True
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, max_calls=1, challenge=True)
    assert result.stop_reason == "budget"
    assert result.challenge is None and "challenge" not in roles(result)


def test_challenge_is_refused_for_a_baseline():
    # A challenge would add calls to a baseline and break its matched budget.
    with pytest.raises(mb.ConfigError, match=r"challenge.*single baseline"):
        mb.Discussion("Q?", options=OPTIONS, model="scripted", method="single", challenge=True)


# -- 4. All-Agents Drafting ------------------------------------------------------------------


async def test_all_agents_drafting_then_the_paradigms_own_schedule():
    in_flight: Counter[int] = Counter()
    peak: Counter[int] = Counter()

    all_drafting = asyncio.Event()  # set once the three first-turn calls overlap

    async def script(req: ScriptedRequest) -> str:
        turn = req.context.turn
        in_flight[turn] += 1
        peak[turn] = max(peak[turn], in_flight[turn])
        if peak[1] == 3:
            all_drafting.set()
        # Hold the call until all three drafts are in flight (a condition, not a sleep a busy
        # machine may outlast); if they never overlap, give up and let the peak show it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_drafting.wait(), timeout=10)
        in_flight[turn] -= 1
        return stubborn_reply(req, HELD[req.agent or ""])

    model = ScriptedModel(script, record_prompts=True)
    result = await mb.discuss_async(
        "Q?",
        options=OPTIONS,
        model=model,
        agents=3,
        paradigm="relay",
        all_agents_drafting=True,
        max_turns=2,
    )
    assert peak[1] == 3  # one concurrent step
    assert peak[2] == 1  # relay is sequential
    first = [m for m in result.messages if m.turn == 1]
    assert [(m.speaker, m.step) for m in first] == [("A1", 1), ("A2", 1), ("A3", 1)]
    for m in first:
        assert m.visible_message_ids == []
        assert sorted(m.receivers) == sorted({"A1", "A2", "A3"} - {m.speaker})
        assert m.stance is mb.Stance.NONE and m.answer == HELD[m.speaker]
    for request in discussion_prompts(model, 1):
        assert "Current Solution: none yet" in request.prompt
        assert "Discussion so far" not in request.prompt
    second = {m.speaker: m for m in result.messages if m.turn == 2}
    assert [(m.speaker, m.step) for m in second.values()] == [("A1", 1), ("A2", 2), ("A3", 3)]
    # Relay from turn 2: each message goes to the next agent in the ring.
    assert {s: m.receivers for s, m in second.items()} == {
        "A1": ["A2"],
        "A2": ["A3"],
        "A3": ["A1"],
    }
    ids = {s: m.index for s, m in second.items()}
    assert second["A1"].visible_message_ids == [0, 1, 2]
    assert second["A2"].visible_message_ids == [0, 1, 2, ids["A1"]]
    assert second["A3"].visible_message_ids == [0, 1, 2, ids["A2"]]


def test_relay_without_all_agents_drafting_is_sequential_from_turn_one():
    model = ScriptedModel(
        lambda req: stubborn_reply(req, HELD[req.agent or ""]), record_prompts=True
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, paradigm="relay", max_turns=1)
    assert [(m.speaker, m.step) for m in result.messages] == [("A1", 1), ("A2", 2), ("A3", 3)]
    assert result.messages[1].visible_message_ids == [0]


# -- 5. blind turns ----------------------------------------------------------------------------


def test_blind_turn_shows_only_the_agents_own_messages():
    model = ScriptedModel(
        lambda req: stubborn_reply(req, HELD[req.agent or ""], f" #{req.index}"),
        record_prompts=True,
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, max_turns=3, blind_turns=[2])
    assert result.turns == 3 and len(result.messages) == 9
    by_turn = {(m.turn, m.speaker): m for m in result.messages}  # memory: everyone hears everyone
    own_first = {s: by_turn[(1, s)].index for s in ("A1", "A2", "A3")}
    for s in ("A1", "A2", "A3"):
        assert by_turn[(2, s)].visible_message_ids == [own_first[s]]
    # Turn 2 prompts: the agent's own earlier reply and its own answer as the current one.
    for request in discussion_prompts(model, 2):
        mine = by_turn[(1, request.agent or "")]
        others = [m for m in result.messages if m.turn <= 2 and m.speaker != request.agent]
        assert mine.text in request.prompt
        assert not any(m.text in request.prompt for m in others)
        assert f"Current Solution: {option(HELD[request.agent or ''])}" in request.prompt
    # Turn 3: everything delivered is visible again, turn 2 included.
    for s in ("A1", "A2", "A3"):
        seen = by_turn[(3, s)].visible_message_ids
        assert set(range(6)) <= set(seen)
    for request in discussion_prompts(model, 3):
        assert all(m.text in request.prompt for m in result.messages if m.turn <= 2)


# -- 6. baselines ------------------------------------------------------------------------------


def test_single_baseline_makes_one_call_as_the_first_panelist():
    model = ScriptedModel(
        ["Step by step: it is Paris.\nFinal Solution: B) Paris"], record_prompts=True
    )
    result = mb.discuss(
        "Capital of France?", options=OPTIONS, model=model, agents=3, method="single"
    )
    assert len(model.requests) == 1 and len(result.calls) == 1
    assert result.stop_reason == "vote" and result.decided
    assert result.answer == "B" and result.solution == "B) Paris"
    assert [a.slot for a in result.agents] == ["A1"]
    persona = result.agents[0].persona_name
    assert persona in model.requests[0].messages[0].content  # A1's persona in the system prompt
    assert model.requests[0].agent == "A1"
    assert result.paradigm == result.protocol == "single"
    assert result.usage.calls == 1
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage_by_agent["A1"].calls == 1
    assert len(result.messages) == 1 and result.messages[0].speaker == "A1"


def test_single_baseline_with_an_unreadable_reply_is_not_decided():
    model = ScriptedModel(["Paris, I suppose."], record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, method="single")
    assert not result.decided and result.answer is None and result.stop_reason != "vote"
    assert any("unreadable" in w for w in result.warnings)


async def test_self_consistency_samples_concurrently_with_distinct_seeds():
    replies = ["B", "A", "B", "C", "B"]
    in_flight, peak = 0, 0

    all_sampling = asyncio.Event()  # set once the five samples overlap

    async def script(req: ScriptedRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if peak == 5:
            all_sampling.set()
        # Hold each sample until all five are in flight (a condition, not a sleep); if they
        # never overlap, give up after a generous wait and let the peak show it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_sampling.wait(), timeout=10)
        in_flight -= 1
        return f"Thinking.\nFinal Solution: {option(replies[req.index])}"

    model = ScriptedModel(script, record_prompts=True)
    result = await mb.discuss_async(
        "Q?", options=OPTIONS, model=model, agents=3, method="self_consistency", samples=5, seed=11
    )
    assert len(model.requests) == 5 and peak == 5
    seeds = [r.config.seed for r in model.requests]
    assert None not in seeds and len(set(seeds)) == 5
    assert all(r.agent == "A1" for r in model.requests)
    assert result.stop_reason == "vote" and result.decided and result.answer == "B"
    assert result.decisions[-1].tally == {"B": 3.0, "A": 1.0, "C": 1.0}
    assert result.paradigm == result.protocol == "self_consistency"
    assert [a.slot for a in result.agents] == ["A1"]
    assert result.usage.calls == 5


def test_self_consistency_raises_temperature_zero_with_a_warning():
    model = ScriptedModel(["Final Solution: B"] * 3, record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, method="self_consistency", samples=3)
    assert [r.config.temperature for r in model.requests] == [0.7] * 3
    assert any("temperature" in w for w in result.warnings)

    model = ScriptedModel(["Final Solution: B"] * 3, record_prompts=True)
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=model,
        method="self_consistency",
        samples=3,
        generation={"temperature": 0.9},
    )
    assert [r.config.temperature for r in model.requests] == [0.9] * 3
    assert not any("temperature" in w for w in result.warnings)


def _tied(seed: int | None) -> mb.DiscussionResult:
    replies = [
        "Final Solution: A",
        "Final Solution: B",
        "no answer here",
        "Final Solution: B",
        "Final Solution: A",
    ]
    return mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(lambda req: replies[req.index], record_prompts=True),
        agents=3,
        method="self_consistency",
        samples=5,
        seed=seed,
    )


def test_self_consistency_tie_is_a_seeded_pick_and_unreadable_samples_do_not_count():
    result = _tied(5)
    assert result.stop_reason == "max_turns_tie" and not result.decided
    assert result.answer in {"A", "B"}
    decision = result.decisions[-1]
    assert decision.tie and decision.tally == {"A": 2.0, "B": 2.0}
    assert [w for w in result.warnings if "unreadable" in w] == [
        "sample 3: unreadable reply (no 'Final Solution:' line)"
    ]
    assert result.usage.calls == 5
    # Stable across reruns with the same seed; a random pick across seeds.
    assert all(_tied(5).answer == result.answer for _ in range(3))
    picks = {_tied(seed).answer for seed in range(16)}
    assert picks == {"A", "B"}


def test_self_consistency_with_no_readable_sample_is_not_decided():
    model = ScriptedModel(["hmm"] * 3, record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, method="self_consistency", samples=3)
    assert not result.decided and result.answer is None
    assert sum("unreadable" in w for w in result.warnings) == 3
