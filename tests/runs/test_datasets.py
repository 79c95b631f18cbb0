"""Loading datasets into tasks: every format, column mapping, ids, sampling, and errors that name
the file and the line. Fixtures live in tests/fixtures/datasets/."""

from __future__ import annotations

import json
import re
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import ValidationError
from typer.testing import CliRunner

import madebate as mb
from madebate import ColumnMap, ConfigError, DatasetSpec, Task
from madebate._task import LETTERS
from madebate.cli import app
from madebate.models.providers.scripted import default_script
from madebate.runs._datasets import (
    DatasetInfo,
    PositionSkew,
    load_dataset_info,
    position_skew,
    shuffle_options,
)

FIXTURES = Path(__file__).parents[1] / "fixtures" / "datasets"
CITIES = ["Rome", "Paris", "Berlin", "Madrid"]
HASH_ID = re.compile(r"^[0-9a-f]{12}$")


def load(path: str | Path, **spec: Any) -> list[Task]:
    return mb.load_dataset(DatasetSpec(path=str(path), **spec), base_dir=FIXTURES)


def load_error(path: str | Path, **spec: Any) -> str:
    with pytest.raises(ConfigError) as info:
        load(path, **spec)
    return str(info.value)


# -- formats ------------------------------------------------------------------------------------


def test_jsonl_multiple_choice_answers_become_letters() -> None:
    tasks = load("mc.jsonl")
    assert [t.id for t in tasks] == ["mc-letter", "mc-paren", "mc-index", "mc-index-str", "mc-text"]
    assert all(t.options == CITIES for t in tasks)
    # "B" (a letter), "(a)" (a marked lowercase letter), 2 (a 0-based index), "3" (an index as
    # text), "rome" (an option's text, any case): all become option letters.
    assert [t.references for t in tasks] == [["B"], ["A"], ["C"], ["D"], ["A"]]
    assert tasks[0].question == "Capital of France?"
    assert tasks[0].context is None
    assert tasks[4].context == "The Colosseum is an ancient amphitheatre."
    # Fields that are not mapped are kept as metadata; the mapped ones are not.
    assert tasks[2].metadata == {"difficulty": "easy"}
    assert tasks[0].metadata == {}


def test_absolute_path_ignores_base_dir(tmp_path: Path) -> None:
    tasks = mb.load_dataset(DatasetSpec(path=str(FIXTURES / "mc.jsonl")), base_dir=tmp_path)
    assert len(tasks) == 5


def test_json_list_of_free_text_examples() -> None:
    tasks = load("free.json")
    assert [t.question for t in tasks] == [
        "Who wrote Hamlet?",
        "Name a primary colour.",
        "When was it built?",
        "When was it built?",
    ]
    assert all(t.options is None and not t.is_multiple_choice for t in tasks)
    assert tasks[0].references == ["William Shakespeare"]
    assert tasks[1].references == ["red", "blue", "yellow"]
    assert tasks[2].context == "The tower was built in 1889."
    assert tasks[3].context == "The exhibition hall was built in 1889."
    assert all(HASH_ID.match(t.id or "") for t in tasks)
    # The same question and answer over different contexts are different examples.
    assert len({t.id for t in tasks}) == 4


def test_json_object_with_a_data_list() -> None:
    tasks = load("data_object.json")
    assert [t.id for t in tasks] == ["7", "q8"]  # an int id becomes text
    assert tasks[0].question == "2 + 2?" and tasks[0].references == ["4"]
    assert tasks[0].options is None
    assert tasks[1].options == ["3", "4", "5"] and tasks[1].references == ["B"]


def test_mallm_format_option_lines_become_options() -> None:
    mmlu, gpqa, squad = load("mallm.json")
    assert mmlu.id == "mmlu-1"
    assert mmlu.question == "Which planet is known as the Red Planet?"
    assert mmlu.options == ["Venus", "Mars", "Jupiter", "Saturn"]
    assert mmlu.references == ["B"]
    assert mmlu.context is None
    # "A. ..." lines count as options too; a reference "(B)" is read as the letter.
    assert gpqa.id == "gpqa-1"
    assert gpqa.question == "What is the chemical symbol for gold?"
    assert gpqa.options == ["Ag", "Au", "Gd"]
    assert gpqa.references == ["B"]
    # Without option lines it stays free text; references are kept and context lines joined.
    assert squad.id == "squad-1"
    assert squad.question == "In what year was the tower built?"
    assert squad.options is None
    assert squad.references == ["1889", "in 1889"]
    assert squad.context == "The tower was built in 1889.\nIt is 330 metres tall."


def test_mallm_rows_in_jsonl(tmp_path: Path) -> None:
    row = {
        "example_id": "e1",
        "inputs": ["Pick one.", "A) yes\nB) no"],
        "context": "Some context.",
        "references": ["A"],
    }
    path = tmp_path / "mallm.jsonl"
    path.write_text(json.dumps(row) + "\n", encoding="utf-8")
    (task,) = load(path)
    assert (task.id, task.question, task.options, task.references, task.context) == (
        "e1",
        "Pick one.",
        ["yes", "no"],
        ["A"],
        "Some context.",
    )


