"""A run as a self-contained static HTML report: the experiment spec, the sortable cell table, the
plots (inline PNG, also written beside the page), a filterable list of discussions per cell, and
one transcript viewer page per discussion under `discussions/`.

Everything is inline (no network, works from file://). The pages are rendered from the run's
typed records and summaries by the Jinja2 templates in `templates/` (autoescape on; see
`madebate.report._html`): every piece of text that comes from a spec, a dataset or a model reply
is a value there, escaped, never a template."""

from __future__ import annotations

import re
import webbrowser
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from markupsafe import Markup

from madebate._errors import MadebateError
from madebate._results import AgentInfo, Decision, DiscussionResult, Intervention, Message, Usage
from madebate._secrets import mask_settings
from madebate.engine._config import DiscussionConfig
from madebate.engine._paradigm import ParadigmSpec
from madebate.engine._paradigm_compile import CompiledParadigm
from madebate.report._html import environment, render, static
from madebate.report._plots import PLOT_NAMES, CellData, RecordTally, render_plots
from madebate.report._team import COLUMNS as TEAM_COLUMNS
from madebate.report._team import team_views
from madebate.runs._experiment import Cell, expand_cells, value_label
from madebate.runs._load import Run, load_run
from madebate.runs._records import CellSummary, RunRecord
from madebate.runs._scoring import INTERVAL_METHODS, INTERVAL_NOTE
from madebate.runs._summary import run_time_line

DISCUSSIONS_DIR = "discussions"
INDEX_FILE = "index.html"


@dataclass(frozen=True)
class ReportView:
    """A written report. In a notebook, shows the cell table and the plots inline."""

    path: Path  # the report's index.html
    fragment: str = field(repr=False)  # the table and plots as an HTML fragment (large)

    def _repr_html_(self) -> str:
        return self.fragment

    def __str__(self) -> str:
        return str(self.path)

    def open(self) -> bool:
        """Open the report in the default web browser."""
        return webbrowser.open(self.path.resolve().as_uri())


class ReportableRun(Run):
    """A run directory read back, with its report one call away (what `madebate.load_run`
    returns; the runs layer below knows nothing of reports)."""

    def report(self, out: str | Path | None = None) -> ReportView:
        """Write the static HTML report (default: RUN_DIR/report). As the last expression of a
        notebook cell it shows the cell table and the plots inline; `.path` is the index page."""
        return write_report(self, out)


def load_reportable_run(run_dir: str | Path) -> ReportableRun:
    """`load_run` with `.report()`: see `madebate.runs._load.load_run`."""
    run = load_run(run_dir)
    return ReportableRun(**{f.name: getattr(run, f.name) for f in fields(run)})


