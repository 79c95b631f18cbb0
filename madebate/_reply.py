"""Reading a discussion reply by its declared format: a stance tag and a 'Final Solution:' line.

Nothing is guessed: a missing tag or an answer that names no option is reported unreadable.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from madebate._answer_reader import FINAL_SOLUTION_LINE, read_without_solution_line
from madebate._results import Stance
from madebate._task import Task

_STANCE_TAG = re.compile(r"\[\s*(AGREE|DISAGREE)\s*\]", re.I)
_SOLUTION_LINE = re.compile(
    r"^[\s>*#_`-]*final\s+(?:solution|answer)\s*\**\s*[:\-]\s*\**\s*(.*)$", re.I | re.M
)


@dataclass(frozen=True)
class ParsedReply:
    stance: Stance
    solution: str | None  # the stated solution text
    answer: str | None  # its normalised form
    shared_text: str  # the reply without its final line (what the reasoning style shares)
    problems: tuple[str, ...] = ()
    # How the solution was read: "final_solution_line", or a fallback for a reply without that
    # line ("fallback:labelled_line", "fallback:boxed", "fallback:last_line"); None when none.
    read_by: str | None = None

    @property
    def readable(self) -> bool:
        return not self.problems


# Quoted material, whose tags are someone else's words and never the speaker's stance: fenced
# code, block-quote lines ("> A3: [AGREE]") and double-quoted spans on one line.
_QUOTED = re.compile(
    r"```.*?(?:```|\Z)"  # a fenced block (an unclosed fence runs to the end)
    r"|^[ \t]*>[^\n]*"  # a block-quote line
    r'|(?<!\d)"[^"\n]*"'  # "straight quotes" (not an inch mark: 3.5")
    r"|\u201c[^\u201d\n]*\u201d",  # “curly quotes”
    re.S | re.M,
)
_LEADING_TAG = re.compile(r"\A[\s*_#]*\[\s*(AGREE|DISAGREE)\s*\]", re.I)
# Reasoning a model shows before its answer (served without a reasoning parser): its words are
# thoughts about the reply, e.g. "I must begin with [AGREE] or [DISAGREE]", not the reply.
_THINKING = re.compile(r"<think>.*?(?:</think>|\Z)", re.S | re.I)
# The two tags named together are a restatement of the instructions, not a stance.
_BOTH_TAGS = re.compile(
    r"\[\s*(?:AGREE|DISAGREE)\s*\][`'\"*\s]{0,3}(?:or|/)[`'\"*\s]{0,3}\[\s*(?:AGREE|DISAGREE)\s*\]",
    re.I,
)
# A tag quoted on its own ('Stance: "[AGREE]"') is emphasis; a quoted sentence holding a tag
# ('"A1: [AGREE]"') is someone else's words.
_QUOTED_TAG_ALONE = re.compile(r"[\"\u201c]\s*\[\s*(AGREE|DISAGREE)\s*\]\s*[\"\u201d]", re.I)
_WHOLE_FENCE = re.compile(r"\A\s*```[^\n]*\n(.*?)\n?```\s*\Z", re.S)


def read_stance(text: str) -> Stance:
    """The speaker's stance tag, or UNREADABLE when there is none. Shown reasoning and a
    restatement of the instructions are set aside, and a reply wrapped whole in a code fence is
    unwrapped. Then a reply that begins with a tag (as asked) takes it; otherwise the first tag
    outside quoted material (fences, block quotes, double quotes), so quoting another agent's
    '[AGREE]' never becomes the speaker's stance; last, a tag quoted on its own (emphasis)."""
    text = _BOTH_TAGS.sub(" ", _THINKING.sub(" ", text))
    fenced = _WHOLE_FENCE.match(text)
    if fenced:
        text = fenced.group(1)
    m = (
        _LEADING_TAG.search(text)
        or _STANCE_TAG.search(_QUOTED.sub(" ", text))
        or _QUOTED_TAG_ALONE.search(text)
    )
    if not m:
        return Stance.UNREADABLE
    return Stance.AGREE if m.group(1).upper() == "AGREE" else Stance.DISAGREE


def read_solution(text: str, task: Task) -> tuple[str | None, str | None, str]:
    """(solution text, normalised answer, text before the solution line), from the last
    'Final Solution:' line. Free-text solutions run to the end of the reply."""
    matches = list(_SOLUTION_LINE.finditer(text))
    if not matches:
        return None, None, text.strip()
    last = matches[-1]
    if task.is_multiple_choice:
        solution = last.group(1).strip().strip("*").strip()
    else:
        solution = (last.group(1) + text[last.end() :]).strip().strip("*").strip()
    solution = solution or None
    return solution, task.normalize(solution), text[: last.start()].strip()


