"""Discussion analytics: how the current answer moved, how far the panel agreed, who did the
talking, and whether a correct answer was proposed and then lost. Computed from a finished
`DiscussionResult` alone (no model call; persona diversity runs a local sentence encoder when
one is installed, see `_diversity.py`), stored in each run record and aggregated per cell.

The current answer at any moment is the one `track_support` reads from the transcript so far,
the same reading the decision protocols use. Only voters (`AgentInfo.voter`) count towards
agreement, majorities and the Gini coefficient; a drafter still counts in `talk_share`.
"""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from madebate._results import DiscussionResult
from madebate.engine._diversity import distinct_positions
from madebate.protocols._support import track_support
from madebate.runs._diversity import persona_descriptions, persona_diversity
from madebate.runs._scoring import is_correct
from madebate.runs._team_analytics import TeamTally, team_analytics

TALK_ROLES = frozenset({"discussion", "agreement"})  # calls whose replies are the discussion


def discussion_analytics(result: DiscussionResult) -> dict[str, Any]:
    """Per-discussion analytics (see the module docstring; every key is always present).

    - turn_answers: the current answer at the end of each turn 1..turns (None before any).
    - answer_flips: how often the current answer changed after the first proposal.
    - changes_by_turn: per turn, the messages whose answer replaced the current one (the first
      proposal replaces nothing and is not counted), so the sum equals answer_flips.
    - agreement_by_turn: per turn end, the fraction of voters whose latest answer is the current
      one (0.0 while there is none).
    - first_majority_turn: the first turn at whose end more than half of the voters hold one
      same answer (any answer, not necessarily the current one), or None.
    - final_answer_stability: the fraction of turns, from the turn of the first proposal on,
      whose end answer equals the final answer; None if nothing was ever proposed.
    - talk_share: slot -> that agent's fraction of the completion tokens of discussion and
      agreement calls (every voter listed, 0.0 if silent); {} when there are no such tokens.
    - gini: the Gini coefficient of those tokens across the voters (0 equal; (n-1)/n when one
      voter of n did all the talking); None when the voters spoke no tokens.
    - correct_proposed: some message's answer was correct (`is_correct`, the rule the `accuracy`
      metric scores by); None without references.
    - lost_correct: correct_proposed and the final answer is not correct; None without references.
    - answer_diversity_by_turn: per turn end, how many distinct answers the voters' latest
      positions hold (a voter whose latest reply states no answer holds none, the rule of
      `track_support`); "Voting or Consensus?" (Kaesberg et al. 2025) finds it goes with
      accuracy.
    - persona_diversity: 1 - the mean pairwise cosine similarity of the voters' persona
      descriptions (None with fewer than two voters), by persona_diversity_method: the
      all-MiniLM-L6-v2 encoder when installed, else word-count vectors (lexical).
    """
    task = result.task
    messages = result.messages
    voters = [a.slot for a in result.agents if a.voter]
    n_voters = len(voters)

    turn_answers: list[str | None] = []
    changes_by_turn: list[int] = []
    agreement_by_turn: list[float] = []
    answer_diversity_by_turn: list[int] = []
    first_majority_turn: int | None = None
    for turn in range(1, result.turns + 1):
        so_far = [m for m in messages if m.turn <= turn]
        state = track_support(so_far, voters)
        current = state.current_answer
        turn_answers.append(current)
        held = [state.latest_answer[v] for v in voters if v in state.latest_answer]
        answer_diversity_by_turn.append(distinct_positions(held))
        agreeing = sum(a == current for a in held) if current is not None else 0
        agreement_by_turn.append(agreeing / n_voters if n_voters else 0.0)
        top = Counter(held).most_common(1)
        if first_majority_turn is None and top and 2 * top[0][1] > n_voters:
            first_majority_turn = turn
        changes_by_turn.append(0)

    # Walk the whole transcript once for the flips (the same rule as track_support's proposals).
    current_answer: str | None = None
    answer_flips = 0
    for m in messages:
        if m.answer is None or m.answer == current_answer:
            continue
        if current_answer is not None:
            answer_flips += 1
            if 1 <= m.turn <= len(changes_by_turn):
                changes_by_turn[m.turn - 1] += 1
        current_answer = m.answer

    first = next((i for i, a in enumerate(turn_answers) if a is not None), None)
    stability: float | None = None
    if first is not None:
        since = turn_answers[first:]
        stability = sum(a == result.answer for a in since) / len(since)

    tokens = _talk_tokens(result, voters)
    total = sum(tokens.values())
    talk_share = {slot: n / total for slot, n in tokens.items()} if total else {}
    gini_ = gini([tokens.get(v, 0) for v in voters])

    persona_value, persona_method = persona_diversity(persona_descriptions(result))

    correct_proposed: bool | None = None
    lost_correct: bool | None = None
    if task.references:
        correct_proposed = any(is_correct(m.answer, m.solution, task) for m in messages)
        lost_correct = correct_proposed and not is_correct(result.answer, result.solution, task)

    return {
        "turn_answers": turn_answers,
        "answer_flips": answer_flips,
        "changes_by_turn": changes_by_turn,
        "agreement_by_turn": agreement_by_turn,
        "first_majority_turn": first_majority_turn,
        "final_answer_stability": stability,
        "talk_share": talk_share,
        "gini": gini_,
        "correct_proposed": correct_proposed,
        "lost_correct": lost_correct,
        "answer_diversity_by_turn": answer_diversity_by_turn,
        "persona_diversity": persona_value,
        "persona_diversity_method": persona_method,
        "team": team_analytics(result),  # per agent and model, and who changed whose mind
    }