def test_csv_with_options_as_a_json_list_column() -> None:
    tasks = load("mc_list.csv")
    assert [t.id for t in tasks] == ["c1", "c2", "c3"]
    assert tasks[0].question == "Largest ocean?"
    assert tasks[0].options == ["Atlantic", "Pacific", "Indian"]
    assert tasks[0].references == ["B"]  # "1": a 0-based index, as CSV text
    # A quoted field keeps its line break.
    assert tasks[1].question == "Which is a mammal?\nPick one."
    assert tasks[1].references == ["B"]  # "Dolphin": the option's text
    assert tasks[2].options == ["90", "100", "110"]
    assert tasks[2].references == ["B"]  # "(b)"
    assert [t.metadata for t in tasks] == [
        {"subject": "geography"},
        {"subject": "biology"},
        {"subject": "physics"},
    ]


def test_csv_with_options_as_separate_columns() -> None:
    tasks = load("mc_columns.csv", columns=ColumnMap(options=["A", "B", "C", "D"]))
    assert [t.question for t in tasks] == [
        "What is 2 * 3?",
        "Which is a prime number?",
        "Pick the vowel.",
    ]
    assert tasks[0].options == ["5", "6", "7", "8"]
    assert tasks[1].options == ["4", "6", "7", "9"]
    assert tasks[2].options == ["b", "c", "e"]  # an empty option column is left out
    assert [t.references for t in tasks] == [["B"], ["C"], ["C"]]
    assert all(t.metadata == {} for t in tasks)  # the option columns are not metadata
    assert all(HASH_ID.match(t.id or "") for t in tasks)


def test_csv_with_crlf_line_ends(tmp_path: Path) -> None:
    path = tmp_path / "crlf.csv"
    path.write_bytes(b'question,answer\r\n"two\r\nlines",x\r\nq2,y\r\n')
    tasks = load(path)
    assert [t.references for t in tasks] == [["x"], ["y"]]
    assert tasks[0].question.splitlines() == ["two", "lines"]


@pytest.mark.parametrize("fmt", ["auto", "bigbench"])
def test_bigbench_task(fmt: str) -> None:
    tasks = load("bigbench.json", format=fmt)
    assert [t.question for t in tasks] == [
        "Q: Is the sky blue on a clear day?",
        "Q: Which of these are even?",
        "Q: Spell the number 3.",
        "Q: Give a synonym of big.",
    ]
    # target_scores: multiple choice, the best-scoring options are the references.
    assert tasks[0].options == ["yes", "no"] and tasks[0].references == ["A"]
    assert tasks[1].options == ["2", "3", "4"] and tasks[1].references == ["A", "C"]
    # target: free text, one reference or several.
    assert tasks[2].options is None and tasks[2].references == ["three"]
    assert tasks[3].options is None and tasks[3].references == ["large", "huge"]
    assert len({t.id for t in tasks}) == 4


def test_inline_examples() -> None:
    spec = DatasetSpec(
        examples=[
            {"id": "i1", "question": "Capital of France?", "options": CITIES, "answer": "Paris"},
            {"question": "6 * 7?", "answer": 42, "context": "Arithmetic."},
        ]
    )
    first, second = mb.load_dataset(spec)
    assert (first.id, first.options, first.references) == ("i1", CITIES, ["B"])
    assert second.references == ["42"] and second.context == "Arithmetic."
    assert HASH_ID.match(second.id or "")


def test_column_mapping() -> None:
    spec = DatasetSpec.model_validate(
        {
            "path": "mapped.jsonl",
            "columns": {"question": "q", "answer": "a", "id": "qid", "context": "passage"},
        }
    )
    tasks = mb.load_dataset(spec, base_dir=FIXTURES)
    assert [(t.id, t.question, t.references, t.context) for t in tasks] == [
        ("m1", "What colour is grass?", ["green"], "Grass is green."),
        ("m2", "What colour is snow?", ["white"], "Snow is white."),
    ]
    assert all(t.metadata == {} for t in tasks)


def test_column_mapping_question_and_answer_only() -> None:
    tasks = load("mapped.jsonl", columns={"question": "q", "answer": "a"})
    assert [t.question for t in tasks] == ["What colour is grass?", "What colour is snow?"]
    assert [t.references for t in tasks] == [["green"], ["white"]]
    assert tasks[0].metadata == {"qid": "m1", "passage": "Grass is green."}


def test_spec_needs_exactly_one_source() -> None:
    with pytest.raises(ValidationError, match="exactly one of path, hf or examples"):
        DatasetSpec()
    with pytest.raises(ValidationError, match="exactly one of path, hf or examples"):
        DatasetSpec(path="a.jsonl", examples=[{"question": "q"}])


# -- Hugging Face datasets saved locally --------------------------------------------------------


@pytest.fixture(scope="module")
def hf_datasets() -> Any:
    return pytest.importorskip(
        "datasets", reason="the 'datasets' package is not installed (pip install madebate[hf])"
    )


HF_ROWS = [
    {"id": "h1", "question": "Capital of France?", "options": CITIES, "answer": 1},
    {"id": "h2", "question": "Capital of Spain?", "options": CITIES, "answer": 3},
]


def test_hf_dataset_saved_to_disk(hf_datasets: Any, tmp_path: Path) -> None:
    folder = tmp_path / "saved"
    hf_datasets.Dataset.from_list(HF_ROWS).save_to_disk(str(folder))
    tasks = mb.load_dataset(DatasetSpec(path=str(folder), format="hf"))
    assert [(t.id, t.question, t.options, t.references) for t in tasks] == [
        ("h1", "Capital of France?", CITIES, ["B"]),
        ("h2", "Capital of Spain?", CITIES, ["D"]),
    ]


