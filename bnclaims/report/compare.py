"""Two ledgers side by side: each check's outcome and effect in both, changed outcomes flagged.

This is how two regimes are compared (the talk's budget against a short one), and how a reader sees
what changed after upgrading a library or moving to another device: the settings and environment
that differ are listed first, then the six advantages, then every check, then the talk's table.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from .. import formatting as fmt
from . import page


def label(ledger: dict, fallback: str = "") -> str:
    """'default · mnist5k · 480,000 examples seen': what distinguishes a ledger at a glance."""
    settings = ledger.get("settings", {})
    parts = [settings.get("profile") or fallback, settings.get("dataset")]
    parts.append(fmt.budget_text(settings.get("budget")))
    return " · ".join(str(part) for part in parts if part)


def labels_for(ledgers: Sequence[dict], names: Sequence[str]) -> list[str]:
    """Each ledger's label, or its file name where two labels would read the same."""
    labels = [label(ledger, name) for ledger, name in zip(ledgers, names)]
    return labels if len(set(labels)) == len(labels) else [f"{lab} ({name})" for lab, name in zip(labels, names)]


def compare_rows(a: dict, b: dict) -> list[dict]:
    """One row per check id in either ledger, in the ledgers' order: {"check_id", "a", "b", "changed"};
    "a" or "b" is None for a check that only one side ran."""
    by_id_a = {r["check_id"]: r for r in a["records"]}
    by_id_b = {r["check_id"]: r for r in b["records"]}
    ordered = sorted({**by_id_b, **by_id_a}.values(), key=fmt.record_order)
    rows = []
    for record in ordered:
        check_id = record["check_id"]
        ra, rb = by_id_a.get(check_id), by_id_b.get(check_id)
        rows.append({"check_id": check_id, "a": ra, "b": rb,
                     "changed": bool(ra and rb and ra["outcome"] != rb["outcome"])})
    return rows


SETTING_ROWS = (("profile", "settings", "profile"), ("dataset", "settings", "dataset"),
                ("seeds", "settings", "seeds"), ("budget", "settings", "budget"), ("engine", "settings", "engine"),
                ("device", "environment", "device"), ("Keras backend", "environment", "backend"),
                ("keras", "environment", "keras"), ("tensorflow", "environment", "tensorflow"),
                ("jax", "environment", "jax"), ("numpy", "environment", "numpy"))


def _setting(ledger: dict, section: str, key: str) -> str:
    value = ledger.get(section, {}).get(key)
    if key == "budget":
        return fmt.budget_text(value) or "not stated"
    if key == "seeds" and value:
        return f"{fmt.seeds_text(value)} (n={len(value)})"
    return "—" if value in (None, "") else str(value)


def setting_rows(a: dict, b: dict) -> list[tuple[str, str, str, bool]]:
    """(name, in A, in B, differs) for the settings and environment both ledgers state."""
    return [(name, _setting(a, section, key), _setting(b, section, key),
             _setting(a, section, key) != _setting(b, section, key)) for name, section, key in SETTING_ROWS]


def advantage_rows(a: dict, b: dict) -> list[tuple[str, str, str]]:
    groups_a, groups_b = page.advantage_groups(a["records"]), page.advantage_groups(b["records"])
    return [(advantage, page.advantage_outcome(groups_a[advantage][0]), page.advantage_outcome(groups_b[advantage][0]))
            for advantage in page.ADVANTAGES]


def _effect(record: dict | None) -> str:
    return fmt.format_effect_interval(record) if record else "—"


# ----------------------------------------------------------------------------------------------------
# Terminal


