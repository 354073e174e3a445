"""Calibration of the paired tests on the shapes a real ledger shows.

A paired check's false-positive rate is only as good as its test's assumptions hold for the differences
the runs produce: few seeds, skewed, sometimes one arm failing. This module takes those shapes from a
ledger, one per empirical paired check, and simulates the check's own procedure under its null:

* the value part: the differences on the seeds where both arms trained, centred on the boundary of the
  hypothesis (threshold or margin) and resampled seed by seed (the ledger's spread, skew and ties, not a
  convenient normal);
* the failure part: each arm fails (diverges or collapses) at the ledger's rate, independently per seed;
  for a claim about failures both arms fail at their pooled rate (the null: equal failure rates);
* the sequential design: the looks of the session (7, 14 and 21 seeds on the default profile), each
  side tested at its share of the corrected level, stopping at the first look where either side rejects.

The result is the chance that the claim test (a false *supported*) or the mirror test (a false *refuted*)
ever rejects when the truth sits on the boundary. tests/test_calibration.py holds every check of the
committed shapes (tests/data/ledger_shapes.json) to its level, and shows that a deliberately wrong
choice, the paired t-test on the same shapes, or on accuracies that count a collapsed run's number,
does not hold.

    python -m bnclaims.calibration shapes reports/claims.json > tests/data/ledger_shapes.json
    python -m bnclaims.calibration fpr tests/data/ledger_shapes.json [--method t] [--simulations 20000]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass

import numpy as np

from .stats import SequentialDesign

SHAPES_VERSION = 1


@dataclass(frozen=True)
class Shape:
    """What a ledger shows of one empirical paired check: enough to simulate its null."""

    check_id: str
    test: str                    # superiority, non_inferiority or equivalence
    threshold: float
    method: str                  # the paired test the catalogue declares
    about: str                   # value or failure
    corrected_alpha: float       # the family's level
    differences: tuple[float, ...]   # the value part's paired differences (seeds where both trained)
    a_failure_rate: float
    b_failure_rate: float


def shapes_from_ledger(ledger: dict) -> list[Shape]:
    """One Shape per empirical paired check of a ledger."""
    shapes = []
    for record in ledger["records"]:
        if record["tier"] not in ("empirical", "control") or record["kind"] != "paired":
            continue
        a, b = record["arm_a"], record["arm_b"]
        failed = lambda arm: [o in ("diverged", "collapsed") for o in arm.get("outcomes") or ()] or [False] * len(arm["values"])
        fa, fb = failed(a), failed(b)
        d = [x - y for x, y, f, g in zip(a["values"], b["values"], fa, fb) if not (f or g)]
        shapes.append(Shape(record["check_id"], record["test"], float(record["threshold"]), record["method"],
                            record.get("about", "value"), float(record["corrected_alpha"]),
                            tuple(round(float(x), 6) for x in d), sum(fa) / len(fa), sum(fb) / len(fb)))
    return shapes


def _null_draws(d: np.ndarray, method: str, rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """Seeds drawn from the ledger's differences, moved onto the null of the test's own hypothesis (the
    boundary then added by the caller). The t-test is about the mean: the differences less their mean,
    resampled (their spread, skew and ties as the ledger shows them). The sign test is about which side of
    the boundary a seed falls: its null is "as likely above as below", so the differences less their
    median are resampled with a random sign each; the seeds that sit on the median stay ties, at the rate
    the ledger shows."""
    if method == "sign":
        magnitudes = np.abs(d - np.median(d))
        return rng.choice(magnitudes, size=size) * rng.choice((-1.0, 1.0), size=size)
    return rng.choice(d - d.mean(), size=size)


def _one_sided_p(x: np.ndarray, used: np.ndarray, shift: float, method: str, greater: bool) -> np.ndarray:
    """p of one one-sided test per row of x (sims x seeds), over the seeds marked in ``used``."""
    from scipy import stats as scipy_stats

    excess = np.where(used, x - shift, 0.0)
    tolerance = 1e-12
    if method == "sign":
        above = ((excess > tolerance) & used).sum(axis=1)
        below = ((excess < -tolerance) & used).sum(axis=1)
        untied = above + below
        wins = above if greater else below
        return np.where(untied > 0, scipy_stats.binom.sf(wins - 1, np.maximum(untied, 1), 0.5), 1.0)
    if method == "t":
        n = used.sum(axis=1)
        mean = excess.sum(axis=1) / np.maximum(n, 1)
        var = ((excess - mean[:, None]) ** 2 * used).sum(axis=1) / np.maximum(n - 1, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            t = mean / np.sqrt(var / np.maximum(n, 1))
        t = np.where(var > 0, t, np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0)))
        p = scipy_stats.t.sf(t, np.maximum(n - 1, 1)) if greater else scipy_stats.t.cdf(t, np.maximum(n - 1, 1))
        return np.where(n >= 2, p, 1.0)
    raise ValueError(f"calibration simulates the sign and t tests, not {method!r}")


def _claim_and_mirror(x, used, test: str, threshold: float, method: str) -> tuple[np.ndarray, np.ndarray]:
    """(claim p, mirror p) per row, as bnclaims.stats.decide forms them from one-sided tests."""
    p = lambda shift, greater: _one_sided_p(x, used, shift, method, greater)
    if test == "superiority":
        return p(threshold, True), p(threshold, False)
    if test == "non_inferiority":
        return p(-threshold, True), p(-threshold, False)
    claim = np.maximum(p(-threshold, True), p(threshold, False))
    mirror = np.minimum(1.0, 2.0 * np.minimum(p(threshold, True), p(-threshold, False)))
    return claim, mirror


@dataclass(frozen=True)
class Rates:
    """Simulated false-positive rates of one check under its null, on the boundary."""

    check_id: str
    method: str
    alpha: float
    simulations: int
    false_supported: float
    false_refuted: float

    def upper(self, rate: float, confidence: float = 0.99) -> float:
        from scipy import stats as scipy_stats

        k = round(rate * self.simulations)
        return 1.0 if k >= self.simulations else float(scipy_stats.beta.ppf(confidence, k + 1, self.simulations - k))

    def lower(self, rate: float, confidence: float = 0.99) -> float:
        from scipy import stats as scipy_stats

        k = round(rate * self.simulations)
        return 0.0 if k == 0 else float(scipy_stats.beta.ppf(1 - confidence, k, self.simulations - k + 1))


def null_rates(shape: Shape, design: SequentialDesign, *, method: str | None = None, simulations: int = 20_000,
               seed: int = 0, count_failures_as_values: float | None = None) -> Rates:
    """The check's chance of a false supported and a false refuted when the truth is on its boundary.

    method: the test to simulate (default: the shape's own). count_failures_as_values: the wrong design
    in which a failed run's number (this value, for the failing arm, e.g. a collapsed model's 0.1 against
    a typical 0.9) enters the differences instead of being split out as a failure.
    """
    method = method or ("sign" if shape.method == "sign_flip" else shape.method)
    rng = np.random.default_rng([seed, *map(ord, shape.check_id)])
    n_max = design.looks[-1]
    false_supported = np.zeros(simulations, dtype=bool)
    false_refuted = np.zeros(simulations, dtype=bool)
    if shape.about == "failure":
        rate = (shape.a_failure_rate + shape.b_failure_rate) / 2
        fa, fb = rng.random((simulations, n_max)) < rate, rng.random((simulations, n_max)) < rate
        x, used = fb.astype(float) - fa.astype(float), np.ones((simulations, n_max), dtype=bool)
        boundaries = [0.0]
    else:
        d = np.asarray(shape.differences, dtype=float)
        if d.size < 2:
            raise ValueError(f"{shape.check_id}: fewer than 2 trained pairs in the ledger, no shape to simulate")
        fa = rng.random((simulations, n_max)) < shape.a_failure_rate
        fb = rng.random((simulations, n_max)) < shape.b_failure_rate
        draws = _null_draws(d, method, rng, (simulations, n_max))
        used = ~(fa | fb)
        if count_failures_as_values is not None:
            used = np.ones_like(used)
        m = shape.threshold
        boundaries = {"superiority": [m], "non_inferiority": [-m], "equivalence": [-m, m]}[shape.test]
    for boundary in boundaries:
        supported = np.zeros(simulations, dtype=bool)
        refuted = np.zeros(simulations, dtype=bool)
        if shape.about == "failure":
            values = x
        else:
            values = draws + boundary
            if count_failures_as_values is not None:
                # The failing arm's number replaces its value: A - B with A failed, or A - B with B failed.
                typical = 0.9
                values = np.where(fa, count_failures_as_values - typical, values)
                values = np.where(fb & ~fa, typical - count_failures_as_values, values)
        decided = np.zeros(simulations, dtype=bool)
        for look, n in enumerate(design.looks):
            level = design.level(look, shape.corrected_alpha)
            in_look = used.copy()
            in_look[:, n:] = False
            claim_p, mirror_p = _claim_and_mirror(values, in_look, shape.test, shape.threshold, method)
            now_supported = ~decided & (claim_p <= level)
            now_refuted = ~decided & ~now_supported & (mirror_p <= level)
            supported |= now_supported
            refuted |= now_refuted
            decided |= now_supported | now_refuted
        false_supported |= supported
        false_refuted |= refuted
    return Rates(shape.check_id, method, shape.corrected_alpha, simulations, float(false_supported.mean()),
                 float(false_refuted.mean()))


def design_p_values(shape: Shape, design: SequentialDesign, *, effect: float = 0.0, simulations: int = 20_000,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per simulated experiment, the check's (claim side, mirror side) p over the design's looks
    (SequentialDesign.adjusted_p over the looks taken, stopping at the first look that decides at the
    design's Bonferroni level), the p-values a family's Holm step-down takes. The truth sits ``effect``
    beyond the claim's boundary (0: on it; positive: towards support). Superiority and non-inferiority
    checks about values, as null_rates draws them."""
    if shape.about != "value" or shape.test == "equivalence":
        raise ValueError(f"{shape.check_id}: design p-values are simulated for value checks with one boundary")
    method = "sign" if shape.method == "sign_flip" else shape.method
    rng = np.random.default_rng([seed, *map(ord, shape.check_id)])
    n_max = design.looks[-1]
    d = np.asarray(shape.differences, dtype=float)
    used = ~((rng.random((simulations, n_max)) < shape.a_failure_rate)
             | (rng.random((simulations, n_max)) < shape.b_failure_rate))
    boundary = shape.threshold if shape.test == "superiority" else -shape.threshold
    values = _null_draws(d, method, rng, (simulations, n_max)) + boundary + effect
    adjusted = np.ones((2, simulations))
    decided = np.zeros(simulations, dtype=bool)
    for look, n in enumerate(design.looks):
        in_look = used.copy()
        in_look[:, n:] = False
        both = _claim_and_mirror(values, in_look, shape.test, shape.threshold, method)
        for side, p in enumerate(both):
            adjusted[side] = np.where(decided, adjusted[side], np.minimum(adjusted[side], p / design.weights[look]))
        level = design.level(look, shape.corrected_alpha)
        decided |= (both[0] <= level) | (both[1] <= level)
    return adjusted[0], adjusted[1]


