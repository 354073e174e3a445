"""Tuned twins: each arm of a comparison at its own best learning rate, chosen on seeds it is not tested on.

A comparison that holds both arms at one learning rate measures step size as much as the arms' difference
(Bjorck et al. 2018: at one small rate BN's advantage largely disappears once the plain model gets its own
rate). A tuned twin repeats the comparison with each arm at the rate that is best *for that arm*:

1. **Tuning.** The arm trains on TUNING_SEEDS, seeds TUNING_SEED_BASE and up, which no session tests on
   (test seeds are below TUNING_SEED_BASE; `disjoint` asserts it). Its rate is the grid rate with the best
   mean final validation accuracy (inference mode) over those seeds; a diverged run scores 0; ties go to
   the smaller rate (bnclaims.metrics.best_mean_rate).
2. **The grid grows until the choice is interior.** It starts at START_GRID, half-decade steps around the
   talk's 0.01 and up to where BN's usable rates end; while the best rate sits at an end of the grid, the
   grid gets the next half-decade rate beyond it, up to the limits of RATE_LADDER. A choice still at an end
   of the ladder is *censored*: the record says so (its best rate may lie beyond).
3. **Testing.** The session's test seeds train each arm at its chosen rate, and the check compares them
   as the talk-rate check does. The test seeds took no part in the choice, so the comparison carries no
   selection bias (tests/test_tuning.py simulates both: nested selection keeps the false-positive rate at
   its level; choosing on the test seeds does not).

Tuning runs are ordinary cached runs keyed by their spec, so every check whose arm and condition are the
same (TABLE-1, A1-tuned and A2 all tune the base BN and plain models) shares them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from . import metrics, stats
from .results import RunResult
from .spec import RunSpec

# Seeds the rates are chosen on. Test seeds live below TUNING_SEED_BASE (the settings' seeds are small
# integers and the sequential design's later looks add blocks of 7), so the two sets never meet.
TUNING_SEED_BASE = 1000
# Three seeds: the mean of three validation accuracies has a standard error of about 0.45 points on mnist5k's
# 800 validation images (0.77 points per seed at 95% accuracy), below the gap between neighbouring half-decade
# rates away from the best; near the best, where neighbours differ by less, either choice costs little.
TUNING_SEEDS = 3
# Half-decade rates, the grid's steps (the talk's own sweep is 0.01, 0.1, 1 with BN's usable rates to 1).
RATE_LADDER = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
# Where every tuning starts: the talk's rate and the three half-decades above it, where both of the
# talk's models train; the grid grows from there.
START_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


def tuning_seeds(count: int = TUNING_SEEDS) -> tuple[int, ...]:
    return tuple(range(TUNING_SEED_BASE, TUNING_SEED_BASE + count))


def disjoint(tuning: Sequence[int], test: Sequence[int]) -> None:
    """Raises ValueError when a seed both chose a rate and tests it: the selection would not be nested."""
    shared = sorted(set(tuning) & set(test))
    if shared:
        raise ValueError(f"seeds {shared} are both tuning and test seeds: choose test seeds below "
                         f"{TUNING_SEED_BASE}")


def next_rate(grid: Sequence[float], best: float) -> float | None:
    """The ladder's next rate beyond the grid's end where the best rate sits; None when the best is
    interior or the ladder ends there (censored)."""
    ladder = list(RATE_LADDER)
    if best == max(grid) and ladder.index(best) + 1 < len(ladder):
        return ladder[ladder.index(best) + 1]
    if best == min(grid) and ladder.index(best) > 0:
        return ladder[ladder.index(best) - 1]
    return None


def is_interior(grid: Sequence[float], best: float) -> bool:
    return min(grid) < best < max(grid)


@dataclass(frozen=True)
class Tuning:
    """How one arm's rate was chosen: the grid it grew to, the tuning seeds' validation accuracies per
    rate, the chosen rate, and whether the choice is interior (not at an end of the grid)."""

    arm: str
    grid: tuple[float, ...]
    validation: Mapping[float, tuple[float, ...]]   # rate -> final validation accuracy per tuning seed
    chosen: float
    interior: bool
    tuning_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...] = field(default=())

    def to_dict(self) -> dict:
        return {"arm": self.arm, "grid": list(self.grid), "chosen_rate": self.chosen, "interior": self.interior,
                "censored": not self.interior, "tuning_seeds": list(self.tuning_seeds),
                "test_seeds": list(self.test_seeds),
                "validation": {f"{rate:g}": list(values) for rate, values in sorted(self.validation.items())}}

    def mean_validation(self) -> dict[float, float]:
        return {rate: sum(values) / len(values) for rate, values in sorted(self.validation.items())}


def choose_rate(arm: str, validation_at: Callable[[Sequence[float]], Mapping[float, Sequence[float]]],
                seeds: Sequence[int], start: Sequence[float] = START_GRID) -> Tuning:
    """Tune one arm: `validation_at(rates)` gives {rate: validation accuracy per tuning seed}; the grid
    grows from `start` by one ladder rate at a time while the best rate sits at an end."""
    validation = {rate: tuple(values) for rate, values in validation_at(list(start)).items()}
    while True:
        best = metrics.best_mean_rate(validation)
        beyond = next_rate(list(validation), best)
        if beyond is None:
            break
        validation.update({rate: tuple(values) for rate, values in validation_at([beyond]).items()})
    grid = tuple(sorted(validation))
    return Tuning(arm, grid, dict(sorted(validation.items())), best, is_interior(grid, best), tuple(seeds))


def tune_spec(lab, arm: str, spec: RunSpec, *, context: str = "", start: Sequence[float] = START_GRID) -> Tuning:
    """Tune `spec`'s learning rate on the tuning seeds, through the Lab (cached runs)."""
    seeds = tuning_seeds()
    disjoint(seeds, lab.seeds)

    def validation_at(rates):
        specs = [spec.replace(learning_rate=rate, seed=seed) for rate in rates for seed in seeds]
        runs = lab.runs(specs, contexts=[f"{context} tuning {arm}[lr {rate:g}]" for rate in rates for _ in seeds])
        return {rate: [metrics.final_val_accuracy(run) for run in runs[i * len(seeds):(i + 1) * len(seeds)]]
                for i, rate in enumerate(rates)}

    return choose_rate(arm, validation_at, seeds, start)


