"""Hostile and damaged inputs (issue 14, items 1 and 2).

Bounded resources: every file under tests/data/bad_bounds/ (an alias bomb, a huge repeat or
sweep, a non-finite float, nesting past the bound) fails fast and small, with exit 2 and a
message naming the file, the field or line, and the bound.

Damaged run directories: every file under tests/data/bad_runs/ replaces one file of a good run
(its name says which: spec_*, records_*, cells_*); `--resume`, `summary`, `report` and `eval`
on it each end with exit 2, naming the file (and line) and what to do, never a traceback.
"""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from madebate.cli import app

DATA = Path(__file__).resolve().parents[1] / "data"
BOUNDS = DATA / "bad_bounds"
RUNS = DATA / "bad_runs"
GOOD_EXPERIMENT = DATA / "bad_inputs" / "_good_experiment.yaml"

cli = CliRunner()

# (file, substrings the error must contain besides the file's name)
BOUND_CASES: list[tuple[str, tuple[str, ...]]] = [
    ("exp_alias_bomb.yaml", ("line 2", "aliases", "100,000", "(the bound)")),
    ("exp_dataset_alias_bomb.yaml", ("line 2", "aliases", "100,000", "(the bound)")),
    ("par_alias_bomb.yaml", ("line 2", "aliases", "100,000", "(the bound)")),
    ("par_repeat_huge.yaml", ("field 'schedule[0].repeat'", "1000000000", "bound of 100")),
    ("par_param_huge.yaml", ("field 'params.debate_rounds'", "less than or equal to 100")),
    (
        "exp_paradigm_params_huge.yaml",
        ("field 'discussion.paradigm_params'", "debate_rounds: 100000000", "bound of 100"),
    ),
    (
        "exp_sweep_million_cells.yaml",
        ("field 'sweep'", "1,000,000 cells", "bound of 10,000"),
    ),
    ("exp_retry_inf.yaml", ("field 'model.retry_initial_s'", "finite number", "inf")),
    ("exp_timeout_nan.yaml", ("field 'model.timeout_s'", "finite number", "nan")),
    (
        "exp_temperature_inf.yaml",
        ("field 'discussion.generation.temperature'", "finite number"),
    ),
    ("exp_deep_yaml.yaml", ("line 7", "nested more than 100 levels", "(the bound)")),
    ("data_deep_json.json", ("nested too deep", "1,000 levels")),
    ("data_deep_jsonl.jsonl", ("line 1", "nested too deep", "1,000 levels")),
]

# (file, the line the error names, or None, substrings the error must contain)
RUN_CASES: list[tuple[str, int | None, tuple[str, ...]]] = [
    ("spec_empty.yaml", None, ("empty file",)),
    ("spec_invalid_yaml.yaml", None, ("line 3", "not valid YAML")),
    ("spec_not_utf8.yaml", None, ("line 1", "not UTF-8")),
    ("spec_top_level_list.yaml", None, ("got list",)),
    ("records_garbage_line.jsonl", 2, ("not a JSON record",)),
    ("records_json_array.jsonl", 2, ("expected a JSON object, got list",)),
    ("records_json_string.jsonl", 2, ("expected a JSON object, got str",)),
    ("records_missing_keys.jsonl", 2, ("required, but missing",)),
    ("records_number_too_long.jsonl", 2, ("not a JSON record", "4300 digits")),
    ("records_not_utf8.jsonl", 2, ("not UTF-8 text (byte 0)",)),
    ("cells_torn.json", None, ("Invalid JSON",)),
    ("cells_garbage.json", None, ("Invalid JSON",)),
    ("cells_wrong_keys.json", None, ("field '[0].id'",)),
    ("cells_not_a_list.json", None, ("valid array",)),
    ("cells_empty.json", None, ("Invalid JSON", "EOF")),
]

COMMANDS = ["resume", "summary", "report", "eval"]


def flat(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))


def test_every_case_file_is_in_a_table() -> None:
    assert sorted(p.name for p in BOUNDS.iterdir()) == sorted(n for n, _ in BOUND_CASES)
    assert sorted(p.name for p in RUNS.iterdir()) == sorted(n for n, _, _ in RUN_CASES)


# -- bounded resources ---------------------------------------------------------------------------


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))


@pytest.mark.parametrize(("name", "expected"), BOUND_CASES, ids=[n for n, _ in BOUND_CASES])
def test_a_hostile_file_fails_fast_and_small(name: str, expected: tuple[str, ...]) -> None:
    """In process: under 2 s and under 200 MB allocated (tracemalloc) while validating."""
    args = ["validate", str(BOUNDS / name), "--dataset"]
    start = time.perf_counter()
    result = cli.invoke(app, args)
    elapsed = time.perf_counter() - start
    tracemalloc.start()  # a second pass for memory: tracemalloc slows the first down
    try:
        cli.invoke(app, args)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = flat(result)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output, text
    assert name in text, text
    for part in expected:
        assert part in text, f"{part!r} missing from: {text}"
    assert elapsed < 2.0, f"{elapsed:.2f} s"
    assert peak < 200 * 2**20, f"{peak / 2**20:.0f} MB"


