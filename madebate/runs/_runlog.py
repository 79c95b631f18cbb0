"""The run directory: the resolved spec, package versions, one JSON line per finished example
per cell (a `RunRecord`, appended and flushed as each finishes), and a summary (`RunSummary`).

fingerprints.json holds, as the last session resolved them, each cell's settings and their
fingerprint and each example's fingerprint. A record made under other settings or for other
content than these, or for an example no longer in the dataset, is not one of the run's
records any more (`latest_records` leaves it out; it stays in the file as history).

A run killed at any moment leaves at most a torn last line; reading skips it and resuming cuts
it off before appending, so no line is ever duplicated or broken for readers."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import platform
import sys
import warnings
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import IO, Any

import yaml
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from madebate._errors import ConfigError, MadebateError
from madebate._files import SPACE_ERRNOS, os_problem
from madebate._secrets import mask_secrets, mask_text
from madebate._yaml import config_error_from
from madebate.runs._records import (
    RecordHead,
    RecordKey,
    RunRecord,
    RunSummary,
    parse_record,
    read_record_head,
)

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


class RunDirError(MadebateError):
    """The run directory cannot be made or written (a full disk, a read-only file system, a
    path through a file): the message names the path, the problem in words and what to do."""

    def __init__(self, message: str, path: Path):
        self.path = path
        super().__init__(message)


DAMAGED_HINT = (
    "the run directory is damaged: restore the file from a backup, or start the run afresh "
    "in a new --out directory"
)


class RunCell(BaseModel):
    """One sweep cell as cells.json lists it."""

    model_config = ConfigDict(extra="forbid")

    id: str
    overrides: dict[str, Any] = {}


_CELLS = TypeAdapter(list[RunCell])


def read_cells(run_dir: Path) -> list[RunCell]:
    """cells.json, validated; empty when there is none. It holds nothing of its own (each
    session writes it again from spec.yaml), so a damaged one is to be deleted."""
    path = run_dir / CELLS_FILE
    if not path.exists():
        return []
    hint = (
        "cells.json only lists the sweep's cells and is written again from spec.yaml: delete "
        f"it, then resume the run (madebate run --resume {run_dir}) to have it rewritten"
    )
    try:
        return _CELLS.validate_json(path.read_bytes())
    except ValidationError as exc:
        raise ConfigError(f"{config_error_from(exc, source=str(path))}; {hint}") from None
    except RecursionError:
        raise ConfigError(f"nested too deep to read; {hint}", source=str(path)) from None


@dataclass
class Fingerprints:
    """What a run's records were made of: per cell, its settings' fingerprint and the settings
    (to name what changed); per example id, its content's fingerprint."""

    cells: dict[str, str] = field(default_factory=dict)
    settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)
    # Per cell, earlier fingerprints of the same settings: written by a madebate that had fewer
    # settings (one added since, at its default, changes the hash but not the discussions).
    same_as: dict[str, list[str]] = field(default_factory=dict)
    # How many repeats the run makes (None: not known, a run before it was written): a record
    # of a repeat past it (`repeats:` lowered since) is not current, as a removed example.
    repeats: int | None = None

    def to_json(self) -> str:
        cells: dict[str, dict[str, Any]] = {}
        for cid, fp in self.cells.items():
            cells[cid] = {"fingerprint": fp, "settings": mask_secrets(self.settings.get(cid))}
            if self.same_as.get(cid):
                cells[cid]["same_as"] = self.same_as[cid]
        data: dict[str, Any] = {"cells": cells, "examples": self.examples}
        if self.repeats is not None:
            data["repeats"] = self.repeats
        return json.dumps(data, indent=1)

    def cell_matches(self, cell: str, fingerprint: str) -> bool:
        """`fingerprint` is the cell's, or an earlier one of the same settings."""
        return fingerprint == self.cells.get(cell) or fingerprint in self.same_as.get(cell, ())

    def is_current(self, record: RunRecord | RecordHead) -> bool:
        """Made under the cell's settings and for the example as they are now. A fingerprint
        the record lacks (written before schema 3) is unknown and passes; a cell or example
        these do not list (a sweep value removed since), or a repeat past `repeats`, is not
        current."""
        cell = self.cells.get(record.cell)
        if cell is None:
            return False
        if self.repeats is not None and record.repeat >= self.repeats:
            return False
        fp = record.cell_fingerprint
        if fp is not None and not self.cell_matches(record.cell, fp):
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
    repeats = data.get("repeats")
    if isinstance(repeats, int) and not isinstance(repeats, bool) and repeats >= 1:
        out.repeats = repeats
    for cid, cell in cells.items():
        if isinstance(cell, Mapping) and isinstance(cell.get("fingerprint"), str):
            out.cells[str(cid)] = cell["fingerprint"]
            if isinstance(cell.get("settings"), Mapping):
                out.settings[str(cid)] = dict(cell["settings"])
            same_as = cell.get("same_as")
            if isinstance(same_as, list):
                out.same_as[str(cid)] = [str(fp) for fp in same_as]
    return out


