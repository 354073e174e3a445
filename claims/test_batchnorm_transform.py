"""T1, the Batch Normalization transform: Keras's BatchNormalization against the talk's formula in numpy.

Claim (talk, "Batch Normalization" slides; Ioffe & Szegedy 2015, Algorithm 1), per feature n over the
mini-batch:
    z_norm = (z - mean(batch)) / sqrt(variance(batch) + eps);   z_hat = gamma * z_norm + beta,
with gamma and beta trainable.

What the talk's Keras code actually runs is keras.layers.BatchNormalization, so this module checks that
the layer computes exactly that formula, and pins down the parts the talk leaves implicit:
- training_formula: a training-mode call on a random batch (64 rows, 16 features with means in [-3, 3]
  and standard deviations in [0.5, 2]; gamma in [0.5, 2] and beta in [-2, 2], not the 1/0 defaults)
  against the formula in float64 numpy with the per-feature batch mean, the BIASED batch variance
  (divide by m, as in Ioffe & Szegedy's Algorithm 1) and the layer's epsilon (Keras default 1e-3).
- trainable_flags: gamma and beta are trainable; moving_mean and moving_variance are not (they are
  running averages, never touched by the gradient).
- inference_moving_stats: with training=False the layer uses the moving statistics,
  (x - moving_mean) / sqrt(moving_variance + eps) * gamma + beta, and leaves them unchanged.
- moving_update: one training-mode call updates moving = momentum * moving + (1 - momentum) * batch_stat
  (momentum 0.99, Keras's default and the talk's). Which batch variance goes into that update differs
  between frameworks: Ioffe & Szegedy's Algorithm 2 uses the unbiased m/(m-1) estimate for inference,
  and tf.keras 2 (fused batch norm) applied that Bessel correction. Keras 3's source
  (keras/src/layers/normalization/batch_normalization.py, `call`) feeds the variance from `_moments`,
  i.e. `ops.moments` -> `tf.nn.moments`, which divides by m: the BIASED variance. The check asserts what
  Keras does (biased) and that the unbiased alternative is rejected by the same tolerance, so the check
  can tell the two apart.
- momentum_zero_step: the idea of Keras's own batch_normalization_test: with momentum=0, after one real
  optimizer step (train_on_batch) of Dense(use_bias=False) -> BN -> relu -> Dense, the moving mean and
  variance equal the mean and biased variance of that batch's pre-activations, computed in numpy from
  the kernel as it was before the step.

Criterion (exact checks, not statistics): max |keras - numpy| <= 1e-5 * max(1, max |numpy|), i.e. a
relative error of 1e-5 of the compared values' scale. Why 1e-5: float32 carries 24 significant bits
(unit roundoff 2^-24 ~ 6e-8); the layer reduces over 64 rows and our data's conditioning |x| / sigma is at
most ~20, so rounding gives errors of order 1e-7..1e-6; 1e-5 leaves an order of magnitude of headroom.
It is still far below every plausible formula deviation, which each check reports as a control: the
unbiased variance changes outputs by 1 - sqrt(63/64) ~ 0.8% relative, dropping epsilon changes them by
~eps / (2 sigma^2) >= 1.2e-4 relative for sigma <= 2, and the biased/unbiased choice moves a momentum-0.99
moving variance by 0.01 * var / 63 ~ 1.6e-4 * var.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnclaims import figures
from bnclaims.catalogue import Claim, declare

SOURCE = "talk, 'Batch Normalization' slides (z_norm, z_hat formulas); Ioffe & Szegedy 2015, Algorithm 1"
STATEMENT = ("The transform, per feature n over the mini-batch: z_norm = (z - mean(batch)) / "
             "sqrt(variance(batch) + eps); z_hat = gamma * z_norm + beta, with gamma and beta trainable.")
KERAS_STATEMENT = ("Keras BatchNormalization defaults: momentum 0.99, epsilon 1e-3; training uses batch "
                   "statistics, evaluation uses moving averages.")
KERAS_SOURCE = "Keras BatchNormalization defaults (momentum 0.99, epsilon 1e-3); keras/src/layers/normalization/batch_normalization.py (Keras 3)"
FAMILY = "T1 transform"
TOLERANCE = 1e-5
TOLERANCE_REASON = ("float32 rounding (2^-24 ~ 6e-8) accumulated over a 64-row reduction stays near 1e-6 "
                    "of the values' scale; 1e-5 leaves 10x headroom and is >= 10x below the smallest formula "
                    "deviation the check must catch (epsilon dropped ~1.2e-4, unbiased variance ~8e-3)")
CRITERION = f"max |keras - numpy| <= {TOLERANCE:g} * max(1, max |numpy|) (float32 layer vs float64 formula)"



def _claim(statement: str, source: str, metric: str, criterion: str = CRITERION) -> Claim:
    return Claim(statement=statement, source=source, metric=metric, test="measured", tier="implementation",
                 threshold=TOLERANCE, threshold_reason=TOLERANCE_REASON, family=FAMILY, criterion=criterion)


CHECKS = declare({
    "test_training_formula": {"T1.training_formula": _claim(STATEMENT, SOURCE, "max |keras-numpy| training")},
    "test_trainable_flags": {"T1.trainable_flags": Claim(
        statement=STATEMENT, source=SOURCE, metric="wrong trainable flags",
        test="measured", tier="implementation", threshold=0.0,
        threshold_reason="an exact property: any mismatch contradicts the talk's 'gamma and beta trainable'",
        family=FAMILY,
        criterion="gamma, beta trainable and moving_mean, moving_variance not trainable (0 mismatches)")},
    "test_inference_uses_moving_statistics": {"T1.inference_moving_stats": _claim(
        KERAS_STATEMENT, KERAS_SOURCE, "max |keras-numpy| inference",
        CRITERION + "; moving statistics unchanged by the inference call")},
    "test_moving_update_uses_biased_variance": {"T1.moving_update": _claim(
        KERAS_STATEMENT, KERAS_SOURCE, "max |keras-numpy| moving stats",
        CRITERION + " against momentum * moving + (1 - momentum) * batch stat with the BIASED batch "
                    "variance, and > that tolerance against the unbiased (m/(m-1)) variance")},
    "test_momentum_zero_moving_stats_equal_batch_stats": {"T1.momentum_zero_step": _claim(
        KERAS_STATEMENT, KERAS_SOURCE + "; keras batch_normalization_test", "max |moving-batch stat|")},
})

BATCH, FEATURES = 64, 16
DATA_SEED = 20150211   # the arXiv date of Ioffe & Szegedy's paper: any fixed seed would do


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(DATA_SEED)
    means = rng.uniform(-3.0, 3.0, FEATURES)
    stds = rng.uniform(0.5, 2.0, FEATURES)
    x = (means + stds * rng.standard_normal((BATCH, FEATURES))).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, FEATURES).astype(np.float32)
    beta = rng.uniform(-2.0, 2.0, FEATURES).astype(np.float32)
    moving_mean = rng.uniform(-3.0, 3.0, FEATURES).astype(np.float32)
    moving_var = rng.uniform(0.25, 4.0, FEATURES).astype(np.float32)
    return {"x": x, "gamma": gamma, "beta": beta, "moving_mean": moving_mean, "moving_var": moving_var}


def bn_formula(x, mean, variance, gamma, beta, eps):
    """The talk's transform in float64: gamma * (x - mean) / sqrt(variance + eps) + beta."""
    x, mean, variance = (np.asarray(v, np.float64) for v in (x, mean, variance))
    return np.asarray(gamma, np.float64) * (x - mean) / np.sqrt(variance + eps) + np.asarray(beta, np.float64)


