"""Context limits (issue 7.6): a prompt over the model's context is never sent. The memory an
agent sees shrinks, or the discussion stops with reason `budget`; a run whose examples cannot
fit at all fails before any model call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import madebate as mb
from madebate import ScriptedModel, ScriptedRequest
from madebate._errors import ConfigError, ContextOverflow
from madebate.models._model import ChatMessage, GenerateConfig
from madebate.models._model_managed import ManagedModel

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]
PADDING = " ".join(["word"] * 60)  # each reply is about 65 words: the scripted model's tokens


def _long_disagreeing(request: ScriptedRequest) -> str:
    letter = "ABCD"[request.index % 4]
    return f"[DISAGREE] {PADDING}\nFinal Solution: {letter}"


def _prompt_words(request: ScriptedRequest) -> int:
    return sum(len(m.content.split()) for m in request.messages)


async def test_an_oversized_prompt_is_refused_before_the_call() -> None:
    scripted = ScriptedModel(["never sent"], context_window=50, record_prompts=True)
    model = ManagedModel(scripted)
    config = GenerateConfig(max_tokens=20)
    small = [ChatMessage(role="user", content="one two three")]
    big = [ChatMessage(role="user", content=" ".join(["w"] * 40))]
    assert await model.fits(small, config)
    assert not await model.fits(big, config)
    with pytest.raises(ContextOverflow, match=r"about 60 tokens .* context window of 50"):
        await model.generate(big, config, role="discussion", agent="A1")
    assert scripted.requests == []  # nothing reached the model


async def test_a_configured_window_overrides_an_unknown_one() -> None:
    # A remote endpoint reports no window: the spec's context_window is used, with the
    # conservative estimate (3 characters a token).
    model = ManagedModel(ScriptedModel(record_prompts=True), context_window=100)
    assert await model.context_window() == 100
    plain = ManagedModel(ScriptedModel(record_prompts=True))
    assert await plain.context_window() is None
    assert await plain.fits([ChatMessage(role="user", content="x" * 10_000)], GenerateConfig())


async def test_memory_shrinks_to_fit_and_the_discussion_goes_on() -> None:
    window = 700
    model = ScriptedModel(_long_disagreeing, context_window=window, record_prompts=True)
    result = await mb.discuss_async(
        "Capital of Italy?",
        options=OPTIONS,
        model=model,
        agents=3,
        paradigm="memory",
        personas="none",
        max_turns=4,
        generation={"max_tokens": 50},
    )
    assert result.stop_reason == "max_turns"  # never a budget stop, never an error
    assert result.turns == 4
    assert all(_prompt_words(r) + 50 <= window for r in model.requests)
    shrunk = [w for w in result.warnings if "left out to fit the model's context" in w]
    assert shrunk, result.warnings
    # The messages left out are the oldest: what a late speaker saw is a suffix of what it
    # was delivered, and its prompt shows its visible messages only.
    last = result.messages[-1]
    delivered = [
        m.index
        for m in result.messages[: last.index]
        if last.speaker in m.receivers or m.speaker == last.speaker
    ]
    assert last.visible_message_ids == delivered[len(delivered) - len(last.visible_message_ids) :]
    assert len(last.visible_message_ids) < len(delivered)


async def test_stop_policy_ends_the_discussion_with_budget() -> None:
    model = ScriptedModel(_long_disagreeing, context_window=700, record_prompts=True)
    result = await mb.discuss_async(
        "Capital of Italy?",
        options=OPTIONS,
        model=model,
        agents=3,
        paradigm="memory",
        personas="none",
        max_turns=4,
        generation={"max_tokens": 50},
        context_overflow="stop",
    )
    assert result.stop_reason == "budget"
    assert "context window of 700" in result.stop_detail
    assert result.error is None
    sent = len(model.requests)
    assert sent == len(result.messages)  # the refused prompt was never sent, nor retried
    assert all(_prompt_words(r) + 50 <= 700 for r in model.requests)


async def test_a_task_that_cannot_fit_at_all_stops_with_budget_and_no_calls() -> None:
    model = ScriptedModel(["never"], context_window=80, record_prompts=True)
    result = await mb.discuss_async(
        " ".join(["long"] * 200) + "?",
        options=OPTIONS,
        model=model,
        agents=3,
        personas="none",
        generation={"max_tokens": 20},
    )
    assert result.stop_reason == "budget"
    assert model.requests == []


def test_a_run_with_an_example_beyond_the_context_fails_before_any_call(
    tmp_path: Path, model_seam: Any
) -> None:
    data = tmp_path / "data.jsonl"
    data.write_text(
        '{"id": "short", "question": "Capital of Italy?", "options": ["Rome", "Paris"], "answer": "A"}\n'
        '{"id": "huge", "question": "'
        + " ".join(["x"] * 5000)
        + '?", "options": ["Rome", "Paris"], "answer": "A"}\n',
        encoding="utf-8",
    )
    made: list[ScriptedModel] = []

    def create(model_id: str, options: dict[str, Any]) -> ScriptedModel:
        made.append(ScriptedModel(context_window=2048, record_prompts=True))
        return made[-1]

    spec = {
        "name": "ctx",
        "dataset": {"path": str(data)},
        "model": model_seam.use(create),
        "team": {"personas": "none"},
    }
    with pytest.raises(ConfigError) as caught:
        mb.run_experiment(spec, out=tmp_path / "run")
    message = str(caught.value)
    assert (
        str(data) in message
        and "example 'huge' (about" in message
        and "context window of 2048" in message
    )
    assert made and all(m.requests == [] for m in made)
    assert not (tmp_path / "run").exists()


async def test_the_tokenizer_runs_only_for_prompts_near_the_window() -> None:
    counted: list[int] = []

    class Counting(ScriptedModel):
        async def count_tokens(self, messages: list[ChatMessage]) -> int:
            counted.append(1)
            return await super().count_tokens(messages)

    model = ManagedModel(Counting(["ok", "ok"], context_window=4096))
    short = [ChatMessage(role="user", content="Capital of Italy?")]
    await model.generate(short, GenerateConfig(max_tokens=100), role="discussion", agent="A1")
    assert counted == []  # its bytes alone show it fits
    near = [ChatMessage(role="user", content=" ".join(["word"] * 900))]
    await model.generate(near, GenerateConfig(max_tokens=100), role="discussion", agent="A1")
    assert counted == [1]  # 4,500 bytes could be 4,500 tokens: counted, and it fits


def _split_disagreeing(request: ScriptedRequest) -> str:
    if request.role == "agreement":
        return f"[DISAGREE] {PADDING}"
    return f"{PADDING}\nFinal Solution: {'ABCD'[request.index % 4]}"


async def test_splitfreetext_follow_up_is_fitted_too() -> None:
    # The follow-up call holds the transcript twice (its agreement and revise prompts): it is
    # shrunk on its own, so the discussion runs its turns instead of stopping with budget.
    model = ScriptedModel(_split_disagreeing, context_window=800, record_prompts=True)
    result = await mb.discuss_async(
        "Capital of Italy?",
        options=OPTIONS,
        model=model,
        agents=3,
        personas="none",
        style="splitfreetext",
        max_turns=3,
        generation={"max_tokens": 50},
    )
    assert result.stop_reason == "max_turns" and result.turns == 3
    assert all(_prompt_words(r) + 50 <= 800 for r in model.requests)
    follow_ups = [r for r in model.requests if r.role == "discussion" and len(r.messages) == 4]
    assert follow_ups


def test_a_distributed_run_checks_the_configured_window_before_it_starts(tmp_path: Path) -> None:
    # An executor whose models live on other machines (Ray): the driver cannot ask them, so
    # the spec's context_window is checked, estimated, before the run directory exists.

    executed: list[int] = []

    class Elsewhere:
        def prepare(self, spec: Any, cells: Any) -> None:
            pass

        async def execute(self, spec: Any, jobs: Any, plans: Any, emit: Any) -> None:
            executed.append(len(jobs))

        async def aclose(self) -> None:
            pass

    data = tmp_path / "data.jsonl"
    data.write_text(
        '{"id": "huge", "question": "' + " ".join(["x"] * 9000) + '?", "options": ["a", "b"]}\n',
        encoding="utf-8",
    )
    spec = {
        "name": "far",
        "dataset": {"path": str(data)},
        "model": {"id": "openai/remote", "context_window": 4096},
    }
    with pytest.raises(ConfigError, match=r"context window of 4096 .* example 'huge' \(about"):
        mb.run_experiment(spec, out=tmp_path / "run", executor=Elsewhere())
    assert executed == [] and not (tmp_path / "run").exists()
