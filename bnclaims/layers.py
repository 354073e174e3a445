"""GhostBatchNormalization: BN whose training statistics come from groups within the mini-batch.

Keras 3 has no "virtual batch size" option, so this layer builds it (Hoffer et al. 2017, "Train
longer, generalize better"). It separates BN's own noise from the optimizer's: the optimizer still
averages gradients over the whole mini-batch, while each group of `group_size` consecutive examples is
normalized by its own mean and (biased) variance. The moving statistics used at inference follow the
mean of the group statistics with the usual momentum. Written with keras.ops, so both engines' backends
run it. Import only after bnclaims.backend.load(): importing Keras fixes its backend.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bnclaims")
class GhostBatchNormalization(keras.layers.Layer):
    def __init__(self, group_size: int, momentum: float = 0.99, epsilon: float = 1e-3, **kwargs):
        super().__init__(**kwargs)
        if group_size < 1:
            raise ValueError("group_size must be >= 1")
        self.group_size = int(group_size)
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)

    def build(self, input_shape):
        features = (input_shape[-1],)
        self.gamma = self.add_weight(shape=features, initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=features, initializer="zeros", name="beta")
        self.moving_mean = self.add_weight(shape=features, initializer="zeros", name="moving_mean",
                                           trainable=False)
        self.moving_variance = self.add_weight(shape=features, initializer="ones", name="moving_variance",
                                               trainable=False)

    def call(self, inputs, training=None):
        if not training:
            normalized = (inputs - self.moving_mean) * ops.rsqrt(self.moving_variance + self.epsilon)
            return normalized * self.gamma + self.beta
        # Static under JAX (a Python int); a tensor under TensorFlow when the batch size is not known.
        batch = ops.shape(inputs)[0]
        # Consecutive examples form a group; a remainder at the end of an epoch forms a smaller one.
        groups = ops.arange(batch) // self.group_size
        count = (batch + self.group_size - 1) // self.group_size
        sizes = ops.segment_sum(ops.ones_like(inputs[:, :1]), groups, num_segments=count)
        means = ops.segment_sum(inputs, groups, num_segments=count) / sizes
        centred = inputs - ops.take(means, groups, axis=0)
        variances = ops.segment_sum(ops.square(centred), groups, num_segments=count) / sizes
        normalized = centred * ops.rsqrt(ops.take(variances, groups, axis=0) + self.epsilon)
        self.moving_mean.assign(self.momentum * self.moving_mean
                                + (1 - self.momentum) * ops.mean(means, axis=0))
        self.moving_variance.assign(self.momentum * self.moving_variance
                                    + (1 - self.momentum) * ops.mean(variances, axis=0))
        return normalized * self.gamma + self.beta

    def get_config(self):
        return {**super().get_config(), "group_size": self.group_size, "momentum": self.momentum,
                "epsilon": self.epsilon}


@keras.saving.register_keras_serializable(package="bnclaims")
class RandomShiftScale(keras.layers.Layer):
    """Santurkar et al. (2018)'s "noisy BN": after BN, in training mode only, shift each unit by
    U(-strength, strength) and scale it by 2**U(-strength/2, strength/2), drawn anew at every step and
    shared by the batch. The distribution of the next layer's inputs then changes at every step: far more
    internal covariate shift than BN's, with BN's normalization intact."""

    def __init__(self, strength: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.strength = float(strength)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        units = (1, inputs.shape[-1])
        shift = keras.random.uniform(units, -self.strength, self.strength, seed=self.seed_generator)
        exponent = keras.random.uniform(units, -self.strength / 2, self.strength / 2, seed=self.seed_generator)
        return inputs * ops.power(2.0, exponent) + shift

    def get_config(self):
        return {**super().get_config(), "strength": self.strength, "seed": self.seed}
