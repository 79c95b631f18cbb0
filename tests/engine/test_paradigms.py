"""Paradigm behaviour: who speaks when, who receives what, what each agent was shown.

The expected deliveries below are written from DESIGN.md section 2, independently of the
paradigm compiler; the discussions run through the real engine with a scripted model whose
replies never let consensus fire, so every turn happens.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import madebate
from madebate import ConfigError, DiscussionResult, ScriptedModel, ScriptedRequest, load_paradigm
from madebate.engine import ParadigmWarning, compile_paradigm

ROOT = Path(__file__).resolve().parents[2]
TWO_TEAMS = ROOT / "examples" / "paradigms" / "two_teams.yaml"
BUILTINS = ["collective_refinement", "debate", "memory", "relay", "report"]

# Every slot that appears in these tests proposes its own option, so consecutive messages never
# restate the current solution and unanimity can never be reached.
ALL_SLOTS = ["D", "A1", "A2", "A3", "A4", "L1", "R1", "R2", "L2", "B1", "B2", "P", "Q", "R"]
LETTERS = "ABCDEFGHIJKLMN"
OPTIONS = [f"option {c.lower()}" for c in LETTERS]
LETTER_OF = dict(zip(ALL_SLOTS, LETTERS, strict=True))
TOKEN = re.compile(r"<<([A-Z]\d?)\|t(\d+)\|k(\d+)>>")


def _token(slot: str, turn: int, k: int) -> str:
    return f"<<{slot}|t{turn}|k{k}>>"


class DisagreeingPanel:
    """A script: each reply disagrees, proposes the speaker's own option and carries a unique
    token <<slot|tTURN|kN>> (N counts the slot's replies within the turn)."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, int], int] = {}

    def __call__(self, request: ScriptedRequest) -> str:
        assert request.role == "discussion", request.role
        slot = request.agent
        assert slot is not None
        turn = request.context.turn
        k = self.counts.get((slot, turn), 0) + 1
        self.counts[(slot, turn)] = k
        letter = LETTER_OF[slot]
        return (
            f"[DISAGREE] {_token(slot, turn, k)} I see it differently.\n"
            f"Final Solution: {letter}) {OPTIONS[LETTERS.index(letter)]}"
        )


def run_discussion(
    paradigm: Any, n: int, max_turns: int, **settings: Any
) -> tuple[DiscussionResult, ScriptedModel]:
    model = ScriptedModel(DisagreeingPanel(), record_prompts=True)
    result = madebate.Discussion(
        "Which option is right?",
        options=OPTIONS,
        model=model,
        paradigm=paradigm,
        agents=n,
        max_turns=max_turns,
        protocol="unanimity_consensus",
        **settings,
    ).run()
    return result, model


# -- the expectation, from DESIGN.md section 2 ---------------------------------------------

Step = list[tuple[str, set[str]]]  # speakers of one step (concurrent when more than one)


def expected_turn(paradigm: str, n: int, *, drafter: bool = False, rounds: int = 2) -> list[Step]:
    """One turn of a built-in paradigm: steps of (speaker, receivers)."""
    panel = [f"A{i}" for i in range(1, n + 1)]
    everyone = (["D"] if drafter else []) + panel
    if paradigm == "memory":
        return [[(a, set(everyone) - {a})] for a in panel]
    if paradigm == "relay":
        return [[(a, {panel[(i + 1) % n]})] for i, a in enumerate(panel)]
    if paradigm == "report":
        return [[("A1", set(panel) - {"A1"})]] + [[(a, {"A1"})] for a in panel[1:]]
    if paradigm == "collective_refinement":
        return [[(a, set(panel) - {a}) for a in panel]]
    if paradigm == "debate":
        lead = "D" if drafter else "A1"
        debaters = [a for a in panel if a != lead]
        steps: list[Step] = [[(lead, set(everyone) - {lead})]]
        for r in range(rounds):
            for i, d in enumerate(debaters):
                receivers = {debaters[(i + 1) % len(debaters)]} - {d}
                if r == rounds - 1:
                    receivers.add(lead)
                steps.append([(d, receivers)])
        return steps
    raise AssertionError(paradigm)


@dataclass
class Expected:
    turn: int
    step: int  # 1-based, within the turn
    speaker: str
    receivers: set[str]
    visible: list[int]  # message indices the speaker sees when it speaks
    token: str


def expected_transcript(
    turn_steps: list[Step], max_turns: int, window: int | None = None
) -> list[Expected]:
    """Who sees what: an agent sees its own messages and those delivered to it, from earlier
    steps only (speakers of one step speak together), within `window` past turns."""
    out: list[Expected] = []
    for turn in range(1, max_turns + 1):
        spoken: dict[str, int] = {}
        for s, step in enumerate(turn_steps, start=1):
            before = list(out)
            for speaker, receivers in step:
                visible = [
                    i
                    for i, m in enumerate(before)
                    if (m.speaker == speaker or speaker in m.receivers)
                    and (window is None or m.turn >= turn - window)
                ]
                spoken[speaker] = spoken.get(speaker, 0) + 1
                token = _token(speaker, turn, spoken[speaker])
                out.append(Expected(turn, s, speaker, set(receivers), visible, token))
    return out


def check_run(result: DiscussionResult, model: ScriptedModel, expected: list[Expected]) -> None:
    """The transcript matches the expectation message by message, and every prompt held exactly
    the visible messages' texts."""
    assert result.stop_reason == "max_turns", result.stop_detail
    got = [
        (m.turn, m.step, m.speaker, sorted(m.receivers), m.visible_message_ids)
        for m in result.messages
    ]
    want = [(e.turn, e.step, e.speaker, sorted(e.receivers), e.visible) for e in expected]
    assert got == want
    for m, e in zip(result.messages, expected, strict=True):
        assert e.token in m.text
        assert m.speaker not in m.receivers
        assert len(set(m.receivers)) == len(m.receivers)

    requests = [r for r in model.requests if r.role == "discussion"]
    assert len(requests) == len(result.messages)
    by_token = {e.token: e for e in expected}
    seen_tokens = set()
    for request in requests:
        assert request.agent is not None
        # Which reply this request produced: the next token of this agent in this turn.
        k = sum(
            1 for t in seen_tokens if t.startswith(f"<<{request.agent}|t{request.context.turn}|")
        )
        token = _token(request.agent, request.context.turn, k + 1)
        seen_tokens.add(token)
        e = by_token[token]
        shown = {m.group(0) for m in TOKEN.finditer(request.prompt)}
        assert shown == {expected[i].token for i in e.visible}, (token, request.prompt)
    assert seen_tokens == set(by_token)


# -- 1. built-in paradigms, run for real -------------------------------------------------------

CASES = [
    pytest.param(p, n, drafter, turns, id=f"{p}-{n}{'-drafter' if drafter else ''}")
    for p, turns in [
        ("memory", 2),
        ("relay", 3),
        ("report", 2),
        ("debate", 2),
        ("collective_refinement", 3),
    ]
    for n in (3, 4)
    for drafter in ((False, True) if p == "debate" else (False,))
]


@pytest.mark.parametrize(("paradigm", "n", "drafter", "turns"), CASES)
async def test_builtin_paradigm_visibility(
    paradigm: str, n: int, drafter: bool, turns: int
) -> None:
    model = ScriptedModel(DisagreeingPanel(), record_prompts=True)
    result = await madebate.Discussion(
        "Which option is right?",
        options=OPTIONS,
        model=model,
        paradigm=paradigm,
        agents=n,
        max_turns=turns,
        protocol="unanimity_consensus",
        drafter=drafter,
    ).run_async()
    assert result.turns == turns
    expected = expected_transcript(expected_turn(paradigm, n, drafter=drafter), turns)
    check_run(result, model, expected)


def test_debate_rounds_parameter() -> None:
    result, model = run_discussion("debate", 3, 2, paradigm_params={"debate_rounds": 3})
    expected = expected_transcript(expected_turn("debate", 3, rounds=3), 2)
    assert len(result.messages) == 2 * (1 + 3 * 2)
    check_run(result, model, expected)


# Hand-written tables for a few cases, as a check on the expectation functions themselves.
# (turn, speaker, receivers, visible message indices)
RELAY_3 = [
    (1, "A1", ["A2"], []),
    (1, "A2", ["A3"], [0]),
    (1, "A3", ["A1"], [1]),
    (2, "A1", ["A2"], [0, 2]),
    (2, "A2", ["A3"], [0, 1, 3]),
    (2, "A3", ["A1"], [1, 2, 4]),
]
REPORT_3 = [
    (1, "A1", ["A2", "A3"], []),
    (1, "A2", ["A1"], [0]),
    (1, "A3", ["A1"], [0]),
    (2, "A1", ["A2", "A3"], [0, 1, 2]),
    (2, "A2", ["A1"], [0, 1, 3]),
    (2, "A3", ["A1"], [0, 2, 3]),
]
COLLECTIVE_3 = [
    (1, "A1", ["A2", "A3"], []),
    (1, "A2", ["A1", "A3"], []),
    (1, "A3", ["A1", "A2"], []),
    (2, "A1", ["A2", "A3"], [0, 1, 2]),
    (2, "A2", ["A1", "A3"], [0, 1, 2]),
    (2, "A3", ["A1", "A2"], [0, 1, 2]),
]
# Debate, 4 agents, no drafter: A1 drafts; A2 -> A3 -> A4 -> A2; last sub-round also to A1.
DEBATE_4 = [
    (1, "A1", ["A2", "A3", "A4"], []),
    (1, "A2", ["A3"], [0]),
    (1, "A3", ["A4"], [0, 1]),
    (1, "A4", ["A2"], [0, 2]),
    (1, "A2", ["A1", "A3"], [0, 1, 3]),
    (1, "A3", ["A1", "A4"], [0, 1, 2, 4]),
    (1, "A4", ["A1", "A2"], [0, 2, 3, 5]),
    (2, "A1", ["A2", "A3", "A4"], [0, 4, 5, 6]),
]
# Debate, 3 agents with the drafter: D drafts; A1 -> A2 -> A3 -> A1; last sub-round also to D.
DEBATE_3_DRAFTER = [
    (1, "D", ["A1", "A2", "A3"], []),
    (1, "A1", ["A2"], [0]),
    (1, "A2", ["A3"], [0, 1]),
    (1, "A3", ["A1"], [0, 2]),
    (1, "A1", ["A2", "D"], [0, 1, 3]),
    (1, "A2", ["A3", "D"], [0, 1, 2, 4]),
    (1, "A3", ["A1", "D"], [0, 2, 3, 5]),
    (2, "D", ["A1", "A2", "A3"], [0, 4, 5, 6]),
]


@pytest.mark.parametrize(
    ("paradigm", "n", "drafter", "table"),
    [
        ("relay", 3, False, RELAY_3),
        ("report", 3, False, REPORT_3),
        ("collective_refinement", 3, False, COLLECTIVE_3),
        ("debate", 4, False, DEBATE_4),
        ("debate", 3, True, DEBATE_3_DRAFTER),
    ],
)
def test_hand_written_tables(
    paradigm: str, n: int, drafter: bool, table: list[tuple[int, str, list[str], list[int]]]
) -> None:
    result, _ = run_discussion(paradigm, n, 2, drafter=drafter)
    got = [(m.turn, m.speaker, sorted(m.receivers), m.visible_message_ids) for m in result.messages]
    assert got[: len(table)] == [(t, s, sorted(r), v) for t, s, r, v in table]


def test_drafter_never_votes_but_speaks() -> None:
    result, _ = run_discussion("debate", 3, 1, drafter=True)
    voters = {a.slot for a in result.agents if a.voter}
    assert voters == {"A1", "A2", "A3"}
    assert result.messages[0].speaker == "D"


# -- 2. memory window -----------------------------------------------------------------------


def test_memory_window_hides_older_turns() -> None:
    result, model = run_discussion("memory", 3, 3, memory_window=1)
    turn3 = [m for m in result.messages if m.turn == 3]
    first = turn3[0]
    assert first.speaker == "A1"
    shown = [result.messages[i] for i in first.visible_message_ids]
    assert {m.turn for m in shown} == {2}
    assert [m.speaker for m in shown] == ["A1", "A2", "A3"]
    # A3 in turn 3 sees turn 2 and the earlier speakers of turn 3, nothing of turn 1.
    assert {result.messages[i].turn for i in turn3[2].visible_message_ids} == {2, 3}
    # ... and the prompt agrees: no turn-1 text reached any turn-3 request.
    for request in model.requests:
        if request.context.turn == 3:
            assert "|t1|" not in request.prompt
            assert "|t2|" in request.prompt
    check_run(result, model, expected_transcript(expected_turn("memory", 3), 3, window=1))


def test_memory_window_default_shows_everything() -> None:
    result, model = run_discussion("memory", 3, 3)
    first = next(m for m in result.messages if m.turn == 3)
    assert first.visible_message_ids == list(range(first.index))
    assert {result.messages[i].turn for i in first.visible_message_ids} == {1, 2}
    turn3 = [r for r in model.requests if r.context.turn == 3]
    assert all("|t1|" in r.prompt for r in turn3)
    check_run(result, model, expected_transcript(expected_turn("memory", 3), 3))


def test_memory_window_zero_and_from_the_paradigm_yaml(tmp_path: Path) -> None:
    result, model = run_discussion("memory", 3, 2, memory_window=0)
    check_run(result, model, expected_transcript(expected_turn("memory", 3), 2, window=0))
    # The paradigm's own memory_window works too.
    path = tmp_path / "short_memory.yaml"
    path.write_text(
        "name: short_memory\nschedule:\n  - speakers: panel\n    deliver_to: all\n"
        "memory_window: 1\n"
    )
    result, model = run_discussion(str(path), 3, 3)
    check_run(result, model, expected_transcript(expected_turn("memory", 3), 3, window=1))


# -- 3. user-written YAML paradigms ------------------------------------------------------------

TWO_TEAMS_TURN: list[Step] = [
    [("L1", {"L2", "R1", "R2"})],
    [("L2", {"L1", "B1", "B2"})],
    [("R1", {"L1", "R2"})],
    [("R2", {"L1", "R1"})],
    [("B1", {"L2", "B2"})],
    [("B2", {"L2", "B1"})],
]


def test_two_teams_yaml_runs_and_teams_meet_only_through_leads() -> None:
    result, model = run_discussion(str(TWO_TEAMS), 6, 2)
    check_run(result, model, expected_transcript(TWO_TEAMS_TURN, 2))
    red, blue = {"L1", "R1", "R2"}, {"L2", "B1", "B2"}
    for m in result.messages:
        seen = {result.messages[i].speaker for i in m.visible_message_ids}
        if m.speaker in {"R1", "R2"}:
            assert not seen & {"B1", "B2"}
            assert seen <= red | {"L2"}
        if m.speaker in {"B1", "B2"}:
            assert not seen & {"R1", "R2"}
            assert seen <= blue | {"L1"}
    r1_prompts = [r.prompt for r in model.requests if r.agent == "R1"]
    assert r1_prompts and all("<<B1|" not in p and "<<B2|" not in p for p in r1_prompts)
    # L2's messages reach L1 and blue only; red learns blue's position through L1's messages.
    assert all("<<L2|" not in p for p in r1_prompts)


def test_user_yaml_with_relative_selectors(tmp_path: Path) -> None:
    path = tmp_path / "backwards.yaml"
    path.write_text(
        "name: backwards\n"
        "description: a reverse ring, then the last panelist tells everyone else\n"
        "schedule:\n"
        "  - speakers: panel - last\n"
        "    deliver_to: prev\n"
        "  - speakers: last\n"
        "    deliver_to: others\n"
    )
    # The last panelist speaks to everyone but hears no one: allowed, with a warning.
    with pytest.warns(ParadigmWarning, match="backwards.*A3 never hears anyone"):
        result, model = run_discussion(str(path), 4, 2)
    # Ring over the step's speakers A1..A3: A1 -> A3, A2 -> A1, A3 -> A2; then A4 -> all.
    turn: list[Step] = [
        [("A1", {"A3"})],
        [("A2", {"A1"})],
        [("A3", {"A2"})],
        [("A4", {"A1", "A2", "A3"})],
    ]
    check_run(result, model, expected_transcript(turn, 2))


# -- 4. bad paradigms fail clearly ---------------------------------------------------------


def _bad(tmp_path: Path, text: str) -> tuple[ConfigError, Path]:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_paradigm(str(path))
    return info.value, path


@pytest.mark.parametrize(
    ("text", "field", "words"),
    [
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\n    deliver_to: A1 + Zed\n",
            "schedule[0].deliver_to",
            "Zed",
            id="unknown-slot-in-delivery",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel + reporter\n",
            "schedule[0].speakers",
            "reporter",
            id="unknown-slot-in-speakers",
        ),
        pytest.param(
            "name: x\nslots: [P, Q, R]\nschedule:\n  - speakers: P + Q\n",
            "schedule",
            "R never speak",
            id="fixed-slot-never-speaks",
        ),
        pytest.param(
            "name: x\nslots: [P, Q]\nschedule:\n  - speakers: P\n  - speakers: S\n",
            "schedule[1].speakers",
            "'S'",
            id="schedule-names-missing-slot",
        ),
        pytest.param(
            "name: x\nslots: [P, Q]\ngroups:\n  g: [P, S]\nschedule:\n  - speakers: g + Q\n",
            "groups.g",
            "S",
            id="group-names-missing-slot",
        ),
        pytest.param(
            "name: x\ngroups:\n  g: [A1, Zed]\nschedule:\n  - speakers: panel\n    deliver_to: g\n",
            "groups.g",
            "Zed",
            id="sized-group-names-unknown-slot",
        ),
        pytest.param(
            "name: x\ngroups:\n  panel: [A1]\nschedule:\n  - speakers: panel\n",
            "groups.panel",
            "taken",
            id="group-shadows-a-selector-word",
        ),
        pytest.param(
            "name: x\nslots: [P, Q]\ngroups:\n  P: [Q]\nschedule:\n  - speakers: P + Q\n",
            "groups.P",
            "taken",
            id="group-shadows-a-slot",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: A1\n  - repeat: rounds\n    steps:\n"
            "      - speakers: panel - A1\n",
            "schedule[1].repeat",
            "rounds",
            id="unknown-repeat-parameter",
        ),
        pytest.param(
            "name: x\ncolour: red\nschedule:\n  - speakers: panel\n",
            "colour",
            "unknown key 'colour'",
            id="unknown-top-level-key",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\n    deliverto: all\n",
            "schedule[0].deliverto",
            "did you mean 'deliver_to'",
            id="unknown-step-key",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\nmemory_window: lots\n",
            "memory_window",
            "integer",
            id="wrong-type-memory-window",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\n    mode: parallel\n",
            "schedule[0].mode",
            "sequence",
            id="wrong-value-mode",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\ndecision_points: sometimes\n",
            "decision_points",
            "message",
            id="wrong-value-decision-points",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: next\n",
            "schedule[0].speakers",
            "relative",
            id="relative-selector-as-speakers",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: panel\n    deliver_to_in_last_round: all\n",
            "schedule[0].deliver_to_in_last_round",
            "repeat",
            id="last-round-outside-repeat",
        ),
        pytest.param(
            "name: x\nschedule:\n  - speakers: A1 A2\n",
            "schedule[0].speakers",
            "+ or -",
            id="unjoined-selector",
        ),
    ],
)
def test_bad_paradigm_yaml(tmp_path: Path, text: str, field: str, words: str) -> None:
    error, path = _bad(tmp_path, text)
    assert error.source == str(path)
    assert error.field == field
    message = str(error)
    assert str(path) in message
    assert field in message
    assert words in message


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    error, path = _bad(tmp_path, "name: x\nschedule: [\n  - speakers: panel\n")
    assert str(path) in str(error)
    assert "not valid YAML" in str(error)


