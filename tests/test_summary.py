"""The terminal summary and the CI summary page: the answer first (the six advantages), then the checks
not as the catalogue expects, each with the p that decided its outcome."""

from __future__ import annotations

from bnclaims import formatting as fmt
from test_report import paired_record

A1 = paired_record("A1.lr_sweep", p_value=0.0078, mirror_p_value=0.99)
A3 = paired_record("A3.bn_worst_init", outcome="refuted", p_value=1.0, mirror_p_value=0.0078, test_outcome="xfailed",
                   finding={"outcome": "refuted", "datasets": ["mnist5k"], "profiles": ["default"], "reason": "r"})
# Supported by Holm's step-down where Bonferroni's level left it open: its deciding p is the adjusted one.
A6 = paired_record("A6.batch32_accuracy", p_value=0.0089, mirror_p_value=0.99, adjusted_p=0.0177,
                   holm={"bonferroni_outcome": "inconclusive", "outcome": "supported", "level": 0.025},
                   finding={"outcome": "inconclusive", "datasets": ["mnist5k"], "profiles": ["default"], "reason": "r",
                            "not_observed": "declared finding 'inconclusive' not observed here"})
# A tuned twin of A1 (bnclaims.tuning): its record carries the tuning.
A1_TUNED = paired_record("A1-tuned.test_accuracy", outcome="inconclusive", p_value=0.2, mirror_p_value=0.6,
                         tuning={"BN": {"chosen_rate": 1.0, "grid": [0.3, 1.0, 3.0], "interior": True,
                                        "tuning_seeds": [1000], "test_seeds": [0]}})
CONTROL = paired_record("C0.placebo", tier="control", outcome="supported", p_value=0.02)
RECORDS = [A1, A3, A6, CONTROL, paired_record("T1.identity", tier="identity", outcome="holds", p_value=None)]


def test_the_deciding_p_is_the_mirror_tests_for_refuted_and_holms_where_it_decided():
    assert fmt.deciding_test(A1) == ("claim test", 0.0078, 0.0125)
    assert fmt.deciding_test(A3) == ("mirror test", 0.0078, 0.0125)
    assert fmt.deciding_test(A6)[:2] == ("claim test, Holm", 0.0177)
    assert fmt.deciding_p_text(A3) == "p=0.0078 (mirror test)"


def test_the_catalogue_expects_supported_holds_inconclusive_for_controls_or_the_declared_finding():
    assert [fmt.expected_outcome(r) for r in RECORDS] == ["supported", "refuted", "inconclusive", "inconclusive", "holds"]
    assert [r["check_id"] for r in fmt.unexpected_records(RECORDS)] == ["A6.batch32_accuracy", "C0.placebo"]


def test_the_summary_opens_with_the_six_advantages_then_what_is_not_as_expected():
    lines = fmt.summary_lines(RECORDS, every_check=False)
    assert lines[0] == "the six advantages (the talk's Summary slide):"
    assert lines[1] == "  A1 allows larger learning rates: SUPPORTED"
    assert lines[2].startswith("      A1.lr_sweep: supported, effect +0.3000 [+0.2000, +0.4000] p=0.0078")
    assert "  A3 allows us to be more careless about weight initialization: REFUTED" in lines
    assert "  A5 allows to use more activation functions freely: NOT RUN" in lines
    unexpected = lines.index(next(line for line in lines if line.startswith("not as the catalogue expects (2;")))
    assert lines[unexpected + 1] == "  A6.batch32_accuracy: expected inconclusive, observed supported (p=0.0177 " \
                                    "(claim test, Holm), n=3)"
    assert not any(line.startswith("  A1.lr_sweep ") for line in lines), "each check's line only with -v"
    every = fmt.summary_lines(RECORDS, every_check=True)
    assert any(line.startswith("  A3.bn_worst_init") and "p=0.0078 (mirror test)" in line for line in every)


def test_the_ci_summary_page_is_a_markdown_table_of_the_advantages():
    page = fmt.markdown_summary(RECORDS, title="claims", runs_text="runs: 3 trained, 0 from the cache")
    assert page.startswith("## claims\n\n| advantage | as the talk ran it | each arm at its best rate |")
    assert "| A3 allows us to be more careless about weight initialization | **refuted** | **not run** | " \
           "A3.bn_worst_init: refuted" in page
    assert "- A6.batch32_accuracy: expected inconclusive, observed supported" in page
    assert page.rstrip().endswith("- runs: 3 trained, 0 from the cache")


def test_an_advantage_with_a_tuned_twin_shows_both_readings_and_says_when_they_disagree():
    records = [*RECORDS, A1_TUNED]
    lines = fmt.summary_lines(records, every_check=False)
    assert lines[1] == ("  A1 allows larger learning rates: SUPPORTED as the talk ran it; INCONCLUSIVE each arm at its "
                        "best rate (the readings disagree)")
    assert lines[3].startswith("      A1-tuned.test_accuracy: inconclusive")
    assert "| A1 allows larger learning rates | **supported** | **inconclusive** |" in \
        fmt.markdown_summary(records, title="claims")
    agreeing = dict(A1_TUNED, outcome="supported")
    assert fmt.readings_text([A1], [agreeing]) == ("SUPPORTED as the talk ran it; SUPPORTED each arm at its best rate")


def test_the_runs_line_says_apart_the_runs_a_cluster_trained_ahead_of_the_tests():
    assert fmt.runs_line({"trained": 3, "from_cache": 9}) == "runs: 3 trained, 9 from the cache"
    assert fmt.runs_line({"trained": 0, "from_cache": 9}) == "runs: 0 trained, 9 from the cache (every run a cache hit)"
    assert fmt.runs_line({"trained": 0, "from_cache": 9, "trained_ahead": 7}) == (
        "runs: 0 trained, 9 from the cache (7 of them trained ahead of the tests, from the last session's plan)")
