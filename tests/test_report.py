"""The HTML report: bnclaims.report's drawing and HTML functions, then the report a claims run writes.

The end-to-end checks run a small claims project in a subprocess: its claim tests verify hand-made arms
(nothing trains, so it takes seconds) and attach every figure kind, a refuted (strict xfail) claim and a
measured one. The `claims_report` fixture is shared with the browser check (tests/test_report_browser.py)
and can point at an existing report instead: $BNCLAIMS_REPORT_HTML (with claims.json beside it).
"""

from __future__ import annotations

import base64
import html
import io
import json
import os
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from filelock import FileLock
from matplotlib.image import imread

from bnclaims import figures, report

ROOT = Path(__file__).resolve().parents[1]
REPORT_ENV = "BNCLAIMS_REPORT_HTML"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_SHAPE = (round(report.FIGSIZE[1] * report.DPI), round(report.FIGSIZE[0] * report.DPI))


def png_shape(png: bytes) -> tuple[int, int]:
    assert png.startswith(PNG_SIGNATURE)
    return imread(io.BytesIO(png), format="png").shape[:2]


def paired_record(check_id="C1.check", tier="empirical", **changes) -> dict:
    record = {
        "check_id": check_id, "claim_id": check_id.split(".")[0], "tier": tier, "kind": "paired",
        "metric": "test accuracy", "statement": "BN helps", "outcome": "supported", "test_outcome": "passed",
        "seeds": [0, 1, 2], "effect": 0.3, "effect_ci": [0.2, 0.4], "effect_ci_method": "Student t, 95%",
        "probability_of_improvement": 1.0, "probability_of_improvement_ci": [0.29, 1.0], "p_value": 0.001,
        "mirror_p_value": 0.999, "corrected_alpha": 0.0125, "n": 3,
        "nodeid": "claims/test_x.py::test_x",
        "arm_a": {"name": "BN", "values": [0.9, 0.92, 0.91], "outcomes": ["trained"] * 3, "talk_value": 0.95},
        "arm_b": {"name": "plain", "values": [0.5, 0.6, 0.1], "outcomes": ["trained", "trained", "diverged"],
                  "talk_value": None},
    }
    return {**record, **changes}


def measured_record(**changes) -> dict:
    record = {**paired_record(check_id="M1.slope", tier="identity"), "kind": "measured", "metric": "slope",
              "effect": 1.02, "effect_ci": [0.95, 1.08], "effect_ci_method": "t over seeds", "p_value": None,
              "mirror_p_value": None, "outcome": "holds", "arm_a": None, "arm_b": None,
              "probability_of_improvement": None, "probability_of_improvement_ci": None}
    return {**record, **changes}


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


@pytest.mark.parametrize("name", list(PAYLOADS))
def test_every_plot_kind_draws_a_small_png_without_warnings(name):
    with warnings.catch_warnings():
        warnings.simplefilter("error")      # NaN columns (diverged seeds) must not warn
        png = report.plot_png(PAYLOADS[name])
    assert png_shape(png) == PNG_SHAPE
    assert len(png) < 100_000


def test_an_unknown_kind_is_an_error_that_names_the_known_ones():
    with pytest.raises(ValueError, match="'pie'.*curves"):
        report.plot_png({"kind": "pie", "title": "x"})


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
        plots = report.plots_for_test([record], payloads)
        assert plots[:-1] == payloads
        assert plots[-1]["kind"] == "paired" and plots[-1]["claim_id"] == "C1"
        assert plots[-1]["title"] == "C1.check: test accuracy per seed"
    default = plots[-1]
    assert default["arms"] == {"BN": [0.9, 0.92, 0.91], "plain": [0.5, 0.6, 0.1]}
    assert default["talk"] == {"BN": 0.95}                      # the plain arm has no talk value


@pytest.mark.parametrize("claim_id", ["C1", ""])
def test_a_plot_for_the_claim_or_for_the_whole_test_replaces_the_default(claim_id):
    curves = {**PAYLOADS["curves"], "claim_id": claim_id}
    assert report.plots_for_test([paired_record()], [curves]) == [curves]


def test_a_measured_record_gets_no_default_plot():
    assert report.plots_for_test([measured_record()], []) == []


