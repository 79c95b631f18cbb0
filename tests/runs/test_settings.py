"""One settings model, one default: the discussion settings are `DiscussionConfig` for Python,
the command line (flags generated from it) and experiment files alike; one function builds the
model from a `ModelSpec`; the same study run three ways sends the model the same requests."""

from __future__ import annotations

import functools
import hashlib
import json
import operator
import re
import types
import typing
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_test_server import OpenAITestServer, RecordedRequest, ScriptedResponse, completion
from typer.testing import CliRunner

import madebate as mb
from madebate import cli as cli_module
from madebate.cli import app
from madebate.engine._config import DiscussionConfig, DiscussionSettings, DriftJudgeConfig
from madebate.models._model import GenerateConfig
from madebate.models._models import ModelSpec, build_model
from madebate.runs._experiment import (
    expand_cells,
    parse_experiment,
    upgrade_experiment,
)
from madebate.runs._jobs import example_seed

cli = CliRunner()
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


# -- the one model ----------------------------------------------------------------------------


def test_the_typed_settings_are_the_models_fields_with_their_types() -> None:
    hints = typing.get_type_hints(DiscussionSettings)
    assert list(hints) == list(DiscussionConfig.model_fields)
    for name, field in DiscussionConfig.model_fields.items():
        # A tagged union's branches carry their bounds and tags (Annotated); the types are equal.
        assert hints[name] == _without_extras(field.annotation), name


def _without_extras(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [
            typing.get_args(a)[0] if typing.get_origin(a) is typing.Annotated else a
            for a in typing.get_args(annotation)
        ]
        return functools.reduce(operator.or_, args)
    return annotation


@pytest.mark.parametrize("what", ["experiment", "discussion", "model"])
def test_every_field_is_documented_in_the_schema(what: str) -> None:
    out = cli.invoke(app, ["schema", what])
    assert out.exit_code == 0, out.output
    schema = json.loads(out.stdout)
    undocumented = [
        f"{name}.{field}"
        for name, model in [("", schema), *schema.get("$defs", {}).items()]
        for field, prop in model.get("properties", {}).items()
        if not prop.get("description")
    ]
    assert undocumented == []


def test_the_schema_command_shows_each_settings_documentation() -> None:
    out = cli.invoke(app, ["schema"])
    assert out.exit_code == 0, out.output
    settings = json.loads(out.stdout)["$defs"]["DiscussionConfig"]["properties"]
    assert settings["max_turns"]["description"] == "Upper bound on turns."
    assert settings["max_turns"]["default"] == 5
    out = cli.invoke(app, ["schema", "discussion"])
    agents = json.loads(out.stdout)["properties"]["agents"]["description"]
    assert agents.startswith("Number of panelists, or one entry per panelist")
    out = cli.invoke(app, ["schema", "model"])
    assert json.loads(out.stdout)["properties"]["timeout_s"]["default"] == 120.0


# -- the command line, derived ----------------------------------------------------------------


def test_every_setting_has_a_flag_or_a_set_path() -> None:
    flags = {flag.path: flag for flag, _ in cli_module._setting_flags()}
    nested = {"generation", "drift_judge", "judge"}  # models: their own flags, or --set
    assert set(DiscussionConfig.model_fields) - set(flags) == nested
    assert {f"generation.{n}" for n in ("max_tokens", "temperature", "top_p")} <= set(flags)
    assert {f"model.{n}" for n in ModelSpec.model_fields} <= set(flags)
    names = {flag.name for flag in flags.values()}
    for old in ("--agents", "--paradigm", "--protocol", "--max-turns", "--model", "--base-url"):
        assert old in names
    for old in ("--style", "--reply-format", "--max-tokens", "--seed", "--protocol-option"):
        assert old in names


def test_the_command_lines_defaults_are_the_models() -> None:
    config, model = cli_module._discussion_settings(None, {}, [])
    assert config == DiscussionConfig() and config.max_turns == 5
    assert model == ModelSpec()


def test_a_config_file_then_flags_then_set(tmp_path: Path) -> None:
    settings = tmp_path / "settings.yaml"
    settings.write_text(
        "agents: 4\nmax_turns: 2\nstyle: critical\nmodel: {id: scripted, timeout_s: 9}\n"
    )
    by_param = {flag.param: flag for flag, _ in cli_module._setting_flags()}
    flags = {
        "max_turns": (by_param["setting_max_turns"], 3),
        "protocol_options": (by_param["setting_protocol_options"], ["tie_break=random"]),
    }
    config, model = cli_module._discussion_settings(
        settings,
        flags,
        ["max_turns=4", "drift_judge.action=redo", "personas=[none, none, expert, ipip]"],
    )
    assert (config.agents, config.max_turns, config.style) == (4, 4, "critical")
    assert config.generation.max_tokens == 2048  # the critical style's default, still
    assert config.protocol_options == {"tie_break": "random"}
    assert config.drift_judge == DriftJudgeConfig(action="redo")
    assert config.personas == ["none", "none", "expert", "ipip"]
    assert (model.id, model.timeout_s) == ("scripted", 9)


def test_an_experiment_file_is_a_config_file_too() -> None:
    config, model = cli_module._discussion_settings(EXAMPLES / "scripted_sweep.yaml", {}, [])
    assert (config.agents, config.max_turns, config.protocol) == (3, 3, "majority_consensus")
    assert model == ModelSpec(id="scripted")


def test_validate_checks_a_settings_file(tmp_path: Path) -> None:
    good = tmp_path / "settings.yaml"
    good.write_text("agents: 4\npersonas: none\nparadigm: debate\nmodel: scripted\n")
    out = cli.invoke(app, ["validate", str(good)])
    assert out.exit_code == 0, out.output
    assert "discussion settings, 4 agents, debate" in " ".join(out.output.split())
    bad = tmp_path / "bad.yaml"
    bad.write_text("agents: 1\n")
    out = cli.invoke(app, ["validate", str(bad)])
    assert out.exit_code == 2 and f"{bad}, field 'agents'" in " ".join(out.output.split())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--set", "max_turnz=3"], "field 'max_turnz': unknown key 'max_turnz'"),
        (["--max-turns", "0"], "field 'max_turns'"),
        (["--set", "model.timeout_s=-1"], "field 'model.timeout_s'"),
        (["--set", "max_turns"], "--set 'max_turns': expected KEY=VALUE"),
        (["--protocol-option", "tie_break"], "--protocol-option 'tie_break': expected KEY=VALUE"),
        (["--param", "debate_rounds=x"], "field 'paradigm_params.debate_rounds'"),
    ],
)
def test_bad_settings_on_the_command_line_name_the_setting(args: list[str], message: str) -> None:
    out = cli.invoke(app, ["discuss", "Q?", "--model", "scripted", *args])
    assert out.exit_code == 2, out.output
    assert message in " ".join(out.output.split())


