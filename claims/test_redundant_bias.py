"""T2, placement and the redundant bias: Dense(use_bias=False) -> BatchNormalization -> Activation.

Claim (talk, model slides and code): "BN is placed between the linear combination and the activation:
Dense(use_bias=False) -> BatchNormalization -> Activation (the bias is redundant because beta replaces
it)." Ioffe & Szegedy (2015, section 3.2): "the bias b can be ignored since its effect will be canceled
by the subsequent mean subtraction (the role of the bias is subsumed by beta)".

Experiment:
- bias_cancels[ordinary|large]: on a random batch (64 rows, 32 features, N(0, 1)), Dense(16, use_bias=True)
  with a random bias vector b ~ scale * N(0, 1) followed by BatchNormalization in training mode, against
  the same Dense kernel without bias followed by BN with the same (non-trivial) gamma and beta. In exact
  arithmetic (z + b) - mean(z + b) = z - mean(z), so the outputs are identical for ANY b. Scales: 1
  (a bias of the activations' own size) and 100 (a large bias, 100x the activations' spread).
- parameter_count: the talk's BN model (the engine's model for the base spec) has fewer parameters than the
  same model with Dense(use_bias=True) by exactly the number of biases, sum of hidden widths
  (256 + 128 + 64 = 448), and its hidden blocks are in the talk's order Dense(no bias) -> BN -> relu.

Criterion and why (exact checks, fixed before running): in float32 the pre-activation z + b is rounded to
a relative 2^-24 (u ~ 6e-8) of its magnitude, i.e. an absolute error of u * max|z + b| in every value;
the mean subtraction cancels b but not that rounding error, which BN then divides by the feature's
standard deviation sigma_z and multiplies by gamma. The mean's reduction and the bias add add a few more
such roundings. So the tolerance is stated relative to the activations' scale:
    max |BN(Dense_bias(x)) - BN(Dense_nobias(x))| <= 32 * u * max|z + b| / min(sigma_z) * max|gamma|,
32 ulps of the pre-activations' magnitude in output units: a margin over the few roundings involved, yet
orders of magnitude below what a surviving bias would do (it would shift outputs by gamma * b / sigma_z,
of order 1 to 100 here; reported as a control). Note the tolerance grows with |b|: a huge bias costs
float32 precision even though it cancels mathematically, one more reason to drop it.
"""

from __future__ import annotations

import numpy as np

from bnclaims import figures
from bnclaims.catalogue import Claim, declare
from bnclaims.engines.model import build_model

STATEMENT = ("BN is placed between the linear combination and the activation: Dense(use_bias=False) -> "
             "BatchNormalization -> Activation (the bias is redundant because beta replaces it).")
SOURCE = "talk, model slides and Keras code; Ioffe & Szegedy 2015, section 3.2"
FAMILY = "T2 redundant bias"
ULPS = 32
UNIT_ROUNDOFF = 2.0 ** -24
# Check id -> the scale of the random bias.
BIAS_SCALES = {"T2.bias_cancels_ordinary": 1.0, "T2.bias_cancels_large": 100.0}
BATCH, FEATURES, WIDTH = 64, 32, 16
DATA_SEED = 3939   # the talk's initializer seed; any fixed seed would do

CHECKS = declare({
    "test_bias_cancels_under_batch_norm": {check_id: Claim(
        statement=STATEMENT, source=SOURCE, metric="max |with bias - without|",
        test="measured", tier="implementation", threshold=float(ULPS),
        threshold_reason=f"{ULPS} float32 ulps of the pre-activations' magnitude, in output units "
                         "(rounding of z + b survives the mean subtraction; scaled by gamma / sigma_z)",
        family=FAMILY,
        criterion=f"max |BN(Dense_bias(x)) - BN(Dense_nobias(x))| <= {ULPS} * 2^-24 * max|z + b| / "
                  f"min(sigma_z) * max|gamma| (training mode, bias ~ {scale:g} * N(0, 1))")
        for check_id, scale in BIAS_SCALES.items()},
    "test_bn_model_drops_exactly_the_biases": {
        "T2.parameter_count": Claim(
            statement=STATEMENT, source=SOURCE, metric="parameters saved",
            test="measured", tier="implementation", threshold=448.0,
            threshold_reason="exactly one bias per hidden unit: 256 + 128 + 64 for the talk's widths",
            family=FAMILY,
            criterion="parameters(with bias) - parameters(talk's BN model) == sum of hidden widths, and hidden "
                      "blocks ordered Dense(use_bias=False) -> BatchNormalization -> Activation"),
    },
})


def dense_bn(keras, kernel, bias, gamma, beta):
    dense = keras.layers.Dense(WIDTH, use_bias=bias is not None)
    dense.build((None, FEATURES))
    dense.kernel.assign(kernel)
    if bias is not None:
        dense.bias.assign(bias)
    bn = keras.layers.BatchNormalization()
    bn.build((None, WIDTH))
    bn.gamma.assign(gamma)
    bn.beta.assign(beta)
    return dense, bn


