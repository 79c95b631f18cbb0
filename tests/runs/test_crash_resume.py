"""Crashes and interrupts: a run killed at random moments and resumed ends with exactly the
records of a clean run (no duplicates, no torn lines); Ctrl-C finishes writing and says how to
resume; two runs on one directory refuse instead of interleaving; a run that cannot start fails
before it writes or locks anything; failed examples are run again on resume.

The subprocess runs go through `madebate.cli.main` (the `madebate` entry point) with every
scripted reply delayed a little (`SLOW_CLI`), so that a signal lands in the middle of a run.
Replies do not depend on timing, so the records do not either (except the timing fields).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import madebate as mb
from madebate._errors import ModelCallError
from madebate.cli import app
from madebate.models.providers.scripted import ScriptedRequest, default_script
from madebate.runs._runlog import latest_records

ROOT = Path(__file__).resolve().parents[2]
GK = ROOT / "examples" / "data" / "general_knowledge.jsonl"
CELLS = ["protocol=majority_consensus", "protocol=simple_voting", "protocol=approval_voting"]
N_EXAMPLES = 8
TOTAL = len(CELLS) * N_EXAMPLES
# Generous upper bounds for waiting on a condition (a record on disk, a process ending): a
# busy machine (other processes on every core) makes start-up and each step many times slower,
# and a test that waits on a condition only takes this long when something is wrong.
PATIENCE_S = 120
# Fields that depend on timing or on what an earlier, killed attempt left in the call cache (a
# call served from the cache counts 0 attempts).
VOLATILE = {
    "wall_s",
    "latency_s",
    "finished_at",
    "discussion_wall_s",
    "cache_hit",
    "cache_hits",
    "attempts",
    # The cell's settings name the test's model seam, not the reference's `scripted`.
    "cell_fingerprint",
}

SLOW_CLI = '''
"""The madebate CLI with every scripted reply delayed, so that a signal lands mid-run: the
`scripted` provider is replaced through the public provider registry (the test suite's model
seam, in a process of its own), so the spec still says `model: scripted` and a plain
`madebate run --resume` can finish the run."""
import asyncio
import os

import madebate as mb
from madebate import cli
from madebate.models.providers.scripted import default_script

_delay = float(os.environ["CRASH_TEST_DELAY_S"])


async def _slow(request):
    await asyncio.sleep(_delay)
    return default_script(request)


mb.models.providers.unregister("scripted")
mb.models.providers.register("scripted")(lambda name, options: mb.ScriptedModel(_slow, **options))
cli.main()
'''

cli = CliRunner()


# -- helpers ------------------------------------------------------------------------------


def make_spec(cache_path: Path, **overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "crash-resume",
        "dataset": {"path": str(GK), "limit": N_EXAMPLES},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "team": {"agents": 3},
        "discussion": {"max_turns": 3},
        "concurrency": 2,
        "cache_path": str(cache_path),
        "sweep": {"protocol": [c.split("=")[1] for c in CELLS]},
    }
    spec.update(overrides)
    return spec


def write_spec(path: Path, spec: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def key(r: dict[str, Any]) -> tuple[str, str, int]:
    return (r["cell"], r["example_id"], r["repeat"])


def stable(value: Any) -> Any:
    """A record (or summary) without the fields that depend on timing or the cache."""
    if isinstance(value, dict):
        return {k: stable(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [stable(v) for v in value]
    if isinstance(value, float):  # means over records summed in another order
        return round(value, 9)
    return value


def check_lines(run_dir: Path, *, complete: bool) -> list[dict[str, Any]]:
    """The records file line by line: every line but (unless `complete`) a torn last one
    parses, and no (cell, example, repeat) appears twice."""
    path = run_dir / "records.jsonl"
    raw = path.read_bytes() if path.exists() else b""
    lines = raw.split(b"\n")
    tail = lines.pop()  # b"" when the file ends with a newline
    if complete:
        assert tail == b"", f"records.jsonl ends in a torn line: {tail[:80]!r}"
    records = [json.loads(line) for line in lines]
    keys = [key(r) for r in records]
    assert len(set(keys)) == len(keys), "a record was written twice"
    return records


def by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], Any]:
    out = {key(r): stable(r) for r in records}
    assert len(out) == len(records)
    return out


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A clean, uninterrupted run (no cache): its records by key and its summary cells."""
    tmp = tmp_path_factory.mktemp("reference")
    result = mb.run_experiment(make_spec(tmp / "unused.sqlite"), out=tmp / "run", cache=False)
    assert result.new_records == TOTAL and result.summary.complete is True
    records = check_lines(tmp / "run", complete=True)
    assert list(result.summary.cells) == CELLS
    assert all(r["error"] is None for r in records)
    cells = result.summary.model_dump(mode="json")["cells"]
    return {"records": by_key(records), "cells": stable(cells)}


