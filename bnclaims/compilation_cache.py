"""Where a process that trains keeps its compiled XLA programs (JAX's persistent compilation cache).

A session that trains runs whose programs an earlier session compiled (more seeds, say) skips XLA
compilation (docs/engines.md gives the saving); so does a cluster worker that trained them before. JAX
loads what it finds there as native code, so it lives apart from the run cache, which is data that
others may supply (a CI cache restored from another branch, a team's shared folder): in the user's own
cache folder, or where BNCLAIMS_XLA_CACHE_DIR says ("off": no compilation cache), never inside the run
cache. JAX's keys include the folder's path (it names a GPU autotuning cache inside it): a folder moved
elsewhere compiles its programs again. One subfolder per CPU (backend.cpu_identity), since a program is
compiled for the CPU it runs on.
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

from . import backend

XLA_CACHE_ENV_VAR = "BNCLAIMS_XLA_CACHE_DIR"
XLA_CACHE_OFF = "off"


def compilation_cache_folder(run_cache: Path | None, environ=os.environ) -> Path | None:
    """Where compiled programs are kept: $BNCLAIMS_XLA_CACHE_DIR, else $XDG_CACHE_HOME/bnclaims/xla, else
    ~/.cache/bnclaims/xla; None when switched off or when that folder would lie inside the run cache
    (None for a process without one: a cluster worker)."""
    chosen = environ.get(XLA_CACHE_ENV_VAR, "").strip()
    if chosen.lower() == XLA_CACHE_OFF:
        return None
    if chosen:
        folder = Path(chosen).expanduser()
    else:
        base = environ.get("XDG_CACHE_HOME", "")
        # The XDG specification ignores a relative XDG_CACHE_HOME.
        folder = (Path(base) if os.path.isabs(base) else Path("~/.cache").expanduser()) / "bnclaims" / "xla"
    folder = folder.resolve()
    if run_cache is None:
        return folder
    run_cache = Path(run_cache).resolve()
    if folder == run_cache or run_cache in folder.parents:
        warnings.warn(f"the compilation cache {folder} lies inside the run cache {run_cache}, whose contents "
                      f"are data, not code: compiling without a persistent compilation cache (set "
                      f"{XLA_CACHE_ENV_VAR} to a folder of your own)", stacklevel=2)
        return None
    return folder


def use_compilation_cache(run_cache: Path | None) -> None:
    """Keep this process's compiled programs in compilation_cache_folder(run_cache), a subfolder per CPU
    (JAX must be loaded); nothing where the folder is switched off or cannot be written."""
    folder = compilation_cache_folder(run_cache)
    if folder is None:
        return
    cpu = hashlib.sha256(backend.cpu_identity().encode()).hexdigest()[:12]
    try:
        # Private: whoever can write the folder chooses the code this process runs.
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        backend.use_compilation_cache(folder / cpu)
    except OSError:     # no writable cache folder (a read-only home): compile every time instead
        pass
