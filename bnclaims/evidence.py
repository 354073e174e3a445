"""Claims declared as data, the evidence record of one check, and the assertion that reads it.

A Claim fixes, before any run is looked at, what would count as support: the metric, the kind of test
(superiority by at least a threshold, non-inferiority or equivalence within a margin), the threshold
with its reason, alpha, and the size of the family of checks it is corrected over (Bonferroni, so the
verdict is final in whichever xdist worker computes it). Evidence is everything a reader needs to sign
or reject the verdict; it is recorded in the JSON ledger whether the assertion passes or not.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import asdict, dataclass, field

import numpy as np

from . import stats

TESTS = ("superiority", "non_inferiority", "equivalence")
SUPPORTED, NOT_SUPPORTED = "supported", "not supported"


@dataclass(frozen=True)
class Claim:
    """One checkable statement. `threshold` is the smallest effect that counts (superiority) or the
    margin (non-inferiority, equivalence), in the metric's units, with A minus B as the effect."""

    id: str
    statement: str
    source: str
    metric: str
    test: str
    threshold: float
    threshold_reason: str
    alpha: float = 0.05
    family: str = ""
    family_size: int = 1

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"claim {self.id}: test must be one of {TESTS}, got {self.test!r}")
        if self.test != "superiority" and not self.threshold > 0:
            raise ValueError(f"claim {self.id}: a {self.test} margin must be positive")
        if not 0 < self.alpha < 1 or self.family_size < 1:
            raise ValueError(f"claim {self.id}: alpha must be in (0, 1) and family_size >= 1")

    @property
    def corrected_alpha(self) -> float:
        return stats.bonferroni(self.alpha, self.family_size)

    def expectation(self, arm_a: str, arm_b: str) -> str:
        """The hypothesis in words, as the failure message and the ledger state it."""
        effect = f"mean paired difference in {self.metric} ({arm_a} - {arm_b})"
        target = {
            "superiority": f"{effect} > {self.threshold:+.4f}",
            "non_inferiority": f"{effect} > {-self.threshold:+.4f} (non-inferior within {self.threshold:.4f})",
            "equivalence": f"{effect} within +/-{self.threshold:.4f} (TOST)",
        }[self.test]
        correction = (f" ({self.alpha:g} Bonferroni over {self.family_size} in {self.family or self.id})"
                      if self.family_size > 1 else "")
        return f"{target}, one-sided paired t at alpha {self.corrected_alpha:.4g}{correction}"


@dataclass(frozen=True)
class Arm:
    """One side of a paired comparison: per-seed values plus where they came from."""

    name: str
    values: tuple[float, ...]
    run_keys: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()      # per seed: trained / collapsed / diverged
    talk_value: float | None = None     # the talk's single-run number, where it reports one

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def outcome_summary(self) -> str:
        if not self.outcomes:
            return f"n={len(self.values)}"
        counts = {name: self.outcomes.count(name) for name in ("trained", "collapsed", "diverged")}
        return ", ".join(f"{count} {name}" for name, count in counts.items() if count)


@dataclass(frozen=True)
class Evidence:
    claim_id: str
    check: str
    statement: str
    source: str
    metric: str
    test: str
    expected: str
    threshold: float
    threshold_reason: str
    alpha: float
    corrected_alpha: float
    family: str
    family_size: int
    seeds: tuple[int, ...]
    arm_a: Arm
    arm_b: Arm
    effect: float
    effect_ci: tuple[float, float]
    probability_of_improvement: float
    probability_of_improvement_ci: tuple[float, float]
    test_name: str
    p_value: float
    sign_test_p: float
    verdict: str
    rerun: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED

    def to_dict(self) -> dict:
        data = asdict(self)
        data["n"] = self.n
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=float)

    def summary_line(self) -> str:
        lo, hi = self.effect_ci
        return (f"{self.claim_id} {self.check}: {self.verdict}; effect {self.effect:+.4f} "
                f"[{lo:+.4f}, {hi:+.4f}], p={self.p_value:.3g}, n={self.n}")

    def message(self) -> str:
        """The one fixed shape of every claim verdict: claim, expected, observed, arms, rerun."""
        lo, hi = self.effect_ci
        plo, phi = self.probability_of_improvement_ci
        a, b = self.arm_a, self.arm_b

        def arm_line(arm: Arm) -> str:
            talk = f" (talk: {arm.talk_value:.4f})" if arm.talk_value is not None else ""
            return f"{arm.name} mean {arm.mean:.4f}{talk} [{arm.outcome_summary()}]"

        lines = [
            f"claim {self.claim_id} [{self.check}]: {self.statement!r} ({self.source})",
            f"  expected: {self.expected}",
            f"  observed: effect {self.effect:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}] (bootstrap over seeds), "
            f"P({a.name}>{b.name}) {self.probability_of_improvement:.2f} [{plo:.2f}, {phi:.2f}], "
            f"p={self.p_value:.3g} ({self.test_name}; sign test p={self.sign_test_p:.3g}), n={self.n} seeds",
            f"  arms: {arm_line(a)}; {arm_line(b)}",
            *(f"  note: {note}" for note in self.notes),
            f"  verdict: {self.verdict}",
        ]
        if self.rerun:
            lines.append(f"  rerun: {self.rerun}")
        return "\n".join(lines)