def assert_like_reference(run_dir: Path, reference: dict[str, Any]) -> None:
    records = check_lines(run_dir, complete=True)
    assert len(records) == TOTAL
    assert by_key(records) == reference["records"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is True and summary["stopped"] is None
    assert stable(summary["cells"]) == reference["cells"]


@pytest.fixture
def slow_cli(tmp_path: Path) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    """Starts `madebate ARGS` in a subprocess with each scripted reply delayed by `delay` s."""
    script = tmp_path / "slow_cli.py"
    script.write_text(SLOW_CLI)
    started: list[subprocess.Popen[bytes]] = []

    def start(*args: str, delay: float = 0.05) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "CRASH_TEST_DELAY_S": str(delay),
            "MADEBATE_CACHE": str(tmp_path / "default-cache-never-used.sqlite"),
        }
        proc = subprocess.Popen(
            [sys.executable, str(script), *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        started.append(proc)
        return proc

    yield start
    for proc in started:  # a failed assertion must not leave a run behind
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


def complete_lines(run_dir: Path) -> int:
    try:
        return (run_dir / "records.jsonl").read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_for_lines(proc: subprocess.Popen[bytes], run_dir: Path, n: int) -> None:
    deadline = time.monotonic() + PATIENCE_S
    while complete_lines(run_dir) < n:
        assert proc.poll() is None, "the run ended before the signal could be sent"
        assert time.monotonic() < deadline, "no records appeared"
        time.sleep(0.01)


def flat(text: str) -> str:
    """Output with rich's line wrapping undone."""
    return " ".join(text.split())


# -- 1. SIGKILL at random moments, then resume --------------------------------------------

TRIALS = 10
MAX_KILLS = 3  # per trial; the attempt after the last kill runs to the end


@pytest.mark.slow  # tens of seconds of killed and resumed subprocesses
def test_runs_killed_at_random_moments_resume_to_the_clean_records(
    tmp_path: Path, slow_cli: Callable[..., subprocess.Popen[bytes]], reference: dict[str, Any]
):
    rng = random.Random(20240607)
    kills_mid_run = 0  # kills that left some but not all records
    for trial in range(TRIALS):
        trial_dir = tmp_path / f"trial{trial}"
        trial_dir.mkdir()
        # a cache of its own: what a killed attempt cached is reused by its resume only
        exp = write_spec(trial_dir / "exp.yaml", make_spec(trial_dir / "calls.sqlite"))
        run_dir = trial_dir / "run"
        kept = b""  # the complete lines on disk after the last kill
        kills = 0
        while True:
            if (run_dir / "spec.yaml").exists():
                args = ["run", "--resume", str(run_dir), "--quiet"]
            else:  # killed before the run directory was set up: start again
                args = ["run", str(exp), "--out", str(run_dir), "--quiet"]
            lines_before = complete_lines(run_dir)
            proc = slow_cli(*args)
            if kills < MAX_KILLS and (kills == 0 or rng.random() < 0.6):
                kill_at_random(proc, run_dir, lines_before, rng)
            _, err = proc.communicate(timeout=PATIENCE_S)
            if proc.returncode == 0:
                break
            assert proc.returncode == -signal.SIGKILL, err.decode()
            kills += 1
            # What a kill leaves: complete, distinct records, at most a torn last line; and
            # every line written before an earlier kill is still there, byte for byte.
            records = check_lines(run_dir, complete=False)
            raw = read_records_file(run_dir)
            assert raw.startswith(kept)
            kept = raw[: raw.rfind(b"\n") + 1]
            kills_mid_run += 0 < len(records) < TOTAL
        assert read_records_file(run_dir).startswith(kept)
        assert_like_reference(run_dir, reference)
    assert kills_mid_run >= 3, f"only {kills_mid_run} kill(s) landed mid-run"


def kill_at_random(
    proc: subprocess.Popen[bytes], run_dir: Path, lines_before: int, rng: random.Random
) -> None:
    """SIGKILL after a random delay: a third of the time counted from the start (so it may
    land while the process starts up or sets the run directory up), otherwise from this
    attempt's first new record (so it lands mid-run however slow the start-up is)."""
    if rng.random() < 1 / 3:
        time.sleep(rng.uniform(0.05, 1.0))
    else:
        deadline = time.monotonic() + PATIENCE_S
        while complete_lines(run_dir) == lines_before and proc.poll() is None:
            assert time.monotonic() < deadline, "no records appeared"
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 1.0))
    if proc.poll() is None:
        proc.kill()


