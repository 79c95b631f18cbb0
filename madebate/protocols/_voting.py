"""Voting protocols: elicit one ballot per voter (concurrently), tally with a pure rule, break
ties as configured. Registered as simple_voting, approval_voting, cumulative_voting,
ranked_voting, consensus_voting and weighted_voting (ReConcile's confidence-weighted vote).
Any of them can weight ballots by confidence and by model (`madebate.protocols._weights`)."""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

from madebate._concurrent import gather_all
from madebate._errors import ConfigError
from madebate._prompts import render
from madebate._results import Ballot, Decision
from madebate.models._model import ChatMessage
from madebate.protocols._ballots import (
    ApprovalSet,
    BallotFormat,
    Ordering,
    PointsPerId,
    SingleChoice,
)
from madebate.protocols._candidates import Candidate, build_candidates
from madebate.protocols._protocols import (
    DecisionContext,
    DecisionProtocol,
    at_least,
    one_of,
    protocols,
    switch,
)
from madebate.protocols._reask import ask_until_read
from madebate.protocols._tally import Tally, Weights, approval, borda, cumulative, plurality
from madebate.protocols._weights import (
    CONFIDENCE_INSTRUCTION,
    LOWEST_WEIGHT,
    WEIGHT_MODES,
    VoteWeighting,
    model_weight_table,
    stated_confidence,
    weight_value,
    with_confidence,
)

TieBreak = Literal["revote", "random", "first_proposed"]
ConfidenceMode = Literal["none", "prompted", "logprobs"]
_TIE_BREAKS = ("revote", "random", "first_proposed")
_CONFIDENCE = ("none", "prompted", "logprobs")


