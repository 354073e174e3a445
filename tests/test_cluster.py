"""The Dask executor (bnclaims.cluster): runs trained on a cluster's workers are the runs this process
trains, bit for bit; a worker killed mid-group loses nothing and trains nothing twice into the cache;
every way the cluster can fail is one line. Every scheduler and worker here listens on 127.0.0.1 only."""

from __future__ import annotations

import copy
import os
import signal
import threading
import time
from pathlib import Path

import pytest

distributed = pytest.importorskip("distributed")

from bnclaims import cluster as cluster_module, runner  # noqa: E402
from bnclaims.cluster import ClusterError, ClusterExecutor, check_shipped_data  # noqa: E402
from bnclaims.data import load_dataset  # noqa: E402
from bnclaims.lab import Lab  # noqa: E402
from bnclaims.settings import CLUSTER_ENV_VAR, Settings, SettingsError  # noqa: E402
from conftest import ROOT, load_benchmark  # noqa: E402

# A pass over mnist5k's 3,200 training images: a run of a few seconds, most of it compiling.
TINY_BUDGET = 3_200


def timing_free(result) -> dict:
    """A result as JSON without its wall and compile times, which differ between any two trainings."""
    document = result.to_json_dict()
    for name in ("wall_seconds", "compile_seconds"):
        document.pop(name, None)
    return document


def cluster_settings(tmp_path: Path, address: str, seeds: str = "4", examples: int = TINY_BUDGET) -> Settings:
    return Settings.resolve(profile="short", seeds=seeds, examples=examples, cache_dir=str(tmp_path / "cache"),
                            report_dir=str(tmp_path / "reports"), root=tmp_path, threads=1, cluster=address,
                            session_id="cluster-test")


def cache_entries(settings: Settings) -> list[Path]:
    return sorted(p for p in Path(settings.cache_dir).rglob("*.json"))


def worker_environment() -> dict:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}


@pytest.fixture
def local_cluster():
    """Two single-thread worker processes and their scheduler, on 127.0.0.1."""
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        yield cluster


def test_runs_trained_on_a_local_cluster_are_bit_identical_to_runs_trained_here(tmp_path, local_cluster):
    said = []
    settings = cluster_settings(tmp_path, local_cluster.scheduler_address)
    lab = Lab(settings, said.append)
    spec = lab.base_spec(batch_norm="before", learning_rate=0.05)
    try:
        on_cluster = lab.across_seeds(spec)
        context = lab.run_context
    finally:
        lab.close()
    assert context.platform == runner.context("compiled", lab.dataset).platform, "the workers' device, this CPU"
    here = runner.train([r.spec for r in on_cluster], lab.dataset, "compiled", 1, context)
    assert [timing_free(r) for r in on_cluster] == [timing_free(r) for r in here]
    assert len(cache_entries(settings)) == len(settings.seeds), "each run stored once"
    assert sorted(record.seed for record in said) == list(settings.seeds), "a progress line per run as it ends"
    again = Lab(settings, said.append)      # a later session is served from the cache, not the cluster
    assert [timing_free(r) for r in again.across_seeds(spec)] == [timing_free(r) for r in on_cluster]
    assert all(record.from_cache for record in said[len(settings.seeds):])
    again.close()


def _wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def _benchmark_module():
    return load_benchmark("cluster_timing")


def test_a_worker_killed_mid_task_has_its_runs_trained_elsewhere_and_each_stored_once(tmp_path):
    start = _benchmark_module().scheduler_and_workers       # the processes, all on 127.0.0.1
    with start(tmp_path, 2, worker_environment(), logs=tmp_path) as (address, workers):
        settings = cluster_settings(tmp_path, address, seeds="6", examples=8 * TINY_BUDGET)
        said, killed = [], []
        lab = Lab(settings, said.append)
        # Two programs (batch 128 and 64): two tasks, one a worker. The second worker is killed once it has
        # been training its task for a moment.
        specs = [lab.base_spec(batch_norm="none", learning_rate=0.05, batch_size=size, seed=seed)
                 for size in (128, 64) for seed in settings.seeds]
        watcher = distributed.Client(address, set_as_default=False)
        victim = next(where for where, pid in watcher.run(os.getpid).items() if pid == workers[1].pid)

        def kill_mid_task():
            _wait_for(lambda: watcher.processing(workers=[victim]).get(victim), 120, "the task on the victim")
            time.sleep(0.3)
            killed.append(list(watcher.processing(workers=[victim]).get(victim, ())))
            workers[1].send_signal(signal.SIGKILL)

        killer = threading.Thread(target=kill_mid_task)
        killer.start()
        try:
            on_cluster = lab.runs(specs)
            workers_left = lab.cluster.workers()
        finally:
            killer.join(timeout=130)
            watcher.close()
            lab.close()
        assert killed and killed[0], "the victim was training a task when it was killed"
        assert workers[1].wait(timeout=10) == -signal.SIGKILL
        assert workers_left == 1
        assert len(cache_entries(settings)) == len(specs), "every run in the cache, once"
        trained = [record.key for record in said if not record.from_cache]
        assert sorted(trained) == sorted(set(trained)) and len(trained) == len(specs), "each run came back once"
        here = runner.train([r.spec for r in on_cluster], lab.dataset, "compiled", 1, lab.run_context)
        assert [timing_free(r) for r in on_cluster] == [timing_free(r) for r in here]


