"""Model ids (`openai/<model>`, `llamacpp[/<path.gguf>]`, `scripted`) to providers."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

from madebate._errors import ConfigError
from madebate._registry import Registry
from madebate.models._model import ModelAPI
from madebate.models._model_managed import ManagedModel

ProviderFactory = Callable[[str, dict[str, Any]], ModelAPI]
providers: Registry[ProviderFactory] = Registry("model provider")

DEFAULT_MODEL = "llamacpp"

# Inside a run, model ids named in options (a judge's or drift watcher's model) resolve to the
# run's shared models: one connection pool, concurrency limit and call cache per endpoint, and
# closed once when the run ends, not built and torn down per discussion.
SharedModels = Callable[[str | None, dict[str, Any]], ManagedModel]
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


def named_only(
    model_id: str | None, options: dict[str, Any], *, context_window: int | None = None
) -> ManagedModel:
    model_id = model_id or DEFAULT_MODEL
    providers.get(model_id.partition("/")[0], field="model")
    model = ManagedModel(_NamedOnly(model_id), context_window=context_window)
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


def as_managed(model: str | ModelAPI | ManagedModel | None, **options: Any) -> ManagedModel:
    """Anything a user may pass as a model, wrapped once."""
    if isinstance(model, ManagedModel):
        return model
    if isinstance(model, ModelAPI):
        return ManagedModel(model)
    if not isinstance(model, ModelAPI):
        source = shared_models.get()
        if source is not None:
            return source(model, options)
    managed_keys = {"max_concurrency", "max_attempts", "retry_initial_s", "retry_max_s"}
    wrapper = {k: options.pop(k) for k in list(options) if k in managed_keys}
    return ManagedModel(create_provider(model, **options), **wrapper)
