"""A6: Batch Normalization "adds slight regularization effect if used with small batch" (talk, Summary and
"Regularization Effect Summary" slides: "Randomness causes slight regularization effect. That's why it's
good to use Batch Normalization with low value of batch_size parameter." An argument, no experiment).

What counts as regularization: a better test result at the end of the budget, test accuracy credibly
higher or test cross-entropy credibly lower. A smaller generalization gap (training minus test accuracy)
is not enough: a gap that shrinks because training accuracy falls while test accuracy falls too is
underfitting. Every check's notes read its arms that way (bnclaims.metrics.generalization_reading: the
paired changes of test accuracy, test loss and gap, each by its 95% t interval).

1. The advice as stated: the OPTIMIZER batch (Keras's batch_size) at 16, 32 and the talk's 128, with and
   without BN, at the same examples seen (the profile's budget: at the talk's budget, 3,750 SGD steps at
   128, 15,000 at 32, 30,000 at 16). Learning rate by the linear scaling rule (Goyal et al. 2017,
   "Accurate, Large Minibatch SGD"): lr = 0.01 x batch / 128, the talk's 0.01 at 128. Why this rule and
   not a fixed rate: at the same examples seen it keeps the summed step length (lr x steps) and SGD's
   gradient-noise scale lr / batch (Smith & Le 2018; Jastrzebski et al. 2017) the same across batches,
   so a smaller batch changes what the talk names, the noise of BN's batch mean and variance, and not
   the optimizer's temperature; a fixed rate would give batch 16 eight times the step length and the
   noise temperature, confounding longer, noisier optimization with BN's regularization. The plain
   model under the same rule is the control for whatever the batch still changes in the optimizer.
   BN's statistics here are computed by bnclaims.engines.layers.GhostBatchNormalization with one group per
   mini-batch (equal to Keras's BatchNormalization, tests/test_training.py), so that batch 128 is the
   same arm as the ghost design's 128 below and every BN arm of the module is computed the same way.
   - A6.batch16_accuracy, A6.batch32_accuracy: BN at batch 16 (32) minus BN at 128, test accuracy,
     superiority over 0. A6-loss.batch16, A6-loss.batch32: BN's test loss at 128 minus at 16 (32),
     superiority over 0. One family of four (Bonferroni): the claim is "better test accuracy OR test
     loss", and the family keeps the chance that either says so falsely at 0.05. The accuracy checks
     are A6's own (they decide the advantage in the report); the loss checks are listed with it.
   - A6-noise.batch16: BN's gain from batch 16 minus the plain model's gain from batch 16, test
     accuracy, superiority over 0: the part of the small batch's effect that needs BN, which is what the
     talk's mechanism claims. Its own family.
2. BN's own noise at a fixed optimizer batch of 128: ghost batches (Hoffer et al. 2017) whose BN
   statistics come from groups of 8, 32 or 128 examples, the optimizer unchanged.
   - A6-ghost.group8_vs_128, A6-ghost.group32_vs_128: test accuracy, superiority over 0, a family of two.
3. Boundary: BN's known breakdown when its statistics come from very few examples (Ioffe 2017, "Batch
   Renormalization"; Wu & He 2018, "Group Normalization": BN's error rises steeply below batch 8, 10.6
   points above GN's at batch 2 on ImageNet). Ghost groups of 2 and 4 at optimizer batch 128 isolate
   the statistics batch. The advice "low batch_size" has a floor, and this shows whether the design can
   see BN's statistics noise at all (a positive control for the checks above).
   - A6-boundary.group2_vs_128, A6-boundary.group4_vs_128: test accuracy at 128 minus at 2 (4),
     superiority over 0.02. A family of two.

Thresholds, fixed before running:
- Small batches and ghost groups, 0: the talk promises a "slight" effect of no stated size. Any credible
  gain at the end of the budget is the effect it describes, any credible loss contradicts the advice
  (refuted), and a positive threshold would call a real but slight gain "refuted".
- Boundary, 0.02: a breakdown, not a slight change: two points of test accuracy, what the suite calls a
  cost anyone would notice (R2's margin), well below the ten points Wu & He report at batch 2; in an
  MLP a statistic over 2 examples is cruder than in their convolutional nets (each normalized value is
  about +/-1 per unit), so if the breakdown is there it is larger than that.

A caveat of short budgets: in the short profile batch 128 makes 250 steps, after which BN's moving averages
(momentum 0.99, what inference uses) still hold 8% of their initial values, while batch 16's 2,000 steps
leave none: there an inference-mode comparison favours the small batch for a reason that is not
regularization. At the talk's budget (3,750 steps at 128) the residue is 0.99^3750, nothing. The
notes state each arm's steps and residue.

Cost at the talk's budget (measured on one process, one XLA thread, beside other work): about 8 s per
run at batch 16 and 7 s at 32 (the steps are small), 6 s at 128, 10 s for ghost groups of 2. The
plain model's batch-128 arm is the talk table's (a cache hit); BN's batch-128 arm is the ghost design's.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnclaims import figures, metrics
from bnclaims.catalogue import CONTROL_FINDINGS, Claim, Finding, declare, with_normalizer_controls
from bnclaims.evidence import Arm, arm_from_runs

SOURCE = "talk, Summary slide and 'Regularization Effect Summary' slide"
STATEMENT = "adds slight regularization effect if used with small batch"
TALK_BATCH = 128
TALK_LEARNING_RATE = 0.01
SMALL_BATCHES = (16, 32)
GHOST_GROUPS = (8, 32)
BOUNDARY_GROUPS = (2, 4)
RECORD = ("train_inference",)     # the generalization gap needs training accuracy in inference mode


def scaled_learning_rate(batch_size: int) -> float:
    """The linear scaling rule from the talk's lr 0.01 at batch 128."""
    return TALK_LEARNING_RATE * batch_size / TALK_BATCH


