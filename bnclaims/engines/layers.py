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


from ..spec import BN_NOISE_MODES as NOISE_MODES


@keras.saving.register_keras_serializable(package="bnclaims")
class RandomShiftScale(keras.layers.Layer):
    """Noise after BN, in training mode only, new at every step; the identity at inference.

    Santurkar et al. (2018, "How Does Batch Normalization Help Optimization?", Sec. 2.1 and Fig. 2)
    train "noisy BatchNorm" networks: after each BN layer, they "perturb each activation for each
    sample in the batch using i.i.d. noise sampled from a non-zero mean and non-unit variance
    distribution", and "this noise distribution changes at each time step" (as we read their Appendix A:
    at every step the noise distribution's mean and scale are themselves drawn at random, then every
    activation of every example draws its own noise from that distribution). The
    point is a covariate shift far larger than a network without BN has, with BN's normalization
    intact. Their exact ranges for the mean and scale could not be consulted here; the ranges below
    are this suite's, chosen so that `strength` is the noise's magnitude (0: none).

    mode "per_example" (theirs): at every step, for each unit j, a mean m_j ~ U(-strength, strength)
    and a standard deviation s_j ~ U(0, strength) are drawn; every example i then gets
    x_ij + m_j + s_j * e_ij with e_ij ~ N(0, 1) i.i.d. So each activation's distribution moves by up
    to `strength` (BN's outputs have unit scale) and widens by up to `strength` at every step, and no
    two examples of a batch see the same noise.

    mode "shared" (this suite's first reading, kept so that runs trained with it keep their meaning
    and their cache keys): at every step, each unit is shifted by U(-strength, strength) and scaled by
    2**U(-strength/2, strength/2), one draw shared by the whole batch. A shift shared by the batch is
    a change of the layer's input distribution from step to step, but not per-example noise.
    """

    def __init__(self, strength: float, seed: int | None = None, mode: str = "shared", **kwargs):
        super().__init__(**kwargs)
        if mode not in NOISE_MODES:
            raise ValueError(f"mode must be one of {NOISE_MODES}, got {mode!r}")
        self.strength = float(strength)
        self.seed = seed
        self.mode = mode
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=None):
        if not training:
            return inputs
        units = (1, inputs.shape[-1])
        if self.mode == "per_example":
            mean = keras.random.uniform(units, -self.strength, self.strength, seed=self.seed_generator)
            scale = keras.random.uniform(units, 0.0, self.strength, seed=self.seed_generator)
            noise = keras.random.normal(ops.shape(inputs), seed=self.seed_generator)
            return inputs + mean + scale * noise
        shift = keras.random.uniform(units, -self.strength, self.strength, seed=self.seed_generator)
        exponent = keras.random.uniform(units, -self.strength / 2, self.strength / 2, seed=self.seed_generator)
        return inputs * ops.power(2.0, exponent) + shift

    def get_config(self):
        return {**super().get_config(), "strength": self.strength, "seed": self.seed, "mode": self.mode}
