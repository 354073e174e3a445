"""The JSON ledger: every claim check's evidence from one session, and everything the report draws.

The ledger comes first: the pytest run writes it, then renders the HTML report from it, and
`python -m bnclaims.report claims.json` renders the same report later, anywhere, without a framework.

Schema (version 3; version 2 ledgers, without figures, are still read):
  {"schema": "bnclaims-ledger", "version": 3, "created": "2026-01-31T12:00:00+0000", "session": id,
   "settings": {profile, dataset, seeds, cache_mode, engine, reproduce (the command line that reruns the
                session), budget (the profile's training budget, e.g. {examples_seen, steps, passes};
                null where the settings do not state one)},
   "environment": {tensorflow, keras, numpy, jax, jaxlib, backend, device (where runs trained; absent
                   when no framework ran in the session)},
   "runs": {"trained": int, "from_cache": int, "each": [one entry per run the checks used: {key, label,
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
  test_outcome ("passed", "failed", "xfailed" for a declared finding as observed),
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


def write_ledger(path: Path, document: dict) -> Path:
    atomic_write_text(Path(path), json.dumps(document, indent=1, sort_keys=True, allow_nan=False))
    return Path(path)


def read_ledger(path: Path | str) -> dict:
    """A ledger from its file; LedgerError names the file and the problem."""
    path = Path(path)
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise LedgerError(f"{path}: cannot read a ledger: {error}") from None
    if not isinstance(document, dict) or document.get("schema") != LEDGER_SCHEMA:
        raise LedgerError(f"{path}: not a claims ledger (no \"schema\": \"{LEDGER_SCHEMA}\")")
    if document.get("version") not in READABLE_VERSIONS:
        raise LedgerError(f"{path}: ledger version {document.get('version')} is not one this version reads "
                          f"({', '.join(map(str, READABLE_VERSIONS))})")
    return document
