"""The report in a real browser (headless Debian chromium through selenium), from file://:
sorting the cell table, filtering discussions, opening a transcript, and a hostile reply shown
as text. Skipped when chromium, chromedriver or selenium is missing, except under CI (the CI
variable set), where that is a failure: CI installs them (.ci/run)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_report import (
    CELLS_2X2,
    HOSTILE,
    PWN_BALLOT,
    PWN_ERROR,
    PWN_NAME,
    PWN_PERSONA,
    PWN_QUESTION,
    PWN_REPLIES,
    build_hostile_run,
    build_run,
)

import madebate as mb
from madebate.report._report import write_report

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # chromium start-up: outside the inner loop

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    absent = [p for p in (CHROMIUM, CHROMEDRIVER) if not os.access(p, os.X_OK)]
    if absent:
        return (
            f"{' and '.join(absent)} not found "
            "(apt-get update && apt-get install -y chromium chromium-driver)"
        )
    return None


@pytest.fixture
def driver(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    reason = _missing()
    if reason is not None:
        if "CI" in os.environ:
            pytest.fail(f"the browser test must run under CI, but {reason}")
        pytest.skip(reason)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    monkeypatch.setenv("SE_AVOID_STATS", "true")  # selenium-manager is never needed, but quiet
    options = Options()
    options.binary_location = CHROMIUM
    for arg in [*CHROME_ARGS, f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1280,1000"]:
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    drv = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    drv.set_page_load_timeout(30)
    try:
        yield drv
    finally:
        drv.quit()


def _full_screenshot(drv: Any, path: Path, copy_to: str) -> None:
    drv.execute_script("window.scrollTo(0, 0)")
    height = drv.execute_script("return document.documentElement.scrollHeight")
    drv.set_window_size(1280, min(max(int(height) + 120, 800), 6000))
    assert drv.save_screenshot(str(path)), path
    drv.set_window_size(1280, 1000)
    shutil.copyfile(path, copy_to)


def _console_errors(drv: Any) -> list[str]:
    """SEVERE console entries: a script error, or something the page's CSP blocked."""
    return [e["message"] for e in drv.get_log("browser") if e.get("level") == "SEVERE"]


def _cell_order(drv: Any) -> list[str]:
    from selenium.webdriver.common.by import By

    rows = drv.find_elements(By.CSS_SELECTOR, "table.cells tbody tr")
    return [r.get_attribute("data-cell") for r in rows]


def test_report_in_a_browser(driver: Any, tmp_path: Path) -> None:
    from selenium.common.exceptions import NoAlertPresentException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    run_dir = build_run(tmp_path / "data")
    index = write_report(run_dir).path
    driver.get(index.resolve().as_uri())
    assert "report-test" in driver.title
    assert _cell_order(driver) == CELLS_2X2

    # Sort by tokens per example: ascending, then descending on a second click.
    tokens = {c: s.tokens_per_example for c, s in mb.load_run(run_dir).summary.cells.items()}
    ascending = sorted(CELLS_2X2, key=lambda c: tokens[c])
    assert ascending != CELLS_2X2, "the test needs a column whose order differs"
    header = next(
        th
        for th in driver.find_elements(By.CSS_SELECTOR, "table.cells thead th")
        if th.text.strip().startswith("tokens / example")
    )
    header.click()
    assert _cell_order(driver) == ascending
    assert header.get_attribute("aria-sort") == "ascending"
    header.click()
    assert _cell_order(driver) == ascending[::-1]

    # Filter a cell's discussions to the undecided ones, then back to all.
    section = driver.find_element(
        By.CSS_SELECTOR, 'section[data-cell="paradigm=memory,protocol=simple_voting"]'
    )
    items = section.find_elements(By.CSS_SELECTOR, "ul.discussions li")
    section.find_element(By.CSS_SELECTOR, 'button[data-filter="undecided"]').click()
    shown = [li for li in items if li.is_displayed()]
    assert shown and len(shown) < len(items)
    assert all(li.get_attribute("data-outcome") == "undecided" for li in shown)
    section.find_element(By.CSS_SELECTOR, 'button[data-filter="all"]').click()
    assert all(li.is_displayed() for li in items)

    plots = driver.find_elements(By.CSS_SELECTOR, "figure.plot img")
    assert len(plots) == 8  # with answer diversity per turn
    assert all(driver.execute_script("return arguments[0].naturalWidth", img) > 0 for img in plots)
    assert _console_errors(driver) == []
    _full_screenshot(driver, tmp_path / "report.png", "/tmp/report_screenshot.png")

    # Into a discussion that went to a vote: messages, ballots, tally, stop reason.
    link = section.find_element(By.CSS_SELECTOR, 'a[href*="-gk-01-"]')
    link.click()
    WebDriverWait(driver, 10).until(ec.url_contains("/discussions/"))
    messages = driver.find_elements(By.CSS_SELECTOR, "article.msg")
    assert len(messages) == 6 and all(m.is_displayed() for m in messages)
    assert "to A2, A3" in messages[0].text
    votes = driver.find_elements(By.CSS_SELECTOR, "div.vote")
    assert votes and any(v.find_elements(By.CSS_SELECTOR, "table.ballots") for v in votes)
    ballots = driver.find_elements(By.CSS_SELECTOR, "table.ballots tbody tr")
    assert len(ballots) >= 3 and "A1" in ballots[0].text
    assert driver.find_elements(By.CSS_SELECTOR, "table.tally tbody tr")
    assert driver.find_element(By.CSS_SELECTOR, ".stop-reason").text == "max_turns_tie"
    nodes = driver.find_elements(By.CSS_SELECTOR, "svg.paradigm g.node")
    assert sorted(n.get_attribute("data-slot") for n in nodes) == ["A1", "A2", "A3"]

    # The hostile reply is shown as text: no script element, no alert.
    hostile = driver.find_element(By.CSS_SELECTOR, 'article.msg[data-speaker="A2"] pre.text')
    assert HOSTILE in hostile.text
    assert driver.find_elements(By.TAG_NAME, "script") == []
    with pytest.raises(NoAlertPresentException):
        _ = driver.switch_to.alert.text
    assert _console_errors(driver) == []
    _full_screenshot(driver, tmp_path / "viewer.png", "/tmp/viewer_screenshot.png")

    driver.find_element(By.LINK_TEXT, "← report").click()
    WebDriverWait(driver, 10).until(ec.url_to_be(index.resolve().as_uri()))
    assert (tmp_path / "report.png").stat().st_size > 10_000
    assert (tmp_path / "viewer.png").stat().st_size > 10_000


