"""The claims report in a real browser: headless Chromium opens claims.html and the page must load without
console errors, list every ledger record in its claims table and decode every embedded image. A
screenshot is saved beside the report (claims-report.png) so that CI keeps it with the report.

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


# Every image the report embeds, decoded by the browser: the one each test row shows and the others its
# media viewer pages through, which pytest-html keeps in the page's JSON data until they are shown.
DECODE_IMAGES = """(async () => {
  const data = JSON.parse(document.getElementById('data-container').dataset.jsonblob);
  const decoded = [];
  for (const [nodeid, entries] of Object.entries(data.tests))
    for (const extra of entries.flatMap(entry => entry.extras))
      if (extra.format_type === 'image') {
        const image = new Image();
        image.src = extra.content;
        await image.decode().catch(() => null);
        decoded.push([nodeid, image.naturalWidth]);
      }
  const shown = [...document.images].filter(image => image.getAttribute('src'))
    .map(image => [image.complete, image.naturalWidth]);
  return {decoded, shown};
})()"""

SUMMARY_ROWS = """[...document.querySelectorAll('table.bnclaims-summary tbody tr')].map(row =>
  [row.dataset.checkId, row.dataset.tier, row.cells[3].querySelector('span').textContent])"""


def test_the_report_loads_in_chromium_and_shows_every_claim_and_plot(browser, claims_report):
    records = ledger_beside(claims_report)["records"]
    for domain in ("Page", "Runtime", "Log"):
        browser.send(f"{domain}.enable", page=True)
    browser.send("Emulation.setDeviceMetricsOverride", page=True, width=1280, height=1600,
                 deviceScaleFactor=1, mobile=False)
    browser.send("Page.navigate", page=True, url=claims_report.as_uri())
    browser.wait_for("Page.loadEventFired")

    assert browser.evaluate(SUMMARY_ROWS) == [[r["check_id"], r["tier"], r["outcome"]] for r in records]
    images = browser.evaluate(DECODE_IMAGES)
    assert images["shown"] and all(complete and width > 0 for complete, width in images["shown"])
    assert all(width > 0 for _, width in images["decoded"]), images["decoded"]
    paired = {r["nodeid"] for r in records if r["kind"] == "paired"}     # drawn by default, see bnclaims.report
    assert paired <= {nodeid for nodeid, _ in images["decoded"]}

    browser.evaluate("document.getElementById('show_all_details').click()")    # plots open in the shot
    shot = browser.send("Page.captureScreenshot", page=True, format="png")
    (claims_report.parent / SCREENSHOT_NAME).write_bytes(base64.b64decode(shot["data"]))
    assert browser.errors() == []
