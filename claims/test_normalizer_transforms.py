"""T3, the normalizers without batch statistics: Keras's LayerNormalization and GroupNormalization against
their formulas in numpy, and each placed where the talk places BN.

The normalizer controls (--claims-profile controls; docs/normalizers.md) put LayerNorm or GroupNorm where
the talk puts BatchNormalization, to ask which of BN's advantages belong to any normalization. They mean
something only if the layers compute what their papers define, without batch statistics:

- layer_formula: Ba et al. (2016), per example over its features:
      z_hat = gamma * (z - mean(example)) / sqrt(variance(example) + eps) + beta,
  the biased variance and Keras's epsilon (1e-3). No batch statistics: an example's output is the same
  in training and inference mode and whichever other examples share its batch.
- group_formula: Wu & He (2018), the same per example over each group of consecutive features
  (bnclaims.spec.GROUP_NORM_GROUPS groups).
- placement: the model the engines train puts the normalizer as the talk puts BN: every hidden block
  is Dense(use_bias=False) -> normalizer -> activation.

Criterion (exact checks, not statistics): max |keras - numpy| <= 1e-5 * max(1, max |numpy|), the float32
layer against the float64 formula. Why 1e-5: float32 carries 24 significant bits (unit roundoff ~6e-8);
the layers reduce over at most 128 features of data whose |x| / sigma is at most ~20, so rounding gives
errors of order 1e-7..1e-6; 1e-5 leaves an order of magnitude of headroom. Each formula check also
computes formulas it must reject, so that passing means something: batch statistics (BN's formula over
the same batch), epsilon dropped (~eps / (2 sigma^2) >= 1.2e-4 relative), and for GroupNorm the one-group
(LayerNorm) formula; and its batch-independence parts compare outputs that must be equal to float32
rounding.
"""

from __future__ import annotations

import numpy as np
import pytest

from bnclaims import figures
from bnclaims.catalogue import Claim, declare
from bnclaims.spec import GROUP_NORM_GROUPS, NORMALIZERS, RunSpec

FAMILY = "T3 normalizers"
TOLERANCE = 1e-5
TOLERANCE_REASON = ("float32 rounding (2^-24 ~ 6e-8) accumulated over a reduction of at most 128 features stays "
                    "near 1e-6 of the values' scale; 1e-5 leaves 10x headroom and is >= 10x below the smallest "
                    "formula deviation the check must catch (epsilon dropped ~1.2e-4)")
CRITERION = (f"max |keras - numpy| <= {TOLERANCE:g} * max(1, max |numpy|) (float32 layer vs float64 formula); "
             "the same outputs in training and inference mode and for an example alone or in its batch; the "
             "control formulas (batch statistics, epsilon dropped) differ by more than that tolerance")


def _claim(statement: str, source: str, metric: str, criterion: str = CRITERION) -> Claim:
    return Claim(statement=statement, source=source, metric=metric, test="measured", tier="implementation",
                 threshold=TOLERANCE, threshold_reason=TOLERANCE_REASON, family=FAMILY, criterion=criterion)


CHECKS = declare({
    "test_layer_normalization_formula": {"T3.layer_formula": _claim(
        "LayerNorm, per example over its features: z_hat = gamma * (z - mean(example)) / sqrt(variance(example) "
        "+ eps) + beta, with no batch statistics",
        "Ba, Kiros & Hinton 2016, Layer Normalization, Eq. 4; keras.layers.LayerNormalization",
        "max |keras-numpy| LayerNorm")},
    "test_group_normalization_formula": {"T3.group_formula": _claim(
        f"GroupNorm, per example over each of {GROUP_NORM_GROUPS} groups of consecutive features: the same "
        "transform within each group, with no batch statistics",
        "Wu & He 2018, Group Normalization, Eq. 1-3 and Fig. 3 code; keras.layers.GroupNormalization",
        "max |keras-numpy| GroupNorm",
        CRITERION + "; and the one-group (LayerNorm) formula differs by more than the tolerance")},
    "test_every_normalizer_sits_where_the_talk_puts_bn": {"T3.placement": Claim(
        statement="each normalizer is placed as the talk places BN: Dense(use_bias=False) -> normalizer -> "
                  "activation in every hidden block",
        source="talk, 'Batch Normalization in Keras' slide", metric="misplaced layers", test="measured",
        tier="implementation", threshold=0.0, family=FAMILY,
        threshold_reason="an exact property: any other layer order trains another model",
        criterion="0 layers differ from the talk's block, for every normalizer; the 'after' placement, "
                  "built the same way, differs (so the check can tell orders apart)")},
})

