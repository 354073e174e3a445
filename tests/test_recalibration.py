"""Recalibration of BN's moving statistics (bnclaims.engines.recalibration) and the A4 check that reads it.

The population statistics are tested against numpy on tiny models: exact for the first BN layer at any
batch size, exact layer by layer with the whole split as one batch, the batch moments aggregated
exactly at any batch size; a placebo (statistics already right: nothing changes) and an injected
effect (statistics wrong: recalibration restores them). The A4 recalibration check is shown to fail on
networks trained with their moving statistics left at the start (mean 0, variance 1) and to pass once
the same networks are recalibrated; both engines record the new fields.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnclaims import streams
from bnclaims import backend
from bnclaims.spec import RunSpec
from conftest import load_claim_module

EPSILON = 1e-3   # Keras BatchNormalization's default, which build_model keeps
SMALL = RunSpec(hidden=(8, 6), batch_size=32)


@pytest.fixture(scope="module")
def keras():
    return backend.load(threads=1)[1]


@pytest.fixture(scope="module")
def recalibration(keras):
    from bnclaims.engines import recalibration

    return recalibration


def small_model(seed: int = 0, spec: RunSpec = SMALL):
    from bnclaims.engines.model import build_model

    return build_model(spec, num_features=5, num_classes=3, seed=seed)


def pixels(n: int = 300, seed: int = 0) -> np.ndarray:
    """Non-negative inputs with a large mean and spread, as raw pixels have."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(100.0, 60.0, size=(n, 5)), 0, 255).astype(np.float32)


