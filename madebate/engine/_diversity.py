"""Diversity measures of a panel, as pure arithmetic: the mean pairwise cosine similarity of
vectors (MALLM reports it for the persona descriptions and calls it diversity; madebate reports
one minus it, so that more diverse means larger), the lexical vectors used when no sentence
encoder is installed, and the number of distinct positions a panel holds.

The encoder itself lives in the runs layer (`madebate.runs._diversity`); this module has no
dependency beyond the standard library."""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

LEXICAL_METHOD = "1 - mean pairwise cosine of word-count vectors (lexical)"
"""How `lexical_diversity` measures, as records name it."""

_WORD = re.compile(r"\w+")

Vector = Sequence[float] | Mapping[str, float]


def word_counts(text: str) -> Counter[str]:
    """The text's bag of words: lower-cased runs of letters, digits and underscores."""
    return Counter(_WORD.findall(text.lower()))


def cosine(a: Vector, b: Vector) -> float:
    """The cosine of two dense vectors (equal lengths) or two sparse ones (word -> count). Two
    zero vectors are the same (1.0); a zero vector and another one share nothing (0.0)."""
    if isinstance(a, Mapping) and isinstance(b, Mapping):
        dot = sum(v * b.get(k, 0.0) for k, v in a.items())
        na = math.sqrt(sum(v * v for v in a.values()))
        nb = math.sqrt(sum(v * v for v in b.values()))
    elif not isinstance(a, Mapping) and not isinstance(b, Mapping):
        if len(a) != len(b):
            raise ValueError(f"vectors of different lengths ({len(a)} and {len(b)})")
        dot = sum(x * y for x, y in zip(a, b, strict=True))
        na = math.sqrt(sum(x * x for x in a))
        nb = math.sqrt(sum(y * y for y in b))
    else:
        raise TypeError("cosine of a dense and a sparse vector")
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return dot / (na * nb)


def mean_pairwise_cosine(vectors: Sequence[Vector]) -> float | None:
    """The mean cosine over the n(n-1)/2 unordered pairs; None with fewer than two vectors."""
    n = len(vectors)
    if n < 2:
        return None
    pairs = [cosine(vectors[i], vectors[j]) for i in range(n) for j in range(i + 1, n)]
    return sum(pairs) / len(pairs)


def diversity(vectors: Sequence[Vector]) -> float | None:
    """1 - mean pairwise cosine similarity, from 0.0 (all alike) up to 2.0; None with fewer
    than two vectors."""
    similarity = mean_pairwise_cosine(vectors)
    if similarity is None:
        return None
    return min(2.0, max(0.0, 1.0 - similarity))  # a float error past the bounds is no signal


def lexical_diversity(texts: Sequence[str]) -> float | None:
    """`diversity` of the texts' word-count vectors (`LEXICAL_METHOD`): 0.0 for identical
    texts, 1.0 for texts without a word in common."""
    return diversity([{k: float(v) for k, v in word_counts(t).items()} for t in texts])


def distinct_positions(positions: Iterable[str]) -> int:
    """How many different answers the positions hold (normalised answers, one per panelist
    that holds one)."""
    return len(set(positions))
