"""What every benchmark script needs around the shared fake server: a free port, its JSON
endpoints, and a helper process that is up before the measurement starts."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

# Every benchmark asks the same kind of question: the fake server answers a multiple-choice
# prompt in MALLM's format.
QUESTION = "Which of these numbers is prime? (item {i})"
OPTIONS = ["21", "27", "29", "33"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get_json(url: str, data: bytes | None = None) -> dict[str, Any]:
    request = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
    with urllib.request.urlopen(request, timeout=10) as r:
        return dict(json.loads(r.read()))


def start_until_up(command: list[str], port: int, what: str) -> subprocess.Popen[bytes]:
    """Starts a server process and waits until its /stats answers on `port`."""
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 15
    while time.time() < deadline:
        try:
            get_json(f"http://127.0.0.1:{port}/stats")
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit(f"the {what} did not start")


def start_server(path: str, port: int, slots: int) -> subprocess.Popen[bytes]:
    """The shared fake latency server (../shared/bench/fake_llm_server.py), by path."""
    command = [sys.executable, path, "--port", str(port), "--slots", str(slots)]
    return start_until_up(command, port, "fake server")


def write_dataset(path: Path, n: int) -> None:
    with path.open("w") as fh:
        for i in range(n):
            row = {"id": f"q{i}", "question": QUESTION.format(i=i), "options": OPTIONS}
            fh.write(json.dumps({**row, "answer": "C"}) + "\n")


def discussion_spec(
    name: str,
    data: Path,
    model: dict[str, Any],
    *,
    agents: int = 3,
    turns: int = 3,
    exact_turns: bool = True,
    max_tokens: int = 512,
    in_flight: int = 200,
) -> dict[str, Any]:
    """The benchmarks' experiment: memory, majority consensus, library personas, no cache;
    `exact_turns` fixes every discussion at `turns` turns (same work per discussion)."""
    discussion: dict[str, Any] = {
        "agents": agents,
        "personas": "library",
        "paradigm": "memory",
        "protocol": "majority_consensus",
        "max_turns": turns,
        "generation": {"max_tokens": max_tokens, "temperature": 0.0},
    }
    if exact_turns:
        discussion["min_turns"] = turns
    return {
        "name": name,
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model,
        "discussion": discussion,
        "concurrency": in_flight,
        "cache": False,
    }
