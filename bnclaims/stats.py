"""Paired, seed-level statistics for verifying Batch Normalization claims.

Every claim compares two arms run on the same seeds: per-seed arrays ``a`` (e.g. with BN) and ``b``
(e.g. without BN), paired by seed. The functions here are small and pure: they take 1-D numpy
arrays and return small frozen dataclasses, so a verdict can be computed, logged and compared
without hidden state. The claim layer (bnclaims.evidence) only names hypotheses the claims' way.

Three outcomes. Each paired check has a claim test and a mirror test at the same level:

* superiority        claim: mean(d) > threshold       mirror: mean(d) < threshold
* non-inferiority    claim: mean(d) > -margin         mirror: mean(d) < -margin
* equivalence        claim: |mean(d)| < margin (TOST) mirror: |mean(d)| > margin (one-sided test of
                     each side at alpha / 2, Bonferroni over the two sides, so that a false
                     "refuted" stays below alpha whatever the spread of d)

``decide`` returns *supported* when the claim test rejects, *refuted* when the mirror test rejects,
and *inconclusive* when neither does. "Not shown" is never "refuted".

Two ways to test a mean difference, chosen per check by the metric:

* the one-sample t-test on ``d = a - b`` (``scipy.stats.ttest_1samp``) for continuous metrics such
  as accuracies. When all differences are identical its statistic is undefined; the exact
  sign-flip p is used then, so a constant difference never yields p = 0.
* the exact sign-flip permutation test for quantized, tied or censored metrics (grid indices, steps
  or epochs to a target with a censoring value). Under H0 the differences are symmetric about the
  boundary, so each of the 2^n sign patterns is equally likely; the p-value counts the patterns
  whose mean is at least the observed one. Its smallest p is 2^-n, so it needs
  ``smallest_seeds("sign_flip", alpha)`` seeds to reach a level at all.

Intervals: the effect's interval is the Student t interval of the mean difference (its coverage is
verified by simulation in tests/test_stats.py) or, for exact-test checks, the inversion of the
sign-flip test, whose bounds are order statistics of the 2^n - 1 subset means; with too few seeds
for the level that inversion has infinite bounds, which is the honest answer. P(A > B) and failure
rates get Clopper-Pearson intervals on counts of seeds.

No global RNG: nothing here draws random numbers. Invalid input raises ``ValueError``: NaN/inf
values (callers map diverged runs to numbers first), fewer than two seeds, arrays of different
lengths. "Identical" and "equal" are judged up to float64 rounding of the inputs (a few ulps of
the largest magnitude involved), so that 0.93 - 0.91 equals a margin of 0.02.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "HYPOTHESES",
    "METHODS",
    "OUTCOMES",
    "Interval",
    "TestResult",
    "Decision",
    "SlopeFit",
    "paired_differences",
    "one_sided_test",
    "t_test",
    "sign_test",
    "sign_flip_test",
    "median_interval",
    "decide",
    "smallest_seeds",
    "mean_ci_t",
    "sign_flip_interval",
    "effect_interval",
    "clopper_pearson",
    "rate_upper_bound",
    "probability_of_improvement",
    "loglog_slope",
    "bonferroni",
    "HolmStep",
    "holm",
    "SequentialDesign",
    "failure_differences",
    "failure_test",
    "failure_difference_interval",
    "minimum_seeds_for_power",
    "t_test_power",
]

HYPOTHESES = ("superiority", "non_inferiority", "equivalence")
METHODS = ("sign", "t", "sign_flip")
SUPPORTED, REFUTED, INCONCLUSIVE = "supported", "refuted", "inconclusive"
OUTCOMES = (SUPPORTED, REFUTED, INCONCLUSIVE)

# Values closer than this many ulps of the largest input magnitude are treated as equal (rounding
# noise of a subtraction of two floats).
_ULPS = 16

# Up to this many seeds the sign-flip test enumerates all 2^n sign patterns (4M sums at 22); above,
# it draws patterns from a generator seeded by the data, so the answer is still reproducible.
_MAX_EXACT_SIGN_FLIP = 22
_SIGN_FLIP_DRAWS = 200_000


def _scipy_stats():
    """scipy.stats, imported when a test first needs it: the pytest controller imports this module for the
    catalogue's hypotheses and levels and tests nothing, and scipy.stats would add 0.7 s to the start of
    every session before its workers are launched."""
    from scipy import stats

    return stats


@dataclass(frozen=True)
class Interval:
    """A point estimate with a two-sided confidence interval."""

    point: float
    low: float
    high: float
    confidence: float


@dataclass(frozen=True)
class TestResult:
    """Outcome of a one-sided hypothesis test; ``df`` is None for exact tests."""

    __test__ = False  # not a pytest test class despite the name

    name: str
    statistic: float
    p_value: float
    df: float | None = None


@dataclass(frozen=True)
class Decision:
    """The claim test, its mirror, and the outcome they give at ``alpha``."""

    outcome: str
    claim: TestResult
    mirror: TestResult
    alpha: float


@dataclass(frozen=True)
class SlopeFit:
    """OLS fit of log(y) = intercept + slope * log(x)."""

    slope: Interval
    intercept: float
    n_points: int


def _as_finite_1d(values: ArrayLike, label: str, min_n: int) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{label} must be 1-D, got shape {arr.shape}")
    if arr.size < min_n:
        raise ValueError(f"{label} needs at least {min_n} values, got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{label} contains NaN or inf: {arr.tolist()}")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _check_positive_margin(margin: float) -> None:
    if not (np.isfinite(margin) and margin > 0):
        raise ValueError(f"margin must be a positive number, got {margin}")


def _rounding_tolerance(*magnitudes: np.ndarray | float) -> float:
    """Absolute size of float64 rounding noise for values of these magnitudes."""
    scale = max(float(np.max(np.abs(m))) for m in magnitudes)
    return _ULPS * np.finfo(np.float64).eps * scale


def paired_differences(a: ArrayLike, b: ArrayLike) -> np.ndarray:
    """Validate a paired sample and return ``a - b`` as float64."""
    a_arr = _as_finite_1d(a, "a", 2)
    b_arr = _as_finite_1d(b, "b", 2)
    if a_arr.shape != b_arr.shape:
        raise ValueError(f"a and b must pair seed by seed, got lengths {a_arr.size} and {b_arr.size}")
    return a_arr - b_arr


def _excess(d: ArrayLike, shift: float, scale: float) -> tuple[np.ndarray, float]:
    """d - shift with values within rounding of zero set to exactly zero, and that tolerance.

    scale: the magnitude of the values that were subtracted to make d (the arms' accuracies, say):
    their rounding, not d's own size, bounds the noise in d (0.93 - 0.91 is 0.020000000000000018).
    """
    d_arr = _as_finite_1d(d, "d", 2)
    if not np.isfinite(shift):
        raise ValueError(f"the threshold must be a finite number, got {shift}")
    excess = d_arr - shift
    tolerance = _rounding_tolerance(d_arr, shift, scale)
    excess[np.abs(excess) <= tolerance] = 0.0
    return excess, tolerance


def _check_alternative(alternative: str) -> None:
    if alternative not in ("greater", "less"):
        raise ValueError(f"alternative must be 'greater' or 'less', got {alternative!r}")


def _signed_sums(values: np.ndarray) -> np.ndarray:
    """All 2^n sums of +/- values (built by doubling: 2^n floats, not 2^n x n)."""
    sums = np.zeros(1)
    for value in values:
        sums = np.concatenate((sums + value, sums - value))
    return sums


def sign_flip_test(d: ArrayLike, shift: float = 0.0, alternative: str = "greater", *, scale: float = 0.0) -> TestResult:
    """Exact sign-flip permutation test of H0: d symmetric about ``shift``.

    alternative "greater": H1 mean(d) > shift; "less": H1 mean(d) < shift. The statistic is the
    mean of d - shift; p is the share of the 2^n sign patterns whose mean is at least as extreme.
    Differences equal to the shift (ties) weigh nothing either way. Matches
    ``scipy.stats.permutation_test(..., permutation_type="samples")`` (tested).
    """
    _check_alternative(alternative)
    excess, tolerance = _excess(d, shift, scale)
    n = excess.size
    oriented = excess if alternative == "greater" else -excess
    observed = float(oriented.sum())
    # Sums within rounding of the observed one count as "as extreme" (the observed pattern included).
    slack = n * tolerance + _rounding_tolerance(oriented) * n
    name = f"exact sign-flip ({'mean(d) > ' if alternative == 'greater' else 'mean(d) < '}{shift:g})"
    if n <= _MAX_EXACT_SIGN_FLIP:
        p_value = float(np.mean(_signed_sums(oriented) >= observed - slack))
    else:
        seed = np.frombuffer(np.ascontiguousarray(oriented).tobytes(), dtype=np.uint32)
        rng = np.random.default_rng(seed)
        signs = rng.choice((-1.0, 1.0), size=(_SIGN_FLIP_DRAWS, n))
        p_value = float((1 + np.sum(signs @ oriented >= observed - slack)) / (_SIGN_FLIP_DRAWS + 1))
        name += f", {_SIGN_FLIP_DRAWS:,} random sign patterns"
    return TestResult(name, observed / n, p_value, None)


def t_test(d: ArrayLike, shift: float = 0.0, alternative: str = "greater", *, scale: float = 0.0) -> TestResult:
    """One-sided one-sample t-test of mean(d) against ``shift`` (scipy.stats.ttest_1samp).

    With no spread in d (up to the rounding of values of size ``scale``) the t statistic is undefined
    (scipy would give p = 0 or NaN); then the exact sign-flip p is returned, 2^-n for a constant
    difference beyond the shift and 1 at the shift.
    """
    _check_alternative(alternative)
    excess, tolerance = _excess(d, shift, scale)
    symbol = ">" if alternative == "greater" else "<"
    name = f"paired t (mean(d) {symbol} {shift:g})"
    if np.ptp(excess) <= 2.0 * tolerance:
        constant = np.full(excess.size, float(np.median(excess)))
        exact = sign_flip_test(constant, 0.0, alternative)
        return TestResult(f"{name}; no spread in d: exact sign-flip p", exact.statistic, exact.p_value, None)
    result = _scipy_stats().ttest_1samp(excess, 0.0, alternative=alternative)
    return TestResult(name, float(result.statistic), float(result.pvalue), float(excess.size - 1))


def sign_test(d: ArrayLike, shift: float = 0.0, alternative: str = "greater", *, scale: float = 0.0) -> TestResult:
    """Exact sign test of H0: the median of d is ``shift`` (``scipy.stats.binomtest`` on the seeds above
    and below it; seeds within rounding of the shift weigh nothing).

    It assumes nothing of the shape of d: under H0 each seed lies above the shift with probability one
    half, whatever the spread, skew or ties, so its false-positive rate is at most its level on any
    distribution (tests/test_stats.py simulates it on the ledger's own shapes). The price is the
    estimand, the median difference (a typical seed) rather than the mean, and power: its smallest p
    is 2^-n, as the sign-flip test's. The statistic is the median of d.
    """
    _check_alternative(alternative)
    excess, _ = _excess(d, shift, scale)
    above, below = int(np.sum(excess > 0)), int(np.sum(excess < 0))
    wins = above if alternative == "greater" else below
    symbol = ">" if alternative == "greater" else "<"
    name = f"exact sign test (median(d) {symbol} {shift:g}; {wins} of {above + below} seeds on that side)"
    statistic = float(np.median(np.asarray(d, dtype=np.float64)))
    if above + below == 0:
        return TestResult(name, statistic, 1.0, None)
    p_value = float(_scipy_stats().binomtest(wins, above + below, 0.5, alternative="greater").pvalue)
    return TestResult(name, statistic, p_value, None)


def one_sided_test(d: ArrayLike, shift: float, alternative: str, method: str, *, scale: float = 0.0) -> TestResult:
    if method == "sign":
        return sign_test(d, shift, alternative, scale=scale)
    if method == "t":
        return t_test(d, shift, alternative, scale=scale)
    if method == "sign_flip":
        return sign_flip_test(d, shift, alternative, scale=scale)
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def decide(d: ArrayLike, *, hypothesis: str, threshold: float, alpha: float, method: str = "t",
           scale: float = 0.0) -> Decision:
    """Claim test and mirror test of a paired difference, and the three-way outcome at ``alpha``.

    threshold: the smallest effect that counts (superiority) or the margin (non-inferiority,
    equivalence; positive), in the units of d. scale: the magnitude of the values subtracted to
    make d, for judging rounding (see t_test).
    """
    _check_alpha(alpha)
    if not np.isfinite(threshold):
        raise ValueError(f"the threshold must be a finite number, got {threshold}")
    test = functools.partial(one_sided_test, method=method, scale=scale)
    if hypothesis == "superiority":
        claim, mirror = test(d, threshold, "greater"), test(d, threshold, "less")
    elif hypothesis == "non_inferiority":
        _check_positive_margin(threshold)
        claim, mirror = test(d, -threshold, "greater"), test(d, -threshold, "less")
    elif hypothesis == "equivalence":
        _check_positive_margin(threshold)
        binding = max((test(d, -threshold, "greater"), test(d, threshold, "less")), key=lambda r: r.p_value)
        claim = TestResult(f"TOST within +/-{threshold:g} ({binding.name} binds)", binding.statistic,
                           binding.p_value, binding.df)
        nearest = min((test(d, threshold, "greater"), test(d, -threshold, "less")), key=lambda r: r.p_value)
        mirror = TestResult(f"outside +/-{threshold:g}, each side at alpha/2 ({nearest.name})", nearest.statistic,
                            min(1.0, 2.0 * nearest.p_value), nearest.df)
    else:
        raise ValueError(f"hypothesis must be one of {HYPOTHESES}, got {hypothesis!r}")
    if claim.p_value <= alpha:
        outcome = SUPPORTED
    elif mirror.p_value <= alpha:
        outcome = REFUTED
    else:
        outcome = INCONCLUSIVE
    return Decision(outcome, claim, mirror, alpha)


def smallest_seeds(method: str, alpha: float) -> int:
    """The fewest seeds with which a one-sided test of this method can reach ``alpha`` at all.

    The t-test can reach any level from 2 seeds; the exact sign and sign-flip tests' smallest p is 2^-n.
    """
    _check_alpha(alpha)
    if method == "t":
        return 2
    if method in ("sign", "sign_flip"):
        return max(2, math.ceil(math.log2(1.0 / alpha) - 1e-12))
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def _t_interval(point: float, standard_error: float, df: float, confidence: float) -> Interval:
    half_width = float(_scipy_stats().t.ppf((1.0 + confidence) / 2.0, df)) * standard_error
    return Interval(point, point - half_width, point + half_width, confidence)


def mean_ci_t(values: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Mean with a Student-t interval (per-seed differences, or per-seed slopes averaged over seeds)."""
    _check_confidence(confidence)
    arr = _as_finite_1d(values, "values", 2)
    standard_error = float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return _t_interval(float(arr.mean()), standard_error, arr.size - 1, confidence)


def _subset_means(values: np.ndarray) -> np.ndarray:
    """Means of all 2^n - 1 non-empty subsets, sorted."""
    sums, sizes = np.zeros(1), np.zeros(1)
    for value in values:
        sums, sizes = np.concatenate((sums, sums + value)), np.concatenate((sizes, sizes + 1))
    return np.sort(sums[1:] / sizes[1:])


def sign_flip_interval(d: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Two-sided interval for the centre of d, inverting the exact sign-flip test at each side.

    The one-sided p of "centre <= mu" is (1 + #{subset means <= mu}) / 2^n, so each bound is an
    order statistic of the subset means. With 2^n * (1 - confidence) / 2 < 1 no value can be
    rejected and the bounds are infinite. Above _MAX_EXACT_SIGN_FLIP seeds the subsets are drawn at
    random (from a generator seeded by the data) and the bounds are their quantiles.
    """
    _check_confidence(confidence)
    arr = _as_finite_1d(d, "d", 2)
    tail = (1.0 - confidence) / 2.0
    point = float(arr.mean())
    if arr.size <= _MAX_EXACT_SIGN_FLIP:
        rejectable = math.floor(tail * 2.0 ** arr.size + 1e-9) - 1
        if rejectable < 0:
            return Interval(point, -math.inf, math.inf, confidence)
        means = _subset_means(arr)
        return Interval(point, float(means[rejectable]), float(means[-1 - rejectable]), confidence)
    rng = np.random.default_rng(np.frombuffer(np.ascontiguousarray(arr).tobytes(), dtype=np.uint32))
    members = rng.random((_SIGN_FLIP_DRAWS, arr.size)) < 0.5
    sizes = members.sum(axis=1)
    means = (members @ arr)[sizes > 0] / sizes[sizes > 0]
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return Interval(point, float(low), float(high), confidence)


def median_interval(d: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """The median of d with the distribution-free interval that inverts the sign test: order statistics
    d_(k) and d_(n+1-k), k the largest count with P(Binomial(n, 1/2) < k) <= (1 - confidence) / 2. Its
    lower bound lies above a value exactly when the one-sided sign test at that tail rejects it (no
    ties). Too few seeds for the confidence give infinite bounds."""
    _check_confidence(confidence)
    arr = np.sort(_as_finite_1d(d, "d", 2))
    tail = (1.0 - confidence) / 2.0
    point = float(np.median(arr))
    counts = np.arange(arr.size + 1)
    # P(Bin(n, 1/2) <= k - 1) for k = 1..n; the largest k whose probability is within the tail.
    within = np.nonzero(_scipy_stats().binom.cdf(counts[:-1], arr.size, 0.5) <= tail * (1 + 1e-9))[0]
    if within.size == 0:
        return Interval(point, -math.inf, math.inf, confidence)
    k = int(within[-1]) + 1
    return Interval(point, float(arr[k - 1]), float(arr[arr.size - k]), confidence)


def effect_interval(d: ArrayLike, method: str, *, confidence: float = 0.95) -> tuple[Interval, str]:
    """The interval printed for a paired effect and the name of its method."""
    if method == "sign":
        return median_interval(d, confidence=confidence), f"sign-test inversion (median), {confidence:.0%}"
    if method == "t":
        return mean_ci_t(d, confidence=confidence), f"Student t, {confidence:.0%}"
    if method == "sign_flip":
        return sign_flip_interval(d, confidence=confidence), f"exact sign-flip inversion, {confidence:.0%}"
    raise ValueError(f"method must be one of {METHODS}, got {method!r}")


def clopper_pearson(k: int, n: int, *, confidence: float = 0.95) -> Interval:
    """A binomial proportion k/n with its exact (Clopper-Pearson) two-sided interval."""
    _check_confidence(confidence)
    if not (isinstance(n, (int, np.integer)) and n >= 1 and 0 <= k <= n):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    ci = _scipy_stats().binomtest(int(k), int(n)).proportion_ci(confidence_level=confidence, method="exact")
    return Interval(k / n, float(ci.low), float(ci.high), confidence)


def rate_upper_bound(k: int, n: int, *, confidence: float = 0.95) -> float:
    """One-sided Clopper-Pearson upper bound: rates above it are excluded by k events in n trials
    (0 failures in 5 seeds excludes only rates above 0.45)."""
    _check_confidence(confidence)
    if not (n >= 1 and 0 <= k <= n):
        raise ValueError(f"need 0 <= k <= n and n >= 1, got k={k}, n={n}")
    return float(_scipy_stats().binomtest(int(k), int(n), alternative="less")
                 .proportion_ci(confidence_level=confidence, method="exact").high)


def probability_of_improvement(a: ArrayLike, b: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Paired P(A > B), ties counting one half, with a Clopper-Pearson interval on the seed counts.

    The estimand P(d > 0) + P(d = 0) / 2 lies between P(d > 0) and P(d >= 0); the lower bound is
    the Clopper-Pearson bound of the wins, the upper that of wins and ties, each at
    (1 - confidence) / 2, so the interval covers at least ``confidence`` with or without ties.
    """
    d = paired_differences(a, b)
    tolerance = _rounding_tolerance(np.asarray(a, float), np.asarray(b, float))
    n = d.size
    wins = int(np.sum(d > tolerance))
    ties = int(np.sum(np.abs(d) <= tolerance))
    low = clopper_pearson(wins, n, confidence=confidence).low
    high = clopper_pearson(wins + ties, n, confidence=confidence).high
    return Interval((wins + 0.5 * ties) / n, low, high, confidence)


def loglog_slope(x: ArrayLike, y: ArrayLike, *, confidence: float = 0.95) -> SlopeFit:
    """OLS fit of log(y) on log(x) with a t interval (df = n - 2) for the slope.

    Natural logs; the slope is the same in any base.
    """
    _check_confidence(confidence)
    x_arr = _as_finite_1d(x, "x", 3)
    y_arr = _as_finite_1d(y, "y", 3)
    if x_arr.shape != y_arr.shape:
        raise ValueError(f"x and y must have the same length, got {x_arr.size} and {y_arr.size}")
    for label, arr in (("x", x_arr), ("y", y_arr)):
        if np.any(arr <= 0):
            raise ValueError(f"{label} must be > 0 for a log-log fit, got {arr[arr <= 0].tolist()}")
    log_x, log_y = np.log(x_arr), np.log(y_arr)
    centered_x = log_x - log_x.mean()
    sxx = float(centered_x @ centered_x)
    if sxx == 0.0:
        raise ValueError(f"x must take at least two distinct values, got {x_arr.tolist()}")
    slope = float(centered_x @ (log_y - log_y.mean())) / sxx
    intercept = float(log_y.mean() - slope * log_x.mean())
    residuals = log_y - (intercept + slope * log_x)
    n = x_arr.size
    standard_error = math.sqrt(float(residuals @ residuals) / (n - 2) / sxx)
    return SlopeFit(_t_interval(slope, standard_error, n - 2, confidence), intercept, n)


def bonferroni(alpha: float, family_size: int) -> float:
    """Per-check level that keeps the family-wise error rate at ``alpha``."""
    _check_alpha(alpha)
    is_integer = isinstance(family_size, (int, np.integer)) and not isinstance(family_size, bool)
    if not is_integer or family_size < 1:
        raise ValueError(f"family_size must be a positive integer, got {family_size!r}")
    return alpha / int(family_size)


def failure_difference_interval(a_failed: ArrayLike, b_failed: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Two-sided interval for the difference in paired failure rates, P(B fails) - P(A fails).

    The difference is psi * (2 pi - 1), with psi the chance that a seed is discordant (one arm failed, the
    other trained) and pi the chance that, among discordant seeds, B is the one that failed. Each gets its
    Clopper-Pearson interval at ``confidence`` (``scipy.stats.binomtest(...).proportion_ci``, exact), and
    the difference ranges over the corners. pi's interval inverts the exact McNemar test, so the interval
    clears 0 exactly when that test rejects at (1 - confidence) / 2 on that side; psi's keeps the interval
    honest where few or no seeds are discordant (none discordant in 21 seeds still leaves room for a small
    difference, where the sign-flip inversion of the -1/0/+1 differences gave a point at 0). Its coverage
    is simulated at the ledger's failure rates in tests/test_stats.py."""
    _check_confidence(confidence)
    d = failure_differences(a_failed, b_failed)
    n, only_b, only_a = d.size, int(np.sum(d > 0)), int(np.sum(d < 0))
    if n == 0:
        raise ValueError("need at least one seed")
    scipy_stats = _scipy_stats()
    discordant = only_b + only_a
    psi = scipy_stats.binomtest(discordant, n).proportion_ci(confidence_level=confidence, method="exact")
    if discordant:
        pi = scipy_stats.binomtest(only_b, discordant).proportion_ci(confidence_level=confidence, method="exact")
        pi_low, pi_high = pi.low, pi.high
    else:
        pi_low, pi_high = 0.0, 1.0
    corners = [p * (2 * q - 1) for p in (psi.low, psi.high) for q in (pi_low, pi_high)]
    return Interval(float(d.mean()), float(min(corners)), float(max(corners)), confidence)


@dataclass(frozen=True)
class HolmStep:
    """One hypothesis of a family under Holm's step-down: its rank among the family's p-values (1 for
    the smallest), the level its p is compared with at that step (alpha / (m - rank + 1)), Holm's
    adjusted p, and whether the family's step-down rejects it."""

    p_value: float
    rank: int
    level: float
    adjusted_p: float
    rejected: bool


def holm(p_values: ArrayLike, alpha: float) -> list[HolmStep]:
    """Holm's step-down over a family's p-values (``statsmodels.stats.multitest.multipletests``,
    method "holm"): the smallest p is compared with alpha / m, the next with alpha / (m - 1), and so on
    until one is not rejected. The family-wise error rate stays at alpha under any dependence between
    the tests, and every hypothesis Bonferroni (alpha / m) rejects, Holm rejects too. Ties keep their
    input order."""
    _check_alpha(alpha)
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1 or p.size == 0 or not np.all((p >= 0) & (p <= 1)):
        raise ValueError(f"need one or more p-values in [0, 1], got {np.asarray(p_values).tolist()}")
    from statsmodels.stats.multitest import multipletests

    rejected, adjusted, _, _ = multipletests(p, alpha=alpha, method="holm")
    order = np.argsort(p, kind="stable")
    ranks = np.empty(p.size, dtype=int)
    ranks[order] = np.arange(1, p.size + 1)
    m = p.size
    return [HolmStep(float(p[i]), int(ranks[i]), float(alpha / (m - ranks[i] + 1)), float(adjusted[i]), bool(rejected[i]))
            for i in range(m)]


def failure_differences(a_failed: ArrayLike, b_failed: ArrayLike) -> np.ndarray:
    """Per seed, (B failed) - (A failed): +1 where only B failed, -1 where only A failed, 0 where both
    or neither did. Its exact sign-flip test is the exact McNemar test on the discordant pairs (the
    concordant seeds weigh nothing), so the failure part of a comparison uses the same machinery,
    interval included, as a quantized metric."""
    a = np.asarray(a_failed, dtype=bool)
    b = np.asarray(b_failed, dtype=bool)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"failures must pair seed by seed, got shapes {a.shape} and {b.shape}")
    return b.astype(np.float64) - a.astype(np.float64)


def failure_test(a_failed: ArrayLike, b_failed: ArrayLike, alternative: str = "greater") -> TestResult:
    """Exact McNemar test of paired failures (``scipy.stats.binomtest`` on the discordant pairs):
    "greater" asks whether A fails on fewer seeds than B (more seeds where only B failed than where only
    A failed), "less" the mirror. With no discordant pair p is 1."""
    _check_alternative(alternative)
    d = failure_differences(a_failed, b_failed)
    only_b, only_a = int(np.sum(d > 0)), int(np.sum(d < 0))
    name = f"exact McNemar on {only_b + only_a} discordant seeds ({only_b} only B failed, {only_a} only A)"
    if only_b + only_a == 0:
        return TestResult(name, 0.0, 1.0, None)
    result = _scipy_stats().binomtest(only_b, only_b + only_a, 0.5, alternative=alternative)
    return TestResult(name, float(d.mean()), float(result.pvalue), None)


@dataclass(frozen=True)
class SequentialDesign:
    """Seeds added in blocks while a check is undecided, its level spent over the looks.

    Look k (at ``looks[k]`` seeds) tests the claim and its mirror each at ``alpha * weights[k]``; the
    weights sum to 1. By the union bound over looks, the chance that a true null is ever rejected, on
    either side, is at most alpha whatever the dependence between looks and whatever stopping rule is
    used (so the design holds by construction; tests/test_stats.py measures it on the ledger's shapes).
    ``adjusted_p`` turns the p-values of the looks taken into one valid p-value for the whole design,
    min_k p_k / w_k, which a multiple-testing correction can take as it takes a fixed design's p.
    """

    looks: tuple[int, ...]
    weights: tuple[float, ...]

    def __post_init__(self) -> None:
        looks, weights = tuple(int(n) for n in self.looks), tuple(float(w) for w in self.weights)
        if not looks or len(looks) != len(weights):
            raise ValueError(f"a design needs one weight per look, got looks {looks} and weights {weights}")
        if looks[0] < 2 or any(b <= a for a, b in zip(looks, looks[1:])):
            raise ValueError(f"looks must be increasing seed counts from 2, got {looks}")
        if any(w <= 0 for w in weights) or abs(sum(weights) - 1.0) > 1e-9:
            raise ValueError(f"weights must be positive and sum to 1, got {weights}")
        object.__setattr__(self, "looks", looks)
        object.__setattr__(self, "weights", weights)

    @classmethod
    def blocks(cls, first: int, cap: int) -> "SequentialDesign":
        """Looks at first, 2 * first, ... seeds up to cap (cap itself the last look), equal weights."""
        if first < 2 or cap < first:
            raise ValueError(f"need 2 <= first seeds <= cap, got {first} and {cap}")
        looks = list(range(first, cap + 1, first))
        if looks[-1] != cap:
            looks.append(cap)
        return cls(tuple(looks), tuple(1.0 / len(looks) for _ in looks))

    def level(self, look: int, alpha: float) -> float:
        """The level each side is tested at on look ``look`` (0-based)."""
        _check_alpha(alpha)
        return alpha * self.weights[look]

    def adjusted_p(self, p_values: ArrayLike) -> float:
        """min over the looks taken of p_k / w_k, at most 1: a p-value for the design as a whole."""
        p = np.asarray(p_values, dtype=np.float64)
        if p.ndim != 1 or not 1 <= p.size <= len(self.looks):
            raise ValueError(f"need the p-values of 1 to {len(self.looks)} looks, got {p.tolist()}")
        return float(min(1.0, np.min(p / np.asarray(self.weights[:p.size]))))


def _power(n: np.ndarray | int, effect_over_margin_sd: float, alpha: float) -> np.ndarray:
    """Power of the one-sided t-test at level alpha via the noncentral t."""
    _check_alpha(alpha)
    df = np.asarray(n, dtype=np.float64) - 1.0
    scipy_stats = _scipy_stats()
    critical = scipy_stats.t.ppf(1.0 - alpha, df)
    return scipy_stats.nct.sf(critical, df, effect_over_margin_sd * np.sqrt(df + 1.0))


def t_test_power(n: int, effect_over_margin_sd: float, alpha: float) -> float:
    """Power of the one-sided paired t-test with n seeds against a standardized effect.

    The effect is (mean(d) - boundary) / sd(d) for normally distributed d.
    """
    if n < 2:
        raise ValueError(f"n must be >= 2, got {n}")
    return float(_power(n, effect_over_margin_sd, alpha))


def minimum_seeds_for_power(
    effect_over_margin_sd: float, alpha: float, power: float = 0.8, max_n: int = 200
) -> int | None:
    """Smallest seed count whose paired t-test reaches ``power``; None if above ``max_n``."""
    if not 0.0 < power < 1.0:
        raise ValueError(f"power must be in (0, 1), got {power}")
    if max_n < 2:
        raise ValueError(f"max_n must be >= 2, got {max_n}")
    seeds = np.arange(2, max_n + 1)
    reached = np.nonzero(_power(seeds, effect_over_margin_sd, alpha) >= power)[0]
    return int(seeds[reached[0]]) if reached.size else None
