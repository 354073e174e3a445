"""The JSON ledger: every claim check's evidence from one session, for people and other tools.

Schema (version 1):
  {"schema": "bnclaims-ledger", "version": 1, "created": "2026-01-31T12:00:00+0000", "session": id,
   "settings": {profile, dataset, seeds, cache_mode}, "environment": {tensorflow, keras, numpy, backend},
   "runs": {"trained": int, "from_cache": int},
   "records": [Evidence.to_dict() + {"nodeid", "test_outcome"}, ...]}   sorted by claim id and check
Each record carries: claim_id, check, statement, source, metric, test, expected, threshold,
threshold_reason, alpha, corrected_alpha, family, family_size, seeds, n, kind ("paired" or
"measured"), effect, effect_ci, test_name, p_value, verdict ("supported" / "not supported"), rerun,
notes, observed, details, and test_outcome ("passed", "failed", "xfailed" for a known finding).
Paired records also carry arm_a / arm_b (name, values, run_keys, outcomes, talk_value),
probability_of_improvement(_ci) and sign_test_p; in measured records these are null, p_value may be
null, and observed / details describe the measurement.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from .cache import atomic_write_text
from .settings import Settings
from .spec import environment_fingerprint

LEDGER_NAME = "claims.json"
LEDGER_VERSION = 1


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
        "records": sorted(records, key=lambda r: (r["claim_id"], r["check"])),
    }
    atomic_write_text(path, json.dumps(document, indent=1, sort_keys=True, allow_nan=False))
    return path
