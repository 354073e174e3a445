"""Numbers that claims read off a RunResult. Pure functions; a run that diverged still yields a value."""

from __future__ import annotations

import math
from collections.abc import Sequence

from .results import RunResult


def test_accuracy(run: RunResult) -> float:
    return run.test_accuracy


test_accuracy.__test__ = False   # pytest must not collect this when a claim module imports it


def final_val_accuracy(run: RunResult) -> float:
    """Validation accuracy (inference mode) after the last epoch; a diverged run scores 0.0 here
    because its validation history ends in NaN and it cannot be selected as usable."""
    value = run.history["val_accuracy"][-1]
    return value if math.isfinite(value) else 0.0


def epochs_to_reach(values: Sequence[float], target: float) -> int:
    """The first epoch (1-based) whose value reaches target; len(values) + 1 when none does
    (censored: the run did not get there within its epochs, diverged runs included)."""
    for epoch, value in enumerate(values, start=1):
        if math.isfinite(value) and value >= target:
            return epoch
    return len(values) + 1


def talk_epochs(passes: float, total_passes: int, talk_epochs_in_budget: int = 10) -> float:
    """A number of passes as the talk's epochs: the talk's budget was 10 epochs, so one talk epoch is a
    tenth of any profile's budget (15 passes over mnist5k at the talk's budget, 1 in the short profile)."""
    return passes * talk_epochs_in_budget / total_passes


def generalization_gap(run: RunResult) -> float:
    """Training-split accuracy minus test accuracy, both in inference mode (needs record=train_inference)."""
    if "train_inference" not in run.extras:
        raise ValueError(f"run {run.key[:12]} did not record train_inference")
    return run.extras["train_inference"]["accuracy"] - run.test_accuracy


def failed(run: RunResult, chance_multiple: float = 2.0, num_classes: int = 10) -> bool:
    """Collapsed, diverged, or scoring below twice chance: the talk's "did not train"."""
    return run.collapsed or run.diverged or run.test_accuracy < chance_multiple / num_classes
