"""Scoring answers against references, and the means with 95% intervals that summarise them.

Answers are produced the way the engine produces them (the 'Final Solution:' line read, then
normalised by the task) and then scored.
"""

from __future__ import annotations

import math

import pytest

from madebate import ConfigError, Task
from madebate._reply import read_solution
from madebate.runs import metrics, read_number, score, summarize

CITIES = ["Rome", "Paris", "Berlin", "Madrid"]
MC = Task(question="Capital of France?", options=CITIES, references=["B"])
FREE = Task(question="Which landmark?", references=["The Eiffel Tower"])
ALL_METRICS = ["accuracy", "exact_match", "token_f1", "numeric", "contains", "bleu", "rouge_l"]


def engine_score(reply: str, task: Task, names: list[str]) -> dict[str, float]:
    """Score a model reply as a discussion would: read its final line, normalise, score."""
    solution, answer, _ = read_solution(reply, task)
    return score(answer, solution, task, names)


def free(*references: str) -> Task:
    return Task(question="q", references=list(references))


# -- accuracy on multiple choice ----------------------------------------------------------------


@pytest.mark.parametrize(
    "reply",
    [
        "Paris is the capital.\nFinal answer: (B)",
        "Final Solution: B",
        "Final Solution: b",
        "Final Solution: (b)",
        "Final Solution: B) Paris",
        "Final Solution: Paris",  # the option's text instead of its letter
        "Final Solution: **paris.**",
    ],
)
def test_accuracy_reads_the_option_letter(reply: str) -> None:
    assert engine_score(reply, MC, ["accuracy"]) == {"accuracy": 1.0}


@pytest.mark.parametrize(
    ("solution", "letter"),
    [("(B)", "B"), ("b", "B"), ("Paris", "B"), ("paris", "B"), ("B) Paris", "B"), ("D", "D")],
)
def test_task_normalize_then_accuracy(solution: str, letter: str) -> None:
    answer = MC.normalize(solution)
    assert answer == letter
    assert score(answer, solution, MC, ["accuracy"])["accuracy"] == float(letter == "B")


@pytest.mark.parametrize(
    "reply", ["Final Solution: A", "Final Solution: Rome", "Final answer: (c)"]
)
def test_accuracy_wrong_option_scores_zero(reply: str) -> None:
    assert engine_score(reply, MC, ["accuracy"]) == {"accuracy": 0.0}


def test_accuracy_with_several_correct_options() -> None:
    task = Task(question="Even numbers?", options=["1", "2", "3", "4"], references=["B", "D"])
    assert score("D", "4", task, ["accuracy"])["accuracy"] == 1.0
    assert score("B", "2", task, ["accuracy"])["accuracy"] == 1.0
    assert score("C", "3", task, ["accuracy"])["accuracy"] == 0.0


def test_accuracy_on_free_text_is_exact_match() -> None:
    assert engine_score("Final Solution: the eiffel tower.", FREE, ["accuracy"])["accuracy"] == 1.0
    assert engine_score("Final Solution: Big Ben", FREE, ["accuracy"])["accuracy"] == 0.0


# -- exact match and token F1, SQuAD style ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The Eiffel Tower", 1.0),
        ("eiffel tower", 1.0),  # the article goes
        ("An Eiffel   TOWER!", 1.0),  # articles, case, punctuation and spaces
        ("'Eiffel, Tower.'", 1.0),
        ("Eiffel", 0.0),
        ("The Eiffel Tower in Paris", 0.0),
    ],
)
def test_exact_match_squad_normalisation(text: str, expected: float) -> None:
    assert score(FREE.normalize(text), text, FREE, ["exact_match"])["exact_match"] == expected


def test_exact_match_any_reference() -> None:
    task = free("NYC", "New York City")
    assert score("x", "new york city", task, ["exact_match"])["exact_match"] == 1.0
    assert score("x", "New York", task, ["exact_match"])["exact_match"] == 0.0


def test_token_f1_partial_overlap_exact_value() -> None:
    # answer tokens: quick red fox jumps; reference: quick brown fox -> overlap 2,
    # precision 2/4, recall 2/3, F1 = 4/7.
    got = score("x", "A quick red fox jumps", free("The quick brown fox"), ["token_f1"])
    assert got["token_f1"] == pytest.approx(4 / 7, abs=1e-12)


def test_token_f1_best_over_references() -> None:
    task = free("something else entirely", "the quick brown fox")
    # vs the second: overlap 2, precision 1, recall 2/3 -> F1 0.8
    assert score("x", "quick fox", task, ["token_f1"])["token_f1"] == pytest.approx(0.8)


def test_token_f1_counts_repeated_tokens_once_each() -> None:
    # overlap min(3, 1) = 1; precision 1/3, recall 1 -> 0.5
    assert score("x", "fox fox fox", free("fox"), ["token_f1"])["token_f1"] == pytest.approx(0.5)


