"""The report's pictures, drawn from ledger records and figure payloads. Pure functions, no pytest.

  plot_png(payload)            PNG bytes for the plot kinds of bnclaims.figures: curves, sweep, loglog, paired
  figures_for_record(record)   the figure payloads a ledger record carries, plus a default paired plot
                               when it is a paired comparison without a plot of its own, so that every
                               paired comparison is drawn at least once (an exact "measured" check may
                               come with a table only)
  forest_rows(records), forest_png(records)
                               every empirical check's effect and interval in units of its own threshold
                               (or margin), so that all of them share one axis, coloured by outcome

A paired payload may also carry "talk" ({arm: the talk's number}) and "outcomes" ({arm: per-seed
trained / collapsed / diverged}); default_paired_plot fills both from the evidence record. The ledger
stores non-finite numbers as null: every drawer reads null as NaN (a gap).

Plots are drawn with matplotlib's Agg canvas on Figure objects (never pyplot): no GUI backend, no global
state shared between the plots of one process.
"""

from __future__ import annotations

import io
import math
import textwrap
import warnings

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator
from PIL import Image

from .. import figures

FIGSIZE = (10.0, 3.8)      # inches; at DPI a 1000 x 380 pixel PNG, shown at full width and readable as is
DPI = 100
FONT_SIZE = 9
TABLE_KIND = "table"
OUTCOME_COLORS = {"supported": "#1a7f37", "holds": "#1a7f37", "refuted": "#cf222e", "fails": "#cf222e",
                  "inconclusive": "#9a6700"}

# The talk's learning-curve charts: training-mode accuracy dashed, inference-mode (validation) solid.
_SPLIT_STYLES = {"train": "--", "val": "-"}


# ----------------------------------------------------------------------------------------------------
# Plots


def plot_png(payload: dict) -> bytes:
    """Draw one figure payload (curves, sweep, loglog or paired) and return the PNG bytes."""
    draw = _DRAWERS.get(payload.get("kind"))
    if draw is None:
        raise ValueError(f"cannot draw a figure of kind {payload.get('kind')!r}; known: {sorted(_DRAWERS)}")
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    draw(figure, payload)
    figure.suptitle("\n".join(textwrap.wrap(payload.get("title", ""), 140)), fontsize=FONT_SIZE + 1)
    return _png(figure)


def _png(figure: Figure) -> bytes:
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    buffer = io.BytesIO()
    # A plot has few colours: a 256-colour palette looks the same at about a third of the bytes, which
    # matters in a self-contained report that embeds every plot. (PNG's optimize flag would save 4%
    # more at five times the encoding time.)
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG")
    return buffer.getvalue()


def _floats(values) -> np.ndarray:
    """Values as floats, null (the ledger's non-finite numbers) as NaN."""
    return np.array([np.nan if value is None else value for value in values], dtype=float)


def _arm_colors(names) -> dict[str, str]:
    """The same arm gets the same colour in every plot of a test (arms keep their declared order)."""
    return {name: f"C{index % 10}" for index, name in enumerate(names)}


def _quiet_stat(function, values: np.ndarray, axis: int = 0) -> np.ndarray:
    # All-NaN columns (every seed diverged by then) are expected; they plot as gaps, not as warnings.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(values, axis=axis)


def _seed_matrix(per_seed: list[list[float]]) -> np.ndarray:
    """Seeds x epochs, NaN-padded: a run stopped by divergence has a shorter history."""
    epochs = max((len(values) for values in per_seed), default=0)
    matrix = np.full((len(per_seed), epochs), np.nan)
    for row, values in enumerate(per_seed):
        matrix[row, :len(values)] = _floats(values)
    return matrix


def _metric_parts(metric: str) -> tuple[str, str]:
    """'train_accuracy' -> ('train', 'accuracy'); a name without a split is its own quantity."""
    split, _, quantity = metric.partition("_")
    return (split, quantity) if quantity else ("", metric)


