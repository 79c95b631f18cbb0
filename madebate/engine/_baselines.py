"""Baselines at a matched budget: a single agent with chain of thought, self-consistency
(k independent samples, majority vote), and the ablation (one agent refining its own solution
N times, MALLM's `use_ablation`). Calls and tokens are recorded like a discussion's."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from madebate._concurrent import gather_all
from madebate._errors import BudgetExceeded
from madebate._reply import (
    ParsedReply,
    parse_json_reply,
    parse_reply,
    reply_format_hint,
    reply_schema,
)
from madebate._results import Decision, Message, StopReason
from madebate.engine._config import DiscussionConfig
from madebate.engine._prompting import discussion_prompt
from madebate.engine._session import Session
from madebate.models._model import ChatMessage

SELF_CONSISTENCY_TEMPERATURE = 0.7


def ablation_refinements(config: DiscussionConfig) -> int:
    """N of the ablation: `refinements` when given (a sweep sets it to the messages of the
    matched discussion), else max_turns x agents, the messages of a discussion that runs to
    its last turn with one message per agent per turn."""
    return config.refinements or config.max_turns * config.n_agents


async def run_baseline(session: Session) -> tuple[Decision, StopReason]:
    """Play the baseline of `config.method` as the first panelist: its samples go into the
    transcript as turn 1 (the ablation's refinements as turns 1..N), every call through the
    gate. The decision is the caller's to record."""
    cfg, task = session.config, session.task
    method = cfg.method
    if method == "ablation":
        return await _run_ablation(session)
    k = 1 if method == "single" else cfg.samples
    slot = session.paradigm.voters[0]
    # The reply format and sampling settings of the discussion's, or of the agent's own in a
    # mixed team (its model and generation).
    json_mode = session.speaker.json_by_slot.get(slot, session.speaker.json_replies)
    generation = session.gate.generation_for(slot)
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
    if method == "self_consistency" and generation.temperature == 0.0:
        # k greedy samples would all be the same reply.
        overrides["temperature"] = SELF_CONSISTENCY_TEMPERATURE
        session.warnings.append(
            f"self_consistency: temperature 0 would repeat one sample; sampled at {SELF_CONSISTENCY_TEMPERATURE}"
        )
    schema = reply_schema(task, stance=False, max_tokens=generation.max_tokens)
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
    for i, output in enumerate(outputs):
        read = await _read(session, output.text, slot, 1, json_mode)
        _record(session, read, output.text, slot, turn=1, seen=[])
        parsed = read.parsed
        if not parsed.readable:
            session.warnings.append(
                f"sample {i + 1}: unreadable reply ({'; '.join(parsed.problems)})"
            )
    return _majority(session.transcript.messages, method, k, cfg.seed)


async def _run_ablation(session: Session) -> tuple[Decision, StopReason]:
    """One agent, N calls in sequence: the first drafts a solution, each later one is shown
    the task and the agent's own latest solution (nothing else: no earlier refinement, no
    other agent) and improves it. Refinement i is turn i. The answer is the latest readable
    one; a budget stop keeps the refinements made so far."""
    cfg, task = session.config, session.task
    n = ablation_refinements(cfg)
    slot = session.paradigm.voters[0]
    json_mode = session.speaker.json_by_slot.get(slot, session.speaker.json_replies)
    generation = session.gate.generation_for(slot)
    schema = reply_schema(task, stance=False, max_tokens=generation.max_tokens)
    system = session.team[slot].system_prompt
    latest: Message | None = None  # the latest refinement with a readable solution
    try:
        for turn in range(1, n + 1):
            session.gate.turn = turn  # calls and an error's `turn` count in this refinement
            prompt = discussion_prompt(
                task,
                session.task_text,
                mode="refine" if latest is not None else "draft",
                style="simple",
                chain_of_thought=cfg.chain_of_thought,
                transcript=[],
                current_solution=(latest.solution or "") if latest is not None else "",
                reply_json=reply_format_hint(task, stance=False) if json_mode else "",
            )
            output = await session.gate.call(
                [
                    ChatMessage(role="system", content=system),
                    ChatMessage(role="user", content=prompt),
                ],
                slot,
                "discussion",
                turn,
                json_schema=schema if json_mode else None,
            )
            read = await _read(session, output.text, slot, turn, json_mode)
            parsed = read.parsed
            seen = [latest.index] if latest is not None else []
            message = _record(session, read, output.text, slot, turn=turn, seen=seen)
            if parsed.readable and message.solution is not None:
                latest = message
            else:
                kept = f"refinement {latest.turn}'s" if latest is not None else "no"
                session.warnings.append(
                    f"refinement {turn}: unreadable reply ({'; '.join(parsed.problems)}); "
                    f"{kept} solution stays current"
                )
    except BudgetExceeded as exc:
        done = len(session.transcript)
        return _ablation_decision(latest, done, n, decided=False, why=f"{exc}; "), "budget"
    return _ablation_decision(latest, n, n, decided=latest is not None, why=""), "max_turns"


def _ablation_decision(
    latest: Message | None, done: int, n: int, *, decided: bool, why: str
) -> Decision:
    if latest is None:
        return Decision(
            protocol="ablation",
            turn=max(done, 1),
            decided=False,
            reason=f"{why}none of {done} of {n} refinement(s) stated a readable solution",
        )
    return Decision(
        protocol="ablation",
        turn=max(done, 1),
        decided=decided,
        answer=latest.answer,
        solution=latest.solution,
        reason=f"{why}the solution of refinement {latest.turn} after {done} of {n} refinement(s)",
    )


@dataclass(frozen=True)
class _Read:
    """A reply as read, and the text others would see of it."""

    parsed: ParsedReply
    shared: str


async def _read(session: Session, text: str, slot: str, turn: int, json_mode: bool) -> _Read:
    task = session.task
    structured = (
        parse_json_reply(text, task, expect_stance=False, need_solution=True) if json_mode else None
    )
    parsed = structured or parse_reply(text, task, expect_stance=False, need_solution=True)
    parsed = await session.speaker.extract(parsed, text, slot, turn)
    return _Read(parsed, structured.shared_text if structured else text.strip())


def _record(
    session: Session, read: _Read, raw: str, slot: str, *, turn: int, seen: list[int]
) -> Message:
    """The reply as the transcript's next message (`seen`: the messages shown in its prompt)."""
    parsed = read.parsed
    message = Message(
        index=len(session.transcript),
        turn=turn,
        step=1,
        speaker=slot,
        text=read.shared,
        raw=raw,
        stance=parsed.stance,
        solution=parsed.solution,
        answer=parsed.answer,
        readable=parsed.readable,
        receivers=[],
        visible_message_ids=seen,
    )
    session.transcript.add(message)
    return message


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
