"""Issue 14, item 9: a run of any size is summarised, reported and resumed without holding its
records. The streamed summary equals the one computed from every record in memory (the code
before streaming, kept here as the reference); a no-op resume reads heads, not records; the
summary holds one record at a time; the scripted model keeps no prompts unless asked."""

from __future__ import annotations

import hashlib
import json
import math
import re
import weakref
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import madebate as mb
import madebate.runs._runlog as runlog
from madebate._errors import ModelCallError
from madebate.models.providers.scripted import ScriptedModel, ScriptedRequest, default_script
from madebate.runs._records import RecordKey, RunRecord, parse_record
from madebate.runs._runlog import RECORDS_FILE, iter_latest_records, read_fingerprints
from madebate.runs._scoring import summarize
from madebate.runs._summary import summarize_records

N_EXAMPLES = 40
REPEATS = 2
CELLS = ["protocol=majority_consensus", "protocol=simple_voting"]


def _pick(request: ScriptedRequest, n: int) -> int:
    text = f"{request.prompt}|{request.agent}|{request.context.turn}|{request.config.seed}"
    return int(hashlib.sha256(text.encode()).hexdigest(), 16) % n


def varied_script(request: ScriptedRequest) -> str:
    """Answers that differ by agent, turn and seed; some replies unreadable; some examples fail
    outright (every call raises) and some calls fail alone."""
    if "item 13" in request.prompt or "item 26" in request.prompt:
        raise ModelCallError("backend down for this one", retryable=False)
    if request.config.json_schema is not None or request.role != "discussion":
        return default_script(request)
    roll = _pick(request, 10)
    if roll == 0:
        return "I cannot decide; let me think more."  # no solution: unreadable
    if roll == 1:
        raise ModelCallError("one call failed", retryable=False)
    if roll in (2, 3):  # a dissenter
        letter = "ABCD"[_pick(request, 4)]
        return f"I weighed it.\nFinal Solution: {letter}) option {letter}"
    return default_script(request)  # proposes by the question, then agrees


