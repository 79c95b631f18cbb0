"""What every metric shares: the registry metrics register into, and how an answer and the
references become the texts a metric compares (kept apart from `_scoring` so that the metric
modules and `_scoring` do not import each other)."""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable

from madebate._registry import Registry
from madebate._task import Task

Metric = Callable[[str | None, str | None, Task], float]
metrics: Registry[Metric] = Registry("metric")

_PUNCTUATION = frozenset(string.punctuation)


def _squad_normalize(text: str) -> str:
    """SQuAD's answer normalisation: lower case, no punctuation, no articles, single spaces."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def _token_f1(pred: str, gold: str) -> float:
    """SQuAD's token F1 of two normalised texts: the harmonic mean of token precision and
    recall over the multiset of shared tokens; when either is empty, 1.0 only if both are."""
    got, want = pred.split(), gold.split()
    if not got or not want:
        return float(got == want)
    overlap = sum((Counter(got) & Counter(want)).values())
    if not overlap:
        return 0.0
    p, r = overlap / len(got), overlap / len(want)
    return 2 * p * r / (p + r)


def _scored_text(answer: str | None, solution: str | None, task: Task) -> str | None:
    """The text that the text metrics score: the chosen option's text for multiple choice (so
    "B) Paris" compares as "Paris"), the solution as stated otherwise, and nothing when the
    answer is missing or unreadable (a solution naming no option earns no credit)."""
    if answer is None:
        return None
    if task.is_multiple_choice and task.options and answer in task.letters:
        return task.options[task.letters.index(answer)]
    return solution or answer


def _reference_texts(task: Task) -> list[str]:
    if task.is_multiple_choice and task.options:
        letters = task.letters
        return [task.options[letters.index(r)] for r in task.references if r in letters]
    return list(task.references)
