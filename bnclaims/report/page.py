"""The report of one ledger, as one self-contained HTML page (every picture embedded, nothing loaded).

Top to bottom:
  a banner listing every check whose outcome is not the one the catalogue expects, one sentence each;
  a table of contents;
  the talk's six advantages (A1-A6), one table body each: the advantage's outcome, then one line per
    own check with its outcome, effect and interval in the metric's units, the p that decided it and its
    level, threshold, n and budget;
  beside it, the forest plot of every empirical check (SVG, inline);
  the related checks of each advantage (A1-talk, A6-loss, ...);
  the further statements (R, N, P, TABLE), the negative controls and, apart, the identities and
    implementation checks;
  the talk's table beside the observed means;
  every check folded under its one-line headline: statement, criteria, threshold and its reason, the
    rest of the evidence text (the failure message less the criteria shown above it), its figures;
  pytest's results table (linked, folded), the environment and the line that reproduces the run.

The page is rendered from Jinja2 templates (templates/, autoescaped); this module turns the ledger into
the plain values they show. On a narrow screen every checks table turns its rows into cards (report.css).

An advantage is supported when every check of its claim id (A1.*) is supported, refuted when any of
them is refuted, and inconclusive otherwise; checks of related claim ids (A1-talk.*, A4-plain.*) are
listed under it in their own table but do not decide it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from .. import formatting as fmt
from ..formatting import (ADVANTAGES, CONTROL_NORMALIZERS, TALK_READING, TUNED_READING, advantage_groups,
                          advantage_outcome, base_claim, deciding_test, expected_outcome, normalizer_rows, readings,
                          readings_disagree, tuned_records, unexpected_records)
from ..spec import NORMALIZER_NAMES
from . import plots
from .figure_cache import FigureCache

REPORT_TITLE = "Batch Normalization claims"
TEMPLATES = Path(__file__).with_name("templates")

# The talk's (and the paper's) further checkable statements, for section headings.
STATEMENTS = {
    "R1": "small batches add randomness to the batch mean and variance",
    "R2": "it is OK to use BN together with L2 regularization or Dropout",
    "T1": "the BN transform: normalize over the mini-batch, then scale by gamma and shift by beta",
    "T2": "BN sits between the linear combination and the activation; the bias is redundant",
    "T3": "LayerNorm and GroupNorm, the normalizer controls, compute their formulas without batch statistics",
    "N1": "min-max scaling only rescales: the distribution's shape does not change",
    "N2": "input normalization makes networks converge much faster",
    "P1": "(paper) the mini-batch gradient estimates the full gradient better as the batch grows",
    "P2": "(paper) computing over a batch is much more efficient than example by example",
    "P3": "(paper) BN works by reducing internal covariate shift",
    "TABLE": "the talk's results table (Comparisons 1-4)",
}

CSS = (TEMPLATES / "report.css").read_text(encoding="utf-8")


# ----------------------------------------------------------------------------------------------------
# Grouping


def further_records(records: list[dict]) -> list[dict]:
    """Empirical checks that are not one of the six advantages."""
    return sorted((r for r in records if r["tier"] == "empirical" and base_claim(r["claim_id"]) not in ADVANTAGES),
                  key=fmt.record_order)


def exact_records(records: list[dict]) -> list[dict]:
    return sorted((r for r in records if r["tier"] not in fmt.STATISTICAL_TIERS), key=fmt.record_order)


def control_records(records: list[dict]) -> list[dict]:
    return sorted((r for r in records if r["tier"] == "control"), key=fmt.record_order)


def forest_records(records: list[dict]) -> list[dict]:
    """Every empirical check, in the page's order: the advantages' checks, then the further statements."""
    groups = advantage_groups(records)
    return [*(r for own, related in groups.values() for r in (*own, *related)), *further_records(records)]


def talk_records(records: list[dict]) -> list[dict]:
    """Checks whose arms carry the talk's numbers: the talk's table (TABLE-1..4) first, then the others."""
    chosen = sorted((r for r in records if fmt.talk_pairs(r)), key=fmt.record_order)
    return sorted(chosen, key=lambda r: base_claim(r["claim_id"]) != "TABLE")


def record_budget(record: dict, ledger: dict) -> str:
    return fmt.budget_text(record.get("budget") or ledger.get("settings", {}).get("budget"))


# ----------------------------------------------------------------------------------------------------
# What the catalogue expects


def p_parts(record: dict) -> tuple[str, str]:
    """('p=0.00591', 'claim test, level 0.00833'): the deciding p and what it was compared with."""
    which, p, level = deciding_test(record)
    if p is None:
        return "no p-value", f"level {level:.3g}" if record["tier"] in fmt.STATISTICAL_TIERS else ""
    return f"p={fmt.format_p(p)}", f"{which}, level {level:.3g}"


def unexpected_item(record: dict) -> dict:
    """One banner sentence's parts: the check, its outcome here, the deciding p, what was expected, why."""
    finding = record.get("finding") or {}
    p, level = p_parts(record)
    if record.get("test_outcome") == "failed":
        why = "its test failed"
    elif record["tier"] == "control":
        why = "a negative control (two arms that differ only in their seeds): a false positive"
    elif finding.get("near_level"):
        why = "declared near its level: another CPU's rounding can move it"
    else:
        why = "declared finding not observed here"
    return {"check_id": record["check_id"], "anchor": anchor(record["check_id"]), "outcome": record["outcome"],
            "expected": expected_outcome(record), "p": p, "level": level, "n": record["n"], "why": why,
            "attributes": row_attributes(record)}


