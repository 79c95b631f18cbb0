"""Loading a named benchmark preset (`_preset_table`): its rows in the source's own schema,
from the hub (through `datasets`), the published file (downloaded once into a cache), or a
local copy given as `path:` (.jsonl, .json, .csv, .parquet, or a folder saved by `datasets`).
With no network the load fails at once, naming what to download and how to point `path:` at
it: no retries against an unreachable hub. Importing this module registers the loader with
`load_dataset_info` (madebate.runs imports it)."""

from __future__ import annotations

import csv
import io
import os
import socket
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from madebate._errors import ConfigError
from madebate.runs._datasets import (
    ColumnMap,
    DatasetInfo,
    DatasetSpec,
    _bigbench_prompt,
    _csv_rows,
    _jsonl_rows,
    _parse_json,
    _read_text,
    register_preset_loader,
)
from madebate.runs._preset_table import FileSource, HubSource, Preset, Row, get_preset

# -- loading --------------------------------------------------------------------------------


def preset_rows(
    spec: DatasetSpec, base_dir: Path | None
) -> tuple[str, DatasetInfo, ColumnMap, Iterable[tuple[str, Row]]]:
    """Where the examples came from, what the preset says of them (kind, metrics,
    instruction), its column map, and the source rows prepared for that map."""
    assert spec.preset is not None
    preset = get_preset(spec.preset)
    info = DatasetInfo(f"preset {preset.name}", kind=preset.kind, metrics=list(preset.metrics))
    info.instruction = preset.instruction
    if spec.path is not None:
        path = Path(spec.path)
        if not path.is_absolute() and base_dir is not None:
            path = base_dir / path
        source, raw = str(path), _local_rows(preset, path, spec.split)
    elif isinstance(preset.source, HubSource):
        source, raw = preset.source.id, _hub_rows(preset, preset.source, spec.split)
    else:
        path = _fetched(preset, preset.source)
        source, raw = str(path), _local_rows(preset, path, spec.split)
    columns = ColumnMap(**preset.columns)
    if columns.id is None:  # ids by position in the source: repeated rows stay distinct
        columns = columns.model_copy(update={"id": "_position"})
    return source, info, columns, _prepared(preset, raw, columns, source)


def _prepared(
    preset: Preset, rows: Iterable[tuple[str, Any]], columns: ColumnMap, source: str
) -> Iterator[tuple[str, Row]]:
    positions = columns.id == "_position"
    for n, (where, raw) in enumerate(rows):
        row = raw
        if isinstance(raw, dict):
            _check_columns(preset, raw, source, where)
        if preset.prepare is not None:
            try:
                row = preset.prepare(raw)
            except (KeyError, TypeError, ValueError, SyntaxError, AttributeError) as exc:
                why = f"{type(exc).__name__}: {exc}"
                raise _schema_error(preset, source, where, why) from None
            if row is None:
                continue
            if isinstance(row, dict) and not isinstance(raw, dict):  # parsed by prepare (MoCa)
                _check_columns(preset, row, source, where)
        if not isinstance(row, dict):
            raise _schema_error(preset, source, where, f"a {type(row).__name__}, not a mapping")
        if row.get(columns.question) in (None, ""):
            fields = ", ".join(str(k) for k in row if not str(k).startswith("_")) or "none"
            raise _schema_error(preset, source, where, f"no question; the row has: {fields}")
        yield where, {**row, "_position": f"{preset.name}/{n}"} if positions else row


def _check_columns(preset: Preset, row: Row, source: str, where: str) -> None:
    """A row lacking a column the preset reads is a copy in another schema: refused, so that
    no example is read with no answer (scored wrong) or a question of 'None'."""
    missing = [c for c in preset.needs if c not in row]
    if missing:
        fields = ", ".join(str(k) for k in row if not str(k).startswith("_")) or "none"
        what = f"no column {', '.join(repr(c) for c in missing)}; the row has: {fields}"
        raise _schema_error(preset, source, where, what)


