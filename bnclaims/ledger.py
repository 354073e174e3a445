"""The JSON ledger: every claim check's evidence from one session, and everything the report draws.

The ledger comes first: the pytest run writes it, then renders the HTML report from it, and
`python -m bnclaims.report claims.json` renders the same report later, anywhere, without a framework.

Schema (version 3; version 2 ledgers, without figures, are still read):
  {"schema": "bnclaims-ledger", "version": 3, "created": "2026-01-31T12:00:00+0000", "session": id,
   "settings": {profile, dataset, seeds, cache_mode, engine, reproduce (the command line that reruns the
                session), budget (the profile's training budget, e.g. {examples_seen, steps, passes};
                null where the settings do not state one)},
   "environment": {tensorflow, keras, numpy, jax, jaxlib, backend, device (where runs trained; absent
                   when no framework ran in the session), git_commit ("+modified" where the work tree
                   differed), python, scipy, statsmodels, cpu (model, maker's numbers, vector sets),
                   xla_flags},
   "merged": {kept, sessions, ran, session} (only where records of checks this session did not run
             were kept from the previous ledger of the same settings: how many, from which sessions),
   "interrupted": true (only in claims.interrupted.json, what an interrupted session finished),
   "runs": {"trained": int, "from_cache": int, "trained_ahead" (only on a cluster with a plan: how many of the
            runs from the cache this session trained ahead of the tests; bnclaims.plan),
            "each": [one entry per run the checks used: {key, label,
            seed, outcome, test_accuracy, examples_seen, steps, split (the train/validation/test split it
            trained on, in words: per seed on mnist5k)}]},
   "records": [Evidence.to_dict() + {"finding", "nodeid", "test_outcome", "figures"}, ...]}
                   empirical first, then by tier and check id
Each record carries:
  check_id ("A5.sigmoid"), claim_id ("A5"), tier ("empirical", "identity", "implementation"),
  statement, source, metric, test ("superiority", "non_inferiority", "equivalence", "measured"),
  expected (when the check is supported, in words), refuted_if (when it is refuted), threshold,
  threshold_reason, alpha, corrected_alpha, family, family_size (counted from the module's catalogue),
  method ("sign", "t", "sign_flip", or a measured check's test), min_seeds (the fewest seeds that can reach
  the corrected level; null where seeds do not apply), reachable, seeds, n, kind ("paired" or
  "measured"), effect, effect_ci (an unbounded side is null), effect_ci_method, test_name, p_value,
  mirror_test_name, mirror_p_value, outcome ("supported" / "refuted" / "inconclusive" for empirical
  checks, "holds" / "fails" for the exact tiers), blocked_seeds, observed, details, rerun, notes,
  holm (paired records: the family's step-down, {family, alpha, size, members: {check id: [claim p,
  mirror p] over the design's looks}, rank, level, p_value (Holm-adjusted), mirror_rank, mirror_level,
  mirror_p_value, bonferroni_outcome, outcome}),
  finding (null, or {outcome, datasets, profiles, reason} with the reason filled in from this run),
  test_outcome ("passed", "failed", "xfailed" for a declared finding as observed), session (the
  session that made the record: this one, or an earlier one for a record kept by a partial rerun),
  figures (the plot data the check's test attached, as bnclaims.figures builds it: a list of
  {"kind": "curves" | "sweep" | "loglog" | "paired" | "table", "title", "claim_id", ...}; non-finite
  numbers, such as the epochs after a run diverged, are null).
  A record may also carry "budget" (the training budget of its own runs, where it differs from the
  profile's), in the settings' form.
Paired records also carry arm_a / arm_b (name, seeds, values, run_keys, outcomes, talk_value, failures:
{count, n, rate, ci, excludes_above} or null for derived measures) and probability_of_improvement(_ci)
(Clopper-Pearson); in measured records these are null, p_value may be null, and observed / details
describe the measurement.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

from .cache import atomic_write_text
from .formatting import record_order

LEDGER_NAME = "claims.json"
INTERRUPTED_LEDGER_NAME = "claims.interrupted.json"   # beside the ledger: what an interrupted session finished
LEDGER_SCHEMA = "bnclaims-ledger"
LEDGER_VERSION = 3
READABLE_VERSIONS = (2, 3)


class LedgerError(ValueError):
    """A file that is not a ledger this version can read; the message says which and why."""


def json_safe(value):
    """Plain JSON: non-finite floats become null (JSON has no NaN or infinity), tuples become lists."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    if hasattr(value, "item") and callable(value.item):      # numpy scalars
        return json_safe(value.item())
    return value


