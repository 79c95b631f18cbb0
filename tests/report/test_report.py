"""The static HTML report (`madebate report`, `Run.report()`), its plots and transcript viewer
pages, and the paradigm SVG. No browser here: tests/report/test_report_browser.py drives one."""

from __future__ import annotations

import base64
import json
import re
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import madebate as mb
from madebate.cli import app
from madebate.models.providers.scripted import ScriptedModel, ScriptedRequest, default_script
from madebate.report._report import write_report
from madebate.report._svg import paradigm_svg

GK = Path(__file__).parents[2] / "examples" / "data" / "general_knowledge.jsonl"
CELLS_2X2 = [
    "paradigm=memory,protocol=majority_consensus",
    "paradigm=memory,protocol=simple_voting",
    "paradigm=debate,protocol=majority_consensus",
    "paradigm=debate,protocol=simple_voting",
]
PLOTS = [
    "accuracy",
    "cost_frontier",
    "turns",
    "agreement",
    "changes",
    "answer_diversity",
    "participation",
    "stop_reasons",
]
HOSTILE = "<script>alert(1)</script> {{ 7*7 }}"
HOSTILE_QUESTION = 'Which tag is <img src=x onerror="alert(3)"> here?'
cli = CliRunner()


# -- the run every test reads ----------------------------------------------------------------


def _script(request: ScriptedRequest) -> str:
    """A panel that splits: A1 proposes A, A2 B (with a hostile reply), A3 B, except on two
    questions where A3 proposes C, so nobody has a majority and the run has undecided ones."""
    if request.role in ("persona", "confidence") or request.config.json_schema is not None:
        return default_script(request)  # ballots: each voter backs its own candidate
    digit = int("".join(ch for ch in request.agent or "" if ch.isdigit()) or 1)
    letter = "ABCD"[(digit - 1) % 4]
    split = any(w in request.prompt.lower() for w in ("largest", "gold"))
    if digit == 3 and not split:
        letter = "B"
    if digit == 2:
        return f"[DISAGREE] I trust {HOSTILE}.\nFinal Solution: {letter}"
    return f"[DISAGREE] I weighed it.\nFinal Solution: {letter}"


