"""The claims report, rendered from the JSON ledger alone (bnclaims.ledger): no pytest, no framework.

  render(ledger)                       the report of one ledger, one self-contained HTML page
  write_report(ledger, path)           render and write it (what a claims run does after its ledger)
  render_comparison(a, b, labels)      two ledgers side by side, changed outcomes flagged
  comparison_text(a, b, labels)        the same comparison as a terminal table

From the command line (see __main__):
  python -m bnclaims.report reports/claims.json -o report.html
  python -m bnclaims.report A.json B.json [-o compare.html]
"""

from __future__ import annotations

import os
from pathlib import Path

from ..cache import atomic_write_text
from .compare import compare_rows, comparison_text, labels_for, render_comparison
from .page import (ADVANTAGES, REPORT_TITLE, advantage_groups, advantage_outcome, forest_records, render,
                   table_html, unexpected_records)
from .plots import (DPI, FIGSIZE, TABLE_KIND, default_paired_plot, figures_for_record, forest_row, forest_svg,
                    has_own_plot, plot_svg, plots_for_test, seed_curve)

__all__ = [
    "ADVANTAGES", "DPI", "FIGSIZE", "REPORT_TITLE", "TABLE_KIND", "advantage_groups", "advantage_outcome",
    "compare_rows", "comparison_text", "default_paired_plot", "figures_for_record", "forest_records", "forest_row",
    "forest_svg", "has_own_plot", "labels_for", "plot_svg", "plots_for_test", "render", "render_comparison",
    "seed_curve", "table_html", "unexpected_records", "write_report",
]


def write_report(ledger: dict, path: Path | str, *, ledger_path: Path | None = None,
                 pytest_html_path: Path | None = None, **options) -> Path:
    """Render `ledger` to `path`, linking the ledger file and pytest's results page where given."""
    path = Path(path)
    html = render(ledger,
                  ledger_href=relative_href(ledger_path, path) if ledger_path else "",
                  pytest_html_href=relative_href(pytest_html_path, path) if pytest_html_path else "",
                  **options)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, html)
    return path


def relative_href(target: Path, page: Path) -> str:
    """A link from a page to a file, relative to the page's folder (so that a published folder works)."""
    return Path(os.path.relpath(Path(target).resolve(), Path(page).resolve().parent)).as_posix()
