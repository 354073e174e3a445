"""Design rules that claim modules apply and that tests check on their own, on hand-made runs and fake Labs.

What belongs here: how a check gets its numbers, once the runs are trained or asked for. A rule that
chooses a setting on validation data (a regularizer's dose, a learning rate) or grows a sweep until its
answer is not censored, asking a Lab (``lab.base_spec``, ``lab.sweep``, ``lab.across_seeds``) for the
runs; and a reduction of runs to the per-seed values a check compares (steps to a target, a probe's
log noise, a drift, a gradient's change). Each is a function of runs, or of a Lab and the runs it
returns, with its parameters as constants beside it.

What does not: check ids, thresholds and their reasons, and the criterion that turns values into an
outcome (a claim module's catalogue and test); figures and notes (the claim module); the numbers read
off one run (bnclaims.metrics); the statistics (bnclaims.stats, bnclaims.evidence).

Each section names the claim whose module describes the design in its docstring.
"""

from __future__ import annotations

import math

import numpy as np

from . import metrics
from .evidence import arm_from_runs

# ----------------------------------------------------------------------------------------------------
# A1 (claims/test_larger_learning_rates.py): the largest usable learning rate, on a grid that grows

LEARNING_RATES = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0)
# Rates an arm's grid grows by, in order, while its largest usable rate sits at the top on some seed.
EXTENSION_RATES = (10.0, 30.0, 100.0)
USABLE_FRACTION = 0.9


def per_seed_largest_rates(runs_by_rate: dict[float, list]) -> dict[int, float]:
    """{seed: largest usable rate} from {rate: runs across seeds}."""
    rates = {}
    for runs in zip(*runs_by_rate.values()):
        by_rate = dict(zip(runs_by_rate, runs))
        rates[runs[0].spec.seed] = metrics.largest_usable_rate(
            {lr: metrics.final_val_accuracy(r) for lr, r in by_rate.items()},
            {lr: r.outcome == "trained" for lr, r in by_rate.items()}, USABLE_FRACTION)
    return rates


def censored_seeds(largest: dict[int, float], grid) -> list[int]:
    """Seeds whose largest usable rate is the top of the grid: the true one may be higher."""
    return [seed for seed, rate in largest.items() if rate == max(grid)]


def learning_rate_sweep(lab, *, context: str) -> tuple[dict, dict]:
    """({arm: {rate: runs across seeds}}, {arm: censored seeds on the base grid}), each arm's grid
    extended by EXTENSION_RATES while a seed's largest usable rate sits at its top. The Lab keeps the
    runs, so a second call (the next check) trains nothing. The runs' context is f"{context} {arm} lr"."""
    arms, censored_on_base = {}, {}
    for arm, batch_norm in (("BN", "before"), ("plain", "none")):
        spec = lambda lr: lab.base_spec(batch_norm=batch_norm, learning_rate=lr)
        by_rate = lab.sweep({lr: spec(lr) for lr in LEARNING_RATES}, context=f"{context} {arm} lr")
        censored_on_base[arm] = censored_seeds(per_seed_largest_rates(by_rate), by_rate)
        for lr in EXTENSION_RATES:
            if not censored_seeds(per_seed_largest_rates(by_rate), by_rate):
                break
            by_rate.update(lab.sweep({lr: spec(lr)}, context=f"{context} {arm} lr"))
        arms[arm] = by_rate
    return arms, censored_on_base


# ----------------------------------------------------------------------------------------------------
# A2 (claims/test_fewer_epochs.py): steps to a target set by the plain model

TARGET_FRACTION = 0.9


def steps_to_target(with_bn, plain, key: str, total_steps: list[int]) -> tuple[list[float], list[float]]:
    """Per seed: the steps BN and plain take to reach TARGET_FRACTION of plain's last value of `key`."""
    bn_steps, plain_steps = [], []
    for bn_run, plain_run, total in zip(with_bn, plain, total_steps):
        target = TARGET_FRACTION * metrics.last_finite(plain_run.steps[key])
        bn_steps.append(metrics.steps_to_reach(bn_run.steps, key, target, total))
        plain_steps.append(metrics.steps_to_reach(plain_run.steps, key, target, total))
    return bn_steps, plain_steps


# ----------------------------------------------------------------------------------------------------
# R1 (claims/test_batch_statistics_noise.py): a fixed example's noise across mini-batches

NOISE_FLOOR = 1e-7   # below float32 resolution of unit-scale activations: noise that cannot be told from zero


