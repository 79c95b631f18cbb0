"""The report's plots: each a function from the run's cells to PNG bytes (None when the run has
nothing to show for it). matplotlib is imported lazily and drawn with the Agg canvas directly,
so no pyplot state or GUI backend is touched (a notebook's own backend stays as it is)."""

from __future__ import annotations

import io
import math
from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from madebate.runs._analytics import gini
from madebate.runs._records import CellSummary, RunRecord
from madebate.runs._scoring import MetricSummary

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

BASELINE_METHODS = ("single", "self_consistency", "ablation")
_MAX_POINTS = 2000  # dots per cell in the Gini scatter
PLOT_NAMES = (
    "accuracy",
    "cost_frontier",
    "turns",
    "agreement",
    "changes",
    "participation",
    "stop_reasons",
)


class RecordTally:
    """What the plots need of a cell's records beyond its summary, gathered one record at a
    time (a report of 100,000 discussions does not hold them): turns to decision, the per-turn
    analytics of records from before the summary had them, and each agent's share."""

    def __init__(self) -> None:
        self.turns: dict[str, int] = {}  # "1", "2", ... and "undecided": discussions
        self.max_turn = 0
        self.per_turn: dict[str, dict[float, list[float]]] = {}  # key -> turn -> [sum, count]
        self.shares: dict[str, list[float]] = {}  # slot -> [sum of shares, discussions]
        self.ginis = array("d")
        self.measures: set[str] = set()

    def add(self, r: RunRecord) -> None:
        if r.result is not None:
            if r.decided:
                self.max_turn = max(self.max_turn, r.turns)
                self.turns[str(r.turns)] = self.turns.get(str(r.turns), 0) + 1
            else:
                self.turns["undecided"] = self.turns.get("undecided", 0) + 1
        for key in ("agreement_by_turn", "changes_by_turn"):
            for turn, v in _series(_analytics(r).get(key)) or []:
                if not math.isnan(v):
                    acc = self.per_turn.setdefault(key, {}).setdefault(turn, [0.0, 0])
                    acc[0] += v
                    acc[1] += 1
        got = record_shares(r)
        if got is not None:
            shares, what = got
            self.measures.add(what)
            for slot, v in shares.items():
                acc = self.shares.setdefault(slot, [0.0, 0])
                acc[0] += v
                acc[1] += 1
            g = _analytics(r).get("gini")
            if not isinstance(g, int | float):
                g = gini(list(shares.values())) or 0.0
            self.ginis.append(float(g))


@dataclass(frozen=True)
class CellData:
    """What the plots need of one cell: its settings, its summary and its records' tally."""

    id: str
    label: str  # short: the override values, e.g. "memory · simple_voting"
    paradigm: str
    protocol: str
    method: str  # "discussion", or a baseline ("single", "self_consistency", "ablation")
    variant: str  # the protocol plus any other overrides: the bars within a paradigm group
    summary: CellSummary
    records: RecordTally = field(default_factory=RecordTally)

    @property
    def baseline(self) -> bool:
        return self.method in BASELINE_METHODS


@dataclass(frozen=True)
class Plot:
    name: str  # file stem, e.g. "accuracy"
    title: str
    png: bytes


def render_plots(cells: list[CellData], metric: str) -> list[Plot]:
    """Every plot the run has data for, in report order."""
    makers: list[tuple[str, str, Callable[[], bytes | None]]] = [
        (
            "accuracy",
            f"{metric} by paradigm and protocol (95% CI)",
            lambda: accuracy_plot(cells, metric),
        ),
        (
            "cost_frontier",
            f"{metric} against tokens per example",
            lambda: cost_frontier_plot(cells, metric),
        ),
        ("turns", "turns to decision", lambda: turns_plot(cells)),
        ("agreement", "agreement over turns", lambda: per_turn_plot(cells, "agreement_by_turn")),
        ("changes", "answer changes per turn", lambda: per_turn_plot(cells, "changes_by_turn")),
        (
            "answer_diversity",
            "distinct answers per turn",
            lambda: per_turn_plot(cells, "answer_diversity_by_turn"),
        ),
        (
            "participation",
            "share per agent and Gini per discussion",
            lambda: participation_plot(cells),
        ),
        ("stop_reasons", "stop reasons", lambda: stop_reasons_plot(cells)),
    ]
    from matplotlib import rc_context

    out = []
    for name, title, make in makers:
        # Labels come from the spec (sweep values, paradigm names): text, never mathtext, so a
        # '$' in a label is shown as it is and a malformed '$...$' cannot break the report.
        with rc_context({"text.parse_math": False}):
            png = make()
        if png is not None:
            out.append(Plot(name, title, png))
    return out