BATCH, FEATURES = 64, 128       # 128: the talk's second hidden width, 4 features a group at 32 groups
ALONE = 8                       # the first rows, also normalized without the rest of their batch
DATA_SEED = 20160721            # the arXiv date of Ba et al.'s paper: any fixed seed would do


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(DATA_SEED)
    # Each example its own scale and offset, so that per-example and per-batch statistics differ.
    means = rng.uniform(-3.0, 3.0, (BATCH, 1)) + rng.uniform(-1.0, 1.0, FEATURES)
    stds = rng.uniform(0.5, 2.0, (BATCH, 1))
    x = (means + stds * rng.standard_normal((BATCH, FEATURES))).astype(np.float32)
    gamma = rng.uniform(0.5, 2.0, FEATURES).astype(np.float32)
    beta = rng.uniform(-2.0, 2.0, FEATURES).astype(np.float32)
    return {"x": x, "gamma": gamma, "beta": beta}


def grouped_formula(x, gamma, beta, eps, groups: int):
    """Per example, per group of consecutive features: gamma * (x - mean) / sqrt(biased variance + eps) +
    beta, in float64. One group is LayerNorm's formula."""
    x = np.asarray(x, np.float64)
    grouped = x.reshape(len(x), groups, -1)
    mean = grouped.mean(axis=2, keepdims=True)
    variance = grouped.var(axis=2, keepdims=True)
    normalized = ((grouped - mean) / np.sqrt(variance + eps)).reshape(x.shape)
    return np.asarray(gamma, np.float64) * normalized + np.asarray(beta, np.float64)


def batch_statistics_formula(x, gamma, beta, eps):
    """BN's training formula on the same batch (per feature over the batch): a control."""
    x = np.asarray(x, np.float64)
    return np.asarray(gamma, np.float64) * (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) + beta


def max_error(observed, reference) -> float:
    return float(np.max(np.abs(np.asarray(observed, np.float64) - np.asarray(reference, np.float64))))


def tolerance_for(reference) -> float:
    return TOLERANCE * max(1.0, float(np.max(np.abs(reference))))


def _formula_check(check, layer, data, groups: int, verify, figure, extra_controls=()):
    """Run the layer in training and inference mode, and on the first rows alone, against the formula."""
    __tracebackhide__ = True
    layer.build((None, FEATURES))
    layer.gamma.assign(data["gamma"])
    layer.beta.assign(data["beta"])
    eps = float(layer.epsilon)
    x, gamma, beta = data["x"], data["gamma"], data["beta"]
    training = np.asarray(layer(x, training=True))
    inference = np.asarray(layer(x, training=False))
    alone = np.asarray(layer(x[:ALONE], training=True))
    reference = grouped_formula(x, gamma, beta, eps, groups)
    error, tol = max_error(training, reference), tolerance_for(reference)
    mode_gap = max_error(training, inference)
    batch_gap = max_error(alone, training[:ALONE])
    controls = [("control: batch statistics (BN's formula)", max_error(training, batch_statistics_formula(x, gamma, beta, eps))),
                ("control: epsilon dropped", max_error(training, grouped_formula(x, gamma, beta, 0.0, groups))),
                *((name, max_error(training, formula)) for name, formula in extra_controls)]
    rows = [["formula (the claim)", error, tol], ["training vs inference mode", mode_gap, tol],
            [f"first {ALONE} examples alone vs in their batch", batch_gap, tol],
            *([name, value, tol] for name, value in controls)]
    figure(figures.table(f"{check}: Keras vs the formula", ["comparison", "max |difference|", "tolerance"], rows,
                         claim_id="T3"))
    passed = max(error, mode_gap, batch_gap) <= tol < min(value for _, value in controls)
    verify.measured(check, effect=error, ci=(error, error), ci_method="exact check, no interval", passed=passed,
                    n=training.size, test_name="exact check (float32)",
                    observed=f"epsilon {eps:g}; training vs inference mode differ by {mode_gap:.3g}, an example "
                             f"alone vs in its batch by {batch_gap:.3g}; controls: "
                             + ", ".join(f"{name.removeprefix('control: ')} differs by {value:.3g}"
                                         for name, value in controls)
                             + f" (each must exceed the tolerance {tol:.3g})",
                    details={"tolerance": tol, "epsilon": eps, "mode_gap": mode_gap, "batch_gap": batch_gap,
                             **{name: value for name, value in controls}})


