"""llama.cpp's OpenAI-compatible server (`python -m madebate.serve_llamacpp`), end to end.

The server runs as a subprocess on a free loopback port with the embedded SmolLM2-135M, and
madebate drives it the way a user would: ManagedModel(OpenAICompatibleModel) over real HTTP.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import jsonschema
import pytest

import madebate
from madebate import ChatMessage, GenerateConfig
from madebate.models import ManagedModel
from madebate.models.providers.openai_http import OpenAICompatibleModel
from madebate.serve_llamacpp import openai_response_format, server_argv

pytestmark = pytest.mark.slow

pytest.importorskip("llama_cpp.server.app", reason="needs madebate[llamacpp-server]")

START_TIMEOUT_S = 60.0
SCHEMA = {
    "type": "object",
    "properties": {"answer": {"type": "string", "enum": ["yes", "no"]}},
    "required": ["answer"],
    "additionalProperties": False,
}


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def tail(log: Path, lines: int = 30) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The launcher in a subprocess; always terminated, whatever the tests did."""
    port = free_port()
    log = tmp_path_factory.mktemp("llamacpp-server") / "server.log"
    env = {k: v for k, v in os.environ.items() if k not in {"CONFIG_FILE", "MODEL"}}
    env["HOST"] = "0.0.0.0"  # must be ignored: the launcher listens on 127.0.0.1 only
    with log.open("wb") as out:
        proc = subprocess.Popen(
            # One thread each: on a small shared machine, llama.cpp's threads spin on each other
            # whenever another process wants a core (a call went from ~1 s to over 60 s here).
            [
                sys.executable,
                "-m",
                "madebate.serve_llamacpp",
                "--port",
                str(port),
                "--n_threads",
                "1",
                "--n_threads_batch",
                "1",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
        )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the server exited with {proc.returncode}:\n{tail(log)}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    models = json.load(reply)
                break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                if time.monotonic() > deadline:
                    pytest.fail(f"no answer on {url}/models in {START_TIMEOUT_S}s:\n{tail(log)}")
                time.sleep(0.2)
        assert [m["id"] for m in models["data"]] == ["smollm2"]
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
    # Served prompts of many tokens without the AMX crash (SIGSEGV), and shut down cleanly on
    # SIGTERM (uvicorn re-raises the signal once it has shut down: -15 is a clean exit).
    assert proc.returncode in {0, -signal.SIGTERM}, tail(log)
    text = log.read_text(errors="replace")
    assert "Uvicorn running on http://127.0.0.1:" in text
    assert "Application shutdown complete" in text


# -- the launcher's own pieces (no server needed) --------------------------------------------


def test_launcher_defaults_and_pass_through(monkeypatch):
    monkeypatch.delenv("CONFIG_FILE", raising=False)
    args = server_argv(["--port", "9001", "--n_ctx", "1024"])
    assert args[:4] == ["--port", "9001", "--n_ctx", "1024"]
    flags = dict(zip(args[4::2], args[5::2], strict=True))
    assert flags["--host"] == "127.0.0.1" and flags["--model_alias"] == "smollm2"
    assert flags["--model"].endswith(".gguf") and Path(flags["--model"]).is_file()
    explicit = server_argv(["--model=/m.gguf", "--host", "::1", "--n_threads", "3"])
    assert "--model" not in explicit and "--model_alias" not in explicit
    assert explicit.count("--host") == 1 and explicit.count("--n_threads") == 1


def test_openai_response_format_is_rewritten_for_llama_cpp():
    body = {
        "model": "m",
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "reply", "schema": SCHEMA, "strict": True},
        },
    }
    rewritten = json.loads(openai_response_format(json.dumps(body).encode()))
    assert rewritten == {"model": "m", "response_format": {"type": "json_object", "schema": SCHEMA}}
    for unchanged in (b'{"model": "m"}', b"not json", b"[1]"):
        assert openai_response_format(unchanged) == unchanged


# -- the server, driven by madebate ---------------------------------------------------------


def managed(base_url: str) -> ManagedModel:
    return ManagedModel(OpenAICompatibleModel("smollm2", base_url=base_url, timeout_s=60.0))


async def test_plain_generate_returns_text_and_real_usage(base_url):
    model = managed(base_url)
    try:
        output, record = await model.generate(
            [
                ChatMessage(role="system", content="You are a helpful assistant."),
                ChatMessage(role="user", content="Name one primary colour."),
            ],
            GenerateConfig(max_tokens=16),
            role="discussion",
            agent="A1",
        )
    finally:
        await model.aclose()
    assert output.text.strip()
    assert output.prompt_tokens > 10 and 0 < output.completion_tokens <= 16
    assert output.finish_reason in {"stop", "length"}
    assert (record.prompt_tokens, record.completion_tokens) == (
        output.prompt_tokens,
        output.completion_tokens,
    )
    assert record.model == "openai/smollm2" and record.attempts == 1 and record.error is None
    assert record.output_format == "text"


async def test_json_schema_request_is_enforced(base_url):
    model = managed(base_url)
    try:
        output, record = await model.generate(
            [ChatMessage(role="user", content="Is the sky blue? Answer in JSON.")],
            GenerateConfig(max_tokens=40, json_schema=SCHEMA),
            role="ballot",
            agent="A1",
        )
    finally:
        await model.aclose()
    reply = json.loads(output.text)
    jsonschema.validate(reply, SCHEMA)
    assert reply["answer"] in {"yes", "no"}
    assert output.finish_reason == "stop" and 0 < output.completion_tokens <= 40
    # One attempt: the OpenAI form was accepted, not rejected (HTTP 500) and retried.
    assert record.attempts == 1 and record.output_format == "json_schema"


def test_short_discussion_end_to_end(base_url):
    # No aclose() here: the sync facade ran the calls on its own loop, now finished, and the
    # client it left can only be dropped. Dropped inside a new loop (asyncio.run(aclose())), the
    # openai SDK schedules a doomed close there that logs "Event loop is closed"; dropped here,
    # with no loop running, its pooled socket is just left to the garbage collector.
    result = madebate.discuss(
        "What is the capital of France?",
        options=["Rome", "Paris", "Berlin", "Madrid"],
        model=managed(base_url),
        agents=2,
        max_turns=1,
        generation=GenerateConfig(max_tokens=48),
        seed=1,
    )
    assert result.error is None, result.stop_detail
    assert result.stop_reason in {"consensus", "max_turns"}
    assert 1 <= len(result.messages) <= 2 and all(m.raw.strip() for m in result.messages)
    assert result.calls
    assert all(c.model == "openai/smollm2" and c.attempts == 1 for c in result.calls)
    assert all(c.prompt_tokens > 50 and 0 < c.completion_tokens <= 48 for c in result.calls)
    assert result.usage.calls == len(result.calls)
    assert result.usage.total_tokens == sum(
        c.prompt_tokens + c.completion_tokens for c in result.calls
    )
