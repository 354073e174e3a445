"""The evidence record of one check, the outcome it gives, and the failure message that reads it.

Evidence is everything a reader needs to sign or reject an outcome: the hypothesis and its mirror,
the effect with its interval and the interval's method, both tests' p-values at the corrected
level, the seeds, each arm's values and failure counts. It is recorded in the JSON ledger whether
the pytest assertion passes or not.

Outcomes: empirical checks end supported, refuted or inconclusive (bnclaims.stats.decide);
identity and implementation checks hold or fail.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from . import power, stats
from .catalogue import EXACT_TIER_OUTCOMES, Check, Claim  # noqa: F401 (Claim: claim modules import it here)
# The message and summary formatters live in bnclaims.formatting; they are re-exported here.
from .formatting import (failure_text, format_interval, format_message, record_order,  # noqa: F401
                         summary_line, unreachable_sentence)
from .formatting import format_p as _fmt_p

SUPPORTED, REFUTED, INCONCLUSIVE = stats.OUTCOMES
HOLDS, FAILS = EXACT_TIER_OUTCOMES
PASSING_OUTCOMES = (SUPPORTED, HOLDS)
FAILURE_OUTCOMES = ("diverged", "collapsed")


@dataclass(frozen=True)
class Arm:
    """One side of a paired comparison: per-seed values, the seeds they came from, and how each run
    ended (trained / collapsed / diverged) where the values come from training runs."""

    name: str
    values: tuple[float, ...]
    seeds: tuple[int, ...]
    run_keys: tuple[str, ...] = ()
    outcomes: tuple[str, ...] = ()
    talk_value: float | None = None     # the talk's single-run number, where it reports one

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", tuple(float(v) for v in self.values))
        object.__setattr__(self, "seeds", tuple(int(s) for s in self.seeds))
        if len(self.seeds) != len(self.values):
            raise ValueError(f"arm {self.name}: {len(self.values)} values for {len(self.seeds)} seeds")
        if len(set(self.seeds)) != len(self.seeds):
            raise ValueError(f"arm {self.name}: a seed appears twice in {self.seeds}")
        for label, extra in (("run keys", self.run_keys), ("outcomes", self.outcomes)):
            if extra and len(extra) != len(self.seeds):
                raise ValueError(f"arm {self.name}: {len(extra)} {label} for {len(self.seeds)} seeds")

    @property
    def mean(self) -> float:
        return float(np.mean(self.values))

    def failed(self) -> tuple[bool, ...]:
        return tuple(outcome in FAILURE_OUTCOMES for outcome in self.outcomes)

    def by_seed(self, seeds: tuple[int, ...]) -> "Arm":
        """This arm with its seeds in the given order."""
        order = [self.seeds.index(seed) for seed in seeds]
        pick = lambda values: tuple(values[i] for i in order) if values else values
        return replace(self, values=pick(self.values), seeds=tuple(seeds), run_keys=pick(self.run_keys),
                       outcomes=pick(self.outcomes))

    def failure_summary(self) -> dict | None:
        """Failures (diverged or collapsed) with a Clopper-Pearson interval, and what the seeds exclude."""
        if not self.outcomes:
            return None
        count, n = sum(self.failed()), len(self.outcomes)
        interval = stats.clopper_pearson(count, n)
        return {"count": count, "n": n, "rate": interval.point, "ci": [interval.low, interval.high],
                "excludes_above": stats.rate_upper_bound(count, n)}

    def to_dict(self) -> dict:
        return {**asdict(self), "failures": self.failure_summary()}


def arm_from_runs(name: str, runs, metric, *, talk_value: float | None = None) -> Arm:
    """An Arm from RunResults; metric maps a RunResult to one number. Seeds come from the runs' specs."""
    return Arm(name=name, values=tuple(float(metric(run)) for run in runs),
               seeds=tuple(run.spec.seed for run in runs), run_keys=tuple(run.key for run in runs),
               outcomes=tuple(run.outcome for run in runs), talk_value=talk_value)


def pair_by_seed(arm_a: Arm, arm_b: Arm) -> tuple[Arm, Arm]:
    """Both arms in seed order; arms whose seeds differ cannot be compared."""
    if set(arm_a.seeds) != set(arm_b.seeds):
        raise ValueError(f"arms pair by seed, but {arm_a.name} has seeds {list(arm_a.seeds)} and "
                         f"{arm_b.name} has {list(arm_b.seeds)}")
    seeds = tuple(sorted(arm_a.seeds))
    return arm_a.by_seed(seeds), arm_b.by_seed(seeds)


