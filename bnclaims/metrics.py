"""Numbers that claims read off a RunResult. Pure functions; a run that diverged still yields a value."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

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


def final_test_loss(run: RunResult, num_classes: int = 10) -> float:
    """Test cross-entropy at the end of training (inference mode). A diverged run scores ln(num_classes),
    an untrained softmax's loss: finite, and no better than a model that never learned."""
    value = run.test_loss
    return value if math.isfinite(value) and not run.diverged else math.log(num_classes)


def one_standard_error_dose(val_accuracies) -> float:
    """{regularizer strength: per-seed validation accuracies} -> the strongest dose whose mean over seeds
    is within one standard error of the best mean: the one-standard-error rule (Breiman et al. 1984;
    Hastie, Tibshirani & Friedman, ESL 2nd ed., Sec. 7.10), seeds in the role of folds. Doses closer to
    the best than its own standard error are indistinguishable on validation, and among them the rule
    takes the most regularized, so that the dose does something (the harder test of a claim that adding
    the regularizer does no harm). A diverged run (NaN) counts as 0."""
    per_dose = {dose: np.array([a if math.isfinite(a) else 0.0 for a in accs], dtype=float)
                for dose, accs in val_accuracies.items()}
    means = {dose: float(values.mean()) for dose, values in per_dose.items()}
    best = max(means, key=lambda dose: (means[dose], dose))
    values = per_dose[best]
    standard_error = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else 0.0
    return max(dose for dose, mean in means.items() if mean >= means[best] - standard_error)


GENERALIZATION_READINGS = ("regularization", "underfitting", "overfitting", "worse", "mixed", "no change")


def _credible_sign(changes, confidence: float) -> tuple[int, str]:
    """+1 / -1 when the Student t interval of the mean change lies above / below 0, else 0; with the
    interval in words. Non-finite changes (a diverged run's) are left out; under two finite: 0."""
    from . import stats

    finite = [float(c) for c in changes if math.isfinite(c)]
    if len(finite) < 2:
        return 0, f"{len(finite)} finite values"
    interval = stats.mean_ci_t(finite, confidence=confidence)
    sign = 1 if interval.low > 0 else -1 if interval.high < 0 else 0
    return sign, f"{interval.point:+.4f} [{interval.low:+.4f}, {interval.high:+.4f}]"


def generalization_reading(accuracy_changes, loss_changes, gap_changes,
                           confidence: float = 0.95) -> tuple[str, str]:
    """What a change of setting did to generalization, from per-seed paired changes (new setting minus
    reference) of test accuracy, test loss and generalization gap, each judged by its t interval.

    Regularization is a better test result (accuracy credibly higher or loss credibly lower) and none
    credibly worse. A credibly worse test result with a credibly smaller gap is underfitting: the model
    fits its training data less, it does not generalize better. Worse with a larger gap is overfitting;
    worse with the gap unresolved is "worse"; better on one measure and worse on the other is "mixed";
    neither is "no change", whatever the gap did. Returns (reading, the three intervals in words)."""
    accuracy, accuracy_text = _credible_sign(accuracy_changes, confidence)
    loss, loss_text = _credible_sign(loss_changes, confidence)
    gap, gap_text = _credible_sign(gap_changes, confidence)
    better, worse = accuracy > 0 or loss < 0, accuracy < 0 or loss > 0
    if better and worse:
        reading = "mixed"
    elif better:
        reading = "regularization"
    elif worse:
        reading = "underfitting" if gap < 0 else "overfitting" if gap > 0 else "worse"
    else:
        reading = "no change"
    words = (f"test accuracy {accuracy_text}, test loss {loss_text}, generalization gap {gap_text} "
             f"(mean change, Student t {confidence:.0%})")
    return reading, words


def failed(run: RunResult, chance_multiple: float = 2.0, num_classes: int = 10) -> bool:
    """Collapsed, diverged, or scoring below twice chance: the talk's "did not train"."""
    return run.collapsed or run.diverged or run.test_accuracy < chance_multiple / num_classes


def steps_to_reach(record: dict, key: str, target: float, total_steps: int, *, censored_factor: float = 2.0) -> float:
    """The first logged step (RunResult.steps) whose `key` reaches target. A run that never does, a
    diverged one included, is censored at censored_factor x the steps of its budget: possibly below
    its unknown true value, which a caller comparing runs must allow for."""
    for step, value in zip(record["step"], record[key]):
        if math.isfinite(value) and value >= target:
            return float(step)
    return censored_factor * total_steps


def last_finite(values: Sequence[float]) -> float:
    """The last finite value of a record (a diverged run's record ends in NaN); NaN when none is."""
    finite = [v for v in values if math.isfinite(v)]
    return finite[-1] if finite else math.nan


def final_train_loss(run: RunResult, num_classes: int = 10) -> float:
    """Training loss over the last pass (training mode, as Keras prints it). A diverged run did not
    converge at all: it scores ln(num_classes), an untrained softmax's loss, so that it stays finite
    and no better than a model that never learned."""
    value = run.history["train_loss"][-1]
    return value if math.isfinite(value) and not run.diverged else math.log(num_classes)


def largest_usable_rate(val_accuracies: Mapping[float, float], usable: Mapping[float, bool],
                        fraction: float = 0.9) -> float:
    """The largest learning rate whose validation accuracy is at least `fraction` of the best one of
    the sweep and whose run is usable (trained: neither diverged nor collapsed); the smallest rate of
    the sweep when none is. NaN accuracies (diverged runs) count as 0."""
    finite = {lr: (acc if math.isfinite(acc) else 0.0) for lr, acc in val_accuracies.items()}
    best = max(finite.values())
    candidates = [lr for lr, acc in finite.items() if usable[lr] and acc >= fraction * best]
    return max(candidates) if candidates else min(finite)


def best_mean_rate(val_accuracies: Mapping[float, Sequence[float]]) -> float:
    """The learning rate whose validation accuracies have the best mean over seeds (NaN counts as 0);
    ties go to the smaller rate, the safer setting."""
    means = {lr: float(np.mean([a if math.isfinite(a) else 0.0 for a in accs]))
             for lr, accs in val_accuracies.items()}
    best = max(means.values())
    return min(lr for lr, mean in means.items() if mean == best)
