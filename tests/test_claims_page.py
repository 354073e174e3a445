"""docs/claims.md is generated from the catalogues (bnclaims.claims_page) and kept in step with them."""

from __future__ import annotations

from bnclaims.claims_page import page
from conftest import ROOT


def test_the_claims_page_is_what_the_catalogues_generate():
    committed = (ROOT / "docs" / "claims.md").read_text(encoding="utf-8")
    assert committed == page(), "regenerate it: python -m bnclaims.claims_page > docs/claims.md"


def test_the_page_lists_every_check_with_its_threshold_reason(tmp_path):
    (tmp_path / "test_one.py").write_text(
        '"""Z1: a claim.\n\nMore."""\n'
        "from bnclaims.catalogue import Claim, Finding, declare\n"
        'CHECKS = declare({"test_a": {"Z1.a": Claim(statement="a beats b", source="s", metric="m", '
        'test="superiority", threshold=0.0, threshold_reason="any gain")}})\n'
        'FINDINGS = {"Z1.a": Finding(outcome="refuted", datasets=("digits",), profiles=("short",), reason="r")}\n')
    text = page(tmp_path)
    assert "## `test_one.py`\n\nZ1: a claim.\n" in text
    assert "### `Z1.a`\n\nA beats b.\n" in text and "- **threshold**: 0: any gain" in text
    assert "- **declared finding** (digits / short): refuted" in text
