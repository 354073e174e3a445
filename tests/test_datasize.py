"""Tests for the data-size sweep: the training-size suffix of bnclaims.data (name@N) and bnclaims.datasize.

Offline and fast: IDX folders are written into tmp_path, ledgers are small dicts written here, and the
sweep's sessions are stand-in scripts; nothing trains.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from test_data import IDX_NAMES, assert_one_line, write_idx

from bnclaims import data, datasize
from bnclaims.data import DatasetError, check_dataset_name, load_dataset, split_training_size, stratified_counts
from bnclaims.settings import Settings, SettingsError

ROOT = Path(__file__).resolve().parents[1]
# Uneven class frequencies, so that "within one of proportional" is tested where shares are not whole.
CLASS_WEIGHTS = (9, 1, 4, 7, 2, 6, 3, 8, 5, 5)


# --------------------------------------------------------------------------
# Helpers


def write_uneven_idx_folder(folder: Path, n_train: int = 600, n_test: int = 20) -> None:
    """An MNIST-format folder whose every training image is told apart by its pixels (index in base 256)
    and whose classes are uneven; the last 20% of the training file is validation (bnclaims.data)."""
    folder.mkdir(parents=True, exist_ok=True)
    pattern = np.repeat(np.arange(10), CLASS_WEIGHTS)
    labels = pattern[np.arange(n_train) * 7 % len(pattern)].astype(np.uint8)

    def images(n: int, offset: int) -> np.ndarray:
        index = np.arange(n) + offset
        pixels = np.zeros((n, 2, 2), dtype=np.uint8)
        pixels[:, 0, 0], pixels[:, 0, 1] = index // 256, index % 256
        return pixels

    write_idx(folder / IDX_NAMES["train_images"], images(n_train, 0))
    write_idx(folder / IDX_NAMES["train_labels"], labels)
    write_idx(folder / IDX_NAMES["test_images"], images(n_test, 10_000))
    write_idx(folder / IDX_NAMES["test_labels"], (np.arange(n_test) % 10).astype(np.uint8))


def image_ids(x: np.ndarray) -> np.ndarray:
    """The training file's index of each row (see write_uneven_idx_folder)."""
    return x[:, 0].astype(np.int64) * 256 + x[:, 1]


@pytest.fixture
def uneven(tmp_path, fresh_cache) -> str:
    write_uneven_idx_folder(tmp_path / "uneven")
    return f"idx:{tmp_path / 'uneven'}"


# --------------------------------------------------------------------------
# The suffix


@pytest.mark.parametrize("name, expected", [
    ("mnist@12000", ("mnist", 12000)),
    ("digits", ("digits", None)),
    ("idx:/data/fashion@3200", ("idx:/data/fashion", 3200)),
    ("idx:/data/set@2/", ("idx:/data/set@2/", None)),      # a trailing slash keeps @2 in the folder's name
    ("idx:/data/me@host/set", ("idx:/data/me@host/set", None)),
])
def test_the_suffix_is_what_follows_the_last_at_when_it_is_digits(name, expected):
    assert split_training_size(name) == expected


@pytest.mark.parametrize("name, problem", [
    ("digits@0", "@0 in 'digits@0' is not a positive integer"),
    ("digits@0400", "@0400 .* without leading zeros"),
    ("digits@abc", "@abc in 'digits@abc' is not a positive integer"),
    ("mnist@-5", "@-5 in 'mnist@-5' is not a positive integer"),
    ("mnist@1.5", "@1.5 .* is not a positive integer"),
    ("mnist@", "@ in 'mnist@' is not a positive integer"),
    ("mnist@3200@100", "two training-size suffixes"),
])
def test_a_malformed_suffix_is_one_line(name, problem):
    with pytest.raises(DatasetError, match=problem) as excinfo:
        check_dataset_name(name)
    assert_one_line(excinfo)


