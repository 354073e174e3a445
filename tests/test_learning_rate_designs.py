"""The designs of A1 (largest usable learning rate, its grid extended until interior), A1-tuned (each
arm at its best validation rate on tuning seeds, compared on test seeds: a tuned twin) and A2 (steps to target in training and inference
mode, final training loss): their metrics, and each design end to end on hand-made runs, which must not
be supported on a placebo (the arms equal) and must be supported on an injected effect. The designs come
from bnclaims.designs; the claim modules are loaded for their own declarations only (the checks'
claims, A2's step record per check), which decide the outcome on the placebo and the effect."""

from __future__ import annotations

import dataclasses
import math
from types import SimpleNamespace

import pytest

from bnclaims import designs, metrics
from bnclaims.evidence import Arm, arm_from_runs, evaluate
from bnclaims.results import log_steps
from bnclaims.spec import RunSpec
from conftest import load_claim_module, make_result

SEEDS = (0, 1, 2, 3, 4)


LEARNING_RATES = load_claim_module("test_larger_learning_rates", "designs_test_larger_learning_rates")
TUNED_TWINS = load_claim_module("test_tuned_twins", "designs_test_tuned_twins")
FEWER_EPOCHS = load_claim_module("test_fewer_epochs", "designs_test_fewer_epochs")


# ------------------------------------------------------------------------------------------- metrics


def test_steps_to_reach_reads_the_first_logged_step_and_censors_at_twice_the_budget():
    record = {"step": [1, 2, 4, 8], "acc": [0.1, 0.5, math.nan, 0.9]}
    assert metrics.steps_to_reach(record, "acc", 0.5, 8) == 2
    assert metrics.steps_to_reach(record, "acc", 0.9, 8) == 8
    assert metrics.steps_to_reach(record, "acc", 0.95, 8) == 16
    diverged = {"step": [1, 2], "acc": [0.1, math.nan]}
    assert metrics.steps_to_reach(diverged, "acc", 0.5, 8) == 16, "censored at the budget, not the last step logged"


def test_last_finite_and_final_train_loss_of_a_diverged_run():
    assert metrics.last_finite([0.1, 0.2, math.nan]) == 0.2
    assert math.isnan(metrics.last_finite([math.nan]))
    run = make_result(RunSpec(epochs=2))
    assert metrics.final_train_loss(run) == 0.5
    run.history["train_loss"][-1] = math.nan
    assert metrics.final_train_loss(run) == pytest.approx(math.log(10))
    assert metrics.final_train_loss(dataclasses.replace(run, diverged=True, history={
        **run.history, "train_loss": [0.5, 0.01]})) == pytest.approx(math.log(10)), "a diverged run did not converge"


def test_largest_usable_rate():
    accuracies = {0.1: 0.90, 1.0: 0.85, 3.0: 0.80, 10.0: math.nan}
    usable = {0.1: True, 1.0: True, 3.0: True, 10.0: False}
    assert metrics.largest_usable_rate(accuracies, usable) == 1.0        # 0.80 < 0.9 * 0.90
    assert metrics.largest_usable_rate(accuracies, {**usable, 1.0: False}) == 0.1
    assert metrics.largest_usable_rate({0.1: 0.1, 1.0: 0.1}, {0.1: False, 1.0: False}) == 0.1


def test_best_mean_rate_averages_over_seeds_and_breaks_ties_low():
    assert metrics.best_mean_rate({0.1: [0.9, 0.9], 1.0: [0.99, 0.7], 3.0: [math.nan, 0.95]}) == 0.1
    assert metrics.best_mean_rate({0.1: [0.9], 0.3: [0.9]}) == 0.1


# ------------------------------------------------------------------------------------- hand-made runs


def run(seed: int, *, batch_norm: str = "before", learning_rate: float = 0.01, val: float = 0.9,
        test: float | None = None, trained: bool = True, steps: dict | None = None, loss: float = 0.5):
    spec = RunSpec(epochs=2, seed=seed, batch_norm=batch_norm, learning_rate=learning_rate)
    result = make_result(spec, accuracy=val if test is None else test)
    history = {**result.history, "val_accuracy": [val / 2, val], "train_loss": [2 * loss, loss]}
    return dataclasses.replace(result, history=history, diverged=not trained, steps=steps or {})


