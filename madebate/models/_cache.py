"""An on-disk (SQLite) cache of model calls, keyed on the full request: model, messages and
every sampling setting including the seed. It makes a rerun reproducible and cheap."""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
import threading
from pathlib import Path

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


class CallCache:
    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else default_cache_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()  # one connection, used from any thread
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS calls (key TEXT PRIMARY KEY, output TEXT NOT NULL)"
        )
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> ModelOutput | None:
        with self._lock:
            row = self._db.execute("SELECT output FROM calls WHERE key = ?", (key,)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return ModelOutput.model_validate_json(row[0])

    def put(self, key: str, output: ModelOutput) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO calls (key, output) VALUES (?, ?)",
                (key, output.model_dump_json()),
            )

    def close(self) -> None:
        with self._lock:
            self._db.close()
