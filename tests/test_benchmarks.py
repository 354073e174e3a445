"""The engine benchmark's verdicts on its targets (benchmarks/engine_speed.py), without timing anything."""

from __future__ import annotations

import importlib.util

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
