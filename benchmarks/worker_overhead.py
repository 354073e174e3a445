"""Benchmark: what a Dask worker adds to a run, against this process training the same runs.

    python benchmarks/worker_overhead.py                 # 20 short-profile runs, 4 interleaved rounds
    python benchmarks/worker_overhead.py --runs 40 --rounds 6

Starts two lone `dask worker --nthreads 1 --no-nanny` processes on 127.0.0.1, each with its own scheduler:
one as Dask starts it, one with Dask's statistical profiler off (DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED=
False; the profiler samples the training thread's stack every 10 ms). Each round trains the same runs (the
short profile's base configurations, with and without BN) in this process and on each worker, their
programs made beforehand, and prints per arm the median run's training time (wall, without making the
program) and the CPU time its process spent per run: wall time says what a run waits, CPU time what it
takes from a machine whose cores are shared. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from cluster_timing import cpu_seconds, scheduler_and_workers  # noqa: E402

PROFILER_OFF = {"DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs per arm and round (half with BN, half without)")
    parser.add_argument("--rounds", type=int, default=4)
    arguments = parser.parse_args()
    if arguments.runs < 2 or arguments.rounds < 1:
        parser.error("--runs must be at least 2 and --rounds at least 1")

    from bnclaims import backend, runner
    from bnclaims.lab import Lab
    from bnclaims.settings import Settings

    folder = Path(tempfile.mkdtemp(prefix="bnclaims-worker-overhead-"))
    env = {**os.environ, "XDG_CACHE_HOME": str(folder / "xdg"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    for name in ("on", "off"):
        (folder / name).mkdir()
    backend.load(1, name="jax")
    with scheduler_and_workers(folder / "on", 1, env) as (address_on, workers_on), \
            scheduler_and_workers(folder / "off", 1, {**env, **PROFILER_OFF}) as (address_off, workers_off):
        labs = {arm: Lab(Settings.resolve(profile="short", cache_dir=str(folder / "cache"),
                                          report_dir=str(folder / "reports"), root=folder, threads=1,
                                          cache_mode="bypass", session_id="overhead", cluster=address),
                         lambda record: None)
                for arm, address in (("worker, profiler on", address_on), ("worker, profiler off", address_off))}
        first = next(iter(labs.values()))
        specs = [first.base_spec(batch_norm=bn, seed=seed) for bn in ("before", "none")
                 for seed in range(arguments.runs // 2)]
        dataset, context = first.dataset, first.run_context
        pids = {"this process": os.getpid(), "worker, profiler on": workers_on[0].pid,
                "worker, profiler off": workers_off[0].pid}
        arms = {"this process": lambda: runner.train(specs, dataset, "compiled", 1, context),
                **{arm: (lambda lab=lab: lab.cluster.train(specs, dataset, "compiled", context))
                   for arm, lab in labs.items()}}
        for train in arms.values():     # every program made before the timed rounds
            train()
        wall = {arm: [] for arm in arms}
        cpu = {arm: [] for arm in arms}
        for _ in range(arguments.rounds):
            for arm, train in arms.items():
                before = cpu_seconds([pids[arm]])
                results = train()
                cpu[arm].append((cpu_seconds([pids[arm]]) - before) / len(results))
                wall[arm].append(statistics.median(r.wall_seconds - (r.compile_seconds or 0) for r in results))
        for lab in labs.values():
            lab.close()
    print(f"{len(specs)} short-profile runs per arm, {arguments.rounds} interleaved rounds (medians over rounds)")
    for arm in arms:
        print(f"{arm:>21}: run {statistics.median(wall[arm]):.4f} s, CPU {statistics.median(cpu[arm]):.4f} s a run "
              f"(rounds: {' '.join(f'{seconds:.4f}' for seconds in wall[arm])})")


if __name__ == "__main__":
    main()
