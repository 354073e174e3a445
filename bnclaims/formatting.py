"""How the suite writes its numbers, for every reader: the failure message, the terminal summary, the
HTML report and the ledger comparison all format a ledger record with these functions, so that an
effect, an interval or a p-value reads the same wherever it appears.

Every function takes a ledger record (Evidence.to_dict() plus the ledger's fields, see bnclaims.ledger)
or parts of one, and imports nothing heavier than numpy.
"""

from __future__ import annotations

import math

import numpy as np

from .spec import NORMALIZER_LABELS, NORMALIZER_NAMES, NORMALIZERS

TIER_ORDER = {"empirical": 0, "control": 1, "identity": 2, "implementation": 3}
TIER_TITLES = {"empirical": "empirical claims", "control": "negative controls", "identity": "identities",
               "implementation": "implementation checks"}
STATISTICAL_TIERS = ("empirical", "control")
EMPIRICAL_OUTCOMES = ("supported", "refuted", "inconclusive")
EXACT_OUTCOMES = ("holds", "fails")


# The talk's "Summary" slide, in its words: the six advantages every reading of a ledger leads with.
ADVANTAGES = {
    "A1": "allows larger learning rates",
    "A2": "model converges in less number of epochs",
    "A3": "allows us to be more careless about weight initialization",
    "A4": "no need for data normalization",
    "A5": "allows to use more activation functions freely",
    "A6": "adds slight regularization effect if used with small batch",
}
NOT_RUN = "not run"


def record_order(record: dict) -> tuple:
    """Empirical checks first, then identities, then implementation checks; by check id within a tier."""
    return TIER_ORDER.get(record["tier"], len(TIER_ORDER)), record["check_id"]


def base_claim(claim_id: str) -> str:
    """'A1-talk' -> 'A1', 'TABLE-2' -> 'TABLE': the statement a claim id belongs to."""
    return claim_id.split("-", 1)[0]


# The normalizer controls (bnclaims.catalogue.with_normalizer_controls): a BN check's id with the label of
# the normalizer in BN's place (A1.lr_sweep -> A1-LN.lr_sweep, TABLE-2.big_learning_rate ->
# TABLE-2-GN.big_learning_rate).
CONTROL_NORMALIZERS = tuple(normalizer for normalizer in NORMALIZERS if normalizer != "batch")


def normalizer_of(check_or_claim_id: str) -> str:
    """'A1-LN.lr_sweep' -> 'layer'; a check without a normalizer's label is BN's: 'batch'."""
    claim_id = check_or_claim_id.split(".", 1)[0]
    return next((normalizer for normalizer in CONTROL_NORMALIZERS
                 if claim_id.endswith(f"-{NORMALIZER_LABELS[normalizer]}")), "batch")


def control_id(check_id: str, normalizer: str) -> str:
    claim_id, name = check_id.split(".", 1)
    return f"{claim_id}-{NORMALIZER_LABELS[normalizer]}.{name}"


def bn_check(check_id: str) -> str:
    """The BN check a normalizer control repeats ('A1-LN.lr_sweep' -> 'A1.lr_sweep'); a BN check itself."""
    normalizer = normalizer_of(check_id)
    if normalizer == "batch":
        return check_id
    claim_id, name = check_id.split(".", 1)
    return f"{claim_id.removesuffix('-' + NORMALIZER_LABELS[normalizer])}.{name}"


def advantage_groups(records: list[dict]) -> dict[str, tuple[list[dict], list[dict]]]:
    """{A1..A6: (the advantage's own checks, related checks)}, every advantage present, checks by id."""
    ordered = sorted(records, key=record_order)
    return {advantage: ([r for r in ordered if r["claim_id"] == advantage],
                        [r for r in ordered if r["claim_id"] != advantage and base_claim(r["claim_id"]) == advantage])
            for advantage in ADVANTAGES}


