"""Datasets into tasks: JSONL, JSON (a list, or MALLM's example format), CSV, Hugging Face
`datasets`, and BIG-bench task JSON. Every example gets a stable id (given, or a content hash);
multiple-choice references are option letters. Errors name the file and the line or row."""

from __future__ import annotations

import codecs
import csv
import hashlib
import importlib.util
import io
import json
import math
import random
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from madebate._errors import ConfigError
from madebate._task import LETTERS, Task, normalize_free_text
from madebate._yaml import SPEC_CONFIG
from madebate.runs._preset_table import get_preset

_EXPECTED = (
    'expected examples like {"question": "...", "options": ["...", "..."], '
    '"answer": "B"} (one JSON object per line in .jsonl, a JSON list in .json, a header '
    "row with a question column in .csv)"
)

DatasetFormat = Literal["auto", "jsonl", "json", "csv", "bigbench", "hf"]
_OPTION_LINE = re.compile(r"^\s*([A-Z])[\).:]\s+(.+?)\s*$", re.M)


class ColumnMap(BaseModel):
    """Which fields hold what. `options` may name one field (a list) or several (one per option)."""

    model_config = SPEC_CONFIG

    question: str = "question"
    """The field with the question."""
    options: str | list[str] | None = "options"
    """The field with the options (a list), or one field per option."""
    answer: str | None = "answer"
    """The field with the reference answer(s): for multiple choice, an option letter or text."""
    id: str | None = "id"
    """The field with the example's id; where a row has none, the id is a hash of its content."""
    context: str | None = "context"
    """The field with context shown before the question."""
    answer_index: bool | None = None
    """How a multiple-choice answer that is a number (2, "2") is read: true: as a 0-based option
    index; false: as an option's text; default: an option's text where one matches, else an
    index, and an answer that names one option by its text and another by its index (options
    "1", "2", "3" and answer 2) is an error naming the line, as is a file that reads some
    answers one way and some the other."""


class DatasetSpec(BaseModel):
    """Where the examples come from: a file, a Hugging Face dataset, inline examples or a named
    benchmark preset."""

    model_config = SPEC_CONFIG

    preset: str | None = None
    """A named benchmark (gsm8k, mmlu-pro, squad2, xsum, ...; `madebate datasets` lists them):
    its source, columns, task kind, instruction and metrics are known; `path:` may point at a
    local copy in the source's own schema."""
    path: str | None = None
    """A local file (.jsonl, .json, .csv, BIG-bench JSON), relative to the experiment file; or a
    local Hugging Face dataset folder with format hf."""
    hf: str | None = None
    """A Hugging Face dataset id."""
    hf_config: str | None = None
    """The Hugging Face dataset's configuration (subset)."""
    split: str = "test"
    """The Hugging Face dataset's split (with a preset, default: the preset's split)."""
    format: DatasetFormat = "auto"
    """The file's format; auto: by its name."""
    columns: ColumnMap = Field(default_factory=ColumnMap)
    """Which fields hold the question, options, answer, id and context."""
    examples: list[dict[str, Any]] | None = None
    """Inline examples, each a mapping like a line of a .jsonl file."""
    limit: int | None = Field(default=None, ge=1)
    """How many examples to use (a seeded sample when below the size)."""
    seed: int = 0
    """Which examples a limit picks (the sample's seed)."""
    shuffle_options: bool = False
    """Shuffle each multiple-choice example's options, seeded per example and repeat (the
    references follow the shuffle); default: the file's order (shuffled for a preset whose
    source lists the correct option first: gpqa)."""

    @model_validator(mode="before")
    @classmethod
    def _preset_defaults(cls, data: Any) -> Any:
        """A preset's split and option shuffling, where the spec does not set them."""
        if isinstance(data, dict) and isinstance(data.get("preset"), str):
            try:
                preset = get_preset(data["preset"])
            except ValueError:
                return data  # the field's own check names it
            data = dict(data)
            if preset.split is not None:
                data.setdefault("split", preset.split)
            data.setdefault("shuffle_options", preset.shuffle_options)
        return data

    @field_validator("preset")
    @classmethod
    def _known_preset(cls, name: str | None) -> str | None:
        return None if name is None else get_preset(name).name

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
        if self.preset is not None:
            extra = [n for n in ("hf", "examples") if getattr(self, n) is not None]
            # (A stored spec writes every field: the defaults are fine.)
            extra += ["columns"] if self.columns != ColumnMap() else []
            extra += ["format"] if self.format != "auto" else []
            if extra:
                raise ValueError(
                    f"preset {self.preset} knows its source and columns; leave out "
                    f"{', '.join(extra)} (path: may point at a local copy in the source's own "
                    "schema), or drop preset to map a dataset yourself"
                )
            return self
        given = [n for n in ("path", "hf", "examples") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                f"give exactly one of path, hf or examples (got {', '.join(given) or 'none'})"
            )
        return self


