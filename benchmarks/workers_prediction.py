"""Benchmark: the claims suite's wall time predicted on 1, 2, 4, 8, 16 and 64 workers, from a run cache.

    python benchmarks/workers_prediction.py --cache .claims-cache                  # every mnist5k run cached
    python benchmarks/workers_prediction.py --cache DIR --dataset mnist --engine compiled
    python benchmarks/workers_prediction.py --measure                              # time cold -n 1 and -n 2, predict
    python benchmarks/workers_prediction.py --measure --profile paper --dataset fashion_mnist   # MNIST's stand-in
    python benchmarks/workers_prediction.py --ledger reports/controls/claims.json  # the runs one session used

Each run in the cache carries the wall time it took when it was trained. The prediction schedules those
runs, longest first, onto W identical workers (list scheduling, longest processing time first: within 4/3
of the best possible schedule) and gives the time the last worker finishes. It can never be below the
longest single run (a run is the unit of work: the critical path) nor below the total over W. It counts
training only: starting workers, the statistics and the report add the warm session's time, a few seconds
(benchmarks/suite_timing.py measures it), and a check undecided at a look asks for its next block of seeds
only after the look, which the prediction ignores.

With --measure it times the suite cold with `-n 1` and `-n 2` (each into a fresh run cache, kept afterwards,
and a fresh compilation cache: an hour or more on a 2-core CPU for the default profile) and prints those
times beside the predictions for 1 and 2 (`--measure 1`: only -n 1); unless --cache names another, the prediction then reads the
cache of the session with fewest workers: the very runs the measured sessions trained, timed as they
trained. Prints figures; asserts nothing (timing targets are not tests).
"""

from __future__ import annotations

import argparse
import heapq
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bnclaims.settings import PROFILES  # noqa: E402
from bnclaims.spec import DEFAULT_ENGINE  # noqa: E402
from suite_timing import cached_results, cached_run_seconds, timed_suite  # noqa: E402

WORKERS = (1, 2, 4, 8, 16, 64)


def ledger_run_seconds(cache_dir: Path, ledger: Path, engine: str) -> tuple[list[float], int]:
    """The cached wall times of the runs a session's ledger names (its runs' "each": every distinct run it
    used, trained or from the cache), and how many of them the cache lacks: a profile's runs, where the
    cache holds several profiles' runs of one dataset."""
    keys = {run["key"] for run in json.loads(ledger.read_text())["runs"]["each"]}
    seconds = [result["wall_seconds"] for result in cached_results(cache_dir, engine) if result["key"] in keys]
    return seconds, len(keys) - len(seconds)


def predicted_seconds(run_seconds: list[float], workers: int) -> float:
    """The makespan of the runs scheduled longest first onto `workers` identical workers."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    finishing = [0.0] * workers
    for seconds in sorted(run_seconds, reverse=True):
        heapq.heapreplace(finishing, finishing[0] + seconds)   # the worker free soonest takes the next run
    return max(finishing)


def lower_bound(run_seconds: list[float], workers: int) -> float:
    return max(max(run_seconds, default=0.0), sum(run_seconds) / workers)


def table(run_seconds: list[float], measured: dict[int, float]) -> list[str]:
    lines = [f"{len(run_seconds)} runs, {sum(run_seconds) / 60:.1f} min of training in all, the longest "
             f"{max(run_seconds, default=0.0):.1f} s",
             f"{'workers':>8} {'predicted':>12} {'bound':>12} {'measured':>12}"]
    for workers in WORKERS:
        shown = f"{measured[workers] / 60:.1f} min" if workers in measured else ""
        lines.append(f"{workers:>8} {predicted_seconds(run_seconds, workers) / 60:>8.1f} min "
                     f"{lower_bound(run_seconds, workers) / 60:>8.1f} min {shown:>12}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=None,
                        help="the run cache to read (default: .claims-cache, or with --measure the -n 1 session's)")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES), help="the profile --measure runs")
    parser.add_argument("--dataset", default=None,
                        help="the runs of this dataset (default: the profile's; mnist5k for the default profile)")
    parser.add_argument("--ledger", type=Path, help="only the runs this session's ledger names (instead of --dataset)")
    parser.add_argument("--engine", default=DEFAULT_ENGINE)
    parser.add_argument("--measure", nargs="*", type=int, choices=(1, 2), default=None, metavar="N",
                        help="also time the suite cold with -n N (1 and 2 when none is named)")
    options = parser.parse_args()
    dataset = options.dataset or PROFILES[options.profile].dataset
    measured = {}
    if options.measure is not None:
        folder = Path(tempfile.mkdtemp(prefix="bnclaims-workers-"))
        for workers in sorted(set(options.measure or (1, 2))):
            measured[workers], said = timed_suite(str(workers), options.profile, dataset, folder / f"cache-n{workers}",
                                                  folder / f"reports-n{workers}", options.engine,
                                                  xla_cache_home=folder / f"xdg-n{workers}")
            print(f"-n {workers}, cold: {measured[workers] / 60:.1f} min ({said})", flush=True)
        print(f"(caches and reports kept under {folder})")
        cache = options.cache or folder / f"cache-n{min(measured)}"
    else:
        cache = options.cache or ROOT / ".claims-cache"
    if options.ledger:
        run_seconds, missing = ledger_run_seconds(cache, options.ledger, options.engine)
        if missing:
            print(f"workers_prediction: {missing} runs of {options.ledger} are not in {cache}; predicting the rest")
    else:
        run_seconds = cached_run_seconds(cache, dataset, options.engine)
    if not run_seconds:
        sys.exit(f"workers_prediction: no {options.engine} runs of {dataset} in {cache}")
    print("\n".join(table(run_seconds, measured)))


if __name__ == "__main__":
    main()
