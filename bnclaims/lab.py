"""Lab: hands claim modules their runs. One per process; cache first, Keras only on a miss."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable

from . import backend
from .cache import RunCache
from .data import Dataset, load_dataset
from .results import RunResult
from .settings import Settings
from .spec import RunSpec


@dataclass(frozen=True)
class RunRecord:
    """How one run was obtained, for progress lines and the report."""

    context: str
    label: str
    seed: int
    key: str
    from_cache: bool
    seconds: float
    outcome: str
    test_accuracy: float

    def line(self) -> str:
        how = "cache hit" if self.from_cache else f"trained in {self.seconds:.1f} s"
        return (f"[claims] {self.context}: {self.label} seed={self.seed}: {how}, "
                f"test acc {self.test_accuracy:.4f} ({self.outcome})")


class Lab:
    def __init__(self, settings: Settings, say: Callable[[str], None] = print) -> None:
        self.settings = settings
        self.cache = RunCache(settings.cache_dir, settings.cache_mode, settings.session_id)
        self.say = say
        self.records: list[RunRecord] = []
        self._reported = 0
        self._memo: dict[str, RunResult] = {}

    @property
    def dataset(self) -> Dataset:
        return load_dataset(self.settings.dataset)

    def base_spec(self, **changes) -> RunSpec:
        """The talk's base setting on this session's dataset, with changes."""
        return RunSpec(dataset=self.settings.dataset, **changes)

    def run(self, spec: RunSpec, *, context: str = "") -> RunResult:
        key = spec.key()
        started = time.perf_counter()
        if key in self._memo:
            result, from_cache = self._memo[key], True
        else:
            dataset = self.dataset   # fails with a clear DatasetError before anything is trained
            backend.load(self.settings.threads)
            from .training import train

            result, from_cache = self.cache.get_or_train(spec, lambda: train(spec, dataset))
            self._memo[key] = result
        record = RunRecord(context, spec.label(), spec.seed, key, from_cache,
                           time.perf_counter() - started, result.outcome, result.test_accuracy)
        self.records.append(record)
        self.say(record.line())
        return result

    def take_new_records(self) -> list[RunRecord]:
        """Records since the last call: each run is reported once, whichever test asked first."""
        new, self._reported = self.records[self._reported:], len(self.records)
        return new

    def across_seeds(self, spec: RunSpec, *, context: str = "") -> list[RunResult]:
        """The spec once per session seed, in seed order (so two arms pair up by position)."""
        return [self.run(spec.replace(seed=seed), context=context) for seed in self.settings.seeds]

    def sweep(self, specs: dict, *, context: str = "") -> dict:
        """{label: spec} -> {label: runs across seeds}, e.g. one entry per learning rate."""
        return {label: self.across_seeds(spec, context=f"{context}[{label}]") for label, spec in specs.items()}
