"""Tests for bnclaims.stats: hand-computed answers, input validation, bootstrap
stability and, above all, calibration by simulation.

Calibration simulates many experiments at once (vectorized) with the seed
counts of both profiles (n = 5 quick, n = 10 paper) and checks that

* under a placebo (same distribution in both arms) or at the boundary of H0,
  each test rejects at most alpha + 4 Monte Carlo SE of the time (see MC_Z),
  at the plain (0.05) and the Bonferroni-corrected (0.05 / 4) level, for
  normal, skewed (beta) and collapse-mixture (10% of runs stuck at 0.1)
  accuracies;
* with an injected effect the t-tests reject as often as the noncentral-t
  power says (and the sign test as the binomial says), so every test that is
  not "verified" on a placebo is shown to be one that can pass;
* interval coverage is nominal for t-based intervals and measured (and only
  loosely asserted) for the percentile bootstrap.

The vectorized reference implementations below are checked against the
public functions, and one calibration per profile loops over the public
functions themselves.  All randomness comes from fixed Generator seeds.

Measured (`pytest tests/test_stats.py -s -k calibration_table` prints it;
20,000 experiments per cell; alpha 0.05 and Bonferroni 0.05 / 4 = 0.0125):

  false-positive rate, worst of the    n = 5            n = 10
  normal / beta / collapse arms      0.05   0.0125    0.05   0.0125
  paired t, margin 0 (placebo)      0.053   0.015    0.052   0.012
  paired t, margin 0.02 (boundary)  0.053   0.012    0.053   0.013
  sign test, margin 0 (placebo)     0.032   0.000    0.011   0.011
  sign test, margin 0.02 (boundary) 0.032   0.000    0.012   0.012
  non-inferiority 0.02 (boundary)   0.049   0.012    0.049   0.013
  TOST 0.05 (boundary +margin)      0.050   0.013    0.051   0.012
  TOST 0.05 (boundary -margin)      0.052   0.014    0.052   0.012
  (with 10% collapsed runs the t-tests are conservative: about 0.02 at n = 5
  and 0.03 at n = 10 for alpha 0.05.)

  power, normal d, effect =          n = 5             n = 10
  (mean(d) - boundary) / sd(d)     0.05    0.0125    0.05    0.0125
  paired t, margin 0, effect 1.0   0.578   0.249     0.901   0.686
  paired t, margin 0, effect 1.5   0.863   0.533     0.996   0.963
  paired t, margin 0.02, eff. 1.5  0.862   0.527     0.997   0.960
  non-inferiority 0.02, eff. 1.5   0.861   0.526     0.996   0.961
  (noncentral t: 0.580 0.256 0.898 0.682 for effect 1.0; 0.862 0.530 0.997
  0.964 for effect 1.5)
  sign test, effect 1.5            0.712   0.000     0.860   0.860
  TOST 0.05, true d = 0 (sd 0.028) 0.888   0.489     1.000   0.988

  coverage of nominal 95%          n = 5   n = 10
  loglog_slope (points per fit)    0.947   0.946   (4,000 fits)
  mean_ci_t                        0.951   0.948   (2,000 experiments)
  mean_difference_ci (bootstrap)   0.840   0.903   (2,000 experiments)

  minimum seeds for power 0.8 at effect 1.5: 5 at alpha 0.05, 7 at 0.0125.
"""

from __future__ import annotations

import functools
import itertools
import math

import numpy as np
import pytest
from scipy import stats as sps

from bnclaims.stats import (
    Interval,
    bonferroni,
    equivalence_tost,
    loglog_slope,
    mean_ci_t,
    mean_difference_ci,
    minimum_seeds_for_power,
    non_inferiority,
    paired_differences,
    paired_t_greater,
    probability_of_improvement,
    sign_test_greater,
    t_test_power,
)

SEED = 20_240_601
N_SIM = 20_000
N_PUBLIC = 2_000
SEED_COUNTS = (5, 10)  # quick and paper profiles
ALPHA = 0.05
ALPHAS = (ALPHA, bonferroni(ALPHA, 4))
DISTRIBUTIONS = ("normal", "beta", "collapse")
ACCURACY_SD = 0.02
DIFF_SD = ACCURACY_SD * math.sqrt(2.0)  # sd of a - b for iid normal arms
MARGIN = 0.02  # minimum-effect and non-inferiority margin
TOST_MARGIN = 0.05  # about 1.8 sd(d): large enough for TOST to have power


