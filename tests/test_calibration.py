"""Every empirical paired check's test holds its level on the shapes a real ledger shows.

tests/data/ledger_shapes.json holds, for every empirical paired check, what a default-profile ledger
showed (python -m bnclaims.calibration shapes reports/claims.json): the paired differences of the seeds
where both arms trained (their spread, skew and ties), each arm's failure rate, the check's hypothesis,
threshold, test and corrected level. bnclaims.calibration simulates each check's own procedure under its
null from that shape, through the default profile's sequential design (looks at 7, 14 and 21 seeds,
each side tested at a third of the level), and counts how often it ends supported (claim test) or
refuted (mirror test) with the truth on the boundary.

The controls that must fail: the paired t-test on the same shapes, and accuracies that count a failed
run's number instead of splitting it out as a failure.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from bnclaims import calibration, power
from bnclaims.calibration import Shape, null_rates, read_shapes
from bnclaims.settings import PROFILES, Settings
from bnclaims.stats import SequentialDesign

SHAPES_PATH = Path(__file__).parent / "data" / "ledger_shapes.json"
SHAPES = read_shapes(json.loads(SHAPES_PATH.read_text()))
DEFAULT = PROFILES["default"]
DESIGN = SequentialDesign.blocks(len(DEFAULT.seeds), len(DEFAULT.seeds) * DEFAULT.looks)
SIMULATIONS = 20_000


def simulated(shape: Shape) -> bool:
    return shape.about == "failure" or len(shape.differences) >= 2


def test_the_shapes_cover_every_empirical_paired_check_of_the_catalogue():
    """A new paired check without a shape (or a renamed one) fails here: its calibration is not shown."""
    from test_catalogue import all_checks

    paired = {check_id for check_id, (_, check) in all_checks().items()
              if check.tier in ("empirical", "control") and check.claim.test != "measured"
              and (not check.claim.profiles or "default" in check.claim.profiles)}
    assert {shape.check_id for shape in SHAPES} == paired
    for shape in SHAPES:
        check = all_checks()[shape.check_id][1]
        assert (shape.method, shape.about, shape.corrected_alpha) == (
            check.claim.method, check.claim.about, check.corrected_alpha), shape.check_id


def test_the_design_is_the_default_profiles():
    settings = Settings.resolve(profile="default")
    assert settings.design() == DESIGN and DESIGN.looks == (7, 14, 21)


@pytest.mark.parametrize("shape", [s for s in SHAPES if simulated(s)], ids=lambda s: s.check_id)
def test_each_checks_test_holds_its_level_on_its_ledger_shape(shape):
    rates = null_rates(shape, DESIGN, simulations=SIMULATIONS)
    for side, rate in (("supported", rates.false_supported), ("refuted", rates.false_refuted)):
        # Not credibly above the level: the 99% lower bound of the simulated rate is at or under it.
        assert rates.lower(rate) <= shape.corrected_alpha, (
            f"{shape.check_id}: false {side} rate {rate:.4f} over {SIMULATIONS} simulations against level "
            f"{shape.corrected_alpha:.4g} ({rates.method} test through looks {DESIGN.looks})")


def test_the_paired_t_test_on_the_same_shapes_does_not_hold_its_level():
    """The deliberately wrong choice: the mean's t-test on few, skewed seeds. It must fail the same
    criterion on some of the ledger's own shapes, or the calibration above shows nothing."""
    broken = []
    for shape in (s for s in SHAPES if s.about == "value" and len(s.differences) >= 2):
        rates = null_rates(shape, DESIGN, method="t", simulations=SIMULATIONS)
        worst = max(rates.false_supported, rates.false_refuted)
        if rates.lower(worst) > shape.corrected_alpha:
            broken.append((shape.check_id, round(worst / shape.corrected_alpha, 1)))
    assert len(broken) >= 3, broken


def test_counting_a_collapsed_run_as_an_accuracy_breaks_the_level():
    """15% of one arm's seeds collapse (their accuracy 0.1 against a typical 0.9). Counted as values, the
    t-test's false refuted rate is far above its level; split out as failures (the value part compares
    the seeds where both trained) the check holds it."""
    base = next(s for s in SHAPES if s.check_id == "TABLE-1.convergence_speed")
    collapsing = Shape(**{**base.__dict__, "a_failure_rate": 0.15, "b_failure_rate": 0.0})
    counted = null_rates(collapsing, DESIGN, method="t", simulations=SIMULATIONS, count_failures_as_values=0.1)
    assert counted.lower(counted.false_refuted) > base.corrected_alpha, counted
    split = null_rates(collapsing, DESIGN, simulations=SIMULATIONS)
    assert split.lower(max(split.false_supported, split.false_refuted)) <= base.corrected_alpha, split


def test_the_failure_part_holds_its_level_at_the_ledgers_failure_rates():
    """Claims about failure: both arms failing at their pooled rate (the null) end supported or refuted
    no more often than the level, whatever that rate."""
    for rate in (0.1, 0.43, 0.7):
        shape = Shape("X.failure", "superiority", 0.0, "sign", "failure", 0.0125, (), rate, rate)
        rates = null_rates(shape, DESIGN, simulations=SIMULATIONS)
        assert rates.lower(max(rates.false_supported, rates.false_refuted)) <= 0.0125, rates


