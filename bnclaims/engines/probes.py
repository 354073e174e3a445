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

from .. import backend, streams
from . import recalibration
from .keras_tools import normalization_layers, per_model, variable_values

BATCH_SIZES = (8, 16, 32, 64, 128, 256, 512, 1024)
BATCHES_PER_SIZE = 200          # batch-statistics noise: cheap numpy, many draws
GRADIENT_BATCHES_PER_SIZE = 50  # gradient noise: one backward pass each
PERCENTILES = (15, 50, 85)      # Ioffe & Szegedy (2015), Figure 1
PERCENTILE_EXAMPLES = 512


def _inference_outputs(model, probe_of, x: np.ndarray) -> list[np.ndarray]:
    """The outputs of probe_of(model) (a Keras Model on the model's layers) on x in inference mode,
    as numpy arrays: on JAX one compiled call per model, on TensorFlow Keras predict."""
    tf, keras = backend.load()
    if tf is not None:
        outputs = probe_of(model).predict(x, batch_size=2048, verbose=0)
        return [np.asarray(v) for v in (outputs if isinstance(outputs, list) else [outputs])]
    import jax

    def build():
        probe = probe_of(model)
        return probe, jax.jit(lambda weights, state, inputs: probe.stateless_call(weights, state, inputs)[0])

    probe, call = per_model(model, ("inference", probe_of), build)
    outputs = call(variable_values(probe.trainable_variables), variable_values(probe.non_trainable_variables),
                   np.asarray(x, np.float32))
    return [np.asarray(v) for v in (outputs if isinstance(outputs, (list, tuple)) else [outputs])]


def bn_input_noise(model, x: np.ndarray, rng: np.random.Generator) -> dict:
    """Per BN layer and batch size: the variance across random batches of the batch mean and of the
    (biased) batch variance of the layer's inputs, averaged over its features. The layer inputs are
    computed once for the whole split (inference mode)."""
    outputs = _inference_outputs(model, _bn_inputs_probe, x)
    noise = {}
    # Keyed by position (bn1 = first BN layer): Keras's layer names depend on what the process built before.
    for position, values in enumerate(outputs, start=1):
        values = values.astype(np.float64)
        squares = values * values
        var_of_mean, var_of_var = [], []
        for size in BATCH_SIZES:
            # A batch's moments from how often it drew each example (drawn with replacement): its mean
            # is counts @ values / size, with no copy of the batch itself.
            drawn = _draw_counts(rng.integers(0, len(values), size=(BATCHES_PER_SIZE, size)), len(values))
            means = np.asarray(drawn @ values) / size
            variances = np.asarray(drawn @ squares) / size - means * means   # biased, as np.var; in float64
            var_of_mean.append(float(means.var(axis=0).mean()))
            var_of_var.append(float(variances.var(axis=0).mean()))
        noise[f"bn{position}"] = {"var_of_mean": var_of_mean, "var_of_var": var_of_var}
    return {"batch_sizes": list(BATCH_SIZES), "layers": noise}


def _draw_counts(draws: np.ndarray, n: int):
    """batches x n, sparse: how many times each batch (row of draws, with replacement) drew each example.
    Sparse, so that a product with it costs what the batches hold, not what the split holds (48,000
    examples in the paper profile)."""
    from scipy import sparse

    rows = np.repeat(np.arange(len(draws)), draws.shape[1])
    counts = sparse.csr_matrix((np.ones(rows.size), (rows, draws.ravel())), shape=(len(draws), n))
    counts.sum_duplicates()
    return counts


def _bn_inputs_probe(model):
    """A Keras Model from the model's input to the inputs of its BN layers."""
    _, keras = backend.load()
    return keras.Model(model.inputs[0], [layer.input for layer in normalization_layers(model)])


