"""Compiling a paradigm spec for a concrete team into steps and a networkx delivery graph, and
checking that graph: a message that reaches nobody and a slot that never hears anyone are
reported as warnings (`CompiledParadigm.warnings`, shown by `describe()`; `load_paradigm` also
emits them as a `ParadigmWarning` for the paradigm's nominal team). Neither is an error: a blind
step and a panelist beyond a sized paradigm's team are legitimate, but in a hand-written
paradigm they are usually a mistake in a selector.

networkx is imported when a paradigm is compiled, never when madebate is imported."""

from __future__ import annotations

import re
import unicodedata
import warnings
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from madebate._errors import ConfigError
from madebate._text import is_invisible, quote_name, show_name
from madebate.engine._paradigm import MAX_REPEAT, ParadigmSpec, RepeatSpec, Selector, StepSpec

if TYPE_CHECKING:
    import networkx as nx

DRAFTER_SLOT = "D"
_RELATIVE = {"self", "others", "next", "prev"}
_WORDS = {"all", "panel", "lead", "drafter", "last", *_RELATIVE}
_TOKEN = re.compile(r"\s*([+-])?\s*([A-Za-z_][\w]*)\s*")


class ParadigmWarning(UserWarning):
    """A paradigm that compiles but delivers a message to nobody or leaves a slot hearing no one."""


@dataclass(frozen=True)
class CompiledStep:
    index: int  # position within a turn
    label: str  # where it came from, e.g. "schedule[1] repeat 2/2"
    speakers: tuple[str, ...]
    receivers: dict[str, tuple[str, ...]]  # speaker -> receivers (never the speaker itself)


@dataclass(frozen=True)
class CompiledParadigm:
    spec: ParadigmSpec
    slots: tuple[str, ...]
    voters: tuple[str, ...]  # the panelists; the drafter never votes
    drafter: str | None
    steps: tuple[CompiledStep, ...]
    # Nodes: the slots (attributes voter, drafter); one edge per delivery, keyed by step index.
    graph: nx.MultiDiGraph = field(repr=False, compare=False)
    warnings: tuple[str, ...] = ()  # what `delivery_warnings` found in the graph

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def decision_points(self) -> str:
        return self.spec.decision_points

    @property
    def memory_window(self) -> int | None:
        return self.spec.memory_window

    def describe(self) -> str:
        """The compiled schedule and deliveries as plain text."""
        lines = [
            f"paradigm {self.name}: slots {', '.join(self.slots)}"
            + (f" (drafter {self.drafter}, does not vote)" if self.drafter else ""),
            f"decision points: after each {self.decision_points}; memory window: "
            + ("all turns" if self.memory_window is None else f"{self.memory_window} past turn(s)"),
            "one turn:",
        ]
        for step in self.steps:
            together = " (concurrently)" if len(step.speakers) > 1 else ""
            lines.append(f"  step {step.index + 1}{together}  [{step.label}]")
            for s in step.speakers:
                to = ", ".join(step.receivers[s]) or "nobody"
                lines.append(f"    {s} -> {to}")
        lines += [f"warning: {w}" for w in self.warnings]
        return "\n".join(lines)


def check_paradigm(spec: ParadigmSpec) -> None:
    """Compile for a nominal team so that bad names fail at load time, naming the file; what
    the graph checks find is emitted as a `ParadigmWarning` naming the file too."""
    n = len(spec.slots) if spec.slots else 3
    teams = [False, True] if spec.drafter == "optional" else [False]
    found: list[str] = []
    for with_drafter in teams:
        compiled = compile_paradigm(spec, n_agents=n, with_drafter=with_drafter)
        team = f"a team of {n}" + (" with drafter" if with_drafter else "")
        found += [f"{w} ({team})" for w in compiled.warnings]
    if found:
        where = f"paradigm '{spec.name}'" + (f" ({spec.source})" if spec.source else "")
        warnings.warn(f"{where}: {'; '.join(found)}", ParadigmWarning, stacklevel=3)


def delivery_graph(
    slots: list[str], drafter: str | None, steps: list[CompiledStep]
) -> nx.MultiDiGraph:
    """The slots as nodes and one edge speaker -> receiver per delivery, keyed by the step."""
    import networkx as nx

    graph = nx.MultiDiGraph()
    for slot in slots:
        graph.add_node(slot, voter=slot != drafter, drafter=slot == drafter)
    for st in steps:
        for speaker, receivers in st.receivers.items():
            for receiver in receivers:
                graph.add_edge(speaker, receiver, key=st.index, step=st.index)
    return graph


