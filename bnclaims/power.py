"""How many seeds a check needs: power of its claim and mirror tests against the observed spread.

A check is designed to decide: when the truth lies one *decision distance* beyond the boundary of
its hypothesis (on either side), its claim test or its mirror test should reject with probability at
least 0.8 at the check's corrected level. The decision distance is the check's own threshold or
margin (its smallest effect that counts), or, for a superiority threshold of 0, the standard
deviation of the paired differences. The spread of the differences is what a run observed: the
power statement is a sensitivity statement about the design ("with n seeds and this spread, an
effect one threshold beyond the boundary is found with probability p"), not a claim about the
effect that was observed.

For the t-test the power is the noncentral t's. The exact sign-flip test on a quantized metric has
no closed form; up to 12 seeds it is simulated here with normal differences of the observed spread
(optimistic for heavily tied metrics), above that the t-test's is used (the two tests are
asymptotically equally efficient), and it is zero below the check's ``min_seeds``.

    python -m bnclaims.power reports/claims.json [--target 0.8] [--max-seeds 30]

prints, per empirical paired check of a ledger, the spread, the decision distance, the power at the
ledger's seed count and the fewest seeds that reach the target.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass

import numpy as np

from . import stats
from .ledger import LedgerError, power_record_problem, read_ledger

TARGET_POWER = 0.8
_SIMULATIONS = 2_000
_MAX_SIMULATED_SEEDS = 12


@dataclass(frozen=True)
class Sensitivity:
    """The power of a check's design at n seeds against an effect one decision distance away."""

    check_id: str
    method: str
    alpha: float
    sd: float
    distance: float
    n: int
    power: float
    seeds_for_target: int | None    # None: more than the search's maximum

    def sentence(self) -> str:
        enough = (f"{self.seeds_for_target} seeds reach power {TARGET_POWER:.1f}"
                  if self.seeds_for_target else f"more than the seeds searched are needed for power {TARGET_POWER:.1f}")
        return (f"with {self.n} seeds and the observed spread (sd of differences {self.sd:.3g}), an effect "
                f"{self.distance:.3g} beyond the boundary is decided with probability {self.power:.2f} at alpha "
                f"{self.alpha:.4g}; {enough}")


def decision_distance(threshold: float, test: str, sd: float) -> float:
    """The effect beyond the boundary a design should detect: its threshold or margin, or the sd of
    the differences when the threshold is zero."""
    scale = abs(threshold)
    if test == "superiority" and scale == 0.0:
        return sd
    return scale


def _sign_flip_power(n: int, standardized: float, alpha: float, rng: np.random.Generator) -> float:
    if n < stats.smallest_seeds("sign_flip", alpha):
        return 0.0
    if n > _MAX_SIMULATED_SEEDS:
        return stats.t_test_power(n, standardized, alpha)
    samples = rng.normal(standardized, 1.0, size=(_SIMULATIONS, n))
    patterns = 1.0 - 2.0 * ((np.arange(2 ** n)[:, None] >> np.arange(n)) & 1)   # every sign pattern
    flipped = samples @ patterns.T                                               # sims x 2^n sums
    observed = samples.sum(axis=1, keepdims=True)
    p_values = np.mean(flipped >= observed - 1e-9, axis=1)
    return float(np.mean(p_values <= alpha))


def _sign_power(n: int, standardized: float, alpha: float) -> float:
    """The exact sign test's power when each seed lies beyond the boundary with the probability a normal
    difference `standardized` sds beyond it has (binomial, no simulation)."""
    from scipy import stats as scipy_stats

    beyond = float(scipy_stats.norm.cdf(standardized))
    counts = np.arange(n + 1)
    rejects = scipy_stats.binom.sf(counts - 1, n, 0.5) <= alpha        # P(Bin >= k) <= alpha
    return float(scipy_stats.binom.pmf(counts[rejects], n, beyond).sum())


