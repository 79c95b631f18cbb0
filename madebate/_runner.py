"""Running an experiment: every cell over the dataset with bounded concurrency, one record per
finished example appended to the run directory, resumable, cached and accounted."""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from madebate._analytics import discussion_analytics
from madebate._cache import CallCache
from madebate._datasets import load_dataset
from madebate._discussion import Discussion, check_config
from madebate._errors import ConfigError
from madebate._experiment import (
    TASK_INSTRUCTIONS,
    Cell,
    ExperimentSpec,
    ModelSpec,
    expand_cells,
    load_experiment,
    parse_experiment,
)
from madebate._model_managed import ManagedModel
from madebate._models import create_provider
from madebate._progress import RunProgress
from madebate._runlog import RunWriter, iter_records
from madebate._scoring import default_metrics, score
from madebate._summary import summarize_records
from madebate._sync import run_sync
from madebate._task import Task


@dataclass
class RunResult:
    run_dir: Path
    summary: dict[str, Any]
    new_records: int
    cache_hits: int = 0
    cache_misses: int = 0
    wall_s: float = 0.0
    skipped: int = 0
    cells: list[str] = field(default_factory=list)


def run_experiment(
    spec: ExperimentSpec | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    cache: bool | None = None,
    progress: bool = False,
) -> RunResult:
    """Run a whole experiment (sync facade; works inside a running notebook loop too)."""
    return run_sync(
        run_experiment_async(spec, out=out, resume=resume, cache=cache, progress=progress)
    )


async def run_experiment_async(
    spec: ExperimentSpec | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    cache: bool | None = None,
    progress: bool = False,
) -> RunResult:
    base_dir = Path.cwd()
    if isinstance(spec, str | Path):
        base_dir = Path(spec).resolve().parent
        spec = load_experiment(spec)
    elif isinstance(spec, dict):
        spec = parse_experiment(spec)
    if spec.dataset.path and not Path(spec.dataset.path).is_absolute():
        # The stored spec must work from anywhere (`madebate run --resume DIR`).
        absolute = str((base_dir / spec.dataset.path).resolve())
        spec = spec.model_copy(
            update={"dataset": spec.dataset.model_copy(update={"path": absolute})}
        )
    cells = expand_cells(spec)
    tasks = _prepare_tasks(spec, base_dir)
    run_dir = Path(resume or out or _default_run_dir(spec))
    writer = RunWriter(
        run_dir,
        # None values too: e.g. `columns.id: null` differs from the default on resume.
        spec=spec.model_dump(mode="json"),
        cells=[{"id": c.id, "overrides": c.overrides} for c in cells],
        resume=resume is not None,
    )
    use_cache = spec.cache if cache is None else cache
    if use_cache is None:
        use_cache = True  # every call is seeded from the experiment seed, so replies repeat
    call_cache = CallCache(spec.cache_path) if use_cache else None
    pool = _ModelPool(call_cache)
    jobs = [
        j for j in _jobs(spec, cells, tasks) if (j.cell.id, j.task.id, j.repeat) not in writer.done
    ]
    skipped = len(cells) * len(tasks) * spec.repeats - len(jobs)
    plans = {c.id: check_config(c.discussion_config(seed=spec.seed)) for c in cells}
    totals = {c.id: len(tasks) * spec.repeats for c in cells}
    display = RunProgress(totals, enabled=progress)
    for r in iter_records(run_dir):
        display.add(r)
    start = time.perf_counter()
    queue: asyncio.Queue[_Job] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    new = 0

    async def worker() -> None:
        nonlocal new
        while True:
            try:
                job = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            try:
                record = await _run_job(job, pool, plans[job.cell.id], spec)
            except Exception as exc:  # recorded and scored wrong, never dropped
                record = _failed_record(job, spec, exc)
            writer.append(record)
            display.add(record)
            new += 1

    try:
        with display:
            workers = [
                asyncio.create_task(worker())
                for _ in range(min(spec.concurrency, max(1, len(jobs))))
            ]
            await asyncio.gather(*workers)
    finally:
        writer.close()
        await pool.aclose()
        if call_cache is not None:
            call_cache.close()
    wall = time.perf_counter() - start
    summary = summarize_records(iter_records(run_dir), [c.id for c in cells])
    summary.update(
        {
            "experiment": spec.name,
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "wall_s": round(wall, 3),
            "new_records": new,
            "cache": {
                "enabled": call_cache is not None,
                "hits": call_cache.hits if call_cache else 0,
                "misses": call_cache.misses if call_cache else 0,
            },
        }
    )
    writer.write_summary(summary)
    return RunResult(
        run_dir=run_dir,
        summary=summary,
        new_records=new,
        wall_s=wall,
        skipped=skipped,
        cache_hits=call_cache.hits if call_cache else 0,
        cache_misses=call_cache.misses if call_cache else 0,
        cells=[c.id for c in cells],
    )


@dataclass(frozen=True)
class _Job:
    cell: Cell
    task: Task
    repeat: int
    seed: int


