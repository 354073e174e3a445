"""Benchmark: how long the claims suite takes, and what one training run costs.

    python benchmarks/suite_timing.py                 # per-run figures from the cache, then a warm run
    python benchmarks/suite_timing.py --cold          # also a cold run into a fresh temporary cache
    python benchmarks/suite_timing.py --cold --profile short
    python benchmarks/suite_timing.py --workers 4 --dataset mnist5k
    python benchmarks/suite_timing.py --cold --engines compiled fit   # both engines, back to back
    python benchmarks/suite_timing.py --profile default --cache DIR    # warm, and the floor of DIR's runs
    python benchmarks/suite_timing.py --profile short --cache DIR --lean   # and the leanest XLA engine on them

Prints figures; asserts nothing (timing targets are not tests). The targets it reports against, for
`pytest claims/ -n auto` on a 2-core CPU with the compiled engine: the default profile cold within 12
minutes and warm (every run from the cache) within 15 s; the short profile cold within 90 s.

After a cold run it splits the runs' worker time into making programs (tracing, lowering, compiling, as
the compiled engine records each run's share) and the rest, the runs' execution, and gives the cold
time a session would still take if it compiled nothing: the warm run's time (starting the workers,
reading the cache, the statistics, the report) plus the execution shared among the workers. A target
below that cannot be met by compiling faster, only by faster runs or fewer of them.

It also gives the cold time no engine could beat on this CPU: the warm run's time plus the arithmetic
floor of the profile's runs shared among the workers. The floor is the runs' matrix products (training,
their record, the probes on trained models; engine_speed.run_flops and probe_flops) at the float32 GEMM
rate one pinned thread reaches here, measured in the same run; each worker has one core. A target below
it cannot be met on this CPU by any engine doing this work. Without --cold it is given for the profile's
runs in the cache read, for a cold run of the profile that trained them all (as CI's does).

With --lean it times the leanest engine built on XLA on the same runs (engine_speed._lean): one worker
per core, all at once as a session's workers are, each compiling the training steps alone and the
forward pass of the signatures it is given, once each, then training every run's steps and running as
many forward passes as its record's inference-mode examples fill. Everything else a run does (the step
record's training-mode half, the probes, the last smaller batch of a pass) is left out. The warm run's
time plus that work shared among the workers is the cold time below which no engine that compiles these
runs with XLA can go on this CPU: the compiled engine does all of that work and more.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "benchmarks")]

from bnclaims.cache import CACHE_ENV_VAR  # noqa: E402
from bnclaims.data import load_dataset  # noqa: E402
from bnclaims.settings import Settings, passes_for  # noqa: E402
from bnclaims.spec import DEFAULT_ENGINE, ENGINES  # noqa: E402
from engine_speed import Worker, probe_flops, run_flops  # noqa: E402


def cached_results(cache_dir: Path, engine: str):
    """The stored results (JSON dicts) of the engine's runs in a run cache."""
    for entry in cache_dir.glob("*/*.json"):
        result = json.loads(entry.read_text())["result"]
        if result["environment"].get("engine") == engine:
            yield result


def cached_run_seconds(cache_dir: Path, dataset: str, engine: str) -> list[float]:
    return [r["wall_seconds"] for r in cached_results(cache_dir, engine) if r["spec"]["dataset"] == dataset]


def executing_seconds(result: dict) -> float:
    """A stored run's wall time less its making of programs, where its engine records that."""
    return result["wall_seconds"] - (result.get("compile_seconds") or 0.0)


def cold_work(results: list[dict]) -> tuple[int, float, float | None]:
    """(runs, seconds executing, seconds making programs) of the stored runs a cold session trained,
    summed over workers; the last None where the engine does not record it."""
    made = [r.get("compile_seconds") for r in results]
    return len(results), sum(map(executing_seconds, results)), None if None in made else sum(made)


def least_cold_text(warm: float, execution: float, workers: int, target: float | None) -> str:
    """The cold time with nothing compiled, against the target when there is one."""
    return _bound_text("with nothing compiled", warm, execution, workers, target, "within reach",
                       "out of reach by compiling faster: only faster or fewer runs")


def _bound_text(bound: str, warm: float, work: float, workers: int, target: float | None, within: str,
                beyond: str) -> str:
    """A lower bound on the cold time, the warm time plus `work` seconds shared among the workers,
    and the target's verdict against it: `within` where the bound allows the target, else `beyond`."""
    least = warm + work / workers
    text = f"{bound}, at least {warm:.1f} s warm + {work:.1f} s / {workers} workers = {least:.1f} s"
    if target is None:
        return text
    return f"{text}; target {target} s {within if least <= target else beyond}"


