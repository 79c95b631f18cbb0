"""From a model spec to a managed model: `ModelSpec` says which model and how to reach it,
`build_model` makes it. Python (`discuss(model=...)`), the command line and runs all go through
`build_model`, so a setting means the same everywhere and has one default."""

from __future__ import annotations

import json
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from pydantic import BaseModel, Field, field_validator, model_validator

from madebate._errors import ConfigError
from madebate._registry import Registry
from madebate._secrets import secret_option_fields
from madebate._yaml import SPEC_CONFIG
from madebate.models._cache import CallCache
from madebate.models._model import ModelAPI
from madebate.models._model_managed import (
    DEFAULT_CALL_TIMEOUT_S,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_RETRY_AFTER_MAX_S,
    DEFAULT_RETRY_INITIAL_S,
    DEFAULT_RETRY_MAX_S,
    ManagedModel,
)

ProviderFactory = Callable[[str, dict[str, Any]], ModelAPI]
providers: Registry[ProviderFactory] = Registry("model provider")

DEFAULT_MODEL = "llamacpp"


class ModelSpec(BaseModel):
    """A model and how to reach it. `api_key_env` names the variable holding the key; keys are
    never written into specs or run directories."""

    model_config = SPEC_CONFIG

    id: str | None = None
    """Model id: openai/NAME, vllm/NAME, llamacpp[/FILE.gguf] or scripted; none: the embedded
    default (llamacpp)."""
    base_url: str | None = None
    """Base URL of an OpenAI-compatible server (e.g. http://127.0.0.1:8000/v1); default:
    $OPENAI_BASE_URL, else api.openai.com. Given to the provider, whatever the id."""
    api_key_env: str | None = None
    """Environment variable that holds the API key; default: OPENAI_API_KEY."""
    timeout_s: float = Field(default=DEFAULT_CALL_TIMEOUT_S, gt=0)
    """Seconds one call may take (each attempt), for every provider; a call over it is retried."""
    context_window: int | None = Field(default=None, ge=64)
    """Tokens the model can see (prompt plus reply). Local models report theirs; for a remote
    endpoint give it here, and prompts over it are never sent (see the discussion's
    context_overflow)."""
    max_concurrency: int = Field(default=DEFAULT_MAX_CONCURRENCY, ge=1)
    """Requests in flight to this model at once."""
    max_attempts: int = Field(default=DEFAULT_MAX_ATTEMPTS, ge=1)
    """Attempts per call, the first included; only retryable failures (429, 5xx, timeouts,
    lost connections) are tried again."""
    retry_initial_s: float = Field(default=DEFAULT_RETRY_INITIAL_S, ge=0)
    """First backoff between attempts; it doubles, with jitter."""
    retry_max_s: float = Field(default=DEFAULT_RETRY_MAX_S, ge=0)
    """Longest backoff between attempts."""
    retry_after_max_s: float = Field(default=DEFAULT_RETRY_AFTER_MAX_S, ge=0)
    """Cap on a server's Retry-After."""
    structured_output: bool = True
    """Whether an OpenAI-compatible server takes response_format json_schema; set false for one
    that does not (the prompt still asks for JSON and the tolerant parser reads the reply)."""
    label: str | None = Field(default=None, min_length=1, max_length=100)
    """The model's name in results, records and usage per model (e.g. `small` and `large` for
    two servers of the same model id); default: its id. Not part of the cache key."""
    options: dict[str, Any] = Field(default_factory=dict)
    """Provider-specific settings, passed to the provider as they are: e.g. vLLM engine options
    (tensor_parallel_size, max_model_len, gpu_memory_utilization) or llama.cpp's n_ctx."""

    @model_validator(mode="before")
    @classmethod
    def _no_secret_fields(cls, data: Any) -> Any:
        # `api_key: sk-...` beside the fields: said as what it is, not as an unknown key.
        if isinstance(data, dict):
            _refuse_secrets({k: v for k, v in data.items() if k != "options"})
        return data

    @field_validator("options")
    @classmethod
    def _no_secrets(cls, v: dict[str, Any]) -> dict[str, Any]:
        _refuse_secrets(v)
        return v

    @property
    def prefix(self) -> str:
        """The provider's name: the id up to its first '/'."""
        return (self.id or DEFAULT_MODEL).partition("/")[0]


def _refuse_secrets(settings: dict[str, Any]) -> None:
    """Credentials (an API key, an Authorization header) never go in a spec: it is written to
    the run directory as it is. `validate` and `run` both refuse them here."""
    secret = secret_option_fields(settings)
    if secret:
        raise ValueError(
            f"{', '.join(secret)}: secrets never go in a spec (it is written to the run "
            "directory); name the environment variable that holds it in api_key_env"
        )