def finding_entry(finding, reason: str) -> dict | None:
    """The ledger's view of a declared finding; reason as filled in from this run when it was observed."""
    if finding is None:
        return None
    return {"outcome": finding.outcome, "datasets": list(finding.datasets), "profiles": list(finding.profiles),
            "near_level": finding.near_level, "reason": reason}


def _plain(value):
    if value is None:
        return None
    if callable(value):
        value = value()
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    return json_safe(value)


def settings_entry(settings) -> dict:
    """What a ledger states about the settings: enough to label, compare and rerun the session."""
    from .settings import PROFILES

    budget = getattr(settings, "budget", None)
    if budget is None:
        budget = getattr(PROFILES.get(settings.profile), "budget", None)
    return {"profile": settings.profile, "dataset": settings.dataset, "seeds": list(settings.seeds),
            "cache_mode": settings.cache_mode, "engine": getattr(settings, "engine", None),
            "reproduce": settings.rerun_command(), "budget": _plain(budget),
            # The sequential design: an undecided paired check may use up to looks x len(seeds) seeds.
            "looks": getattr(settings, "looks", 1), "strict": getattr(settings, "strict", False)}


def ledger_document(settings, records: list[dict], *, runs: dict, environment: dict) -> dict:
    return {
        "schema": LEDGER_SCHEMA,
        "version": LEDGER_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "session": settings.session_id,
        "settings": settings_entry(settings),
        "environment": dict(environment),
        "runs": dict(runs),
        "records": json_safe(sorted(records, key=record_order)),
    }


def merge_previous(document: dict, previous: dict, present=lambda nodeid: True) -> dict:
    """This session's ledger with the records of checks it did not run taken from the previous ledger of
    the same settings (each record names the session that made it), where present(nodeid) says the
    check's test still exists. The header's "merged" says how many records were kept and from which
    sessions; runs the kept records used stay in runs.each."""
    ran = {record["check_id"] for record in document["records"]}
    kept = [{**record, "session": record.get("session") or previous.get("session", "")}
            for record in previous.get("records", [])
            if record["check_id"] not in ran and present(record.get("nodeid", ""))]
    if not kept:
        return document
    merged = dict(document)
    merged["records"] = json_safe(sorted([*document["records"], *kept], key=record_order))
    sessions = sorted({record["session"] for record in kept})
    merged["merged"] = {"kept": len(kept), "sessions": sessions,
                        "ran": len(document["records"]), "session": document["session"]}
    runs = dict(document.get("runs", {}))
    each = {run["key"]: run for run in previous.get("runs", {}).get("each", []) if "key" in run}
    each.update({run["key"]: run for run in runs.get("each", []) if "key" in run})
    runs["each"] = sorted(each.values(), key=lambda run: (str(run.get("label")), run.get("seed") or 0))
    merged["runs"] = runs
    return merged


def write_ledger(path: Path, document: dict) -> Path:
    atomic_write_text(Path(path), json.dumps(document, indent=1, sort_keys=True, allow_nan=False))
    return Path(path)