def profile_results(results: list[dict], dataset: str, passes: int) -> list[dict]:
    """The stored runs on `dataset` at `passes` passes: a profile's runs, not another profile's budget."""
    return [r for r in results if r["spec"]["dataset"] == dataset and r["spec"]["epochs"] == passes]


def floor_work(results: list[dict], dataset: str, passes: int, sizes: tuple[int, int, int],
               features: int) -> tuple[int, float, float]:
    """(runs, matrix-product FLOPs, seconds executing) of the stored runs on `dataset` at `passes` passes
    (a profile's runs); sizes: (training, validation, test) examples of one run's split."""
    profile = profile_results(results, dataset, passes)
    flops = sum(run_flops(r["spec"], *sizes, features=features, epochs_run=r.get("epochs_completed"))
                + probe_flops(r["spec"], sizes[0], features=features) for r in profile)
    return len(profile), flops, sum(map(executing_seconds, profile))


def floor_text(warm: float, floor: float, workers: int, target: float | None) -> str:
    """The cold time at the arithmetic floor with nothing compiled, against the target when there is one."""
    return _bound_text("at the arithmetic floor with nothing compiled", warm, floor, workers, target,
                       "not ruled out by arithmetic", "out of reach on this CPU: no engine doing this work meets it")


def lean_shares(results: list[dict], workers: int, dataset) -> list[list[dict]]:
    """The runs split among the workers for the lean engine's bound, whole signatures at a time (each
    program compiled by one worker): largest signature first, each to the worker with the fewest training
    steps so far. A run is {"spec", "epochs_completed"}."""
    from bnclaims.engines.compiled import Signature
    from bnclaims.spec import RunSpec

    groups: dict = {}
    for result in results:
        run = {"spec": result["spec"], "epochs_completed": result["epochs_completed"]}
        groups.setdefault(Signature.of(RunSpec.from_dict(result["spec"]), dataset), []).append(run)
    shares, steps = [[] for _ in range(workers)], [0] * workers
    for signature, runs in sorted(groups.items(), key=lambda item: -len(item[1]) * item[0].total_steps):
        least = steps.index(min(steps))
        shares[least] += runs
        steps[least] += len(runs) * signature.total_steps
    return shares


def lean_seconds(shares: list[list[dict]], dataset: str) -> list[dict]:
    """Each share's answer from the lean arm (engine_speed._lean), the workers running at once, one per
    core, as a session's workers do, so that they slow each other as much as a session's would."""
    from concurrent.futures import ThreadPoolExecutor

    cores = sorted(os.sched_getaffinity(0))
    workers = [Worker("jax", 1, [cores[i % len(cores)]]) for i in range(len(shares))]
    try:
        with ThreadPoolExecutor(len(workers)) as pool:
            return list(pool.map(lambda pair: pair[0].ask(arm="lean", dataset=dataset, train=None, runs=pair[1]),
                                 zip(workers, shares)))
    finally:
        for worker in workers:
            worker.close()


def lean_text(warm: float, work: float, workers: int, target: float | None) -> str:
    """The cold time of the leanest engine built on XLA, against the target when there is one."""
    return _bound_text("for the leanest engine built on XLA", warm, work, workers, target,
                       "not ruled out for an engine built on XLA",
                       "out of reach on this CPU for any engine built on XLA")


def gemm_rate() -> dict:
    """The float32 GEMM rate of one thread pinned to one core (a worker's share of the CPU here)."""
    worker = Worker("jax", 1, [sorted(os.sched_getaffinity(0))[-1]])
    try:
        return worker.ask(arm="gemm")
    finally:
        worker.close()


