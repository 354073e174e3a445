"""The catalogue of checks: what each claim module declares at its top, before anything is run.

A claim module declares its checks grouped by the test function that runs them,
``CHECKS = declare({"test_name": {check id: Claim, ...}, ...})``, and, for checks whose evidence does not
support them on some dataset, ``FINDINGS = {check id: Finding(...)}``.

* A check id is ``<claim id>.<name>``, e.g. ``A5.sigmoid`` or ``TABLE-2.big_learning_rate``; it is
  the pytest id of the test that runs it, so ``pytest claims/ --collect-only -q`` lists every check
  and ``-k A5.sigmoid`` selects one. It is typed once, here: the plugin parametrizes each test's
  ``check`` argument with the ids of its group (bnclaims.pytest_plugin.pytest_generate_tests).
* A Claim fixes what counts as support: the hypothesis (superiority by at least a threshold,
  non-inferiority or equivalence within a margin, or a criterion the module measures itself), the
  threshold with its reason, the tier, alpha and its family.
* Families are sized from the catalogue: the checks of one module that name the same family are
  corrected together, by Holm's step-down over the sequential design's p-values (a check settles with
  its whole family; bnclaims.evidence.family_holm). Each look of the design first tests at the
  Bonferroni level (alpha over the family's size, spent over the looks). A check that names no family
  is a family of its own.
* Tiers: ``empirical`` claims are about training and need seeds; they end supported, refuted or
  inconclusive. ``identity`` (a mathematical fact checked numerically) and ``implementation``
  (Keras against the formula) are exact checks with negative controls; they hold or fail.
* A Finding declares the outcome a check is expected to have where the data do not support it
  (refuted or inconclusive), the datasets and profiles where it applies, and a reason that explains
  the mechanism. The reason is a template: its numbers are filled in from the run's evidence (see
  ``REASON_FIELDS``), never typed.
"""

from __future__ import annotations

import dataclasses
import math
import re
import string
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from . import stats
from .formatting import CONTROL_NORMALIZERS, control_id
from .spec import NORMALIZER_NAMES

TIERS = ("empirical", "control", "identity", "implementation")
# Tiers whose checks are statistical (seeds, a paired test, three outcomes). A negative control compares
# two arms that differ in nothing but their seeds: its expected outcome is inconclusive.
STATISTICAL_TIERS = ("empirical", "control")
# What a paired comparison's claim is about, where its arms' runs can fail (diverge or collapse): the
# metric among the seeds where both arms trained ("value"), or the failures themselves ("failure": A fails
# on fewer seeds than B, the exact McNemar test on the discordant seeds). Both parts are recorded either way.
ABOUT = ("value", "failure")
TESTS = (*stats.HYPOTHESES, "measured")
EXACT_TIER_OUTCOMES = ("holds", "fails")
CHECK_ID_PATTERN = re.compile(r"^(?P<claim>[A-Z][A-Za-z0-9]*(?:-[A-Za-z0-9]+)*)\.(?P<name>[a-z0-9][a-z0-9_]*)$")

# What a finding's reason may quote from the run's evidence, as {name}. Each is text, already
# formatted the way the failure message formats it.
REASON_FIELDS = {
    "effect": "the effect (mean paired difference, or the measured statistic)",
    "ci": "its interval, e.g. [-0.0744, -0.0674]",
    "ci_method": "how that interval was computed",
    "p": "the claim test's p-value",
    "mirror_p": "the mirror test's p-value",
    "alpha": "the level the claim and mirror tests were held to (the family's, spent over the looks)",
    "n": "the number of seeds",
    "seeds": "the seeds",
    "a": "arm A's name",
    "b": "arm B's name",
    "a_mean": "arm A's mean",
    "b_mean": "arm B's mean",
    "a_values": "arm A's per-seed values",
    "b_values": "arm B's per-seed values",
    "a_failures": "arm A's failures, e.g. '2 of 5'",
    "b_failures": "arm B's failures",
    "wins": "seeds where A > B, e.g. '5 of 5'",
    "poi": "P(A > B) with its interval",
    "observed": "a measured check's observation in words",
    "outcome": "the observed outcome",
}