def read_records_file(run_dir: Path) -> bytes:
    path = run_dir / "records.jsonl"
    return path.read_bytes() if path.exists() else b""


# -- 2. Ctrl-C ----------------------------------------------------------------------------


@pytest.mark.slow  # a slowed-down CLI in a subprocess, then a resume in another
@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_finishes_writing_and_prints_how_to_resume(
    tmp_path: Path,
    slow_cli: Callable[..., subprocess.Popen[bytes]],
    reference: dict[str, Any],
    stop: signal.Signals,
):
    exp = write_spec(tmp_path / "exp.yaml", make_spec(tmp_path / "calls.sqlite"))
    run_dir = tmp_path / "run"
    proc = slow_cli("run", str(exp), "--out", str(run_dir), "--quiet", delay=0.1)
    wait_for_lines(proc, run_dir, 3)
    proc.send_signal(stop)  # SIGTERM (kill, a scheduler) is handled as Ctrl-C
    _, err = proc.communicate(timeout=PATIENCE_S)
    stderr = err.decode()

    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr
    records = check_lines(run_dir, complete=True)  # no torn line: writing finished
    assert 3 <= len(records) < TOTAL
    # One line, whatever the terminal width, so the command can be copied as it stands.
    assert (
        f"interrupted: {len(records)} record(s) kept in {run_dir}; "
        f"continue with: madebate run --resume {run_dir}\n"
    ) in stderr
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False and summary["stopped"] == "interrupted"
    assert summary["new_records"] == len(records)
    assert sum(c["n"] for c in summary["cells"].values()) == len(records)

    # The command it printed works (the lock went with the process) and finishes the run.
    done = subprocess.run(
        [sys.executable, "-m", "madebate.cli", "run", "--resume", str(run_dir), "--quiet"],
        capture_output=True,
        text=True,
        timeout=PATIENCE_S,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"{TOTAL - len(records)} new record(s), {len(records)} already done" in flat(done.stdout)
    assert_like_reference(run_dir, reference)
    assert check_lines(run_dir, complete=True)[: len(records)] == records


def interrupting(run_dir: Path, *, delay_s: float = 0.0) -> mb.ScriptedModel:
    """The default script, with a real SIGINT sent to this process as the first call starts
    after a record is on disk in `run_dir` (a condition, not a call count: on a busy machine
    the records may be written later than a given call), and each reply delayed by
    `delay_s`. A call that starts after a record is written belongs to a later one, so the
    interrupt always lands mid-run: at least one record kept, not all."""
    sent = False

    async def script(request: ScriptedRequest) -> str:
        nonlocal sent
        if not sent and complete_lines(run_dir) >= 1:
            sent = True
            os.kill(os.getpid(), signal.SIGINT)
        if delay_s:
            await asyncio.sleep(delay_s)
        return default_script(request)

    return mb.ScriptedModel(script, record_prompts=True)


def test_ctrl_c_in_this_process_releases_the_directory_at_once(
    tmp_path: Path, model_seam: Any, reference: dict[str, Any]
):
    """Ctrl-C in a script: the run directory is unlocked and summarised by the time the
    interrupt leaves the runner, so the same process can resume it straight away."""
    run_dir = tmp_path / "run"
    model = [interrupting(run_dir)]  # a real SIGINT, handled as asyncio.run handles Ctrl-C
    test_model = model_seam.use(lambda model_id, options: model[0])
    spec = make_spec(tmp_path / "calls.sqlite", model=test_model)
    exp = write_spec(tmp_path / "exp.yaml", spec)
    out = cli.invoke(app, ["run", str(exp), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 130, out.output
    kept = check_lines(run_dir, complete=True)
    assert 1 <= len(kept) < TOTAL
    assert f"interrupted: {len(kept)} record(s) kept in {run_dir}" in out.output
    assert f"continue with: madebate run --resume {run_dir}" in out.output
    assert json.loads((run_dir / "summary.json").read_text())["complete"] is False

    model[0] = mb.ScriptedModel(record_prompts=True)
    out = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    assert_like_reference(run_dir, reference)


def test_an_interrupted_run_inside_a_running_loop_stops_and_releases_the_directory(
    tmp_path: Path, model_seam: Any, reference: dict[str, Any]
):
    """A notebook cell interrupted (the kernel raises KeyboardInterrupt in the main thread)
    while `run_experiment` runs on the sync facade's worker thread: the run must stop there
    too, so the next cell can resume the directory at once."""
    # The SIGINT lands in the main thread, as in a kernel.
    run_dir = tmp_path / "run"
    model = [interrupting(run_dir, delay_s=0.003)]
    spec = make_spec(
        tmp_path / "calls.sqlite", model=model_seam.use(lambda model_id, options: model[0])
    )

    async def cell() -> None:  # a loop runs, as in a notebook: the facade uses a thread
        mb.run_experiment(spec, out=run_dir)

    loop = asyncio.new_event_loop()
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a kernel
    try:
        with pytest.raises(KeyboardInterrupt):
            loop.run_until_complete(cell())
        kept = check_lines(run_dir, complete=True)
        assert 1 <= len(kept) < TOTAL
        # Wait until the facade's worker thread has ended (a condition, not a fixed sleep that
        # a busy machine may outlast), then check that it wrote nothing after the interrupt.
        deadline = time.monotonic() + PATIENCE_S
        while any(t.name == "madebate-sync" for t in threading.enumerate()):
            assert time.monotonic() < deadline, "the run's worker thread did not end"
            time.sleep(0.01)
        assert check_lines(run_dir, complete=True) == kept, "the run went on after Ctrl-C"
        model[0] = mb.ScriptedModel(record_prompts=True)
        mb.run_experiment(spec, resume=run_dir)
        assert_like_reference(run_dir, reference)
    finally:  # today the abandoned run finishes in the background: let it, before tmp goes
        signal.signal(signal.SIGINT, previous)
        loop.close()
        for thread in threading.enumerate():
            if thread.name == "madebate-sync":
                thread.join(timeout=PATIENCE_S)


# -- 3. one run per directory ---------------------------------------------------------------


@pytest.mark.slow  # a slowed-down CLI in a subprocess
def test_a_second_run_on_a_live_directory_refuses_instead_of_interleaving(
    tmp_path: Path, slow_cli: Callable[..., subprocess.Popen[bytes]], reference: dict[str, Any]
):
    exp = write_spec(tmp_path / "exp.yaml", make_spec(tmp_path / "calls.sqlite"))
    run_dir = tmp_path / "run"
    first = slow_cli("run", str(exp), "--out", str(run_dir), "--quiet", delay=0.1)
    wait_for_lines(first, run_dir, 1)
    spec_before = (run_dir / "spec.yaml").read_bytes()

    for args in (
        ["run", "--resume", str(run_dir), "--quiet"],
        ["run", str(exp), "--out", str(run_dir), "--quiet"],  # the lock comes first
    ):
        second = cli.invoke(app, args)
        assert second.exit_code == 2, second.output
        message = flat(second.output)
        assert f"{run_dir} is in use by another run (pid {first.pid})" in message
        assert "Traceback" not in message
    assert first.poll() is None, "the first run ended before the second one tried"
    assert (run_dir / "spec.yaml").read_bytes() == spec_before

    _, err = first.communicate(timeout=PATIENCE_S)
    assert first.returncode == 0, err.decode()
    assert_like_reference(run_dir, reference)  # every record once, nothing interleaved


# -- 4. a run that cannot start leaves nothing behind --------------------------------------


SETUP_FAILURES = [
    pytest.param(
        {"model": {"id": "openai/x", "api_key_env": "MADEBATE_CRASH_TEST_NO_KEY"}},
        ["no API key", "MADEBATE_CRASH_TEST_NO_KEY"],
        id="openai-without-a-key",
    ),
    pytest.param(
        {"model": "llamacpp/no/such/model.gguf"},
        ["GGUF file not found", "no/such/model.gguf"],
        id="missing-gguf",
    ),
    pytest.param(
        {"cache_path": "{tmp}/a-file/calls.sqlite"},
        ["field 'cache_path'", "cannot open the call cache", "a-file/calls.sqlite", "--no-cache"],
        id="unwritable-cache",
    ),
]


@pytest.mark.parametrize(("changes", "messages"), SETUP_FAILURES)
def test_a_run_that_cannot_start_fails_before_the_run_directory_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, changes: dict[str, Any], messages: list[str]
):
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("MADEBATE_CRASH_TEST_NO_KEY", raising=False)
    (tmp_path / "a-file").write_text("a regular file, not a folder\n")
    changes = {
        k: v.replace("{tmp}", str(tmp_path)) if isinstance(v, str) else v
        for k, v in changes.items()
    }
    good = make_spec(tmp_path / "calls.sqlite", dataset={"path": str(GK), "limit": 2})
    bad = write_spec(tmp_path / "bad.yaml", {**good, **changes})
    run_dir = tmp_path / "run"

    out = cli.invoke(app, ["run", str(bad), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 2, out.output
    text = flat(out.output)
    assert text.startswith("error:") and "Traceback" not in text
    for message in messages:
        assert message in text
    assert not run_dir.exists()  # not created, so neither half-made nor locked

    # The same directory works at once, in the same process (no lock or cache left open).
    out = cli.invoke(
        app,
        ["run", str(write_spec(tmp_path / "good.yaml", good)), "--out", str(run_dir), "--quiet"],
    )
    assert out.exit_code == 0, out.output
    assert len(check_lines(run_dir, complete=True)) == 2 * len(CELLS)


def test_a_refused_run_releases_the_lock_it_took(tmp_path: Path):
    """A failure after the lock is taken (here: --out onto a run that already has records)
    must release it, or the same process could not resume the directory."""
    spec = make_spec(tmp_path / "calls.sqlite", dataset={"path": str(GK), "limit": 2})
    exp = write_spec(tmp_path / "exp.yaml", spec)
    run_dir = tmp_path / "run"
    out = cli.invoke(app, ["run", str(exp), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    lines = (run_dir / "records.jsonl").read_bytes().splitlines(keepends=True)
    (run_dir / "records.jsonl").write_bytes(b"".join(lines[:-2]))

    out = cli.invoke(app, ["run", str(exp), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 2 and "already holds records" in flat(out.output)
    out = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    assert "2 new record(s), 4 already done" in flat(out.output)
    assert len(check_lines(run_dir, complete=True)) == 2 * len(CELLS)


# -- 5. failed examples are run again on resume ----------------------------------------------


def test_resume_runs_the_failed_examples_again_and_only_those(
    tmp_path: Path, model_seam: Any, reference: dict[str, Any]
):
    broken_on = ("hexagon", "capital of Japan")  # gk-03 and gk-11

    def flaky(request: ScriptedRequest) -> str:
        if any(word in request.prompt for word in broken_on):
            raise ModelCallError("the backend is down for this one", retryable=False)
        return default_script(request)

    healthy = mb.ScriptedModel(record_prompts=True)
    model: list[mb.models.ModelAPI] = [mb.ScriptedModel(flaky, record_prompts=True)]

    def create(model_id: str, options: dict[str, Any]) -> mb.models.ModelAPI:
        assert model_id == "test"
        return model[0]

    spec = make_spec(tmp_path / "calls.sqlite", model=model_seam.use(create))
    run_dir = tmp_path / "run"
    first = mb.run_experiment(spec, out=run_dir)
    failed = {key(r) for r in check_lines(run_dir, complete=True) if r["stop_reason"] == "error"}
    assert {k[1] for k in failed} == {"gk-03", "gk-11"} and len(failed) == 2 * len(CELLS)
    assert first.summary.complete is False  # the failed examples are still to be run
    assert all(c.errors == 2 for c in first.summary.cells.values())
    shown = CliRunner().invoke(app, ["summary", str(run_dir)])
    assert shown.exit_code == 0, shown.output
    listed = [line for line in shown.output.splitlines() if line.startswith("failed: ")]
    assert len(listed) == len(failed), shown.output  # each failed example, with its cause
    assert all("the backend is down for this one" in line for line in listed), listed
    assert sum("example gk-03 (repeat 0)" in line for line in listed) == len(CELLS)

    model[0] = healthy
    resumed = mb.run_experiment(spec, resume=run_dir)
    assert resumed.new_records == len(failed)
    assert resumed.skipped == TOTAL - len(failed)
    raw = (run_dir / "records.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = [json.loads(line) for line in raw.splitlines()]  # the failed lines stay, as history
    assert len(lines) == TOTAL + len(failed)
    new = lines[TOTAL:]
    assert {key(r) for r in new} == failed and all(r["error"] is None for r in new)
    # the healthy model was asked about the failed examples only
    assert healthy.requests
    for request in healthy.requests:
        assert any(w in m.content for m in request.messages for w in broken_on)

    latest = [r.model_dump(mode="json") for r in latest_records(run_dir)]
    assert len(latest) == len({key(r) for r in latest}) == TOTAL
    assert all(r["stop_reason"] != "error" for r in latest)
    assert by_key(latest) == reference["records"]
    assert all(c.errors == 0 for c in resumed.summary.cells.values())
    assert stable(resumed.summary.model_dump(mode="json")["cells"]) == reference["cells"]
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is True and stable(summary["cells"]) == reference["cells"]

    again = mb.run_experiment(spec, resume=run_dir)  # nothing failed now: nothing to do
    assert again.new_records == 0 and again.skipped == TOTAL
