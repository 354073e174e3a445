"""Every random stream a run draws from, by name, in one registry.

A stream's generator is seeded with the entropy [STREAM_ROOT, index, seed], the index the stream's place
in STREAMS: two streams, or one stream under two seeds, never share an entropy pool, whatever the seeds
(before this registry, seed 0's epoch orders and seed 2's data split both drew from [0, 2]). A new
stream is appended to STREAMS; an existing one keeps its index, since its index is part of every draw
it makes (bnclaims.spec.KEY_VERSION changes when one does).
"""

from __future__ import annotations

import numpy as np

# A fixed first word for every stream: the arXiv date of Ioffe & Szegedy's paper (any constant would do).
STREAM_ROOT = 20150211

STREAMS = (
    "dataset_split",         # a dataset's own fixed split where it has none (mnist5k's test split, digits')
    "per_seed_split",        # the train/validation split a run of seed s draws (RunSpec.split "per_seed")
    "model_init",            # the seeds of a model's random components: kernels, dropout, noise
    "epoch_orders",          # the order of the training examples in each epoch (both engines)
    "probe_batches",         # the mini-batches the trained-model probes draw (R1's, P1's)
    "fixed_example_noise",   # the batches a fixed example is placed in (R1.fixed_example_noise)
    "gradient_ics",          # the batches of the internal-covariate-shift probe (P3)
    "recalibration",         # the permutation of recalibration's passes (A4)
    "training_mode",         # the permutation of the training-mode evaluation (A4)
    "feature_scales",        # the per-feature scales of the "features" input scaling, one draw for all
)


def entropy(name: str, seed: int = 0) -> list[int]:
    """The entropy a stream's generator is seeded with."""
    if name not in STREAMS:
        raise KeyError(f"no random stream {name!r}; the streams are {', '.join(STREAMS)}")
    if seed < 0:
        raise ValueError(f"stream seeds are non-negative, got {seed}")
    return [STREAM_ROOT, STREAMS.index(name), int(seed)]


def sequence(name: str, seed: int = 0) -> np.random.SeedSequence:
    return np.random.SeedSequence(entropy(name, seed))


def generator(name: str, seed: int = 0) -> np.random.Generator:
    """A fresh generator of the named stream for this seed."""
    return np.random.default_rng(sequence(name, seed))
