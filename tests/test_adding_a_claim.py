"""docs/adding-a-claim.md's example module, copied from the page into a project and run on tiny data: the
guide's code is the code that runs, so the guide cannot drift from the plugin."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, run_pytest

GUIDE = ROOT / "docs" / "adding-a-claim.md"


def example_module() -> str:
    match = re.search(r"<!-- example module: begin -->\n```python\n(.*?)```\n<!-- example module: end -->",
                      GUIDE.read_text(encoding="utf-8"), flags=re.S)
    assert match, "the guide marks its example module"
    return match.group(1)


@pytest.mark.slow
def test_the_guides_module_collects_runs_and_reaches_the_ledger_and_the_report(tmp_path):
    assert "parametrize" not in example_module(), "the catalogue gives the check ids; the module types them once"
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "test_narrow_network.py").write_text(example_module())
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["bnclaims.pytest_plugin"]\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    options = ["claims/", "--claims-profile", "short", "--claims-dataset", "digits", "--claims-seeds", "5",
               "--claims-looks", "1", "--claims-budget", "4600", "--claims-cache", str(tmp_path / "cache")]
    collected = run_pytest(*options, "--collect-only", "-q", cwd=tmp_path)
    assert "claims/test_narrow_network.py::test_bn_helps_a_narrow_network[EX1.narrow_network]" in collected.stdout
    result = run_pytest(*options, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stdout + result.stderr    # a verdict either way, no error
    [record] = json.loads((tmp_path / "reports" / "claims.json").read_text())["records"]
    assert record["check_id"] == "EX1.narrow_network" and record["n"] == 5
    assert record["arm_a"]["name"] == "BN" and record["arm_b"]["name"] == "plain"
    assert record["outcome"] in ("supported", "refuted", "inconclusive")
    assert "EX1.narrow_network" in (tmp_path / "reports" / "claims.html").read_text()
