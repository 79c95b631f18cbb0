"""The ablation baseline in a sweep: each ablation job refines as often as its matched
discussion cell (same settings, method discussion) used messages for the same example and
repeat, beside `single` and `self_consistency`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from local_ray import local_ray

import madebate as mb
from madebate._errors import ModelCallError
from madebate.models.providers.scripted import ScriptedRequest, default_script

STUBBORN = "stubborn"  # q1: each agent holds its own answer, so the discussion runs 3 turns
ROWS = [
    {"id": "q1", "question": "A stubborn one?", "options": ["w", "x", "y", "z"], "answer": "B"},
    {"id": "q2", "question": "An easy one?", "options": ["w", "x", "y", "z"], "answer": "C"},
    {"id": "q3", "question": "Another one?", "options": ["w", "x", "y", "z"], "answer": "A"},
]
EXAMPLES = [r["id"] for r in ROWS]


def script(req: ScriptedRequest) -> str:
    if req.role == "discussion" and STUBBORN in req.prompt and req.agent != "A1":
        letter = {"A2": "C", "A3": "D"}[req.agent or ""]
        return f"I see it differently.\nFinal Solution: {letter}"
    if req.role == "discussion" and STUBBORN in req.prompt and "Improve" not in req.prompt:
        return "Mine stands.\nFinal Solution: B"
    return default_script(req)


def spec(tmp_path: Path, model: str, **overrides: Any) -> dict[str, Any]:
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    out: dict[str, Any] = {
        "name": "ablation-sweep",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model,
        "discussion": {"agents": 3, "max_turns": 3, "reply_format": "text", "samples": 3},
        "concurrency": 4,
        "cache": False,
    }
    out.update(overrides)
    return out


def records(run_dir: Path) -> dict[tuple[str, str], dict[str, Any]]:
    lines = (run_dir / "records.jsonl").read_text().splitlines()
    return {(r["cell"], r["example_id"]): r for r in map(json.loads, lines)}


def test_ablation_refines_as_often_as_the_matched_discussion_spoke(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(script)
    sweep = {"method": ["discussion", "single", "self_consistency", "ablation"]}
    result = mb.run_experiment(
        spec(tmp_path, model_seam.use(model), sweep=sweep), out=tmp_path / "run"
    )
    assert result.new_records == 12 and result.summary.complete
    got = records(result.run_dir)
    counts = {}
    for ex in EXAMPLES:
        discussion = got[("method=discussion", ex)]
        n = len(discussion["result"]["messages"])
        counts[ex] = n
        ablation = got[("method=ablation", ex)]
        assert ablation["calls"] == n and ablation["turns"] == n
        messages = ablation["result"]["messages"]
        assert [m["turn"] for m in messages] == list(range(1, n + 1))
        assert {m["speaker"] for m in messages} == {"A1"}
        assert (
            f"{n} refinements: the messages of cell method=discussion"
            in (ablation["result"]["stop_detail"])
        )
        assert ablation["scores"].keys() == {"accuracy"}
        assert got[("method=single", ex)]["calls"] == 1
        assert got[("method=self_consistency", ex)]["calls"] == 3
    assert counts["q1"] == 9 and counts["q2"] < 9  # matched per example, not per cell
    assert result.summary.cells["method=ablation"].calls_per_example == sum(counts.values()) / 3


def test_each_paradigm_matches_its_own_discussion_and_a_set_n_is_kept(tmp_path: Path, model_seam):
    model = mb.ScriptedModel(script)
    sweep = {"paradigm": ["memory", "debate"], "method": ["discussion", "ablation"]}
    result = mb.run_experiment(
        spec(tmp_path, model_seam.use(model), sweep=sweep), out=tmp_path / "run"
    )
    got = records(result.run_dir)
    for paradigm in ("memory", "debate"):
        for ex in EXAMPLES:
            n = len(got[(f"paradigm={paradigm},method=discussion", ex)]["result"]["messages"])
            assert got[(f"paradigm={paradigm},method=ablation", ex)]["calls"] == n

    # With its own `refinements`, an ablation cell does not wait for a discussion.
    own = spec(
        tmp_path,
        model_seam.use(mb.ScriptedModel(script)),
        discussion={"agents": 3, "max_turns": 3, "reply_format": "text", "refinements": 2},
        sweep={"method": ["discussion", "ablation"]},
    )
    result = mb.run_experiment(own, out=tmp_path / "own")
    got = records(result.run_dir)
    assert all(got[("method=ablation", ex)]["calls"] == 2 for ex in EXAMPLES)


def test_a_failed_discussion_leaves_its_ablation_failed_and_a_resume_runs_both(
    tmp_path: Path, model_seam
):
    broken = {"on": True}

    def failing(req: ScriptedRequest) -> str:
        if broken["on"] and req.agent == "A2" and STUBBORN in req.prompt:
            raise ModelCallError("backend down", retryable=False)
        return script(req)

    model = mb.ScriptedModel(failing)
    run = spec(
        tmp_path,
        model_seam.use(model),
        sweep={"method": ["discussion", "ablation"]},
    )
    result = mb.run_experiment(run, out=tmp_path / "run")
    got = records(result.run_dir)
    assert got[("method=discussion", "q1")]["stop_reason"] == "error"
    ablation = got[("method=ablation", "q1")]
    assert ablation["stop_reason"] == "error" and ablation["calls"] == 0
    assert ablation["scores"] == {"accuracy": 0.0}
    assert ablation["error"]["type"] == "UnmatchedDiscussion"
    assert "matched discussion (cell method=discussion) failed" in ablation["error"]["message"]
    assert got[("method=ablation", "q2")]["stop_reason"] != "error"

    broken["on"] = False
    resumed = mb.run_experiment(run, resume=result.run_dir)
    assert resumed.new_records == 2
    lines = (result.run_dir / "records.jsonl").read_text().splitlines()
    latest = {(r["cell"], r["example_id"]): r for r in map(json.loads, lines)}
    n = len(latest[("method=discussion", "q1")]["result"]["messages"])
    assert n == 9 and latest[("method=ablation", "q1")]["calls"] == 9


@pytest.mark.slow
def test_on_ray_the_matched_ablation_gets_the_local_runs_counts(tmp_path: Path):
    pytest.importorskip("ray", reason="ray is not installed (pip install 'madebate[ray]')")
    from madebate.runs._executor_ray import RayExecutor

    # The built-in scripted model: workers in other processes build it themselves.
    run = spec(tmp_path, "scripted", sweep={"method": ["discussion", "ablation"]})
    local = mb.run_experiment(run, out=tmp_path / "local")
    with local_ray():
        remote = mb.run_experiment(run, out=tmp_path / "ray", executor=RayExecutor(workers=1))
    want, got = records(local.run_dir), records(remote.run_dir)
    assert got.keys() == want.keys()
    for key, record in want.items():
        assert got[key]["calls"] == record["calls"], key
    for ex in EXAMPLES:
        n = len(want[("method=discussion", ex)]["result"]["messages"])
        assert got[("method=ablation", ex)]["calls"] == n