def _draw_curves(figure: Figure, payload: dict) -> None:
    arms = payload["arms"]
    colors = _arm_colors(arms)
    metrics = list(dict.fromkeys(metric for per_metric in arms.values() for metric in per_metric))
    quantities = list(dict.fromkeys(_metric_parts(metric)[1] for metric in metrics))
    axes = figure.subplots(1, len(quantities), squeeze=False)[0]
    seeds = 0
    for ax, quantity in zip(axes, quantities, strict=True):
        for arm, per_metric in arms.items():
            for metric, per_seed in per_metric.items():
                split, metric_quantity = _metric_parts(metric)
                if metric_quantity != quantity:
                    continue
                values = _seed_matrix(per_seed)
                seeds = max(seeds, len(values))
                epochs = np.arange(1, values.shape[1] + 1)
                ax.fill_between(epochs, _quiet_stat(np.nanmin, values), _quiet_stat(np.nanmax, values),
                                color=colors[arm], alpha=0.15, linewidth=0)
                ax.plot(epochs, _quiet_stat(np.nanmean, values), color=colors[arm],
                        linestyle=_SPLIT_STYLES.get(split, "-"), label=f"{arm} {split}".strip())
        ax.set_xlabel(payload.get("x_label", "epoch"))
        ax.set_ylabel(quantity)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 1)
    axes[0].set_title(f"mean and min-max over {seeds} seeds; dashed: training mode, solid: inference mode",
                      fontsize=FONT_SIZE - 1)


def _jitter(rng: np.random.Generator, x: float, count: int, *, log: bool, width: float) -> np.ndarray:
    """Spread a column of per-seed points sideways so that equal values stay visible."""
    offsets = rng.uniform(-1, 1, count)
    return x * 10 ** (0.03 * offsets) if log else x + width * offsets


def _draw_sweep(figure: Figure, payload: dict) -> None:
    ax = figure.subplots()
    arms = payload["arms"]
    colors = _arm_colors(arms)
    categorical = any(isinstance(x, str) for data in arms.values() for x in data["x"])
    categories = list(dict.fromkeys(x for data in arms.values() for x in data["x"])) if categorical else []
    log = bool(payload.get("x_log")) and not categorical
    numeric = [float(x) for data in arms.values() for x in data["x"]] if not categorical else []
    width = 0.08 if categorical else 0.01 * ((max(numeric) - min(numeric)) or 1.0)
    rng = np.random.default_rng(0)    # the same jitter in every report
    for arm, data in arms.items():
        xs = [categories.index(x) if categorical else float(x) for x in data["x"]]
        for x, ys in zip(xs, data["y"], strict=True):
            ax.scatter(_jitter(rng, x, len(ys), log=log, width=width), _floats(ys), color=colors[arm], s=14,
                       alpha=0.6)
        means = [_quiet_stat(np.nanmean, _floats(ys)) for ys in data["y"]]
        ax.plot(xs, means, color=colors[arm], marker="o", markersize=4, label=f"{arm} (mean)")
    if log:
        ax.set_xscale("log")
    if categorical:
        ax.set_xticks(range(len(categories)), categories, fontsize=FONT_SIZE - 1)
    ax.set_xlabel(payload.get("x_label", ""))
    ax.set_ylabel(payload.get("y_label", ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)


def _draw_loglog(figure: Figure, payload: dict) -> None:
    ax = figure.subplots()
    series = payload["series"]
    colors = _arm_colors(series)
    for name, data in series.items():
        x, y = _floats(data["x"]), _floats(data["y"])
        shown = (x > 0) & (y > 0)      # a log axis cannot place the others
        ax.scatter(x[shown], y[shown], color=colors[name], s=14)
        if shown.any():
            grid = np.geomspace(x[shown].min(), x[shown].max(), 50)
            ax.plot(grid, np.exp(data["intercept"]) * grid ** data["slope"], color=colors[name],
                    label=f"{name}: slope {data['slope']:.2f}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel(payload.get("x_label", ""))
    ax.set_ylabel(payload.get("y_label", ""))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT_SIZE - 1)


_OUTCOME_MARKERS = {"diverged": "x", "collapsed": "v"}


def _mark_failed_runs(ax, position: int, name: str, values, outcomes) -> None:
    """A black marker over each diverged or collapsed run: the talk's failures, seed by seed."""
    for outcome, marker in _OUTCOME_MARKERS.items():
        hits = [value for value, seen in zip(values, outcomes, strict=True) if seen == outcome]
        if hits:
            ax.scatter([position] * len(hits), hits, marker=marker, color="black", s=40, zorder=4,
                       label=f"{name}: {outcome}")


def _draw_paired(figure: Figure, payload: dict) -> None:
    ax = figure.subplots()
    arms = payload["arms"]
    names = list(arms)
    colors = _arm_colors(names)
    for per_seed in zip(*arms.values(), strict=True):
        ax.plot(range(len(names)), per_seed, color="0.6", linewidth=0.8, zorder=1)
    for position, (name, values) in enumerate(arms.items()):
        ax.scatter([position] * len(values), values, color=colors[name], s=18, zorder=3)
        ax.hlines(float(np.mean(values)), position - 0.2, position + 0.2, color=colors[name], linewidth=2,
                  label=f"{name} mean {np.mean(values):.4g}")
        if name in payload.get("outcomes", {}):
            _mark_failed_runs(ax, position, name, values, payload["outcomes"][name])
    talk = payload.get("talk", {})
    talk_label = "talk (1 run)"           # one legend entry for all of the talk's stars
    for position, name in enumerate(names):
        if name in talk:
            ax.scatter(position + 0.25, talk[name], marker="*", color="black", s=70, zorder=4, label=talk_label)
            talk_label = None
    ax.set_xticks(range(len(names)), names)
    ax.set_xlim(-0.5, len(names) - 0.5)
    ax.set_ylabel(payload.get("y_label", ""))
    ax.set_title(f"{len(payload.get('seeds', ()))} seeds; a line joins the two arms of one seed", fontsize=FONT_SIZE - 1)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=FONT_SIZE - 1)


