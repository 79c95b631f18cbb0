"""Real answer shapes score as a person reads them (issue 15, item 3).

Each reply goes the way a discussion takes it: its 'Final Solution:' line is read, normalised by
the task, then scored. A reply that leads with its answer, says "the answer is X", writes a count
as a word or follows a count with other numbers is read; a reply that hedges or gives numbers
without stating one stays unreadable and scores 0, and never becomes another option.
"""

from __future__ import annotations

import pytest

from madebate import Task
from madebate._reply import parse_reply, read_solution
from madebate._stated import stated_answer, stated_number
from madebate.runs import score

YES_NO_MC = Task(question="Is it raining?", options=["Yes", "No"], references=["A"])
YES_NO_FREE = Task(question="Is it raining? Answer yes or no.", references=["Yes"])
CITIES = Task(question="Capital of France?", options=["Rome", "Paris", "Berlin"], references=["B"])
COUNT = Task(question="How many apples?", references=["7"])


def engine_score(reply: str, task: Task, metric: str) -> float:
    solution, answer, _ = read_solution(reply, task)
    return score(answer, solution, task, [metric])[metric]


def engine_answer(reply: str, task: Task) -> str | None:
    return read_solution(reply, task)[1]


# -- an answer followed by words ----------------------------------------------------------------


@pytest.mark.parametrize(
    "solution",
    [
        "Yes, because the clouds are dark.",
        "yes because the streets are wet",
        "Yes - the streets are wet.",
        "Yes. The streets are wet.",
        "The answer is Yes.",
        "The answer is Yes, because the streets are wet.",
        "Yes, because there is no sign of sun.",  # another option's word in a reason
    ],
)
def test_yes_no_multiple_choice_reads_the_leading_answer(solution: str) -> None:
    reply = f"Reasoning.\nFinal Solution: {solution}"
    assert engine_answer(reply, YES_NO_MC) == "A"
    assert engine_score(reply, YES_NO_MC, "accuracy") == 1.0


@pytest.mark.parametrize(
    "solution",
    [
        "Yes, because the clouds are dark.",
        "yes because the streets are wet",
        "The answer is Yes.",
        "Yes.\n\nThe streets are wet, so it is raining.",
        "The streets are wet. So the answer is yes.",
    ],
)
def test_yes_no_free_text_reads_the_leading_answer(solution: str) -> None:
    reply = f"Final Solution: {solution}"
    assert engine_score(reply, YES_NO_FREE, "accuracy") == 1.0
    assert engine_score(reply, YES_NO_FREE, "exact_match") == 1.0


@pytest.mark.parametrize(
    "solution",
    [
        "Paris, because it is the seat of government.",
        "Paris because Rome is in Italy",  # another option in the reason
        "Paris. It has been the capital for centuries.",
        "The answer is Paris, since the government sits there.",
        "B, because it is the seat of government.",
        "The answer is Paris, I am sure.",
    ],
)
def test_option_text_followed_by_words(solution: str) -> None:
    assert engine_score(f"Final Solution: {solution}", CITIES, "accuracy") == 1.0


def test_a_leading_answer_in_a_reply_without_a_solution_line() -> None:
    parsed = parse_reply(
        "The streets are wet.\n\nYes, because it rains.",
        YES_NO_MC,
        expect_stance=False,
        need_solution=True,
    )
    assert parsed.answer == "A"


# -- counts ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "solution",
    [
        "seven",
        "Seven.",
        "The answer is seven.",
        "There are seven apples.",
        "7\n\nI counted 3 red apples and 4 green ones.",  # not the last number
        "7 apples. There were 2 baskets.",
        "7, because 3 + 4 = 7",
        "3 red and 4 green, so 7",
        "3 + 4 = 7",
        "I counted 3 red and 4 green. The answer is 7.",
    ],
)
def test_counts_score_as_stated(solution: str) -> None:
    assert engine_score(f"Final Solution: {solution}", COUNT, "numeric") == 1.0


# -- unclear stays unreadable -------------------------------------------------------------------


@pytest.mark.parametrize(
    "solution",
    [
        "Yes or No",
        "Yes. No.",
        "Yes, no",
        "Maybe yes, because the clouds are dark.",
        "Yes, but actually no.",
        "No, wait, yes.",
        "Probably yes.",
        "Yes, I suppose.",
        "It depends on the weather.",
        "Yes. No is also possible.",  # another option, and not as a reason
        "Yes, because the answer is No.",  # two statements that disagree
    ],
)
def test_hedges_are_unreadable_never_an_option(solution: str) -> None:
    reply = f"Final Solution: {solution}"
    assert engine_answer(reply, YES_NO_MC) is None
    assert engine_score(reply, YES_NO_MC, "accuracy") == 0.0
    assert engine_score(reply, YES_NO_FREE, "accuracy") == 0.0


@pytest.mark.parametrize(
    "solution",
    [
        "Paris, unlike A)",
        "Paris. Rome.",
        "Paris or Berlin, because both are large",
        "B, or rather C",
    ],
)
def test_options_named_after_the_answer_are_unreadable(solution: str) -> None:
    assert engine_answer(f"Final Solution: {solution}", CITIES) is None


@pytest.mark.parametrize(
    "solution",
    [
        "7 or 8",
        "7, 8",
        "I see 3 red apples and 4 green ones.",  # two numbers, no statement
        "maybe 7",
        "7, or perhaps 8",
        "The answer is 7 or 8.",
        "The answer is 7. No, the answer is 8.",
        "10 apples, then 2 more, so 7",  # a leading number the conclusion contradicts
    ],
)
def test_unclear_counts_score_zero(solution: str) -> None:
    assert engine_score(f"Final Solution: {solution}", COUNT, "numeric") == 0.0


# -- the readers themselves ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stated"),
    [
        ("Yes, because it rains", "Yes"),
        ("The answer is Yes.", "Yes"),
        ("The Eiffel Tower", "The Eiffel Tower"),
        ("Yes or no", "Yes or no"),  # no break: the whole text, which matches no reference
        ("Yes. No.", None),
        ("maybe yes", None),
        ("", None),
        (None, None),
    ],
)
def test_stated_answer(text: str | None, stated: str | None) -> None:
    assert stated_answer(text) == stated


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("twenty-one", 21.0),
        ("forty two", 42.0),
        ("no one took 3", 3.0),  # "no one" is no number
        ("1,234 apples, in 2 baskets", 1234.0),
        ("Answer: 12", 12.0),
        ("7 (3 red + 4 green)", 7.0),
        ("so it is 3/4.", 0.75),
    ],
)
def test_stated_number(text: str, number: float | None) -> None:
    assert stated_number(text) == number