def tuned_twin(lab, arms: Mapping[str, RunSpec], *, context: str = "") -> tuple[dict[str, Tuning], dict[str, list[RunResult]]]:
    """Each arm tuned on the tuning seeds, then trained at its chosen rate on the session's test seeds:
    ({arm: Tuning}, {arm: runs across the test seeds})."""
    tunings, runs = {}, {}
    for arm, spec in arms.items():
        tuning = tune_spec(lab, arm, spec, context=context)
        tunings[arm] = Tuning(tuning.arm, tuning.grid, tuning.validation, tuning.chosen, tuning.interior,
                              tuning.tuning_seeds, tuple(lab.seeds))
        runs[arm] = lab.across_seeds(spec.replace(learning_rate=tuning.chosen), context=f"{context} tuned {arm}")
    return tunings, runs


def tuning_notes(tunings: Mapping[str, Tuning]) -> list[str]:
    """Evidence notes: each arm's chosen rate, the grid, and whether the choice is interior."""
    return [f"{arm}: rate {tuning.chosen:g} chosen on tuning seeds {list(tuning.tuning_seeds)} from grid "
            f"{[float(f'{rate:g}') for rate in tuning.grid]} "
            f"({'interior' if tuning.interior else 'censored: at the end of the rate ladder'}); mean validation "
            f"accuracy per rate {({f'{rate:g}': round(mean, 4) for rate, mean in tuning.mean_validation().items()})}"
            for arm, tuning in tunings.items()]


# Selection bias, simulated -------------------------------------------------------------------------------
#
# Why the tuning seeds must not be the test seeds. A run's validation and test accuracies share the trained
# model's luck (one seed's model is better than another's at a given rate); choosing each arm's rate on the
# test seeds' validation accuracies picks, among the rates near an arm's best, the one whose models were
# luckiest on those seeds, and the test accuracies then carry that luck. An arm with several rates near its
# best (BN's flat top) gains more of it than an arm with one sharp peak (the plain model), so the comparison
# leans towards the flatter arm even when both arms' best rates are equally good. Fresh test seeds carry
# no such luck. tests/test_tuning.py runs both procedures on the shapes of a real ledger.

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


SELECTIONS = ("nested", "test_seeds_validation", "test_seeds_test")


