"""One agent speaking: its prompt, fitted to the model's context, the call through the gate, and
the reply read into a typed turn (`Spoken`), with an extraction call where configured."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from madebate._answer_reader import read_without_solution_line
from madebate._prompts import render
from madebate._reply import (
    ParsedReply,
    parse_json_reply,
    parse_reply,
    read_solution,
    reply_format_hint,
    reply_schema,
)
from madebate._results import Message, Stance
from madebate._task import Task
from madebate.engine._config import DiscussionConfig
from madebate.engine._gate import CallGate
from madebate.engine._prompting import TranscriptLines, discussion_prompt
from madebate.engine._team import Agent
from madebate.engine._transcript import Shown
from madebate.models._model import ChatMessage


@dataclass
class Spoken:
    """One agent's reply to a step, read, with how the model finished writing it."""

    parsed: ParsedReply
    raw: str
    seen: list[int]  # indexes of the messages its prompt showed
    confidence: float | None = None
    shown: str | None = None  # what receivers see, when not the raw reply
    finish_reason: str | None = None
    looped: bool = False
    read_by: str | None = None

    def message(
        self,
        *,
        index: int,
        turn: int,
        step: int,
        speaker: str,
        receivers: Sequence[str],
        current: Shown,
        style: str,
    ) -> Message:
        """The transcript's message for this reply; `current` is the solution the speaker was
        shown (a bare [AGREE] agrees with it)."""
        parsed = self.parsed
        bare_agree = parsed.stance is Stance.AGREE and parsed.answer is None
        text = self.shown
        if text is None:
            text = parsed.shared_text if style == "reasoning" else self.raw.strip()
        return Message(
            index=index,
            turn=turn,
            step=step,
            speaker=speaker,
            text=text,
            raw=self.raw,
            stance=parsed.stance,
            solution=parsed.solution,
            answer=parsed.answer,
            readable=parsed.readable,
            confidence=self.confidence,
            receivers=list(receivers),
            visible_message_ids=self.seen,
            agreed_with=current.answer if bare_agree else None,
            agreed_solution=current.solution if bare_agree else None,
            finish_reason=self.finish_reason,
            looped=self.looped,
            problems=list(parsed.problems),
            read_by=self.read_by,
        )


