"""The discussion engine: an async turn loop over a compiled paradigm's schedule."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from madebate._answer_reader import read_without_solution_line
from madebate._concurrent import gather_all
from madebate._errors import BudgetExceeded, ConfigError, ModelCallError
from madebate._prompts import render
from madebate._reply import (
    ParsedReply,
    parse_json_reply,
    parse_reply,
    read_solution,
    reply_format_hint,
    reply_schema,
)
from madebate._results import (
    AgentInfo,
    CallRecord,
    ChallengeResult,
    Decision,
    DiscussionResult,
    ErrorInfo,
    Message,
    Stance,
    StopReason,
    usage_totals,
)
from madebate._sync import run_sync
from madebate._task import Task
from madebate._yaml import config_error_from
from madebate.engine._baselines import run_baseline
from madebate.engine._challenge import run_challenge
from madebate.engine._config import DiscussionConfig
from madebate.engine._drift import DriftWatcher
from madebate.engine._paradigm import ParadigmSpec, load_paradigm
from madebate.engine._paradigm_compile import CompiledParadigm, CompiledStep, compile_paradigm
from madebate.engine._personas import Persona, PersonaRequest, PersonaSource, parse_source
from madebate.models._model import ChatMessage, GenerateConfig, ModelAPI, ModelOutput
from madebate.models._model_managed import ManagedModel
from madebate.models._models import as_managed, named_only, shared_models
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._protocols import DecisionContext, DecisionProtocol, create_protocol
from madebate.protocols._support import SupportState, track_support

JUDGE_PERSONA = Persona(name="Judge", description="An impartial judge outside the panel.")

DRAFTER_PERSONA = Persona(
    name="Neutral Drafter", description="Writes and revises the solution from the panel's feedback."
)
MessageHook = Callable[[Message, AgentInfo], None]
DecisionHook = Callable[[Decision], None]


@dataclass
class _Agent:
    info: AgentInfo
    persona: Persona
    system_prompt: str


class Discussion:
    """One multi-agent discussion of one task.

    >>> result = Discussion("Capital of France?", options=["Paris", "Rome"], model="scripted").run()
    """

    def __init__(
        self,
        task: str | Task,
        *,
        options: Sequence[str] | None = None,
        model: str | ModelAPI | ManagedModel | None = None,
        config: DiscussionConfig | None = None,
        on_message: MessageHook | None = None,
        on_decision: DecisionHook | None = None,
        plan: _Plan | None = None,
        **settings: Any,
    ):
        self.task = task if isinstance(task, Task) else _make_task(task, options)
        if config is not None and settings:
            raise ConfigError("give either config= or keyword settings, not both")
        try:
            self.config = config or DiscussionConfig(**settings)
        except ValidationError as exc:
            raise config_error_from(exc, source="discussion settings") from None
        # A model made here from an id is closed when the run ends; one passed in is the caller's.
        self._owns_model = not isinstance(model, (ModelAPI, ManagedModel))
        self.model = as_managed(model)
        self.on_message = on_message
        self.on_decision = on_decision
        if plan is None:
            plan = check_config(self.config)
        else:  # a runner's precompiled plan; the protocol holds per-discussion state
            plan = _Plan(
                plan.paradigm,
                plan.persona_sources,
                create_protocol(self.config.protocol, **self.config.protocol_options),
            )
        self.paradigm: CompiledParadigm = plan.paradigm
        self.persona_sources = plan.persona_sources
        self.protocol: DecisionProtocol = plan.protocol
        fmt = self.config.reply_format
        self.json_replies = fmt == "json" or (
            fmt == "auto" and self.model.provider.enforces_structured_output
        )
        self._task_text = render_task(self.task)

    # -- public entry points -------------------------------------------------------------

    def run(self) -> DiscussionResult:
        """Run to the end. Works in scripts and inside a running (Jupyter) event loop."""
        return run_sync(self.run_async())

    async def run_async(self) -> DiscussionResult:
        try:
            return await _Run(self).execute()
        finally:
            await self.protocol.aclose()
            if self._owns_model:
                await self.model.aclose()

    async def aclose(self) -> None:
        await self.model.aclose()


@dataclass
class _Spoken:
    """One agent's reply to a step, read, with how the model finished writing it."""

    parsed: ParsedReply
    raw: str
    seen: list[int]
    confidence: float | None = None
    shown: str | None = None  # what receivers see, when not the raw reply
    finish_reason: str | None = None
    looped: bool = False
    read_by: str | None = None


