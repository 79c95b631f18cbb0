"""Baselines at a matched budget: a single agent with chain of thought, and self-consistency
(k independent samples, majority vote). Calls and tokens are recorded like a discussion's."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence

from madebate._concurrent import gather_all
from madebate._reply import parse_json_reply, parse_reply, reply_format_hint, reply_schema
from madebate._results import Decision, Message, StopReason
from madebate.engine._prompting import discussion_prompt
from madebate.engine._session import Session
from madebate.models._model import ChatMessage

SELF_CONSISTENCY_TEMPERATURE = 0.7


async def run_baseline(session: Session) -> tuple[Decision, StopReason]:
    """Play the baseline of `config.method` as the first panelist: its samples go into the
    transcript as turn 1, every call through the gate. The decision is the caller's to record."""
    cfg, task = session.config, session.task
    method = cfg.method
    k = 1 if method == "single" else cfg.samples
    slot = session.paradigm.voters[0]
    json_mode = session.speaker.json_replies  # the same declared reply format as the discussion's
    prompt = discussion_prompt(
        task,
        session.task_text,
        mode="draft",
        style="simple",
        chain_of_thought=True,
        transcript=[],
        current_solution="",
        reply_json=reply_format_hint(task, stance=False) if json_mode else "",
    )
    messages = [
        ChatMessage(role="system", content=session.team[slot].system_prompt),
        ChatMessage(role="user", content=prompt),
    ]
    overrides = {}
    if method == "self_consistency" and cfg.generation.temperature == 0.0:
        # k greedy samples would all be the same reply.
        overrides["temperature"] = SELF_CONSISTENCY_TEMPERATURE
        session.warnings.append(
            f"self_consistency: temperature 0 would repeat one sample; sampled at {SELF_CONSISTENCY_TEMPERATURE}"
        )
    schema = reply_schema(task, stance=False, max_tokens=cfg.generation.max_tokens)
    outputs = await gather_all(
        session.gate.call(
            messages,
            slot,
            "discussion",
            1,
            overrides=overrides,
            json_schema=schema if json_mode else None,
        )
        for _ in range(k)
    )
    transcript = session.transcript
    for i, output in enumerate(outputs):
        structured = (
            parse_json_reply(output.text, task, expect_stance=False, need_solution=True)
            if json_mode
            else None
        )
        parsed = structured or parse_reply(
            output.text, task, expect_stance=False, need_solution=True
        )
        parsed = await session.speaker.extract(parsed, output.text, slot, 1)
        transcript.add(
            Message(
                index=i,
                turn=1,
                step=1,
                speaker=slot,
                text=structured.shared_text if structured else output.text.strip(),
                raw=output.text,
                stance=parsed.stance,
                solution=parsed.solution,
                answer=parsed.answer,
                readable=parsed.readable,
                receivers=[],
                visible_message_ids=[],
            )
        )
        if not parsed.readable:
            session.warnings.append(
                f"sample {i + 1}: unreadable reply ({'; '.join(parsed.problems)})"
            )
    return _majority(transcript.messages, method, k, cfg.seed)


def _majority(
    messages: Sequence[Message], method: str, k: int, seed: int | None
) -> tuple[Decision, StopReason]:
    answers = [m.answer for m in messages if m.answer is not None]
    counts = Counter(answers)
    tally = {a: float(c) for a, c in counts.items()}
    if not counts:
        return Decision(
            protocol=method,
            turn=1,
            decided=False,
            reason=f"none of {k} sample(s) stated a readable answer",
        ), "max_turns"
    top = max(counts.values())
    leaders = sorted(a for a, c in counts.items() if c == top)

    def solution(answer: str) -> str | None:
        return next((m.solution for m in messages if m.answer == answer), None)

    if len(leaders) == 1:
        win = leaders[0]
        return Decision(
            protocol=method,
            turn=1,
            decided=True,
            answer=win,
            solution=solution(win),
            tally=tally,
            reason=f"{win} holds {top} of {k} sample(s)",
        ), "vote"
    pick = random.Random(f"tie:{seed}:1").choice(leaders)
    return Decision(
        protocol=method,
        turn=1,
        decided=False,
        tie=True,
        answer=pick,
        solution=solution(pick),
        tally=tally,
        reason=f"tie between {', '.join(leaders)}; seeded random pick: {pick}",
    ), "max_turns_tie"
