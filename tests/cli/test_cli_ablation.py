"""`madebate discuss --method ablation`: the baseline from the command line."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from madebate.cli import app

runner = CliRunner()
QUESTION = ["discuss", "Largest planet?", "-o", "Mars", "-o", "Jupiter", "--model", "scripted"]


def test_discuss_runs_the_ablation_baseline_with_n_refinements():
    out = runner.invoke(app, [*QUESTION, "--method", "ablation", "--refinements", "3", "--json"])
    assert out.exit_code == 0, out.output
    result = json.loads(out.output)
    assert result["paradigm"] == result["protocol"] == "ablation"
    assert [m["turn"] for m in result["messages"]] == [1, 2, 3]
    assert result["usage"]["calls"] == 3 and result["turns"] == 3

    out = runner.invoke(app, [*QUESTION, "--method", "ablation", "--refinements", "2"])
    assert out.exit_code == 0, out.output
    assert "baseline ablation · model scripted" in out.output
    assert "refinement 2 after 2 of 2" in " ".join(out.output.split())


def test_a_bad_refinement_count_is_a_clear_error():
    out = runner.invoke(app, [*QUESTION, "--method", "ablation", "--refinements", "0"])
    assert out.exit_code == 2
    assert "refinements" in out.output and "Traceback" not in out.output
