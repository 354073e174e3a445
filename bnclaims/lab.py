"""Lab: hands claim modules their runs. One per process; cache first, the session's engine on a miss.

Claims ask for whole groups (a spec across seeds, a sweep of specs): the runs the cache cannot serve
are trained together, so that an engine in a subprocess starts once per group, and the compiled
engine compiles once per program. Cache lookups stay per run key, and a run's result does not depend
on the group it was trained in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable

from . import backend, runner
from .compilation_cache import use_compilation_cache
from .cache import RunCache
from .cluster import ClusterExecutor
from .data import PER_SEED_SPLIT_DATASETS, Dataset, image_shape, load_dataset, split_for_run
from .results import RunResult
from .settings import Settings, passes_for
from .spec import BATCH_STATISTICS_RECORDS, ENGINES, RunContext, RunSpec, run_key

# The base configurations, with and without BN, are asked for by most claims, and by some with probes
# of their own (R1, A4, P1, P3). A run of either is always asked for with every probe any claim takes on
# it, so that each seed of it trains once instead of once per set of probes: probes never change
# training (they run on the trained model, or inside the program with its state restored; tests/
# test_training.py), so every claim gets the run it asked for, with more recorded. A probe a claim adds
# later that is missing here costs a training of its own, never a wrong result.
SHARED_BASE_RECORDS = {
    "before": ("bn_input_noise", "fixed_example_noise", "gradient_ics", "preactivation_percentiles", "recalibrated",
               "training_mode_test"),
    "none": ("gradient_noise", "gradient_ics"),
}


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
    examples_seen: int = 0     # training examples the run saw: its budget
    steps: int = 0             # SGD steps it took (or planned, for a run that diverged)
    split: str = ""            # the train/validation/test split it trained on, in words
    spec: dict = field(default_factory=dict)   # the spec it trained (the next session's plan: bnclaims.plan)

    def line(self) -> str:
        how = "from the cache" if self.from_cache else f"trained in {self.seconds:.1f} s"
        return (f"[claims] {self.context}: {self.label} seed={self.seed}: {how}: {self.outcome}, "
                f"test acc {self.test_accuracy:.4f}")


class Lab:
    def __init__(self, settings: Settings, say: Callable[["RunRecord"], None] = lambda record: print(record.line())) -> None:
        self.settings = settings
        self.engine = settings.engine
        self.cache = RunCache(settings.cache_dir, settings.cache_mode, settings.session_id)
        self.say = say
        self.records: list[RunRecord] = []
        self._reported = 0
        self._memo: dict[str, RunResult] = {}
        self._context: RunContext | None = None
        # The seeds across_seeds and sweep train: the session's, or a later look's of the sequential design
        # (the plugin sets them while a check is undecided).
        self.seeds: tuple[int, ...] = settings.seeds
        # The normalizer base_spec puts where the talk puts BN: "batch", or the one of the normalizer control
        # the plugin is running (bnclaims.catalogue.normalizer_of; docs/normalizers.md).
        self.normalizer: str = "batch"
        # Where runs the cache lacks are trained: this process (or its engine's subprocess), or a cluster.
        self.cluster = ClusterExecutor(settings.cluster) if settings.cluster else None
        if backend.loaded_name() is None:
            # Claim modules that use Keras directly load it after the Lab exists: on the engine's backend.
            backend.prefer(ENGINES[self.engine])

    @property
    def dataset(self) -> Dataset:
        dataset = load_dataset(self.settings.dataset)
        if self.settings.architecture == "conv":
            image_shape(dataset.num_features)   # one DatasetError line before anything trains, not one per run
        return dataset

    @property
    def run_context(self) -> RunContext:
        """Engine, backend, device and data fingerprint: with a spec, they make a run's key."""
        if self._context is None:
            dataset = self.dataset   # fails with a clear DatasetError before anything is trained
            if self.cluster is not None:    # the workers' device, not this process's
                where = self.cluster.platform(self.engine)
                block = self.settings.seed_block or (backend.default_seed_block(where) if self.engine == "compiled" else 1)
                self._context = RunContext(self.engine, ENGINES[self.engine], where, dataset.fingerprint,
                                           seed_block=block)
                return self._context
            if runner.runs_here(self.engine):
                backend.load(self.settings.threads, name=ENGINES[self.engine])
                if self.engine == "compiled" and self.settings.cache_mode != "bypass":
                    use_compilation_cache(self.settings.cache_dir)
            self._context = runner.context(self.engine, dataset, self.settings.seed_block)
        return self._context

    @property
    def passes(self) -> int:
        """Passes over the training split that make the session's budget of examples."""
        return passes_for(self.settings.examples, len(self.dataset.y_train))

    @property
    def split(self) -> str:
        return "per_seed" if self.settings.dataset in PER_SEED_SPLIT_DATASETS else "fixed"

    def base_spec(self, **changes) -> RunSpec:
        """The talk's base setting on this session's dataset, budget and network (the profile's
        architecture and hidden widths), with changes; its normalization layer is the Lab's normalizer (a
        plain spec has none)."""
        network = {"architecture": self.settings.architecture,
                   **({"hidden": self.settings.hidden} if self.settings.hidden else {})}
        return RunSpec(**{"dataset": self.settings.dataset, "epochs": self.passes, "split": self.split,
                          "normalizer": self.normalizer, **network, **changes})

    def shared(self, spec: RunSpec) -> RunSpec:
        """The spec as the Lab trains it: a base configuration records SHARED_BASE_RECORDS as well."""
        if spec.architecture != "mlp":
            # The checks that read these records off the base runs (R1, P1, P3, A4-global) are about the
            # talk's MLP and do not run on another network (Settings' profile.claims): its runs record what
            # their own check asks for.
            return spec
        extra = SHARED_BASE_RECORDS.get(spec.batch_norm, ())
        if spec.normalizer != "batch":      # what BN's batch statistics record, another normalizer lacks
            extra = tuple(record for record in extra if record not in BATCH_STATISTICS_RECORDS)
        if not extra or spec.replace(record=(), seed=0) != self.base_spec(batch_norm=spec.batch_norm, seed=0):
            return spec
        return spec.replace(record=(*spec.record, *extra))

    def budget_of(self, spec: RunSpec) -> tuple[int, int, str]:
        """(examples seen, SGD steps, split in words) of a run of this spec."""
        data = split_for_run(self.dataset, spec.split, spec.seed)
        train_size = len(data.y_train)
        return spec.epochs * train_size, spec.epochs * -(-train_size // spec.batch_size), data.split

    def run(self, spec: RunSpec, *, context: str = "") -> RunResult:
        return self.runs([spec], context=context)[0]

    def runs(self, specs: list[RunSpec], *, context: str = "", contexts: list[str] | None = None) -> list[RunResult]:
        """Results for specs, in order: memo, then cache, then the engine trains the rest as one group."""
        started = time.perf_counter()
        self._check_normalizer(specs)
        contexts = contexts or [context] * len(specs)
        specs = [self.shared(spec) for spec in specs]
        keys = [run_key(spec, self.run_context) for spec in specs]
        wanted = {}   # first position of each key not yet in the memo
        for position, key in enumerate(keys):
            if key not in self._memo:
                wanted.setdefault(key, position)
        hits: dict[str, bool] = {}
        if wanted:
            positions = list(wanted.values())

            def finished(m: int, result: RunResult) -> None:   # progress as each run ends, not when the group does
                self.say(self._record(specs[positions[m]], result, contexts[positions[m]], False, result.wall_seconds))

            def train(missing: list[int]) -> list[RunResult]:
                group = [specs[positions[m]] for m in missing]
                if self.cluster is not None:
                    return self._train_on_cluster(group, lambda index, result: finished(missing[index], result))
                trained = runner.train(group, self.dataset, self.engine, self.settings.threads, self.run_context)
                for m, result in zip(missing, trained):
                    finished(m, result)
                return trained

            # One run at a time where this process trains: workers asking for overlapping runs share
            # them. An engine in a subprocess gets the whole group, so that it starts once; a cluster gets
            # it too, so that its workers train the group side by side.
            chunk = 1 if runner.runs_here(self.engine) and self.cluster is None else None
            groups = [runner.program_group(self.engine, specs[p], self.dataset) for p in positions] if chunk else None
            obtained = self.cache.get_or_train_many([keys[p] for p in positions], train, chunk=chunk, groups=groups,
                                                    stored_by_train=self.cluster is not None)
            for position, (result, hit) in zip(positions, obtained):
                self._memo[keys[position]] = result
                hits[keys[position]] = hit
        lookup = (time.perf_counter() - started) / max(len(specs), 1)
        results = []
        for spec, key, label in zip(specs, keys, contexts):
            result = self._memo[key]
            from_cache = hits.get(key, True)
            record = self._record(spec, result, label, from_cache, lookup if from_cache else result.wall_seconds)
            self.records.append(record)
            if from_cache:                  # a trained run was told of when it ended
                self.say(record)
            results.append(result)
        return results

    def _check_normalizer(self, specs: list[RunSpec]) -> None:
        """A normalizer control must not train BN where it means another normalizer: a spec built other than
        from base_spec would quietly make the control a copy of its BN check."""
        stray = next((spec for spec in specs if spec.batch_norm != "none" and spec.normalizer != self.normalizer), None)
        if stray is not None:
            raise ValueError(f"a check running with normalizer {self.normalizer!r} asked for {stray.label()} "
                             f"(normalizer {stray.normalizer!r}): build its specs from Lab.base_spec")

    def _train_on_cluster(self, group: list[RunSpec], finished: Callable[[int, RunResult], None]) -> list[RunResult]:
        """The group trained on the cluster, each result stored as it arrives (kept even if a later task of
        the group fails). A program's runs train as one task (made once); with seed blocks, one task a block."""
        def arrived(index: int, result: RunResult) -> None:
            if self.cache.mode != "bypass":
                self.cache.store(result)
            finished(index, result)

        programs = [self.cluster_program(spec) for spec in group]
        return self.cluster.train(group, self.dataset, self.engine, self.run_context, arrived, programs,
                                  splittable=self.run_context.seed_block == 1)

    def cluster_program(self, spec: RunSpec):
        """What the runs that one cluster task may train together share: the compiled program and, with seed
        blocks, the seed's block; None for an engine that sets up each run anew."""
        program = runner.program_group(self.engine, spec, self.dataset)
        block = self.run_context.seed_block
        return None if program is None else (program, spec.seed // block if block > 1 else 0)

    def _record(self, spec: RunSpec, result: RunResult, context: str, from_cache: bool, seconds: float) -> RunRecord:
        return RunRecord(context, spec.label(), spec.seed, result.key, from_cache, seconds, result.outcome,
                         result.test_accuracy, *self.budget_of(spec), spec=spec.to_dict())

    def cluster_device(self) -> str | None:
        """'<the workers' device> on the Dask cluster at <address>', once this Lab has asked a cluster for
        its device; None without a cluster."""
        if self.cluster is None or self._context is None:
            return None
        kind, _, where = self._context.platform.partition(":")
        device = f"CPU ({where.split(' (')[0]})" if kind == "cpu" else where
        return f"{device} on the Dask cluster at {self.cluster.address}"

    def close(self) -> None:
        """Let go of the cluster, if the session used one."""
        if self.cluster is not None:
            self.cluster.close()

    def take_new_records(self) -> list[RunRecord]:
        """Records since the last call: each run is reported once, whichever test asked first."""
        new, self._reported = self.records[self._reported:], len(self.records)
        return new

    def per_look(self, build: Callable[[], object]) -> Callable[[], object]:
        """What a module-scoped fixture hands its tests when its value depends on the seeds: a function
        that builds the value for the current look's seeds and normalizer, once per look (a later look of
        the sequential design sees more seeds than the look the fixture was first asked in)."""
        built: dict[tuple, object] = {}

        def value():
            look = (self.seeds, self.normalizer)    # a normalizer control builds its own
            if look not in built:
                built[look] = build()
            return built[look]

        return value

    def across_seeds(self, spec: RunSpec, *, context: str = "") -> list[RunResult]:
        """The spec once per seed of the current look, in seed order (so two arms pair up by position)."""
        return self.runs([spec.replace(seed=seed) for seed in self.seeds], context=context)

    def sweep(self, specs: dict, *, context: str = "") -> dict:
        """{label: spec} -> {label: runs across seeds}, e.g. one entry per learning rate; every run of
        the sweep that the cache lacks is trained in one group."""
        labels = list(specs)
        seeds = self.seeds
        flat = [specs[label].replace(seed=seed) for label in labels for seed in seeds]
        results = self.runs(flat, contexts=[f"{context}[{label}]" for label in labels for _ in seeds])
        return {label: results[i * len(seeds):(i + 1) * len(seeds)] for i, label in enumerate(labels)}
