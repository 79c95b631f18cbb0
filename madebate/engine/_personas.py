"""Personas and where they come from: a YAML library, the model (expert), Big Five traits, none."""

from __future__ import annotations

import difflib
import functools
import json
import random
import re
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, ValidationError, field_validator

from madebate._data import library_dir, library_names
from madebate._errors import ConfigError, ModelCallError
from madebate._prompts import render
from madebate._registry import Registry
from madebate._text import name_key, quote_name, visible_name
from madebate._yaml import read_yaml, validate_model
from madebate.models._model import ChatMessage, GenerateConfig

if TYPE_CHECKING:
    from madebate._results import CallRecord
    from madebate.models._model_managed import ManagedModel


class Persona(BaseModel):
    """An expert persona: name, description and expertise, from a library or written by the
    model."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    # MALLM's persona JSON calls the name "role"; accept both.
    # No character limit on the description: real ones run past 1,000 characters (IPIP
    # descriptions from a capable model average about 1,250). What bounds a persona is the
    # model's context: a system prompt that cannot fit stops the discussion with stop reason
    # `budget` before any call, and a generated persona is bounded by the reply's max_tokens.
    name: str = Field(min_length=1, max_length=300, validation_alias=AliasChoices("name", "role"))
    description: str = ""
    expertise: list[str] = Field(default_factory=list)

    @field_validator("name")
    @classmethod
    def _visible_name(cls, v: str) -> str:
        return visible_name(v, "it")

    @property
    def key(self) -> str:
        """The name as names are compared (`madebate._text.name_key`): 'Alice', 'alice',
        'Ali\u200bce' and 'Ａlice' are one name."""
        return name_key(self.name)


class PersonaLibrary(BaseModel):
    """A YAML library of personas (built-ins in `personas/`): a name, a description, the
    personas."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    name: str
    description: str = ""
    personas: list[Persona] = Field(min_length=1)

    @field_validator("name")
    @classmethod
    def _visible_name(cls, v: str) -> str:
        return visible_name(v, "the library")

    @field_validator("personas")
    @classmethod
    def _unique_names(cls, v: list[Persona]) -> list[Persona]:
        first: dict[str, int] = {}
        for i, p in enumerate(v):
            if p.key in first:
                j = first[p.key]
                if v[j].name == p.name:
                    what = f"{quote_name(p.name)} (personas[{j}] and personas[{i}])"
                else:  # say how they differ
                    what = (
                        f"{quote_name(v[j].name)} (personas[{j}]) and {quote_name(p.name)} "
                        f"(personas[{i}]) are one name to a reader (compared ignoring case, "
                        "invisible characters and look-alike letters)"
                    )
                raise ValueError(f"duplicate persona name {what}; each persona needs its own name")
            first[p.key] = i
        return v


def builtin_persona_libraries() -> list[str]:
    """The names of the persona libraries shipped with madebate."""
    return library_names("personas")


def load_persona_library(name_or_path: str | Path) -> PersonaLibrary:
    """A persona library by built-in name or YAML path, validated (errors name the file and
    field)."""
    text = str(name_or_path)
    path = Path(text)
    if not (text.endswith((".yaml", ".yml")) or path.is_file()):
        path = library_dir("personas") / f"{text}.yaml"
        if not path.is_file():
            names = builtin_persona_libraries()
            near = difflib.get_close_matches(text, names, n=1, cutoff=0.6)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            raise ConfigError(
                f"unknown persona library {quote_name(text)}{hint}; built-ins: {', '.join(names)}; "
                "or give a YAML path",
                field="personas",
            )
    try:
        raw = path.read_bytes()
    except OSError:  # read_yaml says what is wrong
        return validate_model(PersonaLibrary, read_yaml(path), source=str(path))
    return _read_library(str(path), raw).model_copy(deep=True)


@functools.lru_cache(maxsize=64)
def _read_library(path: str, raw: bytes) -> PersonaLibrary:
    """A library file parsed once per content: a sweep checks each cell's personas, and
    parsing the YAML again for each of 10,000 cells took minutes."""
    return validate_model(PersonaLibrary, read_yaml(Path(path)), source=path)


@dataclass
class PersonaRequest:
    """Everything a source may use to make the persona of one slot."""

    slot: str
    index: int  # position of the slot among the panelists
    task_text: str
    existing: list[Persona]
    model: ManagedModel
    config: GenerateConfig
    seed: int | None
    calls: list[CallRecord] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    # The discussion's call gate: counts a call against max_calls and max_total_tokens (given
    # the calls this request already made) and raises BudgetExceeded when none is left.
    reserve: Callable[[list[CallRecord]], None] = lambda _pending: None