def gradient_noise(model, x: np.ndarray, y_one_hot: np.ndarray, rng: np.random.Generator,
                   from_logits: bool = False) -> dict:
    """Mean squared distance between mini-batch gradients and the full-data gradient, per batch size,
    at the trained weights. Inference-mode forward pass: the same as training mode for a model without
    BN or Dropout (what claim P1 uses); with BN, an example's gradient would depend on its batch.
    from_logits: the model ends in logits, not in the softmax (bnclaims.engines.model.build_model)."""
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

        def build():
            def loss(weights, state, inputs, targets):
                outputs, _ = model.stateless_call(weights, state, inputs, training=False)
                return loss_fn(targets, outputs)

            return jax.jit(lambda weights, state, inputs, targets: jnp.concatenate(
                [jnp.ravel(g) for g in jax.grad(loss)(weights, state, inputs, targets)]))

        gradient = per_model(model, ("flat_gradient", from_logits), build)
        trainable = variable_values(model.trainable_variables)
        non_trainable = variable_values(model.non_trainable_variables)
        return lambda inputs, targets: np.asarray(gradient(trainable, non_trainable, inputs, targets))

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


# ---------------------------------------------------------------------------------------------------
# R1: the noise BN adds to one example's activations, against the batch size it is trained in

NOISE_BATCH_SIZES = (8, 16, 32, 64, 128)
FIXED_EXAMPLES = 32          # examples followed, drawn once per run from the training split
BATCHES_PER_EXAMPLE = 32     # random mini-batches each of them is placed in, per batch size
STATISTICS = ("batch", "moving")


def fixed_example_noise(model, x: np.ndarray, rng: np.random.Generator, *, statistics: str = "batch",
                        batch_sizes=NOISE_BATCH_SIZES, examples: int = FIXED_EXAMPLES,
                        batches: int = BATCHES_PER_EXAMPLE) -> dict:
    """Per BN layer and batch size: how much a fixed example's BN output varies with the mini-batch.

    Each followed example is placed in `batches` mini-batches whose other members are drawn from `x`
    without replacement (as an epoch's batches are), and the network runs forward on each batch in
    training mode as far as normalization goes: every BN layer normalizes with the batch's own mean
    and (biased) variance, exactly as a training step does, so the example's activations in later
    layers carry the earlier layers' noise too. Other random layers (Dropout, noise after BN) run in
    inference mode: what varies is BN's noise alone. The measure: the standard deviation across the
    batches of the example's BN output, per unit, averaged over the layer's units and the examples.

    statistics "moving" normalizes with the moving averages instead: a layer with fixed statistics,
    whose output for an example cannot depend on its batch (the placebo; its noise is exactly zero).
    Non-finite values (a diverged run) are reported as None.
    """
    if statistics not in STATISTICS:
        raise ValueError(f"statistics must be one of {STATISTICS}, got {statistics!r}")
    if max(batch_sizes) > len(x):
        raise ValueError(f"batch sizes up to {max(batch_sizes)} need as many examples, got {len(x)}")
    if not normalization_layers(model):
        raise ValueError("the model has no BatchNormalization layer whose noise could be measured")
    followed = rng.choice(len(x), size=min(examples, len(x)), replace=False)
    # The first layer is a Dense layer, which acts on each example alone: computed once for the split,
    # its outputs are gathered into the batches (a sixth of the arithmetic of running it on every batch).
    first = _inference_outputs(model, _first_layer_probe, x)[0]
    by_layer: dict[str, list] = {}
    for size in batch_sizes:
        spread = []   # examples x layers
        for example in followed:
            # The example first, then size - 1 others, distinct and not the example itself.
            others = _smallest(rng.random((batches, len(x) - 1)), size - 1)
            others = others + (others >= example)
            members = np.concatenate([np.full((batches, 1), example), others], axis=1)
            outputs = _normalized_outputs(model, first[members], statistics, after_first=True)
            # Deviations from the first batch's value, in float64: identical values give exactly zero.
            spread.append([float(np.mean(np.std(values[:, 0, :].astype(np.float64) - values[:1, 0, :], axis=0)))
                           for values in outputs])
        for position, value in enumerate(np.mean(spread, axis=0), start=1):
            by_layer.setdefault(f"bn{position}", []).append(value)
    mean = np.mean(list(by_layer.values()), axis=0)
    return {"batch_sizes": list(batch_sizes), "examples": len(followed), "batches_per_example": batches,
            "statistics": statistics, "layers": {name: _finite_or_none(values) for name, values in by_layer.items()},
            "mean": _finite_or_none(mean)}


