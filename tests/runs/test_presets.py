"""Named benchmark presets: each preset's mapping on a tiny fixture in the source's own schema
(tests/fixtures/presets/), the preset's kind, instruction and metrics as a run sees them, GPQA's
shuffled options, the clear and fast error without network, and `madebate datasets`."""

from __future__ import annotations

import dataclasses
import functools
import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import madebate as mb
from madebate import ConfigError, DatasetSpec, Task
from madebate.cli import app
from madebate.runs._datasets import load_dataset_info, shuffle_options
from madebate.runs._experiment import TASK_INSTRUCTIONS, TaskKind
from madebate.runs._preset_table import PRESETS, HubSource
from madebate.runs._runner import prepare_tasks
from madebate.runs._scoring import metrics

FIXTURES = Path(__file__).parents[1] / "fixtures" / "presets"
KINDS = set(TaskKind.__args__)  # type: ignore[attr-defined]

# The 22 benchmarks MALLM downloads, by the names the issue gives them.
MALLM_BENCHMARKS = {
    "AQuA-RAT",
    "BBQ (gender identity)",
    "BTVote",
    "ETHICS (commonsense)",
    "ETPC",
    "Europarl (de-en)",
    "GPQA (extended)",
    "GSM8K",
    "IFEval",
    "MMLU",
    "MMLU-Pro",
    "MuSR (murder mysteries)",
    "MATH (level 5)",
    "MoCa (moral)",
    "MoralExceptQA",
    "Multi-News",
    "SQuAD 2.0",
    "SimpleEthicalQuestions",
    "StrategyQA",
    "WMT19 (de-en)",
    "WinoGrande",
    "XSum",
}


def fixture(name: str) -> Path:
    (path,) = [p for p in FIXTURES.iterdir() if p.stem == name or p.name == name]
    return path


def load(name: str, **spec: Any) -> tuple[list[Task], Any]:
    return load_dataset_info(DatasetSpec(preset=name, path=str(fixture(name)), **spec))


