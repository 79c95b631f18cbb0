"""API keys never leave the environment (issue 7 item 5).

A distinctive key is planted in an environment variable that an experiment names in
`api_key_env`; its model is `openai/...` on a loopback test server that answers honestly, echoes
the Authorization header back inside replies, or fails with 401 and 500 errors whose bodies carry
the header; and once the HTTP client itself raises an exception that quotes it. Then the run is
reported, summarised and rescored through the CLI, with logging captured at DEBUG. Every byte
written under the test's folder (run directory, report, call cache) and every captured output is
searched for the key, and for a fragment of it (a truncated or partly masked key)."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from openai_test_server import (
    OpenAITestServer,
    RecordedRequest,
    ScriptedResponse,
    completion,
)
from typer.testing import CliRunner, Result

import madebate as mb
from madebate import ChatMessage, GenerateConfig, ModelCallError
from madebate.cli import app
from madebate.models.providers.openai_http import OpenAICompatibleModel

KEY = "sk-PLANTED-abc123XYZ"
FRAGMENTS = (KEY, "PLANTED", "abc123XYZ")  # the key, or what a cut or masked copy still shows
ENV = "MADEBATE_TEST_SECRET_VARIABLE"
runner = CliRunner()


def _auth(request: RecordedRequest) -> str:
    return request.headers.get("authorization", "")


def _prompt(request: RecordedRequest) -> str:
    messages = request.body["messages"] if isinstance(request.body, dict) else []
    return "\n".join(str(m.get("content", "")) for m in messages)


def honest(request: RecordedRequest) -> ScriptedResponse:
    """A panel that agrees on B, and votes for the first candidate when asked."""
    prompt = _prompt(request)
    if "Vote for exactly one solution" in prompt:
        return completion(json.dumps({"choice": "1"}))
    if "Current Solution: none yet" in prompt:
        return completion("I checked the options.\nFinal Solution: B")
    return completion("[AGREE] The current solution holds up.\nFinal Solution: B")


def echo_in_reply(request: RecordedRequest) -> ScriptedResponse:
    """A hostile server that answers, quoting the caller's headers in the reply and its fields."""
    reply = honest(request)
    body = json.loads(json.dumps(reply.body))
    choice = body["choices"][0]
    choice["message"]["content"] += f"\n(you sent {_auth(request)})"
    choice["finish_reason"] = _auth(request)
    body["model"] = _auth(request)
    return ScriptedResponse(200, body, headers={"X-Echo": _auth(request)})


def echo_error(status: int) -> Callable[[RecordedRequest], ScriptedResponse]:
    """A hostile server failing with `status`, its body quoting the headers it got: once near
    the start, and once padded to lie across the 300 characters an error message keeps."""

    def respond(request: RecordedRequest) -> ScriptedResponse:
        auth = _auth(request)
        return ScriptedResponse(
            status,
            {
                "error": {
                    "message": f"invalid credentials: {auth}",
                    "type": "auth",
                    "code": str(status),
                    "headers": request.headers,
                    "detail": "." * 150 + auth,
                }
            },
            headers={"WWW-Authenticate": auth},
        )

    return respond


SERVERS: dict[str, Callable[[RecordedRequest], ScriptedResponse]] = {
    "honest": honest,
    "echo-in-reply": echo_in_reply,
    "401": echo_error(401),
    "500": echo_error(500),
}


def experiment(tmp_path: Path, base_url: str) -> Path:
    spec = {
        "name": "secrets",
        "dataset": {
            "examples": [
                {"id": "q1", "question": "Capital of France?", "options": ["Rome", "Paris"]},
                {"id": "q2", "question": "Largest planet?", "options": ["Mars", "Jupiter"]},
            ]
        },
        "model": {
            "id": "openai/m",
            "base_url": base_url,
            "api_key_env": ENV,
            "max_attempts": 2,
            "retry_initial_s": 0,  # retry at once
            "retry_max_s": 0,
            "timeout_s": 5,
            "structured_output": False,
        },
        "team": {"agents": 2, "personas": "none"},
        "discussion": {"max_turns": 1},
        "concurrency": 2,
        "cache_path": str(tmp_path / "cache" / "calls.sqlite"),
    }
    path = tmp_path / "secrets.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def _raising_post(self: Any, *args: Any, **kwargs: Any) -> Any:
    """An HTTP client that fails before any response, quoting its own credentials."""
    raise RuntimeError(
        f"transport failed; sent headers {{'Authorization': 'Bearer {self.api_key}'}}"
    )


def _outputs(result: Result) -> str:
    parts = [result.output]
    for name in ("stdout", "stderr"):
        with contextlib.suppress(ValueError, AttributeError):  # stderr not captured apart
            parts.append(getattr(result, name))
    if result.exception is not None:
        parts.append(repr(result.exception))
    return "\n".join(parts)


def assert_no_key(where: str, data: bytes | str) -> None:
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    for fragment in FRAGMENTS:
        assert fragment.encode() not in raw, f"the API key ({fragment}) leaked into {where}"


