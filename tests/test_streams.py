"""The random streams: one registry, every stream and seed its own entropy, and every draw of the
package made through it."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

from bnclaims import streams

ROOT = Path(__file__).resolve().parents[1]


def test_no_two_streams_coincide_for_any_seed_below_10000():
    pools = {tuple(streams.sequence(name, seed).generate_state(4)) for name in streams.STREAMS for seed in range(10_000)}
    assert len(pools) == len(streams.STREAMS) * 10_000
    entropies = {tuple(streams.entropy(name, seed)) for name in streams.STREAMS for seed in range(10_000)}
    assert len(entropies) == len(streams.STREAMS) * 10_000


def test_the_old_numbering_had_a_coincidence_the_registry_does_not():
    """Before the registry, seed 0's epoch orders ([seed, 2]) and seed 2's data split ([0, seed]) drew the
    same numbers."""
    assert np.array_equal(np.random.default_rng([0, 2]).permutation(50), np.random.default_rng([0, 2]).permutation(50))
    assert not np.array_equal(streams.generator("epoch_orders", 0).permutation(50),
                              streams.generator("per_seed_split", 2).permutation(50))


def test_an_unknown_stream_or_a_negative_seed_is_refused():
    with pytest.raises(KeyError, match="no random stream 'nope'"):
        streams.generator("nope")
    with pytest.raises(ValueError):
        streams.generator("epoch_orders", -1)


def test_the_package_draws_only_through_the_registry():
    """Run draws (data splits, orders, initial weights, probes) come from bnclaims.streams; the statistics
    modules' own simulation generators are seeded from their inputs and draw nothing a run uses, and the
    report's scatter jitter is drawing, not data."""
    simulations = {"stats.py", "calibration.py", "power.py", "streams.py", "plots.py"}
    offenders = []
    for path in sorted((ROOT / "bnclaims").rglob("*.py")):
        if path.name in simulations:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Attribute) and node.attr in ("default_rng", "SeedSequence", "RandomState"):
                offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert offenders == []