def test_the_old_flags_still_work() -> None:
    out = cli.invoke(
        app,
        [
            "discuss",
            "Largest planet?",
            "-o",
            "Mars",
            "-o",
            "Jupiter",
            "--model",
            "scripted",
            "--paradigm",
            "debate",
            "--param",
            "debate_rounds=2",
            "--no-cot",
            "--drafter",
            "--protocol",
            "simple_voting",
            "--protocol-option",
            "tie_break=random",
            "--max-tokens",
            "300",
            "--temperature",
            "0.2",
            "--seed",
            "4",
            "--style",
            "freetext",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["paradigm"] == "debate" and data["style"] == "freetext" and data["seed"] == 4
    assert "D" in {a["slot"] for a in data["agents"]}


# -- one model factory, one default -----------------------------------------------------------


def test_one_default_per_model_setting_everywhere() -> None:
    from madebate.engine._discussion import Discussion

    for model in (
        Discussion("Q?", model="scripted").model,
        build_model(ModelSpec(id="scripted")),
        mb.models.ManagedModel(mb.ScriptedModel(record_prompts=True)),
    ):
        assert model.call_timeout_s == ModelSpec().timeout_s == 120.0
        assert model._max_concurrency == ModelSpec().max_concurrency == 64


def test_base_url_is_never_dropped() -> None:
    spec = ModelSpec(id="openai/m", base_url="http://127.0.0.1:9/v1", timeout_s=7)
    model = build_model(spec)
    assert model.provider.base_url == "http://127.0.0.1:9/v1"  # type: ignore[attr-defined]
    assert model.provider.timeout_s == 7 and model.call_timeout_s == 7  # type: ignore[attr-defined]
    # A provider that has no use for a base URL refuses it, loudly.
    with pytest.raises(mb.ConfigError, match="base_url"):
        build_model(ModelSpec(id="scripted", base_url="http://127.0.0.1:9/v1"))
    with pytest.raises(mb.ConfigError, match="base_url"):
        mb.discuss("Q?", model=ModelSpec(id="scripted", base_url="http://127.0.0.1:9/v1"))


# -- experiment files: nested settings, swept by path, the old layout upgraded ------------------

NEW = {
    "name": "x",
    "dataset": {"examples": [{"id": "q1", "question": "Q?", "options": ["a", "b"], "answer": "A"}]},
    "model": "scripted",
    "discussion": {"agents": 3, "personas": "library", "protocol": "simple_voting"},
    "sweep": {"paradigm": ["memory", "debate"], "discussion.max_turns": [1, 3]},
}
OLD = {
    "name": "x",
    "dataset": NEW["dataset"],
    "team": {"agents": 3, "personas": "library", "model": "scripted"},
    "protocol": "simple_voting",
    "sweep": {"paradigm": ["memory", "debate"], "discussion.max_turns": [1, 3]},
}


def test_a_sweep_sets_discussion_settings_by_path() -> None:
    cells = expand_cells(parse_experiment(NEW))
    assert [c.id for c in cells] == [
        "paradigm=memory,discussion.max_turns=1",
        "paradigm=memory,discussion.max_turns=3",
        "paradigm=debate,discussion.max_turns=1",
        "paradigm=debate,discussion.max_turns=3",
    ]
    last = cells[-1].spec.discussion
    assert (last.paradigm, last.max_turns, last.protocol) == ("debate", 3, "simple_voting")
    spec = parse_experiment({**NEW, "sweep": {"generation.temperature": [0.0, 0.5]}})
    assert [c.spec.discussion.generation.temperature for c in expand_cells(spec)] == [0.0, 0.5]


def test_the_old_layout_reads_as_the_new_with_a_warning() -> None:
    with pytest.warns(FutureWarning, match="team.agents -> discussion.agents"):
        old = parse_experiment(OLD)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        new = parse_experiment(NEW)
    assert old.model_dump() == new.model_dump()
    assert [c.id for c in expand_cells(old)] == [c.id for c in expand_cells(new)]
    with pytest.warns(FutureWarning):
        data, moved = upgrade_experiment(OLD)
    assert moved == {
        "discussion.protocol": "protocol",
        "model": "team.model",
        "discussion.agents": "team.agents",
        "discussion.personas": "team.personas",
    }
    assert "team" not in data and data["discussion"]["protocol"] == "simple_voting"


def test_an_old_team_sweep_key_keeps_its_cell_ids() -> None:
    with pytest.warns(FutureWarning):
        spec = parse_experiment({**OLD, "sweep": {"team.agents": [2, 4]}})
    cells = expand_cells(spec)
    assert [c.id for c in cells] == ["team.agents=2", "team.agents=4"]
    assert [c.spec.discussion.agents for c in cells] == [2, 4]


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"team": {"agents": 1}}, "team.agents", "greater than or equal to 2"),
        ({"team": {"agentz": 3}}, "team.agentz", "valid keys: agents, drafter, model, personas"),
        ({"protocol": "x", "discussion": {"protocol": "y"}}, "protocol", "given twice"),
        ({"generation": {"max_tokenz": 5}}, "generation.max_tokenz", "did you mean 'max_tokens'"),
        ({"max_turns": 3}, "max_turns", "a discussion setting (discussion.max_turns)"),
        ({"discussion": {"seed": 3}}, "discussion.seed", "top-level `seed`"),
        ({"discussion": {"min_turns": 4, "max_turns": 2}}, "discussion.min_turns", "above"),
        ({"sweep": {"max_turnz": [1]}}, "sweep.max_turnz", "did you mean 'max_turns'"),
    ],
)
def test_errors_name_the_field_as_the_file_gives_it(
    changes: dict[str, Any], field: str, message: str
) -> None:
    data = {"name": "x", "dataset": NEW["dataset"], "model": "scripted"} | changes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        with pytest.raises(mb.ConfigError) as info:
            parse_experiment(data)
    assert info.value.field == field and message in str(info.value)


