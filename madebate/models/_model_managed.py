"""One wrapper for every provider: retries, a concurrency limit per endpoint, call accounting."""

from __future__ import annotations

import asyncio
import time

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)

from madebate._errors import ContextOverflow, ModelCallError
from madebate._results import CallRecord
from madebate.models._cache import CallCache, cacheable, request_key
from madebate.models._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput

# The one default of each setting: ModelSpec (every model built from an id, in Python, on the
# command line and in runs) takes these too.
DEFAULT_MAX_CONCURRENCY = 64
DEFAULT_CALL_TIMEOUT_S = 120.0
DEFAULT_MAX_ATTEMPTS = 4
DEFAULT_RETRY_INITIAL_S = 0.5
DEFAULT_RETRY_MAX_S = 20.0
DEFAULT_RETRY_AFTER_MAX_S = 120.0


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ModelCallError) and exc.retryable


class ManagedModel:
    """Wraps a provider. Shared by all discussions that use the same endpoint.

    Retries only retryable failures (429, 5xx, connection errors, timeouts), never 4xx. Returns
    the output together with the call's accounting record; on final failure raises
    `ModelCallError` with the record attached as `exc.record`.
    """

    def __init__(
        self,
        provider: ModelAPI,
        *,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        retry_initial_s: float = DEFAULT_RETRY_INITIAL_S,
        retry_max_s: float = DEFAULT_RETRY_MAX_S,
        cache: CallCache | None = None,
        retry_after_max_s: float = DEFAULT_RETRY_AFTER_MAX_S,
        call_timeout_s: float | None = DEFAULT_CALL_TIMEOUT_S,
        context_window: int | None = None,
    ):
        self.provider = provider
        # Owned by a run's model pool: discussions and protocols using it must not close it.
        self.shared = False
        # The model's name in results and usage per model (ModelSpec.label); default: its id.
        self.label: str | None = None
        # Per attempt, for every provider: a reply that never arrives is a retryable failure.
        self.call_timeout_s = call_timeout_s
        self._context_window = context_window  # configured; else the provider's own
        self.cache = cache
        self.retry_after_max_s = retry_after_max_s
        self._backoff = wait_exponential_jitter(
            multiplier=retry_initial_s, max=retry_max_s, jitter=retry_initial_s
        )
        self.max_attempts = max_attempts
        self._retry_initial_s = retry_initial_s
        self._retry_max_s = retry_max_s
        parallel = provider.max_parallel
        self._max_concurrency = min(max_concurrency, parallel) if parallel else max_concurrency
        self._started = False
        self._start_lock: asyncio.Lock | None = None
        self._semaphores: dict[int, tuple[asyncio.AbstractEventLoop, asyncio.Semaphore]] = {}

    @property
    def model_id(self) -> str:
        return self.provider.model_id

    @property
    def name(self) -> str:
        """How results name this model: its label, else its id."""
        return self.label or self.model_id

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        *,
        role: str,
        agent: str | None,
        turn: int = 0,
        persona: str | None = None,
    ) -> tuple[ModelOutput, CallRecord]:
        context = CallContext(role=role, agent=agent, turn=turn, persona=persona)
        key = None
        if self.cache is not None and cacheable(config):
            key = request_key(self.provider.cache_identity, messages, config)
            hit = self.cache.get(key)
            if hit is not None:
                record = self._record(context, config, hit, 0, 0.0, None)
                record.cache_hit = True
                return hit, record
        await self.start()
        await self.check_context(messages, config)
        attempts = 1
        start = time.perf_counter()
        try:
            # The first attempt runs outside the retry machinery, whose bookkeeping costs more
            # client CPU than the rest of this wrapper; a retryable failure is replayed into it
            # as its first attempt, so retries, waits and the attempt count are the same.
            try:
                async with self._semaphore():
                    output = await self._attempt(messages, config, context)
            except ModelCallError as first:
                if not first.retryable:
                    raise
                replay: ModelCallError | None = first
                async for attempt in AsyncRetrying(
                    retry=retry_if_exception(_retryable),
                    stop=stop_after_attempt(self.max_attempts),
                    wait=self._wait,
                    reraise=True,
                ):
                    with attempt:
                        if replay is not None:
                            failed, replay = replay, None
                            raise failed from None
                        attempts += 1
                        async with self._semaphore():
                            output = await self._attempt(messages, config, context)
        except (ModelCallError, RetryError) as exc:
            record = self._record(
                context, config, None, attempts, time.perf_counter() - start, str(exc)
            )
            err = (
                exc
                if isinstance(exc, ModelCallError)
                else ModelCallError(str(exc), retryable=False)
            )
            err.record = record
            raise err from None
        except Exception as exc:
            # A provider bug or an unexpected exception type: account for it, never retry.
            record = self._record(
                context, config, None, attempts, time.perf_counter() - start, repr(exc)
            )
            err = ModelCallError(f"{type(exc).__name__}: {exc}", retryable=False)
            err.record = record
            raise err from exc
        if key is not None and self.cache is not None:
            self.cache.put(key, output)
        return output, self._record(context, config, output, attempts, output.latency_s, None)

    async def _attempt(
        self, messages: list[ChatMessage], config: GenerateConfig, context: CallContext
    ) -> ModelOutput:
        if self.call_timeout_s is None:
            return await self.provider.generate(messages, config, context)
        try:
            async with asyncio.timeout(self.call_timeout_s):
                return await self.provider.generate(messages, config, context)
        except TimeoutError:
            raise ModelCallError(
                f"no reply within {self.call_timeout_s}s (timeout_s)", retryable=True
            ) from None

    async def start(self) -> None:
        """The provider's load or engine start, once, outside any call's timeout."""
        if self._started:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if not self._started:
                await self.provider.start()
                if self._context_window is None:  # fixed for the model: asked once
                    self._context_window = await self.provider.context_window()
                self._started = True

    async def context_window(self) -> int | None:
        await self.start()
        return self._context_window

    async def fits(self, messages: list[ChatMessage], config: GenerateConfig) -> bool:
        """Whether the prompt and a reply of `max_tokens` fit the model's context."""
        return await self._needed(messages, config) is None

    async def check_context(self, messages: list[ChatMessage], config: GenerateConfig) -> None:
        needed = await self._needed(messages, config)
        if needed is not None:
            raise ContextOverflow(needed, await self.context_window() or 0, self.model_id)

    async def _needed(self, messages: list[ChatMessage], config: GenerateConfig) -> int | None:
        """The tokens a request needs when they are over the window; None when it fits."""
        window = await self.context_window()
        if window is None:
            return None
        # A token is at least one byte, and chat templates add a few tokens per message: most
        # prompts are shown to fit without running the tokenizer.
        bound = sum(len(m.content.encode()) + 32 for m in messages) + 64
        if bound + config.max_tokens <= window:
            return None
        needed = await self.provider.count_tokens(messages) + config.max_tokens
        return needed if needed > window else None

    def _wait(self, state: RetryCallState) -> float:
        """Exponential backoff with jitter, but never shorter than the server's Retry-After
        (capped at `retry_after_max_s`, so a hostile header cannot stall a run)."""
        backoff = self._backoff(state)
        exc = state.outcome.exception() if state.outcome else None
        asked = getattr(exc, "retry_after_s", None)
        if asked is None:
            return float(backoff)
        return float(max(backoff, min(asked, self.retry_after_max_s)))

    def _semaphore(self) -> asyncio.Semaphore:
        """The concurrency limit of the running loop (a semaphore belongs to one loop)."""
        loop = asyncio.get_running_loop()
        entry = self._semaphores.get(id(loop))
        if entry is None or entry[0] is not loop:
            self._semaphores = {k: v for k, v in self._semaphores.items() if not v[0].is_closed()}
            entry = (loop, asyncio.Semaphore(self._max_concurrency))
            self._semaphores[id(loop)] = entry
        return entry[1]

    def output_format(self, config: GenerateConfig) -> str:
        """How the reply's shape was requested: the backend's structured output, or text."""
        if config.json_schema is not None and self.provider.structured_output:
            return self.provider.structured_output
        return "text"

    def _record(
        self,
        context: CallContext,
        config: GenerateConfig,
        output: ModelOutput | None,
        attempts: int,
        latency_s: float,
        error: str | None,
    ) -> CallRecord:
        return CallRecord(
            role=context.role,  # type: ignore[arg-type]
            agent=context.agent,
            model=self.name,
            prompt_tokens=output.prompt_tokens if output else 0,
            completion_tokens=output.completion_tokens if output else 0,
            latency_s=latency_s,
            finish_reason=output.finish_reason if output else None,
            looped=output.looped if output else False,
            attempts=attempts,
            error=error,
            output_format=self.output_format(config),
        )

    async def aclose(self) -> None:
        await self.provider.aclose()

    async def __aenter__(self) -> ManagedModel:
        await self.provider.__aenter__()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