def simulated_outcomes(shape: TuningShape, *, selection: str, test_seeds: int, simulations: int,
                       seed: int = 0) -> dict[str, float]:
    """The share of simulated sessions whose claim test (a false 'supported') or mirror test rejects, with
    both arms' best rates exactly at the claim's boundary (the first arm's curve moved so that its best
    mean is the second's plus the threshold). Each run's validation and test accuracies are its rate's
    mean, plus the model's luck shared by both splits (resampled from the ledger's differences, centred,
    per arm: divided by sqrt 2), plus each split's binomial sampling noise. selection: "nested" chooses
    each arm's rate on TUNING_SEEDS fresh seeds (this module's design); "test_seeds_validation" on the
    test seeds' own validation accuracies; "test_seeds_test" on the test seeds' test accuracies (the
    selection that reuses the most)."""
    if selection not in SELECTIONS:
        raise ValueError(f"selection must be one of {SELECTIONS}, got {selection!r}")
    rng = np.random.default_rng(seed)
    first, second = list(shape.curves)
    best_second = max(shape.curves[second].values())
    shift = best_second + shape.threshold - max(shape.curves[first].values())
    curves = {first: {rate: value + shift for rate, value in shape.curves[first].items()},
              second: dict(shape.curves[second])}
    luck = (np.asarray(shape.differences) - np.mean(shape.differences)) / np.sqrt(2.0)

    def draw(mean: float, size: int) -> tuple[np.ndarray, np.ndarray]:
        """(validation, test) accuracies of `size` runs at a rate whose mean accuracy is `mean`."""
        model = rng.choice(luck, size) if luck.size else np.zeros(size)
        level = min(max(mean, 0.0), 1.0)
        val = mean + model + rng.normal(0, np.sqrt(level * (1 - level) / shape.validation_size), size)
        test = mean + model + rng.normal(0, np.sqrt(level * (1 - level) / shape.test_size), size)
        return val, test

    def tuned_values(arm: str) -> np.ndarray:
        curve = curves[arm]
        if selection == "nested":
            # A rate the ledger did not measure scores as a diverged run does (0): the grid stops there.
            validation_at = lambda rates: {rate: draw(curve[rate], TUNING_SEEDS)[0] if rate in curve
                                           else np.zeros(TUNING_SEEDS) for rate in rates}
            chosen = choose_rate(arm, validation_at, tuning_seeds(), start=tuple(curve)).chosen
            return draw(curve[chosen], test_seeds)[1]
        runs = {rate: draw(mean, test_seeds) for rate, mean in curve.items()}
        reading = 0 if selection == "test_seeds_validation" else 1
        chosen = metrics.best_mean_rate({rate: values[reading] for rate, values in runs.items()})
        return runs[chosen][1]

    counts = {"supported": 0, "refuted": 0}
    for _ in range(simulations):
        d = tuned_values(first) - tuned_values(second)
        outcome = stats.decide(d, hypothesis=shape.test, threshold=shape.threshold, alpha=shape.alpha,
                         method=shape.method).outcome
        if outcome in counts:
            counts[outcome] += 1
    return {outcome: count / simulations for outcome, count in counts.items()}


def tuning_shapes(ledger: Mapping) -> list[dict]:
    """One TuningShape (as a dict) per tuned twin in a ledger: its arms' mean validation curves from the
    tuning seeds, its tested differences, the dataset's split sizes, and its test."""
    from .data import load_dataset

    dataset = load_dataset(ledger["settings"]["dataset"])
    shapes = []
    for record in ledger["records"]:
        if not record.get("tuning") or record.get("kind") != "paired":
            continue
        a, b = record["arm_a"]["values"], record["arm_b"]["values"]
        differences = [x - y for x, y in zip(a, b) if math.isfinite(x) and math.isfinite(y)]
        curves = {arm: {rate: float(np.mean(values)) for rate, values in entry["validation"].items()}
                  for arm, entry in record["tuning"].items()}
        shapes.append({"check_id": record["check_id"], "curves": curves, "differences": differences,
                       "validation_size": len(dataset.y_val), "test_size": len(dataset.y_test),
                       "test": record["test"], "threshold": record["threshold"], "method": record["method"],
                       "alpha": record["corrected_alpha"]})
    return shapes


def shape_from_dict(data: Mapping) -> TuningShape:
    return TuningShape(data["check_id"], {arm: {float(rate): value for rate, value in curve.items()}
                                          for arm, curve in data["curves"].items()},
                       tuple(data["differences"]), int(data["validation_size"]), int(data["test_size"]),
                       data["test"], float(data["threshold"]), data["method"], float(data["alpha"]))


def main(argv=None) -> int:
    import argparse
    import json
    import sys

    parser = argparse.ArgumentParser(prog="python -m bnclaims.tuning", description=(
        "The tuned twins' shapes from a ledger, for the selection-bias simulation (tests/test_tuning.py)."))
    parser.add_argument("command", choices=["shapes"])
    parser.add_argument("ledger", help="a claims ledger (reports/claims.json)")
    arguments = parser.parse_args(argv)
    with open(arguments.ledger, encoding="utf-8") as handle:
        ledger = json.load(handle)
    json.dump({"profile": ledger["settings"].get("profile"), "dataset": ledger["settings"].get("dataset"),
               "shapes": tuning_shapes(ledger)}, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