class FakeLab:
    """base_spec, sweep, runs and across_seeds, as the Lab's, over runs that val(batch_norm, rate, seed)
    and test(batch_norm, rate, seed) describe."""

    def __init__(self, val, test=lambda batch_norm, lr, seed: 0.9):
        self.val, self.test, self.asked = val, test, []
        self.seeds = SEEDS
        self.dataset = SimpleNamespace(num_classes=10)

    def base_spec(self, **changes):
        return RunSpec(epochs=2, **changes)

    def runs(self, specs, *, context="", contexts=None):
        made = []
        for spec in specs:
            accuracy = self.val(spec.batch_norm, spec.learning_rate, spec.seed)
            made.append(run(spec.seed, batch_norm=spec.batch_norm, learning_rate=spec.learning_rate, val=accuracy,
                            test=self.test(spec.batch_norm, spec.learning_rate, spec.seed), trained=accuracy > 0.2))
        return made

    def across_seeds(self, spec, *, context=""):
        return self.runs([spec.replace(seed=seed) for seed in self.seeds])

    def sweep(self, specs: dict, *, context: str = ""):
        self.asked.extend((spec.batch_norm, lr) for lr, spec in specs.items())
        out = {}
        for lr, spec in specs.items():
            runs = []
            for seed in SEEDS:
                accuracy = self.val(spec.batch_norm, lr, seed)
                runs.append(run(seed, batch_norm=spec.batch_norm, learning_rate=lr, val=accuracy,
                                test=self.test(spec.batch_norm, lr, seed), trained=accuracy > 0.2))
            out[lr] = runs
        return out


def usable_up_to(top_bn: float, top_plain: float):
    """Both arms score 0.9 up to their top rate and fail (0.1) above it."""
    return lambda batch_norm, lr, seed: 0.9 if lr <= (top_plain if batch_norm == "none" else top_bn) else 0.1


def sweep_evidence(lab, check_id: str = "A1.lr_sweep"):
    arms, _ = designs.learning_rate_sweep(lab, context="A1")
    largest = {arm: designs.per_seed_largest_rates(by_rate) for arm, by_rate in arms.items()}
    log_arm = lambda name: Arm(name, tuple(math.log10(r) for r in largest[name].values()), tuple(largest[name]))
    return arms, evaluate(LEARNING_RATES.CHECKS[check_id], log_arm("BN"), log_arm("plain"))


def test_the_grid_grows_until_the_largest_usable_rate_is_interior():
    lab = FakeLab(usable_up_to(top_bn=10.0, top_plain=0.3))
    arms, evidence = sweep_evidence(lab)
    assert list(arms["BN"]) == [*designs.LEARNING_RATES, 10.0, 30.0]
    assert list(arms["plain"]) == list(designs.LEARNING_RATES), "an interior arm is not extended"
    assert evidence.effect == pytest.approx(math.log10(10.0 / 0.3))
    assert evidence.outcome == "supported"


def test_a_rate_usable_beyond_the_extension_stays_censored():
    lab = FakeLab(usable_up_to(top_bn=1e6, top_plain=0.3))
    arms, _ = sweep_evidence(lab)
    assert max(arms["BN"]) == designs.EXTENSION_RATES[-1]
    largest = designs.per_seed_largest_rates(arms["BN"])
    assert designs.censored_seeds(largest, arms["BN"]) == list(SEEDS)


def test_largest_rate_placebo_is_not_supported():
    _, evidence = sweep_evidence(FakeLab(usable_up_to(top_bn=1.0, top_plain=1.0)))
    assert evidence.effect == 0 and evidence.outcome == "refuted"


def tuned_evidence(lab):
    """A1-tuned as its twin runs it: each arm tuned on the tuning seeds, compared on the test seeds."""
    tunings, runs = TUNED_TWINS.tuned(lab, TUNED_TWINS.TWINS["A1-tuned.test_accuracy"].arms, "A1-tuned")
    best = {arm: choice.chosen for arm, choice in tunings.items()}
    evidence = evaluate(TUNED_TWINS.CHECKS["A1-tuned.test_accuracy"],
                        TUNED_TWINS.value_arm("BN", runs["BN"]), TUNED_TWINS.value_arm("plain", runs["plain"]),
                        tuning=TUNED_TWINS.tuning_record(tunings))
    return best, evidence


def peaked(at_bn: float, at_plain: float):
    """Validation accuracy peaks (0.95) at each arm's own rate, lower elsewhere."""
    return lambda batch_norm, lr, seed: 0.95 if lr == (at_plain if batch_norm == "none" else at_bn) else 0.85


