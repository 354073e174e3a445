"""Shared helpers for the engine's own tests."""

from __future__ import annotations

import pytest

from bnclaims.results import RunResult
from bnclaims.spec import RunSpec, environment_fingerprint


def make_result(spec: RunSpec, accuracy: float = 0.9) -> RunResult:
    """A hand-made RunResult (no training) with the shape the engine writes."""
    per_epoch = [0.5] * spec.epochs
    return RunResult(
        spec=spec, key=spec.key(),
        history={"train_loss": per_epoch, "train_accuracy": per_epoch, "val_loss": per_epoch,
                 "val_accuracy": per_epoch},
        test_loss=0.3, test_accuracy=accuracy, prediction_histogram=[10] * 10,
        collapsed=False, diverged=False, epochs_completed=spec.epochs, wall_seconds=0.01,
        environment=environment_fingerprint(),
    )


@pytest.fixture
def result_factory():
    return make_result