SLIGHT = 0.0
SLIGHT_REASON = ("the talk promises a 'slight' effect of no stated size: any credible gain at the end of the "
                 "budget is the effect, any credible loss contradicts the advice")
BREAKDOWN = 0.02
BREAKDOWN_REASON = ("a breakdown is at least two points of test accuracy (a cost anyone would notice), well below "
                    "the ten points Wu & He 2018 report for BN at batch 2")
OPTIMIZER_FAMILY = "A6 optimizer batch"


def _optimizer_claim(batch: int, metric: str) -> Claim:
    return Claim(statement=f"{STATEMENT}: BN trained at batch_size {batch} (lr {scaled_learning_rate(batch):g}, "
                           f"linear scaling) ends with a better test {metric} than at the talk's 128 (lr 0.01), "
                           "at the same examples seen",
                 source=SOURCE, metric=f"test {metric}" if metric == "accuracy" else
                 f"test cross-entropy (batch 128 - batch {batch}: positive when batch {batch} ends lower)",
                 test="superiority", threshold=SLIGHT, threshold_reason=SLIGHT_REASON, family=OPTIMIZER_FAMILY)


def _ghost_claim(group: int) -> Claim:
    return Claim(statement=f"{STATEMENT}: BN statistics over ghost batches of {group} examples (optimizer batch "
                           "128) end with a better test accuracy than statistics over the whole batch of 128",
                 source=f"{SOURCE}; Hoffer et al. 2017 (ghost batch normalization)", metric="test accuracy",
                 test="superiority", threshold=SLIGHT, threshold_reason=SLIGHT_REASON, family="A6 ghost batch")


def _boundary_claim(group: int) -> Claim:
    return Claim(statement=f"boundary of the advice: BN statistics over only {group} examples (ghost batches, "
                           "optimizer batch 128) cost more than two points of test accuracy against 128",
                 source="Ioffe 2017 (Batch Renormalization); Wu & He 2018 (Group Normalization)",
                 metric="test accuracy (statistics over 128 - over the small group)", test="superiority",
                 threshold=BREAKDOWN, threshold_reason=BREAKDOWN_REASON, family="A6 boundary")


