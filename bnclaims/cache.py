"""Content-addressed run cache: one JSON file per RunSpec key, written atomically, locked per key.

Layout: <root>/<key[:2]>/<key>.json (+ <key>.lock). Keys are run keys (bnclaims.spec.run_key). A run
is trained at most once even when several pytest-xdist workers ask for it at the same moment: the first
takes the key's lock and trains, the others read what it wrote. Workers whose groups of runs overlap
share the work: each takes the locks it can get without waiting, trains those runs, and only then waits
for the runs another worker holds, so neither sits idle while the other trains a whole group.

An entry is data, never code: it is read as bounded JSON (size, nesting, finite numbers) and validated
against the shape this engine writes and the checksum it stored. Any entry that fails is moved aside
(never deleted), reported in one warning line, and trained again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import tempfile
import time
import warnings
from pathlib import Path
from typing import Callable

from filelock import FileLock, Timeout

from .results import DamagedEntry, RunResult

CACHE_MODES = ("use", "bypass", "rebuild")
CACHE_ENV_VAR = "BNCLAIMS_CACHE_DIR"

# Bounds on what a read accepts. The largest run entry written so far is 1.3 MB (a run recording every
# probe) and nests 7 levels deep; 32 MiB and 64 levels leave room for new probes while refusing a file
# that would exhaust memory or Python's recursion limit before it could be validated.
MAX_ENTRY_BYTES = 32 * 2**20
MAX_ENTRY_DEPTH = 64

# Each entry opens with the sha256 of the rest of its text as written: {"checksum": "sha256:<hex>", then
# the document. A hand-edited or corrupted entry (a changed accuracy, a reformatted file) is damaged, not
# served. A hash over the bytes costs a millisecond per MB where re-serializing a parsed entry to check a
# canonical form costs twenty. It detects accidents, not an attacker, who can recompute it. Entries
# written before checksums carry none: they are served unchecked once and rewritten with one, so an
# existing cache is not trained again.
CHECKSUM_FIELD = "checksum"
_CHECKSUM_OPENING = b'{"checksum": "sha256:'
_DIGEST_LENGTH = 64

# What reading or validating an entry can raise for a damaged file: an unreadable path, bytes that are not
# UTF-8 (UnicodeDecodeError is a ValueError), JSON or shapes that do not fit, numbers out of range.
ENTRY_ERRORS = (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError, OverflowError,
                RecursionError)


class DamagedEntryWarning(UserWarning):
    """A cache entry could not be read; it was moved aside and the run is trained again."""


def with_checksum(body: str) -> str:
    """An entry's text from its document's JSON text (an object): the checksum put in front of it."""
    digest = hashlib.sha256(("{" + body[1:]).encode("utf-8")).hexdigest()
    return f'{_CHECKSUM_OPENING.decode()}{digest}",{body[1:]}'


def checksum_state(data: bytes) -> bool:
    """True when the entry's bytes carry a checksum that matches them, False when they carry none (an
    entry written before checksums); DamagedEntry when one is there and does not match."""
    if not data.startswith(_CHECKSUM_OPENING):
        return False
    end = len(_CHECKSUM_OPENING) + _DIGEST_LENGTH
    stated, separator = data[len(_CHECKSUM_OPENING):end], data[end:end + 2]
    if separator != b'",' or stated != hashlib.sha256(b"{" + data[end + 2:]).hexdigest().encode():
        raise DamagedEntry("content does not match its checksum (edited or corrupted)")
    return True


def entry_text(document: dict) -> str:
    """The text an entry is stored as; ValueError for what JSON cannot hold (NaN, infinities)."""
    content = {name: value for name, value in document.items() if name != CHECKSUM_FIELD}
    return with_checksum(json.dumps(content, indent=1, sort_keys=True, allow_nan=False))


def read_capped(path: Path, limit: int = MAX_ENTRY_BYTES) -> bytes:
    """A regular file's bytes, at most `limit` of them (DamagedEntry beyond); FileNotFoundError if absent.
    Opened without blocking and checked before reading: a named pipe, a device (a link to /dev/zero), a
    folder or a huge file is refused instead of hanging or filling memory."""
    handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        status = os.fstat(handle)
        if not stat.S_ISREG(status.st_mode):
            raise DamagedEntry("not a regular file")
        if status.st_size > limit:
            raise DamagedEntry(f"{status.st_size} bytes, more than the {limit} an entry may have")
        data = bytearray()
        while len(data) <= limit:      # a file that grows while it is read stops at the limit too
            chunk = os.read(handle, min(2**20, limit + 1 - len(data)))
            if not chunk:
                break
            data += chunk
    finally:
        os.close(handle)
    if len(data) > limit:
        raise DamagedEntry(f"more than the {limit} bytes an entry may have")
    return bytes(data)


# A JSON string, escapes included: what bracket counting must skip.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


def nesting_depth(text: str, limit: int) -> int:
    """How deep JSON text nests its arrays and objects, counted up to limit + 1 (then it stops)."""
    brackets = _NOT_BRACKET.sub("", _JSON_STRING.sub("", text))
    depth = deepest = 0
    for bracket in brackets:
        depth += 1 if bracket in "[{" else -1
        deepest = max(deepest, depth)
        if deepest > limit:
            break
    return deepest


def _no_constant(name: str):
    raise DamagedEntry(f"{name} is not JSON")


def parse_entry(data: bytes, max_depth: int = MAX_ENTRY_DEPTH):
    """JSON from an entry's bytes, refusing the literals NaN and Infinity (no engine writes them) and
    nesting beyond max_depth before it reaches a parser that would recurse past its limit. A number that
    overflows to infinity (1e999) parses; the checksum, an integer field or rewriting refuses it."""
    text = data.decode("utf-8")
    if nesting_depth(text, max_depth) > max_depth:
        raise DamagedEntry(f"nested more than {max_depth} levels deep")
    return json.loads(text, parse_constant=_no_constant)


def checked_entry(document, key: str, checked: bool) -> tuple[RunResult, str]:
    """(result, session that wrote it) of an entry's parsed JSON; DamagedEntry (or another of
    ENTRY_ERRORS) when it is not an entry this engine wrote for key. checked: its checksum matched."""
    if not isinstance(document, dict):
        raise DamagedEntry(f"a JSON {type(document).__name__}, not an object")
    if CHECKSUM_FIELD in document and not checked:
        raise DamagedEntry("its checksum is not at the start, where it is written (reformatted?)")
    result = RunResult.from_json_dict(document["result"])
    if result.key != key:
        raise DamagedEntry(f"entry holds key {result.key[:12]}, file is named {key[:12]}")
    session = document.get("session", "")
    if not isinstance(session, str):
        raise DamagedEntry(f"session is a {type(session).__name__}, not a string")
    return result, session


def _one_line(error: BaseException, limit: int = 200) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= limit else text[:limit - 3] + "..."


def keep_aside(path: Path) -> Path | None:
    """Rename a damaged file to <name>.damaged-<time> (-2, -3, ... when that name is taken: two damaged
    entries in one second keep both); None when the file is already gone."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    kept, number = path.with_name(f"{path.name}.damaged-{stamp}"), 1
    while os.path.lexists(kept):
        number += 1
        kept = path.with_name(f"{path.name}.damaged-{stamp}-{number}")
    try:
        os.replace(path, kept)
    except FileNotFoundError:
        return None
    return kept