def test_wrong_top_level_type_names_the_file(tmp_path: Path) -> None:
    error, path = _bad(tmp_path, "- just\n- a list\n")
    assert str(path) in str(error)
    assert "mapping" in str(error)


def test_unknown_builtin_lists_the_builtins() -> None:
    with pytest.raises(ConfigError) as info:
        load_paradigm("nope")
    message = str(info.value)
    assert "nope" in message
    for name in BUILTINS:
        assert name in message
    assert sorted(madebate.builtin_paradigms()) == BUILTINS


def test_with_params_unknown_fails_naming_it() -> None:
    spec = load_paradigm("debate")
    with pytest.raises(ConfigError) as info:
        spec.with_params(unknown=1)
    assert info.value.field == "params.unknown"
    assert "unknown" in str(info.value)
    assert "debate_rounds" in str(info.value)  # the valid ones are listed
    with pytest.raises(ConfigError, match=r"params\.debate_rounds"):
        spec.with_params(debate_rounds=0)
    with pytest.raises(ConfigError, match="unknown"):
        madebate.Discussion(
            "q?",
            options=["a", "b"],
            model=ScriptedModel(record_prompts=True),
            paradigm_params={"unknown": 2},
        )
    assert spec.with_params(debate_rounds=3).params == {"debate_rounds": 3}
    assert spec.params == {"debate_rounds": 2}  # the original is untouched


