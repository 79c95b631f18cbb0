"""Personas: built-in libraries, source specs, model-made experts with bounded retries, IPIP."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from madebate import (
    ConfigError,
    Discussion,
    DiscussionResult,
    GenerateConfig,
    ModelCallError,
    Persona,
    ScriptedModel,
    ScriptedRequest,
    builtin_persona_libraries,
    load_persona_library,
)
from madebate.engine import persona_sources
from madebate.engine._personas import (
    ExpertPersonas,
    IpipPersonas,
    LibraryPersonas,
    NoPersona,
    PersonaRequest,
    parse_persona_json,
    parse_source,
)
from madebate.models import ManagedModel

OPTIONS = ["Paris", "Rome", "Berlin"]
BUILTINS = ["ethics_law", "general", "medicine", "science"]
GENERAL = [p.name for p in load_persona_library("general").personas]


# -- libraries ----------------------------------------------------------------------------------


def test_builtin_libraries_are_listed() -> None:
    assert builtin_persona_libraries() == BUILTINS


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_library_loads_by_name(name: str) -> None:
    library = load_persona_library(name)
    assert library.name == name
    assert library.personas
    names = [p.name for p in library.personas]
    assert len(set(names)) == len(names)
    assert all(p.description and p.expertise for p in library.personas)


def test_unknown_library_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown persona library 'astrology'") as info:
        load_persona_library("astrology")
    for name in BUILTINS:
        assert name in str(info.value)
    assert info.value.field == "personas"


def test_library_from_a_yaml_path(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text(
        "name: mine\npersonas:\n  - name: Sailor\n    description: Knows the sea.\n"
        "  - role: Cook\n",
        encoding="utf-8",
    )
    library = load_persona_library(path)
    assert [p.name for p in library.personas] == ["Sailor", "Cook"]
    assert load_persona_library(str(path)) == library


def test_bad_library_file_names_file_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: bad\npersonas: []\ncolour: red\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_persona_library(path)
    assert str(path) in str(info.value)
    with pytest.raises(ConfigError, match="file not found"):
        load_persona_library(tmp_path / "missing.yaml")


# -- source specs ---------------------------------------------------------------------------------


def test_registered_sources() -> None:
    assert persona_sources.names() == ["expert", "ipip", "library", "none"]


def test_parse_good_sources() -> None:
    library = parse_source("library")
    assert isinstance(library, LibraryPersonas) and library.library.name == "general"
    science = parse_source("library:science")
    assert isinstance(science, LibraryPersonas) and science.library.name == "science"
    spaced = parse_source(" library : medicine ")
    assert isinstance(spaced, LibraryPersonas) and spaced.library.name == "medicine"
    expert = parse_source("expert")
    assert isinstance(expert, ExpertPersonas) and expert.attempts == 3
    two = parse_source("expert:2")
    assert isinstance(two, ExpertPersonas) and two.attempts == 2
    assert isinstance(parse_source("ipip"), IpipPersonas)
    assert isinstance(parse_source("none"), NoPersona)


@pytest.mark.parametrize("spec", ["magic", "", "Library", "experts", "none x"])
def test_unknown_source_names_the_valid_ones(spec: str) -> None:
    with pytest.raises(ConfigError, match="unknown persona source") as info:
        parse_source(spec)
    assert "expert, ipip, library, none" in str(info.value)
    assert info.value.field == "personas"


@pytest.mark.parametrize("spec", ["none:x", "ipip:3"])
def test_source_without_argument_rejects_one(spec: str) -> None:
    with pytest.raises(ConfigError, match="takes no argument") as info:
        parse_source(spec)
    message = str(info.value)
    assert spec in message
    for source in ("library", "expert", "ipip", "none"):
        assert source in message


@pytest.mark.parametrize("spec", ["expert:abc", "expert:0", "expert:-1", "expert:2.5"])
def test_expert_attempts_must_be_a_positive_count(spec: str) -> None:
    with pytest.raises(ConfigError, match="number of attempts"):
        parse_source(spec)


def test_library_source_with_unknown_library() -> None:
    with pytest.raises(ConfigError, match="unknown persona library 'nope'") as info:
        parse_source("library:nope")
    assert "science" in str(info.value)


def test_persona_list_of_wrong_length() -> None:
    with pytest.raises(ConfigError, match="2 sources given for 3 agents") as info:
        Discussion("q?", model="scripted", agents=3, personas=["library", "none"])
    assert "personas" in str(info.value)
    with pytest.raises(ConfigError, match="4 sources given for 3 agents"):
        Discussion("q?", model="scripted", agents=3, personas=["none"] * 4)


# -- persona JSON -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"name": "Geographer", "description": "Knows capitals.", "expertise": ["maps"]}',
        '```json\n{"name": "Geographer", "description": "Knows capitals."}\n```',
        'Here is the persona:\n{"role": "Geographer", "description": "Knows capitals."}\nDone.',
        '{"name": "Geographer", "description": "Knows capitals.", "age": 40}',
    ],
)
def test_parse_persona_json_good(text: str) -> None:
    persona, problem = parse_persona_json(text)
    assert problem is None
    assert persona is not None
    assert persona.name == "Geographer"
    assert persona.description == "Knows capitals."


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I would pick a geographer.", "no JSON object"),
        ('{"name": "Geographer", }', "invalid JSON"),
        ('{"description": "no name"}', "failed validation"),
        ('{"name": ""}', "failed validation"),
        ('{"name": "X" , "description": ' + json.dumps(["a list"]) + "}", "failed validation"),
        ('{"name": ["a", "b"]}', "failed validation"),
    ],
)
def test_parse_persona_json_bad(text: str, problem: str) -> None:
    persona, message = parse_persona_json(text)
    assert persona is None
    assert message is not None and problem in message


# -- the expert source in a discussion ------------------------------------------------------------


def _discussing(request: ScriptedRequest) -> str:
    if "Current Solution: none yet" in request.prompt:
        return "Rome.\nFinal Solution: B) Rome"
    return "[AGREE] yes\nFinal Solution: B) Rome"


def panel_script(persona_reply: Callable[[ScriptedRequest, int], str]) -> ScriptedModel:
    """Persona calls get `persona_reply(request, k)` (k counts persona calls from 0); the
    discussion itself is one proposal that everyone agrees with."""
    count = {"persona": 0}

    def script(request: ScriptedRequest) -> str:
        if request.role == "persona":
            k = count["persona"]
            count["persona"] += 1
            return persona_reply(request, k)
        return _discussing(request)

    return ScriptedModel(script, record_prompts=True)


def run(model: ScriptedModel, personas: str | list[str], **settings: object) -> DiscussionResult:
    settings = {"agents": 3, "protocol": "unanimity_consensus", "max_turns": 2, **settings}
    return Discussion(
        "Capital of Italy?", options=OPTIONS, model=model, personas=personas, **settings
    ).run()


def persona_requests(model: ScriptedModel, slot: str | None = None) -> list[ScriptedRequest]:
    return [r for r in model.requests if r.role == "persona" and slot in (None, r.agent)]


EXPERT_FORMATS = {
    "plain": lambda name: json.dumps(
        {"name": name, "description": f"{name} knows.", "expertise": ["x"]}
    ),
    "fenced": lambda name: f'```json\n{{"name": "{name}", "description": "{name} knows."}}\n```',
    "role key": lambda name: json.dumps({"role": name, "description": f"{name} knows."}),
}


@pytest.mark.parametrize("form", sorted(EXPERT_FORMATS))
def test_expert_personas_from_the_model(form: str) -> None:
    model = panel_script(lambda request, k: EXPERT_FORMATS[form](f"Expert {k + 1}"))
    result = run(model, "expert")
    assert result.stop_reason == "consensus"
    assert [a.persona_name for a in result.agents] == ["Expert 1", "Expert 2", "Expert 3"]
    assert [a.persona_description for a in result.agents] == [
        f"Expert {i} knows." for i in (1, 2, 3)
    ]
    assert {a.persona_source for a in result.agents} == {"expert"}
    assert not any(a.persona_fallback for a in result.agents)
    assert result.warnings == []
    # one persona call per agent, accounted for under the agent's slot
    persona_calls = [c for c in result.calls if c.role == "persona"]
    assert [c.agent for c in persona_calls] == ["A1", "A2", "A3"]
    assert result.usage_by_agent["A1"].calls >= 2  # its persona and its discussion turn
    # later agents' prompts list the personas already made
    prompts = [r.prompt for r in persona_requests(model)]
    assert "already on the panel" not in prompts[0]
    assert '"Expert 1"' in prompts[1] and "Expert 2" not in prompts[1]
    assert '"Expert 1"' in prompts[2] and '"Expert 2"' in prompts[2]
    # and each agent speaks in its persona
    systems = [r.messages[0].content for r in model.requests if r.role == "discussion"]
    assert "Your role: Expert 1 (Expert 1 knows.)" in systems[0]


BAD_REPLIES = [
    "Sure! A geographer would help.",
    '{"name": "Geographer", "description": }',
    '{"description": "forgot the name"}',
    "```json\n{'name': 'single quotes'}\n```",
]


@pytest.mark.parametrize(("spec", "attempts"), [("expert:1", 1), ("expert:2", 2), ("expert", 3)])
def test_expert_with_bad_json_retries_a_bounded_number_of_times(spec: str, attempts: int) -> None:
    model = panel_script(lambda request, k: BAD_REPLIES[k % len(BAD_REPLIES)])
    result = run(model, spec)
    for slot in ("A1", "A2", "A3"):
        assert len(persona_requests(model, slot)) == attempts
    assert len([c for c in result.calls if c.role == "persona"]) == 3 * attempts
    # a clear fallback: flagged on the agent, explained in a warning naming the slot
    assert all(a.persona_fallback for a in result.agents)
    assert {a.persona_source for a in result.agents} == {"expert"}
    names = [a.persona_name for a in result.agents]
    assert names == GENERAL[:3]
    for slot, name in zip(("A1", "A2", "A3"), names, strict=True):
        (warning,) = [w for w in result.warnings if w.startswith(f"persona for {slot}:")]
        assert f"in {attempts} attempt(s)" in warning
        assert f"fell back to library persona '{name}'" in warning
    # and the discussion still runs to the end
    assert result.stop_reason == "consensus"
    assert result.decided and result.answer == "B"


def test_expert_retries_nudge_a_greedy_model() -> None:
    model = panel_script(lambda request, k: "no json")
    run(model, "expert:3", generation={"temperature": 0.0})
    temperatures = [r.config.temperature for r in persona_requests(model, "A1")]
    assert temperatures == [0.0, 0.7, 0.7]


def test_expert_model_call_errors_count_as_attempts() -> None:
    def persona_reply(request: ScriptedRequest, k: int) -> str:
        raise ModelCallError("backend said 400", retryable=False)

    model = panel_script(persona_reply)
    result = run(model, "expert:2")
    assert len(persona_requests(model)) == 6
    failed = [c for c in result.calls if c.role == "persona"]
    assert len(failed) == 6 and all(c.error for c in failed)
    assert all(a.persona_fallback for a in result.agents)
    assert any("backend said 400" in w for w in result.warnings)
    assert result.stop_reason == "consensus"


def test_expert_duplicate_names_are_rejected_and_retried() -> None:
    replies = ["Physicist", "Physicist", "Chemist", "Physicist", "Chemist", "Biologist"]
    model = panel_script(lambda request, k: json.dumps({"name": replies[k]}))
    result = run(model, "expert")
    assert [a.persona_name for a in result.agents] == ["Physicist", "Chemist", "Biologist"]
    assert [len(persona_requests(model, s)) for s in ("A1", "A2", "A3")] == [1, 2, 3]
    assert not any(a.persona_fallback for a in result.agents)
    assert result.warnings == []


def test_expert_duplicates_until_the_end_fall_back() -> None:
    model = panel_script(lambda request, k: json.dumps({"name": "Physicist"}))
    result = run(model, "expert:2", agents=2)
    assert [a.persona_name for a in result.agents] == ["Physicist", GENERAL[1]]
    assert [a.persona_fallback for a in result.agents] == [False, True]
    (warning,) = result.warnings
    assert warning.startswith("persona for A2:")
    assert "duplicate name 'Physicist'" in warning


def test_expert_fallback_never_repeats_a_name_on_the_team() -> None:
    # A1's expert happens to be the library persona that A2's fallback would take.
    replies = [json.dumps({"name": GENERAL[1]})]
    model = panel_script(lambda request, k: replies[k] if k < len(replies) else "no json")
    result = run(model, "expert")
    names = [a.persona_name for a in result.agents]
    assert names[0] == GENERAL[1]
    assert len(set(names)) == 3
    assert [a.persona_fallback for a in result.agents] == [False, True, True]


# -- IPIP -----------------------------------------------------------------------------------------


async def _ipip(slot: str, seed: int | None) -> Persona:
    request = PersonaRequest(
        slot=slot,
        index=0,
        task_text="task",
        existing=[],
        model=ManagedModel(ScriptedModel([], record_prompts=True)),
        config=GenerateConfig(),
        seed=seed,
    )
    choice = await IpipPersonas().make(request)
    assert choice.source == "ipip" and not choice.fallback
    assert not request.calls  # no model call
    return choice.persona


async def test_ipip_is_deterministic_for_a_seed_and_differs_across_slots() -> None:
    first = [await _ipip(slot, 7) for slot in ("A1", "A2", "A3")]
    again = [await _ipip(slot, 7) for slot in ("A1", "A2", "A3")]
    assert first == again
    assert len({p.description for p in first}) == 3
    assert [p.name for p in first] == ["Participant A1", "Participant A2", "Participant A3"]
    for p in first:
        assert "Big Five: openness " in p.description
        for trait in ("conscientiousness", "extraversion", "agreeableness", "neuroticism"):
            assert trait in p.description
    other = [await _ipip(slot, 8) for slot in ("A1", "A2", "A3")]
    assert other != first


def test_ipip_in_a_discussion_repeats_with_the_seed() -> None:
    def describe(seed: int) -> list[str]:
        result = run(ScriptedModel(_discussing, record_prompts=True), "ipip", seed=seed)
        assert {a.persona_source for a in result.agents} == {"ipip"}
        return [a.persona_description for a in result.agents]

    assert describe(3) == describe(3)
    assert describe(3) != describe(4)


# -- mixed sources --------------------------------------------------------------------------------


def test_mixed_sources_per_agent() -> None:
    model = ScriptedModel(_discussing, record_prompts=True)
    result = run(model, ["library", "ipip", "none"])
    assert result.stop_reason == "consensus"
    info = {a.slot: a for a in result.agents}
    assert info["A1"].persona_name == GENERAL[0]
    assert info["A1"].persona_source == "library:general"
    assert info["A2"].persona_source == "ipip"
    assert "Big Five" in info["A2"].persona_description
    assert info["A3"].persona_source == "none"
    assert info["A3"].persona_name == "Participant A3"
    assert not persona_requests(model)  # none of these asks the model
    systems = {r.agent: r.messages[0].content for r in model.requests}
    assert f"Your role: {GENERAL[0]}" in systems["A1"]
    assert "Your role: Participant A2 (a person who is" in systems["A2"]
    assert "Your role" not in systems["A3"]


def test_library_source_skips_names_already_taken() -> None:
    model = panel_script(lambda request, k: json.dumps({"name": GENERAL[0]}))
    result = run(model, ["expert", "library", "library:general"])
    assert [a.persona_name for a in result.agents] == GENERAL[:3]
    assert [a.persona_source for a in result.agents] == [
        "expert",
        "library:general",
        "library:general",
    ]


def test_named_library_for_the_whole_team() -> None:
    result = run(
        ScriptedModel(_discussing, record_prompts=True), "library:science", agents=4, max_turns=1
    )
    assert [a.persona_name for a in result.agents] == [
        "Mathematician",
        "Physicist",
        "Chemist",
        "Biologist",
    ]
    assert {a.persona_source for a in result.agents} == {"library:science"}