def test_a_bad_suffix_after_a_folder_says_what_a_suffix_is(tmp_path):
    with pytest.raises(DatasetError, match="not found: .*set@x is not a directory.*a training-size suffix is "
                                           "@<positive integer>") as excinfo:
        check_dataset_name(f"idx:{tmp_path / 'set'}@x")
    assert_one_line(excinfo)


@pytest.mark.parametrize("per_seed", data.PER_SEED_SPLIT_DATASETS)
def test_a_dataset_split_per_seed_refuses_a_suffix(per_seed):
    """Its runs draw train and validation again per seed, which would undo a cut: refused, and by the
    session's option check too, so no suffixed name ever runs with a per-seed split."""
    with pytest.raises(DatasetError, match=f"{per_seed} draws its training images per seed") as excinfo:
        check_dataset_name(f"{per_seed}@1000")
    assert_one_line(excinfo)
    with pytest.raises(SettingsError, match="^--claims-dataset: .*per seed"):
        Settings.resolve(dataset=f"{per_seed}@1000", check_folders=False)


def test_the_settings_accept_a_suffixed_name_and_reproduce_it(uneven):
    settings = Settings.resolve(dataset=f"{uneven}@100", check_folders=False)
    assert settings.dataset == f"{uneven}@100"
    assert f"{uneven}@100" in settings.rerun_command()
    assert settings.budget()["passes"] == 480_000 // 100     # a smaller training split: more passes


def test_the_unknown_base_is_named():
    with pytest.raises(DatasetError, match="unknown dataset 'foo'; use mnist5k"):
        check_dataset_name("foo@3200")


# --------------------------------------------------------------------------
# The stratified draw


def test_stratified_counts_round_by_largest_remainder():
    assert stratified_counts([5, 3, 2], 5) == [3, 1, 1]      # shares 2.5, 1.5, 1: the tie goes to class 0
    assert stratified_counts([5, 3, 2], 10) == [5, 3, 2]
    assert stratified_counts([5, 3, 2], 0) == [0, 0, 0]
    counts = np.array([4764, 4794, 4768, 4796, 4785, 4806, 4851, 4820, 4820, 4796])   # Fashion-MNIST's train
    for size in (10, 3200, 12000, 47999):
        taken = np.array(stratified_counts(counts, size))
        assert taken.sum() == size and np.all(np.abs(taken - counts * size / counts.sum()) < 1)
    with pytest.raises(ValueError):
        stratified_counts([5, 3, 2], 11)


@pytest.mark.parametrize("size", [10, 97, 250, 479])
def test_the_subset_has_the_size_and_each_class_within_one_of_its_share(uneven, size):
    full, subset = load_dataset(uneven), load_dataset(f"{uneven}@{size}")
    assert len(full.y_train) == 480 and len(subset.y_train) == len(subset.x_train) == size
    share = np.bincount(full.y_train, minlength=10) * size / len(full.y_train)
    assert np.all(np.abs(np.bincount(subset.y_train, minlength=10) - share) < 1)
    ids = image_ids(subset.x_train)
    assert np.all(np.diff(ids) > 0), "distinct training images, in file order"
    assert np.array_equal(full.y_train[ids], subset.y_train), "each image keeps its label"
    for part in ("x_val", "y_val", "x_test", "y_test"):
        assert np.array_equal(getattr(subset, part), getattr(full, part)), f"{part} unchanged"
    assert subset.split.startswith(f"train {size} / validation 120 / test 20, train a class-stratified draw")
    assert not subset.x_train.flags.writeable


def test_the_same_images_on_every_load_and_every_seed(uneven):
    first = image_ids(load_dataset(f"{uneven}@100").x_train)
    load_dataset.cache_clear()
    again = load_dataset(f"{uneven}@100")
    assert np.array_equal(image_ids(again.x_train), first)
    for seed in (0, 1, 7):
        assert np.array_equal(image_ids(data.split_for_run(again, "fixed", seed).x_train), first)


def test_a_smaller_subset_lies_inside_a_larger_one_class_by_class(uneven):
    small, large = load_dataset(f"{uneven}@100"), load_dataset(f"{uneven}@300")
    for label in range(10):
        in_small = set(image_ids(small.x_train)[small.y_train == label])
        in_large = set(image_ids(large.x_train)[large.y_train == label])
        assert in_small <= in_large


