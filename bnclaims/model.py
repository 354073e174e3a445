"""The talk's multilayer perceptron, built from a RunSpec."""

from __future__ import annotations

from .spec import RunSpec
from . import backend


def make_initializer(name: str):
    """A fresh, unseeded Keras initializer: the run's global seed makes it deterministic per run."""
    _, keras = backend.load()
    if name == "glorot_uniform":
        return keras.initializers.GlorotUniform()
    if name == "he_normal":
        return keras.initializers.HeNormal()
    kind, scale = name.split(":")
    if kind == "uniform":
        return keras.initializers.RandomUniform(-float(scale), float(scale))
    return keras.initializers.RandomNormal(stddev=float(scale))


def build_model(spec: RunSpec, num_features: int, num_classes: int):
    """Dense stack with BN as the spec places it, optional Dropout/L2, softmax output.

    With BN "before" each hidden block is Dense(use_bias=False) -> BatchNormalization -> Activation:
    BN's beta replaces the bias, exactly as in the talk. The spec's initializer applies to every kernel,
    the output layer's included, as in the talk's "Too Big Weights" comparison.
    """
    _, keras = backend.load()
    layers = keras.layers
    regularizer = keras.regularizers.L2(spec.l2) if spec.l2 else None

    def dense(width: int, **kwargs):
        return layers.Dense(width, kernel_initializer=make_initializer(spec.kernel_init),
                            kernel_regularizer=regularizer, **kwargs)

    def batch_norm() -> list:
        from .layers import GhostBatchNormalization, RandomShiftScale

        normalization = GhostBatchNormalization(spec.bn_group) if spec.bn_group else layers.BatchNormalization()
        return [normalization, RandomShiftScale(spec.bn_noise)] if spec.bn_noise else [normalization]

    stack = [keras.Input(shape=(num_features,))]
    for width in spec.hidden:
        if spec.batch_norm == "before":
            stack += [dense(width, use_bias=False), *batch_norm(), layers.Activation(spec.activation)]
        elif spec.batch_norm == "after":
            stack += [dense(width), layers.Activation(spec.activation), *batch_norm()]
        else:
            stack += [dense(width), layers.Activation(spec.activation)]
        if spec.dropout:
            stack.append(layers.Dropout(spec.dropout))
    stack.append(dense(num_classes, activation="softmax"))
    return keras.Sequential(stack, name="talk_mlp")