def _jobs(spec: ExperimentSpec, cells: list[Cell], tasks: list[Task]) -> Iterator[_Job]:
    # Example-major order: every cell advances together, so partial runs compare fairly.
    # Cells with the same seed get the same per-example seeds; a sweep over `seed` changes them.
    for task in tasks:
        for repeat in range(spec.repeats):
            for cell in cells:
                yield _Job(cell, task, repeat, _example_seed(cell.spec.seed, task.id or "", repeat))


def _example_seed(seed: int, example_id: str, repeat: int) -> int:
    """The same example and repeat get the same seed in every cell: paired comparisons."""
    digest = hashlib.sha256(f"{seed}:{example_id}:{repeat}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def _prepare_tasks(spec: ExperimentSpec, base_dir: Path) -> list[Task]:
    tasks = load_dataset(spec.dataset, base_dir=base_dir)
    kind = spec.task.kind or ("multiple_choice" if tasks[0].is_multiple_choice else "free_text")
    if kind in ("multiple_choice", "yes_no"):
        missing = [t.id for t in tasks if not t.is_multiple_choice]
        if missing and kind == "multiple_choice":
            raise ConfigError(
                f"task kind multiple_choice but example(s) {', '.join(map(str, missing[:5]))} have no options",
                field="task.kind",
            )
    instruction = spec.task.instruction or TASK_INSTRUCTIONS[kind]
    prepared = []
    for t in tasks:
        if kind == "yes_no" and not t.is_multiple_choice:
            refs = [{"yes": "A", "no": "B"}.get(r.strip().lower(), r) for r in t.references]
            t = t.model_copy(update={"options": ["Yes", "No"], "references": refs})
        prepared.append(
            t.model_copy(
                update={"instruction": instruction, "metadata": {**t.metadata, "task_kind": kind}}
            )
        )
    return prepared


async def _run_job(job: _Job, pool: _ModelPool, plan: Any, spec: ExperimentSpec) -> dict[str, Any]:
    cell_spec = job.cell.spec
    model = pool.get(cell_spec.model_spec(cell_spec.team.model))
    config = job.cell.discussion_config(seed=job.seed)
    started = time.perf_counter()
    discussion = Discussion(job.task, model=model, config=config, plan=plan)
    result = await discussion.run_async()
    wall = time.perf_counter() - started
    kind = job.task.metadata.get("task_kind", "free_text")
    metric_names = cell_spec.scoring or default_metrics(kind)
    scores = score(result.answer, result.solution, job.task, metric_names)
    usage = result.usage
    return {
        "cell": job.cell.id,
        "example_id": job.task.id,
        "repeat": job.repeat,
        "seed": job.seed,
        "answer": result.answer,
        "solution": result.solution,
        "references": job.task.references,
        "decided": result.decided,
        "stop_reason": result.stop_reason,
        "turns": result.turns,
        "scores": scores,
        "calls": usage.calls,
        "tokens": usage.total_tokens,
        "cache_hits": sum(c.cache_hit for c in result.calls),
        "retries": sum(max(0, c.attempts - 1) for c in result.calls),
        "wall_s": round(wall, 4),
        "error": result.error.model_dump() if result.error else None,
        "analytics": discussion_analytics(result),
        "result": result.model_dump(mode="json"),
    }


def _failed_record(job: _Job, spec: ExperimentSpec, exc: Exception) -> dict[str, Any]:
    kind = job.task.metadata.get("task_kind", "free_text")
    names = job.cell.spec.scoring or default_metrics(kind)
    return {
        "cell": job.cell.id,
        "example_id": job.task.id,
        "repeat": job.repeat,
        "seed": job.seed,
        "answer": None,
        "solution": None,
        "references": job.task.references,
        "decided": False,
        "stop_reason": "error",
        "turns": 0,
        "scores": dict.fromkeys(names, 0.0),
        "calls": 0,
        "tokens": 0,
        "cache_hits": 0,
        "retries": 0,
        "wall_s": 0.0,
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "turn": 0,
            "step": 0,
            "calls_made": 0,
        },
        "analytics": None,
        "result": None,
    }


class _ModelPool:
    """One managed model per distinct model spec, shared by every cell and discussion."""

    def __init__(self, cache: CallCache | None):
        self.cache = cache
        self._models: dict[str, ManagedModel] = {}

    def get(self, spec: ModelSpec) -> ManagedModel:
        key = spec.model_dump_json()
        model = self._models.get(key)
        if model is None:
            options: dict[str, Any] = {}
            if (spec.id or "").startswith("openai/"):
                options = {
                    "base_url": spec.base_url,
                    "timeout_s": spec.timeout_s,
                    "structured_output": spec.structured_output,
                }
                if spec.api_key_env:
                    options["api_key_env"] = spec.api_key_env
            options.update(spec.options)
            model = ManagedModel(
                create_provider(spec.id, **options),
                max_concurrency=spec.max_concurrency,
                max_attempts=spec.max_attempts,
                cache=self.cache,
            )
            self._models[key] = model
        return model

    async def aclose(self) -> None:
        for model in self._models.values():
            await model.aclose()


def _default_run_dir(spec: ExperimentSpec) -> Path:
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "-" for ch in spec.name)
    return Path(os.environ.get("MADEBATE_RUNS", "runs")) / f"{safe}-{stamp}"
