"""The report's team section: per cell, the per-agent (or, for a mixed team, per-model) figures
of `madebate.runs._team_analytics` as a table, and the influence matrix as a shaded table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from madebate.report._plots import CellData

# (figure key, column heading, number format)
COLUMNS = [
    ("agent_discussions", "agent-discussions", "d"),
    ("first_accuracy", "first-answer accuracy", ".1%"),
    ("final_accuracy", "final-answer accuracy", ".1%"),
    ("first_won_rate", "first answer won", ".1%"),
    ("final_won_rate", "final answer won", ".1%"),
    ("changes", "answer changes", "d"),
    ("unattributed_changes", "changes no message explains", "d"),
]


@dataclass(frozen=True)
class InfluenceCell:
    value: float
    shade: float  # 0..1, the value over the matrix's largest


@dataclass(frozen=True)
class TeamView:
    """One cell's team figures as the report shows them."""

    label: str
    by: str  # "model" or "agent slot"
    rows: list[tuple[str, list[Any]]]  # group, then the value of each of COLUMNS
    groups: list[str]  # the matrix's rows (who persuaded) and columns (who changed), in order
    matrix: list[tuple[str, list[InfluenceCell]]]

    @property
    def has_influence(self) -> bool:
        return any(c.value for _, cells in self.matrix for c in cells)


def team_views(cells: list[CellData]) -> list[TeamView]:
    """A view per cell whose summary has team analytics: by model when the cell's team mixed
    models, else by agent slot."""
    out = []
    for cell in cells:
        team = (cell.summary.analytics or {}).get("team")
        if not isinstance(team, dict):
            continue
        mixed = team.get("view") == "model"
        figures: dict[str, dict[str, Any]] = team["by_model" if mixed else "by_agent"]
        influence: dict[str, dict[str, float]] = team[
            "influence_by_model" if mixed else "influence_by_agent"
        ]
        groups = list(figures)
        top = max((v for row in influence.values() for v in row.values()), default=0.0)
        matrix = [
            (
                sender,
                [
                    InfluenceCell(v, v / top if top else 0.0)
                    for v in (influence.get(sender, {}).get(receiver, 0.0) for receiver in groups)
                ],
            )
            for sender in groups
        ]
        rows = [(g, [figures[g].get(key) for key, _, _ in COLUMNS]) for g in groups]
        out.append(TeamView(cell.label, "model" if mixed else "agent slot", rows, groups, matrix))
    return out
