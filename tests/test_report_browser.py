"""The claims report in a real browser: headless Chromium opens claims.html 1400 pixels wide (a desktop
window) and 390 pixels wide (a phone). At both the page must load without console errors, list every
check whose outcome is not what the catalogue expects in its banner, show the six advantages with the
ledger's outcomes and each of their checks' verdict with its units and p as text, lay the headline table
out without any cell overlapping or spilling into another and without sideways scrolling; the forest
plot is SVG whose intervals are the ledger's, at the level of the test that decided; every check shows
the ledger's outcome, every image decodes and no framework log noise shows. A screenshot of the top of
the page at each width is saved beside the report (claims-report-1400.png, claims-report-390.png, and
claims-report.png, the desktop one) so that CI keeps them with the report. pytest-html's results page
beside it must load clean too.

Chromium is driven over the DevTools protocol on --remote-debugging-pipe (JSON messages ending in NUL
on file descriptors 3 and 4): the standard library suffices, with no driver and no websocket package.
The report is the one tests/test_report.py generates, or the one $BNCLAIMS_REPORT_HTML names.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from bnclaims.formatting import readings, tuned_records
from bnclaims.report import advantage_groups, forest_records, unexpected_records
from bnclaims.report.page import p_parts, units_text
from bnclaims.report.plots import interval_level
from bnclaims.pytest_html_page import PYTEST_HTML_NAME
from test_report import claims_report, ledger_beside, project_report  # noqa: F401  (shared fixtures)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = f"no headless Chromium ({', '.join(BROWSERS)}) on PATH; install it with: apt-get install chromium"
SCREENSHOT_NAME = "claims-report.png"       # the desktop screenshot, under the name CI has always kept
SCREENSHOT_NAMES = {1400: "claims-report-1400.png", 390: "claims-report-390.png"}
WINDOWS = {1400: 900, 390: 844}             # width: height, in CSS pixels
# Without the background-networking flags an offline machine fills the log with connection errors;
# --disable-dev-shm-usage because containers often give /dev/shm only 64 MB.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--remote-debugging-pipe")
TIMEOUT_S = 30


def find_browser() -> str | None:
    return next(filter(None, map(shutil.which, BROWSERS)), None)


class DevTools:
    """A DevTools protocol session with one page of a headless Chromium that this object starts."""

    def __init__(self, executable: str, profile: Path) -> None:
        to_browser, self._commands = os.pipe()
        self._replies, from_browser = os.pipe()
        # The browser reads commands on fd 3 and writes replies on fd 4; bash puts the pipes there (sh
        # may be dash, which takes one-digit descriptors only).
        self.process = subprocess.Popen(
            ["bash", "-c", f'exec "$@" 3<&{to_browser} 4>&{from_browser}', "bash", executable, *FLAGS,
             f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(to_browser, from_browser), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(to_browser)
        os.close(from_browser)
        self._messages: queue.Queue = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        self.events: list[dict] = []
        self._next_id = 0
        try:
            target = self.send("Target.createTarget", url="about:blank")["targetId"]
            self._session = self.send("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        except BaseException:
            self.close()
            raise

    def _read(self) -> None:
        buffer = b""
        with os.fdopen(self._replies, "rb", buffering=0) as replies:
            while chunk := replies.read(65536):
                *messages, buffer = (buffer + chunk).split(b"\0")
                for message in messages:
                    self._messages.put(json.loads(message))
        self._messages.put(None)    # the browser is gone

    def _receive(self) -> dict:
        try:
            message = self._messages.get(timeout=TIMEOUT_S)
        except queue.Empty:
            raise TimeoutError(f"Chromium sent nothing for {TIMEOUT_S} s") from None
        if message is None:
            raise ConnectionError("Chromium closed the DevTools pipe")
        return message

    def send(self, method: str, *, page: bool = False, **params) -> dict:
        """Send one command (to the page when page=True) and return its result; events are kept."""
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if page:
            message["sessionId"] = self._session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        while (reply := self._receive()).get("id") != self._next_id:
            self.events.append(reply)
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply["result"]

    def wait_for(self, event: str) -> None:
        while not any(e.get("method") == event for e in self.events):
            self.events.append(self._receive())

    def evaluate(self, expression: str):
        """The value of a JavaScript expression in the page (awaited when it is a promise)."""
        result = self.send("Runtime.evaluate", page=True, expression=expression, awaitPromise=True,
                           returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:60]}...: {result['exceptionDetails']}")
        return result["result"].get("value")

    def errors(self) -> list[str]:
        """What a console would show as errors (Selenium's SEVERE): exceptions, console.error, log errors."""
        found = []
        for event in self.events:
            params = event.get("params", {})
            if event.get("method") == "Runtime.exceptionThrown":
                details = params["exceptionDetails"]
                found.append(details.get("exception", {}).get("description") or details["text"])
            elif event.get("method") == "Runtime.consoleAPICalled" and params["type"] == "error":
                found.append(" ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"]))
            elif event.get("method") == "Log.entryAdded" and params["entry"]["level"] == "error":
                found.append(params["entry"]["text"])
        return found

    def close(self) -> None:
        try:
            self.send("Browser.close")
            self.process.wait(timeout=10)
        except (OSError, RuntimeError, TimeoutError, subprocess.TimeoutExpired):
            self.process.kill()
            self.process.wait()
        finally:
            os.close(self._commands)


