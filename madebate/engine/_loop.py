"""The turn loop: each turn's steps spoken through the speaker into the transcript, the protocol
consulted at the paradigm's decision points, and a turn played again when the drift judge
asks for it."""

from __future__ import annotations

from collections.abc import Callable

from madebate._concurrent import gather_all
from madebate._results import AgentInfo, Decision, Message
from madebate.engine._drift import DriftWatcher
from madebate.engine._paradigm_compile import CompiledStep
from madebate.engine._session import Session
from madebate.engine._speaker import Spoken
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._protocols import DecisionContext

MessageHook = Callable[[Message, AgentInfo], None]
DecisionHook = Callable[[Decision], None]


class TurnLoop:
    """Plays the turns of one session; `turn` and `step` say how far it got, `decisions` holds
    every decision point's outcome in order."""

    def __init__(
        self,
        session: Session,
        *,
        drift: DriftWatcher | None = None,
        on_message: MessageHook | None = None,
        on_decision: DecisionHook | None = None,
    ) -> None:
        self.session = session
        self.drift = drift
        self.on_message = on_message
        self.on_decision = on_decision
        self.decisions: list[Decision] = []
        self.step = 0

    @property
    def turn(self) -> int:
        """The turn in progress (calls made for a protocol or an extension count in it)."""
        return self.session.gate.turn

    @turn.setter
    def turn(self, turn: int) -> None:
        self.session.gate.turn = turn

    async def play(self) -> Decision | None:
        """Play turns until a decision point decides (its decision) or `max_turns` (None)."""
        s = self.session
        cfg, transcript = s.config, s.transcript
        per_message = s.paradigm.decision_points == "message"
        turn = 1
        while turn <= cfg.max_turns:
            self.turn = turn
            turn_start = len(transcript)
            steps = self.steps_for(turn)
            for step in steps:
                self.step = step.index + 1
                await self._run_step(turn, step)
                end_of_turn = step is steps[-1]
                last = turn == cfg.max_turns and end_of_turn
                early = turn < cfg.min_turns or (turn == cfg.min_turns and not end_of_turn)
                if per_message and not early and (end_of_turn or s.protocol.kind == "consensus"):
                    decision = await self.consult(final=last, end_of_turn=end_of_turn)
                    if decision.decided:
                        return decision
            if not per_message and turn >= cfg.min_turns:
                decision = await self.consult(final=turn == cfg.max_turns, end_of_turn=True)
                if decision.decided:
                    return decision
            if self.drift is not None and turn < cfg.max_turns:
                verdict = await self.drift.watch(s, turn, turn_start)
                if verdict.action == "redo":
                    transcript.rewind(turn_start)  # the turn is discarded and played again
                everyone = [slot for slot in s.team if slot != JUDGE_SLOT]
                guidance = verdict.message(index=len(transcript), turn=turn, receivers=everyone)
                if guidance is not None:
                    transcript.add(guidance)
                if verdict.action == "redo":
                    continue  # the same turn again, from where it started
            turn += 1
        return None

    def steps_for(self, turn: int) -> tuple[CompiledStep, ...]:
        """The paradigm's steps, except that All-Agents Drafting replaces turn 1 with one
        concurrent step in which every panelist drafts blind, delivered to everyone."""
        paradigm = self.session.paradigm
        if turn == 1 and self.session.config.all_agents_drafting:
            voters = paradigm.voters
            everyone = paradigm.slots
            receivers = {v: tuple(s for s in everyone if s != v) for v in voters}
            return (CompiledStep(0, "all-agents drafting", voters, receivers),)
        return paradigm.steps

    async def consult(self, *, final: bool, end_of_turn: bool) -> Decision:
        """Consult the protocol now; the decision is recorded and reported."""
        decision = await self.session.protocol.consult(
            self.context(final=final, end_of_turn=end_of_turn)
        )
        self.decisions.append(decision)
        if self.on_decision:
            self.on_decision(decision)
        return decision

    def context(self, *, final: bool, end_of_turn: bool = True) -> DecisionContext:
        """What the protocol sees at a decision point."""
        s = self.session
        return DecisionContext(
            turn=self.turn,
            max_turns=s.config.max_turns,
            final=final,
            end_of_turn=end_of_turn,
            voters=s.paradigm.voters,
            messages=list(s.transcript.messages),
            task=s.task,
            seed=s.config.seed,
            ask=s.gate.ask,
            task_text=s.task_text,
            system_prompts=s.team.system_prompts,
            persona_names=s.team.persona_names,
            visible=lambda agent: s.transcript.visible(agent, self.turn),
            # each voter's model (per-model vote weights): its own, else the discussion's
            agent_models={
                slot: s.team[slot].info.model or s.gate.model.model_id
                for slot in s.paradigm.voters
                if slot in s.team
            },
        )

    async def _run_step(self, turn: int, step: CompiledStep) -> None:
        # Everyone in a step speaks from the same transcript; messages land after the step, so
        # agents speaking together never see each other's message of this step.
        # The solution each speaker is shown; its [AGREE] without an answer agrees with it.
        s = self.session
        transcript, team = s.transcript, s.team
        shown = {slot: transcript.shown(slot, turn) for slot in step.speakers}

        async def speak(slot: str) -> Spoken:
            view = transcript.visible(slot, turn)
            drafter = slot == s.paradigm.drafter
            return await s.speaker.speak(
                turn, slot, team[slot], view, shown[slot].solution, drafter=drafter
            )

        spoken = await gather_all(speak(slot) for slot in step.speakers)
        for slot, said in zip(step.speakers, spoken, strict=True):
            message = said.message(
                index=len(transcript),
                turn=turn,
                step=step.index + 1,
                speaker=slot,
                receivers=step.receivers[slot],
                current=shown[slot],
                style=s.config.style,
            )
            if not said.parsed.readable:
                s.warnings.append(
                    f"turn {turn} {slot}: unreadable reply ({'; '.join(said.parsed.problems)})"
                )
            transcript.add(message)
            if self.on_message:
                self.on_message(message, team[slot].info)
