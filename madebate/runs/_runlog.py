"""The run directory: the resolved spec, package versions, one JSON line per finished example
per cell (a `RunRecord`, appended and flushed as each finishes), and a summary (`RunSummary`).

fingerprints.json holds, as the last session resolved them, each cell's settings and their
fingerprint and each example's fingerprint. A record made under other settings or for other
content than these, or for an example no longer in the dataset, is not one of the run's
records any more (`latest_records` leaves it out; it stays in the file as history).

A run killed at any moment leaves at most a torn last line; reading skips it and resuming cuts
it off before appending, so no line is ever duplicated or broken for readers."""

from __future__ import annotations

import fcntl
import json
import os
import platform
import sys
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import yaml

from madebate._errors import ConfigError, MadebateError
from madebate.runs._records import RecordKey, RunRecord, RunSummary, parse_record

SPEC_FILE = "spec.yaml"
VERSIONS_FILE = "versions.json"
RECORDS_FILE = "records.jsonl"
SUMMARY_FILE = "summary.json"
CELLS_FILE = "cells.json"
LOCK_FILE = "run.lock"
FINGERPRINTS_FILE = "fingerprints.json"
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


DAMAGED_HINT = (
    "the run directory is damaged: restore the file from a backup, or start the run afresh "
    "in a new --out directory"
)


@dataclass
class Fingerprints:
    """What a run's records were made of: per cell, its settings' fingerprint and the settings
    (to name what changed); per example id, its content's fingerprint."""

    cells: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        cells = {
            cid: {"fingerprint": fp, "settings": self.settings.get(cid)}
            for cid, fp in self.cells.items()
        }
        return json.dumps({"cells": cells, "examples": self.examples}, indent=1)

    def is_current(self, record: RunRecord) -> bool:
        """Made under the cell's settings and for the example as they are now. A fingerprint
        the record lacks (written before schema 3) is unknown and passes; a cell or example
        these do not list is not current."""
        cell = self.cells.get(record.cell)
        if cell is not None and record.cell_fingerprint not in (None, cell):
            return False
        example = self.examples.get(record.example_id)
        if example is None:
            return False
        return record.example_fingerprint in (None, example)


def read_fingerprints(run_dir: Path) -> Fingerprints | None:
    """fingerprints.json of a run directory; None when there is none (a run before it
    existed) or it cannot be read (then nothing is left out)."""
    path = run_dir / FINGERPRINTS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, Mapping):
        return None
    cells, examples = data.get("cells"), data.get("examples")
    if not isinstance(cells, Mapping) or not isinstance(examples, Mapping):
        return None
    out = Fingerprints(examples={str(k): str(v) for k, v in examples.items()})
    for cid, cell in cells.items():
        if isinstance(cell, Mapping) and isinstance(cell.get("fingerprint"), str):
            out.cells[str(cid)] = cell["fingerprint"]
            if isinstance(cell.get("settings"), Mapping):
                out.settings[str(cid)] = dict(cell["settings"])
    return out


def latest_records(run_dir: Path, current: Fingerprints | None = None) -> list[RunRecord]:
    """One record per (cell, example, repeat): the last one written. A resumed run re-runs
    failed examples and appends their new record; the old line stays in the file as history.

    Only the run's current records: one made under a cell's earlier settings, for an earlier
    content of its example, or for an example no longer in the dataset is left out, as
    `current` (else the run's fingerprints.json) says; without either, every record counts."""
    latest: dict[RecordKey, RunRecord] = {}
    for record in iter_records(run_dir):
        latest.pop(record.key, None)
        latest[record.key] = record
    if current is None:
        current = read_fingerprints(run_dir)
    if current is None:
        return list(latest.values())
    return [r for r in latest.values() if current.is_current(r)]


def changed_cells(
    records: list[RunRecord], before: Fingerprints | None, now: Fingerprints
) -> dict[str, list[str]]:
    """Per cell whose settings changed since its records were made, what changed ("field:
    old -> new"), as far as the settings are known."""
    changed: dict[str, list[str]] = {}
    for r in records:
        fp = now.cells.get(r.cell)
        if fp is None or r.cell_fingerprint is None or r.cell_fingerprint == fp:
            continue
        if r.cell in changed:
            continue
        old = before.settings.get(r.cell) if before is not None else None
        if before is None or old is None or before.cells.get(r.cell) != r.cell_fingerprint:
            changed[r.cell] = [
                f"settings fingerprint {r.cell_fingerprint} -> {fp} (the earlier settings are "
                "not known)"
            ]
            continue
        diffs = _diff(old, now.settings.get(r.cell, {}), "")
        changed[r.cell] = diffs or [f"settings fingerprint {r.cell_fingerprint} -> {fp}"]
    return changed


