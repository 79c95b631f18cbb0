"""Every example in README.md runs: each ```python block, each `madebate ...` command of the shell
blocks (```bash and the like, the set-up line's `.venv/bin/madebate` included) and each ```yaml
block (checked with `madebate validate`).

README.md is parsed when the tests are collected, so a new example is picked up on its own; each
example is one case named by its README line (`L16-madebate-discuss`). Each runs in a subprocess
with a timeout, so a crash (a segfault in llama.cpp, say) is a failed case that names the README
line, the exit code and the tail of stderr, never a dead pytest.

What runs is the README's own text, changed only by the tables below, which are the whole of
what differs: SWAPS (README text -> what runs instead, with why), FILES (the files the commands
name), ENV (the environment every example gets), SKIPS (commands this machine cannot run, with
why), BACKGROUND (servers a later command talks to) and SLOW. A table entry whose README text is
no longer in README.md fails `test_every_table_entry_still_matches_the_readme`, so the tables
cannot rot silently. A shell command that is neither a `madebate` command nor in SKIPS or
BACKGROUND fails until someone decides what to do with it.

The commands of one shell block run in order in one temporary directory, as a reader would type
them (`run`, then `--resume`, `summary`, `eval`, `report`): a case first runs the block's earlier
commands that have not run yet. Nothing reaches the network: `openai/` models talk to a fake
OpenAI-compatible server started here (tests/openai_test_server.py) or to the embedded model.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
EXAMPLES = ROOT / "examples"
SHELL_LANGUAGES = {"bash", "sh", "shell", "console", "zsh"}
MADEBATE_NAMES = {"madebate", ".venv/bin/madebate"}
PYTHON_NAMES = {"python", "python3"}

# Filled in when a case runs.
FAKE_URL = "{fake_url}"  # the fake OpenAI-compatible server of this module
LLAMA_PORT = "{llama_port}"  # a free port for `python -m madebate.serve_llamacpp`
WORKDIR = "{workdir}"  # the block's temporary working directory

QUESTION = '"Which planet is the largest?" -o Mars -o Jupiter -o Venus -o Earth'


@dataclass(frozen=True)
class Swap:
    readme: str  # text as it stands in README.md
    replacement: str
    reason: str


# README text -> what runs instead. Applied to every example whose text holds `readme`.
SWAPS: tuple[Swap, ...] = (
    Swap(
        'discuss "..."',
        f"discuss {QUESTION}",
        "a placeholder question: a concrete one, with the set-up block's four options",
    ),
    Swap(
        "--base-url http://127.0.0.1:8000/v1",
        f"--base-url {FAKE_URL}",
        "the `vllm serve` it talks to needs vllm and a GPU (skipped): the fake server answers",
    ),
    Swap(
        "base_url: http://127.0.0.1:8000/v1",
        f"base_url: {FAKE_URL}",
        "the experiment YAML's vLLM server: the fake server answers (it plays expert personas, "
        "replies and ballots)",
    ),
    Swap(
        "serve_llamacpp --port 8080",
        f"serve_llamacpp --port {LLAMA_PORT} --n_threads 1 --n_threads_batch 1",
        "a free port, and one llama.cpp thread each as in tests/models/test_llamacpp_server.py (more "
        "threads than free cores spin on each other on a small machine)",
    ),
    Swap(
        "--base-url http://127.0.0.1:8080/v1",
        f"--base-url http://127.0.0.1:{LLAMA_PORT}/v1 --max-turns 1 --max-tokens 64",
        "the launcher above on its free port; the real 135M model, one short turn to keep the "
        "file fast",
    ),
)


@dataclass(frozen=True)
class File:
    name: str  # as the README's commands name it, relative to the block's working directory
    source: str  # a repository path, or 'README yaml block with: TEXT'
    reason: str


EXPERIMENT_ANCHOR = "name: paradigms-vs-protocols"

# Created in every block's working directory before its first command.
FILES: tuple[File, ...] = (
    File(
        "experiment.yaml",
        f"README yaml block with: {EXPERIMENT_ANCHOR}",
        "the README's own experiment file (after SWAPS), which the commands after it run",
    ),
    File(
        "data/general_knowledge.jsonl",
        "examples/data/general_knowledge.jsonl",
        "the dataset that experiment names, relative to it (12 questions; its limit is 100)",
    ),
    File("data.jsonl", "examples/data/general_knowledge.jsonl", "any JSONL dataset file"),
    File(
        "examples",
        "examples",
        "a link: commands name examples/... from the repository root; their runs/ output "
        "stays in the temporary directory",
    ),
)


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # None: removed
    readme: str  # README text that makes this needed (must still be there)
    reason: str


ENV: tuple[EnvVar, ...] = (
    EnvVar(
        "OPENAI_BASE_URL",
        FAKE_URL,
        'model="openai/gpt-4o-mini"',
        "an `openai/` model with no base URL (the Python API block's) talks to the fake "
        "server; nothing reaches the network",
    ),
    EnvVar("OPENAI_API_KEY", "sk-readme-examples", "OPENAI_API_KEY", "the client wants a key"),
    EnvVar(
        "MADEBATE_CACHE",
        f"{WORKDIR}/calls.sqlite",
        "$MADEBATE_CACHE",
        "the call cache stays in the temporary directory, not ~/.cache",
    ),
    EnvVar(
        "BROWSER",
        f"{WORKDIR}/record-browser",
        "--open",
        "no browser here: Python's webbrowser runs $BROWSER, a script that writes the URL it "
        "was given to opened.txt",
    ),
    EnvVar("RAY_ADDRESS", None, "$RAY_ADDRESS", "`--executor ray` alone starts a local cluster"),
)


@dataclass(frozen=True)
class Rule:
    readme: str  # a command (after comment stripping) that starts with this is matched
    reason: str


SKIPS: tuple[Rule, ...] = (
    Rule("python3 -m venv .venv", "creates the virtual environment these tests already run in"),
    Rule(
        ".venv/bin/pip install",
        "installs madebate, which these tests already run from (no network on a test machine)",
    ),
    Rule(
        ".venv/bin/python -m nltk.downloader",
        "downloads NLTK data (no network on a test machine); tests/runs/test_metrics.py makes it",
    ),
    Rule(".venv/bin/ruff", "the repository's own lint check: .ci/run runs that exact line"),
    Rule(".venv/bin/mypy", "the repository's own type check: .ci/run runs that exact line"),
    Rule(".venv/bin/lint-imports", "the layer contracts; .ci/run runs that exact line"),
    Rule("(command -v chromium", "installs Chromium with apt-get: needs root and the network"),
    Rule(".venv/bin/pytest", "the whole test suite, this file included; .ci/run runs it"),
    Rule(
        "madebate run experiment.yaml --executor ray --address auto",
        "joins the Ray cluster this node belongs to: there is none on a test machine",
    ),
    Rule(
        "madebate run experiment.yaml --executor ray --address ray://head:10001",
        "needs a remote Ray cluster at head:10001",
    ),
    Rule("vllm serve", "needs vllm, a CUDA GPU and the model's weights"),
    Rule("python benchmarks/gpu_vllm.py", "needs vllm, a CUDA GPU and the model's weights"),
)

# Servers a later command of the same block talks to: started in the background, ready when
# GET /v1/models answers, stopped when the module ends.
BACKGROUND: tuple[Rule, ...] = (
    Rule(
        "python -m madebate.serve_llamacpp",
        "the llama.cpp server the next command talks to (the real embedded model over HTTP)",
    ),
)

# Examples on the real embedded model: the longer timeout. (Every example is marked `slow`.)
SLOW: tuple[Rule, ...] = (
    Rule(".venv/bin/madebate discuss", "the set-up block's discussion on the real embedded model"),
    Rule("python -m madebate.serve_llamacpp", "loads the real embedded model"),
    Rule('madebate discuss "..." --model openai/smollm2', "the real embedded model over HTTP"),
)

TIMEOUT_S = 120.0
SLOW_TIMEOUT_S = 300.0
SERVER_START_S = 90.0

# What a command of each kind must print (stdout), beyond exiting 0.
EXPECT = {
    "discuss": "stop reason",
    "validate": "ok ",
    "report": "index.html",
    "schema": '"properties"',
}


# -- reading the README --------------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    language: str
    line: int  # of the opening fence
    text: str
    body_line: int  # of the first line inside


@dataclass(frozen=True)
class Example:
    kind: str  # "python", "yaml" or "shell"
    line: int  # README line of the example
    text: str  # as written in the README (a command: comment stripped)
    block: int  # README line of the block's fence
    index: int  # position among its block's commands
    id: str = field(compare=False)


def fenced_blocks(text: str) -> list[Block]:
    blocks: list[Block] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = re.match(r"^(\s*)(```+|~~~+)\s*([\w+-]*)", lines[i])
        if not match:
            i += 1
            continue
        fence, language = match.group(2), match.group(3).lower()
        j = i + 1
        while j < len(lines) and not lines[j].strip().startswith(fence):
            j += 1
        body = "\n".join(lines[i + 1 : j]) + "\n"
        blocks.append(Block(language, i + 1, body, i + 2))
        i = j + 1
    return blocks


def _strip_comment(line: str) -> str:
    quote = None
    for k, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (k == 0 or line[k - 1].isspace()):
            return line[:k].rstrip()
    return line.rstrip()


def _split_and(line: str) -> list[str]:
    """`a && b && (c && d)` -> [a, b, (c && d)]: top-level `&&` only, quotes respected."""
    parts, start, depth, quote = [], 0, 0, None
    k = 0
    while k < len(line):
        ch = line[k]
        if quote:
            if ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and line.startswith("&&", k):
            parts.append(line[start:k].strip())
            start = k + 2
            k += 1
        k += 1
    parts.append(line[start:].strip())
    return [p for p in parts if p]


def _slug(text: str) -> str:
    words = re.findall(r"[\w.-]+", text.replace(".venv/bin/", ""))
    return "-".join(w.strip(".-") for w in words[:2] if w.strip(".-"))[:40]


def readme_examples(text: str) -> list[Example]:
    examples: list[Example] = []
    for block in fenced_blocks(text):
        if block.language == "python":
            examples.append(Example("python", block.line, block.text, block.line, 0, ""))
        elif block.language in ("yaml", "yml"):
            examples.append(Example("yaml", block.line, block.text, block.line, 0, ""))
        elif block.language in SHELL_LANGUAGES:
            index = 0
            pending, first = "", 0
            for offset, raw in enumerate(block.text.splitlines()):
                line = raw.strip()
                if line.startswith("$ "):  # a console prompt
                    line = line[2:]
                if not pending:
                    first = block.body_line + offset
                if line.endswith("\\"):
                    pending += line[:-1] + " "
                    continue
                line, pending = _strip_comment(pending + line), ""
                for command in _split_and(line):
                    examples.append(Example("shell", first, command, block.line, index, ""))
                    index += 1
    seen: dict[str, int] = {}
    out = []
    for ex in examples:
        base = f"L{ex.line}-" + (ex.kind if ex.kind != "shell" else _slug(ex.text))
        seen[base] = seen.get(base, 0) + 1
        name = base if seen[base] == 1 else f"{base}-{seen[base]}"
        out.append(Example(ex.kind, ex.line, ex.text, ex.block, ex.index, name))
    return out


README_TEXT = README.read_text(encoding="utf-8")
EXAMPLES_FOUND = readme_examples(README_TEXT)


def _rule(rules: tuple[Rule, ...], command: str) -> Rule | None:
    return next((r for r in rules if command.startswith(r.readme)), None)


def _params() -> list[Any]:
    params = []
    for ex in EXAMPLES_FOUND:
        # Every example runs in a subprocess (seconds each): all are `slow`, outside the
        # `-m "not slow"` inner loop; `.ci/run` runs them all. SLOW sets the longer timeout.
        params.append(pytest.param(ex, id=ex.id, marks=[pytest.mark.slow]))
    return params


# -- the fake server -----------------------------------------------------------------------


def _fill(schema: dict[str, Any]) -> Any:
    """A valid value of a JSON schema: agree, option B where offered, else the first choice."""
    kind = schema.get("type")
    if "enum" in schema:
        enum = schema["enum"]
        return next((v for v in ("agree", "B") if v in enum), enum[0])
    if kind == "object":
        return {k: _fill(v) for k, v in schema.get("properties", {}).items()}
    if kind == "array":
        return [_fill(schema.get("items", {"type": "string"}))]
    if kind in ("integer", "number"):
        return 1
    return "Jupiter is by far the largest planet."


def _fake_reply(request: RecordedRequest) -> ScriptedResponse:
    """Plays a whole panel: expert personas, a proposal of B, agreement, ballots."""
    body = request.body if isinstance(request.body, dict) else {}
    messages = body.get("messages") or [{}]
    prompt = str(messages[-1].get("content", ""))
    if prompt.startswith("We are forming a panel of experts"):
        n = prompt.count('- {"name"') + 1
        persona = {"name": f"Expert {n}", "description": "Knows planets.", "expertise": ["space"]}
        return completion(json.dumps(persona))
    response_format = body.get("response_format") or {}
    schema = (response_format.get("json_schema") or {}).get("schema") or response_format.get(
        "schema"
    )
    if schema:
        return completion(json.dumps(_fill(schema)), completion_tokens=7)
    if "Current Solution: none yet" in prompt:
        return completion("I checked the options.\nFinal Solution: B) Jupiter")
    return completion("[AGREE] The current solution holds up.\nFinal Solution: B) Jupiter")


@pytest.fixture(scope="module")
def fake_server() -> Iterator[OpenAITestServer]:
    with OpenAITestServer(default=_fake_reply) as server:
        yield server


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- running ---------------------------------------------------------------------------------


def _tail(text: str, lines: int) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return f"{code} (killed by {signal.Signals(-code).name})"
        except ValueError:
            return str(code)
    return str(code)


def _apply_swaps(text: str) -> str:
    for swap in SWAPS:
        text = text.replace(swap.readme, swap.replacement)
    return text


@dataclass
class Outcome:
    ok: bool
    message: str = ""


@dataclass
class BlockRun:
    """One shell block's working directory, its commands' outcomes and its servers."""

    workdir: Path
    values: dict[str, str]
    outcomes: dict[int, Outcome] = field(default_factory=dict)
    servers: list[tuple[subprocess.Popen[bytes], Path]] = field(default_factory=list)

    def fill(self, text: str) -> str:
        for key, value in self.values.items():
            text = text.replace(key, value)
        return text

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        for var in ENV:
            if var.value is None:
                env.pop(var.name, None)
            else:
                env[var.name] = self.fill(var.value)
        return env


def _prepare(run: BlockRun) -> None:
    workdir = run.workdir
    for spec in FILES:
        target = workdir / spec.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if spec.source.startswith("README yaml block with: "):
            anchor = spec.source.removeprefix("README yaml block with: ")
            found = [e for e in EXAMPLES_FOUND if e.kind == "yaml" and anchor in e.text]
            assert found, f"FILES: no ```yaml block of README.md holds {anchor!r}"
            target.write_text(run.fill(_apply_swaps(found[0].text)), encoding="utf-8")
        elif (ROOT / spec.source).is_dir():
            target.symlink_to(ROOT / spec.source, target_is_directory=True)
        else:
            shutil.copyfile(ROOT / spec.source, target)
    browser = workdir / "record-browser"
    browser.write_text(f'#!/bin/sh\necho "$1" >> "{workdir}/opened.txt"\n', encoding="utf-8")
    browser.chmod(0o755)


def _madebate() -> list[str]:
    """The madebate entry point of the environment pytest runs in (the README's
    `.venv/bin/madebate`), or the same through the interpreter."""
    script = Path(sys.executable).parent / "madebate"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "madebate.cli"]


def _argv(command: str) -> list[str]:
    argv = shlex.split(command)
    if argv[0] in MADEBATE_NAMES:
        return _madebate() + argv[1:]
    if argv[0] in PYTHON_NAMES:
        return [sys.executable, *argv[1:]]
    return argv


def run_subprocess(
    argv: list[str], *, cwd: Path, env: dict[str, str], timeout: float
) -> tuple[int, str, str, float]:
    """Runs in its own process group, all of which is killed on a timeout (Ray's helpers too)."""
    start = time.monotonic()
    proc = subprocess.Popen(
        argv,
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        err += f"\n[timed out after {timeout:.0f}s; the process group was killed]"
        return 124, out, err, time.monotonic() - start
    return proc.returncode, out, err, time.monotonic() - start


def _report(ex: Example, ran: str, code: int, out: str, err: str, wall: float) -> str:
    return (
        f"README.md line {ex.line} (block at line {ex.block}): {ex.text}\n"
        f"ran: {ran}\n"
        f"exit code {_exit_text(code)}, expected 0, after {wall:.1f}s\n"
        f"--- stderr, last 40 lines ---\n{_tail(err, 40)}\n"
        f"--- stdout, last 15 lines ---\n{_tail(out, 15)}"
    )


def _run_command(run: BlockRun, ex: Example) -> Outcome:
    if _rule(SKIPS, ex.text):
        return Outcome(True, "skipped")
    command = run.fill(_apply_swaps(ex.text))
    argv = _argv(command)
    background = _rule(BACKGROUND, ex.text)
    if background:
        return _start_server(run, ex, argv)
    if shlex.split(ex.text)[0] not in MADEBATE_NAMES:
        return Outcome(
            False,
            f"README.md line {ex.line}: `{ex.text}` is not a madebate command and is in neither "
            "SKIPS nor BACKGROUND of tests/test_readme_examples.py: run it or say why not",
        )
    timeout = SLOW_TIMEOUT_S if _rule(SLOW, ex.text) else TIMEOUT_S
    code, out, err, wall = run_subprocess(argv, cwd=run.workdir, env=run.env(), timeout=timeout)
    if code != 0:
        return Outcome(False, _report(ex, command, code, out, err, wall))
    words = shlex.split(command)
    expected = EXPECT.get(words[1] if len(words) > 1 else "")
    if expected and expected not in out:
        return Outcome(
            False,
            f"exit 0 but no {expected!r} in stdout\n" + _report(ex, command, 0, out, err, wall),
        )
    if words[1:2] == ["run"] and re.search(r"^failed: ", err, re.MULTILINE):
        return Outcome(False, "examples failed\n" + _report(ex, command, 0, out, err, wall))
    if "--open" in words:
        opened = run.workdir / "opened.txt"
        if not opened.is_file() or "index.html" not in opened.read_text():
            return Outcome(
                False,
                "--open did not hand index.html to $BROWSER\n"
                + _report(ex, command, 0, out, err, wall),
            )
    return Outcome(True, f"{wall:.1f}s")


def _start_server(run: BlockRun, ex: Example, argv: list[str]) -> Outcome:
    port = argv[argv.index("--port") + 1]
    log = run.workdir / f"server-{ex.line}.log"
    with log.open("wb") as sink:
        proc = subprocess.Popen(
            argv,
            cwd=run.workdir,
            env=run.env(),
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    run.servers.append((proc, log))
    url = f"http://127.0.0.1:{port}/v1/models"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        if proc.poll() is not None:
            text = log.read_text(errors="replace")
            return Outcome(False, _report(ex, " ".join(argv), proc.returncode, "", text, 0.0))
        try:
            with urllib.request.urlopen(url, timeout=2):
                return Outcome(True, "serving")
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            if time.monotonic() > deadline:
                text = log.read_text(errors="replace")
                return Outcome(False, f"no answer on {url} in {SERVER_START_S:.0f}s\n{text}")
            time.sleep(0.3)


@pytest.fixture(scope="module")
def block_runs(
    tmp_path_factory: pytest.TempPathFactory, fake_server: OpenAITestServer
) -> Iterator[dict[int, BlockRun]]:
    runs: dict[int, BlockRun] = {}
    yield runs
    for run in runs.values():
        for proc, _log in run.servers:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=15)


def _block_run(
    runs: dict[int, BlockRun], block: int, tmp_path_factory: pytest.TempPathFactory, url: str
) -> BlockRun:
    if block not in runs:
        workdir = tmp_path_factory.mktemp(f"readme-L{block}")
        values = {FAKE_URL: url, LLAMA_PORT: str(_free_port()), WORKDIR: str(workdir)}
        runs[block] = BlockRun(workdir, values)
        _prepare(runs[block])
    return runs[block]


# -- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("example", _params())
def test_readme_example_runs(
    example: Example,
    block_runs: dict[int, BlockRun],
    fake_server: OpenAITestServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    run = _block_run(block_runs, example.block, tmp_path_factory, fake_server.base_url)
    if example.kind == "python":
        script = run.workdir / f"readme_L{example.line}.py"
        script.write_text(run.fill(_apply_swaps(example.text)), encoding="utf-8")
        argv = [sys.executable, script.name]
    elif example.kind == "yaml":
        spec = run.workdir / f"readme_L{example.line}.yaml"
        spec.write_text(run.fill(_apply_swaps(example.text)), encoding="utf-8")
        argv = [*_madebate(), "validate", spec.name]
    else:
        skip = _rule(SKIPS, example.text)
        if skip:
            pytest.skip(f"README.md line {example.line}: {skip.reason}")
        # The block's earlier commands first, in README order, once each.
        earlier = [
            e for e in EXAMPLES_FOUND if e.block == example.block and e.index < example.index
        ]
        for prior in earlier:
            if prior.index not in run.outcomes:
                run.outcomes[prior.index] = _run_command(run, prior)
            if not run.outcomes[prior.index].ok:
                pytest.fail(
                    f"README.md line {example.line} needs line {prior.line} of its block, which "
                    f"failed:\n{run.outcomes[prior.index].message}",
                    pytrace=False,
                )
        if example.index not in run.outcomes:
            run.outcomes[example.index] = _run_command(run, example)
        outcome = run.outcomes[example.index]
        if not outcome.ok:
            pytest.fail(outcome.message, pytrace=False)
        return
    code, out, err, wall = run_subprocess(argv, cwd=run.workdir, env=run.env(), timeout=TIMEOUT_S)
    if code != 0:
        pytest.fail(_report(example, " ".join(argv), code, out, err, wall), pytrace=False)


def test_the_readme_has_examples_of_every_kind() -> None:
    kinds = {e.kind for e in EXAMPLES_FOUND}
    assert kinds == {"python", "yaml", "shell"}, kinds
    commands = [e for e in EXAMPLES_FOUND if e.kind == "shell"]
    assert any(e.text.startswith(".venv/bin/madebate discuss") for e in commands)
    assert sum(e.text.split()[0] in MADEBATE_NAMES for e in commands) >= 10


def test_every_table_entry_still_matches_the_readme() -> None:
    """A swap, skip or file whose README text is gone would be dead weight hiding a change."""
    commands = [e.text for e in EXAMPLES_FOUND if e.kind == "shell"]
    stale = [f"SWAPS: {s.readme!r}" for s in SWAPS if s.readme not in README_TEXT]
    stale += [f"ENV {v.name}: {v.readme!r}" for v in ENV if v.readme not in README_TEXT]
    for name, rules in (("SKIPS", SKIPS), ("BACKGROUND", BACKGROUND), ("SLOW", SLOW)):
        stale += [
            f"{name}: {r.readme!r}"
            for r in rules
            if not any(c.startswith(r.readme) for c in commands)
        ]
    stale += [
        f"FILES: {f.name!r}"
        for f in FILES
        if f.name not in README_TEXT
        or not (f.source.startswith("README") or (ROOT / f.source).exists())
    ]
    anchor_found = any(e.kind == "yaml" and EXPERIMENT_ANCHOR in e.text for e in EXAMPLES_FOUND)
    if not anchor_found:
        stale.append(f"FILES: no yaml block with {EXPERIMENT_ANCHOR!r}")
    assert not stale, "README.md no longer has the text of these table entries:\n" + "\n".join(
        stale
    )
