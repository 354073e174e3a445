"""Content-addressed run cache: one JSON file per RunSpec key, written atomically, locked per key.

Layout: <root>/<key[:2]>/<key>.json (+ <key>.lock). Keys are run keys (bnclaims.spec.run_key). A run
is trained at most once even when several pytest-xdist workers ask for it at the same moment: the first
takes the key's lock and trains, the others read what it wrote. Workers whose groups of runs overlap
share the work: each takes the locks it can get without waiting, trains those runs, and only then waits
for the runs another worker holds, so neither sits idle while the other trains a whole group. A damaged
entry is moved aside (never deleted), reported, and trained again.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from .results import DamagedEntry, RunResult

CACHE_MODES = ("use", "bypass", "rebuild")
CACHE_ENV_VAR = "BNCLAIMS_CACHE_DIR"


class DamagedEntryWarning(UserWarning):
    """A cache entry could not be read; it was moved aside and the run is trained again."""


def atomic_write_text(path: Path, text: str) -> None:
    """Write via a temporary file in the same folder and rename: readers see all of it or nothing."""
    _atomic_write(path, text, "w")


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """atomic_write_text for bytes."""
    _atomic_write(path, data, "wb")


def _atomic_write(path: Path, content, mode: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, mode, **({"encoding": "utf-8"} if "b" not in mode else {})) as stream:
            stream.write(content)
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

    def _lock(self, key: str) -> FileLock:
        path = self.entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path.with_suffix(".lock")))

    def _usable(self, key: str) -> RunResult | None:
        """The stored result this session may serve: any in mode 'use', its own in 'rebuild'."""
        stored = self.load(key)
        if stored is not None and (self.mode == "use" or stored[1] == self.session_id):
            return stored[0]
        return None

    def get_or_train_many(self, keys: list[str], train: Callable[[list[int]], list[RunResult]],
                          *, chunk: int | None = None, groups: list | None = None) -> list[tuple[RunResult, bool]]:
        """[(result, served_from_cache)] for each key. train(positions) trains the runs at those
        positions of `keys` that the cache cannot serve and returns them in that order; it is called
        with at most `chunk` positions at a time (all at once when None: an engine in a subprocess
        starts once), each under the locks of its keys. Keys another process holds are left for last
        and then waited for: that process is training them.

        groups: one label per key, alike for runs that share costly set-up (a compiled program). Once a
        key is found held by another process, the rest of its group is tried after every other key:
        that process has the group's set-up already, and two processes working through one sweep take
        its groups in turn instead of each paying for every group's set-up."""
        if self.mode == "bypass":
            return [(result, False) for result in train(list(range(len(keys))))]
        first = {}
        for position, key in enumerate(keys):
            first.setdefault(key, position)
        group_of = dict(zip(keys, groups)) if groups is not None else {}
        results: dict[str, tuple[RunResult, bool]] = {}
        queue, held_elsewhere, postponed, busy = list(first), [], [], set()
        postponing = bool(group_of)
        size = chunk or len(queue)
        while queue:
            batch, locks, rest = [], [], []
            for key in queue:
                if len(batch) >= size:
                    rest.append(key)
                    continue
                if postponing and group_of[key] in busy:
                    postponed.append(key)
                    continue
                lock = self._lock(key)
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    held_elsewhere.append(key)
                    busy.add(group_of.get(key))
                    continue
                stored = self._usable(key)
                if stored is not None:
                    results[key] = (stored, True)
                    lock.release()
                else:
                    batch.append(key)
                    locks.append(lock)
            try:
                self._train_and_store(batch, first, keys, train, results)
            finally:
                for lock in locks:
                    lock.release()
            queue = rest
            if not queue and postponing:   # the postponed keys, once every other key has been tried
                queue, postponing = postponed, False
        for key in held_elsewhere:
            with self._lock(key):
                stored = self._usable(key)
                if stored is not None:
                    results[key] = (stored, True)
                else:       # the other process stopped without storing it
                    self._train_and_store([key], first, keys, train, results)
        return [results[key] for key in keys]

    def _train_and_store(self, batch: list[str], first: dict, keys: list[str], train, results: dict) -> None:
        if not batch:
            return
        for key, result in zip(batch, train([first[key] for key in batch])):
            if result.key != key:
                raise ValueError(f"trained a run under key {result.key[:12]} for key {key[:12]}")
            self.store(result)
            results[key] = (result, False)