def test_each_size_has_its_own_fingerprint_and_run_keys_and_the_whole_split_is_the_dataset(uneven):
    from bnclaims.spec import RunContext, RunSpec, run_key

    names = [uneven, f"{uneven}@100", f"{uneven}@300", f"{uneven}@480"]
    fingerprints = [load_dataset(name).fingerprint for name in names]
    assert len(set(fingerprints[:3])) == 3
    assert fingerprints[3] == fingerprints[0], "all 480 training images, in file order: the same data"
    keys = {run_key(RunSpec(dataset=name, seed=0), RunContext("compiled", "jax", "cpu", fingerprint))
            for name, fingerprint in zip(names, fingerprints)}
    assert len(keys) == 4


@pytest.mark.parametrize("size, problem", [
    (481, "asks for more than the 480 training images of idx:.*; use at most idx:.*@480"),
    (9, "fewer images than the 10 classes"),
])
def test_a_size_the_training_split_cannot_give_is_one_line(uneven, size, problem):
    check_dataset_name(f"{uneven}@{size}")     # the name is fine: the size is checked when the data loads
    with pytest.raises(DatasetError, match=problem) as excinfo:
        load_dataset(f"{uneven}@{size}")
    assert_one_line(excinfo)


# --------------------------------------------------------------------------
# Ledgers -> rows, table, plot


def record(check_id, outcome="supported", **changes) -> dict:
    base = {"check_id": check_id, "claim_id": check_id.split(".")[0], "tier": "empirical", "kind": "paired",
            "outcome": outcome, "test": "superiority", "metric": "failed runs (diverged or collapsed), plain - BN",
            "effect": 0.5, "effect_ci": [0.1, 0.9], "effect_ci_method": "exact, Clopper-Pearson", "n": 7,
            "p_value": 0.004, "mirror_p_value": 0.99, "corrected_alpha": 0.0125, "look_alpha": 0.0125,
            "threshold": 0.0, "finding": None, "test_outcome": "passed",
            "arm_a": {"name": "BN", "values": []}, "arm_b": {"name": "plain", "values": []}}
    return {**base, **changes}


def ledger(records, passes, session="s") -> dict:
    return {"schema": "bnclaims-ledger", "version": 3, "session": session,
            "settings": {"profile": "default", "dataset": "x", "seeds": list(range(7)), "looks": 3,
                         "budget": {"examples_seen": 480_000, "passes": passes, "steps": 1, "batch_size": 128}},
            "environment": {}, "runs": {}, "records": records}


LEDGERS = {
    3200: ledger([record("TABLE-1.convergence_speed", effect=0.0123, effect_ci=[0.006, 0.02], p_value=0.0078,
                         metric="test accuracy", threshold=0.005, effect_ci_method="sign-test inversion"),
                  record("TABLE-2.big_learning_rate", "refuted", effect=-0.4, effect_ci=[-0.8, -0.1], p_value=0.99,
                         mirror_p_value=0.0021, n=21),
                  record("TABLE-3.too_big_weights", "inconclusive", effect=0.1, effect_ci=[None, 0.6], p_value=0.3,
                         test_outcome="failed"),
                  record("A5.sigmoid", effect=9.0)], passes=150),
    12000: ledger([record("TABLE-1.convergence_speed", effect=0.004, effect_ci=[-0.001, 0.01], p_value=0.2,
                          outcome="inconclusive", metric="test accuracy", threshold=0.005,
                          effect_ci_method="sign-test inversion"),
                   record("TABLE-2.big_learning_rate", effect=0.6)], passes=40),
}