def _schema_error(preset: Preset, source: str, where: str, what: str) -> ConfigError:
    return ConfigError(
        f"{where.strip()}: not a {preset.title} row in the source's own schema ({what}); "
        f"expected {preset.mapping}",
        source=source,
        field="dataset.preset",
    )


def _local_rows(preset: Preset, path: Path, split: str) -> Iterable[tuple[str, Any]]:
    """A local copy in the source's own schema: .jsonl, .json, .csv, .parquet, or a folder
    saved by `datasets` (save_to_disk, as MALLM's downloader leaves it)."""
    if isinstance(preset.source, FileSource) and preset.source.format == "btvote":
        return _btvote_rows(path)
    if path.is_dir():
        if any((path / f).exists() for f in ("dataset_info.json", "dataset_dict.json")):
            return _saved_rows(path, split)
        raise ConfigError(
            "is a folder but not one saved by datasets (no dataset_info.json or "
            f"dataset_dict.json); give a .jsonl, .json, .csv or .parquet file of {preset.title}",
            source=str(path),
            field="dataset.path",
        )
    suffix = path.suffix.lower()
    if isinstance(preset.source, FileSource) and preset.source.format == "bigbench":
        data = _parse_json(_read_text(path), path) if suffix == ".json" else None
        if not (isinstance(data, dict) and "examples" in data):
            raise ConfigError(
                f"not a BIG-bench task; {preset.title} is read from its task.json (a JSON object "
                f"with 'examples', each with 'input' and 'target_scores'): {preset.source.url}",
                source=str(path),
                field="dataset.path",
            )
        return _bigbench_choice_rows(data, path)
    if suffix == ".parquet":
        return _parquet_rows(path)
    text = _read_text(path)
    if suffix == ".jsonl":
        return _jsonl_rows(text, path)
    if suffix == ".csv":
        return _csv_rows(text, path)
    if suffix == ".json":
        data = _parse_json(text, path)
        if isinstance(data, dict) and "examples" in data:
            return _bigbench_choice_rows(data, path)
        if isinstance(data, dict):
            data = next((data[k] for k in ("data", "rows") if isinstance(data.get(k), list)), data)
        if not isinstance(data, list):
            raise ConfigError(
                f"expected a JSON list of {preset.title} rows",
                source=str(path),
                field="dataset.path",
            )
        return ((f" item {i}", r) for i, r in enumerate(data))
    raise ConfigError(
        f"cannot read '{suffix}' as {preset.title}; give a .jsonl, .json, .csv or .parquet file "
        "in the source's own schema, or a folder saved by datasets",
        source=str(path),
        field="dataset.path",
    )


def _saved_rows(path: Path, split: str) -> Iterator[tuple[str, Row]]:
    datasets = _datasets_module(f"the folder {path}")
    loaded = datasets.load_from_disk(str(path))
    if hasattr(loaded, "keys"):
        if split not in loaded:
            raise ConfigError(
                f"has no split '{split}'; it has {', '.join(loaded.keys())} (set dataset.split)",
                source=str(path),
                field="dataset.split",
            )
        loaded = loaded[split]
    for i, row in enumerate(loaded):
        yield f" row {i}", dict(row)


def _parquet_rows(path: Path) -> Iterator[tuple[str, Row]]:
    try:
        import pyarrow.parquet as pq  # type: ignore[import-untyped]
    except ImportError:
        raise ConfigError(
            "reading .parquet needs pyarrow (pip install 'madebate[hf]')", source=str(path)
        ) from None
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow raises its own kinds for a damaged file
        raise ConfigError(f"not a parquet file: {exc}", source=str(path)) from None
    for i, row in enumerate(table.to_pylist()):
        yield f" row {i}", row


def _datasets_module(what: str) -> Any:
    try:
        import datasets
    except ImportError:
        raise ConfigError(
            f"reading {what} needs the 'datasets' package (pip install 'madebate[hf]')",
            field="dataset.preset",
        ) from None
    return datasets


_TRUE = ("1", "true", "yes", "on")


def _offline() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE")
    )


