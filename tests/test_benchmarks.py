"""The benchmarks' verdicts on their targets (benchmarks/engine_speed.py, benchmarks/suite_timing.py), without
timing anything, and the lean engine's arm run on a few tiny runs (slow)."""

from __future__ import annotations

import json
import os
import sys
import time
import types

import pytest

from conftest import load_benchmark

engine_speed = load_benchmark("engine_speed")


def test_speed_up_target_is_met_only_at_eight_times_default_fit():
    assert engine_speed.target_text(250, 2.4, 0.30, 0.25).endswith("compiled 8.0x, met")
    assert engine_speed.target_text(250, 2.4, 0.31, 0.25).endswith("missed")


def test_speed_up_target_says_how_near_the_floor_it_lies():
    reachable = engine_speed.target_text(250, 2.4, 0.50, 0.24)
    assert "0.30 s per run (80% of the floor's speed)" in reachable
    out_of_reach = engine_speed.target_text(250, 2.4, 0.50, 0.40)
    assert "no engine doing this work reaches it on this CPU" in out_of_reach and out_of_reach.endswith("missed")


def test_floor_share_target_at_the_talks_budget():
    assert engine_speed.target_text(3750, 23.0, 4.0, 2.4) == "60% of the floor's speed: compiled at 60%, met"
    assert engine_speed.target_text(3750, None, 4.1, 2.4).endswith("compiled at 59%, missed")


def test_no_target_line_without_a_target_or_without_fit():
    assert engine_speed.target_text(1000, 10.0, 1.0, 0.5) == ""
    assert engine_speed.target_text(250, None, 0.5, 0.4) == ""   # no TensorFlow: no default fit to compare


suite_timing = load_benchmark("suite_timing")


def write_entry(folder, name: str, engine: str, wall: float, made: float | None) -> None:
    entry = folder / name[:2] / f"{name}.json"
    entry.parent.mkdir(parents=True, exist_ok=True)
    result = {"wall_seconds": wall, "environment": {"engine": engine}}
    if made is not None:
        result["compile_seconds"] = made
    entry.write_text(json.dumps({"result": result}))


def test_cold_work_splits_worker_time_into_execution_and_compiling(tmp_path):
    write_entry(tmp_path, "aa1", "compiled", 2.5, 2.0)
    write_entry(tmp_path, "aa2", "compiled", 0.5, 0.0)
    write_entry(tmp_path, "bb1", "fit", 3.0, None)       # another engine's run: not counted
    assert suite_timing.cold_work(list(suite_timing.cached_results(tmp_path, "compiled"))) == (2, 1.0, 2.0)
    assert suite_timing.cold_work(list(suite_timing.cached_results(tmp_path, "fit"))) == (1, 3.0, None)


def test_cold_time_with_nothing_compiled_against_the_target():
    assert suite_timing.least_cold_text(10.0, 160.0, 2, 90).endswith(
        "= 90.0 s; target 90 s within reach")
    assert "out of reach by compiling faster" in suite_timing.least_cold_text(10.0, 162.0, 2, 90)
    assert suite_timing.least_cold_text(10.0, 160.0, 4, None).endswith("160.0 s / 4 workers = 50.0 s")


def test_worker_count_follows_pytest_xdist(monkeypatch):
    assert suite_timing.worker_count("3") == 3
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "5")
    assert suite_timing.worker_count("auto") == 5
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS")
    assert suite_timing.worker_count("auto") == len(os.sched_getaffinity(0))


SMALL = {"dataset": "mnist5k", "hidden": [2], "batch_size": 4, "epochs": 2, "record": []}


def test_run_flops_counts_each_product_once_and_only_the_epochs_run():
    # features 3, one hidden layer of 2, 10 classes: a forward pass is 2*3*2 + 2*2*10 = 52 FLOPs, 40 after
    # the first layer; a training step's example 2*52 + 40 = 144. 8 training examples at batch 4 make 2
    # steps an epoch, 4 in all, each logged (results.log_steps); 1 validation and 1 test example.
    full = engine_speed.run_flops(SMALL, 8, 1, 1, features=3)
    assert full == 144 * 8 * 2 + 52 * (1 * 2 + 1) + (52 + 40) * 1 * 4
    # A run that diverged in its first epoch ran that epoch whole and its logged steps up to its end.
    assert engine_speed.run_flops(SMALL, 8, 1, 1, features=3, epochs_run=1) == 144 * 8 + 52 * 2 + 92 * 2
    assert engine_speed.run_flops(SMALL, 8, 1, 1, features=3, epochs_run=2) == full