def test_each_payload_becomes_a_png_or_html_extra_and_a_broken_one_a_note():
    from fixtures.report_plugin import figure_extra

    png = figure_extra(PAYLOADS["paired"])
    assert png["format_type"] == "image" and png["name"] == "paired"
    assert png_shape(base64.b64decode(png["content"])) == PNG_SHAPE
    table = figure_extra(figures.table("t", ["a"], [[1]]))
    assert table["format_type"] == "html" and table["content"].startswith("<table")
    broken = figure_extra({"kind": "pie", "title": "<pie>"})
    assert broken["format_type"] == "html" and "could not draw figure &lt;pie&gt;" in broken["content"]


def summary_rows(summary: str) -> list[str]:
    return re.findall(r"<tr data-check-id.*?</tr>", summary)


def test_the_summary_has_one_escaped_row_per_record_sorted_like_the_ledger():
    records = [measured_record(), paired_record(check_id="C1.b", statement='<img src=x onerror="alert(1)"> & more'),
               paired_record(check_id="C1.a"), paired_record(check_id="A0.unbounded", effect_ci=[None, None])]
    summary = report.summary_html(records)
    rows = summary_rows(summary)
    # Empirical checks first (by id), then the exact tiers: the ledger's order.
    assert [re.search(r'data-check-id="([\w.]+)"', row).group(1) for row in rows] == [
        "A0.unbounded", "C1.a", "C1.b", "M1.slope"]
    assert "<img" not in summary and "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; &amp; more" in summary
    note = '<span class="note">{}</span>'.format
    assert f'+0.3000{note("BN − plain")}' in rows[1] and f'[+0.2000, +0.4000]{note("Student t, 95%")}' in rows[1]
    assert "1.00 [0.29, 1.00]" in rows[1] and f'0.001 / 0.999{note("at α 0.0125")}' in rows[1]
    assert note("BN: talk 0.9500, here 0.9100") in rows[1] and "plain: talk" not in rows[1]
    assert "[-inf, +inf]" in rows[0]                             # an unbounded interval (null in the ledger)
    assert f'+1.02{note("slope")}' in rows[3] and f'—{note("at α 0.0125")}' in rows[3]
    assert '<td class="number"></td>' in rows[3]                  # no P(A>B) for a measured check
    assert "4 empirical claims" not in summary and "3 empirical claims: 3 supported, 0 refuted, 0 inconclusive" in summary
    assert "1 identities and implementation checks: 1 hold, 0 fail" in summary


def test_the_summary_marks_outcomes_and_names_declared_findings():
    rows = summary_rows(report.summary_html([
        paired_record(check_id="C1.a"),
        paired_record(check_id="C1.b", outcome="refuted", test_outcome="xfailed"),
        paired_record(check_id="C1.c", outcome="inconclusive", test_outcome="failed"),
    ]))
    assert '<span class="supported">supported</span></td>' in rows[0]
    assert '<span class="refuted">refuted</span><span class="outcome">declared finding (xfail)</span>' in rows[1]
    assert '<span class="inconclusive">inconclusive</span><span class="outcome">test failed</span>' in rows[2]


def test_no_records_no_summary():
    assert report.summary_html([]) == ""


# ----------------------------------------------------------------------------------------------------
# End to end: a claims run writes the report