@pytest.fixture(scope="module")
def varied_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A run with two cells, two repeats, failed examples, unreadable replies, and superseded
    lines (a second session re-ran the failed examples and appended their records)."""
    folder = tmp_path_factory.mktemp("varied")
    rows = [
        {
            "id": f"q{i}",
            "question": f"Which option is right? (item {i})",
            "options": ["21", "27", "29", "33"],
            "answer": "ABCD"[i % 4],
        }
        for i in range(N_EXAMPLES)
    ]
    spec: dict[str, Any] = {
        "name": "varied",
        "dataset": {"examples": rows},
        "model": "test",
        "discussion": {"agents": 3, "personas": "none", "max_turns": 3},
        "repeats": REPEATS,
        "concurrency": 8,
        "cache": False,
        "sweep": {"protocol": ["majority_consensus", "simple_voting"]},
    }
    seam_model = ScriptedModel(varied_script)
    mb.models.providers.register("test")(lambda name, options: seam_model)
    try:
        run_dir = folder / "run"
        mb.run_experiment(spec, out=run_dir)
        mb.run_experiment(spec, resume=run_dir)  # re-runs the failed: superseded lines
    finally:
        mb.models.providers.unregister("test")
    return run_dir


# -- the reference: the in-memory computation as it was before streaming ----------------------


def old_latest_records(run_dir: Path) -> list[RunRecord]:
    latest: dict[RecordKey, RunRecord] = {}
    path = run_dir / RECORDS_FILE
    with path.open("rb") as fh:
        lines = [line for line in fh if line.endswith(b"\n")]
    for number, line in enumerate(lines, start=1):
        record = parse_record(json.loads(line), source=f"line {number}")
        latest.pop(record.key, None)
        latest[record.key] = record
    current = read_fingerprints(run_dir)
    assert current is not None
    return [r for r in latest.values() if current.is_current(r)]


def old_summary(records: list[RunRecord], cell_order: list[str]) -> dict[str, dict[str, Any]]:
    by_cell: dict[str, list[RunRecord]] = {}
    for r in records:
        by_cell.setdefault(r.cell, []).append(r)
    order = [k for k in cell_order if k in by_cell] + sorted(
        k for k in by_cell if k not in cell_order
    )
    return {key: old_cell(by_cell[key]) for key in order}


def old_cell(records: list[RunRecord]) -> dict[str, Any]:
    n = len(records)
    decided = sum(r.decided for r in records)
    scores: dict[str, list[float]] = {}
    example_keys: dict[str, list[str]] = {}
    stop_reasons: dict[str, int] = {}
    for r in records:
        for name, value in r.scores.items():
            scores.setdefault(name, []).append(float(value))
            example_keys.setdefault(name, []).append(r.example_id)
        stop_reasons[r.stop_reason] = stop_reasons.get(r.stop_reason, 0) + 1
    failed = [r for r in records if r.failed]
    messages = sum(len(r.result.messages) for r in records if r.result is not None)
    calls = sum(r.calls for r in records)
    truncated = sum(r.truncated for r in records)
    unreadable = sum(r.unreadable for r in records)
    return {
        "n": n,
        "examples": len({r.example_id for r in records}),
        "metrics": {
            m: summarize(v, example_keys[m]).model_dump(mode="json") for m, v in scores.items()
        },
        "decision_rate": decided / n,
        "undecided": n - decided,
        "no_answer": sum(r.answer is None for r in records),
        "errors": len(failed),
        "mean_turns": sum(r.turns for r in records) / n,
        "calls_per_example": sum(r.calls for r in records) / n,
        "tokens_per_example": sum(r.tokens for r in records) / n,
        "cache_hits": sum(r.cache_hits for r in records),
        "retries": sum(r.retries for r in records),
        "failed_calls": sum(r.failed_calls for r in records),
        "truncated_replies": truncated,
        "looped_replies": sum(r.looped for r in records),
        "unreadable_replies": unreadable,
        "messages": messages,
        "unreadable_rate": unreadable / messages if messages else None,
        "truncated_rate": truncated / calls if calls else None,
        "option_positions": old_option_positions(records),
        "failed_examples": [
            {
                "example_id": r.example_id,
                "repeat": r.repeat,
                "cause": (r.error.message if r.error else "")[:300],
            }
            for r in failed[:50]
        ],
        "discussion_wall_s": sum(r.wall_s for r in records),
        "stop_reasons": stop_reasons,
        "analytics": old_analytics([r.analytics for r in records if r.analytics is not None]),
    }


def old_option_positions(records: list[RunRecord]) -> dict[str, Any] | None:
    tasks = [r.result.task for r in records if r.result is not None]
    mc = [t for t in tasks if t.is_multiple_choice and t.options]
    if not mc or len(mc) != len(tasks):
        return None
    letters = max((t.letters for t in mc), key=len)
    correct = dict.fromkeys(letters, 0)
    chosen = dict.fromkeys(letters, 0)
    for r in records:
        for ref in r.references:
            if ref in correct:
                correct[ref] += 1
        if r.answer is not None and r.answer in chosen:
            chosen[r.answer] += 1
    return {"correct": correct, "chosen": chosen}


def old_analytics(items: list[dict[str, Any]]) -> dict[str, Any]:
    def mean(values: list[float]) -> float | None:
        return sum(values) / len(values) if values else None

    def ragged(lists: list[list[float]]) -> list[float]:
        longest = max((len(v) for v in lists), default=0)
        return [
            sum(v[t] for v in lists if len(v) > t) / sum(len(v) > t for v in lists)
            for t in range(longest)
        ]

    reached = [a["first_majority_turn"] for a in items if a["first_majority_turn"] is not None]
    with_refs = [a for a in items if a.get("correct_proposed") is not None]
    stability = [a["final_answer_stability"] for a in items]
    return {
        "n": len(items),
        "mean_answer_flips": mean([a["answer_flips"] for a in items]),
        "mean_first_majority_turn": mean(reached),
        "first_majority_rate": len(reached) / len(items) if items else None,
        "mean_final_answer_stability": mean([s for s in stability if s is not None]),
        "mean_gini": mean([a["gini"] for a in items if a["gini"] is not None]),
        "n_with_references": len(with_refs),
        "correct_proposed_rate": mean([float(a["correct_proposed"]) for a in with_refs]),
        "lost_correct_rate": mean([float(bool(a["lost_correct"])) for a in with_refs]),
        "mean_agreement_by_turn": ragged([a["agreement_by_turn"] for a in items]),
        "mean_changes_by_turn": ragged([a["changes_by_turn"] for a in items]),
    }


def same_as_reference(cells: dict[str, Any], reference: dict[str, dict[str, Any]]) -> None:
    """Every number the reference computes, exactly (fields added since are not compared)."""
    assert list(cells) == list(reference)
    for cid, want in reference.items():
        got = cells[cid].model_dump(mode="json")
        for name, value in want.items():
            if name == "analytics":  # the keys the reference knows
                got[name] = {k: got[name][k] for k in value}
            assert got[name] == value, f"cell {cid}, {name}: {got[name]!r} != {value!r}"


# -- the tests -----------------------------------------------------------------------------------


def test_the_run_has_what_the_comparison_needs(varied_run: Path) -> None:
    lines = (varied_run / RECORDS_FILE).read_text().splitlines()
    records = old_latest_records(varied_run)
    assert len(records) == N_EXAMPLES * REPEATS * len(CELLS) < len(lines)  # superseded lines
    assert any(r.failed for r in records) and any(r.unreadable for r in records)
    assert any(r.failed_calls for r in records)
    assert {r.cell for r in records} == set(CELLS)
    assert len({r.stop_reason for r in records}) >= 3
    for name in ("mean_gini", "mean_final_answer_stability"):
        values = old_summary(records, CELLS)[CELLS[0]]["analytics"][name]
        assert values is not None and not math.isnan(values)


def test_the_streamed_summary_equals_the_in_memory_computation(varied_run: Path) -> None:
    reference = old_summary(old_latest_records(varied_run), CELLS)
    same_as_reference(summarize_records(iter_latest_records(varied_run), CELLS).cells, reference)
    same_as_reference(mb.load_run(varied_run).summary.cells, reference)
    stored = json.loads((varied_run / "summary.json").read_text())  # the run's own, at its end
    same_as_reference(mb.RunSummary.model_validate(stored).cells, reference)


def test_the_summary_holds_one_record_at_a_time(
    varied_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    alive = 0
    most = 0
    made = 0

    def gone() -> None:
        nonlocal alive
        alive -= 1

    real = runlog._parse_line  # every record read from the file is made here

    def counted(raw: bytes, where: str) -> RunRecord:
        nonlocal alive, most, made
        record = real(raw, where)
        made += 1
        alive += 1
        most = max(most, alive)
        weakref.finalize(record, gone)
        return record

    monkeypatch.setattr(runlog, "_parse_line", counted)
    run = mb.load_run(varied_run)
    assert made == 0  # loading checks the lines' heads; no record is built
    cells = run.summary.cells
    assert made == run.n_records == sum(c.n for c in cells.values())
    assert most <= 2, f"{most} records alive at once"


def count_records(monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the records parsed (a full line: transcript and all), by who asked."""
    seen: Counter[str] = Counter()
    real = runlog._parse_line  # every record read from the file is made here

    def counted(raw: bytes, where: str) -> RunRecord:
        seen["records"] += 1
        return real(raw, where)

    monkeypatch.setattr(runlog, "_parse_line", counted)
    return seen