@dataclass(frozen=True)
class PersonaChoice:
    persona: Persona
    source: str
    fallback: bool = False


SOURCE_FORMS = "library, library:<name or path>, expert, expert:<attempts>, ipip, none"


class PersonaWarning(UserWarning):
    """One persona seated for several agents: a persona library holds fewer personas than the
    agents that draw from it, so some agents share a name, a description and a view."""


def warn_shared_personas(sources: Sequence[PersonaSource], voters: Sequence[str]) -> None:
    """Warn (`PersonaWarning`) where a source cannot give each of its agents a persona of its
    own (a library of 1 for 5 agents): they would silently share one."""
    by_source: dict[str, list[str]] = {}
    size: dict[str, int] = {}
    fixed: dict[str, list[tuple[str, Persona]]] = {}  # written out: name key -> agents
    for slot, source in zip(voters, sources, strict=False):
        persona = getattr(source, "persona", None)
        if isinstance(persona, Persona):
            fixed.setdefault(persona.key, []).append((slot, persona))
            continue
        most = source.distinct()
        if most is not None:
            name = getattr(getattr(source, "library", None), "name", None) or source.name
            by_source.setdefault(name, []).append(slot)
            size[name] = most
    for name, slots in by_source.items():
        if len(slots) > size[name]:
            warnings.warn(
                f"persona library '{name}' has {size[name]} persona(s) for {len(slots)} agents "
                f"({', '.join(slots)}): {len(slots) - size[name]} of them share a persona (its "
                "name, description and view); add personas to the library, give each agent "
                "its own source (personas: [library:A, library:B, ...]), or use expert, ipip "
                "or none",
                PersonaWarning,
                stacklevel=3,
            )
    for seats in fixed.values():
        if len(seats) > 1:
            names = " and ".join(dict.fromkeys(quote_name(p.name) for _, p in seats))
            warnings.warn(
                f"agents {', '.join(slot for slot, _ in seats)} are given one persona, {names} "
                "(names are compared ignoring case, invisible characters and look-alike "
                "letters): they share its name, description and view; give each its own",
                PersonaWarning,
                stacklevel=3,
            )


class PersonaSource(ABC):
    """Makes the persona of one slot. Sources taking an argument ('library:NAME') accept it as
    their one positional constructor argument."""

    name: str

    def __init__(self, argument: str | None = None):
        if argument:
            raise ConfigError(
                f"persona source '{self.name}' takes no argument ('{self.name}:{argument}'); "
                f"valid sources: {SOURCE_FORMS}",
                field="personas",
            )

    @abstractmethod
    async def make(self, request: PersonaRequest) -> PersonaChoice: ...

    def distinct(self) -> int | None:
        """How many personas with distinct names this source can make for one team; None: as
        many as there are agents."""
        return None


persona_sources: Registry[type[PersonaSource]] = Registry("persona source")


def parse_source(spec: str) -> PersonaSource:
    """'library', 'library:<name or path>', 'expert', 'ipip' or 'none'."""
    kind, _, arg = spec.partition(":")
    cls = persona_sources.get(kind.strip(), field="personas")
    return cls(arg.strip()) if arg else cls()


@persona_sources.register("none")
class NoPersona(PersonaSource):
    name = "none"

    async def make(self, request: PersonaRequest) -> PersonaChoice:
        return PersonaChoice(Persona(name=f"Participant {request.slot}"), "none")


@persona_sources.register("library")
class LibraryPersonas(PersonaSource):
    """Personas from a YAML library in order, skipping names already on the team."""

    name = "library"

    def __init__(self, argument: str | None = None):
        self.library = load_persona_library(argument or "general")

    async def make(self, request: PersonaRequest) -> PersonaChoice:
        taken = {p.key for p in request.existing}
        pool = [p for p in self.library.personas if p.key not in taken] or self.library.personas
        return PersonaChoice(pool[0], f"library:{self.library.name}")

    def distinct(self) -> int | None:
        return len(self.library.personas)