def _diff(old: object, new: object, path: str) -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for k in list(old) + [k for k in new if k not in old]:
            out += _diff(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if old == new:
        return []
    return [f"{path or 'settings'}: {_short(old)} -> {_short(new)}"]


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return text if len(text) <= 80 else text[:77] + "..."


def iter_records(run_dir: Path) -> Iterator[RunRecord]:
    """Every complete line, superseded ones included (`latest_records` gives one per example),
    validated (a line from an older version upgraded); a torn last line (a killed run) is
    skipped. Any other line that is not a record fails, naming the line and what to do."""
    path = run_dir / RECORDS_FILE
    if not path.exists():
        return
    with path.open("rb") as fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return  # torn tail of a killed run
            where = f"{path}, line {number}"
            try:
                data = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise ConfigError(
                    f"not a JSON record ({exc}); {DAMAGED_HINT}", source=where
                ) from None
            except RecursionError:
                raise ConfigError(
                    f"nested too deep to read; {DAMAGED_HINT}", source=where
                ) from None
            try:
                record = parse_record(data, source=where)
            except ConfigError as exc:
                raise ConfigError(f"{exc}; {DAMAGED_HINT}") from None
            yield record


class RunWriter:
    """Appends records to one run directory; safe to resume."""

    def __init__(
        self,
        run_dir: Path,
        *,
        spec: dict[str, Any],
        cells: list[dict[str, Any]],
        resume: bool,
        fingerprints: Fingerprints | None = None,
        restart_changed: bool = False,
    ):
        self.run_dir = run_dir
        self.fingerprints = fingerprints
        self.restart_changed = restart_changed
        self.restarted: dict[str, list[str]] = {}  # cells run afresh: what changed
        self.unknown = 0  # records kept without fingerprints (before schema 3)
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
        if resume and self.fingerprints is not None:
            self._check_fingerprints(run_dir, self.fingerprints)
        # Failed examples are not done: resuming runs them again; so are records made under
        # other settings or for other content (see `latest_records`).
        self.done: set[RecordKey] = {
            r.key for r in latest_records(run_dir, self.fingerprints) if not r.failed
        }
        if self.fingerprints is not None:
            _write_atomic(run_dir / FINGERPRINTS_FILE, self.fingerprints.to_json())
        _write_atomic(
            run_dir / SPEC_FILE, yaml.safe_dump(spec, sort_keys=False, allow_unicode=True)
        )
        _write_atomic(run_dir / VERSIONS_FILE, json.dumps(package_versions(), indent=2))
        _write_atomic(run_dir / CELLS_FILE, json.dumps(cells, indent=2))
        self._written: set[RecordKey] = set()  # by this session: never twice, failed or not
        self._fh = path.open("a", encoding="utf-8")

    def _check_fingerprints(self, run_dir: Path, now: Fingerprints) -> None:
        """A cell whose settings changed since its records were made is refused, naming what
        changed, unless `restart_changed` (then it runs afresh). Records without fingerprints
        are kept, with a warning: they cannot be checked."""
        before = read_fingerprints(run_dir)
        records = latest_records(run_dir, before)
        changed = changed_cells(records, before, now)
        if changed and not self.restart_changed:
            shown = "; ".join(f"cell {cid}: {', '.join(what)}" for cid, what in changed.items())
            raise ConfigError(
                f"the spec changed since this run's records were made ({shown}); "
                "resuming would mix records made under both in one cell. Resume with the spec "
                "as it was, start a new run, or pass --restart-changed to run the changed "
                "cell(s) afresh (their old records stay in records.jsonl as history)",
                source=str(run_dir / SPEC_FILE),
            )
        self.restarted = changed
        self.unknown = sum(
            r.cell_fingerprint is None or r.example_fingerprint is None for r in records
        )
        if self.unknown:
            warnings.warn(
                f"{run_dir}: {self.unknown} record(s) were written before records had "
                "fingerprints; whether their settings or examples changed is unknown, so they "
                "are kept as they are",
                UserWarning,
                stacklevel=2,
            )

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
