"""The progress line: run letters counted across processes, the expected total from the last session,
the ETA, and the wording."""

from __future__ import annotations

import json
import multiprocessing

import pytest

from bnclaims.progress import (HISTORY_NAME, Progress, RunEvents, count_events, duration_text, expected_runs,
                               read_history, remove_events, write_history)


def _serve(session_id: str, trained: int, served: int) -> None:
    events = RunEvents(session_id)
    for _ in range(trained):
        events.add(trained=True)
    for _ in range(served):
        events.add(trained=False)


def test_runs_served_in_several_processes_are_counted_together(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)
    session_id = "s-test"
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_serve, args=(session_id, 3, 5)), context.Process(target=_serve, args=(session_id, 2, 0))]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    _serve(session_id, 1, 1)      # and the controller itself, training without xdist
    assert count_events(session_id) == (6, 6)
    remove_events(session_id)
    assert count_events(session_id) == (0, 0)


def test_the_expected_total_is_the_last_sessions_count_for_exactly_these_checks(tmp_path):
    write_history(tmp_path, "settings A", {"t1": 10, "t2": 30})
    write_history(tmp_path, "settings A", {"t2": 32})          # a later session that ran t2 only
    write_history(tmp_path, "settings B", {"t1": 99})
    history = read_history(tmp_path, "settings A")
    assert history == {"t1": 10, "t2": 32}
    assert expected_runs(history, ["t1", "t2"]) == 42
    assert expected_runs(history, ["t1", "t3"]) is None, "a check never run before: no total to promise"
    (tmp_path / HISTORY_NAME).write_text("[not, json")
    assert read_history(tmp_path, "settings A") == {}          # a damaged history costs the total, nothing else
    write_history(tmp_path, "settings A", {"t1": 11})
    assert json.loads((tmp_path / HISTORY_NAME).read_text()) == {"settings A": {"t1": 11}}


@pytest.mark.parametrize("progress, eta", [
    (Progress(trained=50, served=0, checks_done=3, checks_total=10, elapsed=100.0, runs_expected=200), 300.0),
    (Progress(trained=0, served=0, checks_done=5, checks_total=10, elapsed=100.0), 100.0),      # by checks
    (Progress(trained=9, served=0, checks_done=4, checks_total=10, elapsed=100.0), None),       # too early by checks
    (Progress(trained=1, served=0, checks_done=0, checks_total=10, elapsed=100.0), None),       # no pace yet
    (Progress(trained=5, served=0, checks_done=1, checks_total=10, elapsed=2.0, runs_expected=10), None),
])
def test_the_eta_goes_by_runs_where_their_total_is_known_else_by_checks(progress, eta):
    assert progress.eta() == (pytest.approx(eta) if eta is not None else None)


def test_the_line_says_done_of_total_trained_and_cached_elapsed_and_left():
    line = Progress(trained=380, served=32, checks_done=21, checks_total=66, elapsed=582.0, runs_expected=910).line()
    assert line == ("claims progress: runs 412/~910 (380 trained, 32 from the cache), checks 21/66, 9 min 42 s "
                    "elapsed, about 11 min 43 s left")   # 582 s x 498/412
    assert "/~" not in Progress(3, 0, 1, 4, 30.0).line()
    assert Progress(344, 357, 11, 66, 601.0).line().endswith(
        "time left not known yet (a total comes from an earlier session with these settings)")
    assert [duration_text(s) for s in (0, 42, 582, 3900)] == ["0 s", "42 s", "9 min 42 s", "1 h 05 min"]