def latest_records(run_dir: Path, current: Fingerprints | None = None) -> list[RunRecord]:
    """One record per (cell, example, repeat): the last one written. A resumed run re-runs
    failed examples and appends their new record; the old line stays in the file as history.

    Only the run's current records: one made under a cell's earlier settings, for an earlier
    content of its example, or for an example no longer in the dataset is left out, as
    `current` (else the run's fingerprints.json) says; without either, every record counts.

    A list of every record in memory: `iter_latest_records` streams them one at a time."""
    return list(iter_latest_records(run_dir, current))


def latest_heads(run_dir: Path, current: Fingerprints | None = None) -> dict[RecordKey, RecordHead]:
    """`latest_records` as heads (`RecordHead`), by key, in the order of their lines: what a
    resume's bookkeeping needs, at a fraction of the records' time and memory."""
    latest: dict[RecordKey, RecordHead] = {}
    for _, head in iter_heads(run_dir):
        latest.pop(head.key, None)  # re-inserted: the order is that of the latest lines
        latest[head.key] = head
    if current is None:
        current = read_fingerprints(run_dir)
    if current is None:
        return latest
    return {key: head for key, head in latest.items() if current.is_current(head)}


def latest_line_numbers(run_dir: Path, current: Fingerprints | None = None) -> list[int]:
    """The line numbers of the latest current records (`latest_records`), in order. Only the
    numbers are kept while reading (not the heads): a run of 100,000 records is summarised
    beside its dataset."""
    if current is None:
        current = read_fingerprints(run_dir)
    latest: dict[RecordKey, int] = {}
    for number, head in iter_heads(run_dir):
        key = head.key
        latest.pop(key, None)  # re-inserted: the order is that of the latest lines
        latest[key] = number if current is None or current.is_current(head) else 0
    return [number for number in latest.values() if number]  # lines count from 1


def iter_latest_records(
    run_dir: Path, current: Fingerprints | None = None, lines: list[int] | None = None
) -> Iterator[RunRecord]:
    """`latest_records` one at a time, so memory does not grow with the run: a first pass
    reads the heads to choose the lines (or takes `lines`, from `latest_line_numbers`), a second
    parses only those. Lines are only ever appended, so the numbers stay valid."""
    wanted = set(latest_line_numbers(run_dir, current) if lines is None else lines)
    path = run_dir / RECORDS_FILE
    for number, raw in _complete_lines(path):
        if number in wanted:
            yield _parse_line(raw, f"{path}, line {number}")


