"""Concurrent calls end together: a failure cancels its siblings (issue 7: a budget stop must
not leave ballots running and billing)."""

from __future__ import annotations

import asyncio

import pytest

from madebate._concurrent import gather_all
from madebate._errors import BudgetExceeded


async def test_results_come_back_in_order() -> None:
    async def value(v: int, delay: float) -> int:
        await asyncio.sleep(delay)
        return v

    assert await gather_all(value(i, 0.01 * (3 - i)) for i in range(3)) == [0, 1, 2]


async def test_a_failure_cancels_the_siblings_and_is_raised_itself() -> None:
    finished: list[str] = []
    cancelled: list[str] = []

    async def slow(name: str) -> str:
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(name)
            raise
        finished.append(name)
        return name

    async def over_budget() -> str:
        await asyncio.sleep(0.01)
        raise BudgetExceeded("call limit of 3 reached")

    with pytest.raises(BudgetExceeded, match="call limit of 3"):
        await gather_all([slow("a"), over_budget(), slow("b")])
    assert sorted(cancelled) == ["a", "b"] and finished == []
