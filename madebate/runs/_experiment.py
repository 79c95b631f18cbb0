"""Experiment specs: one YAML file (or the same pydantic model) for a whole study. The `sweep`
block's cross product defines the cells; each cell is checked before any model is called."""

from __future__ import annotations

import copy
import difflib
import itertools
import re
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from madebate.engine._config import DiscussionConfig
from madebate.runs._datasets import DatasetSpec
from madebate._errors import ConfigError
from madebate.models._model import GenerateConfig
from madebate.engine._paradigm import ParadigmSpec
from madebate._yaml import config_error_from, read_yaml

TaskKind = Literal["multiple_choice", "yes_no", "short_answer", "math", "free_text"]

TASK_INSTRUCTIONS: dict[str, str] = {
    "multiple_choice": "Answer the following multiple-choice question by choosing one of the options.",
    "yes_no": "Answer the following question with Yes or No.",
    "short_answer": "Answer the following question with a short answer: a word, a name or a phrase.",
    "math": "Solve the following math problem. The final solution must be a single number.",
    "free_text": "Solve the following task.",
}


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TaskSpec(_Spec):
    kind: TaskKind | None = (
        None  # default: multiple_choice when examples have options, else free_text
    )
    instruction: str | None = None  # inline; default: the kind's template


class ModelSpec(_Spec):
    """A model for one role. `api_key_env` names the variable holding the key; keys are never
    written into specs or run directories."""

    id: str | None = None  # None: the embedded default
    base_url: str | None = None
    api_key_env: str | None = None
    timeout_s: float = Field(default=120.0, gt=0)  # per call, every provider
    # Tokens the model can see (prompt plus reply). Local models report theirs; for a remote
    # endpoint give it here, and prompts over it are never sent (see DiscussionConfig's
    # `context_overflow`).
    context_window: int | None = Field(default=None, ge=64)
    max_concurrency: int = Field(default=64, ge=1)  # requests in flight to this endpoint
    max_attempts: int = Field(default=4, ge=1)
    retry_initial_s: float = Field(default=0.5, ge=0)  # first backoff; doubles, with jitter
    retry_max_s: float = Field(default=20.0, ge=0)  # longest backoff
    retry_after_max_s: float = Field(default=120.0, ge=0)  # cap on a server's Retry-After
    structured_output: bool = True
    # Provider-specific settings, e.g. vLLM engine options (tensor_parallel_size, max_model_len,
    # gpu_memory_utilization) or llama.cpp's n_ctx; passed to the provider as they are.
    options: dict[str, Any] = Field(default_factory=dict)

    @field_validator("options")
    @classmethod
    def _no_secrets(cls, v: dict[str, Any]) -> dict[str, Any]:
        secret = [
            k for k in v if any(w in k.lower() for w in ("key", "token", "secret", "password"))
        ]
        if secret:
            raise ValueError(
                f"{', '.join(secret)}: secrets never go in a spec (it is written to the run "
                "directory); name the environment variable that holds it in api_key_env"
            )
        return v


class TeamSpec(_Spec):
    agents: int = Field(default=3, ge=2, le=64)
    personas: str | list[str] = "library"
    drafter: bool = False
    model: ModelSpec | str | None = None  # the panel's model; default: the experiment's


# The discussion block holds every DiscussionConfig setting that is not a top-level section.
_TOP_LEVEL = {
    "paradigm",
    "paradigm_params",
    "agents",
    "personas",
    "drafter",
    "protocol",
    "protocol_options",
    "generation",
    "seed",
}
DiscussionOptions: type[BaseModel] = create_model(  # type: ignore[call-overload]
    "DiscussionOptions",
    __config__=ConfigDict(extra="forbid"),
    **{
        name: (f.annotation, f)
        for name, f in DiscussionConfig.model_fields.items()
        if name not in _TOP_LEVEL
    },
)


class ExperimentSpec(_Spec):
    name: str = Field(min_length=1)
    description: str = ""
    dataset: DatasetSpec
    task: TaskSpec = Field(default_factory=TaskSpec)
    model: ModelSpec | str | None = None
    team: TeamSpec = Field(default_factory=TeamSpec)
    paradigm: str | ParadigmSpec = "memory"
    paradigm_params: dict[str, int] = Field(default_factory=dict)
    protocol: str = "majority_consensus"
    protocol_options: dict[str, Any] = Field(default_factory=dict)
    discussion: DiscussionOptions = Field(default_factory=DiscussionOptions)  # type: ignore[valid-type]
    generation: GenerateConfig = Field(default_factory=GenerateConfig)
    seed: int = 0
    repeats: int = Field(default=1, ge=1, le=100)
    concurrency: int = Field(default=32, ge=1, le=10_000)  # discussions in flight
    # Wall-clock limit for the whole run; when it passes, discussions in flight are stopped,
    # the records written so far stay, and `--resume` finishes the rest.
    deadline_s: float | None = Field(default=None, gt=0)
    cache: bool | None = None  # None: on when sampling is reproducible (temperature 0 or a seed)
    cache_path: str | None = None  # default: $MADEBATE_CACHE or ~/.cache/madebate/calls.sqlite
    scoring: list[str] | None = None  # default: by task kind
    sweep: dict[str, list[Any]] = Field(default_factory=dict)

    def model_spec(self, role_model: ModelSpec | str | None = None) -> ModelSpec:
        chosen = role_model if role_model is not None else self.model
        if chosen is None or isinstance(chosen, str):
            return ModelSpec(id=chosen)
        return chosen


