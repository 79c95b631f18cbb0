"""A structured reply generated one field at a time, so that it cannot be cut before its answer.

The fixed text of the object (braces, keys) goes into the prompt; the model generates only the
values, each under its own grammar. A free-text field (the reasoning) gets the token budget
left after reserving what the later fields need; when it runs out, or when the model starts
repeating itself, the string is closed and the next field still gets its turn. The reply is
therefore always a complete object, and the budget is counted in tokens, not guessed from
characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from madebate.models.providers._gbnf import Field


@dataclass
class Piece:
    """What one generation step produced."""

    text: str
    tokens: int
    finish: str  # "stop" (the grammar or the model ended it), "length" or "loop"
    logprobs: list[float] = field(default_factory=list)


# (text appended to the prompt so far, grammar, max new tokens, watch for loops) -> Piece
Complete = Callable[[str, str, int, bool], Piece]
CountTokens = Callable[[str], int]


@dataclass
class Assembled:
    text: str
    completion_tokens: int
    cut: bool  # a free-text field ran out of budget and was closed
    looped: bool  # a field was stopped because it repeated itself
    logprobs: list[float]


_UNFINISHED_UNICODE = re.compile(r"\\u[0-9a-fA-F]{0,3}$")


def close_string(content: str) -> str:
    """JSON string content cut anywhere, made safe to close with a quote: an unfinished escape
    at the end ('\\' alone, or '\\u00') is dropped."""
    m = _UNFINISHED_UNICODE.search(content)
    if m and _backslashes_before(content, m.start()) % 2 == 0:
        content = content[: m.start()]
    if _backslashes_before(content, len(content)) % 2:
        content = content[:-1]
    return content


def _backslashes_before(text: str, end: int) -> int:
    return end - len(text[:end].rstrip("\\"))


def fixed_reserve(item: Field, count_tokens: CountTokens) -> int:
    """Tokens a fixed field may take: under a grammar a model can spell a value one character
    at a token, so its longest value's characters bound it (and one for the end)."""
    return max(count_tokens(item.longest), len(item.longest)) + 1


def generate_fields(
    fields: Sequence[Field], max_tokens: int, complete: Complete, count_tokens: CountTokens
) -> Assembled:
    reserves = [0 if not f.longest else fixed_reserve(f, count_tokens) for f in fields]
    text = ""
    used = 0
    cut = looped = False
    logprobs: list[float] = []
    for i, item in enumerate(fields):
        text += item.prefix
        later_fixed = sum(reserves[i + 1 :])
        open_fields = sum(1 for f in fields[i:] if not f.longest)
        if item.longest:  # an enum: never cut, whatever the budget
            piece = complete(text, item.grammar, reserves[i], False)
            text += piece.text
        else:
            # Split what is left evenly among this and the later open fields; a field that
            # needs less leaves the rest to those after it.
            left = max(0, max_tokens - used - later_fixed)
            budget = left // open_fields if open_fields else left
            if item.free_text:
                text += '"'
                if budget <= 0:
                    piece = Piece("", 0, "length")
                else:
                    piece = complete(text, item.grammar, budget, True)
                content = piece.text
                if piece.finish == "stop" and content.endswith('"'):
                    text += content
                else:
                    text += close_string(content.removesuffix('"')) + '"'
                    cut = cut or piece.finish == "length"
                    looped = looped or piece.finish == "loop"
            else:
                piece = complete(text, item.grammar, max(budget, 1), False)
                value = piece.text
                if piece.finish == "length" and _open_string(value):
                    # A nullable string (a judge's written answer) cut mid-way: closed, as the
                    # reasoning is, so the object stays whole.
                    value = '"' + close_string(value[1:]) + '"'
                text += value
                cut = cut or piece.finish == "length"
        used += piece.tokens
        logprobs.extend(piece.logprobs)
    return Assembled(text + "}", used, cut, looped, logprobs)


def _open_string(value: str) -> bool:
    """A JSON string value that was started and never closed."""
    if not value.startswith('"'):
        return False
    body = value[1:]
    return not (body.endswith('"') and _backslashes_before(body, len(body) - 1) % 2 == 0)


class LoopWatch:
    """Stops a generation that repeats the same run of tokens: a period of 1 to 64 tokens seen
    at least three times in a row and covering at least 24 tokens. Numbers are masked by
    `same` (a token's comparison key), so a numbered loop ("8) The Red Planet ... 9) The Red
    Planet ...") is a loop too. `keep` is how many of the generated tokens to keep (the repeats
    are dropped, one copy stays)."""

    MAX_PERIOD = 64
    MIN_SPAN = 24

    def __init__(self, start: int, same: Callable[[int], int] | None = None):
        self.start = start
        self.same = same or (lambda token: token)
        self.keep: int | None = None
        self._keys: list[int] = []

    def __call__(self, ids: Sequence[int]) -> bool:
        generated = ids[self.start :]
        keys = self._keys
        if len(generated) < len(keys):  # a new generation from the same watch: start over
            keys.clear()
        keys.extend(self.same(t) for t in generated[len(keys) :])
        n = len(keys)
        if n < self.MIN_SPAN or n % 2:  # checking every other token is enough
            return False
        for period in range(1, min(self.MAX_PERIOD, n // 3) + 1):
            reps = max(3, -(-self.MIN_SPAN // period))
            span = reps * period
            if span > n:
                continue
            unit = keys[n - period :]
            if all(keys[n - k * period : n - (k - 1) * period] == unit for k in range(2, reps + 1)):
                self.keep = n - span + period
                return True
        return False
