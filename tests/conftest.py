"""Shared helpers for the engine's own tests."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from bnclaims.results import RunResult
from bnclaims.spec import RunSpec, environment_fingerprint


def make_result(spec: RunSpec, accuracy: float = 0.9) -> RunResult:
    """A hand-made RunResult (no training) with the shape the engine writes."""
    per_epoch = [0.5] * spec.epochs
    return RunResult(
        spec=spec, key=spec.key(),
        history={name: list(per_epoch) for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
        test_loss=0.3, test_accuracy=accuracy, prediction_histogram=[10] * 10,
        collapsed=False, diverged=False, epochs_completed=spec.epochs, wall_seconds=0.01,
        environment=environment_fingerprint(),
    )


CLAIMS = Path(__file__).resolve().parents[1] / "claims"


def load_claim_module(name: str, alias: str):
    """A claim module from claims/ (not a package), imported by file under a private name, so that tests
    can call its design functions and read its catalogue without pytest collecting it twice."""
    spec = importlib.util.spec_from_file_location(alias, CLAIMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module          # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def result_factory():
    return make_result
