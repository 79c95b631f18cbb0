"""Bad input: every malformed file under tests/data/bad_inputs/ fails before any model call,
with a message that names the file, the field path or line, and what would be valid, and with
no traceback unless --debug.

Each case is one file (files starting with '_' are helpers, not cases), checked two ways:
`madebate run` (an experiment case as it is; a paradigm, persona library or dataset case inside
a small experiment that uses it) with the scripted model's calls recorded, and
`madebate validate`. CASES below says, per file, what it is and which substrings the error
must contain besides the file's name; the YAML cases also say what they are in a comment.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from madebate import ConfigError
from madebate.cli import app
from madebate.models.providers.scripted import ScriptedModel

DATA = Path(__file__).resolve().parents[1] / "data" / "bad_inputs"
GOOD_DATA = DATA / "_good_data.jsonl"
GOOD_EXPERIMENT = DATA / "_good_experiment.yaml"

cli = CliRunner()

# (file, kind, substrings the error must contain besides the file's name)
CASES: list[tuple[str, str, tuple[str, ...]]] = [
    # -- experiment files: YAML syntax and encoding
    ("exp_yaml_bad_indent.yaml", "experiment", ("line 7", "indentation", "same column")),
    ("exp_yaml_tab.yaml", "experiment", ("line 5", "tab character", "spaces")),
    ("exp_yaml_unclosed_bracket.yaml", "experiment", ("line 7", "opened on line 6", "with ']'")),
    ("exp_duplicate_key.yaml", "experiment", ("line 8", "duplicate key 'sweep'", "line 5")),
    ("exp_not_utf8.yaml", "experiment", ("line 3", "byte 111", "0xe9", "save the file as UTF-8")),
    ("exp_empty_file.yaml", "experiment", ("empty file", "top level", "dataset:")),
    ("exp_top_level_list.yaml", "experiment", ("list", "top level", "dataset:")),
    # -- experiment files: fields
    ("exp_missing_name.yaml", "experiment", ("field 'name'", "required")),
    ("exp_agents_word.yaml", "experiment", ("field 'team.agents'", "valid integer", "'three'")),
    (
        "exp_max_turns_string.yaml",
        "experiment",
        ("field 'discussion.max_turns'", "valid integer", "got 'x'"),
    ),
    (
        "exp_unknown_top_key.yaml",
        "experiment",
        ("field 'paradigmz'", "did you mean 'discussion.paradigm'", "valid keys: cache"),
    ),
    (
        "exp_unknown_nested_key.yaml",
        "experiment",
        ("field 'team.agentz'", "did you mean 'agents'", "valid keys: agents, drafter"),
    ),
    (
        "exp_zero_agents.yaml",
        "experiment",
        ("field 'team.agents'", "greater than or equal to 2", "got 0"),
    ),
    (
        "exp_negative_turns.yaml",
        "experiment",
        ("field 'discussion.max_turns'", "greater than or equal to 1", "got -2"),
    ),
    (
        "exp_max_turns_zero.yaml",
        "experiment",
        ("field 'discussion.max_turns'", "greater than or equal to 1", "got 0"),
    ),
    (
        "exp_min_above_max_turns.yaml",
        "experiment",
        ("field 'discussion.min_turns'", "min_turns (5) is above max_turns (2)"),
    ),
    (
        "exp_task_kind_unknown.yaml",
        "experiment",
        ("field 'task.kind'", "got 'multiple'", "'multiple_choice'"),
    ),
    (
        "exp_dataset_two_sources.yaml",
        "experiment",
        ("field 'dataset'", "exactly one of path, hf or examples"),
    ),
    (
        "exp_dataset_missing.yaml",
        "experiment",
        ("field 'dataset.path'", "no_such_data.jsonl", "does not exist", ".jsonl, .json or .csv"),
    ),
    (
        "exp_example_beyond_context.yaml",
        "experiment",
        (
            "_huge_data.jsonl",
            "1 example(s)",
            "example 'huge' (about",
            "context window of 2048",
            "lower generation.max_tokens",
        ),
    ),
    (
        "exp_task_kind_mismatch.yaml",
        "experiment",
        ("field 'task.kind'", "example(s) f1 have no options"),
    ),
    (
        "exp_task_kind_yes_no_four_options.yaml",
        "experiment",
        ("field 'task.kind'", "yes_no but example(s) q1, q2 have 4 options", "multiple_choice"),
    ),
    (
        "exp_task_kind_math_with_options.yaml",
        "experiment",
        ("field 'task.kind'", "math but example(s) q1, q2 have 4 options", "option letters"),
    ),
    # -- experiment files: names checked against the registries
    (
        "exp_unknown_paradigm.yaml",
        "experiment",
        ("field 'paradigm'", "'memroy'", "did you mean 'memory'", "collective_refinement"),
    ),
    (
        "exp_unknown_protocol.yaml",
        "experiment",
        ("field 'protocol'", "'majority'", "majority_consensus, ranked_voting"),
    ),
    (
        "exp_protocol_option_unknown.yaml",
        "experiment",
        ("field 'protocol_options.tie_brake'", "valid:", "tie_break"),
    ),
    (
        "exp_unknown_persona_source.yaml",
        "experiment",
        ("field 'personas'", "'experts'", "expert, ipip, library, none"),
    ),
    (
        "exp_unknown_persona_library.yaml",
        "experiment",
        ("field 'personas'", "'astrology'", "built-ins: ethics_law, general"),
    ),
    (
        "exp_unknown_provider.yaml",
        "experiment",
        ("field 'model'", "provider 'gpt'", "openai, scripted"),
    ),
    (
        "exp_drafter_without_role.yaml",
        "experiment",
        ("field 'drafter'", "no drafter role", "drafter: optional"),
    ),
    (
        "exp_bad_paradigm_file.yaml",
        "experiment",
        ("par_unknown_group.yaml", "field 'schedule[0].deliver_to'", "'blue'", "valid: A1"),
    ),
    # -- experiment files: the sweep
    (
        "exp_sweep_unknown_key.yaml",
        "experiment",
        ("field 'sweep.protocols'", "did you mean 'protocol'", "sweepable: discussion"),
    ),
    (
        "exp_sweep_empty_list.yaml",
        "experiment",
        ("field 'sweep.paradigm'", "needs at least one value"),
    ),
    (
        "exp_sweep_not_a_list.yaml",
        "experiment",
        ("field 'sweep.paradigm'", "valid list", "got 'memory'"),
    ),
    (
        "exp_sweep_bad_value.yaml",
        "experiment",
        ("sweep cell paradigm=debtae", "field 'paradigm'", "did you mean 'debate'"),
    ),
    # -- experiment files: secrets in the model's settings (issue 14, item 5), refused by
    # `validate` as by `run`, naming the field and never quoting the value
    *[
        (name, "experiment", (field, path, "secrets never go in a spec", "api_key_env"))
        for name, field, path in [
            ("exp_options_auth_header.yaml", "field 'model.options'", "Authorization"),
            ("exp_options_api_key_header.yaml", "field 'model.options'", "X-Api-Key"),
            (
                "exp_options_bearer_value.yaml",
                "field 'model.options'",
                "default_headers.X-Forwarded-Credentials-Blob",
            ),
            ("exp_options_basic_value.yaml", "field 'model.options'", "extra_headers.X-Upstream"),
            ("exp_options_query_token.yaml", "field 'model.options'", "access_token"),
            ("exp_options_cookie.yaml", "field 'model.options'", "default_headers.Cookie"),
            ("exp_model_api_key.yaml", "field 'model'", "api_key:"),
            ("exp_sweep_model_secret.yaml", "sweep cell", "default_headers.Authorization"),
            ("exp_sweep_header_value.yaml", "X-Api-Key=***", "default_headers.X-Api-Key"),
            ("exp_options_header_pairs.yaml", "field 'model.options'", "[1] (Authorization)"),
            ("exp_options_auth_pair.yaml", "field 'model.options'", "http_client.auth"),
        ]
    ],
    # -- paradigm files
    (
        "par_unknown_group.yaml",
        "paradigm",
        ("field 'schedule[0].deliver_to'", "'blue'", "valid: A1", "red"),
    ),
    ("par_empty_schedule.yaml", "paradigm", ("field 'schedule'", "at least 1 item")),
    (
        "par_unknown_slot_speaker.yaml",
        "paradigm",
        ("field 'schedule[0].speakers'", "'L3'", "valid: L1, L2"),
    ),
    ("par_group_unknown_slot.yaml", "paradigm", ("field 'groups.blue'", "B9", "slots: L1, B1, B2")),
    (
        "par_repeat_unknown_param.yaml",
        "paradigm",
        ("field 'schedule[1].repeat'", "'rounds'", "parameters: debate_rounds"),
    ),
    ("par_silent_slot.yaml", "paradigm", ("field 'schedule'", "C never speak")),
    (
        "par_relative_speakers.yaml",
        "paradigm",
        ("field 'schedule[0].speakers'", "'next' is relative to a speaker"),
    ),
    (
        "par_bad_mode.yaml",
        "paradigm",
        ("field 'schedule[0].mode'", "'sequence' or 'together'", "got 'parallel'"),
    ),
    (
        "par_unknown_key.yaml",
        "paradigm",
        ("field 'schedule[0].deliver'", "did you mean 'deliver_to'", "valid keys"),
    ),
    ("par_yaml_tab.yaml", "paradigm", ("line 4", "tab character", "spaces")),
    # -- persona libraries
    ("per_missing_name.yaml", "personas", ("field 'personas[1].name'", "required")),
    (
        "per_duplicate_names.yaml",
        "personas",
        ("field 'personas'", "duplicate persona name 'Physicist'", "personas[2]", "own name"),
    ),
    ("per_empty_list.yaml", "personas", ("field 'personas'", "at least 1 item")),
    (
        "per_expertise_not_list.yaml",
        "personas",
        ("field 'personas[0].expertise'", "valid list", "got 'physics'"),
    ),
    ("per_unknown_key.yaml", "personas", ("field 'persona'", "did you mean 'personas'")),
    # -- dataset files
    ("data_empty.jsonl", "dataset", ("no examples", "one JSON object per line")),
    (
        "data_missing_question.jsonl",
        "dataset",
        ("line 2", "'question' is missing", "has: id, prompt", "dataset.columns.question"),
    ),
    (
        "data_csv_missing_column.csv",
        "dataset",
        ("line 2", "'question' is missing", "has: id, prompt, answer", "dataset.columns"),
    ),
    ("data_csv_extra_field.csv", "dataset", ("line 3", "more fields than the header")),
    ("data_answer_not_an_option.jsonl", "dataset", ("line 1", "answer 'E'", "letter A-C")),
    ("data_answer_index_out_of_range.jsonl", "dataset", ("line 2", "answer 5", "index 0-1")),
    (
        "data_one_option.jsonl",
        "dataset",
        ("line 1", "field 'options'", "need 2 to 26 options", "got 1"),
    ),
    ("data_bad_json_line.jsonl", "dataset", ("line 3", "invalid JSON", "delimiter")),
    ("data_row_not_object.jsonl", "dataset", ("line 2", "expected a JSON object", "got list")),
    ("data_duplicate_ids.jsonl", "dataset", ("line 2", "duplicate example id 'q1'", "line 1")),
    ("data_not_utf8.jsonl", "dataset", ("line 2", "byte 133", "save the file as UTF-8")),
    ("data_invalid_json.json", "dataset", ("line 3", "invalid JSON", "double quotes")),
    ("data_json_not_a_list.json", "dataset", ("expected a JSON list of examples", "BIG-bench")),
    (
        "data_unknown_extension.txt",
        "dataset",
        ("'.txt'", "dataset.format", "jsonl, json, csv"),
    ),
    # -- data that would be silently mis-scored, or shown as a Python repr (issue 14, item 6)
    (
        "data_answer_number_ambiguous.jsonl",
        "dataset",
        ("line 1", "answer 2 is ambiguous", "option B ('2')", "option C ('3')", "answer_index"),
    ),
    (
        "data_answer_digit_string_ambiguous.csv",
        "dataset",
        ("line 3", "answer '1' is ambiguous", "option A ('1')", "option B ('2')", "answer_index"),
    ),
    (
        "data_answer_number_two_ways.jsonl",
        "dataset",
        ("read two ways", "line 1 (answer 3)", "line 2 (answer 0)", "answer_index: true"),
    ),
    ("data_question_list.json", "dataset", ("item 0", "field 'question' is a list, not text")),
    ("data_question_object.jsonl", "dataset", ("line 2", "field 'question' is an object")),
    (
        "data_options_null.jsonl",
        "dataset",
        ("line 1", "field 'options' is null", "leave the field out"),
    ),
    ("data_options_hold_null.jsonl", "dataset", ("line 1", "field 'options[1]' is null, not text")),
    ("data_options_hold_objects.json", "dataset", ("item 0", "field 'options[0]' is an object")),
    ("data_options_object_values.jsonl", "dataset", ("line 1", "field 'options.B' is an object")),
    (
        "data_options_plain_text.csv",
        "dataset",
        ("line 2", "field 'options' is a text ('iron; oxygen; salt'), not a list", "JSON list"),
    ),
    ("data_answer_object.jsonl", "dataset", ("line 1", "field 'answer' is an object")),
    # numbers JSON cannot hold (never a silent 'inf' or 'nan' option, nor a traceback)
    (
        "data_number_not_finite.jsonl",
        "dataset",
        ("line 1", "the number '1e400' is beyond what a float holds", "write it as text"),
    ),
    ("data_number_nan.jsonl", "dataset", ("line 2", "NaN is not a JSON value", "as text")),
    (
        "data_number_too_long.jsonl",
        "dataset",
        ("line 1", "a number of 5,000 digits", "bound of 4,300"),
    ),
    (
        "data_csv_options_number_too_long.csv",
        "dataset",
        ("line 2", "field 'options'", "a number of 5,000 digits", "bound of 4,300"),
    ),
    ("data_context_object.jsonl", "dataset", ("line 1", "field 'context' is an object")),
    ("data_mallm_inputs_object.jsonl", "dataset", ("line 1", "field 'inputs[1]' is an object")),
    ("data_bigbench_input_object.json", "dataset", ("examples[1]", "field 'input' is an object")),
    (
        "data_bigbench_score_text.json",
        "dataset",
        ("examples[0]", "'target_scores.Mars' is a text ('no')", "must be a number"),
    ),
    (
        "exp_answer_index_out_of_range.yaml",
        "experiment",
        (
            "dataset.examples[1]",
            "answer 3 names no option",
            "index 0-2 (columns.answer_index: true)",
        ),
    ),
    (
        "exp_answer_index_not_bool.yaml",
        "experiment",
        ("field 'dataset.columns.answer_index'", "valid boolean", "got 'sometimes'"),
    ),
    (
        "exp_inline_option_inf.yaml",
        "experiment",
        ("dataset.examples[0]", "field 'options[0]' is the number inf (not finite), not text"),
    ),
    (
        "exp_inline_options_object.yaml",
        "experiment",
        ("dataset.examples[0]", "field 'options[0]' is an object, not text"),
    ),
    (
        "exp_mallm_ambiguous_reference.yaml",
        "experiment",
        ("_mallm_numbers.json item 0", "answer '1' is ambiguous", "option A ('1')", "option B"),
    ),
    # -- names people cannot see (item 7)
    (
        "per_duplicate_invisible.yaml",
        "personas",
        ("duplicate persona name 'Alice' (personas[0]) and 'Ali<U+200B>ce' (personas[1])",),
    ),
    (
        "per_duplicate_lookalike.yaml",
        "personas",
        ("'Physicist' (personas[0]) and 'Ｐhysicist' (read as 'Physicist') (personas[2])",),
    ),
    (
        "per_duplicate_case.yaml",
        "personas",
        ("'Historian' (personas[0]) and 'HISTORIAN' (personas[1])", "ignoring case"),
    ),
    (
        "per_invisible_name.yaml",
        "personas",
        ("field 'personas[1].name'", "'<U+200B><U+200D>' shows nothing"),
    ),
    (
        "par_lookalike_slot.yaml",
        "paradigm",
        ("field 'slots'", "duplicate slot name 'A1' and 'Ａ1' (read as 'A1')"),
    ),
    ("par_invisible_slot.yaml", "paradigm", ("field 'slots'", "'A1' and 'A<U+2060>1'")),
    (
        "par_unreadable_slot.yaml",
        "paradigm",
        ("field 'slots'", "slot name 'Ｑ' (read as 'Q') cannot be named in a selector"),
    ),
    ("par_invisible_name.yaml", "paradigm", ("field 'name'", "'<U+FEFF>' shows nothing")),
    ("per_invisible_library_name.yaml", "personas", ("field 'name'", "'<U+200D>' shows nothing")),
    (
        "par_group_invisible_member.yaml",
        "paradigm",
        ("field 'groups.red'", "unknown slot(s) 'A<U+200B>2'", "slots: A1, A2, A3"),
    ),
    (
        "par_invisible_selector.yaml",
        "paradigm",
        ("field 'schedule[0].deliver_to'", "'A<U+200B>1' holds an invisible", "as 'A1'"),
    ),
    (
        "par_lookalike_selector.yaml",
        "paradigm",
        ("field 'schedule[0].speakers'", "look-alike character", "write it as 'panel'"),
    ),
    ("exp_invisible_name.yaml", "experiment", ("field 'name'", "'<U+200B><U+2060>' shows nothing")),
    ("exp_soft_hyphen_name.yaml", "experiment", ("field 'name'", "' <U+00AD> ' shows nothing")),
    (
        "exp_invisible_metric.yaml",
        "experiment",
        ("field 'scoring'", "unknown metric 'accuracy<U+200B>' (did you mean 'accuracy'?)"),
    ),
    (
        "exp_lookalike_protocol.yaml",
        "experiment",
        ("field 'protocol'", "'ｓimple_voting' (read as 'simple_voting')"),
    ),
    (
        "exp_invisible_key.yaml",
        "experiment",
        ("unknown key 'agents<U+2060>' (did you mean 'agents'?)",),
    ),
    # -- paradigms that cannot work (item 8)
    (
        "par_no_delivery.yaml",
        "paradigm",
        ("paradigm 'echo-chamber'", "no message reaches another agent", "blind: true"),
    ),
    (
        "par_blind_with_delivery.yaml",
        "paradigm",
        ("field 'blind'", "declared blind", "A1's messages reach A2"),
    ),
    (
        "par_speaker_twice.yaml",
        "paradigm",
        ("field 'schedule[0].speakers'", "speaker A1 is listed twice in schedule[0]"),
    ),
    (
        "par_speaker_in_group_and_by_name.yaml",
        "paradigm",
        ("field 'schedule[1].speakers'", "speaker A2", "as 'A2' and in 'panel'"),
    ),
    (
        "exp_blind_consensus.yaml",
        "experiment",
        ("field 'protocol'", "'majority_consensus' seeks a consensus", "simple_voting"),
    ),
    # -- mixed teams and named teams (issue 17)
    (
        "exp_agent_persona_unknown_key.yaml",
        "experiment",
        (
            "field 'discussion.agents[1].persona.descr'",
            "did you mean 'description'",
            "valid keys: description, expertise, name",
        ),
    ),
    (
        "exp_agent_persona_not_text.yaml",
        "experiment",
        ("field 'discussion.agents[0].persona'", "source's name", "{name, description}", "got 5"),
    ),
    (
        "exp_judge_persona_source.yaml",
        "experiment",
        ("field 'judge.persona'", "written out, {name, description}; persona sources"),
    ),
    (
        "exp_team_invisible_name.yaml",
        "experiment",
        ("field 'teams'", "team names 'mixed' and 'mixed<U+200B>' are one name"),
    ),
    (
        "exp_team_lookalike_name.yaml",
        "experiment",
        ("field 'teams'", "'ｓolo' (read as 'solo') are one name"),
    ),
    ("exp_team_empty_name.yaml", "experiment", ("field 'teams'", "team name '' shows nothing")),
    (
        "exp_sweep_team_invisible.yaml",
        "experiment",
        ("field 'sweep.team'", "unknown team 'mixed<U+200B>' (did you mean 'mixed'?)"),
    ),
    (
        "exp_sweep_team_and_agents.yaml",
        "experiment",
        ("field 'sweep.agents'", "team 'small' sets too (teams.small.agents)", "sweep one"),
    ),
]

# Cases new with issue 14 (items 6, 7, 8 and 10): counted so that none is lost unnoticed.
ISSUE_14_CASES = 51


CASE_IDS = [name for name, _, _ in CASES]


def flat(result: Result) -> str:
    """A command's output (stdout and stderr) with line wrapping undone."""
    return " ".join(result.output.split())