def batch_moments(x):
    """Per-feature batch mean, biased variance (divide by m) and unbiased variance (divide by m - 1)."""
    x = np.asarray(x, np.float64)
    return x.mean(axis=0), x.var(axis=0, ddof=0), x.var(axis=0, ddof=1)


def max_error(observed, reference) -> float:
    return float(np.max(np.abs(np.asarray(observed, np.float64) - np.asarray(reference, np.float64))))


def tolerance_for(reference) -> float:
    return TOLERANCE * max(1.0, float(np.max(np.abs(reference))))


def make_layer(keras, data, **kwargs):
    layer = keras.layers.BatchNormalization(**kwargs)
    layer.build((None, FEATURES))
    layer.gamma.assign(data["gamma"])
    layer.beta.assign(data["beta"])
    return layer


def report(verify, figure, check, *, error, tol, n, observed, rows, details=None, passed=None):
    __tracebackhide__ = True
    figure(figures.table(f"{check}: Keras vs the formula", ["comparison", "max |difference|", "tolerance"],
                         rows, claim_id="T1"))
    verify.measured(check, effect=error, ci=(error, error), ci_method="exact check, no interval",
                    passed=(error <= tol) if passed is None else passed, n=n,
                    test_name="exact check (float32)", observed=observed,
                    details={"tolerance": tol, **(details or {})})


