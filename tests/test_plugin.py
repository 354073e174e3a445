"""The pytest plugin end to end: options, header, progress lines, ledger, strict xfail, errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_pytest(*args: str, cwd: Path = ROOT, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_XDIST_WORKER_COUNT", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_talk_table_on_digits_writes_the_ledger_and_hits_the_cache_the_second_time(tmp_path):
    options = ["claims/test_talk_table.py", "--claims-dataset", "digits", "--claims-seeds", "3",
               "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path / "reports")]
    cold = run_pytest(*options)
    assert "claims: profile quick, dataset digits, seeds 0-2 (n=3)" in cold.stdout
    assert "reproduce with: pytest claims/ --claims-profile quick --claims-dataset digits --claims-seeds 0-2" in cold.stdout
    assert "trained in" in cold.stderr            # one progress line per run
    assert "runs: 24 trained, 0 from the cache" in cold.stdout
    ledger = json.loads((tmp_path / "reports" / "claims.json").read_text())
    assert ledger["version"] == 1 and ledger["settings"]["dataset"] == "digits"
    assert sorted(r["check"] for r in ledger["records"]) == sorted(
        ["convergence_speed", "big_learning_rate", "too_big_weights", "no_data_normalization"])
    assert all(len(r["arm_a"]["values"]) == 3 and r["nodeid"] for r in ledger["records"])

    warm = run_pytest(*options, "-n", "2")
    assert "runs: 0 trained, 24 from the cache (every run a cache hit)" in warm.stdout
    assert "cache hit" in warm.stderr and "trained in" not in warm.stderr
    assert "threads per worker 1" in warm.stdout
    # The verdicts do not depend on where the runs came from.
    assert json.loads((tmp_path / "reports" / "claims.json").read_text())["records"] == ledger["records"]


@pytest.mark.parametrize("option, fragment", [
    (["--claims-seeds", "1"], "--claims-seeds '1' must name at least 2"),
    (["--claims-profile", "slow"], "invalid choice: 'slow'"),
    (["--claims-cache-mode", "sometimes"], "invalid choice: 'sometimes'"),
])
def test_bad_options_stop_with_one_clear_line(option, fragment):
    result = run_pytest("claims/", "--collect-only", *option)
    assert result.returncode == pytest.ExitCode.USAGE_ERROR
    assert fragment in result.stderr


def test_missing_dataset_fails_every_claim_with_one_line(tmp_path):
    result = run_pytest("claims/test_talk_table.py", "--claims-dataset", f"idx:{tmp_path / 'none'}",
                        "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path))
    assert result.returncode == pytest.ExitCode.TESTS_FAILED
    assert "claims: idx folder" in result.stdout or "claims: " in result.stdout
    assert "Traceback" not in result.stdout
    assert not (tmp_path / "cache").exists(), "nothing was trained"


STRICT_XFAIL_MODULE = '''
import pytest
from bnclaims.evidence import Arm, Claim

CLAIM = Claim(id="Z9", statement="A beats B", source="test", metric="accuracy", test="superiority",
              threshold=0.0, threshold_reason="test")

FINDINGS = {"gap0.0": {"digits": "refuted: recorded evidence says A does not beat B"},
            "gap0.2": {"digits": "refuted: recorded evidence says A does not beat B"}}

@pytest.mark.parametrize("gap", [0.0, 0.2])
def test_refuted_claim(gap, verify):
    verify(CLAIM, f"gap{gap}", Arm("A", (0.5 + gap, 0.52 + gap, 0.49 + gap)), Arm("B", (0.5, 0.51, 0.5)))
'''


def test_refuted_claim_is_a_strict_xfail_and_a_holding_one_fails_loudly(tmp_path):
    (tmp_path / "claims").mkdir()
    (tmp_path / "claims" / "test_refuted.py").write_text(STRICT_XFAIL_MODULE)
    (tmp_path / "conftest.py").write_text('pytest_plugins = ["fixtures.plugin"]\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    result = run_pytest("claims/", "--claims-dataset", "digits", "--claims-seeds", "3",
                        "--claims-cache", str(tmp_path / "cache"), cwd=tmp_path)
    assert "1 failed, 1 xfailed" in result.stdout, result.stdout
    assert "XPASS(strict)" in result.stdout
    ledger = json.loads((tmp_path / "reports" / "claims.json").read_text())
    outcomes = {r["check"]: (r["verdict"], r["test_outcome"]) for r in ledger["records"]}
    assert outcomes == {"gap0.0": ("not supported", "xfailed"), "gap0.2": ("supported", "failed")}
