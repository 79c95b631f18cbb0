"""The discussion engine end to end on the scripted model: styles, failures, budgets, results."""

from __future__ import annotations

import asyncio
import contextlib
import json

import pytest

import madebate as mb
from madebate import ScriptedModel, ScriptedRequest
from madebate._prompts import render

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]


def agree_or_propose(letter: str = "B"):
    """Proposes `letter` when no solution exists yet, otherwise agrees."""

    def script(req: ScriptedRequest) -> str:
        if req.role == "agreement":
            return "[AGREE] Looks right."
        if "Current Solution: none yet" in req.prompt:
            return (
                f"Reasoning of {req.agent}.\nFinal Solution: {letter}) {OPTIONS[ord(letter) - 65]}"
            )
        return f"[AGREE] {req.agent} agrees.\nFinal Solution: {letter}) {OPTIONS[ord(letter) - 65]}"

    return script


def test_three_agents_reach_consensus_with_full_result():
    model = ScriptedModel(agree_or_propose("B"), record_prompts=True)
    result = mb.discuss("Capital of France?", options=OPTIONS, model=model, agents=3)
    assert result.answer == "B"
    assert result.solution == "B) Paris"
    assert result.decided and result.stop_reason == "consensus"
    assert [m.speaker for m in result.messages] == ["A1", "A2"]
    assert result.messages[0].stance is mb.Stance.NONE
    assert result.messages[1].stance is mb.Stance.AGREE
    assert result.usage.calls == len(result.calls) == 2
    assert set(result.usage_by_agent) == {"A1", "A2"}
    assert result.usage.prompt_tokens == sum(c.prompt_tokens for c in result.calls) > 0
    assert all(c.role == "discussion" for c in result.calls)
    assert [a.slot for a in result.agents] == ["A1", "A2", "A3"]


def test_result_json_round_trips():
    result = mb.discuss(
        "Capital?",
        options=OPTIONS,
        model=ScriptedModel(agree_or_propose(), record_prompts=True),
        agents=3,
    )
    again = mb.DiscussionResult.from_json(result.to_json())
    assert again == result
    data = json.loads(result.to_json())
    assert data["stop_reason"] == "consensus" and data["usage"]["calls"] == 2


def test_max_turns_bounds_a_discussion_that_never_agrees():
    def stubborn(req: ScriptedRequest) -> str:
        letter = "A" if req.agent == "A1" else "C"
        tag = "" if "none yet" in req.prompt else "[DISAGREE] "
        return f"{tag}I insist.\nFinal Solution: {letter}"

    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(stubborn, record_prompts=True),
        agents=2,
        max_turns=3,
    )
    assert result.stop_reason == "max_turns" and not result.decided
    assert result.turns == 3 and len(result.messages) == 6
    assert result.answer in {"A", "C"}  # never empty


def test_unreadable_reply_is_recorded_not_guessed():
    replies = {"A1": ["I think it is Paris, obviously."] * 2, "A2": ["Maybe B?"] * 2}
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(replies, record_prompts=True),
        agents=2,
        max_turns=2,
    )
    first = result.messages[0]
    assert not first.readable and first.answer is None and first.solution is None
    assert any("unreadable" in w for w in result.warnings)
    assert result.answer is None and not result.decided
    assert result.stop_reason == "max_turns"


def test_a_model_that_always_fails_gives_an_error_result():
    def broken(req: ScriptedRequest) -> str:
        raise mb.ModelCallError("backend down (HTTP 503)", retryable=False, status=503)

    result = mb.discuss(
        "Q?", options=OPTIONS, model=ScriptedModel(broken, record_prompts=True), agents=3
    )
    assert result.stop_reason == "error" and not result.decided
    assert result.error is not None and "backend down" in result.error.message
    assert result.error.turn == 1 and result.error.step == 1
    assert result.calls and result.calls[0].error is not None


