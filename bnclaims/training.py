"""Train one RunSpec with Keras, deterministically, and return its RunResult.

Divergence (a non-finite loss) and collapse (one class predicted almost always) are outcomes that
are recorded, never exceptions: the talk's "lr 1" and "raw inputs" runs without BN are exactly that.
"""

from __future__ import annotations

import math
import time

import numpy as np

from . import backend, probes
from .data import Dataset
from .model import build_model
from .results import HISTORY_KEYS, RunResult, is_collapsed
from .spec import RunSpec, environment_fingerprint

# Batches per compiled call: a large speed-up for small models, with bit-identical weights.
STEPS_PER_EXECUTION = 32
# Inference needs no small batches; a large one only saves time (the numbers do not depend on it).
EVAL_BATCH_SIZE = 2048
# Keras clips probabilities by this epsilon in categorical cross-entropy; the test loss does too.
_PROBABILITY_EPSILON = 1e-7


def prepare_inputs(x: np.ndarray, spec: RunSpec, dataset: Dataset) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    return x / np.float32(dataset.pixel_max) if spec.input_scaling == "unit" else x


def cross_entropy_and_accuracy(probabilities: np.ndarray, labels: np.ndarray) -> tuple[float, float]:
    """Mean categorical cross-entropy (as Keras computes it) and accuracy of softmax outputs."""
    clipped = np.clip(probabilities, _PROBABILITY_EPSILON, 1 - _PROBABILITY_EPSILON)
    picked = clipped[np.arange(len(labels)), labels]
    loss = float(-np.mean(np.log(picked))) if np.all(np.isfinite(probabilities)) else float("nan")
    accuracy = float(np.mean(np.argmax(probabilities, axis=1) == labels))
    return loss, accuracy


def train(spec: RunSpec, dataset: Dataset) -> RunResult:
    """Train the spec's model on the dataset's train split; validate each epoch; test at the end."""
    tf, keras = backend.load()
    keras.utils.set_random_seed(spec.seed)
    started = time.perf_counter()

    x_train = prepare_inputs(dataset.x_train, spec, dataset)
    x_val = prepare_inputs(dataset.x_val, spec, dataset)
    x_test = prepare_inputs(dataset.x_test, spec, dataset)
    one_hot = lambda y: keras.utils.to_categorical(y, dataset.num_classes)

    model = build_model(spec, dataset.num_features, dataset.num_classes)
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if "preactivation_percentiles" in spec.record:
        percentiles = probes.PreactivationPercentiles(model, x_val)
        percentiles.record()   # before training
        callbacks.append(percentiles.callback)
    model.compile(
        optimizer=keras.optimizers.SGD(learning_rate=spec.learning_rate, momentum=spec.momentum),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
        steps_per_execution=STEPS_PER_EXECUTION,
    )
    fitted = model.fit(
        x_train, one_hot(dataset.y_train),
        batch_size=spec.batch_size,
        epochs=spec.epochs,
        validation_data=(x_val, one_hot(dataset.y_val)),
        validation_batch_size=EVAL_BATCH_SIZE,
        shuffle=True,
        verbose=0,
        callbacks=callbacks,
    )
    history = _padded_history(fitted.history, spec.epochs)
    epochs_completed = len(fitted.history.get("loss", []))

    probabilities = model.predict(x_test, batch_size=EVAL_BATCH_SIZE, verbose=0)
    test_loss, test_accuracy = cross_entropy_and_accuracy(probabilities, dataset.y_test)
    histogram = np.bincount(np.argmax(probabilities, axis=1), minlength=dataset.num_classes)

    extras = _recordings(spec, model, dataset, x_train, one_hot)
    if "preactivation_percentiles" in spec.record:
        extras["preactivation_percentiles"] = percentiles.result()

    diverged = (not all(math.isfinite(v) for v in history["train_loss"][:epochs_completed])
                or not math.isfinite(test_loss) or epochs_completed < spec.epochs)
    keras.backend.clear_session(free_memory=False)
    return RunResult(
        spec=spec,
        key=spec.key(),
        history=history,
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        prediction_histogram=[int(c) for c in histogram],
        collapsed=is_collapsed(histogram),
        diverged=diverged,
        epochs_completed=epochs_completed,
        wall_seconds=time.perf_counter() - started,
        environment=environment_fingerprint(),
        extras=extras,
    )


def _recordings(spec: RunSpec, model, dataset: Dataset, x_train: np.ndarray, one_hot) -> dict:
    """What spec.record asks for, measured on the trained model (see spec.RECORDABLE)."""
    extras = {}
    # A generator of its own: probing must not depend on, or disturb, the training stream.
    rng = np.random.default_rng([spec.seed, 1])
    if "train_inference" in spec.record:
        train_probabilities = model.predict(x_train, batch_size=EVAL_BATCH_SIZE, verbose=0)
        loss, accuracy = cross_entropy_and_accuracy(train_probabilities, dataset.y_train)
        extras["train_inference"] = {"loss": loss if math.isfinite(loss) else None, "accuracy": accuracy}
    if "bn_input_noise" in spec.record:
        extras["bn_input_noise"] = probes.bn_input_noise(model, x_train, rng)
    if "gradient_noise" in spec.record:
        extras["gradient_noise"] = probes.gradient_noise(model, x_train, one_hot(dataset.y_train), rng)
    return extras


def _padded_history(keras_history: dict, epochs: int) -> dict[str, list[float]]:
    """Keras's history under the engine's names, NaN-padded when TerminateOnNaN stopped early."""
    names = {"train_loss": "loss", "train_accuracy": "accuracy",
             "val_loss": "val_loss", "val_accuracy": "val_accuracy"}
    padded = {}
    for ours in HISTORY_KEYS:
        values = [float(v) for v in keras_history.get(names[ours], [])]
        padded[ours] = values + [float("nan")] * (epochs - len(values))
    return padded
