"""The talk's multilayer perceptron, built from a RunSpec."""

from __future__ import annotations

from .. import backend, streams
from ..spec import GROUP_NORM_GROUPS, RunSpec


def make_initializer(name: str, seed: int | None = None):
    """A Keras initializer. Unseeded (seed None), the run's global seed (keras.utils.set_random_seed)
    makes it deterministic per run, as in a Keras script; seeded, it draws the same values every call."""
    _, keras = backend.load()
    if name == "glorot_uniform":
        return keras.initializers.GlorotUniform(seed=seed)
    if name == "he_normal":
        return keras.initializers.HeNormal(seed=seed)
    kind, scale = name.split(":")
    if kind == "uniform":
        return keras.initializers.RandomUniform(-float(scale), float(scale), seed=seed)
    return keras.initializers.RandomNormal(stddev=float(scale), seed=seed)


def component_seeds(seed: int):
    """Distinct seeds for each random component of a model (kernels, dropout, noise) from the run seed.
    Explicit seeds let an engine build a run's model without touching global random state (under JAX,
    keras.utils.set_random_seed would import TensorFlow just to seed it)."""
    sequence = streams.sequence("model_init", seed)
    while True:
        sequence = sequence.spawn(1)[0]
        yield int(sequence.generate_state(1)[0] >> 1)


def build_model(spec: RunSpec, num_features: int, num_classes: int, seed: int | None = None,
                logits: bool = False, dropout_layer=None):
    """Dense stack with BN (or the spec's other normalizer) as the spec places it, optional Dropout/L2,
    softmax output.

    With BN "before" each hidden block is Dense(use_bias=False) -> BatchNormalization -> Activation:
    BN's beta replaces the bias, exactly as in the talk. The spec's initializer applies to every kernel,
    the output layer's included, as in the talk's "Too Big Weights" comparison.

    seed: None leaves initializers and random layers unseeded (the caller sets Keras's global seed);
    an integer seeds each of them explicitly from it (component_seeds).
    logits: end in the output layer's logits, without its softmax, for an engine that computes the loss
    from them (as Keras on TensorFlow does under a softmax output; see bnclaims.engines.compiled).
    dropout_layer: the class of the Dropout layers, keras.layers.Dropout unless an engine gives its own
    (bnclaims.engines.compiled's takes the rate as an input of its compiled program).
    """
    _, keras = backend.load()
    layers = keras.layers
    regularizer = keras.regularizers.L2(spec.l2) if spec.l2 else None
    seeds = component_seeds(seed) if seed is not None else None

    def next_seed():
        return next(seeds) if seeds is not None else None

    def dense(width: int, **kwargs):
        return layers.Dense(width, kernel_initializer=make_initializer(spec.kernel_init, next_seed()),
                            kernel_regularizer=regularizer, **kwargs)

    def batch_norm() -> list:
        from .layers import GhostBatchNormalization, RandomShiftScale

        if spec.normalizer == "layer":
            return [layers.LayerNormalization()]
        if spec.normalizer == "group":
            return [layers.GroupNormalization(groups=GROUP_NORM_GROUPS)]
        normalization = GhostBatchNormalization(spec.bn_group) if spec.bn_group else layers.BatchNormalization()
        if not spec.bn_noise:
            return [normalization]
        return [normalization, RandomShiftScale(spec.bn_noise, seed=next_seed(), mode=spec.bn_noise_mode)]

    stack = [keras.Input(shape=(num_features,))]
    for width in spec.hidden:
        if spec.batch_norm == "before":
            stack += [dense(width, use_bias=False), *batch_norm(), layers.Activation(spec.activation)]
        elif spec.batch_norm == "after":
            stack += [dense(width), layers.Activation(spec.activation), *batch_norm()]
        else:
            stack += [dense(width), layers.Activation(spec.activation)]
        if spec.dropout:
            stack.append((dropout_layer or layers.Dropout)(spec.dropout, seed=next_seed()))
    stack.append(dense(num_classes, activation=None if logits else "softmax"))
    return keras.Sequential(stack, name="talk_mlp")