CLAIMS_MODULE = '''
import pytest
from bnclaims import figures
from bnclaims.catalogue import Claim, Finding, declare
from bnclaims.evidence import Arm

PAIRED = Claim(statement='BN <script>alert("statement")</script> & co. train better', source="test",
               metric="accuracy", test="superiority", threshold=0.0, threshold_reason="test")
MEASURED = Claim(statement="time grows linearly", source="test", metric="slope", test="measured", tier="identity",
                 threshold=0.1, threshold_reason="test", criterion="slope within 0.1 of 1")
CHECKS = declare({"R1.with_figures": PAIRED, "R1.default_plot": PAIRED, "R1.refuted": PAIRED,
                  "R2.slope": MEASURED})
FINDINGS = {"R1.refuted": Finding("inconclusive", ("digits",), ("quick",), "the arms differ by {effect} only")}
SEEDS = (0, 1, 2)


class History:
    def __init__(self, level):
        self.history = {"train_accuracy": [level, level + 0.05, level + 0.1],
                        "val_accuracy": [level, level + 0.04, float("nan")]}


@pytest.mark.parametrize("check", ["R1.with_figures"])
def test_paired_claim_with_every_kind_of_figure(check, verify, figure):
    figure(figures.learning_curves("curves", {"BN": [History(0.8), History(0.82)], "plain": [History(0.5)]},
                                   claim_id="R1"))
    figure(figures.sweep("sweep", "lr", "accuracy", {"BN": {0.01: [0.9, 0.91], 1.0: [0.8, 0.85]}}, x_log=True))
    figure(figures.loglog("loglog", "n", "t", {"fit": {"x": [1, 10], "y": [2, 20], "slope": 1.0, "intercept": 0.69}}))
    figure(figures.paired("paired", "accuracy", {"BN": [0.9, 0.92], "plain": [0.5, 0.6]}, [0, 1]))
    figure(figures.table("<b>table</b>", ["arm", "mean"], [["<i>BN</i>", 0.91]]))
    verify(check, Arm("BN", (0.9, 0.92, 0.91), SEEDS), Arm("plain", (0.5, 0.6, 0.55), SEEDS))


@pytest.mark.parametrize("check", ["R1.default_plot"])
def test_paired_claim_without_figures(check, verify):
    verify(check, Arm("BN", (0.9, 0.92, 0.91), SEEDS, talk_value=0.95),
           Arm("plain", (0.5, 0.6, 0.1), SEEDS, outcomes=("trained", "collapsed", "diverged"), talk_value=0.09))


@pytest.mark.parametrize("check", ["R1.refuted"])
def test_refuted_claim(check, verify):
    verify(check, Arm("BN", (0.5, 0.52, 0.49), SEEDS), Arm("plain", (0.5, 0.51, 0.5), SEEDS))


@pytest.mark.parametrize("check", ["R2.slope"])
def test_measured_claim(check, verify, figure):
    figure(figures.sweep("categories", "activation", "accuracy", {"BN": {"relu": [0.9, 0.91], "tanh": [0.8, 0.9]}}))
    verify.measured(check, effect=1.02, ci=(0.95, 1.08), ci_method="fit", passed=True, n=3, test_name="fit")
'''

# A test without a check lives in a module of its own: a claim module runs only its catalogue's checks.
PLAIN_MODULE = "def test_without_a_claim():\n    pass\n"

CLAIMS_CHECKS = {"R1.with_figures", "R1.default_plot", "R1.refuted", "R2.slope"}


