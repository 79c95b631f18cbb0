"""Every recipe in examples/papers runs end to end on the scripted model: the file loads, its
sweep expands into the cells it promises, and each cell finishes every example without an
error. The scripted model proves the pipeline, not the papers' numbers, so nothing here
checks accuracy; it does check what each recipe is built to control (who votes when, and the
matched call budget)."""

from __future__ import annotations

import itertools
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

import madebate as mb

PAPERS = Path(__file__).resolve().parents[2] / "examples" / "papers"
RECIPES = sorted(PAPERS.glob("*.yaml"))
LIMIT = 3


def run_recipe(path: Path, out: Path) -> tuple[mb.ExperimentSpec, dict[str, list[dict[str, Any]]]]:
    """The recipe as a user would run it, with the cache off and the dataset cut to LIMIT."""
    spec = mb.load_experiment(path)  # anchors data/*.jsonl to the recipe's folder
    data = spec.model_dump(mode="json", exclude_unset=True)
    data["cache"] = False
    data["dataset"]["limit"] = LIMIT
    result = mb.run_experiment(data, out=out)
    run = mb.load_run(result.run_dir)
    by_cell: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for record in run.records:
        by_cell[record.cell].append(record.model_dump(mode="json"))
    assert set(by_cell) == set(run.cells)
    return spec, by_cell