@dataclass
class DatasetInfo:
    """What a dataset file says about itself: the format it was read as, the task kind and
    metrics it names (BIG-bench), and how many examples repeat an earlier one."""

    format: str
    kind: str | None = None
    metrics: list[str] | None = None
    repeats: int = 0
    instruction: str | None = None
    """The instruction a preset gives for its kind (None: the kind's own)."""


PresetLoader = Callable[
    [DatasetSpec, Path | None],
    tuple[str, DatasetInfo, ColumnMap, Iterable[tuple[str, dict[str, Any]]]],
]
# The preset loader (`madebate.runs._presets`, which reads with this module's readers) registers
# itself here when madebate.runs is imported: no import cycle between the two.
_PRESET_LOADERS: list[PresetLoader] = []


def register_preset_loader(loader: PresetLoader) -> None:
    """Make `load_dataset_info` read `dataset.preset` with `loader`."""
    _PRESET_LOADERS.append(loader)


def load_dataset(spec: DatasetSpec, *, base_dir: Path | None = None) -> list[Task]:
    """All examples of a dataset spec as tasks (limited and sampled as asked)."""
    return load_dataset_info(spec, base_dir=base_dir)[0]


def load_dataset_info(
    spec: DatasetSpec, *, base_dir: Path | None = None
) -> tuple[list[Task], DatasetInfo]:
    """The tasks, and what the file says about itself (format, task kind, metrics, repeats)."""
    columns = spec.columns
    if spec.preset is not None:  # a named benchmark maps its source's own columns
        assert _PRESET_LOADERS, "madebate.runs._presets registers the preset loader"
        source, info, columns, rows = _PRESET_LOADERS[-1](spec, base_dir)
    else:
        source, info, rows = _rows(spec, base_dir)
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    readings = _NumberReadings()
    for where, row in rows:
        task = _to_task(row, columns, f"{source}{where}", readings)
        assert task.id is not None
        if task.id in seen:
            raise ConfigError(
                f"{where.strip()}: duplicate example id '{task.id}' (first at "
                f"{seen[task.id].strip()}; where rows give no id, the id is a hash of the "
                "content, so two identical rows collide: give distinct ids, or remove the "
                "repeat)",
                source=source,
            )
        seen[task.id] = where
        tasks.append(task)
    if not tasks:
        raise ConfigError(f"the dataset has no examples; {_EXPECTED}", source=source)
    if spec.limit is not None and spec.limit < len(tasks):
        picked = sorted(random.Random(spec.seed).sample(range(len(tasks)), spec.limit))
        tasks = [tasks[i] for i in picked]
    return tasks, info


