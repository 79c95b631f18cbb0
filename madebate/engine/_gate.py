"""The call gate: every model call a discussion makes passes here (turns, personas, ballots,
judge, drift, challenge, extraction, baselines). It holds the call and token budget, derives
each call's seed and keeps the call records."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from madebate._errors import BudgetExceeded, ModelCallError
from madebate._results import CallRecord
from madebate.engine._config import DiscussionConfig
from madebate.models._model import ChatMessage, GenerateConfig, ModelOutput
from madebate.models._model_managed import ManagedModel


def call_seed(seed: int | None, *parts: object) -> int | None:
    """A stable per-call seed derived from the discussion seed, so reruns repeat exactly."""
    if seed is None:
        return None
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class CallGate:
    """The one way a discussion calls a model.

    `model` is the discussion's model (`models`: the slots with their own, and `generations`
    their own sampling settings, in a mixed team); `persona_names` maps slots to persona names for the
    call records (the team fills it as agents are seated); with `logprobs`, turn calls ask for
    log-probabilities (a protocol that shows confidence). `turn` is the turn in progress, set
    by the loop: calls made on behalf of a protocol or an extension are recorded under it.
    """

    def __init__(
        self,
        model: ManagedModel,
        config: DiscussionConfig,
        *,
        persona_names: Mapping[str, str] | None = None,
        logprobs: bool = False,
        models: Mapping[str, ManagedModel] | None = None,
        generations: Mapping[str, GenerateConfig] | None = None,
    ) -> None:
        self.model = model
        # A mixed team: the slots with a model or sampling settings of their own.
        self._models: Mapping[str, ManagedModel] = models or {}
        self._generations: Mapping[str, GenerateConfig] = generations or {}
        self.config = config
        self.turn = 0
        self._persona_names: Mapping[str, str] = persona_names if persona_names is not None else {}
        self._logprobs = logprobs
        self._calls: list[CallRecord] = []
        self._started = 0
        self._tokens = 0
        self._seed_counters: dict[tuple[int, str, str], int] = {}

    @property
    def calls(self) -> Sequence[CallRecord]:
        """Every call made so far, in the order they finished (failed ones included)."""
        return self._calls

    def reserve(self, pending: Sequence[CallRecord] = ()) -> None:
        """Count one call against `max_calls` and `max_total_tokens`, or raise BudgetExceeded.
        `pending`: calls already made but not yet recorded here (a persona source's)."""
        cfg = self.config
        cap = cfg.max_calls
        if cap is not None and self._started >= cap:
            raise BudgetExceeded(f"call limit of {cap} reached")
        limit = cfg.max_total_tokens
        if limit is not None:
            tokens = self._tokens + sum(c.prompt_tokens + c.completion_tokens for c in pending)
            if tokens >= limit:
                raise BudgetExceeded(f"token limit of {limit} reached ({tokens} used)")
        self._started += 1

    def record(self, records: Iterable[CallRecord]) -> None:
        """Account calls made outside `call` after `reserve` let them through (personas)."""
        for r in records:
            self._calls.append(r)
            self._tokens += r.prompt_tokens + r.completion_tokens

    def model_for(self, slot: str) -> ManagedModel:
        """The model `slot` speaks with: its own in a mixed team, else the discussion's."""
        return self._models.get(slot, self.model)

    def generation_for(self, slot: str) -> GenerateConfig:
        """The sampling settings of `slot`'s calls: its own, else the discussion's."""
        return self._generations.get(slot, self.config.generation)

    def seeded(self, *parts: object) -> GenerateConfig:
        """The discussion's sampling settings with the seed of the call named by `parts`."""
        return self.config.generation.model_copy(
            update={"seed": call_seed(self.config.seed, *parts)}
        )

    async def call(
        self,
        messages: list[ChatMessage],
        slot: str,
        role: str,
        turn: int,
        *,
        json_schema: dict[str, Any] | None = None,
        model: ManagedModel | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> ModelOutput:
        """One call as `slot` in `role`; raises BudgetExceeded or ModelCallError (the failed
        call is recorded)."""
        self.reserve()
        cfg = self.config
        model = model or self.model_for(slot)
        update: dict[str, Any] = dict(overrides) if overrides else {}
        if cfg.seed is not None:
            # Keyed on who asks what, not on completion order, so concurrent steps repeat exactly.
            key = (turn, slot, role)
            self._seed_counters[key] = n = self._seed_counters.get(key, 0) + 1
            update["seed"] = call_seed(cfg.seed, turn, slot, role, n)
        if json_schema is not None and model.provider.structured_output is not None:
            update["json_schema"] = json_schema
        if role == "discussion" and self._logprobs:
            update["logprobs"] = True
        config: GenerateConfig = self.generation_for(slot).model_copy(update=update)
        try:
            output, record = await model.generate(
                messages,
                config,
                role=role,
                agent=slot,
                turn=turn,
                persona=self._persona_names.get(slot),
            )
        except ModelCallError as exc:
            if exc.record is not None:
                self.record([exc.record])
            raise
        self.record([record])
        return output

    async def generate(self, messages: list[ChatMessage], slot: str, role: str, turn: int) -> str:
        """`call`, for the reply text only."""
        return (await self.call(messages, slot, role, turn)).text

    async def ask(
        self,
        agent: str,
        messages: list[ChatMessage],
        role: str,
        *,
        json_schema: dict[str, Any] | None = None,
        model: ManagedModel | None = None,
    ) -> str | None:
        """One call as `agent` in the turn in progress; None when the call failed. What
        protocols (ballots, a judge) and extensions (drift, challenge) use."""
        try:
            output = await self.call(
                messages, agent, role, self.turn, json_schema=json_schema, model=model
            )
        except ModelCallError:
            return None
        return output.text
