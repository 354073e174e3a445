"""The conv-net workload (docs/conv.md): RunSpec's architecture axis, the conv net build_model makes, what a
conv spec refuses, image shapes, the Fashion-MNIST and CIFAR-10 loaders (on small files written here in
their real formats), the conv profile, and smoke runs through the compiled engine, Keras fit and the plugin."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnclaims import data
from bnclaims.data import DATASET_HELP, DATASETS, DatasetError, image_shape, load_dataset
from bnclaims.lab import Lab
from bnclaims.settings import PROFILES, Settings
from bnclaims.spec import DENSE_ONLY_RECORDS, GROUP_NORM_GROUPS, RECORDABLE, RunSpec, SpecError
from conftest import ROOT, load_claim_module, run_pytest

CONV = RunSpec(architecture="conv", hidden=(32, 64))


def one_line(error) -> str:
    message = str(error.value)
    assert "\n" not in message and message.strip() == message and message, message
    return message


# ----------------------------------------------------------------------------------------------------
# RunSpec


def test_the_default_architecture_leaves_every_existing_key_as_it_was():
    assert "architecture" not in RunSpec().changed_fields()
    assert RunSpec(architecture="mlp").key() == RunSpec().key()
    assert CONV.key() != RunSpec(hidden=(32, 64)).key()
    assert "arch=conv" in CONV.label() and "hidden=32,64" in CONV.label()
    assert "arch" not in RunSpec().label()


@pytest.mark.parametrize("changes, words", [
    ({"architecture": "resnet"}, "architecture must be one of"),
    *[({"architecture": "conv", "record": (record,)}, f"cannot record ['{record}'] on a conv net")
      for record in DENSE_ONLY_RECORDS],
    ({"architecture": "conv", "bn_group": 8}, "bn_group (ghost batches) is written for Dense layers"),
])
def test_a_conv_spec_refuses_what_only_the_mlp_can_do(changes, words):
    with pytest.raises(SpecError) as error:
        RunSpec(**changes)
    assert words in one_line(error)


def test_a_conv_spec_takes_every_other_record_and_the_noise_after_bn():
    others = tuple(record for record in RECORDABLE if record not in DENSE_ONLY_RECORDS)
    assert set(others) == {"train_inference", "gradient_noise", "recalibrated", "training_mode_test"}
    assert CONV.replace(record=others, bn_noise=0.5, bn_noise_mode="per_example").record == tuple(sorted(others))


def test_the_signature_gives_a_conv_net_its_own_program():
    from bnclaims.engines.compiled import Signature

    dataset = load_dataset("digits")
    mlp = RunSpec(dataset="digits", hidden=(32, 64))
    conv = mlp.replace(architecture="conv")
    assert Signature.of(conv, dataset) != Signature.of(mlp, dataset)
    assert Signature.of(conv, dataset).architecture == "conv" and Signature.of(mlp, dataset).architecture == "mlp"
    assert Signature.of(conv, dataset).spec() == conv.replace(dataset="mnist5k")


# ----------------------------------------------------------------------------------------------------
# Image shapes


@pytest.mark.parametrize("features, shape", [(784, (28, 28, 1)), (3072, (32, 32, 3)), (64, (8, 8, 1)),
                                             (16, (4, 4, 1)), (48, (4, 4, 3))])
def test_image_shape_reads_square_grayscale_and_colour_images(features, shape):
    assert image_shape(features) == shape


@pytest.mark.parametrize("features", [0, 2, 785, 3000])
def test_image_shape_refuses_other_sizes_in_one_line(features):
    with pytest.raises(DatasetError) as error:
        image_shape(features)
    assert f"{features} pixels per example are not a square image" in one_line(error)


def test_a_conv_net_too_deep_for_its_images_says_so():
    from bnclaims.engines.model import checked_image_shape

    assert checked_image_shape(64, 3) == (8, 8, 1)      # 8 -> 4 -> 2 -> 1
    with pytest.raises(DatasetError) as error:
        checked_image_shape(64, 4)
    assert "8x8 images cannot be pooled 2x2 by 4 conv blocks" in one_line(error)
    assert "at most 3 blocks" in str(error.value)


# ----------------------------------------------------------------------------------------------------
# The model


@pytest.fixture(scope="module")
def keras():
    from bnclaims import backend

    return backend.load(1, name="jax")[1]


NORMALIZER_LAYERS = {"batch": "BatchNormalization", "layer": "LayerNormalization", "group": "GroupNormalization"}


def layer_names(keras, model) -> list[str]:
    return [f"{type(layer).__name__}(use_bias={layer.use_bias})" if isinstance(layer, (keras.layers.Conv2D,
                                                                                         keras.layers.Dense))
            else type(layer).__name__ for layer in model.layers]


@pytest.mark.parametrize("normalizer", ["batch", "layer", "group"])
@pytest.mark.parametrize("placement", ["before", "after", "none"])
def test_each_conv_block_places_the_normalizer_as_the_mlp_does(keras, normalizer, placement):
    from bnclaims.engines.model import build_model

    spec = CONV.replace(normalizer=normalizer, batch_norm=placement, dropout=0.25)
    model = build_model(spec, 784, 10, seed=0)
    layer = NORMALIZER_LAYERS[normalizer]
    block = {"before": ["Conv2D(use_bias=False)", layer, "Activation"],
             "after": ["Conv2D(use_bias=True)", "Activation", layer],
             "none": ["Conv2D(use_bias=True)", "Activation"]}[placement] + ["MaxPooling2D"]
    assert layer_names(keras, model) == ["Reshape", *block, *block, "Flatten", "Dropout", "Dense(use_bias=True)"]
    convolutions = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [(c.filters, c.kernel_size, c.padding) for c in convolutions] == [(32, (3, 3), "same"), (64, (3, 3), "same")]
    assert model.layers[0].target_shape == (28, 28, 1)
    assert model.outputs[0].shape[1:] == (10,)


def test_the_mlp_keeps_its_layers(keras):
    from bnclaims.engines.model import build_model

    model = build_model(RunSpec(hidden=(64, 32), dropout=0.25), 784, 10, seed=0)
    assert layer_names(keras, model) == ["Dense(use_bias=False)", "BatchNormalization", "Activation", "Dropout",
                                         "Dense(use_bias=False)", "BatchNormalization", "Activation", "Dropout",
                                         "Dense(use_bias=True)"]


def test_each_normalizer_normalizes_a_feature_map_over_what_its_paper_says(keras):
    """BN: each channel over the batch and the positions; LayerNorm: each example over all its units;
    GroupNorm: each example's groups of channels, over the positions (Wu & He 2018, Fig. 2). At
    initialization (gamma 1, beta 0) the first normalizer's output is its input standardized over those."""
    from bnclaims.engines.model import build_model

    x = np.random.default_rng(0).uniform(0, 1, (16, 784)).astype(np.float32)
    channels = 2 * GROUP_NORM_GROUPS
    # Each normalizer's sets of values standardized together, as the rows of a matrix.
    rows = {"batch": lambda v: v.reshape(-1, channels).T,
            "layer": lambda v: v.reshape(len(v), -1),
            "group": lambda v: v.reshape(*v.shape[:3], GROUP_NORM_GROUPS, -1).transpose(0, 3, 1, 2, 4)
                                .reshape(len(v) * GROUP_NORM_GROUPS, -1)}

    def standardized(values, epsilon):
        return (values - values.mean(axis=1, keepdims=True)) / np.sqrt(values.var(axis=1, keepdims=True) + epsilon)

    for normalizer, grouping in rows.items():
        model = build_model(CONV.replace(normalizer=normalizer, hidden=(channels,)), 784, 10, seed=0)
        norm = next(layer for layer in model.layers if type(layer).__name__ == NORMALIZER_LAYERS[normalizer])
        inputs, outputs = (np.asarray(v, np.float64) for v in keras.Model(model.inputs[0], [norm.input, norm.output])(
            x, training=True))
        np.testing.assert_allclose(grouping(outputs), standardized(grouping(inputs), norm.epsilon), atol=2e-4,
                                   err_msg=normalizer)
        if normalizer != "batch":   # the control: BN's grouping of the same inputs gives other outputs
            other = standardized(rows["batch"](inputs), norm.epsilon)
            assert np.abs(rows["batch"](outputs) - other).max() > 0.1, normalizer