# -- drawing helpers -----------------------------------------------------------------------


def _figure(width: float = 8.0, height: float = 4.2) -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return buf.getvalue()


def _colors(n: int) -> list[Any]:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if n <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(n)]


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _metric(cell: CellData, metric: str) -> MetricSummary | None:
    return cell.summary.metrics.get(metric)


def _legend_below(ax: Axes, ncol: int = 2) -> None:
    if ax.get_legend_handles_labels()[0]:
        ax.legend(
            loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=ncol, fontsize=8, frameon=False
        )


# -- the plots -------------------------------------------------------------------------------


def accuracy_plot(cells: list[CellData], metric: str) -> bytes | None:
    """Grouped bars: one group per paradigm (or baseline method), one bar per protocol variant,
    with the 95% interval as error bars."""
    scored = [(c, m) for c in cells if (m := _metric(c, metric)) is not None]
    if not scored:
        return None
    groups = _unique([c.method if c.baseline else c.paradigm for c, _ in scored])
    variants = _unique([c.variant for c, _ in scored])
    colors = _colors(len(variants))
    width = 0.8 / len(variants)
    fig = _figure()
    ax = fig.add_subplot()
    for vi, variant in enumerate(variants):
        xs, ys, lo, hi, hatches = [], [], [], [], []
        for c, m in scored:
            if c.variant != variant:
                continue
            group = c.method if c.baseline else c.paradigm
            xs.append(groups.index(group) - 0.4 + width * (vi + 0.5))
            ys.append(m.mean)
            lo.append(max(0.0, m.mean - m.ci_low))
            hi.append(max(0.0, m.ci_high - m.mean))
            hatches.append("//" if c.baseline else "")
        bars = ax.bar(
            xs, ys, width * 0.9, yerr=[lo, hi], capsize=4, color=colors[vi], label=variant
        )
        for bar, hatch in zip(bars, hatches, strict=True):
            bar.set_hatch(hatch)  # baselines hatched
    ax.set_xticks(range(len(groups)), groups)
    ax.set_ylabel(metric)
    if all(0.0 <= m.mean <= 1.0 for _, m in scored):
        ax.set_ylim(0, 1.05)
    ax.set_xlabel(
        "paradigm (hatched: baseline)" if any(c.baseline for c, _ in scored) else "paradigm"
    )
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax, ncol=min(3, len(variants)))
    return _png(fig)


def cost_frontier_plot(cells: list[CellData], metric: str) -> bytes | None:
    """One point per cell: tokens per example against the metric (95% CI); baselines as squares;
    the cells no other cell beats on both axes joined as the frontier."""
    points = [
        (c, m, c.summary.tokens_per_example) for c in cells if (m := _metric(c, metric)) is not None
    ]
    if not points:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    colors = _colors(len(points))
    for i, (c, m, tokens) in enumerate(points):
        err = [[max(0.0, m.mean - m.ci_low)], [max(0.0, m.ci_high - m.mean)]]
        label = f"{c.label} (baseline)" if c.baseline else c.label
        ax.errorbar(
            [tokens],
            [m.mean],
            yerr=err,
            fmt="s" if c.baseline else "o",
            markersize=8,
            capsize=3,
            color=colors[i],
            label=label,
        )
    frontier = sorted(
        (
            (tokens, m.mean)
            for _, m, tokens in points
            if not any(
                t2 <= tokens and m2.mean >= m.mean and (t2, m2.mean) != (tokens, m.mean)
                for _, m2, t2 in points
            )
        )
    )
    if len(frontier) > 1:
        ax.plot(*zip(*frontier, strict=True), "--", color="#888", linewidth=1, label="frontier")
    tokens_all = [t for _, _, t in points if t > 0]
    if tokens_all and max(tokens_all) / min(tokens_all) > 20:
        ax.set_xscale("log")
    ax.set_xlabel("tokens per example")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    _legend_below(ax)
    return _png(fig)