CHECKS = declare({
    "test_small_optimizer_batch_improves_test_accuracy": with_normalizer_controls({
        "A6.batch16_accuracy": _optimizer_claim(16, "accuracy"),
        "A6.batch32_accuracy": _optimizer_claim(32, "accuracy"),
    }),
    "test_small_optimizer_batch_lowers_test_loss": {
        "A6-loss.batch16": _optimizer_claim(16, "loss"),
        "A6-loss.batch32": _optimizer_claim(32, "loss"),
    },
    "test_small_batch_gain_needs_batch_norm": {
        "A6-noise.batch16": Claim(
            statement=f"{STATEMENT}: the gain in test accuracy from batch 16 over 128 (linear scaling) is larger "
                      "with BN than without it: the part of the small batch's effect that BN's noise adds",
            source=SOURCE, metric="test accuracy gain from batch 16 (BN's minus the plain model's)",
            test="superiority", threshold=SLIGHT, threshold_reason=SLIGHT_REASON),
    },
    "test_small_statistics_batches_improve_test_accuracy": {
        "A6-ghost.group8_vs_128": _ghost_claim(8),
        "A6-ghost.group32_vs_128": _ghost_claim(32),
    },
    "test_very_small_statistics_batches_break_down": {
        "A6-boundary.group2_vs_128": _boundary_claim(2),
        "A6-boundary.group4_vs_128": _boundary_claim(4),
    },
})

SHORT_STEPS = ("In the short profile batch 128 makes 250 steps, which leave 8% of BN's initial moving statistics in "
               "the inference-mode model, against none after batch 16's 2,000: even a credible gain there would "
               "not be clean regularization")

GHOST32_TOO_ALIKE = ("BN statistics over ghost batches of 32 score {effect} against 128 ({ci}, {ci_method}; means "
                     "{a_mean} vs {b_mean}), neither credibly above 0 (p={p}) nor below (p={mirror_p}) at {alpha}: "
                     "groups of 32 and 128 give statistics too alike to separate in test accuracy with these seeds")

# What the small batch leaves a normalizer without batch statistics (the normalizer controls).
NO_BATCH_NOISE = ("{a} scores {effect} against {b} ({ci}, {ci_method}; means {a_mean} vs {b_mean}), neither credibly "
                  "above 0 (p={p}) nor below (mirror p={mirror_p}) at {alpha} after {n} seeds. LayerNorm and GroupNorm "
                  "normalize each example by its own statistics: a smaller batch changes none of their outputs, and "
                  "leaves only SGD's own noise, at the rate the linear scaling rule gives. BN's gain at small batch "
                  "(A6's BN checks) is the part its batch statistics add")