def _rows(
    spec: DatasetSpec, base_dir: Path | None
) -> tuple[str, DatasetInfo, Iterable[tuple[str, dict[str, Any]]]]:
    if spec.examples is not None:
        return (
            "dataset.examples",
            DatasetInfo("inline"),
            (
                (f"[{i}]", _converted(r, f"dataset.examples[{i}]"))
                for i, r in enumerate(spec.examples)
            ),
        )
    if spec.hf is not None or spec.format == "hf":
        name = spec.hf or spec.path or ""
        if spec.hf is None and not Path(name).is_absolute() and base_dir is not None:
            name = str(base_dir / name)  # a local folder, relative like any other path
        return name, DatasetInfo("hf"), _hf_rows(name, spec)
    assert spec.path is not None
    path = Path(spec.path)
    if not path.is_absolute() and base_dir is not None:
        path = base_dir / path
    fmt = spec.format
    if fmt == "auto":
        fmt = {".jsonl": "jsonl", ".json": "json", ".csv": "csv"}.get(path.suffix.lower(), "")  # type: ignore[assignment]
        if not fmt:
            raise ConfigError(
                f"cannot tell the format from '{path.suffix}'; set dataset.format to jsonl, json, csv, bigbench or hf",
                source=str(path),
            )
    text = _read_text(path)
    if fmt == "jsonl":
        return str(path), DatasetInfo(fmt), _jsonl_rows(text, path)
    if fmt == "csv":
        return str(path), DatasetInfo(fmt), _csv_rows(text, path)
    data = _parse_json(text, path)
    if fmt == "bigbench" or (isinstance(data, dict) and "examples" in data):
        info = DatasetInfo("bigbench")
        return str(path), info, _bigbench_rows(data, path, info)
    if isinstance(data, dict):
        for key in ("data", "rows", "items"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        raise ConfigError(
            "expected a JSON list of examples (or a BIG-bench task with 'examples')",
            source=str(path),
        )
    shape = "json (MALLM)" if data and all(_is_mallm(r) for r in data) else "json"
    return (
        str(path),
        DatasetInfo(shape),
        ((f" item {i}", _converted(r, f"{path} item {i}")) for i, r in enumerate(data)),
    )


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            "dataset file not found; give the path of a .jsonl, .json or .csv file (relative "
            "to the experiment file's folder), or hf: for a Hugging Face dataset",
            source=str(path),
        ) from None
    except IsADirectoryError:
        raise ConfigError(
            "is a folder; give a .jsonl, .json or .csv file (a folder saved by Hugging Face "
            "datasets needs format: hf)",
            source=str(path),
        ) from None
    except OSError as exc:  # e.g. no permission to read it
        raise ConfigError(
            f"cannot read the dataset file: {exc.strerror}", source=str(path)
        ) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        # utf-8-sig counts from after the byte order mark; count from the start of the file.
        start = exc.start + (len(codecs.BOM_UTF8) if raw.startswith(codecs.BOM_UTF8) else 0)
        line = raw[:start].count(b"\n") + 1
        raise ConfigError(
            f"line {line}: not UTF-8 text (byte {start}); re-save the file as UTF-8",
            source=str(path),
        ) from None


def _parse_json(text: str, path: Path) -> Any:
    try:
        return _json_loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"line {exc.lineno}: invalid JSON ({exc.msg})", source=str(path)
        ) from None
    except ValueError as exc:  # a number past the bounds below
        raise ConfigError(str(exc), source=str(path)) from None
    except RecursionError:
        raise ConfigError(_too_deep(), source=str(path)) from None


MAX_NUMBER_DIGITS = 4300
"""Digits of one whole number in a dataset (Python's own bound on reading one)."""


def _json_loads(text: str) -> Any:
    """json.loads, except that a number that is not finite (NaN, Infinity, 1e400: not JSON, or
    past what a float holds) or a whole number longer than MAX_NUMBER_DIGITS digits is a
    ValueError saying so, never a silent 'inf' or 'nan' in an option or a reference."""
    return json.loads(text, parse_float=_finite_float, parse_constant=_no_constant, parse_int=_int)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(
            f"the number {_short(text)} is beyond what a float holds; write it as text"
        )
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value (not a finite number); write it as text")


def _int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_NUMBER_DIGITS:
        raise ValueError(
            f"a number of {len(text.lstrip('-')):,} digits, over the bound of "
            f"{MAX_NUMBER_DIGITS:,}; write it as text"
        )
    return int(text)


def _too_deep() -> str:
    return (
        f"nested too deep to read (the bound is about {sys.getrecursionlimit():,} levels of "
        "lists and objects); flatten the data"
    )