def numpy_population_statistics(model, keras, x: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Layer by layer in float64: each BN layer's inputs over all of x, the layers before it normalizing
    by the statistics of their own inputs over all of x (the whole split as one batch)."""
    statistics, values = [], np.asarray(x, np.float64)
    for layer in model.layers:
        kind = type(layer).__name__
        weights = [np.asarray(keras.ops.convert_to_numpy(w.value), np.float64) for w in layer.weights]
        if kind == "Dense":
            values = values @ weights[0] + (weights[1] if len(weights) > 1 else 0.0)
        elif kind == "BatchNormalization":
            gamma, beta = weights[0], weights[1]
            mean, variance = values.mean(axis=0), values.var(axis=0)
            statistics.append((mean, variance))
            values = gamma * (values - mean) / np.sqrt(variance + EPSILON) + beta
        elif kind == "Activation":
            values = np.maximum(values, 0.0)
    return statistics


def assert_statistics_close(found, expected, rtol=1e-4):
    assert len(found) == len(expected)
    for (mean, variance), (want_mean, want_variance) in zip(found, expected):
        scale = np.sqrt(want_variance) + 1e-6
        np.testing.assert_allclose(mean / scale, want_mean / scale, rtol=0, atol=rtol * 10)
        np.testing.assert_allclose(variance, want_variance, rtol=rtol)


@pytest.mark.parametrize("batch_size", [300, 32, 7])
def test_first_layer_statistics_are_numpys_at_any_batch_size(keras, recalibration, batch_size):
    model, x = small_model(), pixels()
    found = recalibration.population_statistics(model, x, batch_size, np.random.default_rng(1))
    kernel = np.asarray(keras.ops.convert_to_numpy(model.layers[0].kernel.value), np.float64)
    inputs = x.astype(np.float64) @ kernel
    assert_statistics_close(found[:1], [(inputs.mean(axis=0), inputs.var(axis=0))])


def test_the_whole_split_as_one_batch_is_exact_layer_by_layer(keras, recalibration):
    model, x = small_model(), pixels()
    found = recalibration.population_statistics(model, x, len(x))
    assert len(found) == 2
    assert_statistics_close(found, numpy_population_statistics(model, keras, x))


def test_batch_moments_are_aggregated_exactly(keras, recalibration):
    """At a small batch size the later layers' inputs depend on the batches; their statistics are those
    of all the training-mode inputs together (the variance of the union, not the mean of the batch
    variances), with a last, smaller batch weighed by its size."""
    model, x, batch = small_model(), pixels(n=301), 8
    found = recalibration.population_statistics(model, x, batch, np.random.default_rng(5))
    probe = keras.Model(model.inputs[0], [layer.input for layer in recalibration.normalization_layers(model)])
    order = np.random.default_rng(5).permutation(len(x))
    per_batch = [probe(x[order[i:i + batch]], training=True) for i in range(0, len(x), batch)]
    expected = []
    for position in range(2):
        inputs = np.concatenate([np.asarray(keras.ops.convert_to_numpy(b[position]), np.float64) for b in per_batch])
        expected.append((inputs.mean(axis=0), inputs.var(axis=0)))
    assert_statistics_close(found, expected)
    sizes = [len(order[i:i + batch]) for i in range(0, len(x), batch)]
    mean_of_batch_variances = np.average(
        [np.asarray(keras.ops.convert_to_numpy(b[1]), np.float64).var(axis=0) for b in per_batch], axis=0,
        weights=sizes)
    # The spread of the batch means belongs to the population variance.
    assert np.all(found[1][1] >= mean_of_batch_variances * (1 - 1e-5))
    assert np.sum(found[1][1]) > np.sum(mean_of_batch_variances)


def test_placebo_statistics_already_right_stay_unchanged(keras, recalibration):
    model, x = small_model(), pixels()
    right = [(m.astype(np.float32), v.astype(np.float32)) for m, v in numpy_population_statistics(model, keras, x)]
    recalibration.set_moving_statistics(model, right)
    weights = [np.array(keras.ops.convert_to_numpy(w.value)) for w in model.trainable_variables]
    recalibration.recalibrate(model, x, len(x))
    assert_statistics_close(recalibration.moving_statistics(model), right)
    for before, after in zip(weights, model.trainable_variables):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(after.value))


def test_injected_wrong_statistics_are_restored(keras, recalibration):
    model, x = small_model(), pixels()
    right = numpy_population_statistics(model, keras, x)
    wrong = [((m + 3 * np.sqrt(v)).astype(np.float32), (10 * v).astype(np.float32)) for m, v in right]
    recalibration.set_moving_statistics(model, wrong)
    full_batch = recalibration.training_mode_outputs(model, x, len(x))
    assert not np.allclose(recalibration.inference_outputs(model, x), full_batch, rtol=1e-3, atol=1e-3)
    recalibration.recalibrate(model, x, len(x))
    assert_statistics_close(recalibration.moving_statistics(model), right)
    # Inference with population statistics is the network in training mode on the whole split.
    np.testing.assert_allclose(recalibration.inference_outputs(model, x), full_batch, rtol=1e-4, atol=1e-5)


def test_evaluations_leave_the_model_as_they_found_it(keras, recalibration):
    model, x = small_model(), pixels()
    state = [np.array(keras.ops.convert_to_numpy(v.value)) for v in model.non_trainable_variables]
    recalibrated = recalibration.recalibrated_outputs(model, x, x[:50], 16, np.random.default_rng(0))
    training_mode = recalibration.training_mode_outputs(model, x[:50], 16, np.random.default_rng(0))
    for before, variable in zip(state, model.non_trainable_variables):
        np.testing.assert_array_equal(before, keras.ops.convert_to_numpy(variable.value))
    assert recalibrated.shape == training_mode.shape == (50, 3)
    assert not np.allclose(recalibrated, recalibration.inference_outputs(model, x[:50]))


def test_training_mode_outputs_come_back_in_input_order(recalibration):
    model, x = small_model(), pixels(n=64)
    in_order = recalibration.training_mode_outputs(model, x, len(x))
    shuffled = recalibration.training_mode_outputs(model, x, len(x), np.random.default_rng(3))
    np.testing.assert_allclose(shuffled, in_order, rtol=1e-5, atol=1e-6)   # one batch: order is irrelevant
    in_batches = recalibration.training_mode_outputs(model, x, 8, np.random.default_rng(3))
    assert not np.allclose(in_batches, in_order, rtol=1e-3, atol=1e-3)    # batches of 8: their own statistics


def test_diverged_weights_give_nan_not_an_error(keras, recalibration):
    model, x = small_model(), pixels()
    kernel = model.layers[0].kernel
    kernel.assign(np.full(tuple(kernel.shape), np.nan, np.float32))
    statistics = recalibration.population_statistics(model, x, 32)
    assert all(np.all(np.isnan(mean)) for mean, _ in statistics)
    spec = SMALL.replace(record=("recalibrated", "training_mode_test"))
    recorded = recalibration.record(spec, model, x, x[:40], np.zeros(40, np.int64))
    assert recorded["recalibrated"]["loss"] is None and recorded["training_mode_test"]["loss"] is None


def test_a_model_without_bn_has_nothing_to_recalibrate(recalibration):
    model, x = small_model(spec=SMALL.replace(batch_norm="none")), pixels()
    assert recalibration.population_statistics(model, x, 32) == []
    np.testing.assert_allclose(recalibration.recalibrated_outputs(model, x, x, 32),
                               recalibration.inference_outputs(model, x))


# ----------------------------------------------------------------------------------------------------
# The A4 recalibration check on networks whose moving statistics were left at their start


def a4_module():
    return load_claim_module("test_no_input_normalization", "a4_claims_under_test")


@pytest.fixture(scope="module")
def frozen_statistics_networks(keras, recalibration):
    """Per seed, the talk's model trained briefly on the digits at pixel scale 0..255 ("raw") and 0..1
    ("scaled"), the same initial weights and batches for both, with BN's momentum at 1: the moving
    statistics stay at their start (mean 0, variance 1) however long it trains."""
    from bnclaims.data import load_dataset
    from bnclaims.engines.model import build_model

    data = load_dataset("digits")
    spec = RunSpec(dataset="digits", hidden=(32, 16), batch_size=64, learning_rate=0.1)
    scales = {"raw": 255.0 / data.pixel_max, "scaled": 1.0 / data.pixel_max}
    networks = {name: [] for name in scales}
    for seed in range(6):   # the exact sign test reaches the family's 0.025 from 6 seeds
        order = np.random.default_rng(seed).permutation(len(data.y_train))
        targets = keras.utils.to_categorical(data.y_train[order], data.num_classes)
        for name, scale in scales.items():
            model = build_model(spec, data.num_features, data.num_classes, seed=seed)
            for layer in recalibration.normalization_layers(model):
                layer.momentum = 1.0
            model.compile(optimizer=keras.optimizers.SGD(spec.learning_rate), loss="categorical_crossentropy")
            x_train = data.x_train.astype(np.float32)[order] * np.float32(scale)
            model.fit(x_train, targets, batch_size=spec.batch_size, epochs=4, shuffle=False, verbose=0)
            networks[name].append((seed, model, x_train, data.x_test.astype(np.float32) * np.float32(scale)))
    return networks, data.y_test


@pytest.mark.slow
def test_the_a4_recalibration_check_fails_with_start_statistics_and_passes_recalibrated(
        frozen_statistics_networks, recalibration):
    from bnclaims.evidence import every_seed_within, measured

    networks, y_test = frozen_statistics_networks
    a4 = a4_module()
    check = a4.CHECKS["A4-global.recalibrated"]

    def outcome() -> str:
        accuracy = {name: [float(np.mean(np.argmax(recalibration.inference_outputs(model, x_test), axis=1) == y_test))
                           for _, model, _, x_test in networks[name]] for name in networks}
        seeds = [seed for seed, *_ in networks["raw"]]
        gaps = np.subtract(accuracy["raw"], accuracy["scaled"])
        return measured(check, **every_seed_within(gaps, seeds, -a4.TOLERANCE, a4.TOLERANCE, what="gap")).outcome

    for name in networks:
        for _, model, _, _ in networks[name]:
            for mean, variance in recalibration.moving_statistics(model):
                assert np.all(mean == 0) and np.all(variance == 1), "the statistics were left at their start"
    assert outcome() == "fails"

    for name in networks:
        for seed, model, x_train, _ in networks[name]:
            recalibration.recalibrate(model, x_train, 64,
                                        streams.generator("recalibration", seed))
    assert outcome() == "holds"


# ----------------------------------------------------------------------------------------------------
# Both engines record the fields


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["compiled", "fit"])
def test_both_engines_record_recalibrated_and_training_mode_test(engine, tmp_path_factory):
    from test_training import TINY, session_runs

    recorded = TINY.replace(record=("recalibrated", "training_mode_test"))
    plain_run, raw, scaled = session_runs(tmp_path_factory, [TINY, recorded.replace(input_scaling="raw"), recorded],
                                          engine)
    for run in (raw, scaled):
        for name in ("recalibrated", "training_mode_test"):
            value = run.extras[name]
            assert 0.5 <= value["accuracy"] <= 1.0 and value["loss"] > 0 and value["batch_size"] == TINY.batch_size
    assert "recalibrated" not in plain_run.extras
    # Recording changes nothing about training.
    assert scaled.history == plain_run.history and scaled.test_accuracy == plain_run.test_accuracy
    # The tiny runs' moving statistics still carry their start; recalibrated, raw and scaled agree.
    assert abs(raw.extras["recalibrated"]["accuracy"] - scaled.extras["recalibrated"]["accuracy"]) < 0.02
