"""The talk's results table: its four comparisons of the MLP with and without BN, across seeds.

Claim (talk, Comparisons 1-4): with BN the model reaches a higher test accuracy than without it
    1 "Convergence Speed"     lr 0.01, batch 128 (base)     plain 0.9657   BN 0.9739
    2 "Big Learning Rate"     lr 1, batch 1024              plain 0.0892   BN 0.9505
    3 "Too Big Weights"       init RandomUniform(-5, 5)     plain 0.3525   BN 0.9660
    4 "No Data Normalization" inputs left at 0..255         plain 0.1135   BN 0.9766
The talk ran each arm once (one seed). Here each comparison runs the profile's seeds, paired by seed
(same data order and the same seed for both arms), adding blocks of seeds while it is undecided (the
session's sequential design), Bonferroni-corrected over the four comparisons of this family.
Comparison 1, where both models train, tests the test accuracy difference BN - plain with a one-sided
paired t-test against its threshold. Comparisons 2-4 are about failure: the talk's plain runs there did
not train, and a mean accuracy would be set by how many seeds failed, so they test whether the plain
model fails (diverges or collapses) on more seeds than BN: the exact McNemar test on the seeds where one
arm failed and the other trained. Supported: the claim's test rejects; refuted: the mirror test rejects
at the same level; inconclusive: neither.

Thresholds (fixed before running, smallest effect that counts):
- Comparison 1: 0.005 (half a point). The talk's gap is 0.8 points; a gap under half a point is the size
  of seed-to-seed variation of small MNIST MLPs and would not change anyone's choice of architecture.
- Comparisons 2-4: 0 on the difference in failure rates (plain - BN). The talk's gaps are 61-86 points
  because the plain model failed (0.0892 and 0.1135 are the shares of the digits 5 and 1 in the test
  set: one-class predictors), so the talk's claim is qualitative, "the plain model fails where BN
  trains", and any credible difference in how many seeds fail supports it.
  A pass says the plain model fails more often than BN, not that BN trains well: whether BN is unharmed
  by the bad setting is asked by the advantage's own checks (A3.bn_worst_init for Comparison 3,
  A4-global for Comparison 4's 0..255 inputs); each comparison's evidence notes BN's accuracy against its
  accuracy at the base setting.
Collapsed (one class >= 90% of predictions) and diverged (non-finite loss) runs are failures: their
"accuracy" (a diverged model's argmax of NaN is class 0) is never averaged with a trained model's.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bnclaims import figures, metrics
from bnclaims.catalogue import CONTROL_FINDINGS, GROUPS_OF_TWO, Claim, Finding, declare, with_normalizer_controls
from bnclaims.formatting import bn_check
from bnclaims.evidence import FAILURE_OUTCOMES, arm_from_runs

SOURCE = "talk, results table (Comparisons 1-4)"
FAMILY = "talk table"


# Comparisons 2-4 are about failure: the talk's plain runs there (0.0892, 0.3525, 0.1135) are models that
# did not train, and a mean accuracy over seeds would be set by how many seeds failed, not by how well
# either model learns. Comparison 1, where both models train, compares their accuracy.
FAILURE_THRESHOLD_REASON = ("the talk's claim is qualitative (the plain model fails where BN trains): any "
                            "credible difference in how many seeds fail counts")


@dataclass(frozen=True)
class Comparison:
    title: str
    supports: str                     # the advantage (A1..A6) this comparison is evidence for
    change: dict = field(default_factory=dict)   # RunSpec fields changed from the talk's base setting
    talk_plain: float = 0.0
    talk_bn: float = 0.0
    threshold: float = 0.0
    threshold_reason: str = FAILURE_THRESHOLD_REASON
    about: str = "failure"


COMPARISONS = {
    "TABLE-1.convergence_speed": Comparison(
        'Comparison 1 "Convergence Speed": lr 0.01, batch 128', "A2", {}, 0.9657, 0.9739, 0.005,
        "half a point: the talk's gap is 0.8 points; smaller gaps are seed noise for MNIST MLPs", about="value"),
    "TABLE-2.big_learning_rate": Comparison(
        'Comparison 2 "Big Learning Rate": lr 1, batch 1024', "A1",
        {"learning_rate": 1.0, "batch_size": 1024}, 0.0892, 0.9505),
    "TABLE-3.too_big_weights": Comparison(
        'Comparison 3 "Too Big Weights": init RandomUniform(-5, 5)', "A3",
        {"kernel_init": "uniform:5"}, 0.3525, 0.9660),
    "TABLE-4.no_data_normalization": Comparison(
        'Comparison 4 "No Data Normalization": inputs 0..255', "A4",
        {"input_scaling": "raw"}, 0.1135, 0.9766),
}

def _claim(comparison: Comparison) -> Claim:
    if comparison.about == "value":
        return Claim(statement=f"{comparison.title}: BN reaches a higher test accuracy than the plain model "
                               f"(evidence for {comparison.supports})",
                     source=SOURCE, metric="test accuracy", test="superiority", threshold=comparison.threshold,
                     threshold_reason=comparison.threshold_reason, family=FAMILY)
    return Claim(statement=f"{comparison.title}: the plain model fails (diverges or collapses) on more seeds than "
                           f"BN (evidence for {comparison.supports}; the talk's plain run, {comparison.talk_plain}, "
                           f"did not train)",
                 source=SOURCE, metric="failed runs (diverged or collapsed), plain - BN", test="superiority",
                 threshold=comparison.threshold, threshold_reason=comparison.threshold_reason, family=FAMILY,
                 exact_test=True, about="failure")


CHECKS = declare({"test_talk_comparison": with_normalizer_controls(
    {check_id: _claim(comparison) for check_id, comparison in COMPARISONS.items()})})


# Comparison 2 as a claim about failure: at lr 1, batch 1024 the plain model trains on some seeds and fails
# on others, and which seeds fail is decided by the CPU's float rounding. At the design's 21 seeds its
# exact test ends near its level: machine-dependent.
FINDINGS = {
    # Decided from the first default run on bnclaims.streams' draws (a new test split of mnist5k and new
    # per-seed splits, orders and initial weights): BN's gain at the talk's rate is about a point, its
    # interval reaching below the half-point threshold. The draws before the registry had it supported.
    "TABLE-1.convergence_speed": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("default",), engines=("compiled",),
        reason="at the talk's rate BN scores {effect} above the plain model ({ci}, {ci_method}; means {a_mean} vs "
               "{b_mean}; higher on {wins} seeds), not credibly more than the half-point threshold at {alpha} "
               "(p={p}) nor less (mirror p={mirror_p}) after {n} seeds: at the same small rate for both arms the "
               "gap is the size of the threshold (Bjorck et al. 2018: BN's gain comes mostly from the larger rates "
               "it allows; A1-tuned compares each arm at its own rate)"),
    "TABLE-2.big_learning_rate": (Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",),
        reason="in the short profile batch 1024 makes 4 steps per pass over mnist5k's 3,200 training images (40 in "
               "all), and at lr 1 the plain model fails on {b_failures} seeds and BN on {a_failures}: too few "
               "failures for the exact test to show credibly more of them at {alpha} (p={p}); the plain model "
               "mostly trains badly instead of failing as in the talk"), Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("default",), engines=("compiled",), near_level=True,
        reason="at lr 1, batch 1024 and the talk's budget the plain model fails on {b_failures} seeds and BN on "
               "{a_failures}: the plain model either trains to about BN's accuracy or fails, seed by seed, and "
               "these seeds do not show credibly more failures at {alpha} (p={p}). The talk's single run "
               "(0.0892) was one of the failing kind")),
    # The normalizer controls (docs/normalizers.md), decided from the controls profile's first run.
    "TABLE-1-LN.convergence_speed": Finding(
        outcome="inconclusive", **CONTROL_FINDINGS,
        reason="at the talk's rate LayerNorm scores {effect} above the plain model ({ci}, {ci_method}; means {a_mean} "
               "vs {b_mean}; higher on {wins} seeds), not credibly more than the half-point threshold at {alpha} "
               "(p={p}) nor less (mirror p={mirror_p}) after {n} seeds: at one small rate for both arms the gap is "
               "the size of the threshold, as BN's is (TABLE-1)"),
    "TABLE-1-GN.convergence_speed": Finding(
        outcome="refuted", **CONTROL_FINDINGS,
        reason="at the talk's rate GroupNorm scores {effect} against the plain model ({ci}, {ci_method}; means "
               "{a_mean} vs {b_mean}), credibly below the half-point threshold (mirror p={mirror_p} at {alpha}). "
               + GROUPS_OF_TWO),
    "TABLE-2-LN.big_learning_rate": Finding(
        outcome="inconclusive", **CONTROL_FINDINGS, near_level=True,
        reason="at lr 1, batch 1024 the plain model fails on {b_failures} seeds and LayerNorm on {a_failures}: the "
               "plain model either trains or fails, seed by seed, and these seeds do not show credibly more failures "
               "at {alpha} (p={p}), as with BN (TABLE-2)"),
    "TABLE-2-GN.big_learning_rate": Finding(
        outcome="refuted", **CONTROL_FINDINGS,
        reason="at lr 1, batch 1024 GroupNorm fails on {a_failures} seeds and the plain model on {b_failures}: "
               "GroupNorm fails credibly more often (mirror p={mirror_p} at {alpha}). " + GROUPS_OF_TWO),
}

def accuracies(runs) -> list:
    """Per seed: the test accuracy, or the word "failed" (a failed run's number is not an accuracy)."""
    return [run.outcome if run.outcome in FAILURE_OUTCOMES else round(run.test_accuracy, 4) for run in runs]


def mean_accuracy(runs) -> float | str:
    """The mean test accuracy of the runs that trained."""
    trained = [run.test_accuracy for run in runs if run.outcome not in FAILURE_OUTCOMES]
    return round(sum(trained) / len(trained), 4) if trained else "none trained"


def test_talk_comparison(check, lab, verify, figure):
    comparison = COMPARISONS[bn_check(check)]
    # The talk's numbers are those of its BN and plain runs: a normalizer control's table carries none.
    talk_bn, talk_plain = (comparison.talk_bn, comparison.talk_plain) if lab.normalizer == "batch" else (None, None)
    claim_id = CHECKS[check].claim_id
    context = f"talk_table[{check}]"
    with_bn = lab.across_seeds(lab.base_spec(**comparison.change), context=context)
    plain = lab.across_seeds(lab.base_spec(batch_norm="none", **comparison.change), context=context)
    figure(figures.learning_curves(comparison.title, {"BN": with_bn, "plain": plain}, claim_id=claim_id))
    figure(figures.table(f"{comparison.title}: test accuracy", ["arm", "talk (1 run, full MNIST)",
                                                                   "mean over trained seeds", "per seed"],
                         [["BN", talk_bn or "-", mean_accuracy(with_bn), accuracies(with_bn)],
                          ["plain", talk_plain or "-", mean_accuracy(plain), accuracies(plain)]],
                         claim_id=claim_id))
    notes = []
    if comparison.change:   # beating the plain model is not training well: set BN against its base self
        base = COMPARISONS["TABLE-1.convergence_speed"]
        with_bn_at_base = lab.across_seeds(lab.base_spec(), context=context)
        notes.append(f"BN here scores {mean_accuracy(with_bn)} on average, against "
                     f"{mean_accuracy(with_bn_at_base)} at the base setting "
                     f"(talk: {comparison.talk_bn:.4f} against {base.talk_bn:.4f})")
    verify(
        check,
        arm_from_runs("BN", with_bn, metrics.test_accuracy, talk_value=talk_bn),
        arm_from_runs("plain", plain, metrics.test_accuracy, talk_value=talk_plain),
        notes=notes,
    )