@pytest.fixture
def browser(tmp_path: Path):
    executable = find_browser()
    if executable is None:
        pytest.skip(INSTALL_HINT)
    devtools = DevTools(executable, tmp_path / "profile")
    yield devtools
    devtools.close()


# Every image on the page, decoded by the browser: each check's figures.
DECODE_IMAGES = """(async () => {
  const images = [...document.images];
  await Promise.all(images.map(image => image.decode().catch(() => null)));
  return images.map(image => [image.closest('[id]')?.id || '', image.complete, image.naturalWidth]);
})()"""

# The headline: one table body per advantage, its outcome, and a row per check with its rendered text
# (innerText: what a reader sees, never a tooltip).
HEADLINE = """[...document.querySelectorAll('#headline-table tbody[data-advantage]')].map(body => [
  body.dataset.advantage, [...body.querySelectorAll('tr.group .outcome')].map(badge => badge.textContent),
  [...body.querySelectorAll('tr[data-check-id]')].map(row => [row.dataset.checkId,
     row.querySelector('.outcome').textContent])])"""
ROW_TEXT = """Object.fromEntries([...document.querySelectorAll('#headline-table tr[data-check-id]')].map(row =>
  [row.dataset.checkId, row.innerText]))"""

# The related checks' table, row by row.
RELATED = """[...document.querySelectorAll('#related-table tr[data-check-id]')].map(row =>
  [row.dataset.checkId, row.querySelector('.outcome').textContent])"""

# Every row or section that names a check, and the outcome it shows.
SHOWN_OUTCOMES = """[...document.querySelectorAll('[data-check-id]')].map(element =>
  [element.dataset.checkId, element.querySelector('.outcome').textContent])"""

BANNER = """[...document.querySelectorAll('#unexpected li[data-check-id]')].map(item =>
  [item.dataset.checkId, item.innerText])"""

# The forest plot's element and, per drawn interval, what it was drawn from.
FOREST = """(() => { const plot = document.getElementById('forest-plot');
  const box = plot.getBoundingClientRect();
  return [plot.tagName, box.width, box.height, [...plot.querySelectorAll('g[data-check]')].map(g =>
    [g.dataset.check, g.dataset.ciLow, g.dataset.ciHigh, Number(g.dataset.ciLevel)])]; })()"""

# Pairs of the headline table's visible cells whose boxes overlap, and cells whose content spills out.
OVERLAPS = """(() => {
  const cells = [...document.querySelectorAll('#headline-table th, #headline-table td')]
    .filter(cell => cell.getClientRects().length);
  const boxes = cells.map(cell => cell.getBoundingClientRect());
  const name = cell => cell.innerText.slice(0, 40);
  const overlaps = [];
  boxes.forEach((a, i) => boxes.slice(i + 1).forEach((b, k) => {
    const width = Math.min(a.right, b.right) - Math.max(a.left, b.left);
    const height = Math.min(a.bottom, b.bottom) - Math.max(a.top, b.top);
    if (width > 1 && height > 1) overlaps.push([name(cells[i]), name(cells[i + 1 + k])]);
  }));
  const spills = cells.filter(cell => cell.scrollWidth > cell.clientWidth + 1).map(name);
  return [cells.length, overlaps, spills]; })()"""

WIDTHS = "[document.scrollingElement.scrollWidth, window.innerWidth]"

NOISE_WORDS = ("absl", "oneDNN")


def open_page(browser: DevTools, url: str, *, width: int = 1400) -> None:
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", page=True)
    browser.send("Emulation.setDeviceMetricsOverride", page=True, width=width, height=WINDOWS.get(width, 800),
                 deviceScaleFactor=1, mobile=width < 700)
    browser.send("Page.navigate", page=True, url=url)
    browser.wait_for("Page.loadEventFired")


