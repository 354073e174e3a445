"""The report's pictures, drawn from ledger records and figure payloads. Pure functions, no pytest.

  plot_svg(payload)            SVG bytes for the plot kinds of bnclaims.figures: curves, sweep, loglog, paired
  draw(payload)                the same plot as a matplotlib Figure (to inspect what it shows)
  seed_curve(per_seed, ...)    the mean and band a learning curve draws, and which seeds it counts how
  figures_for_record(record)   the figure payloads a ledger record carries, plus a default paired plot
                               when it is a paired comparison without a plot of its own, so that every
                               paired comparison is drawn at least once (an exact "measured" check may
                               come with a table only)
  forest_row(record), forest_svg(records)
                               every empirical check's effect and interval in units of its own threshold
                               (or margin), so that all of them share one axis, coloured by outcome

A paired payload may also carry "talk" ({arm: the talk's number}) and "outcomes" ({arm: per-seed
trained / collapsed / diverged}); default_paired_plot fills both from the evidence record. The ledger
stores non-finite numbers as null: every drawer reads null as NaN.

Plots are drawn on Figure objects (never pyplot): no GUI backend, no global state shared between the
plots of one process. They are SVG, sharp at any screen density, with their text kept as text (a
fraction of the bytes of text drawn as paths, and searchable on the page); saved to the bounding box of
everything drawn, so that no label or title is cut at the figure's edge.
"""

from __future__ import annotations

import io
import math
import re
import textwrap
import warnings
from html import escape

import matplotlib
import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

from .. import figures
from ..formatting import interval_level

FIGSIZE = (10.0, 3.8)      # inches: shown at full width (1000 CSS pixels at most)
DPI = 100
FONT_SIZE = 9
TABLE_KIND = "table"
OUTCOME_COLORS = {"supported": "#1a7f37", "holds": "#1a7f37", "refuted": "#cf222e", "fails": "#cf222e",
                  "inconclusive": "#9a6700"}
# Characters per line: a title across the figure, an axis label along its 3.8-inch height.
TITLE_WIDTH = 120
LABEL_WIDTH = 44

# svg.hashsalt: the ids matplotlib writes are then the same on every drawing of the same figure (the
# figure cache and the page compare bytes); Date None: no timestamp in the file.
_SVG_SETTINGS = {"svg.fonttype": "none", "svg.hashsalt": "bnclaims"}
_SVG_METADATA = {"Date": None}

# The talk's learning-curve charts: training-mode accuracy dashed, inference-mode (validation) solid.
_SPLIT_STYLES = {"train": "--", "val": "-"}


# ----------------------------------------------------------------------------------------------------
# Plots


def draw(payload: dict) -> Figure:
    """One figure payload (curves, sweep, loglog or paired) drawn on a Figure."""
    drawer = _DRAWERS.get(payload.get("kind"))
    if drawer is None:
        raise ValueError(f"cannot draw a figure of kind {payload.get('kind')!r}; known: {sorted(_DRAWERS)}")
    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    subtitle = drawer(figure, payload)
    lines = textwrap.wrap(payload.get("title", ""), TITLE_WIDTH) + textwrap.wrap(subtitle or "", TITLE_WIDTH + 10)
    figure.suptitle("\n".join(lines), fontsize=FONT_SIZE + 1)
    return figure


def plot_svg(payload: dict) -> bytes:
    """Draw one figure payload and return the SVG bytes."""
    return svg_bytes(draw(payload))


