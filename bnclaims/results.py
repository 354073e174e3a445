"""RunResult: the complete outcome of one run, as stored in the cache (JSON only, never pickle)."""

from __future__ import annotations

import math
from dataclasses import dataclass, field, asdict

import numpy as np

from .spec import RunSpec

SCHEMA_VERSION = 2

# A run "collapsed" when one class receives at least this share of the test predictions: the talk's
# 0.1135 and 0.0892 are exactly the shares of the digits 1 and 5, i.e. one-class predictors.
COLLAPSE_SHARE = 0.9

HISTORY_KEYS = ("train_loss", "train_accuracy", "val_loss", "val_accuracy")

# The step-level record: at about 20 log-spaced steps (log_steps), the loss of that step's mini-batch
# (training mode, what the gradient was taken of) and the accuracy after its update on the first
# STEP_VALIDATION_EXAMPLES of the validation split, in inference mode (val_accuracy: moving statistics,
# what a deployed model scores) and in training mode (val_accuracy_train_mode: BN normalizes by the
# statistics of those examples themselves, dropout and noise layers on; the state this pass would update
# is discarded, so recording disturbs no run). The two differ only by BN's moving averages (and dropout
# or noise): their gap early in training is the moving-average lag. For convergence measured in steps
# rather than epochs. A subset, because twenty passes over a 12,000-image validation split would cost
# more than a short run's training; 2,048 images give a binomial standard error under one point.
# A stored run without one of these keys is a damaged entry: it is moved aside and trained again.
STEP_KEYS = ("step", "train_loss", "val_accuracy", "val_accuracy_train_mode")
LOGGED_STEPS = 20
STEP_VALIDATION_EXAMPLES = 2048


def log_steps(total: int, count: int = LOGGED_STEPS) -> list[int]:
    """About `count` log-spaced step numbers from 1 to total (fewer when steps are few: no repeats)."""
    return sorted({int(round(s)) for s in np.geomspace(1, total, count)}) if total >= 1 else []


class DamagedEntry(ValueError):
    """A stored result does not have the shape this version of the engine writes."""


def _finite_or_none(value: float):
    return float(value) if value is not None and math.isfinite(value) else None


def _none_to_nan(values):
    return [float("nan") if v is None else float(v) for v in values]


def _steps_from_json(steps: dict) -> dict:
    if not steps:
        return {}
    record = {"step": [int(s) for s in steps["step"]]}
    record.update({k: _none_to_nan(steps[k]) for k in STEP_KEYS[1:]})
    if {len(v) for v in record.values()} != {len(record["step"])}:
        raise DamagedEntry("step record lengths differ")
    return record


def is_collapsed(prediction_histogram) -> bool:
    counts = np.asarray(prediction_histogram, dtype=float)
    return bool(counts.sum() > 0 and counts.max() / counts.sum() >= COLLAPSE_SHARE)


@dataclass(frozen=True)
class RunResult:
    """Per-epoch history (training mode for train_*, inference mode for val_*), test metrics, flags."""

    spec: RunSpec
    key: str
    history: dict[str, list[float]]      # HISTORY_KEYS -> one value per epoch, NaN after a divergence stop
    test_loss: float
    test_accuracy: float
    prediction_histogram: list[int]      # test predictions per class
    collapsed: bool
    diverged: bool                       # a non-finite loss was seen; training stopped there
    epochs_completed: int
    wall_seconds: float
    environment: dict[str, str]          # engine, backend, platform, data fingerprint, library versions
    extras: dict = field(default_factory=dict)   # what spec.record asked for, e.g. train_inference
    diverged_step: int | None = None     # the first step (1-based) whose training loss was not finite
    steps: dict[str, list] = field(default_factory=dict)   # STEP_KEYS -> one value per logged step
    compile_seconds: float | None = None   # of wall_seconds, making programs; None where not measured

    @property
    def outcome(self) -> str:
        """'diverged', 'collapsed' or 'trained': how a report should name this run."""
        return "diverged" if self.diverged else "collapsed" if self.collapsed else "trained"

    def to_json_dict(self) -> dict:
        data = asdict(self)
        data["schema"] = SCHEMA_VERSION
        data["spec"] = self.spec.to_dict()
        data["history"] = {k: [_finite_or_none(v) for v in vs] for k, vs in self.history.items()}
        data["test_loss"] = _finite_or_none(self.test_loss)
        data["test_accuracy"] = _finite_or_none(self.test_accuracy)
        data["steps"] = {k: [int(v) for v in vs] if k == "step" else [_finite_or_none(v) for v in vs]
                         for k, vs in self.steps.items()}
        return data

    @classmethod
    def from_json_dict(cls, data: dict) -> "RunResult":
        try:
            if data.get("schema") != SCHEMA_VERSION:
                raise DamagedEntry(f"schema {data.get('schema')!r}, expected {SCHEMA_VERSION}")
            history = {k: _none_to_nan(data["history"][k]) for k in HISTORY_KEYS}
            spec = RunSpec.from_dict(data["spec"])
            lengths = {len(v) for v in history.values()}
            if lengths != {spec.epochs}:
                raise DamagedEntry(f"history lengths {sorted(lengths)} do not match {spec.epochs} epochs")
            return cls(
                spec=spec,
                key=str(data["key"]),
                history=history,
                test_loss=_none_to_nan([data["test_loss"]])[0],
                test_accuracy=_none_to_nan([data["test_accuracy"]])[0],
                prediction_histogram=[int(c) for c in data["prediction_histogram"]],
                collapsed=bool(data["collapsed"]),
                diverged=bool(data["diverged"]),
                epochs_completed=int(data["epochs_completed"]),
                wall_seconds=float(data["wall_seconds"]),
                environment=dict(data["environment"]),
                extras=dict(data.get("extras", {})),
                diverged_step=None if data["diverged_step"] is None else int(data["diverged_step"]),
                steps=_steps_from_json(data["steps"]),
                compile_seconds=None if data.get("compile_seconds") is None else float(data["compile_seconds"]),
            )
        except DamagedEntry:
            raise
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError) as error:
            # OverflowError: an infinity where an integer belongs (int(1e999)).
            raise DamagedEntry(f"{type(error).__name__}: {error}") from error
