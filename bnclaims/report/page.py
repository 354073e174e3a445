"""The report of one ledger, as one self-contained HTML page (every picture embedded, nothing loaded).

Top to bottom:
  the talk's six advantages (A1-A6), one table body each: the advantage's outcome, then one line per
    own check with its outcome, effect and interval, threshold in the metric's units, n and budget;
  beside it, the forest plot of every empirical check (both fit a 1280x800 window);
  the related checks of each advantage (A1-talk, A6-loss, ...);
  the further statements (R, N, P, TABLE) and, apart, the identities and implementation checks;
  the talk's table beside the observed means;
  one section per check: statement, criteria, threshold and its reason, the evidence text (the
    failure message), its figures at full width;
  pytest's results table (linked, folded), the environment and the line that reproduces the run.

An advantage is supported when every check of its claim id (A1.*) is supported, refuted when any of
them is refuted, and inconclusive otherwise; checks of related claim ids (A1-talk.*, A4-plain.*) are
listed under it in their own table but do not decide it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from html import escape

from .. import formatting as fmt
from . import plots
from .figure_cache import FigureCache

REPORT_TITLE = "Batch Normalization claims"

# The talk's "Summary" slide, in its words.
ADVANTAGES = {
    "A1": "allows larger learning rates",
    "A2": "model converges in less number of epochs",
    "A3": "allows us to be more careless about weight initialization",
    "A4": "no need for data normalization",
    "A5": "allows to use more activation functions freely",
    "A6": "adds slight regularization effect if used with small batch",
}

# The talk's (and the paper's) further checkable statements, for section headings.
STATEMENTS = {
    "R1": "small batches add randomness to the batch mean and variance",
    "R2": "it is OK to use BN together with L2 regularization or Dropout",
    "T1": "the BN transform: normalize over the mini-batch, then scale by gamma and shift by beta",
    "T2": "BN sits between the linear combination and the activation; the bias is redundant",
    "N1": "min-max scaling only rescales: the distribution's shape does not change",
    "N2": "input normalization makes networks converge much faster",
    "P1": "(paper) the mini-batch gradient estimates the full gradient better as the batch grows",
    "P2": "(paper) computing over a batch is much more efficient than example by example",
    "P3": "(paper) BN works by reducing internal covariate shift",
    "TABLE": "the talk's results table (Comparisons 1-4)",
}

NOT_RUN = "not run"


# ----------------------------------------------------------------------------------------------------
# Grouping


def base_claim(claim_id: str) -> str:
    """'A1-talk' -> 'A1', 'TABLE-2' -> 'TABLE': the statement a claim id belongs to."""
    return claim_id.split("-", 1)[0]


def advantage_groups(records: list[dict]) -> dict[str, tuple[list[dict], list[dict]]]:
    """{A1..A6: (the advantage's own checks, related checks)}, every advantage present, checks by id."""
    ordered = sorted(records, key=fmt.record_order)
    return {advantage: ([r for r in ordered if r["claim_id"] == advantage],
                        [r for r in ordered if r["claim_id"] != advantage and base_claim(r["claim_id"]) == advantage])
            for advantage in ADVANTAGES}


def advantage_outcome(own: list[dict]) -> str:
    """Supported when every own check is supported, refuted when any is refuted, else inconclusive."""
    outcomes = [record["outcome"] for record in own]
    if not outcomes:
        return NOT_RUN
    if all(outcome == "supported" for outcome in outcomes):
        return "supported"
    return "refuted" if "refuted" in outcomes else "inconclusive"


def further_records(records: list[dict]) -> list[dict]:
    """Empirical checks that are not one of the six advantages."""
    return sorted((r for r in records if r["tier"] == "empirical" and base_claim(r["claim_id"]) not in ADVANTAGES),
                  key=fmt.record_order)


def exact_records(records: list[dict]) -> list[dict]:
    return sorted((r for r in records if r["tier"] not in fmt.STATISTICAL_TIERS), key=fmt.record_order)


def control_records(records: list[dict]) -> list[dict]:
    return sorted((r for r in records if r["tier"] == "control"), key=fmt.record_order)


def controls_section(records: list[dict], ledger: dict) -> str:
    """Negative controls (two arms that differ only in their seeds): the suite's false positives on real runs."""
    controls = control_records(records)
    if not controls:
        return ""
    return ('<section id="controls"><h2>Negative controls</h2><p class="note">Two arms that differ only in their '
            "seeds: each should end inconclusive, and ends supported or refuted no more often than its level "
            f"by chance.</p>{grouped_table(controls, ledger, css_class='further')}</section>")


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
# HTML pieces


def _e(value) -> str:
    return escape(str(value))


def anchor(check_id: str) -> str:
    return "check-" + check_id


def check_link(check_id: str, text: str | None = None) -> str:
    """A link to the check's section; a long id may wrap after its dot."""
    return f'<a href="#{_e(anchor(check_id))}">{_e(text or check_id).replace(".", ".<wbr>")}</a>'


_TEST_OUTCOME_NOTES = {"xfailed": "declared finding", "failed": "test failed", "xpassed": "xpass"}
_SHORT_NOTES = {"xfailed": "finding", "failed": "test failed", "xpassed": "xpass"}


def outcome_badge(outcome: str) -> str:
    return f'<span class="outcome {_e(outcome.replace(" ", "-"))}">{_e(outcome)}</span>'


def outcome_cell(record: dict) -> str:
    """The outcome, and beneath it how pytest settled it where that is not a pass: a declared finding
    (a strict xfail whose outcome was observed) or a failed test."""
    test_outcome = record.get("test_outcome", "")
    note = _SHORT_NOTES.get(test_outcome)
    title = f' title="{_e(_TEST_OUTCOME_NOTES[test_outcome])}"' if note else ""
    return (f'<td class="outcome-cell">{outcome_badge(record["outcome"])}'
            + (f'<span class="note"{title}>{_e(note)}</span>' if note else "") + "</td>")


def note(text: str) -> str:
    return f'<span class="note">{_e(text)}</span>' if text else ""


def row_attributes(record: dict) -> str:
    return (f'data-check-id="{_e(record["check_id"])}" data-tier="{_e(record["tier"])}" '
            f'data-outcome="{_e(record["outcome"])}"')


def check_cells(record: dict, ledger: dict, *, budget: bool, compact: bool = False) -> str:
    """check, outcome, effect [interval] (with the metric and arms beneath), threshold, n[, budget].
    compact: one line per check (the headline, which must fit above the fold): the metric and arms move
    into the effect's tooltip and a long id is cut, whole in its tooltip."""
    units = f"{record['metric']} ({fmt.arms_text(record)})" if record["kind"] == "paired" else record["metric"]
    effect = _e(fmt.format_effect_interval(record))
    cells = [
        (f'<td class="id clip" title="{_e(record["check_id"])}">{check_link(record["check_id"])}</td>' if compact
         else f'<td class="id">{check_link(record["check_id"])}</td>'),
        outcome_cell(record),
        (f'<td class="number" title="{_e(units)}">{effect}</td>' if compact
         else f'<td class="number">{effect}<span class="note clip" title="{_e(units)}">{_e(units)}</span></td>'),
        f'<td class="number">{_e(fmt.threshold_text(record))}</td>',
        f'<td class="number">{_e(record["n"])}</td>',
    ]
    if budget:
        cells.append(f'<td class="budget">{_e(record_budget(record, ledger) or "—")}</td>')
    return "".join(cells)


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


CHECK_HEAD = "<th>check</th><th>outcome</th><th>effect [interval]</th><th>threshold</th><th>n</th>"
CHECK_COLUMNS = ('<col class="c-check"><col class="c-outcome"><col class="c-effect"><col class="c-threshold">'
                 '<col class="c-n">')


def colgroup(per_row_budget: bool) -> str:
    return f'<colgroup>{CHECK_COLUMNS}{"<col class=c-budget>" if per_row_budget else ""}</colgroup>'


def machine_dependent(own: list[dict]) -> list[str]:
    """The advantage's own checks whose finding is declared near its level: where p sits so close to the
    level that another CPU's rounding can move the check, and with it the advantage, to a neighbouring
    outcome (bnclaims.evidence.settle)."""
    return [r["check_id"] for r in own if (r.get("finding") or {}).get("near_level")]


def group_row(claim_id: str, words: str, outcome: str | None, columns: int, flagged: Sequence[str] = ()) -> str:
    """The row that heads a claim's checks: its id, its statement and (for an advantage) its outcome, with
    the checks it hangs on that are declared machine-dependent."""
    badge = f" {outcome_badge(outcome)}" if outcome else ""
    flag = (f' <span class="machine-dependent">(can differ on another CPU: {_e(", ".join(flagged))} sits near its '
            f"level)</span>" if flagged else "")
    return (f'<tr class="group"><th colspan="{columns}" scope="rowgroup"><a href="#claim-{_e(claim_id)}" '
            f'class="advantage-id">{_e(claim_id)}</a> {_e(words)}{badge}{flag}</th></tr>')


def check_rows(rows: list[dict], ledger: dict, per_row_budget: bool, *, compact: bool = False) -> str:
    return "".join(f"<tr {row_attributes(r)}>{check_cells(r, ledger, budget=per_row_budget, compact=compact)}</tr>"
                   for r in rows)


def headline_html(ledger: dict) -> str:
    """One table body per advantage: a row with its outcome, then one line per own check, so that the
    six advantages fit above the fold; related checks have their table below (related_html)."""
    groups = advantage_groups(ledger["records"])
    caption, per_row_budget = budget_line([r for own, _ in groups.values() for r in own], ledger)
    columns = 5 + per_row_budget
    bodies = []
    for advantage, (own, related) in groups.items():
        outcome = advantage_outcome(own)
        rows = check_rows(own, ledger, per_row_budget, compact=True) or (
            f'<tr><td colspan="{columns}">{note(f"no check of {advantage} ran in this session")}</td></tr>')
        bodies.append(f'<tbody data-advantage="{_e(advantage)}" data-outcome="{_e(outcome)}">'
                      f"{group_row(advantage, ADVANTAGES[advantage], outcome, columns, machine_dependent(own))}"
                      f"{rows}</tbody>")
    head = f"<tr>{CHECK_HEAD}{'<th>budget</th>' if per_row_budget else ''}</tr>"
    return (f'<table class="headline" id="headline-table"><caption>{_e(caption)} An advantage (the talk\'s words) '
            f"is supported when all of its own checks are, refuted when any of them is refuted, inconclusive "
            f"otherwise; its related checks (next table) inform it without deciding it. Hover an effect for its "
            f"metric and arms.</caption>"
            f"{colgroup(per_row_budget)}<thead>{head}</thead>{''.join(bodies)}</table>")


def related_html(ledger: dict) -> str:
    """The checks that inform an advantage without deciding it (A1-talk, A6-loss, ...), by advantage."""
    groups = {advantage: related for advantage, (_, related) in advantage_groups(ledger["records"]).items()
              if related}
    if not groups:
        return '<p class="note">none in this session</p>'
    caption, per_row_budget = budget_line([r for related in groups.values() for r in related], ledger)
    columns = 5 + per_row_budget
    bodies = "".join(f'<tbody data-related-to="{_e(advantage)}">'
                     f"{group_row(advantage, ADVANTAGES[advantage], None, columns)}"
                     f"{check_rows(related, ledger, per_row_budget)}</tbody>" for advantage, related in groups.items())
    head = f"<tr>{CHECK_HEAD}{'<th>budget</th>' if per_row_budget else ''}</tr>"
    return (f'<table class="further" id="related-table"><caption>{_e(caption)}</caption>'
            f"{colgroup(per_row_budget)}<thead>{head}</thead>{bodies}</table>")


def grouped_table(records: list[dict], ledger: dict, *, css_class: str) -> str:
    """One table body per claim id, headed by its statement."""
    if not records:
        return '<p class="note">none in this session</p>'
    caption, per_row_budget = budget_line(records, ledger)
    columns = 5 + per_row_budget
    bodies = []
    for claim_id in dict.fromkeys(r["claim_id"] for r in records):
        rows = [r for r in records if r["claim_id"] == claim_id]
        words = STATEMENTS.get(claim_id) or rows[0]["statement"]
        bodies.append(f'<tbody data-claim="{_e(claim_id)}">{group_row(claim_id, words, None, columns)}'
                      f"{check_rows(rows, ledger, per_row_budget)}</tbody>")
    head = f"<tr>{CHECK_HEAD}{'<th>budget</th>' if per_row_budget else ''}</tr>"
    return (f'<table class="{_e(css_class)}"><caption>{_e(caption)}</caption>{colgroup(per_row_budget)}'
            f"<thead>{head}</thead>{''.join(bodies)}</table>")


def exact_table(records: list[dict]) -> str:
    if not records:
        return '<p class="note">none in this session</p>'
    rows = "".join(
        f"<tr {row_attributes(r)}><td class=\"id\">{check_link(r['check_id'])}</td><td>{_e(r['tier'])}</td>"
        f"{outcome_cell(r)}<td class=\"number\" title=\"{_e(r['metric'])}\">{_e(fmt.format_effect(r))}</td>"
        f"<td class=\"number\">{_e(fmt.threshold_text(r))}</td><td class=\"metric\">{_e(r['metric'])}</td>"
        f"<td class=\"number\">{_e(r['n'])}</td></tr>" for r in records)
    return ('<table class="exact"><thead><tr><th>check</th><th>tier</th><th>outcome</th><th>measured</th>'
            f"<th>threshold</th><th>quantity</th><th>n</th></tr></thead><tbody>{rows}</tbody></table>")


def talk_table(records: list[dict], ledger: dict) -> str:
    chosen = talk_records(records)
    if not chosen:
        return '<p class="note">no check in this session carries the talk\'s numbers</p>'
    budget = _uniform_budget(chosen, ledger)
    here = f"this run: mean over seeds{f' ({budget})' if budget else ''}"
    rows = []
    for r in chosen:
        a, b = r["arm_a"], r["arm_b"]
        talk_a, talk_b = a.get("talk_value"), b.get("talk_value")
        talk_gap = f"{talk_a - talk_b:+.4f}" if talk_a is not None and talk_b is not None else "—"
        number = lambda v: "—" if v is None else f"{v:.4f}"
        title = r["statement"].split(":")[0] if r["claim_id"].startswith("TABLE") else r["statement"]
        rows.append(
            f"<tr {row_attributes(r)}><td class=\"id\">{check_link(r['check_id'])}{note(title)}</td>"
            f"<td>{_e(a['name'])} − {_e(b['name'])}</td>"
            f"<td class=\"number\">{number(talk_a)}</td><td class=\"number\">{number(talk_b)}</td>"
            f"<td class=\"number\">{talk_gap}</td>"
            f"<td class=\"number\">{fmt.arm_mean(a):.4f}</td><td class=\"number\">{fmt.arm_mean(b):.4f}</td>"
            f"<td class=\"number\">{_e(fmt.format_effect_interval(r))}</td>{outcome_cell(r)}"
            f"<td class=\"number\">{_e(r['n'])}</td></tr>")
    return ('<table class="talk"><thead><tr><th rowspan="2">comparison</th><th rowspan="2">arms (A − B)</th>'
            '<th colspan="3">talk (one run, full MNIST)</th>'
            f'<th colspan="3">{_e(here)}</th><th rowspan="2">outcome</th><th rowspan="2">n</th></tr>'
            "<tr><th>A</th><th>B</th><th>gap</th><th>A</th><th>B</th><th>gap [interval]</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table>")


def png_img(png: bytes, alt: str, **attributes) -> str:
    extra = "".join(f' {name}="{_e(value)}"' for name, value in attributes.items())
    return f'<img src="data:image/png;base64,{base64.b64encode(png).decode("ascii")}" alt="{_e(alt)}"{extra}>'


def table_html(payload: dict) -> str:
    """A "table" payload as an HTML table; every cell is escaped."""
    def text(value) -> str:
        if value is None:
            return "—"
        if isinstance(value, float):
            return f"{value:.4g}"
        if isinstance(value, (list, tuple)):
            return ", ".join(text(item) for item in value)
        return str(value)

    head = "".join(f"<th>{_e(text(column))}</th>" for column in payload["columns"])
    body = "".join("<tr>" + "".join(f"<td>{_e(text(cell))}</td>" for cell in row) + "</tr>"
                   for row in payload["rows"])
    return (f'<table class="figure-table"><caption>{_e(payload.get("title", ""))}</caption>'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def figure_html(payload: dict, cache: FigureCache | None = None) -> str:
    title = payload.get("title", "")
    try:
        if payload.get("kind") == plots.TABLE_KIND:
            return table_html(payload)
        return f'<figure>{png_img(_png("plot", payload, lambda: plots.plot_png(payload), cache), title, width=plots.FIGSIZE[0] * plots.DPI)}</figure>'
    except Exception as error:  # a broken figure must not cost the report its other content
        return f'<p class="note">could not draw figure {_e(title)}: {_e(repr(error))}</p>'


def _png(kind: str, data, draw, cache: FigureCache | None) -> bytes:
    return cache.png(kind, data, draw) if cache is not None else draw()


class _Figures:
    """Draws each distinct payload once: a figure several checks share is shown under the first."""

    def __init__(self, cache: FigureCache | None = None) -> None:
        self.first: dict[str, str] = {}
        self.cache = cache

    def html(self, payload: dict, check_id: str) -> str:
        key = json.dumps(payload, sort_keys=True, default=str)
        if key in self.first:
            return (f'<p class="note">{_e(payload.get("title", "figure"))}: shown under '
                    f"{check_link(self.first[key])}</p>")
        self.first[key] = check_id
        return figure_html(payload, self.cache)


def not_observed_link(records: list[dict]) -> str:
    """In the header's counts line (no extra height above the fold): what this machine did not reproduce."""
    lines = fmt.not_observed_lines(records)
    heads = [line.split(" (")[0] for line in lines if not line.startswith("  ")]
    count = sum(line.startswith("  ") for line in lines)
    return f' · <a class="alert" href="#not-observed">{_e("; ".join(heads))}: {count}</a>' if lines else ""


def not_observed_banner(records: list[dict]) -> str:
    """The declared findings this machine did not reproduce, and negative controls that came out positive."""
    lines = fmt.not_observed_lines(records)
    if not lines:
        return ""
    items = "".join(f"<li>{_e(line.strip())}</li>" for line in lines if line.startswith("  "))
    heads = "".join(f"<p>{_e(line)}</p>" for line in lines if not line.startswith("  "))
    return f'<aside class="banner" id="not-observed" role="note">{heads}<ul>{items}</ul></aside>'


def check_section(record: dict, drawn: _Figures) -> str:
    check_id = record["check_id"]
    criteria = [("supported if" if record["tier"] in fmt.STATISTICAL_TIERS else "holds if", record.get("expected", ""))]
    if record["tier"] in fmt.STATISTICAL_TIERS and record.get("refuted_if"):
        criteria.append(("refuted if", record["refuted_if"]))
    criteria.append(("threshold", f"{fmt.threshold_text(record)} ({record['metric']}): {record.get('threshold_reason', '')}"))
    if record.get("finding"):
        criteria.append(("declared finding", record["finding"].get("reason", "")))
        if record["finding"].get("not_observed"):
            criteria.append(("not observed here", record["finding"]["not_observed"]))
    terms = "".join(f"<dt>{_e(term)}</dt><dd>{_e(text)}</dd>" for term, text in criteria)
    figures = "".join(drawn.html(payload, check_id) for payload in plots.figures_for_record(record))
    note_text = _TEST_OUTCOME_NOTES.get(record.get("test_outcome", ""), "")
    return (f'<article class="check" id="{_e(anchor(check_id))}" {row_attributes(record)}>'
            f"<h4>{_e(check_id)} {outcome_badge(record['outcome'])}{note(note_text)}</h4>"
            f'<p class="statement">“{_e(record["statement"])}” <span class="source">— {_e(record.get("source", ""))}'
            f"</span></p><dl>{terms}</dl>"
            f'<pre class="evidence">{_e(fmt.format_message(record))}</pre>{figures}</article>')


def sections_html(ledger: dict, figure_cache: FigureCache | None = None) -> str:
    records = ledger["records"]
    drawn = _Figures(figure_cache)
    parts = []
    for advantage, (own, related) in advantage_groups(records).items():
        if own or related:
            parts.append(f'<h3 id="claim-{_e(advantage)}">{_e(advantage)} — {_e(ADVANTAGES[advantage])} '
                         f"{outcome_badge(advantage_outcome(own))}</h3>")
            parts += [check_section(r, drawn) for r in (*own, *related)]
    rest = [*further_records(records), *exact_records(records)]
    for base in dict.fromkeys(base_claim(r["claim_id"]) for r in rest):
        chosen = [r for r in rest if base_claim(r["claim_id"]) == base]
        parts.append(f'<h3 id="claim-{_e(base)}">{_e(base)} — {_e(STATEMENTS.get(base) or chosen[0]["statement"])}</h3>')
        parts += [check_section(r, drawn) for r in chosen]
    return "".join(parts)


def environment_html(ledger: dict, *, ledger_href: str = "") -> str:
    settings, environment = ledger.get("settings", {}), ledger.get("environment", {})
    runs = ledger.get("runs", {})
    seeds = settings.get("seeds") or []
    rows = [
        ("profile", settings.get("profile")), ("dataset", settings.get("dataset")),
        ("seeds", f"{fmt.seeds_text(seeds)} (n={len(seeds)})" if seeds else None),
        ("budget", fmt.budget_text(settings.get("budget")) or "not stated in this ledger"),
        ("engine", settings.get("engine")), ("Keras backend", environment.get("backend")),
        ("device", environment.get("device")),
        *((name, environment.get(name)) for name in ("keras", "tensorflow", "jax", "jaxlib", "numpy")),
        ("run cache", f"mode {settings.get('cache_mode')}; {fmt.runs_line(runs)}" if runs else None),
        ("session", f"{ledger.get('session', '')}, {ledger.get('created', '')}"),
        ("ledger", f"schema {ledger.get('schema')} version {ledger.get('version')}"),
    ]
    body = "".join(f"<tr><th>{_e(name)}</th><td>{_e(value)}</td></tr>" for name, value in rows if value)
    reproduce = settings.get("reproduce")
    link = f'<p>Every number on this page is in the ledger: <a href="{_e(ledger_href)}">{_e(ledger_href)}</a>.</p>' \
        if ledger_href else ""
    return (f'<table class="environment">{body}</table>'
            + (f'<p>Reproduce with: <code class="reproduce">{_e(reproduce)}</code></p>' if reproduce else "")
            + link + '<p class="note">Rebuild this page from the ledger alone: '
            "<code>python -m bnclaims.report claims.json -o claims.html</code></p>")


def pytest_html_section(href: str) -> str:
    if not href:
        return ""
    return (f'<section id="pytest-results"><details><summary>pytest\'s results table (every test, its '
            f"duration and failure text)</summary><p><a href=\"{_e(href)}\">open it on its own page</a></p>"
            f'<iframe src="{_e(href)}" loading="lazy" title="pytest results"></iframe></details></section>')


def nav_html(links: Sequence[tuple[str, str]]) -> str:
    if not links:
        return ""
    return "<nav>" + " · ".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in links) + "</nav>"


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


FOREST_LEGEND = ('<p class="legend"><span class="supported">● supported</span> <span class="refuted">● refuted</span> '
                 '<span class="inconclusive">● inconclusive</span> <span>○ declared finding</span> '
                 '<span>| threshold or margin</span></p>')

CSS = """
.banner { border: 2px solid #b26b00; background: #fff6e5; padding: 2px 8px; margin: 8px 0; }
a.alert { color: #8a4b00; font-weight: 600; }
body { font: 14px/1.35 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2328; margin: 0 auto;
       padding: 12px 20px 40px; max-width: 1500px; }
h1 { font-size: 22px; margin: 0 0 2px; } h2 { font-size: 18px; margin: 22px 0 6px; border-bottom: 1px solid #d0d7de; }
h3 { font-size: 16px; margin: 22px 0 4px; } h4 { font-size: 14px; margin: 14px 0 4px; }
.lede { color: #57606a; margin: 0 0 4px; font-size: 13px; } nav { margin: 4px 0 6px; }
.top { display: grid; grid-template-columns: minmax(0, 1fr) auto; gap: 16px; align-items: start; }
table.headline, table.further { table-layout: fixed; width: 100%; }
col.c-check { width: 33%; } col.c-outcome { width: 14%; } col.c-effect { width: 35%; }
col.c-threshold { width: 13%; } col.c-n { width: 5%; } col.c-budget { width: 16%; }
tr.group th { background: #eef1f4; font-weight: 400; padding: 3px 6px; }
table.headline td, table.further td { padding: 1px 6px; }
td.id { overflow-wrap: anywhere; }
td.id.clip { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; overflow-wrap: normal; }
.note.clip { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
.top h2 { margin-top: 4px; }
@media (max-width: 1100px) { .top { grid-template-columns: minmax(0, 1fr); } }
table { border-collapse: collapse; margin: 4px 0 10px; font-size: 13px; }
th, td { border: 1px solid #d0d7de; padding: 2px 6px; text-align: left; vertical-align: top; }
th { background: #f6f8fa; font-weight: 600; }
caption { caption-side: bottom; text-align: left; color: #57606a; font-size: 12px; padding-top: 3px; }
td.number { white-space: nowrap; font-variant-numeric: tabular-nums; }
.advantage-id { font-weight: 700; }
.machine-dependent { font-weight: 400; font-size: 0.85em; color: #8a5a00; }
.note { display: block; color: #57606a; font-size: 11px; line-height: 1.2; white-space: normal; }
.outcome { font-weight: 700; }
.supported, .holds { color: #1a7f37; } .refuted, .fails { color: #cf222e; } .inconclusive { color: #9a6700; }
.not-run { color: #57606a; }
#forest img { display: block; max-width: 100%; }
.legend { margin: 0 0 2px; font-size: 12px; } .legend span { margin-right: 8px; }
#forest .note { max-width: 480px; }
article.check { border-top: 1px solid #eaeef2; padding-top: 2px; }
.statement { margin: 2px 0; } .source { color: #57606a; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 1px 10px; margin: 4px 0; font-size: 13px; }
dt { font-weight: 600; color: #57606a; } dd { margin: 0; }
pre.evidence { background: #f6f8fa; padding: 6px 8px; white-space: pre-wrap; font-size: 12px; margin: 6px 0; }
figure { margin: 6px 0 10px; } figure img { display: block; max-width: 100%; height: auto; }
iframe { width: 100%; height: 80vh; border: 1px solid #d0d7de; }
code.reproduce { background: #f6f8fa; padding: 2px 4px; }
"""


def render(ledger: dict, *, title: str = REPORT_TITLE, links: Sequence[tuple[str, str]] = (),
           ledger_href: str = "", pytest_html_href: str = "", figure_cache: FigureCache | None = None) -> str:
    """The whole page for one ledger (a dict as bnclaims.ledger writes it). figure_cache: where drawn
    figures are kept between renderings (bnclaims.report.figure_cache); None draws every one."""
    records = ledger["records"]
    empirical = forest_records(records)
    forest_png = _png("forest", [plots.forest_row(r) for r in empirical], lambda: plots.forest_png(empirical),
                      figure_cache)
    forest = (png_img(forest_png, "forest plot of every empirical check", id="forest-plot")
              if empirical else '<p class="note">no empirical check in this session</p>')
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{CSS}</style></head>
<body>
<header><h1>{_e(title)}</h1><p class="lede">{_e(lede(ledger))}<br>{_e(counts(records))}{not_observed_link(records)}</p>{nav_html(links)}</header>
<div class="top">
<section id="advantages"><h2>The talk's six advantages</h2>{headline_html(ledger)}</section>
<section id="forest"><h2>Every empirical check</h2>{FOREST_LEGEND}{forest}
<p class="note">Effect and interval (at the level its test used) of each check divided by its threshold (or margin), so that all share
one axis: a superiority check's threshold is at +1, a non-inferiority margin at −1, equivalence margins at ±1
(black ticks), no difference at 0. Linear within ±1, logarithmic beyond; an arrow is an unbounded side. A check
whose threshold is 0 is divided by its largest bound instead.</p></section>
</div>
{not_observed_banner(records)}
<section id="related"><h2>Related checks of the six advantages</h2>{related_html(ledger)}</section>
<section id="further"><h2>Further statements</h2>{grouped_table(further_records(records), ledger, css_class="further")}</section>
{controls_section(records, ledger)}
<section id="exact"><h2>Identities and implementation checks</h2>{exact_table(exact_records(records))}</section>
<section id="talk-table"><h2>The talk's table beside this run</h2>{talk_table(records, ledger)}</section>
<section id="checks"><h2>Each check: criteria, evidence and figures</h2>{sections_html(ledger, figure_cache)}</section>
{pytest_html_section(pytest_html_href)}
<footer id="environment"><h2>Environment</h2>{environment_html(ledger, ledger_href=ledger_href)}</footer>
</body></html>
"""