def test_recalibration_gives_a_conv_bn_the_statistics_of_its_channels(keras):
    from bnclaims.engines import recalibration
    from bnclaims.engines.keras_tools import normalization_layers
    from bnclaims.engines.model import build_model

    dataset = load_dataset("digits")
    x = (dataset.x_train[:300] / dataset.pixel_max).astype(np.float32)
    model = build_model(CONV.replace(dataset="digits"), 64, 10, seed=0)
    first = normalization_layers(model)[0]
    inputs = np.asarray(keras.Model(model.inputs[0], first.input)(x), np.float64).reshape(-1, 32)
    statistics = recalibration.population_statistics(model, x, 128)
    assert [mean.shape for mean, _ in statistics] == [(32,), (64,)]
    np.testing.assert_allclose(statistics[0][0], inputs.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(statistics[0][1], inputs.var(axis=0), rtol=1e-4, atol=1e-6)
    saved = recalibration.moving_statistics(model)
    outputs = recalibration.recalibrated_outputs(model, x, x[:50], 128)
    assert outputs.shape == (50, 10) and np.all(np.isfinite(outputs))
    assert all(np.array_equal(a, b) for pair in zip(saved, recalibration.moving_statistics(model))
               for a, b in zip(*pair))


# ----------------------------------------------------------------------------------------------------
# Training


def test_a_conv_run_trains_on_digits_through_the_compiled_engine(engine):
    dataset = load_dataset("digits")
    spec = CONV.replace(dataset="digits", epochs=2, record=("recalibrated", "training_mode_test"))
    result = engine.train(spec, dataset)
    assert result.spec.architecture == "conv" and result.outcome == "trained"
    assert all(np.isfinite(result.history["train_loss"]))
    assert result.history["train_loss"][-1] < result.history["train_loss"][0]
    # Ten classes: above chance once the moving statistics are replaced by the population's.
    assert result.extras["recalibrated"]["accuracy"] > 0.3
    assert 0 <= result.extras["training_mode_test"]["accuracy"] <= 1


FIT_CONV = """
from bnclaims import backend
backend.load(threads=1, name="tensorflow")
from bnclaims.data import load_dataset
from bnclaims.spec import RunSpec
from bnclaims.engines.fit import train
result = train(RunSpec(dataset="digits", architecture="conv", hidden=(32, 64), epochs=2), load_dataset("digits"))
print(result.spec.architecture, result.outcome, result.history["train_loss"][-1] < result.history["train_loss"][0])
"""


@pytest.mark.slow
def test_a_conv_run_trains_through_keras_fit():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("KERAS_BACKEND", None)
    done = subprocess.run([sys.executable, "-c", FIT_CONV], capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "conv trained True"


# ----------------------------------------------------------------------------------------------------
# The conv profile and the Lab


def test_the_conv_profile_trains_the_conv_net_on_fashion_mnist(tmp_path):
    profile = PROFILES["conv"]
    assert (profile.dataset, profile.architecture, profile.hidden) == ("fashion_mnist", "conv", (32, 64))
    assert profile.examples == PROFILES["default"].examples and profile.seeds == PROFILES["default"].seeds
    settings = Settings.resolve(profile="conv", dataset="digits", cache_dir=str(tmp_path), root=tmp_path)
    assert (settings.architecture, settings.hidden) == ("conv", (32, 64))
    assert "claims: network conv, hidden 32,64" in settings.describe()
    lab = Lab(settings, say=lambda record: None)
    base = lab.base_spec()
    assert (base.architecture, base.hidden, base.dataset) == ("conv", (32, 64), "digits")
    assert lab.base_spec(hidden=(16,)).hidden == (16,)
    # The records the MLP's base runs share (R1, P1, P3) are not added to a conv run: those checks do not run.
    assert lab.shared(base) == base and lab.shared(lab.base_spec(batch_norm="none")).record == ()
    mlp = Lab(Settings.resolve(profile="default", dataset="digits", cache_dir=str(tmp_path), root=tmp_path),
              say=lambda record: None)
    assert mlp.base_spec().architecture == "mlp" and "architecture" not in mlp.base_spec().changed_fields()
    assert mlp.shared(mlp.base_spec()).record != ()


def test_a_conv_profile_on_images_it_cannot_reshape_stops_in_one_line(tmp_path):
    folder = tmp_path / "wide"
    write_idx_folder(folder, side=(4, 6))
    settings = Settings.resolve(profile="conv", dataset=f"idx:{folder}", cache_dir=str(tmp_path), root=tmp_path)
    load_dataset.cache_clear()
    try:
        with pytest.raises(DatasetError) as error:
            Lab(settings, say=lambda record: None).dataset
    finally:
        load_dataset.cache_clear()
    assert "24 pixels per example are not a square image" in one_line(error)


def test_the_conv_profile_names_only_claims_that_exist():
    claim_ids = set()
    for path in sorted((ROOT / "claims").glob("test_*.py")):
        module = load_claim_module(path.stem, f"_conv_profile_{path.stem}")
        claim_ids |= {check.claim_id for check in module.CHECKS.values()}
    for name, profile in PROFILES.items():
        assert set(profile.claims) <= claim_ids, name
        assert not profile.claims or profile.claims_reason, name
    assert {f"A{i}" for i in range(1, 7)} | {f"TABLE-{i}" for i in range(1, 5)} <= set(PROFILES["conv"].claims)


def test_the_conv_profile_skips_the_checks_that_do_not_carry_over_with_their_reason(tmp_path):
    result = run_pytest("claims/test_batch_statistics_noise.py", "claims/test_redundant_bias.py",
                        "claims/test_batchnorm_transform.py", "--claims-profile", "conv", "--claims-dataset", "digits",
                        "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path / "reports"),
                        "-rs")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert ("R1.fixed_example_noise does not run in the conv profile: only the checks that carry over to a conv "
            "net run in it") in output
    assert "T2.parameter_count does not run in the conv profile" in output
    assert "5 passed, 10 skipped" in output     # T1's five checks ran
    assert "runs: 0 trained, 0 from the cache" in output


@pytest.mark.slow
def test_the_conv_profile_runs_the_talk_table_on_conv_runs(tmp_path):
    options = ["claims/test_talk_table.py", "--claims-profile", "conv", "--claims-dataset", "digits",
               "--claims-budget", "2300", "--claims-seeds", "3", "--claims-looks", "1",
               "--claims-cache", str(tmp_path / "cache"), "--claims-report-dir", str(tmp_path / "reports")]
    result = run_pytest(*options)
    assert "claims: profile conv, dataset digits, seeds 0-2" in result.stdout, result.stdout[-3000:]
    assert "claims: network conv, hidden 32,64" in result.stdout
    ledger = json.loads((tmp_path / "reports" / "claims.json").read_text())
    records = {r["check_id"]: r for r in ledger["records"]}
    assert set(records) == {"TABLE-1.convergence_speed", "TABLE-2.big_learning_rate", "TABLE-3.too_big_weights",
                            "TABLE-4.no_data_normalization"}
    assert all(r["outcome"] in ("supported", "refuted", "inconclusive") for r in records.values())
    each = ledger["runs"]["each"]
    assert each and all("arch=conv" in run["label"] and "hidden=32,64" in run["label"] for run in each)
    assert {run["examples_seen"] for run in each} == {2 * 1150}


# ----------------------------------------------------------------------------------------------------
# Datasets: files in their real formats, written here


def idx_bytes(array: np.ndarray) -> bytes:
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=">u1").tobytes()


def write_idx_folder(folder: Path, n_train: int = 50, n_test: int = 10, side=(28, 28)) -> dict:
    """The four gzipped IDX files of an MNIST-format folder; pixel values trace the image's index."""
    folder.mkdir(parents=True, exist_ok=True)
    images = lambda n, offset: np.broadcast_to(((np.arange(n) + offset) % 256)[:, None, None],
                                               (n, *side)).astype(np.uint8)
    arrays = {"train-images-idx3-ubyte": images(n_train, 0), "train-labels-idx1-ubyte": np.arange(n_train) % 10,
              "t10k-images-idx3-ubyte": images(n_test, 100), "t10k-labels-idx1-ubyte": np.arange(n_test) % 10}
    for name, array in arrays.items():
        (folder / f"{name}.gz").write_bytes(gzip.compress(idx_bytes(np.asarray(array, np.uint8))))
    return arrays


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty Keras home, no Debian folder, no download, and load_dataset's memo cleared around the test."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", tmp_path / "no-debian")

    def offline():
        raise OSError("no network here")

    monkeypatch.setattr(data, "_download_keras_fashion_mnist", offline)
    monkeypatch.setattr(data, "_download_keras_cifar10", offline)
    load_dataset.cache_clear()
    yield tmp_path
    load_dataset.cache_clear()


def test_both_datasets_are_named_in_the_help():
    assert {"fashion_mnist", "cifar10"} <= set(DATASETS)
    assert "'fashion_mnist' (" in DATASET_HELP and "'cifar10' (" in DATASET_HELP


def test_fashion_mnist_reads_debians_folder_first(fresh, monkeypatch):
    debian = fresh / "debian"
    write_idx_folder(debian)
    write_idx_folder(data.keras_datasets_dir() / "fashion-mnist", n_train=20)
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    dataset = load_dataset("fashion_mnist")
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (40, 10, 10)
    assert dataset.name == "fashion_mnist" and dataset.num_features == 784
    assert dataset.x_val[:, 0].tolist() == list(range(40, 50))     # the last 20% of the training file
    assert "in file order" in dataset.split


def test_fashion_mnist_falls_back_to_keras_cache(fresh):
    write_idx_folder(data.keras_datasets_dir() / "fashion-mnist", n_train=20)
    assert len(load_dataset("fashion_mnist").y_train) == 16


def test_fashion_mnist_downloads_into_keras_cache_where_missing(fresh, monkeypatch):
    target = data.keras_datasets_dir() / "fashion-mnist"
    monkeypatch.setattr(data, "_download_keras_fashion_mnist", lambda: write_idx_folder(target, n_train=30))
    assert len(load_dataset("fashion_mnist").y_train) == 24


def test_fashion_mnist_missing_and_offline_says_where_it_looked_in_one_line(fresh):
    with pytest.raises(DatasetError) as error:
        load_dataset("fashion_mnist")
    message = one_line(error)
    assert "Fashion-MNIST not found in" in message and str(fresh / "no-debian") in message
    assert "keras.datasets.fashion_mnist.load_data() failed (OSError: no network here)" in message
    assert "install Debian's dataset-fashion-mnist" in message


def test_fashion_mnist_from_debians_folder_on_this_machine():
    if not data._idx_files_in(data.DEBIAN_FASHION_MNIST):
        pytest.skip("Debian's dataset-fashion-mnist is not installed")
    dataset = load_dataset("fashion_mnist")
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (48000, 12000, 10000)
    assert image_shape(dataset.num_features) == (28, 28, 1)


# CIFAR-10's python batches: a dict of byte-string keys; b"data" uint8 (n, 3072), each row the red plane,
# then the green, then the blue, each 32x32 row by row; b"labels" a list of ints.


def cifar_images(n: int, offset: int) -> np.ndarray:
    """(n, 3, 32, 32) images whose pixel (c, h, w) of image i is a traceable function of all four."""
    i, c, h, w = np.meshgrid(np.arange(n), np.arange(3), np.arange(32), np.arange(32), indexing="ij")
    return (((i + offset) * 7 + c * 50 + h * 3 + w) % 256).astype(np.uint8)


def write_cifar_folder(folder: Path, per_batch: int = 10, **overrides) -> dict:
    """data_batch_1..5 and test_batch; overrides: {file name: bytes or a dict to pickle instead}."""
    folder.mkdir(parents=True, exist_ok=True)
    batches = {}
    for number, name in enumerate([*data.CIFAR10_TRAIN_BATCHES, data.CIFAR10_TEST_BATCH]):
        images = cifar_images(per_batch, offset=number * per_batch)
        batch = {b"batch_label": name.encode(), b"data": images.reshape(per_batch, -1),
                 b"labels": [int(v) for v in (np.arange(per_batch) + number) % 10],
                 b"filenames": [f"{name}_{i}.png".encode() for i in range(per_batch)]}
        batches[name] = overrides.get(name, batch)
        content = batches[name]
        (folder / name).write_bytes(content if isinstance(content, bytes) else pickle.dumps(content))
    return batches


def cifar_folder() -> Path:
    return data.keras_datasets_dir() / "cifar-10-batches-py"


def test_cifar10_is_read_in_height_width_channel_order_and_split_like_mnist(fresh):
    batches = write_cifar_folder(cifar_folder())
    dataset = load_dataset("cifar10")
    assert (len(dataset.y_train), len(dataset.y_val), len(dataset.y_test)) == (40, 10, 10)
    assert dataset.num_features == 3072 and image_shape(dataset.num_features) == (32, 32, 3)
    assert dataset.pixel_max == 255.0 and dataset.num_classes == 10 and dataset.x_train.dtype == np.uint8
    # The first training image, read back as height x width x channels, is the first row of data_batch_1.
    expected = batches["data_batch_1"][b"data"][0].reshape(3, 32, 32).transpose(1, 2, 0)
    np.testing.assert_array_equal(dataset.x_train[0].reshape(32, 32, 3), expected)
    assert dataset.x_train[0][:3].tolist() == [0, 50, 100]     # pixel (0, 0): red, green, blue
    # Validation: the last 20% of the five training batches in order, i.e. all of data_batch_5.
    np.testing.assert_array_equal(dataset.y_val, batches["data_batch_5"][b"labels"])
    np.testing.assert_array_equal(dataset.y_test, batches["test_batch"][b"labels"])
    assert dataset.y_train.dtype == np.int64


def test_cifar10_is_found_where_keras_3_extracts_it(fresh):
    write_cifar_folder(data.keras_datasets_dir() / "cifar-10-batches-py-target" / "cifar-10-batches-py")
    assert len(load_dataset("cifar10").y_test) == 10


def test_cifar10_downloads_where_missing(fresh, monkeypatch):
    monkeypatch.setattr(data, "_download_keras_cifar10", lambda: write_cifar_folder(data.cifar10_folders()[0]))
    assert len(load_dataset("cifar10").y_train) == 40


def test_cifar10_missing_and_offline_stops_in_one_line(fresh):
    with pytest.raises(DatasetError) as error:
        load_dataset("cifar10")
    message = one_line(error)
    assert "CIFAR-10 not found at" in message and str(cifar_folder()) in message
    assert "keras.datasets.cifar10.load_data() failed (OSError: no network here)" in message


class Exploit:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def good_batch(changes: dict) -> dict:
    return {b"data": np.zeros((10, 3072), np.uint8), b"labels": list(range(10)), **changes}


@pytest.mark.parametrize("content, words", [
    (None, "CIFAR-10 batch"),                                              # the file is missing
    (b"not a pickle", "not a readable batch pickle"),
    (pickle.dumps(Exploit()), "refused to build"),
    (pickle.dumps([1, 2, 3]), "expected a dict with b'data' and b'labels', found list"),
    (pickle.dumps({b"data": np.zeros((10, 3072), np.uint8)}), "expected a dict with b'data' and b'labels'"),
    (pickle.dumps(good_batch({b"data": np.zeros((10, 3072), np.float32)})), "b'data' is float32"),
    (pickle.dumps(good_batch({b"data": np.zeros((10, 1024), np.uint8)})), "expected uint8 rows of 3072 pixels"),
    (pickle.dumps(good_batch({b"labels": list(range(9))})), "expected 10 integer labels"),
    (pickle.dumps(good_batch({b"labels": ["a"] * 10})), "expected 10 integer labels"),
    (pickle.dumps(good_batch({b"labels": [10] * 10})), "labels out of range"),
], ids=["missing", "not-pickle", "exploit", "not-dict", "no-labels", "float-data", "short-rows", "few-labels",
        "text-labels", "label-10"])
def test_cifar10_damaged_batches_stop_in_one_line_naming_the_file(fresh, content, words):
    folder = cifar_folder()
    write_cifar_folder(folder, data_batch_3=content if content is not None else b"")
    if content is None:
        (folder / "data_batch_3").unlink()
    with pytest.raises(DatasetError) as error:
        load_dataset("cifar10")
    message = one_line(error)
    assert words in message and str(folder / "data_batch_3") in message
    assert not (fresh / "pwned").exists()