def test_training_formula(check, keras, batch, verify, figure):
    data = batch
    layer = make_layer(keras, data)
    eps = float(layer.epsilon)
    keras_out = np.asarray(layer(data["x"], training=True))
    mean, biased, unbiased = batch_moments(data["x"])
    reference = bn_formula(data["x"], mean, biased, data["gamma"], data["beta"], eps)
    error, tol = max_error(keras_out, reference), tolerance_for(reference)
    # Controls: formulas the check must reject, so that passing it means something.
    unbiased_error = max_error(keras_out, bn_formula(data["x"], mean, unbiased, data["gamma"], data["beta"], eps))
    no_eps_error = max_error(keras_out, bn_formula(data["x"], mean, biased, data["gamma"], data["beta"], 0.0))
    report(verify, figure, check, error=error, tol=tol, n=keras_out.size,
           observed=f"epsilon {eps:g}; controls: unbiased variance differs by {unbiased_error:.3g}, "
                    f"epsilon 0 by {no_eps_error:.3g} (both must exceed the tolerance {tol:.3g})",
           rows=[["formula, biased variance (the claim)", error, tol],
                 ["control: unbiased variance", unbiased_error, tol],
                 ["control: epsilon dropped", no_eps_error, tol]],
           details={"epsilon": eps, "unbiased_variance_error": unbiased_error, "no_epsilon_error": no_eps_error},
           passed=error <= tol < min(unbiased_error, no_eps_error))


def test_trainable_flags(check, keras, batch, verify, figure):
    layer = make_layer(keras, batch)
    expected = {"gamma": True, "beta": True, "moving_mean": False, "moving_variance": False}
    observed = {name: bool(getattr(layer, name).trainable) for name in expected}
    trainable = sorted(v.path.split("/")[-1] for v in layer.trainable_weights)
    non_trainable = sorted(v.path.split("/")[-1] for v in layer.non_trainable_weights)
    mismatches = sum(observed[name] != flag for name, flag in expected.items())
    mismatches += (trainable != ["beta", "gamma"]) + (non_trainable != ["moving_mean", "moving_variance"])
    figure(figures.table("T1 trainable_flags: BatchNormalization's variables", ["variable", "expected trainable",
                                                                               "observed trainable"],
                         [[name, expected[name], observed[name]] for name in expected], claim_id="T1"))
    verify.measured(check, effect=mismatches, ci=(mismatches, mismatches), ci_method="exact check, no interval",
                    passed=mismatches == 0, n=len(expected), test_name="exact check",
                    observed=f"trainable_weights {trainable}, non_trainable_weights {non_trainable}",
                    details={"observed": observed})


def test_inference_uses_moving_statistics(check, keras, batch, verify, figure):
    data = batch
    layer = make_layer(keras, data)
    layer.moving_mean.assign(data["moving_mean"])
    layer.moving_variance.assign(data["moving_var"])
    eps = float(layer.epsilon)
    keras_out = np.asarray(layer(data["x"], training=False))
    reference = bn_formula(data["x"], data["moving_mean"], data["moving_var"], data["gamma"], data["beta"], eps)
    mean, biased, _ = batch_moments(data["x"])
    batch_stats_error = max_error(keras_out, bn_formula(data["x"], mean, biased, data["gamma"], data["beta"], eps))
    drift = max(max_error(layer.moving_mean.numpy(), data["moving_mean"]),
                max_error(layer.moving_variance.numpy(), data["moving_var"]))
    error, tol = max_error(keras_out, reference), tolerance_for(reference)
    report(verify, figure, check, error=error, tol=tol, n=keras_out.size,
           observed=f"moving statistics changed by {drift:.3g} (must be 0); control: the batch-statistics "
                    f"formula differs by {batch_stats_error:.3g}",
           rows=[["formula with moving statistics (the claim)", error, tol],
                 ["moving statistics changed by the call", drift, 0.0],
                 ["control: formula with batch statistics", batch_stats_error, tol]],
           details={"moving_stats_drift": drift, "batch_stats_error": batch_stats_error},
           passed=error <= tol and drift == 0.0 and batch_stats_error > tol)


