"""A4: with Batch Normalization there is "no need for data normalization" (talk, Summary; evidence:
Comparison 4, inputs left at 0..255: plain 0.1135, a one-class predictor, against BN 0.9766; and the
normalization slide's example of a feature vector [27, 150 000, 1, 1, 2], features measured in units
whose scales differ by orders of magnitude).

Two experiments, at the talk's base setting, across the profile's seeds, paired by seed (same initial
weights, same mini-batches):

1. The claim as the talk means it (family "A4 input scaling", Holm over 2; empirical). Unnormalized
   features: each input feature (pixel) j is given a scale and an offset of its own, x_j * s_j + c_j from
   its unit range, s_j = 10^U(-3, 3) and c_j = s_j * U(0, 2), drawn once from a fixed stream
   (bnclaims.engines.shared.feature_scales): six orders of magnitude between the smallest and the largest
   feature, ranges that rarely start at 0. Against the inputs scaled to 0..1 (the talk's /255):
   - A4.bn_features_vs_scaled: with BN, unnormalized features are NON-INFERIOR to scaled inputs:
     features - scaled > -0.01 in test accuracy (inference mode), one-sided paired test. "No need for"
     data normalization means "not worse without it". Margin: one accuracy point, the smallest loss a
     practitioner would act on, about the seed-to-seed spread of this model.
   - A4-plain.plain_scaled_vs_features: without BN, the same features hurt: the plain model fails
     (diverges or collapses) on more seeds with them than with scaled inputs (exact McNemar test), the
     contrast that makes BN's result informative.
   Why this can fail where the talk's 0..255 cannot: a first Dense(use_bias=False) + BN layer removes a
   constant shift and one scale per unit, so a GLOBAL factor on every input (0..255 against 0..1) and any
   offsets vanish from what it computes (BN(W (255 x + c)) = BN(W x) in training mode, up to epsilon). The
   relative scales of the features a unit sums are not removed: the gradient of feature j's weight is
   s_j times larger, and the effective step of its contribution s_j^2 times, so the largest features
   dominate the first layer's learning as they would without BN.

2. The talk's own Comparison 4, raw 0..255 against 0..1 (family "A4 global scale", identity tier): by the
   invariance above the two inputs train the same network up to epsilon (1e-3, against a variance 255^2
   times larger with raw inputs) and float rounding, so these checks are identities measured on trained
   networks, seed by seed, within 0.01 of test accuracy (the claim's one point; the invariance predicts
   far less):
   - A4-global.training_mode: in training mode (BN normalizing each batch of 128 test examples by its
     own statistics) raw and scaled inputs score the same on every seed.
   - A4-global.recalibrated: after recalibration (each BN layer's moving mean and variance replaced by the
     population statistics of its inputs over the training split: Ioffe & Szegedy 2015, Sec. 3.1 and
     Algorithm 2; PreciseBN in Wu & Johnson 2021) they score the same on every seed. What can set them
     apart at inference is the moving statistics' start (mean 0, variance 1, momentum 0.99: 8% of it is
     left after the short profile's 250 steps, nothing after 3,750), which weighs differently at the two
     scales; the notes give the raw/scaled gap with the moving statistics beside the gap after
     recalibration. tests/test_recalibration.py shows the recalibrated check fails on networks whose
     moving statistics were left at their start and holds once they are recalibrated; tests/test_evidence.py
     shows the per-seed criterion fails on one seed outside the tolerance.

Literature: Ioffe & Szegedy (2015, Sec. 3.1 population statistics; Sec. 3.3 scale invariance); LeCun et
al. (1998, "Efficient BackProp") on why unnormalized inputs slow or break plain networks and why each
input should have a similar scale; Summers & Dinneen (2020, "Four things everyone should know to improve
batch normalization") on the discrepancy between the statistics BN normalizes by in training and at
inference; Wu & Johnson (2021, "Rethinking 'Batch' in BatchNorm", Sec. 3) on moving averages against
population statistics recomputed after training (PreciseBN).
"""

from __future__ import annotations

import numpy as np
import pytest

from bnclaims import figures, metrics
from bnclaims.catalogue import CONTROL_FINDINGS, Claim, Finding, declare, with_normalizer_controls
from bnclaims.formatting import bn_check
from bnclaims.evidence import arm_from_runs, every_seed_within
from bnclaims.engines.recalibration import recalibrated_accuracy, training_mode_accuracy

