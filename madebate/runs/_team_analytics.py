"""Team analytics: how each agent (and each model, in a mixed team) did, and who changed whose
mind. `team_analytics` reads one finished discussion (stored in its record's analytics under
"team"); `TeamTally` adds those up one record at a time for a cell.

Per agent of a discussion (the drafter included, the judge not):

- first answer: the answer of its first message that states one. first_correct says whether
  it is correct (`is_correct`, the accuracy metric's rule); an agent that never stated an answer
  has no first answer and counts as not correct. None without references.
- final answer: its position when the discussion ended, as the protocols read it
  (`track_support`: its latest reply's answer, or the answer a bare [AGREE] agreed with; an
  unreadable latest reply leaves it none). final_correct as for the first answer.
- first_won / final_won: the discussion's final answer equals that agent's first / final answer
  (False when the discussion ended without an answer, or the agent had none).

A message's answer is the answer it states, or for an [AGREE] that states none, the answer it
agreed with (`Message.agreed_with`): the same position `track_support` reads.

Influence (who changed whose mind): for each message by X whose answer differs from X's
previous answer (the answer of X's latest earlier message that had one; X's first answer is no
change), look at the messages from other agents delivered to X since X's previous message and
shown to X when it wrote (`Message.visible_message_ids`). Each distinct sender
Y among them whose message's answer equals X's new answer gets an equal share 1/k of the change
(k such senders), counted Y -> X. A change that no such message explains is counted as
unattributed for X. So every change adds exactly 1 in total: to the matrix or to unattributed.

A cell's figures are over agent-discussions: every agent of a group in every discussion counts
once. The groups are agent slots, and models: `view` is "model" when some discussion of the
cell seated agents of more than one model (a mixed team), else "agent".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from madebate._results import DiscussionResult, Message, Stance
from madebate.protocols._judge import JUDGE_SLOT
from madebate.protocols._support import track_support
from madebate.runs._scoring import is_correct


def message_answer(m: Message) -> str | None:
    """The position a message states: its answer, or the one a bare [AGREE] agreed with."""
    if m.answer is not None:
        return m.answer
    if m.stance is Stance.AGREE:
        return m.agreed_with
    return None


def agent_models(result: DiscussionResult) -> dict[str, str]:
    """Each agent's model (the judge left out): `AgentInfo.model`, or for a record made before
    teams could mix models the discussion's one model, read from its calls."""
    called = [c.model for c in result.calls if c.model]
    fallback = max(set(called), key=called.count) if called else "model"
    return {a.slot: a.model or fallback for a in result.agents if a.slot != JUDGE_SLOT}


def team_analytics(result: DiscussionResult) -> dict[str, Any]:
    """One discussion's team figures (module docstring): {"agents": {slot: figures},
    "influence": {sender: {receiver: share}}}."""
    task = result.task
    models = agent_models(result)
    slots = list(models)
    messages = sorted((m for m in result.messages if m.speaker in models), key=lambda m: m.index)
    with_refs = bool(task.references)
    final_positions = track_support(messages, slots).latest_answer
    solutions: dict[str, str] = {}
    for m in messages:
        if m.answer is not None and m.solution:
            solutions[m.answer] = m.solution

    def correct(answer: str | None) -> bool | None:
        if not with_refs:
            return None
        return is_correct(answer, solutions.get(answer or "", answer), task)

    agents: dict[str, dict[str, Any]] = {}
    for slot in slots:
        mine = [m for m in messages if m.speaker == slot]
        first = next((m.answer for m in mine if m.answer is not None), None)
        final = final_positions.get(slot)
        agents[slot] = {
            "model": models[slot],
            "first_answer": first,
            "final_answer": final,
            "first_correct": correct(first),
            "final_correct": correct(final),
            "first_won": first is not None and first == result.answer,
            "final_won": final is not None and final == result.answer,
            "changes": 0,
            "unattributed_changes": 0,
        }

    influence: dict[str, dict[str, float]] = {}
    for slot in slots:
        previous: Message | None = None
        previous_answer: str | None = None
        for m in (m for m in messages if m.speaker == slot):
            answer = message_answer(m)
            if answer is not None and previous_answer is not None and answer != previous_answer:
                agents[slot]["changes"] += 1
                senders = _persuaders(messages, m, previous, answer)
                if not senders:
                    agents[slot]["unattributed_changes"] += 1
                for sender in senders:
                    row = influence.setdefault(sender, {})
                    row[slot] = row.get(slot, 0.0) + 1 / len(senders)
            if answer is not None:
                previous_answer = answer
            previous = m
    return {"agents": agents, "influence": influence}


