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

Tuned twins (bnclaims.tuning) add a question of their own: whether choosing each arm's learning rate
biases the comparison. `selection_outcomes` simulates a twin on its ledger shapes (each arm's validation
curve over rates, the tested differences) with the rates chosen on fresh tuning seeds, as the suite does,
or on the test seeds themselves, and counts false verdicts at the claim's boundary.

    python -m bnclaims.calibration shapes reports/claims.json > tests/data/ledger_shapes.json
    python -m bnclaims.calibration fpr tests/data/ledger_shapes.json [--method t] [--simulations 20000]
    python -m bnclaims.calibration tuning-shapes reports/claims.json > tests/data/tuning_shapes.json
    python -m bnclaims.calibration selection tests/data/tuning_shapes.json
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import asdict, dataclass
from typing import Mapping

import numpy as np

from . import metrics, stats, tuning
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


# Selection bias, simulated -------------------------------------------------------------------------------
#
# Why the tuning seeds must not be the test seeds. A run's validation and test accuracies share the trained
# model's luck (one seed's model is better than another's at a given rate); choosing each arm's rate on the
# test seeds picks, among the rates near an arm's best, the one whose models were luckiest on those seeds,
# and the test accuracies then carry that luck: the arm with more rates to choose from gains the most.
# Fresh test seeds carry no such luck.
#
# What a twin's verdict is about: the arms at the rates the tuning chose. Which rate the tuning picks is
# itself a draw (three tuning seeds), and two equally good arms may get rates of slightly different worth;
# the verdict compares the configurations chosen, which the ledger names. So the simulation's null is
# conditional on the choice: at the chosen rates, the arms' true accuracies differ by exactly the claim's
# boundary. Under it, a selection that leaves the test seeds out keeps the test's level; one that reads
# the test seeds does not.

@dataclass(frozen=True)
class TuningShape:
    """What the simulation takes from a tuned twin's ledger record: each arm's mean validation accuracy
    per rate (its tuning seeds'), the tested per-seed differences (their spread, skew and ties), the
    split sizes, and the check's test."""

    check_id: str
    curves: Mapping[str, Mapping[float, float]]      # arm -> rate -> mean validation accuracy
    differences: tuple[float, ...]
    validation_size: int
    test_size: int
    test: str
    threshold: float
    method: str
    alpha: float
    failed_pairs: int = 0      # seeds on which an arm did not train (its accuracy counted at chance)


SELECTIONS = ("nested", "test_seeds_validation", "test_seeds_test")


def selection_outcomes(shape: TuningShape, *, selection: str, test_seeds: int, simulations: int,
                       seed: int = 0) -> dict[str, float]:
    """The share of simulated sessions whose claim test (a false 'supported') or mirror test rejects when,
    at the rates chosen, the arms' true accuracies differ by exactly the claim's boundary (the threshold,
    or minus a non-inferiority margin). Each run's validation and test accuracies are its rate's mean
    (the ledger's curve), plus the model's luck shared by both splits (resampled from the ledger's
    differences, centred, per arm divided by sqrt 2), plus each split's binomial sampling noise.
    selection: "nested" chooses each arm's rate on tuning.TUNING_SEEDS fresh seeds (bnclaims.tuning's
    design); "test_seeds_validation" on the test seeds' own validation accuracies; "test_seeds_test" on
    the test seeds' test accuracies (the selection that reuses the most)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    rng = np.random.default_rng([seed, *map(ord, shape.check_id)])
    boundary = -shape.threshold if shape.test == "non_inferiority" else shape.threshold
    luck = (np.asarray(shape.differences) - np.mean(shape.differences)) / np.sqrt(2.0)

    def draw(mean: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(validation, test) accuracies of `size` runs at a rate whose mean accuracy is `mean`."""
        model = rng.choice(luck, size) if luck.size else np.zeros(size)
        level = min(max(mean, 0.0), 1.0)
        val = mean + model + rng.normal(0, np.sqrt(level * (1 - level) / shape.validation_size), size)
        test = mean + model + rng.normal(0, np.sqrt(level * (1 - level) / shape.test_size), size)
        return val, test

    def test_errors(curve: Mapping[float, float]) -> np.ndarray:
        """The test seeds' accuracies at the arm's chosen rate, minus that rate's true mean."""
        if selection == "nested":
            # A rate the ledger did not measure scores as a diverged run does (0): the grid stops there.
            validation_at = lambda rates: {rate: draw(curve[rate], tuning.TUNING_SEEDS)[0] if rate in curve
                                           else np.zeros(tuning.TUNING_SEEDS) for rate in rates}
            chosen = tuning.choose_rate("arm", validation_at, tuning.tuning_seeds(), start=tuple(curve)).chosen
            return draw(curve[chosen], test_seeds)[1] - curve[chosen]
        runs = {rate: draw(mean, test_seeds) for rate, mean in curve.items()}
        reading = 0 if selection == "test_seeds_validation" else 1
        chosen = metrics.best_mean_rate({rate: values[reading] for rate, values in runs.items()})
        return runs[chosen][1] - curve[chosen]

    first, second = shape.curves.values()
    counts = {"supported": 0, "refuted": 0}
    for _ in range(simulations):
        d = boundary + test_errors(first) - test_errors(second)
        outcome = stats.decide(d, hypothesis=shape.test, threshold=shape.threshold, alpha=shape.alpha,
                               method=shape.method).outcome
        if outcome in counts:
            counts[outcome] += 1
    return {outcome: count / simulations for outcome, count in counts.items()}


