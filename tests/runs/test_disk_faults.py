"""Disk faults (issue 14, item 4): a run directory that cannot be written, a call cache that
cannot be, and an --out that cannot be a run directory.

The honest faults come first: a child process under a file size limit (RLIMIT_FSIZE, with
SIGXFSZ ignored, so a write past it fails with EFBIG as a full disk fails with ENOSPC), a
sqlite file another connection holds locked, cache files that are damaged (the cases under
tests/data/bad_caches/), paths through a file or a symlink loop, and /sys, which refuses new
folders even to root. Faults that cannot be made for real here (a full disk, a read-only file
system: the tests run as root) are injected at the file call, with the errno the OS gives.

What must hold: exit 2 with the file and the problem in words (never a bare "[Errno 28]"), no
traceback, the records written so far whole (no torn line) and the run resumable to the same
records as a clean run; a cache that fails mid-run turns off with one warning, every answer is
kept, and the summary says the cache was off and why.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

import madebate as mb
from madebate import ChatMessage, GenerateConfig
from madebate.cli import app
from madebate.models._cache import CallCache
from madebate.models.providers.scripted import ScriptedModel
from madebate.runs import _runlog

ROOT = Path(__file__).resolve().parents[2]
GK = ROOT / "examples" / "data" / "general_knowledge.jsonl"
CACHES = Path(__file__).resolve().parents[1] / "data" / "bad_caches"
N = 8  # examples
cli = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


def write_spec(tmp_path: Path, **overrides: Any) -> Path:
    spec: dict[str, Any] = {
        "name": "disk",
        "dataset": {"path": str(GK), "limit": N},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "discussion": {"agents": 3, "max_turns": 3},
        "concurrency": 2,
        "cache": False,
    }
    spec.update(overrides)
    path = tmp_path / "exp.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def records(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of records.jsonl, each one whole JSON (a torn line fails here)."""
    raw = (run_dir / "records.jsonl").read_bytes()
    assert raw == b"" or raw.endswith(b"\n"), "a torn last line was left behind"
    return [json.loads(line) for line in raw.splitlines()]


