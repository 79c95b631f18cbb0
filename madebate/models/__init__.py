"""Models: the provider interface, the managed wrapper (retries, limits, cache, accounting) and
the built-in providers. Below the protocols and the engine; imports only the leaf modules.

Extension points: subclass `ModelAPI` (one async `generate`) and register a factory in
`providers` under the prefix of your model ids; `build_model(ModelSpec(...))` is the one way
from a model spec to a `ManagedModel`.
"""

# `providers` here is the registry. The built-in providers' subpackage has the same name:
# import it first, so that loading it later (madebate imports `providers.scripted`) does not
# rebind `madebate.models.providers` to the subpackage.
import madebate.models.providers as _builtin_providers  # noqa: F401
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