def test_bias_cancels_under_batch_norm(check, keras, verify, figure):
    rng = np.random.default_rng(DATA_SEED)
    limit = np.sqrt(6.0 / (FEATURES + WIDTH))   # glorot_uniform's range
    x = rng.standard_normal((BATCH, FEATURES)).astype(np.float32)
    kernel = rng.uniform(-limit, limit, (FEATURES, WIDTH)).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, WIDTH).astype(np.float32)
    beta = rng.uniform(-2.0, 2.0, WIDTH).astype(np.float32)
    bias = (BIAS_SCALES[check] * rng.standard_normal(WIDTH)).astype(np.float32)

    with_dense, with_bn = dense_bn(keras, kernel, bias, gamma, beta)
    without_dense, without_bn = dense_bn(keras, kernel, None, gamma, beta)
    pre_activation = np.asarray(with_dense(x), np.float64)
    with_bias = np.asarray(with_bn(with_dense(x), training=True), np.float64)
    without_bias = np.asarray(without_bn(without_dense(x), training=True), np.float64)

    z = np.asarray(x, np.float64) @ np.asarray(kernel, np.float64)
    sigma = z.std(axis=0)
    tolerance = ULPS * UNIT_ROUNDOFF * np.max(np.abs(pre_activation)) / sigma.min() * float(np.max(gamma))
    error = float(np.max(np.abs(with_bias - without_bias)))
    # Control: what the bias would do if BN did not remove it (outputs shifted by gamma * b / sigma).
    surviving = float(np.max(np.abs(gamma * bias / np.sqrt(sigma ** 2 + 1e-3))))
    reference = gamma * (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-3) + beta
    error_vs_float64 = float(np.max(np.abs(with_bias - reference)))

    figure(figures.table(f"{check}: Dense(bias) -> BN vs Dense(no bias) -> BN",
                         ["quantity", "value"],
                         [["max |bias| (scale %g)" % BIAS_SCALES[check], float(np.max(np.abs(bias)))],
                          ["max |z + b| (float32 pre-activations)", float(np.max(np.abs(pre_activation)))],
                          ["min sigma_z", float(sigma.min())],
                          ["max |with bias - without bias| (the claim)", error],
                          ["tolerance", tolerance],
                          ["with bias vs float64 formula without bias", error_vs_float64],
                          ["control: shift if the bias survived", surviving]],
                         claim_id="T2"))
    verify.measured(check, effect=error, ci=(error, error), ci_method="exact check, no interval",
                    passed=error <= tolerance < surviving,
                    n=with_bias.size, test_name="exact check (float32)",
                    observed=f"tolerance {tolerance:.3g}; a surviving bias would shift outputs by up to "
                             f"{surviving:.3g}; with-bias output vs float64 no-bias formula {error_vs_float64:.3g}",
                    details={"tolerance": tolerance, "bias_scale": BIAS_SCALES[check],
                             "max_abs_bias": float(np.max(np.abs(bias))), "surviving_bias_shift": surviving,
                             "error_vs_float64": error_vs_float64})


def test_bn_model_drops_exactly_the_biases(check, lab, keras, verify, figure):
    spec = lab.base_spec()
    dataset = lab.dataset
    talk_model = build_model(spec, dataset.num_features, dataset.num_classes)
    layers = keras.layers
    stack = [keras.Input(shape=(dataset.num_features,))]
    for width in spec.hidden:
        stack += [layers.Dense(width, use_bias=True), layers.BatchNormalization(), layers.Activation("relu")]
    stack.append(layers.Dense(dataset.num_classes, activation="softmax"))
    with_bias_model = keras.Sequential(stack)

    saved = with_bias_model.count_params() - talk_model.count_params()
    expected = sum(spec.hidden)
    blocks = [(type(layer).__name__, getattr(layer, "use_bias", None)) for layer in talk_model.layers]
    expected_blocks = [pair for _ in spec.hidden
                       for pair in (("Dense", False), ("BatchNormalization", None), ("Activation", None))]
    expected_blocks.append(("Dense", True))
    order_ok = blocks == expected_blocks and all(
        layer.activation.__name__ == spec.activation
        for layer in talk_model.layers if type(layer).__name__ == "Activation")
    trainable = lambda model: int(sum(np.prod(v.shape) for v in model.trainable_weights))

    figure(figures.table("T2 parameter_count: the talk's BN model against the same model with biases",
                         ["model", "parameters", "trainable"],
                         [["talk: Dense(use_bias=False) -> BN -> relu", talk_model.count_params(),
                           trainable(talk_model)],
                          ["Dense(use_bias=True) -> BN -> relu", with_bias_model.count_params(),
                           trainable(with_bias_model)],
                          ["difference (expected %d)" % expected, saved,
                           trainable(with_bias_model) - trainable(talk_model)]],
                         claim_id="T2"))
    verify.measured(check, effect=saved, ci=(saved, saved), ci_method="exact count, no interval",
                    passed=saved == expected and order_ok, n=len(spec.hidden), test_name="exact count",
                    observed=f"talk model {talk_model.count_params()} parameters, with biases "
                             f"{with_bias_model.count_params()}; layer order "
                             f"{'as in the talk' if order_ok else 'DIFFERS: ' + repr(blocks)}",
                    details={"talk_model_parameters": talk_model.count_params(),
                             "with_bias_parameters": with_bias_model.count_params(),
                             "expected_saving": expected, "layers": blocks})
