"""RunSpec keys and validation; Settings resolution and option errors."""

from __future__ import annotations

import dataclasses

import pytest

from bnclaims import spec as spec_module
from bnclaims.settings import (DEFAULT_SEEDS, Settings, SettingsError, format_seeds, parse_seeds, passes_for,
                               worker_threads)
from bnclaims.spec import ENGINES, RunContext, RunSpec, SpecError, run_key

CONTEXT = RunContext(engine="compiled", backend="jax", platform="cpu", data="a" * 64)


def test_key_is_stable_for_equal_specs():
    assert RunSpec().key() == RunSpec().key()
    assert RunSpec(hidden=[256, 128, 64]).key() == RunSpec().key()
    assert RunSpec(record=("train_inference", "train_inference")).key() == RunSpec(record=("train_inference",)).key()
    assert len(RunSpec().key()) == 64


@pytest.mark.parametrize("field, value", [
    ("dataset", "digits"), ("input_scaling", "raw"), ("hidden", (32,)), ("activation", "tanh"),
    ("batch_norm", "none"), ("bn_group", 8), ("bn_noise", 0.5), ("kernel_init", "uniform:5"), ("dropout", 0.2), ("l2", 1e-4),
    ("learning_rate", 1.0), ("momentum", 0.9), ("batch_size", 1024), ("epochs", 3), ("seed", 1),
    ("record", ("train_inference",)),
])
def test_every_field_changes_the_key(field, value):
    assert RunSpec().replace(**{field: value}).key() != RunSpec().key()


@pytest.mark.parametrize("field, value", [
    ("dataset", "digits"), ("learning_rate", 1.0), ("seed", 1), ("record", ("train_inference",)),
])
def test_every_field_changes_the_run_key(field, value):
    assert run_key(RunSpec().replace(**{field: value}), CONTEXT) != run_key(RunSpec(), CONTEXT)


@pytest.mark.parametrize("changes", [
    {"engine": "fit", "backend": "tensorflow"}, {"engine": "fit", "backend": "jax"}, {"platform": "gpu:H100"},
    {"data": "b" * 64},
])
def test_engine_backend_platform_and_data_change_the_run_key(changes):
    assert run_key(RunSpec(), dataclasses.replace(CONTEXT, **changes)) != run_key(RunSpec(), CONTEXT)


@pytest.mark.parametrize("library, backend, changes", [
    ("jax", "jax", True), ("jaxlib", "jax", True), ("keras", "jax", True), ("numpy", "jax", True),
    ("tensorflow", "jax", False), ("tensorflow", "tensorflow", True), ("jax", "tensorflow", False),
])
def test_library_versions_change_the_run_keys_of_their_backend(monkeypatch, library, backend, changes):
    context = dataclasses.replace(CONTEXT, engine="fit", backend=backend)
    before = run_key(RunSpec(), context)
    changed = {**spec_module.environment_fingerprint(), library: "0.0.0"}
    monkeypatch.setattr(spec_module, "environment_fingerprint", lambda: changed)
    assert (run_key(RunSpec(), context) != before) is changes


def test_run_context_rejects_unknown_engines_and_backends():
    with pytest.raises(SpecError, match="unknown engine 'keras'"):
        RunContext(engine="keras", backend="jax", platform="cpu", data="")
    with pytest.raises(SpecError, match="unknown Keras backend 'torch'"):
        RunContext(engine="fit", backend="torch", platform="cpu", data="")
    with pytest.raises(SpecError, match="JAX backend only"):
        RunContext(engine="compiled", backend="tensorflow", platform="cpu", data="")
    assert set(ENGINES) == {"compiled", "fit"}


def test_spec_round_trips_through_its_dict():
    spec = RunSpec(hidden=(8, 4), record=("train_inference",), kernel_init="normal:0.5")
    assert RunSpec.from_dict(spec.to_dict()) == spec


@pytest.mark.parametrize("changes, fragment", [
    ({"input_scaling": "zscore"}, "input_scaling"), ({"batch_norm": "middle"}, "batch_norm"),
    ({"kernel_init": "uniform:-1"}, "positive"), ({"kernel_init": "orthogonal"}, "initializer"),
    ({"learning_rate": 0}, "learning_rate"), ({"record": ("gradients",)}, "record"),
    ({"hidden": ()}, "hidden"), ({"dropout": 1.0}, "dropout"),
])
def test_invalid_spec_fields_are_rejected(changes, fragment):
    with pytest.raises(SpecError, match=fragment):
        RunSpec(**changes)


