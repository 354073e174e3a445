"""Plot data that claim tests attach to their checks (via the `figure` fixture).

Builders only: each returns a JSON-ready dict with a "kind" that bnclaims.report knows how to draw.
The numbers, not images, travel with the test's report and are stored in the check's ledger record
("figures"), so the report is drawn from the ledger alone, the same way whichever xdist worker ran the
test, and can be drawn again later from a saved ledger.

Kinds:
  curves  per-epoch metrics per arm, one list per seed:  {"arms": {arm: {metric: [[epoch values] per seed]}}}
  sweep   a value against a swept setting, per-seed points: {"arms": {arm: {"x": [...], "y": [[per seed] per x]}}}
  loglog  series with a fitted power law:                 {"series": {name: {"x", "y", "slope", "intercept"}}}
  paired  per-seed values of two arms, joined by seed:    {"arms": {arm: [per seed]}, "seeds": [...]}
  table   rows of text/numbers:                           {"columns": [...], "rows": [[...]]}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .results import HISTORY_KEYS, RunResult


def _plain(values) -> list[float]:
    return [float(v) for v in values]


def learning_curves(title: str, arms: Mapping[str, Sequence[RunResult]], *,
                    metrics: Sequence[str] = ("train_accuracy", "val_accuracy"), claim_id: str = "") -> dict:
    """Learning curves like the talk's comparison charts: mean and band across seeds per arm."""
    unknown = set(metrics) - set(HISTORY_KEYS)
    if unknown:
        raise ValueError(f"unknown history metrics {sorted(unknown)}; known: {HISTORY_KEYS}")
    return curves(title, "epoch", "accuracy",
                  {arm: {metric: [run.history[metric] for run in runs] for metric in metrics}
                   for arm, runs in arms.items()}, claim_id=claim_id)


def curves(title: str, x_label: str, y_label: str, arms: Mapping[str, Mapping[str, Sequence[Sequence[float]]]],
           *, claim_id: str = "") -> dict:
    """arms: {arm: {series name: [values over time, one list per seed]}}, drawn as mean and band."""
    return {
        "kind": "curves", "title": title, "claim_id": claim_id, "x_label": x_label, "y_label": y_label,
        "arms": {arm: {name: [_plain(values) for values in per_seed] for name, per_seed in series.items()}
                 for arm, series in arms.items()},
    }


def sweep(title: str, x_label: str, y_label: str, arms: Mapping[str, Mapping[object, Sequence[float]]], *,
          x_log: bool = False, claim_id: str = "") -> dict:
    """arms: {arm: {x value: per-seed y values}}; x values may be numbers or category names."""
    return {
        "kind": "sweep", "title": title, "claim_id": claim_id, "x_label": x_label, "y_label": y_label,
        "x_log": x_log,
        "arms": {arm: {"x": list(points), "y": [_plain(ys) for ys in points.values()]}
                 for arm, points in arms.items()},
    }


def loglog(title: str, x_label: str, y_label: str, series: Mapping[str, Mapping[str, object]], *,
           claim_id: str = "") -> dict:
    """series: {name: {"x": [...], "y": [...], "slope": float, "intercept": float}} (natural logs)."""
    return {
        "kind": "loglog", "title": title, "claim_id": claim_id, "x_label": x_label, "y_label": y_label,
        "series": {name: {"x": _plain(s["x"]), "y": _plain(s["y"]), "slope": float(s["slope"]),
                          "intercept": float(s["intercept"])} for name, s in series.items()},
    }


def paired(title: str, y_label: str, arms: Mapping[str, Sequence[float]], seeds: Sequence[int], *,
           claim_id: str = "") -> dict:
    return {"kind": "paired", "title": title, "claim_id": claim_id, "y_label": y_label,
            "arms": {arm: _plain(values) for arm, values in arms.items()}, "seeds": [int(s) for s in seeds]}


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *, claim_id: str = "") -> dict:
    return {"kind": "table", "title": title, "claim_id": claim_id, "columns": list(columns),
            "rows": [list(row) for row in rows]}
