"""The README in step with the code: its commands are the ones CI runs, its options table lists every
option the plugin adds (and no other), its claims table every claim module (and no other), and it types
no count of checks or runs that the code would have to keep true."""

from __future__ import annotations

import re

from conftest import ROOT, run_pytest

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readmes_test_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    for command in ("pytest claims/ -n auto", "pytest tests/ -n auto"):
        assert f"    {command}" in README and command in ci


def test_the_options_table_lists_every_option_of_the_plugin():
    help_text = run_pytest("--help").stdout
    options = set(re.findall(r"(--claims-[a-z-]+)", help_text))
    table = set(re.findall(r"^\| `(--claims-[a-z-]+)`", README, flags=re.M))
    assert len(options) >= 10 and table == options


def test_the_claims_table_has_a_row_for_every_claim_module():
    modules = {path.name for path in (ROOT / "claims").glob("test_*.py")}
    rows = set(re.findall(r"^\| `(test_[a-z0-9_]+\.py)` \|", README, flags=re.M))
    assert rows == modules


def test_the_readme_types_no_count_of_checks_or_runs():
    """Counts change with every claim and every design; the ledger and docs/measurements-*.md give them."""
    assert re.findall(r"\b\d[\d,]* (?:checks|runs|tests)\b", README) == []
    assert len(README.splitlines()) <= 200


def test_the_datasets_the_readme_and_the_profiles_name_are_the_registrys():
    from bnclaims.data import DATASETS, IDX_PREFIX
    from bnclaims.settings import PROFILES

    row = next(line for line in README.splitlines() if line.startswith("| `--claims-dataset`"))
    assert set(re.findall(r"`([a-z0-9_]+)`", row)) == set(DATASETS) and f"`{IDX_PREFIX}<folder>`" in row
    assert {profile.dataset for profile in PROFILES.values()} <= set(DATASETS)