class CatalogueError(ValueError):
    """A catalogue or a finding that cannot be used; the message is one line that says what to fix."""


@dataclass(frozen=True)
class Claim:
    """One checkable statement. ``threshold`` is the smallest effect that counts (superiority) or the
    margin (non-inferiority, equivalence), in the metric's units, with A minus B as the effect."""

    statement: str
    source: str
    metric: str
    test: str
    threshold: float
    threshold_reason: str
    tier: str = "empirical"
    alpha: float = 0.05
    family: str = ""            # checks naming the same family are corrected together
    exact_test: bool = False    # a quantized, tied or censored metric: an exact test (sign or sign-flip)
    # The paired test: "sign" (exact sign test on the median difference; its false-positive rate holds on
    # any shape of differences, which the ledger's skewed, few-seed differences need: tests/test_stats.py),
    # "t" (paired t on the mean; normal differences) or "sign_flip" (exact, symmetric differences).
    paired_test: str = "sign"
    criterion: str = ""         # measured checks: when the check is supported (or holds), in words
    mirror_criterion: str = ""  # measured empirical checks: when it is refuted, in words
    min_seeds: int | None = None  # measured empirical checks: fewest seeds that can meet the criterion
    about: str = "value"        # "failure": the claim is that A fails (diverges, collapses) where B does not
    # The profiles the check runs in (empty: every profile) and why; in any other profile the plugin skips
    # it with that reason (a check whose runs cost more than a profile is sized for).
    profiles: tuple[str, ...] = ()
    profiles_reason: str = ""

    def __post_init__(self) -> None:
        def require(ok: bool, message: str) -> None:
            if not ok:
                raise CatalogueError(f"claim {self.statement[:40]!r}: {message}")

        require(self.test in TESTS, f"test must be one of {TESTS}, got {self.test!r}")
        require(math.isfinite(self.threshold), f"the threshold must be a finite number, got {self.threshold}")
        require(self.tier in TIERS, f"tier must be one of {TIERS}, got {self.tier!r}")
        require(self.test == "measured" or self.tier in STATISTICAL_TIERS,
                "identity and implementation checks are exact: their test is 'measured'")
        require(self.test != "measured" or bool(self.criterion), "a measured check states its criterion")
        require(not (self.test == "measured" and self.tier == "empirical") or bool(self.mirror_criterion),
                "a measured empirical check states when it is refuted (mirror_criterion)")
        require(self.test not in ("non_inferiority", "equivalence") or self.threshold > 0,
                f"a {self.test} margin must be positive")
        require(0 < self.alpha < 1, "alpha must be in (0, 1)")
        require(self.min_seeds is None or self.min_seeds >= 1, "min_seeds must be >= 1")
        require(self.tier != "control" or self.test != "measured", "a negative control is a paired comparison")
        require(self.about in ABOUT, f"about must be one of {ABOUT}, got {self.about!r}")
        require(not self.profiles or bool(self.profiles_reason), "a check kept to some profiles says why "
                                                                 "(profiles_reason)")
        require(self.paired_test in stats.METHODS, f"paired_test must be one of {stats.METHODS}")
        require(not (self.exact_test and self.paired_test == "t"), "a quantized metric needs an exact test, not t")
        require(self.about == "value" or (self.test == "superiority" and self.threshold == 0 and self.exact_test),
                "a claim about failures is a superiority test at threshold 0 with the exact test "
                "(A fails on fewer seeds than B)")

    @property
    def method(self) -> str:
        return self.paired_test