def turns_plot(cells: list[CellData]) -> bytes | None:
    """How many turns decided discussions took, per cell; undecided ones in their own bar."""
    counts = [c.records.turns for c in cells]
    max_turn = max((c.records.max_turn for c in cells), default=0)
    if not any(counts):
        return None
    categories = [str(t) for t in range(1, max_turn + 1)]
    if any("undecided" in cnt for cnt in counts):
        categories.append("undecided")
    colors = _colors(len(cells))
    width = 0.8 / len(cells)
    fig = _figure()
    ax = fig.add_subplot()
    for i, (c, cnt) in enumerate(zip(cells, counts, strict=True)):
        total = sum(cnt.values()) or 1
        xs = [k - 0.4 + width * (i + 0.5) for k in range(len(categories))]
        ax.bar(
            xs,
            [cnt.get(k, 0) / total for k in categories],
            width * 0.9,
            color=colors[i],
            label=c.label,
        )
    ax.set_xticks(range(len(categories)), categories)
    ax.set_xlabel("turns until the protocol decided")
    ax.set_ylabel("share of discussions")
    ax.grid(axis="y", alpha=0.3)
    _legend_below(ax)
    return _png(fig)


def _series(value: Any) -> list[tuple[float, float]] | None:
    """A per-turn series from a list (index 0 is turn 1) or a {turn: value} mapping."""
    pairs: list[tuple[float, float]] = []
    if isinstance(value, list | tuple):
        for i, v in enumerate(value):
            if isinstance(v, int | float) and not isinstance(v, bool):
                pairs.append((float(i + 1), float(v)))
    elif isinstance(value, dict):
        for k, v in value.items():
            try:
                turn = float(k)
            except (TypeError, ValueError):
                continue
            if isinstance(v, int | float) and not isinstance(v, bool):
                pairs.append((turn, float(v)))
        pairs.sort()
    else:
        return None
    return pairs or None


def _analytics(record: RunRecord) -> dict[str, Any]:
    return record.analytics or {}


def cell_per_turn(cell: CellData, key: str) -> list[tuple[float, float]] | None:
    """The cell's mean of a per-turn analytic: from its summary when there, else its records."""
    summary = cell.summary.analytics
    if summary is not None:
        for name in (key, f"mean_{key}"):
            s = _series(summary.get(name))
            if s:
                return s
    sums = cell.records.per_turn.get(key, {})
    return [(t, total / n) for t, (total, n) in sorted(sums.items())] or None


def per_turn_plot(cells: list[CellData], key: str) -> bytes | None:
    """One line per cell of the mean of a per-turn analytic (agreement_by_turn, changes_by_turn,
    answer_diversity_by_turn)."""
    from matplotlib.ticker import MaxNLocator

    lines = [(c, s) for c in cells if (s := cell_per_turn(c, key))]
    if not lines:
        return None
    fig = _figure()
    ax = fig.add_subplot()
    colors = _colors(len(cells))
    for c, s in lines:
        xs, ys = zip(*s, strict=True)
        ax.plot(xs, ys, "o-", color=colors[cells.index(c)], label=c.label)
    ax.set_xlabel("turn")
    ax.set_ylabel(
        {
            "agreement_by_turn": "mean agreement (voters holding the current answer)",
            "answer_diversity_by_turn": "mean distinct answers held by the voters",
        }.get(key, "mean answer changes (per discussion)")
    )
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    _legend_below(ax)
    return _png(fig)