def _unreachable(url: str, timeout: float = 3.0) -> str | None:
    """Why the host of `url` cannot be reached (a connect within `timeout`), or None. Checked
    once before `datasets` is asked, which otherwise retries an unreachable hub for ~25 s."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as exc:
        return f"{host}:{port} cannot be reached ({exc.strerror or exc})"
    return None


def _hub_rows(preset: Preset, source: HubSource, split: str) -> Iterator[tuple[str, Row]]:
    datasets = _datasets_module(f"the preset {preset.name} from the hub")
    if not _offline():
        endpoint = os.environ.get("HF_ENDPOINT") or "https://huggingface.co"
        reason = _unreachable(endpoint)
        if reason is not None:
            raise _download_error(preset, split, f"the hub {reason}")
    revision = source.revision
    try:
        try:
            data = datasets.load_dataset(source.id, source.config, split=split, revision=revision)
        except RuntimeError as exc:
            if revision is not None or _SCRIPTS_GONE not in str(exc):
                raise
            # Published with a loading script, which datasets 4 and later no longer run: the
            # hub's own parquet conversion of it has the same configs, splits and columns.
            revision = PARQUET_REVISION
            data = datasets.load_dataset(source.id, source.config, split=split, revision=revision)
    except Exception as exc:  # the library raises many kinds; name the cause and the way out
        cause = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if revision != source.revision:
            cause += f" (read at revision {revision}: the source has a loading script)"
        why = f"loading it failed ({cause})"
        raise _download_error(preset, split, why, revision=revision) from None
    for i, row in enumerate(data):
        yield f" row {i}", dict(row)


_SCRIPTS_GONE = "scripts are no longer supported"
PARQUET_REVISION = "refs/convert/parquet"
"""The hub's parquet conversion of a dataset published with a loading script."""


def _download_error(
    preset: Preset, split: str, why: str, *, revision: str | None = None
) -> ConfigError:
    source = preset.source
    if isinstance(source, HubSource):
        config = f"{source.config!r}" if source.config else "None"
        revision = revision or source.revision
        revision = f", revision={revision!r}" if revision else ""
        where = f"the Hugging Face dataset {source.describe(split)}"
        fetch = (
            'download it once where the hub is reachable, e.g. python -c "import datasets; '
            f"datasets.load_dataset({source.id!r}, {config}, split={split!r}{revision})"
            f".to_json('{preset.name}-{split}.jsonl')\", and set dataset.path: "
            f"{preset.name}-{split}.jsonl (a .jsonl, .json, .csv or .parquet file with the "
            "source's own columns, or a folder saved by datasets' save_to_disk)"
        )
        if not _offline():
            fetch += "; or set HF_HUB_OFFLINE=1 to read a copy already in the Hugging Face cache"
    else:
        where = source.url or source.how
        name = Path(urlsplit(source.url).path).name if source.url else "the folder"
        fetch = f"download {where} once and set dataset.path: to {name}"
        where = f"the published file {where}" if source.url else where
    return ConfigError(
        f"preset {preset.name} ({preset.title}) reads {where}, and {why}; {fetch}",
        field="dataset.preset",
    )