def test_fixed_slots_with_wrong_team_size_fails_clearly() -> None:
    with pytest.raises(ConfigError) as info:
        madebate.Discussion(
            "q?",
            options=["a", "b"],
            model=ScriptedModel(record_prompts=True),
            paradigm=str(TWO_TEAMS),
            agents=4,
        )
    message = str(info.value)
    assert info.value.field == "slots"
    assert "6 fixed slots" in message and "4 agents" in message
    assert str(TWO_TEAMS) in message


def test_drafter_with_a_paradigm_that_has_none_fails_clearly() -> None:
    with pytest.raises(ConfigError) as info:
        madebate.Discussion(
            "q?",
            options=["a", "b"],
            model=ScriptedModel(record_prompts=True),
            paradigm="memory",
            drafter=True,
        )
    assert info.value.field == "drafter"
    assert "memory" in str(info.value)


def test_sized_paradigm_with_panel_slots_beyond_the_team_is_fine() -> None:
    # 'A4' names a panelist that a team of 3 does not have: it selects nobody, no error (a
    # warning: at 3, A1's messages reach nobody and only A1 hears anyone).
    spec = madebate.ParadigmSpec.model_validate(
        {"name": "x", "schedule": [{"speakers": "panel", "deliver_to": "A1 + A4"}]}
    )
    with pytest.warns(ParadigmWarning, match="A1's messages reach nobody"):
        loaded = load_paradigm(spec)
    compiled = compile_paradigm(loaded, n_agents=3, with_drafter=False)
    assert compiled.steps[1].receivers == {"A2": ("A1",)}
    compiled = compile_paradigm(spec, n_agents=4, with_drafter=False)
    assert compiled.steps[1].receivers == {"A2": ("A1", "A4")}
    # The same holds for groups of a sized paradigm, and D where a drafter is allowed.
    spec = madebate.ParadigmSpec.model_validate(
        {
            "name": "y",
            "drafter": "optional",
            "groups": {"core": ["D", "A1", "A4"]},
            "schedule": [{"speakers": "lead"}, {"speakers": "panel - lead", "deliver_to": "core"}],
        }
    )
    compiled = compile_paradigm(load_paradigm(spec), n_agents=3, with_drafter=True)
    assert compiled.steps[1].receivers == {"A1": ("D",)}
    compiled = compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert compiled.steps[1].receivers == {"A2": ("A1",)}