def record_shares(record: RunRecord) -> tuple[dict[str, float], str] | None:
    """Each agent's share of one discussion: the analytics' talk_share when present, else its
    share of the tokens (usage_by_agent). With what it measures."""
    talk = _analytics(record).get("talk_share")
    if isinstance(talk, dict) and talk:
        return {str(k): float(v) for k, v in talk.items()}, "talk"
    usage = record.result.usage_by_agent if record.result is not None else {}
    tokens = {slot: float(u.total_tokens) for slot, u in usage.items() if slot != "-"}
    total = sum(tokens.values())
    if len(tokens) < 2 or total <= 0:
        return None
    return {slot: t / total for slot, t in tokens.items()}, "tokens"


def participation_plot(cells: list[CellData]) -> bytes | None:
    """Left: each agent's mean share per cell (stacked). Right: Gini of the shares per discussion."""
    rows: list[tuple[CellData, dict[str, float], Sequence[float]]] = []
    measures: set[str] = set()
    for c in cells:
        per_slot = c.records.shares
        measures |= c.records.measures
        if per_slot:
            n = max(count for _, count in per_slot.values())
            rows.append((c, {s: total / n for s, (total, _) in per_slot.items()}, c.records.ginis))
    if not rows:
        return None
    slots = sorted({s for _, shares, _ in rows for s in shares}, key=lambda s: (len(s), s))
    colors = _colors(len(slots))
    fig = _figure(9.0, 0.9 + 0.45 * len(rows) + 1.6)
    left, right = fig.subplots(1, 2, width_ratios=[3, 2])
    ys = list(range(len(rows)))
    starts = [0.0] * len(rows)
    for si, slot in enumerate(slots):
        widths = [shares.get(slot, 0.0) for _, shares, _ in rows]
        left.barh(ys, widths, left=starts, color=colors[si], label=slot)
        starts = [a + b for a, b in zip(starts, widths, strict=True)]
    left.set_yticks(ys, [c.label for c, _, _ in rows])
    left.invert_yaxis()
    left.set_xlim(0, 1)
    what = "talk" if measures == {"talk"} else "tokens" if measures == {"tokens"} else "talk/tokens"
    left.set_xlabel(f"mean share of {what} per agent")
    _legend_below(left, ncol=min(8, len(slots)))
    for y, (_, _, g) in zip(ys, rows, strict=True):
        # At most _MAX_POINTS dots per cell, evenly spread over its discussions (a large run
        # would draw a solid bar anyway); the mean is over every discussion.
        shown = g[:: -(-len(g) // _MAX_POINTS)] if len(g) > _MAX_POINTS else g
        jitter = [y + 0.25 * ((k * 0.618) % 1 - 0.5) for k in range(len(shown))]
        right.plot(list(shown), jitter, "o", color="#1a5fb4", alpha=0.4, markersize=4)
        if g:
            right.plot([sum(g) / len(g)], [y], "|", color="#c62828", markersize=18, mew=2)
    right.set_yticks(ys, [""] * len(ys))
    right.set_ylim(left.get_ylim())
    right.set_xlim(0, 1)
    right.set_xlabel("Gini per discussion\n(0 = equal; red: the mean)")
    right.grid(axis="x", alpha=0.3)
    return _png(fig)


def stop_reasons_plot(cells: list[CellData]) -> bytes | None:
    """Per cell, the share of discussions ending for each reason (stacked)."""
    data = [(c, c.summary.stop_reasons) for c in cells]
    data = [(c, s) for c, s in data if s]
    if not data:
        return None
    reasons = _unique([k for _, s in data for k in s])
    colors = _colors(len(reasons))
    fig = _figure(8.0, 0.9 + 0.45 * len(data) + 1.2)
    ax = fig.add_subplot()
    ys = list(range(len(data)))
    starts = [0.0] * len(data)
    for ri, reason in enumerate(reasons):
        widths = [s.get(reason, 0) / (sum(s.values()) or 1) for _, s in data]
        ax.barh(ys, widths, left=starts, color=colors[ri], label=reason)
        starts = [a + b for a, b in zip(starts, widths, strict=True)]
    ax.set_yticks(ys, [c.label for c, _ in data])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of discussions")
    _legend_below(ax, ncol=min(7, len(reasons)))
    return _png(fig)