def test_every_finding_has_a_recipe() -> None:
    names = {p.stem for p in RECIPES}
    assert names == {
        "paradigms_reasoning",
        "paradigms_basic",
        "voting_vs_consensus_reasoning",
        "voting_vs_consensus_knowledge",
        "agents_vs_rounds",
        "all_agents_drafting",
        "collective_refinement",
        "debate_vs_self_consistency",
        "mixed_vs_homogeneous",
        # One per task family of Becker 2024, each on a benchmark preset.
        "summarisation_xsum",
        "translation_wmt19",
        "paraphrase_etpc",
        "extractive_qa_squad2",
        "strategy_qa",
        "ethical_qa",
    }


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_recipe_runs_on_the_scripted_model(path: Path, tmp_path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    # Offline by default, with the one line to change for a real server shown in a comment.
    assert "\nmodel: scripted\n" in text
    assert "#   model: {id: openai/" in text

    spec, by_cell = run_recipe(path, tmp_path / "run")
    assert spec.model == "scripted"
    expected = 1
    for values in spec.sweep.values():
        expected *= len(values)
    assert expected >= 2, "a recipe compares at least two cells"
    assert len(by_cell) == expected
    for cell, records in by_cell.items():
        assert len(records) == LIMIT * spec.repeats, cell
        assert len({r["example_id"] for r in records}) == LIMIT, cell
        for r in records:
            assert r["error"] is None and r["stop_reason"] != "error", (cell, r["error"])
            assert r["answer"] is not None and r["calls"] > 0, cell
            assert set(recipe_metrics(spec)) <= set(r["scores"]), cell


def recipe_metrics(spec: mb.ExperimentSpec) -> list[str]:
    """What a recipe is scored by: its scoring, its preset's metrics, else accuracy."""
    from madebate.runs._preset_table import get_preset

    if spec.scoring:
        return list(spec.scoring)
    return list(get_preset(spec.dataset.preset).metrics) if spec.dataset.preset else ["accuracy"]


def test_preset_recipes_run_on_the_shipped_fixture_and_say_how_to_use_the_benchmark() -> None:
    # As shipped a preset recipe reads the preset's test fixture (offline), and its comments
    # say so and how to read the real benchmark instead.
    families = {
        "summarisation_xsum": "xsum",
        "translation_wmt19": "wmt19-de-en",
        "paraphrase_etpc": "etpc",
        "extractive_qa_squad2": "squad2",
        "strategy_qa": "strategyqa",
        "ethical_qa": "simple-ethical-questions",
    }
    for stem, preset in families.items():
        spec = mb.load_experiment(PAPERS / f"{stem}.yaml")
        assert spec.dataset.preset == preset
        assert spec.dataset.path is not None and "/tests/fixtures/presets/" in spec.dataset.path
        assert spec.sweep == {"paradigm": ["memory", "relay", "report", "debate"]}
        lines = (PAPERS / f"{stem}.yaml").read_text(encoding="utf-8").splitlines()
        comment = " ".join(line.lstrip("# ") for line in lines if line.startswith("#"))
        assert "delete the `path:` entry" in comment and "made-up examples" in comment


def test_paradigm_recipes_differ_only_in_data() -> None:
    reasoning = mb.load_experiment(PAPERS / "paradigms_reasoning.yaml")
    basic = mb.load_experiment(PAPERS / "paradigms_basic.yaml")
    assert reasoning.sweep == basic.sweep == {"paradigm": ["memory", "relay", "report", "debate"]}
    assert reasoning.dataset.path != basic.dataset.path
    same = {"model", "discussion", "task"}
    assert reasoning.model_dump(include=same) == basic.model_dump(include=same)


def test_voting_recipes_sweep_the_seven_protocols() -> None:
    protocols = [
        "majority_consensus",
        "supermajority_consensus",
        "unanimity_consensus",
        "simple_voting",
        "approval_voting",
        "cumulative_voting",
        "ranked_voting",
    ]
    specs = [
        mb.load_experiment(PAPERS / f"voting_vs_consensus_{k}.yaml")
        for k in ("reasoning", "knowledge")
    ]
    for spec in specs:
        assert spec.sweep == {"protocol": protocols}
    assert specs[0].dataset.path != specs[1].dataset.path


def test_agents_vs_rounds_votes_after_the_rounds(tmp_path: Path) -> None:
    spec, by_cell = run_recipe(PAPERS / "agents_vs_rounds.yaml", tmp_path / "run")
    agents, rounds = spec.sweep["agents"], spec.sweep["discussion.min_turns"]
    assert len(agents) >= 2 and len(rounds) >= 2
    for n, r in itertools.product(agents, rounds):
        records = by_cell[f"agents={n},discussion.min_turns={r}"]
        for record in records:
            result = record["result"]
            assert len(result["agents"]) == n
            # No decision before the R-th round ends: the first vote is held after it.
            assert record["turns"] == r
            assert min(d["turn"] for d in result["decisions"]) == r


def test_debate_and_self_consistency_make_the_same_calls(tmp_path: Path) -> None:
    spec, by_cell = run_recipe(PAPERS / "debate_vs_self_consistency.yaml", tmp_path / "run")
    debate = by_cell["discussion.method=discussion"]
    sampled = by_cell["discussion.method=self_consistency"]
    samples = spec.discussion.samples
    # The arithmetic in the recipe's comment: 2 turns x (1 draft + 2 sub-rounds x 2 debaters).
    assert samples == 2 * (1 + 2 * 2) == 10
    assert {r["calls"] for r in debate} == {samples}
    assert {r["calls"] for r in sampled} == {samples}
    assert {r["turns"] for r in debate} == {2}


def test_all_agents_drafting_drafts_blind(tmp_path: Path) -> None:
    _, by_cell = run_recipe(PAPERS / "all_agents_drafting.yaml", tmp_path / "run")
    for cell, records in by_cell.items():
        on = "all_agents_drafting=True" in cell
        for record in records:
            first = [m for m in record["result"]["messages"] if m["turn"] == 1 and m["step"] == 1]
            if on:  # every agent drafts in the first step, having seen nobody
                assert len(first) == 3 and all(m["visible_message_ids"] == [] for m in first)
            else:
                assert len(first) == 1


def test_mixed_vs_homogeneous_matches_the_budget_and_mixes_the_models(tmp_path: Path) -> None:
    spec, by_cell = run_recipe(PAPERS / "mixed_vs_homogeneous.yaml", tmp_path / "run")
    assert spec.sweep == {"team": ["model_a_alone", "model_b_alone", "mixed"]}
    expected = {
        "team=model_a_alone": ["model-a"] * 3,
        "team=model_b_alone": ["model-b"] * 3,
        "team=mixed": ["model-a", "model-b", "model-a"],
    }
    assert set(by_cell) == set(expected)
    for cell, models in expected.items():
        for record in by_cell[cell]:
            result = record["result"]
            assert [a["model"] for a in result["agents"]] == models
            # The budget arithmetic in the recipe's comment: 2 turns x 3 agents, every team.
            assert record["calls"] == 6
            by_model = {name: u["calls"] for name, u in result["usage_by_model"].items()}
            assert by_model == {m: 2 * models.count(m) for m in set(models)}