def test_the_style_default_budget_is_not_pinned_by_a_resume() -> None:
    # A run directory's spec.yaml is the spec dumped; read back, a style sweep's cells still
    # get each style's own max_tokens (1024, and 2048 for critical), not the first cell's.
    spec = parse_experiment({**NEW, "sweep": {"style": ["simple", "critical"]}})
    for reread in (spec, parse_experiment(spec.model_dump(mode="json"))):
        budgets = [c.spec.discussion.generation.max_tokens for c in expand_cells(reread)]
        assert budgets == [1024, 2048]


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("**/*.yaml")), ids=lambda p: p.stem)
def test_the_shipped_experiments_are_in_the_new_layout(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    if "dataset" not in data:
        return  # a paradigm
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        mb.load_experiment(path)


# -- the same study from Python, the command line and YAML -----------------------------------

QUESTION = "Which planet is the largest?"
OPTIONS = ["Mars", "Jupiter", "Venus"]


def _reply(request: RecordedRequest) -> ScriptedResponse:
    """A reply that depends on the request only (never on the order of arrival), and always
    proposes another answer than the current one, so that the discussion runs to its default
    max_turns."""
    body = request.body if isinstance(request.body, dict) else {}
    messages = body.get("messages") or [{}]
    prompt = str(messages[-1].get("content", ""))
    current = re.search(r"Current Solution: (.*)", prompt)
    options = ["A) Mars", "B) Jupiter", "C) Venus"]
    digest = hashlib.sha256(json.dumps(messages, sort_keys=True).encode()).digest()
    if current is None or current.group(1).strip() == "none yet":
        return completion(f"Checked.\nFinal Solution: {options[digest[0] % 3]}")
    others = [o for o in options if not current.group(1).startswith(o[0])]
    return completion(f"[DISAGREE] Not so.\nFinal Solution: {others[digest[0] % len(others)]}")


def _requests(server: OpenAITestServer, seen: list[int]) -> Counter[str]:
    """The request bodies since the last call (as a multiset: concurrent calls of one step
    may arrive in any order)."""
    new = server.requests[seen[0] :]
    seen[0] += len(new)
    return Counter(json.dumps(r.body, sort_keys=True) for r in new)


def test_python_the_command_line_and_yaml_send_the_same_requests(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    seed = 11
    seen = [0]
    with OpenAITestServer(default=_reply) as server:
        # Only what the study is about is given; everything else is each path's default.
        settings = {"style": "critical", "reply_format": "text", "personas": "library"}
        model = {"id": "openai/m", "base_url": server.base_url, "timeout_s": 30}
        experiment = {
            "name": "same-study",
            "dataset": {
                "examples": [{"id": "q1", "question": QUESTION, "options": OPTIONS, "answer": "B"}]
            },
            "task": {"kind": "multiple_choice"},
            "model": model,
            "discussion": {**settings, "generation": {"temperature": 0.5}},
            "seed": seed,
            "cache": False,
        }
        spec_file = tmp_path / "study.yaml"
        spec_file.write_text(yaml.safe_dump(experiment))
        discussion_seed = example_seed(seed, "q1", 0)  # what the run gives this example

        out = cli.invoke(app, ["run", str(spec_file), "--out", str(tmp_path / "run"), "--quiet"])
        assert out.exit_code == 0, out.output
        from_yaml = _requests(server, seen)

        result = mb.discuss(
            QUESTION,
            options=OPTIONS,
            model=ModelSpec(**model),
            style="critical",
            reply_format="text",
            personas="library",
            generation=GenerateConfig(temperature=0.5),
            seed=discussion_seed,
        )
        from_python = _requests(server, seen)

        args = ["discuss", QUESTION, *(a for o in OPTIONS for a in ("-o", o))]
        args += ["--model", "openai/m", "--base-url", server.base_url, "--timeout-s", "30"]
        args += ["--style", "critical", "--reply-format", "text", "--personas", "library"]
        args += ["--temperature", "0.5", "--seed", str(discussion_seed), "--json"]
        out = cli.invoke(app, args)
        assert out.exit_code == 0, out.output
        from_cli = _requests(server, seen)

        options = args[2:8]  # -o Mars -o Jupiter -o Venus
        config = ["--config", str(spec_file), "--set", f"seed={discussion_seed}", "--json"]
        out = cli.invoke(app, ["discuss", QUESTION, *options, *config])
        assert out.exit_code == 0, out.output
        from_config = _requests(server, seen)

    assert result.turns == 5 and result.stop_reason == "max_turns"  # the default max_turns
    assert sum(from_python.values()) == result.usage.calls > 5
    bodies = [json.loads(b) for b in from_python]
    assert {b["max_tokens"] for b in bodies} == {2048}  # the critical style's default
    assert {b["temperature"] for b in bodies} == {0.5}
    assert from_python == from_yaml == from_cli == from_config