@persona_sources.register("expert")
class ExpertPersonas(PersonaSource):
    """The model proposes one expert per agent, seeing those already made; bounded retries."""

    name = "expert"

    def __init__(self, argument: str | None = None):
        if argument is not None and not (argument.isdigit() and int(argument) >= 1):
            raise ConfigError(
                f"'expert:{argument}': the argument is the number of attempts (1 or more), "
                "e.g. expert:3",
                field="personas",
            )
        self.attempts = int(argument or 3)

    async def make(self, request: PersonaRequest) -> PersonaChoice:
        prompt = render("persona_expert", task=request.task_text, existing=request.existing)
        messages = [ChatMessage(role="user", content=prompt)]
        problems: list[str] = []
        base = request.config
        if request.model.provider.structured_output is not None:
            base = base.model_copy(update={"json_schema": PERSONA_SCHEMA})
        for attempt in range(self.attempts):
            config = base
            if attempt and config.temperature == 0.0:
                # Re-asking a greedy model gets the same reply; nudge it.
                config = config.model_copy(update={"temperature": 0.7})
            request.reserve(request.calls)
            try:
                output, record = await request.model.generate(
                    messages, config, role="persona", agent=request.slot
                )
            except ModelCallError as exc:
                request.calls.append(exc.record)
                problems.append(str(exc))
                continue
            request.calls.append(record)
            persona, problem = parse_persona_json(output.text)
            if persona is not None and persona.key in {p.key for p in request.existing}:
                problem, persona = f"duplicate name {quote_name(persona.name)}", None
            if persona is not None:
                return PersonaChoice(persona, "expert")
            problems.append(problem or "unreadable")
        fallback = load_persona_library("general").personas
        # Start at the slot's position, skipping names already on the team (as retries do).
        taken = {p.key for p in request.existing}
        start = request.index % len(fallback)
        ordered = fallback[start:] + fallback[:start]
        chosen = next((p for p in ordered if p.key not in taken), ordered[0])
        request.warnings.append(
            f"persona for {request.slot}: the model gave no valid persona in {self.attempts} "
            f"attempt(s) ({'; '.join(problems)}); fell back to library persona '{chosen.name}'"
        )
        return PersonaChoice(chosen, "expert", fallback=True)


# The persona's declared shape, sent as structured output where the backend has it.
PERSONA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 120},
        "description": {"type": "string"},
        "expertise": {"type": "array", "items": {"type": "string", "maxLength": 80}, "maxItems": 5},
    },
    "required": ["name", "description", "expertise"],
    "additionalProperties": False,
}

_JSON_OBJECT = re.compile(r"\{.*\}", re.S)


def parse_persona_json(text: str) -> tuple[Persona | None, str | None]:
    m = _JSON_OBJECT.search(text)
    if not m:
        return None, "no JSON object in the reply"
    try:
        data = json.loads(m.group(0))
    except json.JSONDecodeError as exc:
        return None, f"invalid JSON ({exc.msg})"
    if not isinstance(data, dict):
        return None, "JSON is not an object"
    try:
        return Persona.model_validate(data), None
    except ValidationError as exc:
        return None, f"persona JSON failed validation ({exc.errors()[0]['msg']})"


_TRAITS = {
    "openness": ("conventional and practical", "open to new ideas", "imaginative and curious"),
    "conscientiousness": (
        "spontaneous and flexible",
        "reasonably organised",
        "meticulous and disciplined",
    ),
    "extraversion": (
        "reserved and quiet",
        "balanced between talk and listening",
        "outgoing and assertive",
    ),
    "agreeableness": ("blunt and sceptical", "fair-minded", "warm and cooperative"),
    "neuroticism": (
        "calm and steady",
        "moderately sensitive to pressure",
        "anxious and easily worried",
    ),
}


@persona_sources.register("ipip")
class IpipPersonas(PersonaSource):
    """Big Five (IPIP) trait levels drawn with the seed and turned into a description."""

    name = "ipip"

    async def make(self, request: PersonaRequest) -> PersonaChoice:
        rng = random.Random(f"{request.seed}:{request.slot}")
        levels = {trait: rng.randrange(3) for trait in _TRAITS}
        words = [_TRAITS[t][lvl] for t, lvl in levels.items()]
        summary = ", ".join(f"{t} {('low', 'medium', 'high')[lvl]}" for t, lvl in levels.items())
        description = (
            f"a person who is {', '.join(words[:-1])} and {words[-1]} (Big Five: {summary})"
        )
        return PersonaChoice(
            Persona(name=f"Participant {request.slot}", description=description), "ipip"
        )
