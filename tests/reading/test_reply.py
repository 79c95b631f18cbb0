"""Reading replies: stance tags, 'Final Solution:' lines and option letters.

The cases are the shapes small models really produce. A reply that cannot be read is reported as
unreadable, never guessed (DESIGN.md section 2).
"""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from madebate import Discussion, ScriptedModel, ScriptedRequest, Stance, Task
from madebate._reply import parse_reply, read_solution, read_stance

MC = Task(question="What is the capital of France?", options=["Berlin", "Paris", "Rome", "Madrid"])
FREE = Task(question="Compute 6 * 7 and explain.")
UNREADABLE = "unreadable"


# -- stance tags --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "stance"),
    [
        ("[AGREE] Paris is right.", Stance.AGREE),
        ("[agree] paris is right", Stance.AGREE),
        ("[Agree] fine", Stance.AGREE),
        ("[ AGREE ] fine", Stance.AGREE),
        ("[DISAGREE] It is Rome.", Stance.DISAGREE),
        ("**[DISAGREE]** It is Rome.", Stance.DISAGREE),
        ("[ disagree ]", Stance.DISAGREE),
        ("After thinking it over: [AGREE]", Stance.AGREE),
        # both tags: the first one wins
        ("[DISAGREE] ... on reflection [AGREE]", Stance.DISAGREE),
        ("[AGREE] with B; I [DISAGREE] with A3's reasoning", Stance.AGREE),
        # no tag at all
        ("I agree with the current solution.", Stance.UNREADABLE),
        ("AGREE", Stance.UNREADABLE),
        ("(AGREE) fine", Stance.UNREADABLE),
        ("[AGREED] fine", Stance.UNREADABLE),
        ("", Stance.UNREADABLE),
    ],
)
def test_read_stance(text: str, stance: Stance) -> None:
    assert read_stance(text) is stance


# -- whole replies ------------------------------------------------------------------------------

# (reply, stance, answer or UNREADABLE) for a response to a multiple-choice current solution
RESPONSES = [
    ("[AGREE] Paris is the capital.\nFinal Solution: B) Paris", Stance.AGREE, "B"),
    ("[agree]\nFinal solution: b", Stance.AGREE, "B"),
    ("[ AGREE ] yes\nFinal Solution: Paris", Stance.AGREE, "B"),
    ("**[DISAGREE]** It is Rome.\n**Final Answer:** (C)", Stance.DISAGREE, "C"),
    ("[DISAGREE] Rome.\nFinal Solution: C) Rome", Stance.DISAGREE, "C"),
    ("[DISAGREE] first [AGREE] later\nFinal Solution: D", Stance.DISAGREE, "D"),
    # agreeing without restating the solution is fine
    ("[AGREE] Looks right to me.", Stance.AGREE, None),
    # a disagreement must say what instead
    ("[DISAGREE] I am not sure about this.", Stance.DISAGREE, UNREADABLE),
    ("[DISAGREE] Hmm.\nFinal Solution: E", Stance.DISAGREE, UNREADABLE),
    # no tag: the reply is unreadable even though its answer is read
    ("Paris is right.\nFinal Solution: B) Paris", Stance.UNREADABLE, UNREADABLE),
    ("I agree.", Stance.UNREADABLE, UNREADABLE),
]


@pytest.mark.parametrize(("text", "stance", "answer"), RESPONSES)
def test_parse_response(text: str, stance: Stance, answer: str | None) -> None:
    parsed = parse_reply(text, MC, expect_stance=True, need_solution=False)
    assert parsed.stance is stance
    if answer == UNREADABLE:
        assert not parsed.readable
        assert parsed.problems
    else:
        assert parsed.readable, parsed.problems
        assert parsed.answer == answer


def test_missing_tag_is_reported_but_answer_kept() -> None:
    parsed = parse_reply("Final Solution: B) Paris", MC, expect_stance=True, need_solution=False)
    assert parsed.problems == ("no [AGREE] or [DISAGREE] tag",)
    assert parsed.answer == "B"  # the answer was read; only the stance is missing