def cache_dir() -> Path:
    """Where published files of presets are kept once downloaded."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "madebate" / "datasets"


def _fetched(preset: Preset, source: FileSource) -> Path:
    """The published file, downloaded once into `cache_dir()`."""
    if source.url is None:
        raise _download_error(preset, "", "madebate cannot download it for you")
    target = cache_dir() / preset.name / Path(urlsplit(source.url).path).name
    if target.is_file():
        return target
    reason = _unreachable(source.url)
    if reason is not None:
        raise _download_error(preset, "", reason)
    try:
        with urllib.request.urlopen(source.url, timeout=30) as response:
            body = response.read()
    except OSError as exc:
        raise _download_error(preset, "", f"the download failed ({exc})") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(body)
    partial.replace(target)  # whole or not at all: an interrupted download is not a copy
    return target


# -- BTVote: two files joined -----------------------------------------------------------------

# A vote behaviour's label, letters only, that counts as yes or as no ("Yes", "1. yes", "Nein");
# any other (abstention, absent, "not voted") counts as neither.
_YES = frozenset({"yes", "ja"})
_NO = frozenset({"no", "nein"})


def _letters(label: str) -> str:
    return "".join(ch for ch in label.lower() if ch.isalpha())


def _btvote_rows(folder: Path) -> list[tuple[str, Row]]:
    """BTVote's votes (behaviour.dta, one row per member and vote) counted per vote and joined
    with the vote characteristics (vote_characteristics.tab: vote_id, vote_title, ...)."""
    behaviour, titles = folder / "behaviour.dta", folder / "vote_characteristics.tab"
    missing = [p.name for p in (behaviour, titles) if not p.is_file()]
    if missing:
        raise ConfigError(
            f"needs {' and '.join(missing)} in this folder (BTVote from the Harvard Dataverse: "
            "doi:10.7910/DVN/24U1FR and doi:10.7910/DVN/AHBBXY)",
            source=str(folder),
            field="dataset.path",
        )
    try:
        import pandas as pd
    except ImportError:
        raise ConfigError(
            "reading BTVote's Stata file needs pandas (pip install 'madebate[hf]')",
            source=str(behaviour),
        ) from None
    try:
        votes = pd.read_stata(behaviour, columns=["vote_id", "vote_beh"])
    except Exception as exc:  # pandas raises many kinds for a damaged or other file
        raise ConfigError(
            f"cannot read vote_id and vote_beh: {type(exc).__name__}: {exc}", source=str(behaviour)
        ) from None
    counts: dict[str, dict[str, int]] = {}
    for vote_id, beh in zip(votes["vote_id"], votes["vote_beh"], strict=True):
        if pd.isna(beh):
            continue
        key = str(int(vote_id)) if isinstance(vote_id, float) else str(vote_id)
        per = counts.setdefault(key, {})
        per[str(beh)] = per.get(str(beh), 0) + 1
    reader = csv.DictReader(io.StringIO(_read_text(titles), newline=""), delimiter="\t")
    rows: list[tuple[str, Row]] = []
    for row in reader:
        vote_id = str(row.get("vote_id") or "").strip()
        if vote_id not in counts or not (row.get("vote_title") or "").strip():
            continue
        tally = counts[vote_id]
        yes = sum(n for b, n in tally.items() if _letters(b) in _YES)
        no = sum(n for b, n in tally.items() if _letters(b) in _NO)
        if yes == no == 0:
            raise ConfigError(
                f"vote {vote_id}: no vote behaviour reads as yes or no (got "
                f"{', '.join(sorted(tally))})",
                source=str(behaviour),
            )
        rows.append(
            (
                f" line {reader.line_num}",
                {**row, "vote_id": vote_id, "_answer": "Yes" if yes > no else "No", "votes": tally},
            )
        )
    return rows


def _bigbench_choice_rows(data: dict[str, Any], path: Path) -> Iterator[tuple[str, Row]]:
    """A BIG-bench multiple-choice task as the preset asks it: the options of `target_scores`,
    the best-scored ones the answer, whatever the task's preferred score (MALLM reads them so)."""
    examples = data.get("examples")
    if not isinstance(examples, list):
        raise ConfigError("a BIG-bench task needs a list 'examples'", source=str(path))
    for i, ex in enumerate(examples):
        scores = ex.get("target_scores") if isinstance(ex, dict) else None
        if not isinstance(scores, dict) or not scores or "input" not in ex:
            raise ConfigError(
                f"examples[{i}]: needs 'input' and 'target_scores' (option -> score)",
                source=str(path),
            )
        options = [str(o) for o in scores]
        best = max(scores.values())
        answer = [str(o) for o in options if scores[o] == best]
        question = _bigbench_prompt(data, ex["input"], True)
        yield f" examples[{i}]", {"question": question, "options": options, "answer": answer}


register_preset_loader(preset_rows)
