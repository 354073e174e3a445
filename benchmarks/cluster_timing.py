"""Benchmark: one profile cold on this machine with `-n 2`, and through `--claims-cluster` on two Dask workers.

    python benchmarks/cluster_timing.py                                   # the short profile, every arm
    python benchmarks/cluster_timing.py --profile default --arms local processes
    python benchmarks/cluster_timing.py --rounds 3                        # every arm three times, interleaved
    python benchmarks/cluster_timing.py --arms localcluster+plan processes+plan   # with the local session's plan

Arms, each into a fresh run cache and a fresh compilation cache (so each compiles what it trains):
  local         pytest claims/ -n 2: two xdist workers train on this machine (the baseline)
  localcluster  a distributed.LocalCluster of two single-thread worker processes, its scheduler on 127.0.0.1
  processes     `dask scheduler` and two `dask worker --nthreads 1 --no-nanny` processes on 127.0.0.1
  localcluster+plan, processes+plan
                the same, the session's run cache empty but for the plan the round's local session left in
                its own (bnclaims.plan): the cluster trains the planned runs ahead of the tests
The cluster arms' sessions run `pytest claims/ -n S --claims-cluster ADDRESS` (S: --session-workers),
so that S tests' runs are in flight at once. The time is the pytest command's own, the cluster already
started (its start-up is printed apart). Beside it, the CPU time every process of the arm spent during the
session (the session's pytest processes, the workers, the scheduler) and the share of the machine's cores
that sat idle: an arm that does the same work in more wall time left cores idle. Afterwards every arm's cache is compared with the local arm's,
run by run, all but the two timing fields: the cluster must train the same numbers, bit for bit, and the
ledgers must hold the same records (outcome, effect and p of every check; a check that times the
engine itself, P2, differs as timings do). Prints figures; asserts nothing (timing targets are not tests).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))   # a LocalCluster's worker processes start with this process's path

from bnclaims.plan import PLAN_NAME  # noqa: E402
ARMS = ("local", "localcluster", "processes", "localcluster+plan", "processes+plan")
# The environment every session and worker starts from. A LocalCluster's nannies run in this process and
# put Dask's pre-spawn variables (MALLOC_TRIM_THRESHOLD_ among them) into its environment before they
# spawn: without this copy, every arm after the first LocalCluster would inherit them.
START_ENVIRONMENT = dict(os.environ)
TIMING_FIELDS = ("wall_seconds", "compile_seconds")
CORES = len(os.sched_getaffinity(0))


def cache_contents(cache_dir: Path) -> dict[str, dict]:
    """{run key: the stored result without its timing fields}."""
    contents = {}
    for entry in cache_dir.glob("*/*.json"):        # the entries, not the plan or the progress history
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


def children_cpu_seconds() -> float:
    """CPU seconds of this process's children that have ended (a pytest session with its xdist workers)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def cpu_seconds(pids) -> float:
    """CPU seconds the running processes `pids` have spent so far (user and system, their own)."""
    import psutil

    return sum(sum(psutil.Process(pid).cpu_times()[:2]) for pid in pids)


def idle_share(wall_seconds: float, cpu_seconds_spent: float, cores: int) -> float:
    """The share of `cores` over `wall_seconds` that no process of the arm used."""
    return 1.0 - cpu_seconds_spent / (cores * wall_seconds)


@dataclass
class Sitting:
    """One arm's session in one round: its wall time and where its CPU time went."""

    seconds: float
    last_line: str
    start_up: float = 0.0
    cpu: dict[str, float] = field(default_factory=dict)    # session / workers / scheduler -> CPU seconds

    def line(self) -> str:
        spent = sum(self.cpu.values())
        parts = ", ".join(f"{name} {value:.0f} s" for name, value in self.cpu.items())
        return (f"{self.seconds:.1f} s; CPU {spent:.0f} s ({parts}), {idle_share(self.seconds, spent, CORES):.0%} "
                f"of {CORES} cores idle ({self.last_line})")


def timed_session(folder: Path, profile: str, workers: int, address: str | None) -> Sitting:
    command = [sys.executable, "-m", "pytest", "claims/", "-n", str(workers), "-q", "-p", "no:cacheprovider",
               "--claims-profile", profile, "--claims-cache", str(folder / "cache"),
               "--claims-report-dir", str(folder / "reports"), *(["--claims-cluster", address] if address else [])]
    cpu_before, started = children_cpu_seconds(), time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=environment(folder), capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - started, children_cpu_seconds() - cpu_before
    last = (done.stdout.strip().splitlines() or ["(no output)"])[-1]
    last += "".join(f" | {line.strip()}" for line in done.stdout.splitlines() if line.strip().startswith("runs: "))
    if "claims:" in done.stderr:
        last += " | " + " ".join(line for line in done.stderr.splitlines() if "claims:" in line)
    return Sitting(elapsed, last, cpu={"session": cpu})