def write_report(run: Run | str | Path, out: str | Path | None = None) -> ReportView:
    """Write the report of a run directory (default: RUN_DIR/report) and return it."""
    if not isinstance(run, Run):
        run = load_run(run)
    out_dir = Path(out) if out is not None else run.run_dir / "report"
    pages_dir = out_dir / DISCUSSIONS_DIR
    pages_dir.mkdir(parents=True, exist_ok=True)
    for stale in pages_dir.glob("*.html"):  # from an earlier report of this run
        stale.unlink()

    # The records stream twice, none kept: once for the summary (which names the main metric),
    # once for the plots' tallies and the choice of the discussions that get a page.
    summary = run.summary.cells
    metric_names = list(dict.fromkeys(m for c in summary.values() for m in c.metrics))
    metric = "accuracy" if "accuracy" in metric_names else (metric_names or ["accuracy"])[0]
    tallies = {cid: RecordTally() for cid in summary}
    picker = _PagePicker(list(summary), metric)
    for position, r in enumerate(run.iter_records()):
        tallies[r.cell].add(r)
        picker.offer(position, r)
    configs = cell_configs(run, list(summary))
    base = Cell(id="main", overrides={}, spec=run.spec).discussion_config(seed=None)
    cells = [
        _cell_data(
            cid, configs[cid] or base, run.cell_overrides.get(cid, {}), summary[cid], tallies
        )
        for cid in summary
    ]

    plots = render_plots(cells, metric)
    for name in PLOT_NAMES:  # an earlier report's plot that this one no longer has
        (out_dir / f"{name}.png").unlink(missing_ok=True)
    for plot in plots:
        (out_dir / f"{plot.name}.png").write_bytes(plot.png)

    pages = picker.pages()
    paradigms = _Paradigms(configs)
    at = {page.position: n for n, page in enumerate(pages)}
    positions = sorted(at)
    # Only these records are read again, one at a time, each page written as it comes.
    for position, r in zip(positions, run.iter_records(positions=positions), strict=True):
        n = at[position]
        page = pages[n]
        prev = pages[n - 1] if n > 0 and pages[n - 1].cell == page.cell else None
        nxt = pages[n + 1] if n + 1 < len(pages) and pages[n + 1].cell == page.cell else None
        html = _viewer_page(cells[page.cell], page, r, prev, nxt, paradigms)
        (pages_dir / page.file).write_text(html, encoding="utf-8")

    dynamics = _dynamics(cells)
    teams = team_views(cells)
    stored = run.stored_summary
    index = render(
        "index.html.j2",
        title=f"{run.spec.name}: madebate report",
        css=static("report.css"),
        script=static("report.js"),
        name=run.spec.name,
        description=run.spec.description,
        run_dir=run.run_dir,
        n_records=run.n_records,
        metric=metric,
        finished=stored.finished_at if stored is not None else None,
        interval_note=INTERVAL_NOTE,
        interval_methods=INTERVAL_METHODS,
        time_line=run_time_line(stored, summary),
        written=datetime.now().isoformat(timespec="seconds"),
        cells=cells,
        metric_names=metric_names,
        dynamics=dynamics,
        teams=teams,
        team_columns=TEAM_COLUMNS,
        plot_list=plots,
        groups=[_Group.of(i, c, pages, picker.counts[c.id]) for i, c in enumerate(cells)],
        pages_per_outcome=PAGES_PER_OUTCOME,
        # Masked again: a run written before keys in URLs were masked still holds them.
        spec_yaml=yaml.safe_dump(mask_settings(run.spec_data), sort_keys=False, allow_unicode=True),
    )
    path = out_dir / INDEX_FILE
    path.write_text(index, encoding="utf-8")
    fragment = render(
        "fragment.html.j2",
        css=static("fragment.css"),
        name=run.spec.name,
        n_records=run.n_records,
        cells=cells,
        path=path,
        metric_names=metric_names,
        interval_note=INTERVAL_NOTE,
        interval_methods=INTERVAL_METHODS,
        dynamics=dynamics,
        teams=teams,
        team_columns=TEAM_COLUMNS,
        plot_list=plots,
    )
    return ReportView(path=path, fragment=fragment)


# -- cells -----------------------------------------------------------------------------------


def cell_configs(run: Run, cell_ids: list[str]) -> dict[str, DiscussionConfig | None]:
    """Each cell's discussion settings, made again from the run's spec and sweep as the run made
    them (`expand_cells`). None for every cell when that is no longer possible (a paradigm file
    moved since the run, a protocol from a plugin not loaded): then no paradigm is drawn."""
    try:
        made = {c.id: c.discussion_config(seed=None) for c in expand_cells(run.spec)}
    except MadebateError:
        made = {}
    return {cid: made.get(cid) for cid in cell_ids}


def _cell_data(
    cid: str,
    config: DiscussionConfig,
    overrides: dict[str, Any],
    summary: CellSummary,
    tallies: dict[str, RecordTally],
) -> CellData:
    paradigm = config.paradigm
    # Sweep keys as written (a key may leave out `discussion.`): the bars' groups in the plots.
    grouped = {
        *("paradigm", "protocol", "method"),
        *("discussion.paradigm", "discussion.protocol", "discussion.method"),
    }
    extra = [f"{k}={value_label(v)}" for k, v in overrides.items() if k not in grouped]
    return CellData(
        id=cid,
        label=" · ".join(value_label(v) for v in overrides.values()) or cid,
        paradigm=paradigm.name if isinstance(paradigm, ParadigmSpec) else value_label(paradigm),
        protocol=config.protocol,
        method=config.method,
        variant=" · ".join([config.protocol, *extra]),
        summary=summary,
        records=tallies.get(cid, RecordTally()),
    )


def _outcome(record: RunRecord, metric: str) -> str:
    """undecided, correct (the main metric scored at least 0.5) or wrong."""
    if not record.decided:
        return "undecided"
    value = record.scores.get(metric)
    return "correct" if value is not None and value >= 0.5 else "wrong"


