"""The task under discussion and how its answers are normalised for comparison."""

from __future__ import annotations

import difflib
import re
import string
import unicodedata
from functools import lru_cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from madebate._stated import ANSWER_PREAMBLE as _ANSWER_PREAMBLE
from madebate._stated import leading_answer

LETTERS = string.ascii_uppercase


class Task(BaseModel):
    """What the agents discuss: a question, optional multiple-choice options, optional context."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    question: str = Field(min_length=1)
    options: list[str] | None = None
    instruction: str | None = None
    context: str | None = None
    id: str | None = None
    references: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check_options(self) -> Task:
        if self.options is not None:
            if not 2 <= len(self.options) <= len(LETTERS):
                raise ValueError(
                    f"options: need 2 to {len(LETTERS)} options, got {len(self.options)}"
                )
            if any(not o.strip() for o in self.options):
                raise ValueError("options: an option is empty")
        return self

    @property
    def is_multiple_choice(self) -> bool:
        return self.options is not None

    @property
    def letters(self) -> list[str]:
        return list(LETTERS[: len(self.options or [])])

    def formatted_options(self) -> list[str]:
        return [
            f"{letter}) {text}"
            for letter, text in zip(self.letters, self.options or [], strict=False)
        ]

    def normalize(self, solution: str | None) -> str | None:
        """The comparable form of a solution: the option letter, or folded free text.

        Returns None when a multiple-choice solution names no option (unreadable, not guessed).
        """
        if solution is None:
            return None
        text = solution.strip()
        if not text:
            return None
        if self.options is None:
            return normalize_free_text(text)
        return read_option_letter(text, self.options)


def read_option_letter(text: str, options: list[str]) -> str | None:
    """The option a short answer states, or None when it does not state exactly one clearly.

    Read: a letter alone ("B", "B.", "(B)", "[B]", "**B**", "Option B"), a marked letter with
    the option's text ("B) Paris", "(B) Paris", "B: Paris", "B. Paris"), the option's text alone
    ("Paris"), each after a statement such as "The answer is" or "Solution:". Never read: a
    capital that begins a sentence ("A crane lifts ...", "I don't ...", "I ≈ 7"), two options
    ("C and E", "A) Yes or B) No"), a marked letter whose text is another option's or names
    another option ("B) Rome", "A) ... is not among the options; the closest is B)"), and
    anything over more than one line. A misread is worse than an unreadable answer.
    """
    letters = LETTERS[: len(options)]
    body = _clean_answer(text)
    if body is None:
        return None
    by_text = _option_by_text(body, options)
    if by_text is not None:
        return by_text
    stated = _ANSWER_PREAMBLE.sub("", body, count=1).strip()
    if stated != body:
        stated = _unwrap(stated)
        by_text = _option_by_text(stated, options)
        if by_text is not None:
            return by_text
    alone = _LETTER_ALONE.fullmatch(stated)
    if alone:
        raw = next(g for g in alone.groups() if g)
        # A lowercase letter counts alone or marked ("b", "(b)"), never as a word ("a lot").
        return raw.upper() if raw.upper() in letters else None
    marked = _LETTER_MARKED.match(stated)
    if marked:
        raw = next(g for g in marked.groups()[:-1] if g)
        letter = raw.upper()
        if letter in letters and _consistent(letters.index(letter), marked.group("rest"), options):
            return letter
    return _leading_option(body, options)


def _leading_option(body: str, options: list[str]) -> str | None:
    """The option an answer leads with, read as `leading_answer` reads it ("Yes, because ...",
    "Paris. It is the capital.", "B, since ..."), when what follows names no other option: no
    other letter, and no other option's text unless it is a reason ("Yes, because no law ...")."""
    lead = leading_answer(body)
    if lead is None or not lead.rest:
        return None
    letters = LETTERS[: len(options)]
    letter = _option_by_text(lead.answer, options)
    if letter is None:
        alone = _LETTER_ALONE.fullmatch(lead.answer)
        raw = next((g for g in alone.groups() if g), "") if alone else ""
        # A letter leads only as a capital ("B, because"), never a word ("a lot, since").
        letter = raw if raw and raw in letters and lead.answer[:1].isupper() else None
    if letter is None:
        return None
    marks = {a or b for a, b in _OTHER_MARK.findall(lead.rest)} | set(
        _LONE_CAPITAL.findall(lead.rest)
    )
    if any(x in letters and x != letter for x in marks):
        return None  # "Yes, unlike B)", "B, or rather C"
    if not lead.gives_reasons:
        rest = _fold(lead.rest)
        own = _fold(options[letters.index(letter)])
        for i, other in enumerate(options):
            o = _fold(other)
            if letters[i] != letter and o and o not in own and _contains_words(rest, o):
                return None  # "Yes. No is wrong": another option's text, not a reason
    return letter


