"""Model ids (`openai/<model>`, `llamacpp[/<path.gguf>]`, `scripted`) to providers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from madebate._errors import ConfigError
from madebate._model import ModelAPI
from madebate._model_managed import ManagedModel
from madebate._registry import Registry

ProviderFactory = Callable[[str, dict[str, Any]], ModelAPI]
providers: Registry[ProviderFactory] = Registry("model provider")

DEFAULT_MODEL = "llamacpp"


@providers.register("openai")
def _openai(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.providers.openai_http import OpenAICompatibleModel

    return OpenAICompatibleModel(name, **options)


@providers.register("llamacpp")
def _llamacpp(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.providers.llamacpp import LlamaCppModel

    return LlamaCppModel(name or None, **options)


@providers.register("vllm")
def _vllm(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.providers.vllm_inprocess import VLLMModel

    return VLLMModel(name, **options)


@providers.register("scripted")
def _scripted(name: str, options: dict[str, Any]) -> ModelAPI:
    from madebate.providers.scripted import ScriptedModel

    return ScriptedModel(**options)


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
    managed_keys = {"max_concurrency", "max_attempts", "retry_initial_s", "retry_max_s"}
    wrapper = {k: options.pop(k) for k in list(options) if k in managed_keys}
    return ManagedModel(create_provider(model, **options), **wrapper)
