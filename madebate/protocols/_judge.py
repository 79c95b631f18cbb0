"""The judge protocol: a judge role (its own model allowed) reads the candidates and picks one,
or writes the answer itself."""

from __future__ import annotations

from typing import Any

from madebate._prompts import render
from madebate._reply import read_solution
from madebate._results import Ballot, Decision
from madebate._task import Task
from madebate.models._model import ChatMessage
from madebate.models._model_managed import ManagedModel
from madebate.protocols._ballots import Parsed, SingleChoice, _json_payload, label_mentions
from madebate.protocols._candidates import Candidate, build_candidates
from madebate.protocols._protocols import (
    DecisionContext,
    DecisionProtocol,
    at_least,
    protocols,
    switch,
)
from madebate.protocols._reask import ask_until_read

JUDGE_SLOT = "J"
NEW = "new"


@protocols.register("judge")
class JudgeProtocol(DecisionProtocol):
    """Options: model (a model id for the judge; default the discussion's), vote_from_turn,
    history (show the discussion), may_write (let the judge write its own answer), max_reasks."""

    name = "judge"
    kind = "judge"

    def __init__(
        self,
        *,
        model: str | None = None,
        base_url: str | None = None,
        vote_from_turn: int = 1,
        history: bool = True,
        may_write: bool = True,
        max_reasks: int = 2,
    ):
        self.vote_from_turn = at_least(vote_from_turn, "vote_from_turn", 1)
        self.max_reasks = at_least(max_reasks, "max_reasks", 0)
        self.history = switch(history, "history")
        self.may_write = switch(may_write, "may_write")
        self.model: ManagedModel | None = None
        if model is not None:
            from madebate.models._models import as_managed

            self.model = as_managed(model, **({"base_url": base_url} if base_url else {}))

    async def aclose(self) -> None:
        if self.model is not None and not self.model.shared:
            await self.model.aclose()

    def schema(self, labels: list[str]) -> dict[str, Any]:
        choices = [*labels, NEW] if self.may_write else list(labels)
        properties: dict[str, Any] = {"choice": {"type": "string", "enum": choices}}
        if self.may_write:
            # Required but nullable: OpenAI's strict mode rejects a schema with optional fields.
            properties["answer"] = {"type": ["string", "null"]}
        return {
            "type": "object",
            "properties": properties,
            "required": list(properties),
            "additionalProperties": False,
        }

    async def consult(self, ctx: DecisionContext) -> Decision:
        if not ctx.end_of_turn:
            return self.undecided(ctx, "the judge rules at the end of a turn")
        if ctx.turn < self.vote_from_turn:
            return self.undecided(ctx, f"the judge rules from turn {self.vote_from_turn}")
        candidates = build_candidates(ctx.messages, ctx.voters, seed=ctx.seed, turn=ctx.turn)
        if not candidates:
            return self.undecided(ctx, "no candidate solution to judge")
        labels = [c.label for c in candidates]
        user = render(
            "judge",
            task=ctx.task_text,
            transcript=list(ctx.messages) if self.history else [],
            candidates=[{"label": c.label, "solution": c.solution} for c in candidates],
            labels=", ".join(labels),
            may_write=self.may_write,
        )
        messages = [
            ChatMessage(role="system", content=render("judge_system")),
            ChatMessage(role="user", content=user),
        ]
        schema = self.schema(labels)

        async def ask(messages: list[ChatMessage]) -> str | None:
            return await ctx.ask(
                JUDGE_SLOT, messages, "judge", json_schema=schema, model=self.model
            )

        elicited = await ask_until_read(
            ask,
            messages,
            lambda reply: self.parse(reply, labels, ctx.task),
            lambda problem: (
                f"Your verdict could not be read: {problem}. Reply with JSON only, as asked."
            ),
            max_reasks=self.max_reasks,
        )
        if elicited.read:
            assert elicited.parsed is not None
            return self._verdict(
                ctx, candidates, elicited.parsed.value, elicited.raw, elicited.reasks
            )
        if elicited.failed:
            problem = "the judge's model call failed"
        else:
            problem = elicited.problem or "the judge abstained"
        return Decision(
            protocol=self.name,
            turn=ctx.turn,
            decided=False,
            ballots=[elicited.ballot(JUDGE_SLOT)],
            reason=f"no verdict: {problem}",
        )

    def parse(self, text: str, labels: list[str], task: Task) -> Parsed:
        """A label, or ("new", solution text, normalised answer) when the judge writes its own."""
        payload = _json_payload(text)
        if isinstance(payload, dict) and "choice" in payload:
            choice = str(payload["choice"]).strip()
            if choice.lower() == NEW and self.may_write:
                written = payload.get("answer")
                return self._written(written if isinstance(written, str) else "", task)
            return SingleChoice().from_json(choice, labels)
        solution, _, _ = read_solution(text, task)
        if solution is not None and self.may_write:
            return self._written(solution, task)
        named = list(dict.fromkeys(label_mentions(text, labels)))
        if len(named) == 1:
            return Parsed(named[0])
        return Parsed(None, "names no single candidate and writes no answer")

    def _written(self, solution: str, task: Task) -> Parsed:
        answer = task.normalize(solution)
        if answer is None:
            return Parsed(None, f"the written answer '{solution[:60]}' cannot be read")
        return Parsed((NEW, solution.strip(), answer))

    def _verdict(
        self, ctx: DecisionContext, candidates: list[Candidate], value: Any, raw: str, reasks: int
    ) -> Decision:
        ballot = Ballot(voter=JUDGE_SLOT, raw=raw, value=value, reasks=reasks, counted=True)
        if isinstance(value, tuple):
            _, solution, answer = value
            same = next((c for c in candidates if c.answer == answer), None)
            how = f"the judge wrote {answer}" + (" (matching a candidate)" if same else "")
        else:
            chosen = next(c for c in candidates if c.label == value)
            solution, answer = chosen.solution, chosen.answer
            how = f"the judge picked {answer}"
        return Decision(
            protocol=self.name,
            turn=ctx.turn,
            decided=True,
            answer=answer,
            solution=solution,
            tally={c.answer: float(c.answer == answer) for c in candidates},
            ballots=[ballot],
            reason=how,
        )
