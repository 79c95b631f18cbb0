"""The decision-protocol interface the engine consults at the paradigm's decision points.

A protocol gets a `DecisionContext`: the transcript so far, the voters and, for protocols that
elicit ballots, `ask` to put a question to one agent through the model.
"""

from __future__ import annotations

import inspect
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from madebate._errors import ConfigError
from madebate._registry import Registry
from madebate._results import Decision, Message
from madebate._task import Task
from madebate.models._model import ChatMessage
from madebate.protocols._support import SupportState, track_support

if TYPE_CHECKING:
    from madebate.models._model_managed import ManagedModel


class AskFunction(Protocol):
    """One model call on behalf of an agent, accounted in the discussion's records.

    Returns the reply text, or None when the call failed (after the wrapper's retries). With
    `json_schema`, the reply is requested as structured output where the backend supports it.
    `model` overrides the discussion's model (a judge with its own model).
    """

    def __call__(
        self,
        agent: str,
        messages: list[ChatMessage],
        role: str,
        *,
        json_schema: dict[str, Any] | None = None,
        model: ManagedModel | None = None,
    ) -> Awaitable[str | None]: ...


@dataclass
class DecisionContext:
    turn: int
    max_turns: int
    final: bool  # this is the last decision point of the last turn
    voters: tuple[str, ...]
    messages: Sequence[Message]
    task: Task
    seed: int | None
    ask: AskFunction
    end_of_turn: bool = True  # every step of this turn has spoken
    task_text: str = ""
    system_prompts: Mapping[str, str] = field(default_factory=dict)  # slot -> system prompt
    persona_names: Mapping[str, str] = field(default_factory=dict)  # slot -> persona name
    visible: Callable[[str], list[Message]] | None = None  # what an agent can see now
    agent_models: Mapping[str, str] = field(default_factory=dict)  # slot -> its model's id

    def support(self) -> SupportState:
        return track_support(self.messages, self.voters)


class DecisionProtocol(ABC):
    """A decision rule: `consult` decides (or says why not) at a decision point; `fallback`
    answers at max turns."""

    name: ClassVar[str]
    kind: ClassVar[str]  # "consensus", "voting" or "judge"

    @abstractmethod
    async def consult(self, ctx: DecisionContext) -> Decision:
        """Decide at one decision point, or say why not."""

    def undecided(self, ctx: DecisionContext, reason: str) -> Decision:
        """A decision point that did not decide, and why."""
        return Decision(protocol=self.name, turn=ctx.turn, decided=False, reason=reason)

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release a model the protocol owns (a judge's)."""

    def check_team(self, voters: Sequence[str], agent_models: Mapping[str, str]) -> None:  # noqa: B027 - optional hook
        """Refuse a team the protocol cannot decide for, before any call is made (a weighted
        vote: a voter whose model has no weight). `agent_models`: each voter's model's name."""

    def fallback(self, ctx: DecisionContext) -> Decision:
        """The answer when max_turns ends the discussion undecided: the voters' most held
        latest answer, ties going to the current solution. `decided` stays False."""
        state = ctx.support()
        counts = Counter(state.latest_answer.values())
        if not counts and state.current_answer is not None:
            # No voter ever stated a readable position, but a solution (a drafter's) exists.
            return Decision(
                protocol=self.name,
                turn=ctx.turn,
                decided=False,
                answer=state.current_answer,
                solution=state.current_solution,
                reason="max turns reached without a decision; no voter held a readable "
                "answer, fell back to the current solution",
            )
        if not counts:
            return self.undecided(ctx, "no readable solution was ever proposed")
        top = max(counts.values())
        leaders = [a for a, c in counts.items() if c == top]
        answer = state.current_answer if state.current_answer in leaders else leaders[0]
        solution = _solution_text(ctx.messages, answer)
        tied = ""
        if len(leaders) > 1:
            how = "the current solution" if answer == state.current_answer else "the first held"
            tied = f"; tied with {', '.join(a for a in leaders if a != answer)}, took {how}"
        # `tie` stays False: it marks a vote that tied, and no vote decided here (stop reason
        # max_turns, never max_turns_tie).
        return Decision(
            protocol=self.name,
            turn=ctx.turn,
            decided=False,
            answer=answer,
            solution=solution,
            tally={a: float(c) for a, c in counts.items()},
            reason=f"max turns reached without a decision; fell back to the most held answer "
            f"({top} of {len(ctx.voters)} voters){tied}",
        )


def _solution_text(messages: Sequence[Message], answer: str | None) -> str | None:
    for m in reversed(messages):
        if m.answer == answer and m.solution:
            return m.solution
    return None


protocols: Registry[type[DecisionProtocol]] = Registry("decision protocol")


def protocol_options(cls: type[DecisionProtocol]) -> list[str]:
    """The option names a protocol class accepts (its and its parents' keyword parameters)."""
    names: list[str] = []
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for p in inspect.signature(init).parameters.values():
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name != "self":
                names.append(p.name)
    return sorted(set(names))


def switch(value: Any, key: str) -> bool:
    """An on/off protocol option: a real boolean, never text ('false' is a true string)."""
    if not isinstance(value, bool):
        raise ConfigError(f"must be true or false, got {value!r}", field=f"protocol_options.{key}")
    return value


def at_least(value: Any, key: str, minimum: int) -> int:
    """An integer protocol option with a lower bound (booleans are not integers here)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(
            f"must be an integer >= {minimum}, got {value!r}", field=f"protocol_options.{key}"
        )
    return value


def one_of(value: Any, key: str, valid: tuple[str, ...]) -> str:
    if value not in valid:
        raise ConfigError(
            f"'{value}' is not one of {', '.join(valid)}", field=f"protocol_options.{key}"
        )
    return str(value)


def create_protocol(name: str, **options: Any) -> DecisionProtocol:
    """A registered decision protocol by name, built with its options (unknown names and
    options are named)."""
    cls = protocols.get(name, field="protocol")
    valid = protocol_options(cls)
    for key in options:
        if key not in valid:
            choices = f"valid: {', '.join(valid)}" if valid else f"'{name}' takes no options"
            raise ConfigError(f"unknown option '{key}'; {choices}", field=f"protocol_options.{key}")
    return cls(**options)