def answers(run_dir: Path) -> dict[tuple[str, str, int], Any]:
    return {(r["cell"], r["example_id"], r["repeat"]): r["answer"] for r in records(run_dir)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str, int], Any]:
    """The answers of a clean run of the same experiment."""
    folder = tmp_path_factory.mktemp("reference")
    run_dir = folder / "run"
    result = cli.invoke(app, ["run", str(write_spec(folder)), "--out", str(run_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    return answers(run_dir)


def limited(limit: int) -> Any:
    def apply() -> None:  # pragma: no cover - runs in the child
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails: EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def run_child(args: list[str], *, limit: int, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "madebate.cli", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        preexec_fn=limited(limit),
    )


# -- the run directory: a disk that fills up -------------------------------------------------


@pytest.mark.slow
def test_a_file_size_limit_mid_run_stops_clearly_and_resume_finishes_the_run(
    tmp_path: Path, reference: dict[tuple[str, str, int], Any]
) -> None:
    """For real: a child whose files may not grow past 12 kB (a record is 3-4 kB)."""
    run_dir = tmp_path / "run"
    limit = 12_000
    done = run_child(
        ["run", str(write_spec(tmp_path)), "--out", str(run_dir), "--quiet"],
        limit=limit,
        cwd=tmp_path,
    )
    text = flat(done.stderr)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stderr and "[Errno" not in done.stderr
    assert f"cannot write {run_dir / 'records.jsonl'}" in text
    assert "the file is over the largest size allowed" in text and "(EFBIG)" in text
    assert "every record written before it is whole and kept" in text
    assert f"madebate run --resume {run_dir}" in text
    kept = records(run_dir)  # whole lines only
    assert 1 <= len(kept) < N
    assert (run_dir / "records.jsonl").stat().st_size <= limit
    assert json.loads((run_dir / "summary.json").read_text())["complete"] is False

    again = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert again.exit_code == 0, again.output
    assert len(records(run_dir)) == N  # nothing twice
    assert answers(run_dir) == reference
    assert json.loads((run_dir / "summary.json").read_text())["complete"] is True


def test_a_write_cut_short_by_a_full_disk_leaves_no_torn_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[tuple[str, str, int], Any]
) -> None:
    """The fourth record's write gets half of its bytes on disk, then ENOSPC: the half line is
    cut off again, so readers and a resume see three whole records."""
    real = _runlog._write_all
    calls = 0

    def filling(fd: int, data: bytes) -> None:
        nonlocal calls
        calls += 1
        if calls < 4:
            return real(fd, data)
        os.write(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(_runlog, "_write_all", filling)
    run_dir = tmp_path / "run"
    result = cli.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(run_dir), "--quiet"])
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output and "[Errno" not in text
    assert f"cannot write {run_dir / 'records.jsonl'}: the disk is full (ENOSPC)" in text
    assert "free some space" in text and f"madebate run --resume {run_dir}" in text
    assert len(records(run_dir)) == 3
    assert len(mb.load_run(run_dir).records) == 3  # the summary reads them too

    monkeypatch.setattr(_runlog, "_write_all", real)  # space freed
    again = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert again.exit_code == 0, again.output
    assert answers(run_dir) == reference


def _full_for(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Writing `name` (through its temporary file) fails as on a full disk."""
    real = Path.write_text

    def write_text(self: Path, *args: Any, **kwargs: Any) -> int:
        if self.name in (name, f"{name}.tmp"):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(self))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", write_text)


@pytest.mark.parametrize(
    "name", ["fingerprints.json", "spec.yaml", "versions.json", "cells.json", "summary.json"]
)
def test_each_run_file_on_a_full_disk_is_named_in_words(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    run_dir = tmp_path / "run"
    _full_for(monkeypatch, name)
    result = cli.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(run_dir), "--quiet"])
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output and "[Errno" not in text
    assert f"cannot write {run_dir / name}: the disk is full (ENOSPC)" in text
    assert not list(run_dir.glob("*.tmp"))  # no half-written temporary file left
    if name in ("fingerprints.json", "spec.yaml"):
        # Before spec.yaml is there, there is nothing to resume: run again.
        assert "then run the experiment again" in text
        assert not (run_dir / "records.jsonl").exists()
        return
    assert f"madebate run --resume {run_dir}" in text
    monkeypatch.undo()
    again = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert again.exit_code == 0, again.output
    assert len(records(run_dir)) == N
    assert json.loads((run_dir / "summary.json").read_text())["complete"] is True


def test_the_report_on_a_full_disk_names_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    assert cli.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(run_dir)]).exit_code == 0
    _full_for(monkeypatch, "index.html")
    result = cli.invoke(app, ["report", str(run_dir)])
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output and "[Errno" not in text
    assert "cannot write the report" in text and "index.html" in text
    assert "the disk is full (ENOSPC)" in text
    assert f"then run madebate report {run_dir} again" in text


# -- the call cache: degrades to off, once, and the run goes on --------------------------------


def _cache_warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("warning: the call cache")]


@pytest.mark.slow
def test_a_cache_that_cannot_grow_turns_off_once_and_every_answer_is_kept(
    tmp_path: Path, reference: dict[tuple[str, str, int], Any]
) -> None:
    """For real: the cache's write-ahead log outgrows a 40 kB file size limit within the first
    calls, while records.jsonl (about 30 kB) stays under it. Before, every later call became
    an error record ("database or disk is full") and the run exited 0."""
    cache = tmp_path / "calls.sqlite"
    run_dir = tmp_path / "run"
    spec = write_spec(tmp_path, cache=True, cache_path=str(cache))
    done = run_child(
        ["run", str(spec), "--out", str(run_dir), "--quiet"], limit=40_000, cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    warned = _cache_warnings(done.stderr)
    assert len(warned) == 1, done.stderr  # one warning, not one per call
    assert str(cache) in warned[0] and "could not be written" in warned[0]
    assert "it is off for the rest of this run" in warned[0]
    kept = records(run_dir)
    assert len(kept) == N and all(r["error"] is None for r in kept)
    assert answers(run_dir) == reference
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cache"]["enabled"] is True
    assert summary["cache"]["off"].startswith("could not be written")
    shown = cli.invoke(app, ["summary", str(run_dir)])
    assert shown.exit_code == 0
    assert "call cache turned off in the last session: it could not be written" in flat(
        shown.output
    )


async def test_a_locked_cache_turns_off_once_and_the_replies_still_come(
    tmp_path: Path, recwarn: pytest.WarningsRecorder
) -> None:
    """Another process holds the cache file locked for writing: the first write waits its
    timeout, fails, and turns the cache off; no call fails."""
    path = tmp_path / "calls.sqlite"
    CallCache(path).close()  # a cache in WAL mode, as the runs leave it
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")
    try:
        cache = CallCache(path, timeout_s=0.05)
        model = mb.models.ManagedModel(ScriptedModel(), cache=cache)
        config = GenerateConfig(temperature=0.0)
        texts = []
        for i in range(5):
            messages = [ChatMessage(role="user", content=f"question {i}")]
            output, record = await model.generate(messages, config, role="discussion", agent="A1")
            texts.append(output.text)
            assert record.error is None
        assert all(texts)
        assert cache.off is not None and "could not be written" in cache.off
        assert "database is locked" in cache.off
        ours = [w for w in recwarn if "the call cache" in str(w.message)]
        assert len(ours) == 1
        cache.close()
    finally:
        other.execute("ROLLBACK")
        other.close()


# (case file, whether the run goes on without the cache, what the message must say)
CACHE_CASES: list[tuple[str, bool, tuple[str, ...]]] = [
    ("cache_not_sqlite.sqlite", False, ("not a call cache", "file is not a database")),
    ("cache_torn_header.sqlite", False, ("not a call cache", "the file is not SQLite, or is")),
    ("cache_other_layout.sqlite", False, ("not a call cache", "no such column: key")),
    ("cache_damaged_pages.sqlite", True, ("could not be read", "malformed")),
]


def test_every_cache_case_file_is_in_the_table() -> None:
    assert sorted(p.name for p in CACHES.iterdir()) == sorted(n for n, _, _ in CACHE_CASES)


@pytest.mark.parametrize(
    ("name", "goes_on", "expected"), CACHE_CASES, ids=[n for n, _, _ in CACHE_CASES]
)
def test_a_damaged_cache_file(
    tmp_path: Path,
    name: str,
    goes_on: bool,
    expected: tuple[str, ...],
    reference: dict[tuple[str, str, int], Any],
) -> None:
    """A file that is no cache at all fails at once, before the run directory exists, naming
    the file and saying it may be deleted; one damaged inside (its pages) is found mid-run,
    and the cache turns off with one warning."""
    cache = tmp_path / name
    shutil.copyfile(CACHES / name, cache)  # opening a cache may write to it
    run_dir = tmp_path / "run"
    spec = write_spec(tmp_path, cache=True, cache_path=str(cache))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = cli.invoke(app, ["run", str(spec), "--out", str(run_dir), "--quiet"])
    text = flat(result.output)
    assert "Traceback" not in result.output
    if not goes_on:
        assert result.exit_code == 2, text
        assert f"cannot open the call cache {cache}" in text
        assert "field 'cache_path'" in text and "delete it" in text and "--no-cache" in text
        for part in expected:
            assert part in text, f"{part!r} missing from: {text}"
        assert not run_dir.exists()
        return
    assert result.exit_code == 0, text
    warned = [str(w.message) for w in caught if "the call cache" in str(w.message)]
    assert len(warned) == 1, warned  # one, not one per call
    assert str(cache) in warned[0] and "it is off for the rest of this run" in warned[0]
    for part in expected:
        assert part in warned[0], f"{part!r} missing from: {warned[0]}"
    assert "call cache turned off in the last session" in text
    kept = records(run_dir)
    assert len(kept) == N and all(r["error"] is None for r in kept)
    assert answers(run_dir) == reference
    assert "could not be read" in json.loads((run_dir / "summary.json").read_text())["cache"]["off"]


def test_a_summary_written_before_the_cache_could_turn_off_reads_as_on(tmp_path: Path) -> None:
    """summary.json of schema 3 has no `off`: it reads as None (upgrade)."""
    from madebate.runs._records import parse_summary

    old = {"schema_version": 3, "cells": {}, "cache": {"enabled": True, "hits": 2, "misses": 5}}
    summary = parse_summary(old, source="summary.json")
    assert summary.cache is not None and summary.cache.off is None and summary.cache.hits == 2


# -- --out: a path that cannot be a run directory ---------------------------------------------


def _under_a_file(tmp: Path) -> tuple[Path, str]:
    (tmp / "notes.txt").write_text("a file\n")
    return tmp / "notes.txt" / "run", f"{tmp / 'notes.txt'} is a file, not a folder"


def _an_existing_file(tmp: Path) -> tuple[Path, str]:
    (tmp / "results").write_text("a file\n")
    return tmp / "results", "it is a file, not a folder"


def _a_symlink_loop(tmp: Path) -> tuple[Path, str]:
    (tmp / "loop").symlink_to(tmp / "loop")
    return tmp / "loop", "it is a symbolic link in a loop"


def _through_a_symlink_loop(tmp: Path) -> tuple[Path, str]:
    (tmp / "a").symlink_to(tmp / "b")
    (tmp / "b").symlink_to(tmp / "a")
    return tmp / "a" / "run", "the path goes through a loop of symbolic links (ELOOP)"


def _a_dangling_symlink(tmp: Path) -> tuple[Path, str]:
    (tmp / "gone").symlink_to(tmp / "removed-disk")
    return tmp / "gone", f"it is a symbolic link to {tmp / 'removed-disk'}, which does not exist"


def _sys(tmp: Path) -> tuple[Path, str]:
    # sysfs takes no new folders, even from root (EPERM; EACCES for another user).
    return Path("/sys/madebate-test-run"), "(EPERM)" if os.geteuid() == 0 else "(EACCES)"


def _proc(tmp: Path) -> tuple[Path, str]:
    # A folder that exists but takes no new file, even from root: its lock file fails.
    return Path("/proc/self"), "/proc/self takes no new files or folders (ENOENT)"


OUT_CASES = {
    "under-a-file": _under_a_file,
    "an-existing-file": _an_existing_file,
    "a-symlink-loop": _a_symlink_loop,
    "through-a-symlink-loop": _through_a_symlink_loop,
    "a-dangling-symlink": _a_dangling_symlink,
    "sys": _sys,
    "proc": _proc,
}


def _out_error(result: Result, path: Path) -> str:
    text = flat(result.output)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output and "[Errno" not in text
    assert text.startswith(f"error: {path}: cannot be the run directory:"), text
    assert "give another run directory (--out)" in text
    return text


@pytest.mark.parametrize("case", OUT_CASES)
def test_an_out_that_cannot_be_a_run_directory(tmp_path: Path, case: str) -> None:
    path, problem = OUT_CASES[case](tmp_path)
    if case == "sys" and not Path("/sys/kernel").is_dir():
        pytest.skip("no sysfs here")
    if case == "proc" and not Path("/proc/self/status").is_file():
        pytest.skip("no procfs here")
    result = cli.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(path), "--quiet"])
    text = _out_error(result, path)
    assert problem in text, text


def test_an_out_on_a_read_only_file_system(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Root writes anywhere here, so the file system's answer is given at the call."""
    run_dir = tmp_path / "ro" / "run"

    def read_only(self: Path, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))

    monkeypatch.setattr(Path, "mkdir", read_only)
    result = cli.invoke(app, ["run", str(write_spec(tmp_path)), "--out", str(run_dir), "--quiet"])
    text = _out_error(result, run_dir)
    assert "the file system is read-only (EROFS)" in text
