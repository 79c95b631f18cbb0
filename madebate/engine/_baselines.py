"""Baselines at a matched budget: a single agent with chain of thought, and self-consistency
(k independent samples, majority vote). Calls and tokens are recorded like a discussion's."""

from __future__ import annotations

import random
from collections import Counter
from typing import TYPE_CHECKING

from madebate._concurrent import gather_all
from madebate._prompts import render
from madebate._reply import parse_json_reply, parse_reply, reply_format_hint, reply_schema
from madebate._results import Decision, Message, StopReason
from madebate.models._model import ChatMessage

if TYPE_CHECKING:
    from madebate.engine._discussion import _Run

SELF_CONSISTENCY_TEMPERATURE = 0.7


async def run_baseline(run: _Run) -> tuple[Decision, StopReason]:
    method = run.cfg.method
    k = 1 if method == "single" else run.cfg.samples
    slot = run.paradigm.voters[0]
    run.turn, run.step = 1, 1
    json_mode = run.d.json_replies  # the same declared reply format as the discussion's
    instruction = render(
        "instruction",
        mode="draft",
        style="simple",
        chain_of_thought=True,
        multiple_choice=run.d.task.is_multiple_choice,
        reply_json=reply_format_hint(run.d.task, stance=False) if json_mode else "",
    )
    prompt = render(
        "discussion",
        task=run.d._task_text,
        transcript=[],
        current_solution="",
        instruction=instruction,
    )
    messages = [
        ChatMessage(role="system", content=run.agents[slot].system_prompt),
        ChatMessage(role="user", content=prompt),
    ]
    overrides = {}
    if method == "self_consistency" and run.cfg.generation.temperature == 0.0:
        # k greedy samples would all be the same reply.
        overrides["temperature"] = SELF_CONSISTENCY_TEMPERATURE
        run.warnings.append(
            f"self_consistency: temperature 0 would repeat one sample; sampled at {SELF_CONSISTENCY_TEMPERATURE}"
        )
    outputs = await gather_all(
        run._call(
            messages,
            slot,
            "discussion",
            1,
            overrides=overrides,
            json_schema=reply_schema(
                run.d.task, stance=False, max_tokens=run.cfg.generation.max_tokens
            )
            if json_mode
            else None,
        )
        for _ in range(k)
    )
    for i, output in enumerate(outputs):
        structured = (
            parse_json_reply(output.text, run.d.task, expect_stance=False, need_solution=True)
            if json_mode
            else None
        )
        parsed = structured or parse_reply(
            output.text, run.d.task, expect_stance=False, need_solution=True
        )
        parsed = await run._maybe_extract(parsed, output.text, slot, 1)
        run.messages.append(
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
            run.warnings.append(f"sample {i + 1}: unreadable reply ({'; '.join(parsed.problems)})")
    decision, stop = _majority(run, method, k)
    run.decisions.append(decision)
    return decision, stop


def _majority(run: _Run, method: str, k: int) -> tuple[Decision, StopReason]:
    answers = [m.answer for m in run.messages if m.answer is not None]
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
        return next((m.solution for m in run.messages if m.answer == answer), None)

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
    pick = random.Random(f"tie:{run.cfg.seed}:1").choice(leaders)
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
