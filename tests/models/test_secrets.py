"""API keys never leave the environment (issue 7 item 5).

A distinctive key is planted in an environment variable that an experiment names in
`api_key_env`; its model is `openai/...` on a loopback test server that answers honestly, echoes
the Authorization header back inside replies, or fails with 401 and 500 errors whose bodies carry
the header; and once the HTTP client itself raises an exception that quotes it. Then the run is
reported, summarised and rescored through the CLI, with logging captured at DEBUG. Every byte
written under the test's folder (run directory, report, call cache) and every captured output is
searched for the key, and for a fragment of it (a truncated or partly masked key)."""

from __future__ import annotations

import base64
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


# -- a key in base_url (issue 14, item 5) ----------------------------------------------------

URL_KEY = "sk-INURL-def456UVW"
URL_FRAGMENTS = (URL_KEY, "INURL", "def456UVW")
BAD_INPUTS = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"


def assert_no_url_key(where: str, data: bytes | str) -> None:
    raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
    # user:KEY@ goes out as HTTP basic credentials: base64 of "user:KEY", as an echo holds it
    basic = base64.b64encode(f"user:{URL_KEY}".encode())
    assert basic not in raw, f"the key in base_url (as basic credentials) leaked into {where}"
    for fragment in URL_FRAGMENTS:
        assert fragment.encode() not in raw, f"the key in base_url ({fragment}) leaked into {where}"


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        ("http://user:KEY12345@host:8000/v1", "http://user:***@host:8000/v1"),
        ("http://KEY12345@host/v1", "http://***@host/v1"),
        (
            "https://h/v1?api-key=KEY%2B1&api-version=2024",
            "https://h/v1?api-key=***&api-version=2024",
        ),
        ("https://h/v1?api_key=a1;token=b2#frag", "https://h/v1?api_key=***;token=***#frag"),
        ("https://h/v1?key=a1&design=2", "https://h/v1?key=***&design=2"),
        ("https://h/v1?access_token=a1", "https://h/v1?access_token=***"),
        ("https://h/o?X-Amz-Signature=a1&sig=b2", "https://h/o?X-Amz-Signature=***&sig=***"),
        ("http://[::1]:80/v1?apikey=a1", "http://[::1]:80/v1?apikey=***"),
        # camelCase names, a password by its short name, a token in the fragment
        ("https://h/v1?accessKey=a1&authToken=b2", "https://h/v1?accessKey=***&authToken=***"),
        ("https://h/v1?privateKey=a1&pageSize=2", "https://h/v1?privateKey=***&pageSize=2"),
        ("https://h/v1?user=u&pass=a1", "https://h/v1?user=u&pass=***"),
        ("https://h/v1#access_token=a1&state=2", "https://h/v1#access_token=***&state=2"),
        ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),  # nothing to mask
        ("no url here: key=a1", "no url here: key=a1"),
        (
            "failed: POST http://u:pw123@h/v1/chat (see 'https://h?token=t1')",
            "failed: POST http://u:***@h/v1/chat (see 'https://h?token=***')",
        ),
    ],
)
def test_the_secret_parts_of_a_url_are_masked(url: str, masked: str) -> None:
    from madebate._secrets import mask_text

    assert mask_text(url) == masked


def echo_path(request: RecordedRequest) -> ScriptedResponse:
    """A hostile server failing with 401, its body quoting the path and query it was sent and
    the credentials it got."""
    return ScriptedResponse(
        401,
        {"error": {"message": f"bad credentials for {request.path}: {request.headers}"}},
    )


def _url_experiment(tmp_path: Path, base_url: str) -> Path:
    path = experiment(tmp_path, base_url)
    spec = yaml.safe_load(path.read_text(encoding="utf-8"))
    spec["model"]["api_key_env"] = "MADEBATE_TEST_NO_SUCH_VARIABLE"  # the key is in the URL
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


