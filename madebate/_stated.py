"""What an answer states, read the way a person reads it: the one rule for "which answer, which
number does this text give", used by the option reader and by scoring.

A person reads "Yes, because ..." as Yes, "The answer is Yes." as Yes, "Seven." as 7, and
"7. I counted 3 and 4." as 7. A text that hedges ("Yes or no", "maybe 7", "7, wait, 8") or gives
several numbers without saying which is its answer states nothing: it stays unreadable (None),
never guessed. A misread is worse than an unreadable answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# "The answer is", "So the final answer is:", "Solution:", "answer =": a statement of the answer.
ANSWER_PREAMBLE = re.compile(
    r"^(?:(?:so|thus|hence|therefore)\b[\s,]*)?(?:(?:the|my|our)\s+)?"
    r"(?:(?:final|correct|best|right|most\s+likely|recommended|improved|revised|updated|new)\s+)*"
    r"(?:answer|solution|option|choice)(?:\s+(?:to|for)\s+(?:the|this)\s+(?:task|question|problem))?"
    r"\s*(?:(?:is|remains|would\s+be|will\s+be)(?:\s+(?:still|indeed|therefore|then))?\s*:?|[:=])\s*"
    r"(?:option\s+)?",
    re.I,
)
# The same statement anywhere in a text ("Yes, because the answer is ...").
_STATEMENT = re.compile(r"\b" + ANSWER_PREAMBLE.pattern.removeprefix("^"), re.I)
# Words that leave the answer open or take it back.
_HEDGE = re.compile(
    r"\b(?:maybe|perhaps|possibly|probably|unsure|unclear|uncertain|either|not\s+sure"
    r"|(?:it\s+)?depends|can(?:not|'t|’t)\s+(?:be\s+)?(?:determined|tell|say|know|decide)"
    r"|hard\s+to\s+(?:say|tell)|wait|on\s+second\s+thought|actually|or\s+rather|i\s+mean"
    r"|i\s+(?:suppose|guess|assume)"
    r"|correction|alternatively|or\s+not|(?:is\s+)?also\s+possible|(?:could|might)\s+also)\b",
    re.I,
)
# Where a leading answer ends and what follows it begins: a clause mark, the end of a sentence,
# a dash, or a reason ("Yes because ..."). A comma inside a number ("1,234") is no break.
_BREAK = re.compile(
    r"\s*(?:,(?!\d{3}(?!\d))|[;:(\n])\s*|[.!?](?:\s+|$)|\s+[-\u2013\u2014]+\s+"
    r"|\s+(?=(?:because|since|as|given\s+that|due\s+to)\b)",
    re.I,
)
_REASON = re.compile(r"^(?:because|since|as|given\s+that|due\s+to)\b", re.I)
# What may not follow a leading answer: a second answer joined to it ("Yes or no", "7 and 8").
_JOINED = re.compile(r"^(?:or|and|nor|but|vs|versus)\b", re.I)


@dataclass(frozen=True)
class Leading:
    """A leading answer and what follows it."""

    answer: str  # "Yes" of "Yes, because it rains"
    rest: str  # "because it rains"

    @property
    def gives_reasons(self) -> bool:
        """Whether what follows is a reason ("because ...", "since ..."): words that may name
        other answers without stating them."""
        return _REASON.match(self.rest) is not None


def _flat(text: str) -> str:
    """The text without emphasis, its spaces folded; line breaks kept (each ends a clause)."""
    text = re.sub(r"[^\S\n]+", " ", text.replace("**", "").replace("__", ""))
    return re.sub(r"\s*\n\s*", "\n", text).strip()


def _statements(text: str) -> list[str]:
    """What follows each "the answer is" in the text, in order."""
    return [text[m.end() :].strip() for m in _STATEMENT.finditer(text) if m.end() > m.start()]


def leading_answer(text: str) -> Leading | None:
    """The answer a text states: the one it leads with, after any "The answer is" ("Yes,
    because ..." -> Yes; "The answer is Yes." -> Yes; "Paris" -> Paris: no break, the whole
    text), or, after reasoning, what "the answer is" says ("The streets are wet. So the answer
    is yes." -> yes). None when the text hedges, joins a second answer to the first ("Yes or
    no", "Yes. No."), or states more than one answer ("Yes, because the answer is No")."""
    flat = _flat(text)
    if not flat or _HEDGE.search(flat):
        return None
    opens = ANSWER_PREAMBLE.match(flat)
    lead = _split(flat[opens.end() :] if opens else flat)
    if lead is None:
        return None
    statements = _statements(lead.rest)
    later = [x for x in map(_split, statements) if x is not None]
    if not statements:
        return lead
    if len(later) != len(statements) or len({_fold(x.answer) for x in later}) != 1:
        return None  # statements of the answer that disagree, or one that hedges
    last = later[-1]
    if opens or len(lead.answer.split()) <= 3:
        # The text leads with an answer ("Yes, because the answer is No."): it must agree.
        return lead if _fold(last.answer) == _fold(lead.answer) else None
    return last  # reasoning first, then "So the answer is yes."


def _split(text: str) -> Leading | None:
    text = text.strip()
    brk = _BREAK.search(text)
    if brk is None:
        return Leading(text, "") if text else None
    answer, rest = text[: brk.start()].strip(), text[brk.end() :].strip()
    if not answer or _JOINED.match(rest):
        return None
    following = _BREAK.search(rest)
    first = rest[: following.start()] if following else rest
    if len(first.split()) == 1 and _fold(first) != _fold(answer):
        return None  # "Yes. No.", "Yes, no", "7, 8": a second short answer, not reasons
    return Leading(answer, rest)


def stated_answer(text: str | None) -> str | None:
    """The answer text states (see `leading_answer`), or None."""
    if text is None:
        return None
    lead = leading_answer(text)
    return lead.answer if lead is not None else None


def _fold(text: str) -> str:
    return re.sub(r"[^\w]+", " ", text.casefold()).strip()


# -- numbers ------------------------------------------------------------------------------------

_DIGITS = (
    r"(?<![\w.,])(?P<sign>[-+\u2212])?(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?"
    r"(?P<exp>[eE][-+]?\d+)?(?:\s*/\s*(?P<den>\d+)(?!\d|\.\d))?"
)
_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13, "fourteen": 14,
    "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18, "nineteen": 19,
}  # fmt: skip
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
_WORDS = (
    rf"\b(?P<tens>{'|'.join(_TENS)})(?:[-\s](?P<tu>{'|'.join(list(_UNITS)[1:10])}))?\b"
    rf"|\b(?P<unit>{'|'.join(_UNITS)})\b"
)
_NUMBER = re.compile(f"{_DIGITS}|{_WORDS}", re.I)
# A conclusion: the number after it is the result ("so 12", "= 7", "in total 9").
_CONCLUSION = re.compile(
    r"(?:\b(?:so|thus|hence|therefore|finally|altogether|in\s+total|total(?:\s+is)?"
    r"|which\s+(?:gives|makes|is)|gives|makes)\b|=)",
    re.I,
)