class VotingProtocol(DecisionProtocol):
    """Ballots at the end of each turn from `vote_from_turn` on.

    A vote needs every voter's position, so voting protocols are consulted at the end of a turn
    whatever the paradigm's decision points are. Options: tie_break, history (show the voter's
    visible discussion), anonymous (hide who proposed what), confidence (none, prompted,
    logprobs: a confidence shown beside each candidate), max_reasks (re-asks of an unreadable
    ballot), and the ballot weights: weights (equal, stated, logprobs), recalibrate,
    missing_confidence_weight, model_weights (see `madebate.protocols._weights`).

    Each ballot ends counted, abstained or lost (`Ballot`). An abstention is read, not
    unreadable: it is recorded and never re-asked, and it counts for nothing: it adds support to
    no candidate and does not count toward turnout. The rule runs over the counted ballots
    alone, exactly as when ballots are lost; there is no quorum, so one counted ballot among
    abstentions decides. When every voter abstains no vote is held, and the decision says so.
    """

    kind = "voting"
    ballot: ClassVar[BallotFormat]

    def __init__(
        self,
        *,
        vote_from_turn: int = 1,
        tie_break: str = "revote",
        history: bool = True,
        anonymous: bool = True,
        confidence: str = "none",
        max_reasks: int = 2,
        weights: str = "equal",
        recalibrate: bool = True,
        missing_confidence_weight: float = LOWEST_WEIGHT,
        model_weights: dict[str, float] | None = None,
    ):
        self.vote_from_turn = at_least(vote_from_turn, "vote_from_turn", 1)
        self.tie_break: TieBreak = one_of(tie_break, "tie_break", _TIE_BREAKS)  # type: ignore[assignment]
        self.confidence: ConfidenceMode = one_of(confidence, "confidence", _CONFIDENCE)  # type: ignore[assignment]
        self.max_reasks = at_least(max_reasks, "max_reasks", 0)
        self.history = switch(history, "history")
        self.anonymous = switch(anonymous, "anonymous")
        self.weighting = VoteWeighting(
            mode=one_of(weights, "weights", WEIGHT_MODES),  # type: ignore[arg-type]
            recalibrate=switch(recalibrate, "recalibrate"),
            missing_confidence_weight=weight_value(
                missing_confidence_weight, "protocol_options.missing_confidence_weight"
            ),
            model_weights=model_weight_table(model_weights),
        )
        self._last_tie: tuple[int, list[Candidate], Tally] | None = None

    @property
    def wants_logprobs(self) -> bool:
        return self.confidence == "logprobs" or self.weighting.mode == "logprobs"

    def check_team(self, voters: Sequence[str], agent_models: Mapping[str, str]) -> None:
        if self.weighting.model_weights is not None:
            self.weighting.check_models(voters, agent_models)

    # -- the rule ----------------------------------------------------------------------------

    def tally(self, values: Sequence[Any], labels: Sequence[str], weights: Weights = None) -> Tally:
        """The rule over the ballots' values (None: not counted), each with its weight."""
        raise NotImplementedError

    # -- one decision point --------------------------------------------------------------------

    async def consult(self, ctx: DecisionContext) -> Decision:
        self._last_tie = None  # a tie left by an earlier run of the same Discussion is stale
        if not ctx.end_of_turn:
            return self.undecided(ctx, "votes are held at the end of a turn")
        if ctx.turn < self.vote_from_turn:
            return self.undecided(ctx, f"voting starts at turn {self.vote_from_turn}")
        candidates = build_candidates(ctx.messages, ctx.voters, seed=ctx.seed, turn=ctx.turn)
        if len(candidates) > 1 and self.confidence != "none":
            # Confidence is only shown on a ballot: ask for it only when a ballot is held.
            confidence = await self._confidence(ctx)
            candidates = build_candidates(
                ctx.messages, ctx.voters, seed=ctx.seed, turn=ctx.turn, confidence=confidence
            )
        if not candidates:
            return self.undecided(ctx, "no voter holds a readable solution to vote on")
        if len(candidates) == 1:
            only = candidates[0]
            return Decision(
                protocol=self.name,
                turn=ctx.turn,
                decided=True,
                answer=only.answer,
                solution=only.solution,
                tally={only.answer: float(len(only.holders))},
                reason=f"all voters with a position hold {only.answer}; no ballot needed",
            )
        if self.weighting.model_weights is not None:
            self.weighting.check_models(ctx.voters, ctx.agent_models)
        ballots = await gather_all(self._elicit(ctx, v, candidates) for v in ctx.voters)
        labels = [c.label for c in candidates]
        weights = [b.weight or 0.0 for b in ballots] if self.weighting.active else None
        result = self.tally([b.value if b.counted else None for b in ballots], labels, weights)
        return self._decide(ctx, candidates, result, list(ballots))

    def _decide(
        self,
        ctx: DecisionContext,
        candidates: list[Candidate],
        result: Tally,
        ballots: list[Ballot],
    ) -> Decision:
        by_label = {c.label: c for c in candidates}
        scores = {by_label[label].answer: s for label, s in result.scores.items()}
        counted = sum(b.counted for b in ballots)
        abstained = sum(b.abstained for b in ballots)
        turnout = (
            f"{counted} of {len(ballots)} ballots counted"
            + (f", {abstained} abstained" if abstained else "")
            + (f", weighted by {self._weighted_by()}" if self.weighting.active else "")
        )
        base: dict[str, Any] = {
            "protocol": self.name,
            "turn": ctx.turn,
            "tally": scores,
            "ballots": ballots,
        }
        if ballots and abstained == len(ballots):
            return Decision(
                **base, decided=False, reason=f"no vote held: all {abstained} voters abstained"
            )
        if result.decided and result.winner is not None:
            win = by_label[result.winner]
            return Decision(
                **base,
                decided=True,
                answer=win.answer,
                solution=win.solution,
                reason=f"{win.answer} wins ({result.rule}, {turnout})",
            )
        if not result.tie:
            return Decision(
                **base, decided=False, reason=f"no decision: {result.reason} ({turnout})"
            )
        tied = [by_label[label] for label in result.tie]
        names = ", ".join(c.answer for c in tied)
        if self.tie_break == "revote":
            self._last_tie = (ctx.turn, tied, result)
            return Decision(
                **base,
                decided=False,
                tie=True,
                reason=f"tie between {names}; discussing another turn",
            )
        chosen = self._break_tie(ctx, tied)
        return Decision(
            **base,
            decided=True,
            tie=True,
            answer=chosen.answer,
            solution=chosen.solution,
            reason=f"tie between {names} broken by {self.tie_break}: {chosen.answer}",
        )

    def _break_tie(self, ctx: DecisionContext, tied: list[Candidate]) -> Candidate:
        if self.tie_break == "first_proposed":
            return min(tied, key=lambda c: c.first_proposed)
        return _seeded_pick(ctx, tied)

    def fallback(self, ctx: DecisionContext) -> Decision:
        """At max turns a still-tied revote falls back to a seeded random pick among the tied
        (stop reason max_turns_tie); otherwise the common fallback applies."""
        if self._last_tie is not None and self._last_tie[0] == ctx.turn:
            _, tied, result = self._last_tie
            pick = _seeded_pick(ctx, tied)
            return Decision(
                protocol=self.name,
                turn=ctx.turn,
                decided=False,
                tie=True,
                answer=pick.answer,
                solution=pick.solution,
                tally={c.answer: result.scores[c.label] for c in tied},
                reason=f"still tied between {', '.join(c.answer for c in tied)} at max turns; "
                f"seeded random pick: {pick.answer}",
            )
        return super().fallback(ctx)

    # -- ballots -----------------------------------------------------------------------------

    def prompt(
        self, ctx: DecisionContext, voter: str, candidates: list[Candidate]
    ) -> list[ChatMessage]:
        labels = [c.label for c in candidates]
        shown = [
            {
                "label": c.label,
                "solution": c.solution,
                "proposers": ""
                if self.anonymous
                else ", ".join(f"{h} ({ctx.persona_names.get(h, h)})" for h in c.holders),
                "confidence": None if c.confidence is None else f"{c.confidence:g}",
            }
            for c in candidates
        ]
        transcript = ctx.visible(voter) if (self.history and ctx.visible) else []
        user = render(
            "ballot",
            task=ctx.task_text,
            transcript=transcript,
            candidates=shown,
            instruction=self._instruction(labels),
        )
        system = ctx.system_prompts.get(voter)
        head = [ChatMessage(role="system", content=system)] if system else []
        return [*head, ChatMessage(role="user", content=user)]

    async def _elicit(
        self, ctx: DecisionContext, voter: str, candidates: list[Candidate]
    ) -> Ballot:
        labels = [c.label for c in candidates]
        schema = self.ballot.schema(labels)
        if self.weighting.mode == "stated":
            schema = with_confidence(schema)

        async def ask(messages: list[ChatMessage]) -> str | None:
            return await ctx.ask(voter, messages, "ballot", json_schema=schema)

        elicited = await ask_until_read(
            ask,
            self.prompt(ctx, voter, candidates),
            lambda reply: self.ballot.parse(self._without_confidence(reply), labels),
            lambda problem: render(
                "ballot_reask", problem=problem, instruction=self._instruction(labels)
            ),
            max_reasks=self.max_reasks,
        )
        ballot = elicited.ballot(voter)
        if not self.weighting.active or not ballot.counted:
            return ballot
        confidence: float | None = None
        if self.weighting.mode == "stated":
            confidence, _ = stated_confidence(elicited.replies[-1])
        elif self.weighting.mode == "logprobs":
            mine = [m for m in ctx.messages if m.speaker == voter]
            confidence = mine[-1].confidence if mine else None
        got = self.weighting.weigh(voter, confidence, ctx.agent_models.get(voter))
        return ballot.model_copy(
            update={"weight": got.weight, "confidence": got.confidence, "weight_note": got.note}
        )

    def _instruction(self, labels: Sequence[str]) -> str:
        base = self.ballot.instruction(labels)
        return f"{base} {CONFIDENCE_INSTRUCTION}" if self.weighting.mode == "stated" else base

    def _without_confidence(self, reply: str) -> str:
        """A prose ballot with its stated confidence blanked, so that the confidence's number is
        never read as a vote ("Solution 2, confidence 85")."""
        if self.weighting.mode != "stated":
            return reply
        _, span = stated_confidence(reply)
        if span is None:
            return reply
        start, end = span
        return reply[:start] + " " * (end - start) + reply[end:]

    def _weighted_by(self) -> str:
        w = self.weighting
        parts = {"stated": ["stated confidence"], "logprobs": ["log-probability confidence"]}.get(
            w.mode, []
        )
        if w.model_weights is not None:
            parts.append("model")
        return " and ".join(parts)

    async def _confidence(self, ctx: DecisionContext) -> dict[str, float] | None:
        if self.confidence == "none":
            return None
        if self.confidence == "logprobs":
            latest: dict[str, float] = {}
            for m in ctx.messages:
                if m.speaker in ctx.voters and m.confidence is not None:
                    latest[m.speaker] = m.confidence
            return latest
        state = ctx.support()
        solutions = {m.answer: m.solution or m.answer for m in ctx.messages if m.answer}

        async def ask(voter: str) -> tuple[str, float | None]:
            answer = state.latest_answer.get(voter)
            if answer is None:
                return voter, None
            prompt = render(
                "confidence", task=ctx.task_text, solution=solutions.get(answer, answer)
            )
            system = ctx.system_prompts.get(voter)
            head = [ChatMessage(role="system", content=system)] if system else []
            reply = await ctx.ask(
                voter, [*head, ChatMessage(role="user", content=prompt)], "confidence"
            )
            return voter, read_confidence(reply or "")

        pairs = await gather_all(ask(v) for v in ctx.voters)
        return {v: c for v, c in pairs if c is not None}


