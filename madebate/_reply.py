"""Reading a discussion reply by its declared format: a stance tag and a 'Final Solution:' line.

Nothing is guessed: a missing tag or an answer that names no option is reported unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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

    @property
    def readable(self) -> bool:
        return not self.problems


def read_stance(text: str) -> Stance:
    """The first stance tag in the reply, or UNREADABLE when there is none."""
    m = _STANCE_TAG.search(text)
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
    problems = []
    if expect_stance and stance is Stance.UNREADABLE:
        problems.append("no [AGREE] or [DISAGREE] tag")
    wants_solution = need_solution or stance is Stance.DISAGREE
    if solution is None and wants_solution:
        problems.append("no 'Final Solution:' line")
    elif solution is not None and answer is None:
        problems.append(f"the solution '{solution[:60]}' names none of the options")
    return ParsedReply(stance, solution, answer, shared or text.strip(), tuple(problems))
