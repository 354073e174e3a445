"""Seeds by power: the design's sensitivity from observed differences (bnclaims.power)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bnclaims import power, stats


def test_t_power_is_the_noncentral_t_and_grows_with_seeds():
    assert power.power("t", 5, 1.5, 0.05) == pytest.approx(stats.t_test_power(5, 1.5, 0.05))
    assert power.power("t", 10, 1.0, 0.05) > power.power("t", 5, 1.0, 0.05)
    assert power.power("t", 10, 0.0, 0.05) == pytest.approx(0.05)     # on the boundary: alpha


def test_sign_flip_power_is_zero_below_its_smallest_seed_count_and_high_well_above():
    assert power.power("sign_flip", 5, 3.0, 0.025) == 0.0             # 2^-5 > 0.025
    assert power.power("sign_flip", 6, 3.0, 0.025) > 0.9
    # Simulated but reproducible: the same call gives the same figure.
    assert power.power("sign_flip", 8, 1.0, 0.05) == power.power("sign_flip", 8, 1.0, 0.05)


def test_decision_distance_is_the_threshold_or_the_spread():
    assert power.decision_distance(0.03, "non_inferiority", 0.01) == 0.03
    assert power.decision_distance(-1.0, "superiority", 0.2) == 1.0
    assert power.decision_distance(0.0, "superiority", 0.2) == 0.2


def test_sensitivity_finds_the_seeds_for_the_target():
    rng = np.random.default_rng(0)
    d = rng.normal(0.0, 0.02, 5)
    found = power.sensitivity("X1.a", "t", 0.05, d, 0.02, "superiority", max_seeds=40)
    sd = float(np.std(d, ddof=1))
    assert found.sd == pytest.approx(sd) and found.distance == 0.02 and found.n == 5
    needed = found.seeds_for_target
    assert power.power("t", needed, 0.02 / sd, 0.05) >= power.TARGET_POWER > power.power("t", needed - 1, 0.02 / sd, 0.05)
    assert "an effect 0.02 beyond the boundary" in found.sentence()
    assert power.sensitivity("X1.b", "t", 0.05, [0.1, 0.1, 0.1], 0.02, "superiority") is None   # no spread


def test_equivalence_is_judged_at_half_its_level():
    d = np.array([0.001, -0.002, 0.003, 0.0, -0.001])
    found = power.sensitivity("X1.e", "t", 0.05, d, 0.01, "equivalence")
    assert found.alpha == 0.025


def test_the_command_prints_one_row_per_empirical_paired_check(tmp_path, capsys):
    record = {"tier": "empirical", "kind": "paired", "check_id": "X1.a", "method": "t", "corrected_alpha": 0.05,
              "threshold": 0.01, "test": "superiority",
              "arm_a": {"values": [0.90, 0.92, 0.91, 0.93, 0.95]}, "arm_b": {"values": [0.88, 0.9, 0.9, 0.9, 0.91]}}
    exact = {**record, "tier": "identity", "check_id": "X1.b"}
    ledger = tmp_path / "claims.json"
    ledger.write_text(json.dumps({"records": [record, exact]}))
    assert power.main([str(ledger)]) == 0
    out = capsys.readouterr().out
    assert "X1.a" in out and "X1.b" not in out
    assert power.main([str(tmp_path / "missing.json")]) == 2
    assert "cannot read the ledger" in capsys.readouterr().err