def test_hf_dataset_dict_split_and_relative_path(hf_datasets: Any, tmp_path: Path) -> None:
    other = [{"question": "Dev question?", "answer": "dev answer"}]
    hf_datasets.DatasetDict(
        {
            "test": hf_datasets.Dataset.from_list(HF_ROWS),
            "dev": hf_datasets.Dataset.from_list(other),
        }
    ).save_to_disk(str(tmp_path / "dd"))
    test = mb.load_dataset(DatasetSpec(path="dd", format="hf"), base_dir=tmp_path)
    assert [t.id for t in test] == ["h1", "h2"]
    dev = mb.load_dataset(DatasetSpec(path="dd", format="hf", split="dev"), base_dir=tmp_path)
    assert [(t.question, t.references) for t in dev] == [("Dev question?", ["dev answer"])]


def test_hf_arc_style_choices(hf_datasets: Any, tmp_path: Path) -> None:
    rows = [
        {
            "id": "arc-1",
            "question": "Which is a gas at room temperature?",
            "choices": {"label": ["A", "B", "C"], "text": ["iron", "oxygen", "salt"]},
            "answerKey": "B",
        }
    ]
    hf_datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "arc"))
    spec = DatasetSpec(
        path=str(tmp_path / "arc"),
        format="hf",
        columns=ColumnMap(options="choices", answer="answerKey"),
    )
    (task,) = mb.load_dataset(spec)
    assert task.options == ["iron", "oxygen", "salt"] and task.references == ["B"]


# -- ids and sampling ---------------------------------------------------------------------------


def test_content_hash_ids_are_stable_and_distinct(tmp_path: Path) -> None:
    first = load("free.json")
    again = load("free.json")
    assert [t.id for t in first] == [t.id for t in again]
    assert len({t.id for t in first}) == len(first)
    # The id depends on the content only, not on the file, the format or the position.
    copy = tmp_path / "copy.jsonl"
    rows = json.loads((FIXTURES / "free.json").read_text(encoding="utf-8"))
    copy.write_text("".join(json.dumps(r) + "\n" for r in reversed(rows)), encoding="utf-8")
    assert [t.id for t in load(copy)] == [t.id for t in reversed(first)]
    # Pinned: a changed hash would orphan the results of earlier runs.
    assert first[0].id == "37d1b341782c"


def test_content_hash_changes_with_the_answer() -> None:
    a = mb.load_dataset(DatasetSpec(examples=[{"question": "q", "answer": "x"}]))
    b = mb.load_dataset(DatasetSpec(examples=[{"question": "q", "answer": "y"}]))
    assert a[0].id != b[0].id


def test_given_ids_are_kept() -> None:
    assert [t.id for t in load("mapped.jsonl", columns={"question": "q", "id": "qid"})] == [
        "m1",
        "m2",
    ]


def test_duplicate_given_ids_are_an_error() -> None:
    message = load_error("duplicate_ids.jsonl")
    assert "duplicate_ids.jsonl" in message and "duplicate example id 'x1'" in message


def test_identical_examples_without_ids_are_duplicates() -> None:
    assert "duplicate example id" in load_error("duplicate_content.jsonl")


def test_limit_with_seed_is_a_stable_sample() -> None:
    every = load("twenty.jsonl")
    assert len(every) == 20
    picked = load("twenty.jsonl", limit=5, seed=0)
    assert [t.id for t in picked] == [t.id for t in load("twenty.jsonl", limit=5, seed=0)]
    # A sample keeps the file's order; pinned so that a run's examples never change underfoot.
    assert [t.references[0] for t in picked] == ["1", "8", "12", "13", "15"]
    other = load("twenty.jsonl", limit=5, seed=1)
    assert [t.references[0] for t in other] == ["2", "3", "4", "8", "18"]
    # A limit at or above the size keeps everything, in order.
    assert [t.id for t in load("twenty.jsonl", limit=20)] == [t.id for t in every]
    assert [t.id for t in load("twenty.jsonl", limit=50)] == [t.id for t in every]


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        DatasetSpec(path="twenty.jsonl", limit=0)


# -- errors name the file and the line ----------------------------------------------------------


def test_bad_jsonl_line() -> None:
    message = load_error("bad_json_line3.jsonl")
    assert "bad_json_line3.jsonl" in message and "line 3:" in message and "invalid JSON" in message


def test_jsonl_line_that_is_not_an_object() -> None:
    message = load_error("list_line.jsonl")
    assert "list_line.jsonl" in message and "line 2:" in message and "list" in message


def test_jsonl_keeps_unicode_line_separators_inside_strings(tmp_path: Path) -> None:
    # U+2028 and U+2029 are legal unescaped inside JSON strings; they do not end a JSONL line.
    path = tmp_path / "seps.jsonl"
    rows = [{"question": "one\u2028two", "answer": "a"}, {"question": "three\u2029", "answer": "b"}]
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    assert [t.question for t in load(path)] == ["one\u2028two", "three\u2029"]


def test_invalid_json_file_names_the_line() -> None:
    message = load_error("invalid.json")
    assert "invalid.json" in message and "line 4:" in message and "invalid JSON" in message


