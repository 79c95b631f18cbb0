"""GPU benchmark: madebate on vLLM in-process against madebate on `vllm serve` over HTTP.

    pip install 'madebate[vllm]'      # on a machine with a CUDA GPU
    python benchmarks/gpu_vllm.py --model Qwen/Qwen2.5-1.5B-Instruct --n 1024 --in-flight 256

It runs the same experiment twice, each in its own subprocess so that GPU memory is freed in
between: --n multiple-choice discussions, 3 agents, the memory paradigm, exactly --turns turns
(discussion min_turns = max_turns), temperature 0, --in-flight discussions at a time, the call
cache off.
  1. in-process: model `vllm/<MODEL>`, one AsyncLLM engine in the madebate process;
  2. server: `vllm serve <MODEL> --generation-config vllm` started here on a free loopback port
     with the same engine settings, then model `openai/<MODEL>` with base_url, once
     /v1/models answers.
Engine start-up (weights, CUDA graphs) is left out of both timings: the server is timed from
when it answers, the in-process engine is started before the run's clock starts. For each path
it prints discussions per minute, generated (completion) tokens per second and all tokens per
second, then the in-process/server speed-up; the last line is one JSON object.

Target: in-process at least 1.5x the server path's discussions per minute at 256 in flight.

vLLM and model weights are not available on the machines madebate is built and tested on (no
GPU there), so this script is not run by the test suite; `--help` works without vLLM, and
running it without vLLM stops with a message saying what to install.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from _bench import discussion_spec, free_port, write_dataset

ROOT = Path(__file__).resolve().parents[1]
TARGET_SPEEDUP = 1.5


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def engine_options(args: argparse.Namespace) -> dict[str, Any]:
    """The engine settings both paths share (VLLMModel's names; the server gets the same)."""
    options: dict[str, Any] = {
        "tensor_parallel_size": args.tensor_parallel_size,
        "gpu_memory_utilization": args.gpu_memory_utilization,
        "max_num_seqs": args.max_num_seqs,
        "max_num_batched_tokens": args.max_num_batched_tokens,
    }
    if args.max_model_len is not None:
        options["max_model_len"] = args.max_model_len
    return options


def experiment(args: argparse.Namespace, data: Path, model: dict[str, Any]) -> dict[str, Any]:
    # Both paths: no client-side limit below the discussions in flight.
    spec = discussion_spec(
        "gpu-vllm",
        data,
        {"max_concurrency": 4096, **model},
        turns=args.turns,
        max_tokens=args.max_tokens,
        in_flight=args.in_flight,
    )
    return {**spec, "seed": 0}


# -- one phase, in a subprocess -----------------------------------------------------------------


async def run_inprocess(spec: dict[str, Any], args: argparse.Namespace, run_dir: Path) -> Any:
    import madebate
    import madebate.models._models as runner  # build_model makes every provider through it
    from madebate.models.providers.vllm_inprocess import VLLMModel

    model = VLLMModel(args.model, **engine_options(args))
    started = time.perf_counter()
    await model.start()  # weights and CUDA graphs: not timed, as the server's start is not
    print(f"engine started in {time.perf_counter() - started:.1f}s", flush=True)
    create = runner.create_provider

    def started_engine(model_id: str | None, **options: Any) -> Any:
        # The run uses the engine started above (same model id `vllm/<MODEL>`).
        return model if model_id == model.model_id else create(model_id, **options)

    # run_experiment has no public way to take a started provider: swap in the runner's factory.
    runner.create_provider = started_engine
    try:
        return await madebate.run_experiment_async(spec, out=run_dir, cache=False)
    finally:
        runner.create_provider = create
        await model.aclose()


def phase(args: argparse.Namespace) -> None:
    sys.path.insert(0, str(ROOT))
    import madebate

    data, run_dir = Path(args.data), Path(args.run_dir)
    if args.phase == "inprocess":
        spec = experiment(args, data, {"id": f"vllm/{args.model}"})
        result = asyncio.run(run_inprocess(spec, args, run_dir))
    else:
        model = {"id": f"openai/{args.model}", "base_url": args.base_url, "timeout_s": 600}
        result = madebate.run_experiment(experiment(args, data, model), out=run_dir, cache=False)
    cells = result.summary.model_dump(mode="json")["cells"]
    records = madebate.load_run(run_dir).records
    generated = sum(r.result.usage.completion_tokens for r in records if r.result is not None)
    out = {
        "path": args.phase,
        "wall_s": result.summary.wall_s,
        "discussions": sum(c["n"] for c in cells.values()),
        "errors": sum(c["errors"] for c in cells.values()),
        "stop_reasons": {k: v for c in cells.values() for k, v in c["stop_reasons"].items()},
        "calls": round(sum(c["calls_per_example"] * c["n"] for c in cells.values())),
        "tokens": round(sum(c["tokens_per_example"] * c["n"] for c in cells.values())),
        "generated_tokens": generated,
    }
    Path(args.result).write_text(json.dumps(out))


def run_phase(args: argparse.Namespace, name: str, work: Path, **extra: str) -> dict[str, Any]:
    log, result = work / f"{name}.log", work / f"{name}.json"
    command = [sys.executable, __file__, *sys.argv[1:], "--phase", name]
    command += ["--data", str(work / "data.jsonl"), "--run-dir", str(work / f"run-{name}")]
    command += ["--result", str(result)]
    for key, value in extra.items():
        command += [f"--{key.replace('_', '-')}", value]
    print(f"[{name}] running (log: {log})", flush=True)
    with log.open("w") as fh:
        code = subprocess.call(command, stdout=fh, stderr=subprocess.STDOUT)
    if code != 0 or not result.exists():
        print(tail(log), file=sys.stderr)
        raise SystemExit(f"the {name} run failed (exit {code}); the end of {log} is above")
    return dict(json.loads(result.read_text()))


# -- the server ---------------------------------------------------------------------------------


def vllm_cli() -> str | None:
    beside = Path(sys.executable).parent / "vllm"
    return str(beside) if beside.exists() else shutil.which("vllm")


def start_server(
    args: argparse.Namespace, cli: str, port: int, log: Path
) -> subprocess.Popen[bytes]:
    command = [cli, "serve", args.model, "--host", "127.0.0.1", "--port", str(port)]
    command += ["--generation-config", "vllm", "--seed", "0", "--enable-prefix-caching"]
    for key, value in engine_options(args).items():
        command += [f"--{key.replace('_', '-')}", str(value)]
    print(f"[server] {' '.join(command)} (log: {log})", flush=True)
    with log.open("w") as fh:
        # Its own process group, so the engine processes it spawns stop with it.
        proc = subprocess.Popen(
            command, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
        )
    deadline = time.monotonic() + args.startup_timeout
    url = f"http://127.0.0.1:{port}/v1/models"
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            print(tail(log), file=sys.stderr)
            raise SystemExit(
                f"vllm serve exited with code {proc.returncode}; the end of {log} is above"
            )
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                served = [m.get("id") for m in json.loads(r.read()).get("data", [])]
            if args.model in served:
                return proc
        except (OSError, urllib.error.URLError, ValueError):
            pass
        time.sleep(2)
    stop_server(proc)
    print(tail(log), file=sys.stderr)
    raise SystemExit(f"vllm serve did not answer {url} within {args.startup_timeout:.0f}s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)


# -- main ---------------------------------------------------------------------------------------


def rates(r: dict[str, Any]) -> dict[str, float]:
    wall = max(r["wall_s"], 1e-9)
    return {
        "discussions_per_min": 60 * r["discussions"] / wall,
        "generated_tokens_per_s": r["generated_tokens"] / wall,
        "tokens_per_s": r["tokens"] / wall,
    }


def report(name: str, r: dict[str, Any]) -> None:
    x = rates(r)
    print(
        f"{name:10s} wall {r['wall_s']:8.1f}s  {x['discussions_per_min']:8.1f} discussions/min  "
        f"{x['generated_tokens_per_s']:9.0f} generated tok/s  {x['tokens_per_s']:9.0f} tok/s  "
        f"calls {r['calls']}  errors {r['errors']}  stops {r['stop_reasons']}",
        flush=True,
    )
    if r["errors"]:
        print(f"warning: {r['errors']} discussion(s) of the {name} run failed", file=sys.stderr)


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--model", default="Qwen/Qwen2.5-1.5B-Instruct", help="HF id or local path")
    ap.add_argument("--n", type=int, default=1024, help="discussions (default 1024)")
    ap.add_argument("--in-flight", type=int, default=256, help="discussions at a time (256)")
    ap.add_argument("--turns", type=int, default=3, help="turns per discussion, exactly (3)")
    ap.add_argument("--max-tokens", type=int, default=512, help="per reply (512)")
    ap.add_argument("--max-model-len", type=int, default=None, help="default: the model's")
    ap.add_argument("--tensor-parallel-size", type=int, default=1)
    ap.add_argument("--gpu-memory-utilization", type=float, default=0.90)
    ap.add_argument("--max-num-seqs", type=int, default=256)
    ap.add_argument("--max-num-batched-tokens", type=int, default=8192)
    ap.add_argument("--startup-timeout", type=float, default=1200, help="seconds for vllm serve")
    ap.add_argument("--only", choices=["inprocess", "server"], help="run one path only")
    ap.add_argument("--workdir", help="keep data, logs and run directories here")
    for hidden in ("--phase", "--data", "--run-dir", "--result", "--base-url"):
        ap.add_argument(hidden, help=argparse.SUPPRESS)
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.phase:
        phase(args)
        return
    if importlib.util.find_spec("vllm") is None:
        raise SystemExit(
            "gpu_vllm.py needs vLLM and a CUDA GPU: pip install 'madebate[vllm]' "
            f"(vLLM is not importable from {sys.executable})"
        )
    cli = vllm_cli()
    if cli is None and args.only != "inprocess":
        raise SystemExit("the `vllm` command is not on PATH (it comes with pip install vllm)")
    work = Path(args.workdir or tempfile.mkdtemp(prefix="madebate-gpu-vllm-"))
    work.mkdir(parents=True, exist_ok=True)
    write_dataset(work / "data.jsonl", args.n)
    print(
        f"model {args.model}: {args.n} discussions, 3 agents, {args.turns} turns, "
        f"{args.in_flight} in flight, max_tokens {args.max_tokens}; work dir {work}",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    if args.only != "server":
        results["inprocess"] = run_phase(args, "inprocess", work)
        report("in-process", results["inprocess"])
    if args.only != "inprocess":
        assert cli is not None
        port = free_port()
        server = start_server(args, cli, port, work / "vllm-serve.log")
        try:
            results["server"] = run_phase(
                args, "server", work, base_url=f"http://127.0.0.1:{port}/v1"
            )
        finally:
            stop_server(server)
        report("server", results["server"])
    summary: dict[str, Any] = {
        "model": args.model,
        "n": args.n,
        "in_flight": args.in_flight,
        "turns": args.turns,
        **{
            name: {**r, **{k: round(v, 2) for k, v in rates(r).items()}}
            for name, r in results.items()
        },
    }
    if len(results) == 2:
        fast, slow = rates(results["inprocess"]), rates(results["server"])
        speedup = fast["discussions_per_min"] / max(slow["discussions_per_min"], 1e-9)
        summary["speedup"] = round(speedup, 3)
        met = "met" if speedup >= TARGET_SPEEDUP else "NOT met"
        print(
            f"in-process / server: {speedup:.2f}x discussions per minute "
            f"(target >= {TARGET_SPEEDUP}x at 256 in flight: {met})",
            flush=True,
        )
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
