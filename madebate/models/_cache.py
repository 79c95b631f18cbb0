"""An on-disk (SQLite) cache of model calls, keyed on the full request: model, messages and
every sampling setting including the seed. It makes a rerun reproducible and cheap.

The cache only saves work: a cache that cannot be read or written in the middle of a run (a
full disk, a read-only or locked file, a damaged page) turns itself off with one warning, and
every call goes on to the model; `off` says why, for the run's summary. A file that is no cache
at all (another file, a damaged header, another table layout) fails when it is opened, naming
the file, before any call is made."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sqlite3
import threading
import warnings
from pathlib import Path

from pydantic import ValidationError

from madebate._files import os_problem
from madebate.models._model import ChatMessage, GenerateConfig, ModelOutput


def default_cache_path() -> Path:
    env = os.environ.get("MADEBATE_CACHE")
    if env:
        return Path(env)
    # XDG: an empty or relative XDG_CACHE_HOME is ignored (else the cache lands in the cwd).
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    base = Path(xdg) if os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "madebate" / "calls.sqlite"


def cacheable(config: GenerateConfig) -> bool:
    """Only reproducible requests are cached: greedy decoding or a fixed seed."""
    return config.temperature == 0.0 or config.seed is not None


def request_key(model_id: str, messages: list[ChatMessage], config: GenerateConfig) -> str:
    payload = {
        "model": model_id,
        "messages": [[m.role, m.content] for m in messages],
        "config": config.model_dump(mode="json"),
    }
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


class CacheFileError(sqlite3.DatabaseError):
    """The file is not a call cache (not SQLite, a damaged header, another table layout)."""


# Conditions of the moment, not of the file: a cache that meets one at open is off, not fatal.
_PASSING = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR")


class CallCache:
    def __init__(self, path: str | Path | None = None, *, timeout_s: float = 5.0):
        """Opens (or creates) the cache. Raises OSError for a path that cannot hold it and
        `CacheFileError` for a file that is not one; a locked, full or read-only one opens
        turned off (`off` says why)."""
        self.path = Path(path) if path else default_cache_path()
        self.hits = 0
        self.misses = 0
        self.off: str | None = None
        """Why the cache was turned off during the run (None: it worked throughout)."""
        self._lock = threading.Lock()  # one connection, used from any thread
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None, timeout=timeout_s
        )
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, output TEXT NOT NULL)"
            )
            self._db.execute("SELECT key, output FROM calls LIMIT 0")  # the layout it needs
        except sqlite3.Error as exc:
            if getattr(exc, "sqlite_errorname", "").startswith(_PASSING):
                self._turn_off("opened", exc)
                return
            self._db.close()
            raise CacheFileError(_file_problem(exc)) from None

    def get(self, key: str) -> ModelOutput | None:
        if self.off is not None:
            return None
        try:
            with self._lock:
                row = self._db.execute("SELECT output FROM calls WHERE key = ?", (key,)).fetchone()
            hit = None if row is None else ModelOutput.model_validate_json(row[0])
        except (sqlite3.Error, OSError, ValidationError) as exc:
            self._turn_off("read", exc)
            return None
        if hit is None:
            self.misses += 1
            return None
        self.hits += 1
        return hit

    def put(self, key: str, output: ModelOutput) -> None:
        if self.off is not None:
            return
        try:
            with self._lock:
                self._db.execute(
                    "INSERT OR REPLACE INTO calls (key, output) VALUES (?, ?)",
                    (key, output.model_dump_json()),
                )
        except (sqlite3.Error, OSError) as exc:
            self._turn_off("written", exc)

    def _turn_off(self, verb: str, exc: Exception) -> None:
        """Once, whichever call meets the failure first: off, said in one warning."""
        with self._lock:
            if self.off is not None:
                return
            self.off = f"could not be {verb}: {_reason(exc)}"
            with contextlib.suppress(sqlite3.Error):
                self._db.close()  # releases its locks and files at once
        warnings.warn(
            f"the call cache {self.path} {self.off}; it is off for the rest of this run: "
            "every call goes to the model and every reply is kept in the records, none is "
            "cached",
            UserWarning,
            stacklevel=3,
        )

    def close(self) -> None:
        with self._lock:
            if self.off is None:
                self._db.close()


def _reason(exc: Exception) -> str:
    if isinstance(exc, OSError):
        return os_problem(exc)
    if isinstance(exc, ValidationError):
        return "a stored reply is damaged"
    name = getattr(exc, "sqlite_errorname", "")
    return f"{exc} ({name})" if name else str(exc)


def _file_problem(exc: sqlite3.Error) -> str:
    name = getattr(exc, "sqlite_errorname", "")
    if name in ("SQLITE_NOTADB", "SQLITE_CORRUPT"):
        return f"not a call cache: {exc} (the file is not SQLite, or is damaged)"
    return f"not a call cache: {exc} (a database of some other layout)"
