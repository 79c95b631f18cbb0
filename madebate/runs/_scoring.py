"""Scoring answers against references, and per-cell means with 95% confidence intervals.

An undecided discussion is scored on its answer like any other; a missing or unreadable answer
scores 0. Nothing is dropped."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict

from madebate._stated import stated_answer, stated_number
from madebate._task import Task
from madebate.runs import (  # imported for their registrations in `metrics`
    _metrics_bertscore,  # noqa: F401
    _metrics_ifeval,  # noqa: F401
    _metrics_squad,  # noqa: F401
    _metrics_text,  # noqa: F401
)
from madebate.runs._metric_base import (
    _reference_texts,
    _scored_text,
    _squad_normalize,
    _token_f1,
)
from madebate.runs._metric_base import metrics as metrics  # re-exported: the registry's home


def is_correct(answer: str | None, solution: str | None, task: Task) -> bool:
    """The one rule for "is this answer correct", used by the `accuracy` metric and by the
    analytics (a correct answer proposed, then lost). Multiple choice: the option letter is a
    reference letter. Otherwise: `exact_match` (the stated solution equals a reference after
    SQuAD normalisation, so "The Eiffel Tower" matches "Eiffel Tower"). No answer is wrong."""
    if answer is None:
        return False
    if task.is_multiple_choice:
        return answer in task.references
    return exact_match(answer, solution, task) == 1.0


@metrics.register("accuracy")
def accuracy(answer: str | None, solution: str | None, task: Task) -> float:
    """1.0 when `is_correct`, else 0.0."""
    return float(is_correct(answer, solution, task))


@metrics.register("exact_match")
def exact_match(answer: str | None, solution: str | None, task: Task) -> float:
    """The answer equals a reference after SQuAD normalisation: the whole answer, or the answer
    it states (`stated_answer`: "Yes, because ..." and "The answer is Yes." state "Yes")."""
    text = _scored_text(answer, solution, task)
    if text is None:
        return 0.0
    readings = {_squad_normalize(text)}
    stated = stated_answer(text) if not task.is_multiple_choice else None
    if stated is not None:
        readings.add(_squad_normalize(stated))
    return float(any(_squad_normalize(r) in readings for r in _reference_texts(task)))


@metrics.register("token_f1")
def token_f1(answer: str | None, solution: str | None, task: Task) -> float:
    """SQuAD-style token F1 against the best-matching reference."""
    text = _scored_text(answer, solution, task)
    if text is None:
        return 0.0
    got = _squad_normalize(text)
    return max((_token_f1(got, _squad_normalize(r)) for r in _reference_texts(task)), default=0.0)


def read_number(text: str | None) -> float | None:
    """The number a text states as its answer (`stated_number`): "1,234.5 km" -> 1234.5,
    "seven" -> 7, "7. I counted 3 and 4." -> 7, "3 + 4 = 7" -> 7; None when it states none
    clearly ("7 or 8", "1/2 of 10", "maybe 7")."""
    return stated_number(text)


@metrics.register("numeric")
def numeric(answer: str | None, solution: str | None, task: Task) -> float:
    got = read_number(_scored_text(answer, solution, task))
    if got is None:
        return 0.0
    for ref in _reference_texts(task):
        want = read_number(ref)
        if want is not None and math.isclose(got, want, rel_tol=1e-6, abs_tol=1e-9):
            return 1.0
    return 0.0


@metrics.register("contains")
def contains(answer: str | None, solution: str | None, task: Task) -> float:
    """A reference appears in the answer (after normalisation)."""
    text = _scored_text(answer, solution, task)
    if text is None:
        return 0.0
    got = f" {_squad_normalize(text)} "
    return float(
        any(f" {_squad_normalize(r)} " in got for r in _reference_texts(task) if r.strip())
    )


def default_metrics(task_kind: str) -> list[str]:
    return {
        "multiple_choice": ["accuracy"],
        "yes_no": ["accuracy"],
        "short_answer": ["exact_match", "token_f1"],
        "math": ["numeric"],
        "free_text": ["token_f1", "contains"],
    }[task_kind]


def score(
    answer: str | None, solution: str | None, task: Task, names: Sequence[str]
) -> dict[str, float]:
    """Each named metric's score (0..1) of an answer against the task's references."""
    return {name: metrics.get(name, field="scoring")(answer, solution, task) for name in names}


IntervalMethod = Literal["wilson", "normal_over_example_means", "per_record"]
"""How a `MetricSummary`'s 95% interval was computed (`INTERVAL_METHODS` says it in words)."""

INTERVAL_METHODS: dict[str, str] = {
    "wilson": "Wilson score interval over examples (every example's repeats agree)",
    "normal_over_example_means": "normal (z) interval over example means",
    "per_record": "over records, repeats counted as independent (written before schema 2)",
}
INTERVAL_NOTE = (
    "95% intervals are over examples, not records: the repeats of an example are averaged "
    "first. Wilson score interval when every example's mean is 0 or 1 (one repeat, or repeats "
    "that agree); otherwise a normal (z) interval over the example means."
)


class MetricSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")

    mean: float
    ci_low: float
    ci_high: float
    n: int
    """Scores summarised (examples times repeats)."""
    examples: int | None = None
    """Examples the interval is over (None: written before schema 2)."""
    method: IntervalMethod = "per_record"
    """How the interval was computed (see `INTERVAL_METHODS`)."""


def summarize(values: Sequence[float], examples: Sequence[Hashable] | None = None) -> MetricSummary:
    """Mean with a 95% interval over examples: the scores of one example (its repeats, the same
    key in `examples`; without `examples` every score is its own example) are averaged first,
    so repeats add no false precision. Wilson when every example mean is 0 or 1, else a normal
    (z) interval over the example means. The mean is the mean of example means (the mean of all
    scores when every example has the same number of repeats)."""
    n = len(values)
    if n == 0:
        return MetricSummary(mean=0.0, ci_low=0.0, ci_high=0.0, n=0, examples=0, method="wilson")
    if examples is None:
        means = [float(v) for v in values]
    else:
        if len(examples) != n:
            raise ValueError("summarize: one example key per value")
        groups: dict[Hashable, list[float]] = {}
        for key, v in zip(examples, values, strict=True):
            groups.setdefault(key, []).append(float(v))
        means = [sum(g) / len(g) for g in groups.values()]
    k = len(means)
    mean = sum(means) / k
    z = 1.959963984540054
    if all(v in (0.0, 1.0) for v in means):
        denom = 1 + z * z / k
        center = (mean + z * z / (2 * k)) / denom
        half = z * math.sqrt(mean * (1 - mean) / k + z * z / (4 * k * k)) / denom
        return MetricSummary(
            mean=mean,
            ci_low=max(0.0, center - half),
            ci_high=min(1.0, center + half),
            n=n,
            examples=k,
            method="wilson",
        )
    method: IntervalMethod = "normal_over_example_means"
    if k == 1:
        return MetricSummary(mean=mean, ci_low=mean, ci_high=mean, n=n, examples=1, method=method)
    var = sum((v - mean) ** 2 for v in means) / (k - 1)
    half = z * math.sqrt(var / k)
    return MetricSummary(
        mean=mean,
        ci_low=max(0.0, mean - half),
        ci_high=min(1.0, mean + half),
        n=n,
        examples=k,
        method=method,
    )