def sequential_sign_power(design, alpha: float, beyond: float) -> tuple[float, float]:
    """(P(supported), expected seeds) of the exact sign test run through a sequential design
    (bnclaims.stats.SequentialDesign) when each seed lies beyond the boundary with probability ``beyond``
    and short of it otherwise (no ties): exact, by carrying the distribution of the seeds beyond the
    boundary from look to look and removing the paths that stopped (either side rejected)."""
    from scipy import stats as scipy_stats

    alive = np.zeros(design.looks[-1] + 1)
    alive[0] = 1.0
    supported, expected, seen = 0.0, 0.0, 0
    for look, n in enumerate(design.looks):
        added = n - seen
        step = scipy_stats.binom.pmf(np.arange(added + 1), added, beyond)
        alive = np.convolve(alive[:seen + 1], step)[:n + 1]
        wins = np.arange(n + 1)
        level = design.level(look, alpha)
        claim = scipy_stats.binom.sf(wins - 1, n, 0.5) <= level        # P(Bin(n, 1/2) >= wins)
        mirror = scipy_stats.binom.sf(n - wins - 1, n, 0.5) <= level
        stopped = claim | mirror
        supported += float(alive[claim].sum())
        expected += float(alive[stopped].sum()) * n
        alive = np.where(stopped, 0.0, alive)
        seen = n
    expected += float(alive.sum()) * design.looks[-1]
    return supported, expected


def power(method: str, n: int, standardized: float, alpha: float, *, seed: int = 0) -> float:
    """Probability that a one-sided test of the method rejects when the truth lies `standardized`
    standard deviations beyond the boundary."""
    if n < 2:
        return 0.0
    if method == "t":
        return stats.t_test_power(n, standardized, alpha)
    if method == "sign":
        return _sign_power(n, standardized, alpha)
    return _sign_flip_power(n, standardized, alpha, np.random.default_rng([seed, n]))


def sensitivity(check_id: str, method: str, alpha: float, differences, threshold: float, test: str,
                *, max_seeds: int = 30) -> Sensitivity | None:
    """The design's power for a paired check from its observed differences; None without spread."""
    d = np.asarray(differences, dtype=float)
    sd = float(d.std(ddof=1)) if d.size >= 2 else 0.0
    # Spread at the level of float rounding is no spread: a constant difference says nothing of sd.
    if not (math.isfinite(sd) and sd > 1e-12 * max(1.0, float(np.max(np.abs(d))))):
        return None
    distance = decision_distance(threshold, test, sd)
    # Equivalence decides "refuted" with each side at alpha / 2: the weaker of its two tests.
    level = alpha / 2 if test == "equivalence" else alpha
    standardized = distance / sd
    achieved = power(method, d.size, standardized, level)
    needed = next((n for n in range(2, max_seeds + 1) if power(method, n, standardized, level) >= TARGET_POWER),
                  None)
    return Sensitivity(check_id, method, level, sd, distance, int(d.size), achieved, needed)


def ledger_sensitivities(ledger: dict, *, max_seeds: int = 30) -> list[Sensitivity]:
    found = []
    for record in ledger["records"]:
        if record["tier"] != "empirical" or record["kind"] != "paired":
            continue
        d = np.subtract(record["arm_a"]["values"], record["arm_b"]["values"])
        result = sensitivity(record["check_id"], record["method"], record["corrected_alpha"], d,
                             record["threshold"], record["test"], max_seeds=max_seeds)
        if result is not None:
            found.append(result)
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bnclaims.power", description=__doc__.split("\n\n")[0])
    parser.add_argument("ledger", help="a claims.json ledger")
    parser.add_argument("--max-seeds", type=int, default=30)
    options = parser.parse_args(argv)
    try:
        # No header required: the table needs only the records, and older tools wrote ledgers without one.
        ledger = read_ledger(options.ledger, header=False, record_check=power_record_problem)
    except LedgerError as error:
        print(f"power: cannot read the ledger {error}", file=sys.stderr)
        return 2
    rows = ledger_sensitivities(ledger, max_seeds=options.max_seeds)
    print(f"{'check':<34} {'method':<9} {'alpha':>7} {'sd(d)':>9} {'distance':>9} {'n':>3} {'power':>6} "
          f"{'seeds for ' + str(TARGET_POWER):>14}")
    for row in rows:
        needed = str(row.seeds_for_target) if row.seeds_for_target else f"> {options.max_seeds}"
        print(f"{row.check_id:<34} {row.method:<9} {row.alpha:>7.4g} {row.sd:>9.4g} {row.distance:>9.4g} "
              f"{row.n:>3} {row.power:>6.2f} {needed:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