SOURCE = "talk, Summary slide, the normalization slide's example and Comparison 4"
FAMILY = "A4 input scaling"
GLOBAL = "A4 global scale"
ONE_POINT = "one accuracy point: the smallest loss a practitioner acts on, about the seed spread"
TOLERANCE = 0.01
# The BN runs at 0..255 record what the global-scale identities read; the other runs need nothing recorded.
BN_RECORDS = ("recalibrated", "training_mode_test")


def _global_identity(mode: str, reason: str) -> Claim:
    return Claim(
        statement=f"a first BN layer undoes a global scale of its inputs: raw 0..255 and scaled 0..1 inputs give "
                  f"the same test accuracy {mode}, on every seed",
        source="Ioffe & Szegedy (2015), Sec. 3.3: BN is invariant to the scale of its layer's inputs" + reason,
        metric=f"test accuracy {mode}, raw - scaled", test="measured", tier="identity", threshold=TOLERANCE,
        threshold_reason=ONE_POINT + "; the invariance predicts far less",
        criterion=f"|raw - scaled| <= {TOLERANCE} on every seed", family=GLOBAL)


CHECKS = declare({
    "test_unnormalized_features_with_and_without_bn": with_normalizer_controls({
        "A4.bn_features_vs_scaled": Claim(
            statement="no need for data normalization: with BN, features with scales and offsets of their own "
                      "(six orders of magnitude apart) are not worse than inputs scaled to 0..1",
            source=SOURCE, metric="test accuracy", test="non_inferiority", threshold=0.01,
            threshold_reason=ONE_POINT, family=FAMILY),
        # Without BN the harm of unnormalized inputs is failure (the talk's plain model on 0..255: 0.1135, the
        # share of one digit), tested as such.
        "A4-plain.plain_scaled_vs_features": Claim(
            statement="without BN, unnormalized features hurt badly: the plain model fails (diverges or "
                      "collapses) on more seeds with them than with inputs scaled to 0..1",
            source=SOURCE, metric="failed runs (diverged or collapsed), unnormalized - scaled inputs",
            test="superiority", threshold=0.0,
            threshold_reason="the talk's plain model did not train on raw inputs: any credible difference in how "
                             "many seeds fail counts",
            family=FAMILY, exact_test=True, about="failure"),
    }, "A4.bn_features_vs_scaled"),
    "test_a_global_input_scale_trains_the_same_network": {
        "A4-global.training_mode": _global_identity("in training mode (batches of 128)", ""),
        "A4-global.recalibrated": _global_identity(
            "after recalibration of BN's statistics", "; Sec. 3.1; Wu & Johnson (2021), Sec. 3"),
    },
})

FEATURES_REASON = ("with the normalizer, features given scales and offsets of their own score {effect} against inputs "
                   "scaled to 0..1 ({ci}, {ci_method}; means {a_mean} vs {b_mean}; features failed on {a_failures} "
                   "seeds), credibly worse than the one-point margin (mirror p={mirror_p} at {alpha}). A normalizer "
                   "after the first layer (BN, or LayerNorm and GroupNorm in the controls) removes a global scale and "
                   "any offsets of that layer's sums, not the relative scales of the features a unit sums: the largest "
                   "features still dominate the first layer's learning. It makes such inputs trainable (the plain "
                   "model fails on them, A4-plain), not free: normalizing them is still worth its points")

FINDINGS = {
    "A4.bn_features_vs_scaled": Finding(
        outcome="refuted", datasets=("mnist5k",), profiles=("short", "default"), reason=FEATURES_REASON),
    # The normalizer controls (docs/normalizers.md), decided from the controls profile's first run: the
    # BN finding's mechanism is about the first layer, before any normalizer, and holds for each.
    "A4-LN.bn_features_vs_scaled": Finding(outcome="refuted", **CONTROL_FINDINGS, reason=FEATURES_REASON),
    "A4-GN.bn_features_vs_scaled": Finding(outcome="refuted", **CONTROL_FINDINGS, reason=FEATURES_REASON),
}


def arms_for(lab, batch_norm: str, scalings: tuple[str, ...], record=()):
    return {scaling: lab.across_seeds(lab.base_spec(batch_norm=batch_norm, input_scaling=scaling, record=record),
                                      context=f"A4 {batch_norm}")
            for scaling in scalings}


def _features_runs(lab):
    return {"BN": arms_for(lab, "before", ("features", "unit")), "plain": arms_for(lab, "none", ("features", "unit"))}