_DRAWERS = {"curves": _draw_curves, "sweep": _draw_sweep, "loglog": _draw_loglog, "paired": _draw_paired}


# ----------------------------------------------------------------------------------------------------
# Which plots a test gets


def default_paired_plot(record: dict) -> dict:
    """A paired plot of a paired evidence record's per-seed values, with the talk's numbers marked."""
    arms = (record["arm_a"], record["arm_b"])
    payload = figures.paired(f"{record['check_id']}: {record['metric']} per seed",
                             record["metric"], {arm["name"]: arm["values"] for arm in arms}, record["seeds"],
                             claim_id=record["claim_id"])
    payload["talk"] = {arm["name"]: arm["talk_value"] for arm in arms if arm.get("talk_value") is not None}
    payload["outcomes"] = {arm["name"]: arm["outcomes"] for arm in arms if arm.get("outcomes")}
    return payload


def has_own_plot(record: dict, payloads: list[dict]) -> bool:
    """A plot (not a table) that names the record's claim, or names no claim, belongs to the record."""
    return any(p["kind"] != TABLE_KIND and p.get("claim_id", "") in ("", record["claim_id"]) for p in payloads)


def plots_for_test(evidence: list[dict], payloads: list[dict]) -> list[dict]:
    """The test's own payloads, then a default paired plot for each paired record without a plot."""
    defaults = [default_paired_plot(record) for record in evidence
                if record["kind"] == "paired" and not has_own_plot(record, payloads)]
    return [*payloads, *defaults]


def figures_for_record(record: dict) -> list[dict]:
    """The figures a ledger record carries, and its default paired plot where it needs one."""
    return plots_for_test([record], list(record.get("figures") or ()))


# ----------------------------------------------------------------------------------------------------
# The forest plot: every empirical check on one axis