def build_run(folder: Path) -> Path:
    """A 2 paradigms x 2 protocols run on a scripted panel: 7 examples (one with a hostile
    question), some correct, some wrong, some undecided, simple votes with ballots."""
    rows = [json.loads(line) for line in GK.read_text().splitlines() if line.strip()][:6]
    rows.append(
        {"id": "hostile", "question": HOSTILE_QUESTION, "options": ["<b>x</b>", "y"], "answer": "B"}
    )
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec: dict[str, Any] = {
        "name": "report-test",
        "description": "2x2 <b>sweep</b> <script>alert(2)</script>",
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "team": {"agents": 3},
        "discussion": {"max_turns": 2},
        "concurrency": 4,
        "cache": False,
        "sweep": {
            "paradigm": ["memory", "debate"],
            "protocol": ["majority_consensus", "simple_voting"],
        },
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(
            mb.models.providers._items, "scripted", lambda name, options: ScriptedModel(_script)
        )
        result = mb.run_experiment(spec, out=folder / "run")
    assert result.cells == CELLS_2X2
    return result.run_dir


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_run(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(run_dir: Path) -> Path:
    return write_report(run_dir).path


class Tags(HTMLParser):
    """Start tags with their attributes, and text per open tag path, for simple assertions."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.stack: list[tuple[str, dict[str, str]]] = []
        self.texts: list[tuple[list[tuple[str, dict[str, str]]], str]] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags.append((tag, a))
        if tag not in ("img", "meta", "br", "input", "link", "path", "circle", "rect"):
            self.stack.append((tag, a))

    def handle_endtag(self, tag: str) -> None:
        for i in range(len(self.stack) - 1, -1, -1):
            if self.stack[i][0] == tag:
                del self.stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.texts.append((list(self.stack), data))

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in attrs.items())
        ]

    def text_in(self, tag: str, cls: str | None = None) -> list[str]:
        """Text found inside elements `tag` (with class `cls`)."""
        out = []
        for stack, data in self.texts:
            if any(
                t == tag and (cls is None or cls in a.get("class", "").split()) for t, a in stack
            ):
                out.append(data)
        return out


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "records.jsonl").read_text().splitlines()]


def pages(report: Path) -> Iterator[Path]:
    yield report
    yield from sorted((report.parent / "discussions").glob("*.html"))


# -- the index page --------------------------------------------------------------------------


def test_report_is_written_beside_the_run_with_one_viewer_page_per_discussion(
    run_dir: Path, report: Path
):
    assert report == run_dir / "report" / "index.html" and report.is_file()
    viewers = list((report.parent / "discussions").glob("*.html"))
    assert len(viewers) == len(records(run_dir)) == 7 * 4


def test_cell_table_has_the_headers_and_one_row_per_cell(run_dir: Path, report: Path):
    html = report.read_text()
    tags = Tags(html)
    headers = tags.text_in("th")
    for h in [
        "cell",
        "n",
        "accuracy (95% CI)",
        "decision rate",
        "mean turns",
        "calls / example",
        "tokens / example",
        "discussion s (summed)",
        "unreadable replies",
        "cut at max_tokens",
        "option positions",
    ]:
        assert h in headers
    assert "wall s" not in headers  # summed discussion time is named as such
    assert "Intervals are over examples" in html or "intervals are over examples" in html
    assert "run wall time" in html and "discussion time summed" in html
    rows = tags.find("tr")
    assert [r["data-cell"] for r in rows if "data-cell" in r] == CELLS_2X2
    summary = mb.load_run(run_dir).summary.cells
    for cell in CELLS_2X2:
        m = summary[cell].metrics["accuracy"]
        ci = f"{m.mean:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}]"
        assert ci in " ".join(html.replace("</span>", "").replace('<span class="ci">', "").split())
    assert 'data-sort="' in html  # sort keys on the cells


def test_sort_script_is_inline(report: Path):
    html = report.read_text()
    scripts = re.findall(r"<script>(.*?)</script>", html, re.S)
    assert len(scripts) == 1
    assert "table.sortable" in scripts[0] and "addEventListener" in scripts[0]
    assert "aria-sort" in scripts[0] and "data-filter" in scripts[0]
    assert '<table class="sortable cells">' in html


def test_every_plot_is_inline_and_a_png_file_beside_the_report(report: Path):
    tags = Tags(report.read_text())
    for name in PLOTS:
        figures = tags.find("figure", **{"data-plot": name})
        assert len(figures) == 1, name
        png = (report.parent / f"{name}.png").read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")
        inline = [
            a["src"]
            for a in tags.find("img")
            if a["src"] == "data:image/png;base64," + base64.b64encode(png).decode()
        ]
        assert len(inline) == 1, f"{name}.png is not the inline image"


def test_dynamics_show_persona_diversity_with_its_measure(run_dir: Path, report: Path):
    html = report.read_text()
    summary = json.loads((run_dir / "summary.json").read_text())
    methods = {c["analytics"]["persona_diversity_method"] for c in summary["cells"].values()}
    assert len(methods) == 1 and None not in methods
    assert f"persona diversity: {methods.pop()}" in html
    assert '<th scope="col" title="click to sort">mean persona diversity</th>' in html


def test_discussion_lists_link_to_viewer_pages_and_filter_by_outcome(run_dir: Path, report: Path):
    tags = Tags(report.read_text())
    links = [a["href"] for a in tags.find("a") if a.get("href", "").startswith("discussions/")]
    assert len(links) == len(set(links)) == len(records(run_dir))
    for link in links:
        assert (report.parent / link).is_file(), link
    outcomes = [a["data-outcome"] for a in tags.find("li") if "data-outcome" in a]
    assert {"correct", "wrong", "undecided"} <= set(outcomes)
    expected = {
        "correct": sum(r["decided"] and r["scores"]["accuracy"] == 1.0 for r in records(run_dir)),
        "undecided": sum(not r["decided"] for r in records(run_dir)),
    }
    for outcome, n in expected.items():
        assert outcomes.count(outcome) == n
    for f in ("all", "correct", "wrong", "undecided"):
        assert len(tags.find("button", **{"data-filter": f})) == 4  # one bar per cell


def test_spec_is_shown(report: Path):
    html = report.read_text()
    assert "name: report-test" in html and "simple_voting" in html


# -- the viewer pages ------------------------------------------------------------------------


def viewer_for(report: Path, run_dir: Path, cell: str, example: str) -> tuple[str, dict[str, Any]]:
    tags = Tags(report.read_text())
    section = next(a for a in tags.find("section") if a.get("data-cell") == cell)
    number = section["id"].removeprefix("cell-")
    page = report.parent / "discussions" / f"c{number}-{example}-r0.html"
    record = next(r for r in records(run_dir) if r["cell"] == cell and r["example_id"] == example)
    return page.read_text(), record


def test_viewer_shows_messages_receivers_ballots_tally_and_stop_reason(run_dir: Path, report: Path):
    html, record = viewer_for(report, run_dir, "paradigm=memory,protocol=simple_voting", "gk-01")
    result = record["result"]
    tags = Tags(html)
    messages = tags.find("article")
    assert len(messages) == len(result["messages"]) > 0
    assert [m["data-speaker"] for m in messages] == [m["speaker"] for m in result["messages"]]
    receivers = tags.text_in("span", "receivers")
    assert receivers == [f"to {', '.join(m['receivers'])}" for m in result["messages"]]
    for agent in result["agents"]:
        assert agent["persona_name"] in html
    ballots = [d for d in result["decisions"] if d["ballots"]]
    assert ballots, "the scripted split should have gone to a ballot"
    assert len(tags.find("table", **{"class": "ballots"})) == len(ballots)
    assert len(tags.find("table", **{"class": "tally"})) == sum(
        bool(d["tally"]) for d in result["decisions"]
    )
    assert '{"choice": "1"}' in html.replace("&quot;", '"')  # a ballot's reply
    assert tags.text_in("b", "stop-reason") == [record["stop_reason"]]
    assert result["stop_detail"] in html
    assert "Which planet is the largest in the Solar System?" in html
    assert 'href="../index.html"' in html


def test_viewer_draws_the_paradigm_with_one_node_per_slot(run_dir: Path, report: Path):
    for cell in (
        "paradigm=memory,protocol=simple_voting",
        "paradigm=debate,protocol=majority_consensus",
    ):
        html, record = viewer_for(report, run_dir, cell, "gk-02")
        svgs = re.findall(r"<svg\b.*?</svg>", html, re.S)
        assert len(svgs) == 1
        root = ET.fromstring(svgs[0])  # well-formed XML too
        nodes = [g for g in root.iter("g") if g.get("class") == "node"]
        slots = [a["slot"] for a in record["result"]["agents"]]
        assert sorted(g.get("data-slot") for g in nodes) == sorted(slots)
        edges = [g for g in root.iter("g") if g.get("class") == "edge"]
        assert edges and all(g.get("data-steps") for g in edges)


def test_no_network_asset_is_referenced(report: Path):
    for page in pages(report):
        html = page.read_text()
        assert "http://" not in html and "https://" not in html, page
        assert not re.search(r"""(src|href)\s*=\s*["']?\s*//""", html), page
        assert "<link" not in html and "@import" not in html, page
        assert "default-src 'none'" in html  # the CSP forbids fetching anything


def test_hostile_text_is_escaped_never_a_raw_tag(run_dir: Path, report: Path):
    seen_reply = False
    for page in pages(report):
        html = page.read_text()
        assert "<script>alert" not in html, page
        assert "<img src=x" not in html and "<b>x</b>" not in html, page
        assert "<b>sweep</b>" not in html, page
        expected_scripts = 1 if page == report else 0
        assert len(re.findall(r"<script", html)) == expected_scripts, page
        if "I trust" in html:
            seen_reply = True
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
            assert "{{ 7*7 }}" in html  # never rendered as a template
            assert ">49<" not in html
    assert seen_reply
    index = report.read_text()
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in index  # the spec's description
    assert "&lt;b&gt;sweep&lt;/b&gt;" in index
    html, _ = viewer_for(report, run_dir, "paradigm=debate,protocol=simple_voting", "hostile")
    assert "&lt;img src=x onerror=&quot;alert(3)&quot;&gt;" in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html


# -- graceful degradation --------------------------------------------------------------------


def test_report_without_analytics_skips_those_plots_and_shows_failed_records(
    run_dir: Path, tmp_path: Path
):
    copy = tmp_path / "old-run"
    # As written before analytics, schema_version and fingerprints (fingerprints.json) existed.
    ignore = shutil.ignore_patterns("report", "fingerprints.json")
    shutil.copytree(run_dir, copy, ignore=ignore)
    rows = records(copy)
    for r in rows:  # as written before analytics existed (and before schema_version)
        r.pop("analytics", None)
        r.pop("schema_version", None)
        r.pop("cell_fingerprint", None)
        r.pop("example_fingerprint", None)
    failed = {
        **rows[0],
        "example_id": "broken",
        "answer": None,
        "decided": False,
        "stop_reason": "error",
        "turns": 0,
        "scores": {"accuracy": 0.0},
        "error": {
            "type": "ModelCallError",
            "message": "backend <down>",
            "turn": 0,
            "step": 0,
            "calls_made": 0,
        },
        "result": None,
    }
    (copy / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in [*rows, failed]))
    view = mb.load_run(copy).report(tmp_path / "out")
    html = view.path.read_text()
    assert 'data-plot="accuracy"' in html and 'data-plot="participation"' in html
    assert 'data-plot="agreement"' not in html and not (view.path.parent / "agreement.png").exists()
    assert 'data-plot="changes"' not in html
    assert 'data-plot="answer_diversity"' not in html
    broken = next((view.path.parent / "discussions").glob("*broken*.html")).read_text()
    assert "backend &lt;down&gt;" in broken and "ModelCallError" in broken


# -- the notebook view and the command line --------------------------------------------------


def test_run_report_repr_html_shows_the_table_and_plots(run_dir: Path, tmp_path: Path):
    view = mb.load_run(run_dir).report(out=tmp_path / "nb")
    assert view.path == tmp_path / "nb" / "index.html" and view.path.is_file()
    fragment = view._repr_html_()
    assert '<table class="sortable cells">' in fragment
    for cell in CELLS_2X2:
        assert f'data-cell="{cell}"' in fragment
    assert fragment.count('<img src="data:image/png;base64,') == len(PLOTS)
    assert "<html" not in fragment and "<script" not in fragment


def test_cli_report_prints_the_path_and_opens_it(
    run_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url, *a, **k: opened.append(url) or True)
    out = cli.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r")])
    assert out.exit_code == 0, out.output
    assert out.stdout.strip() == str(tmp_path / "r" / "index.html")
    assert (tmp_path / "r" / "index.html").is_file() and not opened
    out = cli.invoke(app, ["report", str(run_dir), "--out", str(tmp_path / "r"), "--open"])
    assert out.exit_code == 0, out.output
    assert opened == [(tmp_path / "r" / "index.html").resolve().as_uri()]


def test_cli_report_help_and_bad_dir(tmp_path: Path):
    out = cli.invoke(app, ["report", "--help"])
    assert out.exit_code == 0
    assert "--open" in out.output and "--out" in out.output
    out = cli.invoke(app, ["report", str(tmp_path / "nope")])
    assert out.exit_code == 2 and "not a run directory" in " ".join(out.output.split())


@pytest.mark.parametrize(
    ("args", "slots"), [([], ["A1", "A2", "A3"]), (["--drafter"], ["D", "A1", "A2", "A3"])]
)
def test_paradigms_show_writes_a_valid_svg(tmp_path: Path, args: list[str], slots: list[str]):
    path = tmp_path / "debate.svg"
    out = cli.invoke(app, ["paradigms", "show", "debate", *args, "--svg", str(path)])
    assert out.exit_code == 0, out.output
    assert "A1 -> " in out.output  # the text description is still printed
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert root.tag == f"{ns}svg" and root.get("viewBox")
    nodes = [g.get("data-slot") for g in root.iter(f"{ns}g") if g.get("class") == "node"]
    assert nodes == slots


def test_svg_has_an_arrow_per_delivery_edge_labelled_by_step():
    compiled = mb.engine.compile_paradigm(mb.load_paradigm("relay"), n_agents=5, with_drafter=False)
    root = ET.fromstring(paradigm_svg(compiled, personas={"A1": "<Lead & co>"}, standalone=True))
    ns = "{http://www.w3.org/2000/svg}"
    edges = {
        (g.get("data-from"), g.get("data-to")): g.get("data-steps")
        for g in root.iter(f"{ns}g")
        if g.get("class") == "edge"
    }
    assert set(edges) == {(u, v) for u, v, _ in compiled.graph.edges(keys=True)}
    for (u, v), label in edges.items():
        steps = {d["step"] + 1 for a, b, d in compiled.graph.edges(data=True) if (a, b) == (u, v)}
        assert _expand(label) == sorted(steps), (u, v)
    texts = [t.text for t in root.iter(f"{ns}text")]
    assert "<Lead & co>" in texts  # escaped in the file, read back as text


def _expand(label: str) -> list[int]:
    """'1-3,5' -> [1, 2, 3, 5]."""
    out: list[int] = []
    for part in label.split(","):
        lo, _, hi = part.partition("-")
        out += range(int(lo), int(hi or lo) + 1)
    return out


# -- hostile content (issue 7): every reply, dataset text and spec value is shown as text -----

PWN_REPLIES = {
    "A1": "<script>window.__pwned=1</script> I pick the first.",
    "A2": '<img src=x onerror="window.__pwned=2"> It is the second.',
    "A3": "</script><script>window.__pwned=3</script> <b>bold</b> the second.",
}
PWN_QUESTION = '<script>window.__pwned=4</script> Which? <img src=x onerror="window.__pwned=5">'
PWN_OPTIONS = ["</script><script>window.__pwned=6</script>", "<b>bold</b>"]
PWN_ID = '"><script>window.__pwned=7</script>'
PWN_NAME = "</title><script>window.__pwned=8</script>"
PWN_PERSONA = "<svg onload=window.__pwned=9>"
PWN_BALLOT = "</script><script>window.__pwned=10</script>"
PWN_ERROR = "<script>window.__pwned=11</script> backend down"
# An inline paradigm's name: part of the cell ids and labels, the SVG, and the plots' labels
# (where '$..$' must not be read as mathtext).
PWN_PARADIGM = "<img src=x onerror=window.__pwned=12>$\\bad$"
PWN_TEXTS = [*PWN_REPLIES.values(), PWN_QUESTION, *PWN_OPTIONS, PWN_ID, PWN_BALLOT, PWN_ERROR]
REPORT_TAGS = {
    # the page shell, the tables, the lists and the transcript viewer
    *("html", "head", "meta", "title", "style", "body", "header", "nav", "section", "h1", "h2"),
    *("h3", "p", "a", "b", "small", "code", "pre", "div", "span", "ul", "ol", "li", "table"),
    *("thead", "tbody", "tr", "th", "td", "figure", "figcaption", "img", "button", "article"),
    *("details", "summary", "script"),
    # the paradigm drawing
    *("svg", "defs", "marker", "path", "rect", "g", "circle", "text"),
}


def _pwn_script(request: ScriptedRequest) -> str:
    """Expert personas, replies, ballots and one failing example, all carrying markup."""
    if "Fails:" in request.prompt:
        raise mb.ModelCallError(PWN_ERROR, retryable=False)
    if request.role == "persona":
        return json.dumps(
            {"name": f"{request.agent} {PWN_PERSONA}", "description": PWN_REPLIES["A2"]}
        )
    if request.config.json_schema is not None:
        ballot = json.loads(default_script(request))
        return json.dumps({**ballot, "why": PWN_BALLOT})
    agent = request.agent or "A1"
    if agent == "A1":
        return f"{PWN_REPLIES['A1']}\nFinal Solution: A"
    return f"[DISAGREE] {PWN_REPLIES[agent]}\nFinal Solution: B"


def build_hostile_run(folder: Path) -> Path:
    """Two cells (consensus, simple vote) over two examples: one whose id, question, options,
    replies, personas and ballots all carry markup, and one whose model calls fail with a
    message that does."""
    from madebate.models._models import providers

    rows = [
        {"id": PWN_ID, "question": PWN_QUESTION, "options": PWN_OPTIONS, "answer": "B"},
        {"id": "pwn-error", "question": f"Fails: {PWN_QUESTION}", "options": ["x", "y"]},
    ]
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "data.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    spec: dict[str, Any] = {
        "name": PWN_NAME,
        "description": '<img src=x onerror="window.__pwned=13">',
        "dataset": {"path": str(data)},
        "task": {"kind": "multiple_choice"},
        "model": "scripted",
        "team": {"agents": 3, "personas": "expert"},
        "discussion": {"max_turns": 1},
        "cache": False,
        "sweep": {
            "paradigm": [
                {
                    "name": PWN_PARADIGM,
                    "schedule": [{"speakers": "panel", "mode": "sequence", "deliver_to": "all"}],
                    "decision_points": "message",
                }
            ],
            "protocol": ["majority_consensus", "simple_voting"],
        },
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(providers._items, "scripted", lambda name, options: ScriptedModel(_pwn_script))
        result = mb.run_experiment(spec, out=folder / "run")
    assert len(result.cells) == 2
    return result.run_dir


@pytest.fixture(scope="module")
def hostile_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_report(build_hostile_run(tmp_path_factory.mktemp("hostile"))).path


def test_hostile_run_has_the_markup_where_the_report_reads_it(hostile_report: Path):
    """The run itself holds the payloads, so the checks below are not vacuous."""
    run = mb.load_run(hostile_report.parent.parent)
    assert {r.example_id for r in run.records} == {PWN_ID, "pwn-error"}
    ok = [r.result for r in run.records if r.example_id == PWN_ID and r.error is None]
    assert len(ok) == 2
    raws = {m.raw for r in ok if r for m in r.messages}
    assert all(any(reply in raw for raw in raws) for reply in PWN_REPLIES.values())
    ballots = [b for r in ok if r for d in r.decisions for b in d.ballots]
    assert ballots and all(PWN_BALLOT in b.raw for b in ballots)
    failed = next(r for r in run.records if r.example_id == "pwn-error")
    assert failed.error is not None and PWN_ERROR in failed.error.message


def test_hostile_content_is_text_and_no_tag_comes_from_data(hostile_report: Path):
    texts: list[str] = []
    for page in pages(hostile_report):
        html = page.read_text(encoding="utf-8")
        tags = Tags(html)
        names = {t for t, _ in tags.tags}
        assert names <= REPORT_TAGS, (page.name, names - REPORT_TAGS)
        scripts = [a for t, a in tags.tags if t == "script"]
        assert len(scripts) == (1 if page == hostile_report else 0), page.name
        assert not any("__pwned" in code for code in tags.text_in("script")), page.name
        for tag, attrs in tags.tags:
            assert not any(k.startswith("on") for k in attrs), (page.name, tag, attrs)
            for key in ("src", "href"):
                assert not attrs.get(key, "").lower().startswith("javascript:"), page.name
            if tag == "img":
                assert attrs["src"].startswith("data:image/png;base64,"), page.name
        for raw in (
            "<script>window",
            "<img src=x",
            "<b>bold</b>",
            "<svg onload",
            "</title><script",
        ):
            assert raw not in html, (page.name, raw)
        texts += [data for _, data in tags.texts]
    # Every payload is on some page, read back from the HTML as the very text it was.
    shown = "\n".join(texts)
    for payload in [*PWN_TEXTS, PWN_PERSONA, PWN_PARADIGM]:
        assert payload in shown, payload
    index = Tags(hostile_report.read_text(encoding="utf-8"))
    assert index.text_in("title") == [f"{PWN_NAME}: madebate report"]
    assert '<img src=x onerror="window.__pwned=13">' in index.text_in("p", "description")


def test_hostile_viewer_shows_replies_ballots_personas_and_the_error_as_text(
    hostile_report: Path,
):
    viewers = {p: Tags(p.read_text(encoding="utf-8")) for p in pages(hostile_report)}
    voted = [t for t in viewers.values() if t.find("table", **{"class": "ballots"})]
    assert voted
    for tags in voted:
        replies = tags.text_in("pre", "text")
        assert [r.split("\n")[0] for r in replies] == [
            PWN_REPLIES["A1"],
            f"[DISAGREE] {PWN_REPLIES['A2']}",
            f"[DISAGREE] {PWN_REPLIES['A3']}",
        ]
        assert any(PWN_BALLOT in raw for raw in tags.text_in("table", "ballots"))
        assert tags.text_in("pre", "question") == [PWN_QUESTION]
        assert any(f"A2 {PWN_PERSONA}" == t for t in tags.text_in("text", "persona"))
    errors = [t for t in viewers.values() if t.find("section", **{"class": "error"})]
    assert len(errors) == 2  # the failing example, in both cells
    for tags in errors:
        assert any(PWN_ERROR in t for t in tags.text_in("section", "error"))


def test_one_control_character_rule_for_the_report_and_the_terminal():
    """The report and the CLI show control characters by the same rule: C0 controls and DEL as
    their control pictures, C1 controls and bidi overrides (U+202E) escaped; tab, line feed
    and a CRLF line end kept."""
    from madebate._text import show_controls
    from madebate.cli import _plain
    from madebate.report._svg import markup_text

    text = "nul\x00 esc\x1b[31m rlo\u202eevil lri\u2066x c1\x85 cr\rret crlf\r\nok\ttab\x7f\n"
    shown = show_controls(text)
    assert shown == (
        "nul\u2400 esc\u241b[31m rlo\\u202eevil lri\\u2066x c1\\x85 cr\u240dret crlf\r\nok\ttab"
        "\u2421\n"
    )
    assert _plain(text).plain == shown.replace("\r\n", "\n")  # rich ends a line with \n alone
    assert markup_text(text) == shown  # nothing to escape for HTML here
    assert markup_text('<b a="1">\u202e') == "&lt;b a=&quot;1&quot;&gt;\\u202e"