def _simulated_sign_power(design: SequentialDesign, alpha: float, beyond: float, simulations: int = 40_000):
    """The sequential sign test by simulation (calibration's vectorized tests): seeds beyond the boundary
    with probability ``beyond``."""
    rng = np.random.default_rng(7)
    n_max = design.looks[-1]
    x = np.where(rng.random((simulations, n_max)) < beyond, 1.0, -1.0)
    decided = np.zeros(simulations, dtype=bool)
    supported = np.zeros(simulations, dtype=bool)
    seeds = np.full(simulations, n_max)
    for look, n in enumerate(design.looks):
        used = np.zeros_like(x, dtype=bool)
        used[:, :n] = True
        claim, mirror = calibration._claim_and_mirror(x, used, "superiority", 0.0, "sign")
        level = design.level(look, alpha)
        stop = ~decided & ((claim <= level) | (mirror <= level))
        supported |= ~decided & (claim <= level)
        seeds[stop] = n
        decided |= stop
    return supported.mean(), seeds.mean()


@pytest.mark.parametrize("beyond", [0.5, 0.75, 0.9])
def test_the_designs_power_and_seeds_are_what_its_exact_computation_says(beyond):
    """power.sequential_sign_power (exact) against a simulation of the same design: the chance of ending
    supported, and the seeds a check uses on average (the design's cost)."""
    exact, seeds = power.sequential_sign_power(DESIGN, 0.0125, beyond)
    simulated_power, simulated_seeds = _simulated_sign_power(DESIGN, 0.0125, beyond)
    assert simulated_power == pytest.approx(exact, abs=4 * np.sqrt(exact * (1 - exact) / 40_000) + 1e-4)
    assert simulated_seeds == pytest.approx(seeds, rel=0.01)
    if beyond == 0.5:
        assert exact <= 0.0125 / 2          # the null: never more than the level (both sides share it)
    if beyond == 0.9:
        assert exact > 0.8 and seeds < 21   # a clear effect is found, usually before the last look


# ---------------------------------------------------------------- Holm's step-down within a family

BY_ID = {shape.check_id: shape for shape in SHAPES}
# Families whose members are value checks with one boundary, each as its shapes in the ledger: four
# superiority checks (A6's optimizer batches) and four non-inferiority checks (A5's activations).
FAMILIES = {"A6 optimizer batch": ("A6.batch16_accuracy", "A6.batch32_accuracy", "A6-loss.batch16", "A6-loss.batch32"),
            "A5 activations vs relu": ("A5.elu", "A5.tanh", "A5.sigmoid", "A5.softsign")}
FAMILY_ALPHA = 0.05


def family_p_values(family: str, effects: dict[str, float], simulations: int = SIMULATIONS) -> np.ndarray:
    """experiments x members: each member's claim-side p over the design's looks, the truth at its
    boundary plus ``effects`` (in units of its ledger spread), members drawn independently."""
    columns = []
    for check_id in FAMILIES[family]:
        shape = BY_ID[check_id]
        spread = float(np.std(shape.differences, ddof=1)) or 1e-3
        claim, _ = calibration.design_p_values(shape, DESIGN, effect=effects.get(check_id, 0.0) * spread,
                                               simulations=simulations)
        columns.append(claim)
    return np.column_stack(columns)


@pytest.mark.parametrize("family", FAMILIES)
def test_holm_keeps_the_family_wise_error_with_a_true_effect_beside_the_nulls(family):
    """With one member's effect real (three ledger spreads beyond its boundary) the other three on their
    boundaries may be tested at Holm's larger steps: the chance that any of them is falsely supported
    stays at or under the family's alpha. The design's adjusted p is a valid p whatever the stopping."""
    members = FAMILIES[family]
    p = family_p_values(family, {members[0]: 3.0})
    rejected = calibration.holm_rejections(p, FAMILY_ALPHA)
    assert rejected[:, 0].mean() > 0.5, "the true effect is found often enough for the later steps to matter"
    false = rejected[:, 1:].any(axis=1).mean()
    k = round(false * SIMULATIONS)
    assert calibration.Rates("", "", FAMILY_ALPHA, SIMULATIONS, false, 0).lower(false) <= FAMILY_ALPHA, (
        f"{family}: family-wise false supported {false:.4f} ({k} of {SIMULATIONS}) over {FAMILY_ALPHA}")


@pytest.mark.parametrize("family", FAMILIES)
def test_holm_finds_more_than_bonferroni_and_no_correction_breaks_the_family_level(family):
    """Holm decides at least everything Bonferroni decides, and more where effects are real; the wrong
    choice, each member at the family's full alpha, exceeds the level when all four are null."""
    members = FAMILIES[family]
    effects = {check_id: 1.5 for check_id in members}
    p = family_p_values(family, effects)
    holm = calibration.holm_rejections(p, FAMILY_ALPHA)
    bonferroni = p <= FAMILY_ALPHA / len(members)
    assert np.all(holm | ~bonferroni)                           # every Bonferroni rejection is Holm's too
    assert holm.sum() > bonferroni.sum()
    null = family_p_values(family, {})
    uncorrected = (null <= FAMILY_ALPHA).any(axis=1).mean()
    assert calibration.holm_rejections(null, FAMILY_ALPHA).any(axis=1).mean() <= FAMILY_ALPHA
    assert uncorrected > 1.5 * FAMILY_ALPHA, f"{family}: uncorrected family-wise rate {uncorrected:.4f}"


def test_the_vectorized_step_down_rejects_as_statsmodels_holm_does():
    from bnclaims import stats

    rng = np.random.default_rng(7)
    p = np.vstack([rng.random((300, 4)) * 0.1, np.array([[0.01, 0.02, 0.04, 0.2], [0.02, 0.02, 0.02, 0.02]])])
    expected = np.array([[step.rejected for step in stats.holm(row, 0.05)] for row in p])
    assert np.array_equal(calibration.holm_rejections(p, 0.05), expected)
    assert expected.any() and not expected.all()
