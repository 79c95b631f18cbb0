"""Issue 15, items 4, 5 and the summary half of 2: intervals over examples (repeats add no
false precision), the summary in four formats and readable at 80 columns, the unreadable and
cut rates, the run's wall time apart from the summed discussion time, and the option positions
of multiple-choice cells."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import madebate as mb
import madebate.cli as cli_module
from madebate.cli import app
from madebate.runs._records import RunRecord, parse_summary
from madebate.runs._scoring import summarize
from madebate.runs._summary import summarize_cell

EXAMPLES = [
    {"id": "a", "question": "q1?", "options": ["x", "y", "z"], "answer": "A"},
    {"id": "b", "question": "q2?", "options": ["x", "y", "z"], "answer": "B"},
    {"id": "c", "question": "q3?", "options": ["x", "y", "z"], "answer": "A"},
]


def spec(repeats: int = 1, name: str = "fmt") -> dict[str, Any]:
    return {
        "name": name,
        "dataset": {"examples": EXAMPLES},
        "model": "scripted",
        "discussion": {"personas": "none"},
        "cache": False,
        "repeats": repeats,
        "sweep": {"protocol": ["majority_consensus", "simple_voting"]},
    }


def record(example: str, repeat: int, score: float) -> RunRecord:
    return RunRecord(
        cell="main",
        example_id=example,
        repeat=repeat,
        seed=1,
        answer="A",
        solution="A",
        references=["A"],
        decided=True,
        stop_reason="consensus",
        turns=1,
        scores={"accuracy": score},
        calls=4,
        tokens=10,
        cache_hits=0,
        retries=0,
        failed_calls=0,
        truncated=1,
        looped=0,
        unreadable=0,
        wall_s=1.0,
        error=None,
        analytics=None,
        result=None,
    )


# -- item 4: intervals over examples --------------------------------------------------------


def test_three_identical_repeats_give_the_interval_of_one_repeat() -> None:
    scores = [1.0] * 3 + [0.0] * 7
    once = summarize(scores, [f"e{i}" for i in range(10)])
    thrice = summarize(
        [s for s in scores for _ in range(3)], [f"e{i}" for i in range(10) for _ in range(3)]
    )
    assert (thrice.mean, thrice.ci_low, thrice.ci_high) == (once.mean, once.ci_low, once.ci_high)
    assert thrice.method == once.method == "wilson"
    assert (thrice.n, thrice.examples, once.n, once.examples) == (30, 10, 10, 10)
    # Counted as independent (the old way), the same scores narrow the interval.
    naive = summarize([s for s in scores for _ in range(3)])
    assert naive.ci_high - naive.ci_low < thrice.ci_high - thrice.ci_low


def test_the_cell_summary_counts_examples_not_repeats() -> None:
    one = summarize_cell([record(e, 0, float(e in "ab")) for e in "abcde"])
    three = summarize_cell([record(e, k, float(e in "ab")) for e in "abcde" for k in range(3)])
    assert three.metrics["accuracy"] == one.metrics["accuracy"].model_copy(update={"n": 15})
    assert (three.n, three.examples) == (15, 5)
    assert three.truncated_rate == pytest.approx(0.25)  # 1 cut reply per 4 calls
    assert three.messages == 0 and three.unreadable_rate is None  # no discussions kept


def test_repeats_that_disagree_use_a_normal_interval_over_example_means() -> None:
    s = summarize([1.0, 0.0, 1.0, 1.0, 0.0, 0.0], ["a", "a", "b", "b", "c", "c"])
    assert s.method == "normal_over_example_means" and s.examples == 3
    means = [0.5, 1.0, 0.0]
    assert s.mean == pytest.approx(0.5)
    sd = (sum((m - 0.5) ** 2 for m in means) / 2) ** 0.5
    assert s.ci_low == pytest.approx(max(0.0, 0.5 - 1.959963984540054 * sd / 3**0.5))


def test_identical_repeats_in_a_run_give_the_interval_of_one_repeat(tmp_path: Path) -> None:
    once = mb.run_experiment(spec(1), out=tmp_path / "once").summary.cells
    thrice = mb.run_experiment(spec(3), out=tmp_path / "thrice").summary.cells
    for cell, c in once.items():
        a, b = c.metrics["accuracy"], thrice[cell].metrics["accuracy"]
        assert (a.mean, a.ci_low, a.ci_high) == pytest.approx((b.mean, b.ci_low, b.ci_high))
        assert b.examples == 3 and b.n == 9


# -- item 2 (summary half): option positions ------------------------------------------------


def test_multiple_choice_cells_count_reference_and_answer_positions(tmp_path: Path) -> None:
    result = mb.run_experiment(spec(1), out=tmp_path / "run")
    records = mb.load_run(result.run_dir).records
    for cell, c in result.summary.cells.items():
        p = c.option_positions
        assert p is not None and list(p.correct) == ["A", "B", "C"]
        assert p.correct == {"A": 2, "B": 1, "C": 0}
        mine = [r for r in records if r.cell == cell]
        assert p.chosen == {x: sum(r.answer == x for r in mine) for x in "ABC"}


def test_a_free_text_cell_has_no_option_positions(tmp_path: Path) -> None:
    free = {**spec(1), "dataset": {"examples": [{"id": "a", "question": "q?", "answer": "x"}]}}
    free.pop("sweep")
    result = mb.run_experiment(free, out=tmp_path / "run")
    assert result.summary.cells["main"].option_positions is None


# -- item 5: run wall time, formats, 80 columns ----------------------------------------------


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return mb.run_experiment(spec(2), out=tmp_path / "run").run_dir


def test_the_run_wall_time_adds_up_sessions(run_dir: Path) -> None:
    first = mb.load_run(run_dir).stored_summary
    assert first is not None and first.sessions == 1 and first.started_at is not None
    assert first.run_wall_s == first.wall_s
    again = mb.run_experiment(spec(2), resume=run_dir).summary
    assert again.sessions == 2 and again.started_at == first.started_at
    assert again.run_wall_s == pytest.approx((first.wall_s or 0) + (again.wall_s or 0), abs=2e-3)


def test_summary_table_is_readable_at_80_columns(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_module.console, "_width", 80)
    out = CliRunner().invoke(app, ["summary", str(run_dir)])
    assert out.exit_code == 0, out.output
    assert "…" not in out.output
    assert all(len(line) <= 80 for line in out.output.splitlines()), out.output
    stored = mb.load_run(run_dir).summary.cells
    for cell, c in stored.items():
        m = c.metrics["accuracy"]
        assert cell in out.output
        assert f"accuracy {m.mean:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]" in out.output
    assert "unreadable 0.0%" in out.output and "cut 0.0%" in out.output
    assert "option positions: correct A 4 B 2 C 0; chosen" in out.output
    text = " ".join(out.output.split())
    assert "run wall time" in text and "discussion time summed" in text
    assert "intervals are over examples" in text and "Wilson" in text


def test_summary_table_is_one_row_per_cell_when_wide(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli_module.console, "_width", 240)
    out = CliRunner().invoke(app, ["summary", str(run_dir)])
    assert out.exit_code == 0, out.output
    assert "…" not in out.output and "discussion s (summed)" in out.output
    assert "wall s" not in out.output.replace("run wall time", "")


def test_summary_markdown(run_dir: Path) -> None:
    out = CliRunner().invoke(app, ["summary", str(run_dir), "--format", "markdown"])
    assert out.exit_code == 0, out.output
    lines = out.output.splitlines()
    assert lines[0].startswith("| cell | n | accuracy (95% CI) |")
    assert set(lines[1]) == {"|", "-"}
    rows = [line for line in lines[2:] if line.startswith("|")]
    assert len(rows) == 2 and all(r.count("|") == lines[0].count("|") for r in rows)
    assert "intervals are over examples" in out.output and "run wall time" in out.output


def test_summary_csv(run_dir: Path) -> None:
    out = CliRunner().invoke(app, ["summary", str(run_dir), "--format", "csv"])
    assert out.exit_code == 0, out.output
    rows = list(csv.DictReader(io.StringIO(out.output)))
    cells = mb.load_run(run_dir).summary.cells
    assert [r["cell"] for r in rows] == list(cells)
    for r in rows:
        c = cells[r["cell"]]
        assert float(r["accuracy"]) == pytest.approx(c.metrics["accuracy"].mean, abs=1e-4)
        assert float(r["accuracy ci_low"]) == pytest.approx(c.metrics["accuracy"].ci_low, abs=1e-4)
        assert r["accuracy interval"] == "wilson" and r["examples"] == "3" and r["n"] == "6"
        assert float(r["unreadable rate"]) == 0.0 and float(r["cut rate"]) == 0.0
        assert r["option positions"].startswith("correct A 4 B 2 C 0; chosen ")


def test_summary_json_is_a_run_summary(run_dir: Path) -> None:
    out = CliRunner().invoke(app, ["summary", str(run_dir), "--format", "json"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    parsed = parse_summary(data, source="stdout")
    assert parsed.cells == mb.load_run(run_dir).summary.cells
    assert parsed.run_wall_s is not None and parsed.sessions == 1


def test_summary_help_names_the_interval_method() -> None:
    out = CliRunner().invoke(app, ["summary", "--help"], terminal_width=200)
    assert out.exit_code == 0
    text = " ".join(out.output.split())
    assert "95% interval over examples" in text and "Wilson score interval" in text
    assert "normal (z) interval over the example means" in text
    assert "markdown" in text and "csv" in text and "json" in text


def test_a_schema_1_summary_reads_with_its_intervals_marked_per_record(run_dir: Path) -> None:
    data = json.loads((run_dir / "summary.json").read_text())
    data["schema_version"] = 1
    for key in ("started_at", "run_wall_s", "sessions"):
        del data[key]
    for c in data["cells"].values():
        for key in ("examples", "messages", "unreadable_rate", "truncated_rate"):
            del c[key]
        del c["option_positions"]
        for m in c["metrics"].values():
            del m["examples"], m["method"]
    old = parse_summary(data, source="v1")
    assert old.run_wall_s is None and old.sessions is None
    for c in old.cells.values():
        assert c.examples is None and c.option_positions is None
        assert all(m.method == "per_record" for m in c.metrics.values())
