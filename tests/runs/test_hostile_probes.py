"""Hostile and damaged inputs found by probing issue 14 from outside (items 2, 3 and 5):

- a sweep over `model.base_url` whose URLs hold keys: the keys appear nowhere in the run
  directory, its report or the command output (cell ids and cells.json included);
- a resume after `repeats:` was lowered or a sweep value removed: the records of the repeats
  and cells the spec no longer has leave the summary (as a removed example's do), and come back
  when the spec has them again;
- a run directory whose spec.yaml holds a setting of the wrong type, whose summary.json is
  damaged, or whose records.jsonl is a folder: exit 2 naming the file and what to do.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from openai_test_server import OpenAITestServer, completion
from typer.testing import CliRunner, Result

import madebate as mb
from madebate.cli import app
from madebate.runs._load import load_run

DATA = Path(__file__).resolve().parents[1] / "data" / "bad_inputs" / "_good_data.jsonl"

cli = CliRunner()


def flat(result: Result) -> str:
    return " ".join(result.output.split())


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MADEBATE_CACHE", str(tmp_path / "calls.sqlite"))


# -- keys in swept URLs --------------------------------------------------------------------------

KEYS = ("SWEPT-KEY-A1", "SWEPT-KEY-B2", "SWEPT-KEY-C3")


def test_keys_in_swept_base_urls_appear_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "not-the-secret")
    run_dir = tmp_path / "run"
    with OpenAITestServer(completion("Final Solution: B")) as server:
        host = server.base_url.split("://")[1].split("/")[0]
        urls = [
            f"http://user:{KEYS[0]}@{host}/v1",
            f"http://{host}/v1?api-key={KEYS[1]}",
            f"http://{host}/v1#access_token={KEYS[2]}",
        ]
        spec = tmp_path / "exp.yaml"
        spec.write_text(
            yaml.safe_dump(
                {
                    "name": "swept-urls",
                    "dataset": {"path": str(DATA)},
                    "model": {"id": "openai/m", "max_attempts": 1},
                    "discussion": {"agents": 2, "max_turns": 1, "personas": "none"},
                    "sweep": {"model.base_url": urls},
                    "cache": False,
                }
            ),
            encoding="utf-8",
        )
        outputs = [cli.invoke(app, ["validate", str(spec)])]
        outputs.append(cli.invoke(app, ["run", str(spec), "--out", str(run_dir), "--quiet"]))
        assert outputs[-1].exit_code == 0, flat(outputs[-1])
        assert server.requests  # the endpoints were reached
    for command in (["summary"], ["report"], ["eval", "-m", "accuracy"]):
        outputs.append(cli.invoke(app, [*command, str(run_dir)]))
        assert outputs[-1].exit_code == 0, flat(outputs[-1])

    cells = json.loads((run_dir / "cells.json").read_text(encoding="utf-8"))
    assert [c["id"] for c in cells] == [
        "model.base_url=v1",
        "model.base_url=v1?api-key=***",
        "model.base_url=v1#access_token=***",
    ]
    assert cells[0]["overrides"]["model.base_url"] == f"http://user:***@{host}/v1"
    files = [p for p in run_dir.rglob("*") if p.is_file()]
    assert {"records.jsonl", "cells.json", "fingerprints.json", "index.html"} <= {
        p.name for p in files
    }
    for key in KEYS:
        for path in files:
            assert key.encode() not in path.read_bytes(), f"{key} leaked into {path}"
        for out in outputs:
            assert key not in out.output, f"{key} leaked into: {flat(out)}"


# -- resume after the spec lost repeats or cells ------------------------------------------------


def _spec(**overrides: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "name": "shrinking",
        "dataset": {"path": str(DATA)},
        "model": "scripted",
        "discussion": {"agents": 3, "max_turns": 2},
        "repeats": 2,
        "sweep": {"protocol": ["majority_consensus", "simple_voting"]},
        "cache": False,
    }
    spec.update(overrides)
    return spec


def _counts(run_dir: Path) -> dict[str, int]:
    return {cid: c.n for cid, c in load_run(run_dir).summary.cells.items()}


def test_lowered_repeats_leave_the_summary_and_come_back(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    assert mb.run_experiment(_spec(), out=run_dir).new_records == 8
    fewer = mb.run_experiment(_spec(repeats=1), resume=run_dir)
    assert fewer.new_records == 0
    assert {c: s.n for c, s in fewer.summary.cells.items()} == {
        "protocol=majority_consensus": 2,
        "protocol=simple_voting": 2,
    }
    assert fewer.summary.complete is True
    assert set(_counts(run_dir).values()) == {2}  # `summary` reads the same
    shown = cli.invoke(app, ["summary", str(run_dir), "--format", "json"])
    assert {c["n"] for c in json.loads(shown.output)["cells"].values()} == {2}
    # Raised again: the kept records of repeat 1 count again, and only repeat 2 runs.
    more = mb.run_experiment(_spec(repeats=3), resume=run_dir)
    assert more.new_records == 4
    assert set(_counts(run_dir).values()) == {6}


def test_a_removed_sweep_value_leaves_the_summary(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    mb.run_experiment(_spec(repeats=1), out=run_dir)
    one = _spec(repeats=1, sweep={"protocol": ["majority_consensus"]})
    result = mb.run_experiment(one, resume=run_dir)
    assert result.new_records == 0
    assert list(result.summary.cells) == ["protocol=majority_consensus"]
    assert list(_counts(run_dir)) == ["protocol=majority_consensus"]
    report = cli.invoke(app, ["report", str(run_dir)])
    assert report.exit_code == 0, flat(report)
    index = (run_dir / "report" / "index.html").read_text(encoding="utf-8")
    assert "protocol=simple_voting" not in index
    # Its records stay in the file, as history: back in the sweep, nothing runs again.
    back = mb.run_experiment(_spec(repeats=1), resume=run_dir)
    assert back.new_records == 0 and len(back.summary.cells) == 2


# -- damaged run directories ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def good_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("good")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("MADEBATE_CACHE", str(folder / "calls.sqlite"))
        mb.run_experiment(_spec(repeats=1, sweep={}), out=folder / "run")
    return folder / "run"


def _copy(good_run: Path, tmp_path: Path) -> Path:
    run_dir = tmp_path / "run"
    shutil.copytree(good_run, run_dir)
    for lock in run_dir.glob("*.lock"):
        lock.unlink()
    return run_dir


def test_a_setting_of_the_wrong_type_in_spec_yaml_is_named_in_that_file(
    good_run: Path, tmp_path: Path
) -> None:
    run_dir = _copy(good_run, tmp_path)
    path = run_dir / "spec.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["repeats"] = "many"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    result = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    text = flat(result)
    assert result.exit_code == 2 and "Traceback" not in result.output, text
    assert f"{path}, field 'repeats'" in text and "got 'many'" in text, text
    assert "start the run afresh" in text, text
    assert "python" not in text, text


SUMMARY_DAMAGE = {
    "not_utf8": (b"\x00\xff\xfe{", "not UTF-8 text (byte 1)"),
    "number_too_long": (b'{"cells": {}, "x": ' + b"9" * 5000 + b"}", "not JSON"),
    "a_list": (b"[1, 2]", "expected a JSON object, got list"),
    "empty": (b"", "not JSON"),
}


@pytest.mark.parametrize("command", ["summary", "report", "eval"])
@pytest.mark.parametrize("case", sorted(SUMMARY_DAMAGE))
def test_a_damaged_summary_json_is_named_with_what_to_do(
    good_run: Path, tmp_path: Path, command: str, case: str
) -> None:
    run_dir = _copy(good_run, tmp_path)
    content, expected = SUMMARY_DAMAGE[case]
    (run_dir / "summary.json").write_bytes(content)
    args = [command, str(run_dir)] + (["-m", "accuracy"] if command == "eval" else [])
    result = cli.invoke(app, args)
    text = flat(result)
    assert result.exit_code == 2 and "Traceback" not in result.output, text
    assert f"{run_dir / 'summary.json'}: {expected}" in text, text
    assert "delete it" in text and f"madebate run --resume {run_dir}" in text, text
    # What it says to do works: a resume writes it again, and the command then runs.
    resumed = cli.invoke(app, ["run", "--resume", str(run_dir), "--quiet"])
    assert resumed.exit_code == 0, flat(resumed)
    assert cli.invoke(app, args).exit_code == 0


def test_a_folder_for_summary_json_is_named(good_run: Path, tmp_path: Path) -> None:
    run_dir = _copy(good_run, tmp_path)
    (run_dir / "summary.json").unlink()
    (run_dir / "summary.json").mkdir()
    result = cli.invoke(app, ["summary", str(run_dir)])
    assert result.exit_code == 2 and "Traceback" not in result.output, flat(result)
    assert "summary.json: cannot read it" in flat(result)


@pytest.mark.parametrize("command", ["resume", "summary", "report", "eval"])
def test_a_folder_for_records_jsonl_is_named(good_run: Path, tmp_path: Path, command: str) -> None:
    run_dir = _copy(good_run, tmp_path)
    (run_dir / "records.jsonl").unlink()
    (run_dir / "records.jsonl").mkdir()
    args = {
        "resume": ["run", "--resume", str(run_dir), "--quiet"],
        "summary": ["summary", str(run_dir)],
        "report": ["report", str(run_dir)],
        "eval": ["eval", str(run_dir), "-m", "accuracy"],
    }[command]
    result = cli.invoke(app, args)
    text = flat(result)
    assert result.exit_code == 2 and "Traceback" not in result.output, text
    assert f"{run_dir / 'records.jsonl'}:" in text and "start the run afresh" in text, text


# -- a big sweep is checked without reading its files once per cell ------------------------------


def test_a_sweep_parses_its_paradigm_and_persona_files_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each of 2,000 cells is checked; the paradigm file and the persona library are parsed
    once each (three times a cell before: ten seconds a thousand cells), and an edit to either
    is read."""
    import madebate.engine._paradigm_library as paradigm_library
    import madebate.engine._personas as personas

    paradigm = tmp_path / "ring.yaml"
    paradigm.write_text(
        "name: ring\nschedule:\n  - {speakers: panel, deliver_to: next}\n", encoding="utf-8"
    )
    library = tmp_path / "people.yaml"
    people = "".join(f"  - {{name: P{i}, description: person {i}}}\n" for i in range(3))
    library.write_text(f"name: people\npersonas:\n{people}", encoding="utf-8")
    parsed: list[str] = []
    for module in (paradigm_library, personas):
        real = module.read_yaml

        def counting(path: Path, real: Any = real) -> Any:
            parsed.append(Path(path).name)
            return real(path)

        monkeypatch.setattr(module, "read_yaml", counting)
    spec = {
        **_spec(repeats=1),
        "discussion": {
            "agents": 3,
            "max_turns": 2,
            "paradigm": str(paradigm),
            "personas": f"library:{library}",
        },
        "sweep": {"seed": list(range(100)), "max_turns": list(range(1, 21))},
    }
    from madebate.runs._experiment import expand_cells, parse_experiment

    cells = expand_cells(parse_experiment(spec))
    assert len(cells) == 2000
    assert sorted(set(parsed)) == ["people.yaml", "ring.yaml"]
    assert parsed.count("ring.yaml") == 1 and parsed.count("people.yaml") == 1
    paradigm.write_text(
        "name: ring\nschedule:\n  - {speakers: panel, deliver_to: nxt}\n", encoding="utf-8"
    )
    with pytest.raises(mb.ConfigError, match="nxt"):
        parse_experiment(spec)
