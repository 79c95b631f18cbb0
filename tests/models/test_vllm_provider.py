"""VLLMModel against a stand-in of vLLM's interface: no GPU, no vLLM install.

The stand-in mirrors the v1 `AsyncLLM` of vLLM 0.12 and later: `vllm.AsyncEngineArgs(**kwargs)`,
`vllm.v1.engine.async_llm.AsyncLLM.from_engine_args(args)`, `AsyncLLM.get_tokenizer()` (a
coroutine in 0.12; later releases made it a plain method, and both forms are exercised here),
`AsyncLLM.generate(prompt, sampling_params, request_id)` as an async generator of
`RequestOutput` (`.prompt_token_ids`, `.outputs[0].text / .token_ids / .finish_reason /
.logprobs`, logprobs as one `{token_id: Logprob}` dict per generated position), and
`AsyncLLM.shutdown()`. Sampling goes through `vllm.sampling_params.SamplingParams(**kwargs)`
with `output_kind=RequestOutputKind.FINAL_ONLY`, and structured outputs through
`SamplingParams(structured_outputs=StructuredOutputsParams(json=...))`: vLLM 0.12 removed
`GuidedDecodingParams` and the `guided_json` / `guided_choice` fields, so the stand-in has none.
Every class records what it receives, so the tests check exactly what VLLMModel hands vLLM.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import sys
import types
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

import madebate
from madebate import ChatMessage, ConfigError, GenerateConfig, ModelCallError
from madebate.models import ManagedModel, create_provider
from madebate.models._model import DEFAULT_MAX_TOKENS
from madebate.models.providers.vllm_inprocess import VLLMModel

MESSAGES = [
    ChatMessage(role="system", content="You are a careful panelist."),
    ChatMessage(role="user", content="What is 2 + 2?"),
]
QUESTION = "Which of these numbers is prime?"
OPTIONS = ["21", "29", "33", "35"]  # B is the answer the stand-in gives

VLLM_MODULES = (
    "vllm",
    "vllm.sampling_params",
    "vllm.v1",
    "vllm.v1.engine",
    "vllm.v1.engine.async_llm",
)


# -- the stand-in -------------------------------------------------------------------------------


class RequestOutputKind:
    CUMULATIVE = "cumulative"
    DELTA = "delta"
    FINAL_ONLY = "final_only"


@dataclass
class Logprob:
    logprob: float
    rank: int | None = None
    decoded_token: str | None = None


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    cumulative_logprob: float | None
    logprobs: list[dict[int, Logprob]] | None
    finish_reason: str | None = None


@dataclass
class RequestOutput:
    request_id: str
    prompt: str
    prompt_token_ids: list[int]
    outputs: list[CompletionOutput]
    finished: bool


@dataclass
class FakeVLLM:
    """What the stand-in received, and knobs for what it answers."""

    engine_args: list[dict[str, Any]] = field(default_factory=list)
    engines: list[FakeAsyncLLM] = field(default_factory=list)
    sampling: list[dict[str, Any]] = field(default_factory=list)
    structured: list[dict[str, Any]] = field(default_factory=list)
    templates: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, Any, str]] = field(default_factory=list)
    reply: Callable[[str, Any], str] | None = None  # (prompt, params) -> text
    error: Exception | None = None  # raised by generate, after the request is added
    chunks: int = 1  # RequestOutputs yielded per request (the last one is final)
    sync_tokenizer: bool = False  # later vLLM: get_tokenizer() is a plain method
    sampled_logprob: float = -0.25  # of every sampled token; other candidates get -9.0

    @property
    def started(self) -> int:
        return len(self.engines)

    @property
    def shutdowns(self) -> int:
        return sum(e.shutdowns for e in self.engines)


class FakeTokenizer:
    def __init__(self, fake: FakeVLLM):
        self.fake = fake

    def apply_chat_template(
        self, conversation: list[dict[str, str]], *, tokenize: bool, add_generation_prompt: bool
    ) -> str:
        self.fake.templates.append(
            {
                "conversation": conversation,
                "tokenize": tokenize,
                "add_generation_prompt": add_generation_prompt,
            }
        )
        assert tokenize is False, "VLLMModel wants the rendered text, not token ids"
        text = "".join(f"<|{m['role']}|>\n{m['content']}<|end|>\n" for m in conversation)
        return text + ("<|assistant|>\n" if add_generation_prompt else "")


class FakeAsyncLLM:
    def __init__(self, fake: FakeVLLM, args: Any):
        self.fake = fake
        self.args = args
        self.shutdowns = 0
        self._tokenizer = FakeTokenizer(fake)

    @classmethod
    def bind(cls, fake: FakeVLLM) -> type[FakeAsyncLLM]:
        class Bound(cls):  # type: ignore[valid-type,misc]
            @classmethod
            def from_engine_args(cls, engine_args: Any) -> FakeAsyncLLM:
                engine = cls(fake, engine_args)
                fake.engines.append(engine)
                return engine

        return Bound

    def get_tokenizer(self) -> Any:
        if self.fake.sync_tokenizer:
            return self._tokenizer

        async def later() -> FakeTokenizer:
            await asyncio.sleep(0.01)  # start-up takes a while: first calls pile up meanwhile
            return self._tokenizer

        return later()

    async def generate(
        self, prompt: str, sampling_params: Any, request_id: str
    ) -> AsyncIterator[RequestOutput]:
        assert isinstance(prompt, str)
        assert self.shutdowns == 0, "generate after shutdown"
        self.fake.requests.append((prompt, sampling_params, request_id))
        await asyncio.sleep(0)
        if self.fake.error is not None:
            raise self.fake.error
        reply = self.fake.reply or default_reply
        text = reply(prompt, sampling_params)
        words = text.split(" ")
        token_ids = [1000 + i for i in range(len(words))]
        prompt_ids = list(range(len(prompt.split())))
        want_logprobs = sampling_params.kwargs.get("logprobs") is not None
        for n in range(1, self.fake.chunks + 1):
            upto = max(1, len(words) * n // self.fake.chunks)
            ids = token_ids[:upto]
            logprobs = (
                [{t: Logprob(self.fake.sampled_logprob, 1), 7: Logprob(-9.0, 2)} for t in ids]
                if want_logprobs
                else None
            )
            final = n == self.fake.chunks
            yield RequestOutput(
                request_id=request_id,
                prompt=prompt,
                prompt_token_ids=prompt_ids,
                outputs=[
                    CompletionOutput(
                        0,
                        " ".join(words[:upto]),
                        ids,
                        None,
                        logprobs,
                        "stop" if final else None,
                    )
                ],
                finished=final,
            )
            await asyncio.sleep(0)

    def shutdown(self) -> None:
        self.shutdowns += 1


_CANDIDATE = re.compile(r"^Solution (\d+)[^\n]*:\n(.+)$", re.M)


def default_reply(prompt: str, params: Any) -> str:
    """A cooperative panel: JSON replies to a discussion schema (answer B, agreeing), valid
    ballots to a ballot schema (for the candidate that says 29, else the first), plain text
    without a schema."""
    so = params.kwargs.get("structured_outputs")
    schema = so.json if so is not None else None
    if schema is None:
        return "I weighed the options. Final Solution: B) 29"
    props = schema["properties"]
    if "reasoning" in props:
        reply = {"reasoning": "29 has no divisors but 1 and itself.", "answer": "B"}
        if "stance" in props:
            reply["stance"] = "agree"
        return json.dumps(reply)
    key = next(iter(props))
    spec = props[key]
    labels = list(spec.get("enum") or spec.get("items", {}).get("enum") or spec.get("properties"))
    named = [label for label, text in _CANDIDATE.findall(prompt) if "29" in text]
    mine = next((label for label in named if label in labels), labels[0])
    ballot: Any = {
        "choice": mine,
        "approve": [mine],
        "ranking": [mine, *[label for label in labels if label != mine]],
        "points": {label: (10 if label == mine else 0) for label in labels},
    }.get(key, mine)
    return json.dumps({key: ballot})


def split_panel() -> Callable[[str, Any], str]:
    """Every other stance-taking reply disagrees and proposes C, so a vote has two candidates."""
    replies = itertools.count()

    def reply(prompt: str, params: Any) -> str:
        so = params.kwargs.get("structured_outputs")
        props = so.json["properties"] if so is not None else {}
        if "stance" in props and next(replies) % 2 == 1:
            return json.dumps({"reasoning": "33 is 3 x 11.", "stance": "disagree", "answer": "C"})
        return default_reply(prompt, params)

    return reply


def install(monkeypatch: pytest.MonkeyPatch, fake: FakeVLLM) -> None:
    """Put the stand-in where `import vllm` and its submodules look."""

    class SamplingParams:
        def __init__(self, **kwargs: Any):
            fake.sampling.append(kwargs)
            self.kwargs = kwargs

    class StructuredOutputsParams:
        def __init__(
            self,
            json: str | dict[str, Any] | None = None,
            regex: str | None = None,
            choice: list[str] | None = None,
        ):
            fake.structured.append({"json": json, "regex": regex, "choice": choice})
            self.json, self.regex, self.choice = json, regex, choice

    class AsyncEngineArgs:
        def __init__(self, **kwargs: Any):
            fake.engine_args.append(kwargs)
            self.kwargs = kwargs

    modules = {name: types.ModuleType(name) for name in VLLM_MODULES}
    for name in ("vllm", "vllm.v1", "vllm.v1.engine"):
        modules[name].__path__ = []  # packages
    vllm, sp = modules["vllm"], modules["vllm.sampling_params"]
    vllm.AsyncEngineArgs = AsyncEngineArgs  # type: ignore[attr-defined]
    vllm.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    vllm.__version__ = "0.12.0"  # type: ignore[attr-defined]
    sp.SamplingParams = SamplingParams  # type: ignore[attr-defined]
    sp.StructuredOutputsParams = StructuredOutputsParams  # type: ignore[attr-defined]
    sp.RequestOutputKind = RequestOutputKind  # type: ignore[attr-defined]
    async_llm = modules["vllm.v1.engine.async_llm"]
    async_llm.AsyncLLM = FakeAsyncLLM.bind(fake)  # type: ignore[attr-defined]
    vllm.sampling_params = sp  # type: ignore[attr-defined]
    vllm.v1 = modules["vllm.v1"]  # type: ignore[attr-defined]
    modules["vllm.v1"].engine = modules["vllm.v1.engine"]  # type: ignore[attr-defined]
    modules["vllm.v1.engine"].async_llm = async_llm  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> FakeVLLM:
    state = FakeVLLM()
    install(monkeypatch, state)
    return state


@pytest.fixture
def no_vllm(monkeypatch: pytest.MonkeyPatch) -> None:
    """vLLM not installed: importing it fails, whatever this machine has."""
    for name in VLLM_MODULES:
        monkeypatch.setitem(sys.modules, name, None)


# -- engine arguments and start-up --------------------------------------------------------------


async def test_engine_args_carry_our_defaults(fake: FakeVLLM):
    model = VLLMModel("Qwen/Qwen2.5-7B-Instruct")
    await model.generate(MESSAGES, GenerateConfig())
    await model.aclose()
    (args,) = fake.engine_args
    assert args["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert args["generation_config"] == "vllm"  # else the model's file changes sampling
    assert args["enable_prefix_caching"] is True
    assert args["max_num_seqs"] == 256 and args["max_num_batched_tokens"] == 8192
    assert args["tensor_parallel_size"] == 1
    assert args["gpu_memory_utilization"] == 0.90
    assert "max_model_len" not in args  # vLLM's own (the model's) unless given
    assert fake.engines[0].args.kwargs is args


async def test_engine_args_take_our_settings_and_pass_extra_options_through(fake: FakeVLLM):
    model = VLLMModel(
        "meta-llama/Llama-3.1-8B-Instruct",
        tensor_parallel_size=2,
        max_model_len=8192,
        gpu_memory_utilization=0.8,
        max_num_seqs=512,
        max_num_batched_tokens=16384,
        enable_prefix_caching=False,
        quantization="fp8",
        enforce_eager=True,
    )
    await model.start()
    await model.aclose()
    (args,) = fake.engine_args
    assert args["tensor_parallel_size"] == 2
    assert args["max_model_len"] == 8192
    assert args["gpu_memory_utilization"] == 0.8
    assert args["max_num_seqs"] == 512 and args["max_num_batched_tokens"] == 16384
    assert args["enable_prefix_caching"] is False
    assert args["quantization"] == "fp8" and args["enforce_eager"] is True
    assert args["generation_config"] == "vllm"


async def test_engine_starts_once_under_many_concurrent_first_calls(fake: FakeVLLM):
    model = VLLMModel("m")
    outputs = await asyncio.gather(*(model.generate(MESSAGES, GenerateConfig()) for _ in range(20)))
    await model.aclose()
    assert fake.started == 1 and len(fake.engine_args) == 1
    assert len(fake.requests) == 20 and all(o.text for o in outputs)
    ids = [request_id for _, _, request_id in fake.requests]
    assert len(set(ids)) == 20  # vLLM rejects a duplicate request id in flight


async def test_request_ids_are_unique_across_models(fake: FakeVLLM):
    a, b = VLLMModel("a"), VLLMModel("b")
    for _ in range(3):
        await a.generate(MESSAGES, GenerateConfig())
        await b.generate(MESSAGES, GenerateConfig())
    await a.aclose()
    await b.aclose()
    ids = [request_id for _, _, request_id in fake.requests]
    assert len(ids) == len(set(ids)) == 6


@pytest.mark.parametrize("sync_tokenizer", [False, True], ids=["async-0.12", "sync-later"])
async def test_chat_template_is_applied_with_the_assistant_turn_open(
    fake: FakeVLLM, sync_tokenizer: bool
):
    fake.sync_tokenizer = sync_tokenizer
    model = VLLMModel("m")
    await model.generate(MESSAGES, GenerateConfig())
    await model.aclose()
    (template,) = fake.templates
    assert template["conversation"] == [m.model_dump() for m in MESSAGES]
    assert template["tokenize"] is False and template["add_generation_prompt"] is True
    prompt = fake.requests[0][0]
    assert prompt == (
        "<|system|>\nYou are a careful panelist.<|end|>\n"
        "<|user|>\nWhat is 2 + 2?<|end|>\n<|assistant|>\n"
    )


# -- sampling parameters ------------------------------------------------------------------------


async def test_sampling_params_carry_the_generate_config(fake: FakeVLLM):
    model = VLLMModel("m")
    config = GenerateConfig(max_tokens=200, temperature=0.7, top_p=0.9, seed=42, stop=("END",))
    await model.generate(MESSAGES, config)
    await model.aclose()
    (params,) = fake.sampling
    assert params["max_tokens"] == 200
    assert params["temperature"] == 0.7 and params["top_p"] == 0.9
    assert params["seed"] == 42 and params["stop"] == ["END"]
    assert params["output_kind"] == RequestOutputKind.FINAL_ONLY
    assert "logprobs" not in params  # only when asked
    assert "structured_outputs" not in params and not fake.structured
    assert fake.requests[0][1].kwargs is params


async def test_max_tokens_is_always_sent_never_vllms_default_of_16(fake: FakeVLLM):
    model = VLLMModel("m")
    await model.generate(MESSAGES, GenerateConfig())
    await model.aclose()
    (params,) = fake.sampling
    assert params["max_tokens"] == GenerateConfig().max_tokens == DEFAULT_MAX_TOKENS == 1024
    assert "seed" not in params and "stop" not in params  # unset stays unset


async def test_json_schema_becomes_structured_outputs_json(fake: FakeVLLM):
    schema = {
        "type": "object",
        "properties": {"choice": {"type": "string", "enum": ["1", "2"]}},
        "required": ["choice"],
        "additionalProperties": False,
    }
    model = VLLMModel("m")
    out = await model.generate(MESSAGES, GenerateConfig(json_schema=schema))
    await model.aclose()
    assert fake.structured == [{"json": schema, "regex": None, "choice": None}]
    (params,) = fake.sampling
    assert params["structured_outputs"].json == schema
    assert not any(k.startswith("guided") for k in params)  # removed in vLLM 0.12
    assert json.loads(out.text) == {"choice": "1"}


async def test_logprobs_give_the_mean_of_the_sampled_tokens(fake: FakeVLLM):
    fake.sampled_logprob = -0.5
    model = VLLMModel("m")
    asked = await model.generate(MESSAGES, GenerateConfig(logprobs=True))
    plain = await model.generate(MESSAGES, GenerateConfig())
    await model.aclose()
    assert fake.sampling[0]["logprobs"] == 0  # the sampled token's only
    assert "logprobs" not in fake.sampling[1]
    assert asked.mean_logprob == pytest.approx(-0.5)  # not the -9.0 runner-up
    assert plain.mean_logprob is None


async def test_token_counts_text_and_finish_reason_come_from_the_final_output(fake: FakeVLLM):
    fake.chunks = 3  # partial outputs first; the last one counts
    fake.reply = lambda prompt, params: "one two three four five six"
    model = VLLMModel("m")
    out = await model.generate(MESSAGES, GenerateConfig())
    await model.aclose()
    prompt = fake.requests[0][0]
    assert out.text == "one two three four five six"
    assert out.completion_tokens == 6
    assert out.prompt_tokens == len(prompt.split())
    assert out.finish_reason == "stop"
    assert out.latency_s >= 0


# -- failures and lifecycle ---------------------------------------------------------------------


async def test_an_engine_error_is_a_non_retryable_model_call_error(fake: FakeVLLM):
    fake.error = RuntimeError("CUDA out of memory")
    model = VLLMModel("m")
    with pytest.raises(ModelCallError) as info:
        await model.generate(MESSAGES, GenerateConfig())
    assert info.value.retryable is False
    assert "RuntimeError" in str(info.value) and "CUDA out of memory" in str(info.value)
    managed = ManagedModel(model, max_attempts=4, retry_initial_s=0.001)
    with pytest.raises(ModelCallError) as info:
        await managed.generate(MESSAGES, GenerateConfig(), role="discussion", agent="A1")
    assert info.value.record is not None and info.value.record.attempts == 1  # not retried
    await managed.aclose()


async def test_async_with_starts_and_shuts_down_and_aclose_is_idempotent(fake: FakeVLLM):
    async with VLLMModel("m") as model:
        assert fake.started == 1 and fake.shutdowns == 0  # started on entry, before any call
        out = await model.generate(MESSAGES, GenerateConfig())
        assert out.text
    assert fake.shutdowns == 1
    await model.aclose()
    await model.aclose()
    assert fake.shutdowns == 1 and fake.started == 1


async def test_managed_model_async_with_starts_the_engine(fake: FakeVLLM):
    async with ManagedModel(VLLMModel("m")) as managed:
        assert fake.started == 1
        output, record = await managed.generate(
            MESSAGES, GenerateConfig(), role="discussion", agent="A1"
        )
        assert record.model == "vllm/m" and record.completion_tokens == output.completion_tokens
    assert fake.shutdowns == 1


# -- model ids, whole discussions, and no vLLM --------------------------------------------------


async def test_the_vllm_model_id_goes_through_create_provider(fake: FakeVLLM):
    provider = create_provider("vllm/Qwen/Qwen2.5-7B-Instruct", tensor_parallel_size=2)
    assert isinstance(provider, VLLMModel)
    assert provider.model == "Qwen/Qwen2.5-7B-Instruct"
    assert provider.model_id == "vllm/Qwen/Qwen2.5-7B-Instruct"
    assert provider.structured_output == "vllm" and provider.enforces_structured_output
    assert not fake.engine_args  # nothing loads until first use
    await provider.generate(MESSAGES, GenerateConfig())
    await provider.aclose()
    assert fake.engine_args[0]["model"] == "Qwen/Qwen2.5-7B-Instruct"
    assert fake.engine_args[0]["tensor_parallel_size"] == 2
    with pytest.raises(ConfigError, match="vllm/Qwen"):
        create_provider("vllm/")


@pytest.mark.parametrize(
    ("protocol", "stop_reason"),
    [("majority_consensus", "consensus"), ("simple_voting", "vote"), ("ranked_voting", "vote")],
)
def test_a_whole_discussion_on_the_stand_in(fake: FakeVLLM, protocol: str, stop_reason: str):
    if stop_reason == "vote":
        fake.reply = split_panel()  # two candidates, so ballots are held
    model = VLLMModel("fake/model-7b")
    result = madebate.discuss(
        QUESTION,
        options=OPTIONS,
        model=ManagedModel(model),
        agents=3,
        paradigm="memory",
        protocol=protocol,
        max_turns=2,
        seed=7,
    )
    assert result.error is None, result.error
    assert result.stop_reason == stop_reason, result.stop_detail
    assert result.decided and result.answer == "B"
    assert fake.started == 1  # one engine for every call of the discussion
    assert result.calls and all(c.model == "vllm/fake/model-7b" for c in result.calls)
    assert all(c.output_format == "vllm" for c in result.calls)
    roles = {c.role for c in result.calls}
    assert "discussion" in roles and ("ballot" in roles) == (stop_reason == "vote")
    if stop_reason == "vote":
        (decision,) = [d for d in result.decisions if d.ballots]
        assert all(b.counted for b in decision.ballots) and len(decision.ballots) == 3
        assert {m.answer for m in result.messages} == {"B", "C"}
    # Every call asked for a schema and the replies read as structured replies, not raw JSON.
    assert len(fake.structured) == len(result.calls) and all(s["json"] for s in fake.structured)
    assert all(m.readable for m in result.messages)
    assert not any(m.text.lstrip().startswith("{") for m in result.messages)
    assert result.usage.completion_tokens == sum(c.completion_tokens for c in result.calls) > 0
    asyncio.run(model.aclose())  # the caller's model: the discussion leaves it running
    assert fake.shutdowns == 1


async def test_without_vllm_the_error_names_the_extra(no_vllm: None):
    provider = create_provider("vllm/x")  # creating is lazy and works
    with pytest.raises(ConfigError, match=r"madebate\[vllm\]"):
        await provider.generate(MESSAGES, GenerateConfig())
    with pytest.raises(ConfigError, match=r"madebate\[vllm\]"):
        async with VLLMModel("x"):
            pass
    await provider.aclose()  # nothing started: nothing to shut down


def test_without_vllm_a_discussion_stops_with_the_error(no_vllm: None):
    result = madebate.discuss(QUESTION, options=OPTIONS, model="vllm/x", max_turns=1)
    assert result.stop_reason == "error"
    assert result.error is not None and "madebate[vllm]" in result.error.message