# Markdown emphasis and wrappers around a short answer, never part of it.
_BOLD_LETTER = re.compile(r"^(?:\*\*|__)\s*([A-Za-z])\s*(?:\*\*|__)(?=\s|$)")
_EMPHASIS = re.compile(r"\*\*|__|`")
_BOXED = re.compile(r"^\$*\s*\\boxed\{(.*)\}\s*\$*\s*\.?$", re.S)
# The whole answer is one letter, maybe wrapped or marked: B  b.  (B)  [ B ]  B)  B:  Option B
_LETTER_ALONE = re.compile(
    r"(?:option\s+)?(?:\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|([A-Za-z])\s*[).:\]]?)\s*[.!]?",
    re.I,
)
# A marked letter followed by text: "B) Paris", "(B) Paris", "[B] Paris", "B: Paris", "B. Paris"
_LETTER_MARKED = re.compile(
    r"(?:option\s+)?(?:\(\s*([A-Za-z])\s*\)|\[\s*([A-Za-z])\s*\]|([A-Za-z])[).:\]])\s+(?P<rest>\S.*)$",
    re.I,
)
# Another option marked inside the text: "B)", "(B)".
_OTHER_MARK = re.compile(r"(?<![A-Za-z0-9])(?:\(\s*([A-Z])\s*\)|([A-Z])\))")
_LONE_CAPITAL = re.compile(r"(?<![\w'’])([A-Z])(?![\w'’])")
_NUMBER = re.compile(r"\d+(?:,\d{3})+(?:\.\d+)?|\d*\.\d+|\d+")
_UNICODE_FOLD = str.maketrans(
    {
        "\u201c": '"',
        "\u201d": '"',
        "\u2018": "'",
        "\u2019": "'",
        "\u2212": "-",
        "\u2013": "-",
        "\u2014": "-",
    }
)


def _clean_answer(text: str) -> str | None:
    """One line of answer without markdown emphasis; None for an empty or multi-line text."""
    body = text.strip()
    if not body or "\n" in body:
        return None
    body = _BOLD_LETTER.sub(r"\1)", body)
    body = _EMPHASIS.sub("", body).strip()
    body = body.strip("\"'\u201c\u201d").strip()
    return _unwrap(body) or None


def _unwrap(text: str) -> str:
    boxed = _BOXED.match(text)
    return boxed.group(1).strip() if boxed else text


def _fold(text: str) -> str:
    """Text for comparing an answer with an option: case, quotes, dashes, spacing and edge
    punctuation folded away."""
    text = unicodedata.normalize("NFKC", text).translate(_UNICODE_FOLD).casefold()
    return re.sub(r"\s+", " ", _PUNCT_EDGES.sub("", text))


def _tight(text: str) -> str:
    return re.sub(r"[\s\"'*]", "", _fold(text))


# The same options are compared with every reply of a discussion: folded once.
_tight_option = lru_cache(maxsize=4096)(_tight)


def _option_by_text(text: str, options: list[str]) -> str | None:
    """The letter of the one option whose text the whole answer is."""
    tight = _tight(text)
    if not tight:
        return None
    matches = [LETTERS[i] for i, o in enumerate(options) if _tight_option(o) == tight]
    return matches[0] if len(matches) == 1 else None


def _numbers(text: str) -> set[float]:
    return {float(n.replace(",", "")) for n in _NUMBER.findall(text)}


def _consistent(index: int, rest: str, options: list[str]) -> bool:
    """Whether the text after a marked letter fits that option: its text, or words that name
    no other option and agree with this one more than with any other."""
    own = options[index]
    own_tight, rest_tight = _tight_option(own), _tight(rest)
    if rest_tight == own_tight:
        return True
    if any(_tight_option(o) == rest_tight for i, o in enumerate(options) if i != index):
        return False
    letters = LETTERS[: len(options)]
    own_letter = letters[index]
    marks = {a or b for a, b in _OTHER_MARK.findall(rest)}
    capitals = set(_LONE_CAPITAL.findall(rest)) - set(_LONE_CAPITAL.findall(own))
    if any(x in letters and x != own_letter for x in marks | capitals):
        return False  # another option is named ("... the closest is B)", "No, E")
    rest_folded, own_folded = _fold(rest), _fold(own)
    for i, other in enumerate(options):
        o = _fold(other)
        if i != index and o and o not in own_folded and _contains_words(rest_folded, o):
            return False  # another option's text ("A) Yes or No")
    extra = _numbers(rest) - _numbers(own)
    if any(extra & _numbers(o) for i, o in enumerate(options) if i != index):
        return False  # a value of another option ("D) 32.7" where F is 32.7g)
    if _starts_with_words(rest_folded, own_folded):
        tail = rest_folded[len(own_folded) :]
        return not tail or re.match(r"\s*[,.;:!(\-]|\s+[^\W\d]", tail) is not None
    if _starts_with_words(own_folded, rest_folded):
        return True  # the option's text cut short ("I) 0.97" for "0.97 ohm")
    ratios = [difflib.SequenceMatcher(None, rest_folded, _fold(o)).ratio() for o in options]
    best_other = max((r for i, r in enumerate(ratios) if i != index), default=0.0)
    return ratios[index] >= 0.5 and ratios[index] >= best_other + 0.1


def _contains_words(text: str, words: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(words)}(?!\w)", text) is not None


def _starts_with_words(text: str, prefix: str) -> bool:
    if not prefix or not text.startswith(prefix):
        return False
    after = text[len(prefix) : len(prefix) + 2]
    return not after or not (after[0].isalnum() or re.match(r"[.,]\d", after))


_PUNCT_EDGES = re.compile(r"^[\s\"'`*.,;:!?()\[\]]+|[\s\"'`*.,;:!?()\[\]]+$")


def normalize_free_text(text: str) -> str:
    return re.sub(r"\s+", " ", _PUNCT_EDGES.sub("", text)).casefold()
