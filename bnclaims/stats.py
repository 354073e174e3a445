"""Paired, seed-level statistics for verifying Batch Normalization claims.

Every claim compares two arms run on the same seeds: per-seed arrays ``a``
(e.g. with BN) and ``b`` (e.g. without BN), paired by index.  The functions
here are small and pure: they take 1-D numpy arrays and return small frozen
dataclasses, so a verdict can be computed, logged and compared without hidden
state.

Design decisions and why:

* No global RNG.  Every randomized function takes a keyword-only, required
  ``rng: numpy.random.Generator``, so results are reproducible from the
  caller's seed and independent of test execution order (xdist workers).
* The primary hypothesis test is the one-sided *paired t-test* on the per-seed
  differences ``d = a - b``, shifted by the claim's margin (a minimum-effect
  test, H0: mean(d) <= margin).  With 5 seeds (quick profile) the exact
  nonparametric tests (sign, Wilcoxon signed-rank, sign-flip permutation) have
  a floor p-value of 2**-5 = 0.031, which can never pass a multiplicity-
  corrected level such as 0.05 / 4.  Under a true placebo (the same arm against
  itself with independent seeds) ``d`` is symmetric, where the t-test is
  well-behaved; the test suite checks its false-positive rate by simulation,
  including skewed and collapsed-run distributions.
* The exact sign test is computed as a secondary, assumption-free figure.
* Zero variance: if all differences are identical the t statistic is
  undefined.  Then p = 0.0 when mean(d) - margin > 0 (statistic +inf) and
  p = 1.0 otherwise (statistic -inf, or NaN when equal): equality cannot show
  "strictly greater".  "Identical" and "equal" are judged up to float64
  rounding of the inputs (a few ulps of the largest magnitude involved), so
  that e.g. 0.93 - 0.91 is treated as equal to a margin of 0.02.  The sign
  test uses the same tolerance to decide ties.
* Invalid input raises ``ValueError``: NaN/inf values (callers map diverged
  runs to numbers first), fewer than two seeds, arrays of different lengths.
* Multiplicity: Bonferroni within a declared claim family,
  alpha / family_size.  Holm would need every p-value of the family at once,
  but claims run in separate xdist worker processes; Bonferroni lets each
  verdict be final where it is computed.
* Bootstrap intervals are percentile intervals over seeds, resampling seed
  indices with replacement.  With at most 10 seeds (both profiles) all
  distinct resamples are enumerated, giving the exact bootstrap distribution:
  a sampled one (20,000 draws) moved the bounds by more than 0.001 between
  rng seeds for 10% of datasets at n = 5 with spread 0.05, because the
  distribution has only 126 atoms there.  Larger samples use ``rng``.  The
  intervals describe effect sizes; verdicts should rest on the t-tests,
  because the percentile bootstrap under-covers at few seeds (measured by the
  test suite for a nominal 95%: 84% at n = 5, 90% at n = 10).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special, stats

__all__ = [
    "Interval",
    "TestResult",
    "SlopeFit",
    "paired_differences",
    "mean_difference_ci",
    "probability_of_improvement",
    "paired_t_greater",
    "sign_test_greater",
    "non_inferiority",
    "equivalence_tost",
    "loglog_slope",
    "mean_ci_t",
    "bonferroni",
    "minimum_seeds_for_power",
    "t_test_power",
]

# Values closer than this many ulps of the largest input magnitude are
# treated as equal (rounding noise of a subtraction of two floats).
_ULPS = 16

# Up to this many seeds the bootstrap enumerates all C(2n-1, n) distinct
# resamples (92,378 at n = 10, a few ms per interval) instead of sampling.
_MAX_EXACT_SEEDS = 10


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
    df: float | None


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
        raise ValueError(
            f"a and b must pair seed by seed, got lengths {a_arr.size} and {b_arr.size}"
        )
    return a_arr - b_arr


@functools.lru_cache(maxsize=None)
def _all_resamples(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every distinct bootstrap resample of n seeds (as counts) and its probability."""
    picks = np.array(list(itertools.combinations_with_replacement(range(n), n)))
    counts = (picks[:, :, None] == np.arange(n)).sum(axis=1).astype(np.float64)
    log_prob = special.gammaln(n + 1) - special.gammaln(counts + 1).sum(axis=1) - n * np.log(n)
    probabilities = np.exp(log_prob)
    counts.flags.writeable = False
    probabilities.flags.writeable = False
    return counts, probabilities


