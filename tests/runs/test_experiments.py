"""Experiments end to end: sweeps into cells, validation before any model call, the run log
(kill and resume), the call cache, failed examples, the shipped example files, reading a run
back, and the `run` / `summary` / `eval` / `schema` / `validate` commands.

Every spec here sets `cache_path` to a file under tmp_path (or turns the cache off), so no test
touches ~/.cache/madebate.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion
from test_records import make_record
from typer.testing import CliRunner

import madebate as mb
from madebate import cli as cli_module
from madebate._errors import ConfigError, ModelCallError
from madebate.cli import app
from madebate.models._cache import default_cache_path
from madebate.models.providers.scripted import ScriptedRequest, default_script
from madebate.runs._records import CacheCounts
from madebate.runs._runlog import RunWriter, iter_records

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
GK = EXAMPLES / "data" / "general_knowledge.jsonl"
GK_ROWS = [json.loads(line) for line in GK.read_text().splitlines() if line.strip()]
SWEEP_2X2 = {"paradigm": ["memory", "debate"], "protocol": ["majority_consensus", "simple_voting"]}
CELLS_2X2 = [
    "paradigm=memory,protocol=majority_consensus",
    "paradigm=memory,protocol=simple_voting",
    "paradigm=debate,protocol=majority_consensus",
    "paradigm=debate,protocol=simple_voting",
]

cli = CliRunner()


# -- helpers ------------------------------------------------------------------------------


def make_spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """A small offline spec: the general-knowledge set on the scripted model, cached in tmp."""
    spec: dict[str, Any] = {
        "name": "test-experiment",
        "dataset": {"path": str(GK)},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "team": {"agents": 3},
        "discussion": {"max_turns": 3},
        "concurrency": 4,
        "cache_path": str(tmp_path / "calls.sqlite"),
    }
    spec.update(overrides)
    return spec


def read_lines(run_dir: Path) -> list[dict[str, Any]]:
    """Every line of records.jsonl, each of which must be a complete JSON record."""
    raw = (run_dir / "records.jsonl").read_bytes()
    assert raw.endswith(b"\n"), "records.jsonl ends in a torn line"
    return [json.loads(line) for line in raw.splitlines()]


def key(r: dict[str, Any]) -> tuple[str, str, int]:
    return (r["cell"], r["example_id"], r["repeat"])


def outcome(r: dict[str, Any]) -> dict[str, Any]:
    """What a record says about its discussion (not timings or cache hits)."""
    fields = ("answer", "solution", "references", "decided", "stop_reason", "turns", "scores")
    out = {k: r[k] for k in (*fields, "seed", "calls", "tokens", "error")}
    out["messages"] = [(m["speaker"], m["text"]) for m in r["result"]["messages"]]
    return out


def by_key(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    out = {key(r): outcome(r) for r in records}
    assert len(out) == len(records), "duplicate (cell, example_id, repeat) keys"
    return out


def flat(result: Any) -> str:
    """A command's output with rich's line wrapping undone."""
    return " ".join(result.output.split())


def wide_console(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's rich tables wrap long cell ids at the default 80 columns."""
    monkeypatch.setattr(cli_module.console, "_width", 400)


# -- 1. sweeps: cells, counts, summary, repeats, paired seeds ----------------------------


def test_sweep_2x2_writes_every_cell_with_counts_and_a_summary(tmp_path: Path):
    run_dir = tmp_path / "run"
    result = mb.run_experiment(make_spec(tmp_path, sweep=SWEEP_2X2), out=run_dir)

    n = len(GK_ROWS)
    assert result.cells == CELLS_2X2
    assert result.new_records == 4 * n and result.skipped == 0
    records = read_lines(run_dir)
    assert Counter(r["cell"] for r in records) == dict.fromkeys(CELLS_2X2, n)
    assert len({key(r) for r in records}) == len(records)
    assert {r["example_id"] for r in records} == {row["id"] for row in GK_ROWS}
    assert {r["repeat"] for r in records} == {0}

    cells = json.loads((run_dir / "cells.json").read_text())
    assert [c["id"] for c in cells] == CELLS_2X2
    assert cells[1]["overrides"] == {"paradigm": "memory", "protocol": "simple_voting"}
    for name in ("spec.yaml", "versions.json", "summary.json"):
        assert (run_dir / name).is_file()
    assert yaml.safe_load((run_dir / "spec.yaml").read_text())["sweep"] == SWEEP_2X2
    assert "madebate" in json.loads((run_dir / "versions.json").read_text())

    references = {row["id"]: row["answer"] for row in GK_ROWS}
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary == json.loads(result.summary.model_dump_json())
    assert list(summary["cells"]) == CELLS_2X2
    for cell_id, cell in summary["cells"].items():
        mine = [r for r in records if r["cell"] == cell_id]
        for r in mine:  # accuracy is the chosen letter against the reference letter
            assert r["references"] == [references[r["example_id"]]]
            assert r["scores"] == {"accuracy": float(r["answer"] == r["references"][0])}
        scores = [r["scores"]["accuracy"] for r in mine]
        assert cell["n"] == n
        acc = cell["metrics"]["accuracy"]
        assert acc == mb.runs.summarize(scores).model_dump()
        assert acc["mean"] == pytest.approx(sum(scores) / n)
        assert 0.0 <= acc["ci_low"] <= acc["mean"] <= acc["ci_high"] <= 1.0
        assert acc["ci_high"] - acc["ci_low"] > 0.1  # a real interval for n = 12
        assert cell["decision_rate"] == sum(r["decided"] for r in mine) / n
        assert cell["errors"] == 0
        # the protocol of each cell really ran: consensus cells stop on consensus, voting on a vote
        expected_stop = "consensus" if cell_id.endswith("majority_consensus") else "vote"
        assert cell["stop_reasons"] == {expected_stop: n}
        assert {r["result"]["paradigm"] for r in mine} == {cell_id.split(",")[0].split("=")[1]}
    # the paradigm of each cell really ran: debate makes more calls than memory here
    c = summary["cells"]
    assert c[CELLS_2X2[2]]["calls_per_example"] > c[CELLS_2X2[0]]["calls_per_example"]


