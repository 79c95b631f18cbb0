"""The command line, driven in-process with typer's runner."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from madebate.cli import app

runner = CliRunner()


def test_discuss_prints_turns_answer_and_stop_reason():
    out = runner.invoke(
        app, ["discuss", "Largest planet?", "-o", "Mars", "-o", "Jupiter", "--model", "scripted"]
    )
    assert out.exit_code == 0, out.output
    assert "turn 1 · A1" in out.output
    assert "stop reason" in out.output and "consensus" in out.output


def test_discuss_json_is_the_result_only():
    out = runner.invoke(
        app,
        [
            "discuss",
            "Largest planet?",
            "-o",
            "Mars",
            "-o",
            "Jupiter",
            "--model",
            "scripted",
            "--paradigm",
            "debate",
            "--agents",
            "4",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["paradigm"] == "debate" and len(data["agents"]) == 4
    assert data["stop_reason"] == "consensus" and data["answer"] in {"A", "B"}


def test_paradigms_list_and_show():
    out = runner.invoke(app, ["paradigms"])
    assert out.exit_code == 0
    for name in ["memory", "relay", "report", "debate", "collective_refinement"]:
        assert name in out.output
    out = runner.invoke(app, ["paradigms", "show", "relay", "--agents", "4"])
    assert out.exit_code == 0
    assert "A4 -> A1" in out.output and "A1 -> A2" in out.output


def test_bad_paradigm_file_is_a_clear_error_without_traceback(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: bad\nschedule:\n  - speakers: panel + ghosts\n")
    out = runner.invoke(app, ["discuss", "Q?", "--model", "scripted", "--paradigm", str(bad)])
    assert out.exit_code == 2
    assert str(bad) in out.output and "schedule[0].speakers" in out.output
    assert "ghosts" in out.output and "Traceback" not in out.output


def test_unknown_protocol_names_the_valid_ones():
    out = runner.invoke(app, ["discuss", "Q?", "--model", "scripted", "--protocol", "vibes"])
    assert out.exit_code == 2
    assert "majority_consensus" in out.output
