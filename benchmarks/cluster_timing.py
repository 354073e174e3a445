"""Benchmark: one profile cold on this machine with `-n 2`, and through `--claims-cluster` on two Dask workers.

    python benchmarks/cluster_timing.py                                   # the short profile, every arm
    python benchmarks/cluster_timing.py --profile default --arms local processes
    python benchmarks/cluster_timing.py --rounds 3                        # every arm three times, interleaved

Arms, each into a fresh run cache and a fresh compilation cache (so each compiles what it trains):
  local         pytest claims/ -n 2: two xdist workers train on this machine (the baseline)
  localcluster  a distributed.LocalCluster of two single-thread worker processes, its scheduler on 127.0.0.1
  processes     `dask scheduler` and two `dask worker --nthreads 1 --no-nanny` processes on 127.0.0.1
The cluster arms' sessions run `pytest claims/ -n S --claims-cluster ADDRESS` (S: --session-workers),
so that S tests' runs are in flight at once. The time is the pytest command's own, the cluster already
started (its start-up is printed apart). Afterwards every arm's cache is compared with the local arm's,
run by run, all but the two timing fields: the cluster must train the same numbers, bit for bit, and the
ledgers must hold the same records (outcome, effect and p of every check; a check that times the
engine itself, P2, differs as timings do). Prints figures; asserts nothing (timing targets are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # a LocalCluster's worker processes start with this process's path
ARMS = ("local", "localcluster", "processes")
# The environment every session and worker starts from. A LocalCluster's nannies run in this process and
# put Dask's pre-spawn variables (MALLOC_TRIM_THRESHOLD_ among them) into its environment before they
# spawn: without this copy, every arm after the first LocalCluster would inherit them.
START_ENVIRONMENT = dict(os.environ)
TIMING_FIELDS = ("wall_seconds", "compile_seconds")


def cache_contents(cache_dir: Path) -> dict[str, dict]:
    """{run key: the stored result without its timing fields}."""
    contents = {}
    for entry in cache_dir.glob("*/*.json"):
        result = json.loads(entry.read_text())["result"]
        contents[result["key"]] = {k: v for k, v in result.items() if k not in TIMING_FIELDS}
    return contents


def ledger_outcomes(report_dir: Path) -> dict[str, str]:
    ledger = json.loads((report_dir / "claims.json").read_text())
    return {record["check_id"]: f"{record.get('outcome', '')} {record.get('effect')} p={record.get('p_value')}"
            for record in ledger["records"]}


def environment(folder: Path) -> dict:
    """A fresh compilation cache for the session and every worker it starts; the project importable."""
    return {**START_ENVIRONMENT, "XDG_CACHE_HOME": str(folder / "xdg"),
            "PYTHONPATH": os.pathsep.join([str(ROOT), START_ENVIRONMENT.get("PYTHONPATH", "")])}


def timed_session(folder: Path, profile: str, workers: int, address: str | None) -> tuple[float, str]:
    command = [sys.executable, "-m", "pytest", "claims/", "-n", str(workers), "-q", "-p", "no:cacheprovider",
               "--claims-profile", profile, "--claims-cache", str(folder / "cache"),
               "--claims-report-dir", str(folder / "reports"), *(["--claims-cluster", address] if address else [])]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environment(folder), capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    if "claims:" in done.stderr:
        last += " | " + " ".join(line for line in done.stderr.splitlines() if "claims:" in line)
    return elapsed, last


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the cluster did not start")
        time.sleep(0.2)


def cluster_arm(arm: str, folder: Path, profile: str, session_workers: int) -> tuple[float, float, str]:
    """(cluster start-up seconds, session seconds, pytest's last line) for a cluster arm."""
    started = time.perf_counter()
    if arm == "localcluster":
        from distributed import Client, LocalCluster

        os.environ.clear()
        os.environ.update(environment(folder))     # what its worker processes inherit
        try:
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                              dashboard_address=None) as cluster, Client(cluster) as client:
                client.wait_for_workers(2)
                up = time.perf_counter() - started
                seconds, last = timed_session(folder, profile, session_workers, cluster.scheduler_address)
        finally:
            os.environ.clear()
            os.environ.update(START_ENVIRONMENT)
        return up, seconds, last
    with scheduler_and_workers(folder, 2, environment(folder)) as (address, _):
        up = time.perf_counter() - started
        seconds, last = timed_session(folder, profile, session_workers, address)
    return up, seconds, last


