"""Hostile inputs: damaged run-cache entries, dataset files and ledgers each give one line, never a
traceback, and lose nothing (a damaged entry is moved aside and its run trained again)."""

from __future__ import annotations

import gzip
import json
import os
import struct
import time
import warnings
from pathlib import Path

import numpy as np
import pytest

from bnclaims import power
from bnclaims.cache import DamagedEntryWarning, RunCache
from bnclaims.data import DatasetError, load_dataset
from bnclaims.compilation_cache import XLA_CACHE_ENV_VAR, compilation_cache_folder, use_compilation_cache
from bnclaims.report import __main__ as report_main
from bnclaims.spec import RunSpec

from conftest import make_result

SPEC = RunSpec(dataset="digits", hidden=(8,), epochs=2)


# ----------------------------------------------------------------------------------------------------
# Run cache entries


def _without_checksum(text: str, **result_changes) -> str:
    """An entry as written before checksums, with raw JSON text put in place of some result fields:
    what reaches the validation behind the checksum."""
    document = json.loads(text)
    del document["checksum"]
    for name in result_changes:
        document["result"][name] = f"@{name}@"
    text = json.dumps(document, indent=1, sort_keys=True)
    for name, raw in result_changes.items():
        text = text.replace(f'"@{name}@"', raw)
    return text