def test_a_no_op_resume_keeps_heads_not_records(
    varied_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(varied_run, run_dir)
    spec = mb.load_run(run_dir).spec
    n = mb.load_run(run_dir).n_records
    seen = count_records(monkeypatch)
    real_read_bytes = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        assert self.name != RECORDS_FILE, "records.jsonl read whole"
        return real_read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    # The writer's bookkeeping (cutting a torn tail, the done set, the fingerprint check)
    # parses no record and never reads the whole file.
    with (run_dir / RECORDS_FILE).open("ab") as fh:
        fh.write(b'{"cell": "torn')  # a killed run's last line: cut from the end
    writer = runlog.RunWriter(
        run_dir,
        spec=spec.model_dump(mode="json"),
        cells=[{"id": c, "overrides": {}} for c in CELLS],
        resume=True,
        fingerprints=read_fingerprints(run_dir),
    )
    try:
        assert seen["records"] == 0
        with (run_dir / RECORDS_FILE).open("rb") as fh:
            fh.seek(-1, 2)
            assert fh.read() == b"\n"  # the torn line was cut
        assert len(writer.done) == sum(1 for r in old_latest_records(run_dir) if not r.failed)
    finally:
        writer.close()
    # A whole no-op resume reads each current record once, for the summary at its end; the
    # failed ones run again (the scripted backend is still down for them), nothing else does.
    model = ScriptedModel(varied_script)
    mb.models.providers.register("test")(lambda name, options: model)
    try:
        seen.clear()
        result = mb.run_experiment(spec, resume=run_dir)
    finally:
        mb.models.providers.unregister("test")
    failed = sum(c.errors for c in result.summary.cells.values())
    assert result.new_records == failed
    assert seen["records"] == n  # the summary's one pass, after the appended records


def test_the_scripted_model_keeps_no_prompts_unless_asked() -> None:
    quiet = ScriptedModel()
    mb.discuss("Is 7 prime?", model=quiet, options=["yes", "no"], max_turns=2)
    assert quiet.request_count > 0
    assert quiet._requests == []  # nothing kept
    with pytest.raises(AttributeError, match="record_prompts=True"):
        _ = quiet.requests
    kept = ScriptedModel(record_prompts=True)
    mb.discuss("Is 7 prime?", model=kept, options=["yes", "no"], max_turns=2)
    assert len(kept.requests) == kept.request_count == quiet.request_count
    assert [r.index for r in kept.requests] == list(range(kept.request_count))
    assert "Is 7 prime?" in kept.requests[0].prompt


def test_a_run_on_the_scripted_model_keeps_no_prompts(tmp_path: Path) -> None:
    made: list[ScriptedModel] = []

    def build(name: str, options: dict[str, Any]) -> ScriptedModel:
        made.append(ScriptedModel(**options))
        return made[-1]

    mb.models.providers.register("test")(build)
    try:
        spec = {
            "name": "quiet",
            "dataset": {"examples": [{"id": "a", "question": "q?", "options": ["x", "y"]}] * 1},
            "model": "test",
            "cache": False,
        }
        mb.run_experiment(spec, out=tmp_path / "run")
    finally:
        mb.models.providers.unregister("test")
    assert made and all(m.request_count > 0 and m._requests == [] for m in made)


def test_a_large_report_pages_the_first_discussions_of_each_outcome(
    varied_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import madebate.report._report as report

    monkeypatch.setattr(report, "PAGES_PER_OUTCOME", 3)
    records = old_latest_records(varied_run)
    view = report.write_report(mb.load_run(varied_run), tmp_path / "report")
    pages = sorted(p.name for p in (tmp_path / "report" / "discussions").glob("*.html"))
    outcomes: dict[str, Counter[str]] = {c: Counter() for c in CELLS}
    for r in records:
        decided = r.decided
        good = r.scores.get("accuracy", 0.0) >= 0.5
        outcomes[r.cell]["undecided" if not decided else "correct" if good else "wrong"] += 1
    expected = sum(min(3, n) for counts in outcomes.values() for n in counts.values())
    assert len(pages) == expected < len(records)
    index = view.path.read_text()
    for counts in outcomes.values():
        for outcome, n in counts.items():
            assert f"{outcome} ({n})" in index  # counted over every discussion
        shown = sum(min(3, n) for n in counts.values())
        assert f"{shown} of the cell's {sum(counts.values())} discussions are listed" in index
    linked = set(re.findall(r'href="discussions/([^"]+)"', index))
    assert linked == set(pages)
