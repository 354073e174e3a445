"""The measures behind R1 and P3 on tiny data: a fixed example's BN noise (bnclaims.engines.probes.
fixed_example_noise) and Santurkar et al.'s gradient measure of internal covariate shift
(bnclaims.engines.probes.gradient_ics), each against a placebo that must not show the effect and an injected
effect that must show it; the per-example noise after BN (bnclaims.engines.layers.RandomShiftScale); and both
engines recording the same fields. R1's check is loaded from its claim module (its declaration and its
criterion, run against the placebo and the injected effect); the reductions come from bnclaims.designs."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest

from bnclaims import backend, designs
from bnclaims.evidence import measured
from bnclaims.spec import RunSpec, SpecError
from conftest import load_claim_module

FEATURES, CLASSES = 12, 3
SEEDS = (0, 1, 2, 3, 4, 5)   # the exact sign test reaches 0.05 from 5 seeds (2^-5)


@pytest.fixture(scope="module")
def keras():
    return backend.load(threads=1)[1]


def tiny_model(seed: int, **changes):
    from bnclaims.engines.model import build_model

    return build_model(RunSpec(hidden=(16, 8), **changes), FEATURES, CLASSES, seed=seed, logits=True)


def tiny_data(n: int = 300, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, CLASSES, n)
    x = rng.normal(size=(n, FEATURES)).astype(np.float32) + 2.0 * labels[:, None]
    return x, np.eye(CLASSES, dtype=np.float32)[labels]


def noise_of(model, statistics: str, seed: int = 0) -> dict:
    from bnclaims.engines import probes

    return probes.fixed_example_noise(model, tiny_data()[0], np.random.default_rng(seed), statistics=statistics,
                                      examples=6, batches=12)


def as_runs(records: dict) -> list:
    return [SimpleNamespace(spec=SimpleNamespace(seed=seed), extras={"fixed_example_noise": record},
                            key=f"run-{seed}", outcome="trained") for seed, record in records.items()]


def r1_outcome(records: dict) -> str:
    r1 = load_claim_module("test_batch_statistics_noise", "noise_designs_test_batch_statistics_noise")
    small, large, _ = designs.noise_arms(as_runs(records), r1.SMALL_BATCH, r1.LARGE_BATCH)
    return measured(r1.CHECKS["R1.fixed_example_noise"], **r1.noise_observation(small, large)).outcome


# ---------------------------------------------------------------------------------------------------
# R1: a fixed example's noise across mini-batches


def test_fixed_example_noise_is_bn_in_training_mode_batch_by_batch(keras):
    """The probe's forward pass, every batch normalized on its own, equals Keras's training-mode pass
    (batch statistics) on each batch alone."""
    from bnclaims.engines import probes

    model = tiny_model(0)
    x = tiny_data()[0]
    batches = np.stack([x[:16], x[16:32]])
    ours = probes._normalized_outputs(model, batches, "batch")
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    probe = keras.Model(model.inputs[0], [layer.output for layer in layers])
    weights = [v.value for v in probe.trainable_variables]
    state = [v.value for v in probe.non_trainable_variables]
    for index, batch in enumerate(batches):
        theirs, _ = probe.stateless_call(weights, state, batch, training=True)
        for mine, keras_output in zip(ours, theirs):
            np.testing.assert_allclose(mine[index], keras.ops.convert_to_numpy(keras_output), atol=2e-5)


def test_fixed_example_noise_with_the_first_layer_precomputed_equals_the_whole_walk(keras):
    """The probe runs the first (Dense) layer once on the split and gathers its outputs into batches:
    the same outputs as running the network on the gathered inputs."""
    from bnclaims.engines import probes

    model = tiny_model(0)
    x = tiny_data()[0]
    members = np.random.default_rng(0).integers(0, len(x), size=(3, 16))
    first = probes._inference_outputs(model, probes._first_layer_probe, x)[0]
    whole = probes._normalized_outputs(model, x[members], "batch")
    gathered = probes._normalized_outputs(model, first[members], "batch", after_first=True)
    for mine, reference in zip(gathered, whole):
        np.testing.assert_allclose(mine, reference, atol=2e-5)


def test_smallest_keys_are_the_head_of_a_full_sort():
    """The fixed-example probe picks a batch's other members without sorting whole rows: the same
    members, in the same order, as np.argsort(...)[:, :count]."""
    from bnclaims.engines import probes

    keys = np.random.default_rng(0).random((5, 300))
    for count in (0, 1, 7, 299):
        np.testing.assert_array_equal(probes._smallest(keys, count), np.argsort(keys, axis=1)[:, :count])


def test_batch_moments_from_draw_counts_equal_those_of_the_gathered_batches():
    """bn_input_noise takes each batch's mean and biased variance from its draw counts, with no copy of
    the batch: the same moments as gathering the batch (draws with replacement, repeats included)."""
    from bnclaims.engines import probes

    rng = np.random.default_rng(0)
    values, draws = rng.normal(size=(50, 4)), rng.integers(0, 50, size=(6, 8))
    counts = probes._draw_counts(draws, len(values))
    means = counts @ values / 8
    np.testing.assert_allclose(means, values[draws].mean(axis=1), rtol=1e-12)
    np.testing.assert_allclose(counts @ (values * values) / 8 - means * means, values[draws].var(axis=1), atol=1e-12)


def test_fixed_example_noise_is_zero_with_fixed_statistics_and_r1_is_then_not_supported(keras):
    """Placebo: BN with fixed statistics (its moving averages) cannot make an example's output depend
    on its batch: the noise is exactly zero and R1.fixed_example_noise fails."""
    placebo = {seed: noise_of(tiny_model(seed), "moving", seed) for seed in SEEDS}
    for record in placebo.values():
        assert record["statistics"] == "moving"
        assert all(all(v == 0.0 for v in values) for values in record["layers"].values())
    assert r1_outcome(placebo) == "fails"


def test_fixed_example_noise_grows_as_the_batch_shrinks_and_r1_detects_it(keras):
    """Injected effect: BN with the batch's statistics, as in training."""
    injected = {seed: noise_of(tiny_model(seed), "batch", seed) for seed in SEEDS}
    for record in injected.values():
        assert record["batch_sizes"] == [8, 16, 32, 64, 128]
        assert list(record["layers"]) == ["bn1", "bn2"]
        mean = record["mean"]
        assert all(a > b for a, b in zip(mean, mean[1:])), mean
    assert r1_outcome(injected) == "holds"


