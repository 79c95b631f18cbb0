"""Models: the provider interface, the managed wrapper (retries, limits, cache, accounting) and
the built-in providers. Below the protocols and the engine; imports only the leaf modules.

Extension points: subclass `ModelAPI` (one async `generate`) and register a factory in
`providers` under the prefix of your model ids; `build_model(ModelSpec(...))` is the one way
from a model spec to a `ManagedModel`.
"""

from madebate.models._model import CallContext, ChatMessage, GenerateConfig, ModelAPI, ModelOutput
from madebate.models._model_managed import ManagedModel
from madebate.models._models import ModelSpec, build_model, create_provider, providers

__all__ = [
    "CallContext",
    "ChatMessage",
    "GenerateConfig",
    "ManagedModel",
    "ModelAPI",
    "ModelOutput",
    "ModelSpec",
    "build_model",
    "create_provider",
    "providers",
]