def holm_rejections(p_values: np.ndarray, alpha: float) -> np.ndarray:
    """Holm's step-down per row of p_values (experiments x family members), vectorized: the rows'
    rejections, as bnclaims.stats.holm (statsmodels) gives them for one row."""
    m = p_values.shape[1]
    order = np.argsort(p_values, axis=1, kind="stable")
    ordered = np.take_along_axis(p_values, order, axis=1)
    passes = np.cumprod(ordered <= alpha / (m - np.arange(m)), axis=1).astype(bool)
    rejected = np.zeros_like(passes)
    np.put_along_axis(rejected, order, passes, axis=1)
    return rejected


def write_shapes(ledger: dict) -> dict:
    return {"version": SHAPES_VERSION, "profile": ledger["settings"].get("profile"),
            "dataset": ledger["settings"].get("dataset"), "environment": ledger.get("environment", {}),
            "shapes": [asdict(shape) for shape in shapes_from_ledger(ledger)]}


def read_shapes(document: dict) -> list[Shape]:
    if document.get("version") != SHAPES_VERSION:
        raise ValueError(f"not a shapes file of version {SHAPES_VERSION}")
    return [Shape(**{**entry, "differences": tuple(entry["differences"])}) for entry in document["shapes"]]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bnclaims.calibration", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    shapes = commands.add_parser("shapes", help="write the shapes of a ledger's empirical paired checks (JSON)")
    shapes.add_argument("ledger")
    rates = commands.add_parser("fpr", help="simulate each check's false-positive rates from a shapes file")
    rates.add_argument("shapes")
    rates.add_argument("--method", choices=("sign", "t"), default=None, help="the test to simulate (default: each "
                                                                             "check's own)")
    rates.add_argument("--looks", type=int, nargs="+", default=[7, 14, 21], help="the design's seed counts")
    rates.add_argument("--simulations", type=int, default=20_000)
    options = parser.parse_args(argv)
    try:
        with open(options.ledger if options.command == "shapes" else options.shapes, encoding="utf-8") as stream:
            document = json.load(stream)
        if options.command == "shapes":
            json.dump(write_shapes(document), sys.stdout, indent=1)
            print()
            return 0
        found = read_shapes(document)
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"calibration: cannot read {getattr(options, 'ledger', None) or options.shapes}: {error}", file=sys.stderr)
        return 2
    design = SequentialDesign(tuple(options.looks), tuple(1 / len(options.looks) for _ in options.looks))
    print(f"{'check':<34} {'test':<5} {'alpha':>7} {'false supported':>16} {'false refuted':>14}")
    for shape in found:
        if shape.about == "value" and len(shape.differences) < 2:
            continue
        r = null_rates(shape, design, method=options.method, simulations=options.simulations)
        ratio = lambda rate: f"{rate:.4f} ({rate / r.alpha:.2f}x)" if math.isfinite(rate) else "-"
        print(f"{r.check_id:<34} {r.method:<5} {r.alpha:>7.4g} {ratio(r.false_supported):>16} "
              f"{ratio(r.false_refuted):>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
