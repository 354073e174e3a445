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
"""

from __future__ import annotations

import numpy as np

from bnclaims import figures, stats
from bnclaims.evidence import Claim

SLOPE_RANGE = (-1.1, -0.9)

CLAIM = Claim(
    id="P1", statement="the mini-batch gradient estimates the full gradient, and its quality improves "
                       "as the batch size increases (its squared error falls like 1/batch)",
    source="Ioffe & Szegedy 2015, Sec. 1", metric="log-log slope against batch size", test="measured",
    threshold=-1.0, threshold_reason="the exponent of 1/batch, within 0.1: error across 8..1024 right within 1.6x",
    criterion=f"mean per-seed log-log slope: 95% t interval within [{SLOPE_RANGE[0]}, {SLOPE_RANGE[1]}] "
              "and excluding 0")


def test_gradient_noise_falls_like_one_over_batch(lab, verify, figure):
    runs = lab.across_seeds(lab.base_spec(batch_norm="none", record=("gradient_noise",)), context="P1")
    fits, series = [], {}
    for run in runs:
        noise = run.extras["gradient_noise"]
        fit = stats.loglog_slope(noise["batch_sizes"], noise["mean_squared_deviation"])
        fits.append(fit)
        series[f"seed {run.spec.seed}"] = {"x": noise["batch_sizes"], "y": noise["mean_squared_deviation"],
                                           "slope": fit.slope.point, "intercept": fit.intercept}
    figure(figures.loglog("Mini-batch gradient error against batch size (plain model, trained)", "batch size",
                          "mean squared distance from the full gradient", series, claim_id=CLAIM.id))
    slopes = np.array([fit.slope.point for fit in fits])
    mean = stats.mean_ci_t(slopes, confidence=1 - CLAIM.corrected_alpha)
    inside = SLOPE_RANGE[0] <= mean.low and mean.high <= SLOPE_RANGE[1]
    verify.measured(CLAIM, "gradient_error", effect=mean.point, ci=(mean.low, mean.high),
                    passed=inside and mean.high < 0, n=len(slopes), seeds=[r.spec.seed for r in runs],
                    test_name=f"t interval over seeds at {mean.confidence:.2f}",
                    observed=f"per-seed slopes {np.round(slopes, 3).tolist()}",
                    details={"per_seed_slopes": slopes.tolist()})
