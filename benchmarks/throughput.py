"""Throughput and client CPU per call of madebate against the bare openai SDK, per team size,
both talking to the shared fake OpenAI-compatible latency server.

    python benchmarks/throughput.py --server ../shared/bench/fake_llm_server.py \
        --n 600 --in-flight 200 --turns 3 --agents 3 5 7 --repeat 2

It starts the server (--slots 1000, so the server is never the limit), then for each team size
(and each repeat) measures, each in its own subprocess so CPU and memory are not mixed up:
  1. the SDK floor: the bare openai async client making the same calls in the same dependency
     pattern (--in-flight workers, each making its discussions' calls one after another, each
     prompt holding the transcript so far, as a discussion's does);
  2. madebate: the experiment itself (memory paradigm, library personas, majority consensus,
     exactly --turns turns).
Per measurement it prints one line per phase, then the ratios: madebate's client CPU per call
over the SDK's, and madebate's wall time over the SDK floor (the larger of the SDK's wall time
and the ideal, waves x calls per discussion x one reply's latency). The last line printed is a
JSON list with one object per team size and repeat: agents, repeat, wall_s, ideal_s,
sdk_floor_s, ratio (wall), calls, cpu_ms_per_call, sdk_cpu_ms_per_call, cpu_ratio, peak_rss_mb.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _bench import (
    OPTIONS,
    QUESTION,
    discussion_spec,
    free_port,
    get_json,
    start_server,
    write_dataset,
)

ROOT = Path(__file__).resolve().parents[1]


def usage() -> tuple[float, float]:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024  # CPU seconds, peak RSS in MB (Linux KiB)


# -- phase 1: the bare SDK ---------------------------------------------------------------------


async def sdk_phase(base_url: str, n: int, in_flight: int, turns: int, agents: int) -> dict:
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="EMPTY", max_retries=0, timeout=600)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)
    calls = 0

    async def worker() -> None:
        nonlocal calls
        while not queue.empty():
            i = queue.get_nowait()
            history = ""
            for k in range(turns * agents):  # one call after another, like a discussion
                # The same shape as a discussion call: a persona system message, then the task
                # and the whole transcript so far, so request and reply sizes match.
                system = f"You are in a discussion. Your role: Agent {k % agents} (an expert)"
                prompt = (
                    f"{QUESTION.format(i=i)}\n"
                    + "\n".join(f"{chr(65 + j)}) {o}" for j, o in enumerate(OPTIONS))
                    + f"\n\nDiscussion so far:\n{history}\nCurrent Solution: none yet\n"
                    + "Begin your answer with [AGREE] or [DISAGREE]."
                )
                r = await client.chat.completions.create(
                    model="fake",
                    messages=[
                        {"role": "system", "content": system},
                        {"role": "user", "content": prompt},
                    ],
                    max_tokens=512,
                    temperature=0.0,
                )
                content = r.choices[0].message.content or ""
                history += f"[Turn {k // agents + 1}] A{k % agents + 1}: {content}\n"
                calls += 1

    cpu0, _ = usage()
    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(in_flight)))
    wall = time.perf_counter() - t0
    cpu1, rss = usage()
    await client.close()
    return {"wall_s": wall, "cpu_s": cpu1 - cpu0, "calls": calls, "peak_rss_mb": rss}


# -- phase 2: madebate -----------------------------------------------------------------------


def madebate_phase(base_url: str, n: int, in_flight: int, turns: int, agents: int) -> dict:
    sys.path.insert(0, str(ROOT))
    import openai  # noqa: F401  (imported before timing, as in the SDK phase)

    import madebate

    workdir = Path(tempfile.mkdtemp(prefix="madebate-bench-"))
    data = workdir / "data.jsonl"
    write_dataset(data, n)
    model = {"id": "openai/fake", "base_url": base_url, "max_concurrency": 1000, "timeout_s": 600}
    spec = discussion_spec(
        "throughput", data, model, agents=agents, turns=turns, in_flight=in_flight
    )
    cpu0, _ = usage()
    t0 = time.perf_counter()
    result = madebate.run_experiment(spec, out=workdir / "run", progress=False)
    wall = time.perf_counter() - t0
    cpu1, rss = usage()
    summary: Any = result.summary
    if hasattr(summary, "model_dump"):  # a typed summary
        summary = summary.model_dump(mode="json")
    calls = sum(c["calls_per_example"] * c["n"] for c in summary["cells"].values())
    return {"wall_s": wall, "cpu_s": cpu1 - cpu0, "calls": int(calls), "peak_rss_mb": rss}


def measure(args: argparse.Namespace, base: str, ideal: float, agents: int) -> dict[str, Any]:
    results = {}
    for phase in ("sdk", "madebate"):
        get_json(f"{base}/stats/reset", data=b"")
        out = subprocess.run(
            [
                sys.executable,
                __file__,
                "--phase",
                phase,
                "--base-url",
                f"{base}/v1",
                "--n",
                str(args.n),
                "--in-flight",
                str(args.in_flight),
                "--turns",
                str(args.turns),
                "--agents",
                str(agents),
            ],
            check=True,
            capture_output=True,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        results[phase] = json.loads(out.stdout.strip().splitlines()[-1])
        results[phase]["server"] = get_json(f"{base}/stats")
        s = results[phase]
        print(
            f"  {phase:9s} wall {s['wall_s']:7.2f}s  calls {s['calls']:6d}  cpu {s['cpu_s']:6.2f}s "
            f"({1000 * s['cpu_s'] / max(1, s['calls']):.2f} ms/call)  "
            f"peak rss {s['peak_rss_mb']:.0f} MB  "
            f"server peak in flight {s['server']['peak_in_flight']}  "
            f"bad requests {s['server']['bad_requests']}",
            flush=True,
        )
    sdk, mb = results["sdk"], results["madebate"]
    floor = max(ideal, sdk["wall_s"])
    cpu = 1000 * mb["cpu_s"] / max(1, mb["calls"])
    sdk_cpu = 1000 * sdk["cpu_s"] / max(1, sdk["calls"])
    return {
        "agents": agents,
        "wall_s": round(mb["wall_s"], 2),
        "ideal_s": round(ideal, 2),
        "sdk_floor_s": round(sdk["wall_s"], 2),
        "ratio": round(mb["wall_s"] / floor, 3),
        "calls": mb["calls"],
        "cpu_ms_per_call": round(cpu, 2),
        "sdk_cpu_ms_per_call": round(sdk_cpu, 2),
        "cpu_ratio": round(cpu / sdk_cpu, 3),
        "peak_rss_mb": round(mb["peak_rss_mb"], 1),
    }


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
    ap.add_argument(
        "--agents", type=int, nargs="+", default=[3], help="team sizes to measure, e.g. 3 5 7"
    )
    ap.add_argument("--repeat", type=int, default=1, help="measurements per team size")
    ap.add_argument("--slots", type=int, default=1000)
    ap.add_argument("--phase", choices=["sdk", "madebate"], help=argparse.SUPPRESS)
    ap.add_argument("--base-url", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.phase is not None:
        agents = args.agents[0]
        if args.phase == "sdk":
            run = sdk_phase(args.base_url, args.n, args.in_flight, args.turns, agents)
            print(json.dumps(asyncio.run(run)))
        else:
            print(
                json.dumps(
                    madebate_phase(args.base_url, args.n, args.in_flight, args.turns, agents)
                )
            )
        return

    port = free_port()
    server = start_server(args.server, port, args.slots)
    base = f"http://127.0.0.1:{port}"
    rows = []
    try:
        config = get_json(f"{base}/stats")["config"]
        per_call_s = (config["ttft_ms"] + (config["reply_tokens"] - 1) * config["tpot_ms"]) / 1000
        waves = math.ceil(args.n / args.in_flight)
        for agents in args.agents:
            ideal = waves * args.turns * agents * per_call_s
            for repeat in range(1, args.repeat + 1):
                print(f"{agents} agents, measurement {repeat}:", flush=True)
                row = {"repeat": repeat, **measure(args, base, ideal, agents)}
                print(
                    f"  client CPU per call: madebate {row['cpu_ms_per_call']:.2f} ms, "
                    f"SDK {row['sdk_cpu_ms_per_call']:.2f} ms, ratio {row['cpu_ratio']:.2f}x; "
                    f"wall {row['wall_s']:.2f}s against the SDK floor "
                    f"{max(row['ideal_s'], row['sdk_floor_s']):.2f}s, ratio {row['ratio']:.2f}x",
                    flush=True,
                )
                rows.append(row)
    finally:
        server.terminate()
        server.wait(timeout=10)
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
