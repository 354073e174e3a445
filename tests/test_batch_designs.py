"""The measures behind A6 (small batches regularize) and R2 (BN with L2 or Dropout): the test loss of a
diverged run, the dose chosen on validation, and the reading of a change as regularization or
underfitting. Each must say nothing on a placebo and find an injected effect; none trains a model."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from bnclaims import designs, metrics
from bnclaims.spec import RunSpec
from conftest import make_result

SEEDS = 7


def noise(scale: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(0.0, scale, SEEDS)


def test_final_test_loss_is_the_run_loss_and_an_untrained_softmax_after_divergence(result_factory):
    run = result_factory(RunSpec(epochs=1))
    assert metrics.final_test_loss(run) == pytest.approx(0.3)
    diverged = dataclasses.replace(run, test_loss=math.nan, diverged=True)
    assert metrics.final_test_loss(diverged) == pytest.approx(math.log(10))
    assert metrics.final_test_loss(diverged, num_classes=2) == pytest.approx(math.log(2))


def test_one_standard_error_dose_finds_the_injected_best_and_takes_the_strongest_of_the_indistinguishable():
    rng = np.random.default_rng(0)
    base = list(0.90 + rng.normal(0, 0.002, SEEDS))
    injected = {1e-4: base, 1e-3: [v + 0.01 for v in base], 1e-2: [v - 0.05 for v in base]}
    assert metrics.one_standard_error_dose(injected) == 1e-3
    placebo = {0.1: base, 0.3: base, 0.5: base}      # every dose the same: the strongest
    assert metrics.one_standard_error_dose(placebo) == 0.5
    # Within one standard error of the best (sd about 0.002 over 7 seeds: SE about 0.0005): the stronger dose.
    close = {1e-4: [v + 0.0002 for v in base], 1e-3: base, 1e-2: [v - 0.05 for v in base]}
    assert metrics.one_standard_error_dose(close) == 1e-3
    # Beyond it: the best.
    apart = {1e-4: [v + 0.003 for v in base], 1e-3: base, 1e-2: [v - 0.05 for v in base]}
    assert metrics.one_standard_error_dose(apart) == 1e-4


def test_one_standard_error_dose_counts_a_diverged_run_as_zero():
    doses = {1e-3: [0.9, 0.9, 0.9], 1e-2: [0.95, math.nan, 0.95]}
    assert metrics.one_standard_error_dose(doses) == 1e-3


class DoseLab:
    """base_spec, across_seeds and sweep, as the Lab's, over runs whose final validation accuracy is
    val(spec) and whose test accuracy is the opposite: a rule that read test data would choose otherwise."""

    def __init__(self, val):
        self.val, self.asked = val, []

    def base_spec(self, **changes):
        return RunSpec(epochs=1, **changes)

    def across_seeds(self, spec, *, context: str = ""):
        self.asked.append((spec, context))
        runs = [make_result(spec.replace(seed=seed), accuracy=1 - self.val(spec.replace(seed=seed)))
                for seed in range(SEEDS)]
        return [dataclasses.replace(run, history={**run.history, "val_accuracy": [self.val(run.spec)]})
                for run in runs]

    def sweep(self, specs: dict, *, context: str = ""):
        return {x: self.across_seeds(spec, context=context) for x, spec in specs.items()}


def test_r2s_dose_is_chosen_on_the_plain_models_validation_accuracy_alone():
    """bnclaims.designs.chosen_dose: the injected best dose on validation is chosen, whatever test data say;
    on a placebo (every dose alike) the strongest; no BN run is asked for."""
    lab = DoseLab(lambda spec: 0.90 + 0.001 * spec.seed + (0.02 if spec.l2 == 1e-3 else 0.0))
    dose, validation, without = designs.chosen_dose(lab, "l2", (1e-4, 1e-3, 1e-2), context="R2 plain l2")
    assert dose == 1e-3 and list(validation) == [1e-4, 1e-3, 1e-2]
    assert validation[1e-3] == pytest.approx([0.92 + 0.001 * seed for seed in range(SEEDS)])
    assert without == pytest.approx([0.90 + 0.001 * seed for seed in range(SEEDS)])
    assert {spec.batch_norm for spec, _ in lab.asked} == {"none"} and {c for _, c in lab.asked} == {"R2 plain l2"}
    placebo = DoseLab(lambda spec: 0.90 + 0.001 * spec.seed)
    assert designs.chosen_dose(placebo, "dropout", (0.1, 0.3, 0.5), context="R2")[0] == 0.5


def test_reading_of_a_placebo_is_no_change_at_the_intervals_rate():
    assert metrics.generalization_reading([0.0] * SEEDS, [0.0] * SEEDS, [0.0] * SEEDS)[0] == "no change"
    # Changes that are noise only: a reading other than "no change" needs one of two 95% intervals to
    # miss 0, about 1 - 0.95^2 = 9.75% of draws.
    readings = [metrics.generalization_reading(noise(0.004, seed), noise(0.01, seed + 1000),
                                               noise(0.004, seed + 2000))[0] for seed in range(400)]
    assert 0.04 < 1 - readings.count("no change") / len(readings) < 0.16


def test_reading_finds_injected_regularization_by_accuracy_or_by_loss():
    gain = metrics.generalization_reading(0.02 + noise(0.004, 1), noise(0.01, 2), -0.02 + noise(0.004, 3))
    assert gain[0] == "regularization"
    lower_loss = metrics.generalization_reading(noise(0.004, 4), -0.05 + noise(0.01, 5), noise(0.004, 6))
    assert lower_loss[0] == "regularization"


def test_a_smaller_gap_with_lower_test_accuracy_is_underfitting_not_regularization():
    # The pattern of ghost batches of 8 against 128: the gap shrinks because training accuracy falls more.
    reading, words = metrics.generalization_reading(-0.03 + noise(0.004, 7), 0.05 + noise(0.01, 8),
                                                    -0.04 + noise(0.004, 9))
    assert reading == "underfitting"
    assert "generalization gap -0.04" in words
    # A smaller gap alone, test results unchanged, is not regularization either.
    assert metrics.generalization_reading(noise(0.004, 10), noise(0.01, 11),
                                          -0.03 + noise(0.004, 12))[0] == "no change"


def test_reading_names_overfitting_harm_and_mixed_results():
    assert metrics.generalization_reading(-0.03 + noise(0.004, 13), noise(0.01, 14),
                                          0.03 + noise(0.004, 15))[0] == "overfitting"
    assert metrics.generalization_reading(-0.03 + noise(0.004, 16), noise(0.01, 17),
                                          noise(0.004, 18))[0] == "worse"
    assert metrics.generalization_reading(0.03 + noise(0.004, 19), 0.05 + noise(0.01, 20),
                                          noise(0.004, 21))[0] == "mixed"


def test_reading_leaves_out_diverged_seeds_instead_of_failing():
    accuracy = list(0.02 + noise(0.004, 22))
    accuracy[0] = math.nan
    reading, words = metrics.generalization_reading(accuracy, [math.nan] * SEEDS, noise(0.004, 23))
    assert reading == "regularization"
    assert "test loss 0 finite values" in words
