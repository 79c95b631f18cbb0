"""Faults from the model server, through fault_proxy.py (beside these tests) in front of the
scripted test server: each fault kind on its own against ManagedModel(OpenAICompatibleModel) with
exact attempt counts, Retry-After honoured and capped, a reply that never arrives cut by the per-call
timeout, and whole runs that keep every example through faults, resume only the failed ones, and
stop at an overall deadline."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fault_proxy import KIND_NONE, KINDS, FaultProxy
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion

import madebate as mb
from madebate import ChatMessage, GenerateConfig, ModelCallError
from madebate.models import ManagedModel
from madebate.models.providers.openai_http import OpenAICompatibleModel
from madebate.runs._experiment import ModelSpec
from madebate.runs._jobs import ModelPool
from madebate.runs._runlog import iter_records, latest_records

TEXT = "The answer is four, for the reasons given."  # 42 characters: halves to 21
MESSAGES = [ChatMessage(role="user", content="What is 2 + 2?")]
KEY = "sk-test-faults-4b1d"  # never in a reply, so key masking leaves replies alone
CALL_TIMEOUT_S = 0.8  # long enough that a loaded machine never trips it on a real reply


@pytest.fixture
def upstream() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(completion(TEXT, prompt_tokens=9, completion_tokens=10)) as server:
        yield server


@pytest.fixture
def proxy(upstream: OpenAITestServer) -> Iterator[FaultProxy]:
    with FaultProxy(upstream.base_url, fault_rate=0.0, retry_after_s=0.5) as p:
        yield p


def managed(proxy: FaultProxy, **options: Any) -> ManagedModel:
    """Fast backoff; the provider's own timeout is long, so a hang is cut by ManagedModel's
    per-call timeout (what ModelSpec.timeout_s sets for every provider)."""
    settings: dict[str, Any] = {
        "max_attempts": 4,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.02,
        "call_timeout_s": CALL_TIMEOUT_S,
    }
    settings.update(options)
    provider = OpenAICompatibleModel("m", base_url=proxy.base_url, api_key=KEY, timeout_s=30)
    return ManagedModel(provider, **settings)


async def call(model: ManagedModel) -> Any:
    try:
        return await model.generate(MESSAGES, GenerateConfig(), role="discussion", agent="A1")
    finally:
        await model.aclose()


def wait_for(predicate: Any, timeout_s: float = 60.0) -> bool:
    """Poll `predicate` until it holds; the generous deadline is only reached when something
    is wrong (a busy machine makes each step slower, never the condition false)."""
    deadline = time.monotonic() + timeout_s
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- the proxy itself -------------------------------------------------------------------------


def test_draws_are_deterministic_fresh_per_retry_and_uniform_over_kinds():
    def draws(seed: int) -> list[str]:
        p = FaultProxy("http://127.0.0.1:9", fault_rate=0.3, seed=seed)
        # 3,000 distinct bodies, then the first one 200 more times (a request retried)
        return [p._draw(f"body {i}".encode()) for i in range(3000)] + [
            p._draw(b"body 0") for _ in range(200)
        ]

    first, again, other = draws(1), draws(1), draws(2)
    assert first == again and first != other
    faults = Counter(k for k in first[:3000] if k != KIND_NONE)
    assert 0.27 < sum(faults.values()) / 3000 < 0.33
    assert set(faults) == set(KINDS)
    assert all(abs(n - 100) < 40 for n in faults.values())  # about 900 / 9 each
    retried = first[3000:]  # the same body: each arrival a fresh draw, not the first one's
    assert 0.2 < sum(k != KIND_NONE for k in retried) / 200 < 0.4


def test_stats_endpoint_and_forwarding_untouched(upstream, proxy):
    request = urllib.request.Request(
        proxy.base_url + "/chat/completions",
        data=json.dumps({"model": "m", "messages": [{"role": "user", "content": "hi"}]}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as r:
        assert r.status == 200
        assert json.loads(r.read())["choices"][0]["message"]["content"] == TEXT
    with urllib.request.urlopen(f"http://127.0.0.1:{proxy.port}/stats", timeout=5) as r:
        stats = json.loads(r.read())
    assert stats["requests"] == stats["forwarded"] == 1 and stats["faults_total"] == 0
    assert stats == proxy.stats()
    assert upstream.requests[0].body["messages"][0]["content"] == "hi"


# -- one fault at a time, against ManagedModel over OpenAICompatibleModel -----------------------

# What the caller sees when the fault is the last straw (max_attempts=1).
RETRIED = {
    "429_retry_after": "HTTP 429",
    "429": "HTTP 429",
    "500": "HTTP 500",
    "503": "HTTP 503",
    "reset": "connection error: ConnectionResetError",
    "hang": f"no reply within {CALL_TIMEOUT_S}s",
    "truncated_json": "malformed JSON",
    "empty_choices": "no choices",
}


def test_every_kind_but_length_is_retryable():
    assert set(RETRIED) | {"length"} == set(KINDS)


@pytest.mark.parametrize("kind", sorted(RETRIED))
async def test_each_fault_is_retried_with_exact_attempt_counts(upstream, proxy, kind):
    proxy.retry_after_s = 0.05
    proxy.force(kind, kind)  # the first two attempts fail, the third gets through
    output, record = await call(managed(proxy))
    assert output.text == TEXT
    assert record.attempts == 3 and record.error is None and record.finish_reason == "stop"
    assert (record.prompt_tokens, record.completion_tokens) == (9, 10)
    stats = proxy.stats()
    assert stats["requests"] == 3 and stats["faults"][kind] == 2 and stats["faults_total"] == 2
    # Faults that spoil an upstream reply went upstream; the others never reached it.
    spoilt = kind in ("truncated_json", "empty_choices")
    assert len(upstream.requests) == (3 if spoilt else 1)

    proxy.force(kind)
    with pytest.raises(ModelCallError) as info:
        await call(managed(proxy, max_attempts=1))
    exc = info.value
    assert exc.retryable and RETRIED[kind] in str(exc)
    assert exc.record.attempts == 1 and exc.record.error == str(exc)


async def test_finish_reason_length_is_kept_not_retried(upstream, proxy):
    proxy.force("length")
    output, record = await call(managed(proxy))
    assert record.attempts == 1 and record.error is None
    assert record.finish_reason == output.finish_reason == "length"
    assert output.text == TEXT[: len(TEXT) // 2]
    assert record.completion_tokens == 5  # half of the upstream's 10
    assert proxy.stats()["faults"]["length"] == 1 and len(upstream.requests) == 1


async def test_retry_after_is_honoured(proxy):
    proxy.retry_after_s = 0.5
    proxy.force("429_retry_after")
    started = time.perf_counter()
    output, record = await call(managed(proxy))  # its own backoff is 0.01-0.02 s
    waited = time.perf_counter() - started
    assert output.text == TEXT and record.attempts == 2
    assert waited >= 0.5
    ra = proxy.stats()["retry_after"]
    assert (ra["sent"], ra["followed"], ra["honoured"], ra["early"]) == (1, 1, 1, 0)
    assert ra["min_gap_s"] >= 0.495


async def test_a_hostile_retry_after_is_capped(proxy):
    proxy.retry_after_s = 3600
    proxy.force("429_retry_after")
    started = time.perf_counter()
    output, record = await call(managed(proxy, retry_after_max_s=0.2))
    waited = time.perf_counter() - started
    assert output.text == TEXT and record.attempts == 2
    assert 0.2 <= waited < 30.0  # the cap, not an hour (a generous bound for a busy machine)
    ra = proxy.stats()["retry_after"]
    assert (ra["sent"], ra["honoured"], ra["early"]) == (1, 0, 1)


async def test_a_reply_that_never_arrives_is_cut_by_the_spec_timeout_and_retried(proxy):
    pool = ModelPool(None)
    model = pool.get(ModelSpec(id="openai/m", base_url=proxy.base_url, timeout_s=0.8))
    assert model.call_timeout_s == 0.8  # ModelSpec.timeout_s reaches the wrapper
    proxy.force("hang")
    started = time.perf_counter()
    output, record = await call(model)
    elapsed = time.perf_counter() - started
    assert output.text == TEXT and record.attempts == 2
    assert 0.8 <= elapsed < 60.0  # one timeout and one backoff, not the proxy's 600 s hold
    # The client dropped the held connection when it gave up.
    assert wait_for(lambda: proxy.stats()["hangs_released"] == 1)


async def test_the_wrapper_timeout_holds_whatever_the_provider_timeout(proxy):
    proxy.force("hang", "hang")
    started = time.perf_counter()
    with pytest.raises(ModelCallError) as info:
        await call(managed(proxy, max_attempts=2))  # the provider's own timeout is 30 s
    assert info.value.record.attempts == 2
    assert f"no reply within {CALL_TIMEOUT_S}s" in str(info.value)
    # Two wrapper timeouts; the bound stays under one 30 s provider timeout, so it proves
    # the wrapper cut the calls, with room for a busy machine.
    assert 2 * CALL_TIMEOUT_S <= time.perf_counter() - started < 2 * CALL_TIMEOUT_S + 20.0


# -- whole runs -------------------------------------------------------------------------------


def panel(request: RecordedRequest) -> ScriptedResponse:
    """Plays every panelist: a structured reply (answer B, agreeing) or the text layout."""
    response_format = request.body.get("response_format")
    if response_format is not None:
        properties = response_format["json_schema"]["schema"]["properties"]
        reply: dict[str, Any] = {"reasoning": "I checked the options.", "answer": "B"}
        if "stance" in properties:
            reply["stance"] = "agree"
        return completion(json.dumps(reply), completion_tokens=12)
    return completion("[AGREE] The current solution holds up.\nFinal Solution: B) y")


def write_dataset(path: Path, n: int) -> Path:
    rows = [
        {"id": f"q{i}", "question": f"Question {i}?", "options": ["x", "y", "z"], "answer": "B"}
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def run_spec(data: Path, base_url: str, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "faults",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": {"id": "openai/m", "base_url": base_url, "timeout_s": 1.0, "max_attempts": 2},
        "team": {"agents": 3, "personas": "library"},
        "paradigm": "memory",
        "protocol": "majority_consensus",
        "discussion": {"max_turns": 2},
        "concurrency": 30,
        "cache": False,
    }
    spec.update(overrides)
    return spec


def test_a_run_through_faults_keeps_every_example_and_resume_reruns_only_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = write_dataset(tmp_path / "data.jsonl", 30)
    run_dir = tmp_path / "run"
    with (
        OpenAITestServer(panel) as server,
        FaultProxy(server.base_url, fault_rate=0.3, seed=3, retry_after_s=0.1) as proxy,
    ):
        spec = run_spec(data, proxy.base_url)
        result = mb.run_experiment(spec, out=run_dir)
        stats = proxy.stats()

        lines = list(iter_records(run_dir))
        keys = [r.key for r in lines]
        expected = {(result.cells[0], f"q{i}", 0) for i in range(30)}
        assert len(keys) == len(set(keys)) == 30 and set(keys) == expected
        assert result.stopped is None and result.new_records == 30

        failed = [r for r in lines if r.stop_reason == "error"]
        assert 0 < len(failed) < 30, "tune the seed: the run should lose some examples"
        (cell,) = result.summary.cells.values()
        assert cell.errors == len(failed)
        assert cell.retries == sum(r.retries for r in lines) > 0
        causes = {f.example_id: f.cause for f in cell.failed_examples}
        assert causes == {r.example_id: r.error.message[:300] for r in failed if r.error}
        known = ("HTTP 429", "HTTP 500", "HTTP 503", "ConnectionResetError", "no reply within")
        known += ("malformed JSON", "no choices")
        assert all(any(k in cause for k in known) for cause in causes.values()), causes
        # Every attempt reached the proxy once: calls made plus their retries.
        assert stats["requests"] == sum(r.calls + r.retries for r in lines)
        assert stats["faults_total"] > 0.2 * stats["requests"]
        # A length fault is a reply, not a failure: kept and counted, never retried.
        assert cell.truncated_replies == sum(r.truncated for r in lines)
        assert cell.truncated_replies == stats["faults"]["length"]

        proxy.fault_rate = 0.0  # the server has recovered
        before = len(server.requests)
        resumed = mb.run_experiment(spec, resume=run_dir)
        assert len(server.requests) > before

    assert resumed.new_records == len(failed) and resumed.stopped is None
    appended = [r.key for r in list(iter_records(run_dir))[30:]]
    assert sorted(appended) == sorted(r.key for r in failed)  # only the failed ones
    latest = latest_records(run_dir)
    assert len(latest) == 30 and {r.key for r in latest} == expected
    assert all(r.stop_reason != "error" for r in latest)
    (cell,) = resumed.summary.cells.values()
    assert cell.n == 30 and cell.errors == 0 and cell.failed_examples == []
    assert resumed.summary.complete is True


def test_an_overall_deadline_stops_the_run_keeps_its_records_and_resume_finishes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    data = write_dataset(tmp_path / "data.jsonl", 12)
    run_dir = tmp_path / "run"
    # The server answers at once until a record is on disk, then stalls every reply far past
    # the deadline: a condition, not a race between reply delays and the clock, so the run is
    # cut mid-way (some records, not all) however slow the machine is. Only the deadline can
    # end the run early: the model timeout is longer than the stall.
    stall = {"on": True}
    stall_s = 120.0

    def stalling_panel(request: RecordedRequest) -> ScriptedResponse:
        reply = panel(request)
        records = run_dir / "records.jsonl"
        written = records.exists() and b"\n" in records.read_bytes()
        delay = stall_s if stall["on"] and written else 0.0
        return ScriptedResponse(reply.status, reply.body, delay)

    with OpenAITestServer(stalling_panel) as server:
        spec = run_spec(data, server.base_url, concurrency=2, deadline_s=6)
        spec["model"]["timeout_s"] = 2 * stall_s
        started = time.perf_counter()
        result = mb.run_experiment(spec, out=run_dir)
        assert time.perf_counter() - started < stall_s / 2  # the deadline cut the stalled calls
        assert result.stopped == "deadline" and result.summary.stopped == "deadline"
        written = list(iter_records(run_dir))
        assert 0 < len(written) == result.new_records < 12
        assert result.remaining == 12 - len(written)
        assert result.summary.complete is False
        assert all(r.stop_reason != "error" for r in written)  # cut, not failed

        stall["on"] = False
        resumed = mb.run_experiment({**spec, "deadline_s": 300}, resume=run_dir)

    assert resumed.stopped is None and resumed.summary.complete is True
    assert resumed.new_records == 12 - len(written)
    lines = list(iter_records(run_dir))
    keys = [r.key for r in lines]
    assert len(keys) == len(set(keys)) == 12  # nothing written twice
    assert lines[: len(written)] == written


async def test_the_proxy_runs_as_tasks_on_the_callers_loop(upstream):
    async with FaultProxy(upstream.base_url, fault_rate=1.0, kinds=["500"]) as p:
        model = managed(p, max_attempts=2)
        with pytest.raises(ModelCallError, match="HTTP 500"):
            await call(model)
        assert p.stats()["faults"]["500"] == 2
    await asyncio.sleep(0)