def test_csv_row_with_too_many_fields() -> None:
    message = load_error("too_many_fields.csv")
    assert "too_many_fields.csv" in message and "line 4:" in message
    assert "more fields than the header" in message


def test_csv_error_line_counts_multiline_fields_and_blank_lines(tmp_path: Path) -> None:
    path = tmp_path / "multi.csv"
    path.write_text('question,answer\n"a\nquestion over lines",x\n\nq2,y\nq3,z,extra\n', "utf-8")
    assert "line 6:" in load_error(path)


def test_csv_row_missing_the_question_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "blank_question.csv"
    path.write_text("question,answer\nq1,a\n,b\n", encoding="utf-8")
    message = load_error(path)
    assert "blank_question.csv line 3:" in message and "'question'" in message


def test_non_utf8_file_names_the_line_of_the_bad_byte(tmp_path: Path) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(b'{"question": "a"}\n{"question": "b"}\n{"question": "caf\xe9"}\n')
    message = load_error(path)
    assert "latin1.jsonl" in message and "line 3:" in message and "UTF-8" in message


def test_non_utf8_after_a_byte_order_mark(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b'\xef\xbb\xbf{"question": "a"}\n\xff\n')
    message = load_error(path)
    assert "line 2:" in message and "byte 21" in message


def test_utf8_byte_order_mark_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(b"\xef\xbb\xbfquestion,answer\nq,a\n")
    assert [t.question for t in load(path)] == ["q"]


def test_row_missing_the_question_field() -> None:
    message = load_error("missing_question.jsonl")
    assert "missing_question.jsonl line 2:" in message
    assert "field 'question' is missing" in message


def test_multiple_choice_answer_that_is_no_option() -> None:
    message = load_error("mc_bad_answer.jsonl")
    assert "mc_bad_answer.jsonl line 2:" in message and "'Madrid'" in message


@pytest.mark.parametrize("answer", [2, -1, "5", "²", "C", True])
def test_multiple_choice_answer_out_of_range(answer: Any) -> None:
    spec = DatasetSpec(examples=[{"question": "q", "options": ["x", "y"], "answer": answer}])
    with pytest.raises(ConfigError, match=r"dataset\.examples\[0\]: answer"):
        mb.load_dataset(spec)


def test_unknown_extension_needs_a_format() -> None:
    message = load_error("data.tsv")
    assert "data.tsv" in message and "'.tsv'" in message and "dataset.format" in message


def test_missing_file() -> None:
    message = load_error("no_such_file.jsonl")
    assert "no_such_file.jsonl" in message and "not found" in message


@pytest.mark.parametrize("name", ["empty.jsonl", "header_only.csv"])
def test_empty_dataset(name: str) -> None:
    message = load_error(name)
    assert name in message and "no examples" in message


def test_empty_json_list_and_inline_examples(tmp_path: Path) -> None:
    path = tmp_path / "empty.json"
    path.write_text("[]", encoding="utf-8")
    assert "no examples" in load_error(path)
    with pytest.raises(ConfigError, match="no examples"):
        mb.load_dataset(DatasetSpec(examples=[]))


def test_json_that_is_not_a_list(tmp_path: Path) -> None:
    path = tmp_path / "scalar.json"
    path.write_text('{"name": "no list here"}', encoding="utf-8")
    assert "expected a JSON list" in load_error(path)


def test_options_field_that_is_not_a_json_list(tmp_path: Path) -> None:
    path = tmp_path / "bad_options.csv"
    path.write_text('question,options,answer\nq,"[""a"", ",A\n', encoding="utf-8")
    message = load_error(path)
    assert "bad_options.csv line 2:" in message and "not a JSON list" in message


def test_bigbench_example_without_target(tmp_path: Path) -> None:
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"examples": [{"input": "q", "target": "a"}, {"input": "q2"}]}))
    message = load_error(path)
    assert "task.json" in message and "examples[1]" in message


# -- BIG-bench files as published (issue 15) ------------------------------------------------


def test_bigbench_repeats_load_with_positional_ids_and_one_warning() -> None:
    with pytest.warns(UserWarning, match=r"2 example\(s\) repeat an earlier one") as caught:
        tasks = load("bigbench_choice_repeats.json")
    assert len([w for w in caught if "repeat" in str(w.message)]) == 1
    assert [t.id for t in tasks] == [f"toy_choice/{i}" for i in range(6)]
    assert tasks[0].question == tasks[2].question == tasks[5].question


def test_bigbench_repeats_load_under_a_limit() -> None:
    with pytest.warns(UserWarning, match="repeat"):
        tasks = load("bigbench_choice_repeats.json", limit=5)
    assert len(tasks) == 5 and all(t.id and t.id.startswith("toy_choice/") for t in tasks)


def test_bigbench_id_from_the_folder_when_the_task_has_no_name(tmp_path: Path) -> None:
    folder = tmp_path / "my_task"
    folder.mkdir()
    body = {"examples": [{"input": "q", "target": "a"}, {"input": "q", "target": "a"}]}
    (folder / "task.json").write_text(json.dumps(body))
    with pytest.warns(UserWarning, match="1 example"):
        tasks = load(folder / "task.json")
    assert [t.id for t in tasks] == ["my_task/0", "my_task/1"]