class Cell(BaseModel):
    """One point of the sweep: its id, the overrides that made it, and its full spec."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    id: str
    overrides: dict[str, Any]
    spec: ExperimentSpec

    def discussion_config(self, seed: int | None) -> DiscussionConfig:
        s = self.spec
        return DiscussionConfig(
            paradigm=s.paradigm,
            paradigm_params=s.paradigm_params,
            agents=s.team.agents,
            personas=s.team.personas,
            drafter=s.team.drafter,
            protocol=s.protocol,
            protocol_options=s.protocol_options,
            generation=s.generation,
            seed=seed,
            **cast(BaseModel, s.discussion).model_dump(),
        )


def load_experiment(path: str | Path) -> ExperimentSpec:
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigError(
            f"expected a mapping of settings (name:, dataset:, ...) at the top level, got {got}",
            source=str(path),
        )
    _anchor_paths(data, path.resolve().parent)
    spec = parse_experiment(data, source=str(path))
    _check_dataset_file(spec, path)
    return spec


def _check_dataset_file(spec: ExperimentSpec, path: Path) -> None:
    """A dataset file that is not there fails naming the experiment file and the field, not
    only later, when the runner opens it."""
    data = spec.dataset
    if data.path is None or data.hf is not None or data.format == "hf":
        return  # a Hugging Face dataset (or a local one saved by `datasets`) is loaded by name
    target = Path(data.path)
    if not target.is_absolute():
        target = path.resolve().parent / target
    if not target.is_file():
        what = "is a folder, not a file" if target.is_dir() else "does not exist"
        raise ConfigError(
            f"dataset file {target} {what}; a relative path is relative to the experiment "
            "file's folder (a .jsonl, .json or .csv file; or hf: for a Hugging Face dataset)",
            source=str(path),
            field="dataset.path",
        )


def _anchor_paths(data: dict[str, Any], folder: Path) -> None:
    """Relative file paths in an experiment (dataset, paradigm files, also in the sweep) are
    relative to the experiment file, wherever the run is started from."""

    def anchored(value: Any) -> Any:
        if (
            isinstance(value, str)
            and value.endswith((".yaml", ".yml"))
            and not Path(value).is_absolute()
        ):
            return str(folder / value)
        return value

    dataset = data.get("dataset")
    path = dataset.get("path") if isinstance(dataset, dict) else None
    if isinstance(path, str) and not Path(path).is_absolute() and (folder / path).exists():
        dataset["path"] = str(folder / path)  # type: ignore[index]
    if "paradigm" in data:
        data["paradigm"] = anchored(data["paradigm"])
    sweep = data.get("sweep")
    if isinstance(sweep, dict) and isinstance(sweep.get("paradigm"), list):
        sweep["paradigm"] = [anchored(v) for v in sweep["paradigm"]]

    def anchored_persona(value: Any) -> Any:
        # 'library:FILE.yaml' names a file; 'library:NAME' a built-in library.
        if isinstance(value, str) and value.startswith("library:"):
            return "library:" + anchored(value.removeprefix("library:"))
        if isinstance(value, list):
            return [anchored_persona(v) for v in value]
        return value

    team = data.get("team")
    if isinstance(team, dict) and "personas" in team:
        team["personas"] = anchored_persona(team["personas"])
    if isinstance(sweep, dict):
        for key in ("team.personas", "personas"):
            if isinstance(sweep.get(key), list):
                sweep[key] = [anchored_persona(v) for v in sweep[key]]


def parse_experiment(data: dict[str, Any], *, source: str = "python") -> ExperimentSpec:
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise config_error_from(exc, source=source, model=ExperimentSpec) from None
    expand_cells(spec, source=source)  # every cell must be valid before anything runs
    return spec


def expand_cells(spec: ExperimentSpec, *, source: str = "python") -> list[Cell]:
    """The cross product of the sweep, each cell validated and checked against the registries."""
    from madebate.engine._discussion import check_config
    from madebate.models._models import DEFAULT_MODEL, providers
    from madebate.runs._scoring import metrics

    base = spec.model_dump(exclude={"sweep"}, exclude_unset=True)
    keys = list(spec.sweep)
    for key in keys:
        if not spec.sweep[key]:
            raise ConfigError(
                "a sweep axis needs at least one value", source=source, field=f"sweep.{key}"
            )
    cells = []
    for values in itertools.product(*(spec.sweep[k] for k in keys)) if keys else [()]:
        data = copy.deepcopy(base)
        overrides = dict(zip(keys, values, strict=True))
        for key, value in overrides.items():
            _set_path(data, key, value, source)
        try:
            cell_spec = ExperimentSpec.model_validate(data)
        except ValidationError as exc:
            err = config_error_from(exc, source=source, model=ExperimentSpec)
            where = ", ".join(f"{k}={value_label(v)}" for k, v in overrides.items())
            raise ConfigError(f"in sweep cell {where}: {err}", source=None) from None
        cell_id = ",".join(f"{k}={value_label(v)}" for k, v in overrides.items()) or "main"
        cell = Cell(id=cell_id, overrides=overrides, spec=cell_spec)
        try:
            config = cell.discussion_config(seed=spec.seed)
        except ValidationError as exc:  # DiscussionConfig's cross-field checks
            first = exc.errors()[0]
            msg = first["msg"].removeprefix("Value error, ")
            raise ConfigError(
                f"in sweep cell {cell_id}: {msg}",
                source=source,
                field=_discussion_field(first["loc"], msg),
            ) from None
        try:
            check_config(config, build_models=False)
            for name in cell_spec.scoring or []:
                metrics.get(name, field="scoring")
            for role_model in (cell_spec.model, cell_spec.team.model):
                model_id = cell_spec.model_spec(role_model).id or DEFAULT_MODEL
                providers.get(model_id.partition("/")[0], field="model")
        except ConfigError as exc:
            raise ConfigError(f"in sweep cell {cell_id}: {exc}", source=source) from None
        cells.append(cell)
    ids = [c.id for c in cells]
    if len(set(ids)) != len(ids):
        raise ConfigError(
            "two sweep cells have the same id; make sweep values distinct",
            source=source,
            field="sweep",
        )
    return cells


def _set_path(data: dict[str, Any], dotted: str, value: Any, source: str) -> None:
    parts = dotted.split(".")
    top = parts[0]
    if top not in ExperimentSpec.model_fields or top in _NOT_SWEEPABLE:
        names = sorted(set(ExperimentSpec.model_fields) - _NOT_SWEEPABLE)
        what = f"'{top}' is run-wide, not per cell" if top in _RUN_WIDE else f"unknown key '{top}'"
        near = difflib.get_close_matches(top, names, n=1, cutoff=0.6)
        if near and top not in _RUN_WIDE:
            what += f" (did you mean '{near[0]}'?)"
        raise ConfigError(
            f"{what}; sweepable: {', '.join(names)}", source=source, field=f"sweep.{dotted}"
        )
    node = data
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ConfigError(f"'{part}' is not a section", source=source, field=f"sweep.{dotted}")
        node = child
    node[parts[-1]] = value


# Settings the runner reads once for the whole run (one dataset and task list, one repeat count,
# one worker pool, one cache); sweeping them would silently change nothing.
_RUN_WIDE = {"dataset", "task", "repeats", "concurrency", "cache", "cache_path", "deadline_s"}
_NOT_SWEEPABLE = {"sweep", "name", "description", *_RUN_WIDE}

# DiscussionConfig names that live elsewhere in an experiment file.
_DISCUSSION_PATHS = {
    "agents": "team.agents",
    "personas": "team.personas",
    "drafter": "team.drafter",
}


def _discussion_field(loc: tuple[int | str, ...], msg: str) -> str:
    """The experiment-file path of a DiscussionConfig error; a cross-field check has no
    location, so its message's first word ('min_turns (5) is above ...') names the field."""
    name = str(loc[0]) if loc else re.split(r"[\s:(]", msg, maxsplit=1)[0]
    if name in _DISCUSSION_PATHS:
        return _DISCUSSION_PATHS[name]
    if name in _TOP_LEVEL:
        return name
    return f"discussion.{name}" if name in DiscussionConfig.model_fields else "discussion"


def value_label(value: Any) -> str:
    """How a sweep value appears in a cell id: a name, a file's stem, or the value itself."""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("id") or "inline")
    if isinstance(value, str) and ("/" in value or value.endswith((".yaml", ".yml"))):
        return Path(value).stem
    return str(value)


def experiment_schema() -> dict[str, Any]:
    return ExperimentSpec.model_json_schema()