# ---------------------------------------------------------------------- one line for each failure

QUICK_CONNECT = {"DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "1s"}   # Dask's own setting, read at import
DASK_CONNECT = "distributed.comm.timeouts.connect"


def test_an_unreachable_scheduler_is_one_line(tmp_path):
    import dask

    with dask.config.set({DASK_CONNECT: "1s"}):
        lab = Lab(cluster_settings(tmp_path, "tcp://127.0.0.1:9"), lambda record: None)
        with pytest.raises(ClusterError, match=r"^cannot reach the Dask scheduler at tcp://127.0.0.1:9: ") as caught:
            lab.run_context
    assert "\n" not in str(caught.value)


def platform_named_by_worker(engine: str, dask_worker=None) -> str:
    return f"cpu:model of {dask_worker.address}"     # Client.run hands a function its worker by this name


def test_workers_on_different_devices_are_refused_in_one_line(monkeypatch):
    # In-process workers run the module's function as patched here: each names its own address.
    monkeypatch.setattr(cluster_module, "worker_platform", platform_named_by_worker)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        executor = ClusterExecutor(cluster.scheduler_address)
        cluster.wait_for_workers(2)
        with pytest.raises(ClusterError, match=r"train on different devices \(cpu:model of .*1 workers\).*one device"):
            executor.platform("compiled")
        executor.close()


def test_a_task_that_fails_on_a_worker_is_one_line_naming_its_runs_and_the_runs_back_are_kept(tmp_path,
                                                                                               monkeypatch):
    def failing(specs, dataset, engine, threads, ctx):
        if specs[0].batch_size == 64:
            raise MemoryError("out of memory\nwith a second line")
        return [make_result_for(spec, ctx) for spec in specs]

    def make_result_for(spec, ctx):
        from bnclaims.spec import run_key
        from conftest import make_result

        result = make_result(spec)
        return type(result)(**{**result.__dict__, "key": run_key(spec, ctx)})

    monkeypatch.setattr(runner, "train", failing)
    monkeypatch.setattr(cluster_module, "worker_platform", lambda engine: "cpu:a test CPU")
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        settings = cluster_settings(tmp_path, cluster.scheduler_address, seeds="0,1")
        lab = Lab(settings, lambda record: None)
        monkeypatch.setattr(cluster_module.backend, "platform", lambda name: "cpu:a test CPU")
        kept = lab.base_spec(batch_norm="none", learning_rate=0.05)
        failed = kept.replace(batch_size=64)       # another program: a task of its own
        with pytest.raises(ClusterError) as caught:
            lab.runs([kept.replace(seed=0), kept.replace(seed=1), failed.replace(seed=0), failed.replace(seed=1)])
        lab.close()
    message = str(caught.value)
    assert message.startswith(f"the cluster at {cluster.scheduler_address} could not train plain relu lr=0.05 batch=64")
    assert "seeds=0,1: MemoryError: out of memory" in message and "\n" not in message
    assert len(cache_entries(settings)) == 2, "the other program's two runs came back and are kept"


def test_a_worker_without_the_project_is_one_line(monkeypatch):
    def missing(engine):
        raise ModuleNotFoundError("No module named 'bnclaims'")

    monkeypatch.setattr(cluster_module, "worker_platform", missing)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        executor = ClusterExecutor(cluster.scheduler_address)
        with pytest.raises(ClusterError, match=r"cannot start the compiled engine: ModuleNotFoundError: No module "
                                               r"named 'bnclaims' \(each needs this project"):
            executor.platform("compiled")
        executor.close()


def test_shipped_arrays_are_checked_against_the_run_keys_fingerprint():
    dataset = load_dataset("mnist5k")
    check_shipped_data(dataset, dataset.fingerprint)
    damaged = copy.copy(dataset)      # carries the fingerprint computed before the damage
    object.__setattr__(damaged, "x_train", dataset.x_train + 1)
    assert damaged.fingerprint == dataset.fingerprint
    with pytest.raises(ClusterError, match=r"arrays this worker received have fingerprint .* damaged on the way"):
        check_shipped_data(damaged, "0" * 64)


def test_the_cluster_option_and_its_variable_take_an_address_or_say_why_not(tmp_path, monkeypatch):
    def resolve(**options):
        return Settings.resolve(root=tmp_path, check_folders=False, **options)

    monkeypatch.delenv(CLUSTER_ENV_VAR, raising=False)
    assert resolve().cluster is None
    assert resolve(cluster="tcp://127.0.0.1:8786").cluster == "tcp://127.0.0.1:8786"
    monkeypatch.setenv(CLUSTER_ENV_VAR, "127.0.0.1:8786")
    assert resolve().cluster == "127.0.0.1:8786"
    assert "--claims-cluster" not in resolve().options(), "the cluster does not change a run's numbers"
    for bad in ("tcp://", "tcp://a host:1"):
        with pytest.raises(SettingsError, match=r"^--claims-cluster .* is not a Dask scheduler address"):
            resolve(cluster=bad)
    for bad in ("0", "many", "65"):
        with pytest.raises(SettingsError, match=r"^--claims-seed-block .* is not a number of seeds from 1 to 64"):
            resolve(seed_block=bad)
    with pytest.raises(SettingsError, match=r"only the compiled engine trains seeds in blocks"):
        resolve(seed_block="4", engine="fit")


def test_a_session_whose_scheduler_cannot_be_reached_stops_before_any_test_with_one_line(tmp_path, monkeypatch):
    from conftest import run_pytest

    for name, value in QUICK_CONNECT.items():
        monkeypatch.setenv(name, value)
    done = run_pytest("claims/test_batchnorm_transform.py", "--claims-cluster", "tcp://127.0.0.1:9",
                      "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path / "reports"),
                      timeout=120)
    assert done.returncode == pytest.ExitCode.USAGE_ERROR
    [line] = [line for line in done.stderr.splitlines() if "claims:" in line]
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:9" in line


def test_a_process_started_with_dasks_malloc_setting_gets_glibcs_own_thresholds_back(monkeypatch):
    from bnclaims import backend

    calls = []

    class FakeLibc:
        def mallopt(self, parameter, value):
            calls.append((parameter, value))
            return 1

    monkeypatch.setattr(backend.ctypes, "CDLL", lambda name: FakeLibc())
    monkeypatch.setattr(backend.sys, "platform", "linux")
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    backend.malloc_thresholds_for_training()
    assert calls == [], "a process started without Dask's setting keeps glibc's dynamic thresholds"
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "65536")
    backend.malloc_thresholds_for_training()
    assert calls == [(-3, 32 * 2**20), (-1, 64 * 2**20)]   # M_MMAP_THRESHOLD, M_TRIM_THRESHOLD (malloc.h)


