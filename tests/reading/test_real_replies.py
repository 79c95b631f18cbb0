"""The option reader never misreads: real model text, labelled by reading it.

`tests/data/real_replies/` holds outputs of Llama-3.3-70B-Instruct from the public MALLM demo
logs (see its README), each with the label a careful reader gives it: the option letter the text
clearly states, or null when it does not state exactly one option. A reader may leave a labelled
text unread (None); it may never return a letter other than the label. The read rates are kept
at what the readers achieve, so a change that reads less is noticed too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from madebate import Task
from madebate._answer_reader import (
    FALLBACK_BOXED,
    FALLBACK_LABELLED_LINE,
    FALLBACK_LAST_LINE,
    FINAL_SOLUTION_LINE,
)
from madebate._reply import parse_reply, read_solution
from madebate._task import read_option_letter

DATA = Path(__file__).parents[1] / "data" / "real_replies"


def labelled(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


EXTRACTIONS = labelled("labelled_extractions.jsonl")
DISCUSSION = labelled("labelled_discussion.jsonl")


def task_of(row: dict[str, Any]) -> Task:
    return Task(question="q", options=row["options"])


def by_letter(row: dict[str, Any]) -> str | None:
    return read_option_letter(row["text"], row["options"])


def by_extraction_call(row: dict[str, Any]) -> str | None:
    # How the discussion reads the reply of its extraction call.
    return read_solution(f"Final Solution: {row['text'].strip()}", task_of(row))[1]


def by_reply(row: dict[str, Any]) -> str | None:
    return parse_reply(row["text"], task_of(row), expect_stance=False, need_solution=True).answer


def misreads_and_rate(
    rows: list[dict[str, Any]], read: Any
) -> tuple[list[tuple[int, str | None, str]], float]:
    misreads, correct = [], 0
    for row in rows:
        got = read(row)
        if got is not None and got != row["label"]:
            misreads.append((row["line"], row["label"], got))
        elif got is not None:
            correct += 1
    stated = sum(row["label"] is not None for row in rows)
    return misreads, correct / stated


def test_the_labelled_data_covers_the_corpus() -> None:
    assert len(EXTRACTIONS) + len(DISCUSSION) >= 200
    assert len(DISCUSSION) >= 60
    assert {row["style"] for row in DISCUSSION} == {"simple", "reasoning", "critical"}
    for rows in (EXTRACTIONS, DISCUSSION):
        labels = {row["label"] for row in rows}
        assert None in labels and len(labels) > 2
        assert all(
            row["label"] is None or ord(row["label"]) - 65 < len(row["options"]) for row in rows
        )


# (reader, rows, lowest read rate): the rates the readers reach today, a little below.
READERS = [
    pytest.param(by_letter, EXTRACTIONS, 0.94, id="extractions-read_option_letter"),
    pytest.param(by_extraction_call, EXTRACTIONS, 0.95, id="extractions-extraction_call"),
    pytest.param(by_reply, EXTRACTIONS, 0.98, id="extractions-parse_reply"),
    pytest.param(by_reply, DISCUSSION, 0.90, id="discussion-parse_reply"),
]


@pytest.mark.parametrize(("read", "rows", "lowest_rate"), READERS)
def test_real_replies_are_never_misread(
    read: Any, rows: list[dict[str, Any]], lowest_rate: float
) -> None:
    misreads, rate = misreads_and_rate(rows, read)
    print(f"read rate {rate:.3f} over {len(rows)} texts")
    assert misreads == [], "(line, label, read)"
    assert rate >= lowest_rate


# -- the shapes, one by one ---------------------------------------------------------------------

YES_NO = ["Yes", "No"]
CITIES = ["Berlin", "Paris", "Rome", "Madrid"]
TEN = [f"{n} eV" for n in (0.01, 5, 100, 0.1, 500, 1, 200, 50, 1000, 10)]
GRAMS = ["27.7g", "31.7g", "35.7g", "36.7g", "34.7g", "32.7g", "33.7g", "30.7g", "28.7g", "29.7g"]
MONEY = ["$34.17 and 14.5%", "$36.67 and 9%", "$40 and 12%", "$30 and 15%", "$29.17 and 20%"]
MONEY += ["$32.93 and 13.7%"]


@pytest.mark.parametrize(
    ("text", "options", "letter"),
    [
        # a letter alone, wrapped or marked
        ("B", CITIES, "B"),
        ("B.", CITIES, "B"),
        ("(B)", CITIES, "B"),
        ("[ B ]", CITIES, "B"),
        ("**B**", CITIES, "B"),
        ("**A)**", CITIES, "A"),
        ("Option B", CITIES, "B"),
        ("I", TEN, "I"),
        ("I.", TEN, "I"),
        ("A", CITIES, "A"),
        # a marked letter with the option's text
        ("B) Paris", CITIES, "B"),
        ("B: Paris", CITIES, "B"),
        ("(B) paris.", CITIES, "B"),
        ("**C** Rome", CITIES, "C"),
        ("B) No", YES_NO, "B"),
        ("A) Yes, with a dash of creativity and a whole lot of fun!", YES_NO, "A"),
        ("B) No, a Liebherr LTM 11200-9.1 cannot hypothetically lift Mount Emei.", YES_NO, "B"),
        ("I) 0.97", [f"{x} ohm" for x in range(8)] + ["0.97 ohm", "0.37 ohm"], "I"),
        ("F) $32.93 and approximately 13.9%", MONEY, "F"),
        # the option's text alone, and statements of the answer
        ("Paris", CITIES, "B"),
        ("no", YES_NO, "B"),
        ("The answer is B", CITIES, "B"),
        ("The correct answer is E.", TEN, "E"),
        ("The final answer is: **D**.", CITIES, "D"),
        ("**Solution:** I", TEN, "I"),
        ("Solution: G)", TEN, "G"),
        ("The final solution to the task: F.", TEN, "F"),
        ("The correct answer is indeed F) $32.93 and approximately 13.92%", MONEY, "F"),
        ("The final answer is: $\\boxed{B) No}$", YES_NO, "B"),
        # a capital that begins a sentence is a word, not a letter
        ("A crane of that class lifts about 1,200 t, so it cannot lift a mountain", YES_NO, None),
        ("I don't see a solution in the previous response.", TEN, None),
        ("I ≈ 7.04×10⁻⁵", TEN, None),
        ("A lot points to Paris", CITIES, None),
        ("C(s): 6.2 cal K^-1 mol^-1", TEN, None),
        # two options named: a hedge, never the first of them
        ("C and E", TEN, None),
        ("B or G) 200 eV", TEN, None),
        ("A) Yes or B) No", YES_NO, None),
        ("B, C, D, F", TEN, None),
        ("H) 50 eV, G) 200 eV,", TEN, None),
        ("Berlin or Paris", CITIES, None),
        # the named option rejected, or its text another option's
        ("A) 3650 cal is not among the options; the closest is B)", TEN, None),
        ("(D) was removed from being considered. Answer: B) 5 eV", TEN, None),
        ("B) Rome", CITIES, None),
        ("B) Yes", YES_NO, None),
        ("D) 32.7", GRAMS, None),
        ("B) No, E", TEN, None),
        ("I) 1000 eV / 22", TEN, None),
        ("The answer is not B", CITIES, None),
        # out of range, or more than one line
        ("E", CITIES, None),
        ("[1, 3, 4]\nB", CITIES, None),
    ],
)
def test_read_option_letter_shapes(text: str, options: list[str], letter: str | None) -> None:
    assert read_option_letter(text, options) == letter


def test_free_text_normalisation_is_unchanged() -> None:
    free = Task(question="Compute 6 * 7.")
    assert free.normalize("B") == "b"
    assert free.normalize("  The Answer  is\n42!") == "the answer is 42"


# -- replies without a 'Final Solution:' line ---------------------------------------------------

STRATEGY = Task(question="Can a crane lift Mount Emei?", options=YES_NO)


@pytest.mark.parametrize(
    ("reply", "answer", "read_by"),
    [
        ("It weighs billions of tons.\nThe final answer is: B) No", "B", FALLBACK_LABELLED_LINE),
        ("Reasoning.\n\nThe final answer is: $\\boxed{B) No}$", "B", FALLBACK_LABELLED_LINE),
        ("So it holds.\n\nSolution: A) Yes, with a twist! It is fun.", "A", FALLBACK_LABELLED_LINE),
        ("Reasoning. Therefore, the answer remains: B) No. No more changes.", "B", None),
        ("Therefore, the answer remains:\n\nB) No\n\nThis reflects the facts.", "B", None),
        ("Reasoning.\n\n$\\boxed{A}$", "A", FALLBACK_BOXED),
        ("Reasoning about the crane.\n\nA) Yes", "A", FALLBACK_LAST_LINE),
        ("Reasoning.\n\n**B) No**", "B", FALLBACK_LAST_LINE),
        # the crane: "A Liebherr" begins a sentence; the answer is stated after it
        (
            "The revised solution is:\n\nA Liebherr LTM 11200-9.1 can lift 1,200 tons. Mount "
            "Emei weighs 75-90 billion tons. The answer is B) No.",
            "B",
            FALLBACK_LABELLED_LINE,
        ),
        # nothing stated clearly: unreadable, never guessed
        ("The revised solution is:\n\nA Liebherr LTM 11200-9.1 can lift 1,200 tons.", None, None),
        ("Options:\nA) Yes\nB) No", None, None),
        ("The final answer is: A) Yes or B) No", None, None),
        ("The final answer is: A) Yes.\nOn reflection, though:\nB) No", None, None),
        ("The final answer is B) No. Or rather A) Yes.", None, None),
        ("None of the options matches exactly. The closest answer is\nA) Yes", None, None),
        ("> The final answer is: A) Yes\nThat was Participant 1.", None, None),
        ("[AGREE] Looks right to me.", None, None),
        ("I cannot provide an answer to this question.", None, None),
    ],
)
def test_fallback_for_replies_without_a_final_solution_line(
    reply: str, answer: str | None, read_by: str | None
) -> None:
    parsed = parse_reply(reply, STRATEGY, expect_stance=False, need_solution=True)
    assert parsed.answer == answer
    if answer is None:
        assert parsed.solution is None and parsed.read_by is None
        assert parsed.problems == ("no 'Final Solution:' line",)
    else:
        assert parsed.readable
        assert parsed.read_by is not None and parsed.read_by.startswith("fallback:")
        if read_by is not None:
            assert parsed.read_by == read_by
        assert parsed.shared_text == reply.strip()


def test_a_final_solution_line_is_read_as_declared() -> None:
    parsed = parse_reply(
        "Reasoning.\nFinal Solution: B", STRATEGY, expect_stance=False, need_solution=True
    )
    assert (parsed.answer, parsed.read_by) == ("B", FINAL_SOLUTION_LINE)
    assert parsed.shared_text == "Reasoning."


def test_the_fallback_is_not_used_when_a_final_solution_line_exists() -> None:
    text = "The final answer is: B) No\nFinal Solution: maybe"
    parsed = parse_reply(text, STRATEGY, expect_stance=False, need_solution=True)
    assert parsed.answer is None
    assert parsed.read_by == FINAL_SOLUTION_LINE
    assert not parsed.readable


def test_the_fallback_reads_the_option_text() -> None:
    task = Task(question="Capital of France?", options=CITIES)
    parsed = parse_reply(
        "Some reasoning.\nThe final solution is Paris.",
        task,
        expect_stance=False,
        need_solution=True,
    )
    assert (parsed.answer, parsed.solution, parsed.read_by) == (
        "B",
        "Paris.",
        FALLBACK_LABELLED_LINE,
    )


def test_no_fallback_for_free_text_tasks() -> None:
    free = Task(question="Compute 6 * 7.")
    parsed = parse_reply("The final answer is: 42", free, expect_stance=False, need_solution=True)
    assert parsed.solution is None and parsed.read_by is None
    assert not parsed.readable


def test_an_agreement_without_a_solution_reads_none() -> None:
    parsed = parse_reply("[AGREE] Fine.", STRATEGY, expect_stance=True, need_solution=False)
    assert parsed.readable
    assert parsed.answer is None and parsed.read_by is None
