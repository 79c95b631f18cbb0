"""The settings of one discussion, as a pydantic model shared by Python, the CLI and YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from madebate.engine._paradigm import ParadigmSpec
from madebate.models._model import CRITICAL_MAX_TOKENS, GenerateConfig

ResponseStyle = Literal["simple", "freetext", "splitfreetext", "critical", "reasoning"]
RESPONSE_STYLES: tuple[str, ...] = ("simple", "freetext", "splitfreetext", "critical", "reasoning")


class DriftJudgeConfig(BaseModel):
    """A judge that compares consecutive turns' answers and, when the answer changed and it
    finds the discussion drifting, posts guidance to everyone or has the turn redone."""

    model_config = ConfigDict(extra="forbid")

    model: str | None = None  # a model id; default: the discussion's model
    action: Literal["guide", "redo"] = "guide"
    max_interventions: int = Field(default=2, ge=1, le=20)


class DiscussionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    paradigm: str | ParadigmSpec = "memory"
    paradigm_params: dict[str, int] = Field(default_factory=dict)
    memory_window: int | None = Field(default=None, ge=0)  # overrides the paradigm's own
    agents: int = Field(default=3, ge=2, le=64)
    personas: str | list[str] = "library"  # one source for all, or one per panelist
    drafter: bool = False
    protocol: str = "majority_consensus"
    protocol_options: dict[str, Any] = Field(default_factory=dict)
    style: ResponseStyle = "simple"
    chain_of_thought: bool = True
    max_turns: int = Field(default=5, ge=1, le=100)
    # Turns that must complete before the first decision (0: none); min_turns == max_turns
    # gives fixed-length discussions, decided once at the end.
    min_turns: int = Field(default=0, ge=0, le=100)
    extraction: Literal["never", "on_failure", "always"] = "never"
    # How replies are shaped: "json" asks for {reasoning, stance, answer} as structured output;
    # "auto" does so where the backend enforces a schema (llama.cpp grammar, vLLM, an OpenAI-
    # compatible server declared to support json_schema), plain text with tags otherwise.
    reply_format: Literal["auto", "text", "json"] = "auto"
    generation: GenerateConfig = Field(default_factory=GenerateConfig)
    seed: int | None = None
    # Options of any paradigm
    all_agents_drafting: bool = False  # turn 1: every panelist drafts blind, concurrently
    blind_turns: list[int] = Field(default_factory=list)  # turns where nobody sees the others
    challenge: bool = False  # after the decision, each voter may keep or replace the answer
    drift_judge: DriftJudgeConfig | None = None
    # Baselines at a matched budget: one agent, or k independent samples and a majority vote
    method: Literal["discussion", "single", "self_consistency"] = "discussion"
    samples: int = Field(default=5, ge=1, le=200)
    max_calls: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)
    # When a prompt would not fit the model's context: "shrink" drops the oldest messages an
    # agent sees (a smaller memory window for that prompt), "stop" ends the discussion with
    # stop reason `budget`. A prompt that cannot fit even with no transcript always stops.
    context_overflow: Literal["shrink", "stop"] = "shrink"

    @model_validator(mode="after")
    def _budget_for_style(self) -> DiscussionConfig:
        # Critical replies of real models run a median of about 780 tokens; most exceed 512.
        if "max_tokens" not in self.generation.model_fields_set and self.style == "critical":
            self.generation = self.generation.model_copy(update={"max_tokens": CRITICAL_MAX_TOKENS})
        return self

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
