"""Memory and speed of a large run on the scripted model: the run itself, `madebate summary`,
`madebate report` and a no-op `madebate run --resume`, at each size given.

    python benchmarks/scale.py                               # 10,000 and 100,000 examples
    python benchmarks/scale.py --examples 2000 --concurrency 64

Every phase runs in its own process (the `madebate` command, as a user runs it) and is measured
from outside: its wall time and its peak resident memory (the child's own `ru_maxrss`, from
`os.wait4`). The experiment is one cell: a multiple-choice dataset of --examples questions,
the scripted model (offline, no weights), the default panel and protocol, no call cache (so
the numbers are madebate's, not SQLite's). records/s is the examples of the run over the
phase's wall time. The report's size on disk is printed too.

Printed: one table row per size and phase (wall s, records/s, peak RSS in MB), then one JSON
line with the same numbers. --limit-mb (default 400) marks a phase over it; the exit status is
1 when any phase exceeded it or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml
from _bench import write_dataset

# The `madebate` command of this interpreter (what the console script runs).
MADEBATE = [sys.executable, "-c", "from madebate.cli import main; main()"]


def measure(args: list[str], log: Path) -> dict[str, Any]:
    """Runs `madebate ARGS` in a child process: its exit status, wall time and peak RSS."""
    start = time.perf_counter()
    with log.open("wb") as out:
        proc = subprocess.Popen([*MADEBATE, *args], stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own resource use
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {
        "exit": proc.returncode,
        "wall_s": round(time.perf_counter() - start, 2),
        "peak_rss_mb": round(usage.ru_maxrss / 1024, 1),  # Linux reports KiB
    }


def experiment(data: Path, concurrency: int) -> dict[str, Any]:
    return {
        "name": "scale",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "concurrency": concurrency,
        "cache": False,
    }


def folder_mb(path: Path) -> float:
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 1)


def one_size(n: int, concurrency: int, workdir: Path) -> list[dict[str, Any]]:
    """The four phases on a run of `n` examples; one row per phase."""
    folder = workdir / f"n{n}"
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.jsonl"
    write_dataset(data, n)
    spec = folder / "experiment.yaml"
    spec.write_text(yaml.safe_dump(experiment(data, concurrency), sort_keys=False))
    run_dir = folder / "run"
    phases = {
        "run": ["run", str(spec), "--out", str(run_dir), "--quiet"],
        "summary": ["summary", str(run_dir), "--format", "json"],
        "report": ["report", str(run_dir), "--out", str(folder / "report")],
        "resume (no-op)": ["run", "--resume", str(run_dir), "--quiet"],
    }
    rows = []
    for phase, args in phases.items():
        got = measure(args, folder / f"{phase.split()[0]}.log")
        row: dict[str, Any] = {"examples": n, "phase": phase, **got}
        row["records_per_s"] = round(n / got["wall_s"], 1) if got["wall_s"] > 0 else None
        if got["exit"] != 0:
            tail = (folder / f"{phase.split()[0]}.log").read_text(errors="replace")[-2000:]
            row["error"] = tail
        if phase == "report" and got["exit"] == 0:
            row["report_mb"] = folder_mb(folder / "report")
        if phase.startswith("resume") and got["exit"] == 0:
            summary = json.loads((run_dir / "summary.json").read_text())
            row["new_records"] = summary.get("new_records")
        rows.append(row)
        print(_line(row), flush=True)
    records = run_dir / "records.jsonl"
    if records.exists():
        lines = sum(1 for _ in records.open("rb"))
        print(
            f"  {n} examples: records.jsonl {lines} lines, {records.stat().st_size / 2**20:.0f} MB"
        )
    return rows


HEADER = f"{'examples':>9}  {'phase':<15} {'wall s':>8} {'records/s':>10} {'peak RSS MB':>12}"


def _line(row: dict[str, Any]) -> str:
    rate = f"{row['records_per_s']:.0f}" if row.get("records_per_s") else "-"
    extra = ""
    if "report_mb" in row:
        extra += f"  report {row['report_mb']} MB on disk"
    if "new_records" in row:
        extra += f"  new records {row['new_records']}"
    if row["exit"] != 0:
        extra += f"  FAILED (exit {row['exit']})"
    return (
        f"{row['examples']:>9}  {row['phase']:<15} {row['wall_s']:>8.1f} {rate:>10} "
        f"{row['peak_rss_mb']:>12.1f}{extra}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--examples", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--concurrency", type=int, default=256)
    ap.add_argument(
        "--limit-mb", type=float, default=400.0, help="peak RSS each phase must stay under"
    )
    ap.add_argument("--workdir", type=Path, default=None, help="kept; default: a temporary folder")
    args = ap.parse_args()

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="madebate-scale-"))
    print(f"work folder: {workdir}; concurrency {args.concurrency}; scripted model, no cache")
    print(HEADER, flush=True)
    rows: list[dict[str, Any]] = []
    try:
        for n in args.examples:
            rows += one_size(n, args.concurrency, workdir)
    finally:
        if args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(HEADER)
    for row in rows:
        over = "  OVER THE LIMIT" if row["peak_rss_mb"] >= args.limit_mb else ""
        print(_line(row) + over)
    for row in rows:
        if "error" in row:
            print(f"\n{row['examples']} {row['phase']} failed:\n{row['error']}")
    print(json.dumps([{k: v for k, v in r.items() if k != "error"} for r in rows]))
    bad = any(r["exit"] != 0 or r["peak_rss_mb"] >= args.limit_mb for r in rows)
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