# ----------------------------------------------------------------------------------------------------
# Values the templates show


def anchor(check_id: str) -> str:
    return "check-" + check_id


def row_attributes(record: dict) -> dict[str, str]:
    return {"data-check-id": record["check_id"], "data-tier": record["tier"], "data-outcome": record["outcome"]}


_TEST_OUTCOME_NOTES = {"xfailed": "declared finding", "failed": "test failed", "xpassed": "xpass"}


def units_text(record: dict) -> str:
    """The effect's units: the metric, and for a paired check which arm is subtracted from which."""
    return f"{record['metric']} ({fmt.arms_text(record)})" if record["kind"] == "paired" else record["metric"]


def check_row(record: dict, ledger: dict) -> dict:
    """One check as a table row shows it: every value as text, none only in a tooltip."""
    spec = fmt.effect_spec(record)
    p, p_note = p_parts(record)
    return {"check_id": record["check_id"], "anchor": anchor(record["check_id"]),
            "attributes": row_attributes(record), "outcome": record["outcome"],
            "note": _TEST_OUTCOME_NOTES.get(record.get("test_outcome", ""), ""),
            "effect": fmt.format_effect(record), "interval": fmt.format_interval(record["effect_ci"], spec),
            "units": units_text(record), "p": p, "p_note": p_note, "threshold": fmt.threshold_text(record),
            "n": record["n"], "budget": record_budget(record, ledger) or "—"}


def _uniform_budget(records: list[dict], ledger: dict) -> str | None:
    """The one budget every record was measured in, '' when none is recorded, None when they differ."""
    budgets = {record_budget(record, ledger) for record in records} or {record_budget({}, ledger)}
    return budgets.pop() if len(budgets) == 1 else None


def budget_line(records: list[dict], ledger: dict) -> tuple[str, bool]:
    """(a sentence for the table's caption, whether the table needs a budget column)."""
    budget = _uniform_budget(records, ledger)
    profile = ledger.get("settings", {}).get("profile", "?")
    if budget is None:
        return "Each check's training budget is in its row.", True
    if budget:
        return f"Measured in the budget of profile {profile}: {budget}.", False
    return f"Profile {profile}; this ledger does not state its training budget.", False


def machine_dependent(own: list[dict]) -> list[str]:
    """The advantage's own checks whose finding is declared near its level: where p sits so close to the
    level that another CPU's rounding can move the check, and with it the advantage, to a neighbouring
    outcome (bnclaims.evidence.settle)."""
    return [r["check_id"] for r in own if (r.get("finding") or {}).get("near_level")]


def check_group(claim_id: str, words: str, rows: list[dict], ledger: dict, *, outcome: str | None = None,
                flagged: Sequence[str] = (), empty: str = "") -> dict:
    return {"claim_id": claim_id, "words": words, "outcome": outcome, "flagged": list(flagged),
            "rows": [check_row(r, ledger) for r in rows], "empty": empty, "attributes": {}, "readings": None}