def _json_bound(value: float) -> float | None:
    # JSON has no infinity: an unbounded side of an interval is stored as null.
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class Evidence:
    check_id: str
    claim_id: str
    tier: str
    statement: str
    source: str
    metric: str
    test: str
    expected: str                 # when the check is supported (holds)
    refuted_if: str               # when it is refuted (empirical checks)
    threshold: float
    threshold_reason: str
    alpha: float
    corrected_alpha: float
    family: str
    family_size: int
    method: str                   # "t", "sign_flip", or a measured check's own test
    min_seeds: int | None
    seeds: tuple[int, ...]
    n: int
    effect: float
    effect_ci: tuple[float, float]
    effect_ci_method: str
    test_name: str
    p_value: float | None
    outcome: str
    kind: str = "paired"          # "paired" (two arms by seed) or "measured"
    mirror_test_name: str = ""
    mirror_p_value: float | None = None
    arm_a: Arm | None = None
    arm_b: Arm | None = None
    probability_of_improvement: float | None = None
    probability_of_improvement_ci: tuple[float, float] | None = None
    blocked_seeds: tuple[int, ...] = ()   # seeds where a failure of the new arm blocks support
    sensitivity: dict | None = None      # the design's power at the observed spread (bnclaims.power)
    observed: str = ""                    # measured checks: what was observed, in words
    details: dict = field(default_factory=dict)
    rerun: str = ""
    notes: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        return self.outcome in PASSING_OUTCOMES

    @property
    def reachable(self) -> bool:
        """Whether this many seeds can reach the check's corrected level at all."""
        return self.min_seeds is None or self.n >= self.min_seeds

    def unreachable_sentence(self) -> str:
        return unreachable_sentence(self.to_dict())

    def to_dict(self) -> dict:
        data = asdict(self)
        data["arm_a"] = self.arm_a.to_dict() if self.arm_a else None
        data["arm_b"] = self.arm_b.to_dict() if self.arm_b else None
        data["reachable"] = self.reachable
        data["effect_ci"] = [_json_bound(bound) for bound in self.effect_ci]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=float)

    def reason_fields(self) -> dict[str, str]:
        """The numbers a finding's reason may quote (catalogue.REASON_FIELDS), formatted."""
        spec = "+.4f" if self.kind == "paired" else "+.4g"
        fields = {
            "effect": f"{self.effect:{spec}}", "ci": format_interval(self.effect_ci, spec),
            "ci_method": self.effect_ci_method, "p": _fmt_p(self.p_value), "mirror_p": _fmt_p(self.mirror_p_value),
            "alpha": f"{self.corrected_alpha:.4g}", "n": str(self.n), "seeds": str(list(self.seeds)),
            "observed": self.observed, "outcome": self.outcome,
            "a": "", "b": "", "a_mean": "", "b_mean": "", "a_values": "", "b_values": "", "a_failures": "",
            "b_failures": "", "wins": "", "poi": "",
        }
        if self.kind == "paired":
            a, b = self.arm_a, self.arm_b
            d = np.subtract(a.values, b.values)
            failures = lambda arm: f"{sum(arm.failed())} of {len(arm.outcomes)}" if arm.outcomes else "n/a"
            fields.update(
                a=a.name, b=b.name, a_mean=f"{a.mean:.4f}", b_mean=f"{b.mean:.4f}",
                a_values=str([round(v, 4) for v in a.values]), b_values=str([round(v, 4) for v in b.values]),
                a_failures=failures(a), b_failures=failures(b), wins=f"{int(np.sum(d > 0))} of {self.n}",
                poi=f"{self.probability_of_improvement:.2f} "
                    f"{format_interval(self.probability_of_improvement_ci, '.2f')}")
        return fields

    def message(self) -> str:
        return format_message(self.to_dict())


def _common(check: Check, *, seeds, n: int, rerun: str, notes) -> dict:
    claim = check.claim
    return dict(
        check_id=check.id, claim_id=check.claim_id, tier=claim.tier, statement=claim.statement,
        source=claim.source, metric=claim.metric, test=claim.test, threshold=claim.threshold,
        threshold_reason=claim.threshold_reason, alpha=claim.alpha, corrected_alpha=check.corrected_alpha,
        family=check.family, family_size=check.family_size, min_seeds=check.min_seeds,
        seeds=tuple(int(s) for s in seeds), n=int(n), rerun=rerun, notes=tuple(notes))


