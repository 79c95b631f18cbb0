"""A run as a self-contained static HTML report: the experiment spec, the sortable cell table, the
plots (inline PNG, also written beside the page), a filterable list of discussions per cell, and
one transcript viewer page per discussion under `discussions/`.

Everything is inline (no network, works from file://). Every piece of text that comes from a
spec, a dataset or a model reply goes through `html.escape`; no template engine sees it."""

from __future__ import annotations

import base64
import copy
import json
import re
import webbrowser
from dataclasses import dataclass, field, fields
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml

from madebate.engine._paradigm_compile import CompiledParadigm
from madebate.report._plots import PLOT_NAMES, CellData, Plot, render_plots
from madebate.report._svg import markup_text
from madebate.runs._experiment import value_label
from madebate.runs._load import Run, load_run, read_summary_file
from madebate.runs._runlog import CELLS_FILE

DISCUSSIONS_DIR = "discussions"
INDEX_FILE = "index.html"
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"


def _e(value: object) -> str:
    """Text for HTML: escaped (quotes too, for attributes), control characters made visible."""
    return markup_text(value)


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

    summary = run.summary["cells"]
    overrides = _read_overrides(run.run_dir)
    metric_names = _unique(m for c in summary.values() for m in c.get("metrics", {}))
    metric = "accuracy" if "accuracy" in metric_names else (metric_names or ["accuracy"])[0]
    by_cell: dict[str, list[dict[str, Any]]] = {}
    for r in run.records:
        by_cell.setdefault(str(r["cell"]), []).append(r)
    settings = {cid: cell_settings(run.spec, overrides.get(cid, {})) for cid in summary}
    cells = [
        _cell_data(cid, settings[cid], overrides.get(cid, {}), summary[cid], by_cell.get(cid, []))
        for cid in summary
    ]

    plots = render_plots(cells, metric)
    for name in PLOT_NAMES:  # an earlier report's plot that this one no longer has
        (out_dir / f"{name}.png").unlink(missing_ok=True)
    for plot in plots:
        (out_dir / f"{plot.name}.png").write_bytes(plot.png)

    pages = _write_discussions(cells, _Paradigms(settings), pages_dir, metric)
    table = _cell_table(cells, metric_names, link=True)
    dynamics = _dynamics_table(cells)
    index = _index_page(run, cells, table, dynamics, plots, pages, metric)
    path = out_dir / INDEX_FILE
    path.write_text(index, encoding="utf-8")
    fragment = (
        f'<div class="madebate-report"><style>{_FRAGMENT_CSS}</style>'
        f"<p><b>{_e(run.spec.get('name') or run.run_dir.name)}</b>: "
        f"{len(run.records)} discussion(s) in {len(cells)} cell(s). "
        f"Full report: <code>{_e(path)}</code></p>"
        + _cell_table(cells, metric_names, link=False)
        + _dynamics_table(cells)
        + _plots_html(plots, files=False)
        + "</div>"
    )
    return ReportView(path=path, fragment=fragment)


# -- cells -----------------------------------------------------------------------------------


def _unique(values: Any) -> list[str]:
    return list(dict.fromkeys(values))


def _read_overrides(run_dir: Path) -> dict[str, dict[str, Any]]:
    path = run_dir / CELLS_FILE
    if not path.exists():
        return {}
    try:
        return {
            str(c["id"]): dict(c.get("overrides") or {})
            for c in json.loads(path.read_text(encoding="utf-8"))
        }
    except (ValueError, KeyError, TypeError):
        return {}


