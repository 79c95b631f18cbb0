"""The settings of one discussion: one pydantic model shared by Python (`discuss(**settings)`),
the command line (`madebate discuss`, whose flags are generated from it) and experiment files
(the `discussion:` block). Each field's docstring is its documentation: `madebate schema` and
`madebate discuss --help` show it."""

from __future__ import annotations

from typing import Annotated, Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    SerializerFunctionWrapHandler,
    Tag,
    field_serializer,
    field_validator,
    model_validator,
)
from pydantic.json_schema import SkipJsonSchema

from madebate._errors import ConfigError
from madebate._yaml import SPEC_CONFIG
from madebate.engine._paradigm import MAX_REPEAT, ParadigmSpec
from madebate.models._model import CRITICAL_MAX_TOKENS, GenerateConfig, ModelAPI
from madebate.models._model_managed import ManagedModel
from madebate.models._models import ModelSpec, providers

ResponseStyle = Literal["simple", "freetext", "splitfreetext", "critical", "reasoning"]
RESPONSE_STYLES: tuple[str, ...] = ("simple", "freetext", "splitfreetext", "critical", "reasoning")


class InlinePersona(BaseModel):
    """A persona written out where an agent is configured: a name and a description."""

    model_config = SPEC_CONFIG

    name: str = Field(min_length=1, max_length=300)
    """The persona's name, as the result records it."""
    description: str = ""
    """Who the persona is; the agent's system prompt shows it."""
    expertise: list[str] = Field(default_factory=list)
    """Areas of expertise (kept with the persona)."""


def _persona_kind(value: Any) -> str | None:
    if isinstance(value, str):
        return "str"
    return "InlinePersona" if isinstance(value, dict | InlinePersona) else None


# A persona source's name, or a persona written out; tagged, so an error in a written-out
# persona names its key (persona.descr), not the other form's "should be a valid string".
PersonaSetting = Annotated[
    Annotated[str, Tag("str")] | Annotated[InlinePersona, Tag("InlinePersona")],
    Discriminator(
        _persona_kind,
        custom_error_type="persona_type",
        custom_error_message="a persona is a source's name (library[:NAME|FILE], expert, "
        "ipip, none) or written out as {name, description}",
    ),
]


class Agent(BaseModel):
    """One agent of a team (a panelist, the drafter or the judge): its model, persona and
    sampling settings. What is not given is the discussion's: its model, its persona source,
    its `generation`.

    >>> Agent(model={"id": "openai/gpt-4o-mini", "base_url": "http://127.0.0.1:8000/v1"},
    ...       persona="expert", generation={"temperature": 0.7})  # doctest: +SKIP
    """

    model_config = ConfigDict(**SPEC_CONFIG, arbitrary_types_allowed=True)

    model: ModelSpec | str | SkipJsonSchema[ModelAPI | ManagedModel] | None = None
    """The agent's model: an id (openai/NAME, vllm/NAME, llamacpp[/FILE.gguf], scripted) or a
    model spec with its own base_url and options; in Python also a model object. Default: the
    discussion's model."""
    persona: PersonaSetting | None = None
    """A persona source for this agent (library[:NAME|FILE], expert, ipip, none) or an inline
    persona {name, description}; default: the discussion's `personas`."""
    generation: GenerateConfig | None = None
    """Sampling settings that override the discussion's for this agent's calls (temperature,
    max_tokens, top_p, ...); settings not given are the discussion's."""

    @field_validator("model")
    @classmethod
    def _known_provider(cls, v: Any) -> Any:
        # Named here, so the error names the entry's path (agents[2].model), as given.
        if isinstance(v, str | ModelSpec):
            prefix = (v if isinstance(v, ModelSpec) else ModelSpec(id=v)).prefix
            try:
                providers.get(prefix)
            except ConfigError as exc:
                raise ValueError(str(exc)) from None
        return v

    @field_serializer("model")
    def _model_as_data(self, model: Any) -> Any:
        # A model object (Python only) is recorded by name; specs and ids as they are.
        if isinstance(model, ModelAPI | ManagedModel):
            return model.model_id
        return model

    @field_serializer("generation", mode="wrap")
    def _overrides_only(
        self, generation: GenerateConfig | None, handler: SerializerFunctionWrapHandler
    ) -> Any:
        # Only the settings given: a dump that wrote the rest (the default max_tokens of 1024)
        # would pin them, and read back (a resume from spec.yaml) they would no longer follow
        # the discussion's (its max_tokens, 2048 in the critical style).
        data = handler(generation)
        if isinstance(data, dict) and generation is not None:
            given = generation.model_fields_set
            data = {k: v for k, v in data.items() if k in given}
        return data


def _agents_kind(value: Any) -> str:
    return "list" if isinstance(value, list | tuple) else "int"