def test_an_error_mid_discussion_keeps_what_was_said():
    def flaky(req: ScriptedRequest) -> str:
        if req.index >= 3:
            raise RuntimeError("provider bug")
        tag = "" if "none yet" in req.prompt else "[DISAGREE] "
        return f"{tag}x\nFinal Solution: {'ABC'[req.index]}"

    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(flaky, record_prompts=True),
        agents=3,
        max_turns=3,
    )
    assert result.stop_reason == "error"
    assert len(result.messages) == 3 and result.error is not None
    assert result.error.turn == 2 and result.error.calls_made == 4
    assert result.answer in {"A", "B", "C"}


def test_call_budget_stops_with_budget():
    def stubborn(req: ScriptedRequest) -> str:
        return "[DISAGREE] no\nFinal Solution: " + "ABCD"[req.index % 4]

    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(stubborn, record_prompts=True),
        agents=3,
        max_turns=5,
        max_calls=4,
    )
    assert result.stop_reason == "budget" and "call limit of 4" in result.stop_detail
    assert len(result.calls) == 4


@pytest.mark.parametrize("style", mb.RESPONSE_STYLES)
@pytest.mark.parametrize("cot", [True, False])
def test_every_response_style_runs(style: str, cot: bool):
    model = ScriptedModel(agree_or_propose("C"), record_prompts=True)
    result = mb.discuss(
        "Q?", options=OPTIONS, model=model, agents=3, style=style, chain_of_thought=cot
    )
    assert result.answer == "C" and result.stop_reason == "consensus"
    prompt = model.requests[0].prompt
    assert ("step by step" in prompt) is cot
    if style == "critical":
        assert "critically" in model.requests[1].prompt


def test_splitfreetext_asks_for_agreement_separately():
    def script(req: ScriptedRequest) -> str:
        if req.role == "agreement":
            return "[DISAGREE] Rome is not right." if req.agent == "A2" else "[AGREE] fine"
        return "Final Solution: B) Paris" if req.agent == "A2" else "Final Solution: A) Rome"

    model = ScriptedModel(script, record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=3, style="splitfreetext")
    roles = [(r.agent, r.role) for r in model.requests]
    # A1 drafts (1 call); A2 disagrees (agreement call + revision call); A3 agrees (1 call).
    assert roles == [
        ("A1", "discussion"),
        ("A2", "agreement"),
        ("A2", "discussion"),
        ("A3", "agreement"),
    ]
    a2 = result.messages[1]
    assert a2.stance is mb.Stance.DISAGREE and a2.answer == "B"
    assert "Rome is not right" in a2.text
    # The revision call continues the agreement exchange, so it shares its prefix.
    assert model.requests[2].messages[:2] == model.requests[1].messages
    assert result.messages[2].stance is mb.Stance.AGREE
    assert result.answer == "B" and result.stop_reason == "consensus"


def test_reasoning_style_hides_the_final_line_from_others():
    model = ScriptedModel(
        lambda r: (
            "Because 1+1=2.\nFinal Solution: B"
            if r.agent == "A1"
            else "[AGREE] ok\nFinal Solution: B"
        ),
        record_prompts=True,
    )
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=2, style="reasoning")
    first = result.messages[0]
    assert first.text == "Because 1+1=2." and "Final Solution" in first.raw
    assert first.answer == "B"
    seen_by_a2 = model.requests[1].prompt
    assert (
        "Because 1+1=2." in seen_by_a2
        and "Final Solution: B" not in seen_by_a2.split("Current Solution")[0]
    )


def test_extraction_is_off_by_default_and_an_option():
    replies = ["The answer is Paris or Rome, I am not sure.", "[AGREE] yes"]
    model = ScriptedModel(replies, record_prompts=True)
    result = mb.discuss("Q?", options=OPTIONS, model=model, agents=2, max_turns=1)
    assert len(model.requests) == 2 and result.messages[0].answer is None

    def script(req: ScriptedRequest) -> str:
        if req.role == "extraction":
            return "B) Paris"
        return "The answer is Paris or Rome, I am not sure." if req.agent == "A1" else "[AGREE] yes"

    model = ScriptedModel(script, record_prompts=True)
    result = mb.discuss(
        "Q?", options=OPTIONS, model=model, agents=2, max_turns=1, extraction="on_failure"
    )
    assert [r.role for r in model.requests] == ["discussion", "extraction", "discussion"]
    assert result.messages[0].answer == "B" and result.answer == "B" and result.decided
    assert [c.role for c in result.calls].count("extraction") == 1


