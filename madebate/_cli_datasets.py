"""`madebate datasets`: the named benchmark presets, with source, task kind, size and metrics."""

from __future__ import annotations

import enum
import json
import os
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

if TYPE_CHECKING:  # the presets load with the runs layer: only when the command runs
    from madebate.runs._datasets import DatasetSpec
    from madebate.runs._preset_table import Preset


class ListFormat(enum.StrEnum):
    """How `madebate datasets` prints."""

    table = "table"
    json = "json"


def preset_entry(preset: Preset) -> dict[str, Any]:
    """One preset as plain data (the JSON output, one object per preset)."""
    from madebate.runs._preset_table import HubSource

    source = preset.source
    if isinstance(source, HubSource):
        where: dict[str, Any] = {
            "hub": source.id,
            "config": source.config,
            "split": source.split,
            "revision": source.revision,
        }
    else:
        where = {"url": source.url, "format": source.format, "how": source.how or None}
    return {
        "name": preset.name,
        "benchmark": preset.title,
        "source": where,
        "kind": preset.kind,
        "size": preset.size,
        "metrics": list(preset.metrics),
        "columns": preset.mapping,
        "instruction": preset.instruction,
        "other_splits": list(preset.splits) or None,
        "shuffle_options": preset.shuffle_options,
        "note": preset.note or None,
    }


def _source_text(preset: Preset) -> str:
    from madebate.runs._preset_table import HubSource

    source = preset.source
    if isinstance(source, HubSource):
        config = f" ({source.config})" if source.config else ""
        return f"{source.id}{config}, {source.split}"
    return source.label


def preset_notes(spec: DatasetSpec) -> list[str]:
    """What `validate` says of a dataset that names a preset: what it resolves to."""
    if spec.preset is None:
        return []
    from madebate.runs._preset_table import get_preset

    preset = get_preset(spec.preset)
    local = os.path.normpath(spec.path) if spec.path else None  # anchored: 'papers/../../x'
    where = f"local copy {local}" if local else preset.source.describe(spec.split)
    notes = [
        f"preset: {preset.name} ({preset.title}), from {where}",
        f"preset task kind: {preset.kind}; metrics: {', '.join(preset.metrics)}",
    ]
    if preset.shuffle_options and spec.shuffle_options:
        notes.append("preset options: shuffled per example and repeat (fixed order in the source)")
    return notes


def datasets_command(
    format: Annotated[
        ListFormat, typer.Option("--format", "-f", help="table or json (every field).")
    ] = ListFormat.table,
) -> None:
    """List the named benchmark presets (`dataset: {preset: NAME}`): source, task kind, size
    of the default split as published, and default metrics."""
    from madebate.runs._preset_table import PRESETS

    if format == ListFormat.json:
        entries = [preset_entry(p) for p in PRESETS.values()]
        sys.stdout.write(json.dumps(entries, indent=2, ensure_ascii=False) + "\n")
        return
    table = Table(title="Benchmark presets: dataset: {preset: NAME, split: ..., limit: ...}")
    table.add_column("name", no_wrap=True, style="bold")
    table.add_column("benchmark")
    table.add_column("source (hub id, config, split; or URL)", overflow="fold")
    table.add_column("kind")
    table.add_column("size", justify="right")
    table.add_column("metrics")
    for p in PRESETS.values():
        size = f"{p.size:,}" if p.size is not None else "-"
        table.add_row(
            p.name, p.title, _source_text(p), p.kind, size, ", ".join(p.metrics), end_section=False
        )
    console = Console(width=max(Console().width, 150))
    console.print(table)
    console.print(
        "Without network, point path: at a local copy in the source's own schema (.jsonl, "
        ".json, .csv, .parquet, or a folder saved by datasets); --format json shows each "
        "preset's columns, instruction and notes.",
        highlight=False,
        markup=False,
    )