def test_probe_flops_count_what_each_record_asks_for():
    from bnclaims.engines import probes

    assert engine_speed.probe_flops(SMALL, 8, features=3) == 0
    noise = engine_speed.probe_flops({**SMALL, "record": ["gradient_noise"]}, 8, features=3)
    assert noise == 144 * (sum(probes.BATCH_SIZES) * probes.GRADIENT_BATCHES_PER_SIZE + 8)
    ics = engine_speed.probe_flops({**SMALL, "record": ["gradient_ics"]}, 8, features=3)
    assert ics == 2 * 144 * 2 * 4 * probes.ICS_BATCHES      # a gradient, and one for the one later Dense layer
    both = engine_speed.probe_flops({**SMALL, "record": ["gradient_ics", "gradient_noise"]}, 8, features=3)
    assert both == noise + ics
    assert engine_speed.probe_flops({**SMALL, "record": ["recalibrated"]}, 8, features=3) == 0   # left out


def write_run(folder, name: str, spec: dict, epochs_completed: int, engine: str = "compiled",
              made: float | None = None) -> None:
    entry = folder / name[:2] / f"{name}.json"
    entry.parent.mkdir(parents=True, exist_ok=True)
    result = {"spec": spec, "epochs_completed": epochs_completed, "wall_seconds": 1.0,
              "environment": {"engine": engine}, "compile_seconds": made}
    entry.write_text(json.dumps({"result": result}))


def test_floor_work_sums_the_profiles_runs_of_the_engine(tmp_path):
    write_run(tmp_path, "aa1", SMALL, 2)
    write_run(tmp_path, "aa2", {**SMALL, "record": ["gradient_noise"]}, 1, made=0.25)
    write_run(tmp_path, "bb1", {**SMALL, "epochs": 3}, 3)                 # another profile's budget
    write_run(tmp_path, "bb2", {**SMALL, "dataset": "digits"}, 2)         # another dataset
    write_run(tmp_path, "bb3", SMALL, 2, engine="fit")                    # another engine
    stored = list(suite_timing.cached_results(tmp_path, "compiled"))
    runs, flops, execution = suite_timing.floor_work(stored, "mnist5k", 2, (8, 1, 1), 3)
    assert runs == 2 and execution == 2 * 1.0 - 0.25      # the second run's compiling is not executing
    assert flops == (engine_speed.run_flops(SMALL, 8, 1, 1, features=3)
                     + engine_speed.run_flops(SMALL, 8, 1, 1, features=3, epochs_run=1)
                     + engine_speed.probe_flops({**SMALL, "record": ["gradient_noise"]}, 8, features=3))


def test_cold_time_at_the_arithmetic_floor_against_the_target():
    assert suite_timing.floor_text(10.0, 160.0, 2, 90).endswith("= 90.0 s; target 90 s not ruled out by arithmetic")
    assert suite_timing.floor_text(10.0, 162.0, 2, 90).endswith(
        "target 90 s out of reach on this CPU: no engine doing this work meets it")
    assert suite_timing.floor_text(10.0, 160.0, 4, None).endswith("160.0 s / 4 workers = 50.0 s")


def test_lean_shares_keep_each_signature_on_one_worker_and_balance_training_steps():
    sizes = types.SimpleNamespace(num_features=3, num_classes=10, y_train=range(8), y_val=range(1), y_test=range(1))
    bn = {**SMALL, "batch_size": 4}                          # 2 steps a pass, 2 passes: 4 steps a run
    specs = ([{**bn, "seed": seed} for seed in range(3)]
             + [{**bn, "seed": seed, "learning_rate": 0.1} for seed in range(2)]   # the same program: 20 steps
             + [{**bn, "seed": seed, "batch_norm": "none"} for seed in range(4)]   # another: 16 steps
             + [{**bn, "batch_size": 8}])                                          # another: 2 steps
    results = [{"spec": spec, "epochs_completed": 2, "wall_seconds": 1.0} for spec in specs]
    first, second = suite_timing.lean_shares(results, 2, sizes)
    assert [run["spec"] for run in first] == specs[:5]                 # the largest program, whole
    assert [run["spec"] for run in second] == specs[5:]                # the next, then the smallest beside it
    assert all(run["epochs_completed"] == 2 for run in first + second)
    assert suite_timing.lean_shares(results, 3, sizes)[2] == [{"spec": specs[9], "epochs_completed": 2}]


def test_cold_time_of_the_leanest_engine_on_xla_against_the_target():
    assert suite_timing.lean_text(10.0, 160.0, 2, 90).endswith(
        "= 90.0 s; target 90 s not ruled out for an engine built on XLA")
    assert suite_timing.lean_text(10.0, 162.0, 2, 90).endswith(
        "target 90 s out of reach on this CPU for any engine built on XLA")