def delivery_warnings(graph: nx.MultiDiGraph, steps: list[CompiledStep]) -> list[str]:
    """What the delivery graph shows that is probably a mistake: a speaker whose message in a
    step reaches nobody (only the speaker sees it), and a slot that never hears anyone (it only
    ever sees the task and its own messages)."""
    out: list[str] = []
    unheard: dict[str, list[int]] = {}
    for st in steps:
        for speaker in st.speakers:
            if not any(k == st.index for _, _, k in graph.out_edges(speaker, keys=True)):
                unheard.setdefault(speaker, []).append(st.index + 1)
    for speaker, at in unheard.items():
        if graph.out_degree(speaker) == 0:
            out.append(f"{speaker}'s messages reach nobody")
        elif len(at) == 1:
            out.append(f"{speaker}'s message in step {at[0]} reaches nobody")
        else:
            out.append(f"{speaker}'s messages in steps {', '.join(map(str, at))} reach nobody")
    deaf = [slot for slot, n in graph.in_degree() if n == 0]
    if deaf:
        out.append(f"{', '.join(deaf)} never hear{'s' if len(deaf) == 1 else ''} anyone")
    return out


def compile_paradigm(spec: ParadigmSpec, *, n_agents: int, with_drafter: bool) -> CompiledParadigm:
    """A paradigm for a team of `n_agents`: slots bound to agents, steps and receivers
    resolved, checked."""
    src = spec.source
    if spec.slots is not None:
        if n_agents != len(spec.slots):
            raise ConfigError(
                f"paradigm '{spec.name}' has {len(spec.slots)} fixed slots "
                f"({', '.join(spec.slots)}); the team has {n_agents} agents",
                source=src,
                field="slots",
            )
        panel = list(spec.slots)
    else:
        if n_agents < 2:
            raise ConfigError(
                f"a discussion needs at least 2 agents, got {n_agents}", field="agents"
            )
        panel = [f"A{i}" for i in range(1, n_agents + 1)]
    if with_drafter and spec.drafter == "never":
        raise ConfigError(
            f"paradigm '{spec.name}' has no drafter role (drafter: never); drop the drafter "
            "or use a paradigm with 'drafter: optional' such as debate",
            source=src,
            field="drafter",
        )
    drafter = DRAFTER_SLOT if with_drafter else None
    if drafter and drafter in panel:
        raise ConfigError(
            f"slot name '{drafter}' is reserved for the drafter", source=src, field="slots"
        )
    slots = ([drafter] if drafter else []) + panel
    resolver = _Resolver(spec, panel, drafter)

    steps: list[CompiledStep] = []
    for i, entry in enumerate(spec.schedule):
        if isinstance(entry, RepeatSpec):
            times = _repeat_count(spec, entry, f"schedule[{i}].repeat")
            for r in range(times):
                for j, sub in enumerate(entry.steps):
                    where = f"schedule[{i}].steps[{j}]"
                    deliver = sub.deliver_to
                    if r == times - 1 and sub.deliver_to_in_last_round is not None:
                        deliver = sub.deliver_to_in_last_round
                    label = f"{where} round {r + 1}/{times}"
                    steps.extend(_expand(resolver, sub, deliver, where, label, len(steps)))
        else:
            where = f"schedule[{i}]"
            if entry.deliver_to_in_last_round is not None:
                raise ConfigError(
                    "deliver_to_in_last_round only applies inside a repeat block",
                    source=src,
                    field=f"{where}.deliver_to_in_last_round",
                )
            steps.extend(_expand(resolver, entry, entry.deliver_to, where, where, len(steps)))

    spoken = {s for st in steps for s in st.speakers}
    silent = [s for s in slots if s not in spoken]
    if silent:
        raise ConfigError(
            f"slot(s) {', '.join(silent)} never speak in the schedule (team of {n_agents}"
            + (" with drafter" if drafter else "")
            + ")",
            source=src,
            field="schedule",
        )

    graph = delivery_graph(slots, drafter, steps)
    graph.graph["name"] = spec.name
    team = f"a team of {n_agents}" + (" with drafter" if drafter else "")
    _check_reach(spec, graph, team)
    return CompiledParadigm(
        spec=spec,
        slots=tuple(slots),
        voters=tuple(panel),
        drafter=drafter,
        steps=tuple(steps),
        graph=graph,
        # A blind paradigm's messages reach nobody by design: nothing to warn of.
        warnings=() if spec.blind else tuple(delivery_warnings(graph, steps)),
    )


