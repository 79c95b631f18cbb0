"""Mixed teams: every agent its own model, persona and sampling settings (`agents` as a list,
the drafter's and the judge's entries), in Python and on the command line. Two scripted models
that log who called them show each agent's calls going to its own model, with visibility,
accounting and caching per model; the integer form is unchanged, and bad entries fail naming
their path."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import madebate as mb
from madebate._errors import ConfigError
from madebate.cli import app
from madebate.models import ManagedModel
from madebate.models._cache import CallCache
from madebate.models._model import ChatMessage, GenerateConfig
from madebate.models._models import build_model
from madebate.models.providers.scripted import ScriptedRequest, default_script

QUESTION = "Capital of France?"
OPTIONS = ["Paris", "Rome", "Madrid"]


class Logged(mb.ScriptedModel):
    """A scripted model (the default script, shifted by `offset`) that logs every request it
    answers: (agent, role, temperature, max_tokens)."""

    def __init__(self, name: str, *, offset: int = 0, stubborn: bool = False) -> None:
        self.log: list[tuple[str | None, str, float, int]] = []
        self.closed = 0

        def script(request: ScriptedRequest) -> str:
            cfg = request.config
            self.log.append((request.agent, request.role, cfg.temperature, cfg.max_tokens))
            return default_script(request, offset=offset, stubborn=stubborn)

        super().__init__(script, model_id=name)

    async def aclose(self) -> None:
        self.closed += 1

    def agents(self) -> set[str | None]:
        return {agent for agent, *_ in self.log}


def test_each_agent_calls_its_own_model() -> None:
    base, one, two = Logged("base"), Logged("one"), Logged("two", offset=1)
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=base,
        agents=[mb.Agent(model=one), mb.Agent(model=two), mb.Agent()],
        personas="none",
        max_turns=2,
        min_turns=2,
    )
    assert result.stop_reason != "error", result.stop_detail
    assert one.agents() == {"A1"} and two.agents() == {"A2"} and base.agents() == {"A3"}
    assert [(a.slot, a.model) for a in result.agents] == [
        ("A1", "one"),
        ("A2", "two"),
        ("A3", "base"),
    ]
    by_slot = {a.slot: a.model for a in result.agents}
    assert result.calls and all(c.model == by_slot[c.agent or ""] for c in result.calls)
    # Each model answered as itself: model two picks the option after model one's.
    first = {m.speaker: m.answer for m in result.messages if m.turn == 1}
    assert first["A1"] is not None and first["A2"] is not None


@pytest.mark.parametrize("paradigm", ["memory", "relay", "report", "debate"])
def test_visibility_is_the_same_as_with_one_model(paradigm: str) -> None:
    settings: dict[str, Any] = {
        "paradigm": paradigm,
        "personas": "none",
        "max_turns": 2,
        "min_turns": 2,
    }
    alone = mb.discuss(QUESTION, options=OPTIONS, model=Logged("m"), agents=3, **settings)
    mixed = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=Logged("m"),
        agents=[mb.Agent(model=Logged("x")), mb.Agent(model=Logged("y")), mb.Agent()],
        **settings,
    )

    def seen(result: mb.DiscussionResult) -> list[tuple[Any, ...]]:
        return [
            (m.turn, m.step, m.speaker, m.receivers, m.visible_message_ids, m.answer)
            for m in result.messages
        ]

    assert seen(mixed) == seen(alone)
    assert len({a.model for a in mixed.agents}) == 3


def test_usage_is_split_per_model() -> None:
    one, two = Logged("one"), Logged("two", offset=1, stubborn=True)  # they disagree
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=one,
        agents=[mb.Agent(), mb.Agent(model=two), mb.Agent(model=two)],
        personas="none",
        protocol="simple_voting",  # ballots are calls too, each to the voter's own model
        max_turns=1,
    )
    by_model = result.usage_by_model
    assert set(by_model) == {"one", "two"}
    assert by_model["one"].calls == len(one.log) and by_model["two"].calls == len(two.log)
    assert sum(u.calls for u in by_model.values()) == result.usage.calls
    assert sum(u.total_tokens for u in by_model.values()) == result.usage.total_tokens
    ballots = [(c.agent, c.model) for c in result.calls if c.role == "ballot"]
    assert ballots and all(model == ("one" if agent == "A1" else "two") for agent, model in ballots)


def test_each_agent_samples_with_its_own_generation_settings() -> None:
    model = Logged("m")
    mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=model,
        agents=[mb.Agent(), mb.Agent(generation={"temperature": 0.7, "max_tokens": 99})],
        personas="none",
        generation=GenerateConfig(max_tokens=300),
        max_turns=2,
    )
    settings = {agent: (t, n) for agent, _role, t, n in model.log}
    assert settings == {"A1": (0.0, 300), "A2": (0.7, 99)}


def test_an_agents_settings_read_back_from_a_dump_still_follow_the_discussions() -> None:
    # A run's spec.yaml is a dump read back on --resume: the agent's own temperature stays,
    # and its max_tokens is still the discussion's (2048 in the critical style), not pinned.
    given = mb.DiscussionConfig(
        style="critical", agents=[mb.Agent(generation={"temperature": 0.7}), mb.Agent()]
    )
    dumped = given.model_dump(mode="json")
    assert dumped["agents"][0]["generation"] == {"temperature": 0.7}
    for config in (given, mb.DiscussionConfig.model_validate(dumped)):
        model = Logged("m")
        mb.Discussion(
            QUESTION,
            options=OPTIONS,
            model=model,
            config=config.model_copy(update={"personas": "none", "max_turns": 1}),
        ).run()
        settings = {agent: (t, n) for agent, _role, t, n in model.log}
        assert settings == {"A1": (0.7, 2048), "A2": (0.0, 2048)}


@pytest.mark.parametrize("method", ["self_consistency", "ablation"])
def test_a_baseline_samples_with_the_first_agents_own_settings(method: str) -> None:
    # The baseline plays the first panelist: its own temperature and max_tokens, not the
    # discussion's. A greedy agent in a sampling discussion still gets distinct samples.
    model = Logged("m")
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=model,
        agents=[mb.Agent(generation={"temperature": 0.0, "max_tokens": 77}), mb.Agent()],
        personas="none",
        generation=GenerateConfig(temperature=0.9, max_tokens=300),
        method=method,
        samples=3,
        refinements=2,
    )
    settings = {(t, n) for agent, role, t, n in model.log if role == "discussion"}
    if method == "self_consistency":
        assert settings == {(0.7, 77)}
        assert any("temperature 0 would repeat" in w for w in result.warnings)
    else:
        assert settings == {(0.0, 77)}


def test_personas_per_agent_a_source_or_written_out() -> None:
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model="scripted",
        agents=[
            mb.Agent(persona={"name": "Geographer", "description": "Knows capitals."}),
            mb.Agent(persona="none"),
            mb.Agent(),  # the discussion's personas
        ],
        personas="library",
        max_turns=1,
    )
    a1, a2, a3 = result.agents
    assert (a1.persona_name, a1.persona_source) == ("Geographer", "inline")
    assert a2.persona_source == "none"
    assert a3.persona_source.startswith("library")


def test_the_drafter_and_the_judge_take_the_same_fields() -> None:
    base, drafter, judge = Logged("base"), Logged("drafting"), Logged("judging")
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=base,
        paradigm="debate",
        drafter=mb.Agent(model=drafter, persona={"name": "Scribe", "description": "Writes."}),
        judge=mb.Agent(
            model=judge,
            persona={"name": "Arbiter", "description": "Weighs the candidates."},
            generation={"temperature": 0.2},
        ),
        protocol="judge",
        personas="none",
        max_turns=1,
    )
    assert result.stop_reason == "judge", result.stop_detail
    assert drafter.agents() == {"D"} and judge.agents() == {"J"}
    assert {role for _a, role, t, _n in judge.log} == {"judge"}
    assert {t for _a, _r, t, _n in judge.log} == {0.2}
    info = {a.slot: a for a in result.agents}
    assert (info["D"].persona_name, info["D"].model) == ("Scribe", "drafting")
    assert (info["J"].persona_name, info["J"].model) == ("Arbiter", "judging")
    assert set(result.usage_by_model) == {"base", "drafting", "judging"}


@pytest.mark.parametrize("where", ["protocol_options", "drift_judge"])
def test_a_judge_model_given_by_the_protocol_or_drift_judge_is_the_one_recorded(
    where: str,
) -> None:
    # The judge protocol's `model` option (or the drift judge's model) takes precedence over
    # the team's: the judge's AgentInfo names the model its calls went to.
    settings: dict[str, Any] = (
        {"protocol": "judge", "protocol_options": {"model": "scripted"}}
        if where == "protocol_options"
        else {"drift_judge": {"model": "scripted"}, "max_turns": 2}
    )
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model=Logged("base"),
        personas="none",
        judge=mb.Agent(model=Logged("judging")),
        **{"max_turns": 1, **settings},
    )
    judge_calls = {c.model for c in result.calls if c.agent == "J"}
    # (a drift judge is only asked when the answer changed between turns)
    assert (
        judge_calls == {"scripted"} if where == "protocol_options" else judge_calls <= {"scripted"}
    )
    info = {a.slot: a.model for a in result.agents}
    assert info["J"] == "scripted"


def test_the_integer_form_is_unchanged() -> None:
    config = mb.DiscussionConfig(agents=3)
    assert config.settings() == {"agents": 3} and config.n_agents == 3
    result = mb.discuss(QUESTION, options=OPTIONS, model="scripted", agents=3, max_turns=1)
    assert [a.model for a in result.agents] == ["scripted"] * 3
    assert result.usage_by_model == {"scripted": result.usage}
    # A list of empty entries is the same team as the integer form.
    listed = mb.discuss(
        QUESTION, options=OPTIONS, model="scripted", agents=[{}, {}, {}], max_turns=1
    )
    assert listed.model_dump(exclude={"calls"}) == result.model_dump(exclude={"calls"})


def test_a_concurrent_step_sends_to_different_models_together() -> None:
    # all_agents_drafting: turn 1 is one step in which every panelist drafts at once. Each
    # model's first draft waits until the other model's has arrived: sent one after the other,
    # neither would ever arrive while the first waits, and the wait would time out.
    arrived: dict[str, asyncio.Event] = {}

    def meeting(name: str, other: str) -> mb.ScriptedModel:
        async def script(request: ScriptedRequest) -> str:
            if request.role == "discussion" and "Current solution" not in request.prompt:
                arrived.setdefault(name, asyncio.Event()).set()
                await asyncio.wait_for(arrived.setdefault(other, asyncio.Event()).wait(), 30)
            return default_script(request)

        return mb.ScriptedModel(script, model_id=name)

    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model="scripted",
        agents=[mb.Agent(model=meeting("a", "b")), mb.Agent(model=meeting("b", "a"))],
        all_agents_drafting=True,
        personas="none",
        max_turns=1,
    )
    assert result.stop_reason != "error", result.stop_detail
    assert not any(c.error for c in result.calls)
    first = [m for m in result.messages if m.turn == 1 and m.step == 1]
    assert sorted(m.speaker for m in first) == ["A1", "A2"]


def test_a_model_named_by_a_spec_is_built_once_per_discussion_and_closed(
    model_seam: Any,
) -> None:
    made: list[Logged] = []

    def factory(model_id: str, options: dict[str, Any]) -> Logged:
        made.append(Logged(model_id))
        return made[-1]

    model_seam.use(factory)
    result = mb.discuss(
        QUESTION,
        options=OPTIONS,
        model="test/x",
        agents=[
            mb.Agent(model="test/x"),  # the discussion's own model: not built again
            mb.Agent(model="test/y"),
            mb.Agent(model={"id": "test/y"}),  # the same spec, written out
            mb.Agent(model={"id": "test/y", "label": "y2"}),  # another spec: another model
        ],
        personas="none",
        max_turns=1,
    )
    assert result.stop_reason != "error", result.stop_detail
    assert model_seam.made == ["test/x", "test/y", "test/y"]
    assert [a.model for a in result.agents] == ["test/x", "test/y", "test/y", "y2"]
    assert all(m.closed == 1 for m in made)  # built for the discussion, closed at its end


def test_a_model_object_passed_in_is_the_callers_to_close() -> None:
    mine = Logged("mine")
    mb.discuss(
        QUESTION,
        options=OPTIONS,
        model="scripted",
        agents=[mb.Agent(model=mine), mb.Agent()],
        max_turns=1,
    )
    assert mine.log and mine.closed == 0


async def test_the_same_prompt_on_two_models_is_two_cache_entries(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    a = build_model(mb.ModelSpec(id="scripted", label="a"), cache=cache)
    b = build_model(
        mb.ModelSpec(id="scripted", label="b", options={"offset": 1}),
        cache=cache,
    )
    prompt = [ChatMessage(role="user", content=f"{QUESTION}\nA) Paris\nB) Rome")]
    config = GenerateConfig(temperature=0.0)
    out_a, rec_a = await a.generate(prompt, config, role="discussion", agent="A1")
    out_b, rec_b = await b.generate(prompt, config, role="discussion", agent="A2")
    again, rec_again = await b.generate(prompt, config, role="discussion", agent="A2")
    assert out_a.text != out_b.text == again.text
    assert (rec_a.cache_hit, rec_b.cache_hit, rec_again.cache_hit) == (False, False, True)
    assert (rec_a.model, rec_b.model) == ("a", "b")
    rows = cache._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert rows == 2
    cache.close()


def test_a_mixed_discussion_through_one_cache_repeats_from_it(tmp_path: Path) -> None:
    cache = CallCache(tmp_path / "calls.sqlite")
    one, two = Logged("one"), Logged("two", offset=1)
    wrapped = [ManagedModel(one, cache=cache), ManagedModel(two, cache=cache)]

    def run() -> mb.DiscussionResult:
        return mb.discuss(
            QUESTION,
            options=OPTIONS,
            model=wrapped[0],
            agents=[mb.Agent(), mb.Agent(model=wrapped[1]), mb.Agent()],
            personas="none",
            max_turns=2,
        )

    first = run()
    calls = (len(one.log), len(two.log))
    second = run()
    assert (len(one.log), len(two.log)) == calls  # every call answered from the cache
    assert all(c.cache_hit for c in second.calls)
    assert second.answer == first.answer and second.usage_by_model == first.usage_by_model
    rows = cache._db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert rows == sum(calls)  # no entry of one model is served to the other
    cache.close()


# -- bad entries ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "field", "words"),
    [
        ({"agents": [{}, {"model": "nope/x"}]}, "agents[1].model", "unknown model provider 'nope'"),
        ({"agents": [{}, {}, {"modle": "scripted"}]}, "agents[2].modle", "unknown key 'modle'"),
        (
            {"agents": [{}, {"generation": {"temprature": 1}}]},
            "agents[1].generation.temprature",
            "unknown key",
        ),
        ({"agents": [{}, {"model": {"id": "scripted", "bad": 1}}]}, "agents[1].model.bad", "bad"),
        ({"agents": [{}]}, "agents", "at least 2"),
        ({"agents": [{}, {"persona": "nobody"}]}, "agents[1].persona", "persona source"),
        (  # a written-out persona's key, not "should be a valid string" of the other form
            {"agents": [{}, {"persona": {"name": "X", "descr": "y"}}]},
            "agents[1].persona.descr",
            "unknown key 'descr'",
        ),
        (
            {"judge": {"persona": "expert"}, "protocol": "judge"},
            "judge.persona",
            "written out, {name, description}; persona sources",
        ),
        ({"agents": [{}, {}], "personas": ["none"] * 3}, "discussion", "3 sources given for 2"),
        (
            {"drafter": {"persona": "expert"}, "paradigm": "debate"},
            "drafter.persona",
            "written out",
        ),
        (
            {
                "agents": [{}, {}, {}],
                "paradigm": {
                    "name": "pair",
                    "slots": ["X", "Y"],
                    "schedule": [{"speakers": ["X", "Y"]}],
                },
            },
            "agents",
            "2 slots (X, Y)",
        ),
    ],
)
def test_a_bad_agent_entry_fails_naming_its_path(
    settings: dict[str, Any], field: str, words: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        mb.Discussion(QUESTION, options=OPTIONS, model="scripted", **settings)
    err = caught.value
    if field != "discussion":
        assert err.field == field, str(err)
    assert words in str(err)


def test_the_old_team_block_takes_a_list_too(tmp_path: Path) -> None:
    spec = {
        "name": "old",
        "dataset": {"path": "x.jsonl"},
        "model": "scripted",
        "team": {"agents": [{"model": "scripted"}, {"model": "bogus"}]},
    }
    with pytest.warns(FutureWarning), pytest.raises(ConfigError) as caught:
        mb.run_experiment(spec, out=tmp_path / "run")
    assert caught.value.field == "team.agents[1].model"
    assert not (tmp_path / "run").exists()


# -- the command line -----------------------------------------------------------------------


def test_cli_agent_flags_make_a_mixed_team() -> None:
    out = CliRunner().invoke(
        app,
        [
            "discuss",
            QUESTION,
            *[x for o in OPTIONS for x in ("-o", o)],
            "--model",
            "scripted",
            "--agent",
            "model=scripted,label=alice,persona=none,temperature=0.5",
            "--agent",
            "model=scripted,label=bob,options.offset=1,persona_name=Bob",
            "--max-turns",
            "1",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    result = json.loads(out.stdout)
    agents = result["agents"]
    assert [(a["model"], a["persona_name"]) for a in agents] == [
        ("alice", "Participant A1"),
        ("bob", "Bob"),
    ]
    assert set(result["usage_by_model"]) == {"alice", "bob"}


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (["--agent", "model=nope", "--agent", "model=scripted"], "agents[0].model"),
        (["--agent", "modl=scripted", "--agent", "model=scripted"], "unknown key 'modl'"),
        (["--agent", "model=scripted"], "agents"),
        (["--agents", "3", "--agent", "model=scripted"], "not both"),
        (["--agent", "model", "--agent", "model=scripted"], "expected KEY=VALUE"),
        (
            ["--agent", "model=scripted,label=a,label=b", "--agent", "model=scripted"],
            "label given twice",
        ),
        (  # a source and a written-out persona: one would silently replace the other
            ["--agent", "persona=expert,persona_name=X", "--agent", "model=scripted"],
            "persona_name/persona_description (a persona written out) both given",
        ),
        (
            ["--agent", "options={offset: 1},options.stubborn=true", "--agent", "model=scripted"],
            "options and options.NAME both given",
        ),
    ],
)
def test_cli_bad_agent_flags_exit_2_naming_the_entry(flags: list[str], words: str) -> None:
    out = CliRunner().invoke(app, ["discuss", QUESTION, "--model", "scripted", *flags])
    assert out.exit_code == 2, out.output
    assert words in out.output and "Traceback" not in out.output


def test_cli_agents_and_drafter_flags_still_work() -> None:
    out = CliRunner().invoke(
        app,
        [
            *("discuss", QUESTION, "--model", "scripted", "--agents", "4", "--drafter"),
            *("--paradigm", "debate", "--max-turns", "1", "--json"),
        ],
    )
    assert out.exit_code == 0, out.output
    slots = [a["slot"] for a in json.loads(out.stdout)["agents"]]
    assert slots == ["D", "A1", "A2", "A3", "A4"]


# -- three providers in one panel -----------------------------------------------------------


def _vllm_stand_in() -> Any:
    """The vLLM stand-in of tests/models/test_vllm_provider.py (vLLM's interface, no GPU)."""
    import importlib.util

    path = Path(__file__).parents[1] / "models" / "test_vllm_provider.py"
    spec = importlib.util.spec_from_file_location("vllm_stand_in", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # the real embedded model
def test_embedded_openai_and_vllm_agents_sit_in_one_panel(monkeypatch: pytest.MonkeyPatch) -> None:
    from openai_test_server import OpenAITestServer, completion

    stand_in = _vllm_stand_in()
    fake = stand_in.FakeVLLM()
    stand_in.install(monkeypatch, fake)
    with OpenAITestServer(default=completion("I weighed each option.\nFinal Solution: B")) as srv:
        result = mb.discuss(
            "Which of these numbers is prime?",
            options=["21", "29", "33", "35"],
            model="scripted",
            agents=[
                mb.Agent(model="llamacpp"),
                mb.Agent(model={"id": "openai/m", "base_url": srv.base_url, "label": "server"}),
                mb.Agent(model="vllm/stand-in"),
            ],
            personas="none",
            generation=GenerateConfig(max_tokens=48),
            max_turns=1,
            min_turns=1,
            seed=1,
        )
        served = len(srv.requests)
    assert result.error is None, result.error
    models = {a.slot: a.model for a in result.agents}
    assert models == {
        "A1": "llamacpp/SmolLM2-135M-Instruct.Q4_1.gguf",
        "A2": "server",
        "A3": "vllm/stand-in",
    }
    by_slot: dict[str, set[str]] = {}
    for call in result.calls:
        by_slot.setdefault(call.agent or "-", set()).add(call.model)
    assert by_slot == {slot: {model} for slot, model in models.items()}
    assert result.usage_by_model["server"].calls == served >= 1
    assert result.usage_by_model["vllm/stand-in"].calls == len(fake.requests) >= 1
    # Each model asked for the reply's shape its own way: a llama.cpp grammar, the server's
    # response_format, vLLM's structured outputs.
    formats = {c.agent: c.output_format for c in result.calls}
    assert formats == {"A1": "grammar", "A2": "json_schema", "A3": "vllm"}