def svg_bytes(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    with matplotlib.rc_context(_SVG_SETTINGS):
        figure.savefig(buffer, format="svg", metadata=_SVG_METADATA, bbox_inches="tight", pad_inches=0.05)
    return _GEOMETRY.sub(lambda match: _DIGITS.sub(r"\1", match.group(0)), buffer.getvalue().decode("utf-8")).encode()


# Coordinates in points to two decimals (matplotlib writes six): a hundredth of a point is finer than
# any screen draws, and a scatter plot's file shrinks by a third. Only geometry attributes are touched,
# never text.
_GEOMETRY = re.compile(r'\b(?:d|x|y|transform)="[^"]*"')
_DIGITS = re.compile(r"(\.\d\d)\d+")


def wrapped(text: str, width: int = LABEL_WIDTH, lines: int = 3) -> str:
    """An axis label in lines that fit beside the axis (the last one cut with an ellipsis)."""
    return "\n".join(textwrap.wrap(text, width, max_lines=lines, placeholder=" …"))


def _floats(values) -> np.ndarray:
    """Values as floats, null (the ledger's non-finite numbers) as NaN."""
    return np.array([np.nan if value is None else value for value in values], dtype=float)


def _arm_colors(names) -> dict[str, str]:
    """The same arm gets the same colour in every plot of a test (arms keep their declared order)."""
    return {name: f"C{index % 10}" for index, name in enumerate(names)}


def _quiet_stat(function, values: np.ndarray, axis: int = 0) -> np.ndarray:
    # All-NaN columns (a quantity no seed has a value of by then) are expected; they plot as gaps.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return function(values, axis=axis)


def _seed_matrix(per_seed: list[list[float]]) -> np.ndarray:
    """Seeds x epochs, NaN-padded: a history may be shorter or end in nulls."""
    epochs = max((len(values) for values in per_seed), default=0)
    matrix = np.full((len(per_seed), epochs), np.nan)
    for row, values in enumerate(per_seed):
        matrix[row, :len(values)] = _floats(values)
    return matrix


def carried_forward(matrix: np.ndarray) -> np.ndarray:
    """Each seed's epochs after its last finite value set to that value (seeds x epochs)."""
    carried = matrix.copy()
    for row in carried:
        finite = np.flatnonzero(np.isfinite(row))
        if finite.size:
            row[finite[-1] + 1:] = row[finite[-1]]
    return carried


def carries_forward(quantity: str) -> bool:
    """Whether a diverged seed keeps its last value. A run that diverged has NaN weights that no later
    update changes (bnclaims.engines.compiled masks them), so its predictions, and with them its accuracy, stay what
    they were when it diverged: argmax of NaN, one class, about chance. Its loss is not finite from then
    on, and a mean with it is not either, so other quantities are averaged over the other seeds."""
    return quantity == "accuracy"


def seed_curve(per_seed: list[list[float]], *, carry: bool) -> dict:
    """What a learning curve draws for one arm and series: per epoch the mean, min and max over seeds,
    and how many seeds each point counts. carry: a seed whose history ends early (it diverged) counts
    at its last value from then on (carries_forward); otherwise it is left out of those points.
    "ended": how many seeds ended early; "carried_at": (lowest, highest) value they were carried at."""
    matrix = _seed_matrix(per_seed)
    ended = [row for row in matrix if row.size and not np.isfinite(row[-1])]
    last = [row[np.isfinite(row)][-1] for row in ended if np.isfinite(row).any()]
    if carry:
        matrix = carried_forward(matrix)
    return {"mean": _quiet_stat(np.nanmean, matrix), "low": _quiet_stat(np.nanmin, matrix),
            "high": _quiet_stat(np.nanmax, matrix), "counted": np.isfinite(matrix).sum(axis=0),
            "seeds": len(matrix), "ended": len(ended),
            "carried_at": (min(last), max(last)) if carry and last else None}


def _metric_parts(metric: str) -> tuple[str, str]:
    """'train_accuracy' -> ('train', 'accuracy'); a name without a split is its own quantity."""
    split, _, quantity = metric.partition("_")
    return (split, quantity) if quantity else ("", metric)


def curve_note(arm: str, quantity: str, curve: dict) -> str:
    """How a curve counts the seeds that diverged, in words; '' where none did."""
    if not curve["ended"]:
        return ""
    diverged = f"{arm}: {curve['ended']} of {curve['seeds']} seeds diverged"
    if curve["carried_at"] is not None:
        low, high = curve["carried_at"]
        at = f"{low:.2f}" if f"{low:.2f}" == f"{high:.2f}" else f"{low:.2f}-{high:.2f}"
        return f"{diverged}, counted in the mean at the {quantity} they ended with ({at}) from then on"
    fewest = int(curve["counted"].min()) if curve["counted"].size else 0
    return f"{diverged}; its mean {quantity} is over the others from then on (as few as {fewest})"


def _draw_curves(figure: Figure, payload: dict) -> str:
    arms = payload["arms"]
    colors = _arm_colors(arms)
    metrics = list(dict.fromkeys(metric for per_metric in arms.values() for metric in per_metric))
    quantities = list(dict.fromkeys(_metric_parts(metric)[1] for metric in metrics))
    splits = {_metric_parts(metric)[0] for metric in metrics}
    axes = figure.subplots(1, len(quantities), squeeze=False)[0]
    seeds, notes = 0, {}
    for ax, quantity in zip(axes, quantities, strict=True):
        for arm, per_metric in arms.items():
            for metric, per_seed in per_metric.items():
                split, metric_quantity = _metric_parts(metric)
                if metric_quantity != quantity:
                    continue
                curve = seed_curve(per_seed, carry=carries_forward(quantity))
                seeds = max(seeds, curve["seeds"])
                notes.setdefault((arm, quantity), curve_note(arm, quantity, curve))
                epochs = np.arange(1, curve["mean"].size + 1)
                ax.fill_between(epochs, curve["low"], curve["high"], color=colors[arm], alpha=0.15, linewidth=0)
                ax.plot(epochs, curve["mean"], color=colors[arm], linestyle=_SPLIT_STYLES.get(split, "-"),
                        label=f"{arm} {split}".strip())
        ax.set_xlabel(payload.get("x_label", "epoch"))
        ax.set_ylabel(wrapped(quantity if len(quantities) > 1 else payload.get("y_label") or quantity))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=FONT_SIZE - 1)
    parts = [f"mean and min-max over {seeds} seeds", *filter(None, notes.values())]
    if {"train", "val"} <= splits:      # the line styles are only worth a word where both are drawn
        parts.append("dashed: training mode, solid: inference mode")
    return "; ".join(parts)