@dataclass
class _Plan:
    paradigm: CompiledParadigm
    persona_sources: list[PersonaSource]
    protocol: DecisionProtocol


def check_config(config: DiscussionConfig, *, build_models: bool = True) -> _Plan:
    """Everything a discussion needs that can be checked without a model: the paradigm compiled
    for the team, the persona sources and the protocol. Bad settings fail here, naming the field.
    With `build_models=False` (a runner's check; each discussion makes its own protocol) models
    named in the protocol's options are validated by id but not built."""
    spec = load_paradigm(config.paradigm)
    if config.paradigm_params:
        spec = spec.with_params(**config.paradigm_params)
    if config.memory_window is not None:
        spec = spec.model_copy(update={"memory_window": config.memory_window}).with_source(
            spec.source
        )
    paradigm = compile_paradigm(spec, n_agents=config.agents, with_drafter=config.drafter)
    sources = config.personas
    per_agent = sources if isinstance(sources, list) else [sources] * len(paradigm.voters)
    if len(per_agent) != len(paradigm.voters):
        raise ConfigError(
            f"{len(per_agent)} persona sources for {len(paradigm.voters)} panelists",
            field="personas",
        )
    persona_sources = [parse_source(src) for src in per_agent]
    token = None if build_models else shared_models.set(named_only)
    try:
        protocol = create_protocol(config.protocol, **config.protocol_options)
    finally:
        if token is not None:
            shared_models.reset(token)
    return _Plan(paradigm, persona_sources, protocol)


def _make_task(question: str, options: Sequence[str] | None) -> Task:
    try:
        return Task(question=question, options=list(options) if options is not None else None)
    except ValidationError as exc:
        raise config_error_from(exc, source="task") from None


def render_task(task: Task) -> str:
    return render(
        "task",
        instruction=task.instruction or _default_instruction(task),
        question=task.question,
        options=task.formatted_options(),
        context=task.context or "",
    )


def discussion_prompt(
    task: Task,
    task_text: str,
    config: DiscussionConfig,
    *,
    mode: str,
    transcript: Sequence[Message],
    current_solution: str,
    reply_json: str,
) -> str:
    """What a panelist is asked: the task, the transcript it sees, the current solution and
    the instruction for its mode (draft, respond, redraft, agreement, revise)."""
    instruction = render(
        "instruction",
        mode=mode,
        style=config.style,
        chain_of_thought=config.chain_of_thought,
        multiple_choice=task.is_multiple_choice,
        reply_json=reply_json,
    )
    return render(
        "discussion",
        task=task_text,
        transcript=transcript,
        current_solution=current_solution,
        instruction=instruction,
    )


def first_prompt(task: Task, config: DiscussionConfig) -> list[ChatMessage]:
    """The smallest prompt a discussion of `task` sends: the first draft, with no transcript
    and no persona. A run checks it against the model's context before any call."""
    text = discussion_prompt(
        task,
        render_task(task),
        config,
        mode="draft",
        transcript=[],
        current_solution="",
        reply_json="",
    )
    return [ChatMessage(role="system", content=""), ChatMessage(role="user", content=text)]


def _default_instruction(task: Task) -> str:
    if task.is_multiple_choice:
        return "Answer the following multiple-choice question by choosing one of the options."
    return "Solve the following task."