def check_table(groups: list[dict], records: list[dict], ledger: dict, *, table_id: str = "",
                caption: str = "") -> dict:
    line, budget_column = budget_line(records, ledger)
    return {"id": table_id, "groups": groups, "budget_column": budget_column,
            "caption": f"{line} {caption}".strip()}


HEADLINE_CAPTION = ("An advantage (the talk's words) is supported when all of its own checks are, refuted when any "
                    "of them is refuted, inconclusive otherwise; where it has tuned twins (each arm trained at its own "
                    "best learning rate, chosen on seeds it is not tested on), their verdict, by the same rule, stands "
                    "beside it. Its related checks (next table) inform it without "
                    "deciding it. p: the test that decided the outcome (the mirror test's for refuted) and the "
                    "level it was held to; the interval is at that level.")


def headline_table(ledger: dict) -> dict:
    """One table body per advantage: a row with its outcome as the talk ran it (and, where it has tuned
    twins, with each arm at its best rate), then one line per own check and per tuned twin."""
    groups, shown = [], []
    for advantage, (own, related) in advantage_groups(ledger["records"]).items():
        tuned = tuned_records(related)
        talk_outcome, tuned_outcome = readings(own, related)
        group = check_group(advantage, ADVANTAGES[advantage], [*own, *tuned], ledger, outcome=talk_outcome,
                            flagged=machine_dependent([*own, *tuned]),
                            empty=f"no check of {advantage} ran in this session")
        if tuned:
            group["readings"] = {"talk": TALK_READING, "tuned": TUNED_READING, "tuned_outcome": tuned_outcome,
                                 "disagree": readings_disagree(talk_outcome, tuned_outcome)}
        group["attributes"] = {"data-advantage": advantage, "data-outcome": group["outcome"],
                               **({"data-tuned-outcome": tuned_outcome} if tuned else {})}
        groups.append(group)
        shown += [*own, *tuned]
    return check_table(groups, shown, ledger, table_id="headline-table", caption=HEADLINE_CAPTION)


NORMALIZER_CAPTION = ("Each advantage's own checks, and the talk's table, run again with LayerNorm and with GroupNorm "
                      "where the talk puts BN (the normalizer controls: --claims-profile controls). A cell is the "
                      "outcome by the headline's rule over that normalizer's checks; the controls are listed with "
                      "the related checks. Neither normalizer uses batch statistics: what they share with BN comes "
                      "from normalizing, what they lack is BN's own (its batch noise, its train/inference gap).")


def normalizer_table(records: list[dict]) -> dict | None:
    """The advantage x normalizer table (bnclaims.formatting.normalizer_rows); None where no control ran."""
    rows = normalizer_rows(records)
    if not rows:
        return None
    columns = ("batch", *CONTROL_NORMALIZERS)
    return {"columns": [NORMALIZER_NAMES[n] for n in columns], "cells": [(n, NORMALIZER_NAMES[n]) for n in columns],
            "rows": rows, "caption": NORMALIZER_CAPTION}


def related_table(ledger: dict) -> dict | None:
    """The checks that inform an advantage without deciding it (A1-talk, A6-loss, ...), by advantage."""
    groups, chosen = [], []
    for advantage, (_, all_related) in advantage_groups(ledger["records"]).items():
        tuned = tuned_records(all_related)                  # the headline shows those
        related = [r for r in all_related if r not in tuned]
        if related:
            group = check_group(advantage, ADVANTAGES[advantage], related, ledger)
            group["attributes"] = {"data-related-to": advantage}
            groups.append(group)
            chosen += related
    return check_table(groups, chosen, ledger, table_id="related-table") if groups else None


def grouped_table(records: list[dict], ledger: dict) -> dict | None:
    """One table body per claim id, headed by its statement."""
    if not records:
        return None
    groups = []
    for claim_id in dict.fromkeys(r["claim_id"] for r in records):
        rows = [r for r in records if r["claim_id"] == claim_id]
        group = check_group(claim_id, STATEMENTS.get(claim_id) or rows[0]["statement"], rows, ledger)
        group["attributes"] = {"data-claim": claim_id}
        groups.append(group)
    return check_table(groups, records, ledger)


