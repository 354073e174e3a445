"""The JSON ledger: every claim check's evidence from one session, for people and other tools.

Schema (version 2):
  {"schema": "bnclaims-ledger", "version": 2, "created": "2026-01-31T12:00:00+0000", "session": id,
   "settings": {profile, dataset, seeds, cache_mode}, "environment": {tensorflow, keras, numpy, backend},
   "runs": {"trained": int, "from_cache": int},
   "records": [Evidence.to_dict() + {"finding", "nodeid", "test_outcome"}, ...]}   empirical first, then by tier and check id
Each record carries:
  check_id ("A5.sigmoid"), claim_id ("A5"), tier ("empirical", "identity", "implementation"),
  statement, source, metric, test ("superiority", "non_inferiority", "equivalence", "measured"),
  expected (when the check is supported, in words), refuted_if (when it is refuted), threshold,
  threshold_reason, alpha, corrected_alpha, family, family_size (counted from the module's catalogue),
  method ("t", "sign_flip", or a measured check's test), min_seeds (the fewest seeds that can reach
  the corrected level; null where seeds do not apply), reachable, seeds, n, kind ("paired" or
  "measured"), effect, effect_ci, effect_ci_method, test_name, p_value, mirror_test_name,
  mirror_p_value, outcome ("supported" / "refuted" / "inconclusive" for empirical checks, "holds" /
  "fails" for the exact tiers), blocked_seeds, observed, details, rerun, notes,
  finding (null, or {outcome, datasets, profiles, reason} with the reason filled in from this run),
  test_outcome ("passed", "failed", "xfailed" for a declared finding as observed).
Paired records also carry arm_a / arm_b (name, seeds, values, run_keys, outcomes, talk_value, failures:
{count, n, rate, ci, excludes_above} or null for derived measures) and probability_of_improvement(_ci)
(Clopper-Pearson); in measured records these are null, p_value may be null, and observed / details
describe the measurement.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .cache import atomic_write_text
from .evidence import record_order
from .settings import Settings
from .spec import environment_fingerprint

LEDGER_NAME = "claims.json"
LEDGER_VERSION = 2


def write_ledger(path: Path, settings: Settings, records: list[dict], *, runs: dict) -> Path:
    document = {
        "schema": "bnclaims-ledger",
        "version": LEDGER_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "session": settings.session_id,
        "settings": {"profile": settings.profile, "dataset": settings.dataset,
                     "seeds": list(settings.seeds), "cache_mode": settings.cache_mode},
        "environment": environment_fingerprint(),
        "runs": runs,
        "records": sorted(records, key=record_order),
    }
    atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False))
    return path
