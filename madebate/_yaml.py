"""Reading YAML files into pydantic models with errors that name the file and the field."""

from __future__ import annotations

import codecs
import difflib
import types
import typing
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from madebate._errors import ConfigError
from madebate._text import quote_name

M = TypeVar("M", bound=BaseModel)

# Bounds on what one input file may hold; no real study comes near them, and a file past one
# (an alias bomb, a runaway generator) fails at once, naming the bound, instead of eating memory.
MAX_ALIAS_VALUES = 100_000
"""Values that aliases (*name) add to one YAML document when they are expanded."""
MAX_NESTING = 100
"""Levels of nested lists and mappings in one YAML document or JSON value."""

SPEC_CONFIG = ConfigDict(extra="forbid", use_attribute_docstrings=True, allow_inf_nan=False)
"""The pydantic settings of every settings model read from a file: unknown keys are errors,
and so are .inf and .nan (a retry that waits .inf seconds never ends)."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """safe_load, except that a key given twice in one mapping is an error (YAML keeps the
    last one silently, so a second `sweep:` block would quietly replace the first), and a
    document nested deeper than MAX_NESTING or whose aliases add over MAX_ALIAS_VALUES values
    when expanded is refused before it is built."""

    _depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_NESTING:
                raise yaml.composer.ComposerError(
                    None,
                    None,
                    f"nested more than {MAX_NESTING} levels deep (the bound); flatten the data",
                    self.peek_event().start_mark,  # type: ignore[no-untyped-call]
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def compose_document(self) -> yaml.Node | None:
        node = super().compose_document()
        if node is not None:
            _check_expanded_size(node)
        return node


def _check_expanded_size(root: yaml.Node) -> None:
    """Refuse a document whose aliases add more than MAX_ALIAS_VALUES values when expanded
    ("billion laughs"): sizes are counted once per node, so the check itself stays small, and
    a document without aliases is never refused."""
    sizes: dict[int, int] = {}

    def size(node: yaml.Node) -> int:
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, yaml.SequenceNode):
            total += sum(size(child) for child in node.value)
        elif isinstance(node, yaml.MappingNode):
            total += sum(size(k) + size(v) for k, v in node.value)
        sizes[id(node)] = total
        return total

    if size(root) - len(sizes) > MAX_ALIAS_VALUES:
        raise yaml.composer.ComposerError(
            None,
            None,
            f"the aliases (*name) expand to more than {MAX_ALIAS_VALUES:,} extra values (the "
            "bound); write the data out, or use fewer aliases",
            root.start_mark,
        )


def _construct_unique_mapping(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Node] = {}
    for key_node, _ in node.value:  # the mapping's own keys: a merged-in key (<<) may be overridden
        if key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            first = seen.get(key)
        except TypeError:  # an unhashable key; the constructor below reports it
            continue
        if first is not None:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key '{key}' (first given on line {first.start_mark.line + 1}); "
                "give each key once",
                key_node.start_mark,
            )
        seen[key] = key_node
    loader.flatten_mapping(node)
    return loader.construct_mapping(node, deep=True)


_UniqueKeyLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_unique_mapping,
)


def read_yaml(path: Path) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", source=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a folder, not a YAML file", source=str(path)) from None
    except OSError as exc:  # e.g. no permission to read it
        raise ConfigError(f"cannot read the file: {exc.strerror}", source=str(path)) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        start = exc.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        line = raw[:start].count(b"\n") + 1
        raise ConfigError(
            f"line {line}: not UTF-8 text (byte {start}, 0x{raw[start]:02x}: {exc.reason}); "
            "re-save the file as UTF-8",
            source=str(path),
        ) from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass: safe
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(exc), source=str(path)) from None
    except RecursionError:  # a backstop: MAX_NESTING stops a deep document first
        raise ConfigError(
            f"nested too deep to read (the bound is {MAX_NESTING} levels)", source=str(path)
        ) from None


def load_yaml_text(text: str, *, source: str) -> Any:
    """YAML text from a run directory or elsewhere, under the same bounds as `read_yaml`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(yaml_problem(exc), source=source) from None
    except RecursionError:
        raise ConfigError(
            f"nested too deep to read (the bound is {MAX_NESTING} levels)", source=source
        ) from None


def yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML syntax error as 'line L, column C: what is wrong; how to fix it'."""
    if not isinstance(exc, yaml.MarkedYAMLError) or exc.problem_mark is None:
        return f"not valid YAML: {exc}"
    mark = exc.problem_mark
    problem = exc.problem or "not valid YAML"
    context = exc.context or ""
    opened = exc.context_mark
    where_opened = f"line {opened.line + 1}, column {opened.column + 1}" if opened else ""
    if "(the bound)" in problem:
        return f"line {mark.line + 1}, column {mark.column + 1}: {problem}"
    if "'\\t'" in problem:
        hint = "a tab character; YAML indents with spaces only, replace the tab with spaces"
    elif "flow sequence" in context:
        hint = f"{problem}: the '[' opened on {where_opened} is not closed with ']'"
    elif "flow mapping" in context:
        hint = f"{problem}: the '{{' opened on {where_opened} is not closed with '}}'"
    elif "quoted scalar" in context:
        hint = f"the quote opened on {where_opened} is not closed"
    elif "<block end>" in problem or "block" in context:
        hint = (
            f"{problem}: the indentation does not match the lines above; the keys of one "
            "mapping (and the items of one list) must start in the same column"
        )
    elif "mapping values are not allowed" in problem:
        hint = f"{problem}: a ':' inside a value; put the value in quotes"
    else:
        hint = problem
    return f"line {mark.line + 1}, column {mark.column + 1}: not valid YAML: {hint}"


def field_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def validate_model(model: type[M], data: Any, *, source: str) -> M:
    """Validate, turning the first pydantic error into a ConfigError naming source and field."""
    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"{type(data).__name__}"
        raise ConfigError(
            f"expected a mapping of settings at the top level, got {got}", source=source
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, source=source, model=model) from None


def config_error_from(
    exc: ValidationError, *, source: str | None, model: type[BaseModel] | None = None
) -> ConfigError:
    """The first pydantic error as a ConfigError naming source and field, in words: an unknown
    key gets the valid keys (and the nearest one), a wrong value gets what was given."""
    errors = exc.errors()
    first = errors[0]
    raw_loc = tuple(first["loc"])
    # Drop pydantic's union-branch names (e.g. 'StepSpec', 'str') so the path is the user's.
    loc = tuple(p for p in raw_loc if not _is_branch(p))
    # Errors of the other branches of the same union say the same thing in another way.
    more = sum(1 for e in errors[1:] if not _other_branch(raw_loc, tuple(e["loc"])))
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    message = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden" and loc:
        key = str(loc[-1])
        valid = _keys_at(model, raw_loc[:-1]) if model is not None else []
        message = f"unknown key {quote_name(key)}"  # an invisible character shown
        near = difflib.get_close_matches(key, valid, n=1, cutoff=0.6)
        if near:
            message += f" (did you mean '{near[0]}'?)"
        if valid:
            message += f"; valid keys: {', '.join(valid)}"
    elif first["type"] == "missing":
        message = "required, but missing"
    elif _is_scalar(first.get("input")) and first["type"] not in ("value_error", "assertion_error"):
        message += f"; got {first['input']!r}"
    return ConfigError(f"{message}{suffix}", source=source, field=field_path(loc) or None)


_TYPE_TAGS = {"str", "int", "float", "bool", "none", "list", "dict"}


def _is_branch(part: int | str) -> bool:
    """Whether a location part is a union branch tag, not a field: a model name ('StepSpec')
    or a type ('str', 'list[str]')."""
    return isinstance(part, str) and (part[:1].isupper() or part in _TYPE_TAGS or "[" in part)


def _other_branch(first: tuple[int | str, ...], other: tuple[int | str, ...]) -> bool:
    for a, b in zip(first, other, strict=False):
        if a != b:
            return _is_branch(a) and _is_branch(b)
    return False


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool) and len(repr(value)) <= 80


def _keys_at(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """The field names of the model at `loc` (a pydantic error location, union branch names
    included), or [] where the location does not lead to a model."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    models = _models_in(current)
    return sorted(models[0].model_fields) if len(models) == 1 else []


def _step(annotation: Any, part: int | str) -> Any:
    for option in _options(annotation):
        if isinstance(option, type) and option.__name__ == part:
            return option  # a union branch named in the location
        if part in _TYPE_TAGS and getattr(typing.get_origin(option), "__name__", None) == part:
            return option  # a tagged branch ('list' of `agents`: a count or a list)
        if isinstance(option, type) and issubclass(option, BaseModel):
            if isinstance(part, str) and part in option.model_fields:
                return option.model_fields[part].annotation
            continue
        origin = typing.get_origin(option)
        args = typing.get_args(option)
        if origin is list and isinstance(part, int) and args:
            return args[0]
        if origin is dict and isinstance(part, str) and len(args) == 2:
            return args[1]
    return None


def _options(annotation: Any) -> list[Any]:
    # Flattened: a tagged union inside an optional one (an agent's `persona`) is one level.
    bare = _bare(annotation)
    if typing.get_origin(bare) in (typing.Union, types.UnionType):
        return [o for a in typing.get_args(bare) for o in _options(a)]
    return [bare]


def _bare(annotation: Any) -> Any:
    """The type of an Annotated[...] (its constraints and tags dropped)."""
    if typing.get_origin(annotation) is typing.Annotated:
        return typing.get_args(annotation)[0]
    return annotation


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    return [o for o in _options(annotation) if isinstance(o, type) and issubclass(o, BaseModel)]