def _talk_tokens(result: DiscussionResult, voters: Sequence[str]) -> dict[str, int]:
    """Completion tokens of discussion and agreement calls per slot: every voter, and any other
    agent (the drafter) that spoke, in the order of `result.agents`."""
    spoken: dict[str, int] = {}
    for c in result.calls:
        if c.role in TALK_ROLES and c.agent is not None:
            spoken[c.agent] = spoken.get(c.agent, 0) + c.completion_tokens
    order = [a.slot for a in result.agents if a.voter or spoken.get(a.slot)]
    order += [s for s in spoken if s not in order and spoken[s]]
    return {slot: spoken.get(slot, 0) for slot in order}


def gini(values: Sequence[float]) -> float | None:
    """The Gini coefficient of non-negative amounts (0 equal; (n-1)/n when one of n holds all):
    the mean absolute difference over all ordered pairs divided by twice the mean. None when
    there is nothing to share (no values, or they sum to 0). The one copy: the analytics and the
    report's participation plot both use it."""
    xs = sorted(values)
    n, total = len(xs), sum(xs)
    if n == 0 or total <= 0:
        return None
    # sum over pairs |a - b| == 2 * sum_i (2i - n + 1) * x_i over the sorted values (i from 0)
    return sum((2 * i - n + 1) * x for i, x in enumerate(xs)) / (n * total)


def aggregate_analytics(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Means over the records that carry an `analytics` dict (others, such as failed examples,
    are skipped; `n` counts the ones used). A mean over no values is None.

    Per-turn lists are ragged: index t averages the discussions that reached turn t + 1.
    The correctness rates are over the records whose task had references (`n_with_references`).
    """
    tally = AnalyticsTally()
    for r in records:
        tally.add(r.get("analytics"))
    return tally.result()


class AnalyticsTally:
    """`aggregate_analytics` one record at a time, for a run too large to hold: sums and
    counts, and each value only where a mean must add floats in the records' order (one float
    per record; `sum` over them gives exactly the number the whole list would)."""

    def __init__(self) -> None:
        self.n = 0
        self.flips = 0  # whole numbers: their sum is exact in any order
        self.majority_turns = 0
        self.reached = 0
        self.stability = array("d")
        self.gini = array("d")
        self.with_refs = 0
        self.correct_proposed = 0
        self.lost_correct = 0
        self.agreement: list[array[float]] = []  # per turn index, the values that reached it
        self.changes: list[array[float]] = []
        self.answer_diversity: list[array[float]] = []
        self.persona: dict[str, array[float]] = {}  # per measure: a value per record
        self.team = TeamTally()

    def add(self, analytics: object) -> None:
        """One record's `analytics` (anything but a dict, such as None, is skipped)."""
        if not isinstance(analytics, dict):
            return
        a = analytics
        self.n += 1
        self.team.add(a.get("team"))  # absent from records made before team analytics
        self.flips += a["answer_flips"]
        if a["first_majority_turn"] is not None:
            self.reached += 1
            self.majority_turns += a["first_majority_turn"]
        if a["final_answer_stability"] is not None:
            self.stability.append(a["final_answer_stability"])
        if a["gini"] is not None:
            self.gini.append(a["gini"])
        if a.get("correct_proposed") is not None:
            self.with_refs += 1
            self.correct_proposed += bool(a["correct_proposed"])
            self.lost_correct += bool(a["lost_correct"])
        _add_ragged(self.agreement, a["agreement_by_turn"])
        _add_ragged(self.changes, a["changes_by_turn"])
        # Absent from records made before diversity was measured.
        _add_ragged(self.answer_diversity, a.get("answer_diversity_by_turn") or [])
        if a.get("persona_diversity") is not None:
            method = str(a.get("persona_diversity_method"))
            self.persona.setdefault(method, array("d")).append(a["persona_diversity"])

    def result(self) -> dict[str, Any]:
        n, refs = self.n, self.with_refs
        return {
            "n": n,
            "mean_answer_flips": self.flips / n if n else None,
            "mean_first_majority_turn": self.majority_turns / self.reached
            if self.reached
            else None,
            "first_majority_rate": self.reached / n if n else None,
            "mean_final_answer_stability": _mean(self.stability),
            "mean_gini": _mean(self.gini),
            "n_with_references": refs,
            "correct_proposed_rate": self.correct_proposed / refs if refs else None,
            "lost_correct_rate": self.lost_correct / refs if refs else None,
            "mean_agreement_by_turn": [sum(v) / len(v) for v in self.agreement],
            "mean_changes_by_turn": [sum(v) / len(v) for v in self.changes],
            "mean_answer_diversity_by_turn": [sum(v) / len(v) for v in self.answer_diversity],
            **self._persona_result(),
            "team": self.team.result(),
        }

    def _persona_result(self) -> dict[str, Any]:
        """The mean persona diversity, with its measure; no mean over values of two measures
        (records made where the encoder was installed and where it was not): the method then
        says "mixed" and names them."""
        methods = sorted(self.persona)
        if len(methods) == 1:
            return {
                "mean_persona_diversity": _mean(self.persona[methods[0]]),
                "persona_diversity_method": methods[0],
            }
        return {
            "mean_persona_diversity": None,
            "persona_diversity_method": f"mixed: {'; '.join(methods)}" if methods else None,
        }


def _add_ragged(per_turn: list[array[float]], values: Sequence[float]) -> None:
    for t, v in enumerate(values):
        if t == len(per_turn):
            per_turn.append(array("d"))
        per_turn[t].append(v)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