def test_bigbench_prompt_fields_are_kept_around_the_input() -> None:
    with pytest.warns(UserWarning):
        first = load("bigbench_choice_repeats.json")[0]
    # task_prefix first, then example_input_prefix and the input, then the choice prefix
    # (options follow as lettered lines); the default output prefix "A:" adds nothing.
    assert first.question == "Decide which colour the thing is.\nThing: grass\nColour:"
    assert first.options == ["green", "red", "blue"] and first.references == ["A"]


def test_bigbench_task_prefix_that_is_the_question_reaches_the_prompt() -> None:
    with pytest.warns(UserWarning):
        task = load("bigbench_exact.json")[0]
    assert task.question == (
        "Is the position after these moves checkmate? Answer True or False.\n"
        "1. f3 e5 2. g4 Qh4\nCheckmate (True or False):"
    )
    assert task.options is None and task.references == ["True"]
    prompt = mb.Task(question=task.question, instruction="Solve.").model_dump()
    assert "checkmate?" in prompt["question"]


def _info(path: str | Path, **spec: Any) -> DatasetInfo:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        return load_dataset_info(DatasetSpec(path=str(path), **spec), base_dir=FIXTURES)[1]


def test_bigbench_kind_and_metrics_come_from_the_file(tmp_path: Path) -> None:
    choice = _info("bigbench_choice_repeats.json")
    assert (choice.format, choice.kind, choice.metrics) == (
        "bigbench",
        "multiple_choice",
        ["accuracy"],
    )
    assert choice.repeats == 2
    exact = _info("bigbench_exact.json")
    assert (exact.kind, exact.metrics) == ("short_answer", ["exact_match", "bleu"])
    numeric = tmp_path / "numeric.json"
    numeric.write_text(
        json.dumps(
            {
                "metrics": ["numeric_match_with_0_1_relative_error"],
                "examples": [{"input": "2+2", "target": "4"}],
            }
        )
    )
    assert (_info(numeric).kind, _info(numeric).metrics) == ("math", ["numeric"])
    # Both target_scores and target: preferred_score picks how the task is asked.
    both = {
        "metrics": ["multiple_choice_grade", "exact_str_match"],
        "examples": [{"input": "1+1", "target_scores": {"2": 1, "3": 0}, "target": "2"}],
    }
    for preferred, kind, options in (
        ("exact_str_match", "short_answer", None),
        ("multiple_choice_grade", "multiple_choice", ["2", "3"]),
    ):
        path = tmp_path / f"{preferred}.json"
        path.write_text(json.dumps({**both, "preferred_score": preferred}))
        info = _info(path)
        assert info.kind == kind
        assert load(path)[0].options == options
    # No metrics named: the kind's defaults apply later.
    assert _info("bigbench.json").metrics is None


def test_formats_are_named() -> None:
    assert _info("mc.jsonl").format == "jsonl"
    assert _info("mc_list.csv").format == "csv"
    assert _info("mallm.json").format == "json (MALLM)"
    assert _info("free.json").format == "json"
    assert _info("mc.jsonl").kind is None


def _exact_script(request: Any) -> str:
    if request.config.json_schema is not None:
        return default_script(request)
    if "checkmate" in request.prompt and "Qh4" in request.prompt:
        return "Final Solution: true."
    return "Final Solution: False"


def test_bigbench_file_runs_with_no_task_kind_and_scores_by_exact_match(
    tmp_path: Path, model_seam: Any
) -> None:
    spec = {
        "name": "bb",
        "dataset": {"path": str(FIXTURES / "bigbench_exact.json")},
        "model": model_seam.use(mb.ScriptedModel(_exact_script)),
        "discussion": {"agents": 2, "max_turns": 2},
        "cache": False,
    }
    with pytest.warns(UserWarning, match="repeat"):
        result = mb.run_experiment(spec, out=tmp_path / "run")
    records = mb.load_run(result.run_dir).records
    assert sorted(r.example_id for r in records) == ["toy_exact/0", "toy_exact/1", "toy_exact/2"]
    for r in records:
        assert set(r.scores) == {"exact_match", "bleu"}
        assert r.scores["exact_match"] == 1.0  # "true." matches "True" once normalised
        assert r.result is not None and r.result.task.metadata["task_kind"] == "short_answer"


# -- dataset.shuffle_options ---------------------------------------------------------------

SKEWED = [
    {
        "id": f"q{i}",
        "question": f"Question {i}?",
        "options": [f"right {i}", "wrong x", "wrong y"],
        "answer": "A",
    }
    for i in range(10)
]


def test_shuffle_options_is_seeded_and_references_follow() -> None:
    task = Task(question="q", options=["a", "b", "c", "d"], references=["B"], id="x")
    one, again = shuffle_options(task, 7), shuffle_options(task, 7)
    assert one == again
    assert one.options is not None and sorted(one.options) == ["a", "b", "c", "d"]
    assert one.options[ord(one.references[0]) - ord("A")] == "b"
    assert one.metadata["option_order"] == [task.options.index(o) for o in one.options]  # type: ignore[union-attr]
    orders = {tuple(shuffle_options(task, s).options or []) for s in range(20)}
    assert len(orders) > 3
    free = Task(question="q", references=["x"])
    assert shuffle_options(free, 1) is free


