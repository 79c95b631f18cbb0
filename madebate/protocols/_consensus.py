"""Consensus rules: pure functions over support counts, and the protocols that apply them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from madebate._results import Decision, Message
from madebate.protocols._protocols import DecisionContext, DecisionProtocol, protocols
from madebate.protocols._support import track_support


def majority(supporters: int, n: int, turn: int) -> bool:
    """More than half of the voters."""
    return supporters * 2 > n


def supermajority(supporters: int, n: int, turn: int) -> bool:
    """At least two thirds of the voters."""
    return n > 0 and supporters * 3 >= n * 2


def unanimity(supporters: int, n: int, turn: int) -> bool:
    """All n voters support: the unanimity rule on a count of supporters."""
    return n > 0 and supporters == n


def hybrid(supporters: int, n: int, turn: int) -> bool:
    """Unanimity while turn < 5 or n <= 3, else at least three quarters."""
    if turn < 5 or n <= 3:
        return unanimity(supporters, n, turn)
    return supporters * 4 >= n * 3


ConsensusRule = Callable[[int, int, int], bool]


def consensus_tally(
    rule: ConsensusRule, name: str, messages: Sequence[Message], voters: Sequence[str], turn: int
) -> Decision:
    """Apply a consensus rule to a transcript. Usable without any model."""
    state = track_support(messages, voters)
    n = len(voters)
    tally = {state.current_answer: float(len(state.supporters))} if state.current_answer else {}
    if state.current_answer is None:
        return Decision(
            protocol=name, turn=turn, decided=False, tally=tally, reason="no solution proposed yet"
        )
    support = len(state.supporters)
    if rule(support, n, turn):
        return Decision(
            protocol=name,
            turn=turn,
            decided=True,
            answer=state.current_answer,
            solution=state.current_solution,
            tally=tally,
            reason=f"{support} of {n} voters support {state.current_answer}",
        )
    return Decision(
        protocol=name,
        turn=turn,
        decided=False,
        tally=tally,
        reason=f"only {support} of {n} voters support {state.current_answer}",
    )


class ConsensusProtocol(DecisionProtocol):
    kind = "consensus"
    rules: ClassVar[dict[str, ConsensusRule]] = {
        "majority_consensus": majority,
        "supermajority_consensus": supermajority,
        "unanimity_consensus": unanimity,
        "hybrid_consensus": hybrid,
    }

    async def consult(self, ctx: DecisionContext) -> Decision:
        rule = self.rules[self.name]
        return consensus_tally(rule, self.name, ctx.messages, ctx.voters, ctx.turn)


@protocols.register("majority_consensus")
class MajorityConsensus(ConsensusProtocol):
    name = "majority_consensus"


@protocols.register("supermajority_consensus")
class SupermajorityConsensus(ConsensusProtocol):
    name = "supermajority_consensus"


@protocols.register("unanimity_consensus")
class UnanimityConsensus(ConsensusProtocol):
    name = "unanimity_consensus"


@protocols.register("hybrid_consensus")
class HybridConsensus(ConsensusProtocol):
    name = "hybrid_consensus"
