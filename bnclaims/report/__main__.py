"""python -m bnclaims.report: the claims report from saved ledgers, offline, without a framework.

  python -m bnclaims.report reports/claims.json -o report.html
      the report of one ledger (default output: the ledger's path with .html)
  python -m bnclaims.report A.json B.json [-o compare.html]
      two ledgers compared: a terminal table on stdout, and the HTML page when -o is given
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..cache import atomic_write_text
from ..ledger import LedgerError, read_ledger
from . import comparison_text, labels_for, render_comparison, write_report


def _link(text: str) -> tuple[str, str]:
    label, separator, href = text.partition("=")
    if not separator or not label or not href:
        raise argparse.ArgumentTypeError(f"--link {text!r}: write LABEL=HREF")
    return label, href


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bnclaims.report",
                                description="Render the claims report from a ledger, or compare two ledgers.")
    p.add_argument("ledgers", nargs="+", type=Path, metavar="LEDGER", help="claims.json of a claims run (one or two)")
    p.add_argument("-o", "--output", type=Path, help="HTML file to write")
    p.add_argument("--title", default="", help="the page's title")
    p.add_argument("--link", action="append", type=_link, default=[], metavar="LABEL=HREF",
                   help="a link in the page's header (repeatable), e.g. for a published site")
    p.add_argument("--labels", nargs=2, metavar=("A", "B"), help="names of the two compared ledgers")
    p.add_argument("--pytest-html", type=Path, metavar="FILE", help="pytest's results page to link (one ledger)")
    return p


def main(argv: list[str] | None = None) -> int:
    arguments = parser().parse_args(argv)
    if len(arguments.ledgers) > 2:
        parser().error("give one ledger (a report) or two (a comparison)")
    try:
        ledgers = [read_ledger(path) for path in arguments.ledgers]
    except LedgerError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    try:
        return _render(arguments, ledgers)
    except OSError as error:     # e.g. an output folder that cannot be written (no page is half-written)
        print(f"error: {' '.join(str(error).split())}", file=sys.stderr)
        return 2


def _render(arguments, ledgers: list[dict]) -> int:
    options = {"title": arguments.title} if arguments.title else {}
    if len(ledgers) == 1:
        output = arguments.output or arguments.ledgers[0].with_suffix(".html")
        path = write_report(ledgers[0], output, ledger_path=arguments.ledgers[0],
                            pytest_html_path=arguments.pytest_html, links=arguments.link, **options)
        print(f"report: {path}")
        return 0
    labels = arguments.labels or labels_for(ledgers, [str(path) for path in arguments.ledgers])
    print(comparison_text(*ledgers, labels))
    if arguments.output:
        arguments.output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(arguments.output, render_comparison(*ledgers, labels, links=arguments.link, **options))
        print(f"comparison: {arguments.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
