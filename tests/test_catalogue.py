"""The catalogue of claim checks, read from the claim modules without training anything.

Every check id is unique, greppable in its module's source, and the id of exactly one collected test;
families are consistent; every finding names a known check, dataset, profile and reason field.
"""

from __future__ import annotations

import re
from collections import defaultdict

import pytest

from bnclaims.catalogue import CHECK_ID_PATTERN, Check, validate_findings
from bnclaims.formatting import bn_check
from bnclaims.settings import PROFILES
from bnclaims.spec import ENGINES
from conftest import CLAIMS, load_claim_module
from bnclaims.pytest_plugin import KNOWN_DATASETS
from test_plugin import run_pytest

MODULE_PATHS = sorted(CLAIMS.glob("test_*.py"))
MODULES = {path.name: load_claim_module(path.stem, f"catalogue_{path.stem}") for path in MODULE_PATHS}


def all_checks() -> dict[str, tuple[str, Check]]:
    checks = {}
    for name, module in MODULES.items():
        for check_id, check in module.CHECKS.items():
            assert check_id not in checks, f"{check_id} is declared in {checks.get(check_id, ('?',))[0]} and {name}"
            checks[check_id] = (name, check)
    return checks


def test_every_claim_module_declares_its_checks():
    assert MODULES, "claim modules found"
    for name, module in MODULES.items():
        assert isinstance(module.CHECKS, dict) and module.CHECKS, name
        assert all(isinstance(check, Check) for check in module.CHECKS.values()), name


def test_check_ids_are_unique_well_formed_and_greppable():
    checks = all_checks()
    for check_id, (name, check) in checks.items():
        assert CHECK_ID_PATTERN.match(check_id) and check.id == check_id
        # Written out in full in the module (no ids built from enumerate or f-strings); a normalizer control
        # is its BN check's id with the normalizer's label (bnclaims.catalogue.with_normalizer_controls).
        assert f'"{bn_check(check_id)}"' in (CLAIMS / name).read_text(), f"{check_id} is not written out in {name}"


def test_families_are_sized_from_the_catalogue_and_stay_inside_one_module():
    members = defaultdict(list)
    for check_id, (name, check) in all_checks().items():
        members[check.family].append((name, check))
    for family, entries in members.items():
        modules = {name for name, _ in entries}
        assert len(modules) == 1, f"family {family!r} spans {sorted(modules)}"
        assert {check.family_size for _, check in entries} == {len(entries)}, family
        assert len({(check.tier, check.claim.alpha) for _, check in entries}) == 1, f"{family}: mixed tier or alpha"


def test_findings_name_known_checks_datasets_profiles_and_fields():
    for name, module in MODULES.items():
        validate_findings(getattr(module, "FINDINGS", {}), module.CHECKS, datasets=KNOWN_DATASETS,
                          profiles=PROFILES, engines=ENGINES)


def test_every_tier_is_represented_and_exact_tiers_are_not_statistical():
    tiers = defaultdict(int)
    for module_name, check in all_checks().values():
        tiers[check.tier] += 1
        if check.tier in ("identity", "implementation"):
            assert check.claim.test == "measured", check.id
        if check.tier == "control":
            assert check.claim.test != "measured" and not getattr(MODULES[module_name], "FINDINGS", {}).get(check.id)
    assert set(tiers) == {"empirical", "control", "identity", "implementation"}


def test_collect_only_lists_every_check_as_its_test_id():
    result = run_pytest("claims/", "--collect-only", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    collected = re.findall(r"^claims/(test_\w+\.py)::(\w+)\[([^\]]+)\]$", result.stdout, flags=re.MULTILINE)
    assert sorted(check_id for _, _, check_id in collected) == sorted(all_checks())
    # Each check is collected from its module, as the test its catalogue group names, in declaration order.
    assert all(all_checks()[check_id][0] == module and all_checks()[check_id][1].test_function == test
               for module, test, check_id in collected)
    for name, module in MODULES.items():
        in_module = [(test, check_id) for module_name, test, check_id in collected if module_name == name]
        for test in {check.test_function for check in module.CHECKS.values()}:
            assert [c for t, c in in_module if t == test] == [c for c, check in module.CHECKS.items()
                                                             if check.test_function == test], (name, test)


@pytest.mark.parametrize("check_id", ["A2.steps_to_target", "A1.lr_sweep", "N2.raw_vs_scaled_inputs"])
def test_quantized_metrics_use_the_exact_test_and_say_how_many_seeds_they_need(check_id):
    _, check = all_checks()[check_id]
    assert check.claim.exact_test and check.claim.method == "sign"
    assert 2.0 ** -check.min_seeds <= check.corrected_alpha < 2.0 ** -(check.min_seeds - 1)