def arm_from_runs(name: str, runs, metric, *, talk_value: float | None = None) -> Arm:
    """An Arm from RunResults in seed order; metric maps a RunResult to one number."""
    return Arm(name=name, values=tuple(float(metric(run)) for run in runs),
               run_keys=tuple(run.key for run in runs), outcomes=tuple(run.outcome for run in runs),
               talk_value=talk_value)


class ClaimNotSupported(AssertionError):
    """The evidence does not support the claim at its corrected level."""


def _rng_for(claim: Claim, check: str) -> np.random.Generator:
    # A fixed generator per check: the bootstrap interval of the same data is the same in every run.
    return np.random.default_rng(zlib.crc32(f"{claim.id}/{check}".encode()))


def evaluate(claim: Claim, check: str, arm_a: Arm, arm_b: Arm, *, seeds, rerun: str = "",
             notes: tuple[str, ...] = ()) -> Evidence:
    """Run the claim's test on two arms paired by seed and return the evidence with its verdict."""
    a, b = np.asarray(arm_a.values, float), np.asarray(arm_b.values, float)
    if len(seeds) != len(a):
        raise ValueError(f"claim {claim.id}: {len(seeds)} seeds for {len(a)} paired values")
    if claim.test == "superiority":
        primary = stats.paired_t_greater(a, b, margin=claim.threshold)
        sign = stats.sign_test_greater(a, b, margin=claim.threshold)
    elif claim.test == "non_inferiority":
        primary = stats.non_inferiority(a, b, margin=claim.threshold)
        sign = stats.sign_test_greater(a, b, margin=-claim.threshold)
    else:
        primary = stats.equivalence_tost(a, b, margin=claim.threshold)
        sign = max((stats.sign_test_greater(a, b, margin=-claim.threshold),
                    stats.sign_test_greater(b, a, margin=-claim.threshold)), key=lambda r: r.p_value)
    rng = _rng_for(claim, check)
    effect = stats.mean_difference_ci(a, b, rng=rng)
    improvement = stats.probability_of_improvement(a, b, rng=rng)
    verdict = SUPPORTED if primary.p_value <= claim.corrected_alpha else NOT_SUPPORTED
    return Evidence(
        claim_id=claim.id, check=check, statement=claim.statement, source=claim.source,
        metric=claim.metric, test=claim.test, expected=claim.expectation(arm_a.name, arm_b.name),
        threshold=claim.threshold, threshold_reason=claim.threshold_reason, alpha=claim.alpha,
        corrected_alpha=claim.corrected_alpha, family=claim.family or claim.id,
        family_size=claim.family_size, seeds=tuple(int(s) for s in seeds), arm_a=arm_a, arm_b=arm_b,
        effect=effect.point, effect_ci=(effect.low, effect.high),
        probability_of_improvement=improvement.point,
        probability_of_improvement_ci=(improvement.low, improvement.high),
        test_name=primary.name, p_value=float(primary.p_value), sign_test_p=float(sign.p_value),
        verdict=verdict, rerun=rerun, notes=tuple(notes),
    )


def assert_supported(evidence: Evidence) -> None:
    """Raise ClaimNotSupported with the evidence's message unless the verdict is 'supported'."""
    __tracebackhide__ = True
    if not evidence.supported:
        raise ClaimNotSupported(evidence.message())
