"""The decision-protocol interface the engine consults at the paradigm's decision points.

A protocol gets a `DecisionContext`: the transcript so far, the voters and, for protocols that
elicit ballots, `ask` to put a question to one agent through the model.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from madebate._errors import ConfigError
from madebate._model import ChatMessage
from madebate._registry import Registry
from madebate._results import Decision, Message
from madebate._support import SupportState, track_support
from madebate._task import Task

AskFunction = Callable[[str, list[ChatMessage], str], Awaitable[str | None]]


@dataclass
class DecisionContext:
    turn: int
    max_turns: int
    final: bool  # this is the last decision point of the last turn
    voters: tuple[str, ...]
    messages: Sequence[Message]
    task: Task
    seed: int | None
    ask: (
        AskFunction  # (agent, prompt messages, call role) -> reply text, or None if the call failed
    )

    def support(self) -> SupportState:
        return track_support(self.messages, self.voters)


class DecisionProtocol(ABC):
    name: ClassVar[str]
    kind: ClassVar[str]  # "consensus", "voting" or "judge"

    @abstractmethod
    async def consult(self, ctx: DecisionContext) -> Decision:
        """Decide at one decision point, or say why not."""

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
            return Decision(
                protocol=self.name,
                turn=ctx.turn,
                decided=False,
                reason="no readable solution was ever proposed",
            )
        top = max(counts.values())
        leaders = [a for a, c in counts.items() if c == top]
        answer = state.current_answer if state.current_answer in leaders else leaders[0]
        solution = _solution_text(ctx.messages, answer)
        return Decision(
            protocol=self.name,
            turn=ctx.turn,
            decided=False,
            answer=answer,
            solution=solution,
            tally={a: float(c) for a, c in counts.items()},
            reason=f"max turns reached without a decision; fell back to the most held answer ({top} of {len(ctx.voters)} voters)",
            tie=len(leaders) > 1,
        )


def _solution_text(messages: Sequence[Message], answer: str | None) -> str | None:
    for m in reversed(messages):
        if m.answer == answer and m.solution:
            return m.solution
    return None


protocols: Registry[type[DecisionProtocol]] = Registry("decision protocol")


def create_protocol(name: str, **options: Any) -> DecisionProtocol:
    cls = protocols.get(name, field="protocol")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"bad option for protocol '{name}': {exc}", field="protocol") from None