def changed_cells(
    records: Iterable[RunRecord | RecordHead], before: Fingerprints | None, now: Fingerprints
) -> dict[str, list[str]]:
    """Per cell whose settings changed since its records were made, what changed ("field:
    old -> new"), as far as the settings are known. Settings that differ only by ones added to
    madebate since, at their defaults, are the same: their old fingerprint joins
    `now.same_as`."""
    changed: dict[str, list[str]] = {}
    for cid, now_fp in now.cells.items():  # what was already known to be the same stays so
        if before is not None and before.cells.get(cid) == now_fp and before.same_as.get(cid):
            now.same_as[cid] = list(before.same_as[cid])
    for r in records:
        fp = now.cells.get(r.cell)
        if fp is None or r.cell_fingerprint is None or now.cell_matches(r.cell, r.cell_fingerprint):
            continue
        if r.cell in changed:
            continue
        old = before.settings.get(r.cell) if before is not None else None
        if before is None or old is None or not before.cell_matches(r.cell, r.cell_fingerprint):
            changed[r.cell] = [
                f"settings fingerprint {r.cell_fingerprint} -> {fp} (the earlier settings are "
                "not known)"
            ]
            continue
        diffs = _diff(old, now.settings.get(r.cell, {}), "")
        if diffs:
            changed[r.cell] = diffs
        else:
            now.same_as.setdefault(r.cell, []).append(r.cell_fingerprint)
    return changed


# The defaults a setting added to madebate takes (so that it changes nothing it did before).
_ADDED_DEFAULTS: tuple[object, ...] = (None, False, [], {}, "")


def _diff(old: object, new: object, path: str) -> list[str]:
    if isinstance(old, Mapping) and isinstance(new, Mapping):
        out: list[str] = []
        for k in list(old) + [k for k in new if k not in old]:
            if k not in old and new[k] in _ADDED_DEFAULTS:
                continue  # a setting madebate gained since, at its default: nothing changed
            out += _diff(old.get(k), new.get(k), f"{path}.{k}" if path else str(k))
        return out
    if old == new:
        return []
    return [f"{path or 'settings'}: {_short(old)} -> {_short(new)}"]


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    text = mask_text(text)  # a base_url's key, in a message
    return text if len(text) <= 80 else text[:77] + "..."


def iter_records(run_dir: Path) -> Iterator[RunRecord]:
    """Every complete line, superseded ones included (`latest_records` gives one per example),
    validated (a line from an older version upgraded); a torn last line (a killed run) is
    skipped. Any other line that is not a record fails, naming the line and what to do."""
    path = run_dir / RECORDS_FILE
    for number, raw in _complete_lines(path):
        yield _parse_line(raw, f"{path}, line {number}")


def iter_heads(run_dir: Path) -> Iterator[tuple[int, RecordHead]]:
    """Every complete line's number and head (`RecordHead`), superseded ones included; a line
    whose head cannot be read fails as `iter_records` fails on it, naming the line."""
    path = run_dir / RECORDS_FILE
    for number, raw in _complete_lines(path):
        head = read_record_head(raw)
        if head is None:  # damaged or unusual: the full parse says what is wrong
            record = _parse_line(raw, f"{path}, line {number}")
            head = RecordHead(
                record.cell,
                record.example_id,
                record.repeat,
                record.stop_reason,
                record.cell_fingerprint,
                record.example_fingerprint,
                record.schema_version,
            )
        yield number, head


