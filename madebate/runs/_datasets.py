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
import random
import re
import sys
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from madebate._errors import ConfigError
from madebate._task import LETTERS, Task, normalize_free_text
from madebate._yaml import SPEC_CONFIG

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


class DatasetSpec(BaseModel):
    """Where the examples come from: a file, a Hugging Face dataset or inline examples."""

    model_config = SPEC_CONFIG

    path: str | None = None
    """A local file (.jsonl, .json, .csv, BIG-bench JSON), relative to the experiment file; or a
    local Hugging Face dataset folder with format hf."""
    hf: str | None = None
    """A Hugging Face dataset id."""
    hf_config: str | None = None
    """The Hugging Face dataset's configuration (subset)."""
    split: str = "test"
    """The Hugging Face dataset's split."""
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
    references follow the shuffle); default: the file's order."""

    @model_validator(mode="after")
    def _one_source(self) -> DatasetSpec:
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


def load_dataset(spec: DatasetSpec, *, base_dir: Path | None = None) -> list[Task]:
    """All examples of a dataset spec as tasks (limited and sampled as asked)."""
    return load_dataset_info(spec, base_dir=base_dir)[0]


def load_dataset_info(
    spec: DatasetSpec, *, base_dir: Path | None = None
) -> tuple[list[Task], DatasetInfo]:
    """The tasks, and what the file says about itself (format, task kind, metrics, repeats)."""
    source, info, rows = _rows(spec, base_dir)
    tasks: list[Task] = []
    seen: dict[str, str] = {}
    for where, row in rows:
        task = _to_task(row, spec.columns, f"{source}{where}")
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
            ((f"[{i}]", r) for i, r in enumerate(spec.examples)),
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
        ((f" item {i}", _mallm_row(r) if _is_mallm(r) else r) for i, r in enumerate(data)),
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
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"line {exc.lineno}: invalid JSON ({exc.msg})", source=str(path)
        ) from None
    except RecursionError:
        raise ConfigError(_too_deep(), source=str(path)) from None


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
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"line {n}: invalid JSON ({exc.msg})", source=str(path)) from None
        except RecursionError:
            raise ConfigError(f"line {n}: {_too_deep()}", source=str(path)) from None
        if not isinstance(row, dict):
            raise ConfigError(
                f"line {n}: expected a JSON object, got {type(row).__name__}", source=str(path)
            )
        yield f" line {n}", _mallm_row(row) if _is_mallm(row) else row


def _csv_rows(text: str, path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    # newline="": quoted fields keep their line breaks; line_num counts them and blank lines.
    reader = csv.DictReader(io.StringIO(text, newline=""))
    for row in reader:
        n = reader.line_num  # the line the row ends on
        if None in row:
            raise ConfigError(f"line {n}: more fields than the header has", source=str(path))
        yield f" line {n}", dict(row)


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
        yield f" row {i}", dict(row)


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


def _mallm_row(row: dict[str, Any]) -> dict[str, Any]:
    """MALLM's example format: inputs (list of text), context, references, example_id.
    Options written as 'A) ...' lines inside the input become multiple-choice options."""
    text = "\n".join(str(x) for x in row.get("inputs") or [])
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
        out["context"] = "\n".join(context) if isinstance(context, list) else str(context)
    return out


def _to_task(row: dict[str, Any], cols: ColumnMap, where: str) -> Task:
    def get(key: str | None) -> Any:
        return row.get(key) if key else None

    bad = _lone_surrogate(row)
    if bad is not None:  # not text: it could be neither hashed nor written to the run log
        name = bad.encode("utf-8", "backslashreplace").decode()
        raise ConfigError(
            f"{where}: field '{name}' holds a lone surrogate (e.g. \\ud800), not text"
        )
    question = get(cols.question)
    if question is None or not str(question).strip():
        state = "empty" if cols.question in row else "missing"
        fields = ", ".join(str(k) for k in row) or "none"
        raise ConfigError(
            f"{where}: field '{cols.question}' is {state} (the row has: {fields}); every "
            f"example needs a question: name its field in dataset.columns.question"
        )
    options: list[str] | None
    if isinstance(cols.options, list):
        options = [str(row[c]) for c in cols.options if row.get(c) not in (None, "")]
    else:
        raw = get(cols.options)
        if isinstance(raw, str) and raw.strip().startswith("["):
            try:
                raw = json.loads(raw)
            except json.JSONDecodeError:
                raise ConfigError(f"{where}: field '{cols.options}' is not a JSON list") from None
        if isinstance(raw, dict):  # e.g. {"label": [...], "text": [...]} (ARC on the hub)
            raw = raw.get("text") or list(raw.values())
        options = [str(o) for o in raw] if isinstance(raw, list) else None
    if options is not None and not 2 <= len(options) <= len(LETTERS):
        raise ConfigError(
            f"{where}: field '{_names(cols.options)}': need 2 to {len(LETTERS)} options, got "
            f"{len(options)} (leave options out for a question without choices)"
        )
    answer = get(cols.answer)
    references = _references(answer, options, where, cols)
    context = get(cols.context)
    given_id = get(cols.id)
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
        return Task(
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


def _references(answer: Any, options: list[str] | None, where: str, cols: ColumnMap) -> list[str]:
    if answer is None or answer == "":
        return []
    values = answer if isinstance(answer, list) else [answer]
    if options is None:
        return [str(v) for v in values]
    letters = []
    for v in values:
        letter = _answer_letter(v, options)
        if letter is None:
            n = len(options)
            raise ConfigError(
                f"{where}: answer {v!r} names no option of the {n}; valid: a letter "
                f"{LETTERS[0]}-{LETTERS[n - 1]}, an index 0-{n - 1}, or an option's text "
                f"({', '.join(repr(o) for o in options[:6])}{', ...' if n > 6 else ''})",
            )
        letters.append(letter)
    return letters


def _answer_letter(value: Any, options: list[str]) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return LETTERS[value] if 0 <= value < len(options) else None
    text = str(value).strip()
    if text.isdecimal() and int(text) < len(options):  # not isdigit(): int("²") fails
        return LETTERS[int(text)]
    m = re.fullmatch(r"\(?([A-Za-z])\)?", text)
    if m and m.group(1).upper() in LETTERS[: len(options)]:
        return m.group(1).upper()
    folded = normalize_free_text(text)
    hits = [LETTERS[i] for i, o in enumerate(options) if normalize_free_text(o) == folded]
    return hits[0] if len(hits) == 1 else None


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