@pytest.fixture
def model_calls(model_seam: Any) -> list[Any]:
    """Every call a `scripted` model makes in this test (every case names that model): the
    test suite's model seam stands in for the scripted provider with one that records."""
    calls: list[Any] = []

    class Recording(ScriptedModel):
        async def generate(self, *args: Any, **kwargs: Any) -> Any:
            calls.append(args)
            return await super().generate(*args, **kwargs)

    model_seam.use(lambda model_id, options: Recording(**options), prefix="scripted")
    return calls


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))


def experiment_for(name: str, kind: str, tmp_path: Path) -> Path:
    """The experiment file that `run` gets for a case: the case itself, or a small valid
    experiment using the case file as its paradigm, persona library or dataset."""
    case = DATA / name
    if kind == "experiment":
        return case
    spec: dict[str, Any] = {
        "name": f"uses-{case.stem}",
        "dataset": {"path": str(GOOD_DATA)},
        "model": "scripted",
        "discussion": {"agents": 3, "max_turns": 2},
        "cache": False,
    }
    if kind == "paradigm":
        spec["discussion"]["paradigm"] = str(case)
    elif kind == "personas":
        spec["discussion"]["personas"] = f"library:{case}"
    else:
        spec["dataset"] = {"path": str(case)}
    path = tmp_path / "uses_case.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def assert_clear_error(result: Result, name: str, expected: tuple[str, ...], *, file: bool) -> None:
    text = flat(result)
    assert result.exit_code == 2, f"exit {result.exit_code}: {text}\n{result.exception!r}"
    assert "Traceback" not in result.output, text
    assert text.startswith("error:"), text
    if file:
        assert name in text, f"the message does not name {name}: {text}"
    for part in expected:
        assert part in text, f"{part!r} missing from: {text}"


