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
   grid gets the next half-decade rate beyond it, up to the limits of RATE_LADDER. While no rate of the
   grid trains the arm at all (its best mean validation accuracy below twice chance, the talk's "did not
   train": bnclaims.metrics.failed), the grid grows downwards, since a model that diverges at every rate
   is cured, if at all, by a smaller one (raw 0..255 inputs, RandomUniform(-5, 5) weights without BN).
   A choice still at an end of the ladder, or one at which the arm does not train, is *censored*: the
   record says so (its best rate may lie beyond the ladder).
3. **Testing.** The session's test seeds train each arm at its chosen rate, and the check compares them
   as the talk-rate check does. The test seeds took no part in the choice, so the comparison carries no
   selection bias (tests/test_tuning.py simulates both: nested selection keeps the false-positive rate at
   its level; choosing on the test seeds does not).

Tuning runs are ordinary cached runs keyed by their spec, so every check whose arm and condition are the
same (TABLE-1, A1-tuned and A2 all tune the base BN and plain models) shares them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

from . import metrics
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
# Its small end is for arms that diverge at every rate of the start grid: inputs 255 times larger make the
# first layer's gradients about 255^2 times larger, which a rate of about 0.01 / 255^2 ~ 1.5e-7 would undo.
RATE_LADDER = (1e-7, 3e-7, 1e-6, 3e-6, 1e-5, 3e-5, 1e-4, 3e-4, 0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0,
               10.0, 30.0, 100.0)
# A rate trains an arm when its mean validation accuracy is at least twice chance (bnclaims.metrics.failed).
CHANCE_MULTIPLE = 2.0
# Where every tuning starts: the talk's rate and the three half-decades above it, where both of the
# talk's models train; the grid grows from there.
START_GRID = (0.01, 0.03, 0.1, 0.3, 1.0)


# The metric of a twin that compares the arms' test accuracies (the selection simulation models those).
TUNED_ACCURACY = "test accuracy at the arm's tuned learning rate"


def tuning_seeds(count: int = TUNING_SEEDS) -> tuple[int, ...]:
    return tuple(range(TUNING_SEED_BASE, TUNING_SEED_BASE + count))


def disjoint(tuning: Sequence[int], test: Sequence[int]) -> None:
    """Raises ValueError when a seed both chose a rate and tests it: the selection would not be nested."""
    shared = sorted(set(tuning) & set(test))
    if shared:
        raise ValueError(f"seeds {shared} are both tuning and test seeds: choose test seeds below "
                         f"{TUNING_SEED_BASE}")


def next_rate(grid: Sequence[float], best: float, trains: bool = True) -> float | None:
    """The ladder's next rate beyond the grid's end where the best rate sits, or below the grid while no
    rate trains the arm; None when the best is interior and trains, or the ladder ends there (censored)."""
    ladder = list(RATE_LADDER)
    if not trains:
        lowest = ladder.index(min(grid))
        return ladder[lowest - 1] if lowest > 0 else None
    if best == max(grid) and ladder.index(best) + 1 < len(ladder):
        return ladder[ladder.index(best) + 1]
    if best == min(grid) and ladder.index(best) > 0:
        return ladder[ladder.index(best) - 1]
    return None


@dataclass(frozen=True)
class Tuning:
    """How one arm's rate was chosen: the grid it grew to, the tuning seeds' validation accuracies per
    rate, the chosen rate, and whether the choice is interior (not at an end of the grid)."""

    arm: str
    validation: Mapping[float, tuple[float, ...]]   # rate -> final validation accuracy per tuning seed
    chosen: float
    tuning_seeds: tuple[int, ...]
    test_seeds: tuple[int, ...] = field(default=())
    trains: bool = True        # the chosen rate trains the arm (mean validation accuracy >= twice chance)

    @property
    def grid(self) -> tuple[float, ...]:
        """The rates the grid grew to."""
        return tuple(sorted(self.validation))

    @property
    def interior(self) -> bool:
        """The chosen rate is not at an end of the grid."""
        return min(self.grid) < self.chosen < max(self.grid)

    @property
    def censored(self) -> bool:
        return not (self.interior and self.trains)

    def to_dict(self) -> dict:
        return {"arm": self.arm, "grid": list(self.grid), "chosen_rate": self.chosen, "interior": self.interior,
                "trains": self.trains, "censored": self.censored, "tuning_seeds": list(self.tuning_seeds),
                "test_seeds": list(self.test_seeds),
                "validation": {f"{rate:g}": list(values) for rate, values in sorted(self.validation.items())}}

    def mean_validation(self) -> dict[float, float]:
        return {rate: sum(values) / len(values) for rate, values in sorted(self.validation.items())}


def choose_rate(arm: str, validation_at: Callable[[Sequence[float]], Mapping[float, Sequence[float]]],
                seeds: Sequence[int], start: Sequence[float] = START_GRID, *, chance: float = 0.1) -> Tuning:
    """Tune one arm: `validation_at(rates)` gives {rate: validation accuracy per tuning seed}; the grid
    grows from `start` by one ladder rate at a time while the best rate sits at an end, or downwards
    while no rate trains the arm (mean validation accuracy below CHANCE_MULTIPLE * chance)."""
    validation = {rate: tuple(values) for rate, values in validation_at(list(start)).items()}
    while True:
        best = metrics.best_mean_rate(validation)
        trains = sum(validation[best]) / len(validation[best]) >= CHANCE_MULTIPLE * chance
        beyond = next_rate(list(validation), best, trains)
        if beyond is None:
            break
        validation.update({rate: tuple(values) for rate, values in validation_at([beyond]).items()})
    return Tuning(arm, dict(sorted(validation.items())), best, tuple(seeds), trains=trains)


def tune_spec(lab, arm: str, spec: RunSpec, *, context: str = "", start: Sequence[float] = START_GRID) -> Tuning:
    """Tune `spec`'s learning rate on the tuning seeds, through the Lab (cached runs)."""
    seeds = tuning_seeds()
    disjoint(seeds, lab.seeds)

    def validation_at(rates):
        specs = [spec.replace(learning_rate=rate, seed=seed) for rate in rates for seed in seeds]
        runs = lab.runs(specs, contexts=[f"{context} tuning {arm}[lr {rate:g}]" for rate in rates for _ in seeds])
        return {rate: [metrics.final_val_accuracy(run) for run in runs[i * len(seeds):(i + 1) * len(seeds)]]
                for i, rate in enumerate(rates)}

    return choose_rate(arm, validation_at, seeds, start, chance=1.0 / lab.dataset.num_classes)


def tuned_twin(lab, arms: Mapping[str, RunSpec], *, context: str = "") -> tuple[dict[str, Tuning], dict[str, list[RunResult]]]:
    """Each arm tuned on the tuning seeds, then trained at its chosen rate on the session's test seeds:
    ({arm: Tuning}, {arm: runs across the test seeds})."""
    tunings, runs = {}, {}
    for arm, spec in arms.items():
        tuning = tune_spec(lab, arm, spec, context=context)
        tunings[arm] = dataclasses.replace(tuning, test_seeds=tuple(lab.seeds))
        runs[arm] = lab.across_seeds(spec.replace(learning_rate=tuning.chosen), context=f"{context} tuned {arm}")
    return tunings, runs


def choice_words(tuning: Tuning) -> str:
    if not tuning.censored:
        return "interior"
    return "censored: " + ("no rate of the ladder trains it" if not tuning.trains else "at the end of the rate ladder")


def tuning_notes(tunings: Mapping[str, Tuning]) -> list[str]:
    """Evidence notes: each arm's chosen rate, the grid, and whether the choice is interior."""
    return [f"{arm}: rate {tuning.chosen:g} chosen on tuning seeds {list(tuning.tuning_seeds)} from grid "
            f"{[float(f'{rate:g}') for rate in tuning.grid]} ({choice_words(tuning)}); mean validation accuracy "
            f"per rate {({f'{rate:g}': round(mean, 4) for rate, mean in tuning.mean_validation().items()})}"
            for arm, tuning in tunings.items()]