_SCALE = re.compile(r"\b0\s*(?:-|–|to)\s*100\b", re.I)  # an echo of the scale, '(0-100)'


def _seeded_pick(ctx: DecisionContext, tied: list[Candidate]) -> Candidate:
    """A reproducible random choice among tied candidates (seeded by discussion and turn)."""
    ordered = sorted(tied, key=lambda c: c.answer)
    return random.Random(f"tie:{ctx.seed}:{ctx.turn}").choice(ordered)


def read_confidence(text: str) -> float | None:
    """A 0-100 score from a reply ('85', '85/100', 'Confidence: 85%'); None if absent, out of
    range ('150', '1000', '-5') or on another scale ('8/10')."""
    m = re.search(r"(?<![\d.\-])(\d+(?:\.\d+)?)\s*(?:%|/\s*(\d+))?", _SCALE.sub(" ", text))
    if not m or m.group(2) not in (None, "100"):
        return None
    value = float(m.group(1))
    return value if 0 <= value <= 100 else None


@protocols.register("simple_voting")
class SimpleVoting(VotingProtocol):
    name = "simple_voting"
    ballot = SingleChoice()

    def tally(self, values: Sequence[Any], labels: Sequence[str], weights: Weights = None) -> Tally:
        return plurality(values, labels, weights)


