"""Distributed batch runs on Ray: the examples of every cell, sharded over worker actors.

The driver (the process that called `run_experiment`) keeps everything a local run keeps: the
run directory, its lock, resume, the progress display and the summary. This executor only
decides where each job runs:

- Each worker is a Ray actor holding its own `ModelPool` (an in-process engine on its node's
  GPU, or a client of a shared OpenAI-compatible endpoint) and, when caching is on, its own
  connection to a call cache. It runs every job with `run_jobs`, the local runner's code, with at
  most `spec.concurrency` discussions in flight (and each model's `max_concurrency`) per worker.
- Work is handed out dynamically: a driver-side queue gives small batches to whichever worker
  has room, so a slow worker takes fewer and a lost one stalls nothing. Each batch's records
  come back as soon as the batch is done and are emitted in the driver, one at a time.
- A worker that dies (its process or node lost, `ray.kill`) loses only its unfinished batches:
  their jobs go back to the front of the queue and a replacement worker is started. A record is
  emitted at most once per job key (tracked here; the run writer refuses duplicates as well).

Cache policy: each worker opens the run's cache file (`cache_path`, or the default path as that
worker's node resolves it: `$MADEBATE_CACHE` or `~/.cache/madebate/calls.sqlite`). Workers on one
host share the file through SQLite's WAL mode; workers on different hosts each have their own
node-local file. A worker that cannot open its cache runs without one and the summary says so.
Never point `cache_path` at a network filesystem (NFS): SQLite's locking is not safe there.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from madebate._errors import ConfigError, MadebateError
from madebate._task import Task
from madebate.engine._plan import DiscussionPlan, check_config
from madebate.models._cache import CallCache
from madebate.models._models import ModelSpec, model_spec
from madebate.runs._experiment import Cell, ExperimentSpec
from madebate.runs._jobs import Job, ModelPool, run_jobs
from madebate.runs._records import ExecutorInfo, RecordKey, RunRecord, WorkerStats

INSTALL_HINT = "pip install 'madebate[ray]'"

# A job as it travels to a worker: cell id, the example itself, repeat, seed. The cells go once,
# when the worker is set up; the plans (compiled paradigm, protocol) are rebuilt there.
_Item = tuple[str, Task, int, int, int | None, str | None]  # a Job, by its cell's id


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            f"the Ray executor needs Ray: {INSTALL_HINT} ({exc})", field="executor"
        ) from None
    return ray


class RayWorker:
    """The body of one worker actor (made a Ray actor class by `RayExecutor`, so that importing
    this module never imports Ray)."""

    def __init__(self, worker_id: str):
        self.worker_id = worker_id
        self._cells: dict[str, Cell] = {}
        self._plans: dict[str, DiscussionPlan] = {}
        self._pool = ModelPool(None)
        self._cache: CallCache | None = None
        self._slots = asyncio.Semaphore(1)

    async def setup(
        self,
        version: str,
        cells: list[Cell],
        seed: int,
        concurrency: int,
        cache: tuple[bool, str | None],
    ) -> dict[str, Any]:
        """Builds the plans and models (a bad provider setting fails here, before any record),
        opens the cache by the policy above; returns where this worker runs."""
        from madebate._version import __version__

        if version != __version__:
            raise ConfigError(
                f"madebate {__version__} on Ray worker {socket.gethostname()}, {version} on the "
                "driver: install the same version on every node",
                field="executor",
            )
        cache_note = "off"
        use_cache, path = cache
        if use_cache:
            try:
                self._cache = CallCache(path)
                cache_note = str(self._cache.path)
            except (OSError, sqlite3.Error) as exc:
                cache_note = f"off (cannot open {path or 'the default cache'}: {exc})"
        self._cells = {c.id: c for c in cells}
        self._plans = {
            c.id: check_config(c.discussion_config(seed=seed), build_models=False) for c in cells
        }
        self._pool = ModelPool(self._cache)
        self._pool.prepare(cells)
        await self._pool.start()  # weights or engines load now, not inside a call's timeout
        self._slots = asyncio.Semaphore(concurrency)
        node_id = ""
        try:
            import ray

            node_id = ray.get_runtime_context().get_node_id()
        except Exception:  # only informative
            pass
        return {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "node": node_id,
            "cache": cache_note,
        }

    async def run_batch(self, items: list[_Item]) -> dict[str, Any]:
        """Runs a batch, each job with the local runner's code, at most `concurrency` jobs in
        flight over all batches this worker holds; returns the batch's records (`RunRecord`s,
        pickled by Ray as they are) and the worker's running cache counts."""
        records: list[RunRecord] = []

        async def one(job: Job) -> None:
            async with self._slots:
                await run_jobs(
                    [job], pool=self._pool, plans=self._plans, concurrency=1, emit=records.append
                )

        async with asyncio.TaskGroup() as group:
            for cell_id, task, repeat, seed, refinements, matched in items:
                job = Job(self._cells[cell_id], task, repeat, seed, refinements, matched)
                group.create_task(one(job))
        c = self._cache
        return {"records": records, "cache": [c.hits if c else 0, c.misses if c else 0]}

    async def close(self) -> None:
        await self._pool.aclose()
        if self._cache is not None:
            self._cache.close()
            self._cache = None


