"""SQuAD 2.0 exact match and F1 with answerability, and MALLM's includes-answer.

SQuAD 2.0 semantics (the official v2 evaluation script): answers and references are normalised
(lower case, punctuation removed, the articles a/an/the removed, whitespace collapsed); exact
match is equality of the normalised texts, F1 the harmonic mean of token precision and recall
over the multiset of shared tokens; the best reference counts. A question with no reference (or
only blank ones) is unanswerable: its one gold answer is the empty string, so only an empty
prediction is right (EM and F1 1), and any other scores 0. An answer that abstains (`ABSTENTIONS`,
after the same normalisation, as the whole answer or as the answer it states) is the empty
prediction: right on an unanswerable question, 0 on an answerable one. A missing answer (a failed
discussion) scores 0 either way: failures count as wrong."""

from __future__ import annotations

from madebate._stated import stated_answer
from madebate._task import Task
from madebate.runs._metric_base import (
    _reference_texts,
    _scored_text,
    _squad_normalize,
    _token_f1,
    metrics,
)

ABSTENTIONS = frozenset(
    {
        "unknown",
        "unanswerable",
        "not answerable",
        "no answer",
        "cannot answer",
        "cannot be answered",
        "cant answer",
        "cant be answered",
        "cannot be determined",
        "cant be determined",
        "not enough information",
        "insufficient information",
        "i dont know",
        "none",
    }
)
"""Answers that say "this question has no answer", compared after SQuAD normalisation (so
"Unknown.", "UNANSWERABLE" and "I don't know" all abstain; "The answer is unknown." states
"unknown"). Anything else, including an empty answer, is an attempt at an answer, except that an
empty answer is itself the empty prediction."""


def _golds(task: Task) -> list[str]:
    """The gold answers as the v2 script takes them: the non-blank references, or [""] for an
    unanswerable question."""
    refs = [r for r in _reference_texts(task) if _squad_normalize(r)]
    return refs or [""]


def _predictions(answer: str | None, solution: str | None, task: Task) -> list[str] | None:
    """The normalised predictions an answer makes: the whole text and the answer it states
    ("The answer is Paris." states "Paris"), and "" for one that abstains; None when there is
    no answer at all."""
    text = _scored_text(answer, solution, task)
    if text is None:
        return None
    readings = [text]
    stated = stated_answer(text) if not task.is_multiple_choice else None
    if stated is not None:
        readings.append(stated)
    out = []
    for reading in readings:
        norm = _squad_normalize(reading)
        out.append(norm)
        if norm in ABSTENTIONS:  # kept as said too: a reference may be "none" itself
            out.append("")
    return out


@metrics.register("squad_em")
def squad_em(answer: str | None, solution: str | None, task: Task) -> float:
    """SQuAD 2.0 exact match: 1.0 when the normalised answer equals a normalised reference; on
    an unanswerable question (no reference) when the answer abstains ("unknown", ...)."""
    preds = _predictions(answer, solution, task)
    if preds is None:
        return 0.0
    golds = [_squad_normalize(g) for g in _golds(task)]
    return float(any(p == g for p in preds for g in golds))


@metrics.register("squad_f1")
def squad_f1(answer: str | None, solution: str | None, task: Task) -> float:
    """SQuAD 2.0 token F1, best over references; on an unanswerable question 1.0 when the
    answer abstains, else 0.0."""
    preds = _predictions(answer, solution, task)
    if preds is None:
        return 0.0
    golds = [_squad_normalize(g) for g in _golds(task)]
    return max(_token_f1(p, g) for p in preds for g in golds)


@metrics.register("includes_answer")
def includes_answer(answer: str | None, solution: str | None, task: Task) -> float:
    """MALLM's includes-answer: 1.0 when a reference appears in the answer, compared in lower
    case as plain substrings ("paris" is in "Paris, France"; no word boundaries, no other
    normalisation). Blank references are skipped, so an example without a reference scores 0
    (score unanswerable questions with `squad_em`)."""
    text = _scored_text(answer, solution, task)
    if text is None:
        return 0.0
    low = text.lower()
    return float(any(r.strip() and r.strip().lower() in low for r in _reference_texts(task)))