def test_fixed_example_noise_of_a_diverged_run_is_none_and_leaves_the_comparison(keras):
    broken = tiny_model(0)
    kernel = broken.layers[0].kernel
    kernel.assign(np.full(kernel.shape, np.nan, np.float32))
    records = {seed: noise_of(tiny_model(seed), "batch", seed) for seed in SEEDS[1:]}
    records[0] = noise_of(broken, "batch")
    assert records[0]["mean"] == [None] * 5
    small, large, note = designs.noise_arms(as_runs(records), 8, 128)
    assert small.seeds == large.seeds == SEEDS[1:] and "[0]" in note
    assert all(math.isfinite(v) for v in small.values + large.values)


def test_fixed_example_noise_needs_a_bn_layer(keras):
    with pytest.raises(ValueError, match="no BatchNormalization layer"):
        noise_of(tiny_model(0, batch_norm="none"), "batch")


# ---------------------------------------------------------------------------------------------------
# P3: the drift of a layer's inputs (Figure 1) and the ICS reductions, on hand-made records


def percentile_run(snapshots) -> SimpleNamespace:
    return SimpleNamespace(spec=SimpleNamespace(seed=0), extras={"preactivation_percentiles": {"snapshots": snapshots}})


def test_relative_drift_is_zero_in_place_and_one_when_each_unit_moves_by_its_width():
    start = [[-1.0, -2.0], [0.0, 0.0], [1.0, 2.0]]        # 15/50/85th percentiles x 2 units: widths 2 and 4
    assert designs.relative_drift(percentile_run([start, start, start])) == 0.0        # placebo: in place
    moved = [[value + width for value, width in zip(row, (2.0, 4.0))] for row in start]
    assert designs.relative_drift(percentile_run([start, moved])) == pytest.approx(1.0)