# The integer form (a count of panelists sharing the discussion's settings) or one entry per
# panelist. Tagged, so an error in an entry names its path (agents[2].model), not both forms'.
AgentsSetting = Annotated[
    Annotated[int, Field(ge=2, le=64), Tag("int")]
    | Annotated[list[Agent], Field(min_length=2, max_length=64), Tag("list")],
    Discriminator(_agents_kind),
]


def _drafter_kind(value: Any) -> str:
    return "Agent" if isinstance(value, dict | Agent) else "bool"


# A switch, or the drafter's own entry; tagged, so an error in the entry names its key.
DrafterSetting = Annotated[
    Annotated[bool, Tag("bool")] | Annotated[Agent, Tag("Agent")], Discriminator(_drafter_kind)
]


class TeamConfig(BaseModel):
    """A named team of an experiment (`teams:`), swept by name (`sweep: {team: [a, b]}`): the
    team settings it gives replace the discussion's, `model` the panel's default model."""

    model_config = SPEC_CONFIG

    model: ModelSpec | str | None = None
    """The team's default model (agents without their own use it); default: the experiment's."""
    agents: AgentsSetting | None = None
    """A number of panelists, or one entry per panelist; default: the discussion's."""
    personas: str | list[str] | None = None
    """Persona sources, as the discussion's `personas`; default: the discussion's."""
    drafter: DrafterSetting | None = None
    """The drafter, as the discussion's `drafter`; default: the discussion's."""
    judge: Agent | None = None
    """The judge, as the discussion's `judge`; default: the discussion's."""


class DriftJudgeConfig(BaseModel):
    """A judge that compares consecutive turns' answers and, when the answer changed and it
    finds the discussion drifting, posts guidance to everyone or has the turn redone."""

    model_config = SPEC_CONFIG

    model: str | None = None
    """The judge's model id; default: the discussion's model."""
    action: Literal["guide", "redo"] = "guide"
    """`guide` posts the judge's guidance to everyone; `redo` has the drifting turn redone."""
    max_interventions: int = Field(default=2, ge=1, le=20)
    """At most this many interventions per discussion."""