def test_a_programs_runs_are_spread_only_over_idle_workers_and_only_where_training_outweighs_compiling():
    from bnclaims.cluster import task_sizes

    assert task_sizes(7, spare_workers=0, run_seconds=3.5, compile_seconds=3.0) == [7], "no idle worker: one task"
    assert task_sizes(7, spare_workers=6, run_seconds=None, compile_seconds=None) == [7], "times unknown: one task"
    # The default profile's shape (3.5 s a run, 3 s to make a program): 7 runs could fill 7 workers, but
    # spreading them wider than 8 s of training per 3 s of making stops at int(7 * 3.5 / 3) = 8 tasks.
    assert task_sizes(7, spare_workers=6, run_seconds=3.5, compile_seconds=3.0) == [1] * 7
    assert task_sizes(7, spare_workers=2, run_seconds=3.5, compile_seconds=3.0) == [3, 2, 2]
    # The short profile's (0.27 s a run, 2.5 s to make): a program's 5 runs stay one task, however idle.
    assert task_sizes(5, spare_workers=10, run_seconds=0.27, compile_seconds=2.5) == [5]
    for runs, spare in [(1, 5), (21, 3), (10, 20)]:
        sizes = task_sizes(runs, spare, 1.0, 0.5)
        assert sum(sizes) == runs and len(sizes) <= 1 + spare and max(sizes) - min(sizes) <= 1
