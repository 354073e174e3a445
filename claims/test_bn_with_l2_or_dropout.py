"""R2, BN together with L2 regularization or Dropout: combining them does not cost accuracy.

Claim (talk, "Regularization Effect Summary" slide): "It is ok to use Batch Normalization with L2
Regularization or Dropout." Ioffe & Szegedy (2015, section 4.2.1) found that with BN, Dropout "can be
removed" and the L2 weight can be reduced, i.e. the combination is not needed; they do not say it hurts.
Li et al. ("Understanding the Disharmony between Dropout and Batch Normalization by Variance Shift",
CVPR 2019) show Dropout placed before BN can shift the variance BN sees between training and inference;
van Laarhoven (2017) shows that with BN, L2 on the kernels acts mainly on the effective learning rate.
So "OK to use together" is a real question, read here as: adding either one to the talk's BN model does
not make it meaningfully worse.

Experiment: the talk's base setting (Dense(use_bias=False) -> BN -> relu x 3, SGD lr 0.01, batch 128,
10 epochs) on the session dataset and seeds, three arms paired by seed:
- BN           the base spec (shared with the talk table: a cache hit),
- BN + L2      l2 = 1e-4 on every kernel (a common default weight decay for MLPs/CNNs; Keras L2(1e-4)),
- BN + Dropout rate 0.2 after each hidden activation (the engine's placement: BN -> relu -> Dropout, so
               Dropout reaches the next block's BN through its Dense layer, the "Dropout before BN" order
               whose variance shift Li et al. describe; 0.2 is a usual rate for hidden layers of small
               MLPs, Srivastava et al. 2014 use 0.5 for large ones).
Metric: test accuracy at the end of training (inference mode). Each addition is tested for
NON-INFERIORITY against BN alone: one-sided paired t-test of mean(addition - BN) > -0.02, Bonferroni over
the 2 checks (alpha 0.025 each).

Margin (fixed before running): 0.02, two points of test accuracy. Why: at this setting the BN model scores
around 0.86-0.97 (quick profile / talk), so two points is 15-70% more errors: a cost a practitioner would
notice and would call "not OK"; smaller drops are within what a regularizer is expected to trade for
generalization. It is also about twice the binomial standard error of a test accuracy near 0.9 on the
1,000 test images of the quick profile (0.0095), so the margin is not lost in test-set noise.

Caveat stated before running: with only 10 epochs of plain SGD on a small training set the model is not
converged, and Dropout usually slows convergence (it adds noise to every step) while its regularizing
benefit shows only later, so Dropout starts at a disadvantage here; L2 at 1e-4 changes each step by
lr * 2 * 1e-4 * w, which is tiny over 250 steps. Whatever the data says is the verdict; a refuted check is
kept as a strict xfail that carries its evidence.
"""

from __future__ import annotations

import pytest

from bnclaims import figures, metrics
from bnclaims.catalogue import Claim, Finding, declare
from bnclaims.evidence import arm_from_runs

STATEMENT = "It is ok to use Batch Normalization with L2 Regularization or Dropout."
SOURCE = "talk, 'Regularization Effect Summary' slide"
MARGIN_REASON = ("two points of test accuracy: 15-70% more errors at BN's 0.86-0.97, a cost anyone would "
                 "notice; about 2 binomial SEs of a test accuracy near 0.9 on 1,000 test images")

# Check id -> (arm label, RunSpec change).
ADDITIONS = {
    "R2.l2": ("BN + L2", {"l2": 1e-4}),
    "R2.dropout": ("BN + Dropout", {"dropout": 0.2}),
}
NON_INFERIOR = Claim(statement=STATEMENT, source=SOURCE, metric="test accuracy", test="non_inferiority",
                     threshold=0.02, threshold_reason=MARGIN_REASON, family="R2 BN with L2 or Dropout")
CHECKS = declare({check_id: NON_INFERIOR for check_id in ADDITIONS})

FINDINGS = {
    "R2.dropout": Finding(
        outcome="inconclusive", datasets=("mnist5k",), profiles=("short",),
        reason="BN + Dropout(0.2) scores {effect} against BN alone ({ci}, {ci_method}; means {a_mean} vs "
               "{b_mean}), an interval that straddles the -0.02 margin: neither non-inferior (p={p}) nor "
               "credibly worse (p={mirror_p}) at {alpha}. Dropout adds noise to every step and slows SGD; "
               "within the talk's 10 epochs the Dropout model is still improving, so this says nothing about "
               "accuracy at convergence"),
}


@pytest.mark.parametrize("check", list(ADDITIONS))
def test_bn_with_regularizer_is_non_inferior(check, lab, verify, figure):
    label, change = ADDITIONS[check]
    context = f"R2[{check}]"
    with_bn = lab.across_seeds(lab.base_spec(), context=context)
    combined = lab.across_seeds(lab.base_spec(**change), context=context)
    seeds = [run.spec.seed for run in with_bn]
    figure(figures.learning_curves(f"R2: {label} against BN alone", {"BN": with_bn, label: combined},
                                   claim_id="R2"))
    figure(figures.paired(f"R2: test accuracy, {label} against BN alone, paired by seed", "test accuracy",
                          {"BN": [r.test_accuracy for r in with_bn],
                           label: [r.test_accuracy for r in combined]}, seeds, claim_id="R2"))
    verify(check, arm_from_runs(label, combined, metrics.test_accuracy),
           arm_from_runs("BN", with_bn, metrics.test_accuracy))