# -- the corpus --------------------------------------------------------------------------------


def test_every_case_file_is_in_the_table_and_says_what_it_is():
    on_disk = sorted(p.name for p in DATA.iterdir() if not p.name.startswith("_"))
    assert sorted(CASE_IDS) == on_disk
    assert len(CASES) >= 62 + ISSUE_14_CASES
    assert {kind for _, kind, _ in CASES} == {"experiment", "paradigm", "personas", "dataset"}
    for name, kind, expected in CASES:
        assert expected, name
        prefix = {"experiment": "exp_", "paradigm": "par_", "personas": "per_", "dataset": "data_"}
        assert name.startswith(prefix[kind]), name
        if name.endswith(".yaml"):
            assert (DATA / name).read_bytes().startswith(b"# "), f"{name} needs a comment"


def test_the_helpers_are_valid_and_the_recorder_sees_a_real_run(
    tmp_path: Path, model_calls: list[Any]
):
    """The control: the good experiment runs, so a case's failure is the case's doing, and
    the recorder does see model calls when there are any."""
    out = cli.invoke(app, ["validate", str(GOOD_EXPERIMENT), "--dataset"])
    assert out.exit_code == 0, flat(out)
    assert "1 cell(s), 2 example(s)" in flat(out)
    run_dir = tmp_path / "run"
    out = cli.invoke(app, ["run", str(GOOD_EXPERIMENT), "--out", str(run_dir), "--quiet"])
    assert out.exit_code == 0, flat(out)
    assert model_calls
    assert (run_dir / "records.jsonl").read_text(encoding="utf-8").count("\n") == 2


