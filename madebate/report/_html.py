"""The report's HTML: Jinja2 templates (`templates/`) with autoescape on, and the CSS and JS
(`static/`) inlined into each page, all package data.

Every value a template prints passes `markup_text` (the environment's `finalize`): escaped,
quotes too, with control characters made visible; only markup made here (the paradigm's SVG,
the inlined CSS and JS, the CSP) is passed in as `Markup`. Text from a spec, a dataset or a
model reply is only ever a value, never a template."""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from madebate.report._svg import markup_text

_HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = _HERE / "templates"
STATIC_DIR = _HERE / "static"

# The pages fetch nothing: images are data: URIs, the CSS and JS are inline.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _finalize(value: object) -> object:
    if hasattr(value, "__html__"):
        return value  # Markup made here
    return Markup(markup_text(value))


def number(value: object, spec: str) -> str:
    """`value` formatted by `spec` ('.3f', 'd', '.0%'), or '–' when it is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "–"
    return format(value, spec)


def sort_key(value: object) -> str:
    """A number as the cell tables' `data-sort` key; '' for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return ""
    return f"{float(value):.6f}"


def rounded(value: Any) -> Any:
    """Floats, also inside lists and dicts, to 3 decimals."""
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, list):
        return [rounded(x) for x in value]
    if isinstance(value, dict):
        return {k: rounded(x) for k, x in value.items()}
    return value


def by_value(tally: dict[str, float]) -> list[tuple[str, float]]:
    """A tally's (candidate, count) pairs, the most first (ties in their order)."""
    return sorted(tally.items(), key=lambda kv: -float(kv[1]))


def as_base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def as_text(value: Any) -> str:
    """A string as it is; anything else (a ballot, a list) as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


@lru_cache(maxsize=1)
def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=True,
        finalize=_finalize,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(
        number=number,
        sort_key=sort_key,
        rounded=rounded,
        as_text=as_text,
        by_value=by_value,
        base64=as_base64,
    )
    return env


@lru_cache(maxsize=8)
def static(name: str) -> Markup:
    """A file of `static/`, to inline into a page as it is."""
    return Markup((STATIC_DIR / name).read_text(encoding="utf-8"))


def render(template: str, **values: Any) -> str:
    """Render `templates/<template>` with `values`; the page shell gets the CSP."""
    return environment().get_template(template).render(csp=Markup(CSP), **values)
