"""The sync facade: run a coroutine to completion, also from inside a running event loop."""

from __future__ import annotations

import asyncio
import contextlib
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
    started = threading.Event()
    finished = threading.Event()
    handle: dict[str, Any] = {}

    async def main() -> T:
        handle["task"] = asyncio.current_task()
        started.set()
        return await coro

    def worker() -> None:
        try:
            with asyncio.Runner() as runner:
                handle["loop"] = runner.get_loop()
                result["value"] = runner.run(main(), context=context)
        except BaseException as exc:
            result["error"] = exc
        finally:
            started.set()
            finished.set()

    thread = threading.Thread(target=worker, name="madebate-sync", daemon=True)
    thread.start()
    try:
        finished.wait()
    except BaseException:
        # An interrupt (a notebook's stop button) reaches this thread only: cancel the work in
        # the worker and wait for its cleanup, so a run writes its summary and lets go of its
        # directory before the interrupt goes on. (An Event, not Thread.join: a join cut short
        # by an interrupt can report a live thread as finished.)
        while not finished.is_set():
            try:  # a second interrupt must not leave the worker cleaning up behind our back
                started.wait()
                loop, task = handle.get("loop"), handle.get("task")
                if loop is not None and task is not None:
                    with contextlib.suppress(RuntimeError):  # the loop has just finished
                        loop.call_soon_threadsafe(task.cancel)
                finished.wait()
            except KeyboardInterrupt:
                continue
        raise
    thread.join()
    if "error" in result:
        raise result["error"]
    return result["value"]  # type: ignore[no-any-return]
