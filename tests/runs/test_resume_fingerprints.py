"""Resume never mixes: each record carries fingerprints of its cell's settings and its
example's content. A resume after the spec changed is refused, naming what changed (or, with
--restart-changed, runs the changed cells afresh); a changed example runs again; a removed one
leaves the summary; an unchanged resume runs nothing. Records without fingerprints (older
runs) still resume, as unknown, with a warning."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import madebate as mb
from madebate._errors import ConfigError
from madebate.cli import app
from madebate.runs._load import load_run
from madebate.runs._runlog import FINGERPRINTS_FILE, latest_records

ROOT = Path(__file__).resolve().parents[2]
GK = ROOT / "examples" / "data" / "general_knowledge.jsonl"
ROWS = [json.loads(line) for line in GK.read_text().splitlines() if line.strip()][:6]
CELLS = ["model=scripted/a", "model=scripted/b"]

cli = CliRunner()


def write_data(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def make_spec(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    """Two cells that differ by the model's name only, over six examples in tmp."""
    spec: dict[str, Any] = {
        "name": "fingerprints",
        "dataset": {"path": str(write_data(tmp_path / "data.jsonl", ROWS))},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "discussion": {"max_turns": 3, "protocol": "majority_consensus"},
        "sweep": {"model": [{"id": "scripted/a"}, {"id": "scripted/b"}]},
        "cache": False,
    }
    spec.update(overrides)
    return spec


def edit_spec(run_dir: Path, edit: Any) -> None:
    path = run_dir / "spec.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    edit(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def lines(run_dir: Path) -> list[dict[str, Any]]:
    raw = (run_dir / "records.jsonl").read_text(encoding="utf-8")
    return [json.loads(line) for line in raw.splitlines()]


