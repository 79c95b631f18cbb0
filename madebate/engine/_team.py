"""The team of one discussion: a persona, a system prompt and a model per slot (the drafter,
the panelists from their persona sources, the judge), seated in that order. In a mixed team
each slot may have its own model and sampling settings (`TeamModels`)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from madebate._errors import ConfigError
from madebate._prompts import render
from madebate._results import AgentInfo
from madebate.engine._config import Agent as AgentConfig
from madebate.engine._config import DiscussionConfig, InlinePersona
from madebate.engine._gate import CallGate, call_seed
from madebate.engine._paradigm_compile import CompiledParadigm
from madebate.engine._personas import (
    Persona,
    PersonaChoice,
    PersonaRequest,
    PersonaSource,
    parse_source,
)
from madebate.models._model import GenerateConfig, ModelAPI
from madebate.models._model_managed import ManagedModel
from madebate.models._models import ModelSpec, as_managed, model_spec, providers, spec_key
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._protocols import DecisionProtocol

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
        self,
        slot: str,
        persona: Persona,
        source: str,
        *,
        voter: bool,
        fallback: bool = False,
        model: str | None = None,
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
            model=model,
        )
        return self._put(Agent(info=info, persona=persona, system_prompt=system))

    def seat_judge(self, persona: Persona | None = None, *, model: str | None = None) -> Agent:
        """Seat the judge (of the judge protocol or the drift judge) outside the panel, with
        the built-in judge persona unless the team's settings give it one."""
        persona = persona or JUDGE_PERSONA
        info = AgentInfo(
            slot=JUDGE_SLOT,
            persona_name=persona.name,
            persona_description=persona.description,
            persona_source="judge" if persona is JUDGE_PERSONA else "inline",
            voter=False,
            model=model,
        )
        system = render("judge_system")
        if persona is not JUDGE_PERSONA:
            system = f"You are {persona.name}: {persona.description}\n\n{system}".strip()
        return self._put(Agent(info, persona, system))

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
    models: TeamModels | None = None,
    judge_model: str | None = None,
) -> None:
    """Seat the drafter (if any), one panelist per voter slot with a persona from its source
    (generated ones through `gate`, by the slot's own model), then the judge (if `judge`;
    `judge_model`: the name of a model of its own that a protocol or the drift judge gives it).
    Seats are kept as they are made: a budget stop part-way leaves the team seated so far."""
    models = models or TeamModels(gate.model)
    if drafter:
        own = models.personas.get(drafter)
        team.seat(
            drafter,
            own or DRAFTER_PERSONA,
            "inline" if own else "drafter",
            voter=False,
            model=models.name(drafter),
        )
    made: list[Persona] = []
    for index, (slot, source) in enumerate(zip(voters, sources, strict=False)):
        request = PersonaRequest(
            slot=slot,
            index=index,
            task_text=task_text,
            existing=list(made),
            model=models.model(slot),
            config=models.generation(slot, gate.config.generation).model_copy(
                update={"seed": call_seed(gate.config.seed, "persona", slot)}
            ),
            seed=gate.config.seed,
            reserve=gate.reserve,
        )
        try:
            choice = await source.make(request)
        finally:  # calls made before a budget stop are still accounted
            gate.record(request.calls)
            warnings.extend(request.warnings)
        made.append(choice.persona)
        team.seat(
            slot,
            choice.persona,
            choice.source,
            voter=True,
            fallback=choice.fallback,
            model=models.name(slot),
        )
    if judge:
        team.seat_judge(
            models.personas.get(JUDGE_SLOT), model=judge_model or models.name(JUDGE_SLOT)
        )


# -- a mixed team: each slot's model, sampling settings and persona --------------------------


