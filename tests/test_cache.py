"""Run cache: atomic writes, damaged entries, modes, and concurrent workers racing for one key."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bnclaims.cache import DamagedEntryWarning, RunCache, atomic_write_text
from bnclaims.spec import RunSpec

SPEC = RunSpec(dataset="digits", hidden=(8,), epochs=2)


def test_miss_then_hit(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    calls = []
    train = lambda: calls.append(1) or result_factory(SPEC)
    first, hit_first = cache.get_or_train(SPEC.key(), train)
    second, hit_second = cache.get_or_train(SPEC.key(), train)
    assert (hit_first, hit_second, len(calls)) == (False, True, 1)
    assert second == first
    assert cache.entry_path(SPEC.key()).is_file()


def test_entries_are_json_without_nan(tmp_path, result_factory):
    result = result_factory(SPEC)
    result.history["val_loss"][1] = float("nan")
    path = RunCache(tmp_path).store(result)
    document = json.loads(path.read_text())   # strict JSON: NaN is stored as null
    assert document["result"]["history"]["val_loss"][1] is None
    loaded, _ = RunCache(tmp_path).load(SPEC.key())
    assert loaded.history["val_loss"][1] != loaded.history["val_loss"][1]   # NaN again


def test_the_compile_share_of_a_runs_time_is_kept_and_may_be_absent(tmp_path, result_factory):
    from dataclasses import replace

    cache = RunCache(tmp_path)
    cache.store(replace(result_factory(SPEC), compile_seconds=1.25))
    assert cache.load(SPEC.key())[0].compile_seconds == 1.25
    path = cache.entry_path(SPEC.key())
    document = json.loads(path.read_text())
    del document["result"]["compile_seconds"]      # an entry written before runs recorded it,
    del document["checksum"]                       # and before entries carried a checksum
    path.write_text(json.dumps(document))
    assert cache.load(SPEC.key())[0].compile_seconds is None


def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "entry.json"
    atomic_write_text(target, "old")

    with pytest.raises(TypeError):
        atomic_write_text(target, object())   # fails while writing
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["entry.json"]


@pytest.mark.parametrize("damage", [
    lambda text: text[: len(text) // 2],                       # truncated
    lambda text: "not json at all",
    lambda text: json.dumps({"result": {"schema": 999}}),       # another engine version
    lambda text: text.replace('"test_accuracy"', '"test_acc"'),  # missing field
])
def test_damaged_entry_is_kept_aside_and_retrained(tmp_path, result_factory, damage):
    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC, accuracy=0.5))
    path.write_text(damage(path.read_text()))
    with pytest.warns(DamagedEntryWarning, match="damaged cache entry"):
        result, hit = cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC, accuracy=0.7))
    assert (hit, result.test_accuracy) == (False, 0.7)
    kept = [p for p in path.parent.iterdir() if ".damaged-" in p.name]
    assert len(kept) == 1, "the damaged entry is moved aside, not deleted"
    assert RunCache(tmp_path).load(SPEC.key())[0].test_accuracy == 0.7


def test_entry_under_the_wrong_key_is_damaged(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    other = SPEC.replace(seed=9)
    path = cache.store(result_factory(other))
    target = cache.entry_path(SPEC.key())
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(path, target)
    with pytest.warns(DamagedEntryWarning):
        assert cache.load(SPEC.key()) is None


def test_bypass_neither_reads_nor_writes(tmp_path, result_factory):
    RunCache(tmp_path).store(result_factory(SPEC, accuracy=0.5))
    cache = RunCache(tmp_path / "bypassed", mode="bypass")
    result, hit = cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC, accuracy=0.7))
    assert (hit, result.test_accuracy) == (False, 0.7)
    assert not (tmp_path / "bypassed").exists()


def test_rebuild_retrains_once_per_session(tmp_path, result_factory):
    RunCache(tmp_path, session_id="old").store(result_factory(SPEC, accuracy=0.5))
    cache = RunCache(tmp_path, mode="rebuild", session_id="new")
    first, hit_first = cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC, accuracy=0.7))
    second, hit_second = cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC, accuracy=0.1))
    assert (hit_first, first.test_accuracy) == (False, 0.7)
    assert (hit_second, second.test_accuracy) == (True, 0.7)


def test_a_group_trains_only_what_the_cache_lacks_in_one_call(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    specs = [SPEC.replace(seed=seed) for seed in range(4)]
    cache.store(result_factory(specs[1], accuracy=0.1))
    calls = []

    def train(missing):
        calls.append(missing)
        return [result_factory(specs[m], accuracy=0.5 + m / 10) for m in missing]

    got = cache.get_or_train_many([s.key() for s in specs], train)
    assert calls == [[0, 2, 3]]
    assert [(r.spec.seed, r.test_accuracy, hit) for r, hit in got] == [
        (0, 0.5, False), (1, 0.1, True), (2, 0.7, False), (3, 0.8, False)]
    again = cache.get_or_train_many([s.key() for s in reversed(specs)], train)
    assert len(calls) == 1 and [hit for _, hit in again] == [True] * 4


def test_a_result_under_another_key_is_never_stored(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    with pytest.raises(ValueError, match="under key"):
        cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC.replace(seed=5)))
    assert cache.load(SPEC.key()) is None


def test_unknown_mode_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="cache mode"):
        RunCache(tmp_path, mode="sometimes")


RACER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[3])
    from conftest import make_result
    from bnclaims.cache import RunCache
    from bnclaims.spec import RunSpec

    spec = RunSpec(dataset="digits", hidden=(8,), epochs=2)
    log = sys.argv[2]

    def train():
        with open(log, "a") as stream:
            stream.write("trained\\n")
        time.sleep(1.0)        # long enough for the other racers to arrive while the lock is held
        return make_result(spec, accuracy=0.8)

    result, hit = RunCache(sys.argv[1]).get_or_train(spec.key(), train)
    print(result.key, result.test_accuracy, hit)
""")


