"""Concurrent model calls that end together: one failure (a budget stop, a dead backend)
cancels the sibling calls instead of leaving them running and billing."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any, TypeVar

T = TypeVar("T")


async def gather_all(coros: Iterable[Coroutine[Any, Any, T]]) -> list[T]:
    """The results in order. On failure the others are cancelled and the first failure is
    raised itself (its type and message), not wrapped in an ExceptionGroup."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from None
    return [t.result() for t in tasks]