def _numbers(text: str, *, word_one: bool = True) -> list[float | None]:
    """The numbers in a text in order (None for a fraction over zero). The word "one" ("no
    one", "the one on the left") counts only where `word_one`."""
    found: list[float | None] = []
    for m in _NUMBER.finditer(text):
        if m.group("int") is not None:
            value = float(m.group("int").replace(",", "") + (m.group("frac") or ""))
            if m.group("exp"):
                value *= 10 ** int(m.group("exp")[1:])
            if m.group("den") is not None:
                if m.group("exp") or m.group("frac"):
                    continue
                den = int(m.group("den"))
                value = value / den if den else float("nan")
            if m.group("sign") in ("-", "\u2212"):
                value = -value
            found.append(None if value != value else value)
        elif m.group("tens") is not None:
            tu = m.group("tu")
            found.append(float(_TENS[m.group("tens").lower()] + (_UNITS[tu.lower()] if tu else 0)))
        elif word_one or m.group("unit").lower() != "one":
            found.append(float(_UNITS[m.group("unit").lower()]))
    return found


def _one(values: list[float | None]) -> float | None:
    distinct = set(values)
    return values[0] if len(distinct) == 1 else None


def stated_number(text: str | None) -> float | None:
    """The number a text states as its answer, or None when it states none clearly.

    In order: the number after "the answer is" (every such statement agreeing); a number the
    text leads with ("7, because 3 + 4 = 7", "Seven.", "42 apples. I counted 2 baskets"); the
    one number after the last conclusion ("..., so 12", "3 + 4 = 7"); the only number in the
    text. A leading number and a conclusion that disagree, several numbers with no statement
    ("1/2 of 10", "7 or 8"), and a hedge ("maybe 7") state nothing. Digits ('1,234.5', '-3',
    '3/4', '1e3') and words up to ninety-nine ("seven", "twenty-one") are read."""
    if text is None:
        return None
    flat = _flat(text)
    if not flat or _HEDGE.search(flat):
        return None
    statements: list[float | None] = []
    for statement in _statements(flat):
        lead = _split(statement)
        if lead is None:
            return None  # "the answer is 7, 8"
        if _NUMBER.match(lead.answer.lstrip("$€£(")):
            statements.append(_number_at_start(lead.answer))  # None: "the answer is 7 or 8"
    if statements:
        return _one(statements)
    lead = _split(flat)
    leading = _number_at_start(lead.answer) if lead is not None else None
    conclusions = list(_CONCLUSION.finditer(flat))
    concluded = None
    if conclusions:
        after = re.split(r"(?<=[.!?;])\s|\n", flat[conclusions[-1].end() :], maxsplit=1)[0]
        concluded = _one(_numbers(after)) if _numbers(after) else None
    if leading is not None and concluded is not None:
        return leading if leading == concluded else None
    if leading is not None or concluded is not None:
        return leading if leading is not None else concluded
    values = _numbers(flat, word_one=False) or _numbers(flat)
    return _one(values) if values else None


def _number_at_start(text: str) -> float | None:
    """The number a short answer opens with and holds alone: "7", "$1,234", "seven apples";
    not "Step 1" nor "3 + 4"."""
    text = text.strip().lstrip("$€£(").strip()
    first = _NUMBER.match(text)
    if first is None:
        return None
    values = _numbers(text)
    return values[0] if len(values) == 1 else None
