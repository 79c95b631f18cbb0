"""The run directory: the resolved spec, package versions, one JSON line per finished example
per cell (a `RunRecord`, appended and flushed as each finishes), and a summary (`RunSummary`).

A run killed at any moment leaves at most a torn last line; reading skips it and resuming cuts
it off before appending, so no line is ever duplicated or broken for readers."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import sys
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import yaml

from madebate._errors import MadebateError
from madebate.runs._records import RecordKey, RunRecord, RunSummary, parse_record

SPEC_FILE = "spec.yaml"
VERSIONS_FILE = "versions.json"
RECORDS_FILE = "records.jsonl"
SUMMARY_FILE = "summary.json"
CELLS_FILE = "cells.json"
LOCK_FILE = "run.lock"
_PACKAGES = (
    "madebate",
    "openai",
    "pydantic",
    "networkx",
    "tenacity",
    "jinja2",
    "llama-cpp-python",
    "vllm",
)


def package_versions() -> dict[str, str]:
    out = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def latest_records(run_dir: Path) -> list[RunRecord]:
    """One record per (cell, example, repeat): the last one written. A resumed run re-runs
    failed examples and appends their new record; the old line stays in the file as history."""
    latest: dict[RecordKey, RunRecord] = {}
    for record in iter_records(run_dir):
        latest.pop(record.key, None)
        latest[record.key] = record
    return list(latest.values())


def iter_records(run_dir: Path) -> Iterator[RunRecord]:
    """Every complete line, superseded ones included (`latest_records` gives one per example),
    validated (a line from an older version upgraded); a torn last line (a killed run) or a
    line that is not JSON is skipped. A JSON line that is not a record fails, naming the line."""
    path = run_dir / RECORDS_FILE
    if not path.exists():
        return
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return  # torn tail of a killed run
            try:
                data = json.loads(raw)
            except json.JSONDecodeError:
                continue
            yield parse_record(data, source=f"{path}, line {number}")


class RunWriter:
    """Appends records to one run directory; safe to resume."""

    def __init__(
        self, run_dir: Path, *, spec: dict[str, Any], cells: list[dict[str, Any]], resume: bool
    ):
        self.run_dir = run_dir
        run_dir.mkdir(parents=True, exist_ok=True)
        # Taken before anything is read or cut: a second run on this directory must not
        # truncate or interleave with a live one. The OS drops the lock when the process dies,
        # even by SIGKILL, so a crashed run never leaves a stale lock behind.
        self._lock = _lock_run_dir(run_dir)
        try:
            self._open(run_dir, spec, cells, resume)
        except BaseException:
            self._lock.close()
            raise

    def _open(
        self, run_dir: Path, spec: dict[str, Any], cells: list[dict[str, Any]], resume: bool
    ) -> None:
        path = run_dir / RECORDS_FILE
        if resume:
            _cut_torn_tail(path)
        elif path.exists() and path.stat().st_size > 0:
            raise FileExistsError(
                f"{run_dir} already holds records; resume it with --resume {run_dir}"
            )
        # Failed examples are not done: resuming runs them again.
        self.done: set[RecordKey] = {r.key for r in latest_records(run_dir) if not r.failed}
        _write_atomic(
            run_dir / SPEC_FILE, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        )
        _write_atomic(run_dir / VERSIONS_FILE, json.dumps(package_versions(), indent=2))
        _write_atomic(run_dir / CELLS_FILE, json.dumps(cells, indent=2))
        self._written: set[RecordKey] = set()  # by this session: never twice, failed or not
        self._fh = path.open("a", encoding="utf-8")

    def append(self, record: RunRecord) -> None:
        key = record.key
        if key in self.done or key in self._written:
            raise RuntimeError(f"record {key} was already written")
        self._fh.write(record.model_dump_json() + "\n")  # one line: JSON escapes newlines
        self._fh.flush()  # in the kernel now: survives a killed process
        self._written.add(key)
        if not record.failed:
            self.done.add(key)

    def write_summary(self, summary: RunSummary) -> None:
        _write_atomic(self.run_dir / SUMMARY_FILE, summary.model_dump_json(indent=2))

    def close(self) -> None:
        self._fh.close()
        self._lock.close()


def _lock_run_dir(run_dir: Path) -> IO[str]:
    lock = (run_dir / LOCK_FILE).open("a+", encoding="utf-8")
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise MadebateError(
            f"{run_dir} is in use by another run ({holder}); wait for it to finish or stop it, "
            "then resume with --resume"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"pid {os.getpid()}")
    lock.flush()
    return lock


def _cut_torn_tail(path: Path) -> None:
    if not path.exists():
        return
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end != len(data):
        with path.open("r+b") as fh:
            fh.truncate(end)


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