def test_shuffle_options_defaults_off() -> None:
    assert DatasetSpec(examples=SKEWED).shuffle_options is False


def _right_option(request: Any) -> str:
    if request.config.json_schema is not None:
        return default_script(request)
    found = re.search(r"^([A-Z])\) right \d+", request.prompt, re.M)
    return f"Final Solution: {found.group(1) if found else 'Z'}"


def test_shuffled_run_scores_right_and_varies_positions_by_repeat(
    tmp_path: Path, model_seam: Any
) -> None:
    spec = {
        "name": "shuffled",
        "dataset": {"examples": SKEWED, "shuffle_options": True},
        "model": model_seam.use(mb.ScriptedModel(_right_option)),
        "discussion": {"agents": 2, "max_turns": 2},
        "repeats": 2,
        "cache": False,
    }
    result = mb.run_experiment(spec, out=tmp_path / "run")
    records = mb.load_run(result.run_dir).records
    assert len(records) == 20
    assert all(r.scores["accuracy"] == 1.0 for r in records)
    positions = Counter(r.references[0] for r in records)
    assert positions["A"] < 16 and len(positions) == 3  # no longer always first
    by_example: dict[str, set[tuple[str, ...]]] = {}
    for r in records:
        assert r.result is not None and r.result.task.options is not None
        by_example.setdefault(r.example_id, set()).add(tuple(r.result.task.options))
    assert any(len(orders) == 2 for orders in by_example.values())  # per repeat, too
    again = mb.run_experiment(spec, out=tmp_path / "again")
    assert [r.references for r in mb.load_run(again.run_dir).records] == [
        r.references for r in records
    ]


def test_position_skew_names_the_position_and_the_share() -> None:
    tasks = mb.load_dataset(DatasetSpec(examples=SKEWED))
    skew = position_skew(tasks)
    assert skew is not None and (skew.letter, skew.count, skew.total) == ("A", 10, 10)
    assert "A in 10 of 10" in skew.message() and "100%" in skew.message()
    balanced = [dict(r, answer="ABC"[i % 3]) for i, r in enumerate(SKEWED)]
    assert position_skew(mb.load_dataset(DatasetSpec(examples=balanced))) is None
    # Exactly 60% is not more than 60%.
    six = [dict(r, answer="A" if i < 6 else "B") for i, r in enumerate(SKEWED)]
    assert position_skew(mb.load_dataset(DatasetSpec(examples=six))) is None
    seven = [dict(r, answer="B" if i < 7 else "C") for i, r in enumerate(SKEWED)]
    assert position_skew(mb.load_dataset(DatasetSpec(examples=seven))) == PositionSkew(
        letter="B", count=7, total=10
    )


# -- validate --dataset: format, kind, answer shape, metrics, warnings ----------------------

cli = CliRunner()


