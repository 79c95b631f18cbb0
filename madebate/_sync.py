"""The sync facade: run a coroutine to completion, also from inside a running event loop."""

from __future__ import annotations

import asyncio
import contextvars
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """asyncio.run when no loop runs; otherwise (Jupyter) a private loop in a worker thread,
    so the notebook's own loop is never re-entered."""
    try:
        asyncio.get_running_loop()
        running = True
    except RuntimeError:
        running = False
    if not running:  # outside the except block, so no error carries it as its context
        return asyncio.run(coro)
    result: dict[str, Any] = {}
    context = contextvars.copy_context()

    def worker() -> None:
        try:
            result["value"] = context.run(asyncio.run, coro)
        except BaseException as exc:
            result["error"] = exc

    thread = threading.Thread(target=worker, name="madebate-sync", daemon=True)
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]
