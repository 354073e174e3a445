"""Runs planned ahead of the tests that ask for them, on a cluster.

A check asks for its runs one group at a time, and asks for the next group only once it has computed on
the last (a look's seeds, the tuned rate, the sweep's extension). On a cluster that leaves workers idle
while the session's processes compute, or while a group's last task trains. A session's checks ask for
the same runs as the last session with the same settings (a run's result depends only on its spec), so
each session keeps, beside the run cache, the specs every test used (`run-plan.json`, keyed like the
progress line's history by the command that reproduces the settings). A session on a cluster that finds a
plan for its settings sends the planned runs the cache lacks to the workers from the start, a program's runs
together, the programs in the order the tests first asked for them last time, while the tests run
(Prefetcher); a test's own tasks go first.

Nothing about a result depends on the plan: a planned run is trained by the same worker code under the
same key as a test's, and stored once. While a planned task is in flight its runs are locked in the run
cache, so a test that asks for one waits for it as it waits for a run another process trains; runs the
cache has, or that another process holds, are left out of the plan's tasks. A stale plan (other checks,
a damaged file) costs runs trained that no test asked for, never a wrong result: they are stored like any
other. Without a plan, or without a cluster, nothing changes.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from pathlib import Path

from filelock import Timeout

from .cluster import PLANNED_PRIORITY, ClusterError, positions_by_program
from .spec import RunSpec, SpecError, run_key

PLAN_NAME = "run-plan.json"
# Runs of one program in one planned task. A task is the unit a worker takes: a test that waits for one of
# its runs waits for the task (8 runs: about 2.5 s on the short profile, 30 s on the default).
PLANNED_RUNS_PER_TASK = 8


def read_plan(cache_dir: Path, settings_key: str) -> dict[str, list[dict]]:
    """{test node id: the specs (as dicts) it used} from the last session with these settings; {} when
    there is none or the file cannot be read."""
    try:
        plans = json.loads((Path(cache_dir) / PLAN_NAME).read_text(encoding="utf-8"))
        return _decoded(plans.get(settings_key, {}))
    except (OSError, ValueError, TypeError, AttributeError, KeyError, IndexError, RecursionError):
        return {}


def write_plan(cache_dir: Path, settings_key: str, specs_by_test: dict[str, list[dict]]) -> None:
    """Keep each test's specs for the next session with these settings (the plans of tests this session did
    not run stay)."""
    from .cache import atomic_write_text, read_json_object

    path = Path(cache_dir) / PLAN_NAME
    plans = read_json_object(path)
    try:
        known = _decoded(plans.get(settings_key, {}))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError):
        known = {}
    plans[settings_key] = _encoded({**known, **specs_by_test})
    try:
        atomic_write_text(path, json.dumps(plans, separators=(",", ":"), sort_keys=True))
    except OSError:
        pass    # a plan is a courtesy: a read-only cache folder must not stop a session


def _encoded(specs_by_test: dict[str, list[dict]]) -> dict:
    """Each spec once (tests share most of their runs), each test as the positions of its specs."""
    positions: dict[str, int] = {}
    specs: list[dict] = []
    tests = {}
    for nodeid, test_specs in specs_by_test.items():
        tests[nodeid] = []
        for spec in test_specs:
            text = json.dumps(spec, sort_keys=True)
            if text not in positions:
                positions[text] = len(specs)
                specs.append(spec)
            tests[nodeid].append(positions[text])
    return {"specs": specs, "tests": tests}


def _decoded(plan: dict) -> dict[str, list[dict]]:
    if not plan:
        return {}
    specs = plan["specs"]
    return {str(nodeid): [dict(specs[position]) for position in positions]
            for nodeid, positions in plan["tests"].items()}


def planned_specs(plan: dict[str, list[dict]], nodeids: list[str]) -> list[RunSpec]:
    """The specs the plan holds for these tests, in their order and each once; a spec this version cannot
    read is left out (it would be trained under another key than any test's)."""
    specs: dict[str, RunSpec] = {}
    for nodeid in nodeids:
        for data in plan.get(nodeid, ()):
            try:
                spec = RunSpec.from_dict(data)
            except (SpecError, TypeError, ValueError):
                continue
            specs.setdefault(spec.canonical_json(), spec)
    return list(specs.values())


def planned_tasks(specs: list[RunSpec], program_of) -> list[list[RunSpec]]:
    """The specs as tasks: runs that share a program (program_of(spec), None for none) together, in the
    order of each program's first run, at most PLANNED_RUNS_PER_TASK a task."""
    by_program = positions_by_program([program_of(spec) for spec in specs])
    return [[specs[p] for p in positions[start:start + PLANNED_RUNS_PER_TASK]] for positions in by_program.values()
            for start in range(0, len(positions), PLANNED_RUNS_PER_TASK)]


class Prefetcher:
    """Trains a session's planned runs on the lab's cluster, in a thread, while the tests run: as many
    tasks in flight as the cluster has worker threads. Each result is stored in the run cache when it
    arrives; stop() cancels what has not started."""

    def __init__(self, lab, specs: list[RunSpec]) -> None:
        if lab.cluster is None:
            raise ValueError("runs are planned ahead only on a cluster")
        self.lab = lab
        self.specs = specs
        self.trained = 0                 # planned runs stored by this session
        self.problem = ""                # the first task the cluster could not train (the tests train it)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._in_flight: dict = {}       # future -> (its specs, their locks)

    def start(self) -> "Prefetcher":
        self._thread = threading.Thread(target=self._run, name="claims-plan", daemon=True)
        self._thread.start()
        return self

    def wait(self, timeout: float | None = None) -> None:
        """Until every planned task has come back (or `timeout` seconds)."""
        if self._thread is not None:
            self._thread.join(timeout=timeout)

    def stop(self) -> None:
        """Cancel the planned tasks in flight and wait for the thread to let go of their locks."""
        self._stopping.set()
        for future in list(self._in_flight):
            future.cancel()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def _run(self) -> None:
        try:
            self._train_planned()
        except Exception as error:    # the tests train whatever the plan did not: never a failed session
            self.problem = self.problem or f"{type(error).__name__}: {error}"

    def _train_planned(self) -> None:
        from distributed import as_completed

        lab, cluster = self.lab, self.lab.cluster
        dataset, ctx = lab.dataset, lab.run_context
        tasks = deque(planned_tasks(self.specs, lab.cluster_program))
        in_flight = self._in_flight
        finished = as_completed(loop=cluster.client.loop)
        try:
            while (tasks or in_flight) and not self._stopping.is_set():
                window = max(1, sum(cluster.client.nthreads().values()))    # workers may come and go
                while tasks and len(in_flight) < window and not self._stopping.is_set():
                    specs, locks = self._claim(tasks.popleft(), ctx)
                    if specs:
                        future = cluster.submit(specs, dataset, lab.engine, ctx, priority=PLANNED_PRIORITY)
                        in_flight[future] = (specs, locks)
                        finished.add(future)
                if not in_flight:
                    continue
                future = next(finished)
                specs, locks = in_flight.pop(future)
                if future.cancelled():          # stop() cancelled it: the session is ending
                    for lock in locks:
                        lock.release()
                    continue
                try:
                    for result in cluster.results_of(future, specs, ctx):
                        lab.cache.store(result)
                        self.trained += 1
                except ClusterError as error:
                    if not self._stopping.is_set():
                        self.problem = self.problem or str(error)
                finally:
                    for lock in locks:
                        lock.release()
        finally:
            for future, (_, locks) in in_flight.items():
                future.cancel()
                for lock in locks:
                    lock.release()

    def _claim(self, specs: list[RunSpec], ctx) -> tuple[list[RunSpec], list]:
        """The specs of a planned task that no one has trained or is training, each locked in the run cache
        for this thread, and their locks."""
        cache = self.lab.cache
        claimed, locks = [], []
        for spec in specs:
            key = run_key(spec, ctx)
            lock = cache.lock(key)
            try:
                lock.acquire(timeout=0)
            except Timeout:        # a test is training it, or waits for it
                continue
            if cache.usable(key) is not None:
                lock.release()
                continue
            claimed.append(spec)
            locks.append(lock)
        return claimed, locks