def exact_row(record: dict) -> dict:
    return {"check_id": record["check_id"], "anchor": anchor(record["check_id"]),
            "attributes": row_attributes(record), "tier": record["tier"], "outcome": record["outcome"],
            "note": _TEST_OUTCOME_NOTES.get(record.get("test_outcome", ""), ""),
            "measured": fmt.format_effect(record), "threshold": fmt.threshold_text(record),
            "quantity": record["metric"], "n": record["n"]}


def talk_row(record: dict) -> dict:
    a, b = record["arm_a"], record["arm_b"]
    number = lambda value: "—" if value is None else f"{value:.4f}"
    talk_a, talk_b = a.get("talk_value"), b.get("talk_value")
    return {**check_row(record, {}),
            "title": record["statement"].split(":")[0] if record["claim_id"].startswith("TABLE") else record["statement"],
            "arms": f"{a['name']} − {b['name']}", "talk_a": number(talk_a), "talk_b": number(talk_b),
            "talk_gap": f"{talk_a - talk_b:+.4f}" if talk_a is not None and talk_b is not None else "—",
            "mean_a": number(fmt.arm_mean(a)), "mean_b": number(fmt.arm_mean(b))}


def talk_table(records: list[dict], ledger: dict) -> dict | None:
    chosen = talk_records(records)
    if not chosen:
        return None
    budget = _uniform_budget(chosen, ledger)
    return {"here": f"this run: mean over seeds{f' ({budget})' if budget else ''}",
            "rows": [talk_row(r) for r in chosen]}


# ----------------------------------------------------------------------------------------------------
# Figures


def svg_img(svg: bytes, alt: str) -> Markup:
    return Markup('<img src="data:image/svg+xml;base64,{}" alt="{}">').format(
        base64.b64encode(svg).decode("ascii"), alt)


def inline_svg(svg: bytes, **attributes) -> Markup:
    """An SVG document as an element of the page (its XML prologue dropped), with attributes added."""
    text = svg.decode("utf-8")
    extra = "".join(f' {name}="{escape(str(value), quote=True)}"' for name, value in attributes.items())
    return Markup(text[text.index("<svg"):].replace("<svg", "<svg" + extra, 1))


def _cell(value) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(item) for item in value)
    return str(value)


def table_html(payload: dict) -> Markup:
    """A "table" payload as an HTML table; every cell is escaped."""
    return Markup(_environment().get_template("figure_table.html.j2").render(
        title=payload.get("title", ""), columns=[_cell(c) for c in payload["columns"]],
        rows=[[_cell(cell) for cell in row] for row in payload["rows"]]))


def _picture(kind: str, data, draw, cache: FigureCache | None) -> bytes:
    return cache.picture(kind, data, draw) if cache is not None else draw()


def figure_html(payload: dict, cache: FigureCache | None = None) -> Markup:
    title = payload.get("title", "")
    try:
        if payload.get("kind") == plots.TABLE_KIND:
            return table_html(payload)
        svg = _picture("plot", payload, lambda: plots.plot_svg(payload), cache)
        return Markup("<figure>{}</figure>").format(svg_img(svg, title))
    except Exception as error:  # a broken figure must not cost the report its other content
        return Markup('<p class="note">could not draw figure {}: {}</p>').format(title, repr(error))


class _Figures:
    """Draws each distinct payload once: a figure several checks share is shown under the first."""

    def __init__(self, cache: FigureCache | None = None) -> None:
        self.first: dict[str, str] = {}
        self.cache = cache

    def html(self, payload: dict, check_id: str) -> Markup:
        key = json.dumps(payload, sort_keys=True, default=str)
        if key in self.first:
            return Markup('<p class="note">{}: shown under <a href="#{}">{}</a></p>').format(
                payload.get("title", "figure"), anchor(self.first[key]), self.first[key])
        self.first[key] = check_id
        return figure_html(payload, self.cache)


def forest_html(records: list[dict], cache: FigureCache | None) -> Markup | None:
    empirical = forest_records(records)
    if not empirical:
        return None
    svg = _picture("forest", [plots.forest_row(r) for r in empirical], lambda: plots.forest_svg(empirical), cache)
    return inline_svg(svg, id="forest-plot", role="img", **{"aria-label": "forest plot of every empirical check"})


