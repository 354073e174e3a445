"""A session's progress: runs served and checks finished, across every process, in one line.

Every process that serves runs (each xdist worker, or the controller training alone) appends one letter
per run to a file of its own in a folder named after the session: "t" for a run it trained, "c" for one
the cache (or its memory) served. The controller counts the letters; it needs no channel from the
workers other than the file system they already share. How many runs a session needs is not known
before its checks ask for them, so the total is the previous session's count for the same settings and
the same checks (kept beside the run cache), and the ETA comes from it; without one, from the share of
checks finished.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

TRAINED, SERVED = "t", "c"
HISTORY_NAME = "progress-history.json"     # in the run cache folder: runs each check used, per settings


def events_folder(session_id: str) -> Path:
    """Where a session's processes leave their run letters (on this machine: xdist workers are local)."""
    return Path(tempfile.gettempdir()) / f"bnclaims-progress-{session_id}"


class RunEvents:
    """One process's side: a letter per run served, appended to its own file."""

    def __init__(self, session_id: str) -> None:
        self.path = events_folder(session_id) / f"{os.getpid()}.log"

    def add(self, trained: bool) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a", encoding="ascii") as stream:
                stream.write(TRAINED if trained else SERVED)
        except OSError:
            pass    # progress is a courtesy: a full or read-only temporary folder must not stop a run


def count_events(session_id: str) -> tuple[int, int]:
    """(runs trained, runs served from the cache) so far, over every process of the session."""
    trained = served = 0
    folder = events_folder(session_id)
    try:
        files = list(folder.iterdir())
    except OSError:
        return 0, 0
    for path in files:
        try:
            text = path.read_text(encoding="ascii", errors="ignore")
        except OSError:
            continue
        trained += text.count(TRAINED)
        served += text.count(SERVED)
    return trained, served


def remove_events(session_id: str) -> None:
    shutil.rmtree(events_folder(session_id), ignore_errors=True)


# ----------------------------------------------------------------------------------------------------
# How many runs a session will need: what the same checks used last time


def read_history(cache_dir: Path, settings_key: str) -> dict[str, int]:
    """{test node id: runs it used} from the last session with these settings; {} when unknown or unreadable."""
    try:
        history = json.loads((Path(cache_dir) / HISTORY_NAME).read_text(encoding="utf-8"))
        runs = history.get(settings_key, {})
        return {str(nodeid): int(count) for nodeid, count in runs.items() if int(count) >= 0}
    except (OSError, ValueError, TypeError, AttributeError, RecursionError):
        return {}


def write_history(cache_dir: Path, settings_key: str, runs_by_test: dict[str, int]) -> None:
    """Keep each test's run count for the next session with these settings (earlier counts of tests this
    session did not run stay)."""
    from .cache import atomic_write_text, read_json_object

    path = Path(cache_dir) / HISTORY_NAME
    history = read_json_object(path)
    known = history.get(settings_key) if isinstance(history.get(settings_key), dict) else {}
    history[settings_key] = {**known, **runs_by_test}
    try:
        atomic_write_text(path, json.dumps(history, indent=0, sort_keys=True))
    except OSError:
        pass


def expected_runs(history: dict[str, int], nodeids: list[str]) -> int | None:
    """The runs these tests used last time, where the history knows every one of them; else None."""
    if not nodeids or any(nodeid not in history for nodeid in nodeids):
        return None
    return sum(history[nodeid] for nodeid in nodeids)


# ----------------------------------------------------------------------------------------------------
# The line


def duration_text(seconds: float) -> str:
    """'42 s', '9 min 42 s', '1 h 05 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


@dataclass(frozen=True)
class Progress:
    trained: int
    served: int
    checks_done: int
    checks_total: int
    elapsed: float
    runs_expected: int | None = None    # from the previous session with the same settings and checks

    @property
    def runs(self) -> int:
        return self.trained + self.served

    def fraction(self) -> float | None:
        """The share of the session's work done: by runs where their total is known, else by checks."""
        if self.runs_expected:
            return min(self.runs / self.runs_expected, 0.99 if self.checks_done < self.checks_total else 1.0)
        if self.checks_total:
            return self.checks_done / self.checks_total
        return None

    # Without a total of runs, checks are the measure of progress; but the first checks to finish are the
    # cheap ones while the sweeps train, so their share says little until half of them are done.
    CHECKS_PACE_FROM = 0.5

    def eta(self) -> float | None:
        """Seconds left at the pace so far; None until there is a pace to go by."""
        fraction = self.fraction()
        if fraction is None or fraction < 0.02 or self.elapsed < 3:
            return None
        if not self.runs_expected and fraction < self.CHECKS_PACE_FROM:
            return None
        return self.elapsed * (1 - fraction) / fraction

    def line(self) -> str:
        total = f"/~{self.runs_expected}" if self.runs_expected else ""
        eta = self.eta()
        if self.checks_done >= self.checks_total:
            left = ""
        elif eta is not None:
            left = f", about {duration_text(eta)} left"
        else:
            left = ", time left not known yet" + ("" if self.runs_expected else
                                                  " (a total comes from an earlier session with these settings)")
        return (f"claims progress: runs {self.runs}{total} ({self.trained} trained, {self.served} from the cache), "
                f"checks {self.checks_done}/{self.checks_total}, {duration_text(self.elapsed)} elapsed{left}")
