"""Scaling of distributed runs on Ray: the same experiment on 1, 2, ... Ray workers.

    python benchmarks/ray_scaling.py                      # 2,000 discussions, 1 and 2 workers
    python benchmarks/ray_scaling.py --n 400 --workers 1 2 4 --local

By default it starts the shared fake OpenAI-compatible latency server
(../shared/bench/fake_llm_server.py, --slots 1000 so the server is never the limit) and a local
Ray cluster per configuration, each configuration in its own subprocess. Every worker runs
`--in-flight` discussions at a time (the spec's `concurrency` is per worker), 3 agents, exactly
`--turns` turns, memory paradigm, no cache.

On a real cluster, attach with `--address auto` (on a cluster node) or `--address
ray://HEAD:10001`, and point the workers at an endpoint they can all reach with
`--base-url http://HOST:PORT/v1 --model openai/NAME` (the fake server listens on 127.0.0.1 only).

Printed per configuration: run wall time (from the first job handed out to the last record),
startup (cluster and workers), calls, records/s, the machine's CPU use during the run (this
host only), per-worker records/s; then the speed-up over the first configuration and, last,
one JSON line with everything.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import discussion_spec, free_port, get_json, start_server, write_dataset

ROOT = Path(__file__).resolve().parents[1]


def process_cpu_s(pid: int) -> float | None:
    """User plus system CPU seconds of a process, from /proc; None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (float(fields[11]) + float(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_times() -> tuple[float, float] | None:
    """(busy, total) jiffies of this host, from /proc/stat; None elsewhere."""
    try:
        fields = [float(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return None
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0.0)
    return sum(fields) - idle, sum(fields)


# -- one configuration, in its own process ------------------------------------------------


def run_phase(args: argparse.Namespace) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    import madebate
    from madebate.runs._executor_ray import RayExecutor
    from madebate.runs._runner import Executor

    workdir = Path(tempfile.mkdtemp(prefix="madebate-ray-bench-"))
    data = workdir / "data.jsonl"
    write_dataset(data, args.n)
    model = {"id": args.model, "base_url": args.base_url, "max_concurrency": 1000, "timeout_s": 600}
    spec = discussion_spec(
        "ray-scaling", data, model, agents=args.agents, turns=args.turns, in_flight=args.in_flight
    )
    executor: Executor | None = None
    if args.executor == "ray":
        executor = RayExecutor(address=args.address, workers=args.phase_workers)
    cpu0 = cpu_times()
    t0 = time.perf_counter()
    driver0 = time.process_time()
    result = madebate.run_experiment(spec, out=workdir / "run", executor=executor)
    driver_cpu = time.process_time() - driver0
    total = time.perf_counter() - t0
    cpu1 = cpu_times()
    busy = None
    if cpu0 and cpu1 and cpu1[1] > cpu0[1]:
        busy = (cpu1[0] - cpu0[0]) / (cpu1[1] - cpu0[1])  # fraction of all cores, whole run
    shutil.rmtree(workdir, ignore_errors=True)
    cells = result.summary.model_dump(mode="json")["cells"].values()
    return {
        "executor": args.executor,
        "workers": args.phase_workers if args.executor == "ray" else 0,
        "wall_s": result.wall_s,
        "startup_s": total - result.wall_s,
        "records": result.new_records,
        "calls": int(sum(c["calls_per_example"] * c["n"] for c in cells)),
        "errors": int(sum(c["errors"] for c in cells)),
        "host_cpu_busy": busy,
        "host_cores": os.cpu_count(),
        "driver_cpu_s": driver_cpu,  # this process: the run directory, and the jobs if local
        "per_worker": {
            k: {"records": w.records, "per_s": w.per_s, "host": w.host}
            for k, w in (result.summary.workers or {}).items()
        },
    }


# -- the driver --------------------------------------------------------------------------


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--n", type=int, default=2000, help="discussions per configuration")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="Ray worker counts")
    ap.add_argument("--local", action="store_true", help="also run the local executor")
    ap.add_argument("--in-flight", type=int, default=200, help="discussions in flight per worker")
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--agents", type=int, default=3)
    ap.add_argument("--address", help="a running Ray cluster (default: a local one per run)")
    ap.add_argument("--base-url", help="an OpenAI-compatible endpoint (default: the fake server)")
    ap.add_argument("--model", default="openai/fake", help="model id for --base-url")
    ap.add_argument(
        "--server", default=str(ROOT.parent / "shared" / "bench" / "fake_llm_server.py")
    )
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--phase", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--executor", default="ray", help=argparse.SUPPRESS)
    ap.add_argument("--phase-workers", type=int, default=1, help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase:
        print(json.dumps(run_phase(args)))
        return

    server = None
    base_url = args.base_url
    ideal_call_s = None
    if base_url is None:
        port = free_port()
        server = start_server(args.server, port, args.slots)
        base_url = f"http://127.0.0.1:{port}/v1"
        config = get_json(f"http://127.0.0.1:{port}/stats")["config"]
        ideal_call_s = (config["ttft_ms"] + (config["reply_tokens"] - 1) * config["tpot_ms"]) / 1000
    configs = [("local", 0)] if args.local else []
    configs += [("ray", w) for w in args.workers]
    print(
        f"{args.n} discussions x {args.agents} agents x {args.turns} turns, {args.in_flight} in "
        f"flight per worker, endpoint {base_url}, {os.cpu_count()} CPU(s) on this host",
        flush=True,
    )
    results: list[dict[str, Any]] = []
    try:
        for executor, workers in configs:
            if server is not None:
                get_json(base_url.removesuffix("/v1") + "/stats/reset", data=b"")
            command = [
                sys.executable,
                __file__,
                "--phase",
                "--executor",
                executor,
                "--phase-workers",
                str(workers),
                "--n",
                str(args.n),
                "--in-flight",
                str(args.in_flight),
                "--turns",
                str(args.turns),
                "--agents",
                str(args.agents),
                "--base-url",
                base_url,
                "--model",
                args.model,
            ]
            if args.address:
                command += ["--address", args.address]
            server_cpu0 = process_cpu_s(server.pid) if server is not None else None
            out = subprocess.run(
                command,
                check=True,
                capture_output=True,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            r = json.loads(out.stdout.strip().splitlines()[-1])
            if server is not None and server_cpu0 is not None:
                r["server_cpu_s"] = (process_cpu_s(server.pid) or 0.0) - server_cpu0
            if ideal_call_s is not None:
                slots = args.in_flight * max(1, workers)
                waves = math.ceil(args.n / slots)
                r["ideal_s"] = round(waves * args.turns * args.agents * ideal_call_s, 2)
            results.append(r)
            label = "local" if executor == "local" else f"ray x{workers}"
            busy = r["host_cpu_busy"]
            per_worker = ", ".join(f"{k} {w['per_s']:.1f}/s" for k, w in r["per_worker"].items())
            print(
                f"{label:8s} wall {r['wall_s']:7.2f}s (ideal {r.get('ideal_s', '?')}s)  "
                f"startup {r['startup_s']:5.1f}s  records {r['records']}  calls {r['calls']}  "
                f"errors {r['errors']}  {r['records'] / r['wall_s']:6.1f} records/s  "
                f"host cpu {'?' if busy is None else f'{100 * busy:.0f}%'} of {r['host_cores']} "
                f"(driver {r['driver_cpu_s']:.0f}s, server {r.get('server_cpu_s', 0):.0f}s)"
                + (f"  [{per_worker}]" if per_worker else ""),
                flush=True,
            )
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=10)
    ray_runs = [r for r in results if r["executor"] == "ray"]
    if ray_runs:
        base = ray_runs[0]
        for r in ray_runs[1:]:
            print(
                f"speed-up ray x{r['workers']} over ray x{base['workers']}: "
                f"{base['wall_s'] / r['wall_s']:.2f}x",
                flush=True,
            )
    print(json.dumps({"n": args.n, "in_flight_per_worker": args.in_flight, "runs": results}))


if __name__ == "__main__":
    main()