def _check_reach(spec: ParadigmSpec, graph: nx.MultiDiGraph, team: str) -> None:
    """A paradigm in which no message reaches another agent cannot discuss: unless it says it
    is blind (independent answers, then a vote), that is a mistake in its deliveries; and one
    that says it is blind must be."""
    where = f"paradigm '{spec.name}'"
    if graph.number_of_edges() == 0 and not spec.blind:
        raise ConfigError(
            f"{where}: no message reaches another agent ({team}: every message is delivered "
            "only to its speaker), so the agents never hear each other: a consensus would only "
            "be independent answers that happen to agree, and a vote would count answers no "
            "one discussed; deliver to others (e.g. deliver_to: all), or declare 'blind: true' "
            "for independent answers decided by a vote or a judge",
            source=spec.source,
            field="schedule",
        )
    if graph.number_of_edges() and spec.blind:
        speaker, receiver = next(iter(graph.edges()))
        raise ConfigError(
            f"{where} is declared blind (blind: true) but {speaker}'s messages reach "
            f"{receiver} ({team}); deliver every message to its speaker only "
            "(deliver_to: self), or drop 'blind: true'",
            source=spec.source,
            field="blind",
        )


def check_protocol_fits(paradigm: CompiledParadigm, protocol_name: str, kind: str) -> None:
    """A consensus protocol on a blind paradigm is an error: agents that never hear each other
    cannot come to agree, and their chance agreement would be reported as consensus."""
    if paradigm.spec.blind and kind == "consensus":
        raise ConfigError(
            f"protocol '{protocol_name}' seeks a consensus, but in paradigm "
            f"'{paradigm.name}' (blind: true) no agent hears another, so no consensus can "
            "form; use a voting protocol (e.g. simple_voting) or judge",
            field="protocol",
        )


def _repeat_count(spec: ParadigmSpec, entry: RepeatSpec, where: str) -> int:
    if isinstance(entry.repeat, int):
        times = entry.repeat
    elif entry.repeat in spec.params:
        times = spec.params[entry.repeat]
    else:
        valid = ", ".join(sorted(spec.params)) or "none declared"
        raise ConfigError(
            f"repeat names unknown parameter '{entry.repeat}'; parameters: {valid}",
            source=spec.source,
            field=where,
        )
    if times < 1:
        raise ConfigError(
            f"repeat count must be at least 1, got {times}", source=spec.source, field=where
        )
    if times > MAX_REPEAT:
        raise ConfigError(
            f"repeat count {times} is over the bound of {MAX_REPEAT}",
            source=spec.source,
            field=where,
        )
    return times


def _expand(
    resolver: _Resolver, step: StepSpec, deliver: Selector, where: str, label: str, start: int
) -> list[CompiledStep]:
    speakers = resolver.speakers(step, f"{where}.speakers")
    if not speakers:
        raise ConfigError(
            f"speakers '{step.speakers}' select nobody for a team of {len(resolver.panel)}",
            source=resolver.spec.source,
            field=f"{where}.speakers",
        )
    receivers = {
        s: tuple(
            r
            for r in resolver.resolve(deliver, f"{where}.deliver_to", speaker=s, ring=speakers)
            if r != s
        )
        for s in speakers
    }
    if step.mode == "together":
        return [CompiledStep(start, label, tuple(speakers), receivers)]
    return [CompiledStep(start + k, label, (s,), {s: receivers[s]}) for k, s in enumerate(speakers)]