def test_repeats_double_the_records_and_seeds_are_paired_across_cells(tmp_path: Path):
    spec = make_spec(tmp_path, sweep=SWEEP_2X2, repeats=2, dataset={"path": str(GK), "limit": 4})
    run_dir = tmp_path / "run"
    result = mb.run_experiment(spec, out=run_dir)
    records = read_lines(run_dir)

    assert result.new_records == len(records) == 4 * 4 * 2
    assert len({key(r) for r in records}) == len(records)
    per_example = Counter((r["cell"], r["example_id"]) for r in records)
    assert set(per_example.values()) == {2}
    for cell_id in CELLS_2X2:
        assert result.summary.cells[cell_id].n == 8
    for cell_id, example_id in per_example:
        repeats = [r for r in records if r["cell"] == cell_id and r["example_id"] == example_id]
        assert sorted(r["repeat"] for r in repeats) == [0, 1]

    # one seed per (example, repeat), the same in every cell; different between repeats/examples
    seeds: dict[tuple[str, int], set[int]] = {}
    for r in records:
        seeds.setdefault((r["example_id"], r["repeat"]), set()).add(r["seed"])
        assert r["result"]["seed"] == r["seed"]
    assert all(len(s) == 1 for s in seeds.values())
    assert len({next(iter(s)) for s in seeds.values()}) == len(seeds) == 8


