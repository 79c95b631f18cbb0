"""The task under discussion and how its answers are normalised for comparison."""

from __future__ import annotations

import re
import string
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

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


_LETTER_AT_START = re.compile(
    r"^\s*([\(\[*]*)\s*(option\s+)?([A-Za-z])\s*([\)\]\.:*]*)(?:\s|$)", re.I
)


def read_option_letter(text: str, options: list[str]) -> str | None:
    letters = LETTERS[: len(options)]
    # The whole text naming one option ("A dog" among "A cat", "A dog") beats a leading letter.
    folded = normalize_free_text(text)
    matches = [LETTERS[i] for i, o in enumerate(options) if normalize_free_text(o) == folded]
    if len(matches) == 1:
        return matches[0]
    m = _LETTER_AT_START.match(text)
    if m:
        opening, option_word, raw, closing = m.groups()
        letter = raw.upper()
        # A lone lowercase word like "a" only counts when it is the whole answer or marked up.
        marked = bool(opening or option_word or closing)
        if letter in letters and (raw.isupper() or marked or len(text.strip()) <= 3):
            return letter
    return None


_PUNCT_EDGES = re.compile(r"^[\s\"'`*.,;:!?()\[\]]+|[\s\"'`*.,;:!?()\[\]]+$")


def normalize_free_text(text: str) -> str:
    return re.sub(r"\s+", " ", _PUNCT_EDGES.sub("", text)).casefold()