def test_the_rows_are_the_ledgers_numbers_check_by_size():
    rows = datasize.table_rows(LEDGERS)
    assert [(row["check_id"], row["size"]) for row in rows] == [
        ("TABLE-1.convergence_speed", 3200), ("TABLE-1.convergence_speed", 12000),
        ("TABLE-2.big_learning_rate", 3200), ("TABLE-2.big_learning_rate", 12000),
        ("TABLE-3.too_big_weights", 3200), ("TABLE-3.too_big_weights", 12000)]
    by = {(row["check_id"].split(".")[0], row["size"]): row for row in rows}
    first = by["TABLE-1", 3200]
    assert (first["outcome"], first["effect"], first["effect_ci"], first["n"], first["p"], first["passes"]) == (
        "supported", 0.0123, [0.006, 0.02], 7, 0.0078, 150)
    assert first["effect_ci_method"] == "sign-test inversion" and first["level"] == 0.0125
    refuted = by["TABLE-2", 3200]
    assert (refuted["p"], refuted["p_test"], refuted["n"]) == (0.0021, "mirror test", 21), "the mirror test decided"
    assert by["TABLE-3", 3200]["effect_ci"] == [None, 0.6]
    assert by["TABLE-1", 12000]["outcome"] == "inconclusive" and by["TABLE-1", 12000]["passes"] == 40
    missing = by["TABLE-3", 12000]
    assert missing["outcome"] is None and missing["effect"] is None and missing["passes"] == 40


def test_the_normalizer_controls_follow_their_comparison():
    checks = ["TABLE-10.x", "TABLE-1-LN.convergence_speed", "TABLE-2.big_learning_rate", "TABLE-1.convergence_speed"]
    rows = datasize.table_rows({100: ledger([record(check) for check in checks], passes=1)})
    assert [row["check_id"] for row in rows] == [
        "TABLE-1.convergence_speed", "TABLE-1-LN.convergence_speed", "TABLE-2.big_learning_rate", "TABLE-10.x"]


def test_the_markdown_table_prints_the_rows():
    text = datasize.markdown_table(datasize.table_rows(LEDGERS), "Title")
    lines = text.splitlines()
    assert lines[0] == "Title"
    assert ("| TABLE-1.convergence_speed | 3,200 | 150 | supported | +0.0123 | [+0.0060, +0.0200] [1] | 7 | 0.0078 "
            "| 0.0125 |") in lines
    assert ("| TABLE-2.big_learning_rate | 3,200 | 150 | refuted (expected supported) | -0.4000 | [-0.8000, -0.1000] "
            "[2] | 21 | 0.0021 (mirror test) | 0.0125 |") in lines
    assert "| TABLE-3.too_big_weights | 3,200 | 150 | inconclusive (expected supported) | +0.1000 | [-inf, +0.6000] [2]" \
        in text
    assert "| TABLE-3.too_big_weights | 12,000 | 40 | not in the ledger | | | | | |" in lines
    assert "- [1] sign-test inversion" in lines and "- [2] exact, Clopper-Pearson" in lines
    assert "- TABLE-1.convergence_speed: test accuracy, BN − plain" in lines
    assert "- TABLE-2.big_learning_rate: failed runs (diverged or collapsed), plain - BN" in lines
    assert "A5" not in text


def test_the_title_states_the_ledgers_settings():
    title = datasize.sweep_title("idx:/d", LEDGERS)
    assert title == ("The talk's table against training-set size: idx:/d, profile default, 480,000 examples seen per "
                     "run, seeds 0-6 (up to 21 where undecided)")


def _marks(ax) -> set:
    """(x, y) of every single-point mark on an axes."""
    return {(float(line.get_xdata()[0]), float(line.get_ydata()[0])) for line in ax.get_lines()
            if len(line.get_xdata()) == 1}


def _bars(ax) -> set:
    return {(float(line.get_xdata()[0]), *map(float, line.get_ydata())) for line in ax.get_lines()
            if len(line.get_xdata()) == 2 and line.get_xdata()[0] == line.get_xdata()[1]}