def comparison_text(a: dict, b: dict, labels: Sequence[str]) -> str:
    lines = [f"A: {labels[0]}", f"B: {labels[1]}"]
    differing = [(name, in_a, in_b) for name, in_a, in_b, differs in setting_rows(a, b) if differs]
    lines += [f"  differs: {name}: {in_a} | {in_b}" for name, in_a, in_b in differing]
    lines.append("")
    lines.append(f"{'advantage':<10} {'A':<13} {'B':<13}")
    for advantage, in_a, in_b in advantage_rows(a, b):
        lines.append(f"{advantage:<10} {in_a:<13} {in_b:<13}".rstrip() + ("  <- changed" if in_a != in_b else ""))
    lines.append("")
    rows = compare_rows(a, b)
    width = max([len("check"), *(len(row["check_id"]) for row in rows)])
    effect = max([len("A effect [interval]"), *(len(_effect(row[side])) for row in rows for side in "ab")])
    lines.append(f"{'check':<{width}}  {'A outcome':<13} {'A effect [interval]':<{effect}}  {'B outcome':<13} "
                 f"B effect [interval]")
    for row in rows:
        ra, rb = row["a"], row["b"]
        line = (f"{row['check_id']:<{width}}  {ra['outcome'] if ra else '—':<13} {_effect(ra):<{effect}}  "
                f"{rb['outcome'] if rb else '—':<13} {_effect(rb)}")
        lines.append(line.rstrip() + ("  <- changed" if row["changed"] else ""))
    both = [row for row in rows if row["a"] and row["b"]]
    changed = [row["check_id"] for row in both if row["changed"]]
    only_a = [row["check_id"] for row in rows if not row["b"]]
    only_b = [row["check_id"] for row in rows if not row["a"]]
    lines.append("")
    lines.append(f"{len(changed)} of {len(both)} checks in both changed outcome" + (f": {', '.join(changed)}"
                                                                                    if changed else ""))
    if only_a:
        lines.append(f"only in A ({len(only_a)}): {', '.join(only_a)}")
    if only_b:
        lines.append(f"only in B ({len(only_b)}): {', '.join(only_b)}")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------------
# HTML


def _e(value) -> str:
    return escape(str(value))


def _outcome(record: dict | None) -> str:
    return page.outcome_badge(record["outcome"]) if record else '<span class="note">not run</span>'


def checks_table(a: dict, b: dict) -> str:
    body = []
    for row in compare_rows(a, b):
        ra, rb = row["a"], row["b"]
        css = "changed" if row["changed"] else ("one-side" if not (ra and rb) else "")
        flag = "changed" if row["changed"] else ("only in A" if not rb else "only in B" if not ra else "")
        either = ra or rb
        body.append(
            f'<tr class="{css}" data-check-id="{_e(row["check_id"])}" data-a="{_e(ra["outcome"] if ra else "")}" '
            f'data-b="{_e(rb["outcome"] if rb else "")}"><td class="id">{_e(row["check_id"])}</td>'
            f"<td class=\"number\">{_e(fmt.threshold_text(either))}{page.note(either['metric'])}</td>"
            f"<td>{_outcome(ra)}</td><td class=\"number\">{_e(_effect(ra))}</td><td class=\"number\">"
            f"{_e(ra['n']) if ra else '—'}</td>"
            f"<td>{_outcome(rb)}</td><td class=\"number\">{_e(_effect(rb))}</td><td class=\"number\">"
            f"{_e(rb['n']) if rb else '—'}</td><td class=\"flag\">{_e(flag)}</td></tr>")
    return ('<table class="compare" id="compare-table"><thead><tr><th rowspan="2">check</th><th rowspan="2">'
            'threshold</th><th colspan="3">A</th><th colspan="3">B</th><th rowspan="2"></th></tr><tr>'
            "<th>outcome</th><th>effect [interval]</th><th>n</th><th>outcome</th><th>effect [interval]</th>"
            f"<th>n</th></tr></thead><tbody>{''.join(body)}</tbody></table>")


