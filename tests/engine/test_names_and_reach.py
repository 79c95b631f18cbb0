"""Names people cannot tell apart, and paradigms that cannot work (issue 14, items 7 and 8).

Names are compared as a reader sees them (invisible characters removed, look-alikes folded by
NFKC, case folded) and shown with their invisible characters escaped; a default run directory
never starts with '-'. A paradigm whose messages reach nobody is an error unless declared blind,
a blind one cannot use a consensus protocol, a speaker listed twice in a step is an error, and
one persona for several agents is a warning. The bad files themselves live in
tests/data/bad_inputs/ (checked by tests/runs/test_bad_inputs.py)."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import madebate
from madebate import ConfigError
from madebate._text import name_key, quote_name, safe_slug, show_name
from madebate.cli import app
from madebate.engine import ParadigmWarning, PersonaWarning, check_config, compile_paradigm
from madebate.engine._config import DiscussionConfig
from madebate.engine._paradigm_library import builtin_paradigms, load_paradigm
from madebate.runs._runner import default_run_dir

cli = CliRunner()


def flat(text: str) -> str:
    return " ".join(text.split())


# -- names ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "twin",
    [
        "Ali\u200bce",  # zero-width space
        "Ali\u200cce",  # zero-width non-joiner
        "Ali\u200dce",  # zero-width joiner
        "Ali\u2060ce",  # word joiner
        "\ufeffAlice",  # byte order mark
        "Ali\u00adce",  # soft hyphen
        "\u202eAlice\u202c",  # bidi override and pop
        "\u2067Alice\u2069",  # bidi isolate
        "Alice\ufe0f",  # variation selector
        "\uff21lice",  # fullwidth A
        "ALICE",
        "  Alice ",
    ],
)
def test_names_that_look_the_same_compare_the_same(twin: str) -> None:
    assert name_key(twin) == name_key("Alice") == "alice"


def test_distinct_names_stay_distinct() -> None:
    assert len({name_key(n) for n in ["Alice", "Alicia", "Al ice", "A1", "Al", "Ａ2"]}) == 6
    assert name_key("\ufb01sh") == "fish"  # a ligature is its letters
    # White space separates words (a tab is a space, not an invisible character), and is shown.
    assert name_key("Al\tice") == name_key("Al ice") != name_key("Alice")
    assert show_name("Al\tice") == "Al<U+0009>ice"


def test_invisible_characters_are_shown_escaped_and_look_alikes_read() -> None:
    assert show_name("Ali\u200bce") == "Ali<U+200B>ce"
    assert show_name("\u202eevil") == "<U+202E>evil"
    assert show_name("Alice") == "Alice"
    assert quote_name("\uff211") == "'\uff211' (read as 'A1')"
    assert quote_name("A\u00ad1") == "'A<U+00AD>1'"


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("paradigms-vs-protocols", "paradigms-vs-protocols"),
        ("-rf", "rf"),
        ("--help", "help"),
        ("\u200b\u2060", "run"),
        ("\u00ad", "run"),
        ("..", "run"),
        ("a/b c", "a-b-c"),
        ("\uff33tudy", "Study"),
        ("\u202eexe.txt", "exe.txt"),
    ],
)
def test_default_run_directories_are_safe(name: str, slug: str) -> None:
    assert safe_slug(name) == slug
    stem = default_run_dir(name).name
    assert stem.startswith(f"{slug}-") and not stem.startswith(("-", "."))


def test_a_run_named_with_a_leading_dash_can_be_summarised(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The default directory of a study named '-x' was '-x-STAMP', which `summary` then read as
    an option; now it is 'x-STAMP'."""
    monkeypatch.setenv("MADEBATE_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "--\u200bdash",
                "dataset": {"examples": [{"question": "q?", "options": ["a", "b"], "answer": "A"}]},
                "model": "scripted",
                "discussion": {"agents": 2, "max_turns": 1},
                "cache": False,
            }
        ),
        encoding="utf-8",
    )
    out = cli.invoke(app, ["run", str(spec), "--quiet"])
    assert out.exit_code == 0, out.output
    (run_dir,) = (tmp_path / "runs").iterdir()
    assert run_dir.name.startswith("dash-")
    monkeypatch.chdir(tmp_path / "runs")
    out = cli.invoke(app, ["summary", run_dir.name])
    assert out.exit_code == 0, out.output


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"agents": [{}, {"persona": {"name": "\u200b"}}]}, "agents[1].persona.name"),
        ({"judge": {"persona": {"name": "\u2060 "}}, "protocol": "judge"}, "judge.persona.name"),
    ],
)
def test_a_written_out_persona_needs_a_visible_name(settings: dict[str, Any], field: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_config(DiscussionConfig.model_validate(settings))
    assert info.value.field == field
    assert "shows nothing" in str(info.value) and "<U+" in str(info.value)


# -- one persona for several agents: a warning ----------------------------------------------------


def one_persona_library(tmp_path: Path) -> Path:
    path = tmp_path / "solo.yaml"
    path.write_text(
        "name: solo\npersonas:\n  - {name: Alice, description: Knows everything.}\n",
        encoding="utf-8",
    )
    return path


def test_a_library_smaller_than_the_team_warns(tmp_path: Path) -> None:
    library = one_persona_library(tmp_path)
    config = DiscussionConfig(agents=5, personas=f"library:{library}")
    with pytest.warns(PersonaWarning) as caught:
        check_config(config)
    (message,) = [str(w.message) for w in caught]
    assert "persona library 'solo' has 1 persona(s) for 5 agents (A1, A2, A3, A4, A5)" in message
    assert "4 of them share a persona" in message
    # Enough personas, or a source that makes one per agent: no warning.
    with warnings.catch_warnings():
        warnings.simplefilter("error", PersonaWarning)
        check_config(DiscussionConfig(agents=2, personas=[f"library:{library}", "ipip"]))
        check_config(DiscussionConfig(agents=4, personas="library"))
        check_config(DiscussionConfig(agents=5, personas="ipip"))


def test_one_written_out_persona_for_two_agents_warns() -> None:
    config = DiscussionConfig(
        agents=[{"persona": {"name": "Alice"}}, {"persona": {"name": "ALI\u200bCE"}}, {}]
    )
    with pytest.warns(
        PersonaWarning, match=r"agents A1, A2 are given one persona, 'Alice' and 'ALI<U\+200B>CE'"
    ):
        check_config(config)


def test_the_cli_prints_the_persona_warning(tmp_path: Path) -> None:
    library = one_persona_library(tmp_path)
    spec = tmp_path / "exp.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "name": "solo",
                "dataset": {"examples": [{"question": "q?", "options": ["a", "b"], "answer": "A"}]},
                "model": "scripted",
                "discussion": {"agents": 3, "personas": f"library:{library}"},
            }
        ),
        encoding="utf-8",
    )
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "madebate.cli", "validate", str(spec)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "warning: persona library 'solo' has 1 persona(s) for 3 agents" in flat(done.stderr)


