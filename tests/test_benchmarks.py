"""The benchmarks' verdicts on their targets (benchmarks/engine_speed.py, benchmarks/suite_timing.py), without
timing anything."""

from __future__ import annotations

import importlib.util
import json
import os

from conftest import ROOT

_spec = importlib.util.spec_from_file_location("engine_speed", ROOT / "benchmarks" / "engine_speed.py")
engine_speed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(engine_speed)


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


_spec = importlib.util.spec_from_file_location("suite_timing", ROOT / "benchmarks" / "suite_timing.py")
suite_timing = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(suite_timing)


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
    assert suite_timing.cold_work(tmp_path, "compiled") == (2, 1.0, 2.0)
    assert suite_timing.cold_work(tmp_path, "fit") == (1, 3.0, None)


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
