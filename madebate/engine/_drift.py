"""A drift-watching judge: after a turn whose answer changed, it judges whether the discussion
drifted from the task and, if so, posts guidance to everyone or has the turn redone. The number
of interventions is bounded."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

from madebate._prompts import render
from madebate._results import Intervention, Message, Stance
from madebate.engine._config import DriftJudgeConfig
from madebate.models._model import ChatMessage
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._support import track_support

if TYPE_CHECKING:
    from madebate.engine._discussion import _Run
    from madebate.models._model_managed import ManagedModel

_VERDICT = re.compile(r"\[\[\s*([AB])\s*\]\]")


class DriftWatcher:
    def __init__(self, config: DriftJudgeConfig):
        self.config = config
        self.interventions: list[Intervention] = []
        self.model: ManagedModel | None = None
        if config.model is not None:
            from madebate.models._models import as_managed

            self.model = as_managed(config.model)
        self._answers: dict[int, str | None] = {}

    @property
    def acted(self) -> int:
        return sum(i.action != "none" for i in self.interventions)

    async def watch(
        self, run: _Run, turn: int, turn_start: int
    ) -> Literal["none", "guide", "redo"]:
        state = track_support(run.messages, run.paradigm.voters)
        answer, previous = state.current_answer, self._answers.get(turn - 1)
        self._answers[turn] = answer
        if turn == 1 or answer == previous or self.acted >= self.config.max_interventions:
            return "none"
        solutions = {m.answer: m.solution or m.answer for m in run.messages if m.answer}

        def shown(a: str | None) -> str:
            return solutions.get(a, a) if a is not None else "none"

        prompt = render(
            "drift",
            task=run.d._task_text,
            previous=shown(previous),
            current=shown(answer),
            transcript=run.messages[turn_start:],
        )
        messages = [
            ChatMessage(role="system", content=render("judge_system")),
            ChatMessage(role="user", content=prompt),
        ]
        reply = await run._ask(JUDGE_SLOT, messages, "judge", model=self.model)
        verdict = _VERDICT.search(reply or "")
        drifted = verdict is not None and verdict.group(1) == "B"
        guidance = (reply or "")[verdict.end() :].strip() if verdict else ""
        action: Literal["none", "guide", "redo"] = self.config.action if drifted else "none"
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
            del run.messages[turn_start:]  # the turn is discarded and played again
            self._answers.pop(turn, None)
        if action != "none" and guidance:
            everyone = [s for s in run.agents if s != JUDGE_SLOT]
            run.messages.append(
                Message(
                    index=len(run.messages),
                    turn=turn,
                    step=0,
                    speaker=JUDGE_SLOT,
                    text=guidance,
                    raw=reply or "",
                    stance=Stance.NONE,
                    receivers=everyone,
                    visible_message_ids=[],
                )
            )
        return action

    async def aclose(self) -> None:
        if self.model is not None and not self.model.shared:
            await self.model.aclose()