@protocols.register("approval_voting")
class ApprovalVoting(VotingProtocol):
    name = "approval_voting"
    ballot = ApprovalSet()

    def tally(self, values: Sequence[Any], labels: Sequence[str], weights: Weights = None) -> Tally:
        return approval(values, labels, weights)


@protocols.register("cumulative_voting")
class CumulativeVoting(VotingProtocol):
    name = "cumulative_voting"
    ballot = PointsPerId()

    def tally(self, values: Sequence[Any], labels: Sequence[str], weights: Weights = None) -> Tally:
        return cumulative(values, labels, weights=weights)


@protocols.register("ranked_voting")
class RankedVoting(VotingProtocol):
    name = "ranked_voting"
    ballot = Ordering()

    def tally(self, values: Sequence[Any], labels: Sequence[str], weights: Weights = None) -> Tally:
        return borda(values, labels, weights)


@protocols.register("consensus_voting")
class ConsensusVoting(SimpleVoting):
    """A simple vote at the end of every turn; stops at the first unique plurality. A tie always
    means another turn; at max turns the seeded random fallback applies (max_turns_tie)."""

    name = "consensus_voting"

    def __init__(self, **options: Any):
        if options.get("tie_break", "revote") != "revote":
            raise ConfigError(
                "consensus_voting always revotes on a tie", field="protocol_options.tie_break"
            )
        if options.get("vote_from_turn", 1) != 1:
            raise ConfigError(
                "consensus_voting votes from turn 1", field="protocol_options.vote_from_turn"
            )
        super().__init__(**options)


@protocols.register("weighted_voting")
class WeightedVoting(SimpleVoting):
    """ReConcile's confidence-weighted vote: each voter picks one candidate and states its
    confidence; each ballot counts with its recalibrated confidence (times its model's weight
    with `model_weights`); the most weight wins. `simple_voting` with `weights: stated` by
    default; `weights: logprobs` weights by log-probability confidence instead."""

    name = "weighted_voting"

    def __init__(self, *, weights: str = "stated", **options: Any):
        super().__init__(weights=weights, **options)