# (draft reply, answer or UNREADABLE, stated solution) for a multiple-choice task
DRAFTS = [
    ("Final Solution: B) Paris", "B", "B) Paris"),
    ("Final solution: b", "B", "b"),
    ("final solution:B", "B", "B"),
    ("FINAL SOLUTION: (B)", "B", "(B)"),
    ("**Final Answer:** (C)", "C", "(C)"),
    ("**Final Solution: C**", "C", "C"),
    ("### Final Answer: D) Madrid", "D", "D) Madrid"),
    ("> Final Solution: A", "A", "A"),
    ("- Final Solution: [A]", "A", "[A]"),
    ("Final Answer - C", "C", "C"),
    ("Final Solution: B.", "B", "B."),
    ("Final Solution: Option B", "B", "Option B"),
    ("Final Solution: option b", "B", "option b"),
    ("Final Solution: b) Paris", "B", "b) Paris"),
    ("Final Solution: (b) paris", "B", "(b) paris"),
    ("Final Solution: **B**", "B", "B"),
    ("Final Solution:\nB) Paris", "B", "B) Paris"),  # the answer on the next line
    # matched by the option's text
    ("Final Solution: Paris", "B", "Paris"),
    ("Final Solution: paris.", "B", "paris."),
    ("Final Solution: MADRID", "D", "MADRID"),
    # out of range, or naming no option: unreadable, never guessed
    ("Final Solution: E", UNREADABLE, "E"),
    ("Final Solution: E) Lyon", UNREADABLE, "E) Lyon"),
    ("Final Solution: Lyon", UNREADABLE, "Lyon"),
    ("Final Solution: Paris or Rome", UNREADABLE, "Paris or Rome"),
    # letters inside words do not count
    ("Final Solution: Because the capital is Paris", UNREADABLE, "Because the capital is Paris"),
    ("Final Solution: Clearly Paris", UNREADABLE, "Clearly Paris"),
    ("Final Solution: a lot points to it", UNREADABLE, "a lot points to it"),
    ("Final Solution: Decidedly", UNREADABLE, "Decidedly"),
    # no solution line at all
    ("I think it is Paris.", UNREADABLE, None),
    ("The final solution is Paris or Rome.", UNREADABLE, None),  # (a clear one: test_real_replies)
    ("Final Solution:", UNREADABLE, None),
    ("Final Solution: **", UNREADABLE, None),
]


@pytest.mark.parametrize(("text", "answer", "solution"), DRAFTS)
def test_parse_draft(text: str, answer: str, solution: str | None) -> None:
    parsed = parse_reply(f"Some reasoning.\n{text}", MC, expect_stance=False, need_solution=True)
    assert parsed.stance is Stance.NONE
    assert parsed.solution == solution
    if answer == UNREADABLE:
        assert parsed.answer is None
        assert not parsed.readable
        expected = "names none of the options" if solution else "no 'Final Solution:' line"
        assert any(expected in p for p in parsed.problems), parsed.problems
    else:
        assert parsed.answer == answer
        assert parsed.readable, parsed.problems
        assert parsed.shared_text == "Some reasoning."


def test_several_solution_lines_last_wins() -> None:
    text = (
        "At first I thought Berlin.\nFinal Solution: A) Berlin\n"
        "Wait, Berlin is Germany's capital.\nFinal Solution: B) Paris"
    )
    parsed = parse_reply(text, MC, expect_stance=False, need_solution=True)
    assert parsed.answer == "B"
    assert parsed.solution == "B) Paris"
    # what the reasoning style shares keeps everything before the last line
    assert parsed.shared_text.endswith("Wait, Berlin is Germany's capital.")
    assert "Final Solution: A) Berlin" in parsed.shared_text


