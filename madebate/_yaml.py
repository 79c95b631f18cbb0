"""Reading YAML files into pydantic models with errors that name the file and the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from madebate._errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"not UTF-8 text ({exc.reason} at byte {exc.start})", source=str(path)
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"not valid YAML: {exc}", source=str(path)) from None


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_model(model: type[M], data: Any, *, source: str) -> M:
    """Validate, turning the first pydantic error into a ConfigError naming source and field."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"expected a mapping at the top level, got {type(data).__name__}", source=source
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, source=source) from None


def config_error_from(exc: ValidationError, *, source: str) -> ConfigError:
    first = exc.errors()[0]
    # Drop pydantic's union-branch names (e.g. 'StepSpec') so the path is the user's path.
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and p[:1].isupper()))
    more = len(exc.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return ConfigError(f"{first['msg']}{suffix}", source=source, field=field_path(loc) or None)