def run_pytest(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", REPORT_ENV):
        env.pop(name, None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def make_project(root: Path) -> Path:
    """A claims project that uses this repository's plugins: claims/ and tests/ folders."""
    (root / "claims").mkdir(parents=True, exist_ok=True)     # exist_ok: a failed first attempt left it
    (root / "tests").mkdir(exist_ok=True)
    (root / "claims" / "test_report_claims.py").write_text(CLAIMS_MODULE)
    (root / "claims" / "test_plain.py").write_text(PLAIN_MODULE)
    (root / "tests" / "test_engine.py").write_text("def test_engine():\n    pass\n")
    (root / "conftest.py").write_text('pytest_plugins = ["fixtures.plugin", "fixtures.report_plugin"]\n')
    (root / "pytest.ini").write_text("[pytest]\nxfail_strict = true\n")
    return root


PROJECT_OPTIONS = ("--claims-dataset", "digits", "--claims-seeds", "3")


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


def report_data(text: str) -> dict:
    """pytest-html keeps the tests, their extras and the environment as JSON in one attribute."""
    return json.loads(html.unescape(re.search(r'data-jsonblob="([^"]*)"', text).group(1)))


def summary_checks(text: str) -> list[str]:
    return [html.unescape(check_id) for check_id in re.findall(r'<tr data-check-id="([^"]*)"', text)]


def extras_by_test(data: dict, format_type: str) -> dict[str, list[str]]:
    return {nodeid: [extra["content"] for entry in entries for extra in entry["extras"]
                     if extra["format_type"] == format_type] for nodeid, entries in data["tests"].items()}


def test_the_report_is_self_contained_and_shows_every_claim_record_with_its_figures(claims_report):
    text = claims_report.read_text(encoding="utf-8")
    records = ledger_beside(claims_report)["records"]
    assert records, "the ledger has records"
    assert not re.search(r"<link\b|<script\b[^>]*\bsrc=|\bsrc=\"https?:", text), "loads nothing from outside"
    assert summary_checks(text) == [r["check_id"] for r in records]
    data = report_data(text)
    images, tables = extras_by_test(data, "image"), extras_by_test(data, "html")
    for record in records:
        # Paired data is always drawn (the default paired plot); an exact measured check may be a table.
        nodeid = record["nodeid"]
        assert images.get(nodeid) or (record["kind"] == "measured" and tables.get(nodeid)), nodeid
    prefix = "data:image/png;base64,"
    for png in (png for pngs in images.values() for png in pngs):
        assert png.startswith(prefix) and png_shape(base64.b64decode(png[len(prefix):]))[0] > 0


def test_the_report_lists_the_session_environment(claims_report):
    environment = report_data(claims_report.read_text(encoding="utf-8"))["environment"]
    for key in ("Claims profile", "Claims dataset", "Claims seeds", "TensorFlow", "Keras", "numpy",
                "Keras backend", "Device", "Reproduce with"):
        assert environment.get(key), key


def test_the_project_report_draws_each_figure_and_marks_the_refuted_claim(project_report):
    text = project_report.read_text(encoding="utf-8")
    assert "<title id=\"head-title\">Batch Normalization claims</title>" in text
    assert set(summary_checks(text)) == CLAIMS_CHECKS
    assert '<script>alert("statement")' not in text
    refuted = re.search(r'<tr data-check-id="R1.refuted".*?</tr>', text).group(0)
    assert "declared finding (xfail)" in refuted and 'class="inconclusive"' in refuted
    data = report_data(text)
    images = extras_by_test(data, "image")
    module = "claims/test_report_claims.py::"
    assert len(images[module + "test_paired_claim_with_every_kind_of_figure[R1.with_figures]"]) == 4   # the table is HTML
    assert len(images[module + "test_paired_claim_without_figures[R1.default_plot]"]) == 1             # the default plot
    assert images["claims/test_plain.py::test_without_a_claim"] == []
    tables = extras_by_test(data, "html")[module + "test_paired_claim_with_every_kind_of_figure[R1.with_figures]"]
    assert tables == [report.table_html(figures.table("<b>table</b>", ["arm", "mean"], [["<i>BN</i>", 0.91]]))]
    assert data["environment"]["Claims dataset"] == "digits"
    assert data["environment"]["Device"] == "not used: TensorFlow did not run in this session"


def test_a_single_process_run_draws_the_plots_and_prints_the_report_path(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("claims/test_report_claims.py::test_paired_claim_without_figures[R1.default_plot]",
                        *PROJECT_OPTIONS,
                        cwd=project)
    html_path = project / "reports" / "claims.html"
    assert f"ledger: {project / 'reports' / 'claims.json'}\nreport: {html_path}\n" in result.stdout, result.stdout
    images = extras_by_test(report_data(html_path.read_text(encoding="utf-8")), "image")
    assert len(images["claims/test_report_claims.py::test_paired_claim_without_figures[R1.default_plot]"]) == 1


def test_a_run_without_claims_writes_no_report(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("tests/", *PROJECT_OPTIONS, cwd=project)
    assert "1 passed" in result.stdout, result.stdout
    assert not (project / "reports").exists() and "html report" not in result.stdout


def test_an_explicit_html_path_wins(tmp_path):
    project = make_project(tmp_path)
    result = run_pytest("claims/test_report_claims.py::test_measured_claim[R2.slope]", "--html", "mine.html",
                        *PROJECT_OPTIONS, cwd=project)
    assert "1 passed" in result.stdout, result.stdout
    assert (project / "mine.html").exists() and not (project / "reports" / "claims.html").exists()
    assert "report: " + str(project / "mine.html") in result.stdout