FINDINGS = {
    "A6.batch16_accuracy": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",),
        reason="BN at batch 16 scores {effect} against batch 128 ({ci}, {ci_method}; means {a_mean} vs {b_mean}; "
               "higher on {wins} seeds), not credibly above 0 at {alpha} (p={p}) nor below (p={mirror_p}). "
               + SHORT_STEPS),
    # On the default profile the check is supported on both instruction sets with bnclaims.streams' draws
    # (p 0.00129 natively, 0.00036 with XLA capped at AVX, 21 seeds, level 0.00417): no finding there.
    "A6.batch32_accuracy": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",),
        reason="BN at batch 32 scores {effect} against batch 128 ({ci}, {ci_method}; means {a_mean} vs {b_mean}; "
               "higher on {wins} seeds), not credibly above 0 at {alpha} (p={p}) nor below (p={mirror_p}). "
               + SHORT_STEPS),
    "A6-noise.batch16": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",), near_level=True,
        reason="batch 16 moves BN's test accuracy by {a_mean} and the plain model's by {b_mean} (per seed "
               "{a_values} and {b_values}): BN's extra gain {effect} ({ci}, {ci_method}) is not credibly above 0 "
               "(p={p} at {alpha}) nor below (p={mirror_p}). The plain model's near-zero change is what the "
               "linear scaling rule is for: the optimizer's part is held fixed"),
    "A6-ghost.group8_vs_128": Finding(
        outcome="refuted", datasets=("mnist5k",), profiles=("short",),
        reason="BN statistics over ghost batches of 8 change test accuracy by {effect} ({ci}, {ci_method}; means "
               "{a_mean} vs {b_mean}; higher on {wins} seeds; mirror p={mirror_p} at {alpha}). The generalization "
               "gap shrinks because training accuracy falls more than test accuracy (the notes' reading): a smaller "
               "gap with a lower test accuracy is not the better test result regularization means"),
    # On the default profile the check is supported (p 0.00024 at 14 seeds on bnclaims.streams' draws, 0.0059
    # at 21 before them): no finding there.
    "A6-ghost.group32_vs_128": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",),
        reason=GHOST32_TOO_ALIKE),
    "A6-boundary.group4_vs_128": Finding(
        outcome="refuted", datasets=("mnist5k",), profiles=("default",), engines=("compiled",),
        reason="BN statistics over groups of 4 cost only {effect} of test accuracy against groups of 128 ({ci}, "
               "{ci_method}; means {a_mean} vs {b_mean}), credibly less than the two-point breakdown (mirror "
               "p={mirror_p} at {alpha}). The optimizer still averages its gradient over 128 examples and the "
               "moving statistics average over many steps, so in this MLP four examples per statistic are noisy "
               "but not broken; the breakdown is at groups of 2 (A6-boundary.group2_vs_128), where every "
               "normalized value is about +1 or -1"),
    # The normalizer controls (docs/normalizers.md), decided from the controls profile's first run.
    "A6-LN.batch16_accuracy": Finding(outcome="inconclusive", **CONTROL_FINDINGS, reason=NO_BATCH_NOISE),
    "A6-LN.batch32_accuracy": Finding(outcome="inconclusive", **CONTROL_FINDINGS, reason=NO_BATCH_NOISE),
    "A6-GN.batch16_accuracy": Finding(outcome="inconclusive", **CONTROL_FINDINGS, reason=NO_BATCH_NOISE),
    "A6-GN.batch32_accuracy": Finding(outcome="inconclusive", **CONTROL_FINDINGS, reason=NO_BATCH_NOISE),
}


def bn_at_batch(lab, batch: int):
    # bn_group=batch computes BN with the ghost layer, one group a mini-batch, as every BN arm of the module
    # (see the docstring). A normalizer without batch statistics (a control) has no group, and on a conv net
    # (the conv profile) the ghost layer, written for Dense units, gives way to Keras's BN, which equals it.
    group = batch if lab.normalizer == "batch" and lab.settings.architecture == "mlp" else 0
    return lab.base_spec(batch_size=batch, bn_group=group, learning_rate=scaled_learning_rate(batch), record=RECORD)


def plain_at_batch(lab, batch: int):
    # No train_inference: the plain model's gap is not read, and its batch-128 arm stays the talk table's.
    return lab.base_spec(batch_norm="none", batch_size=batch, learning_rate=scaled_learning_rate(batch))


def ghost(lab, group: int):
    return lab.base_spec(batch_size=TALK_BATCH, bn_group=group, record=RECORD)


def mean(values) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else math.nan


def per_seed(runs, metric) -> list[float]:
    return [float(metric(run)) for run in runs]


def reading_note(label: str, new, reference) -> str:
    """The paired reading of a setting against its reference: regularization, underfitting, ..."""
    change = lambda metric: np.subtract(per_seed(new, metric), per_seed(reference, metric))
    reading, words = metrics.generalization_reading(change(metrics.test_accuracy), change(metrics.final_test_loss),
                                                    change(metrics.generalization_gap))
    return f"{label}: {reading} ({words})"


