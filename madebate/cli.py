"""The `madebate` command line."""

from __future__ import annotations

import enum
import functools
import inspect
import signal
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from madebate._cli_datasets import datasets_command, preset_notes
from madebate._errors import MadebateError
from madebate._secrets import mask_text
from madebate._text import show_controls

if TYPE_CHECKING:
    from madebate.runs._records import CellSummary, RunSummary

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="Multi-agent discussions under graph paradigms, decided by a protocol.",
)
paradigms_app = typer.Typer(help="List the built-in paradigms, or show one as a graph.")
app.add_typer(paradigms_app, name="paradigms")
app.command("datasets")(datasets_command)

console = Console()
err_console = Console(stderr=True)


def _plain(value: object, style: str = "") -> Text:
    """Data (a reply, a question, a name, an error) as text: never markup, and control
    characters (an ANSI escape, a NUL, U+202E) made visible by the one rule the report uses
    too (`madebate._text.show_controls`), never sent to the terminal."""
    return Text(show_controls(str(value)), style=style)


class SummaryFormat(enum.StrEnum):
    """How `madebate summary` prints."""

    table = "table"
    markdown = "markdown"
    csv = "csv"
    json = "json"


def _fail(exc: Exception, debug: bool) -> None:
    if debug:
        raise exc
    from rich.markup import escape

    # Escaped: messages hold brackets ('schedule[0]', "expected ',' or ']'") that rich would
    # otherwise read as markup and drop. No wrapping either, so a long path stays whole. A
    # key in a URL (a base_url quoted by an error) is masked.
    err_console.print(
        f"[bold red]error:[/] {escape(mask_text(str(exc)))}",
        highlight=False,
        markup=True,
        soft_wrap=True,
    )
    raise typer.Exit(code=2)


# -- `discuss`: its settings flags are generated from DiscussionConfig and ModelSpec ------------

_SETTINGS_PANEL = "Discussion settings (defaults: `madebate schema discussion`)"
_GENERATION_PANEL = "Generation"
_MODEL_PANEL = "Model"
# The model spec's flags that are not named after their field.
_MODEL_FLAG_NAMES = {"id": "model", "options": "model_options", "label": "model_label"}
# Flag names kept from before the flags were generated (README and scripts use them).
_FLAG_ALIASES: dict[str, tuple[str, ...]] = {
    "chain_of_thought": ("--cot/--no-cot",),
    "paradigm_params": ("--param",),
}


@dataclass(frozen=True)
class _SettingFlag:
    """One generated option: which setting it sets, and how it reads."""

    param: str  # the parameter's name in the command's signature
    name: str  # the option, e.g. --max-turns
    path: str  # a settings path; 'model.' ones are the model spec's
    kind: str  # value, flag (--x/--no-x), list (repeated) or pairs (repeated KEY=VALUE)


def _flag_type(name: str, annotation: Any) -> tuple[str, Any] | None:
    """(kind, the option's type) of a field's annotation, or None when no flag fits it (a
    nested model, a tuple: --set reaches those)."""
    import types
    import typing

    options = [annotation]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(annotation) if a is not type(None)]
    if len(options) > 1:  # a union: str when it holds str (a name, or a file, or ...)
        if str in options:
            return "value", str
        # A count or a switch whose other form (an agent entry) is given another way (--agent).
        plain = [typing.get_args(a)[0] if typing.get_origin(a) is Annotated else a for a in options]
        if int in plain:
            return "value", int
        return ("flag", bool) if bool in plain else None
    (base,) = options
    origin = typing.get_origin(base)
    if origin is typing.Literal:  # a choice: typer offers an Enum's values as one
        values = [str(v) for v in typing.get_args(base)]
        return "value", enum.Enum(f"{name}_choices", [(v, v) for v in values], type=str)
    if base is bool:
        return "flag", bool
    if base in (int, float, str):
        return "value", base
    if origin is list and typing.get_args(base)[0] in (int, float, str):
        return "list", list[typing.get_args(base)[0]]  # type: ignore[misc]
    if origin is dict:
        return "pairs", list[str]
    return None  # a nested model (generation's fields have flags of their own), a tuple, ...