# ----------------------------------------------------------------------------------------------------
# Each check, folded


def criteria(record: dict) -> list[tuple[str, str]]:
    statistical = record["tier"] in fmt.STATISTICAL_TIERS
    terms = [("supported if" if statistical else "holds if", record.get("expected", ""))]
    if statistical and record.get("refuted_if"):
        terms.append(("refuted if", record["refuted_if"]))
    terms.append(("threshold", f"{fmt.threshold_text(record)} ({record['metric']}): {record.get('threshold_reason', '')}"))
    if finding := record.get("finding"):
        terms.append(("declared finding", f"{finding['outcome']} ({finding.get('reason', '')})"))
        if finding.get("not_observed"):
            terms.append(("not observed here", finding["not_observed"]))
    return terms


def evidence_text(record: dict) -> str:
    """The failure message without what the section shows above it (its first line, which names the
    check and quotes the statement, and the criteria), so that nothing is printed twice."""
    text = fmt.format_message(record)
    statistical = record["tier"] in fmt.STATISTICAL_TIERS
    shown = [f"  {'supported' if statistical else 'holds'} if: {record.get('expected', '')}\n",
             f"  refuted if: {record.get('refuted_if', '')}\n"]
    if finding := record.get("finding"):
        shown.append(f"  declared finding: {finding['outcome']} ({finding.get('reason', '')})\n")
        if finding.get("not_observed"):
            shown.append(f"  {finding['not_observed']}\n")
    first, _, text = text.partition("\n")
    for line in shown:
        text = text.replace(line, "", 1)
    return text


def check_section(record: dict, ledger: dict, drawn: _Figures) -> dict:
    return {**check_row(record, ledger), "tier": record["tier"], "statement": record["statement"],
            "source": record.get("source", ""), "criteria": criteria(record), "evidence": evidence_text(record),
            "figures": [drawn.html(payload, record["check_id"]) for payload in plots.figures_for_record(record)]}


def check_sections(ledger: dict, figure_cache: FigureCache | None = None) -> list[dict]:
    """[{claim_id, words, outcome, checks}]: the advantages' checks, then the further and exact ones."""
    records = ledger["records"]
    drawn = _Figures(figure_cache)
    parts = []
    for advantage, (own, related) in advantage_groups(records).items():
        if own or related:
            parts.append({"claim_id": advantage, "words": ADVANTAGES[advantage], "outcome": advantage_outcome(own),
                          "checks": [check_section(r, ledger, drawn) for r in (*own, *related)]})
    rest = [*further_records(records), *control_records(records), *exact_records(records)]
    for base in dict.fromkeys(base_claim(r["claim_id"]) for r in rest):
        chosen = [r for r in rest if base_claim(r["claim_id"]) == base]
        parts.append({"claim_id": base, "words": STATEMENTS.get(base) or chosen[0]["statement"], "outcome": None,
                      "checks": [check_section(r, ledger, drawn) for r in chosen]})
    return parts


# ----------------------------------------------------------------------------------------------------
# Header and footer


def lede(ledger: dict) -> str:
    settings = ledger.get("settings", {})
    seeds = settings.get("seeds") or []
    parts = [f"profile {settings.get('profile', '?')}", f"dataset {settings.get('dataset', '?')}"]
    if seeds:
        most = len(seeds) * int(settings.get("looks") or 1)
        parts.append(f"seeds {fmt.seeds_text(seeds)} (n={len(seeds)}" + (f", up to {most} where undecided)"
                                                                         if most > len(seeds) else ")"))
    if settings.get("engine"):
        parts.append(f"engine {settings['engine']}")
    if budget := fmt.budget_text(settings.get("budget")):
        parts.append(budget)
    return " · ".join(parts)


def counts(records: list[dict]) -> str:
    tiers = [tier for tier in fmt.TIER_ORDER if any(r["tier"] == tier for r in records)]
    return "; ".join(fmt.tier_count(records, tier) for tier in tiers)


def _value_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True)


