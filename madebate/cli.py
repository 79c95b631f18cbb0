"""The `madebate` command line."""

from __future__ import annotations

import re
import signal
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from madebate._errors import MadebateError

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Multi-agent discussions under graph paradigms, decided by a protocol.",
)
paradigms_app = typer.Typer(help="List the built-in paradigms, or show one as a graph.")
app.add_typer(paradigms_app, name="paradigms")

console = Console()
err_console = Console(stderr=True)

# C0/C1 controls (but tab and newline) and bidi overrides: printed escaped, never acted on.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _plain(value: object, style: str = "") -> Text:
    """Data (a reply, a question, a name, an error) as text: never markup, and control
    characters (an ANSI escape, a NUL, U+202E) shown escaped ('\\x1b') instead of sent."""
    text = _CONTROL.sub(lambda m: m.group(0).encode("unicode_escape").decode(), str(value))
    return Text(text, style=style)


def _fail(exc: Exception, debug: bool) -> None:
    if debug:
        raise exc
    from rich.markup import escape

    # Escaped: messages hold brackets ('schedule[0]', "expected ',' or ']'") that rich would
    # otherwise read as markup and drop. No wrapping either, so a long path stays whole.
    err_console.print(
        f"[bold red]error:[/] {escape(str(exc))}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(code=2)


@app.command()
def discuss(
    question: Annotated[str, typer.Argument(help="The task or question to discuss.")],
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A multiple-choice option (repeat for each)."),
    ] = None,
    paradigm: Annotated[str, typer.Option(help="Built-in paradigm name or YAML file.")] = "memory",
    agents: Annotated[int, typer.Option(help="Number of panelists.")] = 3,
    protocol: Annotated[str, typer.Option(help="Decision protocol.")] = "majority_consensus",
    max_turns: Annotated[int, typer.Option(help="Upper bound on turns.")] = 3,
    personas: Annotated[
        str, typer.Option(help="Persona source: library[:NAME|FILE], expert, ipip or none.")
    ] = "library",
    style: Annotated[
        str,
        typer.Option(help="Response style: simple, freetext, splitfreetext, critical, reasoning."),
    ] = "simple",
    drafter: Annotated[bool, typer.Option(help="Add a neutral drafter (debate).")] = False,
    chain_of_thought: Annotated[bool, typer.Option("--cot/--no-cot")] = True,
    reply_format: Annotated[
        str,
        typer.Option(help="auto (structured where the backend enforces it), text or json."),
    ] = "auto",
    extraction: Annotated[
        str,
        typer.Option(help="Second 'extract the solution' call: never, on_failure or always."),
    ] = "never",
    memory_window: Annotated[
        int | None, typer.Option(help="Past turns an agent sees (default: the paradigm's).")
    ] = None,
    protocol_option: Annotated[
        list[str] | None,
        typer.Option(
            "--protocol-option",
            help="Protocol option KEY=VALUE, e.g. tie_break=random, model=openai/m (repeatable).",
        ),
    ] = None,
    method: Annotated[
        str, typer.Option(help="discussion, or a baseline: single, self_consistency.")
    ] = "discussion",
    samples: Annotated[int, typer.Option(help="Samples for self_consistency.")] = 5,
    all_agents_drafting: Annotated[
        bool, typer.Option(help="Turn 1: every agent drafts blind, concurrently.")
    ] = False,
    challenge: Annotated[
        bool, typer.Option(help="After the decision, each agent may keep or replace the answer.")
    ] = False,
    param: Annotated[
        list[str] | None,
        typer.Option(
            "--param", help="Paradigm parameter KEY=N, e.g. debate_rounds=3 (repeatable)."
        ),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            help="Model id: openai/NAME, llamacpp[/FILE.gguf], scripted. Default: embedded."
        ),
    ] = None,
    base_url: Annotated[str | None, typer.Option(help="Base URL for openai/ models.")] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option(help="Max tokens per reply. Default: 1024 (2048 in the critical style)."),
    ] = None,
    temperature: Annotated[float, typer.Option()] = 0.0,
    seed: Annotated[int | None, typer.Option()] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON only.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run one discussion, printing it turn by turn, then the answer and why it stopped."""
    from madebate._results import AgentInfo, Decision, Message
    from madebate.engine._discussion import Discussion
    from madebate.models._model import GenerateConfig

    def show_message(m: Message, agent: AgentInfo) -> None:
        stance = {
            "agree": ("AGREE", "green"),
            "disagree": ("DISAGREE", "red"),
            "unreadable": ("unreadable", "yellow"),
        }.get(m.stance.value, ("proposal", ""))
        title = Text.assemble(
            f"turn {m.turn} · {m.speaker} (",
            _plain(agent.persona_name),
            ") · ",
            stance,
            " · answer ",
            _plain(m.answer or "-"),
            (" · cut at max_tokens", "yellow") if m.cut else "",
            (" · stopped looping", "yellow") if m.looped else "",
        )
        to = ", ".join(m.receivers) or "nobody"
        console.print(
            Panel(
                _plain(m.text),
                title=title,
                subtitle=f"to {to}",
                title_align="left",
                subtitle_align="right",
            ),
            highlight=False,
        )

    def show_decision(d: Decision) -> None:
        if d.decided:
            console.print(
                Text.assemble((f"decision ({d.protocol}):", "bold"), " ", _plain(d.reason)),
                highlight=False,
            )

    model_options = {"base_url": base_url} if base_url else {}
    try:
        model_obj = None
        if model_options:
            from madebate.models._models import create_provider

            model_obj = create_provider(model, **model_options)
        discussion = Discussion(
            question,
            options=option or None,
            model=model_obj if model_obj is not None else model,
            paradigm=paradigm,
            agents=agents,
            protocol=protocol,
            max_turns=max_turns,
            personas=personas,
            style=style,
            drafter=drafter,
            chain_of_thought=chain_of_thought,
            extraction=extraction,
            reply_format=reply_format,
            memory_window=memory_window,
            paradigm_params=_parse_params(param or []),
            protocol_options=_parse_options(protocol_option or []),
            method=method,
            samples=samples,
            all_agents_drafting=all_agents_drafting,
            challenge=challenge,
            generation=(
                GenerateConfig(temperature=temperature)
                if max_tokens is None
                else GenerateConfig(temperature=temperature, max_tokens=max_tokens)
            ),
            seed=seed,
            on_message=None if as_json else show_message,
            on_decision=None if as_json else show_decision,
        )
        if not as_json:
            names = f"{discussion.paradigm.name} · {discussion.protocol.name} · model {discussion.model.model_id}"
            console.print(_plain(question, "bold"), highlight=False)
            for line in discussion.task.formatted_options():
                console.print(_plain(f"  {line}"), highlight=False)
            console.print(_plain(names, "dim"), highlight=False)
        result = discussion.run()
        if model_obj is not None:
            from madebate._sync import run_sync

            run_sync(model_obj.aclose())
    except MadebateError as exc:
        _fail(exc, debug)
        return
    if as_json:
        sys.stdout.write(result.to_json(indent=2) + "\n")
        return
    table = Table(show_header=False, box=None)
    table.add_row("answer", _plain(result.solution or result.answer or "(none)", "bold"))
    table.add_row("decided", str(result.decided))
    table.add_row("stop reason", _plain(f"{result.stop_reason} ({result.stop_detail})"))
    table.add_row("turns", str(result.turns))
    u = result.usage
    table.add_row(
        "model calls",
        f"{u.calls} ({u.prompt_tokens} prompt + {u.completion_tokens} completion tokens)",
    )
    if result.error:
        table.add_row("error", _plain(f"{result.error.type}: {result.error.message}"))
    for w in result.warnings:
        table.add_row("warning", _plain(w))
    console.print(table, highlight=False)


def _parse_params(items: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not value.strip().lstrip("-").isdigit():
            raise MadebateError(f"--param '{item}': expected KEY=INTEGER, e.g. debate_rounds=3")
        out[key.strip()] = int(value)
    return out


def _parse_options(items: list[str]) -> dict[str, object]:
    """KEY=VALUE pairs; values are read as YAML scalars (3, true, 0.5, text)."""
    import yaml

    out: dict[str, object] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise MadebateError(
                f"--protocol-option '{item}': expected KEY=VALUE, e.g. tie_break=random"
            )
        try:
            out[key.strip()] = yaml.safe_load(value) if value.strip() else ""
        except yaml.YAMLError:
            out[key.strip()] = value
    return out


@paradigms_app.callback(invoke_without_command=True)
def paradigms_list(ctx: typer.Context) -> None:
    """List the built-in paradigms."""
    if ctx.invoked_subcommand is not None:
        return
    from madebate.engine._paradigm import builtin_paradigms, load_paradigm

    table = Table("paradigm", "decides after each", "description")
    for name in builtin_paradigms():
        spec = load_paradigm(name)
        table.add_row(name, spec.decision_points, " ".join(spec.description.split()))
    console.print(table)


@paradigms_app.command("show")
def paradigms_show(
    name: Annotated[str, typer.Argument(help="Built-in name or YAML file.")],
    agents: Annotated[
        int | None, typer.Option(help="Team size (default: 3, or the fixed slots).")
    ] = None,
    drafter: Annotated[bool, typer.Option(help="Include the drafter D.")] = False,
    svg: Annotated[
        Path | None, typer.Option(help="Also draw the graph as SVG into this file.")
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Print a paradigm's compiled graph as text: steps and who receives whose messages."""
    from madebate.engine._paradigm import load_paradigm
    from madebate.engine._paradigm_compile import compile_paradigm

    try:
        spec = load_paradigm(Path(name) if name.endswith((".yaml", ".yml")) else name)
        n = agents or (len(spec.slots) if spec.slots else 3)
        compiled = compile_paradigm(spec, n_agents=n, with_drafter=drafter)
    except MadebateError as exc:
        _fail(exc, debug)
        return
    console.print(compiled.describe(), highlight=False, markup=False)
    if svg is not None:
        from madebate.report._svg import paradigm_svg

        try:
            svg.write_text(paradigm_svg(compiled, standalone=True) + "\n", encoding="utf-8")
        except OSError as exc:
            _fail(MadebateError(f"cannot write {svg}: {exc}"), debug)
            return
        console.print(f"SVG written to {svg}", highlight=False, markup=False)