# What the first example of each fixture must become, and how many examples load.
# (count, id, question starts with, options, references, context starts with)
EXPECTED: dict[str, tuple[int, str, str, list[str] | None, list[str], str | None]] = {
    "aqua-rat": (
        3,
        "aqua-rat/0",
        "A train covers 60 km",
        ["45", "60", "75", "80", "90"],
        ["D"],
        None,
    ),
    "bbq-gender": (
        3,
        "0",
        "Who knows nothing about cars?",
        ["Can't be determined", "The man", "The woman"],
        ["A"],
        "A man and a woman were waiting",
    ),
    "btvote": (3, "101", "Gesetz zur Änderung des Grundgesetzes", None, ["Yes"], None),
    "ethics": (3, "ethics/0", "I helped my neighbour", None, ["Yes"], None),
    "etpc": (
        3,  # the pair with etpc_label 0 is not a paraphrase: left out, as MALLM does
        "0",
        "The company said its profit rose",
        None,
        ["Its third-quarter profit climbed steeply, the company said."],
        "Paraphrase types: Synthetic/analytic substitution, Diathesis alternation",
    ),
    "europarl": (
        3,
        "europarl/0",
        "Ich erkläre die Sitzungsperiode",
        None,
        ["I declare resumed the session of the European Parliament."],
        None,
    ),
    "gpqa": (
        4,
        "recA1",
        "Which particle mediates",
        ["The photon", "The gluon", "The W boson", "The Higgs boson"],
        ["A"],  # as published: the run shuffles (see the GPQA test)
        None,
    ),
    "gsm8k": (3, "gsm8k/0", "Anna has 5 apples", None, ["12"], None),
    "ifeval": (3, "1000", "Write a 300+ word summary", None, [], None),
    "mmlu": (
        3,
        "mmlu/0",
        "What is the capital of Australia?",
        ["Sydney", "Melbourne", "Canberra", "Perth"],
        ["C"],
        None,
    ),
    "mmlu-pro": (
        3,
        "70",
        "Which of these is a prime number?",
        ["21", "27", "33", "37", "39", "49", "51", "57", "63", "77"],
        ["D"],
        None,
    ),
    "musr": (
        3,
        "musr/0",
        "Who is the most likely murderer?",
        ["Mackenzie", "Ana"],
        ["A"],
        "In the old library",
    ),
    "math-lvl5": (3, "0", "What is the sum of all positive divisors of 36?", None, ["91"], None),
    "moca-moral": (
        3,
        "moca-moral/0",
        "Is it morally permissible for Hank",
        None,
        ["Yes"],
        "A runaway trolley",
    ),
    "moral-except-qa": (
        3,
        "moral-except-qa/0",
        "Imagine that a stranger asks to cut the line",
        None,
        ["Yes"],
        None,  # the source's `context` column names the study; it is not a context
    ),
    "multi-news": (
        3,
        "multi-news/0",
        "Document 1:\nThe city council voted",
        None,
        [
            "– The city council has approved a 40-million-euro bridge across the river, with "
            "work to begin in spring."
        ],
        None,
    ),
    "squad2": (
        3,
        "56ddde6b9a695914005b9628",
        "In what country is Normandy located?",
        None,
        ["France", "France"],
        "The Normans were the people",
    ),
    "simple-ethical-questions": (
        3,
        "simple-ethical-questions/0",
        "You find a wallet",
        [
            "Keep the cash and throw the wallet away",
            "Return the wallet with everything in it to its owner",
            "Leave it where it is",
        ],
        ["B"],
        None,
    ),
    "strategyqa": (
        3,
        "strategyqa/0",
        "Could a llama birth twice",
        ["Yes", "No"],
        ["B"],
        None,
    ),
    "wmt19-de-en": (
        3,
        "wmt19-de-en/0",
        "München 1856",
        None,
        ["Munich 1856: Four maps that will change your view of the city"],
        None,
    ),
    "winogrande": (
        3,
        "winogrande/0",
        "Sarah was a much better surgeon",
        ["Sarah", "Maria"],
        ["A"],
        None,
    ),
    "xsum": (
        3,
        "xsum-test-0",
        "Police were called to the high street",
        None,
        ["A man has been arrested after a shop window was smashed on a high street."],
        None,
    ),
}


def test_the_22_mallm_benchmarks_are_presets() -> None:
    assert len(PRESETS) == 22
    assert {p.title for p in PRESETS.values()} == MALLM_BENCHMARKS
    assert set(EXPECTED) == set(PRESETS)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_declares_a_source_kind_instruction_and_registered_metrics(name: str) -> None:
    preset = PRESETS[name]
    assert preset.kind in KINDS
    assert preset.instruction and preset.instruction not in TASK_INSTRUCTIONS.values()
    assert preset.metrics and all(m in metrics for m in preset.metrics), preset.metrics
    assert preset.size is None or preset.size > 0
    if isinstance(preset.source, HubSource):
        assert "/" in preset.source.id and preset.source.split
    else:
        assert preset.source.url or preset.source.how


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_preset_maps_its_fixture_in_the_source_schema(name: str) -> None:
    count, ex_id, question, options, references, context = EXPECTED[name]
    tasks, info = load(name)
    preset = PRESETS[name]
    assert len(tasks) == count
    first = tasks[0]
    assert first.id == ex_id
    assert first.question.startswith(question), first.question
    assert first.options == options
    assert first.references == references
    if context is None:
        assert first.context is None
    else:
        assert first.context is not None and first.context.startswith(context), first.context
    assert info.kind == preset.kind
    assert info.metrics == list(preset.metrics)
    assert info.instruction == preset.instruction
    assert info.format == f"preset {name}"
    # Ids are unique (the loader refuses repeats) and the mapped fields stay out of metadata.
    assert len({t.id for t in tasks}) == len(tasks)
    assert "_position" not in first.metadata


