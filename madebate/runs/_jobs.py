"""The unit of a run: one example of one cell, and how a process turns a list of them into
records. The local runner and every distributed worker use exactly this code, so a record does
not depend on where it was computed."""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from madebate._errors import ConfigError
from madebate._results import ErrorInfo
from madebate._secrets import mask_settings
from madebate._task import Task
from madebate.engine._config import Agent as AgentConfig
from madebate.engine._config import DiscussionConfig
from madebate.engine._discussion import Discussion
from madebate.engine._plan import DiscussionPlan
from madebate.engine._team import check_team_protocol, resolve_team_models
from madebate.models._cache import CallCache
from madebate.models._model_managed import ManagedModel
from madebate.models._models import build_model, model_spec, shared_models, spec_key
from madebate.runs._analytics import discussion_analytics
from madebate.runs._datasets import shuffle_options
from madebate.runs._experiment import Cell, ExperimentSpec, ModelSpec
from madebate.runs._records import RecordKey, RunRecord
from madebate.runs._scoring import default_metrics, score


@dataclass(frozen=True, slots=True)  # slots: a run holds one per example, 100,000 of them
class Job:
    cell: Cell
    task: Task
    repeat: int
    seed: int
    # An ablation job matched to a discussion cell (`_matched.py`): its N and that cell's id.
    refinements: int | None = None
    matched: str | None = None

    @property
    def key(self) -> RecordKey:
        return (self.cell.id, str(self.task.id), self.repeat)


def jobs_for(spec: ExperimentSpec, cells: list[Cell], tasks: list[Task]) -> Iterator[Job]:
    # Example-major order: every cell advances together, so partial runs compare fairly.
    # Cells with the same seed get the same per-example seeds; a sweep over `seed` changes them.
    # With dataset.shuffle_options, each example and repeat shows its options in an order
    # seeded by the cell's seed, example and repeat (the same in cells with the same seed).
    shuffle = spec.dataset.shuffle_options
    for task in tasks:
        for repeat in range(spec.repeats):
            for cell in cells:
                seed = example_seed(cell.spec.seed, task.id or "", repeat)
                yield Job(cell, shuffle_options(task, seed) if shuffle else task, repeat, seed)


def metric_names(job: Job) -> list[str]:
    """The metrics a job is scored by: the experiment's `scoring`, else the dataset file's own
    (BIG-bench `metrics`), else the task kind's defaults."""
    if job.cell.spec.scoring:
        return list(job.cell.spec.scoring)
    named = job.task.metadata.get("file_metrics")
    if isinstance(named, list) and named:
        return [str(m) for m in named]
    return default_metrics(job.task.metadata.get("task_kind", "free_text"))