def _jitter(rng: np.random.Generator, x: float, count: int, *, log: bool, width: float) -> np.ndarray:
    """Spread a column of per-seed points sideways so that equal values stay visible."""
    offsets = rng.uniform(-1, 1, count)
    return x * 10 ** (0.03 * offsets) if log else x + width * offsets


def _draw_sweep(figure: Figure, payload: dict) -> str:
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
    ax.set_ylabel(wrapped(payload.get("y_label", "")))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=FONT_SIZE - 1)
    return "a point per seed; a missing point is a seed without a finite value"


def _draw_loglog(figure: Figure, payload: dict) -> str:
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
    ax.set_ylabel(wrapped(payload.get("y_label", "")))
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=FONT_SIZE - 1)
    return "measured points and the fitted power law"


_OUTCOME_MARKERS = {"diverged": "x", "collapsed": "v"}


def _mark_failed_runs(ax, position: int, name: str, values, outcomes) -> None:
    """A black marker over each diverged or collapsed run: the talk's failures, seed by seed."""
    for outcome, marker in _OUTCOME_MARKERS.items():
        hits = [value for value, seen in zip(values, outcomes, strict=True) if seen == outcome]
        if hits:
            ax.scatter([position] * len(hits), hits, marker=marker, color="black", s=40, zorder=4,
                       label=f"{name}: {outcome}")


def _draw_paired(figure: Figure, payload: dict) -> str:
    ax = figure.subplots()
    arms = payload["arms"]
    names = list(arms)
    colors = _arm_colors(names)
    for per_seed in zip(*arms.values(), strict=True):
        ax.plot(range(len(names)), _floats(per_seed), color="0.6", linewidth=0.8, zorder=1)
    for position, (name, values) in enumerate(arms.items()):
        values = _floats(values)
        mean = _quiet_stat(np.nanmean, values)
        ax.scatter([position] * len(values), values, color=colors[name], s=18, zorder=3)
        ax.hlines(mean, position - 0.2, position + 0.2, color=colors[name], linewidth=2,
                  label=f"{name} mean {mean:.4g}")
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
    ax.set_ylabel(wrapped(payload.get("y_label", "")))
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=FONT_SIZE - 1)
    return f"{len(payload.get('seeds', ()))} seeds; a grey line joins the two arms' values of one seed"