# -- paradigms that cannot work -------------------------------------------------------------------


def paradigm(**fields: Any) -> madebate.ParadigmSpec:
    return madebate.ParadigmSpec.model_validate({"name": "p", **fields})


ALONE = [{"speakers": "panel", "mode": "together", "deliver_to": "self"}]


@pytest.mark.parametrize("n", [2, 3, 5])
def test_a_paradigm_whose_messages_reach_nobody_is_an_error(n: int) -> None:
    with pytest.raises(ConfigError) as info:
        compile_paradigm(paradigm(schedule=ALONE), n_agents=n, with_drafter=False)
    assert info.value.field == "schedule"
    assert f"paradigm 'p': no message reaches another agent (a team of {n}" in str(info.value)
    assert "blind: true" in str(info.value)


def test_a_blind_paradigm_compiles_without_warnings_and_decides_by_vote() -> None:
    spec = paradigm(blind=True, schedule=ALONE)
    with warnings.catch_warnings():
        warnings.simplefilter("error", ParadigmWarning)
        compiled = compile_paradigm(load_paradigm(spec), n_agents=3, with_drafter=False)
    assert compiled.graph.number_of_edges() == 0 and compiled.warnings == ()
    from madebate.models.providers.scripted import ScriptedModel

    result = madebate.discuss(
        "Pick one.",
        options=["yes", "no"],
        model=ScriptedModel(),
        paradigm=spec,
        protocol="simple_voting",
        agents=3,
        max_turns=1,
    )
    assert result.decided
    # A consensus cannot form among agents that never hear each other.
    with pytest.raises(ConfigError) as info:
        check_config(DiscussionConfig(paradigm=spec, protocol="majority_consensus"))
    assert info.value.field == "protocol"
    assert "'majority_consensus' seeks a consensus" in str(info.value)


