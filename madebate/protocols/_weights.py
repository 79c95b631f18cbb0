"""Vote weights: how much one ballot counts, from the voter's confidence and its model.

A ballot's weight is its confidence weight times its model weight.

- Confidence weight (`weights`): `equal` gives every ballot 1 (the plain vote). `stated` asks
  the voter, on the ballot itself, how confident it is that its vote is right (0 to 100; a
  `confidence` field in the ballot's JSON schema, read tolerantly from prose otherwise).
  `logprobs` takes the confidence of the voter's latest discussion message, computed from token
  log-probabilities where the backend returns them (`Message.confidence`). Either confidence is
  recalibrated as ReConcile (Chen et al., ACL 2024) does, on p = confidence / 100:
  p = 1.0 gives 1.0; 0.9 <= p < 1.0 gives 0.8; 0.8 <= p < 0.9 gives 0.5; 0.6 < p < 0.8 gives
  0.3; p <= 0.6 gives 0.1. With `recalibrate: false` the weight is p itself. A confidence that
  cannot be read (absent, out of range, another scale) is never guessed: the ballot gets
  `missing_confidence_weight` (default 0.1, the weight of the lowest confidence, so a voter
  gains nothing by not stating one) and the ballot records that the default was used.
- Model weight (`model_weights: {model: weight}`): the weight of the voter's model, as the
  result records it (`AgentInfo.model`, else the discussion's model id:
  `DecisionContext.agent_models`); every voter's model must be listed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from madebate._errors import ConfigError
from madebate.protocols._ballots import _json_payload

WeightMode = Literal["equal", "stated", "logprobs"]
WEIGHT_MODES = ("equal", "stated", "logprobs")
LOWEST_WEIGHT = 0.1  # ReConcile's weight for a confidence of 0.6 or less
CONFIDENCE_KEY = "confidence"

# "confidence: 85", "Confidence level = 85%", "my confidence is 85/100" (not "confident 2 is
# right": there the number is the vote)
_STATED = re.compile(
    r"\bconfidence\b(?:\s+(?:level|score))?\s*(?:is|of|:|=)?\s*[:=]?\s*"
    r"(?P<value>-?\d+(?:\.\d+)?)\s*(?P<unit>%|/\s*\d+)?",
    re.I,
)
# "90% confident", "85/100 confidence", "95% sure"
_STATED_BEFORE = re.compile(
    r"(?<![\d.])(?P<value>\d+(?:\.\d+)?)\s*(?P<unit>%|/\s*\d+)\s*"
    r"(?:confident|confidence|sure|certain)\b",
    re.I,
)


def recalibrate(confidence: float) -> float:
    """ReConcile's recalibration of a 0-100 confidence into a vote weight (module docstring)."""
    p = confidence / 100
    if p >= 1.0:
        return 1.0
    if p >= 0.9:
        return 0.8
    if p >= 0.8:
        return 0.5
    if p > 0.6:
        return 0.3
    return LOWEST_WEIGHT


def stated_confidence(reply: str) -> tuple[float | None, tuple[int, int] | None]:
    """The 0-100 confidence a ballot reply states, and where it stands in prose (to blank it
    before the ballot is read); (None, None) when none is readable. JSON: a number, or a string
    such as "85" or "85%", under `confidence`. Prose: a number right after "confidence" (a
    percentage or "/100" allowed; "/10" is another scale and not read), or a percentage right
    before "confident", "confidence", "sure" or "certain" ("90% confident")."""
    payload = _json_payload(reply)
    if isinstance(payload, dict) and CONFIDENCE_KEY in payload:
        return _in_range(payload[CONFIDENCE_KEY]), None
    m = _STATED.search(reply) or _STATED_BEFORE.search(reply)
    if m is None:
        return None, None
    unit = (m.group("unit") or "").replace(" ", "")
    if unit not in ("", "%", "/100"):
        return None, m.span()
    return _in_range(m.group("value")), m.span()


def _in_range(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip().removesuffix("%").strip()
        try:
            value = float(text)
        except ValueError:
            return None
    if not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value) if 0 <= value <= 100 else None


def with_confidence(schema: dict[str, Any]) -> dict[str, Any]:
    """A ballot schema that also asks for the voter's confidence (0-100)."""
    props = {
        **schema["properties"],
        CONFIDENCE_KEY: {"type": "number", "minimum": 0, "maximum": 100},
    }
    return {**schema, "properties": props, "required": [*schema["required"], CONFIDENCE_KEY]}


CONFIDENCE_INSTRUCTION = (
    'In the same JSON object, add "confidence": a number from 0 to 100 saying how confident you '
    "are that your ballot picks the correct solution."
)


@dataclass(frozen=True)
class Weight:
    """The weight one ballot got, and how."""

    weight: float
    confidence: float | None  # the 0-100 confidence it came from, where one was read
    note: str


@dataclass(frozen=True)
class VoteWeighting:
    """The `weights`, `recalibrate`, `missing_confidence_weight` and `model_weights` options."""

    mode: WeightMode = "equal"
    recalibrate: bool = True
    missing_confidence_weight: float = LOWEST_WEIGHT
    model_weights: Mapping[str, float] | None = None

    @property
    def active(self) -> bool:
        """Ballots carry weights (otherwise the vote is exactly the unweighted one)."""
        return self.mode != "equal" or self.model_weights is not None

    def check_models(self, voters: Sequence[str], models: Mapping[str, str]) -> None:
        """With `model_weights`, every voter's model must have a weight: checked before any
        ballot is asked for."""
        for voter in voters:
            self._model_weight(voter, models.get(voter))

    def _model_weight(self, voter: str, model: str | None) -> float:
        table = self.model_weights or {}
        if model is None or model not in table:
            listed = ", ".join(table) or "none"
            raise ConfigError(
                f"voter {voter}'s model '{model}' has no weight; listed: {listed}",
                field="protocol_options.model_weights",
            )
        return table[model]

    def weigh(self, voter: str, confidence: float | None, model: str | None) -> Weight:
        """The weight of `voter`'s ballot, from its confidence (0-100, None when unread) and its
        model."""
        notes: list[str] = []
        weight = 1.0
        if self.mode != "equal":
            source = "stated" if self.mode == "stated" else "log-probability"
            if confidence is None:
                weight = self.missing_confidence_weight
                notes.append(f"no readable {source} confidence: default weight {weight:g}")
            elif self.recalibrate:
                weight = recalibrate(confidence)
                notes.append(f"{source} confidence {confidence:g} -> {weight:g} (ReConcile)")
            else:
                weight = confidence / 100
                notes.append(f"{source} confidence {confidence:g} -> {weight:g}")
        if self.model_weights is not None:
            factor = self._model_weight(voter, model)
            notes.append(f"model {model} x {factor:g}")
            weight *= factor
        return Weight(weight, confidence, "; ".join(notes) + f" = {weight:g}")


def model_weight_table(value: Any) -> dict[str, float] | None:
    """The `model_weights` option checked: model id -> finite weight >= 0."""
    if value is None:
        return None
    key = "protocol_options.model_weights"
    if not isinstance(value, Mapping) or not value:
        raise ConfigError(f"must map model ids to weights, got {value!r}", field=key)
    out: dict[str, float] = {}
    for model, w in value.items():
        out[str(model)] = weight_value(w, f"{key}.{model}")
    return out


def weight_value(value: Any, field: str) -> float:
    """A finite number >= 0 (booleans are not numbers here)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
    ):
        raise ConfigError(f"must be a finite number >= 0, got {value!r}", field=field)
    return float(value)