def _exact_bootstrap_quantiles(per_seed: np.ndarray, levels: np.ndarray) -> np.ndarray:
    """Inverse-CDF quantiles of the exact bootstrap distribution of the mean."""
    counts, probabilities = _all_resamples(per_seed.size)
    means = counts @ per_seed / per_seed.size
    order = np.argsort(means)
    cdf = np.cumsum(probabilities[order])
    # The tolerance absorbs the rounding of the cumulative sum at exact hits.
    return means[order][np.searchsorted(cdf, levels - 1e-12)]


def _percentile_bootstrap(
    per_seed: np.ndarray, *, rng: np.random.Generator, confidence: float, n_resamples: int
) -> Interval:
    """Percentile bootstrap of the mean, resampling seeds with replacement.

    With at most _MAX_EXACT_SEEDS seeds every distinct resample is enumerated
    with its multinomial probability, so the interval has no Monte Carlo error
    and ``rng``/``n_resamples`` are unused.  This matters at 5 seeds: the
    bootstrap distribution has only 126 atoms and a sampled quantile jumps
    between neighbouring atoms from one rng seed to the next (bounds moved by
    up to 0.005 for spread 0.05).  Larger samples draw ``n_resamples`` resamples
    from ``rng``.  Both use the inverse-CDF definition of the percentile.
    """
    _check_confidence(confidence)
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    tail = (1.0 - confidence) / 2.0
    levels = np.array([tail, 1.0 - tail])
    n = per_seed.size
    if n <= _MAX_EXACT_SEEDS:
        low, high = _exact_bootstrap_quantiles(per_seed, levels)
    else:
        means = per_seed[rng.integers(0, n, size=(n_resamples, n))].mean(axis=1)
        low, high = np.quantile(means, levels, method="inverted_cdf")
    return Interval(float(per_seed.mean()), float(low), float(high), confidence)


def mean_difference_ci(
    a: ArrayLike,
    b: ArrayLike,
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 20_000,
) -> Interval:
    """Mean of ``a - b`` with a percentile-bootstrap interval over seeds."""
    return _percentile_bootstrap(
        paired_differences(a, b), rng=rng, confidence=confidence, n_resamples=n_resamples
    )


def probability_of_improvement(
    a: ArrayLike,
    b: ArrayLike,
    *,
    rng: np.random.Generator,
    confidence: float = 0.95,
    n_resamples: int = 20_000,
) -> Interval:
    """Paired P(A > B), ties counting one half, with a percentile-bootstrap interval.

    Ties are exact equality: accuracies of the two arms tie when they count the
    same number of correct predictions.
    """
    d = paired_differences(a, b)
    wins = (d > 0).astype(np.float64) + 0.5 * (d == 0)
    return _percentile_bootstrap(wins, rng=rng, confidence=confidence, n_resamples=n_resamples)


def _t_greater(d: np.ndarray, shift: float, tolerance: float, name: str) -> TestResult:
    """One-sided one-sample t-test of H0: mean(d) <= shift against mean(d) > shift."""
    n = d.size
    df = float(n - 1)
    excess = float(d.mean()) - shift
    if float(np.ptp(d)) <= tolerance:
        if excess > tolerance:
            return TestResult(name, float("inf"), 0.0, df)
        if excess < -tolerance:
            return TestResult(name, float("-inf"), 1.0, df)
        return TestResult(name, float("nan"), 1.0, df)
    t_stat = excess / (float(d.std(ddof=1)) / math.sqrt(n))
    return TestResult(name, t_stat, float(stats.t.sf(t_stat, df)), df)


def _pair_tolerance(a: ArrayLike, b: ArrayLike, margin: float) -> float:
    a_arr, b_arr = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return _rounding_tolerance(a_arr, b_arr, margin)