def _smallest(keys: np.ndarray, count: int) -> np.ndarray:
    """Per row, the positions of the `count` smallest keys in increasing order of key: what
    np.argsort(keys, axis=1)[:, :count] gives for distinct keys, without sorting whole rows."""
    if count == 0:
        return np.zeros((len(keys), 0), dtype=np.intp)
    chosen = np.argpartition(keys, count - 1, axis=1)[:, :count]
    return np.take_along_axis(chosen, np.argsort(np.take_along_axis(keys, chosen, axis=1), axis=1), axis=1)


def _finite_or_none(values) -> list:
    return [float(v) if np.isfinite(v) else None for v in values]


def _first_layer_probe(model):
    """A Keras Model from the model's input to the output of its first layer (a Dense layer)."""
    _, keras = backend.load()
    first = _layers(model)[0]
    if not isinstance(first, keras.layers.Dense):
        raise ValueError(f"the model's first layer is a {type(first).__name__}, not a Dense layer")
    return keras.Model(model.inputs[0], first.output)


def _layers(model) -> list:
    _, keras = backend.load()
    return [layer for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]


def _normalized_outputs(model, batches: np.ndarray, statistics: str, after_first: bool = False) -> list[np.ndarray]:
    """The output of every normalization layer for `batches` (batches x batch size x features), each
    batch normalized on its own; a list of numpy arrays, one per layer, in the model's order.
    after_first: `batches` are already the first layer's outputs. On JAX the walk is one compiled call
    taking the model's variables as arguments (a Keras StatelessScope)."""
    tf, keras = backend.load()
    batches = np.asarray(batches, np.float32)
    if tf is not None:
        return [keras.ops.convert_to_numpy(v) for v in _normalized_walk(model, batches, statistics, after_first)]
    import jax

    def build():
        variables = [*model.trainable_variables, *model.non_trainable_variables]

        def walk(values, inputs):
            with keras.StatelessScope(state_mapping=list(zip(variables, values))):
                return _normalized_walk(model, inputs, statistics, after_first)

        return variables, jax.jit(walk)

    variables, walk = per_model(model, ("normalized", statistics, after_first), build)
    return [np.asarray(v) for v in walk(variable_values(variables), batches)]


def _normalized_walk(model, batches, statistics: str, after_first: bool) -> list:
    from .layers import GhostBatchNormalization

    _, keras = backend.load()
    ops = keras.ops
    values = ops.convert_to_tensor(batches)
    outputs = []
    for layer in _layers(model)[1 if after_first else 0:]:
        if isinstance(layer, (keras.layers.BatchNormalization, GhostBatchNormalization)):
            group = layer.group_size if isinstance(layer, GhostBatchNormalization) else values.shape[1]
            values = ops.concatenate([_normalize(layer, values[:, start:start + group], statistics, ops)
                                      for start in range(0, values.shape[1], group)], axis=1)
            outputs.append(values)
        else:
            # Dense layers act on the last axis: one call runs every batch.
            values = layer(values, training=False)
    return outputs


def _normalize(layer, values, statistics: str, ops):
    if statistics == "moving":
        mean, variance = layer.moving_mean, layer.moving_variance
    else:   # over each batch (axis 1), biased, as BN's training step
        mean, variance = ops.mean(values, axis=1, keepdims=True), ops.var(values, axis=1, keepdims=True)
    normalized = (values - mean) * ops.rsqrt(variance + layer.epsilon)
    gamma = getattr(layer, "gamma", None)
    beta = getattr(layer, "beta", None)
    normalized = normalized * gamma if gamma is not None else normalized
    return normalized + beta if beta is not None else normalized


