"""The public face of the discussion engine: `Discussion`, `discuss` and `discuss_async`.

A discussion is checked into a `DiscussionPlan` when it is made; running it opens a `Session`
(team, transcript, call gate, speaker) and plays it to a `DiscussionResult`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Unpack

from pydantic import ValidationError

from madebate._errors import ConfigError
from madebate._results import DiscussionResult
from madebate._sync import run_sync
from madebate._task import Task
from madebate._yaml import config_error_from
from madebate.engine._config import DiscussionConfig, DiscussionSettings, config_from
from madebate.engine._loop import DecisionHook, MessageHook
from madebate.engine._paradigm import ParadigmSpec
from madebate.engine._paradigm_compile import CompiledParadigm
from madebate.engine._plan import DiscussionPlan, check_config
from madebate.engine._prompting import render_task
from madebate.engine._run import run_session
from madebate.engine._session import open_session
from madebate.engine._team import check_team_protocol, resolve_team_models
from madebate.models._model import ModelAPI
from madebate.models._model_managed import ManagedModel
from madebate.models._models import ModelSpec, as_managed, model_spec, spec_key
from madebate.protocols._protocols import DecisionProtocol, create_protocol


class Discussion:
    """One multi-agent discussion of one task.

    `plan`: a `DiscussionPlan` from `check_config(config)`, for a runner that checks one
    configuration once and runs it many times (it must match `config`).

    >>> result = Discussion("Capital of France?", options=["Paris", "Rome"], model="scripted").run()
    """

    def __init__(
        self,
        task: str | Task,
        *,
        options: Sequence[str] | None = None,
        model: str | ModelSpec | ModelAPI | ManagedModel | None = None,
        config: DiscussionConfig | None = None,
        on_message: MessageHook | None = None,
        on_decision: DecisionHook | None = None,
        plan: DiscussionPlan | None = None,
        **settings: Unpack[DiscussionSettings],
    ):
        self.task = task if isinstance(task, Task) else _make_task(task, options)
        if config is not None and settings:
            raise ConfigError("give either config= or keyword settings, not both")
        try:
            self.config = config or config_from(settings)
        except ValidationError as exc:
            raise config_error_from(exc, source="discussion settings") from None
        # A model made here from an id is closed when the run ends; one passed in is the caller's.
        self._owns_model = not isinstance(model, (ModelAPI, ManagedModel))
        self.model = as_managed(model)
        self.on_message = on_message
        self.on_decision = on_decision
        if plan is None:
            plan = check_config(self.config)
        else:  # a runner's precompiled plan; the protocol holds per-discussion state
            plan = DiscussionPlan(
                plan.paradigm,
                plan.persona_sources,
                create_protocol(self.config.protocol, **self.config.protocol_options),
            )
        self.plan = plan
        self.paradigm: CompiledParadigm = plan.paradigm
        self.persona_sources = plan.persona_sources
        self.protocol: DecisionProtocol = plan.protocol
        fmt = self.config.reply_format
        self.json_replies = _json_replies(fmt, self.model)
        # A mixed team: each slot's own model (built once per distinct spec, or taken from a
        # run's pool), sampling settings and reply format.
        known = {}
        if isinstance(model, str | ModelSpec | None):
            known[spec_key(model_spec(model))] = self.model
        self.team_models = resolve_team_models(self.config, plan.paradigm, self.model, known=known)
        check_team_protocol(self.config, plan.paradigm, self.protocol, self.team_models)
        for slot, own in self.team_models.models.items():
            self.team_models.json_replies[slot] = _json_replies(fmt, own)
        self._task_text = render_task(self.task)

    # -- public entry points -------------------------------------------------------------

    def run(self) -> DiscussionResult:
        """Run to the end. Works in scripts and inside a running (Jupyter) event loop."""
        return run_sync(self.run_async())

    async def run_async(self) -> DiscussionResult:
        """Run to the end in the running event loop."""
        try:
            session = open_session(
                task=self.task,
                task_text=self._task_text,
                config=self.config,
                plan=self.plan,
                model=self.model,
                json_replies=self.json_replies,
                models=self.team_models,
            )
            return await run_session(
                session, on_message=self.on_message, on_decision=self.on_decision
            )
        finally:
            await self.protocol.aclose()
            await self.team_models.aclose()
            if self._owns_model:
                await self.model.aclose()

    async def aclose(self) -> None:
        """Close the model (a run closes a model it made itself) and the agents' own."""
        await self.team_models.aclose()
        await self.model.aclose()


def _json_replies(reply_format: str, model: ManagedModel) -> bool:
    """Whether replies are asked for as JSON: declared so, or `auto` with a backend that
    enforces structured output."""
    return reply_format == "json" or (
        reply_format == "auto" and model.provider.enforces_structured_output
    )


def _make_task(question: str, options: Sequence[str] | None) -> Task:
    try:
        return Task(question=question, options=list(options) if options is not None else None)
    except ValidationError as exc:
        raise config_error_from(exc, source="task") from None


def discuss(
    task: str | Task,
    *,
    options: Sequence[str] | None = None,
    model: str | ModelSpec | ModelAPI | ManagedModel | None = None,
    **settings: Unpack[DiscussionSettings],
) -> DiscussionResult:
    """Run one discussion and return its result. See `DiscussionConfig` for the settings."""
    return Discussion(task, options=options, model=model, **settings).run()


async def discuss_async(
    task: str | Task,
    *,
    options: Sequence[str] | None = None,
    model: str | ModelSpec | ModelAPI | ManagedModel | None = None,
    **settings: Unpack[DiscussionSettings],
) -> DiscussionResult:
    """`discuss` in the running event loop."""
    return await Discussion(task, options=options, model=model, **settings).run_async()


__all__ = ["Discussion", "DiscussionPlan", "ParadigmSpec", "discuss", "discuss_async"]
