"""A fault-injecting reverse proxy for OpenAI-compatible servers (stdlib asyncio, loopback only).

    python benchmarks/fault_proxy.py --upstream http://127.0.0.1:8000 --port 8100 \
        --fault-rate 0.1 --seed 0 --retry-after-s 1

It lives with the tests (a helper module beside them, as `openai_test_server` is: the test suite
imports it as `fault_proxy`); `benchmarks/fault_proxy.py` runs this file's `main`.

Every POST .../chat/completions is forwarded to the upstream server, except that a fraction
(`--fault-rate`) of them gets one fault, picked uniformly from `KINDS`:

  429_retry_after  429 with a `Retry-After: --retry-after-s` header (not forwarded upstream)
  429              429 without Retry-After
  500, 503         server errors
  reset            the connection is reset (SO_LINGER 0, then close: the client reads an RST)
  hang             no answer at all: held until the client gives up (closes) or the proxy stops
  truncated_json   200 with the upstream body cut in half (well-formed HTTP, broken JSON)
  empty_choices    200 with the upstream body's "choices" replaced by []
  length           the upstream reply with its content cut in half and finish_reason "length"

The draw is deterministic: a hash of (request body, how often that body was seen, --seed), so a
run is reproducible and a retried identical request gets a fresh draw. `force(kind, ...)`
overrides the draw for the next requests (tests), `KIND_NONE` forces a clean forward.

The proxy speaks HTTP/1.1 with keep-alive on both sides (one upstream connection per client
connection) and Content-Length bodies (no chunked encoding: no streaming). Other paths are
forwarded without faults. It serves two paths itself: GET /stats (JSON counters: requests,
faults by kind, and how the clients treated Retry-After: for each 429 with the header, the time
until the same request body arrived again, honoured when at least the header's value) and
POST /stats/reset.

In Python: `with FaultProxy(upstream) as proxy:` runs it in its own thread (for sync code and
tests); `async with FaultProxy(upstream) as proxy:` (or `await start()` / `await stop()`) runs
it as tasks on the running loop.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import math
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

KINDS = (
    "429_retry_after",
    "429",
    "500",
    "503",
    "reset",
    "hang",
    "truncated_json",
    "empty_choices",
    "length",
)
KIND_NONE = "none"  # for force(): forward this request untouched
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
_HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
# A retry that arrives this much before the Retry-After has run out still counts as honouring it
# (the header is measured from when the 429 left the proxy, which is before the client read it).
_TOLERANCE_S = 0.005


def _hash(*parts: object) -> int:
    """A stable 64-bit hash (independent of PYTHONHASHSEED)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big")


class _Message:
    """One parsed HTTP/1.1 request or response: the start line, headers and body."""

    def __init__(self, start: str, headers: list[tuple[str, str]], body: bytes):
        self.start = start
        self.headers = headers
        self.body = body

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    def part(self, index: int) -> str:
        """A word of the start line: 0 and 1 are a request's method and path, 1 a status."""
        words = self.start.split(" ")
        return words[index] if index < len(words) else ""

    @property
    def status(self) -> int:
        return int(self.part(1)) if self.part(1).isdigit() else 502

    @property
    def wants_close(self) -> bool:
        return (self.header("connection") or "").lower() == "close"