@dataclass(frozen=True)
class _Dynamics:
    """The per-cell summary analytics that are single numbers, when the run has them."""

    keys: list[str]
    rows: list[tuple[str, list[Any]]]  # (cell label, the value of each key)
    # What persona diversity measured (the encoder, or the lexical fallback), as the cells say.
    persona_methods: tuple[str, ...] = ()


def _dynamics(cells: list[CellData]) -> _Dynamics:
    keys: list[str] = []
    for c in cells:
        for k, v in (c.summary.analytics or {}).items():
            if (
                isinstance(v, int | float)
                and not isinstance(v, bool)
                and k not in keys
                and k != "n"
            ):
                keys.append(k)
    rows = []
    methods: list[str] = []
    for c in cells:
        analytics = c.summary.analytics or {}
        rows.append((c.label, [analytics.get(k) for k in keys]))
        method = analytics.get("persona_diversity_method")
        if isinstance(method, str) and method not in methods:
            methods.append(method)
    return _Dynamics(keys, rows, tuple(methods))


# -- the discussion lists --------------------------------------------------------------------


PAGES_PER_OUTCOME = 100
"""Viewer pages per cell and outcome (correct, wrong, undecided): a cell with more
discussions of an outcome than this lists and pages the first ones (every record stays in
records.jsonl), so a report of 100,000 discussions stays a few megabytes."""


@dataclass(frozen=True)
class _Brief:
    """What the lists show of a discussion (its record is read again for its page only)."""

    example_id: str
    repeat: int
    answer: str | None
    turns: int
    stop_reason: str


@dataclass(frozen=True)
class _Page:
    """One discussion's viewer page, and what the lists show of it."""

    cell: int  # index into cells
    file: str  # name under discussions/
    record: _Brief
    outcome: str
    question: str  # the task's question on one line, at most 100 characters
    references: str
    position: int  # the record's place among the run's records


@dataclass(frozen=True)
class _Group:
    """One cell's list of discussions, with a count per outcome for the filter buttons (over
    all of the cell's discussions; the list may show the first `PAGES_PER_OUTCOME` of each)."""

    cell: CellData
    pages: list[_Page]
    counts: list[tuple[str, int]]
    total: int  # the cell's discussions, listed or not

    @classmethod
    def of(cls, index: int, cell: CellData, pages: list[_Page], counts: dict[str, int]) -> _Group:
        mine = [p for p in pages if p.cell == index]
        shown = [(k, counts.get(k, 0)) for k in OUTCOMES]
        return cls(cell, mine, shown, sum(counts.values()))


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:60] or "x"


OUTCOMES = ("correct", "wrong", "undecided")


class _PagePicker:
    """Chooses, one record at a time, the discussions that get a page: per cell, the first
    `PAGES_PER_OUTCOME` of each outcome; counts every outcome."""

    def __init__(self, cell_ids: list[str], metric: str):
        self.metric = metric
        self.cell_ids = cell_ids
        self.counts: dict[str, dict[str, int]] = {
            cid: dict.fromkeys(OUTCOMES, 0) for cid in cell_ids
        }
        self._chosen: dict[str, list[tuple[int, _Brief, str, str, str]]] = {
            cid: [] for cid in cell_ids
        }

    def offer(self, position: int, r: RunRecord) -> None:
        outcome = _outcome(r, self.metric)
        counts = self.counts[r.cell]
        counts[outcome] += 1
        if counts[outcome] > PAGES_PER_OUTCOME:
            return
        question = " ".join(r.result.task.question.split()) if r.result is not None else ""
        question = question[:99] + "…" if len(question) > 100 else question
        brief = _Brief(r.example_id, r.repeat, r.answer, r.turns, r.stop_reason)
        references = ", ".join(r.references) or "–"
        self._chosen[r.cell].append((position, brief, outcome, question, references))

    def pages(self) -> list[_Page]:
        """The chosen discussions' pages, by cell, each cell's in the records' order."""
        pages: list[_Page] = []
        used: set[str] = set()
        for i, cid in enumerate(self.cell_ids):
            for position, brief, outcome, question, references in self._chosen[cid]:
                base = f"c{i + 1}-{_slug(brief.example_id)}-r{brief.repeat}"
                name, k = f"{base}.html", 1
                while name in used:
                    k += 1
                    name = f"{base}-{k}.html"
                used.add(name)
                pages.append(_Page(i, name, brief, outcome, question, references, position))
        return pages


