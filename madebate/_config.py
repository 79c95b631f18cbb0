"""The settings of one discussion, as a pydantic model shared by Python, the CLI and YAML."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from madebate._model import GenerateConfig
from madebate._paradigm import ParadigmSpec

ResponseStyle = Literal["simple", "freetext", "splitfreetext", "critical", "reasoning"]
RESPONSE_STYLES: tuple[str, ...] = ("simple", "freetext", "splitfreetext", "critical", "reasoning")


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
    extraction: Literal["never", "on_failure", "always"] = "never"
    generation: GenerateConfig = Field(default_factory=GenerateConfig)
    seed: int | None = None
    max_calls: int | None = Field(default=None, ge=1)
    max_total_tokens: int | None = Field(default=None, ge=1)

    @model_validator(mode="after")
    def _check_personas(self) -> DiscussionConfig:
        if isinstance(self.personas, list) and len(self.personas) != self.agents:
            raise ValueError(
                f"personas: {len(self.personas)} sources given for {self.agents} agents; "
                "give one source for all, or exactly one per agent"
            )
        return self
