"""The model interface: one async method, `generate(messages, config) -> ModelOutput`."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ChatMessage(BaseModel):
    """One chat message of a request: role and content."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: Literal["system", "user", "assistant"]
    content: str


DEFAULT_MAX_TOKENS = 1024
CRITICAL_MAX_TOKENS = 2048


class GenerateConfig(BaseModel):
    """Sampling settings of one request. Part of the cache key, so keep it complete."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, use_attribute_docstrings=True, allow_inf_nan=False
    )

    # Real replies of a capable model run a median of about 240 tokens and a 90th percentile of
    # about 830 (the critical style: median 780), so 1024 cuts few of them; a discussion in the
    # critical style defaults to CRITICAL_MAX_TOKENS.
    max_tokens: int = Field(default=DEFAULT_MAX_TOKENS, ge=1)
    """Longest reply, in tokens (a discussion in the critical style defaults to 2048)."""
    temperature: float = Field(default=0.0, ge=0.0, le=2.0)
    """Sampling temperature; 0 is greedy."""
    top_p: float = Field(default=1.0, gt=0.0, le=1.0)
    """Nucleus sampling: the smallest set of tokens whose probabilities reach top_p."""
    seed: int | None = None
    """The request's seed; a discussion derives one per call from its own seed."""
    stop: tuple[str, ...] = ()
    """Strings that end a reply."""
    json_schema: dict[str, Any] | None = None
    """A JSON schema the reply must satisfy, where the backend can enforce it (set per call)."""
    logprobs: bool = False
    """Ask for token log-probabilities (confidence from the model)."""


class CallContext(BaseModel):
    """Who is asking and why. Providers other than the scripted model ignore it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    role: str = "discussion"
    agent: str | None = None
    turn: int = 0
    persona: str | None = None


class ModelOutput(BaseModel):
    """What a provider returns for one request: the text, token counts, finish reason, latency."""

    model_config = ConfigDict(extra="forbid")

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    finish_reason: str | None = None
    latency_s: float = 0.0
    mean_logprob: float | None = None  # mean token log-probability, where the backend gives it
    # The model was stopped repeating one run of tokens over and over (a degenerate loop); the
    # repeats are not in `text`.
    looped: bool = False
    raw: dict[str, Any] | None = Field(default=None, exclude=True)


class ModelAPI(ABC):
    """A provider. Raise `ModelCallError(retryable=...)` for failures; the wrapper retries."""

    model_id: str
    # How this backend enforces `GenerateConfig.json_schema`: "json_schema" (OpenAI-compatible
    # response_format), "grammar" (llama.cpp), or None (the reply is only asked for in the prompt).
    structured_output: str | None = None
    # True when the backend guarantees replies match the schema (a grammar or a server-side
    # constraint); then discussion replies use structured output by default.
    enforces_structured_output: bool = False
    # Requests the backend serves at once (None: no limit of its own). A call waiting its turn
    # waits before its per-attempt timeout starts, never inside it.
    max_parallel: int | None = None

    @abstractmethod
    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput: ...

    @property
    def cache_identity(self) -> str:
        """What besides the request decides the reply, for the call cache's key: the same
        model id on another server or from another weights file is another model."""
        return self.model_id

    async def start(self) -> None:  # noqa: B027 - optional hook
        """Load weights or start an engine ahead of the first call (which does it otherwise),
        so that a slow load is never counted against a call's timeout."""

    async def context_window(self) -> int | None:
        """Tokens the model attends to, prompt and reply together; None when unknown (a remote
        endpoint: configure `context_window` on the model spec)."""
        return None

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        """Prompt tokens of `messages`. Without the model's tokenizer this estimates on the
        high side: three characters a token plus the chat template's per-message tokens."""
        # Non-Latin scripts (CJK, Thai, ...) take a token or more per character.
        return sum(_estimate(m.content) + 8 for m in messages) + 4

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release connections or engines. Safe to call twice."""

    async def __aenter__(self) -> ModelAPI:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _estimate(text: str) -> int:
    ascii_chars = sum(ch.isascii() for ch in text)
    return -(-ascii_chars // 3) + (len(text) - ascii_chars)


def mean_chat_logprob(choice: dict[str, Any]) -> float | None:
    """Mean token log-probability of an OpenAI-style chat choice (`logprobs.content`), as
    OpenAI-compatible servers and llama-cpp-python return it; None when absent."""
    content = (choice.get("logprobs") or {}).get("content") or []
    values = [float(t["logprob"]) for t in content if t.get("logprob") is not None]
    return sum(values) / len(values) if values else None