def talk_comparison(a: dict, b: dict) -> str:
    rows = [row for row in compare_rows(a, b) if any(r and fmt.talk_pairs(r) for r in (row["a"], row["b"]))]
    if not rows:
        return '<p class="note">neither ledger has checks with the talk\'s numbers</p>'
    body = []
    for row in rows:
        either = row["a"] or row["b"]
        arms = (either["arm_a"], either["arm_b"])
        talk = [arm.get("talk_value") for arm in arms]
        talk_gap = f"{talk[0] - talk[1]:+.4f}" if None not in talk else "—"

        def means(record):
            if not record:
                return '<td colspan="3"><span class="note">not run</span></td>'
            return (f'<td class="number">{fmt.arm_mean(record["arm_a"]):.4f}</td>'
                    f'<td class="number">{fmt.arm_mean(record["arm_b"]):.4f}</td>'
                    f'<td class="number">{_e(_effect(record))}<br>{_outcome(record)}</td>')

        body.append(f'<tr><td class="id">{_e(row["check_id"])}{page.note(" − ".join(arm["name"] for arm in arms))}</td>'
                    + "".join(f'<td class="number">{"—" if v is None else f"{v:.4f}"}</td>' for v in talk)
                    + f'<td class="number">{talk_gap}</td>{means(row["a"])}{means(row["b"])}</tr>')
    head = "<th>A arm</th><th>B arm</th><th>gap [interval]</th>"
    return ('<table class="talk"><thead><tr><th rowspan="2">comparison (A − B arms)</th><th colspan="3">talk (one run)'
            f'</th><th colspan="3">A</th><th colspan="3">B</th></tr><tr><th>A arm</th><th>B arm</th><th>gap</th>{head}'
            f"{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


COMPARE_CSS = page.CSS + """
tr.changed td { background: #fff8c5; } tr.one-side td { color: #57606a; } td.flag { font-weight: 600; }
tr.differs td { background: #fff8c5; }
table.compare td.id, table.talk td.id { white-space: nowrap; overflow-wrap: normal; }
"""


def render_comparison(a: dict, b: dict, labels: Sequence[str], *, title: str = "", links=()) -> str:
    title = title or f"{page.REPORT_TITLE}: {labels[0]} against {labels[1]}"
    settings = "".join(f'<tr class="{"differs" if differs else ""}"><th>{_e(name)}</th><td>{_e(in_a)}</td>'
                       f"<td>{_e(in_b)}</td></tr>" for name, in_a, in_b, differs in setting_rows(a, b))
    advantages = "".join(
        f'<tr class="{"changed" if in_a != in_b else ""}" data-advantage="{_e(adv)}"><td><b>{_e(adv)}</b> '
        f"{_e(page.ADVANTAGES[adv])}</td><td>{page.outcome_badge(in_a)}</td><td>{page.outcome_badge(in_b)}</td></tr>"
        for adv, in_a, in_b in advantage_rows(a, b))
    rows = compare_rows(a, b)
    both = [row for row in rows if row["a"] and row["b"]]
    changed = sum(row["changed"] for row in both)
    only = [(side, [row["check_id"] for row in rows if not row[other]]) for side, other in (("A", "b"), ("B", "a"))]
    only_html = "".join(f"<p>Only in {side} ({len(ids)}): {_e(', '.join(ids))}</p>" for side, ids in only if ids)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1"><style>{COMPARE_CSS}</style></head>
<body>
<header><h1>{_e(title)}</h1><p class="lede">A: {_e(labels[0])}<br>B: {_e(labels[1])}<br>
{changed} of {len(both)} checks run in both changed outcome (highlighted).</p>{page.nav_html(links)}</header>
<section id="settings"><h2>Settings and environment</h2><table class="settings"><thead><tr><th></th><th>A</th>
<th>B</th></tr></thead><tbody>{settings}</tbody></table></section>
<section id="advantages"><h2>The talk's six advantages</h2><table class="advantages"><thead><tr><th>advantage</th>
<th>A</th><th>B</th></tr></thead><tbody>{advantages}</tbody></table></section>
<section id="checks"><h2>Every check</h2>{checks_table(a, b)}{only_html}</section>
<section id="talk-table"><h2>The talk's table in both</h2>{talk_comparison(a, b)}</section>
</body></html>
"""
