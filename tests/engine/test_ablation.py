"""The ablation baseline (`method="ablation"`, MALLM's `use_ablation`): one agent refines its own
solution N times; recorded like a discussion."""

from __future__ import annotations

import pytest

import madebate as mb
from madebate import ScriptedModel, ScriptedRequest
from madebate._errors import ConfigError

OPTIONS = ["Rome", "Paris", "Berlin", "Madrid"]


def option(letter: str) -> str:
    return f"{letter}) {OPTIONS[ord(letter) - 65]}"


def numbered(req: ScriptedRequest) -> str:
    """Refinement i states the solution 'draft i' (free text, so each is distinct)."""
    return f"Reasoning {req.index + 1}.\nFinal Solution: draft {req.index + 1}"


def test_refinements_make_exactly_n_calls_as_turns_of_one_agent():
    model = ScriptedModel(numbered, record_prompts=True)
    result = mb.discuss("Name a colour.", model=model, agents=3, method="ablation", refinements=4)
    assert len(model.requests) == 4 and result.usage.calls == 4 and len(result.calls) == 4
    assert [r.agent for r in model.requests] == ["A1"] * 4
    assert [c.role for c in result.calls] == ["discussion"] * 4
    assert [a.slot for a in result.agents] == ["A1"]
    # The transcript: one message per refinement, refinement i is turn i.
    assert [(m.index, m.turn, m.speaker) for m in result.messages] == [
        (i, i + 1, "A1") for i in range(4)
    ]
    assert [m.solution for m in result.messages] == [f"draft {i}" for i in range(1, 5)]
    assert [m.visible_message_ids for m in result.messages] == [[], [0], [1], [2]]
    assert result.turns == 4
    assert result.paradigm == result.protocol == "ablation"
    assert result.stop_reason == "max_turns" and result.decided
    assert result.solution == "draft 4"
    assert "refinement 4 after 4 of 4" in result.stop_detail
    assert result.usage.prompt_tokens > 0 and result.usage.completion_tokens > 0
    assert result.usage_by_agent["A1"].calls == 4
    # Round trip: recorded like a discussion.
    assert mb.DiscussionResult.from_json(result.to_json()) == result


def test_each_refinement_sees_its_own_previous_solution_and_only_that():
    model = ScriptedModel(numbered, record_prompts=True)
    mb.discuss("Name a colour.", model=model, method="ablation", refinements=4)
    prompts = [r.prompt for r in model.requests]
    assert "Current Solution: none yet" in prompts[0]
    assert "Propose a solution" in prompts[0]
    for i in range(1, 4):
        assert f"Current Solution: draft {i}\n" in prompts[i]
        assert "Improve the current solution" in prompts[i]
        # Not an earlier refinement, not its reasoning, no transcript of others.
        assert not any(f"draft {j}\n" in prompts[i] for j in range(1, i))
        assert "Reasoning" not in prompts[i]
        assert "Discussion so far" not in prompts[i]


def test_an_unreadable_refinement_keeps_the_latest_readable_solution_current():
    replies = [
        f"Final Solution: {option('A')}",
        "I am not sure.",
        f"Final Solution: {option('B')}",
    ]
    model = ScriptedModel(replies, record_prompts=True)
    result = mb.discuss(
        "Capital of France?", options=OPTIONS, model=model, method="ablation", refinements=3
    )
    assert "Current Solution: A) Rome" in model.requests[2].prompt
    assert [m.readable for m in result.messages] == [True, False, True]
    assert [m.visible_message_ids for m in result.messages] == [[], [0], [0]]
    assert result.answer == "B" and result.decided
    assert any("refinement 2: unreadable" in w for w in result.warnings)


def test_no_readable_refinement_is_undecided_without_an_answer():
    model = ScriptedModel(["Hmm."] * 2, record_prompts=True)
    result = mb.discuss("Capital?", options=OPTIONS, model=model, method="ablation", refinements=2)
    assert result.answer is None and not result.decided
    assert "none of 2 of 2 refinement(s)" in result.stop_detail


def test_default_refinements_are_max_turns_times_agents():
    model = ScriptedModel(numbered, record_prompts=True)
    result = mb.discuss("Name a colour.", model=model, agents=2, max_turns=3, method="ablation")
    assert len(model.requests) == 6 and result.turns == 6


def test_call_budget_stops_the_refinements_and_keeps_the_latest_solution():
    model = ScriptedModel(numbered, record_prompts=True)
    result = mb.discuss(
        "Name a colour.", model=model, method="ablation", refinements=5, max_calls=3
    )
    assert len(model.requests) == 3 and result.usage.calls == 3
    assert result.stop_reason == "budget" and not result.decided
    assert result.solution == "draft 3" and len(result.messages) == 3
    assert "after 3 of 5 refinement(s)" in result.stop_detail


def test_token_budget_is_respected():
    model = ScriptedModel(numbered, record_prompts=True)
    result = mb.discuss(
        "Name a colour.", model=model, method="ablation", refinements=50, max_total_tokens=200
    )
    assert result.stop_reason == "budget"
    assert 0 < len(model.requests) < 50
    assert len(result.messages) == len(model.requests)


def test_seeded_refinements_get_distinct_per_call_seeds():
    model = ScriptedModel(numbered, record_prompts=True)
    mb.discuss("Name a colour.", model=model, method="ablation", refinements=3, seed=7)
    seeds = [r.config.seed for r in model.requests]
    assert None not in seeds and len(set(seeds)) == 3


def test_refinements_setting_is_checked():
    with pytest.raises((ConfigError, ValueError), match="refinements"):
        mb.Discussion("Q?", model="scripted", method="ablation", refinements=0)
    with pytest.raises((ConfigError, ValueError), match="challenge"):
        mb.Discussion("Q?", model="scripted", method="ablation", challenge=True)