def advantage_outcome(own: list[dict]) -> str:
    """Supported when every own check is supported, refuted when any is refuted, else inconclusive."""
    outcomes = [record["outcome"] for record in own]
    if not outcomes:
        return NOT_RUN
    if all(outcome == "supported" for outcome in outcomes):
        return "supported"
    return "refuted" if "refuted" in outcomes else "inconclusive"


# ----------------------------------------------------------------------------------------------------
# The advantage x normalizer table (docs/normalizers.md): which advantages belong to BN, which to any
# normalization. Rows are the six advantages, then the talk's table; a cell is the row's outcome with that
# normalizer in BN's place, by advantage_outcome's rule over the normalizer's checks.

TALK_TABLE_ROWS = ("TABLE-1", "TABLE-2", "TABLE-3", "TABLE-4")


def normalizer_rows(records: list[dict]) -> list[dict]:
    """[{row, words, cells: {normalizer: outcome}, sentence}] for each row with a normalizer control in
    the records; [] where none ran. BN's cell is the row's own checks (the headline's verdict); the
    sentence compares each control with BN's checks that it repeats, check for check."""
    ordered = sorted(records, key=record_order)
    rows = []
    for row in (*ADVANTAGES, *TALK_TABLE_ROWS):
        own = [r for r in ordered if r["claim_id"] == row]
        controls = {normalizer: [r for r in ordered if r["claim_id"] == f"{row}-{NORMALIZER_LABELS[normalizer]}"]
                    for normalizer in CONTROL_NORMALIZERS}
        if not any(controls.values()):
            continue
        repeated = {bn_check(r["check_id"]) for checks in controls.values() for r in checks}
        matched = advantage_outcome([r for r in own if r["check_id"] in repeated])
        cells = {"batch": advantage_outcome(own), **{n: advantage_outcome(checks) for n, checks in controls.items()}}
        words = ADVANTAGES.get(row) or (own[0]["statement"].split(":")[0] if own else row)
        rows.append({"row": row, "words": words, "cells": cells,
                     "sentence": specificity(matched, {n: cells[n] for n in CONTROL_NORMALIZERS})})
    return rows


def specificity(bn: str, controls: dict[str, str]) -> str:
    """Whether an outcome belongs to BN, in one sentence: BN's outcome on the checks the controls repeat,
    against each control's ({normalizer: outcome}; NOT_RUN where it did not run)."""
    ran = {n: outcome for n, outcome in controls.items() if outcome != NOT_RUN}
    names = lambda chosen: " and ".join(NORMALIZER_NAMES[n] for n in chosen)
    if bn == NOT_RUN or not ran:
        return "no comparison: BN's checks or their controls did not run"
    supported = [n for n, outcome in ran.items() if outcome == "supported"]
    refuted = [n for n, outcome in ran.items() if outcome == "refuted"]
    undecided = [n for n, outcome in ran.items() if outcome == "inconclusive"]
    if bn != "supported":
        return (f"{bn} with BN; supported with {names(supported)}: here a normalizer without batch statistics "
                f"does what BN does not" if supported else f"{bn} with BN, and not supported with {names(ran)} either")
    if len(supported) == len(ran):
        return f"not specific to BN: supported with {names(supported)} too"
    parts = ([f"specific to BN against {names(refuted)} (refuted there)"] if refuted else []) + (
        [f"shared with {names(supported)}"] if supported else []) + (
        [f"undecided with {names(undecided)}"] if undecided else [])
    return "; ".join(parts)


def normalizer_lines(records: list[dict]) -> list[str]:
    """The table for the terminal: a line per row, its cells and its sentence."""
    rows = normalizer_rows(records)
    if not rows:
        return []
    columns = ("batch", *CONTROL_NORMALIZERS)
    lines = ["each advantage with another normalizer in BN's place (the normalizer controls; "
             + ", ".join(NORMALIZER_NAMES[n] for n in columns) + "):"]
    for row in rows:
        cells = ", ".join(f"{NORMALIZER_LABELS[n]} {row['cells'][n].upper()}" for n in columns)
        lines.append(f"  {row['row']} {row['words']}: {cells}: {row['sentence']}")
    return lines