def arm_means_note(arms: dict) -> str:
    parts = []
    for label, runs in arms.items():
        gap = (f", train {mean(per_seed(runs, lambda r: r.extras['train_inference']['accuracy'])):.4f}, gap "
               f"{mean(per_seed(runs, metrics.generalization_gap)):+.4f}" if "train_inference" in runs[0].spec.record
               else "")
        parts.append(f"{label}: test acc {mean(per_seed(runs, metrics.test_accuracy)):.4f}, test loss "
                     f"{mean(per_seed(runs, metrics.final_test_loss)):.4f}{gap}")
    return "means per arm (inference mode): " + "; ".join(parts)


def sweep_figures(figure, title: str, x_label: str, arms: dict, claim_id: str) -> None:
    """Test accuracy, test loss and (where recorded) the generalization gap against the swept setting."""
    for y_label, metric in (("test accuracy", metrics.test_accuracy), ("test cross-entropy", metrics.final_test_loss)):
        figure(figures.sweep(f"{y_label} against {title}", x_label, y_label,
                             {arm: {x: per_seed(runs, metric) for x, runs in by_x.items()} for arm, by_x in arms.items()},
                             x_log=True, claim_id=claim_id))
    recorded = {arm: by_x for arm, by_x in arms.items() if all("train_inference" in r[0].spec.record for r in by_x.values())}
    if recorded:
        figure(figures.sweep(f"generalization gap against {title}", x_label, "train - test accuracy (inference mode)",
                             {arm: {x: per_seed(runs, metrics.generalization_gap) for x, runs in by_x.items()}
                              for arm, by_x in recorded.items()}, x_log=True, claim_id=claim_id))


def _optimizer_batches(lab):
    """{"BN" | "plain": {batch: runs across seeds}} at the same examples seen, lr by linear scaling."""
    batches = (*SMALL_BATCHES, TALK_BATCH)
    with_bn = lab.sweep({b: bn_at_batch(lab, b) for b in batches}, context="A6 BN at optimizer batch")
    plain = lab.sweep({b: plain_at_batch(lab, b) for b in (SMALL_BATCHES[0], TALK_BATCH)},
                      context="A6 plain at optimizer batch")
    return {"BN": with_bn, "plain": plain}


@pytest.fixture(scope="module")
def optimizer_batches(lab):
    """optimizer_batches for the current look's seeds (Lab.per_look): call it in the test."""
    return lab.per_look(lambda: _optimizer_batches(lab))


def _ghost_groups(lab):
    """{group size: runs across seeds} at optimizer batch 128; 128 is one group (ordinary BN)."""
    return lab.sweep({g: ghost(lab, g) for g in (*BOUNDARY_GROUPS, *GHOST_GROUPS, TALK_BATCH)},
                     context="A6 BN statistics over")


@pytest.fixture(scope="module")
def ghost_groups(lab):
    """ghost_groups for the current look's seeds (Lab.per_look): call it in the test."""
    return lab.per_look(lambda: _ghost_groups(lab))


def steps_note(lab, by_batch: dict) -> str:
    """Steps per arm and what BN's moving averages still hold of their initial values after them: fewer
    steps at a larger batch leave more, which favours the small batch in inference mode on short budgets."""
    steps = {b: lab.budget_of(runs[0].spec)[1] for b, runs in by_batch.items()}
    return ("SGD steps per run and the share of their initial values BN's moving averages (momentum 0.99) keep: "
            + ", ".join(f"batch {b}: {n} steps, {0.99 ** n:.1e}" for b, n in steps.items()))


def lr_note() -> str:
    return ("learning rate by the linear scaling rule: " + ", ".join(
        f"batch {b}: {scaled_learning_rate(b):g}" for b in (*SMALL_BATCHES, TALK_BATCH))
        + "; every arm sees the profile's examples, so smaller batches take more steps")


