"""Paradigm specs: who speaks when, who receives what, when to decide, how far back to remember.

A spec is the same pydantic model from YAML or Python. It may be sized by the team (slots
omitted: panelists A1..An, plus the drafter D where the paradigm allows one) or name fixed slots.
Delivery and speakers are *selectors*: slot names, groups and the words below, joined by + and -.

  all       every slot            panel    the panelists A1..An    lead   D if present, else A1
  drafter   D if present, else nobody     last     the last panelist
  self / others / next / prev   relative to the speaker (deliveries only); next and prev go
            round the ring of the step's speakers in schedule order
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, Field, PrivateAttr, field_validator

from madebate._errors import ConfigError
from madebate._text import name_key, quote_name, visible_name
from madebate._yaml import SPEC_CONFIG

Selector = str | list[str]


class _Spec(BaseModel):
    model_config = SPEC_CONFIG


class StepSpec(_Spec):
    """Speakers of one schedule entry. `sequence`: one step per speaker; `together`: one step."""

    speakers: Selector
    """Who speaks: a selector (slots, groups, all, panel, lead, drafter, last; joined by + and -)."""
    mode: Literal["sequence", "together"] = "sequence"
    """sequence: one step per speaker, in order; together: all speak at once in one step."""
    deliver_to: Selector = "all"
    """Who receives each message: a selector, with self, others, next and prev relative to the
    speaker."""
    deliver_to_in_last_round: Selector | None = None
    """Inside a repeat block: the receivers in its last repetition (e.g. debate's last
    sub-round); default: deliver_to."""


MAX_REPEAT = 100
"""The most times one block of steps may repeat in a turn (a paradigm's `repeat`, or the
parameter it names); no real debate comes near it."""
ParamValue = Annotated[int, Field(le=MAX_REPEAT)]


class RepeatSpec(_Spec):
    """Steps repeated a number of times: an integer or the name of a paradigm parameter."""

    repeat: int | str
    """How many times: an integer, or the name of a paradigm parameter (e.g. debate_rounds)."""
    steps: list[StepSpec] = Field(min_length=1)
    """The steps repeated."""


class ParadigmSpec(_Spec):
    """A paradigm: who speaks when, who receives what, when to decide, how far back to look."""

    name: str = Field(min_length=1)
    """The paradigm's name."""
    description: str = ""
    """Free text, shown by `madebate paradigms`."""
    slots: list[str] | None = None
    """Fixed slot names; default: sized by the team (panelists A1..An, and D when a drafter is
    allowed)."""
    groups: dict[str, list[str]] = Field(default_factory=dict)
    """Named groups of slots, for selectors."""
    drafter: Literal["never", "optional"] = "never"
    """Whether the paradigm takes a neutral drafter D (the discussion's `drafter` adds it)."""
    params: dict[str, ParamValue] = Field(default_factory=dict)
    """Parameters with their defaults (e.g. debate_rounds: 2), set by `paradigm_params`."""
    schedule: list[StepSpec | RepeatSpec] = Field(min_length=1)
    """One turn: steps, and blocks of steps repeated."""
    decision_points: Literal["message", "turn"] = "message"
    """When the protocol is consulted: after each message, or once per turn."""
    memory_window: int | None = Field(default=None, ge=0)
    """Past turns an agent sees; default: all."""
    blind: bool = False
    """Declares that no message reaches another agent (every delivery is `self`): independent
    answers, then a vote or a judge. Without it, a paradigm whose messages reach nobody is an
    error; with it, a consensus protocol is (agents that never hear each other cannot agree)."""

    _source: str = PrivateAttr(default="python")

    @field_validator("slots")
    @classmethod
    def _unique_slots(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if len(v) < 2:
                raise ValueError("a paradigm needs at least 2 slots")
            first: dict[str, str] = {}
            for slot in v:
                key = name_key(slot)
                if key in first:
                    what = quote_name(slot)
                    if first[key] != slot:  # say how they differ
                        what = (
                            f"{quote_name(first[key])} and {what} are one name to a reader "
                            "(compared ignoring case, invisible characters and look-alike "
                            "letters)"
                        )
                    raise ValueError(f"duplicate slot name {what}; give each slot its own name")
                first[key] = slot
            for slot in v:
                _check_selector_name(slot, "slot")
        return v

    @field_validator("name")
    @classmethod
    def _visible_name(cls, v: str) -> str:
        return visible_name(v, "the paradigm")

    @field_validator("groups")
    @classmethod
    def _readable_groups(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for group in v:
            _check_selector_name(group, "group")
        return v

    @property
    def source(self) -> str:
        return self._source

    def with_source(self, source: str) -> ParadigmSpec:
        self._source = source
        return self

    def with_params(self, **overrides: int) -> ParadigmSpec:
        """A copy with parameters replaced; an unknown parameter name is an error."""
        for key, value in overrides.items():
            if key not in self.params:
                valid = ", ".join(sorted(self.params)) or "none"
                raise ConfigError(
                    f"paradigm '{self.name}' has no parameter '{key}'; valid: {valid}",
                    source=self.source,
                    field=f"params.{key}",
                )
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"must be a positive integer, got {value!r}",
                    source=self.source,
                    field=f"params.{key}",
                )
        copy = self.model_copy(update={"params": {**self.params, **overrides}})
        return copy.with_source(self.source)


_SELECTOR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _check_selector_name(name: str, what: str) -> None:
    """A slot or group name must be one that selectors can name: an ASCII letter or '_', then
    letters, digits or '_' (so no invisible or look-alike character hides in it)."""
    if not _SELECTOR_NAME.fullmatch(name):
        raise ValueError(
            f"{what} name {quote_name(name)} cannot be named in a selector: a {what} name is "
            "an ASCII letter or '_' followed by ASCII letters, digits or '_' (e.g. A1, red_team)"
        )
