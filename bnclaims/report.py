"""The HTML report's content, drawn from ledger records and figure payloads. Pure functions, no pytest.

  plot_png(payload)            PNG bytes for the plot kinds of bnclaims.figures: curves, sweep, loglog, paired
  table_html(payload)          an HTML table for kind "table"
  plots_for_test(evidence, payloads)
                               a test's payloads plus a default paired plot for each paired record that has
                               no plot of its own, so every paired comparison is drawn at least once (an
                               exact "measured" check may come with a table only)
  summary_html(records)        the claims table at the top of the report, one row per ledger record

A paired payload may also carry "talk" ({arm: the talk's number}) and "outcomes" ({arm: per-seed
trained / collapsed / diverged}); default_paired_plot fills both from the evidence record.

Plots are drawn with matplotlib's Agg canvas on Figure objects (never pyplot): no GUI backend, no global
state shared between the plots of one process.
"""

from __future__ import annotations

import io
import textwrap
import warnings
from html import escape

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from PIL import Image

from . import figures
from .evidence import format_interval, record_order

FIGSIZE = (6.0, 3.5)       # inches; at DPI this is a 540 x 315 pixel PNG of about 10 kB
DPI = 90
TABLE_KIND = "table"
TABLE_CLASS = "bnclaims-table"
SUMMARY_CLASS = "bnclaims-summary"

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
    canvas = FigureCanvasAgg(figure)
    draw(figure, payload)
    figure.suptitle("\n".join(textwrap.wrap(payload.get("title", ""), 80)), fontsize=9)
    canvas.draw()
    image = Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB")
    buffer = io.BytesIO()
    # A plot has few colours: a 256-colour palette looks the same at about a third of the bytes, which
    # matters in a self-contained report that embeds every plot.
    image.quantize(256, method=Image.Quantize.FASTOCTREE).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


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
        matrix[row, :len(values)] = values
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
        ax.legend(fontsize=7)
    axes[0].set_title(f"mean and min-max over {seeds} seeds; dashed: training mode, solid: inference mode",
                      fontsize=7)


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
            ax.scatter(_jitter(rng, x, len(ys), log=log, width=width), ys, color=colors[arm], s=12, alpha=0.6)
        means = [_quiet_stat(np.nanmean, np.asarray(ys, float)) for ys in data["y"]]
        ax.plot(xs, means, color=colors[arm], marker="o", markersize=4, label=f"{arm} (mean)")
    if log:
        ax.set_xscale("log")
    if categorical:
        ax.set_xticks(range(len(categories)), categories, fontsize=7)
    ax.set_xlabel(payload.get("x_label", ""))
    ax.set_ylabel(payload.get("y_label", ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)


def _draw_loglog(figure: Figure, payload: dict) -> None:
    ax = figure.subplots()
    series = payload["series"]
    colors = _arm_colors(series)
    for name, data in series.items():
        x, y = np.asarray(data["x"], float), np.asarray(data["y"], float)
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
    ax.legend(fontsize=7)


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
    ax.set_title(f"{len(payload.get('seeds', ()))} seeds; a line joins the two arms of one seed", fontsize=7)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)


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


# ----------------------------------------------------------------------------------------------------
# HTML


