"""Both engines on tiny data: determinism, the recorded history and steps, outcomes (divergence,
collapse), the probes, the layers, and the Lab with its cache.

Each engine trains every run this module looks at once per session (a run cache shared by the
pytest-xdist workers): the compiled engine in this process, Keras fit on TensorFlow in a subprocess
(one Keras backend per process).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

import os

from bnclaims import backend, runner
from bnclaims.cache import RunCache
from bnclaims.data import load_dataset
from bnclaims.lab import Lab
from bnclaims.results import COLLAPSE_SHARE, is_collapsed, log_steps
from bnclaims.settings import Settings
from bnclaims.spec import RunSpec, run_key

TINY = RunSpec(dataset="digits", hidden=(32, 16), epochs=3, batch_size=64, learning_rate=0.1)
STEPS = TINY.epochs * math.ceil(1150 / TINY.batch_size)   # digits: 1,150 training images

RUNS = {
    "tiny": TINY,
    "tiny again": TINY,
    "seed 1": TINY.replace(seed=1),
    "plain": TINY.replace(batch_norm="none"),
    "after": TINY.replace(batch_norm="after"),
    "exploding": TINY.replace(batch_norm="none", input_scaling="raw", learning_rate=1e30),
    "train inference": TINY.replace(record=("train_inference",)),
    "ghost": TINY.replace(bn_group=16),
    "regularized": TINY.replace(dropout=0.2, l2=1e-3, momentum=0.9, bn_noise=0.5),
    "bn noise probe": TINY.replace(record=("bn_input_noise",)),
    "gradient probe": TINY.replace(batch_norm="none", record=("gradient_noise",)),
    "percentile probe": TINY.replace(record=("preactivation_percentiles",)),
}

pytestmark = pytest.mark.slow


def session_runs(tmp_path_factory, specs: list[RunSpec], engine: str) -> list:
    """Train specs with `engine` once per test session, whichever worker asks first (the others wait
    on the cache's locks and read). Repeated specs are trained again: determinism is under test."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    cache = RunCache(shared / "bnclaims-test-runs")
    backend.load(threads=1)   # JAX, unless this worker already runs TensorFlow: then compiled goes out
    dataset = load_dataset(specs[0].dataset)
    context = runner.context(engine, dataset)
    repeats = [sum(s == t for t in specs[:i]) for i, s in enumerate(specs)]
    # A repeated spec gets a key of its own, so the repeat is trained, not served from the cache.
    keys = [run_key(spec, context) + (f"-repeat{r}" if r else "") for spec, r in zip(specs, repeats)]

    def train(missing):
        results = runner.train([specs[m] for m in missing], dataset, engine, threads=1, ctx=context)
        return [dataclasses.replace(result, key=keys[m]) for m, result in zip(missing, results)]

    return [result for result, _ in cache.get_or_train_many(keys, train)]


@pytest.fixture(scope="module", params=["compiled", "fit"])
def runs(request, tmp_path_factory):
    names = list(RUNS)
    return dict(zip(names, session_runs(tmp_path_factory, [RUNS[n] for n in names], request.param)))


def test_same_spec_gives_identical_runs(runs):
    first, second = runs["tiny"], runs["tiny again"]
    assert first.history == second.history
    assert first.steps == second.steps
    assert first.test_accuracy == second.test_accuracy
    assert first.prediction_histogram == second.prediction_histogram


def test_another_seed_gives_another_run(runs):
    assert runs["tiny"].history != runs["seed 1"].history


def test_history_has_one_value_per_epoch_and_learns(runs):
    result = runs["tiny"]
    assert {len(v) for v in result.history.values()} == {TINY.epochs}
    assert result.outcome == "trained" and result.epochs_completed == TINY.epochs
    assert result.diverged_step is None
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    assert result.test_accuracy > 0.5          # ten classes: chance is 0.1
    assert sum(result.prediction_histogram) == len(load_dataset("digits").y_test)


def test_step_record_is_log_spaced_and_ends_where_the_history_ends(runs):
    steps = runs["tiny"].steps
    assert steps["step"] == log_steps(STEPS) and steps["step"][-1] == STEPS
    assert 15 <= len(steps["step"]) <= 20
    # The last logged step is the end of the last epoch: the same model on the same validation split.
    assert steps["val_accuracy"][-1] == pytest.approx(runs["tiny"].history["val_accuracy"][-1], abs=1e-6)
    # The first mini-batch of an untrained 10-class softmax costs about ln 10.
    assert steps["train_loss"][0] == pytest.approx(math.log(10), abs=0.5)
    assert np.mean(steps["train_loss"][-3:]) < steps["train_loss"][0] - 0.5
    assert all(0.0 <= a <= 1.0 for a in steps["val_accuracy"])


def test_log_steps():
    assert log_steps(1) == [1]
    # 250 ** (k / 19) for k = 0..19, rounded, repeats dropped: 1, 1.34, 1.79, 2.39, 3.20, ..., 104.55, 139.81, ...
    assert log_steps(250) == [1, 2, 3, 4, 6, 8, 10, 14, 18, 24, 33, 44, 58, 78, 105, 140, 187, 250]
    # 3750 ** (1 / 19) = 1.54: the second and third values both round to 2
    assert len(log_steps(3750)) == 19 and log_steps(0) == []


@pytest.mark.parametrize("name", ["plain", "after", "ghost", "regularized"])
def test_every_architecture_trains(runs, name):
    assert runs[name].outcome == "trained"
    assert runs[name].test_accuracy > 0.3


def test_model_follows_the_talk():
    backend.load(threads=1)
    from bnclaims.engines.model import build_model

    names = [layer.__class__.__name__ for layer in build_model(RunSpec(hidden=(8, 4)), 784, 10).layers]
    assert names == ["Dense", "BatchNormalization", "Activation"] * 2 + ["Dense"]
    dense = build_model(RunSpec(hidden=(8,)), 784, 10).layers[0]
    assert dense.use_bias is False, "BN's beta replaces the bias"
    plain = build_model(RunSpec(hidden=(8,), batch_norm="none", dropout=0.5, l2=1e-3), 784, 10)
    assert [layer.__class__.__name__ for layer in plain.layers] == ["Dense", "Activation", "Dropout", "Dense"]
    assert plain.layers[0].kernel_regularizer is not None
    assert plain.layers[-1].activation.__name__ == "softmax"


def test_explicitly_seeded_models_repeat_and_differ_by_seed():
    backend.load(threads=1)
    from bnclaims.engines.model import build_model

    spec = RunSpec(hidden=(8,), dropout=0.5, bn_noise=0.5)
    weights = lambda seed: [np.asarray(v.value) for v in build_model(spec, 20, 10, seed=seed).variables]
    first, again, other = weights(3), weights(3), weights(4)
    assert all(np.array_equal(a, b) for a, b in zip(first, again))
    assert not np.array_equal(first[0], other[0])
    kernels = [w for w in first if w.ndim == 2]
    assert not np.array_equal(kernels[0][:8, :8], kernels[1][:8, :8]), "each layer draws its own values"


def test_divergence_is_an_outcome_not_an_error(runs):
    result = runs["exploding"]
    assert result.diverged and result.outcome == "diverged"
    assert result.diverged_step is not None and 1 <= result.diverged_step <= STEPS
    assert any(math.isnan(v) for v in result.history["train_loss"])
    steps_per_epoch = STEPS // TINY.epochs
    assert result.epochs_completed == (result.diverged_step - 1) // steps_per_epoch + 1
    assert all(math.isnan(v) for v in result.history["val_loss"][result.epochs_completed:])
    assert math.isnan(result.test_loss)
    assert 0.0 <= result.test_accuracy <= 1.0   # NaN outputs still predict a class: recorded as such
    # The step record stops where training stopped.
    assert result.steps["step"][-1] <= result.diverged_step
    assert set(result.steps["step"]) <= set(log_steps(STEPS))


def test_train_inference_is_recorded_on_request(runs):
    recorded = runs["train inference"].extras["train_inference"]
    assert 0.5 <= recorded["accuracy"] <= 1.0 and recorded["loss"] > 0
    assert "train_inference" not in runs["tiny"].extras
    # Recording changes nothing about training.
    assert runs["train inference"].history == runs["tiny"].history


@pytest.mark.parametrize("probed, unprobed", [("bn noise probe", "tiny"), ("percentile probe", "tiny"),
                                              ("gradient probe", "plain")])
def test_probes_change_nothing_about_training(runs, probed, unprobed):
    """The Lab trains one run of a base configuration for every claim that asks for it, whatever probes
    each asks for (bnclaims.lab.SHARED_BASE_RECORDS): sound only because probing leaves training as it
    was, in both engines."""
    first, second = runs[probed], runs[unprobed]
    assert first.history == second.history and first.steps == second.steps
    assert first.test_loss == second.test_loss and first.prediction_histogram == second.prediction_histogram


def test_the_lab_asks_for_a_base_configuration_with_every_shared_probe(tmp_path):
    """Requests for the base configuration, whichever probes they name, become one spec per seed (one
    run key); any other configuration keeps the probes it asked for."""
    from bnclaims.lab import SHARED_BASE_RECORDS

    lab = Lab(Settings.resolve(seeds="2", cache_dir=str(tmp_path), root=tmp_path), say=lambda line: None)
    base = lab.base_spec()
    asked = [base, base.replace(record=("fixed_example_noise", "bn_input_noise")),
             base.replace(record=("recalibrated", "training_mode_test"))]
    assert {lab.shared(spec) for spec in asked} == {base.replace(record=SHARED_BASE_RECORDS["before"])}
    assert lab.shared(base.replace(seed=3)) == base.replace(seed=3, record=SHARED_BASE_RECORDS["before"])
    plain = lab.base_spec(batch_norm="none", record=("gradient_ics",))
    assert lab.shared(plain).record == tuple(sorted(SHARED_BASE_RECORDS["none"]))
    for other in (base.replace(learning_rate=1.0), base.replace(input_scaling="raw", record=("recalibrated",)),
                  base.replace(batch_norm="after"), base.replace(epochs=1, record=("bn_input_noise",))):
        assert lab.shared(other) == other


@pytest.mark.parametrize("histogram, collapsed", [
    ([100, 0, 0, 0], True), ([90, 10, 0, 0], True), ([89, 11, 0, 0], False), ([25, 25, 25, 25], False),
    ([0, 0, 0, 0], False),
])
def test_collapse_detection(histogram, collapsed):
    assert COLLAPSE_SHARE == 0.9
    assert is_collapsed(histogram) is collapsed


def test_lab_serves_the_second_request_from_cache(tmp_path):
    settings = Settings.resolve(dataset="digits", seeds="2", cache_dir=str(tmp_path), root=tmp_path, threads=1)
    lines = []
    first_lab = Lab(settings, lines.append)
    first = first_lab.across_seeds(TINY, context="test")
    second_lab = Lab(settings, lines.append)   # a new process would start like this
    second = second_lab.across_seeds(TINY, context="test")
    assert [r.spec.seed for r in first] == [0, 1]
    assert [r.test_accuracy for r in first] == [r.test_accuracy for r in second]
    assert [rec.from_cache for rec in first_lab.records] == [False, False]
    assert [rec.from_cache for rec in second_lab.records] == [True, True]
    assert "trained in" in lines[0].line() and "from the cache: trained, test acc" in lines[-1].line()
    assert np.isfinite([r.wall_seconds for r in second]).all()
    assert first[0].environment["engine"] == "compiled" and first[0].environment["backend"] == "jax"


def _numpy(value):
    _, keras = backend.load()
    return keras.ops.convert_to_numpy(value)


def test_ghost_batch_norm_matches_keras_bn_with_one_group_and_differs_with_small_groups():
    _, keras = backend.load(threads=1)
    from bnclaims.engines.layers import GhostBatchNormalization

    x = np.random.default_rng(0).normal(3.0, 2.0, size=(64, 5)).astype("float32")
    reference = keras.layers.BatchNormalization()
    whole = GhostBatchNormalization(64)
    expected = _numpy(reference(x, training=True))
    np.testing.assert_allclose(_numpy(whole(x, training=True)), expected, atol=1e-5)
    np.testing.assert_allclose(_numpy(whole.moving_mean.value), _numpy(reference.moving_mean.value), atol=1e-6)
    # Groups of 8: each group of 8 consecutive rows is normalized on its own.
    grouped = _numpy(GhostBatchNormalization(8)(x, training=True))
    first = x[:8]
    np.testing.assert_allclose(grouped[:8], (first - first.mean(0)) / np.sqrt(first.var(0) + 1e-3), atol=1e-5)
    assert not np.allclose(grouped, expected, atol=1e-3)
    # A remainder smaller than a group is normalized as a group of its own.
    remainder = _numpy(GhostBatchNormalization(24)(x, training=True))
    last = x[48:]
    np.testing.assert_allclose(remainder[48:], (last - last.mean(0)) / np.sqrt(last.var(0) + 1e-3), atol=1e-5)


def test_ghost_batch_norm_needs_batch_norm():
    with pytest.raises(Exception, match="bn_group needs batch_norm"):
        TINY.replace(bn_group=16, batch_norm="none")


def test_bn_input_noise_probe_falls_like_one_over_batch(runs):
    from bnclaims import stats

    noise = runs["bn noise probe"].extras["bn_input_noise"]
    assert list(noise["layers"]) == ["bn1", "bn2"]
    slope = stats.loglog_slope(noise["batch_sizes"], noise["layers"]["bn1"]["var_of_mean"]).slope.point
    assert -1.15 < slope < -0.85


def test_gradient_noise_probe_falls_like_one_over_batch(runs):
    from bnclaims import stats

    noise = runs["gradient probe"].extras["gradient_noise"]
    assert noise["full_gradient_norm"] > 0
    slope = stats.loglog_slope(noise["batch_sizes"], noise["mean_squared_deviation"]).slope.point
    assert -1.15 < slope < -0.85


def test_percentile_probe_records_every_epoch_and_does_not_change_training(runs):
    probed = runs["percentile probe"]
    snapshots = np.array(probed.extras["preactivation_percentiles"]["snapshots"])
    assert snapshots.shape == (TINY.epochs + 1, 3, TINY.hidden[-1])
    assert np.all(snapshots[:, 0] <= snapshots[:, 1]) and np.all(snapshots[:, 1] <= snapshots[:, 2])
    assert not np.allclose(snapshots[0], snapshots[-1]), "training moves the pre-activations"
    # The probe restores the model's state (BN's moving statistics): training is exactly the unprobed run.
    assert probed.history == runs["tiny"].history


def test_random_shift_scale_is_training_only_and_changes_every_call():
    _, keras = backend.load(threads=1)
    from bnclaims.engines.layers import RandomShiftScale

    layer = RandomShiftScale(1.0, seed=0)
    x = np.ones((4, 3), dtype="float32")
    np.testing.assert_array_equal(_numpy(layer(x, training=False)), x)
    first, second = _numpy(layer(x, training=True)), _numpy(layer(x, training=True))
    assert not np.allclose(first, second), "a new shift and scale at every step"
    np.testing.assert_allclose(first, first[:1].repeat(4, axis=0))   # one draw shared by the batch
    assert np.all(np.abs(first - 1) <= 1 + 2 ** 0.5)


def test_a_compiled_sgd_step_learns_on_this_process_backend():
    """The step claim P2 times: compiled once, called repeatedly, and each call is a real update."""
    backend.load(threads=1)
    from bnclaims import steps
    from bnclaims.engines.model import build_model

    dataset = load_dataset("digits")
    model = build_model(RunSpec(hidden=(16,), batch_norm="none"), dataset.num_features, 10, seed=0)
    x = steps.on_device(dataset.x_train[:256].astype("float32") / 16)
    y = steps.on_device(np.eye(10, dtype="float32")[dataset.y_train[:256]])
    step = steps.sgd_step(model, learning_rate=0.5)
    losses = [float(step(x, y)) for _ in range(20)]
    assert losses[0] == pytest.approx(math.log(10), abs=0.5)
    assert losses[-1] < losses[0] - 0.5


def test_swapping_the_data_behind_a_dataset_name_retrains(tmp_path):
    """Same name, other contents: the run is trained again, not served from the cache."""
    from test_data import IDX_NAMES, write_idx, write_idx_folder

    arrays = write_idx_folder(tmp_path / "data", n_train=60, n_test=20)
    name = f"idx:{tmp_path / 'data'}"
    spec = RunSpec(dataset=name, hidden=(8,), epochs=1, batch_size=16, learning_rate=0.1)
    settings = Settings.resolve(dataset=name, seeds="2", cache_dir=str(tmp_path / "cache"), root=tmp_path, threads=1)
    try:
        load_dataset.cache_clear()
        first = Lab(settings, lambda line: None)
        before = first.run(spec)
        again = Lab(settings, lambda line: None)
        assert again.run(spec).key == before.key and again.records[-1].from_cache
        labels = arrays["test_labels"].copy()
        labels[0] = (labels[0] + 1) % 10
        write_idx(tmp_path / "data" / IDX_NAMES["test_labels"], labels)
        load_dataset.cache_clear()   # a new session reads the files again
        swapped = Lab(settings, lambda line: None)
        after = swapped.run(spec)
        assert not swapped.records[-1].from_cache and after.key != before.key
        assert after.environment["data"] == load_dataset(name).fingerprint != before.environment["data"]
    finally:
        load_dataset.cache_clear()
