"""Prompt templates: Jinja2 files in package data, rendered sandboxed with StrictUndefined.

Model output and dataset text are always passed as values, never compiled as templates, so a
reply containing `{{ ... }}` is carried as plain text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from madebate._data import prompts_dir


@lru_cache(maxsize=1)
def _environment() -> ImmutableSandboxedEnvironment:
    return ImmutableSandboxedEnvironment(
        loader=FileSystemLoader(str(prompts_dir())),
        undefined=StrictUndefined,
        autoescape=False,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # package data: never edited while running; saves a stat per render
    )


def render(template: str, **values: Any) -> str:
    """Render `prompts/<template>.j2`. A missing value is an error, never an empty string."""
    return _environment().get_template(f"{template}.j2").render(**values).strip()


def render_fragment(template: str, **values: Any) -> str:
    """Render `prompts/<template>.j2` exactly, untrimmed: a piece of text placed inside another
    prompt (one line of a transcript), so the whole reads as if rendered in one go."""
    return _environment().get_template(f"{template}.j2").render(**values)
