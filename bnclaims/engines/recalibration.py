"""BN's statistics after training: the population statistics of each BN layer's inputs (recalibration),
the test split evaluated with them, and the test split evaluated in training mode.

A trained BN network keeps two sets of statistics apart. While it learns it normalizes by the current
mini-batch's; at inference by the moving averages (momentum 0.99 in Keras) that training left behind.
Those averages carry their start (mean 0, variance 1) weighted by 0.99^steps and lag the weights as
they move. Ioffe & Szegedy (2015, Sec. 3.1, Algorithm 2) define the inference statistics as population
statistics of the trained network instead, averaged over training mini-batches; Wu & Johnson (2021,
"Rethinking 'Batch' in BatchNorm", Sec. 3) call this PreciseBN and find it more accurate and more
stable than the moving averages; Summers & Dinneen (2020, "Four things everyone should know to improve
batch normalization") treat the difference between the statistics BN normalizes by in training and
at inference as a discrepancy to fix.

Recalibration here (population_statistics): the trained network runs in training mode, as it ran while
it learned, over consecutive batches of the training split in a fixed permutation; for each BN layer
the batch means and (biased) variances of its inputs are aggregated exactly, in float64, into the mean
and variance of all its inputs across the split (the variance of the union of the batches: the mean of
the batch variances plus the variance of the batch means, Chan et al.'s pairwise update; Ioffe &
Szegedy's m/(m-1) times the mean batch variance estimates the same quantity). So the first
BN layer gets exactly the numpy mean and variance of its inputs over the split, whatever the batch
size; a later layer gets those of its inputs as the training-mode network computes them. With the whole
split as one batch the result is layer by layer exact: every BN layer normalizes the training split, in
inference mode, to mean 0 and variance 1 (up to epsilon). Ghost-batch BN runs with its own groups, and
dropout and noise layers are on in these passes, as they were while the moving averages were made.

Nothing here changes the model: the passes are stateless (Model.stateless_call), and the recalibrated
evaluation restores the moving statistics it replaced. Diverged weights give NaN statistics and NaN
outputs, never an exception. Works on either Keras backend (both engines call it on a Keras model
holding the trained weights).
"""

from __future__ import annotations

import math

import numpy as np

from .. import backend, streams
from .shared import cross_entropy_and_accuracy
from .keras_tools import normalization_layers, per_model, variable_values

# Each pass draws from a stream of its own (bnclaims.streams: "recalibration", "training_mode"), so that
# recalibration neither depends on nor disturbs the streams training and the other probes draw from.


def _training_mode_call(model, key, probe_of):
    """(weights, state, batch) -> (outputs of probe_of(model), new state), in training mode: compiled
    once per model on JAX (each batch size compiles once), Keras's stateless call elsewhere.
    Returns (the probe model, the call)."""
    tf, _ = backend.load()

    def build():
        probe = probe_of(model)
        call = lambda weights, state, inputs: probe.stateless_call(weights, state, inputs, training=True)
        if tf is not None:
            return probe, call
        import jax

        return probe, jax.jit(call)

    return per_model(model, key, build)


def _positions(part, whole) -> list[int]:
    return [next(i for i, w in enumerate(whole) if w is v) for v in part]


def _batches(n: int, batch_size: int, rng: np.random.Generator | None):
    order = rng.permutation(n) if rng is not None else np.arange(n)
    for start in range(0, n, batch_size):
        yield order[start:start + batch_size]