class DiscussionConfig(BaseModel):
    """Every setting of one discussion. Defaults live here and only here."""

    model_config = SPEC_CONFIG

    paradigm: str | ParadigmSpec = "memory"
    """Who speaks when and who hears whom: a built-in paradigm (memory, relay, report, debate,
    collective_refinement), a paradigm YAML file, or an inline paradigm."""
    paradigm_params: dict[str, int] = Field(default_factory=dict)
    """The paradigm's own parameters, e.g. {debate_rounds: 3}."""
    memory_window: int | None = Field(default=None, ge=0)
    """Past turns an agent sees; default: the paradigm's own."""
    agents: AgentsSetting = 3
    """Number of panelists, or one entry per panelist, each with its own model, persona and
    generation (a mixed team): [{model: openai/NAME, persona: expert}, ...]."""
    personas: str | list[str] = "library"
    """Persona source: library[:NAME|FILE], expert, ipip or none; one for all panelists, or a
    list with one per panelist."""
    drafter: DrafterSetting = False
    """Add a neutral drafter (D) that proposes and revises solutions but never votes; an agent
    entry ({model, persona, generation}) gives it its own settings (persona: an inline one)."""
    protocol: str = "majority_consensus"
    """The decision protocol, e.g. majority_consensus, simple_voting, ranked_voting, judge."""
    protocol_options: dict[str, Any] = Field(default_factory=dict)
    """The protocol's options, e.g. {tie_break: random} or a judge's {model: openai/NAME}."""
    style: ResponseStyle = "simple"
    """Response style of the agents' prompts."""
    chain_of_thought: bool = True
    """Ask agents to reason step by step before they answer."""
    max_turns: int = Field(default=5, ge=1, le=100)
    """Upper bound on turns."""
    min_turns: int = Field(default=0, ge=0, le=100)
    """Turns that must complete before the first decision (0: none); min_turns equal to
    max_turns gives fixed-length discussions, decided once at the end."""
    extraction: Literal["never", "on_failure", "always"] = "never"
    """A second 'extract the solution' call per reply: never, when a reply cannot be read
    (on_failure), or always."""
    reply_format: Literal["auto", "text", "json"] = "auto"
    """How replies are shaped: json asks for {reasoning, stance, answer} as structured output;
    auto does so where the backend enforces a schema (llama.cpp grammar, vLLM, an OpenAI-
    compatible server with structured_output), plain text with tags otherwise."""
    generation: GenerateConfig = Field(default_factory=GenerateConfig)
    """Sampling settings of every call (max_tokens, temperature, top_p, ...). max_tokens
    defaults to 1024, and to 2048 in the critical style."""
    seed: int | None = None
    """Seed of the discussion's calls and random choices (persona picks, candidate order, tie
    breaks); the same seed repeats a discussion exactly where the backend allows it."""
    all_agents_drafting: bool = False
    """Turn 1: every panelist drafts a solution blind, concurrently."""
    blind_turns: list[int] = Field(default_factory=list)
    """Turns in which nobody sees the others' messages."""
    challenge: bool = False
    """After the decision, each voter may keep or replace the answer."""
    drift_judge: DriftJudgeConfig | None = None
    """A judge that watches for problem drift and intervenes; none by default."""
    judge: Agent | None = None
    """The judge's settings (of the judge protocol and the drift judge): {model, persona,
    generation}, persona an inline one; default: the discussion's model and the built-in judge.
    A model in protocol_options or drift_judge takes precedence over this one."""
    method: Literal["discussion", "single", "self_consistency", "ablation"] = "discussion"
    """discussion, or a baseline at a matched budget: one agent (single), `samples`
    independent answers and a majority vote (self_consistency), or one agent refining its own
    solution `refinements` times (ablation, MALLM's `use_ablation`)."""
    samples: int = Field(default=5, ge=1, le=200)
    """Samples of the self_consistency baseline."""
    refinements: int | None = Field(default=None, ge=1, le=1000)
    """Refinements of the ablation baseline (the first drafts, each later one improves the
    previous solution). Default: in a sweep, the number of messages the matched discussion
    cell (same settings, method discussion) used for the same example and repeat; otherwise
    max_turns x agents."""
    max_calls: int | None = Field(default=None, ge=1)
    """Model calls a discussion may make (every call counts); stops with `budget`."""
    max_total_tokens: int | None = Field(default=None, ge=1)
    """Prompt plus completion tokens a discussion may use; stops with `budget`."""
    context_overflow: Literal["shrink", "stop"] = "shrink"
    """When a prompt would not fit the model's context: shrink drops the oldest messages an
    agent sees, stop ends the discussion with stop reason `budget`. A prompt that cannot fit
    even with no transcript always stops."""

    @field_validator("paradigm_params")
    @classmethod
    def _bounded_params(cls, v: dict[str, int]) -> dict[str, int]:
        for name, value in v.items():
            if value > MAX_REPEAT:
                raise ValueError(f"{name}: {value} is over the bound of {MAX_REPEAT}")
        return v

    @model_validator(mode="after")
    def _budget_for_style(self) -> DiscussionConfig:
        # Critical replies of real models run a median of about 780 tokens; most exceed 512.
        # The bump is a default, not a setting: it stays out of `model_fields_set` (and out of
        # dumps, see `_serialize`), so a config composed from this one with another style, a
        # sweep cell or the CLI's flags over a --config file, gets that style's default.
        if "max_tokens" not in self.generation.model_fields_set:
            budget = CRITICAL_MAX_TOKENS if self.style == "critical" else None
            default = GenerateConfig.model_fields["max_tokens"].default
            wanted = budget or default
            if self.generation.max_tokens != wanted:
                was_set = "generation" in self.model_fields_set
                generation = self.generation.model_copy(update={"max_tokens": wanted})
                generation.__pydantic_fields_set__.discard("max_tokens")
                self.generation = generation
                if not was_set:
                    self.__pydantic_fields_set__.discard("generation")
        return self

    @field_serializer("generation", mode="wrap")
    def _serialize(self, generation: GenerateConfig, handler: SerializerFunctionWrapHandler) -> Any:
        # A max_tokens nobody set is the style's default: a dump that wrote it would pin it,
        # and the dump read back in another style (a resumed run's sweep cell) would keep it.
        data = handler(generation)
        if isinstance(data, dict) and "max_tokens" not in generation.model_fields_set:
            data.pop("max_tokens", None)
        return data

    @model_validator(mode="after")
    def _check_turns(self) -> DiscussionConfig:
        if self.min_turns > self.max_turns:
            raise ValueError(f"min_turns ({self.min_turns}) is above max_turns ({self.max_turns})")
        return self

    @model_validator(mode="after")
    def _check_baseline_options(self) -> DiscussionConfig:
        if self.method != "discussion" and self.challenge:
            raise ValueError(
                f"challenge: applies to discussions, not to the {self.method} baseline (it would change its call budget)"
            )
        return self

    @model_validator(mode="after")
    def _check_personas(self) -> DiscussionConfig:
        if isinstance(self.personas, list) and len(self.personas) != self.n_agents:
            raise ValueError(
                f"personas: {len(self.personas)} sources given for {self.n_agents} agents; "
                "give one source for all, or exactly one per agent"
            )
        return self

    @property
    def n_agents(self) -> int:
        """The number of panelists, in either form of `agents`."""
        return self.agents if isinstance(self.agents, int) else len(self.agents)

    @property
    def team(self) -> list[Agent]:
        """One entry per panelist: the ones given, or empty entries (the discussion's
        settings) in the integer form."""
        if isinstance(self.agents, int):
            return [Agent() for _ in range(self.agents)]
        return list(self.agents)

    def agent_entries(self) -> list[Agent]:
        """Every agent entry given: the panelists', the drafter's and the judge's."""
        entries = [] if isinstance(self.agents, int) else list(self.agents)
        if isinstance(self.drafter, Agent):
            entries.append(self.drafter)
        if self.judge is not None:
            entries.append(self.judge)
        return entries

    def settings(self) -> dict[str, Any]:
        """The settings as given (JSON-ready), without the defaults: what composes with other
        settings (a sweep cell, flags over a file) and what a run directory records."""
        return self.model_dump(mode="json", exclude_unset=True)