def ics_run(seed: int, relative: dict) -> SimpleNamespace:
    layers = {name: {"relative": value, "l2": value, "cosine": 1.0} for name, value in relative.items()}
    return SimpleNamespace(spec=SimpleNamespace(seed=seed),
                           extras={"gradient_ics": {when: {"layers": layers} for when in ("initial", "trained")}})


def test_ics_means_its_layers_and_a_seed_without_a_finite_log_leaves_every_arm():
    plain = [ics_run(seed, {"dense2": 0.4, "dense3": 0.6}) for seed in (0, 1, 2)]
    bn = [ics_run(0, {"dense2": 0.1, "dense3": 0.3}), ics_run(1, {"dense2": None, "dense3": 0.1}),
          ics_run(2, {"dense2": 0.0, "dense3": 0.0})]
    assert designs.ics(plain[0], "initial") == pytest.approx(0.5) and designs.ics(bn[0], "trained") == pytest.approx(0.2)
    assert math.isnan(designs.ics(bn[1], "initial")), "a diverged layer"
    assert math.isnan(designs.log2_ics(bn[2], "initial")), "no change has no logarithm"
    paired, left_out = designs.finite_pairs({"plain": plain, "BN": bn}, lambda run: designs.log2_ics(run, "initial"))
    assert left_out == [1, 2]
    assert [run.spec.seed for run in paired["plain"]] == [run.spec.seed for run in paired["BN"]] == [0]


# ---------------------------------------------------------------------------------------------------
# P3: the change of a layer's gradient when the layers before it are updated


def ics_of(model, learning_rate: float) -> dict:
    from bnclaims.engines import probes

    x, y = tiny_data()
    return probes.gradient_ics(model, x, y, np.random.default_rng(0), learning_rate=learning_rate,
                               batch_size=32, from_logits=True, batches=3)


@pytest.mark.parametrize("batch_norm", ["before", "none"])
def test_gradient_ics_is_zero_when_the_earlier_layers_do_not_move(keras, batch_norm):
    """Placebo: with a zero learning rate the layers before i are where they were: G' = G exactly."""
    record = ics_of(tiny_model(0, batch_norm=batch_norm), 0.0)
    assert list(record["layers"]) == ["dense2", "dense3"]   # the first layer has none before it
    for layer in record["layers"].values():
        assert layer["l2"] == 0.0 and layer["relative"] == 0.0
        assert layer["cosine"] == pytest.approx(1.0, abs=1e-6)


@pytest.mark.parametrize("batch_norm", ["before", "none"])
def test_gradient_ics_is_positive_when_the_earlier_layers_take_a_step(keras, batch_norm):
    """Injected effect: a real SGD step of the layers before i changes i's gradient."""
    model = tiny_model(0, batch_norm=batch_norm)
    before = [keras.ops.convert_to_numpy(v.value) for v in model.variables]
    small, large = ics_of(model, 0.05), ics_of(model, 0.5)
    for name in small["layers"]:
        assert 0 < small["layers"][name]["l2"] < large["layers"][name]["l2"]
        assert small["layers"][name]["cosine"] > large["layers"][name]["cosine"]
    after = [keras.ops.convert_to_numpy(v.value) for v in model.variables]
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "the probe leaves the model as it was"