def rng_for(*key: int | str) -> np.random.Generator:
    """Generator seeded from a stable key, independent of test order or selection."""
    words = [SEED] + [k if isinstance(k, int) else int.from_bytes(k.encode(), "little") for k in key]
    return np.random.default_rng(words)


def draw_accuracies(rng: np.random.Generator, distribution: str, shape: tuple[int, ...]) -> np.ndarray:
    """Per-seed accuracies: normal, left-skewed beta, or with 10% collapsed runs."""
    if distribution == "normal":
        return rng.normal(0.9, ACCURACY_SD, shape)
    if distribution == "beta":
        return rng.beta(40.0, 4.0, shape)
    if distribution == "collapse":
        values = rng.normal(0.9, ACCURACY_SD, shape)
        values[rng.random(shape) < 0.1] = 0.1
        return values
    raise AssertionError(distribution)


# Monte Carlo tolerance in standard errors.  The suite makes about 150
# simulated comparisons; at 3 SE an exactly calibrated test would fail one of
# them in roughly 1 of 5 seed choices (it did: the exact normal t-test hit
# 3.2 SE at n = 5, alpha = 0.0125; 3 million experiments gave 0.0125).  At 4
# SE that chance is about 1%.
MC_Z = 4.0


def mc_upper(p: float, n_sim: int) -> float:
    return p + MC_Z * math.sqrt(p * (1.0 - p) / n_sim)


def mc_band(p: float, n_sim: int) -> float:
    return MC_Z * math.sqrt(max(p * (1.0 - p), 1e-12) / n_sim)


# Vectorized references (rows are experiments); checked against the public API.


def ref_t_greater(d: np.ndarray, shift: float) -> np.ndarray:
    """p of the one-sided t-test H0: mean(d) <= shift, per row."""
    n = d.shape[1]
    t = (d.mean(axis=1) - shift) / (d.std(axis=1, ddof=1) / math.sqrt(n))
    return sps.t.sf(t, n - 1)


def ref_sign_greater(d: np.ndarray, shift: float) -> np.ndarray:
    """Exact sign-test p of H0: median(d) <= shift, ties dropped, per row."""
    positive = (d > shift).sum(axis=1)
    untied = (d != shift).sum(axis=1)
    return sps.binom.sf(positive - 1, untied, 0.5)


def ref_pvalues(test: str, d: np.ndarray, margin: float) -> np.ndarray:
    if test == "t":
        return ref_t_greater(d, margin)
    if test == "sign":
        return ref_sign_greater(d, margin)
    if test == "noninf":
        return ref_t_greater(d, -margin)
    if test == "tost":
        return np.maximum(ref_t_greater(d, -margin), ref_t_greater(-d, -margin))
    raise AssertionError(test)


PUBLIC = {
    "t": lambda a, b, m: paired_t_greater(a, b, margin=m),
    "sign": lambda a, b, m: sign_test_greater(a, b, margin=m),
    "noninf": lambda a, b, m: non_inferiority(a, b, margin=m),
    "tost": lambda a, b, m: equivalence_tost(a, b, margin=m),
}