def _call_seed(seed: int | None, *parts: object) -> int | None:
    """A stable per-call seed derived from the discussion seed, so reruns repeat exactly."""
    if seed is None:
        return None
    digest = hashlib.sha256(":".join(map(str, (seed, *parts))).encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


class _Run:
    """The mutable state of one execution of a Discussion."""

    def __init__(self, discussion: Discussion):
        self.d = discussion
        self.cfg = discussion.config
        self.paradigm = discussion.paradigm
        self.messages: list[Message] = []
        self.calls: list[CallRecord] = []
        self.decisions: list[Decision] = []
        self.warnings: list[str] = []
        self.agents: dict[str, _Agent] = {}
        self.turn = 0
        self.step = 0
        self._calls_started = 0
        self._seed_counters: dict[tuple[int, str, str], int] = {}
        self.drift = (
            DriftWatcher(discussion.config.drift_judge) if discussion.config.drift_judge else None
        )
        self.challenge: ChallengeResult | None = None
        self._warned_logprobs = False

    # -- the loop ------------------------------------------------------------------------

    async def execute(self) -> DiscussionResult:
        stop: StopReason = "max_turns"
        detail = ""
        final: Decision | None = None
        error: ErrorInfo | None = None
        try:
            await self._make_agents()
            if self.cfg.method != "discussion":
                final, stop = await run_baseline(self)
                detail = final.reason
            else:
                final = await self._loop()
                if final is not None:
                    stop = _stop_reason(self.d.protocol)
                    detail = final.reason
        except BudgetExceeded as exc:
            stop, detail = "budget", str(exc)
        except Exception as exc:
            stop, detail = "error", f"{type(exc).__name__}: {exc}"
            error = ErrorInfo(
                type=type(exc).__name__,
                message=str(exc),
                turn=self.turn,
                step=self.step,
                calls_made=len(self.calls),
            )
        if final is None:
            last_point = self.decisions[-1].reason if self.decisions else None
            final = self.d.protocol.fallback(self._context(final=True))
            self.decisions.append(final)
            if stop == "max_turns":
                # Say what happened: the last decision point's own reason (no vote held, every
                # ballot lost, the judge did not rule, a tie) beside the fallback's.
                detail = final.reason
                if last_point and last_point not in detail:
                    detail += f" (last decision point: {last_point})"
                if final.tie:  # only a vote held at the last turn that tied sets it
                    stop = "max_turns_tie"
        if self.cfg.challenge and error is None and stop != "budget" and final.answer is not None:
            try:
                self.challenge, final = await run_challenge(self, final)
            except BudgetExceeded as exc:
                self.warnings.append(f"challenge skipped: {exc}")
            except Exception as exc:  # the decision stands; the failed challenge is reported
                self.warnings.append(f"challenge failed: {type(exc).__name__}: {exc}")
            if self.challenge is not None and self.challenge.overturned:
                detail += f"; overturned by the challenge to {final.answer}"
        if self.drift is not None:
            await self.drift.aclose()
        usage, by_agent = usage_totals(self.calls)
        return DiscussionResult(
            task=self.d.task,
            answer=final.answer,
            solution=final.solution,
            decided=final.decided,
            stop_reason=stop,
            stop_detail=detail,
            error=error,
            turns=self.turn,
            paradigm=self.paradigm.name if self.cfg.method == "discussion" else self.cfg.method,
            protocol=self.d.protocol.name if self.cfg.method == "discussion" else self.cfg.method,
            style=self.cfg.style,
            seed=self.cfg.seed,
            agents=[a.info for a in self.agents.values()],
            messages=self.messages,
            decisions=self.decisions,
            challenge=self.challenge,
            interventions=self.drift.interventions if self.drift else [],
            calls=self.calls,
            warnings=self.warnings,
            usage=usage,
            usage_by_agent=by_agent,
        )

    async def _loop(self) -> Decision | None:
        per_message = self.paradigm.decision_points == "message"
        turn = 1
        while turn <= self.cfg.max_turns:
            self.turn = turn
            turn_start = len(self.messages)
            steps = self._steps_for(turn)
            decision: Decision | None = None
            for step in steps:
                self.step = step.index + 1
                await self._run_step(turn, step)
                end_of_turn = step is steps[-1]
                last = turn == self.cfg.max_turns and end_of_turn
                early = turn < self.cfg.min_turns or (
                    turn == self.cfg.min_turns and not end_of_turn
                )
                if (
                    per_message
                    and not early
                    and (end_of_turn or self.d.protocol.kind == "consensus")
                ):
                    decision = await self._consult(final=last, end_of_turn=end_of_turn)
                    if decision.decided:
                        return decision
            if not per_message and turn >= self.cfg.min_turns:
                decision = await self._consult(final=turn == self.cfg.max_turns, end_of_turn=True)
                if decision.decided:
                    return decision
            redo = self.drift is not None and turn < self.cfg.max_turns
            if redo and await self.drift.watch(self, turn, turn_start) == "redo":  # type: ignore[union-attr]
                continue  # the same turn again, from where it started
            turn += 1
        return None

    def _steps_for(self, turn: int) -> tuple[CompiledStep, ...]:
        """The paradigm's steps, except that All-Agents Drafting replaces turn 1 with one
        concurrent step in which every panelist drafts blind, delivered to everyone."""
        if turn == 1 and self.cfg.all_agents_drafting:
            voters = self.paradigm.voters
            everyone = self.paradigm.slots
            receivers = {v: tuple(s for s in everyone if s != v) for v in voters}
            return (CompiledStep(0, "all-agents drafting", voters, receivers),)
        return self.paradigm.steps

    async def _consult(self, *, final: bool, end_of_turn: bool) -> Decision:
        decision = await self.d.protocol.consult(
            self._context(final=final, end_of_turn=end_of_turn)
        )
        self.decisions.append(decision)
        if self.d.on_decision:
            self.d.on_decision(decision)
        return decision

    def _context(self, *, final: bool, end_of_turn: bool = True) -> DecisionContext:
        return DecisionContext(
            turn=self.turn,
            max_turns=self.cfg.max_turns,
            final=final,
            end_of_turn=end_of_turn,
            voters=self.paradigm.voters,
            messages=list(self.messages),
            task=self.d.task,
            seed=self.cfg.seed,
            ask=self._ask,
            task_text=self.d._task_text,
            system_prompts={slot: a.system_prompt for slot, a in self.agents.items()},
            persona_names={slot: a.persona.name for slot, a in self.agents.items()},
            visible=lambda agent: self.visible_messages(agent, self.turn),
        )

    async def _run_step(self, turn: int, step: CompiledStep) -> None:
        # Everyone in a step speaks from the same transcript; messages land after the step, so
        # agents speaking together never see each other's message of this step.
        # The solution each speaker is shown; its [AGREE] without an answer agrees with it.
        shown = {s: self._shown_state(s, turn) for s in step.speakers}
        spoken = await gather_all(self._speak(turn, step, s, shown[s]) for s in step.speakers)
        for speaker, said in zip(step.speakers, spoken, strict=True):
            parsed, raw, text = said.parsed, said.raw, said.shown
            bare_agree = parsed.stance is Stance.AGREE and parsed.answer is None
            if text is None:
                text = parsed.shared_text if self.cfg.style == "reasoning" else raw.strip()
            message = Message(
                index=len(self.messages),
                turn=turn,
                step=step.index + 1,
                speaker=speaker,
                text=text,
                raw=raw,
                stance=parsed.stance,
                solution=parsed.solution,
                answer=parsed.answer,
                readable=parsed.readable,
                confidence=said.confidence,
                receivers=list(step.receivers[speaker]),
                visible_message_ids=said.seen,
                agreed_with=shown[speaker].current_answer if bare_agree else None,
                agreed_solution=shown[speaker].current_solution if bare_agree else None,
                finish_reason=said.finish_reason,
                looped=said.looped,
                problems=list(parsed.problems),
                read_by=said.read_by,
            )
            if not parsed.readable:
                self.warnings.append(
                    f"turn {turn} {speaker}: unreadable reply ({'; '.join(parsed.problems)})"
                )
            self.messages.append(message)
            if self.d.on_message:
                self.d.on_message(message, self.agents[speaker].info)

    # -- one agent speaking ----------------------------------------------------------------

    def _delivered(self, agent: str, turn: int) -> list[Message]:
        """Messages delivered to the agent (its own included); in a blind turn, only its own."""
        if turn in self.cfg.blind_turns:  # the judge's guidance still reaches everyone
            return [m for m in self.messages if m.speaker in (agent, JUDGE_SLOT)]
        return [m for m in self.messages if m.speaker == agent or agent in m.receivers]

    def visible_messages(self, agent: str, turn: int) -> list[Message]:
        window = self.paradigm.memory_window
        return [
            m for m in self._delivered(agent, turn) if window is None or m.turn >= turn - window
        ]

    def _shown_state(self, agent: str, turn: int) -> SupportState:
        # The current solution is state, not memory: it is taken from everything delivered to
        # the agent, even beyond the memory window.
        return track_support(self._delivered(agent, turn), self.paradigm.voters)

    async def _speak(
        self, turn: int, step: CompiledStep, slot: str, state: SupportState
    ) -> _Spoken:
        agent = self.agents[slot]
        view = self.visible_messages(slot, turn)
        current = state.current_solution
        if current is None:
            mode = "draft"
        elif slot == self.paradigm.drafter:
            mode = "redraft"  # the drafter revises; it takes no stance and never votes
        else:
            mode = "respond"
        style = self.cfg.style

        json_mode = self.d.json_replies and not (mode == "respond" and style == "splitfreetext")
        cut = looped = structured_read = False

        def prompt(instruction_mode: str) -> str:
            hint = reply_format_hint(self.d.task, stance=instruction_mode == "respond")
            return discussion_prompt(
                self.d.task,
                self.d._task_text,
                self.cfg,
                mode=instruction_mode,
                transcript=view,
                current_solution=current or "",
                reply_json=hint if json_mode else "",
            )

        system = ChatMessage(role="system", content=agent.system_prompt)

        def single(instruction_mode: str) -> Callable[[], list[ChatMessage]]:
            return lambda: [system, ChatMessage(role="user", content=prompt(instruction_mode))]

        async def fitted(build: Callable[[], list[ChatMessage]]) -> list[ChatMessage]:
            # Over the model's context, the oldest messages this agent sees go first; the model
            # layer refuses (stop reason budget) what cannot fit even with none. `build` makes
            # the request from the current `view`.
            nonlocal view
            messages = build()
            if self.cfg.context_overflow != "shrink":
                return messages
            dropped = 0
            while view and not await self.d.model.fits(messages, self.cfg.generation):
                view, dropped = view[1:], dropped + 1
                messages = build()
            if dropped:
                self.warnings.append(
                    f"turn {turn} {slot}: {dropped} oldest message(s) left out to fit the "
                    "model's context"
                )
            return messages

        if mode == "respond" and style == "splitfreetext":
            first = await fitted(single("agreement"))
            feedback = await self._generate(first, slot, "agreement", turn)
            agreement = parse_reply(feedback, self.d.task, expect_stance=True, need_solution=False)
            if agreement.stance is not Stance.DISAGREE:
                # Agreeing (or unreadable) ends here; the solution is not restated.
                first_call = self.calls[-1]
                return _Spoken(
                    ParsedReply(agreement.stance, None, None, feedback.strip(), agreement.problems),
                    feedback,
                    [m.index for m in view],
                    finish_reason=first_call.finish_reason,
                    looped=first_call.looped,
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
            first_call = self.calls[-1]
            cut, looped = first_call.finish_reason == "length", first_call.looped
            output = await self._call(follow, slot, "discussion", turn)
            raw = f"{feedback.strip()}\n\n{output.text.strip()}"
            parsed = parse_reply(raw, self.d.task, expect_stance=True, need_solution=True)
            raw_shown = None
        else:
            messages = await fitted(single(mode))
            schema = (
                reply_schema(
                    self.d.task, stance=mode == "respond", max_tokens=self.cfg.generation.max_tokens
                )
                if json_mode
                else None
            )
            output = await self._call(messages, slot, "discussion", turn, json_schema=schema)
            raw = output.text
            expect = {
                "expect_stance": mode == "respond",
                "need_solution": mode in ("draft", "redraft"),
            }
            structured = parse_json_reply(raw, self.d.task, **expect) if json_mode else None
            parsed = structured or parse_reply(raw, self.d.task, **expect)
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
        parsed = await self._maybe_extract(parsed, raw, slot, turn)
        confidence = None
        if output.mean_logprob is not None:
            confidence = round(100 * math.exp(output.mean_logprob), 1)
        elif getattr(self.d.protocol, "wants_logprobs", False) and not self._warned_logprobs:
            self._warned_logprobs = True
            self.warnings.append(
                f"{self.d.model.model_id} returned no log-probabilities; candidates show no confidence"
            )
        read_by = None
        if parsed.solution is not None:
            if parsed is not before:
                read_by = "extraction"
            elif structured_read:
                read_by = "json"
            else:
                read_by = parsed.read_by
        return _Spoken(
            parsed,
            raw,
            [m.index for m in view],
            confidence,
            raw_shown,
            finish_reason="length" if cut else output.finish_reason,
            looped=looped or output.looped,
            read_by=read_by,
        )

    async def _maybe_extract(
        self, parsed: ParsedReply, raw: str, slot: str, turn: int
    ) -> ParsedReply:
        policy = self.cfg.extraction
        missing = parsed.answer is None and parsed.stance is not Stance.AGREE
        if policy == "never" or (policy == "on_failure" and not missing):
            return parsed
        prompt = render(
            "extraction",
            multiple_choice=self.d.task.is_multiple_choice,
            options=self.d.task.formatted_options(),
            response=raw,
        )
        reply = await self._generate(
            [ChatMessage(role="user", content=prompt)], slot, "extraction", turn
        )
        solution, answer, _ = read_solution(f"Final Solution: {reply.strip()}", self.d.task)
        if answer is None:  # an extraction that explains itself over several lines
            fallback = read_without_solution_line(reply, self.d.task)
            if fallback is None:
                return parsed
            solution, answer = fallback.solution, fallback.answer
        problems = tuple(
            p for p in parsed.problems if "Final Solution" not in p and "options" not in p
        )
        return ParsedReply(parsed.stance, solution, answer, parsed.shared_text, problems)

    # -- model calls -----------------------------------------------------------------------

    def _reserve_call(self, pending: Sequence[CallRecord] = ()) -> None:
        """The one gate every model call of a discussion passes (turns, ballots, judge, drift,
        challenge, extraction, baselines; personas through `PersonaRequest.reserve`, with the
        calls they have made so far as `pending`)."""
        cap = self.cfg.max_calls
        if cap is not None and self._calls_started >= cap:
            raise BudgetExceeded(f"call limit of {cap} reached")
        tokens = sum(c.prompt_tokens + c.completion_tokens for c in [*self.calls, *pending])
        limit = self.cfg.max_total_tokens
        if limit is not None and tokens >= limit:
            raise BudgetExceeded(f"token limit of {limit} reached ({tokens} used)")
        self._calls_started += 1

    async def _generate(self, messages: list[ChatMessage], slot: str, role: str, turn: int) -> str:
        return (await self._call(messages, slot, role, turn)).text

    async def _call(
        self,
        messages: list[ChatMessage],
        slot: str,
        role: str,
        turn: int,
        *,
        json_schema: dict[str, Any] | None = None,
        model: ManagedModel | None = None,
        overrides: dict[str, Any] | None = None,
    ) -> ModelOutput:
        self._reserve_call()
        model = model or self.d.model
        update: dict[str, Any] = dict(overrides or {})
        if self.cfg.seed is not None:
            # Keyed on who asks what, not on completion order, so concurrent steps repeat exactly.
            key = (turn, slot, role)
            self._seed_counters[key] = n = self._seed_counters.get(key, 0) + 1
            update["seed"] = _call_seed(self.cfg.seed, turn, slot, role, n)
        if json_schema is not None and model.provider.structured_output is not None:
            update["json_schema"] = json_schema
        if role == "discussion" and getattr(self.d.protocol, "wants_logprobs", False):
            update["logprobs"] = True
        config: GenerateConfig = self.cfg.generation.model_copy(update=update)
        try:
            output, record = await model.generate(
                messages,
                config,
                role=role,
                agent=slot,
                turn=turn,
                persona=self.agents[slot].persona.name if slot in self.agents else None,
            )
        except ModelCallError as exc:
            if exc.record is not None:
                self.calls.append(exc.record)
            raise
        self.calls.append(record)
        return output

    async def _ask(
        self,
        agent: str,
        messages: list[ChatMessage],
        role: str,
        *,
        json_schema: dict[str, Any] | None = None,
        model: ManagedModel | None = None,
    ) -> str | None:
        """For protocols that elicit ballots: one call as `agent`; None when the call failed."""
        try:
            output = await self._call(
                messages, agent, role, self.turn, json_schema=json_schema, model=model
            )
        except ModelCallError:
            return None
        return output.text

    # -- setting up the team ---------------------------------------------------------------

    async def _make_agents(self) -> None:
        cfg = self.cfg
        # A baseline needs only the first panelist; a discussion needs them all.
        voters = self.paradigm.voters if cfg.method == "discussion" else self.paradigm.voters[:1]
        parsed_sources = self.d.persona_sources
        made: list[Persona] = []
        if self.paradigm.drafter and cfg.method == "discussion":
            self._add_agent(self.paradigm.drafter, DRAFTER_PERSONA, "drafter", voter=False)
        for index, (slot, source) in enumerate(zip(voters, parsed_sources, strict=False)):
            request = PersonaRequest(
                slot=slot,
                index=index,
                task_text=self.d._task_text,
                existing=list(made),
                model=self.d.model,
                config=cfg.generation.model_copy(
                    update={"seed": _call_seed(cfg.seed, "persona", slot)}
                ),
                seed=cfg.seed,
                reserve=self._reserve_call,
            )
            try:
                choice = await source.make(request)
            finally:  # calls made before a budget stop are still accounted
                self.calls.extend(request.calls)
                self.warnings.extend(request.warnings)
            made.append(choice.persona)
            self._add_agent(
                slot, choice.persona, choice.source, voter=True, fallback=choice.fallback
            )
        wants_judge = self.d.protocol.kind == "judge" or self.drift is not None
        if wants_judge and cfg.method == "discussion":
            info = AgentInfo(
                slot=JUDGE_SLOT,
                persona_name=JUDGE_PERSONA.name,
                persona_description=JUDGE_PERSONA.description,
                persona_source="judge",
                voter=False,
            )
            self.agents[JUDGE_SLOT] = _Agent(info, JUDGE_PERSONA, render("judge_system"))

    def _add_agent(
        self, slot: str, persona: Persona, source: str, *, voter: bool, fallback: bool = False
    ) -> None:
        with_role = source != "none"
        system = render(
            "system",
            drafter=not voter,
            persona_name=persona.name if with_role else "",
            persona_description=persona.description if with_role else "",
        )
        info = AgentInfo(
            slot=slot,
            persona_name=persona.name,
            persona_description=persona.description,
            persona_source=source,
            voter=voter,
            persona_fallback=fallback,
        )
        self.agents[slot] = _Agent(info=info, persona=persona, system_prompt=system)


def _stop_reason(protocol: DecisionProtocol) -> StopReason:
    return {"consensus": "consensus", "voting": "vote", "judge": "judge"}[protocol.kind]  # type: ignore[return-value]


def discuss(
    task: str | Task,
    *,
    options: Sequence[str] | None = None,
    model: str | ModelAPI | ManagedModel | None = None,
    **settings: Any,
) -> DiscussionResult:
    """Run one discussion and return its result. See `DiscussionConfig` for the settings."""
    return Discussion(task, options=options, model=model, **settings).run()


async def discuss_async(
    task: str | Task,
    *,
    options: Sequence[str] | None = None,
    model: str | ModelAPI | ManagedModel | None = None,
    **settings: Any,
) -> DiscussionResult:
    return await Discussion(task, options=options, model=model, **settings).run_async()


__all__ = ["Discussion", "ParadigmSpec", "discuss", "discuss_async"]
