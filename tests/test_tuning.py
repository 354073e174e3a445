"""Tuned twins (bnclaims.tuning): the grid rule, nested seeds, the ledger's record of a choice, and the
selection-bias simulation (bnclaims.calibration.selection_outcomes) on the shapes of a real ledger
(tests/data/tuning_shapes.json, written by `python -m bnclaims.calibration tuning-shapes reports/claims.json`
from a default-profile ledger)."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest

from bnclaims import calibration, tuning
from bnclaims.ledger import _tuning as valid_tuning_record
from bnclaims.spec import RunSpec
from conftest import make_result

SHAPES = Path(__file__).parent / "data" / "tuning_shapes.json"
SIMULATIONS = 3000


def curve_validation(curve):
    """validation_at for choose_rate from a noiseless curve {rate: accuracy}; unmeasured rates diverge (0)."""
    return lambda rates: {rate: [curve.get(rate, 0.0)] * tuning.TUNING_SEEDS for rate in rates}


@pytest.mark.parametrize("grid, best, expected", [
    ((0.01, 0.1, 1.0), 0.1, None),            # interior: done
    ((0.01, 0.1, 1.0), 1.0, 3.0),             # at the top: the next half-decade up
    ((0.01, 0.1, 1.0), 0.01, 0.003),          # at the bottom: the next one down
    ((0.3, 100.0), 100.0, None),              # the ladder ends: censored
    ((1e-7, 0.01), 1e-7, None),
])
def test_the_grid_grows_beyond_the_end_where_the_best_rate_sits(grid, best, expected):
    assert tuning.next_rate(grid, best) == expected


def test_while_no_rate_trains_the_grid_grows_downwards_until_one_does():
    # Raw 0..255 inputs without BN: every rate of the start grid diverges; 3e-5 and below train.
    curve = {rate: (0.9 if rate == 3e-5 else 0.8 if rate < 3e-5 else 0.0) for rate in tuning.RATE_LADDER}
    choice = tuning.choose_rate("plain", curve_validation(curve), tuning.tuning_seeds())
    assert choice.trains and min(choice.grid) == 1e-5 and choice.chosen == 3e-5 and not choice.censored
    never = tuning.choose_rate("plain", curve_validation({}), tuning.tuning_seeds())
    assert not never.trains and never.censored and min(never.grid) == tuning.RATE_LADDER[0]
    assert "no rate of the ladder trains it" in tuning.tuning_notes({"plain": never})[0]


def test_a_best_rate_at_the_top_of_the_start_grid_extends_it_until_interior():
    choice = tuning.choose_rate("BN", curve_validation({0.01: 0.90, 0.03: 0.91, 0.1: 0.92, 0.3: 0.93, 1.0: 0.94,
                                                        3.0: 0.95, 10.0: 0.2}), tuning.tuning_seeds())
    assert (choice.chosen, choice.interior) == (3.0, True)
    assert choice.grid == (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0)


def test_a_best_rate_below_the_start_grid_extends_it_downwards():
    choice = tuning.choose_rate("plain", curve_validation({0.003: 0.80, 0.01: 0.92, 0.03: 0.91, 0.1: 0.90,
                                                           0.3: 0.5, 1.0: 0.1}), tuning.tuning_seeds())
    assert (choice.chosen, choice.interior) == (0.01, True) and min(choice.grid) == 0.003


def test_a_best_rate_at_the_end_of_the_ladder_is_censored():
    rising = {rate: 0.5 + rate / 1000 for rate in tuning.RATE_LADDER}
    choice = tuning.choose_rate("BN", curve_validation(rising), tuning.tuning_seeds())
    assert (choice.chosen, choice.interior) == (100.0, False)
    assert "censored" in tuning.tuning_notes({"BN": choice})[0]


def test_tuning_seeds_and_test_seeds_are_disjoint_or_the_choice_is_refused():
    assert min(tuning.tuning_seeds()) >= tuning.TUNING_SEED_BASE
    tuning.disjoint(tuning.tuning_seeds(), range(21))
    with pytest.raises(ValueError, match="both tuning and test seeds"):
        tuning.disjoint(tuning.tuning_seeds(), (0, 1, tuning.TUNING_SEED_BASE))


class FakeLab:
    """The Lab's three calls over a noiseless curve per batch-norm setting (no training)."""

    def __init__(self, curves, seeds=(0, 1, 2)):
        self.curves, self.seeds, self.trained = curves, tuple(seeds), []
        self.dataset = SimpleNamespace(num_classes=10)

    def runs(self, specs, *, context="", contexts=None):
        results = []
        for spec in specs:
            self.trained.append(spec)
            result = make_result(spec, accuracy=self.curves[spec.batch_norm].get(spec.learning_rate, 0.1))
            val = self.curves[spec.batch_norm].get(spec.learning_rate, math.nan)
            history = {**result.history, "val_accuracy": [*result.history["val_accuracy"][:-1], val]}
            results.append(dataclasses.replace(result, history=history))
        return results

    def across_seeds(self, spec, *, context=""):
        return self.runs([spec.replace(seed=seed) for seed in self.seeds])


CURVES = {"before": {0.01: 0.93, 0.03: 0.94, 0.1: 0.945, 0.3: 0.95, 1.0: 0.955, 3.0: 0.954, 10.0: 0.1},
          "none": {0.01: 0.92, 0.03: 0.93, 0.1: 0.935, 0.3: 0.94, 1.0: 0.6, 3.0: 0.1}}