def test_a_sweep_over_seed_changes_the_example_seeds(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(
        tmp_path,
        model=model_seam.use(model),
        dataset={"path": str(GK), "limit": 3},
        sweep={"seed": [1, 2]},
    )
    result = mb.run_experiment(spec, out=tmp_path / "run")
    records = read_lines(result.run_dir)
    seeds = {
        c: {r["example_id"]: r["seed"] for r in records if r["cell"] == c} for c in result.cells
    }
    assert result.cells == ["seed=1", "seed=2"]
    assert all(seeds["seed=1"][ex] != seeds["seed=2"][ex] for ex in seeds["seed=1"])
    # the calls of the two cells differ too, so the second cell is no replay from the cache
    assert result.cache_hits == 0 and len(model.requests) == result.cache_misses > 0


# -- 2. validation before anything runs -----------------------------------------------------


BAD_SPECS = [
    pytest.param(dict(bogus=1), "bogus", "unknown key 'bogus'", id="unknown-top-level-key"),
    pytest.param(
        dict(team={"agentz": 3}), "team.agentz", "did you mean 'agents'", id="unknown-team-key"
    ),
    pytest.param(
        dict(discussion={"max_turnz": 3}),
        "discussion.max_turnz",
        "unknown key",
        id="unknown-nested",
    ),
    pytest.param(dict(team={"agents": 1}), "team.agents", "greater than", id="one-agent"),
    pytest.param(dict(discussion={"style": "poetic"}), "discussion.style", "simple", id="style"),
    pytest.param(
        dict(dataset={"path": str(GK), "examples": [{"question": "Q?"}]}),
        "dataset",
        "exactly one of path, hf or examples",
        id="dataset-path-and-examples",
    ),
    pytest.param(dict(repeats=0), "repeats", "greater than", id="zero-repeats"),
    pytest.param(dict(sweep={"bogus": [1, 2]}), "sweep.bogus", "unknown key", id="sweep-key"),
    pytest.param(dict(sweep={"paradigm": []}), "sweep.paradigm", "at least one", id="empty-axis"),
    pytest.param(dict(sweep={"paradigm": "memory"}), "sweep.paradigm", "list", id="axis-no-list"),
    pytest.param(
        dict(sweep={"dataset.limit": [1, 2]}), "sweep.dataset.limit", "run-wide", id="sweep-dataset"
    ),
    pytest.param(
        dict(discussion={"min_turns": 4, "max_turns": 2}),
        "discussion.min_turns",
        "above max_turns",
        id="min-above-max-turns",
    ),
    pytest.param(
        dict(team={"agents": 3, "personas": ["library", "none"]}),
        "team.personas",
        "2 sources given for 3 agents",
        id="personas-per-agent",
    ),
]


@pytest.mark.parametrize(("changes", "field", "message"), BAD_SPECS)
def test_bad_spec_fails_naming_the_field_before_any_model_call(
    tmp_path: Path, model_seam, changes: dict[str, Any], field: str, message: str
):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(tmp_path, model=model_seam.use(model), **changes)
    out = tmp_path / "run"
    with pytest.raises(mb.ConfigError) as info:
        mb.run_experiment(spec, out=out)
    assert info.value.field == field
    assert f"field '{field}'" in str(info.value) and message in str(info.value)
    assert model_seam.made == [] and model.requests == []
    assert not out.exists()


BAD_CELLS = [
    pytest.param({"paradigm": ["memory", "nope"]}, "paradigm=nope", "unknown paradigm 'nope'"),
    pytest.param(
        {"protocol": ["majority_consensus", "vibes"]},
        "protocol=vibes",
        "unknown decision protocol 'vibes'",
    ),
    pytest.param({"team.agentz": [3]}, "team.agentz=3", "field 'team.agentz'"),
    pytest.param({"team.agents": [3, 1]}, "team.agents=1", "field 'team.agents'"),
    pytest.param({"scoring": [["accuracy"], ["bogus"]]}, "scoring=['bogus']", "unknown metric"),
    pytest.param({"model": ["test", "nope/x"]}, "model=x", "unknown model provider 'nope'"),
]


@pytest.mark.parametrize(("sweep", "cell", "message"), BAD_CELLS)
def test_bad_sweep_value_names_the_cell_before_any_model_call(
    tmp_path: Path, model_seam, sweep: dict[str, list[Any]], cell: str, message: str
):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(tmp_path, model=model_seam.use(model), sweep=sweep)
    out = tmp_path / "run"
    with pytest.raises(mb.ConfigError) as info:
        mb.run_experiment(spec, out=out)
    assert f"in sweep cell {cell}" in str(info.value)
    assert message in str(info.value)
    assert model_seam.made == [] and model.requests == []
    assert not out.exists()


def test_errors_in_a_yaml_file_name_the_file_and_the_field(tmp_path: Path):
    path = tmp_path / "exp.yaml"
    path.write_text("name: x\ndataset: {path: d.jsonl}\ndiscussion:\n  max_turnz: 3\n")
    with pytest.raises(mb.ConfigError) as info:
        mb.load_experiment(path)
    assert info.value.source == str(path) and info.value.field == "discussion.max_turnz"
    path.write_text("name: x\ndataset: {path: d.jsonl}\nsweep: {paradigmz: [memory]}\n")
    with pytest.raises(mb.ConfigError, match="unknown key 'paradigmz'") as info:
        mb.load_experiment(path)
    assert info.value.field == "sweep.paradigmz" and str(path) in str(info.value)


def test_schema_command_prints_the_experiment_json_schema():
    out = cli.invoke(app, ["schema"])
    assert out.exit_code == 0, out.output
    schema = json.loads(out.stdout)
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    for name in ("dataset", "model", "discussion", "sweep", "seed"):
        assert name in schema["properties"]
    # The discussion settings are one model, nested: paradigm, team and protocol live there.
    settings = schema["$defs"]["DiscussionConfig"]["properties"]
    for name in ("paradigm", "agents", "personas", "protocol", "max_turns", "generation"):
        assert name in settings and name not in schema["properties"]
    assert schema["required"] == ["name", "dataset"]


def test_validate_command_accepts_the_example_and_names_the_broken_field(tmp_path: Path):
    good = EXAMPLES / "scripted_sweep.yaml"
    out = cli.invoke(app, ["validate", str(good), "--dataset"])
    assert out.exit_code == 0, out.output
    assert "4 cell(s)" in flat(out) and f"{len(GK_ROWS)} example(s)" in flat(out)

    data = yaml.safe_load(good.read_text())
    data["discussion"]["agentz"] = 4
    broken = tmp_path / "broken.yaml"
    broken.write_text(yaml.safe_dump(data))
    out = cli.invoke(app, ["validate", str(broken)])
    assert out.exit_code == 2
    assert "discussion.agentz" in flat(out) and "broken.yaml" in flat(out)
    assert "Traceback" not in flat(out)

    data = yaml.safe_load(good.read_text())
    data["sweep"]["protocol"].append("vibes")
    broken.write_text(yaml.safe_dump(data))
    out = cli.invoke(app, ["validate", str(broken)])
    assert out.exit_code == 2 and "protocol=vibes" in flat(out)


# -- 3. a killed run, resumed ---------------------------------------------------------------

SLOW_MODULE = '''
"""Runs an experiment on the scripted model with every reply delayed (for the kill test)."""
import asyncio
import json
from pathlib import Path

import madebate
from madebate.models.providers import scripted


def main(spec_file: str, out: str, delay: float) -> None:
    original = scripted.default_script

    async def slow(request):
        await asyncio.sleep(delay)
        return original(request)

    scripted.default_script = slow  # ScriptedModel() picks it up when the runner makes one
    madebate.run_experiment(json.loads(Path(spec_file).read_text()), out=out)
'''


def test_run_writer_flushes_each_record_and_refuses_duplicates(tmp_path: Path):
    writer = RunWriter(tmp_path, spec={"name": "x"}, cells=[{"id": "main"}], resume=False)
    try:
        writer.append(make_record(cell="main", example_id="e1", repeat=0, answer="A"))
        # readable by another process before the writer closes: a kill loses nothing written
        assert [r.example_id for r in iter_records(tmp_path)] == ["e1"]
        with pytest.raises(RuntimeError, match="already written"):
            writer.append(make_record(cell="main", example_id="e1", repeat=0, answer="B"))
        writer.append(make_record(cell="main", example_id="e1", repeat=1, answer="B"))
    finally:
        writer.close()
    assert [r.answer for r in iter_records(tmp_path)] == ["A", "B"]
    resumed = RunWriter(tmp_path, spec={"name": "x"}, cells=[{"id": "main"}], resume=True)
    resumed.close()
    assert resumed.done == {("main", "e1", 0), ("main", "e1", 1)}


def _count_complete_lines(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


def test_killed_run_resumes_to_exactly_the_uninterrupted_records(tmp_path: Path):
    spec = make_spec(
        tmp_path,
        sweep={"protocol": ["majority_consensus", "simple_voting"]},
        concurrency=3,
        cache=False,
    )
    total = 2 * len(GK_ROWS)
    (tmp_path / "slowrun.py").write_text(SLOW_MODULE)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(spec))
    run_dir = tmp_path / "killed"
    records = run_dir / "records.jsonl"
    code = f"import slowrun; slowrun.main({str(spec_file)!r}, {str(run_dir)!r}, 0.1)"
    env = {**os.environ, "MADEBATE_CACHE": str(tmp_path / "never.sqlite")}
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env)
    try:
        deadline = time.monotonic() + 60
        while _count_complete_lines(records) < 4:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline, "no records appeared"
            time.sleep(0.005)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # A kill mid-write leaves a torn last line; simulate one on top of whatever is there.
    with records.open("ab") as fh:
        fh.write(b'{"cell":"protocol=simple_voting","example_id":"gk-0')
    # readers skip the torn tail
    done = [r.model_dump(mode="json") for r in mb.load_run(run_dir).records]
    assert 4 <= len(done) < total
    assert all(r["cell"] in ("protocol=majority_consensus", "protocol=simple_voting") for r in done)

    resumed = mb.run_experiment(spec, resume=run_dir)
    assert resumed.skipped == len(done)
    assert resumed.new_records == total - len(done)

    final = read_lines(run_dir)  # every line parses, the torn one is gone
    assert len(final) == total
    assert final[: len(done)] == done  # the old lines were kept as they were, not rewritten
    reference = mb.run_experiment(spec, out=tmp_path / "uninterrupted")
    assert reference.new_records == total
    assert by_key(final) == by_key(read_lines(tmp_path / "uninterrupted"))
    assert resumed.summary.cells == {
        cell: stats.model_copy(
            update={"discussion_wall_s": resumed.summary.cells[cell].discussion_wall_s}
        )
        for cell, stats in reference.summary.cells.items()
    }

    again = mb.run_experiment(spec, resume=run_dir)  # a finished run: nothing left to do
    assert again.new_records == 0 and again.skipped == total
    assert len(read_lines(run_dir)) == total