@dataclass(frozen=True)
class Check:
    """A claim as one entry of a module's catalogue: its id, the size of its family and the name of the
    test function that runs it (its group in ``declare``; ``claim.test`` is the hypothesis test)."""

    id: str
    claim: Claim
    family_size: int
    test_function: str

    @property
    def claim_id(self) -> str:
        return self.id.split(".", 1)[0]

    @property
    def name(self) -> str:
        return self.id.split(".", 1)[1]

    @property
    def family(self) -> str:
        return self.claim.family or self.id

    @property
    def tier(self) -> str:
        return self.claim.tier

    @property
    def corrected_alpha(self) -> float:
        return stats.bonferroni(self.claim.alpha, self.family_size)

    @property
    def min_seeds(self) -> int | None:
        """The fewest seeds with which this check can be supported at its corrected level."""
        if self.claim.test == "measured":
            return self.claim.min_seeds
        return stats.smallest_seeds(self.claim.method, self.corrected_alpha)

    def correction(self) -> str:
        if self.family_size == 1:
            return ""
        return (f" ({self.claim.alpha:g} over {self.family_size} in family '{self.family}', the first step of Holm's "
                f"step-down)")


def declare(groups: Mapping[str, Mapping[str, Claim]]) -> dict[str, Check]:
    """A module's catalogue from its checks grouped by the test function that runs them,
    ``{"test_name": {check id: Claim, ...}, ...}``: {check id: Check} in declaration order, with family
    sizes counted from the entries."""
    if not isinstance(groups, Mapping):
        raise CatalogueError(f"declare takes {{test function name: {{check id: Claim}}}}, got {type(groups).__name__}")
    claims: dict[str, Claim] = {}
    test_of: dict[str, str] = {}
    for test, group in groups.items():
        if not (isinstance(test, str) and test.isidentifier() and test.startswith("test_")):
            raise CatalogueError(f"declare groups checks by the test function that runs them: {test!r} is not a "
                                 "test function's name (test_...); write {'test_name': {check id: Claim}}")
        if not isinstance(group, Mapping) or not group:
            raise CatalogueError(f"group {test!r} declares no checks: give it {{check id: Claim}} or remove it")
        for check_id, claim in group.items():
            if check_id in claims:
                raise CatalogueError(f"check id {check_id!r} is declared twice, under {test_of[check_id]!r} and {test!r}")
            claims[check_id], test_of[check_id] = claim, test
    for check_id, claim in claims.items():
        if not isinstance(check_id, str) or not CHECK_ID_PATTERN.match(check_id):
            raise CatalogueError(f"check id {check_id!r} is not '<claim id>.<name>' (e.g. 'A5.sigmoid')")
        if not isinstance(claim, Claim):
            raise CatalogueError(f"check {check_id}: expected a Claim, got {type(claim).__name__}")
    sizes = Counter(claim.family or check_id for check_id, claim in claims.items())
    families: dict[str, list[Claim]] = {}
    for check_id, claim in claims.items():
        families.setdefault(claim.family or check_id, []).append(claim)
    for family, members in families.items():
        statistical = [claim.tier in STATISTICAL_TIERS for claim in members]
        # Holm's step-down takes every member's p-values, at one alpha (bnclaims.evidence.family_holm).
        if len(members) > 1 and any(statistical) and (not all(statistical) or any(claim.test == "measured" for claim in members)
                                 or len({claim.alpha for claim in members}) > 1):
            raise CatalogueError(f"family '{family}' mixes checks that cannot be corrected together: a statistical "
                                 "family holds paired comparisons of one tier, at one alpha")
    return {check_id: Check(check_id, claim, sizes[claim.family or check_id], test_of[check_id])
            for check_id, claim in claims.items()}