# ---------------------------------------------------------------------------------------------------
# P3: Santurkar et al.'s internal covariate shift, the change of a layer's gradient when the layers
# before it are updated

ICS_BATCHES = 10    # mini-batches the measure is averaged over, each of the run's batch size


def gradient_ics(model, x: np.ndarray, y_one_hot: np.ndarray, rng: np.random.Generator, *,
                 learning_rate: float, batch_size: int, from_logits: bool = False,
                 batches: int = ICS_BATCHES) -> dict:
    """Santurkar et al. (2018, Definition 2.1): for layer i, G = the gradient of the loss on a batch
    with respect to layer i's kernel, all layers at their current weights; G' = the same gradient
    after the layers before i took one SGD step (learning_rate, on the same batch's gradient, as
    they would have in that training step). ICS_i = ||G - G'||; also the cosine between them and
    ||G - G'|| / ||G|| (scale-free: BN makes a kernel's gradient scale with 1 / ||kernel||).

    Training mode, as in a training step: BN normalizes with the batch's statistics; the updated
    state (moving statistics, random layers' draws) is dropped, so G and G' see the same noise.
    The loss is the training loss (cross-entropy plus any regularization). Layers are the Dense
    layers after the first (the first has no layers before it), named dense2, dense3, ...
    Per layer, each measure is averaged over `batches` random batches; non-finite ones are None.
    """
    _, keras = backend.load()
    gradient = _training_gradient_function(model, from_logits)
    trainable = list(model.trainable_variables)
    weights = [keras.ops.convert_to_numpy(v.value) for v in trainable]
    position = {id(v): i for i, v in enumerate(trainable)}
    before: list[int] = []   # positions of the trainable weights of the layers seen so far
    layers = []              # (name, kernel position, positions of the weights before it)
    dense = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            dense += 1
            if dense > 1:
                layers.append((f"dense{dense}", position[id(layer.kernel)], list(before)))
        before += [position[id(v)] for v in layer.trainable_variables]
    measures = {name: {"l2": [], "relative": [], "cosine": []} for name, _, _ in layers}
    for _ in range(batches):
        members = rng.choice(len(x), size=min(batch_size, len(x)), replace=False)
        xb, yb = x[members], y_one_hot[members]
        first = gradient(weights, xb, yb)
        for name, kernel, earlier in layers:
            stepped = list(weights)
            for i in earlier:
                stepped[i] = weights[i] - np.float32(learning_rate) * first[i]
            g, g_after = first[kernel].ravel(), gradient(stepped, xb, yb)[kernel].ravel()
            difference = float(np.linalg.norm(g - g_after))
            norm, norm_after = float(np.linalg.norm(g)), float(np.linalg.norm(g_after))
            measures[name]["l2"].append(difference)
            measures[name]["relative"].append(difference / norm if norm > 0 else float("nan"))
            measures[name]["cosine"].append(float(g @ g_after) / (norm * norm_after)
                                            if norm > 0 and norm_after > 0 else float("nan"))
    return {"learning_rate": float(learning_rate), "batch_size": int(batch_size), "batches": batches,
            "layers": {name: {measure: _finite_or_none([np.mean(values)])[0] for measure, values in m.items()}
                       for name, m in measures.items()}}