class Speaker:
    """Asks one agent for its reply to a step and reads it.

    `json_replies`: replies are asked for as JSON (the declared reply format); with
    `wants_logprobs` (a protocol that shows confidence) a model without log-probabilities is
    reported once in `warnings`, where context-fitting notes also go.
    """

    def __init__(
        self,
        *,
        task: Task,
        task_text: str,
        config: DiscussionConfig,
        gate: CallGate,
        json_replies: bool,
        wants_logprobs: bool,
        warnings: list[str],
        json_by_slot: Mapping[str, bool] | None = None,
    ) -> None:
        self.task = task
        self.task_text = task_text
        self.config = config
        self.gate = gate
        self.json_replies = json_replies
        # In a mixed team a slot whose model differs may differ in reply format too.
        self.json_by_slot: Mapping[str, bool] = json_by_slot or {}
        self.wants_logprobs = wants_logprobs
        self.warnings = warnings
        self.lines = TranscriptLines()
        self._warned_logprobs: set[str] = set()  # models already reported

    async def speak(
        self,
        turn: int,
        slot: str,
        agent: Agent,
        view: Sequence[Message],
        current: str | None,
        *,
        drafter: bool = False,
    ) -> Spoken:
        """`agent` (in `slot`) replies in `turn`, seeing `view` and `current` as the current
        solution; the drafter revises instead of taking a stance."""
        cfg, task = self.config, self.task
        if current is None:
            mode = "draft"
        elif drafter:
            mode = "redraft"  # the drafter revises; it takes no stance and never votes
        else:
            mode = "respond"
        style = cfg.style
        json_replies = self.json_by_slot.get(slot, self.json_replies)
        json_mode = json_replies and not (mode == "respond" and style == "splitfreetext")
        model = self.gate.model_for(slot)
        generation = self.gate.generation_for(slot)
        lines = self.lines(view)
        cut = looped = structured_read = False

        def prompt(instruction_mode: str) -> str:
            hint = reply_format_hint(task, stance=instruction_mode == "respond")
            return discussion_prompt(
                task,
                self.task_text,
                mode=instruction_mode,
                style=style,
                chain_of_thought=cfg.chain_of_thought,
                transcript=lines,
                current_solution=current or "",
                reply_json=hint if json_mode else "",
            )

        system = ChatMessage(role="system", content=agent.system_prompt)

        def single(instruction_mode: str) -> Callable[[], list[ChatMessage]]:
            return lambda: [system, ChatMessage(role="user", content=prompt(instruction_mode))]

        async def fitted(build: Callable[[], list[ChatMessage]]) -> list[ChatMessage]:
            # Over the model's context, the oldest messages this agent sees go first; the model
            # layer refuses (stop reason budget) what cannot fit even with none. `build` makes
            # the request from the current `lines`.
            nonlocal view, lines
            messages = build()
            if cfg.context_overflow != "shrink":
                return messages
            dropped = 0
            while view and not await model.fits(messages, generation):
                view, lines, dropped = view[1:], lines[1:], dropped + 1
                messages = build()
            if dropped:
                self.warnings.append(
                    f"turn {turn} {slot}: {dropped} oldest message(s) left out to fit the "
                    "model's context"
                )
            return messages

        if mode == "respond" and style == "splitfreetext":
            first = await fitted(single("agreement"))
            agreement_output = await self.gate.call(first, slot, "agreement", turn)
            feedback = agreement_output.text
            agreement = parse_reply(feedback, task, expect_stance=True, need_solution=False)
            if agreement.stance is not Stance.DISAGREE:
                # Agreeing (or unreadable) ends here; the solution is not restated.
                return Spoken(
                    ParsedReply(agreement.stance, None, None, feedback.strip(), agreement.problems),
                    feedback,
                    [m.index for m in view],
                    finish_reason=agreement_output.finish_reason,
                    looped=agreement_output.looped,
                )
            # The follow-up holds the transcript twice: it may need a shorter one than the first
            # call had (then both of its prompts show the shorter one).
            follow = await fitted(
                lambda: [
                    *single("agreement")(),
                    ChatMessage(role="assistant", content=feedback),
                    ChatMessage(role="user", content=prompt("revise")),
                ]
            )
            cut = agreement_output.finish_reason == "length"
            looped = agreement_output.looped
            output = await self.gate.call(follow, slot, "discussion", turn)
            raw = f"{feedback.strip()}\n\n{output.text.strip()}"
            parsed = parse_reply(raw, task, expect_stance=True, need_solution=True)
            raw_shown = None
        else:
            messages = await fitted(single(mode))
            schema = (
                reply_schema(task, stance=mode == "respond", max_tokens=generation.max_tokens)
                if json_mode
                else None
            )
            output = await self.gate.call(messages, slot, "discussion", turn, json_schema=schema)
            raw = output.text
            expect_stance, need_solution = mode == "respond", mode in ("draft", "redraft")
            structured = (
                parse_json_reply(
                    raw, task, expect_stance=expect_stance, need_solution=need_solution
                )
                if json_mode
                else None
            )
            parsed = structured or parse_reply(
                raw, task, expect_stance=expect_stance, need_solution=need_solution
            )
            if structured is not None:
                structured_read = True
                # Receivers read the reply in the text layout, never raw JSON.
                shown = structured.shared_text
                if style == "reasoning":
                    shown = shown.split("\nFinal Solution:")[0]
                parsed = ParsedReply(
                    parsed.stance, parsed.solution, parsed.answer, shown, parsed.problems
                )
                raw_shown = shown
            else:
                raw_shown = None
        before = parsed
        parsed = await self.extract(parsed, raw, slot, turn)
        confidence = None
        if output.mean_logprob is not None:
            confidence = round(100 * math.exp(output.mean_logprob), 1)
        elif self.wants_logprobs and model.name not in self._warned_logprobs:
            self._warned_logprobs.add(model.name)
            self.warnings.append(
                f"{model.name} returned no log-probabilities; candidates show no confidence"
            )
        read_by = None
        if parsed.solution is not None:
            if parsed is not before:
                read_by = "extraction"
            elif structured_read:
                read_by = "json"
            else:
                read_by = parsed.read_by
        return Spoken(
            parsed,
            raw,
            [m.index for m in view],
            confidence,
            raw_shown,
            finish_reason="length" if cut else output.finish_reason,
            looped=looped or output.looped,
            read_by=read_by,
        )

    async def extract(self, parsed: ParsedReply, raw: str, slot: str, turn: int) -> ParsedReply:
        """The reply as read, or with the solution an extraction call reads from it (by the
        `extraction` setting: never, on_failure, always)."""
        policy = self.config.extraction
        missing = parsed.answer is None and parsed.stance is not Stance.AGREE
        if policy == "never" or (policy == "on_failure" and not missing):
            return parsed
        task = self.task
        prompt = render(
            "extraction",
            multiple_choice=task.is_multiple_choice,
            options=task.formatted_options(),
            response=raw,
        )
        reply = await self.gate.generate(
            [ChatMessage(role="user", content=prompt)], slot, "extraction", turn
        )
        solution, answer, _ = read_solution(f"Final Solution: {reply.strip()}", task)
        if answer is None:  # an extraction that explains itself over several lines
            fallback = read_without_solution_line(reply, task)
            if fallback is None:
                return parsed
            solution, answer = fallback.solution, fallback.answer
        problems = tuple(
            p for p in parsed.problems if "Final Solution" not in p and "options" not in p
        )
        return ParsedReply(parsed.stance, solution, answer, parsed.shared_text, problems)
