"""Train runs on a Dask distributed cluster: `--claims-cluster ADDRESS`, or $BNCLAIMS_CLUSTER.

The session stays where it runs and keeps the run cache. The runs the cache lacks go to the scheduler as
soon as a test asks for them (a test's whole group at once: every seed, every rate of a sweep), the runs
that share a compiled program as one task, or as a few where workers would otherwise sit idle
(task_sizes); results come back to the session, which checks their keys and stores them. So workers need no shared filesystem and no data files: the session's dataset is shipped to each worker
once (scatter), and a worker checks it against the data fingerprint in the run key before training on
it. A worker keeps its compiled programs for the runs after, and JAX's persistent compilation cache in
its own cache folder (bnclaims.compilation_cache) for later sessions.

A worker that dies mid-task has its task started again on another worker by the scheduler; each run is
stored once, by the session, when its result arrives.

A run key names the device that trained the run. The session asks the workers for theirs when it first
needs a key: every worker must train on the same one (one CPU model and instruction sets, or one kind of
accelerator), else the session stops with one line naming them.

Workers need this package and the same versions of its libraries (they are in the key; a worker with
others trains under another key, which the session refuses). docs/cluster.md says how to start them.
"""

from __future__ import annotations

import statistics
import threading
from typing import Callable

from . import backend, runner
from .compilation_cache import use_compilation_cache
from .data import Dataset
from .results import RunResult
from .settings import RUN_THREADS, parse_cluster
from .spec import ENGINES, RunContext, RunSpec, run_key

# A test's own runs go before the runs planned ahead of the tests (bnclaims.plan): they are what a test
# waits for now.
TESTS_PRIORITY, PLANNED_PRIORITY = 1, 0


def connect_timeout() -> float:
    """Seconds to reach the scheduler, and to wait for its first worker, before the session gives up:
    Dask's own connect timeout (30 s unless its configuration, or DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT,
    says otherwise)."""
    import dask
    from dask.utils import parse_timedelta

    return parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds")


class ClusterError(RuntimeError):
    """The cluster cannot train the session's runs; the message is one line that says why."""


# ---------------------------------------------------------------------- on a worker

# A worker process trains one run at a time, whatever its thread count: each run trains on RUN_THREADS
# of the framework (bnclaims.settings), and a compiled program is made once per process.
_one_at_a_time = threading.Lock()
_checked_data: set[str] = set()


def _start_framework(engine: str) -> None:
    """Load the engine's backend in this worker, its threads pinned as every training process pins them,
    and keep compiled programs in the worker's own compilation cache."""
    if backend.loaded_name() is None:
        backend.load(RUN_THREADS, name=ENGINES[engine])
        if engine == "compiled":
            use_compilation_cache(None)


def worker_platform(engine: str) -> str:
    """The device this worker trains `engine`'s runs on, as run keys name it (bnclaims.backend.platform)."""
    with _one_at_a_time:
        _start_framework(engine)
        return backend.platform(ENGINES[engine])


def check_shipped_data(dataset: Dataset, expected: str) -> None:
    """The fingerprint of the arrays this worker received, computed here, against the run key's."""
    if expected in _checked_data:
        return
    fingerprint = type(dataset).fingerprint.func(dataset)   # not the value computed before shipping
    if fingerprint != expected:
        raise ClusterError(f"the {dataset.name} arrays this worker received have fingerprint {fingerprint[:12]}, "
                           f"not the run key's {expected[:12]}: they were damaged on the way")
    _checked_data.add(expected)


def train_on_worker(specs: list[dict], engine: str, dataset: Dataset, context: dict) -> list[dict]:
    """Runs that share a program, trained in turn on the worker that runs this task; their RunResults as
    JSON."""
    with _one_at_a_time:
        _start_framework(engine)
        ctx = RunContext(**context)
        check_shipped_data(dataset, ctx.data)
        here = backend.platform(ENGINES[engine])
        if here != ctx.platform:
            raise ClusterError(f"this worker trains on {here}, not on the session's {ctx.platform}")
        results = runner.train([RunSpec.from_dict(spec) for spec in specs], dataset, engine, RUN_THREADS, ctx)
        return [result.to_json_dict() for result in results]


