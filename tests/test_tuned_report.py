"""The report's headline with both readings of an advantage: as the talk ran it, and each arm at its best
learning rate (its tuned twins, bnclaims.tuning)."""

from __future__ import annotations

import re

from bnclaims import report
from test_report import headline_table, ledger_of, paired_record, row_outcomes

TUNING = {"BN": {"chosen_rate": 1.0, "grid": [0.3, 1.0, 3.0], "interior": True, "tuning_seeds": [1000, 1001],
                 "test_seeds": [0, 1, 2], "validation": {"0.3": [0.94, 0.95], "1": [0.95, 0.96], "3": [0.9, 0.5]}},
          "plain": {"chosen_rate": 0.3, "grid": [0.1, 0.3, 1.0], "interior": True, "tuning_seeds": [1000, 1001],
                    "test_seeds": [0, 1, 2], "validation": {"0.1": [0.93, 0.93], "0.3": [0.94, 0.94], "1": [0.5, 0.6]}}}


def test_the_headline_shows_the_tuned_reading_beside_the_talks_and_says_they_disagree():
    records = [paired_record(check_id="A1.lr_sweep"),
               paired_record(check_id="A1-tuned.test_accuracy", outcome="inconclusive", tuning=TUNING),
               paired_record(check_id="A1-talk.lr1_batch1024", outcome="inconclusive"),
               paired_record(check_id="A2.steps_to_target")]
    headline = headline_table(report.render(ledger_of(records)))
    a1 = headline[headline.index('data-advantage="A1"'):headline.index('data-advantage="A2"')]
    assert 'data-outcome="supported" data-tuned-outcome="inconclusive"' in a1
    assert re.search(r"as the talk ran it:</span> .*supported.*each arm at its best rate:</span> .*inconclusive.*"
                     r"\(the readings disagree\)", a1, flags=re.S)
    # The twin is a row of the headline; a related check that is not tuned stays out of it.
    assert row_outcomes(a1) == {"A1.lr_sweep": "supported", "A1-tuned.test_accuracy": "inconclusive"}
    a2 = headline[headline.index('data-advantage="A2"'):]
    assert "each arm at its best rate" not in a2 and "data-tuned-outcome" not in a2


def test_the_ledger_keeps_a_twins_choices():
    from bnclaims.ledger import RECORD_FIELDS, OPTIONAL_RECORD_FIELDS, _field_problem

    record = paired_record(check_id="A1-tuned.test_accuracy", tuning=TUNING)
    assert _field_problem(record, RECORD_FIELDS, OPTIONAL_RECORD_FIELDS) is None
    overlapping = {**TUNING, "BN": {**TUNING["BN"], "test_seeds": [0, 1000]}}
    problem = _field_problem({**record, "tuning": overlapping}, RECORD_FIELDS, OPTIONAL_RECORD_FIELDS)
    assert problem and problem.startswith("tuning is")