# The two readings of each advantage (bnclaims.tuning): its own checks as the talk ran them, most of them at
# one learning rate for both arms, and its tuned twins, each arm at its own best rate.
TALK_READING = "as the talk ran it"
TUNED_READING = "each arm at its best rate"


def tuned_records(related: list[dict]) -> list[dict]:
    """An advantage's tuned twins among its related checks: the records that carry a tuning."""
    return [record for record in related if record.get("tuning")]


def readings(own: list[dict], related: list[dict]) -> tuple[str, str]:
    """(the advantage's outcome as the talk ran it, its outcome with each arm at its best rate; NOT_RUN
    where it has no tuned twin)."""
    return advantage_outcome(own), advantage_outcome(tuned_records(related))


def readings_text(own: list[dict], related: list[dict]) -> str:
    """'SUPPORTED as the talk ran it; INCONCLUSIVE each arm at its best rate (the readings disagree)'."""
    talk, tuned = readings(own, related)
    if tuned == NOT_RUN:
        return talk.upper()
    return (f"{talk.upper()} {TALK_READING}; {tuned.upper()} {TUNED_READING}"
            + (" (the readings disagree)" if readings_disagree(talk, tuned) else ""))


def readings_disagree(talk: str, tuned: str) -> bool:
    return NOT_RUN not in (talk, tuned) and talk != tuned


def expected_outcome(record: dict) -> str:
    """The outcome the catalogue expects of a check."""
    # The rule (bnclaims.evidence.settle and session.evidence_record): a check that declares a finding
    # expects the finding's outcome (the ledger's "finding": {"outcome", ...}); a negative control expects
    # inconclusive (its arms differ only in their seeds); any other empirical check expects supported, an
    # identity or implementation check holds. A record is unexpected when its outcome is not that, which
    # is exactly when a declared finding was not observed ("finding.not_observed") or a control came out
    # positive, or when pytest failed its test ("test_outcome": "failed": worse than expected, or broken).
    if record.get("finding"):
        return record["finding"]["outcome"]
    if record["tier"] == "control":
        return "inconclusive"
    return "supported" if record["tier"] in STATISTICAL_TIERS else "holds"


def unexpected_records(records: list[dict]) -> list[dict]:
    """The checks whose outcome is not what the catalogue expects, or whose test failed, in record order."""
    return [r for r in sorted(records, key=record_order)
            if r["outcome"] != expected_outcome(r) or r.get("test_outcome") == "failed"]


def interval_level(record: dict) -> float:
    """The one-sided level of each side of the record's interval: the level its test was held to on the
    look that settled it (Holm's raised level where the family's step-down set it), so that a side clears
    the threshold exactly when that side's test rejects (bnclaims.evidence.evaluate)."""
    level = record.get("look_alpha")
    return float(record["corrected_alpha"] if level is None else level)


def deciding_test(record: dict) -> tuple[str, float | None, float]:
    """(which test, its p, the level it was held to) for the test that decided the outcome, as
    bnclaims.evidence judges it: the mirror test's for refuted, the claim test's otherwise; the design's
    p over its looks against Holm's level where the family's step-down decided what the check's own level
    left open, else the look's p against the look's level."""
    refuted = record["outcome"] == "refuted"
    side = "mirror test" if refuted else "claim test"
    holm = record.get("holm") or {}
    if holm and holm.get("bonferroni_outcome") != record["outcome"]:
        p = record.get("adjusted_mirror_p" if refuted else "adjusted_p")
        return f"{side}, Holm", p, float(holm["mirror_level" if refuted else "level"])
    return side, record.get("mirror_p_value" if refuted else "p_value"), interval_level(record)


def deciding_p_text(record: dict) -> str:
    """'p=0.0012' or 'p=0.0012 (mirror test)': the p that decided, named when it is not the claim test's."""
    which, p, _level = deciding_test(record)
    if p is None:
        return "(no p)"
    return f"p={format_p(p)}" + ("" if which == "claim test" else f" ({which})")


# ----------------------------------------------------------------------------------------------------
# Numbers


