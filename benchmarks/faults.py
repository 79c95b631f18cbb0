"""A whole experiment through a faulty model server: every example must come out exactly once.

    python benchmarks/faults.py --server ../shared/bench/fake_llm_server.py \
        --n 600 --in-flight 200 --fault-rate 0.10

It starts the shared fake server (--slots 1000, so the server is never the limit) and, in its own
process, benchmarks/fault_proxy.py in front of it, which answers --fault-rate of the requests with
one fault drawn uniformly from: 429 with Retry-After (--retry-after-s), 429 without, 500, 503, a
connection reset, a reply that never arrives, truncated JSON, empty choices, finish_reason
"length". Then it runs the experiment (memory paradigm, 3 agents, majority consensus, up to
--turns turns, per-call timeout --timeout-s, --max-attempts attempts per call) against the proxy
and prints: examples present / expected, wall time, calls, the proxy's faults by kind, retries,
failed examples with their causes, truncated replies, and how many waits honoured Retry-After
(the proxy's measure: the time from a 429 with the header to the same request's next arrival is
at least the header's value). The last line is one JSON object with the same figures.

Exit status 1 when an example is missing or duplicated in records.jsonl, or a retry came before
its Retry-After ran out.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from _bench import discussion_spec, free_port, get_json, start_server, start_until_up, write_dataset

ROOT = Path(__file__).resolve().parents[1]


def start_proxy(upstream: str, port: int, args: argparse.Namespace) -> subprocess.Popen[bytes]:
    command = [
        sys.executable,
        str(Path(__file__).with_name("fault_proxy.py")),
        "--upstream",
        upstream,
        "--port",
        str(port),
        "--fault-rate",
        str(args.fault_rate),
        "--seed",
        str(args.seed),
        "--retry-after-s",
        str(args.retry_after_s),
    ]
    return start_until_up(command, port, "fault proxy")


def run(base_url: str, workdir: Path, args: argparse.Namespace) -> tuple[dict, float]:
    sys.path.insert(0, str(ROOT))
    import madebate

    data = workdir / "data.jsonl"
    write_dataset(data, args.n)
    model = {
        "id": "openai/fake",
        "base_url": base_url,
        "max_concurrency": 1000,
        "timeout_s": args.timeout_s,
        "max_attempts": args.max_attempts,
    }
    # Discussions may end early (consensus): the faults, not equal work, are the point here.
    spec = discussion_spec(
        "faults", data, model, turns=args.turns, exact_turns=False, in_flight=args.in_flight
    )
    started = time.perf_counter()
    result = madebate.run_experiment(spec, out=workdir / "run", progress=False)
    summary = result.summary.model_dump(mode="json")
    return {"summary": summary, "run_dir": str(result.run_dir)}, (time.perf_counter() - started)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--server", default=str(ROOT.parent / "shared" / "bench" / "fake_llm_server.py")
    )
    ap.add_argument("--n", type=int, default=600)
    ap.add_argument("--in-flight", type=int, default=200)
    ap.add_argument("--turns", type=int, default=3)
    ap.add_argument("--fault-rate", type=float, default=0.10)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--retry-after-s", type=float, default=1.0)
    ap.add_argument("--timeout-s", type=float, default=5.0)
    ap.add_argument("--max-attempts", type=int, default=6)
    args = ap.parse_args()

    server_port, proxy_port = free_port(), free_port()
    server = start_server(args.server, server_port, 1000)
    proxy = None
    try:
        proxy = start_proxy(f"http://127.0.0.1:{server_port}", proxy_port, args)
        workdir = Path(tempfile.mkdtemp(prefix="madebate-faults-"))
        out, wall = run(f"http://127.0.0.1:{proxy_port}/v1", workdir, args)
        faults = get_json(f"http://127.0.0.1:{proxy_port}/stats")
        upstream = get_json(f"http://127.0.0.1:{server_port}/stats")
    finally:
        if proxy is not None:
            proxy.terminate()
            proxy.wait(timeout=10)
        server.terminate()
        server.wait(timeout=10)

    run_dir = Path(out["run_dir"])
    records = [json.loads(line) for line in (run_dir / "records.jsonl").open()]
    cells = out["summary"]["cells"]
    keys = Counter((r["cell"], r["example_id"], r["repeat"]) for r in records)
    expected = {(cell, f"q{i}", 0) for cell in cells for i in range(args.n)}
    missing = expected - set(keys)
    duplicated = sorted(k for k, n in keys.items() if n > 1)
    calls = sum(r["calls"] for r in records)
    retries = sum(c["retries"] for c in cells.values())
    failed = [f for c in cells.values() for f in c["failed_examples"]]
    errors = sum(c["errors"] for c in cells.values())
    truncated = sum(c["truncated_replies"] for c in cells.values())
    failed_calls = sum(c["failed_calls"] for c in cells.values())
    ra = faults["retry_after"]

    print(f"examples present {len(set(keys) & expected)} / {len(expected)}", end="")
    print(f"  (missing {len(missing)}, duplicated {len(duplicated)})")
    print(f"wall {wall:.1f}s  calls {calls}  attempts at the proxy {faults['requests']}", end="")
    print(f"  (calls + retries = {calls + retries})  upstream replies {upstream['requests']}")
    share = faults["faults_total"] / max(1, faults["requests"])
    print(f"faults injected {faults['faults_total']} ({100 * share:.1f}% of attempts):")
    for kind, n in faults["faults"].items():
        print(f"  {kind:16s} {n}")
    print(f"retries {retries}  failed calls {failed_calls}  truncated replies {truncated}")
    print(f"failed examples {errors}" + (":" if failed else ""))
    for f in failed:
        print(f"  {f['example_id']} (repeat {f['repeat']}): {f['cause']}")
    print(
        f"Retry-After: sent {ra['sent']}, retried {ra['followed']}, honoured {ra['honoured']}, "
        f"early {ra['early']} (shortest wait {ra['min_gap_s']}s, median {ra['median_gap_s']}s, "
        f"header {args.retry_after_s}s)"
    )
    print(f"held replies released by the client's timeout {faults['hangs_released']}")
    stops = Counter()
    for c in cells.values():
        stops.update(c["stop_reasons"])
    print(f"stop reasons {dict(stops)}  run directory {run_dir}")
    ok = not missing and not duplicated and ra["early"] == 0
    print(
        json.dumps(
            {
                "ok": ok,
                "present": len(set(keys) & expected),
                "expected": len(expected),
                "missing": len(missing),
                "duplicated": len(duplicated),
                "wall_s": round(wall, 2),
                "calls": calls,
                "attempts": faults["requests"],
                "faults": faults["faults"],
                "retries": retries,
                "failed_examples": errors,
                "truncated_replies": truncated,
                "retry_after_honoured": ra["honoured"],
                "retry_after_early": ra["early"],
            }
        )
    )
    if not ok:
        sys.exit(1)


if __name__ == "__main__":
    main()