def test_last_line_unreadable_does_not_fall_back_to_an_earlier_one() -> None:
    text = "Final Solution: B) Paris\nHmm, no.\nFinal Solution: Lyon"
    parsed = parse_reply(text, MC, expect_stance=False, need_solution=True)
    assert parsed.answer is None
    assert not parsed.readable


def test_reply_that_is_only_the_final_line_shares_itself() -> None:
    parsed = parse_reply("Final Solution: B", MC, expect_stance=False, need_solution=True)
    assert parsed.shared_text == "Final Solution: B"


def test_solution_optional_when_not_needed() -> None:
    parsed = parse_reply("No idea yet.", MC, expect_stance=False, need_solution=False)
    assert parsed.readable
    assert parsed.solution is None and parsed.answer is None


# -- free-text tasks ----------------------------------------------------------------------------


def test_free_text_keeps_the_multi_line_solution() -> None:
    text = "Let me work it out.\nFinal Solution: 6 * 7 = 42\nbecause 6 * 7 is 42.\n\nSo: 42."
    parsed = parse_reply(text, FREE, expect_stance=False, need_solution=True)
    assert parsed.readable
    assert parsed.solution == "6 * 7 = 42\nbecause 6 * 7 is 42.\n\nSo: 42."
    assert parsed.answer == "6 * 7 = 42 because 6 * 7 is 42. so: 42"
    assert parsed.shared_text == "Let me work it out."


@pytest.mark.parametrize(
    ("text", "solution", "answer"),
    [
        ("Final Solution: 42", "42", "42"),
        ("**Final Answer:** 42.", "42.", "42"),
        ("Final Solution:\n42", "42", "42"),  # free text may start on the next line
        (
            "Final Solution: The answer is  FORTY-TWO!",
            "The answer is  FORTY-TWO!",
            "the answer is forty-two",
        ),
        # letters mean nothing special in free text
        ("Final Solution: B", "B", "b"),
        ("Final Solution: Because 6*7=42", "Because 6*7=42", "because 6*7=42"),
        # template syntax is carried verbatim, never evaluated
        ("Final Solution: {{ 7*7 }}", "{{ 7*7 }}", "{{ 7*7 }}"),
        (
            "Final Solution: {% for x in y %}{{ x }}{% endfor %}",
            "{% for x in y %}{{ x }}{% endfor %}",
            "{% for x in y %}{{ x }}{% endfor %}",
        ),
    ],
)
def test_free_text_solutions(text: str, solution: str, answer: str) -> None:
    parsed = parse_reply(text, FREE, expect_stance=False, need_solution=True)
    assert parsed.readable, parsed.problems
    assert parsed.solution == solution
    assert parsed.answer == answer


def test_read_solution_without_a_line() -> None:
    assert read_solution("  just talk  ", FREE) == (None, None, "just talk")


def test_template_syntax_reaches_the_next_prompt_verbatim() -> None:
    """Model output is a value, never a template: '{{ 7*7 }}' is shown, not '49'."""

    def script(request: ScriptedRequest) -> str:
        if "Current Solution: none yet" in request.prompt:
            return "Try {{ 7*7 }} and {% if true %}x{% endif %}.\nFinal Solution: {{ 7*7 }}"
        return "[AGREE] ok\nFinal Solution: {{ 7*7 }}"

    model = ScriptedModel(script, record_prompts=True)
    result = Discussion("Say {{ 7*7 }}", model=model, agents=2, personas="none", max_turns=1).run()
    assert result.stop_reason == "consensus"
    assert result.solution == "{{ 7*7 }}"
    second = model.requests[1].prompt
    assert "Current Solution: {{ 7*7 }}" in second
    assert "Try {{ 7*7 }} and {% if true %}x{% endif %}." in second
    assert "Say {{ 7*7 }}" in model.requests[0].prompt
    assert "49" not in second