@app.command()
def run(
    experiment: Annotated[
        Path | None, typer.Argument(help="Experiment YAML (optional with --resume).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run directory, skipping finished examples.")
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Do not read or write the call cache.")
    ] = False,
    quiet: Annotated[bool, typer.Option(help="No progress display.")] = False,
    executor: Annotated[
        str, typer.Option(help="Where examples run: local (this process) or ray (a Ray cluster).")
    ] = "local",
    address: Annotated[
        str | None,
        typer.Option(
            help="Ray cluster: auto, HOST:6379 or ray://HOST:10001 (default: $RAY_ADDRESS, "
            "else a local cluster on this machine)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1, help="Ray worker actors (default: one per CPU, or per GPU for vllm models)."
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Run an experiment: every sweep cell over the dataset, resumable and cached."""
    from madebate.runs._runner import Executor, default_run_dir, run_experiment

    if experiment is None and resume is None:
        _fail(MadebateError("give an experiment YAML, or --resume RUN_DIR"), debug)
    if executor not in ("local", "ray"):
        _fail(MadebateError(f"--executor {executor}: expected local or ray"), debug)
    if executor == "local" and (address is not None or workers is not None):
        _fail(MadebateError("--address and --workers need --executor ray"), debug)
    chosen: Executor | None = None
    if executor == "ray":
        from madebate.runs._executor_ray import RayExecutor

        chosen = RayExecutor(address=address, workers=workers, cache=False if no_cache else None)
    run_dir = resume or out
    try:
        spec: Path | dict[str, object]
        if experiment is not None:
            spec = experiment
            if run_dir is None:
                # Chosen here, so an interrupted run can say where to resume.
                from madebate.runs._experiment import load_experiment

                run_dir = out = default_run_dir(load_experiment(experiment).name)
        else:
            assert resume is not None
            import yaml

            spec_file = resume / "spec.yaml"
            if not spec_file.exists():
                raise MadebateError(f"{resume}: not a run directory (no spec.yaml)")
            spec = yaml.safe_load(spec_file.read_text(encoding="utf-8"))
        result = run_experiment(
            spec,
            out=out,
            resume=resume,
            cache=False if no_cache else None,
            progress=not quiet,
            executor=chosen,
        )
    except (MadebateError, FileExistsError) as exc:
        _fail(exc, debug)
        return
    except KeyboardInterrupt:
        _interrupted(run_dir)
    console.print(
        f"[bold]{result.new_records}[/] new record(s), {result.skipped} already done, "
        f"{result.wall_s:.1f}s; cache hits {result.cache_hits}, misses {result.cache_misses}",
        highlight=False,
    )
    _print_summary(result.summary["cells"])
    if result.summary.get("workers"):
        _print_workers(result.summary)
    console.print(f"run directory: {result.run_dir}", highlight=False, markup=False, soft_wrap=True)
    if result.stopped == "deadline":
        err_console.print(
            f"deadline_s reached: {result.remaining} example(s) not run; finish with: "
            f"madebate run --resume {result.run_dir}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        raise typer.Exit(code=3)


def _print_workers(summary: dict[str, object]) -> None:
    """Per-worker throughput of a distributed run, and what was lost and run again."""
    workers = summary["workers"]
    assert isinstance(workers, dict)
    table = Table("worker", "host", "records", "wall s", "records/s", "cache", "status")
    for name, w in workers.items():
        table.add_row(
            name,
            f"{w['host']}:{w['pid']}",
            str(w["records"]),
            f"{w['wall_s']:.1f}",
            f"{w['per_s']:.2f}",
            str(w["cache"]),
            f"lost ({w['lost']})" if w["lost"] else "ok",
        )
    console.print(table)
    info = summary.get("executor")
    if isinstance(info, dict) and info.get("lost_workers"):
        console.print(
            f"{info['lost_workers']} worker(s) lost; {info['requeued_jobs']} example(s) re-run "
            "on the others",
            highlight=False,
        )


def _interrupted(run_dir: Path | None) -> NoReturn:
    """Ctrl-C: every finished record is already on disk; say so and how to go on."""
    message = "interrupted"
    if run_dir is not None and (run_dir / "records.jsonl").exists():
        from madebate.runs._runlog import latest_records

        kept = len(latest_records(run_dir))
        message += (
            f": {kept} record(s) kept in {run_dir}; continue with: madebate run --resume {run_dir}"
        )
    # No wrapping: the resume command must stay on one line, whole, to be copied as it is.
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code=130)


@app.command()
def summary(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Print the cell table of a run: accuracy with 95% CI, turns, decision rate, cost."""
    from madebate.runs._load import load_run

    try:
        loaded = load_run(run_dir)
    except MadebateError as exc:
        _fail(exc, debug)
        return
    _print_summary(loaded.summary["cells"])


@app.command()
def report(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    out: Annotated[
        Path | None, typer.Option(help="Folder for the report (default: RUN_DIR/report).")
    ] = None,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the report in the web browser.")
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Write a self-contained HTML report of a run (cell table, plots, every transcript) and
    print the path of its index page."""
    from madebate.report._report import write_report
    from madebate.runs._load import load_run

    try:
        view = write_report(load_run(run_dir), out)
    except (MadebateError, OSError) as exc:
        _fail(exc, debug)
        return
    typer.echo(str(view.path))
    if open_browser:
        view.open()


@app.command("eval")
def eval_run(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    metric: Annotated[
        list[str] | None,
        typer.Option(
            "--metric",
            "-m",
            help="Metric (repeatable): accuracy, exact_match, token_f1, numeric, contains, bleu, rouge_l.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Rescore a run's answers with other metrics (the run itself is not changed)."""
    from madebate.runs._load import load_run
    from madebate.runs._summary import summarize_records

    try:
        loaded = load_run(run_dir)
        records = loaded.rescore(metric or ["accuracy"])
    except MadebateError as exc:
        _fail(exc, debug)
        return
    _print_summary(summarize_records(records, loaded.cells)["cells"])


@app.command()
def schema() -> None:
    """Print the JSON schema of the experiment file."""
    import json

    from madebate.runs._experiment import experiment_schema

    sys.stdout.write(json.dumps(experiment_schema(), indent=2) + "\n")


@app.command()
def validate(
    file: Annotated[
        Path,
        typer.Argument(
            help="An experiment, paradigm or persona library YAML file, or a dataset file "
            "(.jsonl, .json, .csv)."
        ),
    ],
    dataset: Annotated[
        bool,
        typer.Option(
            help="For an experiment: also load its dataset and check it against the task. For "
            "a file that is not YAML: check it as a dataset whatever its name."
        ),
    ] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Check a file without running anything or calling any model; exit 2 on the first error,
    naming the file, the field or line, and what would be valid.

    validate exp.yaml --dataset   an experiment, and its dataset against its task
    validate data.jsonl           a dataset file (.jsonl, .json, .csv)
    validate data.txt --dataset   a dataset file of any other name
    validate paradigm.yaml        a paradigm or a persona library"""
    from madebate._errors import ConfigError

    suffix = file.suffix.lower()
    as_dataset = suffix in _DATASET_SUFFIXES or (dataset and suffix not in (".yaml", ".yml"))
    try:
        if as_dataset:
            from madebate.runs._datasets import DatasetSpec, load_dataset

            tasks = load_dataset(DatasetSpec(path=str(file)))
            choice = sum(t.is_multiple_choice for t in tasks)
            kind, detail = "dataset", f"{len(tasks)} example(s), {choice} multiple choice"
        else:
            from madebate._yaml import read_yaml

            try:
                data = read_yaml(file)
            except ConfigError as exc:
                if suffix in (".yaml", ".yml"):
                    raise
                hint = "; if it is a dataset, name it .jsonl, .json or .csv, or add --dataset"
                raise ConfigError(f"{exc}{hint}") from None
            kind = _file_kind(data, file)
            if kind == "experiment":
                from madebate.runs._experiment import expand_cells, load_experiment

                spec = load_experiment(file)
                cells = expand_cells(spec, source=str(file))
                detail = f"{len(cells)} cell(s)"
                if dataset:
                    from madebate.runs._runner import _prepare_tasks

                    try:  # the runner's own check: the dataset, and the task kind against it
                        tasks = _prepare_tasks(spec, file.resolve().parent)
                        _check_configured_context(spec, cells, tasks, str(file))
                    except ConfigError as exc:
                        if exc.source is not None:
                            raise
                        raise ConfigError(str(exc), source=str(file)) from None
                    detail += f", {len(tasks)} example(s)"
            elif kind == "paradigm":
                from madebate.engine._paradigm import load_paradigm

                detail = f"paradigm '{load_paradigm(file).name}'"
            else:
                from madebate.engine._personas import load_persona_library

                detail = f"{len(load_persona_library(file).personas)} persona(s)"
    except MadebateError as exc:
        _fail(exc, debug)
        return
    from rich.markup import escape

    console.print(f"[green]ok[/] {escape(str(file))}: {kind}, {detail}", highlight=False)


_DATASET_SUFFIXES = (".jsonl", ".json", ".csv")


def _check_configured_context(spec: Any, cells: Any, tasks: Any, source: str) -> None:
    """Examples beyond a context window given in the spec (`model.context_window`), estimated
    without building or loading any model; `run` checks again with the model's tokenizer."""
    from madebate._sync import run_sync
    from madebate.runs._runner import check_context, configured_window

    run_sync(check_context(cells, tasks, configured_window, spec.dataset.path, source))


def _file_kind(data: object, file: Path) -> str:
    if isinstance(data, dict):
        if "dataset" in data or "sweep" in data:
            return "experiment"
        if "schedule" in data:
            return "paradigm"
        if "personas" in data:
            return "personas"
        got = f"a mapping with keys {', '.join(map(str, list(data)[:8])) or 'none'}"
    else:
        got = "an empty file" if data is None else f"a YAML {type(data).__name__}"
    from madebate._errors import ConfigError

    raise ConfigError(
        f"got {got} at the top level; expected an experiment (with dataset:), a paradigm "
        "(with schedule:) or a persona library (with personas:) in YAML, or a dataset file "
        "named .jsonl, .json or .csv (or any name with --dataset)",
        source=str(file),
    )


def _print_summary(cells: dict[str, dict[str, object]]) -> None:
    table = Table(
        "cell",
        "n",
        "score (95% CI)",
        "decided",
        "no answer",
        "errors",
        "retries/cut",
        "turns",
        "calls/ex",
        "tokens/ex",
        "wall s",
    )
    for cell, c in cells.items():
        metrics = c["metrics"]
        assert isinstance(metrics, dict)
        scores = "; ".join(
            f"{name} {m['mean']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
            for name, m in metrics.items()
        )
        table.add_row(
            _plain(cell),
            str(c["n"]),
            scores,
            f"{c['decision_rate']:.0%}",
            str(c["no_answer"]),
            str(c["errors"]),
            # Retries, and replies cut at max_tokens (with those stopped in a loop, if any).
            f"{c.get('retries', 0)}/{c.get('truncated_replies', 0)}"
            + (f" ({c['looped_replies']} looped)" if c.get("looped_replies") else ""),
            f"{c['mean_turns']:.2f}",
            f"{c['calls_per_example']:.1f}",
            f"{c['tokens_per_example']:.0f}",
            f"{c['discussion_wall_s']:.1f}",
        )
    console.print(table)
    for cell, c in cells.items():
        failed = c.get("failed_examples") or []
        assert isinstance(failed, list)
        for f in failed[:5]:  # the rest are in summary.json
            err_console.print(
                _plain(
                    f"failed: {cell} example {f['example_id']} (repeat {f['repeat']}): {f['cause']}"
                ),
                highlight=False,
                soft_wrap=True,  # one line each, for grep
            )
        if len(failed) > 5:
            err_console.print(
                _plain(f"failed: {cell}: {c['errors']} in all; see summary.json"), highlight=False
            )


def main() -> None:
    # A polite stop (kill, timeout, a batch scheduler) ends a run as Ctrl-C does: finished
    # records kept, the summary written, the resume command printed.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    try:
        app()
    except KeyboardInterrupt:  # before a run got going: nothing to keep, no traceback
        err_console.print("interrupted", highlight=False, markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