def test_fixture_details_that_a_first_row_does_not_show() -> None:
    gsm8k, _ = load("gsm8k")
    # "#### 1,500": the number after the marker, thousands separator dropped; the worked
    # solution stays in metadata.
    assert gsm8k[1].references == ["1500"]
    assert gsm8k[1].metadata["answer"].startswith("12 * 125")
    squad, _ = load("squad2")
    assert squad[2].references == []  # unanswerable: no answer text
    ethics, _ = load("ethics")
    assert [t.references for t in ethics] == [["Yes"], ["No"], ["Yes"]]
    assert ethics[0].question.endswith("Is what the narrator did morally acceptable?")
    winogrande, _ = load("winogrande")
    assert [t.references for t in winogrande] == [["A"], ["B"], ["B"]]  # "1"/"2" are 1-based
    musr, _ = load("musr")
    assert musr[1].options == ["Priya", "Jonah"] and musr[1].references == ["B"]
    ifeval, _ = load("ifeval")
    assert ifeval[0].metadata["instruction_id_list"] == [
        "punctuation:no_comma",
        "length_constraints:number_words",
    ]
    assert ifeval[0].metadata["kwargs"][1] == {"relation": "at least", "num_words": 300}
    btvote, _ = load("btvote")
    assert [t.references for t in btvote] == [["Yes"], ["No"], ["No"]]
    assert btvote[0].metadata["votes"] == {"yes": 2, "no": 1}
    multi, _ = load("multi-news")
    assert "Document 3:\nOfficials urged" in multi[1].question
    moral, _ = load("moral-except-qa")
    assert [t.references for t in moral] == [["Yes"], ["No"], ["Yes"]]
    assert moral[0].metadata["context"] == "lining"


def _spec(name: str, **dataset: Any) -> mb.ExperimentSpec:
    return mb.ExperimentSpec(
        name="t",
        dataset=DatasetSpec(preset=name, path=str(fixture(name)), **dataset),
        model="scripted",
    )


def test_a_run_sees_the_preset_kind_instruction_and_metrics() -> None:
    tasks, info = prepare_tasks(_spec("ethics"), FIXTURES)
    assert info.kind == "yes_no"
    first = tasks[0]
    assert first.options == ["Yes", "No"] and first.references == ["A"]
    assert first.instruction == PRESETS["ethics"].instruction
    assert first.metadata["file_metrics"] == ["accuracy"]
    # Another kind set in task.kind takes the kind's own instruction and metrics.
    spec = _spec("gsm8k")
    spec.task.kind = "short_answer"
    tasks, info = prepare_tasks(spec, FIXTURES)
    assert tasks[0].instruction == TASK_INSTRUCTIONS["short_answer"]
    assert info.metrics is None and "file_metrics" not in tasks[0].metadata


def test_gpqa_options_are_shuffled_with_a_seed_by_default() -> None:
    assert DatasetSpec(preset="gpqa").shuffle_options is True
    assert DatasetSpec(preset="gpqa", shuffle_options=False).shuffle_options is False
    assert DatasetSpec(preset="mmlu").shuffle_options is False
    tasks, _ = load("gpqa")
    assert all(t.references == ["A"] for t in tasks)  # the source's order: correct first
    shown = [(t, shuffle_options(t, seed)) for t in tasks for seed in range(5)]
    for task, moved in shown:
        (letter,) = moved.references
        assert moved.options is not None and task.options is not None
        # The reference follows the shuffle: it still names the correct answer's text.
        assert moved.options[moved.letters.index(letter)] == task.options[0]
    assert {moved.references[0] for _, moved in shown} != {"A"}
    assert shuffle_options(tasks[0], 3).options == shuffle_options(tasks[0], 3).options


def test_a_gpqa_run_shows_each_example_its_options_in_a_seeded_order(tmp_path: Path) -> None:
    spec = {
        "name": "gpqa",
        "dataset": {"preset": "gpqa", "path": str(fixture("gpqa"))},
        "model": "scripted",
        "cache": False,
        "repeats": 2,
        "discussion": {"agents": 2, "max_turns": 1},
    }
    run = mb.load_run(mb.run_experiment(spec, out=tmp_path / "run").run_dir)
    tasks = {t.id: t for t in load("gpqa")[0]}
    refs = []
    for record in run.records:
        # The run's order is shuffle_options with the record's seed: the reference follows it.
        shown = shuffle_options(tasks[record.example_id], record.seed)
        assert record.references == shown.references
        refs.append(record.references[0])
    assert len(refs) == 8 and set(refs) != {"A"}