def test_racing_processes_train_a_key_once(tmp_path):
    log = tmp_path / "trainings.log"
    tests_dir = str(Path(__file__).parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}
    racers = [subprocess.Popen([sys.executable, "-c", RACER, str(tmp_path / "cache"), str(log), tests_dir],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
              for _ in range(3)]
    outputs = [racer.communicate(timeout=120) for racer in racers]
    assert all(racer.returncode == 0 for racer in racers), [err for _, err in outputs]
    assert log.read_text().count("trained") == 1
    lines = sorted(out.strip() for out, _ in outputs)
    assert len({line.rsplit(" ", 1)[0] for line in lines}) == 1, "every racer got the same result"
    assert [line.endswith("True") for line in lines].count(False) == 1, "one trained, the others read"


def _while_another_process_trains_the_first(cache, specs, result_factory, ask):
    """ask(keys, train) while another "worker" holds the first spec's lock, then stores it (accuracy 0.3);
    train gives accuracy 0.5. Returns (what ask returned, the positions train was called with)."""
    import threading

    from filelock import FileLock

    keys = [s.key() for s in specs]
    cache.entry_path(keys[0]).parent.mkdir(parents=True, exist_ok=True)
    holding = threading.Event()
    calls = []

    def other_worker():
        with FileLock(str(cache.entry_path(keys[0]).with_suffix(".lock"))):
            holding.set()
            time.sleep(0.5)
            cache.store(result_factory(specs[0], accuracy=0.3))

    def train(missing):
        calls.append(missing)
        return [result_factory(specs[m], accuracy=0.5) for m in missing]

    thread = threading.Thread(target=other_worker)
    thread.start()
    holding.wait()
    got = ask(keys, train)
    thread.join()
    return got, calls


def test_chunks_train_one_at_a_time_and_a_run_another_process_holds_is_waited_for(tmp_path, result_factory):
    """Two workers with overlapping groups share the work: keys another process has locked are skipped,
    the rest trained (one per call with chunk=1), and the held ones read once that process stored them."""
    cache = RunCache(tmp_path)
    specs = [SPEC.replace(seed=seed) for seed in range(3)]
    got, calls = _while_another_process_trains_the_first(
        cache, specs, result_factory, lambda keys, train: cache.get_or_train_many(keys, train, chunk=1))
    assert calls == [[1], [2]]
    assert [(r.test_accuracy, hit) for r, hit in got] == [(0.3, True), (0.5, False), (0.5, False)]


def test_a_group_another_process_is_in_is_left_until_the_other_groups_are_tried(tmp_path, result_factory):
    """Two workers asking for one sweep: once a key of group "a" is found held elsewhere, the rest of
    "a" waits behind group "b" (the other process has "a"'s program), and a postponed key that is still
    free is then trained here rather than waited for."""
    cache = RunCache(tmp_path)
    specs = [SPEC.replace(seed=seed) for seed in range(5)]
    groups = ["a", "a", "a", "b", "b"]
    got, calls = _while_another_process_trains_the_first(
        cache, specs, result_factory,
        lambda keys, train: cache.get_or_train_many(keys, train, chunk=1, groups=groups))
    assert calls == [[3], [4], [1], [2]]
    assert [(r.test_accuracy, hit) for r, hit in got] == [(0.3, True)] + [(0.5, False)] * 4
    again = cache.get_or_train_many([s.key() for s in specs], lambda missing: pytest.fail("trained again"),
                                    chunk=1, groups=groups)
    assert [hit for _, hit in again] == [True] * 5


# ----------------------------------------------------------------------------------------------------
# Checksums, entries written before them, and the bounds of a read


def _kept(path):
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name + ".damaged-")]