# -- 5. the compiled graph ------------------------------------------------------------------


@pytest.mark.parametrize("n", [3, 4, 5])
def test_relay_graph_is_a_ring(n: int) -> None:
    graph = compile_paradigm(load_paradigm("relay"), n_agents=n, with_drafter=False).graph
    panel = [f"A{i}" for i in range(1, n + 1)]
    assert sorted(graph.nodes) == sorted(panel)
    ring = {(panel[i], panel[(i + 1) % n]) for i in range(n)}
    assert list(graph.edges()) and set(graph.edges()) == ring
    assert graph.number_of_edges() == n
    assert all(graph.out_degree(a) == 1 and graph.in_degree(a) == 1 for a in panel)


@pytest.mark.parametrize("n", [3, 4, 5])
def test_report_graph_is_a_star(n: int) -> None:
    graph = compile_paradigm(load_paradigm("report"), n_agents=n, with_drafter=False).graph
    others = [f"A{i}" for i in range(2, n + 1)]
    star = {("A1", a) for a in others} | {(a, "A1") for a in others}
    assert set(graph.edges()) == star
    assert graph.number_of_edges() == 2 * (n - 1)


def test_debate_graph_marks_the_drafter() -> None:
    graph = compile_paradigm(load_paradigm("debate"), n_agents=3, with_drafter=True).graph
    assert graph.nodes["D"] == {"voter": False, "drafter": True}
    assert all(graph.nodes[a]["voter"] for a in ("A1", "A2", "A3"))
    # Draft to everyone; debaters in a ring A1 -> A2 -> A3 -> A1; last sub-round to D.
    assert set(graph.edges()) == {
        ("D", "A1"),
        ("D", "A2"),
        ("D", "A3"),
        ("A1", "A2"),
        ("A2", "A3"),
        ("A3", "A1"),
        ("A1", "D"),
        ("A2", "D"),
        ("A3", "D"),
    }


