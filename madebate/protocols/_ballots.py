"""Ballot formats: one declaration per rule gives the JSON schema (for structured output), the
instruction the voter reads, and a tolerant parser for replies that arrive as prose.

Candidates carry neutral labels "1".."k". The parser never guesses: a reply that names no
candidate, several where one is wanted, or a number that is no candidate where a vote is cast
("3 > 9 > 1", "solutions 1 and 9") is unreadable and gets re-asked, exactly as the same ballot
sent as JSON is refused.

How prose is read (the same rules for every format):

- A number that counts the candidates is not a mention: "all 3", "the 3 solutions", "none of
  the 3", "these 3 options", "3 of them", "out of 3", and a number right after "of" or "/" that
  follows a mention ("solution 1 of 3", "2/3"). "Solution 3" and "#3" always name candidate 3.
  Markdown emphasis ("**3**") does not change how a number reads.
- An abstention is its own outcome (`Parsed.abstained`), not a vote and not unreadable: an
  explicit one ("I abstain", "no vote", "I cannot choose", "I decline to vote") or, when the
  reply names no candidate, a rejection of all of them ("none of them is correct", "neither").
  An explicit abstention next to a named candidate contradicts itself and is unreadable.
- For approval, rejecting all ("none", "I approve none of the solutions") is a valid empty
  approval, not an abstention; only an explicit abstention abstains.
- In JSON, `null` (or the string "abstain") under the ballot's key is an abstention, and the
  string "none" reads as rejecting all, as in prose. The schemas stay as they are: a server that
  enforces them never produces either.
- A ranking must name every candidate once, in prose as in JSON: a missing candidate is not
  filled in.
- A reply that names candidates several times over ("both 1 and 2 are good, but I vote for 2")
  is not weighed phrase by phrase: where one candidate is wanted it is unreadable.
"""

from __future__ import annotations

import itertools
import json
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from madebate.protocols._tally import CUMULATIVE_POINTS

_FENCED = re.compile(r"```(?:json)?\s*(.*?)```", re.S | re.I)
_OBJECT = re.compile(r"\{.*\}", re.S)
# A whole number, not part of a decimal ("2.5"); "Solution 2." at the end of a sentence counts.
_NUMBER = re.compile(r"(?<![\d.])(\d+)(?!\d|\.\d)")
# A numbered-list marker at the start of a line ("1. Solution 2", "**2.** Solution 1") is not a
# mention; a line that is only "2." is.
_LIST_MARKER = re.compile(r"^[ \t]*(?:[-*+>][ \t]+)?[*_]*(\d+)\.[*_]*[ \t]*[*_]*[^\s*_]", re.M)
# Markdown emphasis and code marks, blanked (same length) before a number's context is read.
_MARKUP = re.compile(r"[*_`]")
# Right before a number, a name for a candidate: the number names one, whatever follows.
_NAMED = re.compile(r"(?:\b(?:solution|candidate|option|proposal)s?\s*#?|#)\s*$", re.I)
# Right before a number, casting a vote: such a number is a vote, even when it is no candidate.
_VOTED = re.compile(
    r"(?:\b(?:vote|votes|voting|choose|choosing|pick|picking|select|selecting|prefer|approve|"
    r"approving|rank|ranking)\s+(?:for\s+)?|\b(?:vote|choice|pick|ballot|ranking)\s*(?:is|:|=)\s*)$",
    re.I,
)
# A number that counts: after a determiner ("all 3", "the 3", "these 3", "the other 2",
# "out of 3") or before a plural noun or "of them" ("3 solutions", "3 of them").
_COUNT_BEFORE = re.compile(
    r"(?:\b(?:all|these|those|the)(?:\s+(?:other|remaining|top|first|last|given|proposed|"
    r"listed))?|\bout\s+of)\s*$",
    re.I,
)
_COUNT_AFTER = re.compile(
    r"^\s*(?:(?:other|different|distinct|proposed|candidate|possible|given|remaining|listed|"
    r"presented|suggested|shown)\s+)?(?:solutions|candidates|options|answers|proposals|choices|"
    r"alternatives|responses|approaches)\b|^\s+of\s+(?:them|the|these|those|us|you|all)\b",
    re.I,
)
_WINDOW = 80  # characters either side of a number that are read to decide what it is
_OF_AFTER_MENTION = re.compile(r"(?:\bof|/)\s*$", re.I)
# What may stand between two numbers of one list of votes ("3 > 9 > 1", "1, 2 and 9").
_JOINED = re.compile(
    r"\s*(?:(?:>+|,|;|&|->|=>|→|\band\b|\bor\b|\bthen\b|\bfollowed\s+by\b)\s*)*"
    r"(?:(?:solution|candidate|option)s?\s*#?\s*|#\s*)?",
    re.I,
)
# An explicit abstention: recorded as one; next to a named candidate it is unreadable.
_ABSTAIN = re.compile(
    r"\babstain(?:s|ed|ing)?\b|\babstention\b|\bno\s+vote\b|"
    r"\b(?:do\s+not|don'?t|will\s+not|won'?t|cannot|can\s*not|can'?t|unable\s+to|refuse\s+to|"
    r"decline\s+to|prefer\s+not\s+to)\s+(?:vote|choose|decide|pick|select|rank)\b",
    re.I,
)
# Choosing none explicitly ("I approve none", "I vote for neither"): contradicts a named one.
_CHOOSE_NONE = re.compile(
    r"\b(?:approve|approving|choose|pick|select|support|vote\s+for)\s+"
    r"(?:none|neither|nothing|no\s+(?:solution|candidate|option)s?)\b",
    re.I,
)
# Rejecting all, read only when the reply names no candidate ("None of the 3 is correct").
_NONE = re.compile(r"\bnone\b|\bneither\b", re.I)
# JSON strings under the ballot's key that abstain, or reject all.
_ABSTAIN_VALUE = re.compile(r"(?:i\s+)?(?:abstain|abstention|no\s+vote|null)", re.I)
_NONE_VALUE = re.compile(r"none|neither|none of them", re.I)


