"""A scriptable OpenAI-compatible chat-completions server for tests (stdlib only, loopback only).

    with OpenAITestServer() as server:
        server.enqueue(error(429), completion("hi", prompt_tokens=3, completion_tokens=1))
        model = OpenAICompatibleModel("m", base_url=server.base_url, api_key="k")
        ...
        assert len(server.requests) == 2

The server runs in its own thread (a `ThreadingHTTPServer`, one thread per connection), so it
serves async tests and sync code that starts its own event loop alike. Connections are kept
alive like a real server's (pass `keep_alive=False` for one request per connection). Each request takes the
next scripted response from the queue; when the queue is empty it uses `default` (a response,
or a function of the request), and without one it answers 500 so a test that under-scripts
fails loudly. Every request is recorded (method, path, lower-cased headers, parsed JSON body),
and `max_in_flight` is the most requests it was holding at once. A response's `delay_s` is
waited before answering; `close()` cuts such waits short and shuts every open connection, so
shutdown never hangs on a slow answer or an idle keep-alive connection.
"""

from __future__ import annotations

import contextlib
import json
import socket
import socketserver
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class ScriptedResponse:
    """One answer: an HTTP status and a JSON body, sent after `delay_s` seconds."""

    status: int = 200
    body: Any = None
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    body: Any  # the parsed JSON body, or the raw text when it was not JSON


Responder = ScriptedResponse | Callable[[RecordedRequest], ScriptedResponse]


def completion(
    text: str,
    *,
    prompt_tokens: int = 10,
    completion_tokens: int = 5,
    finish_reason: str = "stop",
    model: str = "m",
) -> ScriptedResponse:
    """A successful chat completion with one choice and a `usage` block."""
    return ScriptedResponse(
        200,
        {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": 1_700_000_000,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            },
        },
    )


def error(status: int, message: str | None = None) -> ScriptedResponse:
    """An error in OpenAI's shape: {"error": {"message", "type", "code"}}."""
    text = message or f"test server error {status}"
    return ScriptedResponse(
        status, {"error": {"message": text, "type": "test_error", "code": str(status)}}
    )


def slow(delay_s: float, then: ScriptedResponse | None = None) -> ScriptedResponse:
    """`then` (by default a completion) sent only after `delay_s` seconds: a forced timeout."""
    base = then or completion("too late")
    return ScriptedResponse(base.status, base.body, delay_s, dict(base.headers))


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = True  # server_close() joins the handler threads
    owner: OpenAITestServer

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host name up (getfqdn); on loopback there is no need.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    # Open connections are tracked from the accepting thread, so that after shutdown() every
    # accepted socket is known and close() can shut it (idle keep-alive readers then see EOF).
    def process_request(self, request: Any, client_address: Any) -> None:
        self.owner._connection_opened(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.owner._connection_closed(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 10  # a stuck client never keeps a handler thread forever
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def do_POST(self) -> None:
        self._serve()

    def do_GET(self) -> None:
        self._serve()

    def _serve(self) -> None:
        owner = self.server.owner
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        try:
            body: Any = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw
        request = RecordedRequest(
            method=self.command,
            path=self.path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
        )
        response = owner._take(request)
        try:
            if response.delay_s > 0:
                owner._stopping.wait(response.delay_s)
        finally:
            # Leave the in-flight count before the first byte goes out: the client cannot see
            # this answer (and send its next request) before the count has dropped.
            owner._leave()
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        if not owner.keep_alive or owner._stopping.is_set():
            self.close_connection = True
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            if self.close_connection:
                self.send_header("Connection", "close")
            for name, value in response.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except OSError:
            self.close_connection = True  # the client gave up (e.g. it timed out meanwhile)


class OpenAITestServer:
    """An OpenAI-compatible server on 127.0.0.1 with an ephemeral port. Use as a context manager."""

    def __init__(self, default: Responder | None = None, *, keep_alive: bool = True):
        self.default: Responder | None = default
        self.keep_alive = keep_alive
        self._connections: set[socket.socket] = set()
        self._queue: deque[ScriptedResponse] = deque()
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._in_flight = 0
        self.max_in_flight = 0
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- scripting and inspection ----------------------------------------------------------

    def enqueue(self, *responses: ScriptedResponse) -> None:
        with self._lock:
            self._queue.extend(responses)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def pending(self) -> int:
        """Scripted responses not yet used."""
        with self._lock:
            return len(self._queue)

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the server is not running")
        return int(self._httpd.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> OpenAITestServer:
        if self._httpd is not None:
            raise RuntimeError("already started")
        httpd = _HTTPServer(("127.0.0.1", 0), _Handler)
        httpd.owner = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"openai-test-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving, cut delays short, join every thread. Safe to call twice."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()  # no more accepts; every accepted connection is now tracked
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        httpd.server_close()  # joins the handler threads
        if self._thread is not None:
            self._thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def __enter__(self) -> OpenAITestServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- used by the handler threads -------------------------------------------------------

    def _take(self, request: RecordedRequest) -> ScriptedResponse:
        with self._lock:
            self._requests.append(request)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._queue:
                return self._queue.popleft()
            default = self.default
        if default is None:
            return error(500, "test server: no scripted response left")
        if not callable(default):
            return default
        try:
            return default(request)
        except Exception as exc:  # a broken responder must not kill the handler thread
            return error(500, f"test server: responder failed: {exc!r}")

    def _leave(self) -> None:
        with self._lock:
            self._in_flight -= 1

    def _connection_opened(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.add(connection)

    def _connection_closed(self, connection: socket.socket) -> None:
        with self._lock:
            self._connections.discard(connection)
