"""Mixed teams in runs: two fake OpenAI-compatible servers that answer differently sit in one
panel; each agent's requests reach its own server, usage is split per model in the records,
the summary and `madebate summary --format json`, each model keeps its own cache entries, every
distinct model is built once per run, named teams are swept by name, and a mixed team runs the
same on Ray as locally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from local_ray import local_ray
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion
from typer.testing import CliRunner

import madebate as mb
from madebate._errors import ConfigError
from madebate.cli import app

try:
    import ray
except ImportError:  # pragma: no cover - ray comes with the dev extra
    ray = None

ROOT = Path(__file__).resolve().parents[2]
GK = ROOT / "examples" / "data" / "general_knowledge.jsonl"
LIMIT = 4
PERSONAS = ["Alpha", "Beta", "Gamma"]


def answering(letter: str, *, stubborn: bool) -> Any:
    """A server's behaviour: it proposes `letter`; shown another solution, it agrees with it,
    or (`stubborn`) disagrees and restates its own."""

    def reply(request: RecordedRequest) -> ScriptedResponse:
        prompt = request.body["messages"][-1]["content"]
        if "Current solution:" in prompt and "Current solution: None" not in prompt:
            if stubborn:
                return completion(f"[DISAGREE] No.\nFinal Solution: {letter}")
            return completion("[AGREE] Fine.")
        return completion(f"I weighed each option.\nFinal Solution: {letter}")

    return reply


def system_prompts(server: OpenAITestServer) -> set[str]:
    """The persona each request to `server` was made as (its system prompt names it)."""
    out = set()
    for r in server.requests:
        system = r.body["messages"][0]["content"]
        out |= {name for name in PERSONAS if name in system}
    return out


def mixed_spec(one: OpenAITestServer, two: OpenAITestServer, **overrides: Any) -> dict[str, Any]:
    model_one = {"id": "openai/m", "base_url": one.base_url, "label": "one", "max_attempts": 1}
    model_two = {"id": "openai/m", "base_url": two.base_url, "label": "two", "max_attempts": 1}
    spec: dict[str, Any] = {
        "name": "mixed",
        "dataset": {"path": str(GK), "limit": LIMIT},
        "task": {"kind": "multiple_choice"},
        "model": model_one,
        "discussion": {
            "agents": [
                {"persona": {"name": "Alpha", "description": "First."}},
                {"model": model_two, "persona": {"name": "Beta", "description": "Second."}},
                {"model": model_one, "persona": {"name": "Gamma", "description": "Third."}},
            ],
            "max_turns": 2,
            "min_turns": 2,
        },
        "concurrency": 4,
        "cache": False,
    }
    spec.update(overrides)
    return spec


@pytest.fixture
def servers() -> Any:
    with (
        OpenAITestServer(default=answering("B", stubborn=False)) as one,
        OpenAITestServer(default=answering("C", stubborn=True)) as two,
    ):
        yield one, two


def test_two_servers_in_one_panel_each_agent_reaching_its_own(
    servers: tuple[OpenAITestServer, OpenAITestServer], tmp_path: Path
) -> None:
    one, two = servers
    result = mb.run_experiment(mixed_spec(one, two), out=tmp_path / "run")
    assert result.summary.complete
    # Every request was made as the agent whose model it is.
    assert system_prompts(one) == {"Alpha", "Gamma"} and system_prompts(two) == {"Beta"}
    run = mb.load_run(result.run_dir)
    assert len(run.records) == LIMIT
    for record in run.records:
        discussion = record.result
        assert discussion is not None and record.error is None
        assert [a.model for a in discussion.agents] == ["one", "two", "one"]
        # Each server's behaviour shows in its agent's messages: two always says C.
        assert {m.answer for m in discussion.messages if m.speaker == "A2"} == {"C"}
        by_model = discussion.usage_by_model
        assert set(by_model) == {"one", "two"}
        assert by_model["two"].calls == sum(c.agent == "A2" for c in discussion.calls)
        assert sum(u.calls for u in by_model.values()) == record.calls
    # 2 turns of 3 replies, 4 examples: model one answered 4 per example, model two 2.
    assert len(one.requests) == 4 * LIMIT and len(two.requests) == 2 * LIMIT
    cell = result.summary.cells["main"]
    assert cell.usage_by_model is not None
    assert {k: u.calls for k, u in cell.usage_by_model.items()} == {
        "one": 4 * LIMIT,
        "two": 2 * LIMIT,
    }
    # prompt 10 + completion 5 tokens per reply, as the servers report them
    assert cell.usage_by_model["two"].prompt_tokens == 10 * 2 * LIMIT

    out = CliRunner().invoke(app, ["summary", str(result.run_dir), "--format", "json"])
    assert out.exit_code == 0, out.output
    usage = json.loads(out.stdout)["cells"]["main"]["usage_by_model"]
    assert {k: u["calls"] for k, u in usage.items()} == {"one": 4 * LIMIT, "two": 2 * LIMIT}


def test_each_model_keeps_its_own_cache_entries(
    servers: tuple[OpenAITestServer, OpenAITestServer], tmp_path: Path
) -> None:
    one, two = servers
    cache = tmp_path / "calls.sqlite"
    spec = mixed_spec(one, two, cache=True, cache_path=str(cache))
    first = mb.run_experiment(spec, out=tmp_path / "first")
    sent = (len(one.requests), len(two.requests))
    second = mb.run_experiment(spec, out=tmp_path / "second")
    assert (len(one.requests), len(two.requests)) == sent  # all from the cache
    assert all(r.cache_hits == r.calls for r in mb.load_run(second.run_dir).records)
    # The same model id on two servers: each request its own entry, none served across.
    import sqlite3

    with sqlite3.connect(cache) as db:
        rows = db.execute("SELECT COUNT(*) FROM calls").fetchone()[0]
    assert rows == sum(sent)
    answers = [r.answer for r in mb.load_run(first.run_dir).records]
    assert answers == [r.answer for r in mb.load_run(second.run_dir).records]


def test_every_distinct_model_is_built_once_per_run(model_seam: Any, tmp_path: Path) -> None:
    closed: list[str] = []

    class Counted(mb.ScriptedModel):
        async def aclose(self) -> None:
            closed.append(self.model_id)

    model_seam.use(lambda model_id, options: Counted(model_id=model_id))
    spec = {
        "name": "built-once",
        "dataset": {"path": str(GK), "limit": LIMIT},
        "task": {"kind": "multiple_choice"},
        "model": "test/base",
        "discussion": {
            "agents": [{"model": "test/a"}, {"model": {"id": "test/b"}}, {"model": "test/a"}],
            "protocol": "judge",
            "judge": {"model": "test/judge"},
            "max_turns": 1,
        },
        "sweep": {"paradigm": ["memory", "relay"]},
        "cache": False,
    }
    result = mb.run_experiment(spec, out=tmp_path / "run")
    assert result.summary.complete
    assert sorted(model_seam.made) == ["test/a", "test/b", "test/base", "test/judge"]
    assert sorted(closed) == sorted(model_seam.made)  # closed once, when the run ended
    for record in mb.load_run(result.run_dir).records:
        assert record.result is not None and record.error is None
        models = {a.slot: a.model for a in record.result.agents}
        assert models == {"A1": "test/a", "A2": "test/b", "A3": "test/a", "J": "test/judge"}


def test_one_model_written_with_its_options_in_another_order_is_built_once() -> None:
    from madebate.models._models import ModelSpec
    from madebate.runs._jobs import ModelPool

    pool = ModelPool(None)
    a = pool.get(ModelSpec(id="scripted", options={"offset": 1, "stubborn": True}))
    b = pool.get(ModelSpec(id="scripted", options={"stubborn": True, "offset": 1}))
    assert a is b  # one concurrency limit and connection pool per model, as for one spelling
    assert pool.get(ModelSpec(id="scripted", options={"offset": 2, "stubborn": True})) is not a


# -- named teams, swept ---------------------------------------------------------------------


def team_spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "teams",
        "dataset": {"path": str(GK), "limit": 2},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "discussion": {"personas": "none", "max_turns": 1},
        "teams": {
            "solo_b": {"model": {"id": "scripted", "label": "b", "options": {"offset": 1}}},
            "pair": {
                "agents": [
                    {"model": {"id": "scripted", "label": "a"}},
                    {"model": {"id": "scripted", "label": "b", "options": {"offset": 1}}},
                ]
            },
        },
        "sweep": {"team": ["solo_b", "pair"], "max_turns": [1, 2]},
        "cache": False,
    }
    spec.update(overrides)
    return spec


def test_named_teams_are_swept_by_name(tmp_path: Path) -> None:
    result = mb.run_experiment(team_spec(), out=tmp_path / "run")
    assert list(result.summary.cells) == [
        "team=solo_b,max_turns=1",
        "team=solo_b,max_turns=2",
        "team=pair,max_turns=1",
        "team=pair,max_turns=2",
    ]
    for record in mb.load_run(result.run_dir).records:
        assert record.result is not None
        models = [a.model for a in record.result.agents]
        expected = ["b", "b", "b"] if record.cell.startswith("team=solo_b") else ["a", "b"]
        assert models == expected, record.cell


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"sweep": {"team": ["solo_b", "trio"]}}, "sweep.team", "unknown team 'trio'"),
        ({"teams": {}, "sweep": {"team": ["x"]}}, "sweep.team", "define them under teams"),
        (
            {"teams": {"bad": {"agents": [{}, {"model": "nope"}]}}, "sweep": {"team": ["bad"]}},
            "teams.bad.agents[1].model",
            "unknown model provider 'nope'",
        ),
        (
            {"teams": {"bad": {"agent": 3}}, "sweep": {"team": ["bad"]}},
            "teams.bad.agent",
            "unknown",
        ),
    ],
)
def test_a_bad_team_fails_naming_it(
    change: dict[str, Any], field: str, words: str, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        mb.run_experiment(team_spec(**change), out=tmp_path / "run")
    assert caught.value.field == field, str(caught.value)
    assert words in str(caught.value)
    assert not (tmp_path / "run").exists()


# -- Ray ----------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.skipif(ray is None, reason="ray is not installed (pip install 'madebate[ray]')")
def test_a_mixed_team_on_ray_writes_the_local_runs_records(tmp_path: Path) -> None:
    from madebate.runs._executor_ray import RayExecutor

    spec = team_spec(sweep={"team": ["solo_b", "pair"]})
    local = mb.run_experiment(spec, out=tmp_path / "local")
    with local_ray():
        distributed = mb.run_experiment(
            spec, out=tmp_path / "ray", executor=RayExecutor(workers=2, batch_size=1)
        )
    assert distributed.summary.complete

    def outcome(run_dir: Path) -> dict[tuple[str, str], Any]:
        return {
            (r.cell, r.example_id): (
                r.answer,
                r.calls,
                [a.model for a in r.result.agents] if r.result else None,
                {k: u.calls for k, u in r.result.usage_by_model.items()} if r.result else None,
            )
            for r in mb.load_run(run_dir).records
        }

    assert outcome(distributed.run_dir) == outcome(local.run_dir)
    cells = distributed.summary.cells
    assert cells["team=pair"].usage_by_model == local.summary.cells["team=pair"].usage_by_model


def test_an_agents_persona_file_is_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "crew.yaml").write_text(
        "name: crew\ndescription: two of them\npersonas:\n"
        "  - {name: Navigator, description: Finds the way.}\n"
        "  - {name: Lookout, description: Watches.}\n",
        encoding="utf-8",
    )
    spec = team_spec(discussion={"agents": [{"persona": "library:crew.yaml"}, {}]}, sweep={})
    spec.pop("teams")
    file = tmp_path / "exp.yaml"
    file.write_text(json.dumps(spec), encoding="utf-8")  # JSON is YAML
    result = mb.run_experiment(mb.load_experiment(file), out=tmp_path / "run")
    for record in mb.load_run(result.run_dir).records:
        assert record.result is not None
        assert record.result.agents[0].persona_name == "Navigator"


# -- what only the built team shows, before any call ------------------------------------------


@pytest.mark.parametrize(
    ("discussion", "field", "words"),
    [
        (  # two different models under one label: usage and weights would merge them
            {
                "agents": [
                    {"model": {"id": "scripted", "label": "a"}},
                    {"model": {"id": "scripted", "label": "a", "options": {"offset": 1}}},
                ]
            },
            "agents[1].model",
            "'a' names two different models (agents[0].model and agents[1].model)",
        ),
        (  # a label that is the discussion's own model's id
            {"agents": [{"model": {"id": "scripted", "options": {"stubborn": True}}}, {}]},
            "agents[0].model",
            "'scripted' names two different models (model and agents[0].model)",
        ),
        (  # a weighted vote with no weight for the third voter's model
            {
                "agents": [{"model": {"id": "scripted", "label": "a"}}, {}, {}],
                "protocol": "weighted_voting",
                "protocol_options": {"model_weights": {"a": 2.0}},
            },
            "protocol_options.model_weights",
            "voter A2's model 'scripted' has no weight; listed: a",
        ),
    ],
)
def test_a_team_the_run_cannot_tell_apart_fails_before_any_call(
    model_seam: Any, discussion: dict[str, Any], field: str, words: str, tmp_path: Path
) -> None:
    calls: list[Any] = []

    class Counting(mb.ScriptedModel):
        async def generate(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return await super().generate(*args, **kwargs)

    model_seam.use(lambda model_id, options: Counting(**options), prefix="scripted")
    spec = team_spec(discussion={"personas": "none", "max_turns": 1, **discussion}, sweep={})
    spec.pop("teams")
    with pytest.raises(ConfigError) as caught:
        mb.run_experiment(spec, out=tmp_path / "run")
    message = str(caught.value)
    assert f"in sweep cell main: field '{field}': {words}" in message, message
    assert calls == [] and not (tmp_path / "run").exists()
    # The same in Python, when the discussion is made.
    with pytest.raises(ConfigError) as direct:
        mb.Discussion("Q?", options=["x", "y"], model="scripted", **discussion)
    assert direct.value.field == field and words in str(direct.value)


def test_a_failing_server_is_named_with_the_agent_that_called_it(tmp_path: Path) -> None:
    with (
        OpenAITestServer(default=answering("B", stubborn=False)) as one,
        OpenAITestServer(default=ScriptedResponse(500, {"error": {"message": "down"}})) as two,
    ):
        result = mb.run_experiment(mixed_spec(one, two), out=tmp_path / "run")
    records = mb.load_run(result.run_dir).records
    assert records and all(r.error is not None for r in records)
    for record in records:
        assert record.error is not None
        assert record.error.message.startswith("A2's discussion call to model 'two' failed: ")
        assert "HTTP 500" in record.error.message


def test_a_model_that_cannot_be_built_is_named_by_its_entry(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    spec = team_spec(
        discussion={"protocol": "judge", "judge": {"model": "openai/gpt-4o-mini"}}, sweep={}
    )
    spec.pop("teams")
    with pytest.raises(ConfigError) as caught:
        mb.run_experiment(spec, out=tmp_path / "run")
    assert caught.value.field == "discussion.judge.model", str(caught.value)  # not 'model'
    assert "no API key" in str(caught.value)
    assert not (tmp_path / "run").exists()