# -- every case, two ways ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "kind", "expected"), CASES, ids=CASE_IDS)
def test_run_fails_before_any_model_call(
    tmp_path: Path, model_calls: list[Any], name: str, kind: str, expected: tuple[str, ...]
):
    experiment = experiment_for(name, kind, tmp_path)
    run_dir = tmp_path / "run"
    result = cli.invoke(app, ["run", str(experiment), "--out", str(run_dir), "--quiet"])
    assert_clear_error(result, name, expected, file=True)
    assert model_calls == []
    assert not run_dir.exists()


@pytest.mark.parametrize(("name", "kind", "expected"), CASES, ids=CASE_IDS)
def test_validate_fails_naming_the_file(
    model_calls: list[Any], name: str, kind: str, expected: tuple[str, ...]
):
    # An experiment's dataset is checked by default, as `run` checks it (no --dataset); a
    # dataset file whose name says nothing needs --dataset to be read as one.
    args = ["validate", str(DATA / name)]
    if kind == "dataset":
        args.append("--dataset")
    result = cli.invoke(app, args)
    assert_clear_error(result, name, expected, file=True)
    assert model_calls == []


# -- validate checks what run checks (issue 14, item 10) -----------------------------------------

# Experiments that only their dataset makes bad: the settings alone are valid.
DATASET_BOUND = [
    "exp_task_kind_mismatch.yaml",
    "exp_example_beyond_context.yaml",
    "exp_answer_index_out_of_range.yaml",
    "exp_inline_options_object.yaml",
    "exp_mallm_ambiguous_reference.yaml",
    "exp_task_kind_yes_no_four_options.yaml",
    "exp_task_kind_math_with_options.yaml",
]


