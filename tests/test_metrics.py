"""Metrics read off RunResults."""

import math

import pytest

from bnclaims import metrics
from bnclaims.spec import RunSpec


def test_epochs_to_reach_counts_from_one_and_censors():
    assert metrics.epochs_to_reach([0.2, 0.5, 0.8], 0.5) == 2
    assert metrics.epochs_to_reach([0.9], 0.5) == 1
    assert metrics.epochs_to_reach([0.2, 0.3], 0.5) == 3
    assert metrics.epochs_to_reach([math.nan, math.nan], 0.1) == 3


def test_final_val_accuracy_of_a_diverged_run_is_zero(result_factory):
    run = result_factory(RunSpec(epochs=2))
    assert metrics.final_val_accuracy(run) == 0.5
    run.history["val_accuracy"][-1] = math.nan
    assert metrics.final_val_accuracy(run) == 0.0


def test_generalization_gap_needs_the_recording(result_factory):
    run = result_factory(RunSpec(epochs=1))
    with pytest.raises(ValueError, match="train_inference"):
        metrics.generalization_gap(run)
    run.extras["train_inference"] = {"accuracy": 0.95, "loss": 0.1}
    assert metrics.generalization_gap(run) == pytest.approx(0.95 - run.test_accuracy)


def test_failed_runs(result_factory):
    run = result_factory(RunSpec(epochs=1), accuracy=0.9)
    assert not metrics.failed(run)
    assert metrics.failed(result_factory(RunSpec(epochs=1), accuracy=0.15))
