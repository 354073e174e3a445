"""The claims report in a real browser: headless Chromium opens claims.html at 1280x800 and the page
must load without console errors, open with the six advantages (outcomes as the ledger's) and the
forest plot, show every check with the ledger's outcome, decode every image and show no framework log
noise. A screenshot of the top of the page is saved beside the report (claims-report.png) so that CI
keeps it with the report. pytest-html's results page beside it must load clean too.

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

from bnclaims.report import advantage_groups, advantage_outcome
from fixtures.report_plugin import PYTEST_HTML_NAME
from test_report import claims_report, ledger_beside, project_report  # noqa: F401  (shared fixtures)

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
INSTALL_HINT = f"no headless Chromium ({', '.join(BROWSERS)}) on PATH; install it with: apt-get install chromium"
SCREENSHOT_NAME = "claims-report.png"
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


# Every image on the page, decoded by the browser: the forest plot and each check's figures.
DECODE_IMAGES = """(async () => {
  const images = [...document.images];
  await Promise.all(images.map(image => image.decode().catch(() => null)));
  return images.map(image => [image.id || image.closest('article')?.id || '', image.complete, image.naturalWidth]);
})()"""

# The headline: one table body per advantage, its outcome, and a row per check.
HEADLINE = """[...document.querySelectorAll('#headline-table tbody[data-advantage]')].map(body => [
  body.dataset.advantage, body.querySelector('tr.group .outcome').textContent,
  [...body.querySelectorAll('tr[data-check-id]')].map(row => [row.dataset.checkId,
     row.querySelector('.outcome').textContent])])"""

# The related checks' table, row by row.
RELATED = """[...document.querySelectorAll('#related-table tr[data-check-id]')].map(row =>
  [row.dataset.checkId, row.querySelector('.outcome').textContent])"""

# Where an element ends, in pixels from the top of the window.
BOTTOM = "document.getElementById('{id}').getBoundingClientRect().bottom"

# Every row or section that names a check, and the outcome it shows.
SHOWN_OUTCOMES = """[...document.querySelectorAll('[data-check-id]')].map(element =>
  [element.dataset.checkId, element.querySelector('.outcome').textContent])"""

FOREST = """(() => { const image = document.getElementById('forest-plot');
  const box = image.getBoundingClientRect();
  return [image.naturalWidth, image.naturalHeight, box.top, box.left]; })()"""

NOISE_WORDS = ("absl", "oneDNN")


def open_page(browser: DevTools, url: str, *, height: int = 800) -> None:
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", page=True)
    browser.send("Emulation.setDeviceMetricsOverride", page=True, width=1280, height=height,
                 deviceScaleFactor=1, mobile=False)
    browser.send("Page.navigate", page=True, url=url)
    browser.wait_for("Page.loadEventFired")


def test_the_report_opens_with_the_six_advantages_and_the_forest_plot(browser, claims_report):
    ledger = ledger_beside(claims_report)
    records = ledger["records"]
    open_page(browser, claims_report.as_uri())

    # The headline lists the six advantages, each with the outcome its own checks give and each of its
    # own checks with the outcome the ledger has, and all of it fits the 800-pixel window.
    groups = advantage_groups(records)
    assert browser.evaluate(HEADLINE) == [
        [advantage, advantage_outcome(own), [[r["check_id"], r["outcome"]] for r in own]]
        for advantage, (own, _) in groups.items()]
    assert browser.evaluate(BOTTOM.format(id="headline-table")) <= 800
    related = [[r["check_id"], r["outcome"]] for _, rel in groups.values() for r in rel]
    assert browser.evaluate(RELATED) == related
    outcomes = {r["check_id"]: r["outcome"] for r in records}
    shown = browser.evaluate(SHOWN_OUTCOMES)
    assert {check_id for check_id, _ in shown} == set(outcomes)
    assert all(outcomes[check_id] == outcome for check_id, outcome in shown), shown

    # The forest plot decodes and starts above the fold; so does every other image.
    width, height, top, left = browser.evaluate(FOREST)
    assert width > 0 and height > 0 and top < 800, (width, height, top)
    assert browser.evaluate(BOTTOM.format(id="forest-plot")) <= 800
    images = browser.evaluate(DECODE_IMAGES)
    assert images and all(complete and natural > 0 for _, complete, natural in images), images

    text = browser.evaluate("document.body.innerText")
    assert not [word for word in NOISE_WORDS if word in text]

    shot = browser.send("Page.captureScreenshot", page=True, format="png")    # the top of the page, 1280x800
    (claims_report.parent / SCREENSHOT_NAME).write_bytes(base64.b64decode(shot["data"]))
    assert browser.errors() == []


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