@pytest.fixture(scope="module")
def features_runs(lab):
    """features_runs for the current look's seeds (Lab.per_look): call it in the test."""
    return lab.per_look(lambda: _features_runs(lab))


@pytest.fixture(scope="module")
def global_runs(lab):
    """BN at raw 0..255 and scaled 0..1 inputs (the talk's Comparison 4), on the profile's seeds."""
    return arms_for(lab, "before", ("raw", "unit"), BN_RECORDS)


def cost_note(runs) -> str:
    """Each model's mean test accuracy on scaled inputs and on unnormalized features, failures counted."""
    parts = []
    for model, by_scaling in runs.items():
        words = []
        for scaling, label in (("unit", "scaled"), ("features", "features")):
            trained = [r.test_accuracy for r in by_scaling[scaling] if r.outcome == "trained"]
            failed = len(by_scaling[scaling]) - len(trained)
            words.append(f"{label} {np.mean(trained):.4f}" if trained else f"{label} none trained")
            words[-1] += f" ({failed} of {len(by_scaling[scaling])} failed)" if failed else ""
        parts.append(f"{model}: " + ", ".join(words))
    return "mean test accuracy of the trained runs: " + "; ".join(parts)


# Check id -> (model, arm A, arm B), A the arm the claim says does at least as well; arms by input scaling.
FEATURE_ARMS = {"A4.bn_features_vs_scaled": ("BN", "features", "unit"),
                "A4-plain.plain_scaled_vs_features": ("plain", "unit", "features")}
ARM_NAMES = {"features": "features", "unit": "scaled"}


def test_unnormalized_features_with_and_without_bn(check, features_runs, verify, figure):
    runs = features_runs()
    model, a, b = FEATURE_ARMS[bn_check(check)]
    figure(figures.learning_curves(f"{model}: unnormalized features against inputs scaled to 0..1", runs[model],
                                   claim_id=check.split(".")[0]))
    verify(check, arm_from_runs(ARM_NAMES[a], runs[model][a], metrics.test_accuracy),
           arm_from_runs(ARM_NAMES[b], runs[model][b], metrics.test_accuracy), notes=[cost_note(runs)])


def gap(runs, metric) -> list[float]:
    """Per seed, raw minus scaled."""
    return [metric(raw) - metric(scaled) for raw, scaled in zip(runs["raw"], runs["unit"])]


def gap_note(runs) -> str:
    before, after = gap(runs, metrics.test_accuracy), gap(runs, recalibrated_accuracy)
    return (f"raw - scaled with the moving statistics {np.mean(before):+.4f} (mean |gap| "
            f"{np.mean(np.abs(before)):.4f}), after recalibration {np.mean(after):+.4f} (mean |gap| "
            f"{np.mean(np.abs(after)):.4f}); recalibration changed the raw arm by "
            f"{np.mean([recalibrated_accuracy(r) - r.test_accuracy for r in runs['raw']]):+.4f} and the "
            f"scaled arm by {np.mean([recalibrated_accuracy(r) - r.test_accuracy for r in runs['unit']]):+.4f}")


GLOBAL_METRICS = {"A4-global.training_mode": training_mode_accuracy, "A4-global.recalibrated": recalibrated_accuracy}


def test_a_global_input_scale_trains_the_same_network(check, global_runs, verify, figure):
    figure(accuracy_table(global_runs))
    differences = gap(global_runs, GLOBAL_METRICS[check])
    verify.measured(check, **every_seed_within(differences, [run.spec.seed for run in global_runs["raw"]],
                                               -TOLERANCE, TOLERANCE, what="raw - scaled test accuracy"),
                    notes=(gap_note(global_runs),))


def accuracy_table(runs) -> dict:
    modes = {"inference (moving statistics)": metrics.test_accuracy,
             "training mode (batches of 128)": training_mode_accuracy,
             "inference after recalibration": recalibrated_accuracy}
    rows = [[mode, round(float(np.mean([metric(r) for r in runs["raw"]])), 4),
             round(float(np.mean([metric(r) for r in runs["unit"]])), 4),
             [round(g, 4) for g in gap(runs, metric)]]
            for mode, metric in modes.items()]
    return figures.table("BN: test accuracy of raw 0..255 and scaled 0..1 inputs by how BN normalizes",
                         ["test accuracy", "raw (mean)", "scaled (mean)", "raw - scaled per seed"], rows,
                         claim_id="A4-global")
