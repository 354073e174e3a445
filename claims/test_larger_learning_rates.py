"""A1: Batch Normalization "allows larger learning rates" (talk, Summary; evidence: Comparison 2).

Experiment: a learning-rate sweep, 0.01 to 3 in half-decade steps, with and without BN, at the talk's
base setting otherwise (batch 128, 10 epochs, SGD), across the profile's seeds. Per seed and arm, the
largest usable learning rate is the largest rate whose final validation accuracy (inference mode) is at
least 90% of the best validation accuracy that arm reached on that seed over the whole sweep, and
whose run neither diverged nor collapsed. Validation, not test, data picks the rate, as a practitioner
would.

Claim A1 (paired by seed): log10(largest usable rate with BN) - log10(largest usable rate without BN)
> log10(2), i.e. BN's largest usable rate is more than twice the plain model's on average.
Threshold reason: twice is the smallest change of learning rate that matters in practice (learning-rate
searches move in factors of 2-10); the grid step is sqrt(10) ~ 3.2, so BN being one step ahead on
every seed satisfies it, and one step ahead on only some seeds does not.

Claim A1-talk (the talk's single point): at lr 1 and batch 1024 the plain model does not train
(talk: 0.0892, a one-class predictor) while BN does (0.9505). Criterion: BN trains on every seed, and
the plain model fails (collapse, divergence, or accuracy below twice chance) on most seeds: the lower
one-sided 95% Clopper-Pearson bound of its failure rate exceeds 0.5. With 5 seeds that needs 5 of 5;
with fewer than 5 seeds it cannot pass at all (3 of 3 gives a lower bound of 0.37).
The two claims are separate hypotheses (a sweep and a single point), each its own family.

Literature: Ioffe & Szegedy (2015, Sec. 3.3) argue BN makes training resilient to parameter scale and
so permits higher rates; Bjorck et al. (2018, "Understanding Batch Normalization") show that the
benefit of BN is mostly that it enables larger learning rates, which then regularize; Santurkar et al.
(2018) attribute it to a smoother loss landscape.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnclaims import figures, metrics
from bnclaims.evidence import Arm, Claim

LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
USABLE_FRACTION = 0.9
SOURCE = "talk, Summary slide and Comparison 2"

CLAIM = Claim(
    id="A1", statement="allows larger learning rates", source=SOURCE,
    metric="log10 largest usable learning rate", test="superiority", threshold=math.log10(2),
    threshold_reason="BN's largest usable rate more than twice the plain model's: the smallest change "
                     "of learning rate that matters in practice; one sqrt(10) grid step on every seed",
)
TALK_POINT = Claim(
    id="A1-talk",
    statement="at lr 1, batch 1024 the model without BN does not train (talk: 0.0892) while BN does (0.9505)",
    source=SOURCE, metric="plain failure rate", test="measured", threshold=0.5,
    threshold_reason="'does not train' must hold on most seeds, not on one",
    criterion="BN trains on every seed and the plain model fails (collapsed, diverged or accuracy < 0.2) "
              "on most seeds: lower one-sided 95% Clopper-Pearson bound of its failure rate > 0.5",
)

FINDINGS = {
    "lr1_batch1024": {
        "mnist5k": "refuted on mnist5k (5 seeds): the plain model failed on 2 of 5 seeds at lr 1, batch 1024 "
                   "(failure rate 0.40, 95% lower bound 0.08); it trains badly (0.19-0.61) but does not "
                   "collapse as in the talk, which had 47 steps per epoch on full MNIST against 4 here",
    },
}


def largest_usable_rate(val_accuracies: dict[float, float], usable: dict[float, bool]) -> float:
    """The largest rate within USABLE_FRACTION of the best validation accuracy (and usable)."""
    best = max(val_accuracies.values())
    candidates = [lr for lr, acc in val_accuracies.items() if usable[lr] and acc >= USABLE_FRACTION * best]
    return max(candidates) if candidates else min(val_accuracies)


def per_seed_largest_rates(runs_by_rate: dict[float, list]) -> list[float]:
    seeds = range(len(next(iter(runs_by_rate.values()))))
    rates = []
    for index in seeds:
        runs = {lr: runs_by_rate[lr][index] for lr in runs_by_rate}
        rates.append(largest_usable_rate({lr: metrics.final_val_accuracy(r) for lr, r in runs.items()},
                                         {lr: r.outcome == "trained" for lr, r in runs.items()}))
    return rates


def test_larger_learning_rates(lab, verify, figure):
    arms = {}
    for arm, batch_norm in (("BN", "before"), ("plain", "none")):
        specs = {lr: lab.base_spec(batch_norm=batch_norm, learning_rate=lr) for lr in LEARNING_RATES}
        arms[arm] = lab.sweep(specs, context=f"A1 {arm} lr")
    figure(figures.sweep("Final validation accuracy against learning rate (batch 128)", "learning rate",
                         "validation accuracy (inference mode)",
                         {arm: {lr: [metrics.final_val_accuracy(r) for r in runs] for lr, runs in by_rate.items()}
                          for arm, by_rate in arms.items()}, x_log=True, claim_id=CLAIM.id))
    largest = {arm: per_seed_largest_rates(by_rate) for arm, by_rate in arms.items()}
    verify(CLAIM, "lr_sweep",
           Arm("BN", tuple(np.log10(largest["BN"]))), Arm("plain", tuple(np.log10(largest["plain"]))),
           notes=[f"largest usable rate per seed: BN {largest['BN']}, plain {largest['plain']}",
                  f"a rate equal to the top of the grid ({LEARNING_RATES[-1]:g}) is censored: the true "
                  "largest usable rate may be higher, so the effect is a lower bound"])


def test_talk_point_lr1_batch1024(lab, verify, figure):
    point = {"learning_rate": 1.0, "batch_size": 1024}
    with_bn = lab.across_seeds(lab.base_spec(**point), context="A1 talk point")
    plain = lab.across_seeds(lab.base_spec(batch_norm="none", **point), context="A1 talk point")
    figure(figures.learning_curves("lr 1, batch 1024 (talk's Comparison 2)", {"BN": with_bn, "plain": plain},
                                   claim_id=TALK_POINT.id))
    failures = sum(metrics.failed(run) for run in plain)
    n = len(plain)
    lower = scipy_stats.beta.ppf(0.05, failures, n - failures + 1) if failures else 0.0
    upper = scipy_stats.beta.ppf(0.95, failures + 1, n - failures) if failures < n else 1.0
    bn_all_train = not any(metrics.failed(run) for run in with_bn)
    verify.measured(
        TALK_POINT, "lr1_batch1024", effect=failures / n, ci=(lower, upper),
        passed=bn_all_train and lower > TALK_POINT.threshold, n=n, seeds=lab.settings.seeds,
        test_name="Clopper-Pearson one-sided 95% bounds",
        observed=f"plain failed on {failures}/{n} seeds ({[run.outcome for run in plain]}, test acc "
                 f"{[round(run.test_accuracy, 3) for run in plain]}); BN trained on "
                 f"{sum(not metrics.failed(r) for r in with_bn)}/{n}",
    )
