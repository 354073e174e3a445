"""Measurements taken on a trained model, for claims about batch statistics, gradients and
internal covariate shift. Each returns plain lists/dicts that go into RunResult.extras as JSON.

Mini-batches are drawn WITH replacement: the 1/batch laws these claims test are laws of independent
draws; drawing without replacement from a few thousand examples would add a finite-population factor
(N - b)/(N - 1) that bends the curve at large batches.

Both engines call these on a Keras model holding the trained weights; the only backend-specific part,
the gradient, uses the backend's own autodiff (jax.grad or tf.GradientTape).
"""

from __future__ import annotations

import numpy as np

from . import backend

BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
BATCHES_PER_SIZE = 200          # batch-statistics noise: cheap numpy, many draws
GRADIENT_BATCHES_PER_SIZE = 50  # gradient noise: one backward pass each
PERCENTILES = (15, 50, 85)      # Ioffe & Szegedy (2015), Figure 1
PERCENTILE_EXAMPLES = 512


def _normalization_layers(model) -> list:
    from .layers import GhostBatchNormalization

    _, keras = backend.load()
    return [layer for layer in model.layers
            if isinstance(layer, (keras.layers.BatchNormalization, GhostBatchNormalization))]


def bn_input_noise(model, x: np.ndarray, rng: np.random.Generator) -> dict:
    """Per BN layer and batch size: the variance across random batches of the batch mean and of the
    (biased) batch variance of the layer's inputs, averaged over its features. The layer inputs are
    computed once for the whole split (inference mode)."""
    _, keras = backend.load()
    layers = _normalization_layers(model)
    probe = keras.Model(model.inputs[0], [layer.input for layer in layers])
    outputs = probe.predict(x, batch_size=2048, verbose=0)
    outputs = [np.asarray(v) for v in (outputs if isinstance(outputs, list) else [outputs])]
    noise = {}
    # Keyed by position (bn1 = first BN layer): Keras's layer names depend on what the process built before.
    for position, values in enumerate(outputs, start=1):
        var_of_mean, var_of_var = [], []
        for size in BATCH_SIZES:
            batches = values[rng.integers(0, len(values), size=(BATCHES_PER_SIZE, size))]
            var_of_mean.append(float(batches.mean(axis=1).var(axis=0).mean()))
            var_of_var.append(float(batches.var(axis=1).var(axis=0).mean()))
        noise[f"bn{position}"] = {"var_of_mean": var_of_mean, "var_of_var": var_of_var}
    return {"batch_sizes": list(BATCH_SIZES), "layers": noise}


def gradient_noise(model, x: np.ndarray, y_one_hot: np.ndarray, rng: np.random.Generator,
                   from_logits: bool = False) -> dict:
    """Mean squared distance between mini-batch gradients and the full-data gradient, per batch size,
    at the trained weights. Inference-mode forward pass: the same as training mode for a model without
    BN or Dropout (what claim P1 uses); with BN, an example's gradient would depend on its batch.
    from_logits: the model ends in logits, not in the softmax (bnclaims.model.build_model)."""
    flat_gradient = _flat_gradient_function(model, from_logits)
    full = flat_gradient(x, y_one_hot)
    squared = []
    for size in BATCH_SIZES:
        distances = [np.sum((flat_gradient(x[idx], y_one_hot[idx]) - full) ** 2)
                     for idx in rng.integers(0, len(x), size=(GRADIENT_BATCHES_PER_SIZE, size))]
        squared.append(float(np.mean(distances)))
    return {"batch_sizes": list(BATCH_SIZES), "mean_squared_deviation": squared,
            "full_gradient_norm": float(np.linalg.norm(full))}


def _flat_gradient_function(model, from_logits: bool):
    """(inputs, one-hot targets) -> the gradient of the mean cross-entropy over the trainable weights,
    flattened to one float32 numpy vector; inference-mode forward pass, no regularization term."""
    tf, keras = backend.load()
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    if tf is None:
        import jax
        import jax.numpy as jnp

        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]

        def loss(weights, inputs, targets):
            outputs, _ = model.stateless_call(weights, non_trainable, inputs, training=False)
            return loss_fn(targets, outputs)

        @jax.jit
        def flat(inputs, targets):
            return jnp.concatenate([jnp.ravel(g) for g in jax.grad(loss)(trainable, inputs, targets)])

        return lambda inputs, targets: np.asarray(flat(inputs, targets))

    weights = model.trainable_variables

    @tf.function(reduce_retracing=True)
    def flat(inputs, targets):
        with tf.GradientTape() as tape:
            loss = loss_fn(targets, model(inputs, training=False))
        return tf.concat([tf.reshape(g, [-1]) for g in tape.gradient(loss, weights)], axis=0)

    return lambda inputs, targets: flat(inputs, targets).numpy()


def percentile_snapshot(values: np.ndarray) -> list[list[float]]:
    """PERCENTILES of each unit (column) of `values`: percentiles x units."""
    return np.percentile(np.asarray(values, np.float64), PERCENTILES, axis=0).tolist()


class PreactivationPercentiles:
    """Keras callback: percentiles of each unit's input to the last hidden activation on fixed
    validation examples, before training and after every epoch. Training mode, as the network sees
    its inputs while it learns; the model's state (BN's moving statistics, random layers' seeds) is
    restored after each probe so that probing does not change training."""

    def __init__(self, model, x_probe: np.ndarray) -> None:
        _, keras = backend.load()
        activations = [layer for layer in model.layers if isinstance(layer, keras.layers.Activation)]
        self._probe = keras.Model(model.inputs[0], activations[-1].input)
        self._x = x_probe[:PERCENTILE_EXAMPLES]
        # All state, the random layers' seeds included: a probe must not shift the noise training draws.
        self._state = list(model.non_trainable_variables)
        self.snapshots: list[list[list[float]]] = []   # epochs+1 x percentiles x units
        callback = keras.callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: self.record())
        self.callback = callback

    def record(self) -> None:
        _, keras = backend.load()
        saved = [keras.ops.convert_to_numpy(v.value) for v in self._state]
        values = keras.ops.convert_to_numpy(self._probe(self._x, training=True))
        for variable, value in zip(self._state, saved):
            variable.assign(value)
        self.snapshots.append(percentile_snapshot(values))

    def result(self) -> dict:
        return {"percentiles": list(PERCENTILES), "snapshots": self.snapshots}
