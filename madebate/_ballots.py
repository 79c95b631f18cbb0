"""Ballot formats: one declaration per rule gives the JSON schema (for structured output), the
instruction the voter reads, and a tolerant parser for replies that arrive as prose.

Candidates carry neutral labels "1".."k". The parser never guesses: a reply that names no
candidate, or several where one is wanted, is unreadable and gets re-asked.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from madebate._tally import CUMULATIVE_POINTS

_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_OBJECT = re.compile(r"\{.*\}", re.S)
# A whole number, not part of a decimal ("2.5"); "Solution 2." at the end of a sentence counts.
_NUMBER = re.compile(r"(?<![\d.])(\d+)(?!\d|\.\d)")
# A numbered-list marker at the start of a line ("1. Solution 2", "**2.** Solution 1") is not a
# mention; a line that is only "2." is.
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+>][ \t]+)?[*_]*(\d+)\.[*_]*[ \t]*[*_]*[^\s*_]", re.M)


@dataclass(frozen=True)
class Parsed:
    value: Any
    problem: str | None = None


def _json_payload(text: str) -> Any:
    """The JSON value in a reply: fenced, a bare object, or the whole reply; else None."""
    for candidate in (*_FENCED.findall(text), text):
        candidate = candidate.strip()
        for chunk in (candidate, *(_OBJECT.findall(candidate))):
            try:
                return json.loads(chunk)
            except (json.JSONDecodeError, ValueError):
                continue
    return None


def label_mentions(text: str, labels: Sequence[str]) -> list[str]:
    """Candidate labels named in prose, in order. A number right after 'of' or '/' that follows
    a mention is the count of candidates ('solution 1 of 3', '1/3'), not a second mention."""
    found: list[str] = []
    markers = {m.start(1) for m in _LIST_MARKER.finditer(text)}
    for m in _NUMBER.finditer(text):
        if m.group(1) not in labels or m.start(1) in markers:
            continue
        if found and re.search(r"(?:\bof|/)\s*$", text[: m.start()]):
            continue
        found.append(m.group(1))
    return found


def _as_label(value: Any, labels: Sequence[str]) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if isinstance(value, str):
        v = value.strip()
        m = re.fullmatch(r"(?:solution|candidate|option)?\s*#?\s*(\d+)", v, re.I)
        if m and m.group(1) in labels:
            return m.group(1)
    return None


class BallotFormat(ABC):
    """How one rule's ballot looks and is read."""

    key: str

    @abstractmethod
    def schema(self, labels: Sequence[str]) -> dict[str, Any]: ...

    @abstractmethod
    def instruction(self, labels: Sequence[str]) -> str: ...

    def parse(self, text: str, labels: Sequence[str]) -> Parsed:
        payload = _json_payload(text)
        if isinstance(payload, dict) and self.key in payload:
            return self.from_json(payload[self.key], labels)
        if payload is not None and not isinstance(payload, dict | str):
            return self.from_json(payload, labels)  # a bare list or number
        return self.from_text(text, labels)

    @abstractmethod
    def from_json(self, value: Any, labels: Sequence[str]) -> Parsed: ...

    @abstractmethod
    def from_text(self, text: str, labels: Sequence[str]) -> Parsed: ...


class SingleChoice(BallotFormat):
    """One candidate id (plurality, consensus voting, judge)."""

    key = "choice"

    def schema(self, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"choice": {"type": "string", "enum": list(labels)}},
            "required": ["choice"],
            "additionalProperties": False,
        }

    def instruction(self, labels: Sequence[str]) -> str:
        return (
            "Vote for exactly one solution. Reply with JSON only, of the form "
            f'{{"choice": "<number>"}}, where <number> is one of {", ".join(labels)}.'
        )

    def from_json(self, value: Any, labels: Sequence[str]) -> Parsed:
        label = _as_label(value, labels)
        return Parsed(label) if label else Parsed(None, f"'{value}' is not a candidate number")

    def from_text(self, text: str, labels: Sequence[str]) -> Parsed:
        named = list(dict.fromkeys(label_mentions(text, labels)))
        if len(named) == 1:
            return Parsed(named[0])
        if not named:
            return Parsed(None, "names no candidate number")
        return Parsed(None, f"names several candidates ({', '.join(named)})")