def test_moving_update_uses_biased_variance(check, keras, batch, verify, figure):
    data = batch
    layer = make_layer(keras, data)
    layer.moving_mean.assign(data["moving_mean"])
    layer.moving_variance.assign(data["moving_var"])
    momentum = float(layer.momentum)
    layer(data["x"], training=True)
    mean, biased, unbiased = batch_moments(data["x"])
    update = lambda old, new: momentum * np.asarray(old, np.float64) + (1.0 - momentum) * new
    expected_mean, expected_var = update(data["moving_mean"], mean), update(data["moving_var"], biased)
    unbiased_var = update(data["moving_var"], unbiased)
    got_mean, got_var = layer.moving_mean.numpy(), layer.moving_variance.numpy()
    mean_error, var_error = max_error(got_mean, expected_mean), max_error(got_var, expected_var)
    unbiased_error = max_error(got_var, unbiased_var)
    tol = tolerance_for(np.concatenate([expected_mean, expected_var]))
    error = max(mean_error, var_error)
    report(verify, figure, check, error=error, tol=tol, n=got_mean.size + got_var.size,
           observed=f"momentum {momentum:g}; moving mean error {mean_error:.3g}, moving variance error "
                    f"{var_error:.3g} with the biased batch variance, {unbiased_error:.3g} with the unbiased "
                    f"one: Keras 3 updates the moving variance with the BIASED batch variance",
           rows=[["moving mean", mean_error, tol],
                 ["moving variance, biased batch variance (Keras 3 source)", var_error, tol],
                 ["moving variance, unbiased batch variance (paper Alg. 2, tf.keras 2)", unbiased_error, tol]],
           details={"momentum": momentum, "moving_mean_error": mean_error, "moving_variance_error": var_error,
                    "unbiased_variance_error": unbiased_error},
           passed=error <= tol < unbiased_error)


def test_momentum_zero_moving_stats_equal_batch_stats(check, keras, batch, verify, figure):
    data = batch
    rng = np.random.default_rng(DATA_SEED + 1)
    width = 8
    model = keras.Sequential([
        keras.Input(shape=(FEATURES,)),
        keras.layers.Dense(width, use_bias=False, kernel_initializer=keras.initializers.GlorotUniform(DATA_SEED)),
        keras.layers.BatchNormalization(momentum=0.0),
        keras.layers.Activation("relu"),
        keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(DATA_SEED + 1)),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate=0.1), loss="mse", jit_compile=False)
    dense, bn = model.layers[0], model.layers[1]
    kernel_before = dense.kernel.numpy().copy()
    y = rng.standard_normal((BATCH, 1)).astype(np.float32)
    model.train_on_batch(data["x"], y)
    stepped = not np.array_equal(dense.kernel.numpy(), kernel_before)   # the step really trained
    z = np.asarray(data["x"], np.float64) @ np.asarray(kernel_before, np.float64)
    mean, biased, unbiased = batch_moments(z)
    got_mean, got_var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    mean_error, var_error = max_error(got_mean, mean), max_error(got_var, biased)
    unbiased_error = max_error(got_var, unbiased)
    tol = tolerance_for(np.concatenate([mean, biased]))
    error = max(mean_error, var_error)
    report(verify, figure, check, error=error, tol=tol, n=got_mean.size + got_var.size,
           observed=f"after one SGD step: moving mean error {mean_error:.3g}, moving variance error "
                    f"{var_error:.3g} (biased), {unbiased_error:.3g} against the unbiased variance",
           rows=[["moving mean vs batch mean", mean_error, tol],
                 ["moving variance vs biased batch variance", var_error, tol],
                 ["control: moving variance vs unbiased batch variance", unbiased_error, tol]],
           details={"moving_mean_error": mean_error, "moving_variance_error": var_error,
                    "unbiased_variance_error": unbiased_error, "kernel_changed_by_step": stepped},
           passed=stepped and error <= tol < unbiased_error)
