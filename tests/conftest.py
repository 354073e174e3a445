"""Shared helpers for the engine's own tests."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bnclaims import backend
from bnclaims.results import RunResult
from bnclaims.spec import RunSpec, environment_fingerprint


def make_result(spec: RunSpec, accuracy: float = 0.9) -> RunResult:
    """A hand-made RunResult (no training) with the shape the engine writes."""
    per_epoch = [0.5] * spec.epochs
    return RunResult(
        spec=spec, key=spec.key(),
        history={name: list(per_epoch) for name in ("train_loss", "train_accuracy", "val_loss", "val_accuracy")},
        test_loss=0.3, test_accuracy=accuracy, prediction_histogram=[10] * 10,
        collapsed=False, diverged=False, epochs_completed=spec.epochs, wall_seconds=0.01,
        environment=environment_fingerprint(),
    )


ROOT = Path(__file__).resolve().parents[1]
CLAIMS = ROOT / "claims"
# The browser check's report: a pytest these tests start must write and read its own.
REPORT_ENV = "BNCLAIMS_REPORT_HTML"


def run_pytest(*args: str, cwd: Path = ROOT, timeout: int = 600, ci: bool | None = None) -> subprocess.CompletedProcess:
    """pytest in a subprocess, outside this session's xdist worker. ci: True or False sets or clears CI,
    under which pytest prints its short summary untruncated; None leaves the environment's."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", REPORT_ENV):
        env.pop(name, None)
    if ci is not None:
        env.pop("CI", None)
        env.pop("BUILD_NUMBER", None)
        if ci:
            env["CI"] = "true"
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def run_python(code: str, *, unset: tuple[str, ...] = (), timeout: int = 300) -> str:
    """The last line `code` prints, run by a fresh Python with the project on its path (for what a process
    imports or configures at start-up, which this session's process has already done); fails the test with
    its stderr if it exits non-zero. unset: environment variables to leave out."""
    env = {name: value for name, value in os.environ.items() if name not in unset}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**env, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout.strip().splitlines()[-1]


def load_claim_module(name: str, alias: str):
    """A claim module from claims/ (not a package), imported by file under a private name without pytest
    collecting it twice. Only for tests of the module's own declarations (its CHECKS, FINDINGS, the
    thresholds and per-check data they name) or of its check's criterion against a placebo; the design
    rules a claim module applies live in bnclaims.designs and are imported from there."""
    spec = importlib.util.spec_from_file_location(alias, CLAIMS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[alias] = module          # dataclasses look their module up while it runs
    spec.loader.exec_module(module)
    return module


def load_benchmark(name: str):
    """A script from benchmarks/ (not a package), imported once per process by file under its own name."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module       # dataclasses look their module up while it runs
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture
def result_factory():
    return make_result


@pytest.fixture(scope="module")
def engine():
    """The compiled engine's module, in a worker that runs Keras on JAX (skipped in one that runs TensorFlow)."""
    backend.load(threads=1)
    if backend.loaded_name() != "jax":
        pytest.skip("this worker runs Keras on TensorFlow; the compiled engine is tested where it runs JAX")
    from bnclaims.engines import compiled as engine

    return engine


@pytest.fixture
def fresh_cache():
    """Clear load_dataset's memo before and after, so stand-in data never leaks."""
    from bnclaims.data import load_dataset

    load_dataset.cache_clear()
    yield
    load_dataset.cache_clear()