def test_validate_dataset_prints_format_kind_shape_metrics_and_warnings() -> None:
    out = cli.invoke(app, ["validate", str(FIXTURES / "bigbench_choice_repeats.json"), "--dataset"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "format: bigbench" in text
    assert "task kind: multiple_choice (from the file)" in text
    assert "answer shape: one option letter" in text
    assert "metrics: accuracy (from the file)" in text
    assert "2 example(s) repeat an earlier one" in text
    assert "correct option is A in 5 of 6 multiple-choice examples (83%)" in text
    out = cli.invoke(app, ["validate", str(FIXTURES / "bigbench_exact.json")])
    text = " ".join(out.output.split())
    assert "task kind: short_answer" in text and "metrics: exact_match, bleu" in text
    out = cli.invoke(app, ["validate", str(FIXTURES / "free.json")])
    text = " ".join(out.output.split())
    assert "format: json" in text and "task kind: free_text (from the examples)" in text
    assert "metrics: token_f1, contains (from the task kind)" in text
    assert "warning" not in text


def test_validate_experiment_warns_of_the_position_unless_shuffled(tmp_path: Path) -> None:
    data = tmp_path / "skewed.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in SKEWED))
    for shuffle, expected in (
        (False, "warning: the correct option is A in 10 of 10"),
        (True, "options: shuffled per example and repeat"),
    ):
        exp = tmp_path / f"exp_{shuffle}.yaml"
        exp.write_text(
            yaml.safe_dump(
                {
                    "name": "skew",
                    "dataset": {"path": str(data), "shuffle_options": shuffle},
                    "model": "scripted",
                }
            )
        )
        out = cli.invoke(app, ["validate", str(exp), "--dataset"])
        assert out.exit_code == 0, out.output
        text = " ".join(out.output.split())
        assert expected in text
        assert "task kind: multiple_choice (from the dataset)" in text
        assert "metrics: accuracy (from the task kind)" in text


def test_readme_table_of_task_kinds_matches_the_code() -> None:
    from madebate.runs._experiment import ANSWER_SHAPES, TASK_INSTRUCTIONS
    from madebate.runs._scoring import default_metrics

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    for kind, instruction in TASK_INSTRUCTIONS.items():
        metrics = ", ".join(f"`{m}`" for m in default_metrics(kind))
        row = f"| `{kind}` | {instruction} | {ANSWER_SHAPES[kind]} | {metrics} |"
        assert row in readme, row


# -- number answers, and values that are not text (issue 14, item 6) -----------------------------

NUMBERS = ["1", "2", "3"]


def examples(*rows: dict[str, Any], **spec: Any) -> list[Task]:
    return mb.load_dataset(DatasetSpec(examples=list(rows), **spec))


def examples_error(*rows: dict[str, Any], **spec: Any) -> str:
    with pytest.raises(ConfigError) as info:
        examples(*rows, **spec)
    return str(info.value)


@pytest.mark.parametrize("answer", [3, "3", " 3 "])
def test_a_number_answer_names_the_option_with_that_text_first(answer: Any) -> None:
    # 3 is no index of three options but the text of option C: it scores against "3".
    (task,) = examples({"question": "q", "options": NUMBERS, "answer": answer})
    assert task.references == ["C"]


@pytest.mark.parametrize("answer", [1, "1", 2, "2"])
def test_an_answer_naming_one_option_by_text_and_another_by_index_is_an_error(
    answer: Any, tmp_path: Path
) -> None:
    path = tmp_path / "numbers.jsonl"
    rows = [
        {"id": "a", "question": "q", "options": ["x", "y"], "answer": "B"},
        {"id": "b", "question": "q", "options": NUMBERS, "answer": answer},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    message = load_error(path)
    n = int(answer)
    by_text, by_index = LETTERS[n - 1], LETTERS[n]
    assert message.startswith(f"{path} line 2: answer {answer!r} is ambiguous"), message
    assert f"by its text it is option {by_text} ('{n}')" in message
    assert f"as a 0-based index option {by_index} ('{n + 1}')" in message
    assert "dataset.columns.answer_index" in message


def test_answer_index_says_which_reading_holds() -> None:
    row = {"question": "q", "options": NUMBERS, "answer": "2"}
    assert examples(row, columns={"answer_index": True})[0].references == ["C"]
    assert examples(row, columns={"answer_index": False})[0].references == ["B"]
    # Letters and option text read as before either way; only numbers change.
    letter = {"question": "q", "options": NUMBERS, "answer": "A"}
    assert examples(letter, columns={"answer_index": True})[0].references == ["A"]
    # With a reading fixed, a number that has only the other reading names no option.
    message = examples_error(
        {"question": "q", "options": NUMBERS, "answer": 3}, columns={"answer_index": True}
    )
    assert "answer 3 names no option of the 3" in message
    assert "index 0-2 (columns.answer_index: true)" in message
    assert "an option's text" not in message
    message = examples_error(
        {"question": "q", "options": ["x", "y"], "answer": 1}, columns={"answer_index": False}
    )
    assert "an index" not in message and "columns.answer_index: false" in message


def test_a_file_that_reads_number_answers_both_ways_is_an_error() -> None:
    message = examples_error(
        {"question": "q1", "options": NUMBERS, "answer": 3},  # only option C's text
        {"question": "q2", "options": NUMBERS, "answer": 0},  # only index 0
    )
    assert "read two ways" in message
    assert (
        "dataset.examples[0] (answer 3)" in message and "dataset.examples[1] (answer 0)" in message
    )
    # Options that are not numbers cannot be confused: an index is an index there.
    tasks = examples(
        {"question": "q1", "options": NUMBERS, "answer": 3},
        {"question": "q2", "options": ["x", "y"], "answer": 0},
    )
    assert [t.references for t in tasks] == [["C"], ["A"]]


def test_number_answers_over_other_options_are_indexes_as_before() -> None:
    (task,) = examples({"question": "q", "options": CITIES, "answer": 2})
    assert task.references == ["C"]
    # An option text that is also a valid index, pointing at itself, is not ambiguous.
    (task,) = examples({"question": "q", "options": ["0", "x", "y"], "answer": 0})
    assert task.references == ["A"]


def test_option_labels_name_the_answer(tmp_path: Path) -> None:
    # ARC on the hub labels some questions 1-4: answerKey "1" is the first option, not index 1.
    arc = {"label": ["1", "2", "3", "4"], "text": ["iron", "oxygen", "salt", "gold"]}
    (task,) = examples(
        {"question": "q", "choices": arc, "answerKey": "1"},
        columns={"options": "choices", "answer": "answerKey"},
    )
    assert task.options == ["iron", "oxygen", "salt", "gold"] and task.references == ["A"]
    (task,) = examples({"question": "q", "options": {"A": "iron", "B": "oxygen"}, "answer": "B"})
    assert task.options == ["iron", "oxygen"] and task.references == ["B"]


def test_hf_rows_take_the_same_path(hf_datasets: Any, tmp_path: Path) -> None:
    rows = [
        {"id": "h1", "question": "q", "options": NUMBERS, "answer": "3"},
        {"id": "h2", "question": "q", "options": NUMBERS, "answer": "2"},
    ]
    hf_datasets.Dataset.from_list(rows).save_to_disk(str(tmp_path / "numbers"))
    spec = DatasetSpec(path=str(tmp_path / "numbers"), format="hf")
    with pytest.raises(ConfigError, match=r"numbers row 1: answer '2' is ambiguous"):
        mb.load_dataset(spec)
    spec = spec.model_copy(update={"columns": ColumnMap(answer_index=False)})
    assert [t.references for t in mb.load_dataset(spec)] == [["C"], ["B"]]
    # A MALLM-format dataset on the hub reads as MALLM's files do.
    mallm = [{"example_id": "m1", "inputs": "Pick one.\nA) yes\nB) no", "references": ["A"]}]
    hf_datasets.Dataset.from_list(mallm).save_to_disk(str(tmp_path / "mallm"))
    (task,) = mb.load_dataset(DatasetSpec(path=str(tmp_path / "mallm"), format="hf"))
    assert (task.id, task.question, task.options) == ("m1", "Pick one.", ["yes", "no"])


def test_mallm_inputs_given_as_one_text_are_text(tmp_path: Path) -> None:
    rows = [
        {"example_id": "s1", "inputs": "In what year was the tower built?", "references": "1889"},
        {"example_id": "s2", "inputs": "Pick one.\nA) yes\nB) no", "references": ["B"]},
    ]
    for path in (tmp_path / "mallm.json", tmp_path / "mallm.jsonl"):
        text = (
            json.dumps(rows)
            if path.suffix == ".json"
            else "".join(json.dumps(r) + "\n" for r in rows)
        )
        path.write_text(text, encoding="utf-8")
        free, choice = load(path)
        assert free.question == "In what year was the tower built?"  # not one letter a line
        assert free.references == ["1889"]
        assert (choice.question, choice.options, choice.references) == (
            "Pick one.",
            ["yes", "no"],
            ["B"],
        )


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({"question": {"text": "q"}}, "field 'question' is an object, not text"),
        ({"question": ["q", "r"]}, "field 'question' is a list, not text"),
        ({"question": "q", "options": None}, "field 'options' is null"),
        ({"question": "q", "options": ["a", None]}, "field 'options[1]' is null, not text"),
        ({"question": "q", "options": ["a", {"t": "b"}]}, "field 'options[1]' is an object"),
        ({"question": "q", "options": ["a", ["b"]]}, "field 'options[1]' is a list"),
        ({"question": "q", "options": 3}, "field 'options' is a number"),
        (
            {"question": "q", "options": "a or b"},
            "field 'options' is a text ('a or b'), not a list",
        ),
        ({"question": "q", "answer": {"t": 1}}, "field 'answer' is an object"),
        ({"question": "q", "answer": ["a", None]}, "field 'answer[1]' is null"),
        ({"question": "q", "context": {"p": 1}}, "field 'context' is an object"),
        ({"question": "q", "id": {"n": 1}}, "field 'id' is an object"),
    ],
)
def test_values_that_are_not_text_fail_naming_the_field(row: dict[str, Any], expected: str) -> None:
    message = examples_error(row)
    assert message.startswith("dataset.examples[0]: "), message
    assert expected in message, message
    assert "{'" not in message  # never a Python repr of the value


def test_option_columns_that_are_not_text_fail_naming_the_column() -> None:
    message = examples_error(
        {"question": "q", "opa": "x", "opb": {"t": "y"}}, columns={"options": ["opa", "opb"]}
    )
    assert "field 'opb' (an option) is an object" in message


def test_context_given_as_a_list_of_texts_is_joined() -> None:
    (task,) = examples({"question": "q", "context": ["First line.", "Second line."]})
    assert task.context == "First line.\nSecond line."


def test_a_short_csv_row_leaves_fields_missing_not_null(tmp_path: Path) -> None:
    path = tmp_path / "short.csv"
    path.write_text('question,options,answer\n"Largest ocean?"\n', encoding="utf-8")
    (task,) = load(path)
    assert task.options is None and task.references == []


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ({"input": ["a"], "target": "x"}, "examples[0]: field 'input' is a list, not text"),
        ({"input": "a", "target": {"t": 1}}, "examples[0]: field 'target' is an object"),
        ({"input": "a", "target": ["x", None]}, "examples[0]: field 'target' is null"),
        (
            {"input": "a", "target_scores": {"x": 1, "y": None}},
            "field 'target_scores.y' is null; a score must be a number",
        ),
    ],
)
def test_bigbench_values_that_are_not_text_fail(
    example: dict[str, Any], expected: str, tmp_path: Path
) -> None:
    path = tmp_path / "task.json"
    path.write_text(json.dumps({"name": "t", "examples": [example]}), encoding="utf-8")
    message = load_error(path, format="bigbench")
    assert expected in message and str(path) in message


def test_answer_index_is_documented_in_the_schema_and_the_readme() -> None:
    schema = ColumnMap.model_json_schema()
    text = " ".join(schema["properties"]["answer_index"]["description"].split())
    assert "as a 0-based option index" in text and "is an error naming the line" in text
    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "answer_index" in readme


def test_true_and_false_read_as_text_where_they_did() -> None:
    # BoolQ gives its answers as true and false.
    (task,) = examples({"question": "Is the sky blue?", "answer": True})
    assert task.references == ["True"]
    (task,) = examples({"question": "q", "options": [True, False], "answer": "A"})
    assert task.options == ["True", "False"]


def test_inline_examples_in_mallm_format_read_as_files_do() -> None:
    (task,) = examples(
        {"example_id": "m1", "inputs": "Pick one.\nA) yes\nB) no", "references": "B"}
    )
    assert (task.id, task.question, task.options, task.references) == (
        "m1",
        "Pick one.",
        ["yes", "no"],
        ["B"],
    )
    message = examples_error({"example_id": "m2", "inputs": [None], "references": []})
    assert "dataset.examples[0]: field 'inputs[0]' is null, not text" in message
