"""The post-discussion challenge: each voter sees the final answer and may keep or replace it.
More than half of the voters replacing it, with a unique most-proposed alternative, overturns it."""

from __future__ import annotations

import re
from collections import Counter

from madebate._concurrent import gather_all
from madebate._prompts import render
from madebate._reply import read_solution
from madebate._results import ChallengeResponse, ChallengeResult, Decision
from madebate._task import Task
from madebate.engine._session import Session
from madebate.models._model import ChatMessage

_DISAGREE = re.compile(r"\bDISAGREE\b", re.I)
_AGREE = re.compile(r"\bAGREE\b", re.I)


async def run_challenge(session: Session, final: Decision) -> tuple[ChallengeResult, Decision]:
    """Ask every voter through the gate; the decision that stands (`final`, or the one that
    overturned it, which the caller records)."""
    assert final.answer is not None
    # The voters this run has: a baseline (method single/self_consistency) makes only A1.
    team = session.team
    voters = [v for v in session.paradigm.voters if v in team]
    prompt = render("challenge", task=session.task_text, solution=final.solution or final.answer)

    async def ask(voter: str) -> ChallengeResponse:
        messages = [
            ChatMessage(role="system", content=team[voter].system_prompt),
            ChatMessage(role="user", content=prompt),
        ]
        reply = await session.gate.ask(voter, messages, "challenge")
        if reply is None:
            return ChallengeResponse(voter=voter, raw="", kept=True, readable=False)
        return read_challenge(voter, reply, session.task, final.answer or "")

    responses = await gather_all(ask(v) for v in voters)
    changed = [
        r for r in responses if not r.kept and r.answer is not None and r.answer != final.answer
    ]
    alternatives = Counter(r.answer for r in changed if r.answer)
    new = final
    if len(changed) * 2 > len(voters) and alternatives:
        top = max(alternatives.values())
        leaders = [a for a, c in alternatives.items() if c == top]
        if len(leaders) == 1:
            answer = leaders[0]
            solution = next(r.raw for r in changed if r.answer == answer)
            text, _, _ = read_solution(solution, session.task)
            new = Decision(
                protocol="challenge",
                turn=final.turn,
                decided=final.decided,
                answer=answer,
                solution=text or answer,
                tally={a: float(c) for a, c in alternatives.items()},
                reason=f"{len(changed)} of {len(voters)} voters replaced {final.answer}; {answer} most proposed",
            )
    result = ChallengeResult(
        original_answer=final.answer,
        final_answer=new.answer or final.answer,
        overturned=new is not final,
        changed_by=[r.voter for r in changed],
        responses=responses,
    )
    return result, new


def read_challenge(voter: str, reply: str, task: Task, current: str) -> ChallengeResponse:
    if _DISAGREE.search(reply):
        _, answer, _ = read_solution(reply, task)
        return ChallengeResponse(
            voter=voter,
            raw=reply,
            kept=answer in (None, current) and answer is not None,
            answer=answer,
            readable=answer is not None,
        )
    if _AGREE.search(reply):
        return ChallengeResponse(voter=voter, raw=reply, kept=True, answer=current)
    return ChallengeResponse(voter=voter, raw=reply, kept=True, readable=False)