def example_seed(seed: int, example_id: str, repeat: int) -> int:
    """The same example and repeat get the same seed in every cell: paired comparisons."""
    digest = hashlib.sha256(f"{seed}:{example_id}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


# Settings that do not change what a cell's discussions are: how and where the run goes (and
# the dataset's source, whose examples carry their own fingerprints). `repeats` adds or drops
# repeats; each repeat's record stands on its own.
_RUN_ONLY = {
    "name",
    "description",
    "dataset",
    "repeats",
    "concurrency",
    "deadline_s",
    "cache",
    "cache_path",
    "sweep",
    "teams",  # a cell's own team is applied to its discussion and model; the others are not its
}
# A model's settings for how calls are made, not what they answer.
_CALL_MECHANICS = (
    "api_key_env",
    "timeout_s",
    "max_concurrency",
    "max_attempts",
    "retry_initial_s",
    "retry_max_s",
    "retry_after_max_s",
)
# Metadata the runner adds to an example: the cell's, not the example's content.
_RUNNER_METADATA = ("task_kind", "file_metrics")


def cell_settings(cell: Cell) -> dict[str, Any]:
    """The cell's resolved settings that decide its discussions, as plain JSON: everything of
    its spec but how the run goes (name, concurrency, deadline, cache, repeats) and the
    dataset's source (the examples have fingerprints of their own), and the model's call
    mechanics (timeouts, retries, concurrency: raising a timeout to finish a run is fine)."""
    settings = cell.spec.model_dump(mode="json", exclude=_RUN_ONLY)
    model = settings.get("model")
    if isinstance(model, dict):
        settings["model"] = {k: v for k, v in model.items() if k not in _CALL_MECHANICS}
    settings["dataset"] = {"shuffle_options": cell.spec.dataset.shuffle_options}
    # A key in a URL is a credential, not a setting: a rotated key is the same cell.
    return mask_settings(settings)


def cell_fingerprint(cell: Cell) -> str:
    """A hash of `cell_settings`: equal exactly when the settings are."""
    return _digest(cell_settings(cell))


def example_fingerprint(task: Task) -> str:
    """A hash of an example's content (question, options, context, references, its metadata),
    as read from the dataset: the instruction and task kind are the cell's."""
    data = task.model_dump(mode="json", exclude={"instruction"})
    metadata = data.get("metadata") or {}
    data["metadata"] = {k: v for k, v in metadata.items() if k not in _RUNNER_METADATA}
    return _digest(data)


def _digest(data: object) -> str:
    text = json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class ModelPool:
    """One managed model per distinct model spec, shared by every cell and discussion."""

    def __init__(self, cache: CallCache | None):
        self.cache = cache
        self._models: dict[str, ManagedModel] = {}

    def get(self, spec: ModelSpec) -> ManagedModel:
        key = spec_key(spec)
        model = self._models.get(key)
        if model is None:
            model = build_model(spec, cache=self.cache)
            model.shared = True
            self._models[key] = model
        return model

    def prepare(self, cells: list[Cell]) -> None:
        """Builds every model a cell names (the panel's, each agent's own, a judge's, the drift
        judge's) now, so a bad provider setting (a missing key, an unknown option) fails the
        run before anything is written, not as an error record per example."""
        for cell in cells:
            self.get(cell.spec.model_spec())
            options = cell.spec.discussion.protocol_options
            if isinstance(options.get("model"), str):
                # Built as the protocol asks for it (see _judge.py), so it is the same entry.
                base_url = options.get("base_url")
                self.get(
                    model_spec(options["model"], **({"base_url": base_url} if base_url else {}))
                )
            drift = cell.spec.discussion.drift_judge
            if drift is not None and drift.model is not None:
                self.get(model_spec(drift.model))
            for where, agent in _entries_by_path(cell.spec.discussion):
                if isinstance(agent.model, str | ModelSpec):  # a mixed team's own models
                    try:
                        self.get(model_spec(agent.model))
                    except ConfigError as exc:  # say whose model it is (a judge's, agents[2]'s)
                        message = str(exc).removeprefix(f"field '{exc.field}': ")
                        raise ConfigError(message, field=f"discussion.{where}.model") from None

    def check_teams(
        self, cells: list[Cell], plans: dict[str, DiscussionPlan], *, source: str | None = None
    ) -> None:
        """Each cell's team with the models its discussions will get: two different models
        under one name, or a weighted vote with no weight for a voter's model, fail the run
        here, before any call, not once per example."""
        token = shared_models.set(self.get)
        try:
            for cell in cells:
                config, plan = cell.spec.discussion, plans[cell.id]
                try:
                    default = self.get(cell.spec.model_spec())
                    team = resolve_team_models(config, plan.paradigm, default)
                    check_team_protocol(config, plan.paradigm, plan.protocol, team)
                except ConfigError as exc:
                    raise ConfigError(f"in sweep cell {cell.id}: {exc}", source=source) from None
        finally:
            shared_models.reset(token)

    async def start(self) -> None:
        """Loads every model's weights or engine (a worker does this before taking work)."""
        for model in self._models.values():
            await model.start()

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()


def _entries_by_path(discussion: DiscussionConfig) -> list[tuple[str, AgentConfig]]:
    """Every agent entry (`DiscussionConfig.agent_entries`) with its path in the settings."""
    agents = discussion.agents
    out = [] if isinstance(agents, int) else [(f"agents[{i}]", a) for i, a in enumerate(agents)]
    if isinstance(discussion.drafter, AgentConfig):
        out.append(("drafter", discussion.drafter))
    if discussion.judge is not None:
        out.append(("judge", discussion.judge))
    return out


async def run_job(job: Job, pool: ModelPool, plan: DiscussionPlan) -> RunRecord:
    cell_spec = job.cell.spec
    model = pool.get(cell_spec.model_spec())
    config = job.cell.discussion_config(seed=job.seed)
    if job.refinements is not None:
        config = config.model_copy(update={"refinements": job.refinements})
    started = time.perf_counter()
    discussion = Discussion(job.task, model=model, config=config, plan=plan)
    result = await discussion.run_async()
    if job.matched is not None:
        result.stop_detail += (
            f" ({job.refinements} refinements: the messages of cell {job.matched} for this example)"
        )
    wall = time.perf_counter() - started
    calls = result.calls
    return RunRecord(
        cell=job.cell.id,
        example_id=str(job.task.id),
        repeat=job.repeat,
        seed=job.seed,
        answer=result.answer,
        solution=result.solution,
        references=job.task.references,
        decided=result.decided,
        stop_reason=result.stop_reason,
        turns=result.turns,
        scores=score(result.answer, result.solution, job.task, metric_names(job)),
        calls=result.usage.calls,
        tokens=result.usage.total_tokens,
        cache_hits=sum(c.cache_hit for c in calls),
        retries=sum(max(0, c.attempts - 1) for c in calls),
        # Calls that failed for good (a ballot the protocol did without, say) and replies the
        # server cut at max_tokens: the discussion went on, but the numbers say so.
        failed_calls=sum(c.error is not None for c in calls),
        truncated=sum(c.finish_reason == "length" for c in calls),
        looped=sum(c.looped for c in calls),
        unreadable=sum(not m.readable for m in result.messages),
        wall_s=round(wall, 4),
        error=result.error,
        analytics=discussion_analytics(result),
        result=result,
    )


def failed_record(job: Job, exc: BaseException) -> RunRecord:
    """The record of an example whose discussion raised: no answer, every metric 0.0."""
    names = metric_names(job)
    return RunRecord(
        cell=job.cell.id,
        example_id=str(job.task.id),
        repeat=job.repeat,
        seed=job.seed,
        answer=None,
        solution=None,
        references=job.task.references,
        decided=False,
        stop_reason="error",
        turns=0,
        scores=dict.fromkeys(names, 0.0),
        calls=0,
        tokens=0,
        cache_hits=0,
        retries=0,
        failed_calls=0,
        truncated=0,
        looped=0,
        unreadable=0,
        wall_s=0.0,
        error=ErrorInfo(type=type(exc).__name__, message=str(exc), turn=0, step=0, calls_made=0),
        analytics=None,
        result=None,
    )


async def run_jobs(
    jobs: list[Job],
    *,
    pool: ModelPool,
    plans: dict[str, DiscussionPlan],
    concurrency: int,
    emit: Callable[[RunRecord], None],
) -> None:
    """Runs the jobs with at most `concurrency` discussions in flight and hands each record to
    `emit` the moment it is complete. A failing example becomes an error record, never a lost
    one; cancellation (Ctrl-C, a deadline) stops the in-flight ones without a record."""
    queue: asyncio.Queue[Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)

    async def worker() -> None:
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                record = await run_job(job, pool, plans[job.cell.id])
            except Exception as exc:  # recorded and scored wrong, never dropped
                record = failed_record(job, exc)
            emit(record)

    token = shared_models.set(pool.get)  # inherited by the worker tasks made below
    try:
        async with asyncio.TaskGroup() as group:
            for _ in range(min(concurrency, max(1, len(jobs)))):
                group.create_task(worker())
    finally:
        shared_models.reset(token)