async def _read_message(reader: asyncio.StreamReader, *, response: bool = False) -> _Message:
    """Reads one message; raises IncompleteReadError on EOF before or inside it."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = []
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers.append((name.strip(), value.strip()))
    message = _Message(lines[0], headers, b"")
    length = message.header("content-length")
    if length is not None:
        message.body = await reader.readexactly(int(length))
    elif response and (message.header("transfer-encoding") or "").lower() == "chunked":
        raise ValueError("chunked responses are not supported (no streaming through the proxy)")
    elif response:
        message.body = await reader.read()  # no length: the body runs to the close
    return message


def _encode_response(status: int, body: bytes, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers if k.lower() not in _HOP_BY_HOP]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _json_response(status: int, obj: Any, headers: Iterable[tuple[str, str]] = ()) -> bytes:
    return _encode_response(
        status, json.dumps(obj).encode(), [("Content-Type", "application/json"), *headers]
    )


def _error_body(status: int, message: str) -> dict[str, Any]:
    kind = "rate_limit_error" if status == 429 else "server_error"
    return {"error": {"message": message, "type": kind, "code": str(status)}}


class _Upstream:
    """The upstream connection of one client connection, kept alive between requests."""

    def __init__(self, host: str, port: int):
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def exchange(self, request: _Message) -> _Message:
        method, path = request.part(0), request.part(1)
        head = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        head += [f"{k}: {v}" for k, v in request.headers if k.lower() not in _HOP_BY_HOP]
        head.append(f"Content-Length: {len(request.body)}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + request.body
        for attempt in range(2):
            fresh = self.writer is None
            if self.writer is None:
                self.reader, self.writer = await asyncio.open_connection(
                    self.host, self.port, limit=1 << 24
                )
            assert self.reader is not None
            try:
                self.writer.write(raw)
                await self.writer.drain()
                response = await _read_message(self.reader, response=True)
            except (asyncio.IncompleteReadError, ConnectionError):
                self.close()
                if fresh or attempt:
                    raise
                continue  # a kept-alive connection the upstream had closed: once more, fresh
            if response.wants_close or response.header("content-length") is None:
                self.close()
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


class FaultProxy:
    """The proxy. `fault_rate`, `retry_after_s` and `kinds` may be changed while it runs."""

    def __init__(
        self,
        upstream: str,
        *,
        fault_rate: float = 0.1,
        seed: int = 0,
        retry_after_s: float = 1.0,
        kinds: Iterable[str] = KINDS,
        host: str = "127.0.0.1",
        port: int = 0,
        hang_max_s: float = 600.0,
    ):
        parts = urlsplit(upstream if "//" in upstream else f"http://{upstream}")
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"upstream must be http://HOST:PORT, got {upstream!r}")
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("the proxy listens on loopback only")
        self.upstream_host = parts.hostname
        self.upstream_port = parts.port or 80
        self.fault_rate = fault_rate
        self.seed = seed
        self.retry_after_s = retry_after_s
        self.kinds = tuple(kinds)
        unknown = set(self.kinds) - set(KINDS)
        if unknown or not self.kinds:
            raise ValueError(f"unknown fault kinds {sorted(unknown)}; valid: {', '.join(KINDS)}")
        self.host = host
        self.port = port
        self.hang_max_s = hang_max_s
        self._lock = threading.Lock()
        self._forced: deque[str] = deque()
        self._server: asyncio.Server | None = None
        self._stopping: asyncio.Event | None = None
        self._clients: set[asyncio.StreamWriter] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.reset_stats()

    # -- counters ----------------------------------------------------------------------------

    def reset_stats(self) -> None:
        with self._lock:
            self._seen: dict[str, int] = {}
            self._retry_after_due: dict[str, tuple[float, float]] = {}  # digest -> (sent, asked)
            self._requests = 0
            self._forwarded = 0
            self._other = 0
            self._upstream_errors = 0
            self._faults = dict.fromkeys(KINDS, 0)
            self._hangs_released = 0
            self._ra = {"sent": 0, "followed": 0, "honoured": 0, "early": 0}
            self._ra_gaps: list[float] = []

    def stats(self) -> dict[str, Any]:
        with self._lock:
            gaps = sorted(self._ra_gaps)
            return {
                "requests": self._requests,  # chat completions received
                "forwarded": self._forwarded,  # of them, answered from upstream untouched
                "faults": dict(self._faults),
                "faults_total": sum(self._faults.values()),
                "other_requests": self._other,
                "upstream_errors": self._upstream_errors,
                "hangs_released": self._hangs_released,
                "retry_after": {
                    **self._ra,
                    "min_gap_s": round(gaps[0], 4) if gaps else None,
                    "median_gap_s": round(gaps[len(gaps) // 2], 4) if gaps else None,
                },
                "config": {
                    "fault_rate": self.fault_rate,
                    "seed": self.seed,
                    "retry_after_s": self.retry_after_s,
                    "kinds": list(self.kinds),
                },
            }

    def force(self, *kinds: str) -> None:
        """The next requests get these faults (or `KIND_NONE`), in order, whatever the draw."""
        bad = [k for k in kinds if k not in KINDS and k != KIND_NONE]
        if bad:
            raise ValueError(f"unknown fault kinds {bad}; valid: {', '.join(KINDS)}, none")
        with self._lock:
            self._forced.extend(kinds)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FaultProxy:
        if self._server is not None:
            raise RuntimeError("already started")
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle, self.host, self.port, limit=1 << 24, backlog=4096
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        if self._stopping is not None:
            self._stopping.set()  # releases held ("hang") requests
        for writer in list(self._clients):
            writer.close()
        handlers = [t for t in self._handlers if t is not asyncio.current_task()]
        for task in handlers:
            task.cancel()  # e.g. one waiting on a slow upstream
        if handlers:
            await asyncio.wait(handlers, timeout=5)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.wait_closed(), 5)

    async def __aenter__(self) -> FaultProxy:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def start_in_thread(self) -> FaultProxy:
        """Runs the proxy on its own event loop in a daemon thread."""
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            try:
                loop.run_until_complete(self.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.close()

        self._thread = threading.Thread(target=main, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            raise failure[0]
        return self

    def close(self) -> None:
        """Stops a proxy started with `start_in_thread` (safe to call twice)."""
        thread, loop = self._thread, self._loop
        self._thread = self._loop = None
        if thread is None or loop is None:
            return
        with contextlib.suppress(RuntimeError):  # already stopped
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)

    def __enter__(self) -> FaultProxy:
        return self.start_in_thread()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- serving -----------------------------------------------------------------------------

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._handlers.add(task)
        self._clients.add(writer)
        upstream = _Upstream(self.upstream_host, self.upstream_port)
        try:
            while True:
                try:
                    request = await _read_message(reader)
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                    break
                method, path = request.part(0), request.part(1).split("?")[0]
                if method == "GET" and path == "/stats":
                    keep = await self._send(writer, _json_response(200, self.stats()))
                elif method == "POST" and path == "/stats/reset":
                    self.reset_stats()
                    keep = await self._send(writer, _json_response(200, {"ok": True}))
                elif method == "POST" and path.endswith("/chat/completions"):
                    keep = await self._chat(request, reader, writer, upstream)
                else:
                    with self._lock:
                        self._other += 1
                    keep = await self._forward(request, writer, upstream)
                if not keep or request.wants_close:
                    break
        except (ConnectionError, OSError):
            pass
        finally:
            upstream.close()
            self._clients.discard(writer)
            writer.close()
            if task is not None:
                self._handlers.discard(task)

    def _draw(self, body: bytes) -> str:
        digest = hashlib.sha256(body).hexdigest()
        now = time.monotonic()
        with self._lock:
            self._requests += 1
            seen = self._seen[digest] = self._seen.get(digest, 0) + 1
            due = self._retry_after_due.pop(digest, None)
            if due is not None:
                sent, asked = due
                gap = now - sent
                self._ra["followed"] += 1
                self._ra["honoured" if gap >= asked - _TOLERANCE_S else "early"] += 1
                self._ra_gaps.append(gap)
            if self._forced:
                kind = self._forced.popleft()
            elif _hash(self.seed, digest, seen) % 1_000_000 < self.fault_rate * 1_000_000:
                kind = self.kinds[_hash(self.seed, digest, seen, "kind") % len(self.kinds)]
            else:
                kind = KIND_NONE
            if kind != KIND_NONE:
                self._faults[kind] += 1
            if kind == "429_retry_after":
                self._ra["sent"] += 1
                self._retry_after_due[digest] = (now, self.retry_after_s)
        return kind

    async def _chat(
        self,
        request: _Message,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        upstream: _Upstream,
    ) -> bool:
        kind = self._draw(request.body)
        if kind == "429_retry_after":
            value = self.retry_after_s
            header = str(int(value)) if float(value).is_integer() else f"{value:g}"
            return await self._send(
                writer,
                _json_response(
                    429, _error_body(429, "injected: rate limited"), [("Retry-After", header)]
                ),
            )
        if kind in ("429", "500", "503"):
            status = int(kind)
            return await self._send(
                writer, _json_response(status, _error_body(status, f"injected: {status}"))
            )
        if kind == "reset":
            sock = writer.get_extra_info("socket")
            if sock is not None:
                with contextlib.suppress(OSError):
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
            return False
        if kind == "hang":
            await self._hold(reader)
            return False
        if kind == KIND_NONE:
            return await self._forward(request, writer, upstream)
        try:
            response = await upstream.exchange(request)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return await self._upstream_failed(writer, exc)
        status = response.status
        if status != 200:  # nothing to spoil: pass the upstream's own error on
            return await self._send(writer, _encode_response(status, response.body, []))
        body = response.body
        if kind == "truncated_json":
            body = body[: len(body) // 2]
        else:
            try:
                obj = json.loads(body)
            except ValueError:
                obj = None
            if isinstance(obj, dict):
                if kind == "empty_choices":
                    obj["choices"] = []
                elif kind == "length":
                    _cut_to_length(obj)
                body = json.dumps(obj).encode()
        return await self._send(
            writer, _encode_response(200, body, [("Content-Type", "application/json")])
        )

    async def _forward(
        self, request: _Message, writer: asyncio.StreamWriter, upstream: _Upstream
    ) -> bool:
        try:
            response = await upstream.exchange(request)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            return await self._upstream_failed(writer, exc)
        with self._lock:
            self._forwarded += 1
        return await self._send(
            writer, _encode_response(response.status, response.body, response.headers)
        )

    async def _upstream_failed(self, writer: asyncio.StreamWriter, exc: BaseException) -> bool:
        with self._lock:
            self._upstream_errors += 1
        return await self._send(
            writer, _json_response(502, _error_body(502, f"proxy: upstream failed: {exc!r}"))
        )

    async def _hold(self, reader: asyncio.StreamReader) -> None:
        """No answer: wait until the client closes the connection (or the proxy stops)."""
        assert self._stopping is not None
        stop = asyncio.ensure_future(self._stopping.wait())
        try:
            async with asyncio.timeout(self.hang_max_s):
                while True:
                    read = asyncio.ensure_future(reader.read(65536))
                    done, _ = await asyncio.wait({read, stop}, return_when=asyncio.FIRST_COMPLETED)
                    if stop in done:
                        read.cancel()
                        return
                    try:
                        data = read.result()
                    except (ConnectionError, OSError):
                        data = b""
                    if not data:  # the client gave up
                        with self._lock:
                            self._hangs_released += 1
                        return
        except TimeoutError:
            return
        finally:
            stop.cancel()

    @staticmethod
    async def _send(writer: asyncio.StreamWriter, data: bytes) -> bool:
        try:
            writer.write(data)
            await writer.drain()
        except (ConnectionError, OSError):
            return False
        return True


def _cut_to_length(obj: dict[str, Any]) -> None:
    """The reply as if the server had stopped at max_tokens halfway: half the content."""
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return
    choice = choices[0]
    message = choice.get("message")
    if isinstance(message, dict) and isinstance(message.get("content"), str):
        message["content"] = message["content"][: len(message["content"]) // 2]
    choice["finish_reason"] = "length"
    usage = obj.get("usage")
    if isinstance(usage, dict) and isinstance(usage.get("completion_tokens"), int):
        usage["completion_tokens"] = math.ceil(usage["completion_tokens"] / 2)
        if isinstance(usage.get("prompt_tokens"), int):
            usage["total_tokens"] = usage["prompt_tokens"] + usage["completion_tokens"]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT of the real server")
    ap.add_argument("--port", type=int, default=8100)
    ap.add_argument("--fault-rate", type=float, default=0.1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retry-after-s", type=float, default=1.0)
    ap.add_argument("--kinds", default=",".join(KINDS), help="comma-separated fault kinds")
    args = ap.parse_args()
    proxy = FaultProxy(
        args.upstream,
        fault_rate=args.fault_rate,
        seed=args.seed,
        retry_after_s=args.retry_after_s,
        kinds=[k for k in args.kinds.split(",") if k],
        port=args.port,
    )

    async def serve() -> None:
        await proxy.start()
        print(
            f"fault proxy on {proxy.base_url} -> http://{proxy.upstream_host}:"
            f"{proxy.upstream_port} (fault rate {proxy.fault_rate})",
            flush=True,
        )
        try:
            await asyncio.Event().wait()
        finally:
            await proxy.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