def test_the_plot_draws_the_ledgers_effects_and_intervals_per_check():
    rows = datasize.table_rows(LEDGERS)
    figure = datasize.draw_sweep(rows, "t")
    axes = [ax for ax in figure.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["TABLE-1.convergence_speed", "TABLE-2.big_learning_rate",
                                               "TABLE-3.too_big_weights"]
    first, second, third = axes
    assert first.get_xscale() == "log"
    assert {(3200.0, 0.0123), (12000.0, 0.004)} <= _marks(first)
    assert {(3200.0, 0.006, 0.02), (12000.0, -0.001, 0.01)} <= _bars(first)
    assert (3200.0, -0.4) in _marks(second) and (3200.0, -0.8, -0.1) in _bars(second)
    # The open lower side of TABLE-3's interval runs to the panel's bottom, with an arrow there.
    bottom = third.get_ylim()[0]
    assert (3200.0, bottom, 0.6) in _bars(third) and (3200.0, bottom) in _marks(third)
    assert (12000.0, 0.1) not in _marks(third), "nothing drawn where the ledger lacks the check"
    for ax in axes:
        assert any(list(line.get_ydata()) == [0, 0] for line in ax.get_lines()), "the zero line"
    assert any(list(line.get_ydata()) == [0.005, 0.005] for line in first.get_lines()), "TABLE-1's threshold"


# --------------------------------------------------------------------------
# Sessions


def test_the_session_command_names_the_dataset_ledger_folder_and_options():
    command = datasize.session_command("idx:/d@3200", Path("/o/size-3200"), profile="default", seeds="0-6",
                                       workers="2", extra=["--claims-looks", "1"], python="py")
    assert command == ["py", "-m", "pytest", "claims/test_talk_table.py", "--claims-profile", "default",
                       "--claims-dataset", "idx:/d@3200", "--claims-report-dir", "/o/size-3200", "--claims-seeds",
                       "0-6", "-n", "2", "--claims-looks", "1"]
    assert datasize.session_dataset("idx:/d", 48_000, 48_000) == "idx:/d"
    assert datasize.session_dataset("idx:/d", 3_200, 48_000) == "idx:/d@3200"


STAND_IN = """
import json, sys
from pathlib import Path
folder = Path(sys.argv[sys.argv.index("--claims-report-dir") + 1])
print("claims progress: runs 1/2")
print("some other line")
if {write}:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "claims.json").write_text(json.dumps({ledger}))
print("ERROR: the last word of the session")
sys.exit({status})
"""


def stand_in_sweep(monkeypatch, tmp_path, *, write: bool, status: int, session: str = "new"):
    """run_sweep with each session a script that may write a ledger and exits with `status`."""
    script = tmp_path / "session.py"
    document = ledger([record("TABLE-2.big_learning_rate", "inconclusive")], passes=40, session=session)
    script.write_text(STAND_IN.format(write=write, ledger=repr(document), status=status))
    monkeypatch.setattr(datasize, "session_command",
                        lambda name, folder, **_: [sys.executable, str(script), "--claims-report-dir", str(folder)])
    options = datasize.parse_options(["--dataset", "digits", "--sizes", "200", "--out", str(tmp_path / "out")])
    echoed = []
    result = datasize.run_sweep(options, {200: "digits@200"}, tmp_path, echo=echoed.append)
    return result, echoed


def test_a_session_whose_checks_fail_is_a_result_not_a_failure(monkeypatch, tmp_path):
    (ledgers, sessions), echoed = stand_in_sweep(monkeypatch, tmp_path, write=True, status=1)
    assert ledgers[200]["records"][0]["outcome"] == "inconclusive"
    assert sessions == [{"size": 200, "dataset": "digits@200", "ledger": str(tmp_path / "out/size-200/claims.json"),
                         "exit_status": 1, "seconds": sessions[0]["seconds"]}]
    assert "  claims progress: runs 1/2" in echoed and "some other line" not in "\n".join(echoed)
    assert echoed[-1].endswith("(pytest exit status 1): TABLE-2 inconclusive")
    assert "some other line" in (tmp_path / "out/size-200/session.log").read_text()


def test_a_session_without_a_ledger_stops_the_sweep_in_one_line(monkeypatch, tmp_path):
    with pytest.raises(datasize.SessionError, match=r"for 200 training images wrote no ledger \(pytest exit status "
                                                    r"4; .*session.log: ERROR: the last word of the session\)"):
        stand_in_sweep(monkeypatch, tmp_path, write=False, status=4)


def test_a_ledger_left_by_an_earlier_session_is_not_taken_for_this_ones(monkeypatch, tmp_path):
    stand_in_sweep(monkeypatch, tmp_path, write=True, status=0, session="earlier")
    with pytest.raises(datasize.SessionError, match="wrote no ledger of its own"):
        stand_in_sweep(monkeypatch, tmp_path, write=False, status=2)


def test_a_ledger_the_table_cannot_read_is_one_line(tmp_path):
    folder = tmp_path / "size-200"
    folder.mkdir()
    (folder / "claims.json").write_text(json.dumps(ledger([record("TABLE-1.x", n="seven")], passes=1)))
    with pytest.raises(datasize.SessionError, match="cannot read: .*n is \"seven\""):
        datasize.session_ledger(folder, 200, 0, None)


def test_the_outputs_are_written_from_the_ledgers(tmp_path):
    text, paths = datasize.write_outputs(tmp_path / "out", "idx:/d", LEDGERS, [])
    assert [path.name for path in paths] == ["datasize.md", "datasize.json", "datasize.png", "datasize.svg"]
    assert paths[0].read_text() == text + "\n"
    document = json.loads(paths[1].read_text())
    assert document["sizes"] == [3200, 12000] and document["rows"] == json.loads(
        json.dumps(datasize.table_rows(LEDGERS)))
    assert paths[2].read_bytes().startswith(b"\x89PNG") and b"<svg" in paths[3].read_bytes()


# --------------------------------------------------------------------------
# Bad options: one line, exit 2, nothing written


@pytest.mark.parametrize("arguments, problem", [
    (["--sizes"], "argument --sizes: expected at least one argument"),
    (["--sizes", "3200", "12k"], "size '12k' is not a positive whole number of training images"),
    (["--sizes", "0"], "size '0' is not a positive"),
    (["--sizes", "100", "300"], "--sizes: 100 is fewer than one batch of the talk's 128"),
    (["--sizes", "200", "481"], "has 480 training images, fewer than the largest size 481; use sizes up to 480"),
    (["--seeds", "1"], "--claims-seeds '1' must name at least 2"),
    (["-n", "many"], "-n 'many' is not a number of workers"),
])
def test_a_bad_option_is_one_line_and_writes_nothing(uneven, tmp_path, capsys, arguments, problem):
    out = tmp_path / "out"
    status = datasize.main(["--dataset", uneven, "--out", str(out), *arguments], root=ROOT)
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and error.startswith("datasize: ") and problem in error, error
    assert not out.exists()


@pytest.mark.parametrize("dataset, problem", [
    ("mnist5k", "mnist5k draws its training images per seed"),
    ("digits@500", "has a training-size suffix: give the dataset (digits) and the sizes with --sizes"),
    ("nope", "unknown dataset 'nope'"),
])
def test_a_dataset_the_sweep_cannot_cut_is_one_line(tmp_path, capsys, dataset, problem):
    out = tmp_path / "out"
    status = datasize.main(["--dataset", dataset, "--sizes", "200", "--out", str(out)], root=ROOT)
    error = capsys.readouterr().err
    assert status == 2 and error.count("\n") == 1 and problem in error, error
    assert not out.exists()


def test_an_out_that_is_a_file_is_one_line(uneven, tmp_path, capsys):
    (tmp_path / "out").write_text("")
    assert datasize.main(["--dataset", uneven, "--sizes", "200", "--out", str(tmp_path / "out")], root=ROOT) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_the_sweep_runs_from_the_repository_root(uneven, tmp_path, capsys):
    assert datasize.main(["--dataset", uneven, "--sizes", "200", "--out", str(tmp_path / "out")],
                         root=tmp_path) == 2
    assert "claims/test_talk_table.py not found: run the sweep from the repository's root" in capsys.readouterr().err
