"""Content-addressed run cache: one JSON file per RunSpec key, written atomically, locked per key.

Layout: <root>/<key[:2]>/<key>.json (+ <key>.lock). Keys are run keys (bnclaims.spec.run_key). A run
is trained at most once even when several pytest-xdist workers ask for it at the same moment: the first
takes the key's lock and trains, the others wait on the lock and then read what it wrote. A group of
runs trained together holds the locks of its missing keys, taken in sorted order so that two workers
with overlapping groups cannot deadlock. A damaged entry is moved aside (never deleted), reported,
and trained again.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from contextlib import ExitStack
from typing import Callable

from filelock import FileLock

from .results import DamagedEntry, RunResult

CACHE_MODES = ("use", "bypass", "rebuild")
CACHE_ENV_VAR = "BNCLAIMS_CACHE_DIR"


class DamagedEntryWarning(UserWarning):
    """A cache entry could not be read; it was moved aside and the run is trained again."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)   # mkstemp makes files private; ledgers and reports are for reading
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class RunCache:
    """mode: 'use' (read, train on a miss), 'bypass' (neither read nor write) or 'rebuild' (train
    again every entry not written by this session, identified by session_id)."""

    def __init__(self, root: Path | str, mode: str = "use", session_id: str = "") -> None:
        if mode not in CACHE_MODES:
            raise ValueError(f"cache mode must be one of {CACHE_MODES}, got {mode!r}")
        self.root = Path(root)
        self.mode = mode
        self.session_id = session_id

    def entry_path(self, key: str) -> Path:
        return self.root / key[:2] / f"{key}.json"

    def load(self, key: str) -> tuple[RunResult, str] | None:
        """The stored result and the session that wrote it, or None when absent or damaged."""
        path = self.entry_path(key)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return None
        try:
            data = json.loads(text)
            result = RunResult.from_json_dict(data["result"])
            if result.key != key:
                raise DamagedEntry(f"entry holds key {result.key[:12]}, file is named {key[:12]}")
            return result, str(data.get("session", ""))
        except (ValueError, KeyError, TypeError) as error:  # JSONDecodeError and DamagedEntry included
            kept = path.with_name(f"{path.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
            os.replace(path, kept)
            warnings.warn(f"damaged cache entry {path} ({error}); moved to {kept.name}, training again",
                          DamagedEntryWarning, stacklevel=2)
            return None

    def store(self, result: RunResult) -> Path:
        path = self.entry_path(result.key)
        document = {"session": self.session_id, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "result": result.to_json_dict()}
        atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False))
        return path

    def get_or_train(self, key: str, train: Callable[[], RunResult]) -> tuple[RunResult, bool]:
        """(result, served_from_cache). Concurrent callers for one key train it once."""
        [(result, hit)] = self.get_or_train_many([key], lambda missing: [train()])
        return result, hit

    def get_or_train_many(self, keys: list[str],
                          train: Callable[[list[int]], list[RunResult]]) -> list[tuple[RunResult, bool]]:
        """[(result, served_from_cache)] for each key. train(positions) trains the runs at those
        positions of `keys` that the cache cannot serve, in one call, and returns them in that order."""
        if self.mode == "bypass":
            return [(result, False) for result in train(list(range(len(keys))))]
        found: dict[int, RunResult] = {}
        with ExitStack() as locks:
            for key in sorted(set(keys)):
                path = self.entry_path(key)
                path.parent.mkdir(parents=True, exist_ok=True)
                locks.enter_context(FileLock(str(path.with_suffix(".lock"))))
            for position, key in enumerate(keys):
                stored = self.load(key)
                if stored is not None and (self.mode == "use" or stored[1] == self.session_id):
                    found[position] = stored[0]
            missing = [position for position in range(len(keys)) if position not in found]
            trained = dict(zip(missing, train(missing))) if missing else {}
            for position, result in trained.items():
                if result.key != keys[position]:
                    raise ValueError(f"trained a run under key {result.key[:12]} for key {keys[position][:12]}")
                self.store(result)
        return [(found[p], True) if p in found else (trained[p], False) for p in range(len(keys))]