def _training_gradient_function(model, from_logits: bool):
    """(weights as numpy arrays, inputs, one-hot targets) -> the training-mode gradient of the training
    loss with respect to every trainable weight, as numpy arrays; the model's state is not changed."""
    tf, keras = backend.load()
    loss_fn = keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    state = variable_values(model.non_trainable_variables)

    def loss(weights, state, inputs, targets):
        outputs, _, losses = model.stateless_call(weights, state, inputs, training=True, return_losses=True)
        return loss_fn(targets, outputs) + (sum(losses) if losses else 0.0)

    if tf is None:
        import jax

        jitted = per_model(model, ("training_gradient", from_logits), lambda: jax.jit(jax.grad(loss)))
        return lambda weights, inputs, targets: [np.asarray(g) for g in jitted(
            list(weights), state, np.asarray(inputs, np.float32), np.asarray(targets, np.float32))]

    @tf.function(reduce_retracing=True)
    def gradients(weights, inputs, targets):
        with tf.GradientTape() as tape:
            tape.watch(weights)
            value = loss(weights, state, inputs, targets)
        return tape.gradient(value, weights)

    return lambda weights, inputs, targets: [g.numpy() for g in gradients(
        [tf.convert_to_tensor(w) for w in weights], tf.convert_to_tensor(inputs, tf.float32),
        tf.convert_to_tensor(targets, tf.float32))]


class holding:
    """Context manager: the model holds these weights and state inside the block, its own after."""

    def __init__(self, model, weights, state) -> None:
        self._model, self._values = model, [*weights, *state]

    def __enter__(self):
        _, keras = backend.load()
        self._variables = [*self._model.trainable_variables, *self._model.non_trainable_variables]
        self._saved = [keras.ops.convert_to_numpy(v.value) for v in self._variables]
        for variable, value in zip(self._variables, self._values):
            variable.assign(value)
        return self._model

    def __exit__(self, *exc) -> None:
        for variable, value in zip(self._variables, self._saved):
            variable.assign(value)


# What a run records by probing its trained model (spec.RECORDABLE), besides what an engine measures
# while it trains.
TRAINED_MODEL_RECORDS = ("bn_input_noise", "gradient_noise", "fixed_example_noise", "gradient_ics",
                         *recalibration.RECORDS)


def asks_for_trained_model_records(spec) -> bool:
    """Whether spec.record asks for any of TRAINED_MODEL_RECORDS."""
    return bool(set(TRAINED_MODEL_RECORDS) & set(spec.record))


def trained_model_records(spec, model, x_train: np.ndarray, y_train: np.ndarray, num_classes: int,
                          x_test: np.ndarray, y_test: np.ndarray, start, *, from_logits: bool) -> dict:
    """What spec.record asks for of TRAINED_MODEL_RECORDS, on a model holding the run's trained weights.
    Both engines call this, so that they record the same fields from the same random streams. start:
    the (weights, state) training began from, for the probes also measured there; from_logits: the
    model ends in logits (the compiled engine's template model), not in the softmax."""
    wanted = set(spec.record)
    one_hot = np.eye(num_classes, dtype=np.float32)[y_train] if {"gradient_noise", "gradient_ics"} & wanted else None
    # Generators of their own: probing must not depend on, or disturb, the training stream.
    rng = streams.generator("probe_batches", spec.seed)
    extras = {}
    if "bn_input_noise" in wanted:
        extras["bn_input_noise"] = bn_input_noise(model, x_train, rng)
    if "gradient_noise" in wanted:
        extras["gradient_noise"] = gradient_noise(model, x_train, one_hot, rng, from_logits=from_logits)
    if "fixed_example_noise" in wanted:
        extras["fixed_example_noise"] = fixed_example_noise(model, x_train, streams.generator("fixed_example_noise", spec.seed))
    if "gradient_ics" in wanted:
        def ics():   # the same batches at the start and at the end of training
            return gradient_ics(model, x_train, one_hot, streams.generator("gradient_ics", spec.seed),
                                learning_rate=spec.learning_rate, batch_size=spec.batch_size, from_logits=from_logits)

        trained = ics()
        with holding(model, *start):
            extras["gradient_ics"] = {"initial": ics(), "trained": trained}
    extras.update(recalibration.record(spec, model, x_train, x_test, y_test,
                                       recalibration.softmax if from_logits else None))
    return extras