# name -> (the entry's bytes from the text the cache wrote, a fragment of the warning's reason)
DAMAGED_CONTENT = {
    "zero-byte": (lambda text: b"", "Expecting value"),
    "truncated": (lambda text: text[: len(text) // 2].encode(), "checksum"),
    "truncated-unchecked": (lambda text: _without_checksum(text)[:300].encode(), "column"),
    "binary": (lambda text: bytes(range(256)) * 16, "utf-8"),
    "overflow": (lambda text: _without_checksum(text, epochs_completed="1e999").encode(), "OverflowError"),
    "huge-integer": (lambda text: _without_checksum(text, epochs_completed="9" * 5000).encode(), "digits"),
    "nan": (lambda text: _without_checksum(text, test_loss="NaN").encode(), "NaN is not JSON"),
    "deep-nesting": (lambda text: ("[" * 100_000 + "]" * 100_000).encode(), "nested more than"),
    "deep-nesting-in-an-entry": (
        lambda text: _without_checksum(text, extras="[" * 100_000 + "]" * 100_000).encode(), "nested more than"),
    "edited-accuracy": (lambda text: text.replace('"test_accuracy": 0.5', '"test_accuracy": 0.9').encode(),
                        "checksum"),
    "not-an-object": (lambda text: b"[1, 2]", "not an object"),
    "wrong-key": (lambda text: _without_checksum(text, key='"' + "0" * 64 + '"').encode(), "entry holds key"),
}


def _kept(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".damaged-")]


def _get_or_train_recording_warnings(cache: RunCache):
    """get_or_train with a fake training (accuracy 0.7), and every warning it gave."""
    trained = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result, hit = cache.get_or_train(SPEC.key(), lambda: trained.append(1) or make_result(SPEC, accuracy=0.7))
    return result, hit, trained, caught


def _assert_retrained_with_one_warning(cache, path, result, hit, trained, caught, fragment):
    assert (hit, result.test_accuracy, len(trained)) == (False, 0.7, 1), "the run is trained again"
    assert [w.category for w in caught] == [DamagedEntryWarning], [str(w.message) for w in caught]
    message = str(caught[0].message)
    assert "\n" not in message and str(path) in message and fragment in message, message
    assert cache.load(SPEC.key())[0].test_accuracy == 0.7, "the new run replaced the damaged entry"


@pytest.mark.parametrize("name", DAMAGED_CONTENT)
def test_a_damaged_entry_gives_one_warning_is_kept_and_its_run_trained_again(tmp_path, name):
    damage, fragment = DAMAGED_CONTENT[name]
    cache = RunCache(tmp_path)
    path = cache.store(make_result(SPEC, accuracy=0.5))
    damaged = damage(path.read_text())
    path.write_bytes(damaged)
    _assert_retrained_with_one_warning(cache, path, *_get_or_train_recording_warnings(cache), fragment)
    [kept] = _kept(path)
    assert kept.read_bytes() == damaged, "kept as it was"


def _link_to_dev_zero(path: Path) -> None:
    path.unlink()
    path.symlink_to("/dev/zero")


def _pipe(path: Path) -> None:
    path.unlink()
    os.mkfifo(path)


def _oversize(path: Path) -> None:
    with path.open("r+b") as stream:       # sparse: no disk space taken
        stream.truncate(33 * 2**20)


def _folder(path: Path) -> None:
    path.unlink()
    path.mkdir()


# Entries that are not files of text at all: each must be refused without reading it whole (or at all:
# a pipe with no writer would block a plain open forever).
DAMAGED_FILES = {"link-to-dev-zero": (_link_to_dev_zero, "not a regular file"), "pipe": (_pipe, "not a regular file"),
                 "oversize": (_oversize, "more than"), "folder": (_folder, "not a regular file")}


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs POSIX files")
@pytest.mark.parametrize("name", DAMAGED_FILES)
def test_an_entry_that_is_no_plain_file_is_refused_without_reading_it_and_kept(tmp_path, name):
    make, fragment = DAMAGED_FILES[name]
    cache = RunCache(tmp_path)
    path = cache.store(make_result(SPEC, accuracy=0.5))
    make(path)
    started = time.monotonic()
    _assert_retrained_with_one_warning(cache, path, *_get_or_train_recording_warnings(cache), fragment)
    assert time.monotonic() - started < 10
    assert len(_kept(path)) == 1


# ----------------------------------------------------------------------------------------------------
# Dataset files


IDX_NAMES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _idx(array: np.ndarray) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


def _header(*dims: int) -> bytes:
    return struct.pack(">BBBB", 0, 0, 0x08, len(dims)) + struct.pack(f">{len(dims)}I", *dims)


def _idx_folder(folder: Path) -> None:
    folder.mkdir()
    images, labels = np.zeros((20, 4, 4), np.uint8), (np.arange(20) % 10).astype(np.uint8)
    for name, array in zip(IDX_NAMES, (images, labels, images[:5], labels[:5])):
        (folder / name).write_bytes(_idx(array))


def _gzip_bomb() -> bytes:
    """A gzip stream that starts as a valid 1x4x4 IDX file and then decompresses to 4 GiB more zeros:
    4,096 members of 1 MiB each, about 4 MB on disk."""
    member = gzip.compress(bytes(2**20), compresslevel=9, mtime=0)
    return gzip.compress(_idx(np.zeros((1, 4, 4), np.uint8)), mtime=0) + member * 4096


# name -> (file replaced, its bytes or a function making it at a path, a fragment of the message)
BAD_DATASET_FILES = {
    # 65536^4 = 2^64: a numpy int64 product wraps to 0, and an empty payload would match it.
    "overflowing-sizes": (IDX_NAMES[0], _header(65536, 65536, 65536, 65536), "exceed 4096 a side"),
    "zero-by-zero-images": (IDX_NAMES[0], _header(20, 0, 0), "zero-sized"),
    "zero-labels": (IDX_NAMES[1], _header(0), "zero-sized"),
    "oversize-images": (IDX_NAMES[0], _header(1, 5000, 5000), "exceed 4096 a side"),
    "over-the-byte-cap": (IDX_NAMES[0], _header(2**31, 28, 28), "more than the 1073741824"),
    "over-the-cap-gzipped": (IDX_NAMES[0] + ".gz", gzip.compress(_header(2**31, 28, 28), mtime=0), "more than"),
    "gzip-bomb": (IDX_NAMES[0] + ".gz", _gzip_bomb(), "trailing data"),
    "truncated-data": (IDX_NAMES[0], _idx(np.zeros((20, 4, 4), np.uint8))[:-5], "truncated"),
    "truncated-gzip-data": (IDX_NAMES[0] + ".gz", gzip.compress(_idx(np.zeros((20, 4, 4), np.uint8))[:-5], mtime=0),
                            "truncated"),
    "cut-gzip-stream": (IDX_NAMES[0] + ".gz", gzip.compress(_idx(np.zeros((20, 4, 4), np.uint8)), mtime=0)[:-10],
                        "corrupt gzip"),
    "link-to-dev-zero": (IDX_NAMES[0], lambda path: path.symlink_to("/dev/zero"), "not a regular file"),
    "pipe": (IDX_NAMES[0], lambda path: os.mkfifo(path), "not a regular file"),
    "folder": (IDX_NAMES[0], lambda path: path.mkdir(), "not a regular file"),
}


@pytest.fixture
def fresh_datasets():
    load_dataset.cache_clear()
    yield
    load_dataset.cache_clear()


def test_the_hostile_dataset_folder_is_valid_before_it_is_damaged(tmp_path, fresh_datasets):
    _idx_folder(tmp_path / "idx")
    assert load_dataset(f"idx:{tmp_path / 'idx'}").x_train.shape == (16, 16)


@pytest.mark.skipif(not hasattr(os, "mkfifo") or not Path("/dev/zero").exists(), reason="needs POSIX files")
@pytest.mark.parametrize("name", BAD_DATASET_FILES)
def test_a_hostile_dataset_file_is_one_dataset_error_naming_it(tmp_path, fresh_datasets, name):
    replaced, content, fragment = BAD_DATASET_FILES[name]
    folder = tmp_path / "idx"
    _idx_folder(folder)
    (folder / replaced.removesuffix(".gz")).unlink()
    path = folder / replaced
    content(path) if callable(content) else path.write_bytes(content)
    started = time.monotonic()
    with pytest.raises(DatasetError) as raised:
        load_dataset(f"idx:{folder}")
    message = str(raised.value)
    assert "\n" not in message and str(path) in message and fragment in message, message
    assert time.monotonic() - started < 10, "refused without decompressing or reading it whole"


# ----------------------------------------------------------------------------------------------------
# The compilation cache: never inside the run cache, whose contents are data


def test_the_compilation_cache_is_in_the_users_cache_folder_by_default(tmp_path):
    run_cache = tmp_path / "runs"
    assert compilation_cache_folder(run_cache, {"XDG_CACHE_HOME": str(tmp_path / "xdg")}) == \
        (tmp_path / "xdg" / "bnclaims" / "xla").resolve()
    assert compilation_cache_folder(run_cache, {"XDG_CACHE_HOME": "relative"}) == \
        (Path.home() / ".cache" / "bnclaims" / "xla").resolve()
    assert compilation_cache_folder(run_cache, {XLA_CACHE_ENV_VAR: str(tmp_path / "mine")}) == \
        (tmp_path / "mine").resolve()
    assert compilation_cache_folder(run_cache, {XLA_CACHE_ENV_VAR: "off"}) is None


@pytest.mark.parametrize("inside", ["runs/xla", "runs", "link/xla"])
def test_a_compilation_cache_inside_the_run_cache_is_refused_with_one_warning(tmp_path, inside):
    (tmp_path / "runs").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "runs")      # the same folder by another name
    with pytest.warns(UserWarning, match="inside the run cache") as caught:
        assert compilation_cache_folder(tmp_path / "runs", {XLA_CACHE_ENV_VAR: str(tmp_path / inside)}) is None
    assert len(caught) == 1 and "\n" not in str(caught[0].message)


