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

# "measured": the claim module computes the statistic itself (a slope and its interval, an exact
# numerical check, a timing ratio) and states its criterion in words in Claim.criterion.
TESTS = ("superiority", "non_inferiority", "equivalence", "measured")
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
    criterion: str = ""      # the pass criterion in words, for "measured" claims

    def __post_init__(self) -> None:
        if self.test not in TESTS:
            raise ValueError(f"claim {self.id}: test must be one of {TESTS}, got {self.test!r}")
        if self.test == "measured" and not self.criterion:
            raise ValueError(f"claim {self.id}: a measured claim states its criterion")
        if self.test in ("non_inferiority", "equivalence") and not self.threshold > 0:
            raise ValueError(f"claim {self.id}: a {self.test} margin must be positive")
        if not 0 < self.alpha < 1 or self.family_size < 1:
            raise ValueError(f"claim {self.id}: alpha must be in (0, 1) and family_size >= 1")

    @property
    def corrected_alpha(self) -> float:
        return stats.bonferroni(self.alpha, self.family_size)

    def expectation(self, arm_a: str, arm_b: str) -> str:
        """The hypothesis in words, as the failure message and the ledger state it."""
        if self.test == "measured":
            return self.criterion
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
    effect: float
    effect_ci: tuple[float, float]
    test_name: str
    p_value: float | None
    verdict: str
    n: int
    kind: str = "paired"                 # "paired" (two arms by seed) or "measured"
    arm_a: Arm | None = None
    arm_b: Arm | None = None
    probability_of_improvement: float | None = None
    probability_of_improvement_ci: tuple[float, float] | None = None
    sign_test_p: float | None = None
    observed: str = ""                   # measured claims: what was observed, in words
    details: dict = field(default_factory=dict)
    rerun: str = ""
    notes: tuple[str, ...] = field(default=())

    @property
    def supported(self) -> bool:
        return self.verdict == SUPPORTED

    def to_dict(self) -> dict:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=float)

    def message(self) -> str:
        """The one fixed shape of every claim verdict: claim, expected, observed, arms, rerun."""
        lo, hi = self.effect_ci
        lines = [f"claim {self.claim_id} [{self.check}]: {self.statement!r} ({self.source})",
                 f"  expected: {self.expected}"]
        if self.kind == "paired":
            a, b = self.arm_a, self.arm_b
            plo, phi = self.probability_of_improvement_ci

            def arm_line(arm: Arm) -> str:
                talk = f" (talk: {arm.talk_value:.4f})" if arm.talk_value is not None else ""
                return f"{arm.name} mean {arm.mean:.4f}{talk} [{arm.outcome_summary()}]"

            lines += [
                f"  observed: effect {self.effect:+.4f}, 95% CI [{lo:+.4f}, {hi:+.4f}] (bootstrap over seeds), "
                f"P({a.name}>{b.name}) {self.probability_of_improvement:.2f} [{plo:.2f}, {phi:.2f}], "
                f"p={self.p_value:.3g} ({self.test_name}; sign test p={self.sign_test_p:.3g}), n={self.n} seeds",
                f"  arms: {arm_line(a)}; {arm_line(b)}",
            ]
        else:
            p = f", p={self.p_value:.3g}" if self.p_value is not None else ""
            lines.append(f"  observed: {self.metric} {self.effect:+.4g}, interval [{lo:+.4g}, {hi:+.4g}]{p} "
                         f"({self.test_name}), n={self.n}" + (f"; {self.observed}" if self.observed else ""))
        lines += [
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
    elif claim.test == "equivalence":
        primary = stats.equivalence_tost(a, b, margin=claim.threshold)
        sign = max((stats.sign_test_greater(a, b, margin=-claim.threshold),
                    stats.sign_test_greater(b, a, margin=-claim.threshold)), key=lambda r: r.p_value)
    else:
        raise ValueError(f"claim {claim.id} is a measured claim; use measured()")
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
        verdict=verdict, n=len(a), rerun=rerun, notes=tuple(notes),
    )


def measured(claim: Claim, check: str, *, effect: float, ci: tuple[float, float], passed: bool, n: int,
             test_name: str, seeds=(), p_value: float | None = None, observed: str = "",
             details: dict | None = None, rerun: str = "", notes: tuple[str, ...] = ()) -> Evidence:
    """Evidence for a claim whose statistic the module computed itself (Claim.test == "measured")."""
    if claim.test != "measured":
        raise ValueError(f"claim {claim.id} is a {claim.test} claim; use evaluate()")
    return Evidence(
        claim_id=claim.id, check=check, statement=claim.statement, source=claim.source,
        metric=claim.metric, test=claim.test, expected=claim.expectation("", ""),
        threshold=claim.threshold, threshold_reason=claim.threshold_reason, alpha=claim.alpha,
        corrected_alpha=claim.corrected_alpha, family=claim.family or claim.id,
        family_size=claim.family_size, seeds=tuple(int(s) for s in seeds), effect=float(effect),
        effect_ci=(float(ci[0]), float(ci[1])), test_name=test_name,
        p_value=None if p_value is None else float(p_value), verdict=SUPPORTED if passed else NOT_SUPPORTED,
        n=int(n), kind="measured", observed=observed, details=dict(details or {}), rerun=rerun,
        notes=tuple(notes),
    )


def assert_supported(evidence: Evidence) -> None:
    """Raise ClaimNotSupported with the evidence's message unless the verdict is 'supported'."""
    __tracebackhide__ = True
    if not evidence.supported:
        raise ClaimNotSupported(evidence.message())