def population_statistics(model, x: np.ndarray, batch_size: int,
                          rng: np.random.Generator | None = None) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(mean, variance)] of each BN layer's inputs over all of x (a conv net's per channel, over the
    positions too), the network in training mode on consecutive batches of batch_size (in rng's
    permutation of x, or in x's order without one), the batch moments aggregated exactly. The model is
    not changed."""
    _, keras = backend.load()
    layers = normalization_layers(model)
    if not layers:
        return []
    probe, call = _training_mode_call(model, "bn_inputs", lambda model: keras.Model(
        model.inputs[0], [layer.input for layer in normalization_layers(model)]))
    trainable = [model.trainable_variables[i] for i in _positions(probe.trainable_variables,
                                                                   model.trainable_variables)]
    non_trainable = [model.non_trainable_variables[i] for i in _positions(probe.non_trainable_variables,
                                                                           model.non_trainable_variables)]
    weights, state = variable_values(trainable), variable_values(non_trainable)
    # Per layer: a conv net's BN normalizes each channel over the batch and the positions, so each position
    # of each example is one of its inputs (rows below), and its layers see different numbers of them.
    counts = [0] * len(layers)
    means = [None] * len(layers)
    squares = [None] * len(layers)   # sums of squared deviations from the running mean (M2)
    x = np.asarray(x, np.float32)
    for indices in _batches(len(x), batch_size, rng):
        outputs, state = call(weights, state, x[indices])
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for position, values in enumerate(outputs):
            values = np.asarray(keras.ops.convert_to_numpy(values), np.float64)
            values = values.reshape(-1, values.shape[-1])   # a Dense layer's inputs: already rows
            size, count = len(values), counts[position]
            counts[position] += size
            batch_mean = values.mean(axis=0)
            batch_squares = ((values - batch_mean) ** 2).sum(axis=0)
            if count == 0:
                means[position], squares[position] = batch_mean, batch_squares
                continue
            delta = batch_mean - means[position]
            total = count + size
            means[position] = means[position] + delta * (size / total)
            squares[position] = squares[position] + batch_squares + delta ** 2 * (count * size / total)
    return [(mean.astype(np.float32), (m2 / count).astype(np.float32))
            for mean, m2, count in zip(means, squares, counts)]


def set_moving_statistics(model, statistics) -> None:
    """Put [(mean, variance)] into the BN layers' moving mean and variance, in layer order."""
    layers = normalization_layers(model)
    if len(statistics) != len(layers):
        raise ValueError(f"{len(statistics)} (mean, variance) pairs for {len(layers)} BN layers")
    for layer, (mean, variance) in zip(layers, statistics):
        layer.moving_mean.assign(np.asarray(mean, np.float32))
        layer.moving_variance.assign(np.asarray(variance, np.float32))


def moving_statistics(model) -> list[tuple[np.ndarray, np.ndarray]]:
    """The BN layers' current [(moving mean, moving variance)], as numpy arrays."""
    _, keras = backend.load()
    numpy = keras.ops.convert_to_numpy
    return [(np.asarray(numpy(layer.moving_mean.value)), np.asarray(numpy(layer.moving_variance.value)))
            for layer in normalization_layers(model)]


def recalibrate(model, x: np.ndarray, batch_size: int, rng: np.random.Generator | None = None) -> list:
    """Replace the BN layers' moving statistics by population_statistics(model, x, ...); returns them."""
    statistics = population_statistics(model, x, batch_size, rng)
    set_moving_statistics(model, statistics)
    return statistics


def inference_outputs(model, x: np.ndarray, batch_size: int = 2048) -> np.ndarray:
    """The model's outputs on x in inference mode (its current moving statistics)."""
    _, keras = backend.load()
    weights, state = variable_values(model.trainable_variables), variable_values(model.non_trainable_variables)
    x = np.asarray(x, np.float32)
    parts = [keras.ops.convert_to_numpy(model.stateless_call(weights, state, x[i:i + batch_size],
                                                             training=False)[0])
             for i in range(0, len(x), batch_size)]
    return np.concatenate(parts) if parts else np.zeros((0,) + tuple(model.outputs[0].shape[1:]), np.float32)


def recalibrated_outputs(model, x_train: np.ndarray, x_eval: np.ndarray, batch_size: int,
                         rng: np.random.Generator | None = None) -> np.ndarray:
    """The model's inference-mode outputs on x_eval after recalibrating on x_train; the model's own
    moving statistics are put back afterwards."""
    saved = moving_statistics(model)
    try:
        recalibrate(model, x_train, batch_size, rng)
        return inference_outputs(model, x_eval)
    finally:
        set_moving_statistics(model, saved)


def training_mode_outputs(model, x: np.ndarray, batch_size: int,
                          rng: np.random.Generator | None = None) -> np.ndarray:
    """The model's outputs on x in training mode, as it computes while it learns: BN normalizes each
    batch of batch_size (consecutive examples of rng's permutation of x, or of x's order) by that
    batch's own statistics. Returned in x's order; the model's state is not changed."""
    _, keras = backend.load()
    _, call = _training_mode_call(model, "whole", lambda model: model)
    weights, state = variable_values(model.trainable_variables), variable_values(model.non_trainable_variables)
    x = np.asarray(x, np.float32)
    outputs = None
    for indices in _batches(len(x), batch_size, rng):
        values, state = call(weights, state, x[indices])
        values = np.asarray(keras.ops.convert_to_numpy(values))
        if outputs is None:
            outputs = np.empty((len(x),) + values.shape[1:], values.dtype)
        outputs[indices] = values
    return outputs


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax of logits (NaN rows stay NaN)."""
    logits = np.asarray(logits, np.float64)
    shifted = logits - np.max(logits, axis=1, keepdims=True)
    exponentials = np.exp(shifted)
    return (exponentials / np.sum(exponentials, axis=1, keepdims=True)).astype(np.float32)


# What a run can record from here (spec.RECORDABLE): the test split in inference mode after
# recalibration on the training split, and the test split in training mode.
RECORDS = ("recalibrated", "training_mode_test")


def record(spec, model, x_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, to_probabilities=None) -> dict:
    """What spec.record asks for of RECORDS, measured on the trained model; both at the run's own batch
    size, each pass in a permutation drawn from the run's seed. to_probabilities: for a model that ends
    in logits (the compiled engine's), the softmax."""
    convert = to_probabilities or (lambda outputs: outputs)
    extras = {}
    if "recalibrated" in spec.record:
        outputs = recalibrated_outputs(model, x_train, x_test, spec.batch_size,
                                       streams.generator("recalibration", spec.seed))
        extras["recalibrated"] = summary(*cross_entropy_and_accuracy(convert(outputs), y_test),
                                         spec.batch_size, len(x_train))
    if "training_mode_test" in spec.record:
        outputs = training_mode_outputs(model, x_test, spec.batch_size,
                                        streams.generator("training_mode", spec.seed))
        extras["training_mode_test"] = summary(*cross_entropy_and_accuracy(convert(outputs), y_test),
                                               spec.batch_size, len(x_test))
    return extras


def summary(loss: float, accuracy: float, batch_size: int, examples: int) -> dict:
    """One recorded evaluation as RunResult.extras stores it (JSON: a non-finite loss is None)."""
    return {"loss": loss if math.isfinite(loss) else None, "accuracy": float(accuracy),
            "batch_size": int(batch_size), "examples": int(examples)}


def recalibrated_accuracy(run) -> float:
    """Test accuracy after recalibration (needs record=recalibrated)."""
    if "recalibrated" not in run.extras:
        raise ValueError(f"run {run.key[:12]} did not record recalibrated")
    return run.extras["recalibrated"]["accuracy"]


def training_mode_accuracy(run) -> float:
    """Test accuracy in training mode (needs record=training_mode_test)."""
    if "training_mode_test" not in run.extras:
        raise ValueError(f"run {run.key[:12]} did not record training_mode_test")
    return run.extras["training_mode_test"]["accuracy"]
