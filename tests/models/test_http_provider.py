"""OpenAICompatibleModel under ManagedModel, over real HTTP against a local scripted server.

Everything goes through the openai SDK and a socket on 127.0.0.1: retries of 429/5xx and
timeouts, no retries of other 4xx, call accounting, the request body, the API key's handling,
the concurrency limit, and whole discussions that succeed or fail.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest
from openai_test_server import (
    OpenAITestServer,
    ScriptedResponse,
    completion,
    error,
    slow,
)
from typer.testing import CliRunner

import madebate
from madebate import ChatMessage, GenerateConfig, ModelCallError
from madebate.cli import app as cli_app
from madebate.models import ManagedModel
from madebate.models._model import DEFAULT_MAX_TOKENS
from madebate.models.providers.openai_http import OpenAICompatibleModel

KEY = "sk-test-DO-NOT-LEAK-7f3a9c"
TIMEOUT_S = 0.5  # for the tests about timeouts
CALL_TIMEOUT_S = 2.0  # for the others: ample on a loaded 2-core machine
MESSAGES = [
    ChatMessage(role="system", content="You are a careful panelist."),
    ChatMessage(role="user", content="What is 2 + 2?"),
]
FIRST = "Final Solution: A) x"  # the first speaker drafts: no stance tag
AGREE = "[AGREE] The current solution holds up.\nFinal Solution: A) x"

MakeModel = Callable[..., ManagedModel]


@pytest.fixture
def server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer() as srv:
        yield srv
    assert not srv.running, "the test server did not shut down"


@pytest.fixture
async def make_model(server: OpenAITestServer) -> AsyncIterator[MakeModel]:
    """ManagedModel(OpenAICompatibleModel) against the test server; closed after the test."""
    made: list[ManagedModel] = []

    def make(
        *,
        max_attempts: int = 3,
        max_concurrency: int = 16,
        timeout_s: float = CALL_TIMEOUT_S,
        base_url: str | None = None,
    ) -> ManagedModel:
        provider = OpenAICompatibleModel(
            "m", base_url=base_url or server.base_url, api_key=KEY, timeout_s=timeout_s
        )
        model = ManagedModel(
            provider,
            max_attempts=max_attempts,
            max_concurrency=max_concurrency,
            retry_initial_s=0.01,
            retry_max_s=0.05,
        )
        made.append(model)
        return model

    yield make
    for model in made:
        await model.aclose()


async def call(model: ManagedModel, config: GenerateConfig | None = None) -> Any:
    return await model.generate(
        MESSAGES, config or GenerateConfig(), role="discussion", agent="A1", turn=1
    )


async def failure(model: ManagedModel, config: GenerateConfig | None = None) -> ModelCallError:
    with pytest.raises(ModelCallError) as info:
        await call(model, config)
    return info.value


# -- retries and accounting ------------------------------------------------------------------


async def test_429_then_200_is_retried_and_accounted(server, make_model):
    server.enqueue(
        error(429, "slow down"),
        completion("four", prompt_tokens=17, completion_tokens=4, finish_reason="length"),
    )
    output, record = await call(make_model())

    assert output.text == "four"
    assert (output.prompt_tokens, output.completion_tokens) == (17, 4)
    assert record.attempts == 2
    assert (record.prompt_tokens, record.completion_tokens) == (17, 4)
    assert record.finish_reason == "length"
    assert record.model == "openai/m"
    assert (record.role, record.agent, record.error) == ("discussion", "A1", None)
    assert record.latency_s > 0
    requests = server.requests
    assert len(requests) == 2
    assert requests[0].body == requests[1].body  # the same request, sent again


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_5xx_is_retried_then_succeeds(server, make_model, status):
    server.enqueue(error(status), completion("ok", prompt_tokens=3, completion_tokens=1))
    output, record = await call(make_model())
    assert output.text == "ok"
    assert record.attempts == 2 and record.error is None
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [429, 500, 502, 503])
async def test_retryable_status_gives_up_after_max_attempts(server, make_model, status):
    server.default = error(status, f"backend down ({status})")
    exc = await failure(make_model(max_attempts=3))

    assert exc.retryable is True
    assert exc.status == status
    assert f"HTTP {status}" in str(exc) and f"backend down ({status})" in str(exc)
    record = exc.record
    assert isinstance(record, madebate.CallRecord)
    assert record.attempts == 3
    assert record.error == str(exc)
    assert (record.prompt_tokens, record.completion_tokens, record.finish_reason) == (0, 0, None)
    assert record.model == "openai/m" and record.agent == "A1"
    # Exactly max_attempts requests: the SDK's own retries are off, only the wrapper retries.
    assert len(server.requests) == 3


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(server, make_model, status):
    server.enqueue(error(status, "you asked for something wrong"), completion("never sent"))
    exc = await failure(make_model(max_attempts=4))

    assert exc.retryable is False
    assert exc.status == status
    assert "you asked for something wrong" in str(exc)
    assert exc.record.attempts == 1 and exc.record.error == str(exc)
    assert len(server.requests) == 1
    assert server.pending == 1  # the scripted success was never asked for


async def test_slow_server_times_out_and_is_retried_up_to_max_attempts(server, make_model):
    server.default = slow(120.0)  # far beyond the client's timeout; close() cuts it short
    start = time.perf_counter()
    exc = await failure(make_model(max_attempts=3, timeout_s=TIMEOUT_S))
    elapsed = time.perf_counter() - start

    assert exc.retryable is True and exc.status is None
    assert "timed out" in str(exc)
    assert exc.record.attempts == 3 and "timed out" in exc.record.error
    assert len(server.requests) == 3
    # Three client timeouts, not the server's delay: the upper bound is far below the 120 s a
    # reply would take, and far above what a busy machine adds to three 0.5 s timeouts.
    assert 3 * TIMEOUT_S * 0.9 <= elapsed < 30.0


async def test_timeout_then_success(server, make_model):
    server.enqueue(slow(10.0), completion("finally", prompt_tokens=5, completion_tokens=2))
    output, record = await call(make_model(timeout_s=TIMEOUT_S))
    assert output.text == "finally"
    assert record.attempts == 2 and (record.prompt_tokens, record.completion_tokens) == (5, 2)


async def test_connection_refused_is_retryable(make_model):
    with OpenAITestServer() as gone:
        dead_url = gone.base_url  # nothing listens on this port once it is closed
    exc = await failure(make_model(max_attempts=2, base_url=dead_url))
    assert exc.retryable is True and exc.status is None
    assert "connection error" in str(exc)
    assert exc.record.attempts == 2


async def test_empty_choices_are_retried(server, make_model):
    empty = completion("x").body | {"choices": []}
    server.enqueue(ScriptedResponse(200, empty), completion("ok"))
    output, record = await call(make_model())
    assert output.text == "ok" and record.attempts == 2


# -- what goes over the wire -----------------------------------------------------------------


async def test_request_body_carries_all_sampling_settings(server, make_model):
    server.enqueue(completion("ok"))
    config = GenerateConfig(
        max_tokens=64, temperature=0.7, top_p=0.9, seed=1234, stop=("END", "##")
    )
    await call(make_model(), config)

    (request,) = server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["content-type"].startswith("application/json")
    assert request.body == {
        "model": "m",
        "messages": [
            {"role": "system", "content": "You are a careful panelist."},
            {"role": "user", "content": "What is 2 + 2?"},
        ],
        "max_tokens": 64,
        "temperature": 0.7,
        "top_p": 0.9,
        "seed": 1234,
        "stop": ["END", "##"],
    }


async def test_request_body_omits_unset_seed_and_stop(server, make_model):
    server.enqueue(completion("ok"))
    await call(make_model(), GenerateConfig())

    (request,) = server.requests
    body = request.body
    assert "seed" not in body and "stop" not in body
    assert (body["model"], body["max_tokens"], body["temperature"], body["top_p"]) == (
        "m",
        DEFAULT_MAX_TOKENS,
        0.0,
        1.0,
    )
    assert len(body["messages"]) == 2


async def test_api_key_is_sent_as_bearer_and_never_shown(server, make_model):
    model = make_model(max_attempts=2)
    provider = model.provider
    assert KEY not in repr(provider) and KEY not in str(provider)
    assert KEY not in repr(model)

    server.enqueue(completion("ok"))
    _, record = await call(model)
    assert KEY not in record.model_dump_json()

    failures = []
    server.enqueue(error(401, "invalid api key"))
    failures.append(await failure(model))
    server.enqueue(error(500), error(500))
    failures.append(await failure(model))
    server.enqueue(slow(10.0), slow(10.0))
    failures.append(await failure(model))  # two client timeouts
    for exc in failures:
        assert KEY not in str(exc) and KEY not in repr(exc)
        assert KEY not in exc.record.model_dump_json()
        assert KEY not in (exc.record.error or "")

    requests = server.requests
    assert len(requests) == 1 + 1 + 2 + 2
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in requests)
    # The key travels only in the header, never in the body.
    assert all(KEY not in json.dumps(r.body) for r in requests)


# -- concurrency -----------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [2, 6])
async def test_max_concurrency_is_honoured(server, make_model, limit):
    server.default = slow(0.25, completion("ok", prompt_tokens=2, completion_tokens=1))
    model = make_model(max_concurrency=limit, timeout_s=5.0)

    results = await asyncio.gather(*(call(model) for _ in range(6)))

    assert [out.text for out, _ in results] == ["ok"] * 6
    assert all(record.attempts == 1 for _, record in results)
    assert len(server.requests) == 6
    # Never more than the limit at the server; and the limit is actually used (6 shows the
    # server can see more than 2 at once, so the limit of 2 is the wrapper's doing).
    assert server.max_in_flight == limit


# -- whole discussions -----------------------------------------------------------------------


async def test_discussion_end_to_end_reaches_consensus(server, make_model):
    server.enqueue(
        completion(FIRST, prompt_tokens=101, completion_tokens=11),
        error(429),  # the second speaker's call is retried once
        completion(AGREE, prompt_tokens=133, completion_tokens=17),
    )
    model = make_model()
    result = await madebate.Discussion(
        "q", options=["x", "y"], model=model, agents=2, max_turns=1
    ).run_async()

    assert result.stop_reason == "consensus"
    assert result.decided and result.answer == "A"
    assert result.error is None
    assert [m.speaker for m in result.messages] == ["A1", "A2"]
    assert result.usage.calls == 2
    assert result.usage.prompt_tokens == 101 + 133
    assert result.usage.completion_tokens == 11 + 17
    assert [c.attempts for c in result.calls] == [1, 2]
    assert all(c.model == "openai/m" and c.finish_reason == "stop" for c in result.calls)
    assert {
        k: (u.prompt_tokens, u.completion_tokens) for k, u in result.usage_by_agent.items()
    } == {
        "A1": (101, 11),
        "A2": (133, 17),
    }
    requests = server.requests
    assert len(requests) == 3 and server.pending == 0
    first_prompt = requests[0].body["messages"]
    assert [m["role"] for m in first_prompt] == ["system", "user"]
    assert "x" in first_prompt[-1]["content"] and "y" in first_prompt[-1]["content"]
    # The second speaker saw the first one's draft.
    assert "A) x" in requests[-1].body["messages"][-1]["content"]
    assert KEY not in result.to_json()


def test_sync_run_twice_with_one_model_then_close(server):
    """The sync facade makes a fresh event loop per run; the client and semaphore follow it, and
    the model can be closed afterwards from yet another loop (the server keeps connections
    alive, so the first runs leave pooled connections on loops that are gone)."""
    model = ManagedModel(
        OpenAICompatibleModel("m", base_url=server.base_url, api_key=KEY, timeout_s=2.0),
        max_attempts=2,
        retry_initial_s=0.01,
        retry_max_s=0.05,
    )
    for _ in range(2):
        server.enqueue(
            completion(FIRST, prompt_tokens=7, completion_tokens=3),
            completion(AGREE, prompt_tokens=9, completion_tokens=4),
        )
        result = madebate.Discussion(
            "q", options=["x", "y"], model=model, agents=2, max_turns=1
        ).run()
        assert result.stop_reason == "consensus"
        assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (16, 7)
    assert len(server.requests) == 4
    asyncio.run(model.aclose())  # used to raise RuntimeError: Event loop is closed
    asyncio.run(model.aclose())  # safe twice


def test_cli_with_base_url_runs_and_closes_cleanly(server, monkeypatch):
    """`madebate discuss --base-url` closes its model after the run in a new loop."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.enqueue(
        completion(FIRST, prompt_tokens=5, completion_tokens=2),
        completion(AGREE, prompt_tokens=6, completion_tokens=3),
    )
    out = CliRunner().invoke(
        cli_app,
        [
            "discuss",
            "q",
            "-o",
            "x",
            "-o",
            "y",
            "--model",
            "openai/m",
            "--base-url",
            server.base_url,
            "--agents",
            "2",
            "--max-turns",
            "1",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["stop_reason"] == "consensus"
    assert data["usage"]["prompt_tokens"] == 11 and data["usage"]["completion_tokens"] == 5
    assert KEY not in out.output
    assert len(server.requests) == 2


def test_model_id_reads_base_url_and_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server.enqueue(
        completion(FIRST, prompt_tokens=5, completion_tokens=2),
        completion(AGREE, prompt_tokens=6, completion_tokens=3),
    )
    result = madebate.Discussion(
        "q", options=["x", "y"], model="openai/m", agents=2, max_turns=1
    ).run()
    assert result.stop_reason == "consensus"
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (11, 5)
    assert [r.body["model"] for r in server.requests] == ["m", "m"]
    assert all(r.headers["authorization"] == f"Bearer {KEY}" for r in server.requests)


async def test_discussion_with_a_model_that_always_fails(server, make_model):
    server.default = error(500, "upstream exploded")
    model = make_model(max_attempts=2)
    result = await madebate.Discussion(
        "q", options=["x", "y"], model=model, agents=2, max_turns=1
    ).run_async()

    assert result.stop_reason == "error"
    assert not result.decided and result.answer is None
    assert result.error is not None
    assert result.error.type == "ModelCallError"
    assert "HTTP 500" in result.error.message and "upstream exploded" in result.error.message
    assert "upstream exploded" in result.stop_detail
    assert (result.error.turn, result.error.step, result.error.calls_made) == (1, 1, 1)
    (failed,) = result.calls
    # The message is the call's, saying whose call it was and to which model (a mixed team).
    assert failed.attempts == 2
    assert (
        result.error.message == f"A1's discussion call to model 'openai/m' failed: {failed.error}"
    )
    assert result.usage.calls == 1 and result.usage.total_tokens == 0
    assert len(server.requests) == 2
    assert madebate.DiscussionResult.from_json(result.to_json()) == result
    assert KEY not in result.to_json()


def test_retry_after_is_honoured_and_capped(server: OpenAITestServer):
    from madebate.models.providers.openai_http import retry_after

    assert retry_after("2") == 2.0 and retry_after(None) is None and retry_after("soon") is None
    assert 0 <= (retry_after("Wed, 21 Oct 2015 07:28:00 GMT") or 0.0) == 0.0  # a past date: now

    throttled = error(429)
    server.enqueue(
        ScriptedResponse(throttled.status, throttled.body, headers={"Retry-After": "0.6"}),
        completion("ok"),
    )
    model = ManagedModel(
        OpenAICompatibleModel("m", base_url=server.base_url, api_key="k", timeout_s=5),
        max_attempts=2,
        retry_initial_s=0.01,
        retry_max_s=0.05,
    )
    started = time.perf_counter()
    output, record = asyncio.run(
        model.generate(
            [ChatMessage(role="user", content="hi")],
            GenerateConfig(),
            role="discussion",
            agent="A1",
        )
    )
    waited = time.perf_counter() - started
    assert output.text == "ok" and record.attempts == 2
    assert waited >= 0.55  # the server's 0.6 s, not the 0.01 s backoff

    server.enqueue(
        ScriptedResponse(throttled.status, throttled.body, headers={"Retry-After": "3600"}),
        completion("ok"),
    )
    capped = ManagedModel(
        OpenAICompatibleModel("m", base_url=server.base_url, api_key="k", timeout_s=5),
        max_attempts=2,
        retry_initial_s=0.01,
        retry_max_s=0.05,
        retry_after_max_s=0.2,
    )
    started = time.perf_counter()
    asyncio.run(
        capped.generate(
            [ChatMessage(role="user", content="hi")],
            GenerateConfig(),
            role="discussion",
            agent="A1",
        )
    )
    assert time.perf_counter() - started < 30.0  # an hour-long Retry-After is capped