def read_json_object(path: Path) -> dict:
    """The JSON object in the file at `path` (a file kept beside the run cache, per settings); {} when it is
    absent, unreadable or not an object, so that the next write replaces it."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):
        return {}
    return document if isinstance(document, dict) else {}


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
            data = read_capped(path)
            checked = checksum_state(data)
            document = parse_entry(data)
            result, session = checked_entry(document, key, checked)
            upgraded = None if checked else entry_text(document)   # ValueError: an infinity in it
        except FileNotFoundError:
            return None
        except ENTRY_ERRORS as error:    # DamagedEntry and JSONDecodeError are ValueErrors
            kept = keep_aside(path)
            if kept is not None:
                warnings.warn(f"damaged cache entry {path} ({_one_line(error)}); moved to {kept.name}, "
                              f"training again", DamagedEntryWarning, stacklevel=2)
            return None
        if upgraded is not None:
            try:
                atomic_write_text(path, upgraded)
            except OSError:     # a cache shared read-only: the entry is served unchecked again next time
                pass
        return result, session

    def store(self, result: RunResult) -> Path:
        path = self.entry_path(result.key)
        document = {"session": self.session_id, "written": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "result": result.to_json_dict()}
        atomic_write_text(path, entry_text(document))
        return path

    def get_or_train(self, key: str, train: Callable[[], RunResult]) -> tuple[RunResult, bool]:
        """(result, served_from_cache). Concurrent callers for one key train it once."""
        [(result, hit)] = self.get_or_train_many([key], lambda missing: [train()])
        return result, hit

    def lock(self, key: str) -> FileLock:
        """The lock a process holds on `key` while it trains that run (others wait for it, then read it)."""
        path = self.entry_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return FileLock(str(path.with_suffix(".lock")))

    def usable(self, key: str) -> RunResult | None:
        """The stored result this session may serve: any in mode 'use', its own in 'rebuild'."""
        stored = self.load(key)
        if stored is not None and (self.mode == "use" or stored[1] == self.session_id):
            return stored[0]
        return None

    def get_or_train_many(self, keys: list[str], train: Callable[[list[int]], list[RunResult]],
                          *, chunk: int | None = None, groups: list | None = None,
                          stored_by_train: bool = False) -> list[tuple[RunResult, bool]]:
        """[(result, served_from_cache)] for each key. train(positions) trains the runs at those
        positions of `keys` that the cache cannot serve and returns them in that order; it is called
        with at most `chunk` positions at a time (all at once when None: an engine in a subprocess
        starts once), each under the locks of its keys. Keys another process holds are left for last
        and then waited for: that process is training them.

        groups: one label per key, alike for runs that share costly set-up (a compiled program). Once a
        key is found held by another process, the rest of its group is tried after every other key:
        that process has the group's set-up already, and two processes working through one sweep take
        its groups in turn instead of each paying for every group's set-up.

        stored_by_train: train stores each result as it arrives (under the locks held for it), so that
        the results a group had when one of its runs failed are kept; they are not written again."""
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
                lock = self.lock(key)
                try:
                    lock.acquire(timeout=0)
                except Timeout:
                    held_elsewhere.append(key)
                    busy.add(group_of.get(key))
                    continue
                stored = self.usable(key)
                if stored is not None:
                    results[key] = (stored, True)
                    lock.release()
                else:
                    batch.append(key)
                    locks.append(lock)
            try:
                self._train_and_store(batch, first, keys, train, results, stored_by_train)
            finally:
                for lock in locks:
                    lock.release()
            queue = rest
            if not queue and postponing:   # the postponed keys, once every other key has been tried
                queue, postponing = postponed, False
        for key in held_elsewhere:
            with self.lock(key):
                stored = self.usable(key)
                if stored is not None:
                    results[key] = (stored, True)
                else:       # the other process stopped without storing it
                    self._train_and_store([key], first, keys, train, results, stored_by_train)
        return [results[key] for key in keys]

    def _train_and_store(self, batch: list[str], first: dict, keys: list[str], train, results: dict,
                         stored_by_train: bool = False) -> None:
        if not batch:
            return
        for key, result in zip(batch, train([first[key] for key in batch])):
            if result.key != key:
                raise ValueError(f"trained a run under key {result.key[:12]} for key {key[:12]}")
            if not stored_by_train:
                self.store(result)
            results[key] = (result, False)