@pytest.mark.slow
def test_the_lean_arm_compiles_a_program_per_signature_and_trains_every_run():
    tiny = {"dataset": "digits", "hidden": [8], "batch_size": 64, "epochs": 2, "record": []}
    runs = ([{"spec": {**tiny, "seed": seed}, "epochs_completed": 2} for seed in range(2)]
            + [{"spec": {**tiny, "batch_norm": "none"}, "epochs_completed": 1}])
    answer, = suite_timing.lean_seconds([runs], "digits")
    assert answer["programs"] == 2 and answer["runs"] == 3
    assert 0 < answer["compiling"] < answer["seconds"]


workers_prediction = load_benchmark("workers_prediction")


def test_the_prediction_schedules_the_longest_runs_first_and_never_beats_its_bounds():
    runs = [7.0, 5.0, 4.0, 3.0, 3.0, 2.0]
    assert workers_prediction.predicted_seconds(runs, 1) == sum(runs)
    assert workers_prediction.predicted_seconds(runs, 2) == 12.0         # 7+3+2 and 5+4+3
    assert workers_prediction.predicted_seconds(runs, 64) == 7.0         # the longest run: the critical path
    for workers in (1, 2, 3, 4, 64):
        predicted = workers_prediction.predicted_seconds(runs, workers)
        bound = workers_prediction.lower_bound(runs, workers)
        assert bound <= predicted <= 4 / 3 * bound + max(runs), workers
    with pytest.raises(ValueError, match="at least 1"):
        workers_prediction.predicted_seconds(runs, 0)


def test_the_prediction_table_puts_measured_times_beside_the_predicted():
    lines = workers_prediction.table([60.0] * 4, {1: 250.0, 2: 130.0})
    assert lines[0].startswith("4 runs, 4.0 min of training in all")
    assert lines[2].split() == ["1", "4.0", "min", "4.0", "min", "4.2", "min"]
    assert lines[3].split() == ["2", "2.0", "min", "2.0", "min", "2.2", "min"]
    assert lines[4].split() == ["4", "1.0", "min", "1.0", "min"]


def test_a_ledger_chooses_the_runs_of_one_session_from_a_shared_cache(tmp_path):
    import json

    cache = tmp_path / "cache"
    for key, seconds, engine in (("aa1", 2.0, "compiled"), ("bb2", 3.0, "compiled"), ("cc3", 5.0, "compiled"),
                                 ("dd4", 7.0, "fit")):
        (cache / key[:2]).mkdir(parents=True)
        result = {"key": key, "wall_seconds": seconds, "spec": {"dataset": "mnist5k"}, "environment": {"engine": engine}}
        (cache / key[:2] / f"{key}.json").write_text(json.dumps({"result": result}))
    ledger = tmp_path / "claims.json"
    ledger.write_text(json.dumps({"runs": {"each": [{"key": "aa1"}, {"key": "cc3"}, {"key": "dd4"}, {"key": "ee5"}]}}))
    seconds, missing = workers_prediction.ledger_run_seconds(cache, ledger, "compiled")
    assert sorted(seconds) == [2.0, 5.0] and missing == 2      # dd4 is another engine's, ee5 is not cached


cluster_timing = load_benchmark("cluster_timing")


def test_the_cluster_benchmark_counts_the_cpu_of_ended_children_and_of_running_processes():
    import subprocess

    burn = [sys.executable, "-c", "import time\nend = time.process_time() + 0.4\nwhile time.process_time() < end: pass"]
    before = cluster_timing.children_cpu_seconds()
    subprocess.run(burn, check=True)
    assert cluster_timing.children_cpu_seconds() - before >= 0.35        # an ended child's CPU is counted
    running = subprocess.Popen([*burn[:2], burn[2] + "\nimport sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while cluster_timing.cpu_seconds([running.pid]) < 0.35:       # a live process's CPU, read by its PID
            assert time.monotonic() < deadline, "the running child's CPU was never counted"
            time.sleep(0.05)
    finally:
        running.communicate(b"")


def test_the_cluster_benchmark_tells_idle_cores_and_each_rounds_ratio():
    assert cluster_timing.idle_share(100.0, 150.0, 2) == pytest.approx(0.25)
    assert cluster_timing.idle_share(100.0, 200.0, 2) == pytest.approx(0.0)
    sittings = {"local": [cluster_timing.Sitting(100.0, ""), cluster_timing.Sitting(120.0, "")],
                "processes": [cluster_timing.Sitting(110.0, ""), cluster_timing.Sitting(114.0, "")]}
    assert cluster_timing.round_ratios(sittings, "processes") == pytest.approx([1.10, 0.95])
    line = cluster_timing.Sitting(100.0, "1 passed", cpu={"session": 20.0, "workers": 130.0}).line()
    assert line.startswith("100.0 s; CPU 150 s (session 20 s, workers 130 s)") and "1 passed" in line
