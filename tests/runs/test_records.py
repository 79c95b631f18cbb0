"""Typed, versioned run files: `RunRecord`, `RunSummary` and `CellSummary` as written, and run
directories written before `schema_version` existed read through the one upgrade.

tests/data/old_run_v0 was written by the code before versions (commit d31996d): the scripted
sweep (examples/scripted_sweep.yaml) over 3 examples, in two sessions. In the first, one
example failed in two cells; the resumed second session ran both again, one failing again. So
records.jsonl holds 14 lines without `schema_version`: two superseded error lines, a latest
error record, and summary.json (without `schema_version`) from the second session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import madebate as mb
from madebate.cli import app
from madebate.report._report import write_report
from madebate.runs._experiment import ExperimentSpec
from madebate.runs._records import (
    SCHEMA_VERSION,
    CacheCounts,
    CellSummary,
    ExecutorInfo,
    FailedExample,
    RunRecord,
    RunSummary,
    WorkerStats,
    parse_record,
    parse_summary,
    upgrade,
)

OLD_RUN = Path(__file__).parents[1] / "data" / "old_run_v0"
GK = Path(__file__).parents[2] / "examples" / "data" / "general_knowledge.jsonl"
CELLS_2X2 = [
    "paradigm=memory,protocol=majority_consensus",
    "paradigm=memory,protocol=simple_voting",
    "paradigm=debate,protocol=majority_consensus",
    "paradigm=debate,protocol=simple_voting",
]
FAILED_TWICE = ("paradigm=memory,protocol=majority_consensus", "gk-12", 0)
FAILED_ONCE = ("paradigm=debate,protocol=simple_voting", "gk-07", 0)


def make_record(**fields: Any) -> RunRecord:
    """A record of one decided, correct example, with `fields` changed (for tests that need
    records without running anything)."""
    base: dict[str, Any] = {
        "cell": "main",
        "example_id": "e1",
        "repeat": 0,
        "seed": 1,
        "answer": "A",
        "solution": "A",
        "references": ["A"],
        "decided": True,
        "stop_reason": "consensus",
        "turns": 1,
        "scores": {"accuracy": 1.0},
        "calls": 1,
        "tokens": 10,
        "cache_hits": 0,
        "retries": 0,
        "failed_calls": 0,
        "truncated": 0,
        "looped": 0,
        "unreadable": 0,
        "wall_s": 0.0,
        "error": None,
        "analytics": None,
        "result": None,
    }
    return RunRecord(**{**base, **fields})


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    copy = tmp_path / "old_run_v0"
    shutil.copytree(OLD_RUN, copy)
    return copy


def _lines(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


# -- the run directory from before versions ---------------------------------------------------


def test_the_fixture_is_in_the_format_before_versions():
    lines = _lines(OLD_RUN)
    assert len(lines) == 14 and all("schema_version" not in r for r in lines)
    assert all(len(r) == 23 for r in lines)  # every field of the time, looped and all
    assert "schema_version" not in json.loads((OLD_RUN / "summary.json").read_text())


def test_a_run_directory_from_before_versions_loads_through_the_upgrade(old_run: Path):
    run = mb.load_run(old_run)
    assert isinstance(run.spec, ExperimentSpec) and run.spec.name == "scripted-sweep"
    assert run.spec_data["name"] == "scripted-sweep"  # spec.yaml as it is on disk
    assert run.cells == CELLS_2X2
    assert len(run.records) == 12  # the latest record of each example of each cell
    assert all(type(r) is RunRecord and r.schema_version == SCHEMA_VERSION for r in run.records)

    by_key = {r.key: r for r in run.records}
    recovered = by_key[FAILED_ONCE]  # failed in the first session, then done
    assert not recovered.failed and recovered.result is not None
    assert recovered.analytics is not None and recovered.answer == recovered.result.answer
    failed = by_key[FAILED_TWICE]
    assert failed.failed and failed.result is None and failed.analytics is None
    assert failed.error is not None and failed.error.type == "ModelCallError"
    assert failed.error.message == "backend <down>" and failed.scores == {"accuracy": 0.0}

    stored = run.stored_summary
    assert stored is not None and stored.schema_version == SCHEMA_VERSION
    assert stored.experiment == "scripted-sweep" and stored.complete is False
    assert stored.stopped is None and stored.new_records == 2
    assert stored.cache == CacheCounts(enabled=False, hits=0, misses=0)
    assert stored.executor is None and stored.workers is None
    cell = stored.cells[FAILED_TWICE[0]]
    assert cell.errors == 1 and cell.failed_examples == [
        FailedExample(example_id="gk-12", repeat=0, cause="backend <down>")
    ]
    # The summary recomputed from the upgraded records is the one the old code wrote, less the
    # fields schema 2 added (unknown in the old summary: None, intervals "per_record").
    assert all(m.method == "per_record" and m.examples is None for m in cell.metrics.values())
    assert cell.examples is None and cell.option_positions is None and cell.messages is None
    assert stored.run_wall_s is None and stored.sessions is None and stored.started_at is None
    assert list(run.summary.cells) == list(stored.cells)
    for cid, now in run.summary.cells.items():
        assert _before_v2(now) == _before_v2(stored.cells[cid])
        assert now.option_positions is not None  # the old run is multiple choice
        assert sum(now.option_positions.correct.values()) == now.n


def _before_v2(cell: CellSummary) -> dict[str, Any]:
    data = cell.model_dump(
        exclude={"examples", "messages", "unreadable_rate", "truncated_rate", "option_positions"}
    )
    data.pop("usage_by_model")  # added in schema 4: None in the old summary
    for m in data["metrics"].values():
        del m["examples"], m["method"]
    # Analytics added later: empty or None for records made before them.
    for key in ("mean_answer_diversity_by_turn", "mean_persona_diversity", "team"):
        (data.get("analytics") or {}).pop(key, None)
    (data.get("analytics") or {}).pop("persona_diversity_method", None)
    return data


def test_an_old_run_is_reported_summarised_and_rescored(old_run: Path, tmp_path: Path):
    view = write_report(old_run, tmp_path / "report")
    html = view.path.read_text(encoding="utf-8")
    for cell in CELLS_2X2:
        assert f'data-cell="{cell}"' in html
    assert "scripted-sweep" in html and "finished 20" in html  # from the stored summary
    broken = (view.path.parent / "discussions" / "c1-gk-12-r0.html").read_text(encoding="utf-8")
    assert "ModelCallError: backend &lt;down&gt;" in broken

    out = CliRunner().invoke(app, ["summary", str(old_run)])
    assert out.exit_code == 0, out.output
    assert f"failed: {FAILED_TWICE[0]} example gk-12 (repeat 0): backend <down>" in out.output
    out = CliRunner().invoke(app, ["eval", str(old_run), "-m", "exact_match"])
    assert out.exit_code == 0, out.output

    rescored = mb.load_run(old_run).rescore(["exact_match"])
    assert {tuple(r.scores) for r in rescored} == {("exact_match",)}


def test_resuming_an_old_run_appends_versioned_records_and_reads_both(old_run: Path):
    spec = yaml.safe_load((old_run / "spec.yaml").read_text(encoding="utf-8"))
    spec["dataset"]["path"] = str(GK)  # where the data is here
    result = mb.run_experiment(spec, resume=old_run, cache=False)
    assert result.new_records == 1 and result.skipped == 11  # the failed example, again
    assert result.summary.complete is True

    lines = _lines(old_run)
    assert len(lines) == 15
    assert all("schema_version" not in r for r in lines[:14])  # kept as they were
    assert next(iter(lines[14])) == "schema_version"
    assert lines[14]["schema_version"] == SCHEMA_VERSION
    run = mb.load_run(old_run)
    assert len(run.records) == 12 and not any(r.failed for r in run.records)
    stored = json.loads((old_run / "summary.json").read_text())
    assert stored["schema_version"] == SCHEMA_VERSION and stored["complete"] is True


# -- the upgrade and validation ----------------------------------------------------------------


def test_upgrade_fills_what_a_version_0_record_may_lack():
    """Files from before the counts of retries, failed, cut, looped and unreadable replies (and
    the analytics) were recorded: they read as none."""
    old = _lines(OLD_RUN)[2]
    recent = ("cache_hits", "retries", "failed_calls", "truncated", "looped", "unreadable")
    for name in (*recent, "analytics"):
        old.pop(name)
    record = parse_record(old, source="test")
    assert all(getattr(record, name) == 0 for name in recent) and record.analytics is None
    assert upgrade("record", {"schema_version": SCHEMA_VERSION, "x": 1}) == {
        "x": 1,
        "schema_version": SCHEMA_VERSION,
    }  # a current one is left as it is

    summary = json.loads((OLD_RUN / "summary.json").read_text())
    for cell in summary["cells"].values():
        for name in ("truncated_replies", "looped_replies", "unreadable_replies", "analytics"):
            cell.pop(name)
    for name in ("complete", "stopped", "cache"):
        summary.pop(name)
    parsed = parse_summary(summary, source="test")
    assert all(c.looped_replies == 0 and c.analytics is None for c in parsed.cells.values())
    assert parsed.complete is None and parsed.cache is None


def test_a_record_from_a_newer_version_or_not_a_record_fails_naming_the_line(old_run: Path):
    path = old_run / "records.jsonl"
    good = path.read_bytes()
    newer = {**_lines(OLD_RUN)[2], "schema_version": SCHEMA_VERSION + 1}
    path.write_bytes(good + json.dumps(newer).encode() + b"\n")
    with pytest.raises(mb.ConfigError, match=r"records\.jsonl, line 15.*newer madebate"):
        mb.load_run(old_run)
    path.write_bytes(good + b'{"cell": "main", "example_id": "e9"}\n')
    with pytest.raises(mb.ConfigError, match=r"records\.jsonl, line 15, field 'repeat'"):
        mb.load_run(old_run)
    path.write_bytes(good + b'{"cell": "main", "example_id": "e9", "repeat": 0, "surprise": 1}')
    assert len(mb.load_run(old_run).records) == 12  # a torn last line is skipped


def test_a_run_writes_versioned_records_and_summary(tmp_path: Path):
    spec = {
        "name": "versioned",
        "dataset": {"examples": [{"id": "a", "question": "q?", "options": ["x", "y"]}]},
        "model": "scripted",
        "cache": False,
    }
    result = mb.run_experiment(spec, out=tmp_path / "run")
    (line,) = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    assert line.startswith(f'{{"schema_version":{SCHEMA_VERSION},"cell":"main",')
    record = RunRecord.model_validate_json(line)
    assert mb.load_run(tmp_path / "run").records == [record]
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert list(summary)[:2] == ["schema_version", "cells"]
    assert RunSummary.model_validate(summary) == result.summary


@pytest.mark.parametrize(
    "model",
    [RunRecord, CellSummary, RunSummary, FailedExample, CacheCounts, ExecutorInfo, WorkerStats],
)
def test_every_field_of_the_run_files_is_documented(model: type[Any]):
    undocumented = [n for n, f in model.model_fields.items() if not f.description]
    assert undocumented == []
    assert model.model_config.get("extra") == "forbid"