def test_small_optimizer_batch_improves_test_accuracy(check, optimizer_batches, lab, verify, figure):
    optimizer_batches = optimizer_batches()
    batch = int(check.split("batch")[1].split("_")[0])
    with_bn = optimizer_batches["BN"]
    sweep_figures(figure, "the optimizer batch (lr by linear scaling, same examples seen)", "batch_size",
                  optimizer_batches, "A6")
    verify(check, arm_from_runs(f"BN batch {batch}", with_bn[batch], metrics.test_accuracy),
           arm_from_runs(f"BN batch {TALK_BATCH}", with_bn[TALK_BATCH], metrics.test_accuracy),
           notes=[lr_note(), steps_note(lab, with_bn),
                  reading_note(f"BN batch {batch} against {TALK_BATCH}", with_bn[batch], with_bn[TALK_BATCH]),
                  arm_means_note({f"BN batch {b}": runs for b, runs in with_bn.items()})])


def test_small_optimizer_batch_lowers_test_loss(check, optimizer_batches, lab, verify):
    optimizer_batches = optimizer_batches()
    batch = int(check.split("batch")[1])
    with_bn = optimizer_batches["BN"]
    verify(check, arm_from_runs(f"BN batch {TALK_BATCH}", with_bn[TALK_BATCH], metrics.final_test_loss),
           arm_from_runs(f"BN batch {batch}", with_bn[batch], metrics.final_test_loss),
           notes=[lr_note(), steps_note(lab, with_bn), "a diverged run scores ln(10), an untrained softmax's loss",
                  reading_note(f"BN batch {batch} against {TALK_BATCH}", with_bn[batch], with_bn[TALK_BATCH])])


def test_small_batch_gain_needs_batch_norm(check, optimizer_batches, verify):
    optimizer_batches = optimizer_batches()
    batch = SMALL_BATCHES[0]
    gains = {}
    for arm, by_batch in optimizer_batches.items():
        small, reference = by_batch[batch], by_batch[TALK_BATCH]
        gains[arm] = Arm(f"{arm}: batch {batch} - batch {TALK_BATCH}",
                         np.subtract(per_seed(small, metrics.test_accuracy), per_seed(reference, metrics.test_accuracy)),
                         [run.spec.seed for run in small])
    plain = optimizer_batches["plain"]
    verify(check, gains["BN"], gains["plain"],
           notes=[lr_note(), arm_means_note({f"plain batch {b}": runs for b, runs in plain.items()}),
                  arm_means_note({f"BN batch {b}": optimizer_batches['BN'][b] for b in (batch, TALK_BATCH)})])


def test_small_statistics_batches_improve_test_accuracy(check, ghost_groups, verify, figure):
    ghost_groups = ghost_groups()
    group = int(check.split("group")[1].split("_")[0])
    sweep_figures(figure, "the batch of BN's statistics (ghost batches, optimizer batch 128)",
                  "examples per BN statistics group", {"BN (ghost batches)": ghost_groups}, "A6-ghost")
    verify(check, arm_from_runs(f"statistics over {group}", ghost_groups[group], metrics.test_accuracy),
           arm_from_runs(f"statistics over {TALK_BATCH}", ghost_groups[TALK_BATCH], metrics.test_accuracy),
           notes=[reading_note(f"ghost groups of {group} against {TALK_BATCH}", ghost_groups[group],
                               ghost_groups[TALK_BATCH]),
                  arm_means_note({f"groups of {g}": runs for g, runs in ghost_groups.items()})])


def test_very_small_statistics_batches_break_down(check, ghost_groups, verify):
    ghost_groups = ghost_groups()
    group = int(check.split("group")[1].split("_")[0])
    verify(check, arm_from_runs(f"statistics over {TALK_BATCH}", ghost_groups[TALK_BATCH], metrics.test_accuracy),
           arm_from_runs(f"statistics over {group}", ghost_groups[group], metrics.test_accuracy),
           notes=[reading_note(f"ghost groups of {group} against {TALK_BATCH}", ghost_groups[group],
                               ghost_groups[TALK_BATCH])])