def test_unknown_fields_in_a_stored_spec_are_rejected():
    with pytest.raises(SpecError, match="unknown"):
        RunSpec.from_dict({**RunSpec().to_dict(), "optimizer": "adam"})


@pytest.mark.parametrize("text, seeds", [
    ("5", (0, 1, 2, 3, 4)), ("3-6", (3, 4, 5, 6)), ("0,4,9", (0, 4, 9)), (" 2 - 3 ", (2, 3)),
])
def test_parse_seeds(text, seeds):
    assert parse_seeds(text) == seeds


@pytest.mark.parametrize("text", ["1", "0", "x", "5-2", "1,1", "-3", ""])
def test_bad_seeds_give_one_clear_line(text):
    with pytest.raises(SettingsError) as raised:
        parse_seeds(text)
    assert "--claims-seeds" in str(raised.value) and "\n" not in str(raised.value)


def test_format_seeds():
    assert format_seeds((0, 1, 2)) == "0-2"
    assert format_seeds((0, 4)) == "0,4"


def test_profiles_resolve(tmp_path, monkeypatch):
    monkeypatch.delenv("BNCLAIMS_CACHE_DIR", raising=False)
    default = Settings.resolve(root=tmp_path)
    assert (default.profile, default.dataset, default.seeds) == ("default", "mnist5k", tuple(range(DEFAULT_SEEDS)))
    assert default.examples == 480_000 and "budget 480,000 examples per run" in default.describe()[0]
    assert default.budget() == {"examples_seen": 480_000, "passes": 150, "steps": 3_750, "batch_size": 128}
    assert default.cache_dir == (tmp_path / ".claims-cache").resolve()
    short = Settings.resolve(profile="short", root=tmp_path)
    assert (short.seeds, short.budget()) == ((0, 1, 2, 3, 4), {"examples_seen": 32_000, "passes": 10, "steps": 250,
                                                                  "batch_size": 128})
    paper = Settings.resolve(profile="paper", root=tmp_path)
    assert (paper.dataset, len(paper.seeds), paper.examples) == ("mnist", 10, 480_000)
    custom = Settings.resolve(profile="paper", dataset="digits", seeds="2-4", root=tmp_path)
    assert (custom.dataset, custom.seeds) == ("digits", (2, 3, 4))
    assert custom.rerun_command() == "pytest claims/ --claims-profile paper --claims-dataset digits --claims-seeds 2-4"
    assert default.engine == "compiled" and "engine compiled (Keras on jax)" in default.describe()[1]


def test_a_budget_of_examples_sets_the_passes_and_is_stated_when_it_is_not_the_profiles(tmp_path):
    assert passes_for(480_000, 3_200) == 150 and passes_for(480_000, 48_000) == 10 and passes_for(10, 3_200) == 1
    shorter = Settings.resolve(profile="paper", examples="2,400", root=tmp_path)
    assert shorter.examples == 2_400 and "--claims-budget 2400" in shorter.rerun_command()
    assert "--claims-budget" not in Settings.resolve(profile="short", examples=32_000, root=tmp_path).rerun_command()
    for bad in ("0", "-5", "lots", "1.5"):
        with pytest.raises(SettingsError, match="--claims-budget .* is not a positive number"):
            Settings.resolve(examples=bad, root=tmp_path)


def test_engine_setting(tmp_path):
    reference = Settings.resolve(root=tmp_path, engine="fit", seeds="2")
    assert reference.engine == "fit"
    assert reference.rerun_command().endswith("--claims-seeds 0-1 --claims-engine fit")
    assert "engine fit (Keras on tensorflow)" in reference.describe()[1]
    with pytest.raises(SettingsError) as raised:
        Settings.resolve(root=tmp_path, engine="turbo")
    assert str(raised.value) == "--claims-engine 'turbo' is unknown; choose one of compiled, fit"


def test_cache_location_follows_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BNCLAIMS_CACHE_DIR", str(tmp_path / "elsewhere"))
    assert Settings.resolve(root=tmp_path).cache_dir == (tmp_path / "elsewhere").resolve()
    assert Settings.resolve(root=tmp_path, cache_dir=str(tmp_path / "x")).cache_dir == (tmp_path / "x").resolve()


