"""What both engines share: the inputs a run trains on (their scaling, the order of the examples in each
epoch), how its outputs are scored, and how a finished run becomes a RunResult (one rule for "diverged"). The reference engine (bnclaims.engines.fit) and the compiled one
(bnclaims.engines.compiled) both import them from here, so that a seed sees the same inputs and mini-batches in
either, and neither engine's module depends on the other's.
"""

from __future__ import annotations

import math
import time

import numpy as np

from .. import streams
from ..data import Dataset
from ..results import RunResult, is_collapsed
from ..spec import RunContext, RunSpec, run_key

# Keras clips probabilities by this epsilon in categorical cross-entropy; the test loss does too.
_PROBABILITY_EPSILON = 1e-7


# Per-feature scales 10^U(-FEATURE_DECADES, FEATURE_DECADES), six orders of magnitude from the smallest to
# the largest as in the talk's example [27, 150 000, 1, 1, 2], and offsets of up to FEATURE_OFFSET of each
# feature's own range, so that a range rarely starts at 0 (an age, a price). Drawn once from a fixed stream:
# every run, seed and dataset of a given width sees the same features.
FEATURE_DECADES = 3.0
FEATURE_OFFSET = 2.0


def feature_scales(n_features: int) -> tuple[np.ndarray, np.ndarray]:
    """(scales, offsets) of the "features" input scaling: feature j becomes x_j * scales[j] + offsets[j]
    from its unit range 0..1. Per feature, so a first Dense + BN layer does not undo it: BN removes a
    constant shift and one scale per unit, not the relative scales of the features a unit sums."""
    rng = streams.generator("feature_scales")
    scales = 10.0 ** rng.uniform(-FEATURE_DECADES, FEATURE_DECADES, n_features)
    offsets = scales * rng.uniform(0.0, FEATURE_OFFSET, n_features)
    return scales.astype(np.float32), offsets.astype(np.float32)


def prepare_inputs(x: np.ndarray, input_scaling: str, dataset: Dataset) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    if input_scaling == "raw":
        return x
    unit = x / np.float32(dataset.pixel_max)
    if input_scaling == "features":
        scales, offsets = feature_scales(unit.shape[1])
        return unit * scales + offsets
    return unit


def cross_entropy_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean categorical cross-entropy (as Keras computes it) and accuracy of softmax outputs."""
    clipped = np.clip(probabilities, _PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
    picked = clipped[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(picked))) if np.all(np.isfinite(probabilities)) else float("nan")
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    return loss, accuracy


def epoch_orders(seed: int, n_train: int, epochs: int):
    """The order of the training examples in each epoch, drawn from the run's seed: both engines
    train on these orders, so a seed sees the same mini-batches in either."""
    generator = streams.generator("epoch_orders", seed)
    for _ in range(epochs):
        yield generator.permutation(n_train)


def is_diverged(diverged_step: int | None, train_loss: list[float], epochs_completed: int, epochs: int,
                test_loss: float) -> bool:
    """The one rule for "diverged", whichever engine trained the run: a step's training loss was not finite,
    or an epoch's mean training loss was not (a sum of finite losses can overflow), or training stopped
    before its last epoch, or the trained model's test loss is not finite."""
    return (diverged_step is not None
            or not all(math.isfinite(value) for value in train_loss[:epochs_completed])
            or epochs_completed < epochs
            or not math.isfinite(test_loss))


def finished_run(spec: RunSpec, context: RunContext, dataset: Dataset, *, history: dict[str, list[float]],
                 epochs_completed: int, test_probabilities: np.ndarray, diverged_step: int | None,
                 steps: dict[str, list], extras: dict, started: float,
                 compile_seconds: float | None = None) -> RunResult:
    """A finished run's RunResult, scored and flagged the same way by both engines. `started` is the
    perf_counter reading the run's wall time counts from."""
    test_loss, test_accuracy = cross_entropy_and_accuracy(test_probabilities, dataset.y_test)
    histogram = np.bincount(np.argmax(test_probabilities, axis=1), minlength=dataset.num_classes)
    return RunResult(
        spec=spec,
        key=run_key(spec, context),
        history=history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        prediction_histogram=[int(count) for count in histogram],
        collapsed=is_collapsed(histogram),
        diverged=is_diverged(diverged_step, history["train_loss"], epochs_completed, spec.epochs, test_loss),
        epochs_completed=epochs_completed,
        wall_seconds=time.perf_counter() - started,
        environment=context.describe(),
        extras=extras,
        diverged_step=diverged_step,
        steps=steps,
        compile_seconds=compile_seconds,
    )