def environment_rows(ledger: dict) -> list[tuple[str, str]]:
    """The settings that label the run, then every key of the ledger's environment as it stands (a key a
    newer suite adds appears without a change here), then the run cache and the ledger itself."""
    settings, environment = ledger.get("settings", {}), ledger.get("environment", {})
    runs = ledger.get("runs", {})
    seeds = settings.get("seeds") or []
    rows = [
        ("profile", settings.get("profile")), ("dataset", settings.get("dataset")),
        ("seeds", f"{fmt.seeds_text(seeds)} (n={len(seeds)})" if seeds else None),
        ("budget", fmt.budget_text(settings.get("budget")) or "not stated in this ledger"),
        ("engine", settings.get("engine")),
        # Sorted: the same page whether the ledger comes from the session or from its file (written sorted).
        *((name.replace("_", " "), _value_text(value)) for name, value in sorted(environment.items())
          if name != "engine" or value != settings.get("engine")),
        ("run cache", f"mode {settings.get('cache_mode')}; {fmt.runs_line(runs)}" if runs else None),
        ("session", f"{ledger.get('session', '')}, {ledger.get('created', '')}"),
        ("ledger", f"schema {ledger.get('schema')} version {ledger.get('version')}"),
    ]
    return [(name, str(value)) for name, value in rows if value not in (None, "")]


# ----------------------------------------------------------------------------------------------------
# HTML pieces other pages share (bnclaims.report.compare)


def outcome_badge(outcome: str) -> Markup:
    return Markup('<span class="outcome {}">{}</span>').format(outcome.replace(" ", "-"), outcome)


def note(text: str) -> Markup:
    return Markup('<span class="note">{}</span>').format(text) if text else Markup("")


def nav_html(links: Sequence[tuple[str, str]]) -> Markup:
    if not links:
        return Markup("")
    return Markup("<nav>{}</nav>").format(
        Markup(" · ").join(Markup('<a href="{}">{}</a>').format(href, label) for label, href in links))


# ----------------------------------------------------------------------------------------------------
# The page


def _wbr(text: str) -> Markup:
    """A long id may wrap after each dot."""
    return Markup(".<wbr>").join(str(text).split("."))


def _environment() -> Environment:
    environment = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True),
                              undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.filters["wbr"] = _wbr
    environment.globals.update(outcome_badge=outcome_badge)
    return environment


def render(ledger: dict, *, title: str = REPORT_TITLE, links: Sequence[tuple[str, str]] = (),
           ledger_href: str = "", pytest_html_href: str = "", figure_cache: FigureCache | None = None) -> str:
    """The whole page for one ledger (a dict as bnclaims.ledger writes it). figure_cache: where drawn
    figures are kept between renderings (bnclaims.report.figure_cache); None draws every one."""
    records = ledger["records"]
    unexpected = [unexpected_item(r) for r in unexpected_records(records)]
    tables = {"related": related_table(ledger), "further": grouped_table(further_records(records), ledger),
              "controls": grouped_table(control_records(records), ledger)}
    normalizers = normalizer_table(records)
    toc = [("#unexpected", f"not as expected ({len(unexpected)})") if unexpected else None,
           ("#advantages", "the six advantages"),
           ("#normalizers", "BN, or any normalization?") if normalizers else None, ("#forest", "every empirical check"),
           ("#related", "related checks"), ("#further", "further statements"),
           ("#controls", "negative controls") if tables["controls"] else None,
           ("#exact", "identities and implementation checks"), ("#talk-table", "the talk's table"),
           ("#checks", "each check"), ("#pytest-results", "pytest's results") if pytest_html_href else None,
           ("#environment", "environment")]
    return _environment().get_template("report.html.j2").render(
        title=title, css=Markup(CSS), lede=lede(ledger), counts=counts(records), links=links,
        unexpected=unexpected, toc=[entry for entry in toc if entry], headline=headline_table(ledger),
        normalizers=normalizers,
        forest=forest_html(records, figure_cache), exact=[exact_row(r) for r in exact_records(records)],
        talk=talk_table(records, ledger), sections=check_sections(ledger, figure_cache),
        environment=environment_rows(ledger), reproduce=ledger.get("settings", {}).get("reproduce"),
        ledger_href=ledger_href, pytest_html_href=pytest_html_href, **tables)
