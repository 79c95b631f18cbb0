"""The team of one discussion: a persona and a system prompt per slot (the drafter, the
panelists from their persona sources, the judge), seated in that order."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from madebate._prompts import render
from madebate._results import AgentInfo
from madebate.engine._gate import CallGate
from madebate.engine._personas import Persona, PersonaRequest, PersonaSource
from madebate.protocols._judge import JUDGE_SLOT

JUDGE_PERSONA = Persona(name="Judge", description="An impartial judge outside the panel.")

DRAFTER_PERSONA = Persona(
    name="Neutral Drafter", description="Writes and revises the solution from the panel's feedback."
)


@dataclass(frozen=True)
class Agent:
    """One seat: who it is (as recorded in the result), its persona and its system prompt."""

    info: AgentInfo
    persona: Persona
    system_prompt: str


class Team:
    """The agents of one discussion by slot, in the order they were seated."""

    def __init__(self) -> None:
        self._agents: dict[str, Agent] = {}
        self.system_prompts: dict[str, str] = {}  # slot -> system prompt (do not modify)
        self.persona_names: dict[str, str] = {}  # slot -> persona name (do not modify)

    def __getitem__(self, slot: str) -> Agent:
        return self._agents[slot]

    def __contains__(self, slot: object) -> bool:
        return slot in self._agents

    def __iter__(self) -> Iterator[str]:
        return iter(self._agents)

    def __len__(self) -> int:
        return len(self._agents)

    def infos(self) -> list[AgentInfo]:
        """Each seated agent as the result records it."""
        return [a.info for a in self._agents.values()]

    def seat(
        self, slot: str, persona: Persona, source: str, *, voter: bool, fallback: bool = False
    ) -> Agent:
        """Seat a panelist (`voter`) or the drafter with its persona."""
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
        return self._put(Agent(info=info, persona=persona, system_prompt=system))

    def seat_judge(self) -> Agent:
        """Seat the judge (of the judge protocol or the drift judge) outside the panel."""
        info = AgentInfo(
            slot=JUDGE_SLOT,
            persona_name=JUDGE_PERSONA.name,
            persona_description=JUDGE_PERSONA.description,
            persona_source="judge",
            voter=False,
        )
        return self._put(Agent(info, JUDGE_PERSONA, render("judge_system")))

    def _put(self, agent: Agent) -> Agent:
        slot = agent.info.slot
        self._agents[slot] = agent
        self.system_prompts[slot] = agent.system_prompt
        self.persona_names[slot] = agent.persona.name
        return agent


async def seat_team(
    team: Team,
    *,
    drafter: str | None,
    voters: Sequence[str],
    sources: Sequence[PersonaSource],
    judge: bool,
    task_text: str,
    gate: CallGate,
    warnings: list[str],
) -> None:
    """Seat the drafter (if any), one panelist per voter slot with a persona from its source
    (generated ones through `gate`), then the judge (if `judge`). Seats are kept as they are
    made: a budget stop part-way leaves the team seated so far."""
    if drafter:
        team.seat(drafter, DRAFTER_PERSONA, "drafter", voter=False)
    made: list[Persona] = []
    for index, (slot, source) in enumerate(zip(voters, sources, strict=False)):
        request = PersonaRequest(
            slot=slot,
            index=index,
            task_text=task_text,
            existing=list(made),
            model=gate.model,
            config=gate.seeded("persona", slot),
            seed=gate.config.seed,
            reserve=gate.reserve,
        )
        try:
            choice = await source.make(request)
        finally:  # calls made before a budget stop are still accounted
            gate.record(request.calls)
            warnings.extend(request.warnings)
        made.append(choice.persona)
        team.seat(slot, choice.persona, choice.source, voter=True, fallback=choice.fallback)
    if judge:
        team.seat_judge()
