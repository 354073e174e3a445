"""Tuned twins: the talk's comparisons of two arms again, each arm at its own best learning rate.

Most of the talk's comparisons hold both arms at one learning rate, 0.01. At one small rate a comparison
measures step size as much as the arms' difference: Bjorck et al. (2018, "Understanding Batch
Normalization") find that BN's benefit is mostly the larger rate it allows, and that at the same small
rate its advantage largely disappears. So each comparison below has a twin in which each arm trains at
the rate that is best for it, and the two readings stand side by side in the summary and the report
("as the talk ran it", "each arm at its best rate").

Method (bnclaims.tuning): each arm, in its condition, trains a half-decade grid of learning rates
(START_GRID 0.01-1, grown by one half-decade at a time while the best rate sits at an end, up to the
ladder's 0.001-100) on three tuning seeds, 1000-1002, which no session tests on. Its rate is the one with
the best mean final validation accuracy (inference mode; a diverged run scores 0). The session's test
seeds then train each arm at its chosen rate, and the comparison is made on them only: the choice is
nested, so the test carries no selection bias (tests/test_tuning.py simulates it on a real ledger's
shapes). The ledger records, for every twin, each arm's grid, chosen rate, whether the choice is
interior (censored: at an end of the ladder), and the tuning and test seeds. Tuning runs are cached runs
like any other, shared by every twin whose arm and condition are the same (the base BN and plain models
are tuned once for A1-tuned, A3-tuned.cost and A5-tuned).

The twins compare test accuracy, BN's arm first, with the talk-rate checks' own thresholds, for their
reasons. A run that did not train (diverged, collapsed, or below twice chance: bnclaims.metrics.failed) is
worth a guess: its accuracy counts as chance, 1 / classes. Tuned, the question is what each arm gives a
practitioner who picks its best rate, and an arm that trains at no rate of the ladder gives a guess; the
talk-rate checks of Comparisons 2-4 test failure as such instead.

- A1-tuned.test_accuracy (twin of TABLE-1, the talk's Comparison 1; A1's "larger rates" is only an
  advantage if using them ends better): BN - plain > 0.005.
- A1-tuned.batch1024 (TABLE-2's setting, batch 1024, without its rate of 1): BN - plain > 0.005.
- A3-tuned.uniform5 (TABLE-3's RandomUniform(-5, 5)): BN - plain > 0.005.
- A4-tuned.raw_inputs (TABLE-4's inputs left at 0..255): BN - plain > 0.005.
  The talk-rate checks of these three are about failure (the talk's plain runs did not train); tuned, the
  question is whether BN still scores higher once the plain model may pick a rate it can train at.
- A4-tuned.features (twin of A4.bn_features_vs_scaled): with BN, features of six orders of magnitude
  apart are non-inferior to inputs scaled to 0..1, within one point.
- A5-tuned.sigmoid_vs_relu_gain (twin of A5-sigmoid): sigmoid's gain from BN exceeds relu's by more
  than 0.05, each of the four models at its own rate. At the talk's rate the plain sigmoid model barely
  trains (its training accuracy stays near 0.5), so most of the talk-rate gain may be step size.
- A3's claim is comparative, "more careless": a bad initialization should cost BN less than it costs the
  plain model. A3-cost.talk_rate (at the talk's rate) and A3-tuned.cost (each model at its own rate)
  compare the costs, accuracy at RandomUniform(-5, 5) minus accuracy at glorot_uniform, BN's minus the
  plain model's, paired by seed: > 0.02, A3's two points.

- A2-tuned.passes_to_plateau (A2 as convergence, beside A2.steps_to_target's early speed): with BN and
  plain each at the rate A1-tuned chose for it (the same runs), BN's validation loss reaches its plateau
  in fewer than half the passes: log2(plain passes / BN passes) > 1, A2's one halving. A run's plateau is
  the first pass whose validation loss is within 2% of its lowest (the loss's pass-to-pass noise near
  the minimum is below that; the lowest itself would chase it); a run that did not train is censored at
  twice the budget's passes. Passes are counts: the exact sign test.
- R2-tuned.l2, R2-tuned.dropout (twins of R2.l2, R2.dropout): BN with the regularizer at R2's dose
  (chosen on the plain model's validation accuracy, bnclaims.designs.chosen_dose) is non-inferior to BN
  alone within two points, each at its own rate.
- T2-tuned.before_vs_after (twin of T2-placement): BN before the activation is non-inferior to BN after
  it within one point, each at its own rate.
- P3-tuned.noisy_vs_bn, P3-tuned.noisy_vs_plain (twins of P3-noisy's): BN followed by Santurkar et al.'s
  noise is non-inferior to BN within three points, and beats the plain model by more than one point.

- A6-tuned.batch16, A6-tuned.batch32 (twins of A6.batch16_accuracy and A6.batch32_accuracy): BN trained
  at batch 16 (32), its statistics over that batch, ends with a better test accuracy than at batch 128,
  each batch at its own rate instead of the linear scaling rule's; threshold 0, A6's "slight". A batch 16
  run takes eight times the steps of a batch 128 run, so these run in the paper profile only (a profile
  for an accelerator or a cluster); elsewhere they are skipped and say so.

The four table twins are one Bonferroni family, as the talk's table is; the R2, P3 and A6 twins are
families as their talk-rate checks are; each other twin is its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

import math

from bnclaims import designs, figures, metrics, tuning
from bnclaims.catalogue import Claim, Finding, declare
from bnclaims.evidence import Arm

SOURCE = "Bjorck et al. (2018): BN's benefit is mostly the larger learning rate it permits"
TABLE_FAMILY = "talk table, tuned"
HALF_POINT = ("half a point, as the talk table's Comparison 1: smaller gaps are seed noise for MNIST MLPs and "
              "would not change anyone's choice of architecture")


@dataclass(frozen=True)
class Twin:
    """A comparison of two arms (BN's first), each a RunSpec change from the talk's base setting."""

    of: str                  # the talk-rate check this twin repeats with tuned rates
    arms: dict = field(default_factory=dict)   # arm name -> RunSpec changes


TWINS = {
    "A1-tuned.test_accuracy": Twin("TABLE-1.convergence_speed", {"BN": {}, "plain": {"batch_norm": "none"}}),
    "A1-tuned.batch1024": Twin("TABLE-2.big_learning_rate", {"BN": {"batch_size": 1024},
                                                             "plain": {"batch_norm": "none", "batch_size": 1024}}),
    "A3-tuned.uniform5": Twin("TABLE-3.too_big_weights", {"BN": {"kernel_init": "uniform:5"},
                                                          "plain": {"batch_norm": "none", "kernel_init": "uniform:5"}}),
    "A4-tuned.raw_inputs": Twin("TABLE-4.no_data_normalization", {"BN": {"input_scaling": "raw"},
                                                                  "plain": {"batch_norm": "none", "input_scaling": "raw"}}),
    "A4-tuned.features": Twin("A4.bn_features_vs_scaled", {"features": {"input_scaling": "features"}, "scaled": {}}),
    "T2-tuned.before_vs_after": Twin("T2-placement.before_vs_after", {"before": {}, "after": {"batch_norm": "after"}}),
    "P3-tuned.noisy_vs_bn": Twin("P3-noisy.noisy_vs_bn", {"noisy BN": designs.NOISY_BN, "BN": {}}),
    "P3-tuned.noisy_vs_plain": Twin("P3-noisy.noisy_vs_plain", {"noisy BN": designs.NOISY_BN,
                                                                "plain": {"batch_norm": "none"}}),
    "A6-tuned.batch16": Twin("A6.batch16_accuracy", {"batch 16": {"batch_size": 16, "bn_group": 16}, "batch 128": {}}),
    "A6-tuned.batch32": Twin("A6.batch32_accuracy", {"batch 32": {"batch_size": 32, "bn_group": 32}, "batch 128": {}}),
}
# R2's twins: the regularizer's dose is R2's (chosen on the plain model's validation accuracy).
REGULARIZER_TWINS = {"R2-tuned.l2": "R2.l2", "R2-tuned.dropout": "R2.dropout"}
PLATEAU_TOLERANCE = 0.02
# Comparisons of two differences, each of four models: (first difference's arms, second difference's arms).
BAD_INIT = "uniform:5"
COST_ARMS = {"BN at uniform:5": {"kernel_init": BAD_INIT}, "BN at glorot": {},
             "plain at uniform:5": {"batch_norm": "none", "kernel_init": BAD_INIT},
             "plain at glorot": {"batch_norm": "none"}}
GAIN_ARMS = {"BN sigmoid": {"activation": "sigmoid"}, "plain sigmoid": {"batch_norm": "none", "activation": "sigmoid"},
             "BN relu": {}, "plain relu": {"batch_norm": "none"}}


def _table_claim(statement: str) -> Claim:
    return Claim(statement=statement, source=SOURCE, metric=tuning.TUNED_ACCURACY,
                 test="superiority", threshold=0.005, threshold_reason=HALF_POINT, family=TABLE_FAMILY)


COST_CLAIM = dict(
    source="talk, Summary slide ('more careless about weight initialization') and Comparison 3",
    metric="cost of RandomUniform(-5, 5) in test accuracy (bad - glorot; a failed run counts as chance), BN's - "
           "the plain model's", test="superiority", threshold=0.02,
    threshold_reason="A3's two points: more than twice the talk's own cost to BN (0.8 points), several times the "
                     "seed noise, a cost a practitioner would see")

CHECKS = declare({
    "test_tuned_twin": {
        "A1-tuned.test_accuracy": _table_claim(
            "with each arm at its own best learning rate (chosen on tuning seeds), BN still reaches a higher test "
            "accuracy at the talk's base setting (Comparison 1)"),
        "A1-tuned.batch1024": _table_claim(
            "at batch 1024 (Comparison 2's setting), with each arm at its own best learning rate, BN reaches a "
            "higher test accuracy"),
        "A3-tuned.uniform5": _table_claim(
            "with RandomUniform(-5, 5) weights (Comparison 3's), each arm at its own best learning rate, BN reaches "
            "a higher test accuracy"),
        "A4-tuned.raw_inputs": _table_claim(
            "with inputs left at 0..255 (Comparison 4's), each arm at its own best learning rate, BN reaches a higher "
            "test accuracy"),
        "A4-tuned.features": Claim(
            statement="no need for data normalization, each arm at its own best learning rate: with BN, features of "
                      "scales six orders of magnitude apart are not worse than inputs scaled to 0..1",
            source=SOURCE, metric=tuning.TUNED_ACCURACY, test="non_inferiority",
            threshold=0.01, threshold_reason="A4's one point: the accuracy a practitioner would give up for skipping "
                                             "a preprocessing step"),
        "T2-tuned.before_vs_after": Claim(
            statement="BN placed before the activation, as the talk places it, costs no test accuracy against BN "
                      "after the activation, each at its own best learning rate", source=SOURCE,
            metric=tuning.TUNED_ACCURACY, test="non_inferiority", threshold=0.01,
            threshold_reason="T2-placement's one point: a credible point is reason to switch placements"),
        "P3-tuned.noisy_vs_bn": Claim(
            statement="BN followed by i.i.d. noise per activation and example trains about as well as BN, each at "
                      "its own best learning rate", source=SOURCE, metric=tuning.TUNED_ACCURACY, test="non_inferiority", threshold=0.03, threshold_reason="P3-noisy's three points, as "
                      "for A5", family="P3 noisy BN, tuned"),
        "P3-tuned.noisy_vs_plain": Claim(
            statement="BN followed by i.i.d. noise per activation and example still beats no BN, each at its own "
                      "best learning rate", source=SOURCE, metric=tuning.TUNED_ACCURACY,
            test="superiority", threshold=0.01, threshold_reason="P3-noisy's one point: a real advantage, above "
                                                                  "paired seed noise", family="P3 noisy BN, tuned"),
    },
    "test_small_batch_twin": {
        f"A6-tuned.batch{batch}": Claim(
            statement=f"adds slight regularization effect if used with small batch: BN trained at batch {batch} ends "
                      f"with a better test accuracy than at batch 128, each at its own best learning rate",
            source=SOURCE, metric=tuning.TUNED_ACCURACY, test="superiority", threshold=0.0,
            threshold_reason="A6's 'slight': the talk gives no size, so any credible gain is the effect",
            family="A6 optimizer batch, tuned", profiles=("paper",),
            profiles_reason=f"tuning batch {batch} costs {128 // batch} times a batch 128 run's steps per run, more than "
                            f"the default profile's 2-core budget allows")
        for batch in (16, 32)
    },
    "test_regularizer_twin": {
        check: Claim(
            statement=f"It is ok to use Batch Normalization with {designs.REGULARIZERS[of][0][5:]}, each arm at its "
                      f"own best learning rate", source=SOURCE,
            metric=tuning.TUNED_ACCURACY, test="non_inferiority", threshold=0.02,
            threshold_reason="R2's two points: 15-70% more errors at BN's accuracies, a cost anyone would notice",
            family="R2 BN with L2 or Dropout, tuned")
        for check, of in REGULARIZER_TWINS.items()
    },
    "test_bn_converges_in_fewer_passes_when_tuned": {
        "A2-tuned.passes_to_plateau": Claim(
            statement="model converges in less number of epochs, each model at its own best learning rate: BN's "
                      "validation loss reaches its plateau in fewer than half the passes", source=SOURCE,
            metric="log2(plain passes / BN passes) to within 2% of the run's lowest validation loss",
            test="superiority", threshold=1.0,
            threshold_reason="A2's one halving: 'fewer epochs' means a factor a practitioner plans by, not a pass "
                             "or two", exact_test=True),
    },
    "test_sigmoid_gains_most_when_tuned": {
        "A5-tuned.sigmoid_vs_relu_gain": Claim(
            statement="allows to use more activation functions freely, each model at its own best learning rate: "
                      "sigmoid's gain from BN exceeds relu's", source=SOURCE,
            metric="gain from BN in test accuracy (BN - plain), each model at its tuned rate", test="superiority",
            threshold=0.05, threshold_reason="A5-sigmoid's five points: a clear difference, above seed noise"),
    },
    "test_bad_initialization_costs_bn_less": {
        "A3-cost.talk_rate": Claim(
            statement="allows us to be more careless about weight initialization: at the talk's rate a bad "
                      "initialization costs BN less than it costs the plain model", **COST_CLAIM),
        "A3-tuned.cost": Claim(
            statement="allows us to be more careless about weight initialization, each model at its own best "
                      "learning rate: a bad initialization costs BN less than it costs the plain model", **COST_CLAIM),
    },
})


# Decided from the first default run of the twins (tuning seeds 1000-1002, the default design's seeds).
DEFAULT = dict(datasets=("mnist5k",), profiles=("default",), engines=("compiled",))
FINDINGS = {
    "A1-tuned.batch1024": Finding(
        outcome="inconclusive", **DEFAULT,
        reason="at batch 1024, {a} scores {effect} above {b} ({ci}, {ci_method}; means {a_mean} vs {b_mean}; higher "
               "on {wins} seeds): neither credibly more than half a point (p={p}) nor less (mirror p={mirror_p}) at "
               "{alpha} after {n} seeds. Given a rate it can train at, the plain model at batch 1024 trains to about "
               "BN's accuracy: the talk's Comparison 2 failure was its rate of 1"),
    "A4-tuned.features": Finding(
        outcome="refuted", **DEFAULT,
        reason="with each arm at its own best rate, BN on features of their own scales ({a}) scores {effect} against "
               "inputs scaled to 0..1 ({b}) ({ci}, {ci_method}; means {a_mean} vs {b_mean}), credibly worse than the "
               "one-point margin (mirror p={mirror_p} at {alpha}): tuning the rate does not undo unequal feature "
               "scales, as at the talk's rate (A4.bn_features_vs_scaled). BN rescales each unit's sum, not the "
               "features within it"),
    "A5-tuned.sigmoid_vs_relu_gain": Finding(
        outcome="refuted", **DEFAULT,
        reason="with each of the four models at its own best rate, sigmoid's gain from BN minus relu's is {effect} "
               "({ci}, {ci_method}; gains per seed: sigmoid {a_values}, relu {b_values}), credibly below the "
               "five-point threshold (mirror p={mirror_p} at {alpha}). At its own, larger rate the plain sigmoid model "
               "trains (the tuning notes give each model's rate): the talk-rate gain of A5-sigmoid is mostly the plain "
               "sigmoid model's rate being too small for it"),
    "A2-tuned.passes_to_plateau": Finding(
        outcome="refuted", **DEFAULT,
        reason="with each model at its own best rate, BN's validation loss reaches its plateau {effect} halvings "
               "sooner than the plain model's ({ci}, {ci_method}; log2 passes: plain {a_values} against BN "
               "{b_values}), credibly less than the one halving the claim needs (mirror p={mirror_p} at {alpha}). "
               "Both converge within a small part of the talk's budget (150 passes over mnist5k's 3,200 training "
               "images), BN a little sooner; the halving of A2.steps_to_target is early speed at the talk's rate"),
    "P3-tuned.noisy_vs_plain": Finding(
        outcome="refuted", **DEFAULT,
        reason="with each arm at its own best rate, BN followed by noise ({a}) scores {effect} against the plain "
               "model ({b}) ({ci}, {ci_method}; means {a_mean} vs {b_mean}), credibly less than the one point the "
               "claim needs (mirror p={mirror_p} at {alpha}): noisy BN trains as well as BN (P3-tuned.noisy_vs_bn) "
               "and as well as the plain model, but no better, once each has its own rate"),
}

def tuned(lab, arms: dict, check: str):
    """({arm: Tuning}, {arm: runs at its tuned rate across the session's seeds})."""
    return tuning.tuned_twin(lab, {arm: lab.base_spec(**changes) for arm, changes in arms.items()}, context=check)


def tuning_record(tunings) -> dict:
    return {arm: choice.to_dict() for arm, choice in tunings.items()}


def _tuning_figure(tunings, claim_id: str) -> dict:
    return figures.sweep("Mean final validation accuracy of the tuning seeds against learning rate",
                         "learning rate", "validation accuracy (inference mode)",
                         {arm: {rate: list(values) for rate, values in choice.validation.items()}
                          for arm, choice in tunings.items()}, x_log=True, claim_id=claim_id)


def value_arm(name: str, runs) -> Arm:
    """An arm of accuracies with failed runs at chance: every seed compared on one scale (no failure part)."""
    return Arm(name, tuple(accuracy_or_chance(run) for run in runs), tuple(run.spec.seed for run in runs),
               run_keys=tuple(run.key for run in runs))


def failure_note(runs: dict) -> str:
    failed = {arm: sum(metrics.failed(run) for run in arm_runs) for arm, arm_runs in runs.items()}
    return f"runs that did not train (counted at chance) per arm, of {len(next(iter(runs.values())))}: {failed}"


def test_tuned_twin(check, lab, verify, figure):
    twin = TWINS[check]
    tunings, runs = tuned(lab, twin.arms, check)
    figure(_tuning_figure(tunings, CHECKS[check].claim_id))
    first, second = twin.arms
    verify(check, value_arm(f"{first} (lr {tunings[first].chosen:g})", runs[first]),
           value_arm(f"{second} (lr {tunings[second].chosen:g})", runs[second]),
           notes=[f"the twin of {twin.of}, which holds both arms at the talk's rate", *tuning.tuning_notes(tunings),
                  failure_note(runs)],
           tuning=tuning_record(tunings))


def test_small_batch_twin(check, lab, verify, figure):
    test_tuned_twin(check, lab, verify, figure)


def test_regularizer_twin(check, lab, verify, figure):
    label, field, doses = designs.REGULARIZERS[REGULARIZER_TWINS[check]]
    dose, _, _ = designs.chosen_dose(lab, field, doses, context=f"R2 plain {field} on validation")
    arms = {f"{label} ({field} {dose:g})": {field: dose}, "BN": {}}
    tunings, runs = tuned(lab, arms, check)
    figure(_tuning_figure(tunings, CHECKS[check].claim_id))
    first, second = arms
    verify(check, value_arm(f"{first} (lr {tunings[first].chosen:g})", runs[first]),
           value_arm(f"{second} (lr {tunings[second].chosen:g})", runs[second]),
           notes=[f"the twin of {REGULARIZER_TWINS[check]}, which holds both arms at the talk's rate; the dose is "
                  f"R2's, chosen on the plain model's validation accuracy", *tuning.tuning_notes(tunings),
                  failure_note(runs)],
           tuning=tuning_record(tunings))


def passes_to_plateau(run, tolerance: float = PLATEAU_TOLERANCE) -> float:
    """The first pass (1-based) whose validation loss is within `tolerance` of the run's lowest; a run that
    did not train is censored at twice its passes."""
    losses = [value for value in run.history["val_loss"] if math.isfinite(value)]
    if metrics.failed(run) or not losses:
        return 2.0 * len(run.history["val_loss"])
    lowest = min(losses)
    return float(next(epoch for epoch, value in enumerate(run.history["val_loss"], start=1)
                      if math.isfinite(value) and value <= lowest * (1 + tolerance)))


def test_bn_converges_in_fewer_passes_when_tuned(check, lab, verify, figure):
    tunings, runs = tuned(lab, TWINS["A1-tuned.test_accuracy"].arms, check)
    figure(figures.curves("Validation loss per pass, each arm at its tuned rate", "pass", "validation loss",
                          {arm: {"val_loss": [run.history["val_loss"] for run in arm_runs]}
                           for arm, arm_runs in runs.items()}, claim_id="A2-tuned"))
    passes = {arm: [passes_to_plateau(run) for run in arm_runs] for arm, arm_runs in runs.items()}
    seeds = tuple(run.spec.seed for run in runs["BN"])
    verify(check, Arm("log2 plain passes", tuple(np.log2(passes["plain"])), seeds),
           Arm("log2 BN passes", tuple(np.log2(passes["BN"])), seeds),
           notes=[f"passes to within {PLATEAU_TOLERANCE:.0%} of the lowest validation loss per seed: BN "
                  f"{passes['BN']}, plain {passes['plain']}; the same runs as A1-tuned.test_accuracy",
                  *tuning.tuning_notes(tunings), failure_note(runs)],
           tuning=tuning_record(tunings))


def difference_of_differences(runs: dict, names: tuple[str, str, str, str], value) -> tuple[np.ndarray, np.ndarray]:
    """Per seed: (runs[a] - runs[b], runs[c] - runs[d]) of value(run), for names (a, b, c, d)."""
    a, b, c, d = (np.array([value(run) for run in runs[name]]) for name in names)
    return a - b, c - d


def test_sigmoid_gains_most_when_tuned(check, lab, verify, figure):
    tunings, runs = tuned(lab, GAIN_ARMS, check)
    figure(_tuning_figure(tunings, CHECKS[check].claim_id))
    sigmoid_gain, relu_gain = difference_of_differences(runs, tuple(GAIN_ARMS), accuracy_or_chance)
    seeds = tuple(run.spec.seed for run in runs["BN relu"])
    verify(check, Arm("sigmoid gain", tuple(sigmoid_gain), seeds), Arm("relu gain", tuple(relu_gain), seeds),
           notes=["the twin of A5-sigmoid.sigmoid_vs_relu_gain, which holds all four models at the talk's rate",
                  *tuning.tuning_notes(tunings), failure_note(runs)],
           tuning=tuning_record(tunings))


def accuracy_or_chance(run) -> float:
    """A run's test accuracy; a run that did not train (metrics.failed) is worth a guess, 1 / classes."""
    return 1.0 / len(run.prediction_histogram) if metrics.failed(run) else run.test_accuracy


def test_bad_initialization_costs_bn_less(check, lab, verify, figure):
    if check == "A3-cost.talk_rate":
        runs = {arm: lab.across_seeds(lab.base_spec(**changes), context=check) for arm, changes in COST_ARMS.items()}
        tunings, notes = None, ["both models at the talk's rate, 0.01; A3-tuned.cost is its tuned twin"]
    else:
        tunings, runs = tuned(lab, COST_ARMS, check)
        figure(_tuning_figure(tunings, CHECKS[check].claim_id))
        notes = ["the twin of A3-cost.talk_rate", *tuning.tuning_notes(tunings)]
    bn_cost, plain_cost = difference_of_differences(runs, tuple(COST_ARMS), accuracy_or_chance)
    seeds = tuple(run.spec.seed for run in runs["BN at glorot"])
    verify(check, Arm("BN's cost", tuple(bn_cost), seeds), Arm("plain's cost", tuple(plain_cost), seeds),
           notes=[*notes, failure_note(runs)],
           tuning=tuning_record(tunings) if tunings else None)