@pytest.mark.parametrize("name", DATASET_BOUND)
def test_validate_checks_the_dataset_by_default_as_run_does(tmp_path: Path, name: str) -> None:
    case = str(DATA / name)
    ran = cli.invoke(app, ["run", case, "--out", str(tmp_path / "run"), "--quiet"])
    checked = cli.invoke(app, ["validate", case])
    assert checked.exit_code == ran.exit_code == 2, flat(checked)
    # The same check, not a second version of it: the same first line of the message.
    assert flat(checked).startswith(flat(ran)[:120]), (flat(checked), flat(ran))
    # --dataset, once needed for this, still works; --no-dataset checks the settings alone.
    assert cli.invoke(app, ["validate", case, "--dataset"]).exit_code == 2
    skipped = cli.invoke(app, ["validate", case, "--no-dataset"])
    assert skipped.exit_code == 0, flat(skipped)
    assert "experiment, 1 cell(s)" in flat(skipped) and "example(s)" not in flat(skipped)


def test_validate_no_dataset_does_not_read_the_dataset(tmp_path: Path) -> None:
    spec = tmp_path / "exp.yaml"
    data = DATA / "data_bad_json_line.jsonl"
    spec.write_text(f"name: later\ndataset: {{path: {data}}}\nmodel: scripted\n", encoding="utf-8")
    out = cli.invoke(app, ["validate", str(spec)])
    assert out.exit_code == 2 and "line 3: invalid JSON" in flat(out)
    out = cli.invoke(app, ["validate", str(spec), "--no-dataset"])
    assert out.exit_code == 0, flat(out)