@pytest.mark.parametrize("scenario", [*SERVERS, "client-raises"])
def test_the_key_appears_nowhere(
    scenario: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # the openai SDK, httpx and httpcore log at DEBUG
    caplog.set_level(logging.INFO, logger="matplotlib")  # its font search is only noise
    monkeypatch.setenv(ENV, KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    if scenario == "client-raises":
        monkeypatch.setattr(openai.AsyncOpenAI, "post", _raising_post)
    outputs: list[str] = []
    run_dir = tmp_path / "run"
    with OpenAITestServer(SERVERS.get(scenario, honest)) as server:
        spec = experiment(tmp_path, server.base_url)
        ran = runner.invoke(app, ["run", str(spec), "--out", str(run_dir)])  # with progress
        outputs.append(_outputs(ran))
        assert ran.exit_code == 0, ran.output
        # The same through `madebate discuss`, whose key comes from OPENAI_API_KEY.
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        args = ["discuss", "Capital of France?", "-o", "Rome", "-o", "Paris", "--agents", "2"]
        args += ["--model", "openai/m", "--base-url", server.base_url, "--personas", "none"]
        args += ["--max-turns", "1", "--reply-format", "text"]
        args += ["--retry-initial-s", "0", "--retry-max-s", "0"]  # retry at once
        outputs += [_outputs(runner.invoke(app, a)) for a in (args, [*args, "--json"])]
        requests = server.requests
    for command in (["report"], ["summary"], ["eval", "-m", "accuracy", "-m", "exact_match"]):
        done = runner.invoke(app, [*command, str(run_dir)])
        assert done.exit_code == 0, done.output
        outputs.append(_outputs(done))

    # The scenario really happened: the key went out, and the echoes came back.
    records = [r.model_dump(mode="json") for r in mb.load_run(run_dir).records]
    assert len(records) == 2
    errors = [r["error"]["message"] for r in records if r["error"]]
    if scenario == "client-raises":
        assert requests == []
        assert len(errors) == 2 and all("transport failed" in e for e in errors)
    else:
        assert requests and all(_auth(r) == f"Bearer {KEY}" for r in requests)
    if scenario in ("honest", "echo-in-reply"):
        assert errors == [] and all(r["answer"] == "B" for r in records)
    if scenario in ("401", "500"):
        assert len(errors) == 2 and all(f"HTTP {scenario}" in e for e in errors)
    if scenario != "honest":
        assert all("***" in e for e in errors)  # the echo was there, and was masked
        raws = [m["raw"] for r in records for m in (r["result"] or {}).get("messages", [])]
        assert all("***" in raw for raw in raws)

    # spec.yaml keeps the variable's name only.
    stored = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    assert stored["model"]["api_key_env"] == ENV
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {"records.jsonl", "spec.yaml", "summary.json", "index.html"} <= {p.name for p in files}
    assert any(p.suffix == ".sqlite" for p in files)  # the call cache is searched too
    for path in files:
        assert_no_key(str(path.relative_to(tmp_path)), path.read_bytes())
    for i, text in enumerate(outputs):
        assert_no_key(f"command output {i}", text)
    assert_no_key("the log", caplog.text)
    captured = capfd.readouterr()
    assert_no_key("stdout", captured.out)
    assert_no_key("stderr", captured.err)


# -- the provider's own redaction -------------------------------------------------------------


async def test_an_echoed_key_is_masked_wherever_the_error_message_is_cut() -> None:
    """Error messages keep their first 300 characters; a key lying across that cut must not
    leave its first half behind. Paddings 9 apart: one of them puts the key (20 characters)
    across the cut, wherever the SDK's own prefix ends."""
    pads = list(range(150, 330, 9))
    left = iter(pads)

    def respond(request: RecordedRequest) -> ScriptedResponse:
        return ScriptedResponse(401, {"error": {"message": "x" * next(left) + _auth(request)}})

    with OpenAITestServer(respond) as server:
        model = OpenAICompatibleModel("m", base_url=server.base_url, api_key=KEY, timeout_s=5)
        messages = [ChatMessage(role="user", content="hi")]
        for _ in pads:
            with pytest.raises(ModelCallError) as caught:
                await model.generate(messages, GenerateConfig(max_tokens=8))
            assert_no_key("the error message", str(caught.value))
            cause = _shown_cause(caught.value)
            assert_no_key("the error's cause", "" if cause is None else f"{cause!s} {cause!r}")
        await model.aclose()


async def test_a_failing_client_never_carries_the_key_in_its_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(openai.AsyncOpenAI, "post", _raising_post)
    model = mb.models.ManagedModel(
        OpenAICompatibleModel("m", base_url="http://127.0.0.1:9/v1", api_key=KEY), max_attempts=1
    )
    with pytest.raises(ModelCallError) as caught:
        await model.generate(
            [ChatMessage(role="user", content="hi")],
            GenerateConfig(),
            role="discussion",
            agent="A1",
        )
    error = caught.value
    assert "transport failed" in str(error)
    assert_no_key("the error", str(error) + repr(error))
    assert error.record is not None
    assert_no_key("the call record", error.record.model_dump_json())
    # A traceback (--debug) prints the chain as Python's traceback module walks it.
    chain = _shown_cause(error)
    while chain is not None:
        assert_no_key("a chained exception", f"{chain!s} {chain!r}")
        chain = _shown_cause(chain)


def _shown_cause(exc: BaseException) -> BaseException | None:
    if exc.__cause__ is not None:
        return exc.__cause__
    return None if exc.__suppress_context__ else exc.__context__


@pytest.mark.parametrize("stray", ["\n", "\r", " \r\n"])
async def test_a_key_with_a_stray_line_break_is_masked_in_the_connection_error(stray: str) -> None:
    """A key read from a file keeps its line break; the HTTP library then refuses the header
    and quotes its value ('Illegal header value b"Bearer sk-..."')."""
    with OpenAITestServer(completion("ok")) as server:
        model = OpenAICompatibleModel("m", base_url=server.base_url, api_key=KEY + stray)
        with pytest.raises(ModelCallError) as caught:
            await model.generate([ChatMessage(role="user", content="hi")], GenerateConfig())
        await model.aclose()
        assert server.requests == []
    assert "connection error" in str(caught.value)
    assert_no_key("the error", f"{caught.value!s} {caught.value!r}")