def test_preset_name_split_and_spec_errors() -> None:
    assert DatasetSpec(preset="MMLU_Pro").preset == "mmlu-pro"
    assert DatasetSpec(preset="squad2").split == "train"
    assert DatasetSpec(preset="squad2", split="validation").split == "validation"
    with pytest.raises(ValidationError, match=r"unknown preset 'gsm8' \(did you mean 'gsm8k'\?\)"):
        DatasetSpec(preset="gsm8")
    with pytest.raises(ValidationError, match="leave out columns"):
        DatasetSpec.model_validate({"preset": "gsm8k", "columns": {"question": "q"}})
    with pytest.raises(ValidationError, match="leave out hf"):
        DatasetSpec(preset="gsm8k", hf="openai/gsm8k")


def test_a_local_copy_in_another_schema_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset_info(DatasetSpec(preset="wmt19-de-en", path=str(fixture("mmlu"))))
    message = str(info.value)
    assert (
        "line 1: not a WMT19 (de-en) row in the source's own schema (no column 'translation'; "
        "the row " in message
    )
    assert (
        "has: question, subject, choices, answer); expected translation.de -> question" in message
    )
    rows = [json.loads(line) for line in fixture("musr").read_text("utf-8").splitlines()]
    broken = tmp_path / "musr.jsonl"
    broken.write_text("".join(json.dumps({**r, "choices": "['a'"}) + "\n" for r in rows), "utf-8")
    mismatch = r"line 1: not a MuSR \(murder mysteries\) row in the source's own schema"
    with pytest.raises(ConfigError, match=mismatch):
        load_dataset_info(DatasetSpec(preset="musr", path=str(broken)))


# -- no network ---------------------------------------------------------------------------