# ---------------------------------------------------------------------- in the session

class ClusterExecutor:
    """The session's link to one scheduler: connected on first use, in every process that trains."""

    def __init__(self, address: str) -> None:
        self.address = parse_cluster(address)
        self._client = None
        self._shipped: dict[str, object] = {}   # data fingerprint -> the scattered dataset's future
        self._platforms: dict[str, str] = {}    # engine -> the workers' device
        self._timings: list[tuple[float, float]] = []   # (training, compiling) seconds of each run back
        self._submitted = 0                              # tasks so far: each task's key is its own

    @property
    def client(self):
        if self._client is None:
            from distributed import Client

            try:
                self._client = Client(self.address, timeout=connect_timeout(), set_as_default=False)
            except (OSError, TimeoutError) as error:
                raise ClusterError(f"cannot reach the Dask scheduler at {self.address}: "
                                   f"{str(error).splitlines()[0] if str(error) else type(error).__name__}") from None
        return self._client

    def workers(self) -> int:
        return len(self.client.scheduler_info(n_workers=-1)["workers"])

    def platform(self, engine: str) -> str:
        """The one device the cluster's workers train `engine` on."""
        if engine not in self._platforms:
            try:
                self.client.wait_for_workers(1, timeout=connect_timeout())
            except TimeoutError:
                raise ClusterError(f"the Dask scheduler at {self.address} has no worker after "
                                   f"{connect_timeout():g} s: start one (docs/cluster.md)") from None
            try:
                found = self.client.run(worker_platform, engine)
            except Exception as error:      # e.g. a worker without this package: ModuleNotFoundError
                first = (str(error).strip().splitlines() or [""])[0]
                raise ClusterError(f"the workers at {self.address} cannot start the {engine} engine: "
                                   f"{type(error).__name__}: {first} (each needs this project and its "
                                   f"requirements installed: docs/cluster.md)") from None
            kinds = sorted(set(found.values()))
            if len(kinds) > 1:
                listed = "; ".join(f"{kind} ({sum(v == kind for v in found.values())} workers)" for kind in kinds)
                raise ClusterError(f"the workers at {self.address} train on different devices ({listed}): a run's "
                                   f"key names one device, so give each kind its own scheduler")
            self._platforms[engine] = kinds[0]
        return self._platforms[engine]

    def _shipped_dataset(self, dataset: Dataset):
        if dataset.fingerprint not in self._shipped:
            self._shipped[dataset.fingerprint] = self.client.scatter(dataset, broadcast=True, hash=False)
        return self._shipped[dataset.fingerprint]

    def train(self, specs: list[RunSpec], dataset: Dataset, engine: str, ctx: RunContext,
              finished: Callable[[int, RunResult], None] = lambda position, result: None,
              programs: list | None = None, splittable: bool = True) -> list[RunResult]:
        """Results in spec order, `finished(position, result)` as each task's arrive; every task submitted
        at once. programs: one label per spec, alike for runs that share a compiled program (and seed
        block): such runs go to one worker as one task, which makes the program once and trains them in
        turn, as one process does, or as a few tasks where workers would otherwise sit idle (task_sizes;
        splittable=False keeps them whole: a seed block trains as one program); None, or a None label,
        sends a run as a task of its own. One line (ClusterError) for a task the cluster could not train."""
        from distributed import as_completed

        by_program = positions_by_program(programs or [None] * len(specs))
        idle = sum(not keys for keys in self.client.processing().values()) if splittable else 0
        spare = max(0, idle - len(by_program)) // len(by_program)
        tasks = {}
        for label, positions in by_program.items():
            sizes = task_sizes(len(positions), spare, *self._estimates()) if splittable else [len(positions)]
            for number, size in enumerate(sizes):
                start = sum(sizes[:number])
                tasks[(label, number)] = positions[start:start + size]
        futures = {self.submit([specs[p] for p in positions], dataset, engine, ctx, priority=TESTS_PRIORITY):
                   positions for positions in tasks.values()}
        results: list[RunResult | None] = [None] * len(specs)
        try:
            for future in as_completed(list(futures), loop=self.client.loop):
                positions = futures[future]
                for position, result in zip(positions, self.results_of(future, [specs[p] for p in positions], ctx)):
                    results[position] = result
                    finished(position, result)
        finally:
            for future in futures:
                if not future.done():
                    future.cancel()
        return results

    def submit(self, specs: list[RunSpec], dataset: Dataset, engine: str, ctx: RunContext, *, priority: int):
        """One task that trains `specs` in turn on one worker (runs that share a program: it is made once);
        its future. Among tasks waiting for a worker, the higher priority goes first."""
        first = specs[0]
        self._submitted += 1
        return self.client.submit(train_on_worker, [spec.to_dict() for spec in specs], engine,
                                  self._shipped_dataset(dataset), ctx.__dict__, pure=False, priority=priority,
                                  key=f"bnclaims-{first.label()}-{_seeds(specs)}-{run_key(first, ctx)[:12]}-"
                                      f"{id(self):x}-{self._submitted}")

    def results_of(self, future, specs: list[RunSpec], ctx: RunContext) -> list[RunResult]:
        """A finished task's RunResults, each checked against its spec's key; one line (ClusterError) for a
        task the cluster could not train."""
        what = f"{specs[0].label()} {_seeds(specs)}"
        try:
            answers = future.result()
        except Exception as error:   # the worker's exception, or the scheduler's KilledWorker
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise ClusterError(f"the cluster at {self.address} could not train {what}: "
                               f"{type(error).__name__}{': ' + first if first else ''}") from None
        results = []
        for number, (spec, answer) in enumerate(zip(specs, answers)):
            result = RunResult.from_json_dict(answer)
            if result.key != run_key(spec, ctx):
                raise ClusterError(f"a worker at {self.address} trained {what} under another key: its "
                                   f"libraries differ from this session's")
            making = result.compile_seconds or 0.0
            # A task's first run makes its program (unless the worker had it): the cost of spreading.
            self._timings.append((result.wall_seconds - making, making if number == 0 else 0.0))
            results.append(result)
        return results

    def _estimates(self) -> tuple[float | None, float | None]:
        """(a run's training seconds, a program's making seconds): medians over the runs back so far (the
        second over the tasks' first runs that made their program); None before any."""
        training = [train for train, _ in self._timings]
        making = [make for _, make in self._timings if make > 0]
        return (statistics.median(training) if training else None, statistics.median(making) if making else None)

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


