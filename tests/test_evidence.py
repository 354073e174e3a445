"""The claim layer: the catalogue (Claim, declare, Check, Finding), the evidence of one check
(evaluate, measured), the message that reads it, and the verdict policy (settle).

Everything here runs on hand-made arms except the two slow tests at the end, which train real
models: a placebo is never supported, and a deliberately wrong claim is refuted with the full
message.
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from bnclaims.catalogue import (NEAR_LEVEL_NOTE, REASON_FIELDS, CatalogueError, Check, Claim, Finding, applicable_finding, declare,
                                validate_findings)
from bnclaims.evidence import (
    Arm,
    ClaimNotSupported,
    Evidence,
    Settlement,
    arm_from_runs,
    assert_passed,
    evaluate,
    measured,
    pair_by_seed,
    settle,
)
from bnclaims.formatting import format_interval, format_message, summary_line
from bnclaims.stats import clopper_pearson, rate_upper_bound, sign_flip_test, t_test

SEEDS = (0, 1, 2, 3, 4)
JITTER = np.array([0.003, -0.002, 0.001, 0.004, -0.001])


def claim(**changes) -> Claim:
    fields = dict(statement="A beats B", source="test", metric="accuracy", test="superiority",
                  threshold=0.01, threshold_reason="for the test", paired_test="t")
    return Claim(**{**fields, **changes})


def check(check_id: str = "X1.better", **changes) -> Check:
    return declare({"test_it": {check_id: claim(**changes)}})[check_id]


def arms(a, b, seeds=SEEDS, a_outcomes=(), b_outcomes=()) -> tuple[Arm, Arm]:
    return Arm("A", tuple(a), seeds, outcomes=a_outcomes), Arm("B", tuple(b), seeds, outcomes=b_outcomes)


def paired(d, seeds=SEEDS, **outcomes) -> tuple[Arm, Arm]:
    """Arms whose per-seed difference A - B is d (B around 0.9)."""
    b = 0.9 + np.linspace(-0.01, 0.01, len(d))
    return arms(b + np.asarray(d), b, seeds, **outcomes)


def noisy(mean: float, seed: int, sd: float = 0.005, n: int = 5) -> np.ndarray:
    return np.random.default_rng([20_240_601, seed]).normal(mean, sd, n)


def trained(n: int = 5, failed: dict[int, str] | None = None) -> tuple[str, ...]:
    failed = failed or {}
    return tuple(failed.get(i, "trained") for i in range(n))


# ------------------------------------------------------------------------------------ Claim


@pytest.mark.parametrize(("bad", "match"), [
    (dict(test="bigger"), "test must be one of"),
    (dict(tier="folklore"), "tier must be one of"),
    (dict(test="non_inferiority", threshold=0.0), "margin must be positive"),
    (dict(test="non_inferiority", threshold=math.nan), "finite number"),
    (dict(test="equivalence", threshold=-0.1), "margin must be positive"),
    (dict(test="measured"), "states its criterion"),
    (dict(test="measured", criterion="slope CI contains -1"), "mirror_criterion"),
    (dict(tier="identity"), "exact"),
    (dict(tier="implementation", test="equivalence"), "exact"),
    (dict(alpha=1.5), "alpha"),
    (dict(alpha=0.0), "alpha"),
    (dict(test="measured", criterion="c", mirror_criterion="m", min_seeds=0), "min_seeds"),
], ids=["test", "tier", "zero-margin", "nan-margin", "negative-margin", "measured-no-criterion",
        "measured-no-mirror", "identity-not-measured", "implementation-not-measured", "alpha-high", "alpha-zero",
        "min-seeds"])
def test_malformed_claims_are_rejected(bad: dict, match: str) -> None:
    with pytest.raises(CatalogueError, match=match):
        claim(**bad)
    assert issubclass(CatalogueError, ValueError)


def test_well_formed_claims() -> None:
    assert claim().method == "t" and claim(exact_test=True, paired_test="sign_flip").method == "sign_flip"
    assert Claim(statement="s", source="s", metric="m", test="superiority", threshold=0.0,
                 threshold_reason="r").method == "sign"          # the default: calibrated on any shape
    with pytest.raises(CatalogueError, match="quantized metric needs an exact test"):
        claim(exact_test=True)                                   # the helper's paired t
    identity = claim(tier="identity", test="measured", criterion="max error below 1e-6")
    assert identity.tier == "identity" and identity.mirror_criterion == ""
    empirical = claim(test="measured", criterion="slope CI contains -1", mirror_criterion="slope CI excludes -1")
    assert empirical.min_seeds is None
    assert claim(test="superiority", threshold=-0.02).threshold == -0.02   # a superiority threshold may be negative


# ----------------------------------------------------------------------------- declare, Check


def test_declare_counts_families_from_the_catalogue() -> None:
    checks = declare({
        "test_activations": {"A5.elu": claim(family="A5 activations"), "A5.tanh": claim(family="A5 activations")},
        "test_sigmoid": {"A5.sigmoid": claim(family="A5 activations"), "A5-spread.spread": claim()},
        "test_table": {"TABLE-2.big_learning_rate": claim()},
    })
    assert list(checks) == ["A5.elu", "A5.tanh", "A5.sigmoid", "A5-spread.spread", "TABLE-2.big_learning_rate"]
    assert [c.family_size for c in checks.values()] == [3, 3, 3, 1, 1]
    assert [c.test_function for c in checks.values()] == [
        "test_activations", "test_activations", "test_sigmoid", "test_sigmoid", "test_table"]
    elu = checks["A5.elu"]
    assert (elu.id, elu.claim_id, elu.name, elu.family, elu.tier) == ("A5.elu", "A5", "elu", "A5 activations",
                                                                       "empirical")
    assert elu.corrected_alpha == pytest.approx(0.05 / 3)
    assert elu.correction() == " (0.05 over 3 in family 'A5 activations', the first step of Holm's step-down)"
    solo = checks["A5-spread.spread"]
    assert (solo.family, solo.family_size, solo.corrected_alpha, solo.correction()) == ("A5-spread.spread", 1, 0.05, "")
    assert checks["TABLE-2.big_learning_rate"].claim_id == "TABLE-2"


@pytest.mark.parametrize("bad_id", ["X1", "x1.a", "X1.A", "X1.a-b", "X1.", ".a", "X1.a.b", "1X.a", "X1 .a",
                                    "X1._a", "X-.a"])
def test_declare_rejects_malformed_ids(bad_id: str) -> None:
    with pytest.raises(CatalogueError, match="is not '<claim id>.<name>'"):
        declare({"test_it": {bad_id: claim()}})


def test_declare_rejects_what_is_not_a_claim() -> None:
    with pytest.raises(CatalogueError, match="expected a Claim"):
        declare({"test_it": {"X1.a": {"statement": "A beats B"}}})


@pytest.mark.parametrize("groups, fragment", [
    ({"X1.a": claim()}, "'X1.a' is not a test function's name (test_...)"),             # the flat form of old
    ({"check_it": {"X1.a": claim()}}, "'check_it' is not a test function's name"),
    ({"test it": {"X1.a": claim()}}, "'test it' is not a test function's name"),
    ({"test_it": {}}, "group 'test_it' declares no checks"),
    ({"test_it": [claim()]}, "group 'test_it' declares no checks"),
    ({"test_a": {"X1.a": claim()}, "test_b": {"X1.a": claim()}}, "'X1.a' is declared twice, under 'test_a' and 'test_b'"),
    ([("test_it", {"X1.a": claim()})], "declare takes {test function name: {check id: Claim}}"),
], ids=["flat", "not-test", "not-identifier", "empty", "not-a-mapping", "twice", "not-a-mapping-of-groups"])
def test_declare_rejects_malformed_groups_in_one_line(groups, fragment) -> None:
    with pytest.raises(CatalogueError) as raised:
        declare(groups)
    assert fragment in str(raised.value) and "\n" not in str(raised.value)


def test_check_min_seeds() -> None:
    assert check().min_seeds == 2                                     # t-test
    exact = dict(exact_test=True, paired_test="sign")
    assert check(**exact).min_seeds == 5                              # 2^-5 <= 0.05
    pair = declare({"test_pair": {"X1.a": claim(**exact, family="f"), "X1.b": claim(**exact, family="f")}})
    assert pair["X1.a"].min_seeds == 6                                # 0.025
    four = declare({"test_four": {f"X1.c{i}": claim(**exact, family="f") for i in range(4)}})
    assert four["X1.c0"].min_seeds == 7                               # 0.0125
    assert check(test="measured", criterion="c", mirror_criterion="m", min_seeds=3).min_seeds == 3
    assert check(test="measured", criterion="c", mirror_criterion="m").min_seeds is None


# ------------------------------------------------------------------------------ Arm, pairing


def test_arm_validation() -> None:
    with pytest.raises(ValueError, match="values for"):
        Arm("A", (0.9, 0.8), (0, 1, 2))
    with pytest.raises(ValueError, match="appears twice"):
        Arm("A", (0.9, 0.8, 0.7), (0, 1, 1))
    with pytest.raises(ValueError, match="outcomes"):
        Arm("A", (0.9, 0.8), (0, 1), outcomes=("trained",))
    with pytest.raises(ValueError, match="run keys"):
        Arm("A", (0.9, 0.8), (0, 1), run_keys=("k0", "k1", "k2"))
    arm = Arm("A", np.array([0.9, 0.8]), np.array([3, 4]), outcomes=("trained", "collapsed"))
    assert arm.values == (0.9, 0.8) and arm.seeds == (3, 4) and arm.failed() == (False, True)
    assert arm.mean == pytest.approx(0.85)


def test_pair_by_seed_reorders_by_seed() -> None:
    a = Arm("A", (0.3, 0.1, 0.2), (3, 1, 2), run_keys=("k3", "k1", "k2"),
            outcomes=("trained", "collapsed", "diverged"))
    b = Arm("B", (1.1, 1.2, 1.3), (1, 2, 3))
    paired_a, paired_b = pair_by_seed(a, b)
    assert paired_a.seeds == paired_b.seeds == (1, 2, 3)
    assert paired_a.values == (0.1, 0.2, 0.3) and paired_a.run_keys == ("k1", "k2", "k3")
    assert paired_a.outcomes == ("collapsed", "diverged", "trained")
    assert paired_b.values == (1.1, 1.2, 1.3)


def test_evaluate_pairs_by_seed_not_by_position() -> None:
    a, b = paired(0.05 + JITTER)
    shuffled = Arm("A", a.values[::-1], a.seeds[::-1])
    ordered, reversed_ = evaluate(check(), a, b), evaluate(check(), shuffled, b)
    assert (reversed_.effect, reversed_.p_value, reversed_.seeds) == (ordered.effect, ordered.p_value, SEEDS)
    assert reversed_.arm_a.values == a.values


def test_arms_with_different_seeds_cannot_be_compared() -> None:
    a, b = Arm("A", (0.9, 0.8, 0.7), (0, 1, 2)), Arm("B", (0.9, 0.8, 0.7), (0, 1, 3))
    with pytest.raises(ValueError, match=r"pair by seed, but A has seeds \[0, 1, 2\] and B has \[0, 1, 3\]"):
        pair_by_seed(a, b)
    with pytest.raises(ValueError, match="pair by seed"):
        evaluate(check(), a, b)


# ------------------------------------------------------------------------------- outcomes


def test_injected_effect_is_supported_and_placebo_is_not() -> None:
    base = noisy(0.90, 1)
    effect = evaluate(check(), *arms(base + 0.05 + noisy(0.0, 2), base))
    assert effect.outcome == "supported" and effect.passed and effect.p_value < 0.05
    for seed in range(10):
        placebo = evaluate(check(threshold=0.0), *arms(noisy(0.90, 100 + seed), noisy(0.90, 200 + seed)))
        assert placebo.outcome != "supported", placebo.message()


def test_three_outcomes() -> None:
    supported = evaluate(check(), *paired(0.05 + JITTER))
    refuted = evaluate(check(), *paired(-0.05 + JITTER))
    between = evaluate(check(), *paired(0.01 + np.array([0.02, -0.02, 0.01, -0.01, 0.005])))
    assert (supported.outcome, refuted.outcome, between.outcome) == ("supported", "refuted", "inconclusive")
    assert supported.p_value <= 0.05 < supported.mirror_p_value
    assert refuted.mirror_p_value <= 0.05 < refuted.p_value
    assert between.p_value > 0.05 and between.mirror_p_value > 0.05
    assert not refuted.passed and not between.passed
    d = 0.05 + JITTER
    assert supported.p_value == pytest.approx(t_test(d, 0.01).p_value, rel=1e-6)
    assert supported.effect == pytest.approx(d.mean()) and supported.n == 5


@pytest.mark.parametrize(("test", "threshold", "d", "outcome"), [
    ("non_inferiority", 0.02, -0.005 + JITTER, "supported"),
    ("non_inferiority", 0.02, -0.05 + JITTER, "refuted"),
    ("equivalence", 0.02, JITTER, "supported"),
    ("equivalence", 0.02, 0.06 + JITTER, "refuted"),
    ("equivalence", 0.02, -0.06 + JITTER, "refuted"),
    ("equivalence", 0.02, 0.02 + 3 * JITTER, "inconclusive"),
])
def test_non_inferiority_and_equivalence(test: str, threshold: float, d, outcome: str) -> None:
    assert evaluate(check(test=test, threshold=threshold), *paired(d)).outcome == outcome


def test_bonferroni_level_comes_from_the_family_size() -> None:
    # p lies between alpha / 4 and alpha: supported alone, inconclusive in a family of four.
    d = np.array([0.010, 0.030, 0.002, 0.025, 0.004])
    alone = evaluate(check(threshold=0.0), *paired(d))
    assert 0.0125 < alone.p_value < 0.05 and alone.outcome == "supported"
    family = declare({"test_four": {f"X1.c{i}": claim(threshold=0.0, family="four") for i in range(4)}})
    corrected = evaluate(family["X1.c2"], *paired(d))
    assert (corrected.outcome, corrected.corrected_alpha, corrected.family_size) == ("inconclusive", 0.0125, 4)
    assert corrected.p_value == alone.p_value
    assert "at alpha 0.0125 (0.05 over 4 in family 'four', the first step of Holm's step-down)" in corrected.expected


# ------------------------------------------------------------------------- blocking failures

NEAR_EQUAL = -0.005 + JITTER   # non-inferior within 0.02 and equivalent within 0.02


@pytest.mark.parametrize(("test", "a_failed", "b_failed", "blocked"), [
    ("non_inferiority", {}, {}, ()),
    ("non_inferiority", {2: "collapsed"}, {}, (2,)),
    ("non_inferiority", {1: "diverged", 3: "collapsed"}, {}, (1, 3)),
    ("non_inferiority", {2: "collapsed"}, {2: "diverged"}, ()),   # both failed: not the new arm's fault
    ("non_inferiority", {}, {2: "collapsed"}, ()),                # the reference failed
    ("equivalence", {2: "collapsed"}, {}, (2,)),
    ("equivalence", {}, {4: "diverged"}, (4,)),
    ("equivalence", {2: "collapsed"}, {2: "collapsed"}, ()),
    ("superiority", {2: "collapsed"}, {}, ()),                    # superiority is about the values only
])
def test_blocking_rule(test: str, a_failed: dict, b_failed: dict, blocked: tuple) -> None:
    chosen = check(test=test, threshold=0.02 if test != "superiority" else -0.02)
    evidence = evaluate(chosen, *paired(NEAR_EQUAL, a_outcomes=trained(5, a_failed), b_outcomes=trained(5, b_failed)))
    assert evidence.blocked_seeds == blocked
    assert evidence.outcome == ("inconclusive" if blocked else "supported")
    assert evidence.p_value <= 0.05   # the test alone would support it
    message = evidence.message()
    assert ("  blocked: " in message) == bool(blocked)
    if blocked and test == "non_inferiority":
        assert (f"  blocked: on seeds {list(blocked)} one arm failed where the other trained, so the check "
                "cannot be supported") in message


def test_blocking_never_turns_refuted_into_something_else() -> None:
    evidence = evaluate(check(test="non_inferiority", threshold=0.02),
                        *paired(-0.05 + JITTER, a_outcomes=trained(5, {0: "collapsed"}), b_outcomes=trained()))
    assert (evidence.outcome, evidence.blocked_seeds) == ("refuted", (0,))


def test_no_blocking_without_run_outcomes() -> None:
    # A derived measure (no runs behind each value) has no failures to block on.
    a, b = paired(NEAR_EQUAL, a_outcomes=trained(5, {2: "collapsed"}))
    evidence = evaluate(check(test="non_inferiority", threshold=0.02), a, b)
    assert evidence.blocked_seeds == () and evidence.outcome == "supported"
    assert "B: no run outcomes (a derived measure)" in evidence.message()


def test_blocked_line_does_not_blame_the_wrong_arm() -> None:
    evidence = evaluate(check(test="equivalence", threshold=0.02),
                        *paired(NEAR_EQUAL, a_outcomes=trained(), b_outcomes=trained(5, {4: "diverged"})))
    assert "A failed on seeds [4]" not in evidence.message()


def test_failures_are_counted_with_what_the_seeds_exclude() -> None:
    a, b = paired(NEAR_EQUAL, a_outcomes=trained(5, {2: "collapsed"}), b_outcomes=trained())
    record = evaluate(check(test="non_inferiority", threshold=0.02), a, b).to_dict()
    one = clopper_pearson(1, 5)
    assert record["arm_a"]["failures"] == {"count": 1, "n": 5, "rate": 0.2, "ci": [one.low, one.high],
                                           "excludes_above": rate_upper_bound(1, 5)}
    assert record["arm_b"]["failures"]["count"] == 0
    assert record["arm_b"]["failures"]["excludes_above"] == pytest.approx(0.4507, abs=1e-4)
    failures_line = next(line for line in format_message(record).splitlines() if line.startswith("  failures: "))
    assert failures_line == ("  failures: A failed on 1, B on 0 of 5 seeds; only B failed on 0, only A on 1: claim "
                             "p=1, mirror p=0.5 (exact McNemar on 1 discordant seeds (0 only B failed, 1 only A)) "
                             "at level 0.05")
    assert record["failure_part"]["only_a"] == 1 and record["trained_part"]["seeds"] == [0, 1, 3, 4]


# ------------------------------------------------------------------------- unreachable level


def grid_check(**changes) -> Check:
    return check("A1.grid_step", metric="best learning rate (log10 grid index)", threshold=0.0, exact_test=True,
                 paired_test="sign_flip", **changes)


def test_a_sign_flip_check_at_three_seeds_cannot_reach_its_level() -> None:
    # Three identical grid-step differences: p = 1/8, and no data could do better than 2^-3.
    evidence = evaluate(grid_check(), *paired([0.5, 0.5, 0.5], seeds=(0, 1, 2)))
    assert (evidence.outcome, evidence.reachable, evidence.min_seeds, evidence.n) == ("inconclusive", False, 5, 3)
    assert evidence.p_value == pytest.approx(1 / 8)
    sentence = ("A1.grid_step cannot reach its level 0.05 with 3 seeds: the exact sign-flip test (smallest p = 2^-n) "
                "needs at least 5 (rerun with --claims-seeds 5 or more)")
    assert evidence.unreachable_sentence() == sentence
    lines = evidence.message().splitlines()
    assert lines[0].startswith("check A1.grid_step (empirical): ")
    assert lines[1] == f"  cannot decide: {sentence}"
    settlement = settle(evidence)
    assert settlement.action == "fail" and settlement.text.splitlines()[0] == sentence
    assert json.loads(evidence.to_json())["reachable"] is False


def test_a_sign_flip_check_reaches_its_level_at_five_seeds() -> None:
    evidence = evaluate(grid_check(), *paired([0.5, 0.5, 1.0, 0.5, 0.5]))
    assert (evidence.outcome, evidence.reachable, evidence.p_value) == ("supported", True, 1 / 32)
    assert evidence.test_name.startswith("exact sign-flip")
    assert evidence.p_value == sign_flip_test([0.5, 0.5, 1.0, 0.5, 0.5]).p_value
    # The interval is at the test's level (two-sided 90%: one-sided 0.05 each side), so its lower bound clears
    # the threshold as the claim test rejects.
    assert evidence.effect_ci[0] > math.log10(2)
    assert "(exact sign-flip inversion, 90% two-sided (one-sided 0.05 each side))" in evidence.message()
    # With fewer seeds than that level needs, the inversion is unbounded, and says so.
    evidence = evaluate(grid_check(), *paired([0.5, 0.5, 1.0, 0.5], seeds=(0, 1, 2, 3)))
    assert evidence.effect_ci == (-math.inf, math.inf)
    record = json.loads(evidence.to_json())
    assert record["effect_ci"] == [None, None]     # JSON has no infinity
    json.dumps(record, allow_nan=False)
    assert format_interval(record["effect_ci"]) == "[-inf, +inf]"


def test_a_family_raises_the_seeds_a_sign_flip_check_needs() -> None:
    pair = declare({"test_pair": {"A1.a": claim(exact_test=True, paired_test="sign_flip", threshold=0.0, family="f"),
                                  "A1.b": claim(exact_test=True, paired_test="sign_flip", threshold=0.0, family="f")}})
    evidence = evaluate(pair["A1.a"], *paired([1.0] * 5))
    assert (evidence.reachable, evidence.min_seeds, evidence.outcome) == (False, 6, "inconclusive")
    assert "cannot reach its level 0.025 with 5 seeds" in evidence.unreachable_sentence()


# ------------------------------------------------------------------------------ the message


def test_failure_message_has_the_fixed_shape() -> None:
    a, b = paired(0.05 + JITTER, a_outcomes=trained(), b_outcomes=trained(5, {3: "diverged"}))
    evidence = evaluate(check(), Arm("A", a.values, a.seeds, outcomes=a.outcomes, talk_value=0.97), b,
                        rerun="pytest claims/x.py::test[X1.better]", notes=("a note",))
    lines = evidence.message().splitlines()
    assert lines[0] == "check X1.better (empirical): 'A beats B' (test)"
    assert lines[1] == ("  supported if: mean paired difference in accuracy (A - B) on the seeds where both arms "
                        "trained > +0.0100, one-sided paired t-test at alpha 0.05")
    assert lines[2] == ("  refuted if: mean paired difference in accuracy (A - B) on the seeds where both arms trained "
                        "< +0.0100, at the same level")
    low, high = evidence.effect_ci
    # Seed 3 of B diverged: the accuracy is compared on the four seeds where both trained.
    assert lines[3] == (f"  observed: effect {evidence.effect:+.4f}, [{low:+.4f}, {high:+.4f}] (Student t, 90% "
                        f"two-sided (one-sided 0.05 each side)), P(A>B) 1.00 [{0.025 ** 0.25:.2f}, 1.00] "
                        f"(Clopper-Pearson), n=5 seeds 0-4")
    assert lines[4] == (f"  tests at level 0.05: claim p={evidence.p_value:.3g} (paired t (mean(d) > 0.01)); "
                        f"mirror p={evidence.mirror_p_value:.3g} (paired t (mean(d) < 0.01))")
    b_trained = np.mean([v for i, v in enumerate(b.values) if i != 3])
    assert lines[5] == (f"  arms: A mean {np.mean(a.values):.4f} (talk: 0.9700); B mean {b_trained:.4f} over its 4 "
                        f"trained seeds, 1 of 5 failed")
    assert lines[6].startswith("  failures: A failed on 0, B on 1 of 5 seeds; only B failed on 1, only A on 0: claim p=0.5")
    assert lines[7] == "  value part: the 4 seeds where both arms trained (0,1,2,4)"
    assert lines[8] == "  note: a note"
    # The design's sensitivity at the observed spread (bnclaims.power) follows the module's notes.
    assert lines[9].startswith("  note: design: with 4 seeds and the observed spread (sd of differences ")
    assert lines[10] == "  outcome: supported"
    assert lines[11] == "  rerun: pytest claims/x.py::test[X1.better]"
    assert len(lines) == 12


def test_message_of_a_declared_finding_and_summary_line() -> None:
    evidence = evaluate(check(), *paired(-0.05 + JITTER))
    record = {**evidence.to_dict(), "finding": {"outcome": "refuted", "reason": "refuted: the mechanism"},
              "test_outcome": "xfailed"}
    lines = format_message(record).splitlines()
    assert lines[-2:] == ["  declared finding: refuted (refuted: the mechanism)", "  outcome: refuted"]
    summary = summary_line(record)
    assert summary.startswith("X1.better") and "refuted" in summary and "n=5 (xfailed)" in summary
    assert f"effect {evidence.effect:+.4f} [" in summary


def test_assert_passed_raises_with_the_message() -> None:
    evidence = evaluate(check(), *paired(-0.05 + JITTER))
    with pytest.raises(ClaimNotSupported) as raised:
        assert_passed(evidence)
    assert str(raised.value) == evidence.message()
    assert_passed(evaluate(check(), *paired(0.05 + JITTER)))


def test_to_json_carries_every_field() -> None:
    a, b = paired(0.05 + JITTER, a_outcomes=trained(), b_outcomes=trained(5, {1: "collapsed"}))
    evidence = evaluate(check(), Arm("A", a.values, a.seeds, run_keys=tuple("abcde"), outcomes=a.outcomes), b,
                        rerun="pytest x", notes=("n1",))
    record = json.loads(evidence.to_json())
    assert set(record) == {f.name for f in dataclasses.fields(Evidence)} | {"reachable"}
    for name in ("check_id", "claim_id", "tier", "statement", "source", "metric", "test", "expected", "refuted_if",
                 "threshold", "threshold_reason", "alpha", "corrected_alpha", "family", "family_size", "method",
                 "min_seeds", "n", "effect", "effect_ci_method", "test_name", "p_value", "outcome", "kind",
                 "mirror_test_name", "mirror_p_value", "probability_of_improvement", "rerun"):
        assert record[name] == getattr(evidence, name), name
    assert record["seeds"] == list(SEEDS) and record["notes"][0] == "n1" and record["reachable"] is True
    assert record["sensitivity"]["n"] == 4 and record["notes"][1].startswith("design: with 4 seeds")   # B's seed 1 failed
    assert record["effect_ci"] == list(evidence.effect_ci)
    assert record["probability_of_improvement_ci"] == list(evidence.probability_of_improvement_ci)
    assert record["arm_a"]["values"] == list(a.values) and record["arm_a"]["run_keys"] == list("abcde")
    assert record["arm_b"]["outcomes"] == list(trained(5, {1: "collapsed"}))
    assert record["arm_b"]["failures"]["count"] == 1
    json.dumps(record, allow_nan=False)


def test_reason_fields_fill_every_documented_field() -> None:
    paired_evidence = evaluate(check(), *paired(0.05 + JITTER, a_outcomes=trained(), b_outcomes=trained()))
    measured_evidence = measured(measured_check(), effect=-0.98, ci=(-1.05, -0.91), ci_method="t", n=8,
                                 test_name="OLS slope", outcome="supported")
    for evidence in (paired_evidence, measured_evidence):
        assert set(evidence.reason_fields()) == set(REASON_FIELDS)
    fields = paired_evidence.reason_fields()
    assert fields["wins"] == "5 of 5" and fields["a_failures"] == "0 of 5" and fields["n"] == "5"
    assert fields["ci"] == format_interval(paired_evidence.effect_ci) and fields["ci_method"] == ("Student t, 90% two-sided "
                                                                                         "(one-sided 0.05 each side)")


# ------------------------------------------------------------------------------- measured


def measured_check(tier: str = "empirical") -> Check:
    if tier == "empirical":
        return check("R9.slope", test="measured", metric="log-log slope", threshold=-1.0,
                     criterion="95% CI of the slope contains -1 and excludes 0",
                     mirror_criterion="95% CI of the slope excludes -1", min_seeds=3)
    return check("N1.transform", tier=tier, test="measured", metric="max abs error", threshold=1e-6,
                 criterion="max abs error below 1e-6")


def test_measured_empirical_check() -> None:
    evidence = measured(measured_check(), effect=-0.98, ci=(-1.05, -0.91), ci_method="OLS, t interval", n=8,
                        test_name="OLS slope", outcome="supported", p_value=0.01, mirror_p_value=0.9,
                        observed="8 batch sizes", details={"layers": 3}, seeds=(0, 1, 2))
    assert (evidence.passed, evidence.kind, evidence.outcome, evidence.method) == (True, "measured", "supported",
                                                                                   "OLS slope")
    assert json.loads(evidence.to_json())["details"] == {"layers": 3}
    lines = evidence.message().splitlines()
    assert lines == [
        "check R9.slope (empirical): 'A beats B' (test)",
        "  supported if: 95% CI of the slope contains -1 and excludes 0",
        "  refuted if: 95% CI of the slope excludes -1",
        "  observed: log-log slope -0.98, interval [-1.05, -0.91] (OLS, t interval), p=0.01, mirror p=0.9 "
        "(OLS slope), n=8; 8 batch sizes",
        "  outcome: supported",
    ]
    for outcome in ("refuted", "inconclusive"):
        assert not measured(measured_check(), effect=0.0, ci=(0, 0), ci_method="c", n=8, test_name="t",
                            outcome=outcome).passed
    unreachable = measured(measured_check(), effect=0.0, ci=(0, 0), ci_method="c", n=2, test_name="t",
                           outcome="inconclusive")
    assert not unreachable.reachable
    assert "its criterion (t) needs at least 3" in unreachable.unreachable_sentence()


def test_measured_exact_tiers() -> None:
    for tier in ("identity", "implementation"):
        holds = measured(measured_check(tier), effect=3e-8, ci=(3e-8, 3e-8), ci_method="exact check, no interval",
                         n=1, test_name="max |Keras - formula|", passed=True)
        fails = measured(measured_check(tier), effect=0.1, ci=(0.1, 0.1), ci_method="exact check, no interval",
                         n=1, test_name="max |Keras - formula|", passed=False)
        assert (holds.outcome, holds.passed, fails.outcome, fails.passed) == ("holds", True, "fails", False)
        lines = fails.message().splitlines()
        assert lines[0] == f"check N1.transform ({tier}): 'A beats B' (test)"
        assert lines[1] == "  holds if: max abs error below 1e-6"
        assert not any(line.startswith("  refuted if") for line in lines)
        assert lines[2].startswith("  observed: max abs error +0.1, interval [+0.1, +0.1] (exact check, no interval), "
                                   "no p-value")
        assert lines[-1] == "  outcome: fails"


def test_measured_rejects_the_wrong_kind_of_outcome() -> None:
    common = dict(effect=0.0, ci=(0.0, 0.0), ci_method="c", n=1, test_name="t")
    with pytest.raises(ValueError, match="outcome="):
        measured(measured_check(), passed=True, **common)
    with pytest.raises(ValueError, match="outcome="):
        measured(measured_check(), outcome="holds", **common)
    with pytest.raises(ValueError, match="passed=True/False"):
        measured(measured_check("identity"), outcome="supported", **common)
    with pytest.raises(ValueError, match="passed=True/False"):
        measured(measured_check("identity"), **common)
    with pytest.raises(ValueError, match="use evaluate"):
        measured(check(), outcome="supported", **common)
    with pytest.raises(ValueError, match="use measured"):
        evaluate(measured_check(), *arms([1.0, 2.0], [0.0, 1.0], seeds=(0, 1)))


# ------------------------------------------------------------------------------ findings, settle

REASON = ("the effect is {effect} {ci} ({ci_method}) over n={n} seeds {seeds}; p={p}, mirror p={mirror_p} at "
          "{alpha}; {a} {a_mean} vs {b} {b_mean}; failures {a_failures} / {b_failures}; wins {wins}; P(A>B) {poi}")


def finding(outcome: str = "refuted", reason: str = REASON) -> Finding:
    return Finding(outcome=outcome, datasets=("digits",), profiles=("quick",), reason=reason)


def test_settle_passes_a_supported_check() -> None:
    assert settle(evaluate(check(), *paired(0.05 + JITTER))) == Settlement("pass", "")


def test_settle_fails_an_unsupported_check_with_its_message() -> None:
    evidence = evaluate(check(), *paired(-0.05 + JITTER))
    settlement = settle(evidence)
    assert (settlement.action, settlement.text) == ("fail", evidence.message())


@pytest.mark.parametrize("seeds", [SEEDS, (0, 1, 2)])
def test_settle_fills_a_findings_reason_from_this_run(seeds) -> None:
    n = len(seeds)
    evidence = evaluate(check(), *paired((-0.05 + JITTER)[:n], seeds=seeds, a_outcomes=trained(n),
                                         b_outcomes=trained(n, {0: "collapsed"})))
    settlement = settle(evidence, finding())
    assert settlement.action == "xfail"
    low, high = evidence.effect_ci
    b_trained = np.mean(evidence.arm_b.values[1:])    # seed 0 of B collapsed: its number is not an accuracy
    assert settlement.text == (
        f"refuted: the effect is {evidence.effect:+.4f} [{low:+.4f}, {high:+.4f}] (Student t, 90% two-sided "
        f"(one-sided 0.05 each side)) over n={n} seeds {list(seeds)}; p={evidence.p_value:.3g}, mirror "
        f"p={evidence.mirror_p_value:.3g} at 0.05; A {evidence.arm_a.mean:.4f} vs B {b_trained:.4f}; failures 0 of "
        f"{n} / 1 of {n}; wins 0 of {n - 1}; P(A>B) 0.00 [0.00, {clopper_pearson(0, n - 1).high:.2f}]")


def test_a_finding_not_observed_fails_only_when_worse_or_strict() -> None:
    """A run is red only where a check regressed: better than its finding passes (and says so), unless
    --claims-strict, where any finding not observed fails; worse than its finding fails either way."""
    supported = evaluate(check(), *paired(0.05 + JITTER))
    better = settle(supported, finding("refuted"))
    assert better.action == "pass"
    assert better.text.startswith("X1.better: the catalogue declares this check refuted on this profile; on this "
                                  "machine it is supported (claim test p=")
    assert "better than declared. Not a failure" in better.text and "--claims-strict" in better.text
    strict = settle(supported, finding("refuted"), strict=True)
    assert strict.action == "fail"
    first, *rest = strict.text.splitlines()
    assert first.endswith("(--claims-strict): re-decide the finding from this evidence, or remove it if the claim "
                          "now holds")
    assert rest[0].startswith("check X1.better (empirical)")
    inconclusive = evaluate(check(), *paired(0.01 + np.array([0.02, -0.02, 0.01, -0.01, 0.005])))
    assert settle(inconclusive, finding("refuted")).action == "pass"
    assert settle(inconclusive, finding("refuted"), strict=True).action == "fail"
    refuted = evaluate(check(), *paired(-0.05 + JITTER))
    for strictness in (False, True):
        worse = settle(refuted, finding("inconclusive"), strict=strictness)
        assert worse.action == "fail" and "worse than declared: the claim regressed" in worse.text.splitlines()[0]


def near_level(outcome: str = "inconclusive") -> Finding:
    return Finding(outcome=outcome, datasets=("digits",), profiles=("quick",), reason="p={p}", near_level=True)


def test_a_near_level_finding_passes_a_check_supported_just_under_its_level() -> None:
    """Another CPU's rounding can carry p just under the level: supported, so the check passes, and says
    that the declared finding was not observed. Further under, the finding is stale and fails."""
    just_under = evaluate(check(), *paired(0.012 + JITTER))          # p 0.029, level 0.05
    assert 0.025 <= just_under.p_value < 0.05 and just_under.outcome == "supported"
    settlement = settle(just_under, near_level(), strict=True)
    assert settlement.action == "pass"
    assert settlement.text == ("declared finding 'inconclusive' not observed here: supported with p=0.0291 (its claim "
                               "test) at 0.05, within a factor 4 of the level, where float rounding that differs "
                               "between CPUs moves p (the finding is declared near its level: machine-dependent)")
    assert settle(just_under, finding("inconclusive"), strict=True).action == "fail"   # an ordinary one: strict
    well_under = evaluate(check(), *paired(0.014 + JITTER))          # p 0.006
    assert well_under.p_value < 0.025 and settle(well_under, near_level(), strict=True).action == "fail"
    above = evaluate(check(), *paired(0.010 + JITTER))               # p 0.21: the finding as declared
    assert above.outcome == "inconclusive" and settle(above, near_level()) == Settlement(
        "xfail", f"inconclusive: p={above.p_value:.3g}{NEAR_LEVEL_NOTE}")   # its reason says it sits near the level
    refuted = evaluate(check(), *paired(-0.05 + JITTER))
    assert settle(refuted, near_level()).action == "fail"                   # far beyond: the claim regressed
    # The other neighbour: refuted by a mirror p just under the level passes too, in either mode.
    just_refuted = evaluate(check(), *paired(0.006 + JITTER))          # mirror p 0.029, level 0.05
    assert just_refuted.outcome == "refuted" and 0.0125 <= just_refuted.mirror_p_value <= 0.05
    for strict in (False, True):
        settled = settle(just_refuted, near_level(), strict=strict)
        assert settled.action == "pass" and "refuted with p=" in settled.text and "(its mirror test)" in settled.text


def test_settle_of_an_unreachable_check() -> None:
    evidence = evaluate(grid_check(), *paired([0.5, 0.5, 0.5], seeds=(0, 1, 2)))
    settlement = settle(evidence, finding("inconclusive", "grid steps {effect}, n={n}"))
    assert settlement.action == "xfail"
    assert settlement.text == f"inconclusive: grid steps +0.5000, n=3 [{evidence.unreachable_sentence()}]"
    assert settle(evidence).text.splitlines()[0] == evidence.unreachable_sentence()


def test_settle_of_exact_tiers() -> None:
    fails = measured(measured_check("identity"), effect=0.1, ci=(0.1, 0.1), ci_method="exact", n=1, test_name="max",
                     passed=False)
    assert settle(fails).action == "fail"
    assert settle(fails, finding("fails", "error {effect} with {n} check")).text == "fails: error +0.1 with 1 check"


def test_findings_are_validated() -> None:
    checks = {"X1.better": check(), "N1.transform": measured_check("identity")}
    known = dict(datasets=("digits", "mnist5k"), profiles=("quick", "paper"))
    validate_findings({"X1.better": finding(), "N1.transform": finding("fails", "off by {effect}")}, checks, **known)
    validate_findings({"X1.better": Finding("refuted", ("idx:/data/my",), ("quick",), "{n}")}, checks, **known)
    for findings, match in [
        ({"X1.worse": finding()}, "names no check of this module; its checks: X1.better, N1.transform"),
        ({"X1.better": finding("fails")}, "declares one of"),
        ({"N1.transform": finding("refuted")}, "declares one of"),
        ({"X1.better": Finding("refuted", ("cifar",), ("quick",), "r")}, "unknown dataset"),
        ({"X1.better": Finding("refuted", (), ("quick",), "r")}, "unknown dataset"),
        ({"X1.better": Finding("refuted", ("digits",), ("huge",), "r")}, "unknown profile"),
        ({"X1.better": finding(reason="failed on {failures} seeds")}, r"unknown fields \['failures'\]"),
        ({"X1.better": finding(reason="  ")}, "explains its mechanism"),
        ({"X1.better": "refuted"}, "must be a Finding"),
        ({"X1.better": near_level("refuted")}, "only an inconclusive finding of an empirical check"),
        ({"N1.transform": Finding("fails", ("digits",), ("quick",), "{n}", near_level=True)}, "only an inconclusive"),
    ]:
        with pytest.raises(CatalogueError, match=match) as raised:
            validate_findings(findings, checks, **known)
        assert "\n" not in str(raised.value)   # one line
    assert finding().applies("digits", "quick") and not finding().applies("digits", "paper")
    only_fit = Finding("refuted", ("digits",), ("quick",), "{n}", engines=("fit",))
    assert only_fit.applies("digits", "quick", "fit") and not only_fit.applies("digits", "quick", "compiled")
    with pytest.raises(CatalogueError, match="unknown engine"):
        validate_findings({"X1.better": Finding("refuted", ("digits",), ("quick",), "{n}", engines=("gpu",))},
                          checks, **known, engines=("compiled", "fit"))


# ---------------------------------------------------------------------------- real training


def digits_lab(tmp_path, seeds: str):
    from bnclaims.lab import Lab
    from bnclaims.settings import Settings

    settings = Settings.resolve(dataset="digits", seeds=seeds, cache_dir=str(tmp_path / "cache"), root=tmp_path,
                                threads=1)
    return Lab(settings, say=lambda line: None)


@pytest.mark.slow
def test_real_placebo_is_never_supported(tmp_path) -> None:
    """One real placebo: the same spec trained under ten seeds, seed s of one arm paired with seed s + 5
    of the other. Neither direction may be supported."""
    from bnclaims.metrics import test_accuracy

    lab = digits_lab(tmp_path, "10")
    runs = lab.across_seeds(lab.base_spec(hidden=(32, 16), epochs=2, batch_size=64, learning_rate=0.05))
    values = [test_accuracy(run) for run in runs]
    assert [run.spec.seed for run in runs] == list(range(10))
    first, second = Arm("seeds 0-4", values[:5], SEEDS), Arm("seeds 5-9", values[5:], SEEDS)
    for a, b in ((first, second), (second, first)):
        evidence = evaluate(check(threshold=0.0), a, b)
        assert evidence.outcome != "supported", evidence.message()


@pytest.mark.slow
def test_a_deliberately_wrong_claim_is_refuted_on_real_runs(tmp_path) -> None:
    """'BN lowers accuracy by 5 points' on real paired runs: refuted, with the full message."""
    from bnclaims.metrics import test_accuracy

    lab = digits_lab(tmp_path, "3")
    spec = lab.base_spec(hidden=(32, 16), epochs=3, batch_size=64, learning_rate=0.05)
    with_bn, plain = lab.across_seeds(spec), lab.across_seeds(spec.replace(batch_norm="none"))
    wrong = check("WRONG.plain_beats_bn", statement="BN lowers accuracy by 5 points", threshold=0.05)
    evidence = evaluate(wrong, arm_from_runs("plain", plain, test_accuracy),
                        arm_from_runs("BN", with_bn, test_accuracy), rerun="pytest claims/wrong.py")
    assert evidence.outcome == "refuted", evidence.message()
    assert evidence.seeds == (0, 1, 2) and evidence.arm_a.outcomes and evidence.arm_b.run_keys
    settlement = settle(evidence)
    assert settlement.action == "fail"
    lines = settlement.text.splitlines()
    assert lines[0] == "check WRONG.plain_beats_bn (empirical): 'BN lowers accuracy by 5 points' (test)"
    assert lines[1].startswith("  supported if: mean paired difference in accuracy (plain - BN) on the seeds where "
                               "both arms trained > +0.0500")
    assert lines[2].startswith("  refuted if: mean paired difference in accuracy (plain - BN) on the seeds where both "
                               "arms trained < +0.0500")
    assert lines[3].startswith("  observed: effect ") and "(Student t, 90% two-sided" in lines[3]
    assert lines[3].endswith("n=3 seeds 0-2")
    assert lines[4].startswith("  tests at level 0.05: claim p=")
    assert lines[5].startswith("  arms: plain mean ") and "BN mean" in lines[5]
    assert lines[6].startswith("  failures: plain failed on ") and "of 3 seeds" in lines[6]
    assert lines[-2:] == ["  outcome: refuted", "  rerun: pytest claims/wrong.py"]


def test_a_check_may_declare_one_finding_per_regime() -> None:
    checks = {"X1.better": check()}
    known = dict(datasets=("digits", "mnist5k"), profiles=("short", "default"), engines=("compiled", "fit"))
    short = Finding("refuted", ("mnist5k",), ("short",), "short: {effect}")
    default = Finding("inconclusive", ("mnist5k",), ("default",), "default: {effect}", engines=("compiled",))
    validate_findings({"X1.better": (short, default)}, checks, **known)
    assert applicable_finding((short, default), "mnist5k", "short", "fit") is short
    assert applicable_finding((short, default), "mnist5k", "default", "compiled") is default
    assert applicable_finding((short, default), "mnist5k", "default", "fit") is None
    assert applicable_finding(short, "digits", "short") is None
    overlapping = Finding("refuted", ("mnist5k",), ("default",), "again: {effect}")
    with pytest.raises(CatalogueError, match="two findings apply to dataset mnist5k, profile default"):
        validate_findings({"X1.better": (default, overlapping)}, checks, **known)


def test_an_identity_checked_seed_by_seed_fails_on_one_seed_outside_its_range():
    from bnclaims.evidence import every_seed_within

    inside = every_seed_within([0.001, -0.004, 0.0], (0, 1, 2), -0.01, 0.01, what="gap")
    assert inside["passed"] and inside["n"] == 3 and inside["ci"] == (-0.004, 0.001)
    assert inside["observed"] == "gap in [-0.01, 0.01] on all 3 seeds"
    one_out = every_seed_within([0.001, -0.012, 0.0], (0, 1, 2), -0.01, 0.01, what="gap")
    assert not one_out["passed"] and "on 1 of 3 seeds: seed 1 -0.012" in one_out["observed"]
    diverged = every_seed_within([0.001, float("nan")], (0, 1), -0.01, 0.01, what="gap")
    assert not diverged["passed"] and diverged["ci"] == (0.001, 0.001)
    with pytest.raises(ValueError, match="one value per seed"):
        every_seed_within([0.1], (0, 1), 0, 1, what="gap")


def test_the_figure_one_identity_fails_on_a_seed_where_bn_drifts_as_much_as_plain():
    """P3.percentile_drift's criterion, seed by seed: a placebo seed whose BN units drift as the plain
    ones do makes it fail; the gaps the paper's figure shows make it hold."""
    import math

    from bnclaims.evidence import every_seed_within, measured
    from conftest import load_claim_module

    p3 = load_claim_module("test_internal_covariate_shift", "evidence_test_internal_covariate_shift")
    check = p3.CHECKS["P3.percentile_drift"]
    judge = lambda gaps: measured(check, **every_seed_within(gaps, range(len(gaps)), p3.DRIFT_GAP, math.inf,
                                                             what="drift gap")).outcome
    assert judge([0.30, 0.29, 0.31]) == "holds"
    assert judge([0.30, 0.0, 0.31]) == "fails"
