"""bnclaims as an installed package: its wheel carries the report's templates and the pytest plugin's
entry points, and an installed copy collects the clone's claims from another folder, the plugin loaded
once although the clone's conftest.py names it too."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT, run_pytest


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> str:
    """The package installed (no dependencies: this environment has them) into a folder of its own."""
    target = tmp_path_factory.mktemp("site")
    # Built from a copy: a build writes its egg-info and build/ folders into the source it is given.
    source = tmp_path_factory.mktemp("source")
    for name in ("pyproject.toml", "README.md", "LICENSE", "requirements-common.txt", "requirements-cpu.txt"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "bnclaims", source / "bnclaims", ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(target),
                           str(source)], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        pytest.skip(f"pip could not build the package here (its build needs setuptools from the package index): {last}")
    return str(target)


def test_the_wheel_holds_the_templates_and_registers_the_plugin(installed):
    from pathlib import Path

    site = Path(installed)
    assert (site / "bnclaims" / "report" / "templates" / "report.html.j2").is_file()
    entry_points = next(site.glob("bnclaims-*.dist-info")) / "entry_points.txt"
    assert entry_points.read_text().split() == ["[pytest11]", "bnclaims.pytest_html_page", "=", "bnclaims.pytest_html_page",
                                                "bnclaims.pytest_plugin", "=", "bnclaims.pytest_plugin"]
    names = (ROOT / "conftest.py").read_text()
    assert '"bnclaims.pytest_plugin"' in names and '"bnclaims.pytest_html_page"' in names   # the same names


def test_an_installed_copy_collects_every_check_from_another_folder(installed, tmp_path):
    from_clone = run_pytest("claims/", "--collect-only", "-q")
    env = {**os.environ, "PYTHONPATH": installed}
    env.pop("PYTEST_XDIST_WORKER", None)
    elsewhere = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "--collect-only", "-q",
                                str(ROOT / "claims")], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert elsewhere.returncode == 0, elsewhere.stdout + elsewhere.stderr
    checks = [line.split("::", 1)[1] for line in from_clone.stdout.splitlines() if "::" in line]
    assert len(checks) >= 60
    assert [line.split("::", 1)[1] for line in elsewhere.stdout.splitlines() if "::" in line] == checks


def test_another_projects_session_is_left_alone(installed, tmp_path):
    """Installed, the plugin is loaded by every pytest of the environment: a project without claims gets
    no folder probed, no report and no claims output."""
    (tmp_path / "test_other.py").write_text("def test_other():\n    assert True\n")
    env = {**os.environ, "PYTHONPATH": installed}
    env.pop("PYTEST_XDIST_WORKER", None)
    done = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0 and "1 passed" in done.stdout, done.stdout + done.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["test_other.py"]
    assert "claims:" not in done.stdout and "claims progress" not in done.stdout and " claims " not in done.stdout