# -- 6. what the delivery graph says about a paradigm ----------------------------------------


@pytest.mark.parametrize("name", BUILTINS)
@pytest.mark.parametrize("n", [3, 4, 5])
def test_builtins_deliver_every_message_and_every_slot_hears_someone(name: str, n: int) -> None:
    for drafter in (False, True) if name == "debate" else (False,):
        compiled = compile_paradigm(load_paradigm(name), n_agents=n, with_drafter=drafter)
        assert compiled.warnings == ()
        assert "warning" not in compiled.describe()


def test_a_two_agent_debate_says_its_first_sub_round_reaches_nobody() -> None:
    # Debaters A2 alone: "next" in a ring of one is the speaker itself, so before the last
    # sub-round A2's message is seen by A2 only.
    compiled = compile_paradigm(load_paradigm("debate"), n_agents=2, with_drafter=False)
    assert compiled.steps[1].receivers == {"A2": ()}
    assert compiled.warnings == ("A2's message in step 2 reaches nobody",)
    assert "warning: A2's message in step 2 reaches nobody" in compiled.describe()


def test_a_blind_step_and_a_deaf_slot_warn_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "lonely.yaml"
    path.write_text(
        "name: lonely\n"
        "slots: [P, Q, R]\n"
        "schedule:\n"
        "  - speakers: P + Q + R\n"
        "    mode: together\n"
        "    deliver_to: self\n"  # a blind round: nobody hears anybody
        "  - speakers: P + Q\n"
        "    deliver_to: P + Q\n"  # P and Q talk; R never hears anyone
    )
    with pytest.warns(ParadigmWarning) as caught:
        spec = load_paradigm(str(path))
    (message,) = [str(w.message) for w in caught]
    assert str(path) in message
    assert "P's message in step 1 reaches nobody" in message
    assert "Q's message in step 1 reaches nobody" in message
    assert "R's messages reach nobody" in message  # R speaks only in the blind round
    assert "R never hears anyone" in message
    # A warning, not an error: the paradigm runs.
    compiled = compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert len(compiled.warnings) == 4


