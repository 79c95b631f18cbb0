"""Experiment specs: one YAML file (or the same pydantic model) for a whole study. The `sweep`
block's cross product defines the cells; each cell is checked before any model is called."""

from __future__ import annotations

import copy
import difflib
import itertools
import math
import re
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    field_validator,
    model_validator,
)

from madebate._errors import ConfigError
from madebate._secrets import MASK, is_secret_name, mask_text
from madebate._text import name_key, quote_name, show_name, visible_name
from madebate._yaml import SPEC_CONFIG, config_error_from, read_yaml
from madebate.engine._config import DiscussionConfig, TeamConfig, set_path
from madebate.models._models import ModelSpec as ModelSpec  # re-exported: part of a spec
from madebate.runs._datasets import DatasetSpec

TaskKind = Literal["multiple_choice", "yes_no", "short_answer", "math", "free_text"]

TASK_INSTRUCTIONS: dict[str, str] = {
    "multiple_choice": "Answer the following multiple-choice question by choosing one of the options.",
    "yes_no": "Answer the following question with Yes or No.",
    "short_answer": "Answer the following question with a short answer: a word, a name or a phrase.",
    "math": "Solve the following math problem. The final solution must be a single number.",
    "free_text": "Solve the following task.",
}

# What an answer of each kind looks like (the README's table of task kinds says the same).
ANSWER_SHAPES: dict[str, str] = {
    "multiple_choice": "one option letter (A, B, ...) or an option's text",
    "yes_no": "Yes or No (options A) Yes, B) No)",
    "short_answer": "a word, a name or a short phrase",
    "math": "a single number",
    "free_text": "free text",
}


class _Spec(BaseModel):
    model_config = SPEC_CONFIG


class TaskSpec(_Spec):
    """What the examples ask for: the kind of answer, and the instruction shown with each."""

    kind: TaskKind | None = None
    """multiple_choice, yes_no, short_answer, math or free_text; default: multiple_choice when
    the examples have options, else free_text."""
    instruction: str | None = None
    """The instruction shown before each example; default: the kind's own."""