@contextlib.contextmanager
def scheduler_and_workers(folder: Path, workers: int, env: dict, logs: Path | None = None):
    """A `dask scheduler` and `workers` `dask worker --nthreads 1 --no-nanny` processes, all on 127.0.0.1:
    yields (the scheduler's address, the worker processes) once every worker has joined; stops them all on
    leaving. logs: a folder for their output (else it is discarded)."""
    scheduler_file = folder / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]

    def started(command: list[str], name: str) -> subprocess.Popen:
        output = (logs / f"{name}.log").open("w") if logs else subprocess.DEVNULL
        return subprocess.Popen(command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT)

    processes = [started([*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                          "--scheduler-file", str(scheduler_file)], "scheduler")]
    try:
        _wait_for(scheduler_file.exists, 60)
        worker_processes = [started([*dask, "worker", "--scheduler-file", str(scheduler_file), "--host", "127.0.0.1",
                                     "--nthreads", "1", "--no-nanny", "--no-dashboard"], f"worker{i}")
                            for i in range(workers)]
        processes += worker_processes
        address = json.loads(scheduler_file.read_text())["address"]
        from distributed import Client

        with Client(address) as client:
            client.wait_for_workers(workers)
        yield address, worker_processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.terminate()
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="short", choices=["short", "default", "paper"])
    parser.add_argument("--arms", nargs="+", default=list(ARMS), choices=ARMS)
    parser.add_argument("--session-workers", type=int, default=2,
                        help="xdist workers of a cluster arm's session: tests whose runs are in flight at once")
    parser.add_argument("--rounds", type=int, default=1,
                        help="times to run every arm, interleaved (local first in each round): the machine's "
                             "drift between sittings then falls on every arm alike")
    arguments = parser.parse_args()
    if arguments.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {arguments.rounds}")
    base = Path(tempfile.mkdtemp(prefix="bnclaims-cluster-timing-"))
    arms = ["local", *[a for a in arguments.arms if a != "local"]]
    seconds_of: dict[str, list[float]] = {arm: [] for arm in arms}
    ups: dict[str, list[float]] = {arm: [] for arm in arms}
    for round_number in range(1, arguments.rounds + 1):
        for arm in arms:
            folder = base / f"{arm}-{round_number}"
            folder.mkdir()
            if arm == "local":
                up, (seconds, last) = 0.0, timed_session(folder, arguments.profile, 2, None)
            else:
                up, seconds, last = cluster_arm(arm, folder, arguments.profile, arguments.session_workers)
            seconds_of[arm].append(seconds)
            ups[arm].append(up)
            print(f"round {round_number}, {arm}: {seconds:.1f} s ({last})", flush=True)
    print("\n".join(summary(base, arms, seconds_of, ups, arguments)))
    print(f"\n(caches kept under {base})")


def round_ratios(seconds_of: dict[str, list[float]], arm: str) -> list[float]:
    """The arm's session time over the local arm's in the same round."""
    return [mine / local for mine, local in zip(seconds_of[arm], seconds_of["local"])]


def summary(base: Path, arms: list[str], seconds_of: dict[str, list[float]], ups: dict[str, list[float]],
            arguments) -> list[str]:
    """The table: per arm its median session time, its ratio to local -n 2 in each round and their median,
    and every round's runs and records against the first round's local arm."""
    local_runs = cache_contents(base / "local-1" / "cache")
    local_outcomes = ledger_outcomes(base / "local-1" / "reports")
    lines = [f"\nprofile {arguments.profile}, {len(local_runs)} runs; cluster sessions with -n "
             f"{arguments.session_workers}; {arguments.rounds} round(s), arms interleaved",
             f"{'arm':>13} {'start-up':>9} {'session (median)':>17} {'/ local -n 2, each round':>26} "
             f"{'median':>7} {'runs identical':>15} {'same records':>14}"]
    for arm in arms:
        identical, same = [], []
        for round_number in range(1, arguments.rounds + 1):
            runs = cache_contents(base / f"{arm}-{round_number}" / "cache")
            identical.append(sum(runs.get(key) == value for key, value in local_runs.items()))
            outcomes = ledger_outcomes(base / f"{arm}-{round_number}" / "reports")
            same.append(sum(outcomes.get(check) == outcome for check, outcome in local_outcomes.items()))
        ratios = round_ratios(seconds_of, arm)
        lines.append(f"{arm:>13} {statistics.median(ups[arm]):>8.1f}s {statistics.median(seconds_of[arm]):>16.1f}s "
                     f"{' '.join(f'{r:.2f}' for r in ratios):>26} {statistics.median(ratios):>7.2f} "
                     f"{min(identical):>7}/{len(local_runs):<7} {min(same):>6}/{len(local_outcomes):<7}")
    lines.append("(runs identical and same records: the fewest over the rounds, against round 1's local arm)")
    return lines


if __name__ == "__main__":
    main()
