"""Running an experiment: every cell over the dataset with bounded concurrency, one record per
finished example appended to the run directory, resumable, cached and accounted."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from madebate._errors import ConfigError
from madebate._files import os_problem
from madebate._secrets import masked_fields
from madebate._sync import run_sync
from madebate._task import Task
from madebate._text import safe_slug
from madebate.engine._plan import DiscussionPlan, check_config
from madebate.engine._prompting import first_prompt
from madebate.models._cache import CacheFileError, CallCache, default_cache_path
from madebate.models._model_managed import ManagedModel
from madebate.models._models import named_only
from madebate.runs._datasets import DatasetInfo, load_dataset_info
from madebate.runs._experiment import (
    TASK_INSTRUCTIONS,
    Cell,
    ExperimentSpec,
    ModelSpec,
    expand_cells,
    load_experiment,
    parse_experiment,
)
from madebate.runs._jobs import (
    Job,
    ModelPool,
    cell_fingerprint,
    cell_settings,
    example_fingerprint,
    jobs_for,
    metric_names,
    run_jobs,
)
from madebate.runs._load import read_summary_file
from madebate.runs._matched import matched_cells, resolve_matched, split_matched
from madebate.runs._metrics_resources import check_examples, check_metrics
from madebate.runs._progress import RunProgress
from madebate.runs._records import CacheCounts, RunRecord, RunSummary, StopKind
from madebate.runs._runlog import Fingerprints, RunWriter, iter_latest_records, latest_records
from madebate.runs._summary import summarize_records


@dataclass
class RunResult:
    run_dir: Path
    summary: RunSummary  # as written to summary.json
    new_records: int
    cache_hits: int = 0
    cache_misses: int = 0
    wall_s: float = 0.0
    skipped: int = 0
    cells: list[str] = field(default_factory=list)
    # None when every example has a record; "deadline" when `deadline_s` cut the run short.
    stopped: str | None = None
    remaining: int = 0
    # Cells run afresh on resume (`restart_changed`), with what changed in their settings.
    restarted: dict[str, list[str]] = field(default_factory=dict)


def run_experiment(
    spec: ExperimentSpec | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    cache: bool | None = None,
    progress: bool = False,
    executor: Executor | None = None,
    restart_changed: bool = False,
) -> RunResult:
    """Run a whole experiment (sync facade; works inside a running notebook loop too)."""
    return run_sync(
        run_experiment_async(
            spec,
            out=out,
            resume=resume,
            cache=cache,
            progress=progress,
            executor=executor,
            restart_changed=restart_changed,
        )
    )


class Executor(Protocol):
    """Where the examples run. The local executor runs them in this process; a distributed one
    (`madebate.runs._executor_ray`) ships them to workers. Either hands each finished record to `emit`
    as it completes, in this process, so the run directory is written in one place.

    Optional: `cache_counts() -> (enabled, hits, misses)` for the summary's cache line, and
    `summary_extra() -> dict` for `RunSummary` fields of its own (the Ray executor's
    `executor` and per-worker `workers`)."""

    async def execute(
        self,
        spec: ExperimentSpec,
        jobs: list[Job],
        plans: dict[str, DiscussionPlan],
        emit: Callable[[RunRecord], None],
    ) -> None: ...

    def prepare(self, spec: ExperimentSpec, cells: list[Cell]) -> None:
        """Checks what can be checked before the run directory is touched (models build)."""

    async def aclose(self) -> None: ...


class LocalExecutor:
    """Every example in this process, `spec.concurrency` discussions at a time."""

    def __init__(self, cache: bool | None = None):
        self._cache_choice = cache
        self.call_cache: CallCache | None = None
        self.pool = ModelPool(None)

    def prepare(self, spec: ExperimentSpec, cells: list[Cell]) -> None:
        use_cache = spec.cache if self._cache_choice is None else self._cache_choice
        if use_cache is None:
            use_cache = True  # every call is seeded from the experiment seed, so replies repeat
        if use_cache:
            self.call_cache = open_cache(spec.cache_path)
        self.pool = ModelPool(self.call_cache)
        self.pool.prepare(cells)

    async def execute(
        self,
        spec: ExperimentSpec,
        jobs: list[Job],
        plans: dict[str, DiscussionPlan],
        emit: Callable[[RunRecord], None],
    ) -> None:
        await run_jobs(jobs, pool=self.pool, plans=plans, concurrency=spec.concurrency, emit=emit)

    def cache_counts(self) -> tuple[bool, int, int]:
        c = self.call_cache
        return (c is not None, c.hits if c else 0, c.misses if c else 0)

    def cache_off(self) -> str | None:
        """Why the call cache was turned off during the run (None: it was not)."""
        return self.call_cache.off if self.call_cache is not None else None

    async def aclose(self) -> None:
        await self.pool.aclose()
        if self.call_cache is not None:
            self.call_cache.close()


def open_cache(path: str | None) -> CallCache:
    try:
        return CallCache(path)
    except (OSError, sqlite3.Error) as exc:
        # A damaged file holds only cached replies: deleting it loses no result.
        fix = "delete it or give" if isinstance(exc, CacheFileError) else "give"
        why = os_problem(exc) if isinstance(exc, OSError) else str(exc)
        raise ConfigError(
            f"cannot open the call cache {path or default_cache_path()}: {why}; {fix} a "
            "writable file in cache_path, or run with --no-cache",
            field="cache_path",
        ) from None


async def run_experiment_async(
    spec: ExperimentSpec | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    resume: str | Path | None = None,
    cache: bool | None = None,
    progress: bool = False,
    executor: Executor | None = None,
    restart_changed: bool = False,
) -> RunResult:
    """`run_experiment` for async code: runs every cell's examples and writes the run directory.

    Each record carries the fingerprints of its cell's settings and its example's content. On
    resume, a cell whose settings changed is refused (a ConfigError naming what changed), or
    with `restart_changed` runs afresh; an example whose content changed runs again; one no
    longer in the dataset leaves the summary."""
    base_dir = Path.cwd()
    source: str | None = None
    if isinstance(spec, str | Path):
        base_dir = Path(spec).resolve().parent
        source = str(spec)
        spec = load_experiment(spec)
    elif isinstance(spec, dict):
        spec = parse_experiment(spec)
    masked = masked_fields(spec.model_dump(mode="json"))
    if masked:  # a run directory's spec.yaml, whose URL keys were masked when written
        raise ConfigError(
            f"the key in this URL was masked (***) when the run directory was written, so it "
            f"cannot be used; resume with the experiment file: madebate run EXPERIMENT.yaml "
            f"--resume {resume or 'RUN_DIR'}",
            source=source or (str(Path(resume) / "spec.yaml") if resume else None),
            field=masked[0],
        )
    if spec.dataset.path and not Path(spec.dataset.path).is_absolute():
        # The stored spec must work from anywhere (`madebate run --resume DIR`).
        absolute = str((base_dir / spec.dataset.path).resolve())
        spec = spec.model_copy(
            update={"dataset": spec.dataset.model_copy(update={"path": absolute})}
        )
    # Everything that can fail on a bad spec, dataset or provider setting fails here, before the
    # run directory is created or locked and before any model is called.
    cells = expand_cells(spec)
    tasks = _prepare_tasks(spec, base_dir, source)
    # A metric whose library, data or weights are missing would score every example 0: say so.
    check_scoring(cells, tasks, spec.dataset.path, source)
    plans = {
        c.id: check_config(c.discussion_config(seed=spec.seed), build_models=False) for c in cells
    }
    matches = matched_cells(cells)
    fingerprints = Fingerprints(
        cells={c.id: cell_fingerprint(c) for c in cells},
        settings={c.id: cell_settings(c) for c in cells},
        examples={str(t.id): example_fingerprint(t) for t in tasks},
        repeats=spec.repeats,
    )
    executor = executor or LocalExecutor(cache)
    try:
        executor.prepare(spec, cells)
        if isinstance(executor, LocalExecutor):  # (on Ray, each discussion checks its own)
            executor.pool.check_teams(cells, plans, source=source)
        # Locally with the models themselves (their tokenizers and windows); for an executor
        # whose models live elsewhere, against the windows the spec gives, estimated.
        model_for = executor.pool.get if isinstance(executor, LocalExecutor) else configured_window
        await check_context(cells, tasks, model_for, spec.dataset.path, source)
        run_dir = Path(resume or out or default_run_dir(spec.name))
        writer = RunWriter(
            run_dir,
            # None values too: e.g. `columns.id: null` differs from the default on resume.
            spec=spec.model_dump(mode="json"),
            cells=[{"id": c.id, "overrides": c.overrides} for c in cells],
            resume=resume is not None,
            fingerprints=fingerprints,
            restart_changed=restart_changed,
        )
    except BaseException:
        await executor.aclose()
        raise
    new = 0
    stopped: StopKind | None = None
    # The run's wall time adds up its sessions': the earlier ones as the last summary says.
    earlier = _earlier_sessions(run_dir) if resume is not None else None
    started_at: str | None = datetime.now(UTC).isoformat(timespec="seconds")
    if earlier is not None:
        started_at = earlier.started_at  # None: that run began before schema 2 recorded it
    start = time.perf_counter()
    jobs: list[Job] = []
    try:
        jobs = [j for j in jobs_for(spec, cells, tasks) if j.key not in writer.done]
        totals = {c.id: len(tasks) * spec.repeats for c in cells}
        display = RunProgress(totals, enabled=progress)
        if display.enabled:  # the earlier sessions' records, streamed: none is kept
            for r in iter_latest_records(run_dir, fingerprints):
                if not r.failed:
                    display.add(r)

        def emit(record: RunRecord) -> None:
            nonlocal new
            # Stamped here, where every executor's records arrive: what they were made of.
            record = record.model_copy(
                update={
                    "cell_fingerprint": fingerprints.cells.get(record.cell),
                    "example_fingerprint": fingerprints.examples.get(record.example_id),
                }
            )
            writer.append(record)
            display.add(record)
            new += 1

        with display:
            deadline = asyncio.timeout(spec.deadline_s)
            try:
                async with deadline:
                    # Matched ablation jobs wait for their discussions' message counts.
                    now, later = split_matched(jobs, matches)
                    await executor.execute(spec, now, plans, emit)
                    if later:
                        done = latest_records(run_dir, fingerprints)
                        ready, unmatched = resolve_matched(later, matches, done)
                        for record in unmatched:
                            emit(record)
                        await executor.execute(spec, ready, plans, emit)
            except TimeoutError:
                if not deadline.expired():
                    raise  # some other timeout, not the run's deadline
                stopped = "deadline"
            except (asyncio.CancelledError, KeyboardInterrupt):
                stopped = "interrupted"  # for the summary written below; the stop goes on
                raise
            except BaseExceptionGroup:
                if writer.failure is not None:  # a full disk, as the writer says it
                    raise writer.failure from None
                raise
    finally:
        # Also on Ctrl-C or a crash: the records written so far are summarised and kept. The
        # summary is written first, while the directory is still locked (a resume waiting for
        # it cannot start early and be overwritten), and before a slow executor shutdown.
        wall = time.perf_counter() - start
        cell_summaries = summarize_records(
            iter_latest_records(run_dir, fingerprints), [c.id for c in cells]
        ).cells
        # Optional executor hooks: cache counts, and fields of its own (a distributed executor's
        # per-worker throughput).
        counts = getattr(executor, "cache_counts", None)
        enabled, hits, misses = counts() if counts is not None else (False, 0, 0)
        extra = getattr(executor, "summary_extra", None)
        summary = RunSummary(
            cells=cell_summaries,
            experiment=spec.name,
            started_at=started_at,
            finished_at=datetime.now(UTC).isoformat(timespec="seconds"),
            wall_s=round(wall, 3),
            run_wall_s=round(wall + _earlier_wall(earlier), 3),
            sessions=1 + _earlier_count(earlier),
            new_records=new,
            complete=len(writer.done) == len(cells) * len(tasks) * spec.repeats,
            stopped=stopped,
            cache=CacheCounts(
                enabled=enabled,
                hits=hits,
                misses=misses,
                off=executor.cache_off() if isinstance(executor, LocalExecutor) else None,
            ),
            **(extra() if extra is not None else {}),
        )
        try:
            writer.write_summary(summary)  # a full disk: said, and the directory still freed
        finally:
            try:
                await executor.aclose()
            finally:
                writer.close()
    return RunResult(
        run_dir=run_dir,
        summary=summary,
        new_records=new,
        wall_s=wall,
        skipped=len(cells) * len(tasks) * spec.repeats - len(jobs),
        cache_hits=hits,
        cache_misses=misses,
        cells=[c.id for c in cells],
        stopped=stopped,
        remaining=len(jobs) - new,
        restarted=writer.restarted,
    )


def _prepare_tasks(spec: ExperimentSpec, base_dir: Path, source: str | None = None) -> list[Task]:
    return prepare_tasks(spec, base_dir, source)[0]


def prepare_tasks(
    spec: ExperimentSpec, base_dir: Path, source: str | None = None
) -> tuple[list[Task], DatasetInfo]:
    """The examples as the runner discusses them (instruction, task kind and, where the file
    names them, its metrics in metadata), and what the file says about itself. An error in
    examples given inline (or one naming only the dataset file) names the experiment file too."""
    try:
        tasks, info = load_dataset_info(spec.dataset, base_dir=base_dir)
    except ConfigError as exc:
        if exc.source is not None or source is None:
            raise
        raise ConfigError(str(exc), source=source) from None
    kind = (
        spec.task.kind
        or info.kind
        or ("multiple_choice" if tasks[0].is_multiple_choice else "free_text")
    )
    # The file's metrics hold for the kind it names, not for another one set in task.kind.
    file_metrics = info.metrics if kind == (info.kind or kind) else None
    # So does a preset's instruction.
    info.instruction = info.instruction if kind == (info.kind or kind) else None
    info.kind, info.metrics = kind, file_metrics
    if kind in ("multiple_choice", "yes_no"):
        missing = [t.id for t in tasks if not t.is_multiple_choice]
        if missing and kind == "multiple_choice":
            raise ConfigError(
                f"task kind multiple_choice but example(s) {', '.join(map(str, missing[:5]))} have no options",
                field="task.kind",
                source=source,
            )
    # Options and a kind that does not read them: the references are option letters, which
    # a Yes/No, a number or free text never matches (every answer would score 0).
    mismatched = [
        t
        for t in tasks
        if t.is_multiple_choice
        and (
            kind not in ("multiple_choice", "yes_no")
            or (kind == "yes_no" and len(t.options or ()) != 2)
        )
    ]
    if mismatched:
        ids = ", ".join(str(t.id) for t in mismatched[:5])
        got = f"{len(mismatched[0].options or ())} options"
        fits = "two (Yes and No)" if kind == "yes_no" else "none"
        raise ConfigError(
            f"task kind {kind} but example(s) {ids} have {got} (the kind takes {fits}), and "
            "their references are option letters that its answers never match; set task.kind "
            "to multiple_choice, or give examples that fit the kind",
            field="task.kind",
            source=source,
        )
    instruction = spec.task.instruction or info.instruction or TASK_INSTRUCTIONS[kind]
    # In place: each example as read is dropped as its prepared copy is made, so a dataset of
    # 100,000 examples is not held twice at once. The copies share one set of field names per
    # kind of example (pydantic keeps one per instance, about 470 bytes: 47 MB over 100,000
    # examples); a Task is frozen, so nothing adds to it, and a copy of it gets its own.
    names: dict[frozenset[str], set[str]] = {}
    for i, t in enumerate(tasks):
        if kind == "yes_no" and not t.is_multiple_choice:
            refs = [{"yes": "A", "no": "B"}.get(r.strip().lower(), r) for r in t.references]
            t = t.model_copy(update={"options": ["Yes", "No"], "references": refs})
        metadata = {**t.metadata, "task_kind": kind}
        if file_metrics:
            metadata["file_metrics"] = list(file_metrics)
        fields = frozenset(t.model_fields_set | {"instruction", "metadata"})
        tasks[i] = Task.model_construct(  # t is valid already; so are the two values added
            names.setdefault(fields, set(fields)),
            **{**dict(t), "instruction": instruction, "metadata": metadata},
        )
    return tasks, info


def check_scoring(
    cells: list[Cell], tasks: list[Task], dataset: str | None, source: str | None
) -> None:
    """A metric that reads a field of each example (IFEval's instructions) fails the run
    before any model call on an example without it, naming the example and the dataset; so
    does a metric whose library, data or weights are missing (`MissingResource`). Either
    would otherwise score every example 0."""
    names = {m for c in cells for t in tasks[:1] for m in metric_names(Job(c, t, 0, 0))}
    try:
        check_examples(names, tasks)
    except ConfigError as exc:
        raise ConfigError(str(exc), source=dataset or source) from None
    check_metrics(names)


async def check_context(
    cells: list[Cell],
    tasks: list[Task],
    model_for: Callable[[ModelSpec], ManagedModel],
    dataset: str | None,
    source: str | None,
) -> None:
    """An example whose first prompt cannot fit the model's context, even with no transcript,
    fails the run before any model call (not as a budget stop per example, hours later)."""
    for cell in cells:
        model = model_for(cell.spec.model_spec())
        window = await model.context_window()
        if window is None:
            continue
        config = cell.discussion_config(seed=None)
        over: list[tuple[str, int]] = []
        for task in tasks:
            messages = first_prompt(task, config)
            if not await model.fits(messages, config.generation):
                over.append((str(task.id), await model.provider.count_tokens(messages)))
        if over:
            shown = ", ".join(f"{i!r} (about {n})" for i, n in over[:5])
            more = f" and {len(over) - 5} more" if len(over) > 5 else ""
            raise ConfigError(
                f"{dataset or 'dataset'}: {len(over)} example(s) need more prompt tokens than fit "
                f"with a {config.generation.max_tokens}-token reply in the context window of "
                f"{window} of {model.model_id} (cell {cell.id}): example {shown}{more}; "
                "shorten or drop them, lower generation.max_tokens, or use a model with a longer "
                "context",
                source=source or dataset,
                field="dataset",
            )


def configured_window(spec: ModelSpec) -> ManagedModel:
    """A stand-in for a model that is not built here, with the spec's `context_window`."""
    return named_only(spec)


def default_run_dir(name: str) -> Path:
    """runs/<name as a safe slug>-<stamp>: never starting with '-' (the CLI would read the
    directory as an option), 'run' where the name holds nothing safe."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    return Path(os.environ.get("MADEBATE_RUNS", "runs")) / f"{safe_slug(name)}-{stamp}"


def _earlier_sessions(run_dir: Path) -> RunSummary | None:
    """The summary the previous session of a resumed run wrote (None: none, or unreadable)."""
    try:
        return read_summary_file(run_dir)
    except ConfigError:
        return None


def _earlier_wall(earlier: RunSummary | None) -> float:
    if earlier is None:
        return 0.0
    if earlier.run_wall_s is not None:
        return earlier.run_wall_s
    return earlier.wall_s or 0.0  # before schema 2: the last session's time is all we know


def _earlier_count(earlier: RunSummary | None) -> int:
    if earlier is None:
        return 0
    return earlier.sessions if earlier.sessions is not None else 1