def _setting_flags() -> list[tuple[_SettingFlag, inspect.Parameter]]:
    """One option per setting a flag can hold: every field of DiscussionConfig, of its
    `generation` (but seed, which is the discussion's) and of ModelSpec (`id` is --model)."""
    from pydantic import BaseModel
    from rich.markup import escape

    from madebate.engine._config import DiscussionConfig
    from madebate.models._model import GenerateConfig
    from madebate.models._models import ModelSpec

    sources: list[tuple[type[BaseModel], str, str]] = [
        (DiscussionConfig, "", _SETTINGS_PANEL),
        (GenerateConfig, "generation.", _GENERATION_PANEL),
        (ModelSpec, "model.", _MODEL_PANEL),
    ]
    taken = set(DiscussionConfig.model_fields)
    out: list[tuple[_SettingFlag, inspect.Parameter]] = []
    for model, prefix, panel in sources:
        for name, info in model.model_fields.items():
            if prefix and name in taken:
                continue  # generation.seed: set it with --set generation.seed=N
            if model is GenerateConfig and name == "json_schema":
                continue  # set per call by the engine
            typed = _flag_type(name, info.annotation)
            if typed is None:
                continue
            kind, python_type = typed
            flag = _MODEL_FLAG_NAMES.get(name, name) if model is ModelSpec else name
            if kind in ("pairs", "list"):
                flag = flag.removesuffix("s")  # repeated: --protocol-option K=V, --blind-turn 2
            dashed = "--" + flag.replace("_", "-")
            primary = f"{dashed}/--no-{dashed[2:]}" if kind == "flag" else dashed
            decls = (primary, *_FLAG_ALIASES.get(name, ()))
            words = " ".join((info.description or "").split())
            if kind == "pairs":
                words += " KEY=VALUE, repeatable."
            elif kind == "list":
                words += " Repeatable."
            default = info.get_default(call_default_factory=True)
            if default not in (None, {}, []) and kind != "pairs":
                words += f" (default: {default})"
            param = f"setting_{prefix.replace('.', '_')}{name}"
            option = typer.Option(
                *decls,
                help=escape(words),  # brackets are text ('llamacpp[/FILE.gguf]'), not markup
                rich_help_panel=panel,
                show_default=False,
            )
            annotation = Annotated[python_type | None, option]  # type: ignore[valid-type]
            out.append(
                (
                    _SettingFlag(param, dashed, prefix + name, kind),
                    inspect.Parameter(
                        param, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=annotation
                    ),
                )
            )
    return out