@dataclass(frozen=True)
class Parsed:
    """A reading: a value, or a problem (unreadable), or an abstention (neither)."""

    value: Any
    problem: str | None = None
    abstained: bool = False


ABSTAINED = Parsed(None, abstained=True)


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


@dataclass(frozen=True)
class _Mention:
    number: str
    start: int
    end: int
    named: bool  # "Solution 9", "#9", "I vote for 9": a vote whether or not 9 is a candidate


def _mentions(text: str) -> tuple[str, list[_Mention]]:
    """Every whole number used as a mention, in order, with the markup-blanked text. Skipped:
    list markers and numbers that count the candidates (see the module doc)."""
    plain = _MARKUP.sub(" ", text)
    markers = {m.start(1) for m in _LIST_MARKER.finditer(text)}
    found: list[_Mention] = []
    for m in _NUMBER.finditer(plain):
        if m.start(1) in markers:
            continue
        # The words around a number decide how it reads; a bounded window keeps this linear.
        before = plain[max(0, m.start() - _WINDOW) : m.start()]
        after = plain[m.end() : m.end() + _WINDOW]
        named = bool(_NAMED.search(before))
        if not named:
            if _COUNT_BEFORE.search(before) or _COUNT_AFTER.search(after):
                continue
            if found and _OF_AFTER_MENTION.search(before):
                continue
        found.append(_Mention(m.group(1), m.start(), m.end(), named or bool(_VOTED.search(before))))
    return plain, found


def label_mentions(text: str, labels: Sequence[str]) -> list[str]:
    """Candidate labels named in prose, in order, repeats kept. Numbers that count the
    candidates ('solution 1 of 3', '1/3', 'none of the 3', 'all 3', 'the 3 solutions') and
    list markers are not mentions."""
    return [m.number for m in _mentions(text)[1] if m.number in labels]


def _not_candidates(plain: str, mentions: list[_Mention], labels: Sequence[str]) -> list[str]:
    """Numbers that are no candidate but are used as votes: introduced as one ("solution 9",
    "I vote for 9"), or listed with a candidate ("3 > 9 > 1", "1 and 9"). Other numbers in prose
    (quantities, answers) are not votes."""
    votes = [m.number in labels or m.named for m in mentions]
    joined = [
        len(gap) <= _WINDOW and _JOINED.fullmatch(gap) is not None
        for gap in (plain[a.end : b.start] for a, b in itertools.pairwise(mentions))
    ]
    # A list spreads both ways: in "1, 2, 9 and 10" the 10 is listed with the 9.
    for i in range(len(joined)):
        votes[i + 1] = votes[i + 1] or (joined[i] and votes[i])
    for i in reversed(range(len(joined))):
        votes[i] = votes[i] or (joined[i] and votes[i + 1])
    bad = [m.number for m, vote in zip(mentions, votes, strict=True) if vote]
    return list(dict.fromkeys(b for b in bad if b not in labels))