def test_records_carry_fingerprints(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mb.run_experiment(make_spec(tmp_path), out=run_dir)
    records = lines(run_dir)
    assert len(records) == 12
    assert all(r["schema_version"] >= 3 for r in records)  # 3 added the fingerprints
    by_cell = {r["cell"]: r["cell_fingerprint"] for r in records}
    assert set(by_cell) == set(CELLS) and len(set(by_cell.values())) == 2  # cells differ
    by_example = {(r["example_id"], r["example_fingerprint"]) for r in records}
    assert len(by_example) == 6  # the same example has the same fingerprint in each cell
    stored = json.loads((run_dir / FINGERPRINTS_FILE).read_text())
    assert stored["cells"]["model=scripted/a"]["fingerprint"] == by_cell["model=scripted/a"]
    assert set(stored["examples"]) == {r["id"] for r in ROWS}


def test_unchanged_resume_runs_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mb.run_experiment(make_spec(tmp_path), out=run_dir)
    result = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "0 new record(s), 12 already done" in result.output
    assert len(lines(run_dir)) == 12


def test_changed_protocol_is_refused_naming_the_field(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mb.run_experiment(make_spec(tmp_path), out=run_dir)
    spec_before = (run_dir / "spec.yaml").read_text()
    edit_spec(run_dir, lambda d: d["discussion"].update(protocol="simple_voting"))
    edited = (run_dir / "spec.yaml").read_text()
    result = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert result.exit_code == 2, result.output
    out = " ".join(result.output.split())
    assert "discussion.protocol: majority_consensus -> simple_voting" in out
    assert "--restart-changed" in out and "Traceback" not in out
    # Nothing was written: the records, the edited spec and the fingerprints stay as they were.
    assert len(lines(run_dir)) == 12
    assert (run_dir / "spec.yaml").read_text() == edited != spec_before
    with pytest.raises(ConfigError, match=r"discussion\.protocol"):
        mb.run_experiment(yaml.safe_load(edited), resume=run_dir)


def test_restart_changed_reruns_the_changed_cell_alone(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mb.run_experiment(make_spec(tmp_path), out=run_dir)

    def edit(data: dict[str, Any]) -> None:
        data["sweep"]["model"][1] = {"id": "scripted/b", "context_window": 100_000}

    edit_spec(run_dir, edit)
    refused = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert refused.exit_code == 2
    assert "model.context_window: null -> 100000" in " ".join(refused.output.split())
    assert "cell model=scripted/a" not in refused.output
    result = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet", "--restart-changed"])
    assert result.exit_code == 0, result.output
    assert "6 new record(s), 6 already done" in result.output
    assert "cell model=scripted/b run afresh" in " ".join(result.output.split())
    new = lines(run_dir)[12:]
    assert {r["cell"] for r in new} == {"model=scripted/b"} and len(new) == 6
    run = load_run(run_dir)
    assert len(run.records) == 12  # the old cell b records are history, not counted
    summary = run.summary.cells
    assert summary["model=scripted/a"].n == 6 and summary["model=scripted/b"].n == 6
    again = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert again.exit_code == 0 and "0 new record(s), 12 already done" in again.output


def test_changed_example_runs_again(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    run_dir = tmp_path / "run"
    mb.run_experiment(spec, out=run_dir)
    rows = [dict(r) for r in ROWS]
    rows[2]["question"] = rows[2]["question"] + " (edited)"
    write_data(tmp_path / "data.jsonl", rows)
    result = mb.run_experiment(spec, resume=run_dir)
    assert result.new_records == 2 and result.skipped == 10
    new = lines(run_dir)[12:]
    assert {r["example_id"] for r in new} == {ROWS[2]["id"]}
    current = {(r.cell, r.example_id): r for r in latest_records(run_dir)}
    assert len(current) == 12
    edited = current[(CELLS[0], ROWS[2]["id"])]
    assert edited.result is not None and "(edited)" in edited.result.task.question
    assert mb.run_experiment(spec, resume=run_dir).new_records == 0


def test_removed_example_leaves_the_summary(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    run_dir = tmp_path / "run"
    first = mb.run_experiment(spec, out=run_dir)
    assert first.summary.cells[CELLS[0]].n == 6
    write_data(tmp_path / "data.jsonl", ROWS[:5])
    result = mb.run_experiment(spec, resume=run_dir)
    assert result.new_records == 0
    assert all(result.summary.cells[c].n == 5 for c in CELLS)
    assert result.summary.complete is True
    assert all(load_run(run_dir).summary.cells[c].n == 5 for c in CELLS)  # `summary` too
    shown = cli.invoke(app, ["summary", str(run_dir), "--format", "json"])
    assert shown.exit_code == 0, shown.output
    assert all(c["n"] == 5 for c in json.loads(shown.output)["cells"].values())
    assert len(lines(run_dir)) == 12  # the record stays in the file, as history


def test_records_without_fingerprints_resume_as_unknown(tmp_path: Path) -> None:
    spec = make_spec(tmp_path)
    run_dir = tmp_path / "run"
    mb.run_experiment(spec, out=run_dir)
    # As an older version wrote it: schema 2 records, no fingerprints, no fingerprints.json.
    old = []
    for r in lines(run_dir):
        r = {k: v for k, v in r.items() if not k.endswith("_fingerprint")}
        old.append({**r, "schema_version": 2})
    (run_dir / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in old))
    (run_dir / FINGERPRINTS_FILE).unlink()
    with pytest.warns(UserWarning, match="12 record.*before records had fingerprints.*unknown"):
        result = mb.run_experiment(spec, resume=run_dir)
    assert result.new_records == 0 and result.summary.cells[CELLS[0]].n == 6
    assert all(r.cell_fingerprint is None for r in latest_records(run_dir))


def _as_if_older_madebate(run_dir: Path, dropped: str) -> None:
    """Make the run look written by a madebate that lacked the setting `dropped`
    ("discussion.judge"): drop it from the stored settings and give the records and the stored
    cell another fingerprint, as the smaller settings hashed."""
    path = run_dir / FINGERPRINTS_FILE
    stored = json.loads(path.read_text())
    section, key = dropped.split(".")
    for cid, cell in stored["cells"].items():
        del cell["settings"][section][key]
        cell["fingerprint"] = f"older-{cid}"
    path.write_text(json.dumps(stored))
    records = lines(run_dir)
    for r in records:
        r["cell_fingerprint"] = f"older-{r['cell']}"
    (run_dir / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def test_a_setting_added_since_at_its_default_keeps_the_records(tmp_path: Path) -> None:
    """Upgrading madebate mid-study: a setting it gained (at its default, None here) changes
    the settings' hash but not the discussions, so the records are kept; the old fingerprint is
    remembered (later resumes keep them too), and a real change is still refused by name."""
    spec = make_spec(tmp_path)
    run_dir = tmp_path / "run"
    mb.run_experiment(spec, out=run_dir)
    assert (
        json.loads((run_dir / FINGERPRINTS_FILE).read_text())["cells"][CELLS[0]]["settings"][
            "discussion"
        ]["judge"]
        is None
    )
    _as_if_older_madebate(run_dir, "discussion.judge")

    for _ in range(2):  # the second resume reads the `same_as` the first one wrote
        result = mb.run_experiment(spec, resume=run_dir)
        assert len(lines(run_dir)) == 12  # nothing ran again
        assert result.summary.cells[CELLS[0]].n == 6
    stored = json.loads((run_dir / FINGERPRINTS_FILE).read_text())
    assert stored["cells"][CELLS[0]]["same_as"] == [f"older-{CELLS[0]}"]
    assert len(load_run(run_dir).records) == 12

    spec["discussion"]["max_turns"] = 2
    with pytest.raises(ConfigError, match=r"discussion\.max_turns: 3 -> 2"):
        mb.run_experiment(spec, resume=run_dir)


def test_a_dropped_setting_with_a_value_is_a_change(tmp_path: Path) -> None:
    """Only a setting at an added setting's default passes: one that is missing from the old
    settings but set now (max_turns 3) is a change, named."""
    spec = make_spec(tmp_path)
    run_dir = tmp_path / "run"
    mb.run_experiment(spec, out=run_dir)
    _as_if_older_madebate(run_dir, "discussion.max_turns")
    with pytest.raises(ConfigError, match=r"discussion\.max_turns: null -> 3"):
        mb.run_experiment(spec, resume=run_dir)