def _pwned(drv: Any) -> str:
    """What any injected script would have set; 'undefined' when none ran."""
    return str(drv.execute_script("return typeof window.__pwned"))


def _no_alert(drv: Any) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    with pytest.raises(NoAlertPresentException):
        _ = drv.switch_to.alert.text


def test_hostile_replies_are_visible_text_and_never_run(driver: Any, tmp_path: Path) -> None:
    """Replies, the question, options, personas, ballots, the spec and an error message full of
    <script>, onerror and </script>: every page shows them as text, and no script of theirs runs
    (the page's CSP allows inline scripts, so it is the escaping that stops them)."""
    from selenium.webdriver.common.by import By

    run_dir = build_hostile_run(tmp_path / "data")
    index = write_report(run_dir).path
    driver.get(index.resolve().as_uri())
    assert PWN_NAME in driver.title
    assert _pwned(driver) == "undefined"
    assert len(driver.find_elements(By.TAG_NAME, "script")) == 1  # the page's own
    assert driver.find_elements(By.CSS_SELECTOR, "[onerror], [onload], [onclick]") == []
    assert _console_errors(driver) == []

    viewers = sorted((index.parent / "discussions").glob("*.html"))
    assert len(viewers) == 4
    voted = errored = 0
    for page in viewers:
        driver.get(page.resolve().as_uri())
        assert _pwned(driver) == "undefined", page.name
        assert driver.find_elements(By.TAG_NAME, "script") == [], page.name
        assert driver.find_elements(By.CSS_SELECTOR, "[onerror], [onload], [onclick]") == []
        _no_alert(driver)
        assert _console_errors(driver) == [], page.name  # an injected <img src=x> would log
        texts = [e.text for e in driver.find_elements(By.CSS_SELECTOR, "article.msg pre.text")]
        if texts:
            assert all(
                e.is_displayed() for e in driver.find_elements(By.CSS_SELECTOR, "article.msg")
            )
            for reply in PWN_REPLIES.values():
                assert any(reply in t for t in texts), reply
            question = driver.find_element(By.CSS_SELECTOR, "pre.question")
            assert question.is_displayed() and question.text == PWN_QUESTION
            personas = driver.find_elements(By.CSS_SELECTOR, "table.agents td")
            assert any(td.text == f"A1 {PWN_PERSONA}" for td in personas)
        ballots = driver.find_elements(By.CSS_SELECTOR, "table.ballots pre")
        if ballots:
            voted += 1
            assert all(PWN_BALLOT in b.text for b in ballots)
        error = driver.find_elements(By.CSS_SELECTOR, "section.error pre")
        if error:
            errored += 1
            assert PWN_ERROR in error[0].text and error[0].is_displayed()
    assert voted == 1 and errored == 2
    _full_screenshot(driver, tmp_path / "hostile.png", "/tmp/hostile_viewer_screenshot.png")