def criteria(check: Check, arm_a: str, arm_b: str) -> tuple[str, str]:
    """(supported if, refuted if) in words, as the failure message and the ledger state them."""
    claim = check.claim
    if claim.test == "measured":
        return claim.criterion, claim.mirror_criterion
    test = ("exact sign-flip test" if claim.method == "sign_flip" else "paired t-test")
    level = f"one-sided {test} at alpha {check.corrected_alpha:.4g}{check.correction()}"
    effect = f"mean paired difference in {claim.metric} ({arm_a} - {arm_b})"
    m = claim.threshold
    if claim.test == "superiority":
        return f"{effect} > {m:+.4f}, {level}", f"{effect} < {m:+.4f}, at the same level"
    if claim.test == "non_inferiority":
        return (f"{effect} > {-m:+.4f} (non-inferior within {m:.4f}), {level}; and {arm_a} fails (diverges or "
                f"collapses) on no seed where {arm_b} trains", f"{effect} < {-m:+.4f}, at the same level")
    return (f"{effect} within +/-{m:.4f} (two one-sided tests, each at alpha {check.corrected_alpha:.4g}"
            f"{check.correction()}); and neither arm fails on a seed where the other trains",
            f"{effect} outside +/-{m:.4f}: one side's one-sided test at alpha {check.corrected_alpha / 2:.4g}")


def blocking_failures(check: Check, arm_a: Arm, arm_b: Arm) -> tuple[int, ...]:
    """Seeds on which a failure keeps a non-inferiority or equivalence check from support: the new arm
    (A) failed where the reference (B) trained; for equivalence, either arm where the other trained."""
    if check.claim.test not in ("non_inferiority", "equivalence") or not (arm_a.outcomes and arm_b.outcomes):
        return ()
    blocked = [seed for seed, fa, fb in zip(arm_a.seeds, arm_a.failed(), arm_b.failed())
               if (fa and not fb) or (check.claim.test == "equivalence" and fb and not fa)]
    return tuple(blocked)


def evaluate(check: Check, arm_a: Arm, arm_b: Arm, *, rerun: str = "", notes=()) -> Evidence:
    """The check's claim and mirror tests on two arms paired by seed, and the outcome they give."""
    claim = check.claim
    if claim.test == "measured":
        raise ValueError(f"check {check.id} is measured; use measured()")
    arm_a, arm_b = pair_by_seed(arm_a, arm_b)
    d = stats.paired_differences(arm_a.values, arm_b.values)
    scale = float(np.max(np.abs([*arm_a.values, *arm_b.values])))
    decision = stats.decide(d, hypothesis=claim.test, threshold=claim.threshold, alpha=check.corrected_alpha,
                            method=claim.method, scale=scale)
    blocked = blocking_failures(check, arm_a, arm_b)
    outcome = INCONCLUSIVE if blocked and decision.outcome == SUPPORTED else decision.outcome
    interval, interval_method = stats.effect_interval(d, claim.method)
    improvement = stats.probability_of_improvement(arm_a.values, arm_b.values)
    expected, refuted_if = criteria(check, arm_a.name, arm_b.name)
    design = power.sensitivity(check.id, claim.method, check.corrected_alpha, d, claim.threshold, claim.test)
    if design is not None:
        notes = (*notes, f"design: {design.sentence()}")
    return Evidence(
        **_common(check, seeds=arm_a.seeds, n=len(d), rerun=rerun, notes=notes),
        expected=expected, refuted_if=refuted_if, method=claim.method,
        effect=interval.point, effect_ci=(interval.low, interval.high), effect_ci_method=interval_method,
        test_name=decision.claim.name, p_value=decision.claim.p_value,
        mirror_test_name=decision.mirror.name, mirror_p_value=decision.mirror.p_value,
        outcome=outcome, arm_a=arm_a, arm_b=arm_b,
        probability_of_improvement=improvement.point,
        probability_of_improvement_ci=(improvement.low, improvement.high), blocked_seeds=blocked,
        sensitivity=None if design is None else asdict(design),
    )