def test_gradient_ics_step_moves_only_the_layers_before_it(keras):
    """The step of G' moves the earlier layers only: moving every layer instead (the kernel of layer i
    too) gives another gradient, so the probe's G' is the one Santurkar et al. define."""
    from bnclaims.engines import probes

    model = tiny_model(0)
    x, y = tiny_data()
    gradient = probes._training_gradient_function(model, from_logits=True)
    weights = [keras.ops.convert_to_numpy(v.value) for v in model.trainable_variables]
    first = gradient(weights, x[:32], y[:32])
    # dense2's kernel: the first trainable weight of the second Dense layer.
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    kernel = next(i for i, v in enumerate(model.trainable_variables) if v is dense[1].kernel)
    earlier = [w - 0.5 * g if i < kernel else w for i, (w, g) in enumerate(zip(weights, first))]
    expected = first[kernel] - gradient(earlier, x[:32], y[:32])[kernel]
    record = probes.gradient_ics(model, x[:32], y[:32], np.random.default_rng(0), learning_rate=0.5,
                                 batch_size=32, from_logits=True, batches=1)
    assert record["layers"]["dense2"]["l2"] == pytest.approx(float(np.linalg.norm(expected)), rel=1e-5)


# ---------------------------------------------------------------------------------------------------
# P3-noisy: Santurkar et al.'s noise, per activation and per example


def test_per_example_noise_is_iid_per_example_new_every_step_and_training_only(keras):
    from bnclaims.engines.layers import RandomShiftScale

    layer = RandomShiftScale(1.0, seed=0, mode="per_example")
    x = np.zeros((4096, 6), dtype="float32")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x, training=False)), x)
    first = keras.ops.convert_to_numpy(layer(x, training=True))
    second = keras.ops.convert_to_numpy(layer(x, training=True))
    assert not np.allclose(first[0], first[1]), "each example draws its own noise"
    assert not np.allclose(first.mean(axis=0), second.mean(axis=0), atol=0.05), "a new distribution every step"
    # Per unit, a mean within [-1, 1] and a standard deviation within [0, 1], drawn anew each step.
    for draw in (first, second):
        assert np.all(np.abs(draw.mean(axis=0)) <= 1 + 0.1) and np.all(draw.std(axis=0) <= 1 + 0.1)
        assert np.ptp(draw.mean(axis=0)) > 0.1, "the mean differs from unit to unit: non-zero mean noise"
    again = RandomShiftScale(1.0, seed=0, mode="per_example")
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(again(x, training=True)), first)


def test_noise_mode_is_a_spec_field_that_keeps_the_shared_runs_keys():
    shared = RunSpec(bn_noise=1.0)
    assert shared.bn_noise_mode == "shared"
    assert "bn_noise_mode" not in shared.changed_fields()       # runs trained before the mode keep their keys
    per_example = shared.replace(bn_noise_mode="per_example")
    assert per_example.key() != shared.key() and "per_example" in per_example.label()
    with pytest.raises(SpecError, match="bn_noise_mode"):
        RunSpec(bn_noise=1.0, bn_noise_mode="per_batch")
    with pytest.raises(ValueError, match="mode"):
        from bnclaims.engines.layers import RandomShiftScale

        backend.load(threads=1)
        RandomShiftScale(1.0, mode="per_batch")


# ---------------------------------------------------------------------------------------------------
# Both engines record the same fields


@pytest.mark.slow
def test_both_engines_record_the_new_probes_with_the_same_fields():
    from bnclaims import runner
    from bnclaims.data import load_dataset

    backend.load(threads=1)
    dataset = load_dataset("digits")
    spec = RunSpec(dataset="digits", hidden=(16, 8), epochs=1, batch_size=64, learning_rate=0.1, bn_noise=0.5,
                   bn_noise_mode="per_example", record=("fixed_example_noise", "gradient_ics"))
    compiled = runner.train([spec], dataset, "compiled", threads=1)[0]
    fit = runner.train([spec], dataset, "fit", threads=1, isolated=True)[0]

    def shape(value):
        if isinstance(value, dict):
            return {key: shape(item) for key, item in value.items()}
        return len(value) if isinstance(value, list) else type(value).__name__

    for name in ("fixed_example_noise", "gradient_ics"):
        assert shape(compiled.extras[name]) == shape(fit.extras[name]), name
    for result in (compiled, fit):
        mean = result.extras["fixed_example_noise"]["mean"]
        assert all(a > b for a, b in zip(mean, mean[1:])), (result.environment["engine"], mean)
        for when in ("initial", "trained"):
            assert all(layer["l2"] > 0 for layer in result.extras["gradient_ics"][when]["layers"].values())