def test_compiled_programs_are_kept_apart_from_the_run_cache_in_a_folder_per_cpu(tmp_path, monkeypatch):
    from bnclaims import backend

    used = []
    monkeypatch.setattr(backend, "use_compilation_cache", used.append)
    monkeypatch.setattr(backend, "cpu_identity", lambda: "a CPU")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "home-cache"))
    monkeypatch.delenv(XLA_CACHE_ENV_VAR, raising=False)
    use_compilation_cache(tmp_path / "runs")
    [folder] = used
    assert folder.parent == (tmp_path / "home-cache" / "bnclaims" / "xla").resolve()
    assert len(folder.name) == 12, "one folder per CPU"
    assert (folder.parent.stat().st_mode & 0o777) == 0o700, "only its owner can plant code in it"
    monkeypatch.setenv(XLA_CACHE_ENV_VAR, "off")
    use_compilation_cache(tmp_path / "runs")
    assert len(used) == 1


# ----------------------------------------------------------------------------------------------------
# Ledgers and the tools that read them


def _record(**changes) -> dict:
    record = {"check_id": "A1.a", "claim_id": "A1", "tier": "empirical", "kind": "paired", "metric": "test accuracy",
              "statement": "BN helps", "source": "talk", "test": "superiority", "threshold": 0.01,
              "threshold_reason": "one point", "expected": "effect > 0.01", "refuted_if": "effect < -0.01",
              "outcome": "supported", "test_outcome": "passed", "seeds": [0, 1, 2, 3, 4], "effect": 0.02,
              "effect_ci": [0.01, 0.03], "effect_ci_method": "t", "p_value": 0.01, "test_name": "t",
              "mirror_p_value": 0.99, "mirror_test_name": "t", "corrected_alpha": 0.05, "n": 5, "method": "t",
              "min_seeds": 2, "reachable": True, "blocked_seeds": [], "notes": [], "observed": "", "finding": None,
              "rerun": "pytest claims/", "nodeid": "claims/test_a1.py::test[A1.a]", "figures": [],
              "probability_of_improvement": 1.0, "probability_of_improvement_ci": [0.5, 1.0],
              "arm_a": {"name": "BN", "values": [0.90, 0.92, 0.91, 0.93, 0.95], "talk_value": None, "failures": None},
              "arm_b": {"name": "plain", "values": [0.88, 0.90, 0.90, 0.90, 0.91], "talk_value": None,
                        "failures": None}}
    return {**record, **changes}