_DRAWERS = {"curves": _draw_curves, "sweep": _draw_sweep, "loglog": _draw_loglog, "paired": _draw_paired}


# ----------------------------------------------------------------------------------------------------
# Which plots a test gets


# A check that counts failed runs pairs each run's test accuracy and marks the runs that failed (the
# claims whose metric begins so: claims/test_talk_table.py, test_careless_initialization.py,
# test_no_input_normalization.py); its metric names the difference of failure rates, not the values.
FAILURE_METRIC = "failed runs"
# A trailing "(A - B)" or "(A's minus B's)", or ", A - B": the words that make the arms' metric a difference.
_DIFFERENCE = re.compile(r"\s*(\([^()]*(?: - | − | minus )[^()]*\)|,\s*[^,()]* - [^,()]*)\s*$")


def arms_metric(record: dict) -> str:
    """What each arm's per-seed values measure, for a paired plot's axis: the record's metric names the
    difference the check tests ('test accuracy (statistics over 128 - over the small group)'), each arm
    is one side of it ('test accuracy')."""
    metric = record["metric"]
    if metric.startswith(FAILURE_METRIC):
        return "test accuracy (a failed run marked)"
    return _DIFFERENCE.sub("", metric) or metric


def default_paired_plot(record: dict) -> dict:
    """A paired plot of a paired evidence record's per-seed values, with the talk's numbers marked."""
    arms = (record["arm_a"], record["arm_b"])
    metric = arms_metric(record)
    payload = figures.paired(f"{record['check_id']}: {metric} per seed", metric,
                             {arm["name"]: arm["values"] for arm in arms}, record["seeds"],
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
    "bounds" (where its threshold or margins fall on that axis), "scaled_by" (what was divided) and
    "level" (the one-sided level of each side of the interval, interval_level).

    The interval is the ledger's effect_ci, as recorded: computed at the level of the test that decided
    the outcome, so that a supported check's interval clears its threshold and an inconclusive one's
    does not. A side the ledger records as null (a one-sided interval) stays None: drawn open-ended.

    Superiority with threshold m (effect > m): divided by |m|, so the threshold is at +1 (or -1).
    Non-inferiority with margin m (effect > -m): divided by m, the margin at -1.
    Equivalence within ±m: divided by m, the margins at ±1.
    Measured checks: divided by |threshold|, which lands at ±1 (their criterion says how it is used).
    A threshold of 0 (superiority over no difference) gives no unit: such a check is divided by the
    largest finite magnitude among its effect and interval bounds (so its interval ends at ±1 by
    construction), and its threshold stays at 0.
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
            "high": unit(high), "bounds": bounds, "scaled_by": scaled_by, "level": interval_level(record),
            "effect_ci": list(record["effect_ci"]), "finding": record.get("test_outcome") == "xfailed"}


FOREST_WIDTH = 4.8         # inches: beside the headline table
FOREST_ROW = 0.24          # inches per check, at most
FOREST_ROWS_HEIGHT = 7.0   # inches for all the rows at most
_LINEAR_WITHIN = 1.0       # the axis is linear within ±1 threshold, logarithmic beyond
OWN_SCALE_MARK = " ◇"      # after the name of a check divided by its own interval (threshold 0)


def forest_limits(rows: list[dict]) -> tuple[float, float]:
    finite = [v for row in rows for v in (row["x"], row["low"], row["high"], *row["bounds"]) if v is not None]
    low = min([-1.5, *finite]) * 1.25
    high = max([1.5, *finite]) * 1.25
    return max(low, -1e4), min(high, 1e4)


def forest_label(row: dict) -> str:
    return row["check_id"] + (OWN_SCALE_MARK if row["scaled_by"] == "interval" else "")


def _row_gid(index: int) -> str:
    return f"forest-row-{index}"