def test_each_arm_is_compared_at_its_own_best_validation_rate():
    # At plain's best rate BN's test accuracy would be lower than plain's: only the arms' own rates count.
    test = lambda batch_norm, lr, seed: 0.96 + 0.001 * seed if (batch_norm, lr) == ("before", 1.0) else 0.93
    lab = FakeLab(peaked(1.0, 0.1), test)
    lab.seeds = tuple(range(7))     # the twin's family of four: the sign test needs 7 seeds at 0.05 / 4
    best, evidence = tuned_evidence(lab)
    assert best == {"BN": 1.0, "plain": 0.1}
    assert evidence.effect == pytest.approx(0.033) and evidence.outcome == "supported"   # 0.032 + 0.001 * mean seed
    assert evidence.tuning["BN"]["test_seeds"] == list(range(7)) and min(evidence.tuning["BN"]["tuning_seeds"]) >= 1000


def test_tuned_placebo_is_not_supported():
    noise = lambda batch_norm, lr, seed: 0.93 + 0.002 * ((seed * 7 + (batch_norm == "none")) % 3 - 1)
    lab = FakeLab(peaked(1.0, 0.1), noise)
    lab.seeds = tuple(range(7))
    _, evidence = tuned_evidence(lab)
    assert evidence.outcome != "supported"


# -------------------------------------------------------------------------------------------------- A2


def curve(reach_at: int, total: int, final: float = 0.9) -> list[float]:
    """An accuracy that rises linearly in log steps, crossing 0.9 * final at step reach_at."""
    grid = log_steps(total)
    return [min(final, 0.9 * final * math.log(s + 1) / math.log(reach_at + 1)) for s in grid]


def a2_runs(bn_reach: int, plain_reach: int, total: int = 250, bn_loss: float = 0.5, plain_loss: float = 0.5):
    grid = log_steps(total)
    make = lambda seed, reach, batch_norm, loss: run(seed, batch_norm=batch_norm, loss=loss, steps={
        "step": grid, "train_loss": [1.0] * len(grid), "val_accuracy": curve(reach, total),
        "val_accuracy_train_mode": curve(reach, total)})
    return ([make(seed, bn_reach, "before", bn_loss) for seed in SEEDS],
            [make(seed, plain_reach, "none", plain_loss) for seed in SEEDS])


def a2_evidence(check_id: str, with_bn, plain, total: int = 250):
    key = FEWER_EPOCHS.STEP_ACCURACY[check_id]
    bn_steps, plain_steps = designs.steps_to_target(with_bn, plain, key, [total] * len(plain))
    return evaluate(FEWER_EPOCHS.CHECKS[check_id], Arm("plain", [math.log2(s) for s in plain_steps], SEEDS),
                    Arm("BN", [math.log2(s) for s in bn_steps], SEEDS))


@pytest.mark.parametrize("check_id", ["A2.steps_to_target", "A2-inference.steps_to_target"])
def test_steps_to_target_placebo_and_injected_effect(check_id):
    assert a2_evidence(check_id, *a2_runs(bn_reach=100, plain_reach=100)).outcome == "refuted"
    effect = a2_evidence(check_id, *a2_runs(bn_reach=20, plain_reach=187))
    assert effect.effect > 2 and effect.outcome == "supported"


def test_a_bn_run_that_never_reaches_the_target_counts_against_the_claim():
    with_bn, plain = a2_runs(bn_reach=20, plain_reach=187)
    never = dataclasses.replace(with_bn[0], steps={**with_bn[0].steps, "val_accuracy_train_mode": [0.1] * 18})
    bn_steps, plain_steps = designs.steps_to_target([never, *with_bn[1:]], plain, "val_accuracy_train_mode",
                                                    [250] * 5)
    assert bn_steps[0] == 500 and math.log2(plain_steps[0] / bn_steps[0]) < -1


def test_final_training_loss_placebo_and_injected_effect():
    check = FEWER_EPOCHS.CHECKS["A2.final_train_loss"]
    log2_loss = lambda r: math.log2(metrics.final_train_loss(r))

    def evidence(bn_losses, plain_losses):
        with_bn = [run(s, loss=loss) for s, loss in zip(SEEDS, bn_losses)]
        plain = [run(s, batch_norm="none", loss=loss) for s, loss in zip(SEEDS, plain_losses)]
        return evaluate(check, arm_from_runs("plain", plain, log2_loss), arm_from_runs("BN", with_bn, log2_loss))

    plain_losses = [0.40, 0.42, 0.38, 0.41, 0.39]
    assert evidence([0.41, 0.40, 0.39, 0.42, 0.38], plain_losses).outcome == "refuted"
    assert evidence([loss / 4.2 for loss in plain_losses], plain_losses).outcome == "supported"