def test_a_paradigm_declared_blind_must_be() -> None:
    spec = paradigm(blind=True, schedule=[{"speakers": "panel", "deliver_to": "next"}])
    with pytest.raises(ConfigError) as info:
        compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert info.value.field == "blind" and "A1's messages reach A2" in str(info.value)


def test_a_partly_blind_paradigm_is_still_a_warning_not_an_error() -> None:
    spec = paradigm(
        schedule=[*ALONE, {"speakers": "panel", "mode": "together", "deliver_to": "others"}]
    )
    compiled = compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert "A1's message in step 1 reaches nobody" in compiled.warnings


@pytest.mark.parametrize("name", builtin_paradigms())
@pytest.mark.parametrize("n", [2, 3, 6])
def test_every_builtin_paradigm_reaches_others(name: str, n: int) -> None:
    spec = load_paradigm(name)
    for drafter in [False, True] if spec.drafter == "optional" else [False]:
        compiled = compile_paradigm(spec, n_agents=n, with_drafter=drafter)
        assert compiled.graph.number_of_edges() > 0


@pytest.mark.parametrize(
    ("speakers", "mode", "listed"),
    [
        (["A1", "A1"], "together", "('A1' twice)"),
        ("A1 + A2 + A1", "together", "('A1' twice)"),
        (["panel", "A2"], "together", "(as 'A2' and in 'panel')"),
        (["A3", "panel"], "sequence", "(as 'A3' and in 'panel')"),
        (["panel", "panel"], "together", "('panel' twice)"),
    ],
)
def test_a_speaker_listed_twice_in_a_step_is_an_error(
    speakers: Any, mode: str, listed: str
) -> None:
    spec = paradigm(schedule=[{"speakers": speakers, "mode": mode, "deliver_to": "all"}])
    with pytest.raises(ConfigError) as info:
        compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert info.value.field == "schedule[0].speakers"
    assert "listed twice in schedule[0]" in str(info.value) and listed in str(info.value)


@pytest.mark.parametrize("speakers", ["lead + panel", ["A1", "panel - A1"], "panel - A1 + A1"])
def test_overlapping_words_and_a_name_added_back_are_not_twice(speakers: Any) -> None:
    spec = paradigm(schedule=[{"speakers": speakers, "mode": "together", "deliver_to": "all"}])
    compiled = compile_paradigm(spec, n_agents=3, with_drafter=False)
    assert compiled.steps[0].speakers == ("A1", "A2", "A3")


def test_look_alike_slots_get_an_error_about_the_slot_not_the_selector(tmp_path: Path) -> None:
    path = tmp_path / "lookalike.yaml"
    path.write_text(
        "name: lookalike\nslots: [A1, \uff211]\nschedule:\n  - {speakers: A1 + \uff211}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_paradigm(str(path))
    assert info.value.field == "slots"
    message = str(info.value)
    assert "duplicate slot name 'A1' and '\uff211' (read as 'A1')" in message
    assert "join names with + or -" not in message  # the misleading message of old