def test_an_entry_edited_by_hand_is_damaged_and_trained_again(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC, accuracy=0.5))
    text = path.read_text()
    assert text.startswith('{"checksum": "sha256:')
    path.write_text(text.replace('"test_accuracy": 0.5', '"test_accuracy": 0.9'))   # same shape, better score
    with pytest.warns(DamagedEntryWarning, match="checksum"):
        result, hit = cache.get_or_train(SPEC.key(), lambda: result_factory(SPEC, accuracy=0.7))
    assert (hit, result.test_accuracy) == (False, 0.7)
    assert len(_kept(path)) == 1


def test_a_reformatted_entry_is_damaged(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC))
    path.write_text(json.dumps(json.loads(path.read_text()), indent=4))   # same values, checksum moved
    with pytest.warns(DamagedEntryWarning, match="checksum"):
        assert cache.load(SPEC.key()) is None
    assert len(_kept(path)) == 1


def _written_before_checksums(path):
    document = json.loads(path.read_text())
    del document["checksum"]
    path.write_text(json.dumps(document, indent=1, sort_keys=True))


def test_an_entry_without_a_checksum_is_served_and_given_one(tmp_path, result_factory, recwarn):
    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC, accuracy=0.5))
    _written_before_checksums(path)
    result, hit = cache.get_or_train(SPEC.key(), lambda: pytest.fail("an old entry was trained again"))
    assert (hit, result.test_accuracy) == (True, 0.5)
    assert path.read_text().startswith('{"checksum": "sha256:'), "rewritten with its checksum"
    assert cache.load(SPEC.key())[0] == result
    assert not recwarn.list and not _kept(path)


def test_an_entry_without_a_checksum_in_a_read_only_cache_is_still_served(tmp_path, result_factory, monkeypatch):
    import bnclaims.cache

    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC, accuracy=0.5))
    _written_before_checksums(path)
    before = path.read_text()

    def refuse(*_):
        raise PermissionError("read-only")

    monkeypatch.setattr(bnclaims.cache, "atomic_write_text", refuse)
    assert cache.load(SPEC.key())[0].test_accuracy == 0.5
    assert path.read_text() == before


def test_an_entry_without_a_checksum_holding_an_infinity_is_damaged(tmp_path, result_factory):
    cache = RunCache(tmp_path)
    path = cache.store(result_factory(SPEC, accuracy=0.5))
    _written_before_checksums(path)
    path.write_text(path.read_text().replace('"test_loss": 0.3', '"test_loss": 1e999'))
    with pytest.warns(DamagedEntryWarning, match="damaged cache entry"):
        assert cache.load(SPEC.key()) is None
    assert len(_kept(path)) == 1


def test_nesting_depth_counts_brackets_outside_strings():
    from bnclaims.cache import nesting_depth

    assert nesting_depth('{"a": [1, [2]], "b": "[[[[{{"}', 64) == 3
    assert nesting_depth('["\\"[["]', 64) == 1          # an escaped quote does not end the string
    assert nesting_depth("[" * 100_000, 64) == 65       # stops counting past the limit


def test_two_damaged_entries_in_one_second_are_both_kept(tmp_path):
    from bnclaims.cache import keep_aside

    path = tmp_path / "entry.json"
    for content in ("first", "second"):
        path.write_text(content)
        keep_aside(path)
    assert sorted(p.read_text() for p in tmp_path.iterdir()) == ["first", "second"]
    assert keep_aside(path) is None, "nothing left to keep"
