"""Runs planned ahead of the tests on a cluster (bnclaims.plan): the plan file, its tasks, and the thread
that trains them while tests ask for the same runs."""

from __future__ import annotations

import collections
import json
import re
import threading
import time

import pytest

distributed = pytest.importorskip("distributed")

from bnclaims import cluster as cluster_module, runner  # noqa: E402
from bnclaims.lab import Lab  # noqa: E402
from bnclaims.plan import (PLAN_NAME, PLANNED_RUNS_PER_TASK, Prefetcher, planned_specs, planned_tasks,  # noqa: E402
                           read_plan, write_plan)
from bnclaims.spec import RunSpec, run_key  # noqa: E402
from conftest import make_result  # noqa: E402
from test_cluster import cache_entries, cluster_settings  # noqa: E402


def test_a_plan_is_kept_per_settings_and_a_damaged_one_is_no_plan(tmp_path):
    one, two = RunSpec(seed=0).to_dict(), RunSpec(seed=1).to_dict()
    write_plan(tmp_path, "settings A", {"t1": [one], "t2": [one, two]})
    write_plan(tmp_path, "settings A", {"t2": [two]})           # a later session that ran t2 only
    write_plan(tmp_path, "settings B", {"t1": [two]})
    assert read_plan(tmp_path, "settings A") == {"t1": [one], "t2": [two]}
    assert read_plan(tmp_path, "settings C") == {}
    (tmp_path / PLAN_NAME).write_text("[not, json")
    assert read_plan(tmp_path, "settings A") == {}
    write_plan(tmp_path, "settings A", {"t1": [one]})            # a damaged file is replaced, not kept
    assert json.loads((tmp_path / PLAN_NAME).read_text()) == {"settings A": {"specs": [one], "tests": {"t1": [0]}}}
    write_plan(tmp_path, "settings A", {"t1": [one, two], "t2": [two, one]})
    assert json.loads((tmp_path / PLAN_NAME).read_text())["settings A"]["specs"] == [one, two], "each spec once"
    assert read_plan(tmp_path, "settings A") == {"t1": [one, two], "t2": [two, one]}
    (tmp_path / PLAN_NAME).write_text(json.dumps({"settings A": {"specs": [one], "tests": {"t1": [0, 5]}}}))
    assert read_plan(tmp_path, "settings A") == {}


def test_the_planned_specs_are_the_collected_tests_in_order_each_once_and_readable():
    first, second, third = (RunSpec(seed=seed).to_dict() for seed in range(3))
    plan = {"t1": [second, first], "t2": [first, third], "t3": [{"no such field": 1}, third], "gone": [first]}
    assert [spec.seed for spec in planned_specs(plan, ["t2", "t1", "t3", "new"])] == [0, 2, 1]


def test_planned_tasks_keep_a_programs_runs_together_in_order_and_bounded():
    specs = [RunSpec(batch_size=size, seed=seed) for seed in range(PLANNED_RUNS_PER_TASK + 2) for size in (128, 64)]
    tasks = planned_tasks(specs, lambda spec: spec.batch_size)
    assert [[spec.batch_size for spec in task] for task in tasks] == [
        [128] * PLANNED_RUNS_PER_TASK, [128] * 2, [64] * PLANNED_RUNS_PER_TASK, [64] * 2]
    assert [spec.seed for spec in tasks[0] + tasks[1]] == list(range(PLANNED_RUNS_PER_TASK + 2))
    assert [len(task) for task in planned_tasks(specs[:3], lambda spec: None)] == [1, 1, 1]   # no program: one each


@pytest.fixture
def fake_cluster(monkeypatch):
    """A cluster of two worker threads whose "training" makes a result in `seconds_per_run` and counts how
    often each run key was trained."""
    trained = collections.Counter()
    state = {"seconds_per_run": 0.05}

    def fake_train(specs, dataset, engine, threads, ctx):
        results = []
        for spec in specs:
            time.sleep(state["seconds_per_run"])
            result = make_result(spec)
            key = run_key(spec, ctx)
            trained[key] += 1
            results.append(type(result)(**{**result.__dict__, "key": key}))
        return results

    monkeypatch.setattr(runner, "train", fake_train)
    monkeypatch.setattr(cluster_module, "worker_platform", lambda engine: "cpu:a test CPU")
    monkeypatch.setattr(cluster_module.backend, "platform", lambda name: "cpu:a test CPU")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as cluster:
        yield cluster.scheduler_address, trained, state


def _specs(lab: Lab) -> list[RunSpec]:
    base = lab.base_spec(batch_norm="none", learning_rate=0.05)
    return [base.replace(batch_size=size, seed=seed) for size in (128, 64, 32) for seed in range(4)]


def _planner_started(tmp_path, fake_cluster):
    """(settings, a test's Lab, the specs, a Prefetcher training them) on the fake cluster."""
    settings = cluster_settings(tmp_path, fake_cluster[0], seeds="0-3")
    lab = Lab(settings, lambda record: None)
    specs = _specs(lab)
    return settings, lab, specs, Prefetcher(Lab(settings, lambda record: None), specs).start()