class _Resolver:
    def __init__(self, spec: ParadigmSpec, panel: list[str], drafter: str | None):
        self.spec = spec
        self.panel = panel
        self.drafter = drafter
        self.slots = ([drafter] if drafter else []) + panel
        sized = spec.slots is None
        for g, members in spec.groups.items():
            if g in _WORDS or g in self.slots or (sized and _is_panel_or_drafter(g)):
                raise ConfigError(
                    f"group name '{g}' is taken by a slot or a built-in selector word",
                    source=spec.source,
                    field=f"groups.{g}",
                )
            # A sized paradigm may name panelists beyond this team's size (they select nobody),
            # and D where the paradigm allows a drafter; any other unknown name is a mistake.
            unknown = [
                m
                for m in members
                if m not in self.slots
                and not (
                    sized
                    and (
                        re.fullmatch(r"A\d+", m)
                        or (m == DRAFTER_SLOT and spec.drafter == "optional")
                    )
                )
            ]
            if unknown:
                raise ConfigError(
                    f"group '{g}' names unknown slot(s) {', '.join(map(quote_name, unknown))}; "
                    f"slots: {', '.join(self.slots)}",
                    source=spec.source,
                    field=f"groups.{g}",
                )

    def speakers(self, step: StepSpec, where: str) -> list[str]:
        """The speakers of a step, in slot order. A slot listed twice (by its name twice, as
        in [A1, A1] or 'A1 + A1', by its name and by a group or word that holds it, as in
        [panel, A1], or by one group twice) is an error: a speaker says one message per step,
        so the second would be dropped without a word. Two different groups or words that
        overlap ('lead + panel') are merged."""
        parts = [step.speakers] if isinstance(step.speakers, str) else step.speakers
        terms: dict[str, list[str]] = {}  # slot -> the terms that chose it
        for part in parts:
            chosen: dict[str, list[str]] = {}
            self._expression(part, where, None, [], terms=chosen)
            for slot, by in chosen.items():
                terms.setdefault(slot, []).extend(by)
        for slot, by in terms.items():
            if len(by) > 1 and (slot in by or len(set(by)) < len(by)):
                repeated = [t for t in by if by.count(t) > 1]
                other = next((t for t in by if t != slot), slot)
                listed = f"'{repeated[0]}' twice" if repeated else f"as '{slot}' and in '{other}'"
                step_name = where.removesuffix(".speakers")
                raise ConfigError(
                    f"speaker {slot} is listed twice in {step_name} ({listed}); a speaker "
                    "says one message per step, so the second would be dropped: list it once, "
                    "or give it a step of its own to speak again",
                    source=self.spec.source,
                    field=where,
                )
        return [s for s in self.slots if s in terms]

    def resolve(
        self, selector: Selector, where: str, *, speaker: str | None, ring: list[str]
    ) -> list[str]:
        """Slots a selector names, in slot order (duplicates removed)."""
        chosen: set[str] = set()
        parts = [selector] if isinstance(selector, str) else selector
        for part in parts:
            chosen |= self._expression(part, where, speaker, ring)
        return [s for s in self.slots if s in chosen]

    def _expression(
        self,
        expr: str,
        where: str,
        speaker: str | None,
        ring: list[str],
        *,
        terms: dict[str, list[str]] | None = None,
    ) -> set[str]:
        """The slots `expr` selects; with `terms`, also which of its terms chose each."""
        self._check_characters(expr, where)
        pos, first = 0, True
        result: set[str] = set()
        while pos < len(expr):
            m = _TOKEN.match(expr, pos)
            if not m or (m.group(1) is None and not first):
                raise ConfigError(
                    f"cannot read selector '{expr}': join names with + or -",
                    source=self.spec.source,
                    field=where,
                )
            names = self._term(m.group(2), where, speaker, ring)
            if terms is not None:
                for slot in names:
                    if m.group(1) == "-":
                        terms.pop(slot, None)
                    else:
                        terms.setdefault(slot, []).append(m.group(2))
            result = result - names if m.group(1) == "-" else result | names
            pos, first = m.end(), False
        if first:
            raise ConfigError("empty selector", source=self.spec.source, field=where)
        return result

    def _check_characters(self, expr: str, where: str) -> None:
        """An invisible character or a look-alike letter (fullwidth 'Ａ1') in a selector names
        no slot, whatever it looks like: say so, and what it reads as."""
        visible = "".join(ch for ch in expr if not is_invisible(ch))
        clean = unicodedata.normalize("NFKC", visible)
        if clean != expr:
            what = "an invisible character" if visible != expr else "a look-alike character"
            raise ConfigError(
                f"selector '{show_name(expr)}' holds {what}, so it names no slot or group; "
                f"write it as '{clean}' (in plain ASCII)",
                source=self.spec.source,
                field=where,
            )

    def _term(self, name: str, where: str, speaker: str | None, ring: list[str]) -> set[str]:
        if name in _RELATIVE:
            if speaker is None:
                raise ConfigError(
                    f"'{name}' is relative to a speaker and cannot choose speakers",
                    source=self.spec.source,
                    field=where,
                )
            if name == "self":
                return {speaker}
            if name == "others":
                return set(self.slots) - {speaker}
            i = ring.index(speaker)
            return {ring[(i + (1 if name == "next" else -1)) % len(ring)]}
        if name in self.spec.groups:
            return {m for m in self.spec.groups[name] if m in self.slots}
        if name == "all":
            return set(self.slots)
        if name == "panel":
            return set(self.panel)
        if name == "lead":
            return {self.drafter or self.panel[0]}
        if name == "drafter":
            return {self.drafter} if self.drafter else set()
        if name == "last":
            return {self.panel[-1]}
        if name in self.slots:
            return {name}
        if self.spec.slots is None and re.fullmatch(r"A\d+", name):
            return set()  # a panel slot beyond this team's size selects nobody
        valid = sorted({*_WORDS, *self.spec.groups, *self.slots})
        raise ConfigError(
            f"unknown slot or group '{name}'; valid: {', '.join(valid)}",
            source=self.spec.source,
            field=where,
        )


def _is_panel_or_drafter(name: str) -> bool:
    return name == DRAFTER_SLOT or re.fullmatch(r"A\d+", name) is not None