# The normalizer controls (docs/normalizers.md): a check of BN repeated with another normalizer in BN's place
# (bnclaims.spec.NORMALIZERS), its claim id the BN check's with the normalizer's label (A1.lr_sweep ->
# A1-LN.lr_sweep; bnclaims.formatting.control_id), so that it reads as a related check of the same
# advantage. Its test function is the BN check's: the plugin sets the Lab's normalizer from the check id
# (Lab.normalizer). They cost as many runs again as their BN checks, so they run in the controls profile.
CONTROLS_PROFILE = "controls"
# Where the normalizer controls' findings were decided (the controls profile's runs on the compiled engine).
CONTROL_FINDINGS = {"datasets": ("mnist5k",), "profiles": (CONTROLS_PROFILE,), "engines": ("compiled",)}
# Why GroupNorm, as Wu & He configure it, fails on the talk's MLP: a mechanism several GroupNorm findings share.
GROUPS_OF_TWO = ("GroupNorm's 32 groups (Wu & He's default) split the talk's last hidden layer, 64 units, into "
                 "pairs and its second, 128 units, into fours. A pair normalized by its own mean and variance is "
                 "+1 and -1 (up to epsilon), so the last hidden layer passes on only the sign of each pair's "
                 "difference. On a conv net, where Wu & He use it, a group holds its channels at every position of "
                 "the feature map, many values; on Dense units a group is its few units alone")


def with_normalizer_controls(group: Mapping[str, Claim], *only: str) -> dict[str, Claim]:
    """A group of BN checks followed by the LayerNorm and GroupNorm controls of each (or of those named in
    `only`: a check whose arms have no normalizer needs none): the same hypothesis, threshold and reason,
    fixed before any control ran, each control family corrected on its own."""
    unknown = set(only) - set(group)
    if unknown:
        raise CatalogueError(f"with_normalizer_controls: {sorted(unknown)} are not checks of the group")
    controls = {}
    for normalizer in CONTROL_NORMALIZERS:
        name = NORMALIZER_NAMES[normalizer]
        for check_id, claim in group.items():
            if only and check_id not in only:
                continue
            controls[control_id(check_id, normalizer)] = dataclasses.replace(
                claim, statement=f"with {name} in BN's place: {claim.statement}",
                family=f"{claim.family} ({name})" if claim.family else "",
                profiles=(CONTROLS_PROFILE,),
                profiles_reason=f"a normalizer control: as many runs again as its BN check, so it runs in the "
                                f"{CONTROLS_PROFILE} profile (--claims-profile {CONTROLS_PROFILE})")
    return {**group, **controls}


# What a near-level finding's reason ends with (Finding.explain).
NEAR_LEVEL_NOTE = (". Its p sits near the level, where another CPU's float rounding can carry it under: there the "
                   "check ends on that side of the level (supported, or refuted by its mirror test), and passes")


@dataclass(frozen=True)
class Finding:
    """A check the evidence does not support on these datasets and profiles, kept as a strict xfail."""

    outcome: str                 # what the evidence shows: refuted or inconclusive (fails, exact tiers)
    datasets: tuple[str, ...]
    profiles: tuple[str, ...]
    reason: str                  # the mechanism, with {fields} from REASON_FIELDS for the numbers
    engines: tuple[str, ...] = ()   # the engines whose runs show it; empty: every engine
    # An inconclusive finding whose claim or mirror test sits near its level, where float rounding that
    # differs between CPUs can put p on either side of it (bnclaims.evidence.settle, NEAR_LEVEL_FACTOR):
    # the check is declared machine-dependent. Declared where, on a CPU the check has run on, that p lay
    # within that factor of its level.
    near_level: bool = False

    def applies(self, dataset: str, profile: str, engine: str | None = None) -> bool:
        return (dataset in self.datasets and profile in self.profiles
                and (not self.engines or engine is None or engine in self.engines))

    def explain(self, fields: Mapping[str, str]) -> str:
        return self.reason.format_map(fields) + (NEAR_LEVEL_NOTE if self.near_level else "")


def reason_fields(reason: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(reason) if name is not None}


