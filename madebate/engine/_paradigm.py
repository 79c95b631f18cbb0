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

import difflib
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from madebate._data import library_dir, library_names
from madebate._errors import ConfigError
from madebate._yaml import read_yaml, validate_model

Selector = str | list[str]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StepSpec(_Spec):
    """Speakers of one schedule entry. `sequence`: one step per speaker; `together`: one step."""

    speakers: Selector
    mode: Literal["sequence", "together"] = "sequence"
    deliver_to: Selector = "all"
    # Inside a repeat block: receivers in its last repetition (e.g. debate's last sub-round).
    deliver_to_in_last_round: Selector | None = None


class RepeatSpec(_Spec):
    """Steps repeated a number of times: an integer or the name of a paradigm parameter."""

    repeat: int | str
    steps: list[StepSpec] = Field(min_length=1)


class ParadigmSpec(_Spec):
    name: str = Field(min_length=1)
    description: str = ""
    slots: list[str] | None = None
    groups: dict[str, list[str]] = Field(default_factory=dict)
    drafter: Literal["never", "optional"] = "never"
    params: dict[str, int] = Field(default_factory=dict)
    schedule: list[StepSpec | RepeatSpec] = Field(min_length=1)
    decision_points: Literal["message", "turn"] = "message"
    memory_window: int | None = Field(default=None, ge=0)

    _source: str = PrivateAttr(default="python")

    @field_validator("slots")
    @classmethod
    def _unique_slots(cls, v: list[str] | None) -> list[str] | None:
        if v is not None:
            if len(v) < 2:
                raise ValueError("a paradigm needs at least 2 slots")
            dupes = sorted({s for s in v if v.count(s) > 1})
            if dupes:
                raise ValueError(f"duplicate slot names: {', '.join(dupes)}")
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


def builtin_paradigms() -> list[str]:
    return library_names("paradigms")


def load_paradigm(name_or_path: str | Path | ParadigmSpec) -> ParadigmSpec:
    """A built-in paradigm by name, or a paradigm YAML file by path. Checked before returning."""
    from madebate.engine._paradigm_compile import check_paradigm

    if isinstance(name_or_path, ParadigmSpec):
        spec = name_or_path
    else:
        text = str(name_or_path)
        path = Path(text)
        if text.endswith((".yaml", ".yml")) or path.is_file():
            spec = _read(path)
        else:
            builtin = library_dir("paradigms") / f"{text}.yaml"
            if not builtin.is_file():
                names = builtin_paradigms()
                near = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
                hint = f" (did you mean '{near[0]}'?)" if near else ""
                raise ConfigError(
                    f"unknown paradigm '{text}'{hint}; built-ins: {', '.join(names)}; "
                    "or give a path to a YAML file",
                    field="paradigm",
                )
            spec = _read(builtin)
    check_paradigm(spec)
    return spec


def _read(path: Path) -> ParadigmSpec:
    data = read_yaml(path)
    return validate_model(ParadigmSpec, data, source=str(path)).with_source(str(path))