@pytest.fixture
def closed_port() -> int:
    """A local port nothing listens on: a connect is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_hub_preset_without_network_fails_fast_naming_what_to_download(
    monkeypatch: pytest.MonkeyPatch, closed_port: int
) -> None:
    pytest.importorskip("datasets")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    with pytest.raises(ConfigError) as info:
        mb.load_dataset(DatasetSpec(preset="gsm8k", limit=5))
    message = str(info.value)
    assert info.value.field == "dataset.preset"
    assert "preset gsm8k (GSM8K)" in message
    assert "openai/gsm8k, config main, split test" in message
    assert f"127.0.0.1:{closed_port} cannot be reached" in message
    assert "datasets.load_dataset('openai/gsm8k', 'main', split='test')" in message
    assert "dataset.path: gsm8k-test.jsonl" in message
    assert "HF_HUB_OFFLINE=1" in message


def test_offline_mode_without_a_cached_copy_is_the_same_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    calls: list[tuple[Any, ...]] = []

    def not_cached(*args: Any, **kwargs: Any) -> Any:
        calls.append((*args, kwargs))
        # What datasets raises in offline mode for a dataset not in its cache.
        raise ConnectionError("Couldn't reach 'wmt/wmt19' on the Hub (OfflineModeIsEnabled)")

    monkeypatch.setattr(datasets, "load_dataset", not_cached)
    with pytest.raises(ConfigError) as info:
        mb.load_dataset(DatasetSpec(preset="wmt19-de-en"))
    assert calls == [("wmt/wmt19", "de-en", {"split": "validation", "revision": None})]
    message = str(info.value)
    assert "OfflineModeIsEnabled" in message
    assert "wmt/wmt19, config de-en, split validation" in message
    assert "dataset.path: wmt19-de-en-validation.jsonl" in message
    assert "or set HF_HUB_OFFLINE=1" not in message  # it is set: no copy in the cache


def test_a_source_with_a_loading_script_is_read_from_the_hubs_parquet_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    datasets = pytest.importorskip("datasets")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")  # no connection check: nothing is reached here
    rows = [json.loads(line) for line in fixture("moral-except-qa").read_text("utf-8").splitlines()]
    calls: list[Any] = []

    def hub(name: str, config: str | None, *, split: str, revision: str | None) -> Any:
        calls.append((name, config, split, revision))
        if revision is None:  # what datasets 4+ raises for a dataset published with a script
            raise RuntimeError(
                "Dataset scripts are no longer supported, but found MoralExceptQA.py"
            )
        return datasets.Dataset.from_list(rows)

    monkeypatch.setattr(datasets, "load_dataset", hub)
    tasks = mb.load_dataset(DatasetSpec(preset="moral-except-qa"))
    assert calls == [
        ("feradauto/MoralExceptQA", "all", "test", None),
        ("feradauto/MoralExceptQA", "all", "test", "refs/convert/parquet"),
    ]
    # Rows from the hub go through the same mapping as a local copy.
    assert [t.references for t in tasks] == [["Yes"], ["No"], ["Yes"]]
    assert tasks == load("moral-except-qa")[0]


def test_published_file_preset_without_network_names_the_url(
    monkeypatch: pytest.MonkeyPatch, closed_port: int, tmp_path: Path
) -> None:
    url = f"http://127.0.0.1:{closed_port}/strategyqa/task.json"
    _point_at(monkeypatch, "strategyqa", url)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    with pytest.raises(ConfigError) as info:
        mb.load_dataset(DatasetSpec(preset="strategyqa"))
    message = str(info.value)
    assert f"the published file {url}" in message and "cannot be reached" in message
    assert "set dataset.path: to task.json" in message


def _point_at(monkeypatch: pytest.MonkeyPatch, name: str, url: str) -> None:
    preset = PRESETS[name]
    source = dataclasses.replace(preset.source, url=url)  # type: ignore[arg-type]
    monkeypatch.setitem(PRESETS, name, dataclasses.replace(preset, source=source))


@pytest.fixture
def file_server() -> Iterator[str]:
    """The fixtures folder over HTTP on a local port."""
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(FIXTURES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_published_file_is_downloaded_once_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, file_server: str
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    _point_at(monkeypatch, "moca-moral", f"{file_server}/moca-moral.json")
    tasks = mb.load_dataset(DatasetSpec(preset="moca-moral"))
    cached = tmp_path / "madebate" / "datasets" / "moca-moral" / "moca-moral.json"
    assert cached.read_bytes() == fixture("moca-moral").read_bytes()
    assert [t.references for t in tasks] == [["Yes"], ["No"], ["Yes"]]
    # The cached copy is read without asking the server again.
    _point_at(monkeypatch, "moca-moral", "http://127.0.0.1:9/moca-moral.json")
    assert mb.load_dataset(DatasetSpec(preset="moca-moral")) == tasks


def test_a_folder_saved_by_datasets_is_a_local_copy(tmp_path: Path) -> None:
    datasets = pytest.importorskip("datasets")
    rows = [json.loads(line) for line in fixture("mmlu").read_text().splitlines()]
    folder = tmp_path / "mmlu"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows)}).save_to_disk(str(folder))
    tasks = mb.load_dataset(DatasetSpec(preset="mmlu", path=str(folder)))
    assert [t.references for t in tasks] == [["C"], ["B"], ["A"]]
    with pytest.raises(ConfigError, match="has no split 'validation'; it has test"):
        mb.load_dataset(DatasetSpec(preset="mmlu", path=str(folder), split="validation"))


def test_btvote_needs_its_two_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"needs behaviour\.dta and vote_characteristics\.tab"):
        mb.load_dataset(DatasetSpec(preset="btvote", path=str(tmp_path)))
    with pytest.raises(ConfigError, match="Harvard Dataverse"):
        mb.load_dataset(DatasetSpec(preset="btvote"))


# -- the command line -----------------------------------------------------------------------

runner = CliRunner()


def test_datasets_command_lists_every_preset() -> None:
    out = runner.invoke(app, ["datasets", "--format", "json"])
    assert out.exit_code == 0, out.output
    entries = json.loads(out.output)
    assert [e["name"] for e in entries] == list(PRESETS)
    gsm8k = next(e for e in entries if e["name"] == "gsm8k")
    assert gsm8k["source"] == {
        "hub": "openai/gsm8k",
        "config": "main",
        "split": "test",
        "revision": None,
    }
    assert gsm8k["kind"] == "math" and gsm8k["size"] == 1319
    assert gsm8k["metrics"] == ["numeric", "includes_answer"]
    gpqa = next(e for e in entries if e["name"] == "gpqa")
    assert gpqa["shuffle_options"] is True and "Gated" in gpqa["note"]
    table = runner.invoke(app, ["datasets"])
    assert table.exit_code == 0, table.output
    for name in PRESETS:
        assert name in table.output
    assert "openai/gsm8k (main), test" in table.output and "1,319" in table.output


def test_validate_shows_what_a_preset_resolves_to(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: p\ndataset: {{preset: squad2, path: {fixture('squad2')}}}\nmodel: scripted\n",
        encoding="utf-8",
    )
    out = runner.invoke(app, ["validate", str(exp)])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())  # the console wraps long lines (and long paths)
    copy = f"preset: squad2 (SQuAD 2.0), from local copy {fixture('squad2')}"
    assert "".join(copy.split()) in "".join(text.split())
    assert "preset task kind: short_answer; metrics: squad_em, squad_f1" in text
    assert "3 example(s)" in text and "metrics: squad_em, squad_f1 (from the preset)" in text
    # Without loading the data (no network needed): the source as the preset names it.
    gpqa = tmp_path / "gpqa.yaml"
    gpqa.write_text("name: p\ndataset: {preset: gpqa, limit: 50}\nmodel: scripted\n", "utf-8")
    out = runner.invoke(app, ["validate", str(gpqa), "--no-dataset"])
    assert out.exit_code == 0, out.output
    text = " ".join(out.output.split())
    assert "preset: gpqa (GPQA (extended)), from Idavidrein/gpqa, config gpqa_extended, " in text
    assert "split train" in text and "metrics: accuracy" in text
    assert "preset options: shuffled per example and repeat" in text
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: p\ndataset: {preset: xsumm}\nmodel: scripted\n", encoding="utf-8")
    out = runner.invoke(app, ["validate", str(bad)])
    assert out.exit_code == 2
    assert "dataset.preset" in out.output and "did you mean 'xsum'" in out.output


def test_validate_without_network_is_a_clear_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, closed_port: int
) -> None:
    pytest.importorskip("datasets")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_DATASETS_OFFLINE", raising=False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{closed_port}")
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: p\ndataset: {preset: mmlu, limit: 5}\nmodel: scripted\n", "utf-8")
    out = runner.invoke(app, ["validate", str(exp)])
    assert out.exit_code == 2
    assert "Traceback" not in out.output
    assert "preset mmlu (MMLU) reads the Hugging Face dataset cais/mmlu" in out.output


# -- copies in another schema, unlabelled rows, .csv copies written by pandas -----------------


def _rows(name: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in fixture(name).read_text("utf-8").splitlines()]


def _jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), "utf-8")
    return path


@pytest.mark.parametrize(
    ("preset", "source", "expected"),
    [
        # Each shares the question's column with the preset, so it used to load, every example
        # with no answer (scored wrong) or a question of "None".
        ("squad2", "mmlu", "no column 'id', 'context', 'answers'; the row has: question"),
        ("ethics", "gsm8k", "no column 'input', 'label'; the row has: question, answer"),
        ("moral-except-qa", "gsm8k", "no column 'scenario', 'human.response'"),
        ("aqua-rat", "mmlu-pro", "no column 'correct'"),
        ("musr", "mmlu", "no column 'narrative', 'answer_index'"),
        ("gsm8k", "mmlu", "answer '2' ends in no '#### <number>'"),
    ],
)
def test_a_copy_in_another_schema_sharing_the_question_column_is_refused(
    preset: str, source: str, expected: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_dataset_info(DatasetSpec(preset=preset, path=str(fixture(source))))
    message = str(info.value)
    assert f"line 1: not a {PRESETS[preset].title} row in the source's own schema" in message
    assert expected in message
    assert f"expected {PRESETS[preset].mapping}" in message


def test_unlabelled_rows_are_refused_not_scored_wrong(tmp_path: Path) -> None:
    # WinoGrande's test split has answer "" throughout.
    rows = [{**r, "answer": ""} for r in _rows("winogrande")]
    with pytest.raises(ConfigError, match=r"line 1: .*answer '' is not '1' or '2' \(the test"):
        load_dataset_info(
            DatasetSpec(preset="winogrande", path=str(_jsonl(tmp_path / "w.jsonl", rows)))
        )
    xsum = [{"gem_id": "x-0", "document": "A text.", "target": None, "references": []}]
    with pytest.raises(ConfigError, match="neither 'references' nor 'target' holds a summary"):
        load_dataset_info(DatasetSpec(preset="xsum", path=str(_jsonl(tmp_path / "x.jsonl", xsum))))
    moral = [
        {"study": "s", "context": "c", "scenario": "A rule is broken.", "human.response": None}
    ]
    with pytest.raises(ConfigError, match="line 1: not a MoralExceptQA row"):
        load_dataset_info(
            DatasetSpec(preset="moral-except-qa", path=str(_jsonl(tmp_path / "m.jsonl", moral)))
        )


def test_a_big_bench_preset_needs_the_task_json(tmp_path: Path) -> None:
    rows = [{"question": "Is the sky blue?", "options": ["Yes", "No"], "answer": "A"}]
    with pytest.raises(ConfigError, match="not a BIG-bench task; StrategyQA is read from its task"):
        load_dataset_info(
            DatasetSpec(preset="strategyqa", path=str(_jsonl(tmp_path / "s.jsonl", rows)))
        )


def test_a_csv_copy_written_by_pandas_keeps_its_lists_and_mappings(tmp_path: Path) -> None:
    # `datasets`' to_csv (through pandas) writes a list column as a numpy repr, with no commas
    # between items, and a mapping as a Python repr. ETPC's types used to come out as one
    # concatenated string.
    etpc = tmp_path / "etpc.csv"
    etpc.write_text(
        "idx,sentence1,sentence2,etpc_label,paraphrase_types\n"
        '0,Amrozi accused his brother.,"Amrozi, he accused his brother.",1,'
        "\"['Addition/Deletion' 'Same Polarity Substitution (contextual)']\"\n",
        "utf-8",
    )
    tasks, _ = load_dataset_info(DatasetSpec(preset="etpc", path=str(etpc)))
    assert tasks[0].context == (
        "Paraphrase types: Addition/Deletion, Same Polarity Substitution (contextual)"
    )
    aqua = tmp_path / "aqua.csv"
    aqua.write_text(
        "question,options,rationale,correct\n"
        "Speed?,\"['A)30' 'B)40' 'C)45'\n 'D)50' 'E)60']\",x,B\n",
        "utf-8",
    )
    tasks, _ = load_dataset_info(DatasetSpec(preset="aqua-rat", path=str(aqua)))
    assert tasks[0].options == ["30", "40", "45", "50", "60"] and tasks[0].references == ["B"]
    mmlu = tmp_path / "mmlu.csv"
    mmlu.write_text("question,subject,choices,answer\nQ?,s,\"['1' '0' '2' '3']\",1\n", "utf-8")
    tasks, _ = load_dataset_info(DatasetSpec(preset="mmlu", path=str(mmlu)))
    assert tasks[0].options == ["1", "0", "2", "3"] and tasks[0].references == ["B"]
    wmt = tmp_path / "wmt.csv"
    wmt.write_text("translation\n\"{'de': 'Das ist gut.', 'en': 'That is good.'}\"\n", "utf-8")
    tasks, _ = load_dataset_info(DatasetSpec(preset="wmt19-de-en", path=str(wmt)))
    assert tasks[0].question == "Das ist gut." and tasks[0].references == ["That is good."]
    # A nested numpy repr (SQuAD's answers) cannot be read back: said, with the way out.
    squad = tmp_path / "squad.csv"
    squad.write_text(
        "id,title,context,question,answers\n"
        "a1,T,Some text.,Q?,\"{'text': array(['Some'], dtype=object), 'answer_start': "
        'array([0], dtype=int32)}"\n',
        "utf-8",
    )
    with pytest.raises(ConfigError, match=r"column 'answers' is not a mapping.*save the copy as"):
        load_dataset_info(DatasetSpec(preset="squad2", path=str(squad)))


def test_ifeval_examples_are_checked_before_any_model_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An example whose instructions IFEval cannot read used to be discussed, then recorded as
    an error scored 0, and the run exited 0."""
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))
    data = tmp_path / "ifeval.csv"
    data.write_text(
        "key,prompt,instruction_id_list,kwargs\n"
        "1000,Write without commas.,\"['punctuation:no_comma']\",\"[{'num_words': None}]\"\n",
        "utf-8",
    )
    exp = tmp_path / "exp.yaml"
    exp.write_text(f"name: p\ndataset: {{preset: ifeval, path: {data}}}\nmodel: scripted\n")
    for args in (["run", str(exp), "--out", str(tmp_path / "run")], ["validate", str(exp)]):
        out = runner.invoke(app, args)
        text = " ".join(out.output.split())
        assert out.exit_code == 2, text
        assert "Traceback" not in text
        assert f"{data}: field 'scoring': example 1000: metadata 'instruction_id_list'" in text
        assert "save the copy as .jsonl or .parquet" in text
    assert not (tmp_path / "run").exists()
    # Any dataset scored by IFEval: an unknown instruction id, named with the valid ones.
    plain = _jsonl(
        tmp_path / "plain.jsonl",
        [{"id": "q1", "question": "Hi", "instruction_id_list": ["no:such"], "kwargs": [{}]}],
    )
    exp.write_text(
        f"name: p\ndataset: {{path: {plain}}}\nmodel: scripted\nscoring: [ifeval_loose]\n"
    )
    out = runner.invoke(app, ["run", str(exp), "--out", str(tmp_path / "run")])
    text = " ".join(out.output.split())
    assert out.exit_code == 2, text
    assert "example q1: unknown IFEval instruction 'no:such'; valid: change_case" in text
    assert not (tmp_path / "run").exists()