def parse_reply(text: str, task: Task, *, expect_stance: bool, need_solution: bool) -> ParsedReply:
    """Read one reply. `need_solution`: a draft or a disagreement must state a solution."""
    stance = read_stance(text) if expect_stance else Stance.NONE
    solution, answer, shared = read_solution(text, task)
    read_by = FINAL_SOLUTION_LINE if solution is not None else None
    if not _SOLUTION_LINE.search(text):
        # No declared line: a multiple-choice answer stated clearly another way is read, and
        # the record says so (never guessed: see _answer_reader).
        fallback = read_without_solution_line(text, task)
        if fallback is not None:
            solution, answer, read_by = fallback.solution, fallback.answer, fallback.read_by
    problems = []
    if expect_stance and stance is Stance.UNREADABLE:
        problems.append("no [AGREE] or [DISAGREE] tag")
    wants_solution = need_solution or stance is Stance.DISAGREE
    if solution is None and wants_solution:
        problems.append("no 'Final Solution:' line")
    elif solution is not None and answer is None:
        problems.append(f"the solution '{solution[:60]}' names none of the options")
    return ParsedReply(
        stance, solution, answer, shared or text.strip(), tuple(problems), read_by=read_by
    )


# Tokens kept for the JSON around the reasoning and for a stance and an answer.
REPLY_RESERVE_TOKENS = 48


def reply_schema(task: Task, *, stance: bool, max_tokens: int | None = None) -> dict[str, Any]:
    """The declared shape of a discussion reply as a JSON schema: reasoning, the stance when one
    is expected, and the answer (an option letter for multiple choice, free text otherwise).

    With `max_tokens`, backends that enforce string lengths (vLLM, JSON-schema servers) bound
    the reasoning to two characters a token of what is left after a reserve for the rest of
    the object, so a reply is not cut before its answer; English runs near four characters a
    token, so this leaves room to spare. The embedded model ignores the bound: it generates the
    object field by field against a token budget (`providers/_fields.py`)."""
    reasoning: dict[str, Any] = {"type": "string"}
    if max_tokens is not None:
        reasoning["maxLength"] = max(40, 2 * (max_tokens - REPLY_RESERVE_TOKENS))
    props: dict[str, Any] = {"reasoning": reasoning}
    if stance:
        props["stance"] = {"type": "string", "enum": ["agree", "disagree"]}
    if task.is_multiple_choice:
        props["answer"] = {"type": "string", "enum": task.letters}
    else:
        props["answer"] = {"type": "string"}
    return {
        "type": "object",
        "properties": props,
        "required": list(props),
        "additionalProperties": False,
    }


def reply_format_hint(task: Task, *, stance: bool) -> str:
    fields = ['"reasoning": "<your reasoning>"']
    if stance:
        fields.append('"stance": "agree" or "disagree"')
    fields.append(
        '"answer": "<option letter>"' if task.is_multiple_choice else '"answer": "<your solution>"'
    )
    return "Reply with JSON only, of the form {" + ", ".join(fields) + "}."


_FENCE = re.compile(r"```(?:json)?\s*(.*?)(?:```|\Z)", re.S | re.I)


def lenient_json_object(text: str) -> Any:
    """The JSON object a reply holds, read leniently: raw newlines and tabs inside strings (a
    model's pretty reasoning), a code fence around it, or words before and after it. None when
    there is no object."""
    text = _THINKING.sub(" ", text).strip()
    candidates = [m.group(1) for m in _FENCE.finditer(text)] + [text]
    for candidate in candidates:
        candidate = candidate.strip()
        start = candidate.find("{")
        while start != -1:
            try:
                data, _ = json.JSONDecoder(strict=False).raw_decode(candidate, start)
            except (json.JSONDecodeError, ValueError):
                start = candidate.find("{", start + 1)
                continue
            return data
    return None


def parse_json_reply(
    text: str, task: Task, *, expect_stance: bool, need_solution: bool
) -> ParsedReply | None:
    """Read a structured reply; None when the text is not a reply object (a server may ignore
    the schema), so the caller falls back to the text reader. Shared text is rendered in the
    text format so the transcript reads the same either way."""
    data = lenient_json_object(text)
    if not isinstance(data, dict) or "answer" not in data:
        return None
    reasoning = str(data.get("reasoning") or "").strip()
    stance = Stance.NONE
    problems = []
    if expect_stance:
        raw_stance = str(data.get("stance", "")).strip().lower()
        stance = {"agree": Stance.AGREE, "disagree": Stance.DISAGREE}.get(
            raw_stance, Stance.UNREADABLE
        )
        if stance is Stance.UNREADABLE:
            problems.append(f"stance '{raw_stance}' is neither agree nor disagree")
    raw_answer = str(data.get("answer") or "").strip()
    solution: str | None = raw_answer or None
    answer = task.normalize(solution)
    if task.is_multiple_choice and answer is not None and task.options:
        solution = f"{answer}) {task.options[task.letters.index(answer)]}"
    if solution is None and (need_solution or stance is Stance.DISAGREE):
        problems.append("no answer")
    elif solution is not None and answer is None:
        problems.append(f"the answer '{raw_answer[:60]}' names none of the options")
    tag = f"[{stance.value.upper()}] " if stance in (Stance.AGREE, Stance.DISAGREE) else ""
    shown = f"{tag}{reasoning}".strip()
    if solution is not None:
        shown += f"\nFinal Solution: {solution}"
    return ParsedReply(stance, solution, answer, shown or reasoning, tuple(problems))