@pytest.mark.parametrize("form", ["userinfo", "query"])
@pytest.mark.parametrize("server_kind", ["honest", "401"])
def test_a_key_in_base_url_is_used_and_appears_nowhere(
    form: str,
    server_kind: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx logs every request's URL at INFO
    caplog.set_level(logging.INFO, logger="matplotlib")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    outputs: list[str] = []
    run_dir = tmp_path / "run"
    with OpenAITestServer(honest if server_kind == "honest" else echo_path) as server:
        scheme, _, rest = server.base_url.partition("://")
        url = (
            f"{scheme}://user:{URL_KEY}@{rest}"
            if form == "userinfo"
            else f"{server.base_url}?api-key={URL_KEY}&api-version=2024-06-01"
        )
        spec = _url_experiment(tmp_path, url)
        outputs.append(_outputs(runner.invoke(app, ["validate", str(spec)])))
        ran = runner.invoke(app, ["run", str(spec), "--out", str(run_dir)])  # with progress
        outputs.append(_outputs(ran))
        assert ran.exit_code == 0, ran.output
        args = ["discuss", "Capital of France?", "-o", "Rome", "-o", "Paris", "--agents", "2"]
        args += ["--model", "openai/m", "--base-url", url, "--personas", "none"]
        args += ["--max-turns", "1", "--reply-format", "text", "--max-attempts", "1"]
        outputs += [_outputs(runner.invoke(app, a)) for a in (args, [*args, "--json"])]
        # Resumed from the run directory alone, the key is not there to use: said plainly.
        alone = runner.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
        outputs.append(_outputs(alone))
        assert alone.exit_code == 2, alone.output
        assert "field 'model.base_url'" in flat(alone.output)
        assert "masked (***)" in flat(alone.output) and "EXPERIMENT.yaml" in flat(alone.output)
        # With the experiment file it resumes; a rotated key is no change of settings.
        rotated = _url_experiment(tmp_path, url.replace(URL_KEY, "sk-ROTATED-000000"))
        again = runner.invoke(app, ["run", str(rotated), "--resume", str(run_dir), "--quiet"])
        outputs.append(_outputs(again))
        assert again.exit_code == 0, again.output
        requests = server.requests

    # The endpoint worked: every request went to the chat path, carrying the key.
    assert requests and all(r.path.startswith("/v1/chat/completions") for r in requests)
    if form == "userinfo":
        basic = "Basic " + base64.b64encode(f"user:{URL_KEY}".encode()).decode()
        assert _auth(requests[0]) == basic
    else:
        assert f"api-key={URL_KEY}" in requests[0].path
    records = [r.model_dump(mode="json") for r in mb.load_run(run_dir).records]
    errors = [r["error"]["message"] for r in records if r["error"]]
    if server_kind == "honest":
        assert errors == [] and all(r["answer"] == "B" for r in records)
    else:
        assert len(errors) == 2 and all("HTTP 401" in e and "***" in e for e in errors)
    for command in (["report"], ["summary"], ["eval", "-m", "accuracy"]):
        done = runner.invoke(app, [*command, str(run_dir)])
        assert done.exit_code == 0, done.output
        outputs.append(_outputs(done))

    stored = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    assert "***" in stored["model"]["base_url"]
    files = [p for p in tmp_path.rglob("*") if p.is_file() and p.name != "exp.yaml"]
    files = [p for p in files if p.name != "secrets.yaml"]  # the user's own file holds it
    assert {"records.jsonl", "spec.yaml", "fingerprints.json", "index.html"} <= {
        p.name for p in files
    }
    for path in files:
        assert_no_url_key(str(path.relative_to(tmp_path)), path.read_bytes())
    for i, text in enumerate(outputs):
        assert_no_url_key(f"command output {i}", text)
    assert "HTTP Request" in caplog.text  # the URL was logged, masked
    assert_no_url_key("the log", caplog.text)
    captured = capfd.readouterr()
    assert_no_url_key("stdout", captured.out)
    assert_no_url_key("stderr", captured.err)


def test_a_report_of_an_older_run_masks_a_key_its_spec_still_holds(tmp_path: Path) -> None:
    """A run written before keys in URLs were masked: its report masks them when shown."""
    spec = _url_experiment(tmp_path, "http://127.0.0.1:9/v1")
    raw = yaml.safe_load(spec.read_text(encoding="utf-8"))
    raw["model"] = "scripted"
    run_dir = tmp_path / "run"
    assert mb.run_experiment(raw, out=run_dir).new_records == 2
    on_disk = yaml.safe_load((run_dir / "spec.yaml").read_text(encoding="utf-8"))
    on_disk["discussion"]["protocol_options"] = {"base_url": f"http://u:{URL_KEY}@h/v1"}
    (run_dir / "spec.yaml").write_text(yaml.safe_dump(on_disk), encoding="utf-8")
    done = runner.invoke(app, ["report", str(run_dir)])
    assert done.exit_code == 0, done.output
    page = (run_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "http://u:***@h/v1" in page
    assert_no_url_key("the report", page)


# The cases of tests/data/bad_inputs/ with a credential in the model's settings; each value
# holds "planted" (the basic one, base64 of "user:planted-password", starts "dXNlcjpw").
SECRET_CASES = [
    "exp_model_api_key.yaml",
    "exp_options_api_key_header.yaml",
    "exp_options_auth_header.yaml",
    "exp_options_auth_pair.yaml",
    "exp_options_basic_value.yaml",
    "exp_options_bearer_value.yaml",
    "exp_options_cookie.yaml",
    "exp_options_header_pairs.yaml",
    "exp_options_query_token.yaml",
    "exp_sweep_header_value.yaml",
    "exp_sweep_model_secret.yaml",
]


def test_the_secret_cases_are_the_files_that_plant_one() -> None:
    planted = [
        p.name
        for p in BAD_INPUTS.glob("exp_*.yaml")
        if b"planted" in p.read_bytes() or b"dXNlcjpw" in p.read_bytes()
    ]
    assert sorted(planted) == SECRET_CASES


@pytest.mark.parametrize("name", SECRET_CASES)
def test_a_secret_in_the_spec_is_refused_alike_and_never_quoted(name: str, tmp_path: Path) -> None:
    """`validate` and `run` refuse it with the same message, which names the field, not the
    value (tests/runs/test_bad_inputs.py checks what each message says)."""
    case = BAD_INPUTS / name
    checked = runner.invoke(app, ["validate", str(case)])
    ran = runner.invoke(app, ["run", str(case), "--out", str(tmp_path / "run"), "--quiet"])
    assert checked.exit_code == ran.exit_code == 2
    assert flat(checked.output) == flat(ran.output)
    assert "secrets never go in a spec" in flat(ran.output)
    for value in ("planted", "dXNlcjpw"):
        assert value not in checked.output + ran.output
    assert not (tmp_path / "run").exists()


def flat(text: str) -> str:
    return " ".join(text.split())