def read_ledger(path: Path | str, *, header: bool = True, record_check=None) -> dict:
    """A ledger from its file; LedgerError names the file and the problem. header: require the schema and
    version header. record_check: what a record must hold (record_problem, what the report and the
    comparison read, unless a tool that reads less names its own)."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError) as error:   # RecursionError: brackets nested past the parser
        raise LedgerError(f"{path}: cannot read a ledger: {_short(error, 160)}") from None
    if not isinstance(document, dict) or (header and document.get("schema") != LEDGER_SCHEMA):
        raise LedgerError(f"{path}: not a claims ledger (no \"schema\": \"{LEDGER_SCHEMA}\")")
    if header and document.get("version") not in READABLE_VERSIONS:
        raise LedgerError(f"{path}: ledger version {_short(document.get('version'))} is not one this version "
                          f"reads ({', '.join(map(str, READABLE_VERSIONS))})")
    problem = ledger_problem(document, record_check or record_problem)
    if problem:
        raise LedgerError(f"{path}: malformed ledger: {problem}")
    return document


# What the ledger tools (the report, the comparison, bnclaims.power) index without looking first, and what
# each must be: a ledger without it is refused by read_ledger in one line instead of failing deep inside a
# page. Fields the tools read with a default may be absent; where present they must have their type.
def _text(value) -> bool:
    return isinstance(value, str)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _optional_number(value) -> bool:
    return value is None or _number(value)


def _count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _values(value) -> bool:
    return isinstance(value, list) and all(_optional_number(item) for item in value)


def _interval(value) -> bool:
    return value is None or (isinstance(value, list) and len(value) == 2 and _values(value))


def _optional_dict(value) -> bool:
    return value is None or isinstance(value, dict)


def _figures(value) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) and _text(item.get("kind")) for item in value)


def _counts(value) -> bool:
    return isinstance(value, list) and all(map(_count, value))


def _tuning(value) -> bool:
    """A tuned twin's choices: per arm, a chosen rate from its grid, whether interior, and tuning seeds
    disjoint from the test seeds (bnclaims.tuning.Tuning.to_dict)."""
    if value is None:
        return True
    if not isinstance(value, dict) or not value:
        return False
    for arm in value.values():
        if not (isinstance(arm, dict) and isinstance(arm.get("grid"), list) and arm.get("chosen_rate") in arm["grid"]
                and isinstance(arm.get("interior"), bool) and _counts(arm.get("tuning_seeds"))
                and _counts(arm.get("test_seeds")) and not set(arm["tuning_seeds"]) & set(arm["test_seeds"])):
            return False
    return True


def _texts(value) -> bool:
    return isinstance(value, list) and all(map(_text, value))


_A_STRING, _A_NUMBER = (_text, "a string"), (_number, "a number")
_NUMBER_OR_NULL, _INTERVAL = (_optional_number, "a number or null"), (_interval, "[low, high] or null")
_OBJECT_OR_NULL = (_optional_dict, "an object or null")
# The evidence text (bnclaims.formatting.failure_text) the report shows for every check reads most of these.
RECORD_FIELDS = {"check_id": _A_STRING, "claim_id": _A_STRING, "tier": _A_STRING,
                 "kind": (lambda value: value in ("paired", "measured"), '"paired" or "measured"'),
                 "outcome": _A_STRING, "statement": _A_STRING, "source": _A_STRING, "metric": _A_STRING,
                 "expected": _A_STRING, "refuted_if": _A_STRING, "observed": _A_STRING, "n": (_count, "a count"),
                 "seeds": (_counts, "a list of seed numbers"), "threshold": _A_NUMBER, "corrected_alpha": _A_NUMBER,
                 "effect": _NUMBER_OR_NULL, "effect_ci": (lambda value: value is not None and _interval(value),
                                                          "[low, high]"), "effect_ci_method": _A_STRING,
                 "p_value": _NUMBER_OR_NULL, "test_name": _A_STRING, "mirror_p_value": _NUMBER_OR_NULL,
                 "mirror_test_name": _A_STRING}
OPTIONAL_RECORD_FIELDS = {
    "method": _A_STRING, "test": _A_STRING, "test_outcome": _A_STRING, "stop_reason": _A_STRING,
    "probability_of_improvement": _NUMBER_OR_NULL, "probability_of_improvement_ci": _INTERVAL,
    "look": (_count, "a count"), "looks": (_counts, "a list of seed counts"), "look_alpha": _NUMBER_OR_NULL,
    "blocked_seeds": (_counts, "a list of seed numbers"), "notes": (_texts, "a list of strings"),
    "finding": _OBJECT_OR_NULL, "holm": _OBJECT_OR_NULL, "failure_part": _OBJECT_OR_NULL,
    "trained_part": _OBJECT_OR_NULL, "arm_a": _OBJECT_OR_NULL, "arm_b": _OBJECT_OR_NULL,
    "figures": (_figures, "a list of objects with a kind"),
    "tuning": (_tuning, "null or, per arm, a chosen rate from its grid, interior or not, and tuning seeds disjoint "
                        "from the test seeds")}
PAIRED_FIELDS = {"arm_a": (lambda value: isinstance(value, dict), "an object"),
                 "arm_b": (lambda value: isinstance(value, dict), "an object"),
                 "probability_of_improvement_ci": _INTERVAL, "method": _A_STRING, "test": _A_STRING}
# A measured record's effect is its measurement: the page prints it.
MEASURED_FIELDS = {"effect": _A_NUMBER}
ARM_FIELDS = {"name": _A_STRING, "values": (_values, "a list of numbers")}
OPTIONAL_ARM_FIELDS = {"talk_value": _NUMBER_OR_NULL, "trained_mean": _NUMBER_OR_NULL, "failures": _OBJECT_OR_NULL}
SECTIONS = ("settings", "environment", "runs")


def _short(value, limit: int = 60) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _field_problem(data: dict, required: dict, optional: dict) -> str | None:
    """'<field> is <what it is>, expected <what it must be>' for the first field that fails, else None."""
    for name, (fits, expected) in required.items():
        if name not in data:
            return f"{name} is missing"
        if not fits(data[name]):
            return f"{name} is {_short(json.dumps(data[name]))}, expected {expected}"
    for name, (fits, expected) in optional.items():
        if name in data and not fits(data[name]):
            return f"{name} is {_short(json.dumps(data[name]))}, expected {expected}"
    return None


def _arms_problem(record: dict, arm_fields: dict, optional: dict) -> str | None:
    for side in ("arm_a", "arm_b"):
        problem = _field_problem(record[side], arm_fields, optional)
        if problem:
            return f"{side}: {problem}"
    if len(record["arm_a"]["values"]) != len(record["arm_b"]["values"]):
        return (f"arm_a has {len(record['arm_a']['values'])} values and arm_b {len(record['arm_b']['values'])}, "
                f"expected one per seed in each")
    return None


def record_problem(record) -> str | None:
    """What is wrong with one ledger record for the report and the comparison, or None."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    problem = _field_problem(record, RECORD_FIELDS, OPTIONAL_RECORD_FIELDS)
    if problem:
        return problem
    if record.get("looks") and "look" not in record:
        return "look is missing (the record has looks)"
    if record.get("probability_of_improvement") is not None and record.get("probability_of_improvement_ci") is None:
        return "probability_of_improvement_ci is missing (the record has a probability of improvement)"
    if record["kind"] == "measured":
        problem = _field_problem(record, MEASURED_FIELDS, {})
        arms = [side for side in ("arm_a", "arm_b") if isinstance(record.get(side), dict)]
        return problem or next(filter(None, (_side_problem(record, side) for side in arms)), None)
    return _field_problem(record, PAIRED_FIELDS, {}) or _arms_problem(record, ARM_FIELDS, OPTIONAL_ARM_FIELDS)


