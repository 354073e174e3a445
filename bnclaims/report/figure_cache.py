"""Drawn figures kept on disk, keyed by what they are drawn from.

A report draws each figure from its payload (a ledger record's figure data) with matplotlib, which is
most of the time a report takes. A session whose runs all come from the run cache writes a ledger
whose figures are the same as the last session's, so the pictures are kept beside the runs
(`<run cache>/figures/`) under a key made of the figure's data and of the drawing code itself (this
package's plotting source and the matplotlib and numpy versions): new data or new drawing
code is a new key, never a stale picture. The key also names the pictures' format (FORMAT), so that a
picture of another format kept under the same data is never served. A damaged entry (not a whole SVG
document) is drawn again and replaced; a folder that cannot be written only costs the saving.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Callable

from ..cache import atomic_write_bytes

# Version 2: SVG (version 1 kept PNG files, under keys without a format).
FORMAT = "svg-2"
SUFFIX = ".svg"
SVG_START = b"<?xml"
SVG_END = b"</svg>\n"


def drawing_fingerprint() -> str:
    """What the pictures depend on besides their data: the plotting code and the libraries drawing it."""
    import matplotlib
    import numpy

    from . import plots

    digest = hashlib.sha256()
    for source in sorted({plots.__file__, plots.figures.__file__}):
        digest.update(Path(source).read_bytes())
    digest.update(f"{FORMAT} {matplotlib.__version__} {numpy.__version__}".encode())
    return digest.hexdigest()


def is_whole_svg(data: bytes) -> bool:
    """A whole picture as this cache writes it: a torn write lacks the document's end."""
    return data.startswith(SVG_START) and data.rstrip().endswith(SVG_END.rstrip())


class FigureCache:
    """SVG bytes by (kind, data); draws on a miss. `hits` and `drawn` count this cache's answers."""

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self._fingerprint = drawing_fingerprint()
        self.hits = self.drawn = 0

    def key(self, kind: str, data) -> str:
        text = json.dumps([kind, data], sort_keys=True, default=str)
        return hashlib.sha256(f"{FORMAT}\n{self._fingerprint}\n{text}".encode()).hexdigest()

    def picture(self, kind: str, data, draw: Callable[[], bytes]) -> bytes:
        path = self.folder / f"{self.key(kind, data)}{SUFFIX}"
        try:
            stored = path.read_bytes()
        except OSError:
            stored = b""
        if is_whole_svg(stored):
            self.hits += 1
            return stored
        picture = draw()
        self.drawn += 1
        try:
            atomic_write_bytes(path, picture)
        except OSError:
            pass   # a read-only or full disk: the report is still whole, only the next one draws again
        return picture


class BackgroundDrawing:
    """Draws each check's figures into a FigureCache on one background thread while the session runs,
    as the checks' records arrive, so that the report at the end finds them drawn instead of drawing
    every figure in turn after the last test (6 s of a cold short-profile session on 2 cores).

    Drawn from the record as the ledger will hold it (bnclaims.ledger.json_safe), so that each figure's
    key is the one the report looks up. A figure that fails here is drawn again by the report, which
    says what went wrong."""

    def __init__(self, cache: FigureCache) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.cache = cache
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="claims-figures")

    def add(self, record: dict) -> None:
        from ..ledger import json_safe

        self._pool.submit(self._draw, json_safe(record))   # a copy: the session's record may change later

    def _draw(self, record: dict) -> None:
        from . import plots

        try:
            for payload in plots.figures_for_record(record):
                if payload.get("kind") != plots.TABLE_KIND:
                    self.cache.picture("plot", payload, lambda: plots.plot_svg(payload))
        except Exception:   # noqa: BLE001 - the report draws it again and shows what went wrong
            pass

    def finish(self, *, wait: bool = True) -> None:
        """Wait for the figures queued so far (or, wait=False, drop those not yet started)."""
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