def _ledger(records, **changes) -> dict:
    return {"schema": "bnclaims-ledger", "version": 3, "created": "2026-01-01T00:00:00+0000", "session": "s",
            "settings": {"profile": "short", "dataset": "mnist5k", "seeds": [0, 1, 2, 3, 4]},
            "environment": {}, "runs": {}, "records": records, **changes}


def _arm(**changes) -> dict:
    return {**_record()["arm_a"], **changes}


# name -> the ledger's text. Each is valid JSON with the right header unless its name says otherwise.
MALFORMED_LEDGERS = {
    "records-missing": _ledger(None),
    "records-an-object": _ledger({"A1.a": _record()}),
    "record-a-number": _ledger([1]),
    "record-a-string": _ledger(["A1.a"]),
    "record-null": _ledger([None]),
    "check-id-missing": _ledger([{k: v for k, v in _record().items() if k != "check_id"}]),
    "check-id-a-number": _ledger([_record(check_id=7)]),
    "tier-missing": _ledger([{k: v for k, v in _record().items() if k != "tier"}]),
    "kind-unknown": _ledger([_record(kind="paired-ish")]),
    "outcome-a-list": _ledger([_record(outcome=["supported"])]),
    "n-a-string": _ledger([_record(n="5")]),
    "threshold-null": _ledger([_record(threshold=None)]),
    "effect-a-string": _ledger([_record(effect="0.02")]),
    "interval-of-three": _ledger([_record(effect_ci=[0, 1, 2])]),
    "alpha-a-string": _ledger([_record(corrected_alpha="0.05")]),
    "arm-a-list": _ledger([_record(arm_a=[0.9, 0.92])]),
    "arm-without-values": _ledger([_record(arm_b={"name": "plain"})]),
    "arm-values-strings": _ledger([_record(arm_a=_arm(values=["0.9"] * 5))]),
    "arm-values-of-other-lengths": _ledger([_record(arm_b=_arm(values=[0.9]))]),
    "figures-not-objects": _ledger([_record(figures=["curves"])]),
    "settings-a-list": _ledger([_record()], settings=["short"]),
    # What the evidence text under each check reads.
    "source-missing": _ledger([{k: v for k, v in _record().items() if k != "source"}]),
    "notes-null": _ledger([_record(notes=None)]),
    "interval-null": _ledger([_record(effect_ci=None)]),
    "improvement-without-interval": _ledger([_record(probability_of_improvement_ci=None)]),
    "measured-with-an-arm-of-text": _ledger([_record(kind="measured", tier="identity", arm_a="BN", arm_b=None)]),
    "measured-without-an-effect": _ledger([_record(kind="measured", tier="identity", arm_a=None, arm_b=None,
                                                   effect=None)]),
}
# The same as raw text: files that are not a ledger's JSON at all.
UNREADABLE_LEDGERS = {"empty": b"", "binary": bytes(range(256)) * 4, "not-json": b"{\"schema\": ",
                      "deep-nesting": b"[" * 100_000 + b"]" * 100_000}