def findings_of(declared) -> tuple:
    """A FINDINGS value as a tuple: one Finding, or several for different regimes of one check."""
    return tuple(declared) if isinstance(declared, (tuple, list)) else (declared,)


def applicable_finding(declared, dataset: str, profile: str, engine: str | None = None) -> Finding | None:
    """The declared finding (if any) whose datasets, profiles and engines cover this session."""
    return next((f for f in findings_of(declared) if f.applies(dataset, profile, engine)), None)


def validate_findings(findings: Mapping[str, Finding | tuple], checks: Mapping[str, Check], *,
                      datasets: Iterable[str], profiles: Iterable[str], engines: Iterable[str] = ()) -> None:
    """Raise CatalogueError (one line) for a finding that names an unknown check, dataset, profile or
    reason field, declares an outcome its check cannot have, or overlaps another finding of its check."""
    datasets, profiles = tuple(datasets), tuple(profiles)
    for check_id, declared in findings.items():
        where = f"FINDINGS[{check_id!r}]"
        if check_id not in checks:
            raise CatalogueError(f"{where} names no check of this module; its checks: {', '.join(checks)}")
        regimes = set()
        for finding in findings_of(declared):
            _validate_finding(where, finding, checks[check_id], datasets, profiles, tuple(engines))
            for regime in ((d, p, e) for d in finding.datasets for p in finding.profiles
                           for e in (finding.engines or ("any",))):
                clash = [r for r in regimes if r[:2] == regime[:2] and (r[2] == regime[2] or "any" in (r[2], regime[2]))]
                if clash:
                    raise CatalogueError(f"{where}: two findings apply to dataset {regime[0]}, profile {regime[1]}")
                regimes.add(regime)


def _validate_finding(where: str, finding, check: Check, datasets, profiles, engines) -> None:
    if not isinstance(finding, Finding):
        raise CatalogueError(f"{where} must be a Finding, got {type(finding).__name__}")
    if check.tier == "control":
        raise CatalogueError(f"{where}: a negative control declares no finding (its expected outcome is inconclusive)")
    allowed = ("refuted", "inconclusive") if check.tier == "empirical" else ("fails",)
    if finding.outcome not in allowed:
        raise CatalogueError(f"{where}: a finding of an {check.tier} check declares one of {allowed}, "
                             f"not {finding.outcome!r}")
    unknown = [d for d in finding.datasets if d not in datasets and not d.startswith("idx:")]
    if unknown or not finding.datasets:
        raise CatalogueError(f"{where}: unknown dataset {unknown or '(none given)'}; known: "
                             f"{', '.join(datasets)} or idx:<folder>")
    unknown = [p for p in finding.profiles if p not in profiles]
    if unknown or not finding.profiles:
        raise CatalogueError(f"{where}: unknown profile {unknown or '(none given)'}; known: {', '.join(profiles)}")
    unknown = [e for e in finding.engines if engines and e not in engines]
    if unknown:
        raise CatalogueError(f"{where}: unknown engine {unknown}; known: {', '.join(engines)}")
    unknown = sorted(reason_fields(finding.reason) - set(REASON_FIELDS))
    if unknown:
        raise CatalogueError(f"{where}: the reason quotes unknown fields {unknown}; known: "
                             f"{', '.join(REASON_FIELDS)}")
    if not finding.reason.strip():
        raise CatalogueError(f"{where}: a finding explains its mechanism in its reason")
    if finding.near_level and (finding.outcome != "inconclusive" or check.tier != "empirical"):
        raise CatalogueError(f"{where}: only an inconclusive finding of an empirical check can be near_level")


def clopper_pearson_min_seeds(rate: float, alpha: float) -> int:
    """Fewest trials whose one-sided Clopper-Pearson lower bound can exceed ``rate`` (all events):
    the bound for n of n is alpha^(1/n)."""
    return math.floor(math.log(alpha) / math.log(rate)) + 1
