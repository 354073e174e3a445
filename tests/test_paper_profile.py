"""The paper profile end to end, on a tiny stand-in for full MNIST (MNIST cannot be downloaded here).

The stand-in is a Keras-format mnist.npz written into a temporary KERAS_HOME, exactly where
keras.datasets.mnist.load_data() caches the real file, so the same loader and the talk's split are used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest

from test_plugin import run_pytest

CLAIM_MODULES = sorted(p.name for p in (Path(__file__).parents[1] / "claims").glob("test_*.py"))


def write_stand_in_mnist(folder: Path, n_train: int = 300, n_test: int = 100) -> Path:
    """Learnable 28x28 'digits': class c lights a 6x6 patch whose position depends on c, plus noise."""
    rng = np.random.default_rng(0)

    def images(n):
        labels = rng.integers(0, 10, n)
        x = rng.integers(0, 60, (n, 28, 28))
        for image, label in zip(x, labels):
            row, col = divmod(int(label), 5)
            image[4 + 12 * row: 10 + 12 * row, 2 + 5 * col: 8 + 5 * col] += 180
        return x.astype(np.uint8), labels.astype(np.uint8)

    (x_train, y_train), (x_test, y_test) = images(n_train), images(n_test)
    path = folder / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.mark.slow
def test_paper_profile_runs_every_claim_module_on_mnist_with_the_talks_split(tmp_path, monkeypatch):
    write_stand_in_mnist(tmp_path / "keras")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    # The stand-in's 240 training images at the paper budget would take 2,000 passes: ten are enough here.
    result = run_pytest("claims/", "-n", "2", "--claims-profile", "paper", "--claims-seeds", "2", "--claims-looks", "1",
                        "--claims-budget", "2400",
                        "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path / "reports"),
                        timeout=1500)
    assert ("claims: profile paper, dataset mnist, seeds 0-1 (n=2, up to 2 for an undecided paired check), budget "
            "2,400 examples per run") in result.stdout
    summary = result.stdout.strip().splitlines()[-1]
    assert " error" not in summary, result.stdout[-5000:]
    ledger = json.loads((tmp_path / "reports" / "claims.json").read_text())
    assert ledger["settings"]["profile"] == "paper" and ledger["settings"]["dataset"] == "mnist"
    assert ledger["settings"]["budget"]["passes"] == 10
    # Full-size datasets keep the talk's split: every run trains on the same one.
    assert {run["split"] for run in ledger["runs"]["each"]} == {
        "train 240 / validation 60 / test 100, in file order: validation is the last 20% of the training "
        "images, train the first 80%, test the test file"}
    modules = {record["nodeid"].split("::")[0].split("/")[-1] for record in ledger["records"]}
    assert modules == set(CLAIM_MODULES), "every claim module reached a verdict"
    # On a dataset the FINDINGS do not name, no check is excused: verdicts are passed or failed.
    assert {record["test_outcome"] for record in ledger["records"]} <= {"passed", "failed"}
    assert re.search(r"runs: \d+ trained, \d+ from the cache", result.stdout)