def tuning_shapes_from_ledger(ledger: Mapping) -> list[dict]:
    """One TuningShape (as a dict) per tuned twin of two arms' test accuracies in a ledger: its arms' mean
    validation curves from the tuning seeds (arm A's first), its tested differences, the dataset's split
    sizes, and its test. Twins of four models (differences of differences) or of another metric (A2's
    passes) are left out: the simulation draws two arms' accuracies."""
    from .data import load_dataset

    dataset = load_dataset(ledger["settings"]["dataset"])
    shapes = []
    for record in ledger["records"]:
        tuned = record.get("tuning") or {}
        if len(tuned) != 2 or record.get("kind") != "paired" or record.get("metric") != tuning.TUNED_ACCURACY:
            continue
        a, b = record["arm_a"]["values"], record["arm_b"]["values"]
        differences = [x - y for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
        # A twin counts a run that did not train at chance exactly; a trained run scores at least twice that.
        failed_pairs = sum(min(x, y) <= 1.0 / dataset.num_classes for x, y in zip(a, b))
        # Arm A's name starts with its tuning's arm name ("BN (lr 3)").
        arms = sorted(tuned, key=lambda arm: not record["arm_a"]["name"].startswith(arm))
        curves = {arm: {rate: float(np.mean(values)) for rate, values in tuned[arm]["validation"].items()}
                  for arm in arms}
        shapes.append({"check_id": record["check_id"], "curves": curves, "differences": differences,
                       "validation_size": len(dataset.y_val), "test_size": len(dataset.y_test),
                       "test": record["test"], "threshold": record["threshold"], "method": record["method"],
                       "alpha": record["corrected_alpha"], "failed_pairs": failed_pairs})
    return shapes


def read_tuning_shape(data: Mapping) -> TuningShape:
    return TuningShape(data["check_id"], {arm: {float(rate): value for rate, value in curve.items()}
                                          for arm, curve in data["curves"].items()},
                       tuple(data["differences"]), int(data["validation_size"]), int(data["test_size"]),
                       data["test"], float(data["threshold"]), data["method"], float(data["alpha"]),
                       int(data.get("failed_pairs", 0)))


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
    twins = commands.add_parser("tuning-shapes", help="write the shapes of a ledger's tuned twins (JSON)")
    twins.add_argument("ledger")
    selection = commands.add_parser("selection", help="simulate each tuned twin's false-positive rates under each "
                                                      "way of choosing the rates, from a tuning-shapes file")
    selection.add_argument("shapes")
    selection.add_argument("--seeds", type=int, default=7, help="test seeds per simulated session")
    selection.add_argument("--simulations", type=int, default=5_000)
    options = parser.parse_args(argv)
    if options.command in ("tuning-shapes", "selection"):
        return _tuning_command(options)
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


def _tuning_command(options) -> int:
    source = options.ledger if options.command == "tuning-shapes" else options.shapes
    try:
        with open(source, encoding="utf-8") as stream:
            document = json.load(stream)
        if options.command == "tuning-shapes":
            json.dump({"version": SHAPES_VERSION, "profile": document["settings"].get("profile"),
                       "dataset": document["settings"].get("dataset"),
                       "shapes": tuning_shapes_from_ledger(document)}, sys.stdout, indent=1, sort_keys=True)
            print()
            return 0
        found = [read_tuning_shape(entry) for entry in document["shapes"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        print(f"calibration: cannot read {source}: {error}", file=sys.stderr)
        return 2
    print(f"{'tuned twin':<32} {'selection':<22} {'alpha':>7} {'false supported':>16} {'false refuted':>14}")
    for shape in found:
        for selection in SELECTIONS:
            rates = selection_outcomes(shape, selection=selection, test_seeds=options.seeds,
                                       simulations=options.simulations)
            print(f"{shape.check_id:<32} {selection:<22} {shape.alpha:>7.4g} {rates['supported']:>16.4f} "
                  f"{rates['refuted']:>14.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