def test_a_twin_tests_each_arm_at_its_chosen_rate_on_seeds_that_did_not_choose_it():
    lab = FakeLab(CURVES, seeds=range(7))
    tunings, runs = tuning.tuned_twin(lab, {"BN": RunSpec(), "plain": RunSpec(batch_norm="none")}, context="x")
    assert {arm: t.chosen for arm, t in tunings.items()} == {"BN": 1.0, "plain": 0.3}
    assert all(t.interior for t in tunings.values())
    for arm, chosen in (("BN", 1.0), ("plain", 0.3)):
        assert [run.spec.seed for run in runs[arm]] == list(range(7))
        assert {run.spec.learning_rate for run in runs[arm]} == {chosen}
    tuning_runs = [spec for spec in lab.trained if spec.seed >= tuning.TUNING_SEED_BASE]
    assert {spec.seed for spec in tuning_runs} == set(tuning.tuning_seeds())
    record = {arm: t.to_dict() for arm, t in tunings.items()}
    assert valid_tuning_record(record)
    assert record["BN"]["test_seeds"] == list(range(7)) and record["BN"]["chosen_rate"] in record["BN"]["grid"]


def test_the_ledger_refuses_a_twin_whose_seeds_overlap_or_whose_rate_is_off_its_grid():
    lab = FakeLab(CURVES)
    tunings, _ = tuning.tuned_twin(lab, {"BN": RunSpec()})
    good = {"BN": tunings["BN"].to_dict()}
    assert valid_tuning_record(good)
    assert not valid_tuning_record({"BN": {**good["BN"], "test_seeds": [0, tuning.TUNING_SEED_BASE]}})
    assert not valid_tuning_record({"BN": {**good["BN"], "chosen_rate": 7.0}})


def test_a_lab_whose_test_seeds_reach_the_tuning_seeds_cannot_tune():
    lab = FakeLab(CURVES, seeds=(0, tuning.TUNING_SEED_BASE + 1))
    with pytest.raises(ValueError, match="both tuning and test seeds"):
        tuning.tuned_twin(lab, {"BN": RunSpec()})


# The simulation, on the ledger's shapes -------------------------------------------------------------------

def ledger_shapes() -> list[calibration.TuningShape]:
    return [calibration.read_tuning_shape(shape) for shape in json.loads(SHAPES.read_text())["shapes"]]


def allowance(alpha: float) -> float:
    """alpha plus three Monte Carlo standard errors of a rate estimated from SIMULATIONS sessions."""
    return alpha + 3 * math.sqrt(alpha * (1 - alpha) / SIMULATIONS)


def test_the_committed_shapes_come_from_a_tuned_twin():
    shapes = ledger_shapes()
    assert shapes and all(len(shape.curves) == 2 and len(shape.differences) >= 7 for shape in shapes)


@pytest.mark.parametrize("arms", ["ledger", "identical"])
def test_nested_selection_keeps_the_false_positive_rate(arms):
    """At the boundary (conditional on the rates chosen: the verdict compares those configurations), rates
    chosen on fresh tuning seeds leave the test at its level on either side: on the ledger's two curves, and
    on two identical arms (the first arm's curve twice)."""
    for shape in ledger_shapes():
        if arms == "identical":
            curve = next(iter(shape.curves.values()))
            shape = dataclasses.replace(shape, curves={"a": curve, "b": curve})
        rates = calibration.selection_outcomes(shape, selection="nested", test_seeds=7, simulations=SIMULATIONS)
        assert rates["supported"] <= allowance(shape.alpha), (shape.check_id, rates)
        assert rates["refuted"] <= allowance(shape.alpha), (shape.check_id, rates)


def one_rate_against_a_flat_curve(shape: calibration.TuningShape) -> calibration.TuningShape:
    """The control: the first arm has every rate of its ledger grid that trains (mean validation accuracy of at
    least twice chance), all equally good; the second has one rate (an arm held at a set rate). The ledger's
    spread and grid, the choice made pure noise-chasing; the paired t-test (the exact tests at 7 seeds are too
    coarse to see a shift of this size)."""
    first = next(iter(shape.curves.values()))
    top = max(first.values())
    flat = {rate: top for rate, value in first.items() if value >= 0.2}
    return dataclasses.replace(shape, curves={"tuned": flat, "set": {1.0: top}}, method="t")


def test_choosing_on_the_test_seeds_favours_the_arm_with_more_rates_to_choose_from():
    """The control that must fail: rates chosen on the test seeds' own test accuracies make an arm with
    several equally good rates beat an equally good arm held at one rate more often than the level allows;
    chosen on fresh tuning seeds, they do not. On the twins whose arms trained on every seed: a seed at
    chance makes the spread so heavy-tailed that the t-test cannot see the shift (it stays conservative)."""
    trained = [shape for shape in ledger_shapes() if shape.failed_pairs == 0]
    assert len(trained) >= 3
    for shape in trained:
        control = one_rate_against_a_flat_curve(shape)
        assert len(control.curves["tuned"]) >= 3, "the ledger's grid has too few trained rates to choose from"
        reused = calibration.selection_outcomes(control, selection="test_seeds_test", test_seeds=7,
                                                simulations=SIMULATIONS)
        nested = calibration.selection_outcomes(control, selection="nested", test_seeds=7, simulations=SIMULATIONS)
        assert reused["supported"] > allowance(control.alpha), (shape.check_id, reused)
        assert nested["supported"] <= allowance(control.alpha), (shape.check_id, nested)


def test_an_unknown_selection_is_refused():
    shape = ledger_shapes()[0]
    with pytest.raises(ValueError, match="selection must be one of"):
        calibration.selection_outcomes(shape, selection="test_seeds", test_seeds=7, simulations=1)