def format_p(p: float | None) -> str:
    return "-" if p is None else f"{p:.3g}"


def _format_bound(value: float, spec: str) -> str:
    return f"{value:{spec}}" if math.isfinite(value) else ("-inf" if value < 0 else "+inf")


def format_interval(ci, spec: str = "+.4f") -> str:
    """'[low, high]'; an unbounded side (inf, or null in the ledger) reads -inf / +inf."""
    low, high = (-math.inf if ci[0] is None else ci[0]), (math.inf if ci[1] is None else ci[1])
    return f"[{_format_bound(low, spec)}, {_format_bound(high, spec)}]"


def effect_spec(record: dict) -> str:
    """Paired effects are differences of accuracies (4 decimals); measured ones vary in size (4 digits)."""
    return "+.4f" if record["kind"] == "paired" else "+.4g"


def format_effect(record: dict) -> str:
    return number_text(record["effect"], effect_spec(record))


def number_text(value, spec: str) -> str:
    """A number in its format; 'n/a' where there is none (an effect with no seed to compare)."""
    return "n/a" if value is None or not math.isfinite(value) else f"{value:{spec}}"


def format_effect_interval(record: dict) -> str:
    """'+0.0783 [+0.0535, +0.1032]': the effect and its interval in the check's own units."""
    return f"{format_effect(record)} {format_interval(record['effect_ci'], effect_spec(record))}"


def threshold_text(record: dict) -> str:
    """The threshold as the hypothesis uses it, on the effect (A - B) in the metric's units:
    '> +0.0050' (superiority), '> -0.0300' (non-inferiority), 'within ±0.0100' (equivalence), or the
    measured check's threshold, 'vs 0.5' (its criterion, in words, says how it is used)."""
    m, test = record["threshold"], record.get("test", "")
    if test == "superiority":
        return f"> {m:+.4g}"
    if test == "non_inferiority":
        return f"> {-m:+.4g}"
    if test == "equivalence":
        return f"within ±{m:.4g}"
    return f"vs {m:.4g}"


def arms_text(record: dict) -> str:
    """'BN − plain' for a paired record: what the effect subtracts; the metric for a measured one."""
    if record["kind"] == "paired" and record.get("arm_a") and record.get("arm_b"):
        return f"{record['arm_a']['name']} − {record['arm_b']['name']}"
    return record["metric"]


def p_text(record: dict) -> str:
    """'0.001 / 0.999': the claim's p-value and its mirror's; a dash where there is none."""
    if record["p_value"] is None:
        return "—"
    mirror = record.get("mirror_p_value")
    return format_p(record["p_value"]) + (f" / {format_p(mirror)}" if mirror is not None else "")


def improvement_text(record: dict) -> str:
    """P(A>B) with its Clopper-Pearson interval, for paired records."""
    if record.get("probability_of_improvement") is None:
        return ""
    low, high = record["probability_of_improvement_ci"]
    return f"{record['probability_of_improvement']:.2f} [{low:.2f}, {high:.2f}]"


def arm_mean(arm: dict) -> float:
    """The arm's mean over the seeds whose run trained (all its seeds where no run failed)."""
    if arm.get("trained_mean") is not None:
        return float(arm["trained_mean"])
    return float(np.mean(arm["values"]))


def talk_pairs(record: dict) -> list[tuple[str, float, float]]:
    """(arm, the talk's number, this run's mean) for each arm that has a talk value."""
    arms = [record.get("arm_a"), record.get("arm_b")]
    return [(arm["name"], arm["talk_value"], arm_mean(arm)) for arm in arms
            if arm and arm.get("talk_value") is not None]


def seeds_text(seeds) -> str:
    """'0-4' for consecutive seeds, else '0,3,7'."""
    seeds = [int(seed) for seed in seeds]
    if seeds and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"{seeds[0]}-{seeds[-1]}" if len(seeds) > 1 else str(seeds[0])
    return ",".join(map(str, seeds))


# ----------------------------------------------------------------------------------------------------
# The budget a ledger was measured in


