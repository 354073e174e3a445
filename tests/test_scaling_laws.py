"""The power-law verdict of R1 and P1: passes on 1/batch, fails on other exponents and on no trend."""

import numpy as np
import pytest

from bnclaims.scaling_laws import ONE_OVER_BATCH, slopes_across_seeds

SIZES = np.array([8, 16, 32, 64, 128, 256, 512, 1024], dtype=float)


def curves(exponent: float, noise: float = 0.05, seeds: int = 5) -> dict:
    rng = np.random.default_rng(0)
    return {seed: (SIZES, 3.0 * SIZES ** exponent * np.exp(rng.normal(0, noise, SIZES.size))) for seed in range(seeds)}


@pytest.mark.parametrize("exponent, passes", [(-1.0, True), (-0.5, False), (-1.5, False), (0.0, False)])
def test_verdict_follows_the_exponent(exponent, passes):
    fit = slopes_across_seeds(curves(exponent), confidence=0.95)
    assert fit.observation(ONE_OVER_BATCH)["passed"] is passes
    assert fit.mean.point == pytest.approx(exponent, abs=0.05)


def test_noisy_curves_give_a_wide_interval_that_fails():
    fit = slopes_across_seeds(curves(-1.0, noise=1.5), confidence=0.95)
    assert fit.mean.high - fit.mean.low > 0.2
    assert not fit.observation(ONE_OVER_BATCH)["passed"]


def test_series_and_observation_carry_every_seed():
    fit = slopes_across_seeds(curves(-1.0, seeds=3), confidence=0.99)
    assert list(fit.series()) == ["seed 0", "seed 1", "seed 2"]
    observation = fit.observation(ONE_OVER_BATCH)
    assert observation["n"] == 3 and len(observation["details"]["per_seed_slopes"]) == 3
    assert "0.99" in observation["test_name"]
