"""P1 (paper): "the gradient of the loss over a mini-batch is an estimate of the gradient over the
training set, whose quality improves as the batch size increases" (Ioffe & Szegedy 2015, Sec. 1).

Experiment: the talk's plain model (no BN, so that an example's gradient does not depend on the other
examples in its batch) trained at the base setting on the profile's seeds. At the trained weights, the
full-data gradient is computed once, then 50 mini-batch gradients per batch size from 8 to 1024 (powers
of two, drawn with replacement); the metric is their mean squared distance from the full gradient. For
independent draws it equals tr(Cov(per-example gradient)) / b: a log-log slope of -1.

Claim P1: the mean across seeds of the per-seed log-log slope has a 95% t interval within [-1.1, -0.9]
that excludes 0. Criterion reason as for R1 (test_batch_statistics_noise.py): the exponent right within
0.1, so the predicted noise across the 8..1024 range is right within a factor 1.6.
Tier: identity (the variance of a mean of independent draws), checked numerically on trained networks.
"""

from __future__ import annotations

from bnclaims import figures
from bnclaims.catalogue import Claim, declare
from bnclaims.scaling_laws import ONE_OVER_BATCH, slopes_across_seeds

CHECKS = declare({"test_gradient_noise_falls_like_one_over_batch": {
    "P1.gradient_error": Claim(
        statement="the mini-batch gradient estimates the full gradient, and its quality improves "
                  "as the batch size increases (its squared error falls like 1/batch)",
        source="Ioffe & Szegedy 2015, Sec. 1", metric="log-log slope against batch size", test="measured",
        tier="identity", threshold=-1.0,
        threshold_reason="the exponent of 1/batch, within 0.1: error across 8..1024 right within 1.6x",
        criterion=f"mean per-seed log-log slope: 95% t interval within [{ONE_OVER_BATCH[0]}, {ONE_OVER_BATCH[1]}] "
                  "and excluding 0"),
}})


def test_gradient_noise_falls_like_one_over_batch(check, lab, verify, figure):
    runs = lab.across_seeds(lab.base_spec(batch_norm="none", record=("gradient_noise",)), context="P1")
    slopes = slopes_across_seeds(
        {run.spec.seed: (run.extras["gradient_noise"]["batch_sizes"],
                         run.extras["gradient_noise"]["mean_squared_deviation"]) for run in runs},
        confidence=1 - CHECKS[check].corrected_alpha)
    figure(figures.loglog("Mini-batch gradient error against batch size (plain model, trained)", "batch size",
                          "mean squared distance from the full gradient", slopes.series(), claim_id="P1"))
    verify.measured(check, **slopes.observation(ONE_OVER_BATCH))