def test_a_missing_local_copy_names_what_a_preset_reads(tmp_path: Path) -> None:
    exp = tmp_path / "exp.yaml"
    exp.write_text("name: p\ndataset: {preset: mmlu, path: gone.jsonl}\nmodel: scripted\n")
    out = runner.invoke(app, ["validate", str(exp)])
    text = " ".join(out.output.split())
    assert out.exit_code == 2
    assert "gone.jsonl does not exist" in text
    assert (
        "a local copy of preset mmlu in the source's own schema: a .jsonl, .json, .csv or " in text
    )


def test_validate_warns_of_a_missing_metric_resource_that_run_would_fail_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    nltk = pytest.importorskip("nltk")
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path / "empty")])  # no punkt_tab anywhere
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))
    exp = tmp_path / "exp.yaml"
    exp.write_text(
        f"name: p\ndataset: {{preset: ifeval, path: {fixture('ifeval')}}}\nmodel: scripted\n"
    )
    out = runner.invoke(app, ["validate", str(exp)])
    text = " ".join(out.output.split())
    assert out.exit_code == 0, text
    assert (
        "warning: `run` here would fail: field 'scoring': the ifeval metric needs NLTK's " in text
    )
    assert "python -m nltk.downloader punkt_tab" in text
    out = runner.invoke(app, ["run", str(exp), "--out", str(tmp_path / "run")])
    assert out.exit_code == 2 and "punkt_tab" in out.output
    assert not (tmp_path / "run").exists()