def _with_setting_flags(func: Any) -> Any:
    """`func` as a command with the generated setting options added to its own; it receives
    the ones given (None: not given) as `flags`, keyed by settings path."""
    flags = _setting_flags()
    own = inspect.signature(func, eval_str=True)
    params = [p for p in own.parameters.values() if p.name != "flags"]
    fixed = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in params]
    by_param = {f.param: f for f, _ in flags}

    @functools.wraps(func)
    def command(**kwargs: Any) -> Any:
        kwargs = {k: v.value if isinstance(v, enum.Enum) else v for k, v in kwargs.items()}
        given = {
            by_param[k].path: (by_param[k], kwargs.pop(k)) for k in list(kwargs) if k in by_param
        }
        return func(**kwargs, flags={p: v for p, v in given.items() if v[1] not in (None, [], ())})

    # Arguments first, then the settings, then the command's own options (--config, --set, ...).
    arguments = [p for p in fixed if _is_argument(p)]
    options = [p for p in fixed if not _is_argument(p)]
    parameters = [*arguments, *(p for _, p in flags), *options]
    command.__signature__ = own.replace(parameters=parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    del command.__wrapped__  # typer reads __signature__, not the wrapped function's
    return command


def _is_argument(param: inspect.Parameter) -> bool:
    extras = getattr(param.annotation, "__metadata__", ())
    return any(isinstance(m, typer.models.ArgumentInfo) for m in extras)


def _pairs(flag: str, items: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs; values are read as YAML (3, true, 0.5, [a, b], text)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            example = _PAIR_EXAMPLES.get(flag, "name=value")
            raise MadebateError(f"{flag} '{item}': expected KEY=VALUE, e.g. {example}")
        out[key.strip()] = _yaml_value(value)
    return out


_PAIR_EXAMPLES = {
    "--protocol-option": "tie_break=random",
    "--paradigm-param": "debate_rounds=3",
    "--model-option": "n_ctx=4096",
    "--agent": "model=openai/NAME,persona=expert,temperature=0.7",
    "--set": "max_turns=3 or generation.temperature=0.7",
}


def _yaml_value(text: str) -> Any:
    import yaml

    if not text.strip():
        return ""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _discussion_settings(
    config_file: Path | None,
    flags: dict[str, tuple[_SettingFlag, Any]],
    assignments: list[str],
    agents: list[str] | None = None,
) -> tuple[Any, Any]:
    """The discussion's config and model spec from a --config file, then the flags, then
    --set KEY=VALUE (in that order, later over earlier); every default is the models' own."""
    from madebate._errors import ConfigError
    from madebate._yaml import config_error_from, read_yaml
    from madebate.engine._config import DiscussionConfig, set_path
    from madebate.models._models import ModelSpec

    settings: dict[str, Any] = {}
    model: Any = {}
    source = "command line"
    if config_file is not None:
        settings, model = _settings_file(config_file, read_yaml(config_file))
        source = f"{config_file} and the command line" if flags or assignments else str(config_file)
    if isinstance(model, str):
        model = {"id": model}
    for path, (flag, value) in flags.items():
        if flag.kind == "pairs":
            value = _pairs(flag.name, value)
        elif flag.kind == "list":
            value = list(value)
        if path.startswith("model."):
            set_path(model, path.removeprefix("model."), value)
        else:
            set_path(settings, path, value)
    if agents:
        if "agents" in flags:
            raise MadebateError("give --agents N or one --agent per panelist, not both")
        settings["agents"] = [_agent_entry(text, i) for i, text in enumerate(agents)]
    for item in assignments:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise MadebateError(
                f"--set '{item}': expected KEY=VALUE, e.g. {_PAIR_EXAMPLES['--set']}"
            )
        key = key.strip()
        if key == "model":
            model = _yaml_value(text)
            model = {"id": model} if isinstance(model, str) else model
        elif key.startswith("model."):
            set_path(model, key.removeprefix("model."), _yaml_value(text), field=key)
        else:
            set_path(settings, key, _yaml_value(text), field=key)
    try:
        config = DiscussionConfig.model_validate(settings)
    except ValidationError as exc:
        raise config_error_from(exc, source=source, model=DiscussionConfig) from None
    try:
        spec = ModelSpec.model_validate(model)
    except ValidationError as exc:
        err = config_error_from(exc, source=source, model=ModelSpec)
        where = ", ".join(p for p in (source, f"field '{err.field}'" if err.field else None) if p)
        message = str(err).removeprefix(f"{where}: ")
        field = f"model.{err.field}" if err.field else "model"
        raise ConfigError(message, source=source, field=field) from None
    return config, spec


def _agent_entry(text: str, index: int) -> dict[str, Any]:
    """One --agent: KEY=VALUE pairs split by commas (a value may hold commas where the next
    part has no '='), values read as YAML."""
    from madebate.engine._config import agent_from_pairs

    parts: list[str] = []
    for part in text.split(","):
        if parts and "=" not in part:
            parts[-1] += "," + part
        else:
            parts.append(part)
    keys = [part.partition("=")[0].strip() for part in parts]
    twice = sorted({key for key in keys if keys.count(key) > 1})
    if twice:  # one would silently replace the other
        raise MadebateError(
            f"--agent '{text}': {', '.join(twice)} given twice; give each setting once"
        )
    return agent_from_pairs(_pairs("--agent", parts), field=f"agents[{index}]")


def _settings_file(path: Path, data: Any) -> tuple[dict[str, Any], Any]:
    """A --config file: discussion settings (an experiment's `discussion:` block), with the
    model under `model:`; or a whole experiment file, whose discussion and model are taken."""
    from madebate._errors import ConfigError
    from madebate.runs._experiment import upgrade_experiment

    if not isinstance(data, dict):
        got = "an empty file" if data is None else f"a YAML {type(data).__name__}"
        raise ConfigError(f"expected a mapping of discussion settings, got {got}", source=str(path))
    if "dataset" in data or "discussion" in data:
        data, _ = upgrade_experiment(data, source=str(path))
        discussion = data.get("discussion") or {}
        if not isinstance(discussion, dict):
            raise ConfigError("expected a mapping", source=str(path), field="discussion")
        return dict(discussion), data.get("model") or {}
    settings = dict(data)
    return settings, settings.pop("model", None) or {}


def _discuss(
    question: Annotated[str, typer.Argument(help="The task or question to discuss.")],
    option: Annotated[
        list[str] | None,
        typer.Option("--option", "-o", help="A multiple-choice option (repeat for each)."),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="A YAML file of discussion settings (an experiment's discussion: block, with "
            "model: beside them), or an experiment file; flags and --set apply over it.",
        ),
    ] = None,
    assignments: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="Any setting by its dotted path, KEY=VALUE with the value read as YAML: "
            "max_turns=3, generation.seed=7, drift_judge.action=redo, personas=\\[expert, none], "
            "model.timeout_s=30 (repeatable; applied last).",
        ),
    ] = None,
    agent: Annotated[
        list[str] | None,
        typer.Option(
            "--agent",
            metavar="KEY=VALUE,...",
            help="One panelist of a mixed team, KEY=VALUE pairs split by commas: "
            "model=ID with any model setting (base_url, label, api_key_env, ...), "
            "persona=SOURCE (or persona_name and persona_description), and sampling settings "
            "(temperature, max_tokens, ...); e.g. --agent model=scripted,persona=expert. "
            "Repeat per panelist (instead of --agents).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON only.")] = False,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
    *,
    flags: dict[str, tuple[_SettingFlag, Any]],
) -> None:
    """Run one discussion, printing it turn by turn, then the answer and why it stopped.

    Every setting has a flag below or a --set path, with the defaults of Python and YAML."""
    from madebate._results import AgentInfo, Decision, Message
    from madebate.engine._discussion import Discussion

    def show_message(m: Message, agent: AgentInfo) -> None:
        stance = {
            "agree": ("AGREE", "green"),
            "disagree": ("DISAGREE", "red"),
            "unreadable": ("unreadable", "yellow"),
        }.get(m.stance.value, ("proposal", ""))
        title = Text.assemble(
            f"turn {m.turn} · {m.speaker} (",
            _plain(agent.persona_name),
            _plain(f", {agent.model}") if agent.model and mixed else "",
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

    try:
        config, model = _discussion_settings(config_file, flags, assignments or [], agent)
        discussion = Discussion(
            question,
            options=option or None,
            model=model,
            config=config,
            on_message=None if as_json else show_message,
            on_decision=None if as_json else show_decision,
        )
        mixed = len(discussion.team_models.distinct()) > 1
        if not as_json:
            method = discussion.config.method
            how = (
                f"{discussion.paradigm.name} · {discussion.protocol.name}"
                if method == "discussion"
                else f"baseline {method}"  # a baseline has no paradigm or protocol of its own
            )
            names = f"{how} · model {discussion.model.model_id}"
            console.print(_plain(question, "bold"), highlight=False)
            for line in discussion.task.formatted_options():
                console.print(_plain(f"  {line}"), highlight=False)
            console.print(_plain(names, "dim"), highlight=False)
        result = discussion.run()
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
    if len(result.usage_by_model) > 1:  # a mixed team: each model's share
        for name, mu in result.usage_by_model.items():
            table.add_row(
                _plain(f"  {name}"),
                f"{mu.calls} ({mu.prompt_tokens} prompt + {mu.completion_tokens} completion)",
            )
    if result.error:
        table.add_row("error", _plain(f"{result.error.type}: {result.error.message}"))
    for w in result.warnings:
        table.add_row("warning", _plain(w))
    console.print(table, highlight=False)


discuss = app.command("discuss")(_with_setting_flags(_discuss))


@paradigms_app.callback(invoke_without_command=True)
def paradigms_list(ctx: typer.Context) -> None:
    """List the built-in paradigms."""
    if ctx.invoked_subcommand is not None:
        return
    from madebate.engine._paradigm_library import builtin_paradigms, load_paradigm

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
    from madebate.engine._paradigm_compile import compile_paradigm
    from madebate.engine._paradigm_library import load_paradigm

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


def _check_stored_spec(data: dict[str, Any], spec_file: Path) -> None:
    """A run directory's spec.yaml read for `--resume` alone: a damaged setting is named in
    that file (the run would name it as Python settings), with what to do."""
    from madebate._errors import ConfigError
    from madebate._yaml import config_error_from
    from madebate.runs._experiment import ExperimentSpec
    from madebate.runs._runlog import DAMAGED_HINT

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # an earlier layout, as written
            ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        error = config_error_from(exc, source=str(spec_file), model=ExperimentSpec)
        raise ConfigError(f"{error}; {DAMAGED_HINT}") from None


@app.command()
def run(
    experiment: Annotated[
        Path | None, typer.Argument(help="Experiment YAML (optional with --resume).")
    ] = None,
    out: Annotated[Path | None, typer.Option(help="Run directory to create.")] = None,
    resume: Annotated[
        Path | None, typer.Option(help="Continue this run directory, skipping finished examples.")
    ] = None,
    restart_changed: Annotated[
        bool,
        typer.Option(
            "--restart-changed",
            help="With --resume: run afresh the cells whose settings changed since their records "
            "were made (without it, such a resume is refused).",
        ),
    ] = False,
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
            from madebate._yaml import read_yaml
            from madebate.runs._runlog import DAMAGED_HINT

            spec_file = resume / "spec.yaml"
            if not spec_file.exists():
                raise MadebateError(f"{resume}: not a run directory (no spec.yaml)")
            spec = read_yaml(spec_file)
            if not isinstance(spec, dict):
                got = "an empty file" if spec is None else type(spec).__name__
                raise MadebateError(
                    f"{spec_file}: expected the experiment's settings, got {got}; {DAMAGED_HINT}"
                )
            _check_stored_spec(spec, spec_file)
        result = run_experiment(
            spec,
            out=out,
            resume=resume,
            cache=False if no_cache else None,
            progress=not quiet,
            executor=chosen,
            restart_changed=restart_changed,
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
    for cell_id, what in result.restarted.items():
        err_console.print(
            f"cell {cell_id} run afresh: {', '.join(what)}",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
    _print_summary(result.summary.cells, result.summary)
    if result.summary.workers:
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


def _print_workers(summary: RunSummary) -> None:
    """Per-worker throughput of a distributed run, and what was lost and run again."""
    table = Table("worker", "host", "records", "wall s", "records/s", "cache", "status")
    for name, w in (summary.workers or {}).items():
        table.add_row(
            name,
            f"{w.host}:{w.pid}",
            str(w.records),
            f"{w.wall_s:.1f}",
            f"{w.per_s:.2f}",
            str(w.cache),
            f"lost ({w.lost})" if w.lost else "ok",
        )
    console.print(table)
    info = summary.executor
    if info is not None and info.lost_workers:
        console.print(
            f"{info.lost_workers} worker(s) lost; {info.requeued_jobs} example(s) re-run "
            "on the others",
            highlight=False,
        )


def _interrupted(run_dir: Path | None) -> NoReturn:
    """Ctrl-C: every finished record is already on disk; say so and how to go on."""
    message = "interrupted"
    if run_dir is not None and (run_dir / "records.jsonl").exists():
        from madebate.runs._runlog import latest_heads

        kept = len(latest_heads(run_dir))
        message += (
            f": {kept} record(s) kept in {run_dir}; continue with: madebate run --resume {run_dir}"
        )
    # No wrapping: the resume command must stay on one line, whole, to be copied as it is.
    err_console.print(message, highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code=130)


@app.command()
def summary(
    run_dir: Annotated[Path, typer.Argument(help="A run directory.")],
    fmt: Annotated[
        SummaryFormat,
        typer.Option(
            "--format",
            help="table (a block per cell below 120 columns), markdown, csv or json.",
        ),
    ] = SummaryFormat.table,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Print a run's cells: each metric's mean with a 95% interval over examples (the repeats
    of an example averaged first; the Wilson score interval when every example's mean is 0 or
    1, else a normal (z) interval over the example means), decision rate, unreadable-reply and
    cut-at-max_tokens rates, turns, cost, option positions (multiple choice), the run's wall
    time and the discussions' summed time."""
    from madebate.runs._load import load_run

    try:
        loaded = load_run(run_dir)
        stored = loaded.stored_summary
        cells = loaded.summary.cells  # the records streamed: a damaged one fails here
    except MadebateError as exc:
        _fail(exc, debug)
        return
    _print_summary(cells, stored, fmt)


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
    except MadebateError as exc:
        _fail(exc, debug)
        return
    except OSError as exc:  # a full disk, a read-only folder: in words, naming the file
        from madebate._files import os_problem

        where = exc.filename if exc.filename is not None else (out or run_dir / "report")
        _fail(
            MadebateError(
                f"cannot write the report: {where}: {os_problem(exc)}; fix that (free some "
                f"space, or give another --out), then run madebate report {run_dir} again"
            ),
            debug,
        )
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
            help="Metric (repeatable): accuracy, exact_match, token_f1, numeric, contains; "
            "squad_em, squad_f1, includes_answer; bleu, rouge1, rouge2, rougeL, meteor, bertscore; "
            "ifeval_strict, ifeval_loose (README: Metrics).",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Rescore a run's answers with other metrics (the run itself is not changed)."""
    from madebate.runs._load import load_run
    from madebate.runs._summary import summarize_records

    try:
        loaded = load_run(run_dir)
        records = loaded.iter_rescored(metric or ["accuracy"])  # streamed, none kept
        cells = summarize_records(records, loaded.cells).cells
        stored = loaded.stored_summary
    except MadebateError as exc:
        _fail(exc, debug)
        return
    _print_summary(cells, stored)


@app.command()
def schema(
    what: Annotated[
        str,
        typer.Argument(
            help="experiment (an experiment file), discussion (the discussion settings: an "
            "experiment's discussion: block, `discuss(**settings)`, `discuss --config`) or model "
            "(a model spec)."
        ),
    ] = "experiment",
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Print a JSON schema, every field with its documentation and default."""
    import json

    from madebate.models._models import ModelSpec
    from madebate.runs._experiment import discussion_schema, experiment_schema

    schemas = {
        "experiment": experiment_schema,
        "discussion": discussion_schema,
        "model": ModelSpec.model_json_schema,
    }
    if what not in schemas:
        _fail(MadebateError(f"schema {what}: expected one of {', '.join(schemas)}"), debug)
    sys.stdout.write(json.dumps(schemas[what](), indent=2) + "\n")


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
        bool | None,
        typer.Option(
            "--dataset/--no-dataset",
            help="For an experiment: its dataset is loaded and checked against the task as "
            "`run` checks it, unless --no-dataset. For a file that is not YAML: --dataset "
            "checks it as a dataset whatever its name.",
        ),
    ] = None,
    debug: Annotated[bool, typer.Option(help="Show tracebacks.")] = False,
) -> None:
    """Check a file without running anything or calling any model; exit 2 on the first error,
    naming the file, the field or line, and what would be valid.

    validate exp.yaml              an experiment, and its dataset as `run` checks it
    validate exp.yaml --no-dataset an experiment's settings only
    validate data.jsonl            a dataset file (.jsonl, .json, .csv)
    validate data.txt --dataset    a dataset file of any other name
    validate paradigm.yaml         a paradigm or a persona library"""
    import warnings

    from madebate._errors import ConfigError

    notes: list[str] = []
    suffix = file.suffix.lower()
    as_dataset = suffix in _DATASET_SUFFIXES or (
        dataset is True and suffix not in (".yaml", ".yml")
    )
    try:
        if as_dataset:
            from madebate.runs._datasets import DatasetSpec, load_dataset_info
            from madebate.runs._scoring import default_metrics

            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", UserWarning)
                tasks, info = load_dataset_info(DatasetSpec(path=str(file)))
            choice = sum(t.is_multiple_choice for t in tasks)
            kind, detail = "dataset", f"{len(tasks)} example(s), {choice} multiple choice"
            task_kind = info.kind or (
                "multiple_choice" if tasks[0].is_multiple_choice else "free_text"
            )
            notes = _dataset_notes(
                info.format,
                task_kind,
                "the file" if info.kind else "the examples",
                info.metrics or default_metrics(task_kind),
                "the file" if info.metrics else "the task kind",
                tasks,
                shuffled=False,
                caught=[str(w.message) for w in caught],
            )
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
                notes = preset_notes(spec.dataset)  # what a preset resolves to
                if dataset is not False:  # by default, as `run` checks it before any call
                    from madebate._errors import MissingResource
                    from madebate.runs._runner import check_scoring, prepare_tasks
                    from madebate.runs._scoring import default_metrics

                    try:  # the runner's own check: the dataset, and the task kind against it
                        with warnings.catch_warnings(record=True) as caught:
                            warnings.simplefilter("always", UserWarning)
                            tasks, info = prepare_tasks(spec, file.resolve().parent, str(file))
                        _check_configured_context(spec, cells, tasks, str(file))
                        data = spec.dataset.path
                        data = str((file.resolve().parent / data).resolve()) if data else None
                        try:  # what the metrics read from each example; their resources
                            check_scoring(cells, tasks, data, str(file))
                        except MissingResource as exc:  # run fails; here, perhaps elsewhere
                            notes.append(f"warning: `run` here would fail: {exc}")
                    except ConfigError as exc:
                        if exc.source is not None:
                            raise
                        raise ConfigError(str(exc), source=str(file)) from None
                    detail += f", {len(tasks)} example(s)"
                    task_kind = info.kind or "free_text"
                    metrics = spec.scoring or info.metrics or default_metrics(task_kind)
                    notes += _dataset_notes(
                        info.format,
                        task_kind,
                        "task.kind" if spec.task.kind else "the dataset",
                        metrics,
                        "scoring"
                        if spec.scoring
                        else (
                            ("the preset" if spec.dataset.preset else "the file")
                            if info.metrics
                            else "the task kind"
                        ),
                        tasks,
                        shuffled=spec.dataset.shuffle_options,
                        caught=[str(w.message) for w in caught],
                    )
            elif kind == "discussion settings":
                from madebate.engine._plan import check_config

                config, _ = _discussion_settings(file, {}, [])
                check_config(config, build_models=False)
                paradigm = getattr(config.paradigm, "name", config.paradigm)
                detail = f"{config.n_agents} agents, {paradigm}, {config.protocol}"
            elif kind == "paradigm":
                from madebate.engine._paradigm_library import load_paradigm

                detail = f"paradigm '{load_paradigm(file).name}'"
            else:
                from madebate.engine._personas import load_persona_library

                detail = f"{len(load_persona_library(file).personas)} persona(s)"
    except MadebateError as exc:
        _fail(exc, debug)
        return
    from rich.markup import escape

    console.print(f"[green]ok[/] {escape(str(file))}: {kind}, {detail}", highlight=False)
    for note in notes:
        style = "[yellow]warning:[/] " if note.startswith("warning: ") else "  "
        console.print(style + escape(note.removeprefix("warning: ")), highlight=False)


_DATASET_SUFFIXES = (".jsonl", ".json", ".csv")


def _dataset_notes(
    fmt: str,
    kind: str,
    kind_from: str,
    metrics: list[str],
    metrics_from: str,
    tasks: Any,
    *,
    shuffled: bool,
    caught: list[str],
) -> list[str]:
    """What `validate --dataset` says of a dataset: the format it was read as, the task kind,
    the answer shape and the metrics (each with where it came from), then warnings: repeated
    examples, and the correct option sitting mostly in one position."""
    from madebate.runs._datasets import position_skew
    from madebate.runs._experiment import ANSWER_SHAPES

    notes = [
        f"format: {fmt}",
        f"task kind: {kind} (from {kind_from})",
        f"answer shape: {ANSWER_SHAPES.get(kind, kind)}",
        f"metrics: {', '.join(metrics)} (from {metrics_from})",
    ]
    notes += [f"warning: {message}" for message in caught]
    skew = position_skew(tasks)
    if skew is not None:
        if shuffled:
            notes.append(
                f"options: shuffled per example and repeat (in the file, {skew.letter} is "
                f"correct in {skew.count} of {skew.total}, {skew.share:.0%})"
            )
        else:
            notes.append(f"warning: {skew.message()}")
    return notes


def _check_configured_context(spec: Any, cells: Any, tasks: Any, source: str) -> None:
    """Examples beyond a context window given in the spec (`model.context_window`), estimated
    without building or loading any model; `run` checks again with the model's tokenizer."""
    from madebate._sync import run_sync
    from madebate.runs._runner import check_context, configured_window

    run_sync(check_context(cells, tasks, configured_window, spec.dataset.path, source))


def _is_settings(data: dict[Any, Any]) -> bool:
    """A `madebate discuss --config` file: discussion settings (and `model`), where a persona
    library's `personas` would be a list of mappings."""
    from madebate.engine._config import DiscussionConfig

    personas = data.get("personas")
    if isinstance(personas, list) and any(isinstance(p, dict) for p in personas):
        return False
    return bool(data) and set(data) <= {*DiscussionConfig.model_fields, "model"}


def _file_kind(data: object, file: Path) -> str:
    if isinstance(data, dict):
        if "dataset" in data or "sweep" in data:
            return "experiment"
        if "schedule" in data:
            return "paradigm"
        if _is_settings(data):
            return "discussion settings"
        if "personas" in data:
            return "personas"
        got = f"a mapping with keys {', '.join(map(str, list(data)[:8])) or 'none'}"
    else:
        got = "an empty file" if data is None else f"a YAML {type(data).__name__}"
    from madebate._errors import ConfigError

    raise ConfigError(
        f"got {got} at the top level; expected an experiment (with dataset:), a paradigm "
        "(with schedule:), a persona library (with personas:) or discussion settings (a "
        "`madebate discuss --config` file) in YAML, or a dataset file named .jsonl, .json or "
        ".csv (or any name with --dataset)",
        source=str(file),
    )


_WIDE = 120  # columns from which the table is one row per cell; below, a block per cell


def _score_text(name: str, m: Any) -> str:
    return f"{name} {m.mean:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"


def _rate(value: float | None) -> str:
    return "–" if value is None else f"{value:.1%}"


def _positions_text(c: CellSummary) -> str:
    """Option positions, compact: "correct A 5 B 3; chosen A 6 B 2" ("" when not multiple
    choice)."""
    p = c.option_positions
    if p is None:
        return ""

    def counts(d: dict[str, int]) -> str:
        return " ".join(f"{k} {v}" for k, v in d.items())

    return f"correct {counts(p.correct)}; chosen {counts(p.chosen)}"


def _cut_text(c: CellSummary) -> str:
    """Replies cut at max_tokens, as a share of calls (with those stopped in a loop)."""
    return _rate(c.truncated_rate) + (f" ({c.looped_replies} looped)" if c.looped_replies else "")


def _shown_figures(c: CellSummary) -> list[str]:
    """The wide table's and markdown's columns from "decided" to "discussion s (summed)"."""
    return [
        f"{c.decision_rate:.0%}",
        str(c.errors),
        _rate(c.unreadable_rate),
        _cut_text(c),
        f"{c.mean_turns:.2f}",
        f"{c.calls_per_example:.1f}",
        f"{c.tokens_per_example:.0f}",
        f"{c.discussion_wall_s:.1f}",
    ]


def _flat_rows(cells: dict[str, CellSummary]) -> tuple[list[str], list[list[str]]]:
    """Header and rows for markdown and csv: one row per cell, a column per metric figure."""
    names = list(dict.fromkeys(m for c in cells.values() for m in c.metrics))
    header = ["cell", "n", "examples"]
    for m in names:
        header += [f"{m}", f"{m} ci_low", f"{m} ci_high", f"{m} interval"]
    header += [
        "decided",
        "no answer",
        "errors",
        "unreadable rate",
        "cut rate",
        "looped",
        "retries",
        "turns",
        "calls/ex",
        "tokens/ex",
        "discussion s (summed)",
        "option positions",
    ]
    rows = []
    for cell, c in cells.items():
        row = [cell, str(c.n), "" if c.examples is None else str(c.examples)]
        for name in names:
            got = c.metrics.get(name)
            row += (
                ["", "", "", ""]
                if got is None
                else [f"{got.mean:.4f}", f"{got.ci_low:.4f}", f"{got.ci_high:.4f}", got.method]
            )
        row += [
            f"{c.decision_rate:.4f}",
            str(c.no_answer),
            str(c.errors),
            "" if c.unreadable_rate is None else f"{c.unreadable_rate:.4f}",
            "" if c.truncated_rate is None else f"{c.truncated_rate:.4f}",
            str(c.looped_replies),
            str(c.retries),
            f"{c.mean_turns:.2f}",
            f"{c.calls_per_example:.1f}",
            f"{c.tokens_per_example:.0f}",
            f"{c.discussion_wall_s:.1f}",
            _positions_text(c),
        ]
        rows.append(row)
    return header, rows


def _markdown(cells: dict[str, CellSummary], run: RunSummary | None) -> str:
    from madebate.runs._scoring import INTERVAL_NOTE
    from madebate.runs._summary import run_time_line

    names = list(dict.fromkeys(m for c in cells.values() for m in c.metrics))
    header = ["cell", "n", *(f"{m} (95% CI)" for m in names)]
    header += ["decided", "errors", "unreadable", "cut", "turns", "calls/ex", "tokens/ex"]
    header += ["discussion s (summed)", "option positions"]

    def esc(text: str) -> str:
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for cell, c in cells.items():
        row = [esc(cell), str(c.n)]
        for name in names:
            got = c.metrics.get(name)
            row.append(
                "–" if got is None else f"{got.mean:.3f} [{got.ci_low:.3f}, {got.ci_high:.3f}]"
            )
        row += [*_shown_figures(c), _positions_text(c) or "–"]
        lines.append("| " + " | ".join(row) + " |")
    lines += ["", INTERVAL_NOTE, "", run_time_line(run, cells) + "."]
    return "\n".join(lines)


def _print_summary(
    cells: dict[str, CellSummary],
    run: RunSummary | None = None,
    fmt: SummaryFormat = SummaryFormat.table,
) -> None:
    """The cells' numbers in `fmt`; `run` (a stored summary) gives the run's wall time."""
    if fmt is SummaryFormat.json:
        from madebate.runs._records import RunSummary as _RunSummary

        whole = (
            run.model_copy(update={"cells": cells}) if run is not None else _RunSummary(cells=cells)
        )
        typer.echo(whole.model_dump_json(indent=2))
    elif fmt is SummaryFormat.csv:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        header, rows = _flat_rows(cells)
        writer.writerow(header)
        writer.writerows(rows)
        typer.echo(buffer.getvalue(), nl=False)
    elif fmt is SummaryFormat.markdown:
        typer.echo(_markdown(cells, run))
    else:
        _print_table(cells, run)
    _print_failed(cells)
    if run is not None and run.cache is not None and run.cache.off is not None:
        err_console.print(
            _plain(f"call cache turned off in the last session: it {run.cache.off}"),
            highlight=False,
            soft_wrap=True,
        )


def _print_table(cells: dict[str, CellSummary], run: RunSummary | None) -> None:
    """Wide terminals: one row per cell. Narrow ones (80 columns, a pipe, a log): a block per
    cell, each figure whole (nothing is cut to "0.4…")."""
    from madebate.runs._scoring import INTERVAL_NOTE
    from madebate.runs._summary import run_time_line

    if console.width >= _WIDE:
        table = Table(
            "cell",
            "n",
            "score (95% CI)",
            "decided",
            "errors",
            "unreadable",
            "cut",
            "turns",
            "calls/ex",
            "tokens/ex",
            "discussion s (summed)",
            "positions",
        )
        for column in table.columns:
            column.overflow = "fold"
        for cell, c in cells.items():
            table.add_row(
                _plain(cell),
                str(c.n),
                "\n".join(_score_text(name, m) for name, m in c.metrics.items()),
                *_shown_figures(c),
                _positions_text(c).replace("; ", "\n") or "–",
            )
        console.print(table)
    else:
        for cell, c in cells.items():
            examples = f" ({c.examples} examples)" if c.examples is not None else ""
            lines = [Text.assemble(_plain(cell, "bold"), f"  n {c.n}{examples}")]
            lines += [Text(f"  {_score_text(name, m)}") for name, m in c.metrics.items()]
            lines.append(
                Text(
                    f"  decided {c.decision_rate:.0%}, no answer {c.no_answer}, "
                    f"errors {c.errors}, unreadable {_rate(c.unreadable_rate)}, "
                    f"cut {_cut_text(c)}"
                )
            )
            lines.append(
                Text(
                    f"  turns {c.mean_turns:.2f}, calls/ex {c.calls_per_example:.1f}, "
                    f"tokens/ex {c.tokens_per_example:.0f}, retries {c.retries}, "
                    f"discussion s (summed) {c.discussion_wall_s:.1f}"
                )
            )
            if c.option_positions is not None:
                lines.append(Text(f"  option positions: {_positions_text(c)}"))
            for line in lines:
                console.print(line, highlight=False)
    console.print(_plain(INTERVAL_NOTE), highlight=False)
    console.print(_plain(run_time_line(run, cells)), highlight=False)


def _print_failed(cells: dict[str, CellSummary]) -> None:
    for cell, c in cells.items():
        for f in c.failed_examples[:5]:  # the rest are in summary.json
            err_console.print(
                _plain(f"failed: {cell} example {f.example_id} (repeat {f.repeat}): {f.cause}"),
                highlight=False,
                soft_wrap=True,  # one line each, for grep
            )
        if len(c.failed_examples) > 5:
            err_console.print(
                _plain(f"failed: {cell}: {c.errors} in all; see summary.json"), highlight=False
            )


def main() -> None:
    # A polite stop (kill, timeout, a batch scheduler) ends a run as Ctrl-C does: finished
    # records kept, the summary written, the resume command printed.
    signal.signal(signal.SIGTERM, lambda *_: signal.raise_signal(signal.SIGINT))
    # A warning (an experiment file in the old layout, say) reads as one line, not as Python's
    # file:line report with a line of madebate's source.
    warnings.formatwarning = lambda message, category, *_: f"warning: {message}\n"
    try:
        app()
    except KeyboardInterrupt:  # before a run got going: nothing to keep, no traceback
        err_console.print("interrupted", highlight=False, markup=False)
        sys.exit(130)


if __name__ == "__main__":
    main()