def measured(check: Check, *, effect: float, ci: tuple[float, float], ci_method: str, n: int, test_name: str,
             outcome: str | None = None, passed: bool | None = None, seeds=(), p_value: float | None = None,
             mirror_p_value: float | None = None, observed: str = "", details: dict | None = None,
             rerun: str = "", notes=()) -> Evidence:
    """Evidence for a check whose statistic the module computed itself (Claim.test == "measured").

    An empirical check passes its outcome (supported / refuted / inconclusive, from its stated
    criteria); an identity or implementation check passes ``passed`` (holds or fails).
    """
    claim = check.claim
    if claim.test != "measured":
        raise ValueError(f"check {check.id} is a {claim.test} check; use evaluate()")
    if claim.tier == "empirical":
        if outcome not in stats.OUTCOMES or passed is not None:
            raise ValueError(f"check {check.id}: an empirical measured check gives outcome= one of {stats.OUTCOMES}")
    else:
        if passed is None or outcome is not None:
            raise ValueError(f"check {check.id}: an {claim.tier} check gives passed=True/False")
        outcome = HOLDS if passed else FAILS
    return Evidence(
        **_common(check, seeds=seeds, n=n, rerun=rerun, notes=notes),
        expected=claim.criterion, refuted_if=claim.mirror_criterion, method=test_name,
        effect=float(effect), effect_ci=(float(ci[0]), float(ci[1])), effect_ci_method=ci_method,
        test_name=test_name, p_value=None if p_value is None else float(p_value),
        mirror_test_name=test_name if mirror_p_value is not None else "",
        mirror_p_value=None if mirror_p_value is None else float(mirror_p_value),
        outcome=outcome, kind="measured", observed=observed, details=dict(details or {}),
    )


class ClaimNotSupported(AssertionError):
    """The evidence does not support the check at its corrected level (or the check fails)."""


class FindingChanged(AssertionError):
    """A declared finding no longer describes what the evidence shows."""


def assert_passed(evidence: Evidence) -> None:
    """Raise ClaimNotSupported with the evidence's message unless the outcome is supported (holds)."""
    __tracebackhide__ = True
    if not evidence.passed:
        raise ClaimNotSupported(evidence.message())


@dataclass(frozen=True)
class Settlement:
    """What pytest makes of a check: "pass", "xfail" (a declared finding, as observed) or "fail"."""

    action: str
    text: str


# How far under its level a claim test's p may fall before a near-level finding (catalogue.Finding) no
# longer describes the evidence. Float rounding differs between CPUs (bnclaims.backend.cpu_identity), and
# between the two CPUs the default profile has run on, the same check's p moved by up to a factor 1.6
# (A6-ghost.group32_vs_128: 0.029 and 0.018, at level 0.025); 2 covers that with a little room.
NEAR_LEVEL_FACTOR = 2.0


def settle(evidence: Evidence, finding=None) -> Settlement:
    """The verdict policy. A supported check (or one that holds) passes. A declared finding whose
    outcome is observed is an xfail whose reason is filled in from this run's evidence. Everything
    else fails with the evidence: a check not supported, a check that cannot reach its level with
    this many seeds, and a finding whose declared outcome is no longer what the evidence shows (the
    claim now holds, say), so that findings cannot go stale. One exception: a finding declared
    near_level (inconclusive, its claim test just above its level) that this run supports with p
    within NEAR_LEVEL_FACTOR of the level passes, and says the finding was not observed here."""
    if finding is not None:
        if evidence.outcome == finding.outcome:
            unreachable = "" if evidence.reachable else f" [{evidence.unreachable_sentence()}]"
            return Settlement("xfail", f"{finding.outcome}: {finding.explain(evidence.reason_fields())}{unreachable}")
        if (finding.near_level and evidence.passed and evidence.p_value is not None
                and evidence.p_value >= evidence.corrected_alpha / NEAR_LEVEL_FACTOR):
            return Settlement("pass", f"declared finding {finding.outcome!r} not observed here: supported with "
                                      f"p={evidence.p_value:.3g} at {evidence.corrected_alpha:.3g}, within a factor "
                                      f"{NEAR_LEVEL_FACTOR:g} of the level, where float rounding that differs "
                                      f"between CPUs moves p (the finding is declared near its level)")
        change = ("the claim now holds: remove the finding" if evidence.passed
                  else "re-decide the finding from this evidence")
        return Settlement("fail", f"declared finding expected {finding.outcome!r}, observed "
                                  f"{evidence.outcome!r}: {change}\n{evidence.message()}")
    if evidence.passed:
        return Settlement("pass", "")
    if not evidence.reachable:
        return Settlement("fail", f"{evidence.unreachable_sentence()}\n{evidence.message()}")
    return Settlement("fail", evidence.message())
