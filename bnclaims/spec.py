"""RunSpec: what one training run asks for; RunContext: what else changes its numbers.

A spec is frozen and hashable. A run's cache key (run_key) is the SHA-256 of the spec's canonical JSON
together with its context: the engine, the Keras backend and the device it runs on, the versions of
the libraries that change the numbers, and a fingerprint of the arrays trained and evaluated on. So a
cache entry is never served to a run that would have trained differently.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache

# Input scalings. "unit" divides by the dataset's pixel maximum (the talk's /255); "raw" keeps 0..255, the
# talk's Comparison 4; "features" gives each feature (pixel) a scale and an offset of its own
# (bnclaims.engines.shared.feature_scales), which is what "no need for data normalization" is about when features
# are measured in different units, as in the talk's example [27, 150 000, 1, 1, 2].
INPUT_SCALINGS = ("unit", "raw", "features")

# Where BatchNormalization sits. "before" is the talk's Dense(use_bias=False) -> BN -> Activation;
# "after" is Dense -> Activation -> BN, the common alternative.
BN_PLACEMENTS = ("none", "before", "after")

# Which normalization layer sits where batch_norm places it (Keras's own layers). "batch" is
# BatchNormalization; "layer" (LayerNormalization) and "group" (GroupNormalization, GROUP_NORM_GROUPS groups
# of units) normalize each example by its own statistics, without batch statistics: the controls that ask
# whether an advantage belongs to BN or to any normalization (Santurkar et al. 2018; Luo et al. 2019). A
# plain model (batch_norm "none") has no normalizer: its field is always "batch", so that a plain spec has
# one key whichever control asked for it.
NORMALIZERS = ("batch", "layer", "group")
# Wu & He (2018) use 32 groups by default; the talk's widths (256, 128, 64) give groups of 8, 4 and 2 units.
GROUP_NORM_GROUPS = 32
# What each RECORDABLE measures that only BatchNormalization has (batch statistics, moving statistics).
BATCH_STATISTICS_RECORDS = ("bn_input_noise", "fixed_example_noise", "recalibrated", "training_mode_test")

# The network. "mlp" is the talk's Dense stack (hidden: the widths of its layers); "conv" a small
# convolutional net as BN is used in practice (hidden: the channels of its 3x3 conv blocks, each followed by
# the normalizer as batch_norm places it, the activation and 2x2 max pooling; bnclaims.engines.model).
ARCHITECTURES = ("mlp", "conv")
# What the probes of RECORDABLE measure per unit of a Dense layer, or on a first Dense layer, and has no
# reading on a conv net's feature maps (a unit there is a channel over positions): refused for "conv"
# rather than crashing, or measuring something else, after the run has trained.
DENSE_ONLY_RECORDS = ("bn_input_noise", "fixed_example_noise", "gradient_ics", "preactivation_percentiles")

ACTIVATIONS = ("relu", "elu", "tanh", "sigmoid", "softsign", "selu", "gelu", "swish", "linear")

# Extra things a run can record besides its per-epoch history and test metrics.
#   train_inference: loss and accuracy on the training split in inference mode at the end of training,
#                    for generalization-gap claims (Keras's running training accuracy is in training
#                    mode and averaged over an epoch while the weights move).
#   bn_input_noise:  across many random mini-batches of the training split, the variance of each BN
#                    layer's batch mean and batch variance, per batch size (claim R1)
#   gradient_noise:  at the end of training, the mean squared distance of mini-batch gradients from the
#                    full-data gradient, per batch size (claim P1)
#   preactivation_percentiles: the 15th/50th/85th percentiles of each unit's input to the last hidden
#                    activation on fixed validation examples, before training and after each epoch (P3)
#   fixed_example_noise: at the end of training, how much a fixed training example's BN outputs vary
#                    (training mode) across random mini-batches it is placed in, per batch size (R1)
#   gradient_ics:    at the start and the end of training, how much a layer's gradient changes when the
#                    layers before it take one SGD step on the same batch (Santurkar et al.'s internal
#                    covariate shift, P3)
#   recalibrated:    test loss and accuracy (inference mode) after BN's moving statistics are replaced by
#                    the population statistics of the training split, the network in training mode on
#                    batches of the run's size (bnclaims.engines.recalibration; claim A4)
#   training_mode_test: test loss and accuracy in training mode, BN normalizing each batch of the run's
#                    size by its own statistics, as the network computes while it learns (A4)
RECORDABLE = ("train_inference", "bn_input_noise", "gradient_noise", "preactivation_percentiles",
              "fixed_example_noise", "gradient_ics", "recalibrated", "training_mode_test")

# How the noise after BN (bn_noise) is drawn (bnclaims.engines.layers.RandomShiftScale): "shared", one shift and
# scale per unit for the whole batch; "per_example", Santurkar et al.'s i.i.d. noise per activation and
# example. "shared" is the default so that the runs trained before the mode existed keep their keys.
BN_NOISE_MODES = ("shared", "per_example")

# Which train/validation split a run trains on. "fixed": the dataset's own split (the talk's, for full
# MNIST). "per_seed": a stratified train/validation split drawn from the run's seed, the test split kept
# (bnclaims.data.split_for_run), so that the seeds sample the data too, not only the initialization.
SPLITS = ("fixed", "per_seed")

# Engines, each with the Keras backend it runs on.
#   compiled: Keras layers on JAX, every step of a run in one compiled XLA program (bnclaims.engines.compiled)
#   fit:      Keras `fit` on TensorFlow, as the talk trains (bnclaims.engines.fit), the reference
ENGINES = {"compiled": "jax", "fit": "tensorflow"}
DEFAULT_ENGINE = "compiled"

# Bump when the meaning of an existing field or default changes: every cached run is then retrained.
# Adding a field with a default needs no bump, since keys leave out fields at their defaults.
# 5: every run's step-level record gained the training-mode accuracy (results.STEP_KEYS).
# 6: the trained-model probes compute the same measures in another order (bnclaims.engines.probes: compiled,
#    the first layer once per split, batch moments from draw counts): their numbers move by float32
#    rounding (up to 2e-7 relative).
# 7: the BN-input probe sums batch moments through sparse draw counts (float64 rounding, 1e-15
#    relative); recalibration's training-mode passes are compiled (the same numbers, measured).
# 8: every random stream is drawn from bnclaims.streams (data splits, epoch orders, initial weights,
#    probes): streams that coincided (seed 0's epoch orders and seed 2's data split) no longer do.
KEY_VERSION = 8

_INIT_PATTERN = re.compile(r"^(glorot_uniform|he_normal|uniform:(?P<a>[0-9.eE+-]+)|normal:(?P<s>[0-9.eE+-]+))$")


class SpecError(ValueError):
    """A RunSpec field has a value the engine cannot train."""


def validate_initializer(init: str) -> str:
    """Accept 'glorot_uniform', 'he_normal', 'uniform:A' (RandomUniform(-A, A)) or 'normal:S' (std S)."""
    match = _INIT_PATTERN.match(init)
    if not match:
        raise SpecError(
            f"unknown kernel initializer {init!r}; use glorot_uniform, he_normal, uniform:<a> or normal:<std>"
        )
    scale = match.group("a") or match.group("s")
    if scale is not None and not float(scale) > 0:
        raise SpecError(f"initializer scale must be positive, got {init!r}")
    return init


# What each RunSpec field is to an engine. Every field declares one (tests/test_spec_and_settings.py), so
# that the compiled engine's program signature (bnclaims.engines.compiled.Signature) and a run's label are derived
# from the declaration instead of copied field by field: a new field left out of a copy would make its
# variants share one compiled program and train the same model, and nothing would fail.
#   shape:  the compiled program is specialised to it (architecture, optimizer, batch size, budget)
#   rate:   a regularization rate: an input of the program, except where probes need the template model
#           to hold it (bnclaims.engines.compiled.Signature.of)
#   input:  an input of the program (initial weights, learning rate, input scaling, the seed's draws)
#   data:   which arrays it trains on (their sizes enter the signature from the dataset)
#   record: what the run records besides its history (some records run inside the program)
FIELD_ROLES = ("shape", "rate", "input", "data", "record")


def _field(default, role: str, label: str | None = None, **options):
    """A RunSpec field with its role, and the name its label shows where it is not at its default (None:
    the label shows it in its own way, or not at all)."""
    return field(default=default, metadata={"role": role, "label": label}, **options)


def fields_with_role(*roles: str) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(RunSpec) if f.metadata.get("role") in roles)


@dataclass(frozen=True)
class RunSpec:
    """One training run. Defaults are the talk's base setting (Comparison 1) with BN."""

    dataset: str = _field("mnist5k", "data")
    input_scaling: str = _field("unit", "input", "inputs")
    architecture: str = _field("mlp", "shape", "arch")  # ARCHITECTURES; hidden gives a conv net's channels
    hidden: tuple[int, ...] = _field((256, 128, 64), "shape", "hidden")
    activation: str = _field("relu", "shape")
    batch_norm: str = _field("before", "shape")
    normalizer: str = _field("batch", "shape")          # NORMALIZERS: the layer batch_norm places
    bn_group: int = _field(0, "shape", "bn_group")      # >0: BN statistics over groups ("ghost batches") of this many examples
    bn_noise: float = _field(0.0, "shape", "bn_noise")  # >0: random shift and scale after each BN, new every step (Santurkar et al.)
    bn_noise_mode: str = _field("shared", "shape", "bn_noise_mode")   # BN_NOISE_MODES: one draw per batch, or i.i.d. per example
    kernel_init: str = _field("glorot_uniform", "input", "init")
    dropout: float = _field(0.0, "rate", "dropout")
    l2: float = _field(0.0, "rate", "l2")
    learning_rate: float = _field(0.01, "input")
    momentum: float = _field(0.0, "shape", "momentum")
    batch_size: int = _field(128, "shape")
    epochs: int = _field(10, "shape")   # passes over the training split (the budget: passes x training examples)
    seed: int = _field(0, "input")
    record: tuple[str, ...] = _field((), "record")
    split: str = _field("fixed", "data")

    def __post_init__(self) -> None:
        # Normalise containers so that equal specs hash and serialise identically.
        object.__setattr__(self, "hidden", tuple(int(w) for w in self.hidden))
        object.__setattr__(self, "record", tuple(sorted(set(self.record))))
        if self.batch_norm == "none":
            object.__setattr__(self, "normalizer", "batch")   # a plain model's spec: one key (see NORMALIZERS)
        self._validate()

    def _validate(self) -> None:
        def require(ok: bool, message: str) -> None:
            if not ok:
                raise SpecError(message)

        require(self.input_scaling in INPUT_SCALINGS, f"input_scaling must be one of {INPUT_SCALINGS}")
        require(self.batch_norm in BN_PLACEMENTS, f"batch_norm must be one of {BN_PLACEMENTS}")
        require(self.activation in ACTIVATIONS, f"activation must be one of {ACTIVATIONS}")
        require(len(self.hidden) >= 1 and all(w > 0 for w in self.hidden), "hidden widths must be positive")
        require(0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)")
        require(self.l2 >= 0.0, "l2 must be >= 0")
        require(self.learning_rate > 0.0, "learning_rate must be > 0")
        require(0.0 <= self.momentum < 1.0, "momentum must be in [0, 1)")
        require(self.batch_size >= 1, "batch_size must be >= 1")
        require(self.normalizer in NORMALIZERS, f"normalizer must be one of {NORMALIZERS}")
        require(self.architecture in ARCHITECTURES, f"architecture must be one of {ARCHITECTURES}")
        if self.architecture == "conv":
            dense_only = sorted(set(self.record) & set(DENSE_ONLY_RECORDS))
            require(not dense_only, f"cannot record {dense_only} on a conv net: those probes measure the units of "
                                    f"Dense layers; drop them or use architecture 'mlp'")
            # GhostBatchNormalization normalizes over the batch axis alone, not over a feature map's positions.
            require(self.bn_group == 0, "bn_group (ghost batches) is written for Dense layers, not conv feature "
                                        "maps; use bn_group=0 or architecture 'mlp'")
        if self.normalizer != "batch":
            without = f"{self.normalizer} normalization has no batch statistics"
            require(self.bn_group == 0, f"bn_group needs batch normalization: {without}")
            require(self.bn_noise == 0.0, f"bn_noise is noise after batch normalization; {without}")
            batch_only = sorted(set(self.record) & set(BATCH_STATISTICS_RECORDS))
            require(not batch_only, f"cannot record {batch_only}: {without}")
        require(self.normalizer != "group" or all(w % GROUP_NORM_GROUPS == 0 for w in self.hidden),
                f"group normalization splits each hidden layer into {GROUP_NORM_GROUPS} groups: every width must "
                f"be a multiple of {GROUP_NORM_GROUPS}, got {self.hidden}")
        require(self.bn_group >= 0, "bn_group must be >= 0 (0: statistics over the whole mini-batch)")
        require(self.bn_group == 0 or self.batch_norm != "none", "bn_group needs batch_norm")
        require(self.bn_noise >= 0.0, "bn_noise must be >= 0")
        require(self.bn_noise == 0.0 or self.batch_norm != "none", "bn_noise needs batch_norm")
        require(self.bn_noise_mode in BN_NOISE_MODES, f"bn_noise_mode must be one of {BN_NOISE_MODES}")
        require(self.epochs >= 1, "epochs must be >= 1")
        require(self.split in SPLITS, f"split must be one of {SPLITS}")
        require(self.seed >= 0, "seed must be >= 0")
        unknown = set(self.record) - set(RECORDABLE)
        require(not unknown, f"cannot record {sorted(unknown)}; recordable: {RECORDABLE}")
        validate_initializer(self.kernel_init)

    def replace(self, **changes) -> "RunSpec":
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["hidden"] = list(self.hidden)
        data["record"] = list(self.record)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> "RunSpec":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(data) - names
        if unknown:
            raise SpecError(f"unknown RunSpec fields {sorted(unknown)}")
        return cls(**{**data, "hidden": tuple(data.get("hidden", cls.hidden)),
                      "record": tuple(data.get("record", ()))})

    def canonical_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))

    def changed_fields(self) -> dict:
        """The fields not at their defaults: adding a field with a default keeps existing keys valid."""
        return {f.name: value for f, value in zip(dataclasses.fields(self), self.to_dict().values())
                if value != _default_of(f)}

    def key(self) -> str:
        """Content address of the spec alone: what to train. Not a cache key: the same spec trains
        differently on another engine, device or dataset content; run_key() adds those."""
        payload = json.dumps({"spec": self.changed_fields(), "version": KEY_VERSION},
                             sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(payload.encode()).hexdigest()

    def label(self) -> str:
        """Short human description for progress lines and reports (the seed is shown separately): the BN
        placement, activation, rate and batch, then every field with a label name not at its default."""
        layer = NORMALIZER_LABELS[self.normalizer]
        bn = {"none": "plain", "before": layer, "after": f"{layer}-after-act"}[self.batch_norm]
        parts = [bn, self.activation, f"lr={self.learning_rate:g}", f"batch={self.batch_size}"]
        for spec_field in dataclasses.fields(self):
            name, value = spec_field.metadata.get("label"), getattr(self, spec_field.name)
            if name and value != spec_field.default:
                shown = ",".join(map(str, value)) if isinstance(value, tuple) else (
                    f"{value:g}" if isinstance(value, float) else value)
                parts.append(f"{name}={shown}")
        return " ".join(parts)


NORMALIZER_LABELS = {"batch": "BN", "layer": "LN", "group": "GN"}
NORMALIZER_NAMES = {"batch": "BatchNorm", "layer": "LayerNorm", "group": "GroupNorm"}


def _default_of(spec_field: dataclasses.Field):
    value = spec_field.default
    return list(value) if isinstance(value, tuple) else value


@dataclass(frozen=True)
class RunContext:
    """Everything besides the spec that changes a run's numbers."""

    engine: str      # a key of ENGINES
    backend: str     # the Keras backend it ran on: ENGINES[engine] when a Lab trains
    platform: str    # where the programs ran: 'cpu:<the CPU>' or 'gpu:<device names>' (bnclaims.backend.platform)
    data: str        # Dataset.fingerprint of the dataset the spec names
    # The compiled engine trains seeds in canonical blocks of this many, one vmapped program a block
    # (bnclaims.engines.compiled.train_runs): seed s with seeds floor(s/B)*B .. floor(s/B)*B + B - 1. A
    # lane of a block rounds differently from the same seed alone, so B is part of the run key (see
    # describe); 1 is a program call per seed.
    seed_block: int = 1

    def __post_init__(self) -> None:
        if isinstance(self.seed_block, bool) or not isinstance(self.seed_block, int) or self.seed_block < 1:
            raise SpecError(f"seed_block must be an integer >= 1, got {self.seed_block!r}")
        if self.engine not in ENGINES:
            raise SpecError(f"unknown engine {self.engine!r}; choose one of {', '.join(ENGINES)}")
        if self.backend not in set(ENGINES.values()):
            raise SpecError(f"unknown Keras backend {self.backend!r}; choose one of {sorted(set(ENGINES.values()))}")
        if self.engine == "compiled" and self.backend != "jax":
            raise SpecError("the compiled engine runs on the JAX backend only")
        if self.engine == "fit" and self.seed_block != 1:
            raise SpecError(f"the fit engine trains one seed at a time; it has no seed block of {self.seed_block}")

    def describe(self) -> dict:
        """What a stored result records about how it was made. The seed block only where it is not 1, so
        that the keys of runs trained one seed a program are those they had before blocks existed."""
        block = {"seed_block": self.seed_block} if self.seed_block != 1 else {}
        return {"engine": self.engine, "backend": self.backend, "platform": self.platform,
                "data": self.data, **block, **library_versions(self.backend)}


def run_key(spec: RunSpec, context: RunContext) -> str:
    """The cache key of one run: spec, engine, Keras backend, device, library versions and data."""
    payload = json.dumps({"spec": spec.changed_fields(), "context": context.describe(), "version": KEY_VERSION},
                         sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def library_versions(backend: str) -> dict:
    """Versions of the libraries that change the numbers of a run on `backend` (others do not enter
    its key, so upgrading TensorFlow keeps the compiled engine's runs)."""
    versions = environment_fingerprint()
    names = {"jax": ("keras", "numpy", "jax", "jaxlib"), "tensorflow": ("keras", "numpy", "tensorflow")}[backend]
    return {name: versions[name] for name in names}


@lru_cache(maxsize=1)
def environment_fingerprint() -> dict:
    """Library versions, read from package metadata so that no framework is imported."""
    from importlib import metadata
    import os

    def version(*names: str) -> str:
        for name in names:
            try:
                return metadata.version(name)
            except metadata.PackageNotFoundError:
                continue
        return "absent"

    return {
        "tensorflow": version("tensorflow", "tensorflow-cpu", "tensorflow-macos", "tf-nightly"),
        "keras": version("keras"),
        "numpy": version("numpy"),
        "jax": version("jax"),
        "jaxlib": version("jaxlib"),
        "backend": os.environ.get("KERAS_BACKEND", ENGINES[DEFAULT_ENGINE]),
    }