def test_cli_resume_from_the_run_directory_alone(tmp_path: Path, monkeypatch):
    """`madebate run --resume DIR` reads DIR/spec.yaml only; a dataset path relative to the
    experiment file must still be found, from any working directory."""
    project = tmp_path / "project"
    (project / "data").mkdir(parents=True)
    (project / "data" / "gk.jsonl").write_text(GK.read_text())
    data = yaml.safe_load((EXAMPLES / "scripted_sweep.yaml").read_text())
    data["dataset"]["path"] = "data/gk.jsonl"
    data["cache_path"] = str(tmp_path / "calls.sqlite")
    (project / "exp.yaml").write_text(yaml.safe_dump(data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    wide_console(monkeypatch)

    run_dir = tmp_path / "run"
    out = cli.invoke(app, ["run", str(project / "exp.yaml"), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    total = 4 * len(GK_ROWS)
    assert f"{total} new record(s), 0 already done" in flat(out)
    for cell_id in CELLS_2X2:
        assert cell_id in flat(out)

    lines = (run_dir / "records.jsonl").read_bytes().splitlines(keepends=True)
    (run_dir / "records.jsonl").write_bytes(b"".join(lines[:10]) + lines[10][:25])
    out = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    assert f"{total - 10} new record(s), 10 already done" in flat(out)
    assert len(read_lines(run_dir)) == total


def test_resume_keeps_settings_that_are_none(tmp_path: Path):
    """`columns.id: null` (ids from content, not the 'id' field) must survive spec.yaml, or a
    resume re-keys every example."""
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        yaml.safe_dump(
            {
                "name": "null-columns",
                "dataset": {
                    "examples": [
                        {"id": "same", "question": "Q1?", "options": ["a", "b"], "answer": "A"},
                        {"id": "same", "question": "Q2?", "options": ["a", "b"], "answer": "B"},
                    ],
                    "columns": {"id": None},
                },
                "model": "scripted",
                "cache": False,
            }
        )
    )
    run_dir = tmp_path / "run"
    assert cli.invoke(app, ["run", str(exp), "--out", str(run_dir), "--quiet"]).exit_code == 0
    out = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert out.exit_code == 0, out.output
    assert "0 new record(s), 2 already done" in flat(out)


# -- 4. the call cache ----------------------------------------------------------------------


def test_an_identical_rerun_is_served_from_the_cache(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(
        tmp_path,
        model=model_seam.use(model),
        sweep=SWEEP_2X2,
        dataset={"path": str(GK), "limit": 4},
    )
    first = mb.run_experiment(spec, out=tmp_path / "first")
    calls = len(model.requests)
    assert calls > 0 and first.cache_misses == calls
    assert all(r.config.seed is not None for r in model.requests)  # seeded, hence cacheable

    second = mb.run_experiment(spec, out=tmp_path / "second")
    assert len(model.requests) == calls  # not one model call
    assert second.cache_misses == 0
    records = read_lines(tmp_path / "second")
    assert second.cache_hits == sum(r["calls"] for r in records) > 0
    assert all(c["cache_hit"] for r in records for c in r["result"]["calls"])
    assert all(r["cache_hits"] == r["calls"] for r in records)
    assert second.summary.cache == CacheCounts(enabled=True, hits=second.cache_hits, misses=0)
    assert by_key(records) == by_key(read_lines(tmp_path / "first"))

    third = mb.run_experiment(spec, out=tmp_path / "third", cache=False)
    made = len(model.requests) - calls
    assert made == sum(r["calls"] for r in read_lines(tmp_path / "third")) > calls
    assert third.cache_hits == third.cache_misses == 0
    assert third.summary.cache is not None and third.summary.cache.enabled is False

    before = len(model.requests)
    mb.run_experiment({**spec, "cache": False}, out=tmp_path / "fourth")
    assert len(model.requests) - before == made


def test_cli_no_cache_makes_the_calls_again(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(tmp_path, model=model_seam.use(model), dataset={"path": str(GK), "limit": 3})
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(spec))
    out = cli.invoke(app, ["run", str(exp), "--out", str(tmp_path / "a"), "--quiet"])
    assert out.exit_code == 0, out.output
    calls = len(model.requests)
    out = cli.invoke(app, ["run", str(exp), "--out", str(tmp_path / "b"), "--quiet"])
    assert out.exit_code == 0 and len(model.requests) == calls
    assert f"cache hits {calls}, misses 0" in flat(out)
    out = cli.invoke(app, ["run", str(exp), "--out", str(tmp_path / "c"), "--quiet", "--no-cache"])
    assert out.exit_code == 0, out.output
    assert len(model.requests) == 2 * calls and "cache hits 0, misses 0" in flat(out)


def test_sampling_runs_are_cached_on_the_seed(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(record_prompts=True)
    spec = make_spec(
        tmp_path,
        model=model_seam.use(model),
        dataset={"path": str(GK), "limit": 3},
        generation={"max_tokens": 64, "temperature": 0.7},
        seed=7,
    )
    first = mb.run_experiment(spec, out=tmp_path / "a")
    calls = len(model.requests)
    assert calls > 0 and {r.config.temperature for r in model.requests} == {0.7}

    again = mb.run_experiment(spec, out=tmp_path / "b")
    assert len(model.requests) == calls and again.cache_misses == 0

    other_seed = mb.run_experiment({**spec, "seed": 8}, out=tmp_path / "c")
    assert other_seed.cache_hits == 0 and other_seed.cache_misses == calls
    assert len(model.requests) == 2 * calls
    seeds = {r["example_id"]: r["seed"] for r in read_lines(tmp_path / "a")}
    assert all(seeds[r["example_id"]] != r["seed"] for r in read_lines(tmp_path / "c"))
    assert first.summary.cache is not None and first.summary.cache.misses == calls


def test_default_cache_path_follows_madebate_cache_then_xdg(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MADEBATE_CACHE", raising=False)
    home_cache = tmp_path / "home" / ".cache" / "madebate" / "calls.sqlite"
    for unusable in ("", "relative/cache"):  # XDG: empty or relative means unset
        monkeypatch.setenv("XDG_CACHE_HOME", unusable)
        assert default_cache_path() == home_cache
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_path() == tmp_path / "xdg" / "madebate" / "calls.sqlite"
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "mine.sqlite"))
    assert default_cache_path() == tmp_path / "mine.sqlite"


# -- 5. failed examples are recorded, not dropped --------------------------------------------


def test_a_failing_example_is_recorded_as_an_error_and_the_run_goes_on(tmp_path: Path, model_seam):
    def script(request: ScriptedRequest) -> str:
        if "hexagon" in request.prompt:
            raise ModelCallError("backend exploded on the hexagon", retryable=False)
        return default_script(request)

    spec = make_spec(
        tmp_path,
        model=model_seam.use(mb.ScriptedModel(script, record_prompts=True)),
        sweep={"protocol": ["majority_consensus", "simple_voting"]},
    )
    result = mb.run_experiment(spec, out=tmp_path / "run")
    records = read_lines(tmp_path / "run")
    assert len(records) == result.new_records == 2 * len(GK_ROWS)

    failed = [r for r in records if r["stop_reason"] == "error"]
    assert sorted(r["cell"] for r in failed) == result.cells
    assert {r["example_id"] for r in failed} == {"gk-03"}
    for r in failed:
        assert r["answer"] is None and r["decided"] is False
        assert r["scores"] == {"accuracy": 0.0}
        assert r["error"]["type"] == "ModelCallError"
        assert "backend exploded on the hexagon" in r["error"]["message"]
    assert all(r["error"] is None for r in records if r["example_id"] != "gk-03")
    for cell in result.summary.cells.values():
        assert cell.n == len(GK_ROWS) and cell.errors == 1 and cell.no_answer == 1
        assert cell.decision_rate == pytest.approx((len(GK_ROWS) - 1) / len(GK_ROWS))
        assert cell.undecided == 1 and cell.stop_reasons["error"] == 1
        assert cell.metrics["accuracy"].n == len(GK_ROWS)

    rows = mb.load_run(tmp_path / "run").rows()
    failure = "A1's discussion call to model 'scripted' failed: backend exploded on the hexagon"
    assert {r["error"] for r in rows} == {None, failure}


def test_a_cell_whose_model_cannot_be_made_fails_the_run_before_anything_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model_seam
):
    # A missing key is the same for every example: one clear error up front, not a run of
    # error records that a resume would then skip.
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("MADEBATE_TEST_NO_SUCH_KEY", raising=False)
    keyless = {"id": "openai/x", "api_key_env": "MADEBATE_TEST_NO_SUCH_KEY"}
    spec = make_spec(
        tmp_path, dataset={"path": str(GK), "limit": 3}, sweep={"model": ["scripted", keyless]}
    )
    with pytest.raises(ConfigError, match="MADEBATE_TEST_NO_SUCH_KEY"):
        mb.run_experiment(spec, out=tmp_path / "run")
    assert not (tmp_path / "run").exists()
    # Nothing is left locked or half-made: the same directory works once the key is there.
    monkeypatch.setenv("MADEBATE_TEST_NO_SUCH_KEY", "k")
    model_seam.use(
        mb.ScriptedModel(record_prompts=True), prefix="openai"
    )  # no server: the scripted model stands in
    result = mb.run_experiment(spec, out=tmp_path / "run")
    assert result.new_records == 6


# -- 6. the shipped examples ------------------------------------------------------------------


@pytest.fixture
def isolated_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default call cache ($MADEBATE_CACHE, else ~/.cache/madebate), moved into tmp_path."""
    path = tmp_path / "default-cache.sqlite"
    monkeypatch.setenv("MADEBATE_CACHE", str(path))
    return path


def test_example_scripted_sweep_runs_offline(tmp_path: Path, isolated_default_cache: Path):
    data = yaml.safe_load((EXAMPLES / "scripted_sweep.yaml").read_text())
    data["dataset"]["path"] = str(EXAMPLES / data["dataset"]["path"])
    data["cache_path"] = str(tmp_path / "calls.sqlite")
    result = mb.run_experiment(data, out=tmp_path / "run")
    assert result.cells == CELLS_2X2
    assert result.new_records == 4 * len(GK_ROWS)
    for cell in result.summary.cells.values():
        assert cell.n == len(GK_ROWS) and cell.errors == 0 and cell.decision_rate == 1.0
    assert (tmp_path / "calls.sqlite").is_file() and not isolated_default_cache.exists()

    # The file itself, by path (its dataset path is relative to the file), on the default cache.
    by_path = mb.run_experiment(EXAMPLES / "scripted_sweep.yaml", out=tmp_path / "by-path")
    assert by_path.cache_misses > 0 and isolated_default_cache.is_file()
    assert by_key(read_lines(by_path.run_dir)) == by_key(read_lines(result.run_dir))


def _fake_vllm(request: RecordedRequest) -> ScriptedResponse:
    """Plays the whole panel: expert personas, a first proposal, agreement, ballots."""
    body = request.body
    prompt = body["messages"][-1]["content"]
    response_format = body.get("response_format")
    if prompt.startswith("We are forming a panel of experts"):
        n = prompt.count('- {"name"') + 1  # the experts already on the panel, plus one
        return completion(
            json.dumps(
                {"name": f"Expert {n}", "description": "Knows things.", "expertise": ["facts"]}
            )
        )
    if response_format is not None:
        schema = response_format["json_schema"]["schema"]
        if "answer" in schema["properties"]:  # a structured discussion reply
            reply = {"reasoning": "I checked the options.", "answer": "B"}
            if "stance" in schema["properties"]:
                reply["stance"] = "agree"
            return completion(json.dumps(reply), completion_tokens=7)
        choices = schema["properties"]["choice"]["enum"]
        return completion(json.dumps({"choice": choices[0]}))
    if "Current Solution: none yet" in prompt:
        return completion("I checked the options.\nFinal Solution: B) x", completion_tokens=7)
    return completion("[AGREE] The current solution holds up.\nFinal Solution: B) x")


def test_example_openai_server_runs_against_a_local_server(tmp_path: Path, monkeypatch):
    secret = "sk-test-NEVER-WRITTEN-5d1e"
    monkeypatch.setenv("VLLM_API_KEY", secret)
    data = yaml.safe_load((EXAMPLES / "openai_server.yaml").read_text())
    data["dataset"].update(path=str(EXAMPLES / data["dataset"]["path"]), limit=3)
    data["sweep"] = {"paradigm": ["memory", "relay"], "protocol": data["sweep"]["protocol"]}
    data["cache_path"] = str(tmp_path / "calls.sqlite")
    with OpenAITestServer(_fake_vllm) as server:
        data["model"]["base_url"] = server.base_url
        result = mb.run_experiment(data, out=tmp_path / "run")
        requests = server.requests
    assert len(result.cells) == 4
    records = read_lines(tmp_path / "run")
    assert len(records) == result.new_records == 4 * 3
    assert all(r["error"] is None and r["answer"] == "B" for r in records)
    assert {r["stop_reason"] for r in records} == {"consensus", "vote"}
    gk = {row["id"]: row["answer"] for row in GK_ROWS}
    assert all(r["scores"]["accuracy"] == float(gk[r["example_id"]] == "B") for r in records)
    # expert personas came from the server, one per agent
    agents = records[0]["result"]["agents"]
    assert [a["persona_name"] for a in agents] == ["Expert 1", "Expert 2", "Expert 3"]

    assert {r.body["model"] for r in requests} == {"Qwen/Qwen2.5-7B-Instruct"}
    assert all(r.headers["authorization"] == f"Bearer {secret}" for r in requests)
    assert all(r.body["max_tokens"] == 512 and r.body["temperature"] == 0.0 for r in requests)
    assert len(requests) == result.cache_misses  # each distinct request went out once
    for path in (tmp_path / "run").iterdir():
        assert secret not in path.read_text(), f"the API key leaked into {path.name}"


@pytest.mark.slow
def test_example_embedded_default_runs_on_the_real_model(tmp_path: Path):
    data = yaml.safe_load((EXAMPLES / "embedded_default.yaml").read_text())
    data["dataset"].update(path=str(EXAMPLES / data["dataset"]["path"]), limit=3)
    data["cache_path"] = str(tmp_path / "calls.sqlite")
    result = mb.run_experiment(data, out=tmp_path / "run")
    records = read_lines(tmp_path / "run")
    assert len(records) == result.new_records == 3
    for r in records:
        assert r["error"] is None
        assert r["stop_reason"] in {"consensus", "max_turns"}
        assert r["calls"] >= 1 and r["tokens"] > 0
        assert {c["model"] for c in r["result"]["calls"]} == {
            "llamacpp/SmolLM2-135M-Instruct.Q4_1.gguf"
        }
    assert result.summary.cells["main"].n == 3


# -- 7. reading a run back, summary and eval, existing run directories ------------------------


@pytest.fixture
def finished_run(tmp_path: Path) -> Path:
    spec = make_spec(
        tmp_path,
        dataset={"path": str(GK), "limit": 5},
        sweep={"paradigm": ["memory", "relay"]},
    )
    return mb.run_experiment(spec, out=tmp_path / "run").run_dir


def test_load_run_rows_and_rescore(finished_run: Path):
    run = mb.load_run(finished_run)
    assert run.cells == ["paradigm=memory", "paradigm=relay"]
    assert run.spec.name == "test-experiment" and len(run.records) == 10
    assert run.spec_data["name"] == "test-experiment"  # spec.yaml as it is on disk
    stored = json.loads((finished_run / "summary.json").read_text())
    assert run.summary.model_dump(mode="json")["cells"] == stored["cells"]
    assert run.stored_summary is not None and run.stored_summary.cells == run.summary.cells

    rows = run.rows()
    assert len(rows) == 10
    for row, record in zip(rows, run.records, strict=True):
        assert "result" not in row and "scores" not in row and "schema_version" not in row
        assert row["score.accuracy"] == record.scores["accuracy"]
        assert row["cell"] == record.cell and row["answer"] == record.answer
        assert row["error"] is None
        assert all(not isinstance(v, dict) for v in row.values())  # flat

    rescored = run.rescore(["exact_match", "contains"])
    assert len(rescored) == 10
    for r, record in zip(rescored, run.records, strict=True):
        assert set(r.scores) == {"exact_match", "contains"}
        assert r.key == record.key and r.answer == record.answer
        assert record.result is not None
        task = record.result.task
        assert task.references == record.references and task.options
        expected = mb.runs.score(record.answer, record.solution, task, ["exact_match", "contains"])
        assert r.scores == expected
    # the stored task round-trips: rescoring with the run's own metric gives the stored scores
    assert [r.scores for r in run.rescore(["accuracy"])] == [r.scores for r in run.records]
    assert run.records[0].scores == {"accuracy": run.records[0].scores["accuracy"]}
    with pytest.raises(mb.ConfigError, match="unknown metric 'bogus'"):
        run.rescore(["bogus"])


def test_load_run_refuses_a_directory_that_is_not_a_run(tmp_path: Path):
    with pytest.raises(mb.ConfigError, match="not a run directory"):
        mb.load_run(tmp_path)


def test_summary_and_eval_commands_print_every_cell(finished_run: Path, monkeypatch):
    wide_console(monkeypatch)
    out = cli.invoke(app, ["summary", str(finished_run)])
    assert out.exit_code == 0, out.output
    assert "paradigm=memory" in flat(out) and "paradigm=relay" in flat(out)
    assert "accuracy" in flat(out)

    out = cli.invoke(app, ["eval", str(finished_run), "-m", "accuracy", "-m", "token_f1"])
    assert out.exit_code == 0, out.output
    assert "paradigm=memory" in flat(out) and "paradigm=relay" in flat(out)
    assert re.search(r"accuracy \d\.\d{3} \[", flat(out))
    assert re.search(r"token_f1 \d\.\d{3} \[", flat(out))

    out = cli.invoke(app, ["eval", str(finished_run), "-m", "bogus"])
    assert out.exit_code == 2 and "unknown metric 'bogus'" in flat(out)
    out = cli.invoke(app, ["summary", str(finished_run.parent / "nowhere")])
    assert out.exit_code == 2 and "not a run directory" in flat(out)


def test_running_into_a_finished_run_directory_fails_clearly(tmp_path: Path, finished_run: Path):
    before = (finished_run / "records.jsonl").read_bytes()
    spec = make_spec(tmp_path, dataset={"path": str(GK), "limit": 2})
    with pytest.raises(FileExistsError, match="already holds records; resume it with --resume"):
        mb.run_experiment(spec, out=finished_run)
    exp = tmp_path / "exp.yaml"
    exp.write_text(yaml.safe_dump(spec))
    out = cli.invoke(app, ["run", str(exp), "--out", str(finished_run), "--quiet"])
    assert out.exit_code == 2
    assert "already holds records; resume it with --resume" in flat(out)
    assert (finished_run / "records.jsonl").read_bytes() == before


async def test_the_async_runner_and_the_sync_facade_inside_a_running_loop(tmp_path: Path):
    spec = make_spec(tmp_path, dataset={"path": str(GK), "limit": 2})
    result = await mb.run_experiment_async(spec, out=tmp_path / "async")
    assert result.new_records == 2
    # the sync facade called from inside a running loop (a notebook) runs on its own thread
    again = mb.run_experiment(spec, out=tmp_path / "sync")
    assert again.new_records == 2 and again.cache_misses == 0


def test_two_runs_on_one_directory_refuse_instead_of_interleaving(tmp_path: Path):
    from madebate._errors import MadebateError
    from madebate.runs._runlog import RunWriter

    first = RunWriter(tmp_path / "run", spec={"name": "x"}, cells=[], resume=False)
    try:
        with pytest.raises(MadebateError, match=r"in use by another run \(pid \d+\)"):
            RunWriter(tmp_path / "run", spec={"name": "x"}, cells=[], resume=True)
    finally:
        first.close()
    # Released on close (and by the OS when a process dies): resuming works again.
    again = RunWriter(tmp_path / "run", spec={"name": "x"}, cells=[], resume=True)
    again.close()


def test_a_persona_library_file_is_found_next_to_the_experiment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    study = tmp_path / "study"
    study.mkdir()
    (study / "crew.yaml").write_text(
        "name: crew\npersonas:\n"
        "  - {name: Navigator, description: Plots the course., expertise: [maps]}\n"
        "  - {name: Engineer, description: Keeps things running., expertise: [engines]}\n",
        encoding="utf-8",
    )
    spec = make_spec(
        tmp_path,
        dataset={"path": str(GK), "limit": 1},
        team={"agents": 2, "personas": "library:crew.yaml"},
    )
    (study / "exp.yaml").write_text(yaml.safe_dump(spec), encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # not the experiment's folder
    result = mb.run_experiment(study / "exp.yaml", out=tmp_path / "run")
    record = read_lines(tmp_path / "run")[0]
    assert result.new_records == 1 and record["error"] is None
    assert {a["persona_name"] for a in record["result"]["agents"]} == {"Navigator", "Engineer"}