class _WorkerInfo(BaseModel):
    """What a worker's setup reports (nothing yet for a worker that never started)."""

    host: str | None = None
    pid: int | None = None
    node: str | None = None
    cache: str | None = None


@dataclass
class _WorkerState:
    id: str
    actor: Any
    info: dict[str, Any] = field(default_factory=dict)
    ready: bool = False
    lost: str | None = None
    outstanding: int = 0  # jobs handed to it whose records have not come back
    records: int = 0
    first_dispatch: float | None = None
    last_record: float | None = None
    cache: tuple[int, int] = (0, 0)


@dataclass
class _Batch:
    worker: _WorkerState
    jobs: list[Job]


class RayExecutor:
    """Runs the examples on Ray worker actors (see the module docstring).

    address: a running cluster (`auto`, `HOST:6379`, `ray://HOST:10001`); None attaches to the
        cluster Ray is already connected to, or to `$RAY_ADDRESS`, else starts a local one.
    workers: worker actors; default one per `num_gpus_per_worker` GPUs when the models run
        in-process on GPUs (vLLM), else one per CPU of the cluster.
    cache: as for a local run (None: the spec's `cache` setting).
    batch_size: jobs per hand-out; default `concurrency // 8`, between 1 and 16.
    max_replacements: workers started to replace lost ones (default: `workers`); when none is
        left and every worker is lost, the run stops with the records so far kept.
    runtime_env, init_options: passed to `ray.init` (e.g. `{"pip": ["madebate"]}`).
    """

    def __init__(
        self,
        address: str | None = None,
        workers: int | None = None,
        *,
        cache: bool | None = None,
        batch_size: int | None = None,
        num_cpus_per_worker: float = 1.0,
        num_gpus_per_worker: float | None = None,
        max_replacements: int | None = None,
        start_timeout_s: float = 300.0,
        runtime_env: dict[str, Any] | None = None,
        init_options: dict[str, Any] | None = None,
    ):
        if workers is not None and workers < 1:
            raise ConfigError("workers must be at least 1", field="workers")
        self.address = address
        self.workers = workers
        self._cache_choice = cache
        self._batch_size = batch_size
        self._cpus = num_cpus_per_worker
        self._gpus = num_gpus_per_worker
        self._max_replacements = max_replacements
        self._start_timeout_s = start_timeout_s
        self._runtime_env = runtime_env
        self._init_options = init_options or {}
        self._ray: Any = None
        self._owns_ray = False
        self._actor_class: Any = None
        self._cells: list[Cell] = []
        self._seed = 0
        self._concurrency = 1
        self._use_cache = False
        self._cache_path: str | None = None
        self._workers: list[_WorkerState] = []
        self._replacements_left = 0
        self._requeued = 0

    # -- setup ---------------------------------------------------------------------------

    def prepare(self, spec: ExperimentSpec, cells: list[Cell]) -> None:
        ray = self._ray = import_ray()
        use_cache = spec.cache if self._cache_choice is None else self._cache_choice
        self._use_cache = True if use_cache is None else use_cache
        # A relative cache_path means the driver's working directory, as in a local run; None
        # leaves the default to each worker's node.
        self._cache_path = os.path.abspath(spec.cache_path) if spec.cache_path else None
        self._cells, self._seed, self._concurrency = cells, spec.seed, spec.concurrency
        gpus = self._gpus if self._gpus is not None else _gpus_per_worker(cells)
        self._gpus = gpus
        if not ray.is_initialized():
            options: dict[str, Any] = {"logging_level": logging.WARNING, **self._init_options}
            if self._runtime_env is not None:
                options["runtime_env"] = self._runtime_env
            if self.address is None and not os.environ.get("RAY_ADDRESS"):
                # A local cluster on this machine: room for every worker.
                cpus = max(os.cpu_count() or 1, math.ceil((self.workers or 1) * self._cpus))
                options.setdefault("num_cpus", cpus)
                options.setdefault("include_dashboard", False)
            try:
                ray.init(address=self.address, **options)
            except (ConnectionError, ValueError, RuntimeError) as exc:
                raise ConfigError(
                    f"cannot start or reach the Ray cluster {self.address or '(local)'}: {exc}",
                    field="address",
                ) from None
            self._owns_ray = True
        n = self.workers or self._default_workers(gpus)
        resources = ray.cluster_resources()
        need_cpu, need_gpu = n * self._cpus, n * gpus
        if need_cpu > resources.get("CPU", 0) or need_gpu > resources.get("GPU", 0):
            raise ConfigError(
                f"{n} workers need {need_cpu:g} CPUs and {need_gpu:g} GPUs; the Ray cluster has "
                f"{resources.get('CPU', 0):g} CPUs and {resources.get('GPU', 0):g} GPUs",
                field="workers",
            )
        self._actor_class = ray.remote(RayWorker)
        self._replacements_left = n if self._max_replacements is None else self._max_replacements
        self._workers = [self._new_worker(f"w{i}") for i in range(n)]
        setups = [w.actor.setup.remote(*self._setup_args()) for w in self._workers]
        try:
            infos = ray.get(setups, timeout=self._start_timeout_s)
        except ray.exceptions.GetTimeoutError:
            raise MadebateError(
                f"the Ray workers did not start within {self._start_timeout_s:g}s (are the "
                "cluster's resources taken by another job?)"
            ) from None
        except ray.exceptions.RayTaskError as exc:
            raise _cause(exc) from None
        except ray.exceptions.RayError as exc:
            raise MadebateError(
                f"a Ray worker could not start ({_reason(exc)}); every node needs madebate "
                "installed (the same version), or a runtime_env that ships it"
            ) from None
        for worker, info in zip(self._workers, infos, strict=True):
            worker.info, worker.ready = info, True

    def _default_workers(self, gpus: float) -> int:
        resources = self._ray.cluster_resources()
        if gpus > 0:
            return max(1, int(resources.get("GPU", 0) // gpus))
        return max(1, int(resources.get("CPU", 1) // self._cpus))

    def _new_worker(self, worker_id: str) -> _WorkerState:
        actor = self._actor_class.options(
            num_cpus=self._cpus,
            num_gpus=self._gpus or 0,
            max_restarts=0,  # lost workers are replaced here, their jobs re-queued
            max_concurrency=1000,
        ).remote(worker_id)
        return _WorkerState(worker_id, actor)

    def _setup_args(self) -> tuple[str, list[Cell], int, int, tuple[bool, str | None]]:
        from madebate._version import __version__

        cache = (self._use_cache, self._cache_path)
        return (__version__, self._cells, self._seed, self._concurrency, cache)

    # -- running -------------------------------------------------------------------------

    async def execute(
        self,
        spec: ExperimentSpec,
        jobs: list[Job],
        plans: dict[str, DiscussionPlan],
        emit: Callable[[RunRecord], None],
    ) -> None:
        """Hands out every job; `plans` are rebuilt on the workers (they hold live objects)."""
        ray = self._ray
        queue: deque[Job] = deque(jobs)
        expected: set[RecordKey] = {j.key for j in jobs}
        emitted: set[RecordKey] = set()
        batches: dict[asyncio.Future[Any], _Batch] = {}
        starting: dict[asyncio.Future[Any], _WorkerState] = {}
        size = self._batch_size or max(1, min(16, spec.concurrency // 8))
        cap = spec.concurrency + 2 * size  # queued on the worker beyond its slots: no idle gaps
        lost_errors = (
            ray.exceptions.RayActorError,
            ray.exceptions.WorkerCrashedError,
            ray.exceptions.NodeDiedError,
            ray.exceptions.ObjectLostError,
        )

        def lose(worker: _WorkerState, reason: str) -> None:
            worker.lost = reason
            for fut, batch in list(batches.items()):
                if batch.worker is worker:
                    del batches[fut]
                    _discard(fut)
                    pending = [j for j in batch.jobs if j.key not in emitted]
                    self._requeued += len(pending)
                    queue.extendleft(reversed(pending))
            worker.outstanding = 0
            with contextlib.suppress(Exception):  # already gone
                ray.kill(worker.actor, no_restart=True)
            if self._replacements_left > 0:
                self._replacements_left -= 1
                fresh = self._new_worker(f"w{len(self._workers)}")
                self._workers.append(fresh)
                starting[_future(fresh.actor.setup.remote(*self._setup_args()))] = fresh

        try:
            while queue or batches:
                live = [w for w in self._workers if w.ready and w.lost is None]
                while queue:
                    # The least loaded worker with room gets the next batch: an even spread at
                    # the start, and the faster workers take more as records come back.
                    room = [w for w in live if w.outstanding < cap]
                    if not room:
                        break
                    worker = min(room, key=lambda w: w.outstanding)
                    take = min(size, cap - worker.outstanding, len(queue))
                    chunk = [queue.popleft() for _ in range(take)]
                    items = [
                        (j.cell.id, j.task, j.repeat, j.seed, j.refinements, j.matched)
                        for j in chunk
                    ]
                    fut = _future(worker.actor.run_batch.remote(items))
                    batches[fut] = _Batch(worker, chunk)
                    worker.outstanding += take
                    if worker.first_dispatch is None:
                        worker.first_dispatch = time.perf_counter()
                if not batches and not starting:
                    raise MadebateError(
                        f"every Ray worker was lost ({self._lost_reasons()}); {len(queue)} "
                        "example(s) not run; the records so far are kept: resume the run"
                    )
                waiting = set(batches) | set(starting)
                timeout = None if batches else self._start_timeout_s
                done, _ = await asyncio.wait(
                    waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    raise MadebateError(
                        f"no Ray worker could be started within {self._start_timeout_s:g}s to "
                        f"replace the lost ones; {len(queue)} example(s) not run; resume the run"
                    )
                for fut in done:
                    if fut in starting:
                        worker = starting.pop(fut)
                        try:
                            worker.info, worker.ready = fut.result(), True
                        except lost_errors as exc:
                            lose(worker, _reason(exc))
                        except ray.exceptions.RayTaskError as exc:
                            raise _cause(exc) from None
                        continue
                    batch_or_none = batches.pop(fut, None)
                    if batch_or_none is None:  # its worker was lost meanwhile
                        continue
                    batch, worker = batch_or_none, batch_or_none.worker
                    try:
                        result = fut.result()
                    except lost_errors as exc:
                        batches[fut] = batch  # so that `lose` re-queues it with the others
                        lose(worker, _reason(exc))
                        continue
                    except ray.exceptions.RayTaskError as exc:
                        raise _cause(exc) from None
                    # Running totals, snapshot when the batch ended; batches may arrive out
                    # of order, and the totals only grow.
                    hits, misses = int(result["cache"][0]), int(result["cache"][1])
                    worker.cache = (max(worker.cache[0], hits), max(worker.cache[1], misses))
                    for record in result["records"]:
                        key = record.key
                        if key in emitted or key not in expected:
                            raise MadebateError(f"worker {worker.id} sent record {key} twice")
                        emitted.add(key)
                        emit(record)
                        worker.records += 1
                        worker.last_record = time.perf_counter()
                    worker.outstanding -= len(batch.jobs)
        finally:
            for fut in (*batches, *starting):
                _discard(fut)

    # -- results and shutdown ------------------------------------------------------------

    def cache_counts(self) -> tuple[bool, int, int]:
        hits = sum(w.cache[0] for w in self._workers)
        misses = sum(w.cache[1] for w in self._workers)
        return (self._use_cache, hits, misses)

    def summary_extra(self) -> dict[str, Any]:
        """Per-worker throughput and what was lost: the run summary's `executor` and
        `workers`."""
        workers: dict[str, WorkerStats] = {}
        for w in self._workers:
            end = w.last_record or w.first_dispatch
            wall = (end - w.first_dispatch) if end and w.first_dispatch else 0.0
            info = _WorkerInfo.model_validate(w.info)
            workers[w.id] = WorkerStats(
                host=info.host,
                pid=info.pid,
                node=info.node,
                records=w.records,
                wall_s=round(wall, 3),
                per_s=round(w.records / wall, 3) if wall > 0 else 0.0,
                cache=info.cache,
                lost=w.lost,
            )
        executor = ExecutorInfo(
            kind="ray",
            address=self.address,
            workers=len([w for w in self._workers if w.ready or w.lost]),
            lost_workers=sum(w.lost is not None for w in self._workers),
            requeued_jobs=self._requeued,
        )
        return {"executor": executor, "workers": workers}

    def live_workers(self) -> list[tuple[str, Any, int]]:
        """(id, actor handle, jobs outstanding) of each worker still running; for tests and
        tools that want to inspect or kill one."""
        return [(w.id, w.actor, w.outstanding) for w in self._workers if w.ready and w.lost is None]

    async def aclose(self) -> None:
        ray = self._ray
        if ray is None:
            return
        live = [w for w in self._workers if w.lost is None]
        if live and ray.is_initialized():
            closing = [_future(w.actor.close.remote()) for w in live if w.ready]
            if closing:
                # Graceful first (HTTP clients, engines, the cache), then gone for sure.
                await asyncio.wait(closing, timeout=30)
                for fut in closing:
                    _discard(fut)
            for w in live:
                with contextlib.suppress(Exception):  # already gone
                    ray.kill(w.actor, no_restart=True)
        if self._owns_ray and ray.is_initialized():
            ray.shutdown()
            self._owns_ray = False
        self._ray = None

    def _lost_reasons(self) -> str:
        return "; ".join(f"{w.id}: {w.lost}" for w in self._workers if w.lost) or "none started"


def _future(ref: Any) -> asyncio.Future[Any]:
    """An asyncio future for an object ref (also a Ray Client one)."""
    return asyncio.wrap_future(ref.future())


def _discard(fut: asyncio.Future[Any]) -> None:
    """Cancels a future, or reads its exception so that asyncio does not log it as lost."""
    if fut.done():
        if not fut.cancelled():
            fut.exception()
    else:
        fut.cancel()


def _cause(exc: Any) -> Exception:
    """The exception a worker raised (a ConfigError from its setup, say), not Ray's wrapper."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, MadebateError):
        return cause
    return MadebateError(f"a Ray worker failed: {cause if cause is not None else exc}")


def _reason(exc: BaseException) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {first}"[:300]


def _gpus_per_worker(cells: list[Cell]) -> float:
    """An in-process GPU engine (vLLM) takes its tensor-parallel GPUs on each worker."""
    gpus = 0.0
    for cell in cells:
        # A mixed team may hold several vLLM engines in the worker's process: their GPUs add.
        specs = [cell.spec.model_spec()] + [
            model_spec(a.model)
            for a in cell.spec.discussion.agent_entries()
            if isinstance(a.model, str | ModelSpec)
        ]
        engines = {s.model_dump_json(): s for s in specs if s.prefix == "vllm"}
        need = sum(float(s.options.get("tensor_parallel_size", 1)) for s in engines.values())
        gpus = max(gpus, need)
    return gpus
