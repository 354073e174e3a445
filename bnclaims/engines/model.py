"""The talk's multilayer perceptron, and the small conv net of the conv profile, built from a RunSpec."""

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
    softmax output; or, for architecture "conv", a conv net with the normalizer in the same place.

    With BN "before" each hidden block is Dense(use_bias=False) -> BatchNormalization -> Activation:
    BN's beta replaces the bias, exactly as in the talk. The spec's initializer applies to every kernel,
    the output layer's included, as in the talk's "Too Big Weights" comparison.

    The conv net (spec.hidden: the channels of its blocks) takes the same flattened pixel vectors and
    reshapes them to their images (bnclaims.data.image_shape); each block is Conv2D(channels, 3x3, padding
    "same", without bias where a normalizer follows) -> the normalizer as batch_norm places it -> the
    activation -> MaxPooling2D(2), then Flatten -> Dropout (where the spec has it) -> Dense(classes). BN
    normalizes each channel over the batch and the positions; LayerNorm each example over all of a block's
    units (axis (1, 2, 3), as Ba et al. and Wu & He define it for conv nets; Keras gives each unit its own
    gamma and beta); GroupNorm each example's groups of channels, over the positions too.

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

    conv = spec.architecture == "conv"

    def batch_norm() -> list:
        from .layers import GhostBatchNormalization, RandomShiftScale

        if spec.normalizer == "layer":
            # Over all of a layer's units per example: a Dense layer's features, a conv block's feature map.
            return [layers.LayerNormalization(axis=(1, 2, 3))] if conv else [layers.LayerNormalization()]
        if spec.normalizer == "group":
            return [layers.GroupNormalization(groups=GROUP_NORM_GROUPS)]
        normalization = GhostBatchNormalization(spec.bn_group) if spec.bn_group else layers.BatchNormalization()
        if not spec.bn_noise:
            return [normalization]
        return [normalization, RandomShiftScale(spec.bn_noise, seed=next_seed(), mode=spec.bn_noise_mode)]

    def convolution(channels: int, **kwargs):
        return layers.Conv2D(channels, 3, padding="same",
                             kernel_initializer=make_initializer(spec.kernel_init, next_seed()),
                             kernel_regularizer=regularizer, **kwargs)

    def dropout() -> list:
        return [(dropout_layer or layers.Dropout)(spec.dropout, seed=next_seed())] if spec.dropout else []

    weighted = convolution if conv else dense
    stack = [keras.Input(shape=(num_features,))]
    if conv:
        shape = checked_image_shape(num_features, len(spec.hidden))
        stack.append(layers.Reshape(shape))
    for width in spec.hidden:
        if spec.batch_norm == "before":
            stack += [weighted(width, use_bias=False), *batch_norm(), layers.Activation(spec.activation)]
        elif spec.batch_norm == "after":
            stack += [weighted(width), layers.Activation(spec.activation), *batch_norm()]
        else:
            stack += [weighted(width), layers.Activation(spec.activation)]
        # The MLP drops units after every hidden block; the conv net once, before its classifier (below).
        stack += [layers.MaxPooling2D(2)] if conv else dropout()
    if conv:
        stack += [layers.Flatten(), *dropout()]
    stack.append(dense(num_classes, activation=None if logits else "softmax"))
    return keras.Sequential(stack, name="conv_net" if conv else "talk_mlp")


def checked_image_shape(num_features: int, blocks: int) -> tuple[int, int, int]:
    """The images of num_features pixels (bnclaims.data.image_shape), checked to keep at least one
    position through the blocks' 2x2 poolings; DatasetError (one line) where they do not."""
    from ..data import DatasetError, image_shape

    shape = image_shape(num_features)
    if shape[0] >> blocks < 1:
        raise DatasetError(f"{shape[0]}x{shape[1]} images cannot be pooled 2x2 by {blocks} conv blocks (each "
                           f"halves the side); give the conv net at most {shape[0].bit_length() - 1} blocks")
    return shape
