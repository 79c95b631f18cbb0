"""A discussion's plan: what can be worked out from its settings before any model is called,
so that bad settings fail early, naming the field."""

from __future__ import annotations

from dataclasses import dataclass

from madebate._errors import ConfigError
from madebate.engine._config import DiscussionConfig
from madebate.engine._paradigm_compile import (
    CompiledParadigm,
    check_protocol_fits,
    compile_paradigm,
)
from madebate.engine._paradigm_library import load_paradigm
from madebate.engine._personas import PersonaSource, warn_shared_personas
from madebate.engine._team import check_team, panel_persona_sources
from madebate.models._models import named_only, shared_models
from madebate.protocols._protocols import DecisionProtocol, create_protocol


@dataclass
class DiscussionPlan:
    """Everything a discussion needs that is checked without a model: the paradigm compiled
    for the team, one persona source per panelist, and the decision protocol.

    Made by `check_config`. A runner checks each configuration once and passes the plan to
    every `Discussion` of it (`Discussion(..., plan=plan)`); each discussion then makes its own
    protocol from the settings, since a protocol holds per-discussion state.
    """

    paradigm: CompiledParadigm
    persona_sources: list[PersonaSource]
    protocol: DecisionProtocol


def check_config(config: DiscussionConfig, *, build_models: bool = True) -> DiscussionPlan:
    """The plan of a discussion with these settings. Bad settings fail here, naming the field.
    With `build_models=False` (a runner's check; each discussion makes its own protocol) models
    named in the protocol's options are validated by id but not built."""
    spec = load_paradigm(config.paradigm)
    if config.paradigm_params:
        spec = spec.with_params(**config.paradigm_params)
    if config.memory_window is not None:
        spec = spec.model_copy(update={"memory_window": config.memory_window}).with_source(
            spec.source
        )
    entries = config.agents
    if spec.slots is not None and not isinstance(entries, int) and len(entries) != len(spec.slots):
        raise ConfigError(
            f"{len(entries)} agent entries for paradigm '{spec.name}', which has "
            f"{len(spec.slots)} slots ({', '.join(spec.slots)}); give one entry per slot",
            field="agents",
        )
    paradigm = compile_paradigm(
        spec, n_agents=config.n_agents, with_drafter=config.drafter is not False
    )
    persona_sources = panel_persona_sources(config, len(paradigm.voters))
    warn_shared_personas(persona_sources, paradigm.voters)
    check_team(config, paradigm)
    token = None if build_models else shared_models.set(named_only)
    try:
        protocol = create_protocol(config.protocol, **config.protocol_options)
    finally:
        if token is not None:
            shared_models.reset(token)
    check_protocol_fits(paradigm, config.protocol, protocol.kind)
    return DiscussionPlan(paradigm, persona_sources, protocol)