def test_token_f1_full_and_none() -> None:
    assert score("x", "The Eiffel Tower!", FREE, ["token_f1"])["token_f1"] == 1.0
    assert score("x", "Big Ben", FREE, ["token_f1"])["token_f1"] == 0.0
    # Only an article: nothing left after normalisation.
    assert score("x", "the", FREE, ["token_f1"])["token_f1"] == 0.0


# -- numbers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1,234", 1234.0),
        ("1234.0", 1234.0),
        ("$1,234", 1234.0),
        ("1,234.5 km", 1234.5),
        ("12 km", 12.0),
        ("-3", -3.0),
        ("The answer is -3.", -3.0),
        ("3/4", 0.75),
        ("-3/4", -0.75),
        ("so it is 3/4.", 0.75),
        ("so it is 3 / 4", 0.75),
        ("1e3", 1000.0),
        (
            "Step 1: 10 apples, then 2 more, so 12",
            12.0,
        ),  # the number the conclusion states ("so 12")
        ("1/2 of 10", None),  # two numbers, neither stated as the answer: unreadable
        ("no number here", None),
        ("", None),
        (None, None),
        ("1/0", None),
    ],
)
def test_read_number(text: str | None, number: float | None) -> None:
    assert read_number(text) == number


@pytest.mark.parametrize(
    ("text", "reference", "expected"),
    [
        ("1,234", "1234", 1.0),
        ("1234.0", "1,234", 1.0),
        ("$1,234", "1234", 1.0),
        ("12 km", "12", 1.0),
        ("-3", "-3", 1.0),
        ("-3", "3", 0.0),
        ("3/4", "0.75", 1.0),
        ("0.75", "3/4", 1.0),
        ("First 5, then 7, finally 42", "42", 1.0),
        ("42, not 7", "42", 1.0),  # the number the answer leads with, not the last one
        ("7, not 42", "42", 0.0),
        ("no number", "42", 0.0),
        ("1233.9", "1234", 0.0),
    ],
)
def test_numeric(text: str, reference: str, expected: float) -> None:
    task = free(reference)
    assert score(task.normalize(text), text, task, ["numeric"])["numeric"] == expected


def test_numeric_any_reference() -> None:
    assert score("x", "18", free("16", "18"), ["numeric"])["numeric"] == 1.0


# -- contains -----------------------------------------------------------------------------------


def test_contains() -> None:
    task = free("Paris")
    assert score("x", "I am sure it is Paris, France.", task, ["contains"])["contains"] == 1.0
    assert score("x", "parisian cafés", task, ["contains"])["contains"] == 0.0  # whole words
    assert score("x", "Rome", task, ["contains"])["contains"] == 0.0
    assert score("x", "the eiffel tower, in paris", FREE, ["contains"])["contains"] == 1.0


def test_contains_ignores_blank_references() -> None:
    assert score("x", "anything", free(" "), ["contains"])["contains"] == 0.0


def test_text_metrics_on_multiple_choice_use_the_option_text() -> None:
    got = score("B", "Paris", MC, ["exact_match", "token_f1", "contains"])
    assert got == {"exact_match": 1.0, "token_f1": 1.0, "contains": 1.0}


# -- missing and unreadable answers -------------------------------------------------------------


@pytest.fixture
def all_metrics() -> list[str]:
    pytest.importorskip("sacrebleu", reason="bleu needs sacrebleu (pip install madebate[metrics])")
    pytest.importorskip(
        "rouge_score", reason="rouge_l needs rouge-score (pip install madebate[metrics])"
    )
    return ALL_METRICS


@pytest.mark.parametrize("task", [MC, FREE, free("42")], ids=["mc", "free", "number"])
def test_missing_answer_scores_zero_everywhere(task: Task, all_metrics: list[str]) -> None:
    assert score(None, None, task, all_metrics) == dict.fromkeys(all_metrics, 0.0)


def test_unreadable_multiple_choice_answer_scores_zero_everywhere(all_metrics: list[str]) -> None:
    # The solution names two options: no option letter can be read, so the answer is None, and
    # the text metrics must not give credit for the option text it happens to contain.
    solution, answer, _ = read_solution("Final Solution: Paris or Rome", MC)
    assert solution == "Paris or Rome" and answer is None
    assert score(answer, solution, MC, all_metrics) == dict.fromkeys(all_metrics, 0.0)


def test_no_references_scores_zero(all_metrics: list[str]) -> None:
    task = Task(question="q")
    assert score("x", "x", task, all_metrics) == dict.fromkeys(all_metrics, 0.0)


# -- bleu and rouge_l ---------------------------------------------------------------------------