def log2_noise(run, size: int) -> float:
    """log2 of the run's fixed-example noise at a batch size (mean over BN layers); NaN where the probe
    is not finite (a diverged run); noise under NOISE_FLOOR counts as the floor."""
    record = run.extras["fixed_example_noise"]
    value = record["mean"][record["batch_sizes"].index(size)]
    return math.nan if value is None else math.log2(max(value, NOISE_FLOOR))


def noise_arms(runs, small: int, large: int) -> tuple:
    """(batch `small` arm, batch `large` arm, note): log2 noise per seed, paired by seed, over the runs whose
    probe is finite; the note names the runs left out."""
    kept = [run for run in runs if all(math.isfinite(log2_noise(run, s)) for s in (small, large))]
    left_out = sorted({run.spec.seed for run in runs} - {run.spec.seed for run in kept})
    note = f"seeds {left_out} left out: their fixed-example noise is not finite (diverged)" if left_out else ""
    return (arm_from_runs(f"batch {small}", kept, lambda run: log2_noise(run, small)),
            arm_from_runs(f"batch {large}", kept, lambda run: log2_noise(run, large)), note)


# ----------------------------------------------------------------------------------------------------
# R2 (claims/test_bn_with_l2_or_dropout.py): a regularizer's dose, chosen on the plain model's validation


# Check id -> (arm label, RunSpec field, the doses swept on the plain model's validation accuracy); R2's
# tuned twins (claims/test_tuned_twins.py) add the same doses.
REGULARIZERS = {
    "R2.l2": ("BN + L2", "l2", (1e-4, 1e-3, 1e-2)),
    "R2.dropout": ("BN + Dropout", "dropout", (0.1, 0.3, 0.5)),
}


def chosen_dose(lab, field: str, doses, *, context: str) -> tuple[float, dict, float]:
    """(the dose that helps the plain model most on validation, {dose: per-seed validation accuracies},
    the plain model's per-seed validation accuracies without the regularizer). The dose is the strongest
    within one standard error of the best (bnclaims.metrics.one_standard_error_dose); only the plain
    model's validation accuracy is read, never a BN run or test data."""
    by_dose = lab.sweep({dose: lab.base_spec(batch_norm="none", **{field: dose}) for dose in doses}, context=context)
    validation = {dose: [metrics.final_val_accuracy(run) for run in runs] for dose, runs in by_dose.items()}
    without = lab.across_seeds(lab.base_spec(batch_norm="none"), context=context)
    return metrics.one_standard_error_dose(validation), validation, [metrics.final_val_accuracy(run) for run in without]


# ----------------------------------------------------------------------------------------------------
# P3 (claims/test_internal_covariate_shift.py): the drift of a layer's inputs and the change of its gradient

# Santurkar et al.'s noisy BN: after BN, i.i.d. noise per activation and example, of strength 1, its
# distribution redrawn every step (RunSpec changes; P3-noisy and its tuned twins).
NOISY_BN = {"bn_noise": 1.0, "bn_noise_mode": "per_example"}


def relative_drift(run) -> float:
    """Median over units of mean |end - start| of the three percentiles / mean 15-85 width."""
    snapshots = np.array(run.extras["preactivation_percentiles"]["snapshots"])   # time x 3 x units
    change = np.abs(snapshots[-1] - snapshots[0]).mean(axis=0)
    width = (snapshots[:, -1, :] - snapshots[:, 0, :]).mean(axis=0)
    return float(np.median(change / np.maximum(width, 1e-12)))


def ics(run, when: str, measure: str = "relative") -> float:
    """Santurkar et al.'s ICS of a run at its start ("initial") or end ("trained"): the mean over layers
    of a measure (relative, l2 or cosine); NaN where a layer's value is not finite (a diverged run)."""
    values = [layer[measure] for layer in run.extras["gradient_ics"][when]["layers"].values()]
    return math.nan if None in values else float(np.mean(values))


def log2_ics(run, when: str) -> float:
    value = ics(run, when)
    return math.log2(value) if value > 0 else math.nan   # NaN > 0 is False: NaN stays NaN


def finite_pairs(arms: dict, metric) -> tuple[dict, list[int]]:
    """The arms' runs at the seeds where every arm's metric is finite, and the seeds left out."""
    seeds = [run.spec.seed for run in next(iter(arms.values()))]
    kept = [seed for seed in seeds
            if all(math.isfinite(metric(run)) for runs in arms.values() for run in runs if run.spec.seed == seed)]
    return ({name: [run for run in runs if run.spec.seed in kept] for name, runs in arms.items()},
            [seed for seed in seeds if seed not in kept])