def _text(value) -> str:
    """A table cell's text: numbers to 4 significant digits, lists joined, None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_text(item) for item in value)
    return str(value)


def table_html(payload: dict) -> str:
    """Kind "table" as an HTML table; every cell is escaped."""
    head = "".join(f"<th>{escape(_text(column))}</th>" for column in payload["columns"])
    body = "".join("<tr>" + "".join(f"<td>{escape(_text(cell))}</td>" for cell in row) + "</tr>"
                   for row in payload["rows"])
    return (f'<table class="{TABLE_CLASS}"><caption>{escape(payload.get("title", ""))}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


# Styles for the summary and for the figure tables under each test (one <style> serves the whole page).
_CSS = f"""
.{SUMMARY_CLASS}, .{TABLE_CLASS} {{ border-collapse: collapse; color: black; margin: 6px 0 12px; }}
.{SUMMARY_CLASS} th, .{SUMMARY_CLASS} td, .{TABLE_CLASS} th, .{TABLE_CLASS} td {{
  border: 1px solid #ccc; padding: 3px 6px; text-align: left; vertical-align: top; }}
.{SUMMARY_CLASS} th, .{TABLE_CLASS} th {{ background: #f3f3f3; }}
.{TABLE_CLASS} caption {{ text-align: left; font-weight: bold; padding: 2px 0; }}
.{SUMMARY_CLASS} td.number, .{SUMMARY_CLASS} td.id {{ white-space: nowrap; font-variant-numeric: tabular-nums; }}
.{SUMMARY_CLASS} td.statement {{ min-width: 18em; }}
.{SUMMARY_CLASS} td.talk {{ min-width: 12em; }}
.{SUMMARY_CLASS} .note {{ display: block; white-space: normal; color: #57606a; font-size: 11px; }}
.{SUMMARY_CLASS} .supported, .{SUMMARY_CLASS} .holds {{ color: #1a7f37; font-weight: bold; }}
.{SUMMARY_CLASS} .refuted, .{SUMMARY_CLASS} .fails {{ color: #cf222e; font-weight: bold; }}
.{SUMMARY_CLASS} .inconclusive {{ color: #9a6700; font-weight: bold; }}
.{SUMMARY_CLASS} .outcome {{ display: block; color: #9a6700; }}
"""

# P(A>B) reads its A and B from the effect column, whose note names the arms as "A − B".
SUMMARY_COLUMNS = ("check", "tier", "statement", "outcome", "effect", "interval", "P(A>B)", "p (claim / mirror)",
                   "n", "talk vs. here (mean)")

# Test outcomes worth naming beside the outcome; a passed test is the outcome itself.
_OUTCOME_NOTES = {"xfailed": "declared finding (xfail)", "failed": "test failed", "xpassed": "xpass"}


def _cell(text: str, css_class: str = "", *, notes: tuple[str, ...] = ()) -> str:
    """A cell with its main text and any notes on lines of their own beneath it (all escaped)."""
    class_attribute = f' class="{css_class}"' if css_class else ""
    note_html = "".join(f'<span class="note">{escape(note)}</span>' for note in notes)
    return f"<td{class_attribute}>{escape(text)}{note_html}</td>"


def _outcome_cell(record: dict) -> str:
    outcome = record["outcome"]
    note = _OUTCOME_NOTES.get(record.get("test_outcome", ""))
    note_html = f'<span class="outcome">{escape(note)}</span>' if note else ""
    return f'<td><span class="{escape(outcome)}">{escape(outcome)}</span>{note_html}</td>'


def _talk_notes(record: dict) -> tuple[str, ...]:
    arms = [arm for arm in (record.get("arm_a"), record.get("arm_b")) if arm and arm.get("talk_value") is not None]
    return tuple(f"{arm['name']}: talk {arm['talk_value']:.4f}, here {np.mean(arm['values']):.4f}" for arm in arms)


def _p_text(record: dict) -> str:
    if record["p_value"] is None:
        return "—"
    mirror = record.get("mirror_p_value")
    return f"{record['p_value']:.3g}" + (f" / {mirror:.3g}" if mirror is not None else "")


def ordered_records(records: list[dict]) -> list[dict]:
    """Empirical checks first, then identities, then implementation checks; by check id within a tier."""
    return sorted(records, key=record_order)


def _summary_row(record: dict) -> str:
    paired = record["kind"] == "paired"
    number = "+.4f" if paired else "+.4g"     # paired effects are accuracy differences; measured ones vary
    if paired:
        effect_note = f"{record['arm_a']['name']} − {record['arm_b']['name']}"
        p_low, p_high = record["probability_of_improvement_ci"]
        improvement = f"{record['probability_of_improvement']:.2f} [{p_low:.2f}, {p_high:.2f}]"
    else:
        effect_note, improvement = record["metric"], ""    # a measured check's n need not count seeds
    cells = [
        _cell(record["check_id"], "id"), _cell(record["tier"], "id"), _cell(record["statement"], "statement"),
        _outcome_cell(record),
        _cell(f"{record['effect']:{number}}", "number", notes=(effect_note,)),
        _cell(format_interval(record["effect_ci"], number), "number", notes=(record["effect_ci_method"],)),
        _cell(improvement, "number"),
        _cell(_p_text(record), "number", notes=(f"at α {record['corrected_alpha']:.4g}",)),
        _cell(str(record["n"]), "number", notes=("seeds",) if paired else ()),
        _cell("", "talk", notes=_talk_notes(record)),
    ]
    attributes = " ".join(f'data-{name}="{escape(str(record.get(key, "")))}"'
                          for name, key in (("check-id", "check_id"), ("tier", "tier"), ("outcome", "outcome"),
                                            ("nodeid", "nodeid")))
    return f"<tr {attributes}>{''.join(cells)}</tr>"


def _counts(records: list[dict]) -> str:
    empirical = [r for r in records if r["tier"] == "empirical"]
    exact = [r for r in records if r["tier"] != "empirical"]
    parts = []
    if empirical:
        parts.append(f"{len(empirical)} empirical claims: " + ", ".join(
            f"{sum(r['outcome'] == o for r in empirical)} {o}" for o in ("supported", "refuted", "inconclusive")))
    if exact:
        parts.append(f"{len(exact)} identities and implementation checks: "
                     f"{sum(r['outcome'] == 'holds' for r in exact)} hold, {sum(r['outcome'] == 'fails' for r in exact)} fail")
    return "; ".join(parts) + "."


def summary_html(records: list[dict], *, ledger_link: str = "") -> str:
    """The claims table, one row per record (empirical first); empty when there are no records."""
    if not records:
        return ""
    ordered = ordered_records(records)
    link = f' Every number is in the ledger: <a href="{escape(ledger_link)}">{escape(ledger_link)}</a>.' \
        if ledger_link else ""
    head = "".join(f"<th>{escape(column)}</th>" for column in SUMMARY_COLUMNS)
    return (f"<style>{_CSS}</style>"
            f"<h2>Claims</h2><p>{escape(_counts(ordered))}{link}</p>"
            f'<table class="{SUMMARY_CLASS}"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(_summary_row(r) for r in ordered)}</tbody></table>")
