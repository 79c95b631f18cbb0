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


async def test_waiting_for_a_one_at_a_time_backend_is_not_counted_against_the_timeout() -> None:
    # A backend that generates one reply at a time (llama.cpp): twenty calls of 0.1 s each
    # take 2 s in all, yet none may time out at 1 s (ample room for a busy machine to delay
    # one 0.1 s reply), because each waits its turn in the wrapper before its own clock starts.
    from madebate.models._model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput
    from madebate.models._model_managed import ManagedModel

    class OneAtATime(ModelAPI):
        model_id = "serial"
        max_parallel = 1

        def __init__(self) -> None:
            self.lock = asyncio.Lock()

        async def generate(self, messages, config, context=None):  # type: ignore[no-untyped-def]
            async with self.lock:
                await asyncio.sleep(0.1)
            return ModelOutput(text="ok")

    model = ManagedModel(OneAtATime(), max_concurrency=64, call_timeout_s=1.0, max_attempts=1)
    messages = [ChatMessage(role="user", content="hi")]
    results = await gather_all(
        model.generate(messages, GenerateConfig(), role="discussion", agent="A1") for _ in range(20)
    )
    assert [r.attempts for _, r in results] == [1] * 20
