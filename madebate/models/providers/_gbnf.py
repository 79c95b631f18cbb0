"""JSON schemas as llama.cpp grammars (GBNF) that llama.cpp can always take.

llama-cpp-python's own converter turns `maxLength: 1536` into a rule repeated 1,536 times; past
llama.cpp's limit the grammar is rejected inside native code and the process dies (SIGSEGV), not
with a Python error. This builder covers the schema subset madebate sends (objects with fixed
properties, arrays, strings, enums, integers, numbers, booleans), never writes a repetition
count above `MAX_REPEAT`, and leaves string lengths to the token budget. `check_grammar` refuses
any grammar with a larger count before it can reach llama.cpp.

Objects are written in one fixed layout, `{"key": value, "key2": value2}`, so a caller can put
the keys in the prompt itself and generate only the values (see `object_fields`).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from madebate._errors import ConfigError

# Repetition counts kept far below llama.cpp's limit (2000 rules times repeats).
MAX_REPEAT = 64

# One JSON string character: no raw control characters (a raw newline is invalid JSON).
STRING_CHAR = r'[^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F])'
_REPEAT = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")
_SUPPORTED_KEYS = {
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "minItems",
    "maxItems",
    "minLength",
    "maxLength",
    "minimum",
    "maximum",
    "description",
    "title",
}


def literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


class _Builder:
    def __init__(self) -> None:
        self.rules: dict[str, str] = {"char": STRING_CHAR}
        self._count = 0

    def rule(self, body: str) -> str:
        self._count += 1
        name = f"r{self._count}"
        self.rules[name] = body
        return name

    def value(self, schema: dict[str, Any], where: str) -> str:
        unknown = set(schema) - _SUPPORTED_KEYS
        if unknown:
            raise ConfigError(
                f"the embedded model cannot enforce schema keyword(s) {sorted(unknown)} at {where}",
                field="json_schema",
            )
        if "enum" in schema:
            values = schema["enum"]
            if not values:
                raise ConfigError(f"empty enum at {where}", field="json_schema")
            return "(" + " | ".join(literal(json.dumps(v)) for v in values) + ")"
        kind = schema.get("type")
        if isinstance(kind, list):  # e.g. ["string", "null"]
            options = [self.value({**schema, "type": k}, where) for k in kind]
            return "(" + " | ".join(options) + ")"
        if kind == "null":
            return '"null"'
        if kind == "string":
            return '"\\"" char* "\\""'
        if kind == "integer":
            return '"-"? [0-9] [0-9]*'
        if kind == "number":
            return '"-"? [0-9] [0-9]* ("." [0-9] [0-9]*)?'
        if kind == "boolean":
            return '("true" | "false")'
        if kind == "array":
            return self.array(schema, where)
        if kind == "object":
            return self.object(schema, where)
        raise ConfigError(
            f"the embedded model cannot enforce schema type {kind!r} at {where}",
            field="json_schema",
        )

    def array(self, schema: dict[str, Any], where: str) -> str:
        item = self.rule(self.value(schema.get("items", {"type": "string"}), f"{where}[]"))
        low = int(schema.get("minItems", 0))
        high = schema.get("maxItems")
        if low > MAX_REPEAT or (high is not None and int(high) > MAX_REPEAT):
            raise ConfigError(
                f"array bounds at {where} exceed {MAX_REPEAT} items", field="json_schema"
            )
        more_low = max(0, low - 1)
        more = f'("," " " {item})'
        tail = f"{more}{{{more_low},{int(high) - 1}}}" if high is not None else f"{more}*"
        if high is not None and int(high) == 0:
            return '"[" "]"'
        body = f"{item} {tail}" if more_low or high is not None else f"{item} {more}*"
        return f'"[" {body} "]"' if low else f'"[" ({body})? "]"'

    def object(self, schema: dict[str, Any], where: str) -> str:
        props: dict[str, Any] = schema.get("properties", {})
        if not props:
            return '"{" "}"'
        parts = []
        for i, (key, sub) in enumerate(props.items()):
            sep = "" if i == 0 else '", " '
            parts.append(
                f"{sep}{literal(json.dumps(key) + ': ')} {self.value(sub, f'{where}.{key}')}"
            )
        return '"{" ' + " ".join(parts) + ' "}"'

    def grammar(self, root: str) -> str:
        lines = [f"root ::= {root}"] + [f"{name} ::= {body}" for name, body in self.rules.items()]
        return "\n".join(lines) + "\n"


def schema_grammar(schema: dict[str, Any]) -> str:
    """The whole value of `schema` as a GBNF grammar (checked)."""
    builder = _Builder()
    grammar = builder.grammar(builder.value(schema, "$"))
    check_grammar(grammar)
    return grammar


@dataclass(frozen=True)
class Field:
    """One top-level property of an object schema, generated on its own."""

    key: str
    prefix: str  # the fixed text before the value ('{"reasoning": ' or ', "answer": ')
    free_text: bool  # a string without an enum: budgeted in tokens, closable when cut
    grammar: str  # the value alone (for free text: its characters and the closing quote)
    longest: str  # the longest fixed value, for a token reserve (free text: "")


def object_fields(schema: dict[str, Any]) -> list[Field] | None:
    """The properties of a flat object schema in order, each with its own grammar; None when
    `schema` is not an object with properties (then the whole value is one grammar)."""
    if schema.get("type") != "object" or not schema.get("properties"):
        return None
    fields = []
    for i, (key, sub) in enumerate(schema["properties"].items()):
        prefix = ("{" if i == 0 else ", ") + json.dumps(key) + ": "
        free = sub.get("type") == "string" and "enum" not in sub
        if free:
            builder = _Builder()
            grammar = builder.grammar('char* "\\""')  # the opening quote is in the prompt
            check_grammar(grammar)
            longest = ""
        else:
            grammar = schema_grammar(sub)
            longest = max((json.dumps(v) for v in sub.get("enum", [])), key=len, default="")
        fields.append(Field(key, prefix, free, grammar, longest))
    return fields


def check_grammar(grammar: str) -> None:
    """Refuse a grammar whose repetition counts could exceed what llama.cpp takes; llama.cpp
    would reject it in native code and take the process down."""
    for m in _REPEAT.finditer(_strip_literals(grammar)):
        counts = [int(g) for g in m.groups() if g]
        if any(c > MAX_REPEAT for c in counts):
            raise ConfigError(
                f"grammar repetition {m.group(0)} is above the limit of {MAX_REPEAT}; "
                "llama.cpp could not take it",
                field="json_schema",
            )


_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*"|\[(?:[^\]\\]|\\.)*\]')


def _strip_literals(grammar: str) -> str:
    """The grammar without its quoted literals and character classes, where braces are text."""
    return _LITERAL.sub('""', grammar)