def test_the_graph_is_keyed_by_step() -> None:
    compiled = compile_paradigm(load_paradigm("debate"), n_agents=3, with_drafter=False)
    steps = {k for _, _, k in compiled.graph.edges(keys=True)}
    assert steps == {st.index for st in compiled.steps}
    assert all(d["step"] == k for _, _, k, d in compiled.graph.edges(keys=True, data=True))


def test_importing_madebate_does_not_import_networkx() -> None:
    import subprocess
    import sys

    code = (
        "import sys, madebate\n"
        "assert 'networkx' not in sys.modules, 'networkx imported by import madebate'\n"
        "madebate.engine.compile_paradigm(madebate.load_paradigm('relay'), n_agents=3, with_drafter=False)\n"
        "assert 'networkx' in sys.modules  # compiling uses it\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_the_drawing_puts_a_star_hub_in_the_middle_and_the_rest_on_a_circle() -> None:
    import math

    from madebate.report._svg import hub, layout, paradigm_svg

    report = compile_paradigm(load_paradigm("report"), n_agents=5, with_drafter=False)
    assert hub(report) == "A1"
    pos = layout(report)
    assert pos["A1"] == (0.0, 0.0)
    assert pos["A2"] == pytest.approx((0.0, -1.0), abs=1e-6)  # the first of the rim at the top
    assert all(math.hypot(*pos[a]) == pytest.approx(1.0) for a in ("A2", "A3", "A4", "A5"))
    assert pos["A3"][0] > 0  # then clockwise
    svg = paradigm_svg(report, personas={"A1": "Rita"}, standalone=True)
    assert "Rita" in svg

    # No hub (a ring, everyone with everyone, a debate with its drafter): a circle in slot
    # order from the top, clockwise.
    for name, n, drafter in [("relay", 4, False), ("memory", 3, False), ("debate", 3, True)]:
        compiled = compile_paradigm(load_paradigm(name), n_agents=n, with_drafter=drafter)
        assert hub(compiled) is None
        pos = layout(compiled)
        slots = list(compiled.slots)
        for i, slot in enumerate(slots):
            angle = -math.pi / 2 + 2 * math.pi * i / len(slots)
            assert pos[slot] == pytest.approx((math.cos(angle), math.sin(angle)), abs=1e-6)
