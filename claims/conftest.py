"""Fixtures the claim modules share (the suite's own fixtures, lab and verify among them, come from
bnclaims.pytest_plugin)."""

from __future__ import annotations

import pytest

from bnclaims import backend


@pytest.fixture(scope="session")
def keras(lab):
    """Keras for a module that calls layers itself, loaded after the lab fixture so that the framework's
    threads are capped before its first op."""
    _, keras = backend.load(lab.settings.threads)
    return keras