@dataclass
class TeamModels:
    """Each slot's model and sampling settings: its own where its agent entry gives them,
    else the discussion's. `owned` are the models built here for this discussion alone (closed
    when it ends); inside a run every model comes from the run's pool and is shared."""

    default: ManagedModel
    models: dict[str, ManagedModel] = field(default_factory=dict)
    generations: dict[str, GenerateConfig] = field(default_factory=dict)
    personas: dict[str, Persona] = field(default_factory=dict)  # drafter's and judge's own
    json_replies: dict[str, bool] = field(default_factory=dict)  # slots with their own model
    owned: list[ManagedModel] = field(default_factory=list)

    def model(self, slot: str) -> ManagedModel:
        return self.models.get(slot, self.default)

    def name(self, slot: str) -> str:
        """The slot's model as results name it (its label, else its id)."""
        return self.model(slot).name

    def generation(self, slot: str, base: GenerateConfig) -> GenerateConfig:
        return self.generations.get(slot, base)

    def distinct(self) -> list[ManagedModel]:
        """Every model the team speaks with, each once."""
        out: dict[int, ManagedModel] = {id(self.default): self.default}
        for m in self.models.values():
            out.setdefault(id(m), m)
        return list(out.values())

    async def aclose(self) -> None:
        for m in self.owned:
            await m.aclose()
        self.owned.clear()


def team_entries(
    config: DiscussionConfig, paradigm: CompiledParadigm
) -> list[tuple[str, str, AgentConfig]]:
    """(slot, field path, agent entry) of every slot with an entry: the panelists of a list of
    agents (in the paradigm's slot order), the drafter's and the judge's."""
    out: list[tuple[str, str, AgentConfig]] = []
    if not isinstance(config.agents, int):
        for index, (slot, entry) in enumerate(zip(paradigm.voters, config.agents, strict=True)):
            out.append((slot, f"agents[{index}]", entry))
    if isinstance(config.drafter, AgentConfig) and paradigm.drafter:
        out.append((paradigm.drafter, "drafter", config.drafter))
    if config.judge is not None:
        out.append((JUDGE_SLOT, "judge", config.judge))
    return out


def check_team(config: DiscussionConfig, paradigm: CompiledParadigm) -> None:
    """What can be checked of the agent entries without building a model: each model's
    provider, and that the drafter's and judge's personas are written out."""
    for _slot, where, entry in team_entries(config, paradigm):
        if entry.model is not None and not isinstance(entry.model, ModelAPI | ManagedModel):
            providers.get(model_spec(entry.model).prefix, field=f"{where}.model")
        if isinstance(entry.persona, InlinePersona):
            _persona(entry.persona, f"{where}.persona")  # a name people can read
        if where in ("drafter", "judge") and isinstance(entry.persona, str):
            raise ConfigError(
                f"'{entry.persona}': the {where}'s persona is written out, {{name, "
                "description}; persona sources (library, expert, ipip, none) are for panelists",
                field=f"{where}.persona",
            )


def resolve_team_models(
    config: DiscussionConfig,
    paradigm: CompiledParadigm,
    default: ManagedModel,
    *,
    known: Mapping[str, ManagedModel] | None = None,
) -> TeamModels:
    """Each slot's model and settings. A model named by an id or spec is built once per
    distinct spec (`known`: specs already built, by `spec_key`: the discussion's own model);
    inside a run it comes from the run's shared pool, built once per run."""
    team = TeamModels(default)
    built: dict[str, ManagedModel] = dict(known or {})
    for slot, where, entry in team_entries(config, paradigm):
        if entry.model is not None:
            team.models[slot] = _agent_model(entry.model, where, built, team.owned)
        if entry.generation is not None:
            given = entry.generation.model_fields_set
            update = {k: getattr(entry.generation, k) for k in given}
            team.generations[slot] = config.generation.model_copy(update=update)
        if isinstance(entry.persona, InlinePersona) and slot in (JUDGE_SLOT, paradigm.drafter):
            team.personas[slot] = _persona(entry.persona, f"{where}.persona")
    _check_model_names(team, {slot: where for slot, where, _ in team_entries(config, paradigm)})
    return team