def _read_prose(text: str, labels: Sequence[str], none: Parsed) -> Parsed | list[str]:
    """The labels a prose ballot names (repeats kept), or what settles it without them: an
    abstention, `none` (how the format reads rejecting all), or a problem."""
    plain, mentions = _mentions(text)
    named = [m.number for m in mentions if m.number in labels]
    bad = _not_candidates(plain, mentions, labels)
    if bad:
        quoted = ", ".join(f"'{b}'" for b in bad)
        verb = "is not a candidate number" if len(bad) == 1 else "are not candidate numbers"
        what = f"{quoted} {verb}"
        return Parsed(None, what if named else f"names no candidate number ({what})")
    if _ABSTAIN.search(plain) or _CHOOSE_NONE.search(plain):
        if named:
            listed = ", ".join(dict.fromkeys(named))
            return Parsed(None, f"both declines to choose and names candidates ({listed})")
        return none if _CHOOSE_NONE.search(plain) and not _ABSTAIN.search(plain) else ABSTAINED
    if not named:
        return none if _NONE.search(plain) else Parsed(None, "names no candidate number")
    return named


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
    # How the format reads a ballot that rejects every candidate ("none"): an abstention, except
    # for approval, where it is the empty approval.
    none: Parsed = ABSTAINED

    @abstractmethod
    def schema(self, labels: Sequence[str]) -> dict[str, Any]: ...

    @abstractmethod
    def instruction(self, labels: Sequence[str]) -> str: ...

    def parse(self, text: str, labels: Sequence[str]) -> Parsed:
        payload = _json_payload(text)
        if isinstance(payload, dict) and self.key in payload:
            value = payload[self.key]
            if value is None:
                return ABSTAINED
            if isinstance(value, str) and _ABSTAIN_VALUE.fullmatch(value.strip()):
                return ABSTAINED
            if isinstance(value, str) and _NONE_VALUE.fullmatch(value.strip()):
                return self.none
            return self.from_json(value, labels)
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
        read = _read_prose(text, labels, self.none)
        if isinstance(read, Parsed):
            return read
        named = list(dict.fromkeys(read))
        if len(named) == 1:
            return Parsed(named[0])
        return Parsed(None, f"names several candidates ({', '.join(named)})")


class ApprovalSet(BallotFormat):
    """Any subset of candidate ids; duplicates count once (approval). Approving none is a valid
    ballot (the empty set), unlike abstaining."""

    key = "approve"
    none = Parsed([])

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
        read = _read_prose(text, labels, self.none)
        if isinstance(read, Parsed):
            return read
        return Parsed(sorted(set(read), key=labels.index))


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
        declines = _ABSTAIN.search(text) or _CHOOSE_NONE.search(text)
        if not out:
            return (
                ABSTAINED
                if declines or _NONE.search(text)
                else Parsed(None, "no 'number: points' pairs")
            )
        if declines:
            return Parsed(None, "both declines to choose and gives points")
        return self._check(out)

    def _check(self, points: dict[str, int]) -> Parsed:
        total = sum(points.values())
        if total != self.total:
            return Parsed(None, f"points sum to {total}, not {self.total}")
        return Parsed(points)


class Ordering(BallotFormat):
    """All candidate ids, best first (Borda). A ranking that leaves a candidate out is
    unreadable, in prose as in JSON (the schema requires all): it is never completed."""

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
        read = _read_prose(text, labels, self.none)
        return read if isinstance(read, Parsed) else self._check(read, labels)

    def _check(self, ranking: list[str], labels: Sequence[str]) -> Parsed:
        if not ranking:
            return Parsed(None, "names no candidate number")
        if len(set(ranking)) != len(ranking):
            return Parsed(None, "a candidate is ranked twice")
        if len(ranking) != len(labels):
            return Parsed(None, f"ranks {len(ranking)} of {len(labels)} candidates")
        return Parsed(ranking)