class DiscussionSettings(TypedDict, total=False):
    """`DiscussionConfig`'s fields as keyword arguments: `discuss(task, **settings)`. Kept equal
    to the model's fields by a test; mypy checks each value against the field's type."""

    paradigm: str | ParadigmSpec
    paradigm_params: dict[str, int]
    memory_window: int | None
    agents: int | list[Agent]
    personas: str | list[str]
    drafter: bool | Agent
    protocol: str
    protocol_options: dict[str, Any]
    style: ResponseStyle
    chain_of_thought: bool
    max_turns: int
    min_turns: int
    extraction: Literal["never", "on_failure", "always"]
    reply_format: Literal["auto", "text", "json"]
    generation: GenerateConfig
    seed: int | None
    all_agents_drafting: bool
    blind_turns: list[int]
    challenge: bool
    drift_judge: DriftJudgeConfig | None
    judge: Agent | None
    method: Literal["discussion", "single", "self_consistency", "ablation"]
    samples: int
    refinements: int | None
    max_calls: int | None
    max_total_tokens: int | None
    context_overflow: Literal["shrink", "stop"]


def config_from(settings: DiscussionSettings) -> DiscussionConfig:
    """The config of keyword settings; typed, so mypy checks every value against its field."""
    return DiscussionConfig(**settings)


def agent_from_pairs(pairs: dict[str, Any], *, field: str) -> dict[str, Any]:
    """An agent entry from flat settings (the command line's `--agent model=...,persona=...`):
    `model` is the model's id, any other `ModelSpec` field a model setting (`options.NAME` a
    provider option), `persona` a
    persona source (`persona_name`, `persona_description`: an inline persona), and a
    `GenerateConfig` field a sampling setting. `field` names the entry in errors."""
    model: dict[str, Any] = {}
    generation: dict[str, Any] = {}
    entry: dict[str, Any] = {}
    model_keys = set(ModelSpec.model_fields) - {"id"}
    generation_keys = set(GenerateConfig.model_fields) - {"json_schema", "seed"}
    for key, value in pairs.items():
        if key == "model":
            model["id"] = value
        elif key.startswith("options.") and len(key) > len("options."):
            model.setdefault("options", {})[key.removeprefix("options.")] = value
        elif key in model_keys:
            model[key] = value
        elif key in generation_keys:
            generation[key] = value
        elif key == "persona":
            entry["persona"] = value
        elif key in ("persona_name", "persona_description"):
            persona = entry.get("persona")
            persona = persona if isinstance(persona, dict) else {}
            persona[key.removeprefix("persona_")] = value
            entry["persona"] = persona
        else:
            valid = ["model", "options.NAME", "persona", "persona_name", "persona_description"]
            valid += sorted(model_keys) + sorted(generation_keys)
            raise ConfigError(f"unknown key '{key}'; valid keys: {', '.join(valid)}", field=field)
    # Two ways to give one thing: the later would silently replace the earlier.
    if "persona" in pairs and {"persona_name", "persona_description"} & set(pairs):
        raise ConfigError(
            "persona (a persona source) and persona_name/persona_description (a persona "
            "written out) both given; give one of them",
            field=f"{field}.persona",
        )
    if "options" in pairs and any(k.startswith("options.") for k in pairs):
        raise ConfigError(
            "options and options.NAME both given; give the provider options one way",
            field=f"{field}.model.options",
        )
    if model:
        entry["model"] = model
    if generation:
        entry["generation"] = generation
    return entry


def set_path(data: dict[str, Any], dotted: str, value: Any, *, field: str | None = None) -> None:
    """Sets `a.b.c` in nested mappings, making the sections that are missing (validation of
    the result names any unknown key). `field` names the setting in errors."""
    parts = dotted.split(".")
    if not all(parts):
        raise ConfigError(f"'{dotted}' is not a dotted path (e.g. max_turns or generation.seed)")
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"'{part}' is not a section", field=field or dotted)
        node = child
    node[parts[-1]] = value
