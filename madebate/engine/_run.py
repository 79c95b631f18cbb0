"""One execution of a discussion from start to result: seat the team, play the turns (or the
baseline), fall back when undecided, hold the challenge, and account for everything in a
`DiscussionResult` with exactly one stop reason."""

from __future__ import annotations

from madebate._errors import BudgetExceeded, ModelCallError
from madebate._results import (
    ChallengeResult,
    Decision,
    DiscussionResult,
    ErrorInfo,
    StopReason,
    usage_by_model,
    usage_totals,
)
from madebate.engine._baselines import run_baseline
from madebate.engine._challenge import run_challenge
from madebate.engine._drift import DriftWatcher
from madebate.engine._loop import DecisionHook, MessageHook, TurnLoop
from madebate.engine._session import Session
from madebate.engine._team import seat_team
from madebate.protocols._judge import JudgeProtocol
from madebate.protocols._protocols import DecisionProtocol


def _error_message(exc: Exception) -> str:
    """The exception's message; a failed model call's says whose call it was and to which model
    (in a mixed team, which of the models failed)."""
    record = exc.record if isinstance(exc, ModelCallError) else None
    if record is None:
        return str(exc)
    who = f"{record.agent}'s " if record.agent else ""
    return f"{who}{record.role} call to model '{record.model}' failed: {exc}"


async def run_session(
    session: Session,
    *,
    on_message: MessageHook | None = None,
    on_decision: DecisionHook | None = None,
) -> DiscussionResult:
    """Run `session` to its end. Errors and budget stops end it with their stop reason; they
    are never raised."""
    cfg, gate, protocol = session.config, session.gate, session.protocol
    drift = DriftWatcher(cfg.drift_judge) if cfg.drift_judge else None
    loop = TurnLoop(session, drift=drift, on_message=on_message, on_decision=on_decision)
    discussion = cfg.method == "discussion"
    stop: StopReason = "max_turns"
    detail = ""
    final: Decision | None = None
    error: ErrorInfo | None = None
    challenge: ChallengeResult | None = None
    try:
        paradigm = session.paradigm
        await seat_team(
            session.team,
            # A baseline needs only the first panelist; a discussion needs them all.
            drafter=paradigm.drafter if discussion else None,
            voters=paradigm.voters if discussion else paradigm.voters[:1],
            sources=session.plan.persona_sources,
            judge=discussion and (protocol.kind == "judge" or drift is not None),
            task_text=session.task_text,
            gate=gate,
            warnings=session.warnings,
            models=session.models,
            judge_model=_own_judge_model(protocol, drift),
        )
        if not discussion:
            loop.turn, loop.step = 1, 1
            final, stop = await run_baseline(session)
            loop.decisions.append(final)
            detail = final.reason
        else:
            final = await loop.play()
            if final is not None:
                stop = _stop_reason(protocol)
                detail = final.reason
    except BudgetExceeded as exc:
        stop, detail = "budget", str(exc)
    except Exception as exc:
        message = _error_message(exc)
        stop, detail = "error", f"{type(exc).__name__}: {message}"
        error = ErrorInfo(
            type=type(exc).__name__,
            message=message,
            turn=loop.turn,
            step=loop.step,
            calls_made=len(gate.calls),
        )
    if final is None:
        last_point = loop.decisions[-1].reason if loop.decisions else None
        final = protocol.fallback(loop.context(final=True))
        loop.decisions.append(final)
        if stop == "max_turns":
            # Say what happened: the last decision point's own reason (no vote held, every
            # ballot lost, the judge did not rule, a tie) beside the fallback's.
            detail = final.reason
            if last_point and last_point not in detail:
                detail += f" (last decision point: {last_point})"
            if final.tie:  # only a vote held at the last turn that tied sets it
                stop = "max_turns_tie"
    if cfg.challenge and error is None and stop != "budget" and final.answer is not None:
        try:
            challenge, final = await run_challenge(session, final)
        except BudgetExceeded as exc:
            session.warnings.append(f"challenge skipped: {exc}")
        except Exception as exc:  # the decision stands; the failed challenge is reported
            session.warnings.append(f"challenge failed: {type(exc).__name__}: {exc}")
        if challenge is not None and challenge.overturned:
            loop.decisions.append(final)
            detail += f"; overturned by the challenge to {final.answer}"
    if drift is not None:
        await drift.aclose()
    calls = list(gate.calls)
    usage, by_agent = usage_totals(calls)
    by_model = usage_by_model(calls)
    return DiscussionResult(
        task=session.task,
        answer=final.answer,
        solution=final.solution,
        decided=final.decided,
        stop_reason=stop,
        stop_detail=detail,
        error=error,
        turns=loop.turn,
        paradigm=session.paradigm.name if discussion else cfg.method,
        protocol=protocol.name if discussion else cfg.method,
        style=cfg.style,
        seed=cfg.seed,
        agents=session.team.infos(),
        messages=list(session.transcript.messages),
        decisions=loop.decisions,
        challenge=challenge,
        interventions=drift.interventions if drift else [],
        calls=calls,
        warnings=session.warnings,
        usage=usage,
        usage_by_agent=by_agent,
        usage_by_model=by_model,
    )


def _own_judge_model(protocol: DecisionProtocol, drift: DriftWatcher | None) -> str | None:
    """The name of the model the judge speaks with when the judge protocol's `model` option
    (or, without a judge protocol, the drift judge's) gives it one: it takes precedence over
    the team's judge entry, and the result records it."""
    own = protocol.model if isinstance(protocol, JudgeProtocol) else None
    if own is None and not isinstance(protocol, JudgeProtocol) and drift is not None:
        own = drift.model
    return own.name if own is not None else None


def _stop_reason(protocol: DecisionProtocol) -> StopReason:
    return {"consensus": "consensus", "voting": "vote", "judge": "judge"}[protocol.kind]  # type: ignore[return-value]