def draw_forest(records: list[dict]) -> Figure:
    """The forest plot of the empirical records, in the order given (top to bottom)."""
    rows = [forest_row(record) for record in records]
    row_height = min(FOREST_ROW, FOREST_ROWS_HEIGHT / max(len(rows), 1))
    marker = 6 * min(1.0, row_height / FOREST_ROW) ** 0.5     # smaller marks where the rows are closer
    figure = Figure(figsize=(FOREST_WIDTH, row_height * max(len(rows), 1) + 1.5), dpi=DPI, layout="constrained")
    ax = figure.subplots()
    left, right = forest_limits(rows)
    for y, row in enumerate(rows):
        color = OUTCOME_COLORS.get(row["outcome"], "0.4")
        low = left if row["low"] is None else row["low"]
        high = right if row["high"] is None else row["high"]
        interval, = ax.plot([low, high], [y, y], color=color, linewidth=2, solid_capstyle="butt")
        interval.set_gid(_row_gid(y))
        for side, unbounded, arrow in ((left, row["low"] is None, "<"), (right, row["high"] is None, ">")):
            if unbounded:
                ax.plot([side], [y], marker=arrow, color=color, markersize=marker, clip_on=False)
        if row["x"] is not None:
            ax.plot([row["x"]], [y], marker="o", markersize=marker, color=color,
                    markerfacecolor="white" if row["finding"] else color, markeredgewidth=1.5)
        own_scale = row["scaled_by"] == "interval"
        # A threshold of 0 has no unit to put at ±1: a hollow diamond at 0 instead of the threshold tick.
        ax.plot(row["bounds"], [y] * len(row["bounds"]), linestyle="none", marker="D" if own_scale else "|",
                markersize=marker * (0.9 if own_scale else 2), markeredgewidth=1.4 if own_scale else 1.6,
                markerfacecolor="white" if own_scale else "black", color="black", zorder=4)
    ax.axvline(0, color="0.5", linewidth=0.8)
    for x in (-1, 1):
        ax.axvline(x, color="0.75", linewidth=0.8, linestyle="--")
    ax.set_xscale("symlog", linthresh=_LINEAR_WITHIN, linscale=1.0)
    ax.set_xlim(left, right)
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.set_yticks(range(len(rows)), [forest_label(row) for row in rows], fontsize=FONT_SIZE - 1)
    ax.tick_params(axis="x", labelsize=FONT_SIZE - 1, top=True, labeltop=True)
    ax.set_xlabel("effect ÷ threshold; interval at the deciding test's level\n"
                  f"{OWN_SCALE_MARK.strip()} threshold 0: divided by its own largest bound, so it ends at ±1",
                  fontsize=FONT_SIZE - 1)
    ticks = [t for t in (-1000, -100, -10, -1, 0, 1, 10, 100, 1000) if left <= t <= right]
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FixedFormatter([f"{t:g}" for t in ticks]))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.grid(alpha=0.25, axis="x")
    return figure


def _bound_text(value) -> str:
    return "" if value is None else repr(float(value))


def row_attributes(row: dict) -> str:
    """What a reader (or a test) can check of one drawn interval without measuring pixels: the check, the
    interval in the check's own units as the ledger records it ('' for an unbounded side), its one-sided
    level, and how it was scaled."""
    low, high = row["effect_ci"]
    values = {"check": row["check_id"], "outcome": row["outcome"], "ci-low": _bound_text(low),
              "ci-high": _bound_text(high), "ci-level": repr(row["level"]), "scaled-by": row["scaled_by"]}
    return " ".join(f'data-{name}="{escape(value, quote=True)}"' for name, value in values.items())


def forest_svg(records: list[dict]) -> bytes:
    """The forest plot as SVG; each interval's group carries row_attributes."""
    text = svg_bytes(draw_forest(records)).decode("utf-8")
    for index, record in enumerate(records):
        gid = _row_gid(index)
        text = text.replace(f'<g id="{gid}">', f'<g id="{gid}" {row_attributes(forest_row(record))}>', 1)
    return text.encode("utf-8")