class ApprovalSet(BallotFormat):
    """Any subset of candidate ids; duplicates count once (approval)."""

    key = "approve"

    def schema(self, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "approve": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(labels)},
                    "maxItems": len(labels),
                }
            },
            "required": ["approve"],
            "additionalProperties": False,
        }

    def instruction(self, labels: Sequence[str]) -> str:
        return (
            "Approve every solution you find acceptable (any number of them, or none). Reply "
            'with JSON only, of the form {"approve": ["<number>", ...]}, using the numbers '
            f"{', '.join(labels)}."
        )

    def from_json(self, value: Any, labels: Sequence[str]) -> Parsed:
        if not isinstance(value, list):
            value = [value]
        out = [_as_label(v, labels) for v in value]
        bad = [str(v) for v, o in zip(value, out, strict=True) if o is None]
        if bad:
            return Parsed(None, f"not candidate numbers: {', '.join(bad)}")
        return Parsed(sorted(set(o for o in out if o), key=labels.index))

    def from_text(self, text: str, labels: Sequence[str]) -> Parsed:
        named = label_mentions(text, labels)
        if not named:
            if re.search(r"\bnone\b", text, re.I):
                return Parsed([])
            return Parsed(None, "names no candidate number")
        return Parsed(sorted(set(named), key=labels.index))


class PointsPerId(BallotFormat):
    """Points per candidate id that sum to 10 (cumulative)."""

    key = "points"

    def __init__(self, total: int = CUMULATIVE_POINTS):
        self.total = total

    def schema(self, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "points": {
                    "type": "object",
                    "properties": {
                        label: {"type": "integer", "minimum": 0, "maximum": self.total}
                        for label in labels
                    },
                    "required": list(labels),
                    "additionalProperties": False,
                }
            },
            "required": ["points"],
            "additionalProperties": False,
        }

    def instruction(self, labels: Sequence[str]) -> str:
        example = ", ".join(f'"{label}": <points>' for label in labels)
        return (
            f"Distribute exactly {self.total} points among the solutions: more points for "
            f"better solutions, whole numbers only, summing to {self.total}. Reply with JSON "
            f'only, of the form {{"points": {{{example}}}}}.'
        )

    def from_json(self, value: Any, labels: Sequence[str]) -> Parsed:
        if not isinstance(value, dict):
            return Parsed(None, "points must be an object of number: points")
        out: dict[str, int] = {}
        for k, v in value.items():
            label = _as_label(k, labels)
            if label is None:
                return Parsed(None, f"'{k}' is not a candidate number")
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                return Parsed(None, f"points for {k} must be a non-negative integer, got {v!r}")
            out[label] = out.get(label, 0) + v
        return self._check(out)

    def from_text(self, text: str, labels: Sequence[str]) -> Parsed:
        pairs = re.findall(
            r"(?:solution|candidate)?\s*#?(\d+)\s*(?:[:=\-]|gets|receives)\s*(\d+)", text, re.I
        )
        out: dict[str, int] = {}
        for label, points in pairs:
            if label not in labels:
                return Parsed(None, f"'{label}' is not a candidate number")
            out[label] = out.get(label, 0) + int(points)
        if not out:
            return Parsed(None, "no 'number: points' pairs")
        return self._check(out)

    def _check(self, points: dict[str, int]) -> Parsed:
        total = sum(points.values())
        if total != self.total:
            return Parsed(None, f"points sum to {total}, not {self.total}")
        return Parsed(points)


class Ordering(BallotFormat):
    """All candidate ids, best first (Borda)."""

    key = "ranking"

    def schema(self, labels: Sequence[str]) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {
                "ranking": {
                    "type": "array",
                    "items": {"type": "string", "enum": list(labels)},
                    "minItems": len(labels),
                    "maxItems": len(labels),
                }
            },
            "required": ["ranking"],
            "additionalProperties": False,
        }

    def instruction(self, labels: Sequence[str]) -> str:
        return (
            "Rank all solutions from best to worst. Reply with JSON only, of the form "
            f'{{"ranking": ["<best>", ..., "<worst>"]}}, using each of {", ".join(labels)} once.'
        )

    def from_json(self, value: Any, labels: Sequence[str]) -> Parsed:
        if not isinstance(value, list):
            return Parsed(None, "ranking must be a list")
        out = [_as_label(v, labels) for v in value]
        if any(o is None for o in out):
            return Parsed(None, "the ranking names something that is not a candidate number")
        return self._check([o for o in out if o], labels)

    def from_text(self, text: str, labels: Sequence[str]) -> Parsed:
        return self._check(label_mentions(text, labels), labels)

    def _check(self, ranking: list[str], labels: Sequence[str]) -> Parsed:
        if not ranking:
            return Parsed(None, "names no candidate number")
        if len(set(ranking)) != len(ranking):
            return Parsed(None, "a candidate is ranked twice")
        if len(ranking) == len(labels) - 1:
            ranking = [*ranking, next(lbl for lbl in labels if lbl not in ranking)]
        if len(ranking) != len(labels):
            return Parsed(None, f"ranks {len(ranking)} of {len(labels)} candidates")
        return Parsed(ranking)
