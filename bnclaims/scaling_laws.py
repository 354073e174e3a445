"""Power laws across seeds: a log-log slope per seed, their mean with a t interval, and the verdict
"the exponent is within a range" that claims R1 and P1 state."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from . import stats

ONE_OVER_BATCH = (-1.1, -0.9)   # "falls like 1/batch": exponent -1 within 0.1


@dataclass(frozen=True)
class SlopesAcrossSeeds:
    seeds: tuple[int, ...]
    fits: tuple[stats.SlopeFit, ...]
    curves: tuple[tuple[Sequence[float], Sequence[float]], ...]
    mean: stats.Interval

    @property
    def slopes(self) -> np.ndarray:
        return np.array([fit.slope.point for fit in self.fits])

    def series(self) -> dict:
        """Per-seed points and fitted lines, for figures.loglog."""
        return {f"seed {seed}": {"x": x, "y": y, "slope": fit.slope.point, "intercept": fit.intercept}
                for seed, (x, y), fit in zip(self.seeds, self.curves, self.fits)}

    def observation(self, allowed: tuple[float, float]) -> dict:
        """Keyword arguments for verify.measured: passed when the mean's interval lies inside `allowed`
        and excludes 0."""
        low, high = allowed
        return dict(effect=self.mean.point, ci=(self.mean.low, self.mean.high),
                    passed=low <= self.mean.low and self.mean.high <= high and self.mean.high < 0,
                    n=len(self.fits), seeds=self.seeds,
                    ci_method=f"Student t over seeds, {self.mean.confidence:.4g}",
                    test_name=f"t interval of the mean slope over seeds at {self.mean.confidence:.4g}",
                    observed=f"per-seed slopes {np.round(self.slopes, 3).tolist()}",
                    details={"per_seed_slopes": self.slopes.tolist()})


def slopes_across_seeds(curves: Mapping[int, tuple[Sequence[float], Sequence[float]]], *,
                        confidence: float) -> SlopesAcrossSeeds:
    """curves: {seed: (x, y)} -> per-seed OLS slopes of log y on log x and their mean's t interval."""
    fits = tuple(stats.loglog_slope(x, y) for x, y in curves.values())
    return SlopesAcrossSeeds(seeds=tuple(curves), fits=fits, curves=tuple(curves.values()),
                             mean=stats.mean_ci_t([fit.slope.point for fit in fits], confidence=confidence))