def timed_cluster_session(folder: Path, profile: str, workers: int, address: str) -> Sitting:
    """The session against a started cluster, with the CPU its workers and scheduler spent meanwhile (a
    LocalCluster's scheduler runs in this process: its share counts this process's idle waiting too)."""
    from distributed import Client

    with Client(address, set_as_default=False) as client:
        worker_pids = list(client.run(os.getpid).values())
        scheduler_pid = client.run_on_scheduler(os.getpid)
    before = {"workers": cpu_seconds(worker_pids), "scheduler": cpu_seconds([scheduler_pid])}
    sitting = timed_session(folder, profile, workers, address)
    after = {"workers": cpu_seconds(worker_pids), "scheduler": cpu_seconds([scheduler_pid])}
    sitting.cpu.update({name: after[name] - before[name] for name in before})
    return sitting


def _wait_for(condition, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the cluster did not start")
        time.sleep(0.2)


def cluster_arm(arm: str, folder: Path, profile: str, session_workers: int) -> Sitting:
    """A cluster arm's session, with the cluster's start-up seconds."""
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
                sitting = timed_cluster_session(folder, profile, session_workers, cluster.scheduler_address)
        finally:
            os.environ.clear()
            os.environ.update(START_ENVIRONMENT)
    else:
        with scheduler_and_workers(folder, 2, environment(folder)) as (address, _):
            up = time.perf_counter() - started
            sitting = timed_cluster_session(folder, profile, session_workers, address)
    sitting.start_up = up
    return sitting


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
    sittings: dict[str, list[Sitting]] = {arm: [] for arm in arms}
    for round_number in range(1, arguments.rounds + 1):
        for arm in arms:
            folder = base / f"{arm}-{round_number}"
            folder.mkdir()
            if arm == "local":
                sitting = timed_session(folder, arguments.profile, 2, None)
            else:
                if arm.endswith("+plan"):
                    (folder / "cache").mkdir()
                    shutil.copy(base / f"local-{round_number}" / "cache" / PLAN_NAME, folder / "cache" / PLAN_NAME)
                sitting = cluster_arm(arm.removesuffix("+plan"), folder, arguments.profile, arguments.session_workers)
            sittings[arm].append(sitting)
            print(f"round {round_number}, {arm}: {sitting.line()}", flush=True)
    print("\n".join(summary(base, arms, sittings, arguments)))
    print(f"\n(caches kept under {base})")


def round_ratios(sittings: dict[str, list[Sitting]], arm: str) -> list[float]:
    """The arm's session time over the local arm's in the same round."""
    return [mine.seconds / local.seconds for mine, local in zip(sittings[arm], sittings["local"])]


def summary(base: Path, arms: list[str], sittings: dict[str, list[Sitting]], arguments) -> list[str]:
    """The table: per arm its median session time, its ratio to local -n 2 in each round and their median,
    its median CPU time and idle share, and every round's runs and records against the first round's local
    arm."""
    local_runs = cache_contents(base / "local-1" / "cache")
    local_outcomes = ledger_outcomes(base / "local-1" / "reports")
    lines = [f"\nprofile {arguments.profile}, {len(local_runs)} runs; cluster sessions with -n "
             f"{arguments.session_workers}; {arguments.rounds} round(s), arms interleaved",
             f"{'arm':>13} {'start-up':>9} {'session (median)':>17} {'/ local -n 2, each round':>26} "
             f"{'median':>7} {'CPU (median)':>13} {'idle':>5} {'runs identical':>15} {'same records':>14}"]
    for arm in arms:
        identical, same = [], []
        for round_number in range(1, arguments.rounds + 1):
            runs = cache_contents(base / f"{arm}-{round_number}" / "cache")
            identical.append(sum(runs.get(key) == value for key, value in local_runs.items()))
            outcomes = ledger_outcomes(base / f"{arm}-{round_number}" / "reports")
            same.append(sum(outcomes.get(check) == outcome for check, outcome in local_outcomes.items()))
        ratios = round_ratios(sittings, arm)
        spent = [sum(sitting.cpu.values()) for sitting in sittings[arm]]
        idle = [idle_share(sitting.seconds, cpu, CORES) for sitting, cpu in zip(sittings[arm], spent)]
        lines.append(f"{arm:>13} {statistics.median(s.start_up for s in sittings[arm]):>8.1f}s "
                     f"{statistics.median(s.seconds for s in sittings[arm]):>16.1f}s "
                     f"{' '.join(f'{r:.2f}' for r in ratios):>26} {statistics.median(ratios):>7.2f} "
                     f"{statistics.median(spent):>12.0f}s {statistics.median(idle):>5.0%} "
                     f"{min(identical):>7}/{len(local_runs):<7} {min(same):>6}/{len(local_outcomes):<7}")
    lines.append("(runs identical and same records: the fewest over the rounds, against round 1's local arm)")
    return lines


if __name__ == "__main__":
    main()
