"""docs/claims.md, generated from the claim modules' catalogues: every check's statement, source, metric,
test, threshold with its reason, tier and family, and the findings declared for it, under its module's
methods section (the first paragraph of its docstring). The catalogues are the one declaration; this
page is never edited by hand (tests/test_claims_page.py compares it with what this module writes).

    python -m bnclaims.claims_page > docs/claims.md
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

from .catalogue import Check, findings_of

ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "claims"
TESTS = {"superiority": "superiority (A − B above the threshold)",
         "non_inferiority": "non-inferiority (A − B above minus the margin)",
         "equivalence": "equivalence (A − B within the margin)", "measured": "measured"}


def load_module(path: Path):
    """A claim module by its path (claims/ is not a package): its catalogue and findings as declared."""
    spec = importlib.util.spec_from_file_location(f"bnclaims_claims_page.{path.stem}", path)
    module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)   # dataclasses look it up there
    spec.loader.exec_module(module)
    return module


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n", 1)[0].split())


def _check_lines(check: Check, declared) -> list[str]:
    claim = check.claim
    threshold = f"{claim.threshold:g}"
    lines = [f"### `{check.id}`", "", claim.statement[:1].upper() + claim.statement[1:] + ".", "",
             f"- **source**: {claim.source}",
             f"- **metric**: {claim.metric}",
             f"- **test**: {TESTS.get(claim.test, claim.test)}; tier {claim.tier}; alpha {claim.alpha:g}"
             + (f", family '{check.family}' of {check.family_size} (Holm's step-down)" if check.family_size > 1 else ""),
             f"- **threshold**: {threshold}: {claim.threshold_reason}"]
    if claim.criterion:
        lines.append(f"- **criterion**: {claim.criterion}")
    for finding in findings_of(declared) if declared else ():
        where = f"{', '.join(finding.datasets)} / {', '.join(finding.profiles)}"
        engines = f" / {', '.join(finding.engines)}" if finding.engines else ""
        near = ", near its level" if finding.near_level else ""
        lines.append(f"- **declared finding** ({where}{engines}{near}): {finding.outcome}")
    return [*lines, ""]


def page(claims: Path = CLAIMS) -> str:
    lines = ["# The claims and their checks", "",
             "Generated from each module's `CHECKS` and `FINDINGS` by `python -m bnclaims.claims_page > "
             "docs/claims.md`; the module's docstring is its full methods section. How an outcome is reached: "
             "[statistics.md](statistics.md). Declared findings' reasons are filled in from each run's evidence "
             "(the ledger and the report).", ""]
    for path in sorted(claims.glob("test_*.py")):
        module = load_module(path)
        checks = getattr(module, "CHECKS", None)
        if not isinstance(checks, dict):
            continue
        findings = getattr(module, "FINDINGS", {})
        lines += [f"## `{path.name}`", "", _first_paragraph(module.__doc__), ""]
        for check in checks.values():
            lines += _check_lines(check, findings.get(check.id))
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    sys.stdout.write(page())
    return 0


if __name__ == "__main__":
    sys.exit(main())