def paired_t_greater(a: ArrayLike, b: ArrayLike, *, margin: float = 0.0) -> TestResult:
    """One-sided paired t-test, H0: mean(a - b) <= margin, H1: mean(a - b) > margin."""
    d = paired_differences(a, b)
    return _t_greater(
        d,
        margin,
        _pair_tolerance(a, b, margin),
        f"paired t (one-sided, H0: mean(a-b) <= {margin:g})",
    )


def sign_test_greater(a: ArrayLike, b: ArrayLike, *, margin: float = 0.0) -> TestResult:
    """Exact one-sided sign test on ``a - b - margin``; ties are dropped.

    The statistic is the number of seeds with a - b > margin; p = 1.0 if all tie.
    """
    excess = paired_differences(a, b) - margin
    tolerance = _pair_tolerance(a, b, margin)
    positive = int(np.sum(excess > tolerance))
    untied = int(np.sum(np.abs(excess) > tolerance))
    name = f"sign test (one-sided, H0: median(a-b) <= {margin:g})"
    if untied == 0:
        return TestResult(name, float(positive), 1.0, None)
    p_value = stats.binomtest(positive, untied, 0.5, alternative="greater").pvalue
    return TestResult(name, float(positive), float(p_value), None)


def non_inferiority(a: ArrayLike, b: ArrayLike, *, margin: float) -> TestResult:
    """Paired t non-inferiority test, H0: mean(a - b) <= -margin, H1: mean(a - b) > -margin."""
    _check_positive_margin(margin)
    d = paired_differences(a, b)
    return _t_greater(
        d,
        -margin,
        _pair_tolerance(a, b, margin),
        f"paired t non-inferiority (H0: mean(a-b) <= -{margin:g})",
    )


def equivalence_tost(a: ArrayLike, b: ArrayLike, *, margin: float) -> TestResult:
    """Two one-sided paired t-tests, H0: |mean(a - b)| >= margin.

    p = max(p_lower, p_upper); the statistic reported is that of the binding
    (larger-p) side, oriented so that larger means "more clearly inside".
    """
    _check_positive_margin(margin)
    d = paired_differences(a, b)
    tolerance = _pair_tolerance(a, b, margin)
    name = f"paired TOST (H0: |mean(a-b)| >= {margin:g})"
    lower = _t_greater(d, -margin, tolerance, name)
    upper = _t_greater(-d, -margin, tolerance, name)
    return max(lower, upper, key=lambda result: result.p_value)


def _t_interval(point: float, standard_error: float, df: float, confidence: float) -> Interval:
    half_width = float(stats.t.ppf((1.0 + confidence) / 2.0, df)) * standard_error
    return Interval(point, point - half_width, point + half_width, confidence)


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


def mean_ci_t(values: ArrayLike, *, confidence: float = 0.95) -> Interval:
    """Mean with a Student-t interval, e.g. for per-seed slopes averaged over seeds."""
    _check_confidence(confidence)
    arr = _as_finite_1d(values, "values", 2)
    standard_error = float(arr.std(ddof=1)) / math.sqrt(arr.size)
    return _t_interval(float(arr.mean()), standard_error, arr.size - 1, confidence)


def bonferroni(alpha: float, family_size: int) -> float:
    """Per-claim level that keeps the family-wise error rate at ``alpha``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    is_integer = isinstance(family_size, (int, np.integer)) and not isinstance(family_size, bool)
    if not is_integer or family_size < 1:
        raise ValueError(f"family_size must be a positive integer, got {family_size!r}")
    return alpha / int(family_size)


def _power(n: np.ndarray | int, effect_over_margin_sd: float, alpha: float) -> np.ndarray:
    """Power of the one-sided t-test at level alpha via the noncentral t."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    df = np.asarray(n, dtype=np.float64) - 1.0
    critical = stats.t.ppf(1.0 - alpha, df)
    return stats.nct.sf(critical, df, effect_over_margin_sd * np.sqrt(df + 1.0))


def t_test_power(n: int, effect_over_margin_sd: float, alpha: float) -> float:
    """Power of the one-sided paired t-test with n seeds against a standardized effect.

    The effect is (mean(d) - margin) / sd(d) for normally distributed d.
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
