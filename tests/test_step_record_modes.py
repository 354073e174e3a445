"""The step-level record's two accuracy modes: both engines record the same fields; without BN (and
without dropout or noise) training and inference mode are the same function, so their accuracies agree
exactly, while with BN they differ; recording the training-mode accuracy disturbs no run; a stored run
that lacks the field is a damaged entry, trained again."""

from __future__ import annotations

import numpy as np
import pytest

from bnclaims import backend
from bnclaims.cache import DamagedEntryWarning, RunCache
from bnclaims.results import STEP_KEYS, log_steps
from bnclaims.spec import RunSpec
from test_training import RUNS, session_runs


@pytest.fixture(scope="module", params=["compiled", "fit"])
def runs(request, tmp_path_factory):
    names = ["tiny", "plain"]
    return dict(zip(names, session_runs(tmp_path_factory, [RUNS[n] for n in names], request.param)))


@pytest.mark.slow
def test_both_modes_are_recorded_and_agree_exactly_without_bn(runs):
    for run in runs.values():
        assert set(run.steps) == set(STEP_KEYS)
        assert {len(values) for values in run.steps.values()} == {len(run.steps["step"])}
    plain = runs["plain"].steps
    assert plain["val_accuracy_train_mode"] == plain["val_accuracy"]
    with_bn = runs["tiny"].steps
    assert with_bn["val_accuracy_train_mode"] != with_bn["val_accuracy"], "BN's batch statistics are another function"
    assert all(0.0 <= a <= 1.0 for a in with_bn["val_accuracy_train_mode"])


def test_the_reference_engines_training_mode_pass_changes_no_state():
    backend.load(threads=1)
    import keras

    from bnclaims.engines.model import build_model
    from bnclaims.engines.fit import _step_record

    spec = RunSpec(hidden=(8,), dropout=0.5, bn_noise=0.5)
    model = build_model(spec, 20, 10, seed=0)
    x = np.random.default_rng(0).normal(size=(64, 20)).astype(np.float32)
    y = np.arange(64) % 10
    record = _step_record(keras, log_steps(4), 64, 16, x, y)
    record.set_model(model)
    before = [np.array(v.value) for v in model.non_trainable_variables]
    record.on_epoch_begin(0)
    record.on_train_batch_end(0, logs={"loss": 2.3})
    after = [np.array(v.value) for v in model.non_trainable_variables]
    assert record.result()["step"] == [1] and len(record.result()["val_accuracy_train_mode"]) == 1
    assert all(np.array_equal(a, b) for a, b in zip(before, after)), "moving statistics or seeds were updated"
    # The pass itself is in training mode: with BN it normalizes by the batch, unlike the moving statistics.
    with_bn = build_model(RunSpec(hidden=(8,)), 20, 10, seed=0)
    train_mode, _ = with_bn.stateless_call([v.value for v in with_bn.trainable_variables],
                                           [v.value for v in with_bn.non_trainable_variables], x * 50, training=True)
    assert not np.allclose(np.asarray(train_mode), np.asarray(with_bn(x * 50, training=False)), atol=1e-3)


def test_a_stored_run_without_the_training_mode_accuracy_is_trained_again(tmp_path, result_factory):
    spec = RunSpec(dataset="digits", hidden=(8,), epochs=2)
    steps = {"step": [1, 2], "train_loss": [2.3, 2.0], "val_accuracy": [0.1, 0.2], "val_accuracy_train_mode": [0.2, 0.3]}
    cache = RunCache(tmp_path)
    stored = result_factory(spec, accuracy=0.5)
    path = cache.store(type(stored)(**{**stored.__dict__, "steps": steps}))
    assert cache.load(spec.key())[0].steps == steps
    path.write_text(path.read_text().replace('"val_accuracy_train_mode"', '"unknown_field"'))
    with pytest.warns(DamagedEntryWarning, match="damaged cache entry"):
        result, hit = cache.get_or_train(spec.key(), lambda: result_factory(spec, accuracy=0.7))
    assert (hit, result.test_accuracy) == (False, 0.7)