# What bnclaims.power refuses: those where what it reads (the sections' shapes, empirical paired records'
# ids, arms and numbers) is broken. The rest it does not read, and tabulates.
POWER_REFUSES = {"settings-a-list", "records-missing", "records-an-object", "record-a-number", "record-a-string", "record-null",
                "check-id-missing", "check-id-a-number", "tier-missing", "threshold-null", "alpha-a-string",
                "arm-a-list", "arm-without-values", "arm-values-strings", "arm-values-of-other-lengths",
                *UNREADABLE_LEDGERS}


def _write(folder: Path, name: str) -> Path:
    path = folder / f"{name}.json"
    if name in UNREADABLE_LEDGERS:
        path.write_bytes(UNREADABLE_LEDGERS[name])
    else:
        path.write_text(json.dumps(MALFORMED_LEDGERS[name]))
    return path


def _run(main, argv, capsys) -> tuple[int, str, str]:
    status = main([str(arg) for arg in argv])
    out, err = capsys.readouterr()
    return status, out, err


def test_the_base_ledger_of_the_corpus_is_read_by_every_tool(tmp_path, capsys):
    path = tmp_path / "good.json"
    path.write_text(json.dumps(_ledger([_record()])))
    assert _run(report_main.main, [path, "-o", tmp_path / "good.html"], capsys)[0] == 0
    assert _run(report_main.main, [path, path], capsys)[0] == 0
    status, out, _ = _run(power.main, [path], capsys)
    assert status == 0 and "A1.a" in out


def _assert_one_line_status_2(status, out, err, path):
    assert status == 2
    assert err.count("\n") == 1 and str(path) in err and "Traceback" not in err, err
    return err


@pytest.mark.parametrize("name", [*MALFORMED_LEDGERS, *UNREADABLE_LEDGERS])
def test_a_malformed_ledger_is_one_line_and_status_2_from_the_report_and_the_comparison(tmp_path, capsys, name):
    path = _write(tmp_path, name)
    good = tmp_path / "good.json"
    good.write_text(json.dumps(_ledger([_record()])))
    _assert_one_line_status_2(*_run(report_main.main, [path, "-o", tmp_path / "page.html"], capsys), path)
    assert not (tmp_path / "page.html").exists(), "no page, not even a partial one"
    for pair in ([good, path], [path, good]):
        _assert_one_line_status_2(*_run(report_main.main, pair, capsys), path)


@pytest.mark.parametrize("name", [*MALFORMED_LEDGERS, *UNREADABLE_LEDGERS])
def test_a_malformed_ledger_is_one_line_and_status_2_from_power_or_a_table_where_power_does_not_read_it(
        tmp_path, capsys, name):
    path = _write(tmp_path, name)
    status, out, err = _run(power.main, [path], capsys)
    if name in POWER_REFUSES:
        _assert_one_line_status_2(status, out, err, path)
    else:
        assert (status, err) == (0, "") and out.startswith("check")