def worker_count(workers: str) -> int:
    """How many workers `-n workers` starts. pytest-xdist's auto: PYTEST_XDIST_AUTO_NUM_WORKERS, else one
    per CPU this process may use (it counts physical cores instead where psutil is installed, which this
    project does not install)."""
    if workers not in ("auto", "logical"):
        return int(workers)
    return int(os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS") or len(os.sched_getaffinity(0)))


TARGETS = {("default", "cold"): 12 * 60, ("default", "warm"): 15, ("short", "cold"): 90}


def target_text(profile: str, temperature: str) -> str:
    target = TARGETS.get((profile, temperature))
    return f"   target: within {target} s" if target else ""


def timed_suite(workers: str, profile: str, dataset: str, cache_dir: Path, report_dir: Path,
                engine: str, xla_cache_home: Path | None = None) -> tuple[float, str]:
    """(seconds, its runs line and pytest's last line) of one claims session. xla_cache_home: a fresh
    $XDG_CACHE_HOME for it, so that it also compiles every program it trains (as a clean machine does)."""
    command = [sys.executable, "-m", "pytest", "claims/", "-n", workers, "-q", "-p", "no:cacheprovider",
               "--claims-profile", profile, "--claims-dataset", dataset, "--claims-cache", str(cache_dir), "--claims-report-dir", str(report_dir),
               "--claims-engine", engine]
    environment = {**os.environ, **({"XDG_CACHE_HOME": str(xla_cache_home)} if xla_cache_home else {})}
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=environment)
    elapsed = time.perf_counter() - started
    runs_line = next((line for line in completed.stdout.splitlines() if line.startswith("runs: ")), "runs: ?")
    return elapsed, f"{runs_line}; {completed.stdout.strip().splitlines()[-1]}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", default="auto")
    parser.add_argument("--profile", default="default", choices=["default", "short", "paper"])
    parser.add_argument("--dataset", default=None, help="overrides the profile's dataset")
    parser.add_argument("--engines", nargs="+", default=[DEFAULT_ENGINE], choices=sorted(ENGINES))
    parser.add_argument("--cache", default=None, help=f"cache to read and time warm (default: ${CACHE_ENV_VAR} or .claims-cache)")
    parser.add_argument("--cold", action="store_true", help="also time a cold run into a fresh cache")
    parser.add_argument("--lean", action="store_true",
                        help="also time the leanest engine built on XLA on the profile's runs (a lower bound)")
    options = parser.parse_args()
    settings = Settings.resolve(root=ROOT, cache_dir=options.cache, profile=options.profile, dataset=options.dataset)
    cache_dir = settings.cache_dir
    options.dataset = settings.dataset

    gemm = gemm_rate()   # before any suite runs, on a quiet machine
    print(f"float32 GEMM, one thread: {gemm['gflops']:.0f} GFLOP/s on {gemm['device']}")
    dataset = load_dataset(options.dataset)
    sizes = (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test))
    passes = passes_for(settings.examples, sizes[0])
    workers = worker_count(options.workers)
    for engine in options.engines:
        seconds = cached_run_seconds(cache_dir, options.dataset, engine)
        if seconds:
            print(f"{engine}: cached runs on {options.dataset}: {len(seconds)}; training seconds per run: median "
                  f"{statistics.median(seconds):.2f}, mean {statistics.mean(seconds):.2f}, max {max(seconds):.2f}; "
                  f"total {sum(seconds) / 60:.1f} min of worker time")
        with tempfile.TemporaryDirectory() as scratch:
            warm_cache = cache_dir
            if options.cold:
                warm_cache = Path(scratch) / "cache"
                elapsed, summary = timed_suite(options.workers, options.profile, options.dataset, warm_cache,
                                               Path(scratch), engine)
                print(f"{engine}: {options.profile} cold: {elapsed:.1f} s ({summary}){target_text(options.profile, 'cold')}")
            elapsed, summary = timed_suite(options.workers, options.profile, options.dataset, warm_cache, Path(scratch),
                                           engine)
            print(f"{engine}: {options.profile} warm: {elapsed:.1f} s ({summary}){target_text(options.profile, 'warm')}")
            stored = list(cached_results(warm_cache, engine))   # read once for both lines below
            if options.cold:
                runs, execution, compiling = cold_work(stored)
                made = "not recorded by this engine" if compiling is None else f"{compiling:.1f} s making programs"
                print(f"{engine}: {options.profile} cold, worker time of its {runs} runs: {execution:.1f} s executing, "
                      f"{made}")
                if compiling is not None:   # else "executing" holds the engine's compiling too
                    least = least_cold_text(elapsed, execution, workers, TARGETS.get((options.profile, "cold")))
                    print(f"{engine}: {options.profile} cold, {least}")
            runs, flops, execution = floor_work(stored, options.dataset, passes, sizes, dataset.num_features)
            if runs:
                floor = flops / (gemm["gflops"] * 1e9)
                least = floor_text(elapsed, floor, workers, TARGETS.get((options.profile, "cold")))
                print(f"{engine}: {options.profile} cold, the {runs} runs' matrix products take {floor:.1f} s at "
                      f"{gemm['gflops']:.0f} GFLOP/s (they executed in {execution:.1f} s, {floor / execution:.0%} of "
                      f"the floor's speed); {least}")
            if options.lean and runs:
                shares = lean_shares(profile_results(stored, options.dataset, passes), workers, dataset)
                answers = lean_seconds(shares, options.dataset)
                work = sum(a["seconds"] for a in answers)
                print(f"{engine}: {options.profile} cold, the leanest engine built on XLA on these runs (each "
                      f"signature's training steps and forward pass compiled once, "
                      f"{sum(a['compiling'] for a in answers):.1f} s; each run's training steps and its record's "
                      f"inference passes; {workers} workers at once) took {work:.1f} s of worker time for the "
                      f"{runs} runs; "
                      f"{lean_text(elapsed, work, workers, TARGETS.get((options.profile, 'cold')))}")


if __name__ == "__main__":
    main()
