"""Reading the answer of a multiple-choice reply that has no 'Final Solution:' line.

A capable model often ignores the declared format and ends with "The final answer is: B) No",
"Solution: A) Yes, ...", "$\\boxed{B}$" or a bare "A) Yes" on the last line. Those statements are
read, each with `read_option_letter`, and the reply is read only when every one of them that can
be read names the same option and none of them hedges between options. Nothing is guessed: a
reply that states no option clearly stays unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from madebate._task import LETTERS, Task, read_option_letter

# How a solution was read (ParsedReply.read_by): the declared line, or one of the fallbacks.
FINAL_SOLUTION_LINE = "final_solution_line"
FALLBACK_LABELLED_LINE = "fallback:labelled_line"
FALLBACK_BOXED = "fallback:boxed"
FALLBACK_LAST_LINE = "fallback:last_line"


@dataclass(frozen=True)
class FallbackAnswer:
    solution: str  # the statement read, e.g. "B) No"
    answer: str  # its option letter
    read_by: str  # FALLBACK_LABELLED_LINE, FALLBACK_BOXED or FALLBACK_LAST_LINE


_THINKING = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
_LINE_LEAD = re.compile(r"^[\s*_#`\-\"\u201c]+")
# A line that states the speaker's answer: "The final answer is: ...", "Solution: ...",
# "Therefore, the improved solution remains the same: ...". Another speaker's solution ("The
# current solution is ...") is not the speaker's answer and is not a label.
_LABEL = re.compile(
    r"^(?:(?:so|thus|hence|therefore|ultimately|in\s+conclusion)\b[\s,]*"
    r"(?:to\s+reiterate[\s,]*)?)?"
    r"(?:(?:the|my|our)\s+)?"
    r"(?:(?:final|correct|best|right|improved|revised|updated|enhanced|recommended|new|and)\s+)*"
    r"(?:answer|solution)"
    r"(?:\s+(?:to|for)\s+(?:the|this)\s+(?:task|question|problem))?"
    r"(?:\s*,\s*therefore\s*,)?\s*"
    r"(?:"
    r"(?:is|remains|stays|would\s+be|will\s+be|would\s+(?:still\s+)?conclude\s+with"
    r"|(?:still\s+)?concludes\s+with|would\s+(?:still\s+)?maintain\s+the\s+conclusion"
    r"|maintains\s+the\s+conclusion)"
    r"(?:\s+(?:still|indeed|unchanged|the\s+same|therefore))*"
    r"(?:\s+as\s+(?:before|(?:the\s+)?(?:current|previous|original|initial)\s+(?:one|solution|answer)))?"
    r"\s*(?::|\s|$)"
    r"|:)\s*(?P<content>.*)$",
    re.I,
)
_BOXED = re.compile(r"\\boxed\{((?:[^{}]|\{[^{}]*\})*)\}")
# Words that make any option the reply names a compromise, not its answer ("None of the options
# matches ... the closest is A)").
_NO_OPTION_FITS = re.compile(
    r"\b(?:(?:closest|nearest)(?:\s+\w+)?\s+(?:answer|option|choice|match|one|value)s?"
    r"|(?:closest|nearest)\s+is|none\s+of\s+the\s+(?:\w+\s+){0,2}(?:options|choices|answers)"
    r"|not\s+(?:among|one\s+of)\s+the\s+(?:\w+\s+){0,2}(?:options|choices))\b",
    re.I,
)


def read_without_solution_line(text: str, task: Task) -> FallbackAnswer | None:
    """The option a reply without a 'Final Solution:' line states, or None.

    Statements read: labelled sentences ("The final answer is: B) No.", "Solution: A) Yes, ...",
    a label that ends its line followed by the answer on the next line), `\\boxed{...}`, and the
    last line when it is an option alone ("A) Yes", "**B**"). A labelled statement is read up
    to the end of its sentence. The reply is read when every statement that can be read names
    the same option, and none hedges ("A) Yes or B) No", "C and E"), names another option
    after its answer, or says that no option fits ("the closest is A)"). Block quotes (another
    speaker's words) and shown reasoning are set aside. Multiple-choice answers only."""
    if task.options is None:
        return None
    options = task.options
    letters = LETTERS[: len(options)]
    lines = [
        line for line in _THINKING.sub("\n", text).splitlines() if not line.lstrip().startswith(">")
    ]
    found: list[tuple[str, str, str]] = []  # (read_by, statement, letter)
    hedged = False

    def weigh(read_by: str, content: str) -> None:
        nonlocal hedged
        first, after = _first_sentence(content)
        letter = read_option_letter(first, options)
        if letter is None:
            hedged = hedged or _opens_with_options(first, letters)  # "A) Yes or B) No"
        elif _marked_letters(after, letters) - {letter}:
            hedged = True  # "B) No. Or rather A) Yes."
        else:
            boxed = _BOXED_ALONE.match(first)
            found.append((read_by, boxed.group(1).strip() if boxed else first, letter))

    for number, line in enumerate(lines):
        plain = _LINE_LEAD.sub("", line).replace("**", "").strip()
        starts = [0] + [m.end() for m in _SENTENCE_GAP.finditer(plain)]
        for start in starts:
            label = _LABEL.match(plain[start:])
            if not label:
                continue
            content = label.group("content").strip()
            if not content and start == 0:
                content = next((x.strip() for x in lines[number + 1 :] if x.strip()), "")
            if content:
                weigh(FALLBACK_LABELLED_LINE, content)

    for box in _BOXED.finditer("\n".join(lines)):
        weigh(FALLBACK_BOXED, box.group(1))

    filled = [line.strip() for line in lines if line.strip()]
    if filled:
        last = read_option_letter(filled[-1], options)
        before = read_option_letter(filled[-2], options) if len(filled) > 1 else None
        if last is not None and before is not None and before != last:
            hedged = True  # the options listed ("A) Yes" / "B) No"), not an answer
        elif last is not None:
            found.append((FALLBACK_LAST_LINE, filled[-1], last))

    if hedged or _NO_OPTION_FITS.search(text) or len({letter for _, _, letter in found}) != 1:
        return None
    for kind in (FALLBACK_LABELLED_LINE, FALLBACK_BOXED, FALLBACK_LAST_LINE):
        of_kind = [(statement, letter) for read_by, statement, letter in found if read_by == kind]
        if of_kind:
            statement, letter = of_kind[-1]
            return FallbackAnswer(statement.strip("*").strip(), letter, kind)
    return None  # pragma: no cover - found is not empty


_BOXED_ALONE = re.compile(r"^\$*\s*\\boxed\{(.*)\}\s*\$*\s*\.?$")
# Where a new sentence may begin inside a line.
_SENTENCE_GAP = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
# The end of the first sentence of a statement: "B) No. I agree ..." (not "9.1" or "Jr.,").
_SENTENCE_END = re.compile(r"[.!?](?=\s+[A-Z*(\[\"]|\s*$)")
_MARKED = re.compile(r"(?<![A-Za-z0-9])(?:\(\s*([A-Z])\s*\)|([A-Z])\))")


def _first_sentence(content: str) -> tuple[str, str]:
    end = _SENTENCE_END.search(content)
    if end is None:
        return content.strip(), ""
    return content[: end.end()].strip(), content[end.end() :]


def _marked_letters(text: str, letters: str) -> set[str]:
    return {a or b for a, b in _MARKED.findall(text.replace("*", ""))} & set(letters)


def _opens_with_options(text: str, letters: str) -> bool:
    """Whether unreadable text opens with options: a marked letter ("A) ... or B) ...",
    "(D) was removed ...") or a letter joined to another ("C and E", "B or G)")."""
    cleaned = text.replace("*", "").strip()
    opening = re.match(r"^(?:\(\s*([A-Z])\s*\)|([A-Z])\s*(?:[),/&]|\s(?:and|or)\b))", cleaned)
    return opening is not None and (opening.group(1) or opening.group(2)) in letters
