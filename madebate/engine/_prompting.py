"""The text of a discussion's prompts: the task, the instruction for a mode, and the discussion
prompt around the transcript an agent sees.

A prompt is rebuilt for every call, but most of it has not changed since the last one: each
transcript line is rendered once per discussion (`TranscriptLines`) and each instruction once
per process, so building a prompt costs a join over lines, not a render of the transcript.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

from madebate._prompts import render, render_fragment
from madebate._results import Message
from madebate._task import Task
from madebate.engine._config import DiscussionConfig
from madebate.models._model import ChatMessage


def render_task(task: Task) -> str:
    """The task as every prompt of a discussion shows it."""
    return render(
        "task",
        instruction=task.instruction or _default_instruction(task),
        question=task.question,
        options=task.formatted_options(),
        context=task.context or "",
    )


def _default_instruction(task: Task) -> str:
    if task.is_multiple_choice:
        return "Answer the following multiple-choice question by choosing one of the options."
    return "Solve the following task."


@lru_cache(maxsize=512)
def instruction(
    mode: str, style: str, chain_of_thought: bool, multiple_choice: bool, reply_json: str
) -> str:
    """What a panelist is told to do in `mode` (draft, respond, redraft, agreement, revise)."""
    return render(
        "instruction",
        mode=mode,
        style=style,
        chain_of_thought=chain_of_thought,
        multiple_choice=multiple_choice,
        reply_json=reply_json,
    )


def discussion_prompt(
    task: Task,
    task_text: str,
    *,
    mode: str,
    style: str,
    chain_of_thought: bool,
    transcript: Sequence[str],
    current_solution: str,
    reply_json: str,
) -> str:
    """What a panelist is asked: the task, the transcript it sees (its lines, from
    `TranscriptLines`), the current solution and the instruction for its mode."""
    return render(
        "discussion",
        task=task_text,
        transcript=transcript,
        current_solution=current_solution,
        instruction=instruction(mode, style, chain_of_thought, task.is_multiple_choice, reply_json),
    )


def first_prompt(task: Task, config: DiscussionConfig) -> list[ChatMessage]:
    """The smallest prompt a discussion of `task` sends: the first draft, with no transcript
    and no persona. A run checks it against the model's context before any call."""
    text = discussion_prompt(
        task,
        render_task(task),
        mode="draft",
        style=config.style,
        chain_of_thought=config.chain_of_thought,
        transcript=[],
        current_solution="",
        reply_json="",
    )
    return [ChatMessage(role="system", content=""), ChatMessage(role="user", content=text)]


class TranscriptLines:
    """Each message's line in a prompt ('[Turn 2] A1: ...'), rendered once per discussion.

    Keyed by the message object itself (held here, so its id is never reused while cached).
    """

    def __init__(self) -> None:
        self._lines: dict[int, tuple[Message, str]] = {}

    def __call__(self, messages: Sequence[Message]) -> list[str]:
        lines = []
        for m in messages:
            entry = self._lines.get(id(m))
            if entry is None or entry[0] is not m:
                line = render_fragment(
                    "transcript_line", turn=m.turn, speaker=m.speaker, text=m.text
                )
                entry = (m, line)
                self._lines[id(m)] = entry
            lines.append(entry[1])
        return lines