def check_team_protocol(
    config: DiscussionConfig,
    paradigm: CompiledParadigm,
    protocol: DecisionProtocol,
    team: TeamModels,
) -> None:
    """What the protocol needs of the team, before any call (a weighted vote: a weight for
    every voter's model)."""
    if config.method == "discussion":
        protocol.check_team(paradigm.voters, {v: team.name(v) for v in paradigm.voters})


def _check_model_names(team: TeamModels, wheres: Mapping[str, str]) -> None:
    """Results, usage per model and `model_weights` tell models apart by name (the label, else
    the id): two different models of one team may not share one."""
    seen = {team.default.name: ("model", _identity(team.default))}
    for slot, model in team.models.items():
        where, identity = f"{wheres[slot]}.model", _identity(model)
        first_where, first_identity = seen.setdefault(model.name, (where, identity))
        if first_identity != identity:
            raise ConfigError(
                f"'{model.name}' names two different models ({first_where} and {where}): "
                "results, usage per model and model_weights tell models apart by name; give "
                "each its own label",
                field=where,
            )


def _identity(model: ManagedModel) -> str:
    """What makes a model another one (its call cache identity: id, server, weights file)."""
    try:
        return model.provider.cache_identity
    except OSError:  # a weights file not there yet: the file's name is all there is
        return model.model_id


def _agent_model(
    model: object, where: str, built: dict[str, ManagedModel], owned: list[ManagedModel]
) -> ManagedModel:
    if isinstance(model, ManagedModel | ModelAPI):
        return as_managed(model)  # the caller's object: the caller closes it
    spec = model_spec(model if isinstance(model, ModelSpec) else str(model))
    key = spec_key(spec)
    if key in built:
        return built[key]
    try:
        managed = as_managed(spec)
    except ConfigError as exc:
        message = str(exc)
        prefix = f"field '{exc.field}': " if exc.field else ""
        raise ConfigError(
            message.removeprefix(prefix), field=f"{where}.model", source=exc.source
        ) from None
    built[key] = managed
    if not managed.shared:
        owned.append(managed)
    return managed


def _persona(inline: InlinePersona, where: str = "persona") -> Persona:
    try:
        return Persona(name=inline.name, description=inline.description, expertise=inline.expertise)
    except ValidationError as exc:  # e.g. a name of invisible characters only
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise ConfigError(message, field=f"{where}.name") from None


class InlinePersonaSource(PersonaSource):
    """The persona written out in an agent's entry."""

    name = "inline"

    def __init__(self, persona: InlinePersona, where: str = "persona"):
        self.persona = _persona(persona, where)

    async def make(self, request: PersonaRequest) -> PersonaChoice:
        return PersonaChoice(self.persona, "inline")


def panel_persona_sources(config: DiscussionConfig, n_voters: int) -> list[PersonaSource]:
    """One persona source per panelist: an agent entry's own persona (a source or written
    out), else the discussion's `personas` (one for all, or one per panelist)."""
    given = config.personas
    per_agent = given if isinstance(given, list) else [given] * n_voters
    if len(per_agent) != n_voters:
        raise ConfigError(
            f"{len(per_agent)} persona sources for {n_voters} panelists", field="personas"
        )
    sources: list[PersonaSource] = []
    entries = config.team if not isinstance(config.agents, int) else []
    for index, source in enumerate(per_agent):
        own = entries[index].persona if index < len(entries) else None
        if isinstance(own, InlinePersona):
            sources.append(InlinePersonaSource(own, f"agents[{index}].persona"))
        elif isinstance(own, str):
            try:
                sources.append(parse_source(own))
            except ConfigError as exc:
                message = str(exc).removeprefix(f"field '{exc.field}': " if exc.field else "")
                raise ConfigError(message, field=f"agents[{index}].persona") from None
        else:
            sources.append(parse_source(source))
    return sources