# -- the discussion viewer -------------------------------------------------------------------


class _Paradigms:
    """Each cell's paradigm compiled once per team shape, for drawing."""

    def __init__(self, configs: dict[str, DiscussionConfig | None]):
        self.configs = configs
        self._compiled: dict[tuple[str, int, bool], CompiledParadigm | None] = {}

    def get(self, cell: CellData, voters: int, drafter: bool) -> CompiledParadigm | None:
        key = (cell.id, voters, drafter)
        if key not in self._compiled:
            self._compiled[key] = self._compile(cell, voters, drafter)
        return self._compiled[key]

    def _compile(self, cell: CellData, voters: int, drafter: bool) -> CompiledParadigm | None:
        from madebate.engine._paradigm_compile import compile_paradigm
        from madebate.engine._paradigm_library import load_paradigm

        config = self.configs.get(cell.id)
        if config is None:
            return None
        try:
            spec = load_paradigm(config.paradigm)
            if config.paradigm_params:
                spec = spec.with_params(**config.paradigm_params)
            return compile_paradigm(
                spec,
                n_agents=voters or config.n_agents,
                with_drafter=drafter or config.drafter is not False,
            )
        except Exception:  # a paradigm file moved or changed since the run: not drawn
            return None


def _paradigm_svg(cell: CellData, agents: list[AgentInfo], paradigms: _Paradigms) -> Markup | None:
    """The paradigm compiled for this discussion's team as inline SVG with its personas; None
    when it cannot be compiled again."""
    from madebate.report._svg import paradigm_svg

    voters = sum(a.voter for a in agents)
    drafter = any(a.slot == "D" and not a.voter for a in agents)
    compiled = paradigms.get(cell, voters, drafter)
    if compiled is None:
        return None
    personas = {a.slot: a.persona_name for a in agents}
    return Markup(paradigm_svg(compiled, personas=personas))  # every text in it escaped there


@dataclass(frozen=True)
class _Turn:
    number: int
    messages: list[Message]
    interventions: list[Intervention]
    decisions: list[Decision]


def _turns(result: DiscussionResult) -> list[_Turn]:
    """The transcript by turn: its messages (in order), the drift judge's interventions and the
    decisions of each turn that has a message or a decision."""
    messages = sorted(result.messages, key=lambda m: m.index)
    numbers = sorted({m.turn for m in messages} | {d.turn for d in result.decisions})
    return [
        _Turn(
            n,
            [m for m in messages if m.turn == n],
            [iv for iv in result.interventions if iv.turn == n],
            [d for d in result.decisions if d.turn == n],
        )
        for n in numbers
    ]


def _viewer_page(
    cell: CellData,
    page: _Page,
    r: RunRecord,
    prev: _Page | None,
    nxt: _Page | None,
    paradigms: _Paradigms,
) -> str:
    result = r.result
    agents = result.agents if result is not None else []
    usage = result.usage_by_agent if result is not None else {}
    svg = (
        _paradigm_svg(cell, agents, paradigms) if result is not None and not cell.baseline else None
    )
    return render(
        "discussion.html.j2",
        title=f"{r.example_id} · {cell.label}",
        css=static("report.css"),
        script=None,
        r=r,
        result=result,
        task=result.task if result is not None else None,
        error=r.error or (result.error if result is not None else None),
        page=page,
        prev=prev,
        next=nxt,
        cell=cell,
        names={a.slot: a.persona_name for a in agents},
        agents=[(a, usage[a.slot] if a.slot in usage else Usage()) for a in agents],
        svg=svg,
        turns=_turns(result) if result is not None else [],
        # the team figures get their own table (templates/_team.html.j2)
        analytics=[(k, v) for k, v in (r.analytics or {}).items() if k != "team"],
        team=(r.analytics or {}).get("team"),
    )


def decision_html(decision: Decision, names: dict[str, str] | None = None) -> str:
    """One decision as the viewer shows it (the vote, its tally and ballots); `names` maps
    slots to persona names."""
    module = environment().get_template("_transcript.html.j2").module
    return str(module.decision(decision, names or {}))  # type: ignore[attr-defined]