BUDGET_WORDS = (("examples_seen", "examples seen"), ("examples", "examples"), ("steps", "steps"),
                ("passes", "passes"), ("epochs", "epochs"))


def _count(value) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4g}"


def budget_text(budget) -> str:
    """A training budget as words: '480,000 examples seen, 3,750 steps, 150 passes'. Takes a mapping (its
    known keys first, then any others as 'key value'), a number or text; '' for none."""
    if budget is None or budget == {}:
        return ""
    if not isinstance(budget, dict):
        return str(budget)
    parts, seen = [], set()
    for key, words in BUDGET_WORDS:
        if key in budget and budget[key] is not None:
            parts.append(f"{_count(budget[key])} {words}")
            seen.add(key)
    parts += [f"{key.replace('_', ' ')} {_count(value)}" for key, value in budget.items()
              if key not in seen and value is not None and not isinstance(value, (dict, list))]
    return ", ".join(parts)


# ----------------------------------------------------------------------------------------------------
# The failure message (also the evidence text of each check in the report)


def failure_text(arm: dict) -> str:
    failures = arm.get("failures")
    if not failures:
        return f"{arm['name']}: no run outcomes (a derived measure)"
    return (f"{arm['name']} {failures['count']} of {failures['n']} failed (rate {failures['rate']:.2f}, 95% CI "
            f"{failures['ci'][0]:.2f}-{failures['ci'][1]:.2f}; rates above {failures['excludes_above']:.2f} excluded)")


def arm_line(arm: dict) -> str:
    """An arm's mean over the seeds whose run trained (a failed run's number is its failure, not a value)."""
    talk = f" (talk: {arm['talk_value']:.4f})" if arm.get("talk_value") is not None else ""
    failures = arm.get("failures")
    if not failures or not failures["count"]:
        return f"{arm['name']} mean {arm_mean(arm):.4f}{talk}"
    trained = arm.get("trained_mean")
    mean = f"mean {trained:.4f} over its {failures['n'] - failures['count']} trained seeds" if trained is not None \
        else "no seed trained"
    return f"{arm['name']} {mean}, {failures['count']} of {failures['n']} failed{talk}"


def failure_part_text(part: dict, a: str, b: str) -> str:
    """The failure part of a paired record: who failed where the other trained, and its exact test."""
    return (f"{a} failed on {part['a_failed']}, {b} on {part['b_failed']} of {part['n']} seeds; only {b} failed on "
            f"{part['only_b']}, only {a} on {part['only_a']}: claim p={format_p(part['p_value'])}, mirror "
            f"p={format_p(part['mirror_p_value'])} ({part['test_name']}) at level {part['level']:.4g}")


def design_text(record: dict) -> str:
    """'stopped at 14 seeds, look 2 of 3 (looks at 7, 14, 21 seeds): decided at look 2 of 3'."""
    looks = record.get("looks") or ()
    if len(looks) < 2:
        return ""
    return (f"stopped at {record['n']} seeds, look {record['look'] + 1} of {len(looks)} (looks at "
            f"{', '.join(map(str, looks))} seeds){': ' + record['stop_reason'] if record.get('stop_reason') else ''}")


def holm_text(record: dict) -> str:
    """"Holm's step-down over family 'A6 boundary' (2 checks, alpha 0.05): claim p 0.0031 ranks 1, level
    0.025; mirror p 1 ranks 2, level 0.05: supported", for a check of a family of two or more."""
    holm = record.get("holm")
    if not holm or holm["size"] < 2:
        return ""
    claim_p, mirror_p = holm["members"][record["check_id"]]
    changed = (f" (the design's Bonferroni level alone: {holm['bonferroni_outcome']})"
               if holm["bonferroni_outcome"] != holm["outcome"] else "")
    return (f"Holm's step-down over family '{holm['family']}' ({holm['size']} checks, alpha {holm['alpha']:g}), on "
            f"each check's p over the design's looks: claim p {claim_p:.4g} ranks {holm['rank']}, level "
            f"{holm['level']:.4g}; mirror p {mirror_p:.4g} ranks {holm['mirror_rank']}, level "
            f"{holm['mirror_level']:.4g}: {holm['outcome']}{changed}")