def screenshot(browser: DevTools, path: Path) -> None:
    """The top of the page, as the window shows it."""
    path.write_bytes(base64.b64decode(browser.send("Page.captureScreenshot", page=True, format="png")["data"]))


def forest_bound(value) -> str:
    """A bound as the forest plot's data attribute writes it: repr of the float, '' for an open side."""
    return "" if value is None else repr(float(value))


def assert_the_page_reads(browser: DevTools, ledger: dict) -> None:
    """What must hold at every width."""
    records = ledger["records"]
    by_id = {r["check_id"]: r for r in records}
    groups = advantage_groups(records)

    # The banner names every check whose outcome the catalogue does not expect, and says what it expected.
    unexpected = unexpected_records(records)
    banner = browser.evaluate(BANNER)
    assert [check_id for check_id, _ in banner] == [r["check_id"] for r in unexpected]
    assert all(f"came out {by_id[check_id]['outcome']}" in text for check_id, text in banner), banner
    if not unexpected:
        assert browser.evaluate("document.getElementById('unexpected')") is None

    # The six advantages with the outcomes their own checks give, and beside it their tuned twins' (each arm
    # at its best rate) where they have any; each check's verdict with its units and the deciding p in the
    # text a reader sees.
    assert browser.evaluate(HEADLINE) == [
        [advantage, [*readings(own, related)][:1 if not tuned_records(related) else 2],
         [[r["check_id"], r["outcome"]] for r in [*own, *tuned_records(related)]]]
        for advantage, (own, related) in groups.items()]
    rows = browser.evaluate(ROW_TEXT)
    for own, related in groups.values():
        for record in [*own, *tuned_records(related)]:
            text = " ".join(rows[record["check_id"]].split())
            assert units_text(record) in text and p_parts(record)[0] in text, (record["check_id"], text)
    related = [[r["check_id"], r["outcome"]] for _, rel in groups.values() for r in rel if not r.get("tuning")]
    assert browser.evaluate(RELATED) == related
    shown = browser.evaluate(SHOWN_OUTCOMES)
    assert {check_id for check_id, _ in shown} == set(by_id)
    assert all(by_id[check_id]["outcome"] == outcome for check_id, outcome in shown), shown

    # No cell of the headline overlaps another or spills out of its box; the page never scrolls sideways.
    cells, overlaps, spills = browser.evaluate(OVERLAPS)
    assert cells > 0 and overlaps == [] and spills == [], (overlaps[:5], spills[:5])
    scroll_width, window_width = browser.evaluate(WIDTHS)
    assert scroll_width <= window_width, (scroll_width, window_width)

    # The forest plot is SVG, and each interval it draws is the ledger's, at the deciding test's level.
    tag, width, height, intervals = browser.evaluate(FOREST)
    assert tag.lower() == "svg" and width > 0 and height > 0
    assert intervals == [[r["check_id"], forest_bound(r["effect_ci"][0]), forest_bound(r["effect_ci"][1]),
                          interval_level(r)] for r in forest_records(records)]

    images = browser.evaluate(DECODE_IMAGES)
    assert all(complete and natural > 0 for _, complete, natural in images), images
    text = browser.evaluate("document.body.innerText")
    assert not [word for word in NOISE_WORDS if word in text]
    assert browser.errors() == []


def test_the_report_reads_in_a_desktop_window(browser, claims_report):
    open_page(browser, claims_report.as_uri(), width=1400)
    assert_the_page_reads(browser, ledger_beside(claims_report))
    # The verdicts come first: the headline table starts in the first window.
    assert browser.evaluate("document.getElementById('headline-table').getBoundingClientRect().top") < WINDOWS[1400]
    for name in (SCREENSHOT_NAMES[1400], SCREENSHOT_NAME):
        screenshot(browser, claims_report.parent / name)


def test_the_report_reads_on_a_phone(browser, claims_report):
    open_page(browser, claims_report.as_uri(), width=390)
    assert browser.evaluate("window.innerWidth") == 390
    assert_the_page_reads(browser, ledger_beside(claims_report))
    screenshot(browser, claims_report.parent / SCREENSHOT_NAMES[390])


def test_pytests_results_page_loads_without_framework_log_noise(browser, claims_report):
    results = claims_report.parent / PYTEST_HTML_NAME
    if not results.exists():
        pytest.skip(f"no {PYTEST_HTML_NAME} beside {claims_report.name}")
    open_page(browser, results.as_uri())
    browser.evaluate("document.getElementById('show_all_details')?.click()")   # every row's log opens
    text = browser.evaluate("document.body.innerText")
    assert "results" in text.lower()
    assert not [word for word in NOISE_WORDS if word in text]
    assert browser.errors() == []