def cell_settings(spec: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """The experiment spec with one cell's dotted overrides applied (no validation)."""
    data = copy.deepcopy(spec)
    data.pop("sweep", None)
    for dotted, value in overrides.items():
        node = data
        *parents, last = dotted.split(".")
        for part in parents:
            child = node.get(part)
            if not isinstance(child, dict):
                child = node[part] = {}
            node = child
        node[last] = value
    return data


def _cell_data(
    cid: str,
    settings: dict[str, Any],
    overrides: dict[str, Any],
    summary: dict[str, Any],
    records: list[dict[str, Any]],
) -> CellData:
    discussion = settings.get("discussion") or {}
    protocol = str(settings.get("protocol") or "majority_consensus")
    grouped = {"paradigm", "protocol", "discussion.method"}
    extra = [f"{k}={value_label(v)}" for k, v in overrides.items() if k not in grouped]
    return CellData(
        id=cid,
        label=" · ".join(value_label(v) for v in overrides.values()) or cid,
        paradigm=value_label(settings.get("paradigm") or "memory"),
        protocol=protocol,
        method=str(discussion.get("method") or "discussion"),
        variant=" · ".join([protocol, *extra]),
        summary=summary,
        records=records,
    )


def _outcome(record: dict[str, Any], metric: str) -> str:
    """undecided, correct (the main metric scored at least 0.5) or wrong."""
    if not record.get("decided"):
        return "undecided"
    value = (record.get("scores") or {}).get(metric)
    return "correct" if isinstance(value, int | float) and value >= 0.5 else "wrong"


# -- tables ----------------------------------------------------------------------------------


def _num(value: Any, fmt: str) -> str:
    return format(value, fmt) if isinstance(value, int | float) else "–"


def _cell_table(cells: list[CellData], metric_names: list[str], *, link: bool) -> str:
    headers = [
        "cell",
        "n",
        *(f"{m} (95% CI)" for m in metric_names),
        "decision rate",
        "mean turns",
        "calls / example",
        "tokens / example",
        "wall s",
        "errors",
        "cut replies",
    ]
    head = "".join(f'<th scope="col" title="click to sort">{_e(h)}</th>' for h in headers)
    rows = []
    for i, c in enumerate(cells):
        s = c.summary
        name = f'<a href="#cell-{i + 1}">{_e(c.label)}</a>' if link else _e(c.label)
        tds = [
            f'<td data-sort="{_e(c.label)}" title="{_e(c.id)}">{name}</td>',
            _td(s.get("n"), "d"),
        ]
        for m in metric_names:
            got = (s.get("metrics") or {}).get(m)
            if isinstance(got, dict) and isinstance(got.get("mean"), int | float):
                tds.append(
                    f'<td data-sort="{got["mean"]:.6f}">{got["mean"]:.3f} <span class="ci">'
                    f"[{_num(got.get('ci_low'), '.3f')}, {_num(got.get('ci_high'), '.3f')}]"
                    "</span></td>"
                )
            else:
                tds.append('<td data-sort="">–</td>')
        tds += [
            _td(s.get("decision_rate"), ".0%"),
            _td(s.get("mean_turns"), ".2f"),
            _td(s.get("calls_per_example"), ".1f"),
            _td(s.get("tokens_per_example"), ".0f"),
            _td(s.get("discussion_wall_s"), ".1f"),
            _td(s.get("errors"), "d"),
            _td(s.get("truncated_replies", 0), "d"),  # cut at max_tokens
        ]
        rows.append(f'<tr data-cell="{_e(c.id)}">{"".join(tds)}</tr>')
    return (
        '<div class="scroll"><table class="sortable cells"><thead><tr>'
        + head
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


def _td(value: Any, fmt: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return '<td data-sort="">–</td>'
    return f'<td data-sort="{float(value):.6f}">{_e(format(value, fmt))}</td>'


def _dynamics_table(cells: list[CellData]) -> str:
    """The per-cell summary analytics that are single numbers, when the run has them."""
    keys: list[str] = []
    for c in cells:
        a = c.summary.get("analytics")
        if isinstance(a, dict):
            keys += [
                k
                for k, v in a.items()
                if isinstance(v, int | float)
                and not isinstance(v, bool)
                and k not in keys
                and k != "n"
            ]
    if not keys:
        return ""
    head = '<th scope="col" title="click to sort">cell</th>' + "".join(
        f'<th scope="col" title="click to sort">{_e(k.replace("_", " "))}</th>' for k in keys
    )
    rows = []
    for c in cells:
        a = c.summary.get("analytics")
        a = a if isinstance(a, dict) else {}
        tds = "".join(_td(a.get(k), "d" if isinstance(a.get(k), int) else ".3f") for k in keys)
        rows.append(f'<tr><td data-sort="{_e(c.label)}">{_e(c.label)}</td>{tds}</tr>')
    return (
        '<h3>Discussion dynamics</h3><div class="scroll"><table class="sortable dynamics">'
        "<thead><tr>" + head + "</tr></thead><tbody>" + "".join(rows) + "</tbody></table></div>"
    )


def _plots_html(plots: list[Plot], *, files: bool) -> str:
    if not plots:
        return "<p>No plots: the run has no finished records yet.</p>"
    figures = []
    for p in plots:
        data = base64.b64encode(p.png).decode("ascii")
        link = f' · <a href="{_e(p.name)}.png">{_e(p.name)}.png</a>' if files else ""
        figures.append(
            f'<figure class="plot" data-plot="{_e(p.name)}">'
            f'<img src="data:image/png;base64,{data}" alt="{_e(p.title)}">'
            f"<figcaption>{_e(p.title)}{link}</figcaption></figure>"
        )
    return '<div class="plots">' + "".join(figures) + "</div>"


# -- the index page --------------------------------------------------------------------------


@dataclass(frozen=True)
class _Page:
    cell: int  # index into cells
    file: str  # name under discussions/
    record: dict[str, Any]
    outcome: str


def _index_page(
    run: Run,
    cells: list[CellData],
    table: str,
    dynamics: str,
    plots: list[Plot],
    pages: list[_Page],
    metric: str,
) -> str:
    name = run.spec.get("name") or run.run_dir.name
    finished = (read_summary_file(run.run_dir) or {}).get("finished_at")
    meta = [
        f"run directory <code>{_e(run.run_dir)}</code>",
        f"{len(run.records)} discussion(s) in {len(cells)} cell(s)",
        f"main metric {_e(metric)}",
    ]
    if finished:
        meta.append(f"finished {_e(finished)}")
    meta.append(f"report written {_e(datetime.now().isoformat(timespec='seconds'))}")
    lists = []
    for i, c in enumerate(cells):
        mine = [p for p in pages if p.cell == i]
        counts = {k: sum(p.outcome == k for p in mine) for k in ("correct", "wrong", "undecided")}
        buttons = (
            f'<button type="button" data-filter="all" aria-pressed="true">all ({len(mine)})</button>'
            + "".join(
                f'<button type="button" data-filter="{k}" aria-pressed="false">{k} ({n})</button>'
                for k, n in counts.items()
            )
        )
        items = "".join(_list_item(p) for p in mine) or "<li>no discussions</li>"
        lists.append(
            f'<section class="cell" id="cell-{i + 1}" data-cell="{_e(c.id)}">'
            f"<h3>{_e(c.label)} <small>{_e(c.id)}</small></h3>"
            f'<div class="filters" role="group" aria-label="filter discussions">{buttons}</div>'
            f'<ul class="discussions">{items}</ul></section>'
        )
    spec_yaml = yaml.safe_dump(run.spec, sort_keys=False, allow_unicode=True)
    description = run.spec.get("description") or ""
    body = (
        f"<header><h1>{_e(name)}</h1>"
        + (f'<p class="description">{_e(description)}</p>' if description else "")
        + f'<p class="meta">{" · ".join(meta)}</p>'
        '<nav><a href="#cells">cells</a> · <a href="#plots">plots</a> · '
        '<a href="#discussions">discussions</a> · <a href="#spec">spec</a></nav></header>'
        '<section id="cells"><h2>Cells</h2>'
        '<p class="hint">Click a column header to sort. Intervals are 95% confidence intervals.</p>'
        f"{table}{dynamics}</section>"
        f'<section id="plots"><h2>Plots</h2>{_plots_html(plots, files=True)}</section>'
        '<section id="discussions"><h2>Discussions</h2>'
        f'<p class="hint">correct: decided, and {_e(metric)} at least 0.5; wrong: decided '
        "otherwise; undecided: the protocol never decided.</p>" + "".join(lists) + "</section>"
        f'<section id="spec"><h2>Experiment spec</h2><pre class="spec">{_e(spec_yaml)}</pre></section>'
    )
    return _html(f"{name}: madebate report", body, _INDEX_JS)


def _list_item(p: _Page) -> str:
    r = p.record
    result = r.get("result") or {}
    question = " ".join(str((result.get("task") or {}).get("question") or "").split())
    if len(question) > 100:
        question = question[:99] + "…"
    refs = ", ".join(str(x) for x in r.get("references") or []) or "–"
    repeat = f" #{r.get('repeat')}" if r.get("repeat") else ""
    return (
        f'<li data-outcome="{p.outcome}">'
        f'<a href="{DISCUSSIONS_DIR}/{_e(p.file)}">{_e(r.get("example_id"))}{_e(repeat)}</a> '
        f'<span class="badge {p.outcome}">{p.outcome}</span> '
        f'<span class="q">{_e(question)}</span> '
        f'<span class="facts">answer {_e(r.get("answer") or "–")} · reference {_e(refs)} · '
        f"{_e(r.get('turns'))} turn(s) · {_e(r.get('stop_reason'))}</span></li>"
    )


# -- the discussion viewer -------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_")[:60] or "x"


def _write_discussions(
    cells: list[CellData], paradigms: _Paradigms, pages_dir: Path, metric: str
) -> list[_Page]:
    pages: list[_Page] = []
    used: set[str] = set()
    for i, c in enumerate(cells):
        for r in c.records:
            base = f"c{i + 1}-{_slug(str(r.get('example_id')))}-r{r.get('repeat', 0)}"
            name, k = f"{base}.html", 1
            while name in used:
                k += 1
                name = f"{base}-{k}.html"
            used.add(name)
            pages.append(_Page(i, name, r, _outcome(r, metric)))
    for n, page in enumerate(pages):
        prev = pages[n - 1] if n > 0 and pages[n - 1].cell == page.cell else None
        nxt = pages[n + 1] if n + 1 < len(pages) and pages[n + 1].cell == page.cell else None
        cell = cells[page.cell]
        html = _viewer_page(cell, page, prev, nxt, paradigms)
        (pages_dir / page.file).write_text(html, encoding="utf-8")
    return pages


class _Paradigms:
    """Each cell's paradigm compiled once per team shape, for drawing."""

    def __init__(self, settings: dict[str, dict[str, Any]]):
        self.settings = settings
        self._compiled: dict[tuple[str, int, bool], CompiledParadigm | None] = {}

    def get(self, cell: CellData, voters: int, drafter: bool) -> CompiledParadigm | None:
        key = (cell.id, voters, drafter)
        if key not in self._compiled:
            self._compiled[key] = self._compile(cell, voters, drafter)
        return self._compiled[key]

    def _compile(self, cell: CellData, voters: int, drafter: bool) -> CompiledParadigm | None:
        from madebate.engine._paradigm import ParadigmSpec, load_paradigm
        from madebate.engine._paradigm_compile import compile_paradigm

        settings = self.settings.get(cell.id) or {}
        team = settings.get("team") or {}
        try:
            p = settings.get("paradigm") or "memory"
            spec = load_paradigm(ParadigmSpec.model_validate(p) if isinstance(p, dict) else str(p))
            if settings.get("paradigm_params"):
                spec = spec.with_params(**settings["paradigm_params"])
            return compile_paradigm(
                spec,
                n_agents=voters or int(team.get("agents") or 3),
                with_drafter=drafter or bool(team.get("drafter")),
            )
        except Exception:  # a paradigm file moved or changed since the run: not drawn
            return None


def _paradigm_figure(cell: CellData, agents: list[dict[str, Any]], paradigms: _Paradigms) -> str:
    """The paradigm compiled for this discussion's team, as inline SVG with its personas."""
    from madebate.report._svg import paradigm_svg

    if cell.baseline:
        return f"<p>{_e(cell.method)} baseline: no discussion graph.</p>"
    voters = sum(1 for a in agents if a.get("voter", True))
    drafter = any(a.get("slot") == "D" and not a.get("voter", True) for a in agents)
    compiled = paradigms.get(cell, voters, drafter)
    if compiled is None:
        return "<p>The paradigm could not be compiled again, so it is not drawn.</p>"
    personas = {str(a.get("slot")): str(a.get("persona_name") or "") for a in agents}
    return f'<figure class="paradigm">{paradigm_svg(compiled, personas=personas)}</figure>'


def _viewer_page(
    cell: CellData, page: _Page, prev: _Page | None, nxt: _Page | None, paradigms: _Paradigms
) -> str:
    r = page.record
    result: dict[str, Any] = r.get("result") or {}
    agents: list[dict[str, Any]] = list(result.get("agents") or [])
    names = {str(a.get("slot")): str(a.get("persona_name") or "") for a in agents}
    title = f"{r.get('example_id')} · {cell.label}"

    nav = ['<a href="../index.html">← report</a>']
    if prev:
        nav.append(f'<a href="{_e(prev.file)}" rel="prev">← previous</a>')
    if nxt:
        nav.append(f'<a href="{_e(nxt.file)}" rel="next">next →</a>')
    parts = [
        f"<nav>{' · '.join(nav)}</nav>",
        f'<header><h1>{_e(r.get("example_id"))} <span class="badge {page.outcome}">{page.outcome}</span></h1>'
        f'<p class="meta">cell <b>{_e(cell.label)}</b> ({_e(cell.id)}) · repeat {_e(r.get("repeat"))} '
        f"· seed {_e(r.get('seed'))}</p></header>",
    ]

    task = result.get("task") or {}
    task_html = []
    if task.get("instruction"):
        task_html.append(f'<p class="instruction">{_e(task["instruction"])}</p>')
    if task.get("context"):
        task_html.append(f'<pre class="context">{_e(task["context"])}</pre>')
    task_html.append(f'<pre class="question">{_e(task.get("question", ""))}</pre>')
    if task.get("options"):
        task_html.append(
            '<ol class="options" type="A">'
            + "".join(f"<li>{_e(o)}</li>" for o in task["options"])
            + "</ol>"
        )
    refs = ", ".join(str(x) for x in r.get("references") or []) or "–"
    task_html.append(f'<p>reference: <b class="reference">{_e(refs)}</b></p>')
    parts.append('<section class="task"><h2>Task</h2>' + "".join(task_html) + "</section>")

    scores = ", ".join(f"{k} {v:.3f}" for k, v in (r.get("scores") or {}).items())
    outcome_rows = [
        ("answer", r.get("answer")),
        ("solution", r.get("solution")),
        ("decided", "yes" if r.get("decided") else "no"),
        ("stop reason", r.get("stop_reason")),
        ("turns", r.get("turns")),
        ("scores", scores),
        ("model calls", r.get("calls")),
        ("tokens", r.get("tokens")),
    ]
    parts.append(
        '<section class="outcome"><h2>Outcome</h2><table class="kv">'
        + "".join(f"<tr><th>{_e(k)}</th><td>{_e(v)}</td></tr>" for k, v in outcome_rows)
        + "</table></section>"
    )
    error = r.get("error") or result.get("error")
    if error:
        parts.append(
            f'<section class="error"><h2>Error</h2><pre>{_e(error.get("type"))}: '
            f"{_e(error.get('message'))}</pre></section>"
        )

    if result:
        parts.append(_agents_html(agents, result, cell, paradigms))
        parts.append(_transcript_html(result, names))
        if result.get("challenge"):
            parts.append(_challenge_html(result["challenge"], names))
    parts.append(
        '<section class="stop"><h2>Stop</h2><p>stop reason: '
        f'<b class="stop-reason">{_e(result.get("stop_reason") or r.get("stop_reason"))}</b>'
        + (f" — {_e(result['stop_detail'])}" if result.get("stop_detail") else "")
        + "</p>"
        + "".join(f'<p class="warning">warning: {_e(w)}</p>' for w in result.get("warnings") or [])
        + "</section>"
    )
    analytics = r.get("analytics")
    if isinstance(analytics, dict) and analytics:
        rows = "".join(
            f"<tr><th>{_e(k.replace('_', ' '))}</th><td>{_e(_value(_rounded(v)))}</td></tr>"
            for k, v in analytics.items()
        )
        parts.append(
            f'<section class="analytics"><h2>Analytics</h2><table class="kv">{rows}</table></section>'
        )
    return _html(title, "".join(parts), "")


def _agents_html(
    agents: list[dict[str, Any]], result: dict[str, Any], cell: CellData, paradigms: _Paradigms
) -> str:
    usage = result.get("usage_by_agent") or {}
    rows = []
    for a in agents:
        u = usage.get(a.get("slot")) or {}
        tokens = int(u.get("prompt_tokens", 0)) + int(u.get("completion_tokens", 0))
        rows.append(
            f"<tr><td>{_e(a.get('slot'))}</td><td>{_e(a.get('persona_name'))}</td>"
            f"<td>{_e(a.get('persona_description'))}</td><td>{'yes' if a.get('voter') else 'no'}</td>"
            f"<td>{_e(u.get('calls', 0))}</td><td>{tokens}</td></tr>"
        )
    return (
        f'<section class="agents"><h2>Agents and paradigm <small>{_e(result.get("paradigm"))} · '
        f"{_e(result.get('protocol'))} · style {_e(result.get('style'))}</small></h2>"
        '<table class="agents"><thead><tr><th>slot</th><th>persona</th><th>description</th>'
        "<th>votes</th><th>calls</th><th>tokens</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
        + _paradigm_figure(cell, agents, paradigms)
        + "</section>"
    )


_STANCE_LABEL = {
    "agree": "agrees",
    "disagree": "disagrees",
    "none": "proposal",
    "unreadable": "unreadable",
}


def _who(slot: Any, names: dict[str, str]) -> str:
    name = names.get(str(slot))
    return f'{_e(slot)} <span class="persona">({_e(name)})</span>' if name else _e(slot)


def _transcript_html(result: dict[str, Any], names: dict[str, str]) -> str:
    messages = sorted(result.get("messages") or [], key=lambda m: m.get("index", 0))
    decisions = list(result.get("decisions") or [])
    interventions = list(result.get("interventions") or [])
    turns = sorted(
        {int(m.get("turn", 0)) for m in messages} | {int(d.get("turn", 0)) for d in decisions}
    )
    out = ['<section class="transcript"><h2>Transcript</h2>']
    for turn in turns:
        out.append(f'<section class="turn" data-turn="{turn}"><h3>Turn {turn}</h3>')
        for m in messages:
            if int(m.get("turn", 0)) == turn:
                out.append(_message_html(m, names))
        for iv in interventions:
            if int(iv.get("turn", 0)) == turn:
                out.append(
                    f'<div class="intervention">drift judge: {_e(iv.get("action"))} '
                    f"({_e(iv.get('previous_answer'))} → {_e(iv.get('new_answer'))})"
                    + (f"<pre>{_e(iv.get('guidance'))}</pre>" if iv.get("guidance") else "")
                    + "</div>"
                )
        for d in decisions:
            if int(d.get("turn", 0)) == turn:
                out.append(_decision_html(d, names))
        out.append("</section>")
    out.append("</section>")
    return "".join(out)


def _message_html(m: dict[str, Any], names: dict[str, str]) -> str:
    stance = str(m.get("stance") or "none")
    receivers = ", ".join(str(x) for x in m.get("receivers") or []) or "nobody"
    facts = [
        f'<span class="speaker">{_who(m.get("speaker"), names)}</span>',
        f'<span class="stance {_e(stance)}">{_e(_STANCE_LABEL.get(stance, stance))}</span>',
        f'<span class="answer">answer <b>{_e(m.get("answer") or "–")}</b></span>',
        f'<span class="receivers">to {_e(receivers)}</span>',
        f'<span class="step">step {_e(m.get("step"))}</span>',
    ]
    if m.get("confidence") is not None:
        facts.append(f'<span class="confidence">confidence {_e(m.get("confidence"))}</span>')
    if m.get("readable") is False:
        facts.append('<span class="stance unreadable">no solution read</span>')
    if m.get("finish_reason") == "length":
        facts.append('<span class="stance unreadable">cut at max_tokens</span>')
    if m.get("looped"):
        facts.append('<span class="stance unreadable">stopped looping</span>')
    raw = m.get("raw")
    full = (
        f"<details><summary>full reply</summary><pre>{_e(raw)}</pre></details>"
        if raw and raw != m.get("text")
        else ""
    )
    return (
        f'<article class="msg" data-speaker="{_e(m.get("speaker"))}" data-index="{_e(m.get("index"))}">'
        f'<header>{" ".join(facts)}</header><pre class="text">{_e(m.get("text"))}</pre>{full}</article>'
    )


def _rounded(v: Any) -> Any:
    if isinstance(v, float):
        return round(v, 3)
    if isinstance(v, list):
        return [_rounded(x) for x in v]
    if isinstance(v, dict):
        return {k: _rounded(x) for k, x in v.items()}
    return v


def _value(v: Any) -> str:
    return v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)


def _decision_html(d: dict[str, Any], names: dict[str, str]) -> str:
    decided = "decided" if d.get("decided") else "not decided"
    head = (
        f'<div class="vote {"decided" if d.get("decided") else "open"}"><p><b>vote</b> · '
        f"{_e(d.get('protocol'))} · <b>{decided}</b>"
        + (f" on {_e(d.get('answer'))}" if d.get("decided") and d.get("answer") else "")
        + (" · tie" if d.get("tie") else "")
        + (f" — {_e(d.get('reason'))}" if d.get("reason") else "")
        + "</p>"
    )
    tally = d.get("tally") or {}
    tally_html = ""
    if tally:
        ordered = sorted(tally.items(), key=lambda kv: -float(kv[1]))
        tally_html = (
            '<table class="tally"><thead><tr><th>candidate</th><th>tally</th></tr></thead><tbody>'
            + "".join(f"<tr><td>{_e(k)}</td><td>{_e(_num(v, 'g'))}</td></tr>" for k, v in ordered)
            + "</tbody></table>"
        )
    ballots = d.get("ballots") or []
    ballots_html = ""
    if ballots:
        rows = "".join(
            f"<tr><td>{_who(b.get('voter'), names)}</td><td>{_e(_value(b.get('value')))}</td>"
            f"<td>{'yes' if b.get('counted') else 'abstained' if b.get('abstained') else 'no'}</td>"
            f"<td>{_e(b.get('reasks', 0))}</td>"
            f"<td>{_e(b.get('problem') or '')}</td><td><pre>{_e(b.get('raw'))}</pre></td></tr>"
            for b in ballots
        )
        ballots_html = (
            '<table class="ballots"><thead><tr><th>voter</th><th>ballot</th><th>counted</th>'
            "<th>re-asked</th><th>problem</th><th>reply</th></tr></thead><tbody>"
            + rows
            + "</tbody></table>"
        )
    return head + tally_html + ballots_html + "</div>"


def _challenge_html(ch: dict[str, Any], names: dict[str, str]) -> str:
    rows = "".join(
        f"<tr><td>{_who(x.get('voter'), names)}</td><td>{'kept' if x.get('kept') else 'replaced'}</td>"
        f"<td>{_e(x.get('answer') or '')}</td><td><pre>{_e(x.get('raw'))}</pre></td></tr>"
        for x in ch.get("responses") or []
    )
    return (
        '<section class="challenge"><h2>Challenge</h2>'
        f"<p>{_e(ch.get('original_answer'))} → {_e(ch.get('final_answer'))}"
        + (" (overturned)" if ch.get("overturned") else "")
        + "</p><table><thead><tr><th>voter</th><th>verdict</th><th>alternative</th>"
        "<th>reply</th></tr></thead><tbody>" + rows + "</tbody></table></section>"
    )


# -- page shell ------------------------------------------------------------------------------


def _html(title: str, body: str, script: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head>\n<body>{body}"
        + (f"<script>{script}</script>" if script else "")
        + "</body></html>\n"
    )


_INDEX_JS = """
(function () {
  function key(td) {
    var v = td.getAttribute("data-sort");
    if (v === null) { v = td.textContent; }
    var n = Number(v);
    return (v.trim() !== "" && !isNaN(n)) ? n : v.toLowerCase();
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.tHead.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.addEventListener("click", function () {
        var asc = th.getAttribute("aria-sort") !== "ascending";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", asc ? "ascending" : "descending");
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[col]), y = key(b.cells[col]);
          var c = (typeof x === "number" && typeof y === "number") ? x - y
            : (typeof x === "number") ? -1 : (typeof y === "number") ? 1
            : String(x).localeCompare(String(y));
          return asc ? c : -c;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  document.querySelectorAll(".filters").forEach(function (bar) {
    var list = bar.parentNode.querySelector("ul.discussions");
    var buttons = bar.querySelectorAll("button");
    buttons.forEach(function (b) {
      b.addEventListener("click", function () {
        var f = b.getAttribute("data-filter");
        buttons.forEach(function (o) { o.setAttribute("aria-pressed", String(o === b)); });
        list.querySelectorAll("li[data-outcome]").forEach(function (li) {
          li.hidden = f !== "all" && li.getAttribute("data-outcome") !== f;
        });
      });
    });
  });
})();
"""

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
  max-width: 1100px; padding: 1rem 1.5rem 3rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { border-bottom: 1px solid #ddd; padding-bottom: .2rem; margin-top: 2rem; }
h3 small, h2 small { color: #666; font-weight: normal; font-size: .8em; }
.meta, .hint, .description { color: #555; } .hint { font-size: .9em; }
table { border-collapse: collapse; margin: .5rem 0; font-size: .92em; }
th, td { border: 1px solid #ddd; padding: .3rem .55rem; text-align: left; vertical-align: top; }
thead th { background: #f3f5f8; }
table.sortable th { cursor: pointer; user-select: none; white-space: nowrap; }
table.sortable th[aria-sort="ascending"]::after { content: " ▲"; }
table.sortable th[aria-sort="descending"]::after { content: " ▼"; }
.ci { color: #666; font-size: .85em; }
.scroll { overflow-x: auto; max-width: 100%; }
.plots { display: flex; flex-wrap: wrap; gap: 1rem; }
figure.plot { margin: 0; max-width: 100%; }
figure.plot img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption { color: #555; font-size: .9em; }
.filters button { margin-right: .3rem; border: 1px solid #bbb; background: #fff;
  border-radius: 4px; padding: .15rem .6rem; cursor: pointer; }
.filters button[aria-pressed="true"] { background: #1a5fb4; color: #fff; border-color: #1a5fb4; }
ul.discussions { list-style: none; padding-left: 0; }
ul.discussions li { padding: .2rem 0; border-bottom: 1px dotted #e3e3e3; }
ul.discussions .q { color: #333; } ul.discussions .facts { color: #777; font-size: .88em; }
.badge { border-radius: 3px; padding: 0 .35rem; font-size: .8em; color: #fff; }
.badge.correct { background: #2e7d32; } .badge.wrong { background: #c62828; }
.badge.undecided { background: #8d6e63; }
pre { white-space: pre-wrap; word-break: break-word; margin: .3rem 0; font-family: ui-monospace, monospace; }
pre.spec { background: #f7f7f7; padding: .7rem; border: 1px solid #eee; }
pre.question { font-family: inherit; font-size: 1.05em; font-weight: 600; }
.msg { border: 1px solid #dde3ea; border-radius: 6px; margin: .5rem 0; padding: .4rem .7rem; }
.msg header { font-size: .9em; display: flex; flex-wrap: wrap; gap: .7rem; color: #444; }
.msg .speaker { font-weight: 600; } .persona { font-weight: normal; color: #666; }
.stance { border-radius: 3px; padding: 0 .3rem; background: #eee; }
.stance.agree { background: #d7f0d8; } .stance.disagree { background: #f8d7d7; }
.stance.unreadable { background: #fff1c2; }
.vote { background: #f6f8fb; border-left: 4px solid #9aa9bd; padding: .3rem .7rem; margin: .5rem 0; }
.vote.decided { border-left-color: #2e7d32; }
.vote p { margin: .2rem 0; } .vote table pre { margin: 0; }
.intervention { background: #fff8e1; padding: .3rem .7rem; margin: .5rem 0; }
table.kv th { background: #f3f5f8; width: 9rem; }
figure.paradigm { margin: .5rem 0; }
figure.paradigm svg { width: 560px; max-width: 100%; height: auto; }
nav { margin: .5rem 0; }
"""

_FRAGMENT_CSS = """
.madebate-report table { border-collapse: collapse; margin: .5rem 0; }
.madebate-report th, .madebate-report td { border: 1px solid #ccc; padding: .25rem .5rem; text-align: left; }
.madebate-report .ci { color: #666; font-size: .85em; }
.madebate-report .scroll { overflow-x: auto; max-width: 100%; }
.madebate-report .plots { display: flex; flex-wrap: wrap; gap: 1rem; }
.madebate-report figure { margin: 0; } .madebate-report img { max-width: 100%; }
"""