def forest_row(record: dict) -> dict:
    """One empirical check in units of its threshold: {"x", "low", "high"} (None for an unbounded side),
    "bounds" (where its threshold or margins fall on that axis) and "scaled_by" (what was divided).

    Superiority with threshold m (effect > m): divided by |m|, so the threshold is at +1 (or -1).
    Non-inferiority with margin m (effect > -m): divided by m, the margin at -1.
    Equivalence within ±m: divided by m, the margins at ±1.
    Measured checks: divided by |threshold|, which lands at ±1 (their criterion says how it is used).
    A threshold of 0 (superiority over no difference) gives no unit: such a check is divided by the
    largest finite magnitude among its effect and interval bounds, and its threshold stays at 0.
    """
    m, test = float(record["threshold"]), record.get("test", "")
    effect, (low, high) = record["effect"], record["effect_ci"]
    if m != 0:
        scale, scaled_by = abs(m), "threshold"
    else:
        finite = [abs(v) for v in (effect, low, high) if v is not None and math.isfinite(v)]
        scale, scaled_by = (max(finite) or 1.0) if finite else 1.0, "interval"
    if test == "non_inferiority":
        bounds = [-m / scale]
    elif test == "equivalence":
        bounds = [-m / scale, m / scale]
    else:
        bounds = [m / scale]

    def unit(value):
        return None if value is None or not math.isfinite(value) else value / scale

    return {"check_id": record["check_id"], "outcome": record["outcome"], "x": unit(effect), "low": unit(low),
            "high": unit(high), "bounds": bounds, "scaled_by": scaled_by,
            "finding": record.get("test_outcome") == "xfailed"}


FOREST_WIDTH = 4.8         # inches: beside the headline table at 1280 pixels
FOREST_ROW = 0.24          # inches per check, at most
FOREST_ROWS_HEIGHT = 5.0   # inches for all the rows at most, so that the plot fits above the fold at 1280x800
_LINEAR_WITHIN = 1.0       # the axis is linear within ±1 threshold, logarithmic beyond


def forest_limits(rows: list[dict]) -> tuple[float, float]:
    finite = [v for row in rows for v in (row["x"], row["low"], row["high"], *row["bounds"]) if v is not None]
    low = min([-1.5, *finite]) * 1.25
    high = max([1.5, *finite]) * 1.25
    return max(low, -1e4), min(high, 1e4)


def forest_png(records: list[dict]) -> bytes:
    """The forest plot of the empirical records, in the order given (top to bottom)."""
    rows = [forest_row(record) for record in records]
    row_height = min(FOREST_ROW, FOREST_ROWS_HEIGHT / max(len(rows), 1))
    marker = 6 * min(1.0, row_height / FOREST_ROW) ** 0.5     # smaller marks where the rows are closer
    figure = Figure(figsize=(FOREST_WIDTH, row_height * max(len(rows), 1) + 1.3), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    left, right = forest_limits(rows)
    for y, row in enumerate(rows):
        color = OUTCOME_COLORS.get(row["outcome"], "0.4")
        low = left if row["low"] is None else row["low"]
        high = right if row["high"] is None else row["high"]
        ax.plot([low, high], [y, y], color=color, linewidth=2, solid_capstyle="butt")
        for side, unbounded, arrow in ((left, row["low"] is None, "<"), (right, row["high"] is None, ">")):
            if unbounded:
                ax.plot([side], [y], marker=arrow, color=color, markersize=marker, clip_on=False)
        if row["x"] is not None:
            ax.plot([row["x"]], [y], marker="o", markersize=marker, color=color,
                    markerfacecolor="white" if row["finding"] else color, markeredgewidth=1.5)
        ax.plot(row["bounds"], [y] * len(row["bounds"]), linestyle="none", marker="|", markersize=2 * marker,
                markeredgewidth=1.6, color="black")
    ax.axvline(0, color="0.5", linewidth=0.8)
    for x in (-1, 1):
        ax.axvline(x, color="0.75", linewidth=0.8, linestyle="--")
    ax.set_xscale("symlog", linthresh=_LINEAR_WITHIN, linscale=1.0)
    ax.set_xlim(left, right)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [row["check_id"] for row in rows], fontsize=FONT_SIZE - 1)
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 1, top=True, labeltop=True)
    ax.set_xlabel("effect ÷ threshold, test-level interval", fontsize=FONT_SIZE - 1)
    ticks = [t for t in (-1000, -100, -10, -1, 0, 1, 10, 100, 1000) if left <= t <= right]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(alpha=0.25, axis="x")
    return _png(figure)
