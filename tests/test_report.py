"""The report: drawing, the page of one ledger, the ledger itself, the command line, and the report a
claims run writes.

The end-to-end checks run a small claims project in a subprocess: its claim tests verify hand-made arms
(nothing trains, so it takes seconds), attach every figure kind, and include a refuted (strict xfail)
claim, a measured one, and a test that prints framework-like log noise. The `claims_report` fixture is
shared with the browser check (tests/test_report_browser.py) and can point at an existing report instead:
$BNCLAIMS_REPORT_HTML (with claims.json beside it).
"""

from __future__ import annotations

import base64
import html
import json
import math
import os
import re
import subprocess
import sys
import warnings
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from markupsafe import escape

from bnclaims import figures, report
from bnclaims.formatting import format_message
from bnclaims.ledger import LEDGER_VERSION, LedgerError, json_safe, read_ledger
from bnclaims.report import page, plots
from conftest import REPORT_ENV, ROOT, run_pytest

SVG_NS = "{http://www.w3.org/2000/svg}"
FRAMEWORKS = ("tensorflow", "jax", "jaxlib", "keras")
NOISE = ("absl", "oneDNN", "retracing")


def svg_size(svg: bytes) -> tuple[float, float]:
    """(width, height) in points of a whole SVG document (parsing fails on a torn one)."""
    root = ElementTree.fromstring(svg)
    assert root.tag == SVG_NS + "svg"
    return float(root.get("width").removesuffix("pt")), float(root.get("height").removesuffix("pt"))


def svg_texts(svg: bytes) -> list[str]:
    """Every text the SVG shows, one per text element (its lines joined)."""
    root = ElementTree.fromstring(svg)
    return [" ".join("".join(element.itertext()).split()) for element in root.iter(SVG_NS + "text")]


def paired_record(check_id="C1.check", tier="empirical", **changes) -> dict:
    record = {
        "check_id": check_id, "claim_id": check_id.split(".")[0], "tier": tier, "kind": "paired",
        "metric": "test accuracy", "statement": "BN helps", "source": "test", "test": "superiority",
        "threshold": 0.1, "threshold_reason": "ten points", "expected": "effect > 0.1", "refuted_if": "effect < 0.1",
        "outcome": "supported", "test_outcome": "passed", "seeds": [0, 1, 2], "effect": 0.3,
        "effect_ci": [0.2, 0.4], "effect_ci_method": "Student t, 95%", "probability_of_improvement": 1.0,
        "probability_of_improvement_ci": [0.29, 1.0], "p_value": 0.001, "test_name": "paired t",
        "mirror_p_value": 0.999, "mirror_test_name": "paired t (mirror)", "corrected_alpha": 0.0125, "n": 3,
        "method": "t", "min_seeds": 2, "reachable": True, "blocked_seeds": [], "notes": [], "observed": "",
        "finding": None, "rerun": "pytest claims/test_x.py", "nodeid": "claims/test_x.py::test_x[C1.check]",
        "arm_a": {"name": "BN", "values": [0.9, 0.92, 0.91], "outcomes": ["trained"] * 3, "talk_value": 0.95,
                  "failures": None},
        "arm_b": {"name": "plain", "values": [0.5, 0.6, 0.1], "outcomes": ["trained", "trained", "diverged"],
                  "talk_value": None, "failures": None},
        "figures": [],
    }
    return {**record, **changes}


def measured_record(**changes) -> dict:
    record = {**paired_record(check_id="M1.slope", tier="identity"), "kind": "measured", "metric": "slope",
              "test": "measured", "threshold": -1.0, "effect": 1.02, "effect_ci": [0.95, 1.08],
              "effect_ci_method": "t over seeds", "p_value": None, "mirror_p_value": None, "outcome": "holds",
              "arm_a": None, "arm_b": None, "probability_of_improvement": None,
              "probability_of_improvement_ci": None}
    return {**record, **changes}


def ledger_of(records, **settings) -> dict:
    return {"schema": "bnclaims-ledger", "version": LEDGER_VERSION, "created": "2026-01-01T00:00:00+0000",
            "session": "s1", "settings": {"profile": "quick", "dataset": "mnist5k", "seeds": [0, 1, 2],
                                          "cache_mode": "use", "engine": "compiled", "budget": None,
                                          "reproduce": "pytest claims/ --claims-profile quick", **settings},
            "environment": {"keras": "3", "numpy": "2", "backend": "jax"}, "runs": {"trained": 1, "from_cache": 2},
            "records": records}


class History:
    """What figures.learning_curves reads from a RunResult."""

    def __init__(self, level: float, epochs: int = 4, diverged_after: int | None = None) -> None:
        accuracy = [level + 0.01 * epoch for epoch in range(epochs)]
        if diverged_after is not None:
            accuracy[diverged_after:] = [float("nan")] * (epochs - diverged_after)
        self.history = {"train_accuracy": accuracy, "val_accuracy": accuracy,
                        "train_loss": [1.0] * epochs, "val_loss": [1.1] * epochs}


PAYLOADS = {
    "curves": figures.learning_curves("curves", {"BN": [History(0.8), History(0.85)],
                                                 "plain": [History(0.5), History(0.3, diverged_after=2)]}),
    "curves_with_losses": figures.learning_curves("curves", {"BN": [History(0.8)]},
                                                  metrics=("train_accuracy", "val_loss")),
    "sweep_log": figures.sweep("sweep", "lr", "accuracy", {"BN": {0.01: [0.9, 0.91], 1.0: [0.8, 0.85]},
                                                            "plain": {0.01: [0.9, 0.9], 1.0: [0.1, 0.1]}}, x_log=True),
    "sweep_categorical": figures.sweep("sweep", "activation", "accuracy",
                                       {"BN": {"relu": [0.9, 0.91], "tanh": [0.88, float("nan")]}}),
    "loglog": figures.loglog("loglog", "n", "time", {"fit": {"x": [1, 10, 100], "y": [2, 20, 0],
                                                             "slope": 1.0, "intercept": 0.69}}),
    "paired": figures.paired("paired", "epochs", {"plain": [5, 6, 7], "BN": [3, 3, 4]}, [0, 1, 2]),
    "default_paired": report.default_paired_plot(paired_record()),
}
# As the ledger stores them: NaN (a diverged run's epochs) becomes null.
PAYLOADS.update({f"{name}_from_ledger": json_safe(PAYLOADS[name]) for name in ("curves", "sweep_categorical")})


