"""Distributed runs on Ray: a local two-CPU cluster (loopback only) runs the same sweeps as the
local executor and must write the same records; a worker killed mid-run loses nothing and
duplicates nothing; a run moves between executors on resume; the CLI's `--executor ray`.

One cluster serves the whole module (starting Ray is the slow part); every run makes its own
worker actors on it and kills them at the end.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from local_ray import local_ray
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion
from typer.testing import CliRunner

import madebate as mb
from madebate import cli as cli_module
from madebate._errors import ConfigError, MadebateError
from madebate.cli import app
from madebate.runs._executor_ray import RayExecutor
from madebate.runs._jobs import Job
from madebate.runs._runlog import latest_records

try:
    import ray
except ImportError:  # pragma: no cover - ray comes with the dev extra
    ray = None

_ray_installed = pytest.mark.skipif(
    ray is None, reason="ray is not installed (pip install 'madebate[ray]')"
)
F = TypeVar("F")


def needs_ray(test: F) -> F:
    """A test on a local Ray cluster: skipped without ray, and `slow` (seconds of cluster start-up
    and worker processes; outside the `-m "not slow"` inner loop, run by `.ci/run`)."""
    marked: F = pytest.mark.slow(_ray_installed(test))
    return marked


ROOT = Path(__file__).resolve().parents[2]
GK = ROOT / "examples" / "data" / "general_knowledge.jsonl"
N_GK = sum(1 for line in GK.read_text().splitlines() if line.strip())
SWEEP_2X2 = {"paradigm": ["memory", "debate"], "protocol": ["majority_consensus", "simple_voting"]}
TIMING = {"wall_s", "latency_s", "discussion_wall_s"}  # may differ between executors


def scripted_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "ray-test",
        "dataset": {"path": str(GK)},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "team": {"agents": 3},
        "discussion": {"max_turns": 3},
        "sweep": SWEEP_2X2,
        "concurrency": 4,
        "cache": False,
    }
    spec.update(overrides)
    return spec


def without_timing(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: without_timing(v) for k, v in value.items() if k not in TIMING}
    if isinstance(value, list):
        return [without_timing(v) for v in value]
    return value


def rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [rounded(v) for v in value]
    return value


def lines(run_dir: Path) -> list[dict[str, Any]]:
    raw = (run_dir / "records.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    return [json.loads(line) for line in raw.splitlines()]


def keyed(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    out = {(r["cell"], r["example_id"], r["repeat"]): without_timing(r) for r in records}
    assert len(out) == len(records), "a (cell, example, repeat) key was written twice"
    return out


def assert_same_records(run_dir: Path, reference: Path) -> None:
    got, want = keyed(lines(run_dir)), keyed(lines(reference))
    assert got.keys() == want.keys()
    for key in want:
        assert got[key] == want[key], f"record {key} differs from the local run's"


class KillAfter(RayExecutor):
    """Kills the worker with the most jobs outstanding once `after` records were emitted."""

    def __init__(self, after: int, **options: Any):
        super().__init__(**options)
        self.after = after
        self.killed: tuple[str, int] | None = None

    async def execute(
        self,
        spec: mb.ExperimentSpec,
        jobs: list[Job],
        plans: dict[str, Any],
        emit: Callable[[dict[str, Any]], None],
    ) -> None:
        count = 0

        def emit_then_kill(record: dict[str, Any]) -> None:
            nonlocal count
            emit(record)
            count += 1
            if count == self.after:
                worker_id, actor, outstanding = max(self.live_workers(), key=lambda w: w[2])
                self.killed = (worker_id, outstanding)
                ray.kill(actor, no_restart=True)

        await super().execute(spec, jobs, plans, emit_then_kill)


# -- fixtures -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cluster():
    if ray is None:
        pytest.skip("ray is not installed (pip install 'madebate[ray]')")
    with local_ray():
        yield


@pytest.fixture(scope="module")
def scripted_local(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The scripted 2x2 sweep, run locally: the records every executor must reproduce."""
    run_dir = tmp_path_factory.mktemp("local") / "run"
    mb.run_experiment(scripted_spec(), out=run_dir)
    return run_dir


