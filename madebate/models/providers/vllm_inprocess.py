"""vLLM in-process: one `AsyncLLM` engine per model; every discussion's calls join its
continuous batch, and the prefix cache reuses the shared start of a discussion's prompts.

Mirrors the interface of vLLM >= 0.12 (v1 engine): `AsyncEngineArgs`, `AsyncLLM.from_engine_args`,
`AsyncLLM.generate(prompt, sampling_params, request_id)` as an async generator of
`RequestOutput`, `AsyncLLM.get_tokenizer()` (a coroutine in 0.12, a plain method in later
releases; both work), `AsyncLLM.shutdown()`, and
`SamplingParams(structured_outputs=StructuredOutputsParams(json=...))`. vLLM is imported
lazily; without it the error names the extra to install.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import itertools
import json
import math
import sys
import time
from typing import Any

from madebate._errors import ConfigError, ModelCallError
from madebate.models._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput

_request_ids = itertools.count()


def _import_vllm() -> Any:
    try:
        import vllm
        from vllm import sampling_params
        from vllm.v1.engine import async_llm
    except ImportError as exc:
        raise ConfigError(
            "vllm/... models need vLLM: pip install 'madebate[vllm]' (on a machine with a GPU)",
            field="model",
        ) from exc
    return vllm, sampling_params, async_llm


class VLLMModel(ModelAPI):
    """`vllm/<model or path>`. Engine options are vLLM's own names; the defaults are set here
    on purpose (vLLM's AsyncLLM defaults are small test values, and without
    generation_config="vllm" the model's own file silently changes sampling)."""

    structured_output = "vllm"
    enforces_structured_output = True

    def __init__(
        self,
        model: str,
        *,
        tensor_parallel_size: int = 1,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.90,
        enable_prefix_caching: bool = True,
        max_num_seqs: int = 256,
        max_num_batched_tokens: int = 8192,
        dtype: str = "auto",
        seed: int = 0,
        **engine_options: Any,
    ):
        if not model:
            raise ConfigError(
                "give the model after the prefix, e.g. vllm/Qwen/Qwen2.5-7B-Instruct", field="model"
            )
        if "vllm" not in sys.modules and importlib.util.find_spec("vllm") is None:
            # Fail when the model is named, not at the first call of a running discussion.
            raise ConfigError(
                "vllm/... models need vLLM: pip install 'madebate[vllm]' (on a machine with a GPU)",
                field="model",
            )
        self.model = model
        self.model_id = f"vllm/{model}"
        self.engine_options: dict[str, Any] = {
            "model": model,
            "tensor_parallel_size": tensor_parallel_size,
            "gpu_memory_utilization": gpu_memory_utilization,
            "enable_prefix_caching": enable_prefix_caching,
            "max_num_seqs": max_num_seqs,
            "max_num_batched_tokens": max_num_batched_tokens,
            "dtype": dtype,
            "seed": seed,
            "generation_config": "vllm",
            **engine_options,
        }
        if max_model_len is not None:
            self.engine_options["max_model_len"] = max_model_len
        self._engine: Any = None
        self._tokenizer: Any = None
        self._start_lock: asyncio.Lock | None = None

    @property
    def cache_identity(self) -> str:
        # Options that only change speed or memory are left out; the rest can change replies.
        speed_only = {
            "gpu_memory_utilization",
            "max_num_seqs",
            "max_num_batched_tokens",
            "enable_prefix_caching",
            "tensor_parallel_size",
        }
        options = {k: v for k, v in self.engine_options.items() if k not in speed_only}
        return f"{self.model_id} {json.dumps(options, sort_keys=True, default=str)}"

    async def __aenter__(self) -> VLLMModel:
        await self.start()
        return self

    async def start(self) -> None:
        """Start the engine (first use does this too)."""
        if self._engine is not None:
            return
        if self._start_lock is None:
            self._start_lock = asyncio.Lock()
        async with self._start_lock:
            if self._engine is not None:
                return
            vllm, _, async_llm = _import_vllm()
            args = vllm.AsyncEngineArgs(**self.engine_options)
            engine = async_llm.AsyncLLM.from_engine_args(args)
            try:
                # A coroutine in vLLM 0.12; a plain method in later releases.
                tokenizer = engine.get_tokenizer()
                if inspect.isawaitable(tokenizer):
                    tokenizer = await tokenizer
            except BaseException:
                engine.shutdown()  # else its GPU memory and worker processes stay behind
                raise
            self._tokenizer = tokenizer
            self._engine = engine

    async def context_window(self) -> int | None:
        await self.start()
        configured = self.engine_options.get("max_model_len")
        if configured:
            return int(configured)
        model_config = getattr(self._engine, "model_config", None)
        length = getattr(model_config, "max_model_len", None)
        return int(length) if isinstance(length, int) else None

    async def count_tokens(self, messages: list[ChatMessage]) -> int:
        await self.start()
        return len(self._tokenizer.encode(self.render_prompt(messages), add_special_tokens=False))

    def render_prompt(self, messages: list[ChatMessage]) -> str:
        """The model's own chat template, with the assistant turn opened."""
        prompt: str = self._tokenizer.apply_chat_template(
            [m.model_dump() for m in messages], tokenize=False, add_generation_prompt=True
        )
        return prompt

    def sampling_params(self, config: GenerateConfig) -> Any:
        _, sp, _ = _import_vllm()
        options: dict[str, Any] = {
            "max_tokens": config.max_tokens,  # vLLM's own default is 16
            "temperature": config.temperature,
            "top_p": config.top_p,
            "output_kind": sp.RequestOutputKind.FINAL_ONLY,
        }
        if config.seed is not None:
            options["seed"] = config.seed
        if config.stop:
            options["stop"] = list(config.stop)
        if config.logprobs:
            options["logprobs"] = 0  # the sampled token's log-probability only
        if config.json_schema is not None:
            options["structured_outputs"] = sp.StructuredOutputsParams(json=config.json_schema)
        return sp.SamplingParams(**options)

    async def generate(
        self,
        messages: list[ChatMessage],
        config: GenerateConfig,
        context: CallContext | None = None,
    ) -> ModelOutput:
        await self.start()
        prompt = self.render_prompt(messages)
        params = self.sampling_params(config)
        request_id = f"madebate-{next(_request_ids)}"
        start = time.perf_counter()
        final = None
        try:
            async for output in self._engine.generate(prompt, params, request_id):
                final = output
        except Exception as exc:  # the engine's errors are not HTTP statuses
            raise ModelCallError(f"vLLM: {type(exc).__name__}: {exc}", retryable=False) from exc
        if final is None or not final.outputs:
            raise ModelCallError("vLLM returned no output", retryable=False)
        choice = final.outputs[0]
        return ModelOutput(
            text=choice.text,
            prompt_tokens=len(final.prompt_token_ids or []),
            completion_tokens=len(choice.token_ids or []),
            finish_reason=choice.finish_reason,
            latency_s=time.perf_counter() - start,
            mean_logprob=_mean_logprob(choice),
        )

    async def aclose(self) -> None:
        engine, self._engine = self._engine, None
        if engine is not None:
            engine.shutdown()


def _mean_logprob(choice: Any) -> float | None:
    """Mean log-probability of the sampled tokens (vLLM gives one dict per position)."""
    positions = getattr(choice, "logprobs", None)
    if not positions:
        return None
    values = []
    for token_id, entry in zip(choice.token_ids, positions, strict=False):
        lp = entry.get(token_id) if isinstance(entry, dict) else None
        value = getattr(lp, "logprob", None)
        if value is not None and math.isfinite(value):
            values.append(float(value))
    return sum(values) / len(values) if values else None