def _complete_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(number, line) of every complete line; a torn last line (a killed run) is left out."""
    if not path.exists():
        return
    try:
        fh = path.open("rb")
    except OSError as exc:  # a folder in its place, no permission
        raise ConfigError(
            f"cannot read it ({exc.strerror}); {DAMAGED_HINT}", source=str(path)
        ) from None
    with fh:
        for number, raw in enumerate(fh, start=1):
            if not raw.endswith(b"\n"):
                return  # torn tail of a killed run
            yield number, raw


def _parse_line(raw: bytes, where: str) -> RunRecord:
    try:  # a current record straight from its JSON (the common case, a fifth faster)
        record = RunRecord.model_validate_json(raw)
        if "schema_version" in record.model_fields_set:  # not a version-0 line: see upgrade
            return record
    except ValueError:
        pass  # an older version, or damaged: read it as a mapping, upgraded, to say what
    try:
        # Decoded first: json.loads would guess UTF-16 from stray bytes and say that instead.
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text (byte {exc.start}), not a record; {DAMAGED_HINT}", source=where
        ) from None
    except ValueError as exc:  # invalid JSON, or a number too long to read
        raise ConfigError(f"not a JSON record ({exc}); {DAMAGED_HINT}", source=where) from None
    except RecursionError:
        raise ConfigError(f"nested too deep to read; {DAMAGED_HINT}", source=where) from None
    try:
        return parse_record(data, source=where)
    except ConfigError as exc:
        raise ConfigError(f"{exc}; {DAMAGED_HINT}") from None


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
        # The first write that failed (a full disk): the run stops, and the runner raises this
        # whatever wrapped it on the way (a task group, an executor).
        self.failure: RunDirError | None = None
        make_run_dir(run_dir)
        # Taken before anything is read or cut: a second run on this directory must not
        # truncate or interleave with a live one. The OS drops the lock when the process dies,
        # even by SIGKILL, so a crashed run never leaves a stale lock behind.
        try:
            self._lock = _lock_run_dir(run_dir)
        except OSError as exc:
            raise _unusable(run_dir, exc) from None
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
            read_cells(run_dir)  # damaged: said, not silently written over
            _cut_torn_tail(path)
        elif path.exists() and path.stat().st_size > 0:
            raise FileExistsError(
                f"{run_dir} already holds records; resume it with --resume {run_dir}"
            )
        if resume and self.fingerprints is not None:
            self._check_fingerprints(run_dir, self.fingerprints)
        # Failed examples are not done: resuming runs them again; so are records made under
        # other settings or for other content (see `latest_records`).
        # Heads, not records: a resume of 100,000 examples holds their keys only.
        self.done: set[RecordKey] = {
            key for key, h in latest_heads(run_dir, self.fingerprints).items() if not h.failed
        }
        if self.fingerprints is not None:
            _write_atomic(run_dir / FINGERPRINTS_FILE, self.fingerprints.to_json())
        # A key in a URL (base_url: http://user:KEY@host) is never written: masked.
        _write_atomic(
            run_dir / SPEC_FILE,
            yaml.safe_dump(mask_secrets(spec), sort_keys=False, allow_unicode=True),
        )
        _write_atomic(run_dir / VERSIONS_FILE, json.dumps(package_versions(), indent=2))
        # A swept base_url's key as well (the cells' overrides hold the URLs as given).
        _write_atomic(run_dir / CELLS_FILE, json.dumps(mask_secrets(cells), indent=2))
        # Failed records written by this session (a done one is in `done`): never twice.
        self._written: set[RecordKey] = set()
        # Unbuffered appends through the descriptor: a line is in the kernel once `append`
        # returns (it survives a killed process), and a write that fails half way (a full
        # disk) is cut back to the last whole line, so no torn line is left behind.
        self._path = path
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        except OSError as exc:
            raise _cannot_write(path, exc) from None
        self._size = os.fstat(self._fd).st_size

    def _check_fingerprints(self, run_dir: Path, now: Fingerprints) -> None:
        """A cell whose settings changed since its records were made is refused, naming what
        changed, unless `restart_changed` (then it runs afresh). Records without fingerprints
        are kept, with a warning: they cannot be checked."""
        before = read_fingerprints(run_dir)
        records = latest_heads(run_dir, before).values()
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
        if self.failure is not None:
            raise self.failure  # the run is stopping: nothing more goes in
        line = (record.model_dump_json() + "\n").encode()  # one line: JSON escapes newlines
        try:
            _write_all(self._fd, line)
        except OSError as exc:
            with contextlib.suppress(OSError):  # else resume cuts the torn tail
                os.ftruncate(self._fd, self._size)
            self.failure = _cannot_write(
                self._path, exc, kept="every record written before it is whole and kept"
            )
            raise self.failure from None
        self._size += len(line)
        if record.failed:
            self._written.add(key)
        else:
            self.done.add(key)

    def write_summary(self, summary: RunSummary) -> None:
        """summary.json; when the run already failed to write (a full disk), a summary that
        cannot be written either is given up on: the first failure is the one to report."""
        try:
            _write_atomic(self.run_dir / SUMMARY_FILE, summary.model_dump_json(indent=2))
        except RunDirError:
            if self.failure is None:
                raise

    def close(self) -> None:
        os.close(self._fd)
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
    if path.is_dir():
        raise ConfigError(f"is a folder, not the records; {DAMAGED_HINT}", source=str(path))
    # Read back from the end only as far as the last newline: the file may be gigabytes.
    with path.open("r+b") as fh:
        size = fh.seek(0, os.SEEK_END)
        end, block = size, 1 << 16
        while end > 0:
            start = max(0, end - block)
            fh.seek(start)
            chunk = fh.read(end - start)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                end = start + newline + 1
                break
            end = start
        if end != size:
            fh.truncate(end)


def _write_atomic(path: Path, text: str) -> None:
    """The whole new content or the old one, never half; a failed write leaves no temp file."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        kept = f"the earlier {path.name} is kept as it was" if path.exists() else ""
        raise _cannot_write(path, exc, kept=kept) from None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]  # a short write (a filling disk) goes on, or raises


