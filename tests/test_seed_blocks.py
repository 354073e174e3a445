"""Seed blocks: the compiled engine trains seeds in canonical blocks of B (RunContext.seed_block), one
vmapped program a block. A seed's result depends on its spec and its block alone, whichever seeds were
asked for; B is in the run key only where it is not 1, and B = 1 trains and keys as one seed a program."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math

import numpy as np
import pytest

from bnclaims import backend, runner
from bnclaims.data import load_dataset, split_for_run
from bnclaims.spec import KEY_VERSION, RunContext, RunSpec, SpecError, run_key

TINY = RunSpec(dataset="digits", hidden=(32, 16), epochs=2, batch_size=64, learning_rate=0.1)
CONTEXT = RunContext(engine="compiled", backend="jax", platform="cpu:a CPU", data="a" * 64)


def outcome(result) -> dict:
    """Everything a run records except how long it took (and how much of that went to compiling)."""
    data = result.to_json_dict()
    data.pop("wall_seconds")
    data.pop("compile_seconds")
    return data


# ---------------------------------------------------------------------------------------- keys

def test_a_block_of_one_keeps_the_keys_runs_had_before_blocks():
    spec = RunSpec(seed=3)
    described = CONTEXT.describe()
    assert "seed_block" not in described
    payload = json.dumps({"spec": spec.changed_fields(), "context": described, "version": KEY_VERSION},
                         sort_keys=True, separators=(",", ":"))
    assert run_key(spec, CONTEXT) == hashlib.sha256(payload.encode()).hexdigest()
    blocked = dataclasses.replace(CONTEXT, seed_block=2)
    assert blocked.describe()["seed_block"] == 2
    assert run_key(spec, blocked) != run_key(spec, CONTEXT)


@pytest.mark.parametrize("block", [0, -1, 2.0, "2", True, None])
def test_a_seed_block_is_a_whole_number_of_one_or_more(block):
    with pytest.raises(SpecError, match="seed_block must be an integer >= 1"):
        dataclasses.replace(CONTEXT, seed_block=block)


def test_a_context_with_its_block_travels_to_a_subprocess_as_runner_sends_it():
    blocked = dataclasses.replace(CONTEXT, seed_block=10)
    assert RunContext(**json.loads(json.dumps(blocked.__dict__))) == blocked


def test_the_default_block_is_one_seed_on_a_cpu_and_ten_on_an_accelerator():
    assert backend.default_seed_block("cpu:AMD EPYC (AuthenticAMD family 26 model 2; avx avx2)") == 1
    assert backend.default_seed_block("gpu:NVIDIA H200") == backend.ACCELERATOR_SEED_BLOCK == 10


def test_the_fit_engine_refuses_a_block_in_one_line():
    with pytest.raises(ValueError, match="the fit engine trains one seed at a time") as refused:
        runner.context("fit", load_dataset("digits"), seed_block=2)
    assert "\n" not in str(refused.value)
    with pytest.raises(SpecError, match="the fit engine trains one seed at a time"):
        RunContext(engine="fit", backend="tensorflow", platform="cpu", data="", seed_block=3)


# ---------------------------------------------------------------------------------------- training

def test_this_cpus_default_block_is_one_seed(engine):
    assert runner.context("compiled", load_dataset("digits")).seed_block == 1


@pytest.mark.parametrize("split", ["per_seed", "fixed"])
def test_a_seed_gives_the_same_result_whichever_seeds_of_its_block_were_asked_for(engine, split):
    dataset = load_dataset("digits")
    spec = TINY.replace(split=split, record=("train_inference", "training_mode_test"))
    context = runner.context("compiled", dataset, seed_block=3)
    seeds = [spec.replace(seed=s) for s in range(6)]
    engine._block_results.clear()
    together = engine.train_runs(seeds[:3], dataset, context)
    engine._block_results.clear()
    (one,) = engine.train_runs([seeds[1]], dataset, context)
    engine._block_results.clear()
    reordered = engine.train_runs([seeds[2], seeds[0]], dataset, context)
    assert outcome(one) == outcome(together[1])
    assert outcome(reordered[0]) == outcome(together[2]) and outcome(reordered[1]) == outcome(together[0])
    assert len({r.test_loss for r in together}) == 3, "each lane trains its own seed"
    assert [r.key for r in together] == [run_key(s, context) for s in seeds[:3]]
    assert one.key != run_key(seeds[1], dataclasses.replace(context, seed_block=1))
    # A lane is its seed trained on its own split (per_seed: each lane its own data), up to rounding.
    (alone,) = engine.train_runs([seeds[1]], dataset, dataclasses.replace(context, seed_block=1))
    assert one.test_loss == pytest.approx(alone.test_loss, rel=1e-4)
    assert one.extras["train_inference"]["loss"] == pytest.approx(alone.extras["train_inference"]["loss"], rel=1e-4)
    assert one.extras["training_mode_test"]["loss"] == pytest.approx(alone.extras["training_mode_test"]["loss"],
                                                                     rel=1e-4)

    # Seed 4 trains seeds 3-5, the next block; the other two are then served without training again.
    engine._block_results.clear()
    (four,) = engine.train_runs([seeds[4]], dataset, context)
    assert set(engine._block_results) == {run_key(s, context) for s in seeds[3:]}
    trained = engine.Program.run_block
    engine.Program.run_block = None     # any training now fails
    try:
        served = engine.train_runs([seeds[5], seeds[4], seeds[3]], dataset, context)
    finally:
        engine.Program.run_block = trained
    assert outcome(served[1]) == outcome(four)
    engine._block_results.clear()
    assert [outcome(r) for r in engine.train_runs(seeds[3:], dataset, context)] == [outcome(r) for r in served[::-1]]


def test_a_block_of_one_trains_each_seed_alone_as_before(engine):
    dataset = load_dataset("digits")
    context = runner.context("compiled", dataset, seed_block=1)
    specs = [TINY.replace(seed=2), TINY.replace(seed=5, split="per_seed")]
    results = engine.train_runs(specs, dataset, context)
    for spec, result in zip(specs, results):
        split = split_for_run(dataset, spec.split, spec.seed)
        assert outcome(result) == outcome(engine.program_for(spec, split).run(spec, split, context))
        assert result.key == run_key(spec, RunContext(context.engine, context.backend, context.platform, context.data))
    with pytest.raises(ValueError, match="train_runs trains blocks of 3"):
        engine.train_group(specs, dataset, dataclasses.replace(context, seed_block=3))


def test_divergence_is_an_outcome_of_every_lane(engine):
    dataset = load_dataset("digits")
    context = runner.context("compiled", dataset, seed_block=3)
    # A linear network at a huge rate on raw pixels diverges on every seed; ReLUs on huge initial weights
    # diverge on some seeds, whose lanes stop while their block mates train on.
    every = engine.train_runs([TINY.replace(batch_norm="none", activation="linear", input_scaling="raw",
                                            learning_rate=1e4, seed=s) for s in range(3)], dataset, context)
    assert all(r.diverged and r.diverged_step and r.epochs_completed < TINY.epochs for r in every)
    some = engine.train_runs([TINY.replace(batch_norm="none", kernel_init="normal:10", learning_rate=1e4, seed=s)
                              for s in range(6)], dataset, context)
    assert any(r.diverged for r in some)
    for result in [*every, *some]:
        completed = result.epochs_completed
        assert (result.diverged_step is not None) == (completed < TINY.epochs)
        if not result.diverged:    # a lane that trained on whatever its block mates did
            assert all(math.isfinite(v) for v in [*result.history["val_loss"], result.test_loss])
        assert all(math.isnan(v) for v in result.history["val_loss"][completed:])
        assert np.all(np.asarray(result.steps["step"]) <= (result.diverged_step or math.inf))


def test_a_session_forced_to_blocks_keys_and_trains_its_runs_in_them(engine, tmp_path):
    from bnclaims.lab import Lab
    from bnclaims.settings import Settings

    settings = Settings.resolve(profile="short", dataset="digits", seeds="0,1", examples=2_000, seed_block=3,
                                cache_dir=str(tmp_path / "cache"), report_dir=str(tmp_path / "reports"),
                                root=tmp_path, threads=1)
    lab = Lab(settings, lambda record: None)
    assert lab.run_context.seed_block == 3
    spec = lab.base_spec(batch_norm="none", hidden=(32, 16), learning_rate=0.1, seed=1)
    engine._block_results.clear()
    [asked_alone] = lab.runs([spec])
    engine._block_results.clear()
    whole_block = engine.train_runs([spec.replace(seed=s) for s in range(3)], lab.dataset, lab.run_context)
    assert asked_alone.key == run_key(spec, lab.run_context)
    assert outcome(asked_alone) == outcome(whole_block[1])