class ExperimentSpec(_Spec):
    """A whole study: a dataset, a model, the discussion settings, and a sweep over any of them.

    The old layout (the discussion settings `paradigm`, `paradigm_params`, `protocol`,
    `protocol_options` and `generation` at the top level, `agents`, `personas`, `drafter` and
    `model` in a `team` block) is still read: `upgrade_experiment` moves them where they belong
    now and warns (a FutureWarning) naming what moved."""

    name: str = Field(min_length=1)
    """The study's name (also the default run directory's)."""
    description: str = ""
    """Free text, kept with the run."""
    dataset: DatasetSpec
    """Where the examples come from."""
    task: TaskSpec = Field(default_factory=TaskSpec)
    """What the examples ask for."""
    model: ModelSpec | str | None = None
    """The panel's model: an id, or a model spec (id, base_url, timeout_s, max_concurrency,
    ...); none: the embedded default."""
    discussion: DiscussionConfig = Field(default_factory=DiscussionConfig)
    """Every setting of the discussions (paradigm, agents, personas, protocol, max_turns,
    generation, ...): the same settings as `discuss()` and `madebate discuss` take."""
    seed: int = 0
    """The run's seed: each example and repeat gets a seed derived from it, the same in every
    cell (paired comparisons)."""
    repeats: int = Field(default=1, ge=1, le=100)
    """Discussions per example and cell, each with its own seed."""
    concurrency: int = Field(default=32, ge=1, le=10_000)
    """Discussions in flight at once."""
    deadline_s: float | None = Field(default=None, gt=0)
    """Wall-clock limit for the whole run; when it passes, discussions in flight are stopped,
    the records written so far stay, and `--resume` finishes the rest."""
    cache: bool | None = None
    """Cache model calls on disk; default: on when sampling is reproducible (temperature 0 or
    a seed)."""
    cache_path: str | None = None
    """The call cache's file; default: $MADEBATE_CACHE or ~/.cache/madebate/calls.sqlite."""
    scoring: list[str] | None = None
    """Metrics (accuracy, exact_match, token_f1, numeric, contains, squad_em, squad_f1,
    includes_answer, bleu, rouge1, rouge2, rougeL, meteor, bertscore, ifeval_strict,
    ifeval_loose); default: by task kind."""
    teams: dict[str, TeamConfig] = Field(default_factory=dict)
    """Named teams (agents, personas, drafter, judge and a default model), for a sweep over
    them: `sweep: {team: [homogeneous, mixed]}`; the cells are named after the teams."""
    sweep: dict[str, list[Any]] = Field(default_factory=dict)
    """Axes of the study: a dotted path and its values; the cells are the cross product. A path
    starts at a section of the spec (`discussion.max_turns`, `model.id`, `seed`) or, for a
    discussion setting, may leave out `discussion.` (`max_turns`, `generation.temperature`);
    `team` takes names from `teams`."""

    _renames: dict[str, str] = PrivateAttr(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _upgrade(cls, data: Any) -> Any:
        # The body only: old sweep keys stay as written (they name the cells), and
        # `upgrade_experiment`, which parse_experiment and load_experiment call, warns of them.
        if isinstance(data, dict) and ("team" in data or any(k in data for k in _OLD_TOP_LEVEL)):
            upgraded, _ = upgrade_experiment(data)
            return upgraded
        return data

    @field_validator("name")
    @classmethod
    def _readable_name(cls, v: str) -> str:
        return visible_name(v, "the study (it also names the default run directory)")

    @field_validator("teams")
    @classmethod
    def _readable_team_names(cls, v: dict[str, TeamConfig]) -> dict[str, TeamConfig]:
        # A team's name names its sweep cells (team=NAME): two names a reader cannot tell
        # apart would be two cells that look like one.
        seen: dict[str, str] = {}
        for name in v:
            key = name_key(name)
            if not key:
                raise ValueError(
                    f"the team name {quote_name(name)} shows nothing (only spaces or invisible "
                    "characters); give the team a name people can read"
                )
            if key in seen:
                raise ValueError(
                    f"team names {quote_name(seen[key])} and {quote_name(name)} are one name to "
                    "a reader (compared ignoring case, invisible characters and look-alike "
                    "letters); give each team its own name"
                )
            seen[key] = name
        return v

    @field_validator("discussion")
    @classmethod
    def _no_discussion_seed(cls, v: DiscussionConfig) -> DiscussionConfig:
        if v.seed is not None:
            raise ValueError(
                "seed: an experiment gives each example and repeat its own seed, derived from "
                "the top-level `seed`; set that one instead"
            )
        return v

    def model_spec(self) -> ModelSpec:
        """The panel's model as a spec."""
        chosen = self.model
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
        """The cell's discussion settings with one discussion's seed."""
        return self.spec.discussion.model_copy(update={"seed": seed})


# -- the old layout: discussion settings at the top level and in a team: block --------------

# Discussion settings that sat at the top level, and team settings that sat in `team:`.
_OLD_TOP_LEVEL = ("paradigm", "paradigm_params", "protocol", "protocol_options", "generation")
_OLD_TEAM = ("agents", "personas", "drafter")
_OLD_TEAM_KEYS = sorted((*_OLD_TEAM, "model"))


def _is_old_layout(data: dict[str, Any]) -> bool:
    return "team" in data or any(k in data for k in _OLD_TOP_LEVEL) or bool(_old_sweep_keys(data))


def _old_sweep_keys(data: dict[str, Any]) -> list[str]:
    sweep = data.get("sweep")
    if not isinstance(sweep, dict):
        return []
    # `team` alone sweeps the named teams (`teams:`); `team.X` is the old layout's.
    return [k for k in sweep if isinstance(k, str) and k.split(".")[0] == "team" and k != "team"]


def upgrade_experiment(
    data: dict[str, Any], *, source: str | None = None
) -> tuple[dict[str, Any], dict[str, str]]:
    """An experiment mapping in the old layout, in today's layout (a copy), and what
    moved: {new path: old path}, so that errors still name the field as the file gives it.
    Warns (FutureWarning) when anything moved. Sweep keys need no upgrade: `paradigm` and the
    like are discussion settings, and `team.X` still names `discussion.X` (or `model`)."""
    if not _is_old_layout(data):
        return data, {}
    data = copy.deepcopy(data)
    moved: dict[str, str] = {}
    replaced: list[str] = []
    discussion = data.get("discussion")
    if discussion is None:
        discussion = data["discussion"] = {}
    if not isinstance(discussion, dict):
        return data, moved  # validation names `discussion`
    for key in _OLD_TOP_LEVEL:
        if key in data:
            if key in discussion:
                raise ConfigError(
                    f"given twice: at the top level (the old layout) and as discussion.{key}; "
                    "keep the one in discussion",
                    source=source,
                    field=key,
                )
            discussion[key] = data.pop(key)
            moved[f"discussion.{key}"] = key
    team = data.pop("team", None)
    if team is not None and not isinstance(team, dict):
        raise ConfigError(
            f"expected a mapping of {', '.join(_OLD_TEAM_KEYS)} (the old layout's team block; "
            "today agents, personas and drafter go in discussion), got "
            f"{type(team).__name__}",
            source=source,
            field="team",
        )
    for key, value in (team or {}).items():
        if key not in _OLD_TEAM_KEYS:
            near = difflib.get_close_matches(str(key), _OLD_TEAM_KEYS, n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(
                f"unknown key '{key}'{hint}; valid keys: {', '.join(_OLD_TEAM_KEYS)}",
                source=source,
                field=f"team.{key}",
            )
        if key == "model":
            if value is not None:
                # The panel's model: the top-level one, if any, was the default it overrode.
                if data.get("model") not in (None, value):
                    replaced.append(
                        f"the top-level model {data['model']!r}, which the panel did not use"
                    )
                data["model"] = value
                moved["model"] = "team.model"
            continue
        if key in discussion:
            raise ConfigError(
                f"given twice: in team (the old layout) and as discussion.{key}; keep the one "
                "in discussion",
                source=source,
                field=f"team.{key}",
            )
        discussion[key] = value
        moved[f"discussion.{key}"] = f"team.{key}"
    old_keys = _old_sweep_keys(data)
    if moved or old_keys:
        what = ", ".join(f"{old} -> {new}" for new, old in moved.items())
        what += "".join(f"; replaced {r}" for r in replaced)
        if old_keys:
            # Not rewritten: a cell's id is its sweep keys as written, and a resumed run must
            # find its cells again.
            what += "; sweep " + ", ".join(f"{k} names {_canonical(k)}" for k in old_keys)
            what = what.removeprefix("; ")
        warnings.warn(
            f"{source or 'experiment'}: the old layout, read through the upgrade ({what}); "
            "write the discussion settings under discussion: (see `madebate schema`)",
            FutureWarning,
            stacklevel=3,
        )
    return data, moved


def load_experiment(path: str | Path) -> ExperimentSpec:
    """An experiment YAML file as a validated `ExperimentSpec` (errors name the file, field and
    line)."""
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        got = "an empty file" if data is None else type(data).__name__
        raise ConfigError(
            f"expected a mapping of settings (name:, dataset:, ...) at the top level, got {got}",
            source=str(path),
        )
    data, moved = upgrade_experiment(data, source=str(path))
    _anchor_paths(data, path.resolve().parent)
    spec = parse_experiment(data, source=str(path), renames=moved)
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
    if data.preset is not None and target.is_dir():
        return  # a preset's local copy may be a folder (saved by `datasets`; BTVote's files)
    if not target.is_file():
        what = "is a folder, not a file" if target.is_dir() else "does not exist"
        valid = (
            f"a local copy of preset {data.preset} in the source's own schema: a .jsonl, .json, "
            ".csv or .parquet file or a folder saved by datasets; or leave out path: to "
            "download it"
            if data.preset is not None
            else "a .jsonl, .json or .csv file; or hf: for a Hugging Face dataset"
        )
        raise ConfigError(
            f"dataset file {target} {what}; a relative path is relative to the experiment "
            f"file's folder ({valid})",
            source=str(path),
            field="dataset.path",
        )


def _anchor_paths(data: dict[str, Any], folder: Path) -> None:
    """Relative file paths in an experiment (dataset, paradigm files, persona libraries, also
    in the sweep) are relative to the experiment file, wherever the run is started from."""

    def anchored(value: Any) -> Any:
        if (
            isinstance(value, str)
            and value.endswith((".yaml", ".yml"))
            and not Path(value).is_absolute()
        ):
            return str(folder / value)
        return value

    def anchored_persona(value: Any) -> Any:
        # 'library:FILE.yaml' names a file; 'library:NAME' a built-in library.
        if isinstance(value, str) and value.startswith("library:"):
            return "library:" + anchored(value.removeprefix("library:"))
        if isinstance(value, list):
            return [anchored_persona(v) for v in value]
        return value

    dataset = data.get("dataset")
    path = dataset.get("path") if isinstance(dataset, dict) else None
    if isinstance(path, str) and not Path(path).is_absolute() and (folder / path).exists():
        dataset["path"] = str(folder / path)  # type: ignore[index]
    teams = data.get("teams")
    sections = [data.get("discussion")]
    sections += list(teams.values()) if isinstance(teams, dict) else []
    for discussion in sections:
        if not isinstance(discussion, dict):
            continue
        if "paradigm" in discussion:
            discussion["paradigm"] = anchored(discussion["paradigm"])
        if "personas" in discussion:
            discussion["personas"] = anchored_persona(discussion["personas"])
        entries = discussion.get("agents")
        for agent in entries if isinstance(entries, list) else []:
            if isinstance(agent, dict) and isinstance(agent.get("persona"), str):
                agent["persona"] = anchored_persona(agent["persona"])  # a mixed team's entry
    sweep = data.get("sweep")
    if isinstance(sweep, dict):
        for key, values in sweep.items():
            if not isinstance(key, str) or not isinstance(values, list):
                continue
            target = _canonical(key)
            if target == "discussion.paradigm":
                sweep[key] = [anchored(v) for v in values]
            elif target == "discussion.personas":
                sweep[key] = [anchored_persona(v) for v in values]


def parse_experiment(
    data: dict[str, Any], *, source: str = "python", renames: dict[str, str] | None = None
) -> ExperimentSpec:
    """An experiment from a mapping (either layout), every sweep cell checked. `renames`
    ({new path: old path}, from `upgrade_experiment`) makes errors name fields as given."""
    if renames is None:
        data, renames = upgrade_experiment(data, source=source)
    try:
        spec = ExperimentSpec.model_validate(data)
    except ValidationError as exc:
        raise _spec_error(exc, source=source, renames=renames) from None
    spec._renames = dict(renames)
    expand_cells(spec, source=source)  # every cell must be valid before anything runs
    return spec


MAX_CELLS = 10_000
"""The most cells one sweep may make (its axes' cross product)."""


def expand_cells(spec: ExperimentSpec, *, source: str = "python") -> list[Cell]:
    """The cross product of the sweep, each cell validated and checked against the registries."""
    from madebate.engine._plan import check_config
    from madebate.models._models import providers
    from madebate.runs._scoring import metrics

    base = spec.model_dump(exclude={"sweep"}, exclude_unset=True)
    keys = list(spec.sweep)
    targets = {key: sweep_target(key, source=source) for key in keys}
    for key in keys:
        if not spec.sweep[key]:
            raise ConfigError(
                "a sweep axis needs at least one value", source=source, field=f"sweep.{key}"
            )
    count = math.prod(len(spec.sweep[k]) for k in keys)
    if count > MAX_CELLS:
        sizes = " x ".join(str(len(spec.sweep[k])) for k in keys)
        raise ConfigError(
            f"the sweep makes {count:,} cells ({sizes}), over the bound of {MAX_CELLS:,}; "
            "split the study into several experiments",
            source=source,
            field="sweep",
        )
    _check_team_axis(spec, targets, source=source)
    cells = []
    for values in itertools.product(*(spec.sweep[k] for k in keys)) if keys else [()]:
        data = copy.deepcopy(base)
        overrides = dict(zip(keys, values, strict=True))
        for key, value in overrides.items():
            if targets[key] == TEAM_KEY:
                _apply_team(data, spec, value, source=source)
            else:
                set_path(data, targets[key], value, field=f"sweep.{key}")
        # A value swept under a credential's name (refused below) is never quoted.
        where = ", ".join(
            f"{k}={MASK if is_secret_name(k.rpartition('.')[2]) else value_label(v)}"
            for k, v in overrides.items()
        )
        try:
            cell_spec = ExperimentSpec.model_validate(data)
        except ValidationError as exc:
            # Fields as the file names them: a sweep key as written, then the upgrade's moves.
            renames = {**spec._renames, **{targets[k]: k for k in keys}}
            err = _spec_error(exc, source=source, renames=renames)
            raise ConfigError(f"in sweep cell {where}: {err}", source=None) from None
        cell_id = ",".join(f"{k}={value_label(v)}" for k, v in overrides.items()) or "main"
        cell = Cell(id=cell_id, overrides=overrides, spec=cell_spec)
        try:
            check_config(cell_spec.discussion, build_models=False)
            for name in cell_spec.scoring or []:
                metrics.get(name, field="scoring")
            providers.get(cell_spec.model_spec().prefix, field="model")
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


# Settings the runner reads once for the whole run (one dataset and task list, one repeat count,
# one worker pool, one cache); sweeping them would silently change nothing.
_RUN_WIDE = {"dataset", "task", "repeats", "concurrency", "cache", "cache_path", "deadline_s"}
_NOT_SWEEPABLE = {"sweep", "teams", "name", "description", *_RUN_WIDE}


def _canonical(key: str) -> str:
    """The path a sweep key names in today's layout (no checks)."""
    head, _, rest = key.partition(".")
    if head == "team":
        second, _, deeper = rest.partition(".")
        target = "model" if second == "model" else f"discussion.{second}"
        return f"{target}.{deeper}" if deeper else target
    if head not in ExperimentSpec.model_fields and head in DiscussionConfig.model_fields:
        return f"discussion.{key}"
    return key


TEAM_KEY = "team"
"""The sweep key over the named teams of `teams:`."""


def _check_team_axis(spec: ExperimentSpec, targets: dict[str, str], *, source: str) -> None:
    """A sweep over teams and another axis that sets what a swept team sets (`agents` beside
    a team with its own agents) is refused: one would silently replace the other, and the
    cell named after the team would not hold that team."""
    if TEAM_KEY not in targets:
        return
    for name in spec.sweep[TEAM_KEY]:
        team = spec.teams.get(name) if isinstance(name, str) else None
        if team is None:
            continue  # an unknown team fails, naming it, when its cells are made
        for setting in sorted(team.model_fields_set):
            path = "model" if setting == "model" else f"discussion.{setting}"
            for key, target in targets.items():
                if key == TEAM_KEY:
                    continue
                if target == path or target.startswith(f"{path}.") or path.startswith(f"{target}."):
                    raise ConfigError(
                        f"sweep.{key} sets {target}, which team {quote_name(name)} sets too "
                        f"(teams.{name}.{setting}), and would replace it; sweep one or the "
                        "other (or define a team for each combination)",
                        source=source,
                        field=f"sweep.{key}",
                    )


def _apply_team(data: dict[str, Any], spec: ExperimentSpec, name: Any, *, source: str) -> None:
    """Sets the settings of the team named `name` in a cell's data (the discussion's team
    settings, and its default model)."""
    team = spec.teams.get(name) if isinstance(name, str) else None
    if team is None:
        valid = ", ".join(spec.teams) or "none (define them under teams:)"
        if not isinstance(name, str):
            what = f"a team is named by its name under teams:, got {name!r}"
        else:
            what = f"unknown team {quote_name(name)}"
            same = [t for t in spec.teams if name_key(t) == name_key(name)]
            near = same or difflib.get_close_matches(name, list(spec.teams), n=1, cutoff=0.6)
            if near:
                what += f" (did you mean {quote_name(near[0])}?)"
        raise ConfigError(f"{what}; teams: {valid}", source=source, field=f"sweep.{TEAM_KEY}")
    for key, value in team.model_dump(exclude_unset=True).items():
        if key == "model":
            data["model"] = value
        else:
            data.setdefault("discussion", {})[key] = value


def sweep_target(key: str, *, source: str | None = None) -> str:
    """The path in the spec that a sweep key sets: the key itself when it starts at a section
    of the spec (`discussion.max_turns`, `model.id`, `seed`), `discussion.KEY` for a discussion
    setting (`max_turns`, `generation.temperature`); `team.X`, of the old layout, still
    names `discussion.X` (or `model`). The cell ids keep the key as written."""
    top = key.split(".")[0]
    if key == TEAM_KEY:
        return TEAM_KEY
    if top in ExperimentSpec.model_fields and top not in _NOT_SWEEPABLE:
        return key
    if top == "team" or top in DiscussionConfig.model_fields:
        return _canonical(key)
    sections = sorted(set(ExperimentSpec.model_fields) - _NOT_SWEEPABLE)
    settings = sorted(DiscussionConfig.model_fields)
    if top in _RUN_WIDE:
        what = f"'{top}' is run-wide, not per cell"
    else:
        what = f"unknown key '{top}'"
        near = difflib.get_close_matches(top, [*sections, *settings], n=1, cutoff=0.6)
        if near:
            what += f" (did you mean '{near[0]}'?)"
    raise ConfigError(
        f"{what}; sweepable: {', '.join(sections)}, or a setting of discussion: "
        f"{', '.join(settings)}",
        source=source,
        field=f"sweep.{key}",
    )


def _spec_error(
    exc: ValidationError, *, source: str | None, renames: dict[str, str]
) -> ConfigError:
    """The first validation error of an experiment, naming the field as the user gave it."""
    err = config_error_from(exc, source=source, model=ExperimentSpec)
    where = ", ".join(p for p in (source, f"field '{err.field}'" if err.field else None) if p)
    message = str(err).removeprefix(f"{where}: " if where else "")
    field = err.field
    if field == "discussion":
        # A check across settings has no location below the model; its message starts with
        # the setting it is about ('min_turns (5) is above ...', 'personas: 2 sources ...').
        name = re.split(r"[\s:(]", message, maxsplit=1)[0]
        if name in DiscussionConfig.model_fields:
            field = f"discussion.{name}"
    first = exc.errors()[0]
    if first["type"] == "extra_forbidden" and len(first["loc"]) == 1:
        key = str(first["loc"][0])
        if key not in ExperimentSpec.model_fields and key in DiscussionConfig.model_fields:
            message = f"unknown key '{key}' here: it is a discussion setting (discussion.{key})"
        elif not difflib.get_close_matches(key, list(ExperimentSpec.model_fields), n=1, cutoff=0.6):
            near = difflib.get_close_matches(
                key, list(DiscussionConfig.model_fields), n=1, cutoff=0.6
            )
            if near:
                message = message.replace(
                    f"unknown key '{key}'",
                    f"unknown key '{key}' (did you mean 'discussion.{near[0]}'?)",
                    1,
                )
    if field is not None:
        for new, old in sorted(renames.items(), key=lambda kv: -len(kv[0])):
            if field == new or field.startswith((f"{new}.", f"{new}[")):
                field = old + field[len(new) :]
                break
    return ConfigError(message, source=source, field=field)


def value_label(value: Any) -> str:
    """How a sweep value appears in a cell id: a name, a file's stem, or the value itself; a
    key in a URL (`base_url: http://user:KEY@host/v1`) masked, as everywhere it is written, and
    an invisible character shown as its code point (two cells must not look alike)."""
    if isinstance(value, str) and "://" in value:
        value = mask_text(value)
    if isinstance(value, dict):
        return show_name(str(value.get("name") or value.get("id") or "inline"))
    if isinstance(value, str) and ("/" in value or value.endswith((".yaml", ".yml"))):
        return show_name(Path(value).stem)
    return show_name(str(value))


def experiment_schema() -> dict[str, Any]:
    """The JSON schema of the experiment file, each field with its documentation."""
    return ExperimentSpec.model_json_schema()


def discussion_schema() -> dict[str, Any]:
    """The JSON schema of the discussion settings (an experiment's `discussion:` block, and a
    `madebate discuss --config` file)."""
    return DiscussionConfig.model_json_schema()