def make_run_dir(run_dir: Path) -> None:
    """Creates the run directory (and its parents); one that cannot be made fails with the
    path and the problem in words: a file in the way, a symlink loop, a read-only system."""
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unusable(run_dir, exc) from None


def _unusable(run_dir: Path, exc: OSError) -> RunDirError:
    return RunDirError(
        f"{run_dir}: cannot be the run directory: {_why_not_a_folder(run_dir, exc)}; "
        "give another run directory (--out)",
        run_dir,
    )


def _why_not_a_folder(run_dir: Path, exc: OSError) -> str:
    if exc.errno == errno.ENOTDIR:
        for parent in (run_dir, *run_dir.parents):
            if parent.exists() and not parent.is_dir():
                return f"{parent} is a file, not a folder"
    if exc.errno == errno.EEXIST and run_dir.is_symlink():
        try:
            os.stat(run_dir)
        except OSError as inner:
            if inner.errno == errno.ELOOP:
                return "it is a symbolic link in a loop (it leads back to itself)"
            return f"it is a symbolic link to {os.readlink(run_dir)}, which does not exist"
    if exc.errno == errno.EEXIST and run_dir.exists() and not run_dir.is_dir():
        return "it is a file, not a folder"
    # A folder that exists but takes nothing new (/proc, say): the OS says ENOENT.
    where = Path(exc.filename).parent if isinstance(exc.filename, str) else run_dir.parent
    if exc.errno == errno.ENOENT and where.is_dir():
        return f"{where} takes no new files or folders (ENOENT)"
    return os_problem(exc)


def _cannot_write(path: Path, exc: OSError, *, kept: str = "") -> RunDirError:
    """A failed write in the run directory: which file, why in words, and how to go on."""
    run_dir = path.parent
    fix = (
        "free some space (or raise the limit)"
        if exc.errno in SPACE_ERRNOS
        else "make the folder writable"
    )
    # Resumable once spec.yaml is there; before that, the run starts again.
    then = (
        f"then continue with: madebate run --resume {run_dir}"
        if (run_dir / SPEC_FILE).exists()
        else "then run the experiment again"
    )
    return RunDirError(
        f"cannot write {path}: {os_problem(exc)}" + (f"; {kept}" if kept else "") + f"; {fix}, "
        f"{then}",
        path,
    )
