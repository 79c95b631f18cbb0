"""The settings of one discussion: one pydantic model shared by Python (`discuss(**settings)`),
the command line (`madebate discuss`, whose flags are generated from it) and experiment files
(the `discussion:` block). Each field's docstring is its documentation: `madebate schema` and
`madebate discuss --help` show it."""

from __future__ import annotations

from typing import Any, Literal, TypedDict

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    field_serializer,
    field_validator,
    model_validator,
)

from madebate._errors import ConfigError
from madebate._yaml import SPEC_CONFIG
from madebate.engine._paradigm import MAX_REPEAT, ParadigmSpec
from madebate.models._model import CRITICAL_MAX_TOKENS, GenerateConfig

ResponseStyle = Literal["simple", "freetext", "splitfreetext", "critical", "reasoning"]
RESPONSE_STYLES: tuple[str, ...] = ("simple", "freetext", "splitfreetext", "critical", "reasoning")


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
    agents: int = Field(default=3, ge=2, le=64)
    """Number of panelists."""
    personas: str | list[str] = "library"
    """Persona source: library[:NAME|FILE], expert, ipip or none; one for all panelists, or a
    list with one per panelist."""
    drafter: bool = False
    """Add a neutral drafter (D) that proposes and revises solutions but never votes."""
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
    method: Literal["discussion", "single", "self_consistency"] = "discussion"
    """discussion, or a baseline at a matched budget: one agent (single), or `samples`
    independent answers and a majority vote (self_consistency)."""
    samples: int = Field(default=5, ge=1, le=200)
    """Samples of the self_consistency baseline."""
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
        if isinstance(self.personas, list) and len(self.personas) != self.agents:
            raise ValueError(
                f"personas: {len(self.personas)} sources given for {self.agents} agents; "
                "give one source for all, or exactly one per agent"
            )
        return self

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
    agents: int
    personas: str | list[str]
    drafter: bool
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
    method: Literal["discussion", "single", "self_consistency"]
    samples: int
    max_calls: int | None
    max_total_tokens: int | None
    context_overflow: Literal["shrink", "stop"]


def config_from(settings: DiscussionSettings) -> DiscussionConfig:
    """The config of keyword settings; typed, so mypy checks every value against its field."""
    return DiscussionConfig(**settings)


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