def test_planned_runs_are_trained_ahead_and_served_to_the_tests_from_the_cache(tmp_path, fake_cluster):
    address, trained, _ = fake_cluster
    settings = cluster_settings(tmp_path, address, seeds="0-3")
    planner = Prefetcher(Lab(settings, lambda record: None), _specs(Lab(settings))).start()
    planner.wait(timeout=60)
    assert planner.trained == 12 and not planner.problem
    assert len(cache_entries(settings)) == 12 and set(trained.values()) == {1}
    said = []
    lab = Lab(settings, said.append)
    lab.runs(_specs(lab))
    assert all(record.from_cache for record in said), "the tests train nothing the plan trained"
    again = Prefetcher(Lab(settings, lambda record: None), _specs(lab)).start()
    again.wait(timeout=60)
    assert again.trained == 0, "a later plan leaves out what the cache has"
    for each in (planner, again, lab):
        getattr(each, "lab", each).close()


def test_a_test_asking_for_runs_the_plan_is_training_waits_for_them_and_none_is_trained_twice(tmp_path, fake_cluster):
    _, trained, state = fake_cluster
    state["seconds_per_run"] = 0.2
    settings, lab, specs, planner = _planner_started(tmp_path, fake_cluster)
    try:
        _wait_for(lambda: planner.trained or any(trained.values()), "the plan's first task")
        # The test asks for every run, the plan's last first: some are the plan's, some its own.
        results = lab.runs(list(reversed(specs)))
    finally:
        planner.stop()
        planner.lab.close()
        lab.close()
    assert sorted(trained.values()) == [1] * len(specs), "each run trained once, by the plan or by the test"
    assert 0 < planner.trained < len(specs)
    assert [result.key for result in results] == [run_key(spec, lab.run_context) for spec in reversed(specs)]
    assert len(cache_entries(settings)) == len(specs)


def test_stopping_the_plan_cancels_its_tasks_and_lets_go_of_their_runs(tmp_path, fake_cluster):
    _, trained, state = fake_cluster
    state["seconds_per_run"] = 0.5
    settings, lab, specs, planner = _planner_started(tmp_path, fake_cluster)
    _wait_for(lambda: any(trained.values()), "the plan's first run")
    stopped = threading.Thread(target=planner.stop)
    stopped.start()
    stopped.join(timeout=30)
    assert not stopped.is_alive()
    planner.lab.close()
    assert planner.trained < len(specs)
    for spec in specs:          # no lock is left held: a test can train every run the plan did not
        lock = lab.cache.lock(run_key(spec, lab.run_context))
        lock.acquire(timeout=0)
        lock.release()
    state["seconds_per_run"] = 0.0
    lab.runs(specs)
    lab.close()
    assert len(cache_entries(settings)) == len(specs)


def _wait_for(condition, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_session_keeps_its_plan_and_a_later_session_on_a_cluster_trains_it_ahead_with_the_same_verdicts(tmp_path):
    """The talk's table on digits: a local session writes the plan beside its cache; a session on a
    LocalCluster with an empty cache and that plan trains the runs ahead of its tests, and its ledger holds
    the same records."""
    from conftest import run_pytest

    options = ["claims/test_talk_table.py", "--claims-profile", "short", "--claims-dataset", "digits",
               "--claims-seeds", "3", "--claims-looks", "1"]
    local = run_pytest(*options, "--claims-cache", str(tmp_path / "local"), "--claims-report-dir",
                       str(tmp_path / "local-reports"))
    assert "runs: 24 trained" in local.stdout, local.stdout[-3000:]
    [(settings_key, plan)] = json.loads((tmp_path / "local" / PLAN_NAME).read_text()).items()
    assert settings_key.startswith("pytest claims/ --claims-profile short --claims-dataset digits")
    assert len(plan["specs"]) == 24, "each run the tests used, once"
    assert all(nodeid.startswith("claims/test_talk_table.py") for nodeid in plan["tests"])
    (tmp_path / "cluster").mkdir()
    (tmp_path / "cluster" / PLAN_NAME).write_text((tmp_path / "local" / PLAN_NAME).read_text())
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        planned = run_pytest(*options, "-n", "2", "--claims-cluster", cluster.scheduler_address, "--claims-cache",
                             str(tmp_path / "cluster"), "--claims-report-dir", str(tmp_path / "cluster-reports"))
    found = re.search(r"runs: (\d+) trained, \d+ from the cache \((\d+) of them trained ahead of the tests", planned.stdout)
    assert found, planned.stdout[-3000:]
    trained_by_tests, ahead = map(int, found.groups())
    assert ahead > 0 and trained_by_tests + ahead == 24, "every run trained once, most of them ahead of the tests"

    def records(folder: str) -> list[dict]:
        ledger = json.loads((tmp_path / folder / "claims.json").read_text())
        return [{name: value for name, value in record.items() if name != "session"} for record in ledger["records"]]

    assert records("cluster-reports") == records("local-reports")