# -- Task.normalize -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("solution", "answer"),
    [
        ("B", "B"),
        ("b", "B"),
        (" b ", "B"),
        ("(b)", "B"),
        ("B)", "B"),
        ("b.", "B"),
        ("**B**", "B"),
        ("[C]", "C"),
        ("Option C", "C"),
        ("option c", "C"),
        ("B) Paris", "B"),
        ("b) paris", "B"),
        ("B: Paris", "B"),
        ("(D) Madrid", "D"),
        ("B) Rome", None),  # letter and text name different options: unreadable, not guessed
        ("Paris", "B"),
        ("  paris. ", "B"),
        ('"Rome"', "C"),
        ("E", None),
        ("e", None),
        ("Z) Lyon", None),
        ("Because", None),
        ("Clearly", None),
        ("a lot", None),
        ("Berlin or Paris", None),
        ("B)Paris", None),  # no space after the letter: not read as a letter
        ("", None),
        ("   ", None),
        (None, None),
    ],
)
def test_normalize_multiple_choice(solution: str | None, answer: str | None) -> None:
    assert MC.normalize(solution) == answer


def test_normalize_prefers_an_exact_option_text_over_a_leading_letter() -> None:
    task = Task(question="Which pet barks?", options=["A cat", "A dog"])
    assert task.normalize("A dog") == "B"
    assert task.normalize("a cat") == "A"
    assert task.normalize("B) A dog") == "B"
    assert task.normalize("A") == "A"


def test_normalize_ambiguous_option_text_is_unreadable() -> None:
    task = Task(question="q", options=["Paris", "paris.", "Rome"])
    assert task.normalize("Paris") is None
    assert task.normalize("A") == "A"


def test_normalize_letters_beyond_the_options() -> None:
    two = Task(question="q", options=["yes", "no"])
    assert two.normalize("B") == "B"
    assert two.normalize("C") is None
    assert two.normalize("No") == "B"


@pytest.mark.parametrize(
    ("solution", "answer"),
    [
        ("42", "42"),
        ("  42. ", "42"),
        ("The Answer  is\n42!", "the answer is 42"),
        ("**Paris**", "paris"),
        ("Straße", "strasse"),
        ("", None),
        ("  ", None),
        (None, None),
    ],
)
def test_normalize_free_text(solution: str | None, answer: str | None) -> None:
    assert FREE.normalize(solution) == answer


def test_task_formatting_and_validation() -> None:
    assert MC.is_multiple_choice and not FREE.is_multiple_choice
    assert MC.letters == ["A", "B", "C", "D"]
    assert MC.formatted_options() == ["A) Berlin", "B) Paris", "C) Rome", "D) Madrid"]
    with pytest.raises(ValidationError, match="need 2 to 26 options"):
        Task(question="q", options=["only one"])
    with pytest.raises(ValidationError, match="an option is empty"):
        Task(question="q", options=["x", "  "])
    with pytest.raises(ValidationError):
        Task(question="")


# Replies of capable models that the quoted-material rules must not misread (review findings).
@pytest.mark.parametrize(
    ("reply", "stance"),
    [
        ("<think>I must begin with [AGREE] or [DISAGREE].</think>\n[DISAGREE] No.", "disagree"),
        ("<think>Maybe [AGREE]? Let me check", "unreadable"),  # cut off while thinking
        ("```\n[AGREE] Fine.\nFinal Solution: A\n```", "agree"),  # the whole reply fenced
        ('Stance: "[AGREE]"', "agree"),  # a tag quoted alone is emphasis
        ("\u201c[DISAGREE]\u201d \u2014 that is my stance", "disagree"),
        ('The 3.5" drive fits, so I [AGREE] with the "standard" answer', "agree"),  # inch mark
        ("I must answer `[AGREE]` or `[DISAGREE]`. I choose [DISAGREE].", "disagree"),
        ("Having checked every step, I [AGREE].", "agree"),  # reasoning first
        ('He said "A1: [AGREE]" and that is all.', "unreadable"),  # someone else's words
    ],
)
def test_stance_of_capable_models_replies(reply: str, stance: str) -> None:
    assert read_stance(reply).value == stance