def _server_reply(request: RecordedRequest) -> ScriptedResponse:
    # Slow enough that a worker killed mid-run surely holds unfinished discussions.
    text = "I weighed each option.\nFinal Solution: B"
    return ScriptedResponse(200, completion(text).body, delay_s=0.05)


@pytest.fixture(scope="module")
def server():
    with OpenAITestServer(default=_server_reply) as s:
        yield s


def server_spec(server: OpenAITestServer, **overrides: Any) -> dict[str, Any]:
    spec = scripted_spec(
        model={"id": "openai/m", "base_url": server.base_url, "max_attempts": 1},
        sweep={"paradigm": ["memory", "relay"]},
        discussion={"max_turns": 2},
    )
    spec.update(overrides)
    return spec


# -- without a cluster ---------------------------------------------------------------------


def test_missing_ray_fails_before_the_run_directory_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    run_dir = tmp_path / "run"
    with pytest.raises(ConfigError, match=r"pip install 'madebate\[ray\]'"):
        mb.run_experiment(scripted_spec(), out=run_dir, executor=RayExecutor())
    assert not run_dir.exists()


def test_cli_rejects_ray_options_without_the_ray_executor(tmp_path: Path):
    spec = tmp_path / "exp.yaml"
    spec.write_text(json.dumps(scripted_spec()))
    result = CliRunner().invoke(app, ["run", str(spec), "--workers", "2", "--quiet"])
    assert result.exit_code == 2
    assert "--executor ray" in " ".join(result.output.split())
    result = CliRunner().invoke(app, ["run", str(spec), "--executor", "dask"])
    assert result.exit_code == 2


# -- on a local cluster --------------------------------------------------------------------


@needs_ray
def test_a_sweep_on_two_workers_writes_the_local_runs_records(
    cluster: None, scripted_local: Path, tmp_path: Path
):
    run_dir = tmp_path / "run"
    result = mb.run_experiment(
        scripted_spec(), out=run_dir, executor=RayExecutor(workers=2, batch_size=2)
    )

    assert result.new_records == 4 * N_GK and result.summary.complete
    assert_same_records(run_dir, scripted_local)
    local_summary = json.loads((scripted_local / "summary.json").read_text())
    summary = json.loads((run_dir / "summary.json").read_text())
    for cell, stats in local_summary["cells"].items():
        # Means are summed in record order, which differs: equal up to rounding.
        assert rounded(without_timing(summary["cells"][cell])) == rounded(without_timing(stats))
    # Per-worker throughput: both workers took a share, and the shares add up.
    workers = result.summary.workers
    assert workers is not None and set(workers) == {"w0", "w1"}
    assert sum(w.records for w in workers.values()) == 4 * N_GK
    assert all(w.records > 0 and w.per_s > 0 and w.lost is None for w in workers.values())
    assert summary["executor"] == {
        "kind": "ray",
        "address": None,
        "workers": 2,
        "lost_workers": 0,
        "requeued_jobs": 0,
    }
    assert ray.is_initialized()  # an attached cluster is left running


