"""Settings: the one object that holds a session's configuration, resolved from command-line options.

Profiles:
  quick  mnist5k (bundled, offline), seeds 0-4, the talk's 10 epochs.   The default.
  paper  full MNIST with the talk's split, seeds 0-9, the talk's 10 epochs.
--claims-dataset and --claims-seeds override a profile's dataset and seeds.

Engines (--claims-engine; see bnclaims.spec.ENGINES):
  compiled  Keras layers on JAX, each run one compiled XLA program (bnclaims.engine).   The default.
  fit       Keras `fit` on TensorFlow, as the talk trains: the reference (bnclaims.training).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from .cache import CACHE_ENV_VAR, CACHE_MODES
from .spec import DEFAULT_ENGINE, ENGINES


class SettingsError(ValueError):
    """An option value the suite cannot use; the message is one line that says how to fix it."""


@dataclass(frozen=True)
class Profile:
    dataset: str
    seeds: tuple[int, ...]
    description: str


PROFILES = {
    "quick": Profile("mnist5k", tuple(range(5)), "bundled 5,000 MNIST digits, 5 seeds"),
    "paper": Profile("mnist", tuple(range(10)), "full MNIST with the talk's split, 10 seeds"),
}


def parse_seeds(text: str) -> tuple[int, ...]:
    """'5' -> seeds 0..4; '3-7' -> 3..7 inclusive; '0,4,9' -> those seeds."""
    text = str(text).strip()
    try:
        if re.fullmatch(r"\d+", text):
            count = int(text)
            seeds = tuple(range(count))
        elif match := re.fullmatch(r"(\d+)\s*-\s*(\d+)", text):
            first, last = int(match.group(1)), int(match.group(2))
            if last < first:
                raise ValueError("range end before its start")
            seeds = tuple(range(first, last + 1))
        else:
            seeds = tuple(int(part) for part in text.split(","))
    except ValueError as error:
        raise SettingsError(
            f"--claims-seeds {text!r} is not a count (5), a range (0-9) or a list (0,3,7): {error}"
        ) from None
    if len(seeds) < 2 or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise SettingsError(
            f"--claims-seeds {text!r} must name at least 2 distinct non-negative seeds (paired statistics need them)"
        )
    return seeds


def format_seeds(seeds: tuple[int, ...]) -> str:
    if seeds == tuple(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}"
    return ",".join(map(str, seeds))


def worker_threads(cores: int | None = None, workers: int | None = None) -> int | None:
    """Framework threads (TensorFlow's or XLA's) for this process: its share of the cores under xdist,
    else None (all)."""
    workers = workers if workers is not None else int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "0") or 0)
    if workers <= 0:
        return None
    if cores is None:
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // workers)


@dataclass(frozen=True)
class Settings:
    profile: str
    dataset: str
    seeds: tuple[int, ...]
    cache_dir: Path
    cache_mode: str
    session_id: str
    report_dir: Path
    threads: int | None
    engine: str = DEFAULT_ENGINE

    @classmethod
    def resolve(cls, *, profile: str = "quick", dataset: str | None = None, seeds: str | None = None,
                cache_dir: str | None = None, cache_mode: str = "use", session_id: str = "",
                report_dir: str | Path = "reports", root: Path | str = ".",
                threads: int | None = None, engine: str | None = None) -> "Settings":
        if profile not in PROFILES:
            raise SettingsError(f"--claims-profile {profile!r} is unknown; choose one of {', '.join(PROFILES)}")
        if cache_mode not in CACHE_MODES:
            raise SettingsError(f"--claims-cache-mode {cache_mode!r} is unknown; choose one of {', '.join(CACHE_MODES)}")
        engine = DEFAULT_ENGINE if engine is None else engine
        if engine not in ENGINES:
            raise SettingsError(f"--claims-engine {engine!r} is unknown; choose one of {', '.join(ENGINES)}")
        chosen = PROFILES[profile]
        root = Path(root)
        cache_dir = cache_dir or os.environ.get(CACHE_ENV_VAR) or root / ".claims-cache"
        return cls(
            profile=profile,
            dataset=dataset or chosen.dataset,
            seeds=parse_seeds(seeds) if seeds is not None else chosen.seeds,
            cache_dir=Path(cache_dir).expanduser().resolve(),
            cache_mode=cache_mode,
            session_id=session_id,
            report_dir=(root / report_dir).resolve(),
            threads=threads,
            engine=engine,
        )

    def options(self) -> list[str]:
        """The command-line options that reproduce this configuration (the engine only when not the
        default, so that commands stay short in the common case)."""
        engine = ["--claims-engine", self.engine] if self.engine != DEFAULT_ENGINE else []
        return ["--claims-profile", self.profile, "--claims-dataset", self.dataset,
                "--claims-seeds", format_seeds(self.seeds), *engine]

    def rerun_command(self, target: str = "claims/") -> str:
        return shlex.join(["pytest", target, *self.options()])

    def describe(self) -> list[str]:
        return [
            f"claims: profile {self.profile}, dataset {self.dataset}, seeds {format_seeds(self.seeds)} (n={len(self.seeds)})",
            f"claims: engine {self.engine} (Keras on {ENGINES[self.engine]}), cache {self.cache_dir} "
            f"(mode {self.cache_mode}), threads per worker {self.threads or 'all'}",
            f"claims: reproduce with: {self.rerun_command()}",
        ]