@pytest.mark.parametrize(
    "name", ["exp_alias_bomb.yaml", "exp_sweep_million_cells.yaml", "par_repeat_huge.yaml"]
)
def test_a_hostile_file_fails_under_a_memory_limit_in_a_fresh_process(name: str) -> None:
    """`madebate run` in a child with its address space capped: the bound holds for real."""
    command = [sys.executable, "-m", "madebate.cli", "validate", str(BOUNDS / name)]
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=60, preexec_fn=_limit_memory
    )
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    assert "bound" in done.stderr


def test_a_huge_paradigm_parameter_on_the_command_line_fails_naming_the_bound() -> None:
    start = time.perf_counter()
    result = cli.invoke(
        app,
        [
            "discuss",
            "What is 2+2?",
            "--model",
            "scripted",
            "--paradigm",
            "debate",
            "--paradigm-param",
            "debate_rounds=100000000",
        ],
    )
    text = flat(result)
    assert result.exit_code == 2, text
    assert "Traceback" not in result.output
    assert "paradigm_params" in text and "debate_rounds: 100000000" in text
    assert "bound of 100" in text
    assert time.perf_counter() - start < 2.0


# -- damaged run directories ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    run_dir = folder / "run"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MADEBATE_CACHE", str(folder / "calls.sqlite"))
        result = cli.invoke(app, ["run", str(GOOD_EXPERIMENT), "--out", str(run_dir), "--quiet"])
    assert result.exit_code == 0, flat(result)
    return run_dir


def damaged(good_run: Path, name: str, into: Path) -> tuple[Path, Path]:
    """A copy of the good run with one file replaced (a records case goes in as line 2)."""
    run_dir = into / "run"
    shutil.copytree(good_run, run_dir)
    for lock in run_dir.glob("*.lock"):
        lock.unlink()
    bad = (RUNS / name).read_bytes()
    target = {"spec": "spec.yaml", "records": "records.jsonl", "cells": "cells.json"}[
        name.split("_")[0]
    ]
    path = run_dir / target
    if target == "records.jsonl":
        lines = path.read_bytes().splitlines(keepends=True)
        bad = lines[0] + bad + b"".join(lines[1:])
    path.write_bytes(bad)
    return run_dir, path


def invoke(command: str, run_dir: Path, tmp_path: Path) -> Result:
    args: dict[str, list[str]] = {
        "resume": ["run", "--resume", str(run_dir), "--quiet"],
        "summary": ["summary", str(run_dir)],
        "report": ["report", str(run_dir)],
        "eval": ["eval", str(run_dir), "--metric", "accuracy"],
    }
    return cli.invoke(app, args[command])


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize(("name", "line", "expected"), RUN_CASES, ids=[n for n, _, _ in RUN_CASES])
def test_a_damaged_run_directory_fails_clearly(
    good_run: Path,
    tmp_path: Path,
    command: str,
    name: str,
    line: int | None,
    expected: tuple[str, ...],
) -> None:
    run_dir, path = damaged(good_run, name, tmp_path)
    result = invoke(command, run_dir, tmp_path)
    text = flat(result)
    assert result.exit_code == 2, f"exit {result.exit_code}: {text}\n{result.exception!r}"
    assert "Traceback" not in result.output, text
    assert text.startswith("error:"), text
    assert path.name in text, text
    if line is not None:
        assert f"line {line}" in text, text
    for part in expected:
        assert part in text, f"{part!r} missing from: {text}"
    if name.startswith(("records", "spec_top")) or name == "spec_empty.yaml":
        assert "start the run afresh" in text, text
    if name.startswith("cells"):
        # cells.json holds nothing of its own: deleting it and resuming rewrites it (below).
        assert "delete it, then resume the run" in text, text
        assert path.read_bytes() == (RUNS / name).read_bytes()  # not written over


def test_a_deleted_cells_file_is_written_again_on_resume(good_run: Path, tmp_path: Path) -> None:
    """What the cells.json message says to do works: delete it, resume, and it is back."""
    run_dir, path = damaged(good_run, "cells_garbage.json", tmp_path)
    path.unlink()
    result = invoke("resume", run_dir, tmp_path)
    assert result.exit_code == 0, flat(result)
    assert path.read_bytes() == (good_run / "cells.json").read_bytes()
    assert invoke("summary", run_dir, tmp_path).exit_code == 0


def test_a_torn_last_line_is_still_tolerated(good_run: Path, tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    for lock in run_dir.glob("*.lock"):
        lock.unlink()
    with (run_dir / "records.jsonl").open("ab") as fh:
        fh.write(b'{"cell": "main", "exam')
    for command in ("summary", "eval"):
        result = invoke(command, run_dir, tmp_path)
        assert result.exit_code == 0, flat(result)