def _persuaders(
    messages: Sequence[Message], m: Message, previous: Message | None, answer: str
) -> list[str]:
    """The distinct senders, in order, of messages holding `answer` that were delivered to m's
    speaker after its previous message and shown to it when it wrote m."""
    since = previous.index if previous is not None else -1
    seen = set(m.visible_message_ids)
    out: list[str] = []
    for other in messages:
        if not since < other.index < m.index or other.speaker == m.speaker:
            continue
        # An empty list is recorded too: the speaker was shown nothing (a memory window of 0,
        # a transcript shrunk away to fit the context), so nothing delivered explains a change.
        if m.speaker not in other.receivers or other.index not in seen:
            continue
        if message_answer(other) == answer and other.speaker not in out:
            out.append(other.speaker)
    return out


class _Group:
    """Sums for one agent slot or model."""

    def __init__(self) -> None:
        self.n = 0
        self.with_refs = 0
        self.first_correct = 0
        self.final_correct = 0
        self.first_won = 0
        self.final_won = 0
        self.changes = 0
        self.unattributed = 0

    def add(self, a: Mapping[str, Any]) -> None:
        self.n += 1
        if a["first_correct"] is not None:
            self.with_refs += 1
            self.first_correct += bool(a["first_correct"])
            self.final_correct += bool(a["final_correct"])
        self.first_won += bool(a["first_won"])
        self.final_won += bool(a["final_won"])
        self.changes += a["changes"]
        self.unattributed += a["unattributed_changes"]

    def result(self) -> dict[str, Any]:
        refs = self.with_refs
        return {
            "agent_discussions": self.n,
            "with_references": refs,
            "first_accuracy": self.first_correct / refs if refs else None,
            "final_accuracy": self.final_correct / refs if refs else None,
            "first_won_rate": self.first_won / self.n if self.n else None,
            "final_won_rate": self.final_won / self.n if self.n else None,
            "changes": self.changes,
            "unattributed_changes": self.unattributed,
        }


class TeamTally:
    """A cell's team figures, one record's `analytics["team"]` at a time (module docstring)."""

    def __init__(self) -> None:
        self.mixed = False
        self.by: dict[str, dict[str, _Group]] = {"agent": {}, "model": {}}
        self.influence: dict[str, dict[str, dict[str, float]]] = {"agent": {}, "model": {}}

    def add(self, team: object) -> None:
        """One record's team analytics (anything but a dict, such as None, is skipped)."""
        if not isinstance(team, dict):
            return
        agents: dict[str, dict[str, Any]] = team["agents"]
        model_of = {slot: a["model"] for slot, a in agents.items()}
        if len(set(model_of.values())) > 1:
            self.mixed = True
        for slot, a in agents.items():
            self.by["agent"].setdefault(slot, _Group()).add(a)
            self.by["model"].setdefault(a["model"], _Group()).add(a)
        for sender, row in team["influence"].items():
            for receiver, share in row.items():
                for view, key in (("agent", lambda s: s), ("model", model_of.get)):
                    src, dst = key(sender), key(receiver)
                    if src is None or dst is None:
                        continue
                    cells = self.influence[view].setdefault(src, {})
                    cells[dst] = cells.get(dst, 0.0) + share

    def result(self) -> dict[str, Any] | None:
        """The cell's figures; None when no record carried team analytics."""
        if not self.by["agent"]:
            return None
        return {
            "view": "model" if self.mixed else "agent",
            "by_agent": {k: g.result() for k, g in self.by["agent"].items()},
            "by_model": {k: g.result() for k, g in self.by["model"].items()},
            "influence_by_agent": self.influence["agent"],
            "influence_by_model": self.influence["model"],
        }