def simulate_arms(
    distribution: str, n: int, true_mean_d: float, n_sim: int, key: tuple[int | str, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Paired arms whose per-seed difference has a symmetric law centred at true_mean_d."""
    rng = rng_for(*key)
    a = draw_accuracies(rng, distribution, (n_sim, n)) + true_mean_d
    b = draw_accuracies(rng, distribution, (n_sim, n))
    return a, b


@functools.cache
def simulated_pvalues(test: str, margin: float, true_mean_d: float, n: int, distribution: str) -> np.ndarray:
    a, b = simulate_arms(distribution, n, true_mean_d, N_SIM, (test, n, distribution, repr(true_mean_d)))
    return ref_pvalues(test, a - b, margin)


def rejection_rate(test: str, margin: float, true_mean_d: float, n: int, distribution: str, alpha: float) -> float:
    return float(np.mean(simulated_pvalues(test, margin, true_mean_d, n, distribution) <= alpha))


# (label, test, margin, true mean of d): each sits on the boundary of H0.
NULL_CASES = (
    ("paired t, margin 0 (placebo)", "t", 0.0, 0.0),
    (f"paired t, margin {MARGIN} (boundary)", "t", MARGIN, MARGIN),
    ("sign test, margin 0 (placebo)", "sign", 0.0, 0.0),
    (f"sign test, margin {MARGIN} (boundary)", "sign", MARGIN, MARGIN),
    (f"non-inferiority {MARGIN} (boundary -margin)", "noninf", MARGIN, -MARGIN),
    (f"TOST {TOST_MARGIN} (boundary +margin)", "tost", TOST_MARGIN, TOST_MARGIN),
    (f"TOST {TOST_MARGIN} (boundary -margin)", "tost", TOST_MARGIN, -TOST_MARGIN),
)

# (label, test, margin, standardized effect (mean(d) - H0 boundary) / sd(d)).
POWER_CASES = (
    ("paired t, margin 0", "t", 0.0),
    (f"paired t, margin {MARGIN}", "t", MARGIN),
    (f"non-inferiority {MARGIN}", "noninf", MARGIN),
)
EFFECTS = (1.0, 1.5)


def boundary(test: str, margin: float) -> float:
    return -margin if test == "noninf" else margin


def sign_test_power(n: int, effect: float, alpha: float) -> float:
    """Exact power of the sign test when d - margin ~ Normal(effect * sd, sd)."""
    k = np.arange(n + 1)
    rejecting = k[sps.binom.sf(k - 1, n, 0.5) <= alpha]
    if rejecting.size == 0:
        return 0.0
    return float(sps.binom.sf(rejecting[0] - 1, n, sps.norm.cdf(effect)))


def tost_power(n: int) -> float:
    """Simulated TOST rejection rate at alpha when d ~ Normal(0, sd) (truly equivalent)."""
    return rejection_rate("tost", TOST_MARGIN, 0.0, n, "normal", ALPHA)


# ---------------------------------------------------------------- hand-computed


def test_constant_differences_have_defined_p_values() -> None:
    a, b = [3, 4, 5, 6, 7], [1, 2, 3, 4, 5]
    np.testing.assert_array_equal(paired_differences(a, b), np.full(5, 2.0))
    above = paired_t_greater(a, b, margin=0.0)
    assert (above.p_value, above.statistic, above.df) == (0.0, math.inf, 4.0)
    assert paired_t_greater(a, b, margin=2.0).p_value == 1.0  # equal: not strictly greater
    assert paired_t_greater(a, b, margin=3.0).p_value == 1.0


def test_float_rounding_does_not_break_equality_with_margin() -> None:
    # 0.93 - 0.91 is 0.020000000000000018 in float64: still "equal" to 0.02.
    a, b = [0.93, 0.94, 0.95], [0.91, 0.92, 0.93]
    assert paired_t_greater(a, b, margin=0.02).p_value == 1.0
    assert sign_test_greater(a, b, margin=0.02).p_value == 1.0
    assert paired_t_greater(a, b, margin=0.019).p_value == 0.0


def test_paired_t_matches_hand_computation() -> None:
    result = paired_t_greater([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    t = 2.0 / (1.0 / math.sqrt(3.0))
    assert result.statistic == pytest.approx(3.4641016, abs=1e-6)
    assert result.statistic == pytest.approx(t, rel=1e-12)
    assert result.df == 2.0
    assert result.p_value == pytest.approx(sps.t.sf(t, 2), rel=1e-12)
    scipy_p = sps.ttest_1samp([1.0, 2.0, 3.0], 0.0, alternative="greater").pvalue
    assert result.p_value == pytest.approx(scipy_p, rel=1e-12)


def test_paired_t_margin_shifts_the_null() -> None:
    d = np.array([0.05, 0.07, 0.06, 0.08, 0.04])
    result = paired_t_greater(d, np.zeros(5), margin=0.02)
    expected = sps.ttest_1samp(d - 0.02, 0.0, alternative="greater")
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-12)


def test_sign_test_exact_values() -> None:
    zeros = np.zeros(5)
    all_positive = sign_test_greater([1, 2, 3, 4, 5], zeros)
    assert all_positive.p_value == pytest.approx(1 / 32, rel=1e-12)
    assert (all_positive.statistic, all_positive.df) == (5.0, None)
    assert sign_test_greater([1, 2, 3, 4, 0], zeros).p_value == pytest.approx(1 / 16, rel=1e-12)
    assert sign_test_greater(zeros, zeros).p_value == 1.0
    assert sign_test_greater([1, 2, 3, 4, 5], zeros, margin=2.5).p_value == pytest.approx(0.5, rel=1e-12)


def test_probability_of_improvement_counts_ties_as_half() -> None:
    result = probability_of_improvement([1, 2, 3], [0, 2, 4], rng=rng_for("poi"))
    assert result.point == pytest.approx(0.5)
    assert 0.0 <= result.low <= result.point <= result.high <= 1.0


def test_loglog_slope_exact_power_law() -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 32.0])
    fit = loglog_slope(x, 3.0 * x**-1.0)
    assert fit.slope.point == pytest.approx(-1.0, abs=1e-12)
    assert fit.slope.high - fit.slope.low < 1e-9
    assert fit.intercept == pytest.approx(math.log(3.0), abs=1e-12)
    assert (fit.n_points, fit.slope.confidence) == (6, 0.95)


def test_loglog_slope_noisy_power_law_contains_true_slope() -> None:
    x = np.geomspace(1.0, 1000.0, 8)
    y = x**-1.0 * np.exp(rng_for("loglog").normal(0.0, 0.1, x.size))
    fit = loglog_slope(x, y)
    assert fit.slope.low < -1.0 < fit.slope.high
    assert fit.slope.high - fit.slope.low < 0.2


def test_mean_ci_t_matches_hand_computation() -> None:
    interval = mean_ci_t([1.0, 2.0, 3.0], confidence=0.9)
    half = sps.t.ppf(0.95, 2) / math.sqrt(3.0)
    assert interval == Interval(2.0, pytest.approx(2.0 - half), pytest.approx(2.0 + half), 0.9)


@pytest.mark.parametrize("n", [5, 10, 12])
def test_bootstrap_of_constant_differences_is_degenerate(n: int) -> None:
    a = np.linspace(0.8, 0.9, n)
    interval = mean_difference_ci(a, a - 0.03, rng=rng_for("constant", n))
    assert interval.point == pytest.approx(0.03)
    assert interval.low == pytest.approx(0.03) and interval.high == pytest.approx(0.03)


def test_exact_bootstrap_equals_brute_force_enumeration() -> None:
    # With n = 4 all 4**4 index tuples are equally likely; their inverted-CDF
    # quantiles are the percentile-bootstrap bounds with no Monte Carlo error.
    d = np.array([0.031, -0.012, 0.054, 0.020])
    means = np.array([d[list(idx)].mean() for idx in itertools.product(range(4), repeat=4)])
    expected = np.quantile(means, [0.05, 0.95], method="inverted_cdf")
    interval = mean_difference_ci(d, np.zeros(4), rng=rng_for("brute"), confidence=0.9)
    assert (interval.low, interval.high) == (pytest.approx(expected[0]), pytest.approx(expected[1]))


def test_bonferroni() -> None:
    assert bonferroni(0.05, 4) == pytest.approx(0.0125)
    assert bonferroni(0.05, 1) == 0.05


def test_tost_equivalence() -> None:
    rng = rng_for("tost")
    b = rng.normal(0.9, 0.02, 10)
    near_zero = equivalence_tost(b + rng.normal(0.0, 0.005, 10), b, margin=0.1)
    assert near_zero.p_value < 1e-6
    far = equivalence_tost(b + 0.2 + rng.normal(0.0, 0.005, 10), b, margin=0.1)
    assert far.p_value > 0.999


def test_non_inferiority() -> None:
    rng = rng_for("noninf")
    b = rng.normal(0.9, 0.02, 5)
    slightly_worse = non_inferiority(b - 0.01 + rng.normal(0.0, 0.001, 5), b, margin=0.05)
    assert slightly_worse.p_value < 1e-4
    much_worse = non_inferiority(b - 0.1 + rng.normal(0.0, 0.001, 5), b, margin=0.05)
    assert much_worse.p_value > 0.99


def test_power_helpers() -> None:
    assert t_test_power(5, 1.5, 0.05) >= 0.8
    assert minimum_seeds_for_power(1.5, 0.05) == 5
    n_family = minimum_seeds_for_power(1.5, bonferroni(0.05, 4))
    assert n_family is not None
    assert t_test_power(n_family, 1.5, 0.0125) >= 0.8 > t_test_power(n_family - 1, 1.5, 0.0125)
    assert minimum_seeds_for_power(0.0, 0.05) is None
    assert t_test_power(10, 0.0, 0.05) == pytest.approx(0.05, rel=1e-9)


# ------------------------------------------------------------------ validation

PAIRED_FUNCTIONS = (
    paired_differences,
    lambda a, b: mean_difference_ci(a, b, rng=rng_for("v")),
    lambda a, b: probability_of_improvement(a, b, rng=rng_for("v")),
    paired_t_greater,
    sign_test_greater,
    lambda a, b: non_inferiority(a, b, margin=0.1),
    lambda a, b: equivalence_tost(a, b, margin=0.1),
)


@pytest.mark.parametrize("function", PAIRED_FUNCTIONS)
@pytest.mark.parametrize(
    ("a", "b"),
    [
        ([1.0, 2.0, 3.0], [1.0, 2.0]),
        ([1.0, math.nan, 3.0], [1.0, 2.0, 3.0]),
        ([1.0, 2.0, 3.0], [1.0, 2.0, math.inf]),
        ([1.0], [0.0]),
        ([[1.0, 2.0], [3.0, 4.0]], [[1.0, 2.0], [3.0, 4.0]]),
    ],
    ids=["length-mismatch", "nan", "inf", "one-seed", "two-dimensional"],
)
def test_paired_functions_reject_invalid_input(function, a, b) -> None:
    with pytest.raises(ValueError):
        function(a, b)


@pytest.mark.parametrize("function", [non_inferiority, equivalence_tost])
@pytest.mark.parametrize("margin", [0.0, -0.1, math.nan])
def test_margin_must_be_positive(function, margin: float) -> None:
    with pytest.raises(ValueError, match="margin"):
        function([1.0, 2.0, 3.0], [0.0, 1.0, 2.0], margin=margin)


@pytest.mark.parametrize(
    ("x", "y", "match"),
    [
        ([1.0, 0.0, 3.0], [1.0, 2.0, 3.0], r"x must be > 0.*\[0\.0\]"),
        ([1.0, 2.0, 3.0], [1.0, -2.0, 3.0], r"y must be > 0.*\[-2\.0\]"),
        ([1.0, 2.0], [1.0, 2.0], "at least 3"),
        ([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0], "same length"),
        ([2.0, 2.0, 2.0], [1.0, 2.0, 3.0], "distinct"),
        ([1.0, 2.0, math.nan], [1.0, 2.0, 3.0], "NaN"),
    ],
)
def test_loglog_slope_rejects_invalid_input(x, y, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        loglog_slope(x, y)


def test_other_argument_validation() -> None:
    with pytest.raises(ValueError):
        mean_ci_t([1.0])
    with pytest.raises(ValueError):
        mean_ci_t([1.0, 2.0], confidence=1.0)
    with pytest.raises(ValueError):
        mean_difference_ci([1.0, 2.0], [0.0, 0.0], rng=rng_for("v"), confidence=0.0)
    for alpha, size in [(0.0, 4), (1.0, 4), (0.05, 0), (0.05, 2.5)]:
        with pytest.raises(ValueError):
            bonferroni(alpha, size)
    with pytest.raises(ValueError):
        minimum_seeds_for_power(1.0, 0.05, power=1.0)
    with pytest.raises(ValueError):
        t_test_power(1, 1.0, 0.05)
    with pytest.raises(TypeError):
        mean_difference_ci([1.0, 2.0], [0.0, 0.0], np.random.default_rng(0))  # rng is keyword-only


# --------------------------------------------------------- bootstrap stability


@pytest.mark.parametrize("n", [5, 10, 12])
def test_bootstrap_bounds_do_not_depend_on_the_rng_seed(n: int) -> None:
    # n <= 10 is enumerated exactly; n = 12 samples 20,000 resamples.
    data_rng = rng_for("stability", n)
    for spread in (0.005, 0.01, 0.05) if n <= 10 else (0.01,):
        for _ in range(20):
            d = data_rng.normal(0.03, spread, n)
            first = mean_difference_ci(d, np.zeros(n), rng=np.random.default_rng(1))
            second = mean_difference_ci(d, np.zeros(n), rng=np.random.default_rng(2))
            assert first.low == pytest.approx(second.low, abs=1e-3)
            assert first.high == pytest.approx(second.high, abs=1e-3)
            again = mean_difference_ci(d, np.zeros(n), rng=np.random.default_rng(1))
            assert again == first


# ------------------------------------------------------------------ calibration


def test_vectorized_references_match_public_functions() -> None:
    for n, distribution in itertools.product(SEED_COUNTS, DISTRIBUTIONS):
        a, b = simulate_arms(distribution, n, 0.01, 100, ("cross-check", n, distribution))
        for test, function in PUBLIC.items():
            margin = TOST_MARGIN if test == "tost" else MARGIN
            reference = ref_pvalues(test, a - b, margin)
            public = [function(a_row, b_row, margin).p_value for a_row, b_row in zip(a, b)]
            np.testing.assert_allclose(public, reference, rtol=1e-9, atol=1e-15, err_msg=f"{test} n={n}")


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("distribution", DISTRIBUTIONS)
@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize(("label", "test", "margin", "true_mean_d"), NULL_CASES, ids=[c[0] for c in NULL_CASES])
def test_false_positive_rate_at_most_alpha(
    label: str, test: str, margin: float, true_mean_d: float, n: int, distribution: str, alpha: float
) -> None:
    rate = rejection_rate(test, margin, true_mean_d, n, distribution, alpha)
    assert rate <= mc_upper(alpha, N_SIM), f"{label}, n={n}, {distribution}: rejected {rate:.4f} at alpha {alpha}"


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("effect", EFFECTS)
@pytest.mark.parametrize("n", SEED_COUNTS)
@pytest.mark.parametrize(("label", "test", "margin"), POWER_CASES, ids=[c[0] for c in POWER_CASES])
def test_t_test_power_matches_noncentral_t(
    label: str, test: str, margin: float, n: int, effect: float, alpha: float
) -> None:
    # The same test that is not "verified" on the placebo does reject here.
    true_mean_d = boundary(test, margin) + effect * DIFF_SD
    rate = rejection_rate(test, margin, true_mean_d, n, "normal", alpha)
    expected = t_test_power(n, effect, alpha)
    assert rate == pytest.approx(expected, abs=mc_band(expected, N_SIM)), f"{label}, n={n}, effect={effect}"
    assert rate > 2 * alpha


@pytest.mark.parametrize("alpha", ALPHAS)
@pytest.mark.parametrize("n", SEED_COUNTS)
def test_sign_test_power_matches_binomial(n: int, alpha: float) -> None:
    effect = 1.5
    rate = rejection_rate("sign", MARGIN, MARGIN + effect * DIFF_SD, n, "normal", alpha)
    expected = sign_test_power(n, effect, alpha)
    assert rate == pytest.approx(expected, abs=mc_band(expected, N_SIM))


def test_sign_test_cannot_pass_a_corrected_level_with_five_seeds() -> None:
    # The design reason for the paired t-test: 2**-5 = 0.031 > 0.05 / 4.
    assert sign_test_greater(np.ones(5), np.zeros(5)).p_value > bonferroni(0.05, 4)
    assert sign_test_power(5, 10.0, bonferroni(0.05, 4)) == 0.0


def test_effect_of_one_and_a_half_sd_gives_power_at_five_seeds() -> None:
    expected = t_test_power(5, 1.5, ALPHA)
    rate = rejection_rate("t", MARGIN, MARGIN + 1.5 * DIFF_SD, 5, "normal", ALPHA)
    assert expected >= 0.8 and rate >= 0.8 - mc_band(0.8, N_SIM), f"power {rate:.3f} (analytic {expected:.3f})"


@pytest.mark.parametrize("n", SEED_COUNTS)
def test_tost_verifies_true_equivalence(n: int) -> None:
    assert tost_power(n) >= {5: 0.8, 10: 0.99}[n]


def public_rejection_rates(n: int) -> dict[str, float]:
    """Rejection rates over N_PUBLIC experiments, calling the public functions."""
    scenarios = {
        "t placebo": ("t", 0.0, 0.0, "collapse"),
        "t boundary": ("t", MARGIN, MARGIN, "beta"),
        "sign placebo": ("sign", 0.0, 0.0, "collapse"),
        "noninf boundary": ("noninf", MARGIN, -MARGIN, "normal"),
        "tost +boundary": ("tost", TOST_MARGIN, TOST_MARGIN, "normal"),
        "tost -boundary": ("tost", TOST_MARGIN, -TOST_MARGIN, "normal"),
        "t effect 1.5": ("t", MARGIN, MARGIN + 1.5 * DIFF_SD, "normal"),
        "tost equivalent": ("tost", TOST_MARGIN, 0.0, "normal"),
    }
    rates = {}
    for name, (test, margin, true_mean_d, distribution) in scenarios.items():
        a, b = simulate_arms(distribution, n, true_mean_d, N_PUBLIC, ("public", n, name))
        p = [PUBLIC[test](a_row, b_row, margin).p_value for a_row, b_row in zip(a, b)]
        rates[name] = float(np.mean(np.asarray(p) <= ALPHA))
    return rates


@pytest.mark.parametrize("n", SEED_COUNTS)
def test_public_functions_calibrated(n: int) -> None:
    rates = public_rejection_rates(n)
    for name, rate in rates.items():
        if "boundary" in name or "placebo" in name:
            assert rate <= mc_upper(ALPHA, N_PUBLIC), f"{name}: {rate:.4f}"
    expected = t_test_power(n, 1.5, ALPHA)
    assert rates["t effect 1.5"] == pytest.approx(expected, abs=mc_band(expected, N_PUBLIC))
    assert rates["tost equivalent"] >= 0.8


@functools.cache
def slope_coverage(n_points: int, n_fits: int = 4_000) -> float:
    """Coverage of the 95% slope interval for y = 3 x**-1 with log-normal noise."""
    rng = rng_for("slope", n_points)
    x = 2.0 ** np.arange(n_points)
    noise = rng.normal(0.0, 0.1, (n_fits, n_points))
    fits = [loglog_slope(x, 3.0 * x**-1.0 * np.exp(row)).slope for row in noise]
    return float(np.mean([fit.low <= -1.0 <= fit.high for fit in fits]))


@functools.cache
def interval_coverage(kind: str, n: int, n_experiments: int = 2_000) -> float:
    """Coverage of a nominal 95% interval for mean(d) with normal placebo arms shifted by 0.03."""
    a, b = simulate_arms("normal", n, 0.03, n_experiments, ("coverage", kind, n))
    rng = rng_for("bootstrap", n)
    if kind == "bootstrap":
        intervals = [mean_difference_ci(a_row, b_row, rng=rng) for a_row, b_row in zip(a, b)]
    else:
        intervals = [mean_ci_t(a_row - b_row) for a_row, b_row in zip(a, b)]
    return float(np.mean([i.low <= 0.03 <= i.high for i in intervals]))


@pytest.mark.parametrize("n_points", SEED_COUNTS)
def test_loglog_slope_interval_coverage(n_points: int) -> None:
    coverage = slope_coverage(n_points)
    assert coverage == pytest.approx(0.95, abs=mc_band(0.95, 4_000))


@pytest.mark.parametrize("n", SEED_COUNTS)
def test_mean_ci_t_coverage(n: int) -> None:
    assert interval_coverage("t", n) == pytest.approx(0.95, abs=mc_band(0.95, 2_000))


@pytest.mark.parametrize(("n", "floor"), [(5, 0.80), (10, 0.85)])
def test_bootstrap_coverage_is_below_nominal_at_few_seeds(n: int, floor: float) -> None:
    # Percentile bootstrap under-covers at few seeds: it uses the plug-in sd
    # (divisor n) and normal rather than t quantiles.  Measured: 0.840 at n = 5,
    # 0.903 at n = 10 for a nominal 0.95 (normal d).  Hence verdicts use t-tests.
    coverage = interval_coverage("bootstrap", n)
    assert floor <= coverage <= mc_upper(0.95, 2_000), f"bootstrap coverage {coverage:.3f} at n={n}"


def test_calibration_table() -> None:
    """Print the calibration numbers: pytest tests/test_stats.py -s -k calibration_table."""
    lines = ["", "false-positive rate (worst over distributions: " + ", ".join(DISTRIBUTIONS) + ")"]
    header = f"{'':44s}" + "".join(f"  n={n} a={alpha:<6g}" for n in SEED_COUNTS for alpha in ALPHAS)
    lines.append(header)
    for label, test, margin, true_mean_d in NULL_CASES:
        cells = []
        for n, alpha in itertools.product(SEED_COUNTS, ALPHAS):
            rates = [rejection_rate(test, margin, true_mean_d, n, dist, alpha) for dist in DISTRIBUTIONS]
            cells.append(max(rates))
            assert max(rates) <= mc_upper(alpha, N_SIM)
        lines.append(f"{label:44s}" + "".join(f"  {rate:16.4f}" for rate in cells))
    lines += ["", "power, normal d: simulated (analytic)", header]
    for label, test, margin in POWER_CASES:
        for effect in EFFECTS:
            cells = []
            for n, alpha in itertools.product(SEED_COUNTS, ALPHAS):
                rate = rejection_rate(test, margin, boundary(test, margin) + effect * DIFF_SD, n, "normal", alpha)
                cells.append(f"{rate:.3f} ({t_test_power(n, effect, alpha):.3f})")
            lines.append(f"{label + f', effect {effect}':44s}" + "".join(f"  {c:>16s}" for c in cells))
    cells = []
    for n, alpha in itertools.product(SEED_COUNTS, ALPHAS):
        rate = rejection_rate("sign", MARGIN, MARGIN + 1.5 * DIFF_SD, n, "normal", alpha)
        cells.append(f"{rate:.3f} ({sign_test_power(n, 1.5, alpha):.3f})")
    lines.append(f"{f'sign test, margin {MARGIN}, effect 1.5':44s}" + "".join(f"  {c:>16s}" for c in cells))
    cells = [
        f"{rejection_rate('tost', TOST_MARGIN, 0.0, n, 'normal', alpha):.3f}"
        for n, alpha in itertools.product(SEED_COUNTS, ALPHAS)
    ]
    lines.append(f"{f'TOST {TOST_MARGIN}, true d = 0 (sd {DIFF_SD:.3f})':44s}" + "".join(f"  {c:>16s}" for c in cells))
    lines += ["", f"coverage of nominal 95%{'':21s}" + "".join(f"  {'n=' + str(n):>16s}" for n in SEED_COUNTS)]
    for label, cover in (
        ("loglog_slope (n = points per fit)", slope_coverage),
        ("mean_ci_t", functools.partial(interval_coverage, "t")),
        ("mean_difference_ci (percentile bootstrap)", functools.partial(interval_coverage, "bootstrap")),
    ):
        lines.append(f"{label:44s}" + "".join(f"  {cover(n):16.3f}" for n in SEED_COUNTS))
    lines.append("")
    lines.append(
        "minimum seeds for power 0.8 at effect 1.5: "
        f"alpha 0.05 -> {minimum_seeds_for_power(1.5, 0.05)}, "
        f"alpha 0.0125 -> {minimum_seeds_for_power(1.5, 0.0125)}"
    )
    print("\n".join(lines))
