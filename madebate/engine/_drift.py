"""A drift-watching judge: after a turn whose answer changed, it judges whether the discussion
drifted from the task and, if so, says so with guidance for everyone, or asks for the turn to be
redone (the loop does both). The number of interventions is bounded."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from madebate._prompts import render
from madebate._results import Intervention, Message, Stance
from madebate.engine._config import DriftJudgeConfig
from madebate.engine._session import Session
from madebate.models._model import ChatMessage
from madebate.models._model_managed import ManagedModel
from madebate.models._models import as_managed
from madebate.protocols._judge import JUDGE_SLOT

_VERDICT = re.compile(r"\[\[\s*([AB])\s*\]\]")

DriftAction = Literal["none", "guide", "redo"]


@dataclass(frozen=True)
class DriftVerdict:
    """What the judge wants done after a turn: nothing, guidance posted, or the turn redone
    (then with the guidance posted before it is played again)."""

    action: DriftAction
    guidance: str = ""
    raw: str = ""

    def message(self, *, index: int, turn: int, receivers: Sequence[str]) -> Message | None:
        """The judge's guidance as a transcript message, or None when there is nothing to post."""
        if self.action == "none" or not self.guidance:
            return None
        return Message(
            index=index,
            turn=turn,
            step=0,
            speaker=JUDGE_SLOT,
            text=self.guidance,
            raw=self.raw,
            stance=Stance.NONE,
            receivers=list(receivers),
            visible_message_ids=[],
        )


class DriftWatcher:
    """The drift judge of one discussion: its own model (or the discussion's, through the
    gate), what it answered after each turn, and its interventions."""

    def __init__(self, config: DriftJudgeConfig):
        self.config = config
        self.interventions: list[Intervention] = []
        self.model: ManagedModel | None = None
        if config.model is not None:
            self.model = as_managed(config.model)
        self._answers: dict[int, str | None] = {}

    @property
    def acted(self) -> int:
        return sum(i.action != "none" for i in self.interventions)

    async def watch(self, session: Session, turn: int, turn_start: int) -> DriftVerdict:
        """Judge the turn that began at message `turn_start`; calls go through the gate."""
        transcript = session.transcript
        answer, previous = transcript.support().current_answer, self._answers.get(turn - 1)
        self._answers[turn] = answer
        if turn == 1 or answer == previous or self.acted >= self.config.max_interventions:
            return DriftVerdict("none")
        messages = transcript.messages
        solutions = {m.answer: m.solution or m.answer for m in messages if m.answer}

        def shown(a: str | None) -> str:
            return solutions.get(a, a) if a is not None else "none"

        prompt = render(
            "drift",
            task=session.task_text,
            previous=shown(previous),
            current=shown(answer),
            transcript=messages[turn_start:],
        )
        request = [
            ChatMessage(role="system", content=render("judge_system")),
            ChatMessage(role="user", content=prompt),
        ]
        reply = await session.gate.ask(JUDGE_SLOT, request, "judge", model=self.model)
        verdict = _VERDICT.search(reply or "")
        drifted = verdict is not None and verdict.group(1) == "B"
        guidance = (reply or "")[verdict.end() :].strip() if verdict else ""
        action: DriftAction = self.config.action if drifted else "none"
        self.interventions.append(
            Intervention(
                turn=turn,
                previous_answer=previous,
                new_answer=answer,
                drifted=drifted,
                action=action,
                guidance=guidance,
                raw=reply or "",
            )
        )
        if action == "redo":
            self._answers.pop(turn, None)  # the turn will be played again
        return DriftVerdict(action, guidance, reply or "")

    async def aclose(self) -> None:
        if self.model is not None and not self.model.shared:
            await self.model.aclose()