def positions_by_program(labels: list) -> dict[object, list[int]]:
    """{program label: the positions that have it}, in the order of each label's first position; a None
    label is a program of its own."""
    by_program: dict[object, list[int]] = {}
    for position, label in enumerate(labels):
        by_program.setdefault(("one run", position) if label is None else label, []).append(position)
    return by_program


def task_sizes(runs: int, spare_workers: int, run_seconds: float | None, compile_seconds: float | None) -> list[int]:
    """How many of one program's runs each of its tasks trains. One task for all, as one process trains
    them, unless workers would otherwise sit idle (spare_workers: idle beyond the one that takes the
    first task) and each task's training still takes as long as making the program again: spreading a
    program then never spends more worker time making programs than training. Unknown times: one task."""
    if runs < 2 or spare_workers < 1 or run_seconds is None or not compile_seconds:
        return [runs]
    worth = int(runs * run_seconds / compile_seconds)
    tasks = max(1, min(runs, 1 + spare_workers, worth))
    base, extra = divmod(runs, tasks)
    return [base + 1] * extra + [base] * (tasks - extra)


def _seeds(specs: list[RunSpec]) -> str:
    seeds = [spec.seed for spec in specs]
    return f"seed={seeds[0]}" if len(seeds) == 1 else "seeds=" + ",".join(map(str, seeds))
