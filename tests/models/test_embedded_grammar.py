"""Structured replies on llama.cpp: grammars it can always take, replies that carry an answer.

The first part needs no model (grammar building, the field-by-field generator, loop
detection); the second runs the real embedded default over every reply budget, reply format
and task kind, and each default entry point in a subprocess (a native crash is a failed test
with its exit code, not a dead test run).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import madebate as mb
from madebate._errors import ConfigError, ModelCallError
from madebate._reply import reply_schema
from madebate._task import Task
from madebate.engine._personas import PERSONA_SCHEMA
from madebate.models.providers._fields import LoopWatch, Piece, close_string, generate_fields
from madebate.models.providers._gbnf import MAX_REPEAT, check_grammar, object_fields, schema_grammar
from madebate.protocols._ballots import ApprovalSet, Ordering, PointsPerId, SingleChoice

BUDGETS = [16, 64, 128, 256, 512, 1024, 4096]
MC = Task(question="Which planet is the largest?", options=["Mars", "Jupiter", "Venus", "Earth"])
YES_NO = Task(question="Is a whale a mammal?", options=["Yes", "No"])
TEN = Task(question="Pick one.", options=[f"option {i}" for i in range(10)])
FREE = Task(question="What is the capital city of Japan?")
KINDS = {"multiple_choice": MC, "yes_no": YES_NO, "ten_options": TEN, "free_text": FREE}
LABELS = ["1", "2", "3"]


def all_schemas() -> list[tuple[str, dict]]:
    schemas = [
        (f"{kind} stance={stance} max_tokens={b}", reply_schema(task, stance=stance, max_tokens=b))
        for kind, task in KINDS.items()
        for stance in (False, True)
        for b in BUDGETS
    ]
    schemas += [
        (f"ballot {fmt.key}", fmt.schema(LABELS))
        for fmt in (SingleChoice(), ApprovalSet(), PointsPerId(), Ordering())
    ]
    schemas.append(("persona", PERSONA_SCHEMA))
    return schemas


# -- grammars -------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "schema"), all_schemas(), ids=[n for n, _ in all_schemas()])
def test_every_schema_we_send_becomes_a_bounded_grammar(name: str, schema: dict) -> None:
    grammar = schema_grammar(schema)
    check_grammar(grammar)
    for field in object_fields(schema) or []:
        check_grammar(field.grammar)
    # The reasoning's character bound (meant for vLLM and JSON-schema servers) is not turned
    # into a repetition: 3 x 512 characters is what crashed llama.cpp.
    assert "{1536" not in grammar and "{0,1536}" not in grammar


def test_a_repetition_above_the_limit_is_refused_before_llama_cpp_sees_it() -> None:
    with pytest.raises(ConfigError, match="above the limit"):
        check_grammar(f'root ::= "a" x{{0,{MAX_REPEAT + 1}}}\nx ::= "b"')
    check_grammar('root ::= "{0,5000}" [{}]')  # braces inside literals are text


def test_unsupported_schema_keywords_are_named() -> None:
    with pytest.raises(ConfigError, match="pattern"):
        schema_grammar({"type": "string", "pattern": "^a+$"})


def test_reply_fields_are_generated_in_the_declared_order() -> None:
    fields = object_fields(reply_schema(MC, stance=True, max_tokens=64))
    assert fields is not None
    assert [f.key for f in fields] == ["reasoning", "stance", "answer"]
    assert [f.prefix for f in fields] == ['{"reasoning": ', ', "stance": ', ', "answer": ']
    assert [f.free_text for f in fields] == [True, False, False]


# -- the field-by-field generator, with a stand-in model ------------------------------------


def fake_model(reasoning: str, finish: str = "stop"):
    """Writes `reasoning` (one token a character, cut at the budget) and the first enum value."""
    seen: list[tuple[str, int]] = []

    def complete(prefix: str, grammar: str, max_tokens: int, watch: bool) -> Piece:
        seen.append((prefix, max_tokens))
        if prefix.endswith('"'):  # the free-text field
            text = reasoning + '"'
            if len(text) > max_tokens:
                return Piece(text[:max_tokens], max_tokens, "length")
            return Piece(text, len(text), finish)
        first = re.search(r'\\"([^"\\]+)\\"', grammar)
        assert first is not None, grammar
        value = f'"{first.group(1)}"'
        return Piece(value, len(value), "stop")

    return complete, seen


@pytest.mark.parametrize("budget", BUDGETS)
def test_a_cut_reasoning_is_closed_and_the_answer_still_comes(budget: int) -> None:
    fields = object_fields(reply_schema(MC, stance=True, max_tokens=budget))
    assert fields is not None
    complete, _seen = fake_model("x" * 10_000)
    done = generate_fields(fields, budget, complete, len)
    data = json.loads(done.text)
    assert data["answer"] == "A" and data["stance"] == "agree"
    assert done.cut is True
    reserve = len('"disagree"') + 1 + len('"A"') + 1
    assert done.completion_tokens <= max(budget, reserve)


def test_a_reasoning_that_ends_in_time_is_not_cut() -> None:
    fields = object_fields(reply_schema(MC, stance=False, max_tokens=512))
    assert fields is not None
    complete, seen = fake_model("Jupiter is the largest planet.")
    done = generate_fields(fields, 512, complete, len)
    assert json.loads(done.text) == {"reasoning": "Jupiter is the largest planet.", "answer": "A"}
    assert done.cut is False and done.looped is False
    # The keys are put in the prompt, never generated.
    assert seen[0][0] == '{"reasoning": "' and seen[1][0].endswith(', "answer": ')


def test_a_looping_reasoning_is_recorded_and_closed() -> None:
    fields = object_fields(reply_schema(MC, stance=False, max_tokens=512))
    assert fields is not None
    complete, _ = fake_model("Mars is red. ", finish="loop")
    done = generate_fields(fields, 512, complete, len)
    assert done.looped is True and done.cut is False
    assert json.loads(done.text)["answer"] == "A"


def test_a_cut_nullable_string_is_closed() -> None:
    schema = {
        "type": "object",
        "properties": {
            "choice": {"type": "string", "enum": ["1", "2"]},
            "answer": {"type": ["string", "null"]},
        },
    }
    fields = object_fields(schema)
    assert fields is not None

    def complete(prefix: str, grammar: str, max_tokens: int, watch: bool) -> Piece:
        if prefix.endswith('"choice": '):
            return Piece('"2"', 3, "stop")
        return Piece('"Paris is the capital \\u00', max_tokens, "length")

    done = generate_fields(fields, 40, complete, len)
    assert json.loads(done.text) == {"choice": "2", "answer": "Paris is the capital "}
    assert done.cut is True


def test_free_text_answers_keep_a_share_of_the_budget() -> None:
    fields = object_fields(reply_schema(FREE, stance=False, max_tokens=200))
    assert fields is not None
    complete, seen = fake_model("y" * 10_000)
    done = generate_fields(fields, 200, complete, len)
    data = json.loads(done.text)
    assert set(data) == {"reasoning", "answer"}
    assert seen[0][1] == 100  # the reasoning gets half, the answer the rest
    assert done.completion_tokens <= 200


@pytest.mark.parametrize(
    ("content", "closed"),
    [
        ("plain", "plain"),
        ("cut after a backslash \\", "cut after a backslash "),
        ("an escaped backslash \\\\", "an escaped backslash \\\\"),
        ("half a unicode escape \\u00", "half a unicode escape "),
        ("a whole one \\u00e9", "a whole one \\u00e9"),
        ("an escaped backslash then u \\\\u00", "an escaped backslash then u \\\\u00"),
    ],
)
def test_close_string_leaves_valid_json(content: str, closed: str) -> None:
    assert close_string(content) == closed
    json.loads('"' + close_string(content) + '"')


@pytest.mark.parametrize("period", [1, 2, 5, 13, 40, 64])
def test_loop_watch_stops_a_repeated_run_and_keeps_one_copy(period: int) -> None:
    unit = list(range(100, 100 + period))
    prompt = [1, 2, 3]
    ids = prompt + [7, 8, 9] + unit * 40
    watch = LoopWatch(len(prompt))
    stopped_at = next(n for n in range(len(prompt), len(ids) + 1) if watch(ids[:n]))
    assert watch.keep is not None
    kept = ids[len(prompt) : len(prompt) + watch.keep]
    assert kept[:3] == [7, 8, 9]
    assert stopped_at - len(prompt) <= 3 + max(3 * period, 24) + period + 2


def test_loop_watch_sees_a_numbered_loop() -> None:
    # "8) The Red Planet is known as the Red Planet. 9) The Red Planet ..." with 8, 9, 10, ...
    # as single digit tokens 1000 + k: the numbers differ, the loop is the same.
    def line(k: int) -> list[int]:
        return [1000 + k, 5, 11, 12, 13, 14, 15, 11, 12, 16]

    ids = [1, 2] + [t for k in range(1, 9) for t in line(k)]
    watch = LoopWatch(2, lambda t: -1 if t >= 1000 else t)
    assert any(watch(ids[:n]) for n in range(2, len(ids) + 1))
    exact = LoopWatch(2)
    assert not any(exact(ids[:n]) for n in range(2, len(ids) + 1))


def test_loop_watch_lets_ordinary_text_run() -> None:
    import random

    rng = random.Random(0)
    ids = [rng.randrange(50_000) for _ in range(2000)]
    watch = LoopWatch(0)
    assert not any(watch(ids[:n]) for n in range(0, len(ids), 7))


# -- the real embedded model ----------------------------------------------------------------


@pytest.fixture(scope="module")
def embedded() -> mb.models.ManagedModel:
    from madebate.models.providers.llamacpp import LlamaCppModel

    return mb.models.ManagedModel(LlamaCppModel())


@pytest.mark.slow
def test_llama_cpp_rejects_a_bad_grammar_as_a_python_error(
    embedded: mb.models.ManagedModel,
) -> None:
    from madebate.models.providers.llamacpp import _check_native

    provider = embedded.provider
    mb.discuss("Warm up?", options=["Yes", "No"], model=embedded, agents=2, max_turns=1)
    with pytest.raises(ModelCallError, match="cannot take"):
        _check_native(provider._llm, 'root ::= "a" (')  # type: ignore[attr-defined]


@pytest.mark.slow
@pytest.mark.parametrize("reply_format", ["auto", "json", "text"])
@pytest.mark.parametrize("budget", BUDGETS)
def test_every_budget_format_and_task_kind_runs_on_the_embedded_model(
    embedded: mb.models.ManagedModel, budget: int, reply_format: str
) -> None:
    for kind, task in KINDS.items():
        result = mb.discuss(
            task.question,
            options=task.options,
            model=embedded,
            agents=2,
            max_turns=1,
            personas="none",
            reply_format=reply_format,
            generation=mb.GenerateConfig(max_tokens=budget),
            seed=budget,
        )
        assert result.error is None, (kind, result.error)
        assert result.messages, kind
        for m in result.messages:
            if reply_format != "text" and budget >= 64:
                # Grammar-constrained: every reply carries an answer or a clear stance.
                assert m.readable, (kind, budget, m.raw, m.problems)
                if m.stance is not mb.Stance.AGREE:
                    assert m.answer is not None, (kind, budget, m.raw)
            for call in result.calls:
                assert call.completion_tokens <= max(budget, 16) + 16


ROOT = Path(__file__).resolve().parents[2]


def run_default(args: list[str], cwd: Path, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONFAULTHANDLER": "1"}
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )


def explain(proc: subprocess.CompletedProcess) -> str:
    return f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-2000:]}\n--- stderr\n{proc.stderr[-3000:]}"


@pytest.mark.slow
def test_python_api_with_no_model_argument(tmp_path: Path) -> None:
    code = (
        "import madebate\n"
        "r = madebate.discuss('Which planet is the largest?', "
        "options=['Mars', 'Jupiter', 'Venus', 'Earth'], max_turns=2)\n"
        "assert r.error is None, r.error\n"
        "assert r.calls[0].model.startswith('llamacpp/'), r.calls[0].model\n"
        "assert all(c.output_format == 'grammar' for c in r.calls if c.role == 'discussion')\n"
        "print('ANSWER', r.answer, r.stop_reason)\n"
    )
    proc = run_default([sys.executable, "-c", code], tmp_path)
    assert proc.returncode == 0, explain(proc)
    assert "ANSWER" in proc.stdout


@pytest.mark.slow
def test_cli_discuss_with_its_defaults(tmp_path: Path) -> None:
    proc = run_default(
        [
            sys.executable,
            "-m",
            "madebate.cli",
            "discuss",
            "Which planet is the largest?",
            "-o",
            "Mars",
            "-o",
            "Jupiter",
            "-o",
            "Venus",
            "-o",
            "Earth",
            "--max-turns",
            "2",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, explain(proc)
    assert "llamacpp/" in proc.stdout


@pytest.mark.slow
def test_cli_run_of_a_spec_without_a_generation_block(tmp_path: Path) -> None:
    data = tmp_path / "data.jsonl"
    rows = [
        {"id": "q1", "question": "Which planet is the largest?", "options": ["Mars", "Jupiter"]},
        {"id": "q2", "question": "Is ice frozen water?", "options": ["Yes", "No"], "answer": "A"},
    ]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec = tmp_path / "spec.yaml"
    spec.write_text(
        "name: no-generation\n"
        "dataset: {path: data.jsonl}\n"
        "team: {agents: 2}\n"
        "discussion: {max_turns: 1}\n"  # no model (the embedded default), no generation:
    )
    proc = run_default(
        [sys.executable, "-m", "madebate.cli", "run", str(spec), "--out", str(tmp_path / "run")],
        tmp_path,
    )
    assert proc.returncode == 0, explain(proc)
    records = (tmp_path / "run" / "records.jsonl").read_text().splitlines()
    assert len(records) == 2
    for line in records:
        record = json.loads(line)
        assert record["stop_reason"] != "error", record["error"]