def model_spec(model: str | ModelSpec | None, **options: Any) -> ModelSpec:
    """A model spec from an id and options: `ModelSpec` fields (base_url, timeout_s,
    max_concurrency, ...) are its fields, any other option a provider option."""
    if isinstance(model, ModelSpec):
        if not options:
            return model
        given = model.model_dump(exclude={"id", "options"}, exclude_unset=True)
        return model_spec(model.id, **{**given, **model.options, **options})
    known = set(ModelSpec.model_fields) - {"id", "options"}
    return ModelSpec(
        id=model,
        **{k: v for k, v in options.items() if k in known},
        options={k: v for k, v in options.items() if k not in known},
    )


# Fields of the spec that a built-in provider takes as its own settings, besides base_url and
# api_key_env (which go to any provider they are given for: never dropped, and refused by one
# that has no use for them).
_PROVIDER_FIELDS: dict[str, tuple[str, ...]] = {"openai": ("timeout_s", "structured_output")}


def provider_options(spec: ModelSpec) -> dict[str, Any]:
    """What the provider of `spec` is made with."""
    options: dict[str, Any] = {}
    for name in ("base_url", "api_key_env"):
        if getattr(spec, name) is not None:
            options[name] = getattr(spec, name)
    for name in _PROVIDER_FIELDS.get(spec.prefix, ()):
        options[name] = getattr(spec, name)
    options.update(spec.options)
    return options


def spec_key(spec: ModelSpec) -> str:
    """What tells two model specs apart, for building each once: all of the spec (no id is
    the default model's id). Options in another order are the same spec."""
    data = spec.model_copy(update={"id": spec.id or DEFAULT_MODEL}).model_dump(mode="json")
    return json.dumps(data, sort_keys=True)


def build_model(spec: ModelSpec, *, cache: CallCache | None = None) -> ManagedModel:
    """The one way from a model spec to a managed model (retries, concurrency limit, per-call
    timeout, call cache), for Python, the command line and runs alike."""
    provider = create_provider(spec.id, **provider_options(spec))
    model = ManagedModel(
        provider,
        max_concurrency=spec.max_concurrency,
        max_attempts=spec.max_attempts,
        retry_initial_s=spec.retry_initial_s,
        retry_max_s=spec.retry_max_s,
        retry_after_max_s=spec.retry_after_max_s,
        cache=cache,
        call_timeout_s=spec.timeout_s,
        context_window=spec.context_window,
    )
    model.label = spec.label
    return model


# Inside a run, model ids named in options (a judge's or drift watcher's model) resolve to the
# run's shared models: one connection pool, concurrency limit and call cache per endpoint, and
# closed once when the run ends, not built and torn down per discussion.
SharedModels = Callable[[ModelSpec], ManagedModel]
shared_models: ContextVar[SharedModels | None] = ContextVar("shared_models", default=None)


@providers.register("openai")
def _openai(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.models.providers.openai_http import OpenAICompatibleModel

    return OpenAICompatibleModel(name, **options)


@providers.register("llamacpp")
def _llamacpp(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.models.providers.llamacpp import LlamaCppModel

    return LlamaCppModel(name or None, **options)


@providers.register("vllm")
def _vllm(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.models.providers.vllm_inprocess import VLLMModel

    return VLLMModel(name, **options)


@providers.register("scripted")
def _scripted(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.models.providers.scripted import ScriptedModel

    return ScriptedModel(**options)


class _NamedOnly(ModelAPI):
    """Stands for a model while a spec is only checked: its id is validated, nothing is built,
    loaded or connected (the run builds the real one)."""

    def __init__(self, model_id: str):
        self.model_id = model_id

    async def generate(self, messages: Any, config: Any, context: Any = None) -> Any:
        raise RuntimeError(f"{self.model_id} was named for a check, not built for calls")


def named_only(spec: ModelSpec) -> ManagedModel:
    """A stand-in for the model of `spec`, checked by id, with the spec's `context_window`."""
    providers.get(spec.prefix, field="model")
    model = ManagedModel(_NamedOnly(spec.id or DEFAULT_MODEL), context_window=spec.context_window)
    model.shared = True  # nothing to close
    return model


def create_provider(model_id: str | None, **options: Any) -> ModelAPI:
    """A provider from a model id; no id means the embedded default model."""
    model_id = model_id or DEFAULT_MODEL
    prefix, _, name = model_id.partition("/")
    factory = providers.get(prefix, field="model")
    try:
        return factory(name, options)
    except TypeError as exc:  # an option the provider does not take
        raise ConfigError(f"bad option for provider '{prefix}': {exc}", field="model") from None


def as_managed(
    model: str | ModelSpec | ModelAPI | ManagedModel | None, **options: Any
) -> ManagedModel:
    """Anything a user may pass as a model, wrapped once: a managed model as it is, a provider
    wrapped with the default settings, an id or a spec (with `options` as in `model_spec`)
    built by `build_model`, or inside a run taken from the run's shared models."""
    if isinstance(model, ManagedModel):
        return model
    if isinstance(model, ModelAPI):
        return ManagedModel(model)
    spec = model_spec(model, **options)
    source = shared_models.get()
    if source is not None:
        return source(spec)
    return build_model(spec)