# ----------------------------------------------------------------------------------------------------
# Drawing


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_every_plot_kind_draws_a_full_width_svg_without_warnings(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # NaN columns (diverged seeds) must not warn
        svg = report.plot_svg(PAYLOADS[name])
    width, height = svg_size(svg)
    # Saved to the bounding box of what is drawn: about the figure's size, never cut smaller than it.
    assert width == pytest.approx(report.FIGSIZE[0] * 72, rel=0.05)
    assert height == pytest.approx(report.FIGSIZE[1] * 72, rel=0.25)
    assert len(svg) < 150_000
    assert any(PAYLOADS[name]["title"] in text for text in svg_texts(svg))


def test_drawing_the_same_payload_twice_gives_the_same_bytes():
    assert report.plot_svg(PAYLOADS["sweep_log"]) == report.plot_svg(PAYLOADS["sweep_log"])


def test_text_inside_every_figure_stays_inside_it():
    """A long title, subtitle or axis label is wrapped (or cut with an ellipsis) so that the saved
    picture, which takes the bounding box of what is drawn, stays the figure's width."""
    long = " ".join(["log2(plain steps / BN steps) to 90% of the plain model's final accuracy"] * 4)
    payload = {**PAYLOADS["paired"], "title": long, "y_label": long}
    figure = plots.draw(payload)
    figure.draw_without_rendering()      # lays the figure out as saving it does
    box = figure.bbox
    for text in figure.findobj(lambda artist: hasattr(artist, "get_text") and artist.get_text()):
        extent = text.get_window_extent()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, text.get_text()[:40]
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, text.get_text()[:40]
    assert svg_size(report.plot_svg(payload))[0] == pytest.approx(report.FIGSIZE[0] * 72, rel=0.05)


def test_the_curves_subtitle_names_line_styles_only_where_both_are_drawn():
    both = " ".join(svg_texts(report.plot_svg(PAYLOADS["curves"])))
    assert "dashed: training mode, solid: inference mode" in both
    validation_only = figures.learning_curves("val", {"BN": [History(0.8)]}, metrics=("val_accuracy",))
    assert "dashed" not in " ".join(svg_texts(report.plot_svg(validation_only)))


# ----------------------------------------------------------------------------------------------------
# Learning curves count every seed


def test_a_diverged_seed_counts_in_the_mean_curve_at_the_accuracy_it_ended_with():
    """The ledger has null after a run diverged; the mean curve keeps the seed at its last value (the
    frozen model's accuracy) instead of averaging the survivors, and says so."""
    per_seed = PAYLOADS["curves_from_ledger"]["arms"]["plain"]["val_accuracy"]   # [0.5 .. 0.53], [0.3, 0.31, null, null]
    curve = report.seed_curve(per_seed, carry=True)
    assert curve["mean"][-1] == pytest.approx((0.53 + 0.31) / 2)          # survivors only would be 0.53
    assert list(curve["counted"]) == [2, 2, 2, 2] and curve["ended"] == 1
    assert curve["carried_at"] == pytest.approx((0.31, 0.31))
    assert (curve["low"][-1], curve["high"][-1]) == pytest.approx((0.31, 0.53))
    assert plots.curve_note("plain", "accuracy", curve) == (
        "plain: 1 of 2 seeds diverged, counted in the mean at the accuracy they ended with (0.31) from then on")


def test_the_learning_curve_plot_draws_the_mean_that_counts_diverged_seeds():
    figure = plots.draw(PAYLOADS["curves_from_ledger"])
    lines = {line.get_label(): line.get_ydata() for ax in figure.axes for line in ax.get_lines()}
    assert lines["plain val"][-1] == pytest.approx((0.53 + 0.31) / 2)
    assert lines["BN val"][-1] == pytest.approx((0.83 + 0.88) / 2)
    assert "plain: 1 of 2 seeds diverged, counted in the mean" in figure._suptitle.get_text().replace("\n", " ")


def test_a_quantity_without_a_value_after_divergence_is_averaged_over_the_others_and_says_how_many():
    """A diverged run's loss is not finite: its seed is left out of the later points, and the note says
    how few seeds the mean is then over."""
    per_seed = [[1.0, 0.9, 0.8], [2.0, None, None], [1.2, 1.1, 1.0]]
    curve = report.seed_curve(per_seed, carry=False)
    assert list(curve["counted"]) == [3, 2, 2] and curve["mean"][-1] == pytest.approx(0.9)
    assert curve["carried_at"] is None
    assert plots.curve_note("plain", "loss", curve) == (
        "plain: 1 of 3 seeds diverged; its mean loss is over the others from then on (as few as 2)")
    assert plots.carries_forward("accuracy") and not plots.carries_forward("loss")


def test_a_curve_without_diverged_seeds_has_no_note():
    curve = report.seed_curve([[0.1, 0.2], [0.3, 0.4]], carry=True)
    assert curve["ended"] == 0 and plots.curve_note("BN", "accuracy", curve) == ""
    assert curve["mean"] == pytest.approx(np.array([0.2, 0.3]))


# ----------------------------------------------------------------------------------------------------
# Paired plots label the arms' metric


@pytest.mark.parametrize("metric, arms", [
    ("test accuracy (statistics over 128 - over the small group)", "test accuracy"),
    ("test cross-entropy (batch 128 - batch 16: positive when batch 16 ends lower)", "test cross-entropy"),
    ("log2 of ||G - G'|| / ||G||, mean over layers 2-4 (plain - BN)", "log2 of ||G - G'|| / ||G||, mean over layers 2-4"),
    ("gain from BN in test accuracy (BN - plain)", "gain from BN in test accuracy"),
    ("test accuracy gain from batch 16 (BN's minus the plain model's)", "test accuracy gain from batch 16"),
    ("failed runs (diverged or collapsed), plain - BN", "test accuracy (a failed run marked)"),
    ("test accuracy", "test accuracy"),
    ("test accuracy at the arm's best-validation learning rate", "test accuracy at the arm's best-validation learning rate"),
])
def test_a_paired_plot_labels_its_axis_with_what_each_arm_measures(metric, arms):
    record = paired_record(metric=metric)
    assert plots.arms_metric(record) == arms
    payload = report.default_paired_plot(record)
    assert payload["y_label"] == arms and payload["title"].startswith(f"C1.check: {arms} per seed")


def test_the_ledger_form_of_a_payload_has_nulls_where_the_run_diverged():
    assert None in PAYLOADS["curves_from_ledger"]["arms"]["plain"]["val_accuracy"][1]
    json.dumps(PAYLOADS["curves_from_ledger"], allow_nan=False)


def test_an_unknown_kind_is_an_error_that_names_the_known_ones():
    with pytest.raises(ValueError, match="'pie'.*curves"):
        report.plot_svg({"kind": "pie", "title": "x"})


def test_a_table_is_html_with_every_cell_escaped():
    table = report.table_html(figures.table("<b>title</b>", ["<th>", "n"], [["<script>x</script>", 0.123456],
                                                                             [None, [1, 2.5]]]))
    assert "<script>" not in table and "<b>" not in table
    assert "&lt;script&gt;x&lt;/script&gt;" in table and "&lt;b&gt;title&lt;/b&gt;" in table
    assert "<td>0.1235</td>" in table and "<td>—</td>" in table and "<td>1, 2.5</td>" in table


def test_a_paired_record_without_a_plot_of_its_own_gets_the_default_paired_plot():
    record = paired_record()
    table = figures.table("t", ["a"], [[1]], claim_id="C1")
    other_claims_plot = figures.paired("p", "y", {"a": [1, 2]}, [0, 1], claim_id="C2")
    for payloads in ([], [table], [other_claims_plot]):
        plots_ = report.figures_for_record({**record, "figures": payloads})
        assert plots_[:-1] == payloads
        assert plots_[-1]["kind"] == "paired" and plots_[-1]["claim_id"] == "C1"
        assert plots_[-1]["title"] == "C1.check: test accuracy per seed"
    default = plots_[-1]
    assert default["arms"] == {"BN": [0.9, 0.92, 0.91], "plain": [0.5, 0.6, 0.1]}
    assert default["talk"] == {"BN": 0.95}                      # the plain arm has no talk value


@pytest.mark.parametrize("claim_id", ["C1", ""])
def test_a_plot_for_the_claim_or_for_the_whole_test_replaces_the_default(claim_id):
    curves = {**PAYLOADS["curves"], "claim_id": claim_id}
    assert report.figures_for_record(paired_record(figures=[curves])) == [curves]


def test_a_measured_record_gets_no_default_plot_and_a_version_2_record_no_figures():
    assert report.figures_for_record(measured_record()) == []
    old = paired_record()
    del old["figures"]
    assert [p["kind"] for p in report.figures_for_record(old)] == ["paired"]


# ----------------------------------------------------------------------------------------------------
# The forest plot


def test_the_forest_row_is_the_ledgers_interval_at_the_level_of_the_test_that_decided():
    """The interval drawn is the record's effect_ci (computed at the look's level, Holm's where the step-down
    raised it), never one recomputed at 95%; an open side stays open."""
    record = paired_record(effect=0.3, effect_ci=[0.15, None], look_alpha=0.0167, corrected_alpha=0.0125)
    row = report.forest_row(record)
    assert (row["low"], row["high"], row["level"]) == (pytest.approx(1.5), None, 0.0167)
    assert row["effect_ci"] == [0.15, None]
    assert plots.interval_level(paired_record(corrected_alpha=0.0125)) == 0.0125   # a ledger without looks
    svg = report.forest_svg([record])
    assert 'data-check="C1.check" data-outcome="supported" data-ci-low="0.15" data-ci-high="" data-ci-level="0.0167"' in svg.decode()


@pytest.mark.parametrize("test, threshold, effect, ci, expected", [
    ("superiority", 0.1, 0.2, [0.1, 0.3], (2.0, 1.0, 3.0, [1.0], "threshold")),
    ("superiority", -0.5, 0.5, [None, 1.0], (1.0, None, 2.0, [-1.0], "threshold")),
    ("non_inferiority", 0.03, -0.06, [-0.09, -0.03], (-2.0, -3.0, -1.0, [-1.0], "threshold")),
    ("equivalence", 0.01, 0.005, [-0.01, 0.02], (0.5, -1.0, 2.0, [-1.0, 1.0], "threshold")),
    ("measured", 5.0, 50.0, [45.0, 60.0], (10.0, 9.0, 12.0, [1.0], "threshold")),
    # A threshold of 0 gives no unit: the check is divided by its largest finite bound.
    ("superiority", 0.0, 2.0, [0.5, None], (1.0, 0.25, None, [0.0], "interval")),
])
def test_each_check_is_put_in_units_of_its_threshold(test, threshold, effect, ci, expected):
    row = report.forest_row(paired_record(test=test, threshold=threshold, effect=effect, effect_ci=ci))
    x, low, high, bounds, scaled_by = expected
    assert row["x"] == pytest.approx(x) and row["bounds"] == pytest.approx(bounds)
    assert (row["low"] is None) == (low is None) and (row["high"] is None) == (high is None)
    assert low is None or row["low"] == pytest.approx(low)
    assert high is None or row["high"] == pytest.approx(high)
    assert row["scaled_by"] == scaled_by


def test_the_forest_plot_draws_every_outcome_and_unbounded_intervals_and_marks_threshold_0():
    records = [paired_record(check_id="A1.a"), paired_record(check_id="A1.b", outcome="refuted", effect=-0.3,
                                                             effect_ci=[-0.5, -0.1], test_outcome="xfailed"),
               paired_record(check_id="A2.c", outcome="inconclusive", effect_ci=[None, None]),
               paired_record(check_id="A2.zero", threshold=0.0),
               paired_record(check_id="P2.d", kind="measured", test="measured", threshold=5.0, effect=5000.0,
                             effect_ci=[4000.0, 7000.0])]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        svg = report.forest_svg(records)
    width, height = svg_size(svg)
    assert width == pytest.approx(plots.FOREST_WIDTH * 72, rel=0.1)
    assert height == pytest.approx((plots.FOREST_ROW * len(records) + 1.5) * 72, rel=0.1)
    labels = svg_texts(svg)
    # Only the threshold-0 check carries the mark, and the plot says what it means.
    assert "A2.zero" + plots.OWN_SCALE_MARK in labels and "A1.a" in labels
    assert sum(plots.OWN_SCALE_MARK.strip() in label for label in labels) == 2     # the row and the axis's note
    assert [g for g in re.findall(r'data-check="([^"]+)"', svg.decode())] == [r["check_id"] for r in records]


# ----------------------------------------------------------------------------------------------------
# The page of one ledger


def test_an_advantage_is_supported_only_when_all_its_own_checks_are():
    s, r, i = (paired_record(outcome=o) for o in ("supported", "refuted", "inconclusive"))
    assert report.advantage_outcome([s, s]) == "supported"
    assert report.advantage_outcome([s, i]) == "inconclusive"
    assert report.advantage_outcome([s, i, r]) == "refuted"
    assert report.advantage_outcome([]) == "not run"


def test_advantage_groups_keep_related_checks_apart_and_list_all_six():
    records = [paired_record(check_id="A1.sweep"), paired_record(check_id="A1-talk.point", outcome="refuted"),
               paired_record(check_id="A10.other"), paired_record(check_id="R2.l2")]
    groups = report.advantage_groups(records)
    assert list(groups) == ["A1", "A2", "A3", "A4", "A5", "A6"]
    own, related = groups["A1"]
    assert [r["check_id"] for r in own] == ["A1.sweep"] and [r["check_id"] for r in related] == ["A1-talk.point"]
    assert report.advantage_outcome(own) == "supported"        # a related check does not decide it
    assert all(groups[a] == ([], []) for a in ("A2", "A3", "A4", "A5", "A6"))


def headline_table(text: str) -> str:
    return re.search(r'<table class="[^"]*" id="headline-table">.*?</table>', text, flags=re.S).group(0)


def advantage_bodies(text: str) -> list[tuple[str, str]]:
    return re.findall(r'<tbody data-advantage="(A\d)" data-outcome="([^"]*)">', headline_table(text))


def row_outcomes(fragment: str) -> dict[str, str]:
    return {html.unescape(check_id): outcome
            for check_id, outcome in re.findall(r'<tr data-check-id="([^"]*)" data-tier="[^"]*" '
                                                r'data-outcome="([^"]*)"', fragment)}


def test_an_advantage_that_hangs_on_a_machine_dependent_check_says_so():
    near = {"outcome": "inconclusive", "reason": "p near its level", "near_level": True}
    records = [paired_record(check_id="A6.batch32", outcome="inconclusive", finding=near, test_outcome="xfailed"),
               paired_record(check_id="A6.batch16"),
               paired_record(check_id="A5.tanh", finding={**near, "near_level": False}, outcome="inconclusive")]
    headline = headline_table(report.render(ledger_of(records)))
    a6 = headline[headline.index('data-advantage="A6"'):]
    assert "can differ on another CPU: A6.batch32 sits near its level" in a6
    a5 = headline[headline.index('data-advantage="A5"'):headline.index('data-advantage="A6"')]
    assert "can differ on another CPU" not in a5


def test_the_page_puts_the_six_advantages_first_with_each_check_and_the_forest_beside():
    records = [paired_record(check_id="A2.training", outcome="inconclusive", effect_ci=[None, None],
                             test_outcome="xfailed"),
               paired_record(check_id="A5.sigmoid", test="non_inferiority", threshold=0.03, effect=-0.07,
                             effect_ci=[-0.08, -0.06], outcome="refuted"),
               paired_record(check_id="A5.tanh", test="non_inferiority", threshold=0.03),
               paired_record(check_id="R2.dropout", statement='<img src=x onerror="alert(1)">'),
               measured_record()]
    text = report.render(ledger_of(records))
    assert advantage_bodies(text) == [("A1", "not run"), ("A2", "inconclusive"), ("A3", "not run"),
                                      ("A4", "not run"), ("A5", "refuted"), ("A6", "not run")]
    headline = headline_table(text)
    assert row_outcomes(headline) == {"A2.training": "inconclusive", "A5.sigmoid": "refuted", "A5.tanh": "supported"}
    assert "+0.3000</span> <span class=\"nowrap\">[-inf, +inf]" in headline
    assert "&gt; -0.03" in headline and "&gt; +0.1" in headline
    assert "test accuracy (BN − plain)" in headline and ">declared finding<" in headline
    assert text.index('id="headline-table"') < text.index('id="forest-plot"') < text.index('id="further"')
    # Further statements, then the exact tiers in a table of their own.
    further = text[text.index('id="further"'):text.index('id="exact"')]
    exact = text[text.index('id="exact"'):text.index('id="talk-table"')]
    assert row_outcomes(further) == {"R2.dropout": "supported"} and row_outcomes(exact) == {"M1.slope": "holds"}
    assert "<img src=x" not in text and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in text
    assert "no check of A1 ran in this session" in headline


def check_section(text: str, check_id: str) -> str:
    return re.search(rf'<details class="check" id="check-{re.escape(escape(check_id))}".*?</details>', text,
                     flags=re.S).group(0)


def test_each_check_is_folded_under_its_headline_with_its_evidence_and_figures_drawn_once():
    sweep = figures.sweep("shared sweep", "activation", "accuracy", {"BN": {"relu": [0.9, 0.91]}})
    finding = {"outcome": "supported", "reason": "as declared", "near_level": False}
    records = [paired_record(check_id="A5.elu", figures=[sweep], finding=finding),
               paired_record(check_id="A5.tanh", figures=[sweep]),
               measured_record(figures=[figures.table("T", ["a"], [[1]])])]
    text = report.render(ledger_of(records))
    for record in records:
        section = check_section(text, record["check_id"])
        summary = re.search(r"<summary>(.*?)</summary>", section, flags=re.S).group(1)
        assert record["check_id"].replace(".", ".<wbr>") in summary and f">{record['outcome']}<" in summary and f"n={record['n']}" in summary
        assert escape(page.evidence_text(record)) in section
        assert escape(record["threshold_reason"]) in section
        # The criteria (and the declared finding) are shown once: above the evidence, not again in it.
        for words in (record["expected"], record["refuted_if"], "as declared"):
            assert section.count(escape(words)) <= 1, words
        assert section.count(escape(record["expected"])) == 1
    assert "p=0.001" in check_section(text, "A5.tanh") and "no p-value" in check_section(text, "M1.slope")
    elu, tanh = check_section(text, "A5.elu"), check_section(text, "A5.tanh")
    assert elu.count("<img") == 1 and "<img" not in tanh and 'shown under <a href="#check-A5.elu">' in tanh
    assert '<table class="figure-table"><caption>T</caption>' in text
    images = re.findall(r'<figure><img src="data:image/svg\+xml;base64,([^"]+)"', text)
    assert images and all(svg_size(base64.b64decode(svg))[0] > 0 for svg in images)


def test_the_evidence_text_is_the_failure_message_less_what_is_shown_above_it():
    record = paired_record(finding={"outcome": "inconclusive", "reason": "why", "not_observed": "seen otherwise"})
    message, evidence = format_message(record), page.evidence_text(record)
    assert [line for line in message.splitlines() if line not in evidence.splitlines()] == [
        message.splitlines()[0], f"  supported if: {record['expected']}", f"  refuted if: {record['refuted_if']}",
        "  declared finding: inconclusive (why)", "  seen otherwise"]


def test_the_headline_shows_units_and_the_deciding_p_as_text_not_in_tooltips():
    holm = {"family": "A1", "alpha": 0.05, "size": 2, "members": {"A1.a": [0.001, 1.0], "A1.c": [0.02, 1.0]},
            "rank": 2, "level": 0.05, "mirror_rank": 2, "mirror_level": 0.025, "p_value": 0.02, "mirror_p_value": 1.0,
            "bonferroni_outcome": "inconclusive", "outcome": "supported"}
    records = [paired_record(check_id="A1.a", look_alpha=0.004),
               paired_record(check_id="A1.b", outcome="refuted", mirror_p_value=0.0002, look_alpha=0.004),
               paired_record(check_id="A1.c", holm=holm, adjusted_p=0.02)]
    headline = headline_table(report.render(ledger_of(records)))
    assert "title=" not in headline
    rows = dict(re.findall(r'<tr data-check-id="([^"]*)".*?>(.*?)</tr>', headline, flags=re.S))
    assert "test accuracy (BN − plain)" in rows["A1.a"]
    assert "p=0.001" in rows["A1.a"] and "claim test, level 0.004" in rows["A1.a"]
    assert "p=0.0002" in rows["A1.b"] and "mirror test, level 0.004" in rows["A1.b"]
    # Holm's step-down decided A1.c: the design's p against Holm's level.
    assert "p=0.02" in rows["A1.c"] and "claim test, Holm, level 0.05" in rows["A1.c"]


def test_the_catalogue_expects_a_declared_findings_outcome_inconclusive_controls_and_else_support():
    near = {"outcome": "inconclusive", "reason": "near", "near_level": True, "not_observed": "supported here"}
    assert page.expected_outcome(paired_record(finding=near)) == "inconclusive"
    assert page.expected_outcome(paired_record(tier="control", outcome="inconclusive")) == "inconclusive"
    assert page.expected_outcome(paired_record()) == "supported"
    assert page.expected_outcome(measured_record()) == "holds"
    records = [paired_record(check_id="A6.near", finding=near),                          # supported, not as declared
               paired_record(check_id="A3.declared", outcome="refuted", test_outcome="xfailed",
                             finding={"outcome": "refuted", "reason": "as declared"}),
               paired_record(check_id="PLACEBO.x", tier="control", outcome="refuted"),    # a false positive
               paired_record(check_id="PLACEBO.y", tier="control", outcome="inconclusive"),
               paired_record(check_id="A5.worse", outcome="inconclusive", test_outcome="failed"),
               paired_record(check_id="A1.fine"), measured_record()]
    assert [r["check_id"] for r in report.unexpected_records(records)] == ["A5.worse", "A6.near", "PLACEBO.x"]


def test_the_banner_lists_every_check_not_as_expected_in_one_sentence_each():
    near = {"outcome": "inconclusive", "reason": "near", "near_level": True, "not_observed": "supported here"}
    records = [paired_record(check_id="A6.near", finding=near, n=21),
               paired_record(check_id="A5.worse", outcome="inconclusive", test_outcome="failed"),
               paired_record(check_id="A1.fine")]
    text = report.render(ledger_of(records))
    banner = re.search(r'<aside class="banner" id="unexpected".*?</aside>', text, flags=re.S).group(0)
    assert text.index('id="unexpected"') < text.index('id="toc"') < text.index('id="headline-table"')
    items = [html.unescape(re.sub(r"<[^>]+>", "", item)) for item in re.findall(r"<li[^>]*>(.*?)</li>", banner, flags=re.S)]
    assert [" ".join(item.split()) for item in items] == [
        "A5.worse came out inconclusive (p=0.001, claim test, level 0.0125; n=3) where the catalogue expects "
        "supported: its test failed.",
        "A6.near came out supported (p=0.001, claim test, level 0.0125; n=21) where the catalogue expects "
        "inconclusive: declared near its level: another CPU's rounding can move it."]
    assert 'id="unexpected"' not in report.render(ledger_of([paired_record(check_id="A1.fine")]))


def test_the_contents_link_every_section_the_page_has():
    text = report.render(ledger_of([paired_record(check_id="A1.a"), measured_record()]), pytest_html_href="p.html")
    toc = re.search(r'<nav id="toc".*?</nav>', text, flags=re.S).group(0)
    targets = re.findall(r'href="#([^"]+)"', toc)
    assert targets == ["advantages", "forest", "related", "further", "exact", "talk-table", "checks",
                       "pytest-results", "environment"]
    assert all(f'id="{target}"' in text for target in targets)


def test_the_talk_table_puts_the_talks_numbers_beside_the_observed_means():
    records = [paired_record(check_id="TABLE-1.base", statement='Comparison 1 "Speed": BN wins',
                             arm_a={**paired_record()["arm_a"], "talk_value": 0.9739},
                             arm_b={**paired_record()["arm_b"], "talk_value": 0.9657}),
               paired_record(check_id="A4.raw")]
    talk = re.search(r'<section id="talk-table">.*?</section>', report.render(ledger_of(records)), flags=re.S).group(0)
    assert list(row_outcomes(talk)) == ["TABLE-1.base", "A4.raw"]     # the talk's table first
    assert "0.9739" in talk and "0.9657" in talk and "+0.0082" in talk   # the talk's arms and gap
    assert "0.9100" in talk and "0.4000" in talk                         # the observed means
    assert 'Comparison 1 &#34;Speed&#34;' in talk


def test_the_budget_is_stated_when_the_ledger_has_one_and_said_missing_when_not():
    records = [paired_record(check_id="A1.a")]
    text = report.render(ledger_of(records, budget={"examples_seen": 480000, "steps": 3750, "passes": 150}))
    assert "480,000 examples seen, 3,750 steps, 150 passes" in headline_table(text)
    assert "480,000 examples seen" in text[:text.index("<div class=\"top\">")]      # in the header too
    assert "does not state its training budget" in headline_table(report.render(ledger_of(records)))
    # Records measured in budgets of their own get a budget column.
    own = [paired_record(check_id="A1.a", budget={"steps": 469}), paired_record(check_id="A1.b", budget={"steps": 3750})]
    headline = headline_table(report.render(ledger_of(own)))
    assert "<th>budget</th>" in headline and "469 steps" in headline and "3,750 steps" in headline


def test_the_environment_and_the_reproduce_line_are_at_the_bottom():
    text = report.render(ledger_of([paired_record()]), ledger_href="claims.json", pytest_html_href="pytest.html")
    footer = text[text.index('<footer id="environment">'):]
    assert "pytest claims/ --claims-profile quick" in footer and '<a href="claims.json">' in footer
    assert "<th>profile</th><td>quick</td>" in footer and "1 trained, 2 from the cache" in footer
    # Every key of the ledger's environment, including ones this page has never heard of.
    ledger = ledger_of([paired_record()])
    ledger["environment"].update(git_commit="abc123", python="3.11.2", cpu="AMD EPYC <7B13>")
    footer = report.render(ledger)[report.render(ledger).index('<footer id="environment">'):]
    for name, value in ledger["environment"].items():
        assert f"<th>{name.replace('_', ' ')}</th><td>{escape(value)}</td>" in footer
    start = text.index('<section id="pytest-results">')
    results = text[start:text.index("</section>", start)]
    assert "<details>" in results and 'src="pytest.html" loading="lazy"' in results
    assert 'id="pytest-results"' not in report.render(ledger_of([paired_record()]))


def test_a_broken_figure_costs_only_itself():
    text = report.render(ledger_of([paired_record(figures=[{"kind": "pie", "title": "<pie>"}])]))
    assert "could not draw figure &lt;pie&gt;" in text and 'id="forest-plot"' in text


def test_a_figure_cache_draws_each_figure_once_and_gives_the_same_page(tmp_path):
    """Kept figures are keyed by their data and the drawing code: the same ledger again draws nothing and
    gives the same page; changed data draws that figure anew; a damaged entry is drawn again and
    replaced; a folder that cannot be written costs only the saving."""
    from bnclaims.report.figure_cache import FigureCache, is_whole_svg

    records = [paired_record(check_id="A1.a", figures=[PAYLOADS["sweep_log"]]), paired_record(check_id="A2.b")]
    first_cache = FigureCache(tmp_path / "figures")
    first = report.render(ledger_of(records), figure_cache=first_cache)
    assert first_cache.drawn == 3 and first_cache.hits == 0   # the forest, A1's sweep, A2's default plot
    assert first == report.render(ledger_of(records))         # the same page as drawing every figure
    again = FigureCache(tmp_path / "figures")
    assert report.render(ledger_of(records), figure_cache=again) == first and (again.drawn, again.hits) == (0, 3)

    changed = [records[0], paired_record(check_id="A2.b", effect=0.35,   # its default plot and the forest
                                         arm_a={**paired_record()["arm_a"], "values": [0.95, 0.92, 0.91]})]
    third = FigureCache(tmp_path / "figures")
    report.render(ledger_of(changed), figure_cache=third)
    assert (third.drawn, third.hits) == (2, 1)

    stored = sorted((tmp_path / "figures").glob("*.svg"))
    assert len(stored) == 5 and all(is_whole_svg(p.read_bytes()) for p in stored)
    stored[0].write_bytes(stored[0].read_bytes()[:100])          # a torn write
    fourth = FigureCache(tmp_path / "figures")
    report.render(ledger_of(records), figure_cache=fourth)
    report.render(ledger_of(changed), figure_cache=fourth)
    assert fourth.drawn == 1 and is_whole_svg(stored[0].read_bytes())
    assert not list((tmp_path / "figures").glob(".*.tmp"))

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    assert report.render(ledger_of(records), figure_cache=FigureCache(blocked)) == first


def test_figures_drawn_while_the_session_runs_are_the_ones_the_report_looks_up(tmp_path):
    """The session draws each record's figures in the background as the record arrives (a figure with
    NaN, which the ledger writes as null, included); the report at the end draws only the forest plot,
    which needs every record, and its page is the one drawing everything at the end gives."""
    from bnclaims.session import EVIDENCE_PROPERTY, FIGURE_PROPERTY, ClaimsSession, property_value
    from bnclaims.settings import Settings

    session = ClaimsSession.start(Settings.resolve(root=tmp_path, cache_dir=str(tmp_path / "cache")))
    without_figures = {k: v for k, v in paired_record(check_id="A2.b").items() if k not in ("nodeid", "test_outcome")}
    with_figures = {**without_figures, "check_id": "A1.a", "claim_id": "A1"}
    session.collect(nodeid="t::a", when="call", test_outcome="passed",
                    properties=[(FIGURE_PROPERTY, property_value(PAYLOADS["curves"])),
                                (EVIDENCE_PROPERTY, property_value(with_figures))])
    session.collect(nodeid="t::b", when="call", test_outcome="passed",
                    properties=[(EVIDENCE_PROPERTY, property_value(without_figures))])
    session._drawing.finish()
    cache = session._figures
    assert (cache.drawn, cache.hits) == (2, 0)       # A1's curves (with NaN) and A2's default paired plot
    session.finish()
    assert (cache.drawn, cache.hits) == (3, 2)       # the forest drawn at the end; the others found
    page = session.written_report.read_text()
    assert page == report.render(read_ledger(session.ledger_path), ledger_href="claims.json")


def test_the_page_loads_nothing_from_outside_and_carries_no_log_noise():
    text = report.render(ledger_of([paired_record(), measured_record()]))
    assert not re.search(r"<link\b|<script\b|\bsrc=\"https?:", text)
    assert not any(word in text for word in NOISE)


# ----------------------------------------------------------------------------------------------------
# The ledger


def test_json_safe_turns_non_finite_numbers_into_null():
    assert json_safe({"a": (1.0, math.nan), "b": [math.inf, {"c": -math.inf}], "d": "x"}) == {
        "a": [1.0, None], "b": [None, {"c": None}], "d": "x"}


def test_read_ledger_names_the_problem(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(ledger_of([paired_record()])))
    assert read_ledger(good)["version"] == LEDGER_VERSION
    for name, content, fragment in [("bad.json", "{", "cannot read"), ("other.json", "{}", "not a claims ledger"),
                                    ("future.json", json.dumps({**ledger_of([]), "version": 99}), "version 99")]:
        (tmp_path / name).write_text(content)
        with pytest.raises(LedgerError, match=fragment):
            read_ledger(tmp_path / name)


# ----------------------------------------------------------------------------------------------------
# Two ledgers compared


def two_ledgers():
    a = ledger_of([paired_record(check_id="A1.a"), paired_record(check_id="A2.b", outcome="inconclusive"),
                   paired_record(check_id="R1.only_a")], budget={"examples_seen": 480000})
    b = ledger_of([paired_record(check_id="A1.a", outcome="refuted", effect=-0.2, effect_ci=[-0.3, -0.1]),
                   paired_record(check_id="A2.b", outcome="inconclusive"), paired_record(check_id="N2.only_b")],
                  profile="short", budget={"examples_seen": 32000})
    return a, b


def test_compare_rows_flag_changed_outcomes_and_one_sided_checks():
    rows = {row["check_id"]: row for row in report.compare_rows(*two_ledgers())}
    assert list(rows) == ["A1.a", "A2.b", "N2.only_b", "R1.only_a"]
    assert rows["A1.a"]["changed"] and not rows["A2.b"]["changed"]
    assert rows["R1.only_a"]["b"] is None and rows["N2.only_b"]["a"] is None and not rows["N2.only_b"]["changed"]


def test_the_comparison_as_a_terminal_table():
    a, b = two_ledgers()
    labels = report.labels_for([a, b], ["a.json", "b.json"])
    assert labels == ["quick · mnist5k · 480,000 examples seen", "short · mnist5k · 32,000 examples seen"]
    text = report.comparison_text(a, b, labels)
    assert "  differs: profile: quick | short" in text and "  differs: budget: 480,000" in text
    line = next(line for line in text.splitlines() if line.startswith("A1.a "))
    assert "supported" in line and "refuted" in line and "-0.2000 [-0.3000, -0.1000]" in line
    assert line.endswith("<- changed")
    assert re.search(r"^A1 +supported +refuted +<- changed$", text, flags=re.M)
    assert "1 of 2 checks in both changed outcome: A1.a" in text
    assert "only in A (1): R1.only_a" in text and "only in B (1): N2.only_b" in text


def test_the_comparison_page():
    a, b = two_ledgers()
    text = report.render_comparison(a, b, ["quick", "short"])
    assert '<tr class="changed" data-check-id="A1.a" data-a="supported" data-b="refuted">' in text
    assert 'data-check-id="R1.only_a" data-a="supported" data-b=""' in text
    assert "Only in A (1): R1.only_a" in text and "1 of 2 checks run in both changed outcome" in text
    assert '<tr class="changed" data-advantage="A1">' in text
    same = report.labels_for([a, a], ["x/a.json", "y/a.json"])
    assert same == ["quick · mnist5k · 480,000 examples seen (x/a.json)", "quick · mnist5k · 480,000 examples seen (y/a.json)"]


# ----------------------------------------------------------------------------------------------------
# The command line


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """python -m bnclaims.report in a subprocess; it also reports which frameworks got imported."""
    code = ("import sys, runpy\n"
            f"sys.argv = ['bnclaims.report', *{list(args)!r}]\n"
            "try:\n    runpy.run_module('bnclaims.report', run_name='__main__', alter_sys=True)\n"
            "except SystemExit as exit:\n    code = exit.code\n"
            f"loaded = sorted({{m.split('.')[0] for m in sys.modules}} & {set(FRAMEWORKS)!r})\n"
            "print('frameworks:', loaded)\nsys.exit(code)\n")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env={**os.environ, "PYTHONPATH": str(ROOT)},
                          capture_output=True, text=True, timeout=300)