async def test_agents_in_a_concurrent_step_are_called_concurrently():
    in_flight, peak = 0, 0
    all_in = asyncio.Event()  # set once the four calls of a step overlap

    async def slow(req: ScriptedRequest) -> str:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        if peak == 4:
            all_in.set()
        # Hold the call until all four are in flight (a condition, not a sleep a busy machine
        # may outlast); if they never overlap, give up after a generous wait: peak shows it.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(all_in.wait(), timeout=10)
        in_flight -= 1
        return "[DISAGREE] x\nFinal Solution: " + "ABCD"[req.index % 4]

    result = await mb.discuss_async(
        "Q?",
        options=OPTIONS,
        model=ScriptedModel(slow, record_prompts=True),
        agents=4,
        paradigm="collective_refinement",
        max_turns=2,
    )
    assert peak == 4
    assert len(result.messages) == 8


async def test_sync_facade_works_inside_a_running_loop():
    # As in a notebook: run() called while an event loop is running.
    result = mb.Discussion("Q?", options=OPTIONS, model="scripted", agents=3).run()
    assert result.decided


def test_seeded_runs_repeat_their_per_call_seeds():
    def run() -> list[int | None]:
        model = ScriptedModel(agree_or_propose(), record_prompts=True)
        mb.discuss("Q?", options=OPTIONS, model=model, agents=3, seed=7)
        return [r.config.seed for r in model.requests]

    first, second = run(), run()
    assert first == second and all(s is not None for s in first) and len(set(first)) == len(first)


def test_template_syntax_in_task_and_replies_is_carried_as_text():
    model = ScriptedModel(
        ["{{ 7*7 }} {% if x %}\nFinal Solution: A", "[AGREE] {{ config }}"], record_prompts=True
    )
    result = mb.discuss("What is {{ 7*7 }}?", options=["{{ 49 }}", "48"], model=model, agents=2)
    assert "What is {{ 7*7 }}?" in model.requests[0].prompt
    assert "A) {{ 49 }}" in model.requests[0].prompt
    assert "{{ 7*7 }} {% if x %}" in model.requests[1].prompt
    assert result.answer == "A"


def test_templates_are_strict():
    from jinja2 import UndefinedError

    with pytest.raises(UndefinedError):
        render("discussion", task="t")


def test_bad_settings_fail_with_the_field_named():
    with pytest.raises(mb.ConfigError, match="max_turns"):
        mb.Discussion("Q?", model="scripted", max_turns=0)
    with pytest.raises(
        mb.ConfigError, match=r"unknown decision protocol 'nope'; valid: .*majority_consensus"
    ):
        mb.Discussion("Q?", model="scripted", protocol="nope")
    with pytest.raises(mb.ConfigError, match="style"):
        mb.Discussion("Q?", model="scripted", style="poetic")
    with pytest.raises(mb.ConfigError, match="unknown model provider 'gpt'"):
        mb.Discussion("Q?", model="gpt/4")
    with pytest.raises(mb.ConfigError, match="options"):
        mb.Discussion("Q?", options=["only one"], model="scripted")
    with pytest.raises(mb.ConfigError, match="drafter"):
        mb.Discussion("Q?", model="scripted", paradigm="memory", drafter=True)


def test_free_text_task():
    model = ScriptedModel(
        [
            "Final Solution: The sky scatters blue light.",
            "[AGREE]\nFinal Solution: the sky scatters blue light",
        ],
        record_prompts=True,
    )
    result = mb.discuss("Why is the sky blue?", model=model, agents=2)
    assert result.decided and result.answer == "the sky scatters blue light"