def unreachable_sentence(record: dict) -> str:
    how = (f"the exact {'sign-flip' if record['method'] == 'sign_flip' else 'sign'} test (smallest p = 2^-n)"
           if record["method"] in ("sign", "sign_flip")
           else f"its criterion ({record['test_name']})")
    return (f"{record['check_id']} cannot reach its level {record['corrected_alpha']:.4g} with {record['n']} "
            f"seeds: {how} needs at least {record['min_seeds']} (rerun with --claims-seeds "
            f"{record['min_seeds']} or more)")


def format_message(record: dict) -> str:
    """The one fixed shape of every check's evidence: check, criteria, observed, arms, outcome, rerun."""
    lines = [f"check {record['check_id']} ({record['tier']}): {record['statement']!r} ({record['source']})"]
    if not record.get("reachable", True):
        lines.append(f"  cannot decide: {unreachable_sentence(record)}")
    lines.append(f"  {'supported' if record['tier'] in STATISTICAL_TIERS else 'holds'} if: {record['expected']}")
    if record["tier"] in STATISTICAL_TIERS:
        lines.append(f"  refuted if: {record['refuted_if']}")
    spec = effect_spec(record)
    ci = f"{format_interval(record['effect_ci'], spec)} ({record['effect_ci_method']})"
    if record["kind"] == "paired":
        a, b = record["arm_a"], record["arm_b"]
        improvement = ""
        if record.get("probability_of_improvement") is not None:
            plo, phi = record["probability_of_improvement_ci"]
            improvement = (f", P({a['name']}>{b['name']}) {record['probability_of_improvement']:.2f} "
                           f"[{plo:.2f}, {phi:.2f}] (Clopper-Pearson)")
        level = record.get("look_alpha") or record["corrected_alpha"]
        lines += [
            f"  observed: effect {number_text(record['effect'], spec)}, {ci}{improvement}, n={record['n']} seeds "
            f"{seeds_text(record['seeds'])}",
            f"  tests at level {level:.4g}: claim p={format_p(record['p_value'])} "
            f"({record['test_name']}); mirror p={format_p(record['mirror_p_value'])} ({record['mirror_test_name']})",
            "  arms: " + "; ".join(arm_line(arm) for arm in (a, b)),
        ]
        if record.get("failure_part"):
            lines.append("  failures: " + failure_part_text(record["failure_part"], a["name"], b["name"]))
        else:
            lines.append("  failures: " + "; ".join(failure_text(arm) for arm in (a, b)))
        if record.get("trained_part") and record["trained_part"]["n"] < record["n"]:
            lines.append(f"  value part: the {record['trained_part']['n']} seeds where both arms trained "
                         f"({seeds_text(record['trained_part']['seeds']) or 'none'})")
        if design := design_text(record):
            lines.append(f"  seeds: {design}")
        if family := holm_text(record):
            lines.append(f"  family: {family}")
        if record.get("blocked_seeds"):
            lines.append(f"  blocked: on seeds {list(record['blocked_seeds'])} one arm failed where the other "
                         f"trained, so the check cannot be supported")
    else:
        tests = f"p={format_p(record['p_value'])}" if record["p_value"] is not None else "no p-value"
        if record.get("mirror_p_value") is not None:
            tests += f", mirror p={format_p(record['mirror_p_value'])}"
        lines.append(f"  observed: {record['metric']} {record['effect']:{spec}}, interval {ci}, {tests} "
                     f"({record['test_name']}), n={record['n']}"
                     + (f"; {record['observed']}" if record["observed"] else ""))
    lines += [f"  note: {note}" for note in record.get("notes", ())]
    if record.get("finding"):
        lines.append(f"  declared finding: {record['finding']['outcome']} ({record['finding']['reason']})")
        if record["finding"].get("not_observed"):
            lines.append(f"  {record['finding']['not_observed']}")
    lines.append(f"  outcome: {record['outcome']}")
    if record.get("rerun"):
        lines.append(f"  rerun: {record['rerun']}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# The terminal summary


def summary_line(record: dict) -> str:
    """One terminal line per ledger record: check, outcome, effect with interval, the deciding p, n, and
    the test's outcome where it is not a plain pass."""
    spec = effect_spec(record)
    settled = record["test_outcome"]
    if (record.get("finding") or {}).get("not_observed"):
        settled += "; its declared finding not observed here"
    return (f"{record['check_id']:<34} {record['outcome']:<13} effect {number_text(record['effect'], spec)} "
            f"{format_interval(record['effect_ci'], spec)} {deciding_p_text(record)} n={record['n']} ({settled})")


def tier_count(records: list[dict], tier: str) -> str:
    """'empirical claims (30): 20 supported, 6 refuted, 4 inconclusive; 10 declared findings (xfail)'."""
    chosen = [r for r in records if r["tier"] == tier]
    outcomes = EMPIRICAL_OUTCOMES if tier in STATISTICAL_TIERS else EXACT_OUTCOMES
    counts = ", ".join(f"{sum(r['outcome'] == o for r in chosen)} {'hold' if o == 'holds' else o}" for o in outcomes)
    findings = sum(r.get("test_outcome") == "xfailed" for r in chosen)
    failed = sum(r.get("test_outcome") == "failed" for r in chosen)
    tail = (f"; {findings} declared findings (xfail)" if findings else "") + (f"; {failed} failed" if failed else "")
    return f"{TIER_TITLES[tier]} ({len(chosen)}): {counts}{tail}"


def runs_line(runs: dict) -> str:
    """'runs: 12 trained, 30 from the cache'. Runs a cluster trained ahead of the tests (bnclaims.plan) reach
    the tests from the cache and are said apart: this session trained them."""
    trained, from_cache, ahead = runs.get("trained", 0), runs.get("from_cache", 0), runs.get("trained_ahead", 0)
    return (f"runs: {trained} trained, {from_cache} from the cache"
            + (f" ({ahead} of them trained ahead of the tests, from the last session's plan)" if ahead else
               " (every run a cache hit)" if trained == 0 and from_cache else ""))


def not_observed_lines(records: list[dict]) -> list[str]:
    """First in the summary: the declared findings this machine did not reproduce, in a user's words."""
    changed = [r for r in records if (r.get("finding") or {}).get("not_observed")]
    positives = [r for r in records if r["tier"] == "control" and r["outcome"] != "inconclusive"]
    lines = []
    if changed:
        lines += [f"declared findings not observed on this machine ({len(changed)}; reported, not failed: a run fails "
                  f"only where a check is worse than the catalogue expects, and under --claims-strict where a finding "
                  f"not declared near its level is not observed):",
                  *(f"  {r['check_id']}: declared {r['finding']['outcome']}, observed {r['outcome']}" for r in changed)]
    if positives:
        lines += [f"negative controls with a false positive ({len(positives)}; arms that differ only in their seeds, "
                  f"expected inconclusive; by chance at most their level, more often if something is wrong):",
                  *(f"  {r['check_id']}: {r['outcome']} (p={format_p(r['p_value'])}, mirror "
                    f"p={format_p(r['mirror_p_value'])})" for r in positives)]
    return lines


def advantage_lines(records: list[dict]) -> list[str]:
    """The answer first: each of the six advantages with its verdict and the checks that make it."""
    lines = ["the six advantages (the talk's Summary slide):"]
    for advantage, (own, related) in advantage_groups(records).items():
        lines.append(f"  {advantage} {ADVANTAGES[advantage]}: {readings_text(own, related)}")
        lines += [f"      {r['check_id']}: {r['outcome']}, effect {format_effect_interval(r)} {deciding_p_text(r)}"
                  for r in [*own, *tuned_records(related)]]
    return lines


def unexpected_lines(records: list[dict]) -> list[str]:
    """Then the checks whose outcome is not the catalogue's expectation, one sentence each."""
    unexpected = unexpected_records(records)
    if not unexpected:
        return []
    return [f"not as the catalogue expects ({len(unexpected)}; a run fails only where a check is worse than expected, "
            f"and under --claims-strict where a declared finding is not observed; a negative control is expected "
            f"inconclusive):",
            *(f"  {r['check_id']}: expected {expected_outcome(r)}, observed {r['outcome']} ({deciding_p_text(r)}, "
              f"n={r['n']})" for r in unexpected)]


def summary_lines(records: list[dict], *, every_check: bool = True) -> list[str]:
    """The terminal summary of a session's records: the six advantages, the checks not as the catalogue
    expects (declared findings not observed, controls' false positives), then counts per tier, each
    followed by one line per record when every_check."""
    ordered = sorted(records, key=record_order)
    empirical = [r for r in ordered if r["tier"] == "empirical"]
    controls = [r for r in ordered if r["tier"] == "control"]
    exact = [r for r in ordered if r["tier"] not in STATISTICAL_TIERS]
    lines = advantage_lines(ordered) if any(base_claim(r["claim_id"]) in ADVANTAGES for r in ordered) else []
    lines += normalizer_lines(ordered)
    lines += unexpected_lines(ordered)
    each = (lambda chosen: ["  " + summary_line(record) for record in chosen]) if every_check else (lambda _: [])
    if empirical:
        lines += [tier_count(ordered, "empirical"), *each(empirical)]
    if controls:
        lines += [tier_count(ordered, "control"), *each(controls)]
    if exact:
        lines.append(" | ".join(tier_count(ordered, tier) for tier in ("identity", "implementation")
                                if any(r["tier"] == tier for r in exact)))
        lines += each(exact)
    return lines


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def normalizer_markdown(records: list[dict]) -> list[str]:
    """The advantage x normalizer table as Markdown lines (none where no control ran)."""
    rows = normalizer_rows(records)
    if not rows:
        return []
    columns = ("batch", *CONTROL_NORMALIZERS)
    return ["", "| with another normalizer in BN's place | " + " | ".join(NORMALIZER_NAMES[n] for n in columns)
            + " | BN-specific? |", "|---" * (len(columns) + 2) + "|",
            *(f"| {row['row']} {_cell(row['words'])} | " + " | ".join(f"**{row['cells'][n]}**" for n in columns)
              + f" | {_cell(row['sentence'])} |" for row in rows)]


def markdown_summary(records: list[dict], *, title: str, runs_text: str = "") -> str:
    """The verdicts as Markdown, for a CI run's summary page: the six advantages in a table, the checks
    not as the catalogue expects, and the counts per tier."""
    lines = [f"## {title}", "", f"| advantage | {TALK_READING} | {TUNED_READING} | its checks: outcome, effect "
             f"[interval], deciding p |", "|---|---|---|---|"]
    for advantage, (own, related) in advantage_groups(records).items():
        checks = "<br>".join(f"{r['check_id']}: {r['outcome']}, {format_effect_interval(r)} {deciding_p_text(r)}"
                             for r in [*own, *tuned_records(related)]) or NOT_RUN
        talk, tuned = readings(own, related)
        lines.append(f"| {advantage} {_cell(ADVANTAGES[advantage])} | **{talk}** | **{tuned}** | {_cell(checks)} |")
    lines += normalizer_markdown(records)
    if unexpected := unexpected_records(records):
        lines += ["", f"**Not as the catalogue expects ({len(unexpected)}):**", ""]
        lines += [f"- {r['check_id']}: expected {expected_outcome(r)}, observed {r['outcome']} "
                  f"({deciding_p_text(r)}, n={r['n']})" for r in unexpected]
    tiers = [tier for tier in TIER_ORDER if any(r["tier"] == tier for r in records)]
    lines += ["", *(f"- {tier_count(records, tier)}" for tier in tiers)]
    if runs_text:
        lines.append(f"- {runs_text}")
    return "\n".join(lines) + "\n"