def _side_problem(record: dict, side: str) -> str | None:
    problem = _field_problem(record[side], ARM_FIELDS, OPTIONAL_ARM_FIELDS)
    return f"{side}: {problem}" if problem else None


POWER_FIELDS = {"check_id": _A_STRING, "tier": _A_STRING, "kind": _A_STRING}
POWER_PAIRED_FIELDS = {name: PAIRED_FIELDS[name] for name in ("arm_a", "arm_b", "method", "test")} | {
    "threshold": _A_NUMBER, "corrected_alpha": _A_NUMBER}
# bnclaims.power subtracts the arms' values: a null (a NaN written by json_safe) has no difference.
POWER_ARM_FIELDS = {"values": (lambda value: isinstance(value, list) and all(map(_number, value)),
                               "a list of numbers")}


def power_record_problem(record) -> str | None:
    """What is wrong with one ledger record for bnclaims.power, which reads empirical paired records only."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    problem = _field_problem(record, POWER_FIELDS, {})
    if problem or record["tier"] != "empirical" or record["kind"] != "paired":
        return problem
    return (_field_problem(record, POWER_PAIRED_FIELDS, {})
            or _arms_problem(record, POWER_ARM_FIELDS, {}))


def ledger_problem(document: dict, record_check=record_problem) -> str | None:
    """What is wrong with a ledger's sections and records for the tools that read them, or None."""
    for name in SECTIONS:
        if name in document and not isinstance(document[name], dict):
            return f"{name} is a JSON {type(document[name]).__name__}, expected an object"
    records = document.get("records")
    if not isinstance(records, list):
        return f"records is {'missing' if records is None else 'a JSON ' + type(records).__name__}, expected a list"
    for position, record in enumerate(records):
        problem = record_check(record)
        if problem:
            name = record.get("check_id") if isinstance(record, dict) else None
            return f"record {position}{f' ({_short(name)})' if isinstance(name, str) else ''}: {problem}"
    return None