def test_the_command_line_renders_a_ledger_without_importing_a_framework(tmp_path):
    ledger = tmp_path / "claims.json"
    ledger.write_text(json.dumps(ledger_of([paired_record(check_id="A1.a"), measured_record()])))
    result = run_cli(str(ledger), "-o", "out/report.html", "--link", "other=other.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "frameworks: []" in result.stdout
    text = (tmp_path / "out" / "report.html").read_text(encoding="utf-8")
    assert advantage_bodies(text)[0] == ("A1", "supported")
    assert '<nav><a href="other.html">other</a></nav>' in text and '<a href="../claims.json">' in text


def test_the_command_line_compares_two_ledgers(tmp_path):
    a, b = two_ledgers()
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    result = run_cli("a.json", "b.json", "-o", "compare.html", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "1 of 2 checks in both changed outcome: A1.a" in result.stdout and "frameworks: []" in result.stdout
    assert 'data-check-id="A1.a"' in (tmp_path / "compare.html").read_text(encoding="utf-8")
    text_only = run_cli("a.json", "b.json", cwd=tmp_path)
    assert "<- changed" in text_only.stdout and "comparison:" not in text_only.stdout


def test_the_command_line_says_what_is_wrong_with_a_file(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    result = run_cli("x.json", cwd=tmp_path)
    assert result.returncode == 2 and "x.json: not a claims ledger" in result.stderr


# ----------------------------------------------------------------------------------------------------
# End to end: a claims run writes the ledger, then the report from it


CLAIMS_MODULE = '''
import logging
import os

from bnclaims import figures
from bnclaims.catalogue import Claim, Finding, declare
from bnclaims.evidence import Arm

PAIRED = Claim(statement='BN <script>alert("statement")</script> & co. train better', source="test",
               metric="accuracy", test="superiority", threshold=0.0, threshold_reason="test", paired_test="t")
MEASURED = Claim(statement="time grows linearly", source="test", metric="slope", test="measured", tier="identity",
                 threshold=0.1, threshold_reason="test", criterion="slope within 0.1 of 1")
CHECKS = declare({"test_paired_claim_with_every_kind_of_figure": {"A1.with_figures": PAIRED},
                  "test_paired_claim_without_figures": {"A1-talk.default_plot": PAIRED},
                  "test_refuted_claim": {"R1.refuted": PAIRED}, "test_measured_claim": {"R2.slope": MEASURED}})
FINDINGS = {"R1.refuted": Finding("inconclusive", ("digits",), ("short",), "the arms differ by {effect} only")}
SEEDS = (0, 1, 2)


class History:
    def __init__(self, level):
        self.history = {"train_accuracy": [level, level + 0.05, level + 0.1],
                        "val_accuracy": [level, level + 0.04, float("nan")]}


def test_paired_claim_with_every_kind_of_figure(check, verify, figure):
    figure(figures.learning_curves("curves", {"BN": [History(0.8), History(0.82)], "plain": [History(0.5)]},
                                   claim_id="A1"))
    figure(figures.sweep("sweep", "lr", "accuracy", {"BN": {0.01: [0.9, 0.91], 1.0: [0.8, 0.85]}}, x_log=True))
    figure(figures.loglog("loglog", "n", "t", {"fit": {"x": [1, 10], "y": [2, 20], "slope": 1.0, "intercept": 0.69}}))
    figure(figures.paired("paired", "accuracy", {"BN": [0.9, 0.92], "plain": [0.5, 0.6]}, [0, 1]))
    figure(figures.table("<b>table</b>", ["arm", "mean"], [["<i>BN</i>", 0.91]]))
    verify(check, Arm("BN", (0.9, 0.92, 0.91), SEEDS), Arm("plain", (0.5, 0.6, 0.55), SEEDS))


def test_paired_claim_without_figures(check, verify):
    # What a framework prints when it starts: it must reach neither the report nor pytest's page.
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\\n")
    os.write(2, b"I0000 port.cc:153] oneDNN custom operations are on.\\n")
    logging.getLogger("tensorflow").warning("5 out of the last 5 calls triggered tf.function retracing")
    verify(check, Arm("BN", (0.9, 0.92, 0.91), SEEDS, talk_value=0.95),
           Arm("plain", (0.5, 0.51, 0.1), SEEDS, outcomes=("trained", "trained", "diverged"), talk_value=0.09))


def test_refuted_claim(check, verify):
    verify(check, Arm("BN", (0.5, 0.52, 0.49), SEEDS), Arm("plain", (0.5, 0.51, 0.5), SEEDS))


def test_measured_claim(check, verify, figure):
    figure(figures.sweep("categories", "activation", "accuracy", {"BN": {"relu": [0.9, 0.91], "tanh": [0.8, 0.9]}}))
    verify.measured(check, effect=1.02, ci=(0.95, 1.08), ci_method="fit", passed=True, n=3, test_name="fit")
'''

# A test without a check lives in a module of its own: a claim module runs only its catalogue's checks.
PLAIN_MODULE = "def test_without_a_claim():\n    pass\n"

CLAIMS_CHECKS = {"A1.with_figures", "A1-talk.default_plot", "R1.refuted", "R2.slope"}


def make_project(root: Path) -> Path:
    """A claims project that uses this repository's plugins: claims/ and tests/ folders."""
    (root / "claims").mkdir(parents=True, exist_ok=True)     # exist_ok: a failed first attempt left it
    (root / "tests").mkdir(exist_ok=True)
    (root / "claims" / "test_report_claims.py").write_text(CLAIMS_MODULE)
    (root / "claims" / "test_plain.py").write_text(PLAIN_MODULE)
    (root / "tests" / "test_engine.py").write_text("def test_engine():\n    pass\n")
    (root / "conftest.py").write_text('pytest_plugins = ["bnclaims.pytest_plugin", "bnclaims.pytest_html_page"]\n')
    (root / "pytest.ini").write_text("[pytest]\nxfail_strict = true\n")
    return root


PROJECT_OPTIONS = ("--claims-profile", "short", "--claims-dataset", "digits", "--claims-seeds", "3")


@pytest.fixture(scope="session")
def project_report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """claims.html of the project above run under `-n 2`, made once per test session: xdist workers
    share it through their common base folder."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    project = shared / "report-project"
    html_path = project / "reports" / "claims.html"
    with FileLock(str(shared / "report-project.lock")):
        if not html_path.exists():
            result = run_pytest("claims/", "-n", "2", *PROJECT_OPTIONS, cwd=make_project(project))
            assert "4 passed, 1 xfailed" in result.stdout, result.stdout + result.stderr
    return html_path


@pytest.fixture(scope="session")
def claims_report(request: pytest.FixtureRequest) -> Path:
    """The report that $BNCLAIMS_REPORT_HTML names (a real claims run), else the project's."""
    if os.environ.get(REPORT_ENV):
        return Path(os.environ[REPORT_ENV]).resolve()
    return request.getfixturevalue("project_report")


def ledger_beside(html_path: Path) -> dict:
    return json.loads((html_path.parent / "claims.json").read_text())


def test_the_ledger_carries_every_record_with_its_figures(claims_report):
    ledger = ledger_beside(claims_report)
    assert ledger["version"] == LEDGER_VERSION and ledger["records"]
    assert {"profile", "dataset", "seeds", "engine", "reproduce", "budget"} <= set(ledger["settings"])
    for record in ledger["records"]:
        assert isinstance(record["figures"], list) and record["nodeid"], record["check_id"]
        assert all(payload["kind"] in ("curves", "sweep", "loglog", "paired", "table")
                   for payload in record["figures"])


def test_the_report_is_self_contained_and_shows_every_record_with_its_figures(claims_report):
    text = claims_report.read_text(encoding="utf-8")
    records = ledger_beside(claims_report)["records"]
    assert not re.search(r"<link\b|<script\b[^>]*\bsrc=|\bsrc=\"https?:", text), "loads nothing from outside"
    sections = dict(re.findall(r'<details class="check" id="check-([^"]+)"(.*?)</details>', text, flags=re.S))
    assert [html.unescape(check_id) for check_id in sections] == [
        r["check_id"] for r in page.forest_records(records) + page.control_records(records)
        + page.exact_records(records)]
    for record in records:
        section = sections[escape(record["check_id"])]
        # Paired data is always drawn (the default paired plot); an exact measured check may be a table.
        assert "<img" in section or "shown under" in section or (record["kind"] == "measured" and "<table" in section)
    for svg in re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', text):
        assert svg_size(base64.b64decode(svg))[0] > 0


def test_the_report_has_no_framework_log_noise(claims_report):
    text = claims_report.read_text(encoding="utf-8")
    assert not any(word in text for word in NOISE)


def test_the_report_from_the_ledger_alone_has_the_same_headline_and_figures(claims_report, tmp_path):
    result = run_cli(str(claims_report.parent / "claims.json"), "-o", str(tmp_path / "again.html"), cwd=tmp_path)
    assert result.returncode == 0 and "frameworks: []" in result.stdout, result.stdout + result.stderr
    again = (tmp_path / "again.html").read_text(encoding="utf-8")
    original = claims_report.read_text(encoding="utf-8")
    assert headline_table(again) == headline_table(original)
    figures_of = lambda text: re.findall(r'src="data:image/svg\+xml;base64,([^"]+)"', text)
    assert figures_of(again) == figures_of(original)


def test_the_project_report_draws_each_figure_and_marks_the_refuted_claim(project_report):
    text = project_report.read_text(encoding="utf-8")
    assert "<title>Batch Normalization claims</title>" in text
    assert set(row_outcomes(text)) == CLAIMS_CHECKS
    assert '<script>alert("statement")' not in text
    assert advantage_bodies(text)[0] == ("A1", "supported")
    ledger = ledger_beside(project_report)
    figures_of = {r["check_id"]: r["figures"] for r in ledger["records"]}
    assert [p["kind"] for p in figures_of["A1.with_figures"]] == ["curves", "sweep", "loglog", "paired", "table"]
    assert None in figures_of["A1.with_figures"][0]["arms"]["BN"]["val_accuracy"][0]       # NaN as null
    assert figures_of["A1-talk.default_plot"] == [] and figures_of["R2.slope"][0]["kind"] == "sweep"
    section = lambda check_id: check_section(text, check_id)
    assert section("A1.with_figures").count("<img") == 4                 # the table is HTML
    assert "&lt;b&gt;table&lt;/b&gt;" in section("A1.with_figures")
    assert section("A1-talk.default_plot").count("<img") == 1             # the default paired plot
    refuted = section("R1.refuted")
    assert "declared finding" in refuted and 'class="outcome inconclusive"' in refuted
    assert "the arms differ by" in refuted
    environment = text[text.index('<footer id="environment">'):]
    assert "<th>dataset</th><td>digits</td>" in environment and "--claims-dataset digits" in environment


def test_pytest_html_keeps_its_results_table_without_captured_output(project_report):
    text = project_report.read_text(encoding="utf-8")
    assert '<iframe src="pytest.html" loading="lazy"' in text
    results = (project_report.parent / "pytest.html").read_text(encoding="utf-8")
    assert "test_paired_claim_without_figures" in results
    assert not any(word in results for word in NOISE)


def test_a_single_process_run_prints_the_ledger_and_report_paths(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("claims/test_report_claims.py::test_paired_claim_without_figures[A1-talk.default_plot]",
                        *PROJECT_OPTIONS, cwd=project)
    html_path = project / "reports" / "claims.html"
    assert f"ledger: {project / 'reports' / 'claims.json'}\nreport: {html_path}\n" in result.stdout, result.stdout
    text = html_path.read_text(encoding="utf-8")
    assert re.search(r'id="check-A1-talk.default_plot".*?<img', text, flags=re.S)


def test_a_run_without_claims_writes_no_report(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("tests/", *PROJECT_OPTIONS, cwd=project)
    assert "1 passed" in result.stdout, result.stdout
    assert not (project / "reports").exists() and "html report" not in result.stdout


def test_an_explicit_html_path_takes_pytests_page_and_the_report_links_it(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("claims/test_report_claims.py::test_measured_claim[R2.slope]", "--html", "mine.html",
                        *PROJECT_OPTIONS, cwd=project)
    assert "1 passed" in result.stdout, result.stdout
    assert (project / "mine.html").exists() and not (project / "reports" / "pytest.html").exists()
    assert '<iframe src="../mine.html"' in (project / "reports" / "claims.html").read_text(encoding="utf-8")
    assert "report: " + str(project / "reports" / "claims.html") in result.stdout