def test_bleu() -> None:
    pytest.importorskip("sacrebleu", reason="bleu needs sacrebleu (pip install madebate[metrics])")
    task = free("the cat sat on the mat")
    same = score("x", "the cat sat on the mat", task, ["bleu"])["bleu"]
    other = score("x", "a dog lay on a rug", task, ["bleu"])["bleu"]
    assert same == pytest.approx(1.0)
    assert 0.0 <= other < 0.5
    # Several references: the matching one counts.
    assert score("x", "the cat sat on the mat", free("zzz", "the cat sat on the mat"), ["bleu"])[
        "bleu"
    ] == pytest.approx(1.0)


def test_rouge_l() -> None:
    pytest.importorskip(
        "rouge_score", reason="rouge_l needs rouge-score (pip install madebate[metrics])"
    )
    task = free("the cat sat on the mat")
    assert score("x", "the cat sat on the mat", task, ["rouge_l"])["rouge_l"] == pytest.approx(1.0)
    partial = score("x", "the cat sat", task, ["rouge_l"])["rouge_l"]
    assert partial == pytest.approx(2 * (1 * 0.5) / 1.5)  # LCS 3: precision 1, recall 1/2
    assert score("x", "dogs bark loudly", task, ["rouge_l"])["rouge_l"] == 0.0
    # Best over references.
    assert score("x", "dogs bark", free("the cat sat", "dogs bark"), ["rouge_l"])[
        "rouge_l"
    ] == pytest.approx(1.0)


# -- metric names -------------------------------------------------------------------------------


def test_unknown_metric_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError) as info:
        score("B", "B", MC, ["accuracy", "f1_score"])
    message = str(info.value)
    assert "f1_score" in message and "scoring" in message
    for name in ALL_METRICS:
        assert name in message


def test_registered_metric_names() -> None:
    assert set(ALL_METRICS) <= set(metrics.names())


# -- summarize ----------------------------------------------------------------------------------


def test_summarize_wilson_mixed() -> None:
    s = summarize([1.0, 1.0, 1.0, 0.0])
    assert (s.mean, s.n) == (0.75, 4)
    assert s.ci_low == pytest.approx(0.3006, abs=1e-4)
    assert s.ci_high == pytest.approx(0.9544, abs=1e-4)
    s = summarize([1.0] * 3 + [0.0] * 7)
    assert s.mean == pytest.approx(0.3)
    assert (s.ci_low, s.ci_high) == (
        pytest.approx(0.1078, abs=1e-4),
        pytest.approx(0.6032, abs=1e-4),
    )


def test_summarize_wilson_all_ones_and_all_zeros() -> None:
    ones = summarize([1.0] * 4)
    assert ones.mean == 1.0 and ones.ci_high == 1.0
    assert ones.ci_low == pytest.approx(0.5101, abs=1e-4)  # Wilson is not degenerate at p = 1
    zeros = summarize([0.0] * 4)
    assert zeros.mean == 0.0 and zeros.ci_low == 0.0
    assert zeros.ci_high == pytest.approx(0.4899, abs=1e-4)
    one = summarize([1.0])
    assert one.n == 1 and one.ci_low == pytest.approx(0.2065, abs=1e-4) and one.ci_high == 1.0


def test_summarize_wilson_is_symmetric() -> None:
    a, b = summarize([1, 1, 0, 0, 0]), summarize([0, 0, 1, 1, 1])
    assert a.ci_low == pytest.approx(1 - b.ci_high) and a.ci_high == pytest.approx(1 - b.ci_low)


def test_summarize_empty() -> None:
    s = summarize([])
    assert (s.mean, s.ci_low, s.ci_high, s.n) == (0.0, 0.0, 0.0, 0)


def test_summarize_non_binary_uses_a_normal_interval() -> None:
    s = summarize([0.5, 0.6])
    half = 1.959963984540054 * math.sqrt(0.005 / 2)  # sample variance 0.005
    assert s.mean == pytest.approx(0.55)
    assert s.ci_low == pytest.approx(0.55 - half) and s.ci_high == pytest.approx(0.55 + half)
    # With one value there is no spread to estimate.
    single = summarize([0.4])
    assert (single.mean, single.ci_low, single.ci_high, single.n) == (0.4, 0.4, 0.4, 1)


def test_summarize_bounds_are_clipped_to_unit_interval() -> None:
    high = summarize([0.2, 0.9, 1.0, 0.95])
    assert high.ci_high == 1.0 and 0.0 < high.ci_low < high.mean
    low = summarize([0.0, 0.5, 0.0])
    assert low.ci_low == 0.0 and low.mean < low.ci_high < 1.0
    for values in ([0.0, 0.1, 0.9, 1.0], [1.0, 0.99, 0.0], [0.01, 0.0, 0.0]):
        s = summarize(values)
        assert 0.0 <= s.ci_low <= s.mean <= s.ci_high <= 1.0