@pytest.mark.parametrize("changes", [{"profile": "slow"}, {"cache_mode": "refresh"}, {"engine": "tf"}])
def test_bad_options_give_one_clear_line(changes):
    with pytest.raises(SettingsError) as raised:
        Settings.resolve(**changes)
    assert "\n" not in str(raised.value)


def test_every_run_trains_on_one_thread_whatever_the_layout():
    """The thread count changes a run's last bits and is not in its key: it is the same for every session."""
    layouts = [worker_threads(cores=c, workers=w) for c in (1, 2, 16) for w in (None, 0, 1, 2, 4, 16)]
    assert set(layouts) == {1}


def test_settings_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Settings.resolve().profile = "paper"


def test_fields_at_their_defaults_do_not_enter_the_key(monkeypatch):
    """Adding a field with a default keeps every existing cache entry valid."""
    before, before_run = RunSpec().key(), run_key(RunSpec(), CONTEXT)
    assert RunSpec(bn_noise=0.0, bn_group=0, dropout=0.0).key() == before
    assert run_key(RunSpec(bn_noise=0.0, bn_group=0, dropout=0.0), CONTEXT) == before_run
    monkeypatch.setattr(spec_module, "KEY_VERSION", spec_module.KEY_VERSION + 1)
    assert RunSpec().key() != before, "a version bump retrains everything"
    assert run_key(RunSpec(), CONTEXT) != before_run


def test_declared_findings_apply_only_at_the_profiles_own_budget(tmp_path):
    """A finding's reason explains the numbers of the budget it was decided on ("40 steps in all")."""
    assert Settings.resolve(profile="short", root=tmp_path).findings_apply
    other = Settings.resolve(profile="short", examples="64000", root=tmp_path)
    assert not other.findings_apply
    assert any("declared findings do not apply" in line for line in other.describe())


def test_every_run_spec_field_declares_its_role_and_every_rate_a_placeholder():
    """Signature and labels are derived from the roles: a field without one would be left out of the
    compiled program's signature, and its variants would silently share one program."""
    from bnclaims.engines.compiled import RATE_PLACEHOLDERS
    from bnclaims.spec import FIELD_ROLES

    roles = {f.name: f.metadata.get("role") for f in dataclasses.fields(RunSpec)}
    assert {name: role for name, role in roles.items() if role not in FIELD_ROLES} == {}
    assert set(RATE_PLACEHOLDERS) == {name for name, role in roles.items() if role == "rate"}


def test_a_field_without_a_role_is_caught(monkeypatch):
    """The role test above fails on a field declared the old way (a plain default, no metadata)."""
    from bnclaims.spec import FIELD_ROLES

    @dataclasses.dataclass(frozen=True)
    class Extended(RunSpec):
        norm_kind: str = "batch"

    roles = {f.name: f.metadata.get("role") for f in dataclasses.fields(Extended)}
    assert [name for name, role in roles.items() if role not in FIELD_ROLES] == ["norm_kind"]


def test_the_signature_holds_every_shape_field_so_a_new_one_gets_its_own_program():
    from bnclaims.data import load_dataset
    from bnclaims.engines.compiled import Signature
    from bnclaims.spec import fields_with_role

    dataset = load_dataset("digits")
    base = RunSpec(dataset="digits")
    changed = {"hidden": (32,), "activation": "tanh", "batch_norm": "none", "bn_group": 16, "bn_noise": 0.1,
               "bn_noise_mode": "per_example", "momentum": 0.9, "batch_size": 64, "epochs": 3, "normalizer": "layer",
               "architecture": "conv"}
    assert set(changed) == set(fields_with_role("shape"))
    for name, value in changed.items():
        variant = base.replace(**{name: value, **({"batch_norm": "before"} if name.startswith("bn_") else {})})
        assert Signature.of(variant, dataset) != Signature.of(base, dataset), name
        assert getattr(Signature.of(variant, dataset), name) == value
    for name in fields_with_role("input"):   # inputs share the program
        value = {"input_scaling": "raw", "kernel_init": "he_normal", "learning_rate": 0.1, "seed": 3}[name]
        assert Signature.of(base.replace(**{name: value}), dataset) == Signature.of(base, dataset), name
    assert Signature.of(base, dataset).spec() == RunSpec(epochs=base.epochs)
