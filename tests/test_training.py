"""Training on tiny data: determinism, recorded outcomes (divergence, collapse), the Lab and its cache."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnclaims import backend
from bnclaims.data import load_dataset
from bnclaims.lab import Lab
from bnclaims.results import COLLAPSE_SHARE, is_collapsed
from bnclaims.settings import Settings
from bnclaims.spec import RunSpec

TINY = RunSpec(dataset="digits", hidden=(32, 16), epochs=3, batch_size=64, learning_rate=0.1)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def train():
    backend.load(threads=1)
    from bnclaims.training import train as train_spec

    return lambda spec: train_spec(spec, load_dataset(spec.dataset))


def test_same_spec_gives_identical_runs(train):
    first, second = train(TINY), train(TINY)
    assert first.history == second.history
    assert first.test_accuracy == second.test_accuracy
    assert first.prediction_histogram == second.prediction_histogram


def test_another_seed_gives_another_run(train):
    assert train(TINY).history != train(TINY.replace(seed=1)).history


def test_history_has_one_value_per_epoch_and_learns(train):
    result = train(TINY)
    assert {len(v) for v in result.history.values()} == {TINY.epochs}
    assert result.outcome == "trained" and result.epochs_completed == TINY.epochs
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.test_accuracy > 0.5          # ten classes: chance is 0.1
    assert sum(result.prediction_histogram) == len(load_dataset("digits").y_test)


@pytest.mark.parametrize("placement", ["none", "before", "after"])
def test_every_bn_placement_trains(train, placement):
    assert train(TINY.replace(batch_norm=placement, epochs=1)).outcome == "trained"


def test_model_follows_the_talk():
    from bnclaims.model import build_model

    names = [layer.__class__.__name__ for layer in build_model(RunSpec(hidden=(8, 4)), 784, 10).layers]
    assert names == ["Dense", "BatchNormalization", "Activation"] * 2 + ["Dense"]
    dense = build_model(RunSpec(hidden=(8,)), 784, 10).layers[0]
    assert dense.use_bias is False, "BN's beta replaces the bias"
    plain = build_model(RunSpec(hidden=(8,), batch_norm="none", dropout=0.5, l2=1e-3), 784, 10)
    assert [layer.__class__.__name__ for layer in plain.layers] == ["Dense", "Activation", "Dropout", "Dense"]
    assert plain.layers[0].kernel_regularizer is not None


def test_divergence_is_an_outcome_not_an_error(train):
    exploding = TINY.replace(batch_norm="none", input_scaling="raw", learning_rate=1e4)
    result = train(exploding)
    assert result.diverged and result.outcome == "diverged"
    assert any(math.isnan(v) for v in result.history["train_loss"])
    assert math.isnan(result.test_loss)
    assert 0.0 <= result.test_accuracy <= 1.0   # NaN outputs still predict a class: recorded as such


def test_train_inference_is_recorded_on_request(train):
    result = train(TINY.replace(record=("train_inference",)))
    assert 0.0 <= result.extras["train_inference"]["accuracy"] <= 1.0
    assert "train_inference" not in train(TINY).extras


@pytest.mark.parametrize("histogram, collapsed", [
    ([100, 0, 0, 0], True), ([90, 10, 0, 0], True), ([89, 11, 0, 0], False), ([25, 25, 25, 25], False),
    ([0, 0, 0, 0], False),
])
def test_collapse_detection(histogram, collapsed):
    assert COLLAPSE_SHARE == 0.9
    assert is_collapsed(histogram) is collapsed


def test_lab_serves_the_second_request_from_cache(tmp_path):
    settings = Settings.resolve(dataset="digits", seeds="2", cache_dir=str(tmp_path), root=tmp_path)
    lines = []
    first_lab = Lab(settings, lines.append)
    first = first_lab.across_seeds(TINY, context="test")
    second_lab = Lab(settings, lines.append)   # a new process would start like this
    second = second_lab.across_seeds(TINY, context="test")
    assert [r.spec.seed for r in first] == [0, 1]
    assert [r.test_accuracy for r in first] == [r.test_accuracy for r in second]
    assert [rec.from_cache for rec in first_lab.records] == [False, False]
    assert [rec.from_cache for rec in second_lab.records] == [True, True]
    assert "trained in" in lines[0] and "cache hit" in lines[-1]
    assert np.isfinite([r.wall_seconds for r in second]).all()


def test_ghost_batch_norm_matches_keras_bn_with_one_group_and_differs_with_small_groups():
    tf, keras = backend.load(threads=1)
    from bnclaims.layers import GhostBatchNormalization

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 5)).astype("float32")
    reference = keras.layers.BatchNormalization()
    whole = GhostBatchNormalization(64)
    expected = reference(x, training=True).numpy()
    np.testing.assert_allclose(whole(x, training=True).numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(whole.moving_mean.numpy(), reference.moving_mean.numpy(), atol=1e-6)
    # Groups of 8: each group of 8 consecutive rows is normalized on its own.
    grouped = GhostBatchNormalization(8)(x, training=True).numpy()
    first = x[:8]
    np.testing.assert_allclose(grouped[:8], (first - first.mean(0)) / np.sqrt(first.var(0) + 1e-3), atol=1e-5)
    assert not np.allclose(grouped, expected, atol=1e-3)
    # A remainder smaller than a group is normalized as a group of its own.
    assert GhostBatchNormalization(24)(x, training=True).shape == x.shape


def test_ghost_batch_spec_trains(train):
    result = train(TINY.replace(bn_group=16, epochs=1))
    assert result.outcome == "trained"
    with pytest.raises(Exception, match="bn_group needs batch_norm"):
        TINY.replace(bn_group=16, batch_norm="none")


def test_bn_input_noise_probe_falls_like_one_over_batch(train):
    from bnclaims import stats

    noise = train(TINY.replace(record=("bn_input_noise",))).extras["bn_input_noise"]
    assert list(noise["layers"]) == ["bn1", "bn2"]
    slope = stats.loglog_slope(noise["batch_sizes"], noise["layers"]["bn1"]["var_of_mean"]).slope.point
    assert -1.15 < slope < -0.85


def test_gradient_noise_probe_falls_like_one_over_batch(train):
    from bnclaims import stats

    noise = train(TINY.replace(batch_norm="none", record=("gradient_noise",))).extras["gradient_noise"]
    assert noise["full_gradient_norm"] > 0
    slope = stats.loglog_slope(noise["batch_sizes"], noise["mean_squared_deviation"]).slope.point
    assert -1.15 < slope < -0.85


def test_percentile_probe_records_every_epoch_and_does_not_change_training(train):
    probed = train(TINY.replace(record=("preactivation_percentiles",)))
    snapshots = np.array(probed.extras["preactivation_percentiles"]["snapshots"])
    assert snapshots.shape == (TINY.epochs + 1, 3, TINY.hidden[-1])
    assert np.all(snapshots[:, 0] <= snapshots[:, 1]) and np.all(snapshots[:, 1] <= snapshots[:, 2])
    # The probe restores BN's moving statistics: training is exactly the unprobed run.
    assert probed.history == train(TINY).history


def test_random_shift_scale_is_training_only_and_changes_every_call():
    tf, keras = backend.load(threads=1)
    from bnclaims.layers import RandomShiftScale

    keras.utils.set_random_seed(0)
    layer = RandomShiftScale(1.0)
    x = np.ones((4, 3), dtype="float32")
    np.testing.assert_array_equal(layer(x, training=False).numpy(), x)
    first, second = layer(x, training=True).numpy(), layer(x, training=True).numpy()
    assert not np.allclose(first, second), "a new shift and scale at every step"
    np.testing.assert_allclose(first, first[:1].repeat(4, axis=0))   # one draw shared by the batch
    assert np.all(np.abs(first - 1) <= 1 + 2 ** 0.5)