def test_layer_normalization_formula(check, keras, batch, verify, figure):
    _formula_check(check, keras.layers.LayerNormalization(), batch, 1, verify, figure)


def test_group_normalization_formula(check, keras, batch, verify, figure):
    one_group = grouped_formula(batch["x"], batch["gamma"], batch["beta"], 1e-3, 1)
    _formula_check(check, keras.layers.GroupNormalization(groups=GROUP_NORM_GROUPS), batch, GROUP_NORM_GROUPS,
                   verify, figure, extra_controls=[("control: one group (LayerNorm's formula)", one_group)])


NORMALIZER_LAYERS = {"batch": "BatchNormalization", "layer": "LayerNormalization", "group": "GroupNormalization"}


def talk_block(normalizer: str) -> list[str]:
    """The talk's hidden block with this normalizer: Dense without bias, the normalizer, the activation."""
    return ["Dense(use_bias=False)", NORMALIZER_LAYERS[normalizer], "Activation"]


def built_blocks(keras, spec: RunSpec) -> list[str]:
    """The hidden layers of the model the engines train, named as talk_block names them."""
    from bnclaims.engines.model import build_model

    model = build_model(spec, FEATURES, 10, seed=0)
    names = [f"Dense(use_bias={layer.use_bias})" if isinstance(layer, keras.layers.Dense) else type(layer).__name__
             for layer in model.layers]
    return names[:-1]       # the output layer is no hidden block


def test_every_normalizer_sits_where_the_talk_puts_bn(check, keras, verify, figure):
    spec = RunSpec(hidden=(2 * GROUP_NORM_GROUPS, GROUP_NORM_GROUPS))
    rows, misplaced = [], 0
    for normalizer in NORMALIZERS:
        expected = talk_block(normalizer) * len(spec.hidden)
        observed = built_blocks(keras, spec.replace(normalizer=normalizer))
        wrong = sum(a != b for a, b in zip(observed, expected)) + abs(len(observed) - len(expected))
        misplaced += wrong
        rows.append([normalizer, " -> ".join(observed), wrong])
    # Control: the "after" placement must read as another order, or the comparison could not tell.
    after = built_blocks(keras, spec.replace(normalizer="layer", batch_norm="after"))
    control_differs = after != talk_block("layer") * len(spec.hidden)
    rows.append(["control: layer, placed after the activation", " -> ".join(after), "differs" if control_differs else "SAME"])
    figure(figures.table(f"{check}: the hidden layers each normalizer trains", ["normalizer", "layers", "misplaced"],
                         rows, claim_id="T3"))
    verify.measured(check, effect=misplaced, ci=(misplaced, misplaced), ci_method="exact check, no interval",
                    passed=misplaced == 0 and control_differs, n=len(NORMALIZERS), test_name="exact check",
                    observed=f"{misplaced} misplaced layers over {', '.join(NORMALIZERS)}; the 'after' control "
                             f"{'differs' if control_differs else 'does not differ'}",
                    details={"rows": rows})