# -- validate on a dataset file, and --debug -----------------------------------------------------


def test_validate_takes_a_dataset_file_by_its_name_or_with_the_flag(tmp_path: Path):
    for args in (["validate", str(GOOD_DATA)], ["validate", "--dataset", str(GOOD_DATA)]):
        out = cli.invoke(app, args)
        assert out.exit_code == 0, flat(out)
        assert "dataset, 2 example(s), 2 multiple choice" in flat(out)
    renamed = tmp_path / "questions.txt"
    renamed.write_bytes(GOOD_DATA.read_bytes())
    out = cli.invoke(app, ["validate", str(renamed)])  # read as YAML: not a known kind
    assert out.exit_code == 2 and "--dataset" in flat(out)
    out = cli.invoke(app, ["validate", str(renamed), "--dataset"])  # a dataset, format unknown
    assert out.exit_code == 2 and "set dataset.format" in flat(out)
    out = cli.invoke(app, ["validate", str(tmp_path / "missing.jsonl")])
    assert out.exit_code == 2 and "missing.jsonl: dataset file not found" in flat(out)


def test_debug_shows_the_traceback_and_plain_runs_do_not(tmp_path: Path):
    case = DATA / "exp_unknown_nested_key.yaml"
    command = [sys.executable, "-m", "madebate.cli", "validate", str(case)]
    plain = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert plain.returncode == 2
    assert "Traceback" not in plain.stderr + plain.stdout
    assert "team.agentz" in plain.stderr
    debug = subprocess.run([*command, "--debug"], capture_output=True, text=True, timeout=60)
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert "ConfigError" in debug.stderr and "team.agentz" in debug.stderr

    # In process, --debug lets the error itself out of `run` too.
    result = cli.invoke(app, ["run", str(case), "--out", str(tmp_path / "run"), "--debug"])
    assert isinstance(result.exception, ConfigError)
    assert result.exception.field == "team.agentz"


def test_brackets_in_a_message_survive_the_terminal():
    """Rich markup would eat "[memory, debate" and "']'" from the YAML message."""
    result = cli.invoke(app, ["validate", str(DATA / "exp_yaml_unclosed_bracket.yaml")])
    assert "expected ',' or ']', but got ':'" in flat(result)