@needs_ray
def test_a_killed_worker_is_replaced_and_every_example_is_written_once(
    cluster: None, server: OpenAITestServer, tmp_path: Path
):
    reference = tmp_path / "local"
    mb.run_experiment(server_spec(server, concurrency=8), out=reference)

    run_dir = tmp_path / "ray"
    executor = KillAfter(3, workers=2, batch_size=1)
    result = mb.run_experiment(server_spec(server), out=run_dir, executor=executor)

    assert executor.killed is not None and executor.killed[1] > 0
    assert result.summary.complete and result.new_records == 2 * N_GK
    keys = Counter((r["cell"], r["example_id"], r["repeat"]) for r in lines(run_dir))
    assert len(keys) == 2 * N_GK and set(keys.values()) == {1}
    assert_same_records(run_dir, reference)
    info = result.summary.executor
    assert info is not None and info.lost_workers == 1 and info.requeued_jobs >= 1
    workers = result.summary.workers
    assert workers is not None
    assert (workers[executor.killed[0]].lost or "").startswith("ActorDiedError")
    assert "w2" in workers  # the replacement
    assert sum(w.records for w in workers.values()) == 2 * N_GK


@needs_ray
def test_a_run_cut_short_on_ray_is_finished_locally(
    cluster: None, scripted_local: Path, tmp_path: Path
):
    """Every worker lost and none to replace it: the run stops, keeps what it wrote, and a
    local resume completes it with each example exactly once."""
    run_dir = tmp_path / "run"
    executor = KillAfter(3, workers=1, batch_size=1, max_replacements=0)
    with pytest.raises(MadebateError, match="every Ray worker was lost"):
        mb.run_experiment(scripted_spec(), out=run_dir, executor=executor)
    kept = lines(run_dir)
    assert 3 <= len(kept) < 4 * N_GK
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["complete"] is False and summary["executor"]["lost_workers"] == 1

    result = mb.run_experiment(scripted_spec(), resume=run_dir)
    assert result.skipped == len(kept) and result.summary.complete
    assert_same_records(run_dir, scripted_local)
    assert len(latest_records(run_dir)) == 4 * N_GK


@needs_ray
def test_a_local_run_is_resumed_on_ray(cluster: None, scripted_local: Path, tmp_path: Path):
    run_dir = tmp_path / "run"
    shutil.copytree(scripted_local, run_dir)
    kept = (run_dir / "records.jsonl").read_text().splitlines(keepends=True)[:10]
    (run_dir / "records.jsonl").write_text("".join(kept))

    result = mb.run_experiment(
        scripted_spec(), resume=run_dir, executor=RayExecutor(workers=2, batch_size=2)
    )

    assert result.skipped == 10 and result.new_records == 4 * N_GK - 10
    assert_same_records(run_dir, scripted_local)


@needs_ray
def test_cli_executor_ray_prints_worker_throughput_and_workers_share_the_cache(
    cluster: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(cli_module.console, "_width", 300)
    cache = tmp_path / "calls.sqlite"
    spec = tmp_path / "exp.yaml"
    spec.write_text(json.dumps(scripted_spec(cache=True, cache_path=str(cache))))
    run_dir = tmp_path / "run"
    result = CliRunner().invoke(
        app,
        ["run", str(spec), "--executor", "ray", "--workers", "2", "--out", str(run_dir), "--quiet"],
    )
    assert result.exit_code == 0, result.output
    out = " ".join(result.output.split())
    assert f"{4 * N_GK} new record(s)" in out
    assert "records/s" in out and "w0" in out and "w1" in out
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["cache"]["enabled"] and summary["cache"]["misses"] > 0
    assert {w["cache"] for w in summary["workers"].values()} == {str(cache)}

    # What the workers cached serves a local rerun entirely.
    again = mb.run_experiment(json.loads(spec.read_text()), out=tmp_path / "again")
    calls = summary["cache"]["hits"] + summary["cache"]["misses"]
    assert again.cache_misses == 0 and again.cache_hits == calls


@needs_ray
def test_a_worker_setup_error_fails_before_the_run_directory(cluster: None, tmp_path: Path):
    run_dir = tmp_path / "run"
    spec = scripted_spec(model={"id": "scripted", "options": {"no_such_option": 1}})
    with pytest.raises(ConfigError, match="no_such_option"):
        mb.run_experiment(spec, out=run_dir, executor=RayExecutor(workers=1))
    assert not run_dir.exists()