def _jsonl_rows(text: str, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    # Only "\n" ends a line: splitlines() also splits on U+2028 etc., legal inside JSON strings.
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = _json_loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {n}: invalid JSON ({exc.msg})", source=str(path)) from None
        except ValueError as exc:  # a number past the bounds of `_json_loads`
            raise ConfigError(f"line {n}: {exc}", source=str(path)) from None
        except RecursionError:
            raise ConfigError(f"line {n}: {_too_deep()}", source=str(path)) from None
        if not isinstance(row, dict):
            raise ConfigError(
                f"line {n}: expected a JSON object, got {type(row).__name__}", source=str(path)
            )
        yield f" line {n}", _converted(row, f"{path} line {n}")


def _csv_rows(text: str, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    # newline="": quoted fields keep their line breaks; line_num counts them and blank lines.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        n = reader.line_num  # the line the row ends on
        if None in row:
            raise ConfigError(f"line {n}: more fields than the header has", source=str(path))
        # A short row leaves its last fields out (None): they are missing, not null.
        yield f" line {n}", {k: v for k, v in row.items() if v is not None}


def _hf_rows(name: str, spec: DatasetSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            "Hugging Face datasets need the 'datasets' package (pip install datasets)",
            field="dataset.hf",
        ) from None
    try:
        folder = Path(name)
        if folder.is_dir() and any(
            (folder / f).exists() for f in ("dataset_info.json", "dataset_dict.json")
        ):  # save_to_disk of a Dataset, or of a DatasetDict (one folder per split)
            loaded = datasets.load_from_disk(name)
            data = loaded[spec.split] if hasattr(loaded, "keys") else loaded
        else:
            data = datasets.load_dataset(name, spec.hf_config, split=spec.split)
    except Exception as exc:  # the library raises many kinds; name the dataset and the cause
        raise ConfigError(f"could not load: {type(exc).__name__}: {exc}", source=name) from None
    for i, row in enumerate(data):
        yield f" row {i}", _converted(dict(row), f"{name} row {i}")


# BIG-bench metrics, and the metric here that scores an answer the same way.
_BIGBENCH_METRICS = {
    "multiple_choice_grade": "accuracy",
    "exact_str_match": "exact_match",
    "numeric_match_with_0_1_relative_error": "numeric",
    "bleu": "bleu",
    "rouge": "rouge_l",
}
_NEEDS = {"bleu": "sacrebleu", "rouge_l": "rouge_score"}


def _bigbench_rows(data: Any, path: Path, info: DatasetInfo) -> list[tuple[str, dict[str, Any]]]:
    """A BIG-bench task.json as BIG-bench means it: ids from the task's name and the position
    (examples carry none, and some repeat), the prompt fields around each input, and the task
    kind and metrics from `metrics` / `preferred_score` and `target_scores` versus `target`."""
    examples = data.get("examples") if isinstance(data, dict) else None
    if not isinstance(examples, list):
        raise ConfigError("a BIG-bench task needs a list 'examples'", source=str(path))
    for i, ex in enumerate(examples):
        if not isinstance(ex, dict) or "input" not in ex:
            raise ConfigError(f"examples[{i}]: needs 'input'", source=str(path))
        if not (isinstance(ex.get("target_scores"), dict) and ex["target_scores"]) and (
            "target" not in ex
        ):
            raise ConfigError(f"examples[{i}]: needs 'target_scores' or 'target'", source=str(path))
        scores = ex.get("target_scores")
        if isinstance(scores, dict):
            for option, score in scores.items():
                if not isinstance(score, int | float) or isinstance(score, bool):
                    raise ConfigError(
                        f"examples[{i}]: field 'target_scores.{option}' is {_kind(score)}; a "
                        "score must be a number (1 for a correct option, 0 for the others)",
                        source=str(path),
                    )
        target = ex.get("target")
        targets = target if isinstance(target, list) else [target] if "target" in ex else []
        for key, value in [("input", ex["input"]), *(("target", t) for t in targets)]:
            if not _is_scalar(value):  # never a Python repr in the prompt or the references
                raise ConfigError(
                    f"examples[{i}]: field '{key}' is {_kind(value)}, not text",
                    source=str(path),
                )
    name = str(data.get("name") or "").strip()
    if not name:  # real tasks live in <name>/task.json
        name = path.parent.name if path.stem == "task" and path.parent.name else path.stem
    listed = data.get("metrics")
    file_metrics = [str(m) for m in listed] if isinstance(listed, list) else []
    preferred = str(data.get("preferred_score") or "")
    ordered = sorted(file_metrics, key=lambda m: m != preferred)  # the preferred one first
    choice = all(isinstance(ex.get("target_scores"), dict) for ex in examples) and not (
        preferred in _BIGBENCH_METRICS
        and preferred != "multiple_choice_grade"
        and all("target" in ex for ex in examples)
    )
    if choice:
        info.kind, info.metrics = "multiple_choice", ["accuracy"]
    else:
        mapped = [
            _BIGBENCH_METRICS[m]
            for m in ordered
            if m in _BIGBENCH_METRICS
            and m != "multiple_choice_grade"
            # bleu and rouge need the optional extra; without it the other metrics stand.
            and importlib.util.find_spec(_NEEDS.get(_BIGBENCH_METRICS[m], "json")) is not None
        ]
        info.metrics = list(dict.fromkeys(mapped)) or None
        first = mapped[0] if mapped else None
        info.kind = {"exact_match": "short_answer", "numeric": "math"}.get(first or "", "free_text")
    seen: set[str] = set()
    rows = []
    for i, ex in enumerate(examples):
        scores = ex.get("target_scores")
        key = json.dumps([ex["input"], ex.get("target"), scores], sort_keys=True, default=str)
        info.repeats += key in seen
        seen.add(key)
        row: dict[str, Any] = {"id": f"{name}/{i}"}
        if isinstance(scores, dict) and scores and (choice or "target" not in ex):
            options = list(scores)
            best = max(scores.values())
            row["options"] = options
            row["answer"] = [LETTERS[j] for j, o in enumerate(options) if scores[o] == best]
        else:
            target = ex["target"]
            row["answer"] = target if isinstance(target, list) else [target]
        row["question"] = _bigbench_prompt(data, ex["input"], "options" in row)
        rows.append((f" examples[{i}]", row))
    if info.repeats:
        warnings.warn(
            f"{path}: {info.repeats} example(s) repeat an earlier one word for word; each "
            f"loads as its own example (ids {name}/<position>)",
            UserWarning,
            stacklevel=2,
        )
    return rows


def _bigbench_prompt(data: dict[str, Any], text: Any, has_options: bool) -> str:
    """One example's question with BIG-bench's prompt fields: `task_prefix` before it (in some
    tasks the prefix is the question itself), `example_input_prefix` before the input, and
    `choice_prefix` and `example_output_prefix` after it where they say more than BIG-bench's
    defaults ("choice:", "A:"); options are shown as lettered lines after the question."""

    def field(key: str) -> str:
        value = data.get(key)
        return value.strip() if isinstance(value, str) else ""

    in_prefix = field("example_input_prefix")
    body = f"{in_prefix} {text}".strip() if in_prefix else str(text)
    parts = [field("task_prefix"), body]
    if has_options and field("choice_prefix") not in ("", "choice:"):
        parts.append(field("choice_prefix"))
    if field("example_output_prefix") not in ("", "A:"):
        parts.append(field("example_output_prefix"))
    return "\n".join(p for p in parts if p)


def _is_mallm(row: Any) -> bool:
    return isinstance(row, dict) and "inputs" in row and "references" in row


def _converted(row: Any, where: str) -> Any:
    """A row as `_to_task` reads it: MALLM's example format turned into fields, others as is."""
    return _mallm_row(row, where) if _is_mallm(row) else row


def _mallm_row(row: dict[str, Any], where: str) -> dict[str, Any]:
    """MALLM's example format: inputs (a list of text, or one text), context, references,
    example_id. Options written as 'A) ...' lines inside the input become multiple-choice
    options."""
    text = _joined(row.get("inputs"), "inputs", where)
    options = _OPTION_LINE.findall(text)
    letters = [letter for letter, _ in options]
    out: dict[str, Any] = {"id": row.get("example_id"), "answer": row.get("references") or []}
    if len(options) >= 2 and letters == list(LETTERS[: len(letters)]):
        out["question"] = _OPTION_LINE.sub("", text).strip()
        out["options"] = [t for _, t in options]
    else:
        out["question"] = text
    context = row.get("context")
    if context:
        out["context"] = _joined(context, "context", where)
    return out


def _joined(value: Any, field: str, where: str) -> str:
    """Text given as one string or as a list of strings (joined by line breaks); anything else
    (an object, a null inside the list) is an error naming the field, never a Python repr."""
    if value is None:
        return ""
    if isinstance(value, str):  # one text, not a list of its characters
        return value
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not _is_scalar(item):
                raise ConfigError(
                    f"{where}: field '{field}[{i}]' is {_kind(item)}, not text; give "
                    f"'{field}' as a text or a list of texts"
                )
        return "\n".join(str(x) for x in value)
    if _is_scalar(value):
        return str(value)
    raise ConfigError(
        f"{where}: field '{field}' is {_kind(value)}, not text; give a text or a list of texts"
    )


def _is_scalar(value: Any) -> bool:
    """Text, or a number or true/false that reads as text (BoolQ's answers are true and false):
    what a question, option or answer may be; not .inf or .nan (YAML's), never read as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return isinstance(value, str | int | float)  # bool is an int


def _kind(value: Any) -> str:
    """What a JSON value is, for a message: 'null', 'an object', 'a list', 'true'."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"a text ({_short(value)})"
    if isinstance(value, float) and not math.isfinite(value):
        return f"the number {value} (not finite)"
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _to_task(
    row: dict[str, Any], cols: ColumnMap, where: str, readings: _NumberReadings | None = None
) -> Task:
    def get(key: str | None) -> Any:
        return row.get(key) if key else None

    bad = _lone_surrogate(row)
    if bad is not None:  # not text: it could be neither hashed nor written to the run log
        name = bad.encode("utf-8", "backslashreplace").decode()
        raise ConfigError(
            f"{where}: field '{name}' holds a lone surrogate (e.g. \\ud800), not text"
        )
    question = get(cols.question)
    if question is not None and not _is_scalar(question):
        raise ConfigError(
            f"{where}: field '{cols.question}' is {_kind(question)}, not text; the question "
            "must be a text (name another field in dataset.columns.question)"
        )
    if question is None or not str(question).strip():
        state = "empty" if cols.question in row else "missing"
        fields = ", ".join(str(k) for k in row) or "none"
        raise ConfigError(
            f"{where}: field '{cols.question}' is {state} (the row has: {fields}); every "
            f"example needs a question: name its field in dataset.columns.question"
        )
    options, labels = _options(row, cols, where)
    if options is not None and not 2 <= len(options) <= len(LETTERS):
        raise ConfigError(
            f"{where}: field '{_names(cols.options)}': need 2 to {len(LETTERS)} options, got "
            f"{len(options)} (leave options out for a question without choices)"
        )
    answer = get(cols.answer)
    references = _references(answer, options, where, cols, labels, readings)
    context = get(cols.context)
    if context not in (None, ""):
        context = _joined(context, cols.context or "context", where)
    given_id = get(cols.id)
    if given_id is not None and not _is_scalar(given_id):
        raise ConfigError(
            f"{where}: field '{cols.id}' is {_kind(given_id)}; an id must be a text or a number"
        )
    hashed = [str(question), options, references]
    if context not in (None, ""):  # the same question over another passage is another example
        hashed.append(str(context))
    content = json.dumps(hashed, ensure_ascii=False)
    ex_id = (
        str(given_id)
        if given_id not in (None, "")
        else hashlib.sha256(content.encode()).hexdigest()[:12]
    )
    metadata = {
        k: v
        for k, v in row.items()
        if k
        not in {
            cols.question,
            cols.answer,
            cols.id,
            cols.context,
            *([cols.options] if isinstance(cols.options, str) else cols.options or []),
        }
        and _jsonable(v)
    }
    try:
        task = Task(
            question=str(question),
            options=options,
            id=ex_id,
            references=references,
            context=str(context) if context not in (None, "") else None,
            metadata=metadata,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        if first["loc"]:
            message = f"field '{first['loc'][0]}': {message}"
        raise ConfigError(f"{where}: {message}") from None
    # Every example shares one set of the names of its fields: pydantic keeps one per
    # instance (about 730 bytes for six names, 73 MB over 100,000 examples); a Task is
    # frozen, so nothing adds to it.
    shared = _FIELD_NAMES.setdefault(frozenset(task.model_fields_set), set(task.model_fields_set))
    object.__setattr__(task, "__pydantic_fields_set__", shared)
    return task


_FIELD_NAMES: dict[frozenset[str], set[str]] = {}

_OPTIONS_HELP = (
    'give a list of texts (["Paris", "Rome"]; in a CSV cell, a JSON list), or one field per '
    "option (dataset.columns.options: [opa, opb, ...]); leave the field out for a question "
    "without choices"
)


def _options(
    row: dict[str, Any], cols: ColumnMap, where: str
) -> tuple[list[str] | None, list[str] | None]:
    """The options as texts, and their labels where the field gives them ({"label": ["1", ...],
    "text": [...]}, ARC's shape on the hub). An option that is not text (null, an object, a
    list) is an error naming the field, never a Python repr."""
    if isinstance(cols.options, list):
        options = []
        for c in cols.options:
            value = row.get(c)
            if value in (None, ""):
                continue
            if not _is_scalar(value):
                raise ConfigError(
                    f"{where}: field '{c}' (an option) is {_kind(value)}, not text; {_OPTIONS_HELP}"
                )
            options.append(str(value))
        return options, None
    field = cols.options
    if field is None or field not in row or row[field] == "":
        return None, None
    raw = row[field]
    if isinstance(raw, str):
        if not raw.strip().startswith("["):
            raise ConfigError(
                f"{where}: field '{field}' is a text ({_short(raw)}), not a list; {_OPTIONS_HELP}"
            )
        try:
            raw = _json_loads(raw)
        except json.JSONDecodeError:
            raise ConfigError(f"{where}: field '{field}' is not a JSON list") from None
        except ValueError as exc:  # a number past the bounds of `_json_loads`
            raise ConfigError(f"{where}: field '{field}': {exc}") from None
        except RecursionError:
            raise ConfigError(f"{where}: field '{field}': {_too_deep()}") from None
    labels: list[Any] | None = None
    items_field = field
    if isinstance(raw, dict):
        if isinstance(raw.get("text"), list):  # e.g. {"label": [...], "text": [...]} (ARC)
            labels = raw.get("label") if isinstance(raw.get("label"), list) else None
            raw, items_field = raw["text"], f"{field}.text"
        else:  # {"A": "iron", "B": "oxygen"}: the keys label the options
            labels, raw = list(raw), list(raw.values())
    if not isinstance(raw, list):
        raise ConfigError(f"{where}: field '{field}' is {_kind(raw)}; {_OPTIONS_HELP}")
    for i, item in enumerate(raw):
        if not _is_scalar(item):
            at = (
                f"{field}.{labels[i]}" if items_field == field and labels else f"{items_field}[{i}]"
            )
            raise ConfigError(
                f"{where}: field '{at}' is {_kind(item)}, not text; every option "
                f"must be a text; {_OPTIONS_HELP}"
            )
    if labels is not None and (len(labels) != len(raw) or not all(_is_scalar(lb) for lb in labels)):
        labels = None  # labels that do not pair with the options say nothing
    return [str(o) for o in raw], None if labels is None else [str(lb).strip() for lb in labels]


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


class _NumberReadings:
    """How a dataset's number answers were read where only one reading named an option (as an
    option's text, or as an index) and the options are numbers themselves: a file that reads
    some one way and some the other mixes two conventions, and cannot be scored as it is."""

    def __init__(self) -> None:
        self.first: dict[str, str] = {}  # "text" or "index" -> where, e.g. "data.jsonl line 3"

    def note(self, how: str, where: str, value: Any) -> None:
        self.first.setdefault(how, f"{where} (answer {value!r})")
        if len(self.first) == 2:
            raise ConfigError(
                f"number answers are read two ways in one file: as an option's text at "
                f"{self.first['text']} and as a 0-based index at {self.first['index']}; say "
                "which the file means with dataset.columns.answer_index: true (indexes) or "
                "false (option text)"
            )


def _references(
    answer: Any,
    options: list[str] | None,
    where: str,
    cols: ColumnMap,
    labels: list[str] | None = None,
    readings: _NumberReadings | None = None,
) -> list[str]:
    if answer is None or answer == "":
        return []
    values = answer if isinstance(answer, list) else [answer]
    for i, v in enumerate(values):
        if not _is_scalar(v):
            at = f"{cols.answer}[{i}]" if isinstance(answer, list) else cols.answer
            raise ConfigError(
                f"{where}: field '{at}' is {_kind(v)}; an answer must be a text or a number "
                "(for multiple choice: an option's letter, text or index), or a list of them"
            )
    if options is None:
        return [str(v) for v in values]
    letters = []
    for v in values:
        letter = _answer_letter(v, options, where, cols.answer_index, labels, readings)
        if letter is None:
            n = len(options)
            # dataset.columns.answer_index, where given, allows one reading of numbers
            index = "" if cols.answer_index is False else f", an index 0-{n - 1}"
            text = "" if cols.answer_index is True else ", or an option's text"
            if cols.answer_index is not None:
                text += f" (columns.answer_index: {str(cols.answer_index).lower()})"
            raise ConfigError(
                f"{where}: answer {v!r} names no option of the {n}; valid: a letter "
                f"{LETTERS[0]}-{LETTERS[n - 1]}{index}{text} "
                f"({', '.join(repr(o) for o in options[:6])}{', ...' if n > 6 else ''})",
            )
        letters.append(letter)
    return letters


def _answer_letter(
    value: Any,
    options: list[str],
    where: str = "",
    answer_index: bool | None = None,
    labels: list[str] | None = None,
    readings: _NumberReadings | None = None,
) -> str | None:
    """The option letter an answer names: by the option's label where the file gives labels,
    a number by the option's text or index (see `ColumnMap.answer_index`), a letter, or the
    option's text."""
    if isinstance(value, bool):
        return None
    text = str(value).strip()
    if labels is not None and labels.count(text) == 1:
        return LETTERS[labels.index(text)]
    number = value if isinstance(value, int) else int(text) if text.isdecimal() else None
    # not isdigit(): int("²") fails
    if number is not None:
        by_text = _text_letter(text, options)
        by_index = LETTERS[number] if 0 <= number < len(options) else None
        if answer_index is not None:
            return by_index if answer_index else by_text
        if by_text and by_index and by_text != by_index:
            raise ConfigError(
                f"{where}: answer {value!r} is ambiguous: by its text it is option {by_text} "
                f"({options[LETTERS.index(by_text)]!r}), as a 0-based index option {by_index} "
                f"({options[number]!r}); say which the file means with "
                "dataset.columns.answer_index: true (indexes) or false (option text)"
            )
        one_way = (by_text is None) != (by_index is None)
        # Only where the options are numbers can the two readings be confused.
        if readings is not None and one_way and all(_is_number(o) for o in options):
            readings.note("text" if by_text else "index", where, value)
        return by_text or by_index
    m = re.fullmatch(r"\(?([A-Za-z])\)?", text)
    if m and m.group(1).upper() in LETTERS[: len(options)]:
        return m.group(1).upper()
    return _text_letter(text, options)


def _text_letter(text: str, options: list[str]) -> str | None:
    """The letter of the one option whose text is `text` (folded), else None."""
    folded = normalize_free_text(text)
    hits = [LETTERS[i] for i, o in enumerate(options) if normalize_free_text(o) == folded]
    return hits[0] if len(hits) == 1 else None


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _lone_surrogate(value: Any, field: str = "") -> str | None:
    """The first field whose text holds a lone surrogate (from a JSON '\\ud800' escape), else None.
    Control characters are kept: they are text, and JSON records escape them."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return field or "?"
    elif isinstance(value, dict):
        for k, v in value.items():
            found = _lone_surrogate(k, field or str(k)) or _lone_surrogate(v, field or str(k))
            if found is not None:
                return found
    elif isinstance(value, list):
        for v in value:
            found = _lone_surrogate(v, field)
            if found is not None:
                return found
    return None


def _names(field: str | list[str] | None) -> str:
    return ", ".join(field) if isinstance(field, list) else str(field)


def _jsonable(value: Any) -> bool:
    return isinstance(value, str | int | float | bool | type(None) | list | dict)


def shuffle_options(task: Task, seed: int) -> Task:
    """The task with its options in a seeded random order and its references following them
    (the original position of each shown option is kept in metadata `option_order`). A task
    without options is returned as it is."""
    if task.options is None:
        return task
    order = list(range(len(task.options)))
    random.Random(f"shuffle_options:{seed}").shuffle(order)
    new_letter = {LETTERS[old]: LETTERS[new] for new, old in enumerate(order)}
    return task.model_copy(
        update={
            "options": [task.options[i] for i in order],
            "references": sorted(new_letter.get(r, r) for r in task.references),
            "metadata": {**task.metadata, "option_order": order},
        }
    )


class PositionSkew(BaseModel):
    """Where the correct option sits most often in the multiple-choice examples."""

    model_config = ConfigDict(extra="forbid")

    letter: str
    count: int
    total: int

    @property
    def share(self) -> float:
        return self.count / self.total

    def message(self) -> str:
        return (
            f"the correct option is {self.letter} in {self.count} of {self.total} "
            f"multiple-choice examples ({self.share:.0%}): always answering {self.letter} "
            "scores that much; set dataset.shuffle_options: true"
        )


def position_skew(tasks: Iterable[Task], threshold: float = 0.6) -> PositionSkew | None:
    """The position holding the correct option in more than `threshold` of the
    multiple-choice examples, or None when no position does."""
    counts: dict[str, int] = {}
    total = 0
    for task in tasks:
        if task.options is None or not task.references:
            continue
        total += 1
        for letter in set(task.references):
            counts[letter] = counts.get(letter, 0) + 1
    if not counts:
        return None
    letter = min(counts, key=lambda k: (-counts[k], k))
    if counts[letter] / total <= threshold:
        return None
    return PositionSkew(letter=letter, count=counts[letter], total=total)
