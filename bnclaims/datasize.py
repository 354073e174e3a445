"""The talk's table against training-set size: TABLE-1..4 at several training-set sizes, one budget.

    python -m bnclaims.datasize --dataset idx:/usr/share/datasets/fashion-mnist \\
        [--sizes 3200 12000 48000] [--out reports/datasize] [-n auto] [--profile default] [--seeds 0-6] \\
        [-- more pytest options]

For each size the sweep runs one pytest session of claims/test_talk_table.py on ``<dataset>@<size>``
(bnclaims.data: the training split cut to a class-stratified draw of that many images, the same for every
seed and arm; validation and test unchanged) at the profile's budget in examples seen, so a smaller
training set makes more passes. The full training split is the dataset itself: that size runs under the
plain name, and shares its runs with every other session on the dataset. Each session writes its own
ledger and report under ``<out>/size-<N>/`` and its output to ``session.log`` there; the run cache is the
user's, so a second sweep is served from it. From the ledgers it then writes

    <out>/datasize.md     per TABLE check and size: outcome, effect, interval (and its method), n, the p
                          that decided the outcome and its level (also printed)
    <out>/datasize.json   the same rows as numbers, with each session's ledger, exit status and time
    <out>/datasize.png    effect against training-set size (log axis), one panel per check, with the
    <out>/datasize.svg    interval, the threshold and zero

Exit status: 0 when every session wrote its ledger, whatever the checks' outcomes (a check whose outcome
is not the catalogue's expectation fails its pytest test, and pytest exits 1: that is a result of the
sweep, not a failure of it); 1, with one line, when a session wrote no ledger (the sweep stops there);
2, with one line, for a bad option, before anything is written or trained.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from .data import DATASETS, IDX_PREFIX, DatasetError, load_dataset, split_training_size
from .formatting import deciding_test, expected_outcome, format_interval, format_p, number_text
from .ledger import LedgerError, read_ledger
from .progress import duration_text
from .settings import PROFILES, TALK_BATCH, SettingsError, Settings, format_seeds, writable_folder

DEFAULT_SIZES = (3_200, 12_000, 48_000)
DEFAULT_OUT = "reports/datasize"
TALK_TABLE = "claims/test_talk_table.py"
CHECK_PREFIX = "TABLE-"
LEDGER_FILE = "claims.json"
LOG_FILE = "session.log"
PROGRESS_PREFIX = "claims progress:"
SCHEMA = "bnclaims-datasize"
OUTCOME_MARKERS = {"supported": "o", "refuted": "s", "inconclusive": "D"}


class OptionError(ValueError):
    """A bad option: one line, exit 2, nothing written."""


class SessionError(RuntimeError):
    """A session that wrote no ledger: one line, exit 1."""


# ----------------------------------------------------------------------------------------------------
# Sessions


def session_dataset(dataset: str, size: int, train_size: int) -> str:
    """The --claims-dataset of one size: the dataset's own name where the size is its whole training split
    (the same data, and the same run keys as any other session on it), else name@size."""
    return dataset if size == train_size else f"{dataset}@{size}"


def session_folder(out: Path, size: int) -> Path:
    return out / f"size-{size}"


def session_command(dataset_name: str, report_dir: Path, *, profile: str, seeds: str | None,
                    workers: str | None, extra: list[str], python: str = sys.executable) -> list[str]:
    """The pytest command of one size's session."""
    return [python, "-m", "pytest", TALK_TABLE, "--claims-profile", profile, "--claims-dataset", dataset_name,
            "--claims-report-dir", str(report_dir), *(["--claims-seeds", seeds] if seeds else []),
            *(["-n", workers] if workers is not None else []), *extra]


def ledger_session(path: Path) -> str | None:
    """The session id of the ledger at path, None where there is none: a session that leaves the ledger
    of an earlier sweep in place (it stopped before writing) is told apart from one that wrote its own."""
    try:
        return json.loads(path.read_text(encoding="utf-8")).get("session")
    except (OSError, ValueError, AttributeError):
        return None


def run_session(command: list[str], folder: Path, *, cwd: Path, echo=print) -> int:
    """Run one session, its output into folder/session.log; its progress lines are echoed as they come.
    Returns pytest's exit status."""
    folder.mkdir(parents=True, exist_ok=True)
    # Unbuffered: the session's progress lines are to arrive while it runs, not when it ends.
    environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with (folder / LOG_FILE).open("w", encoding="utf-8") as log, subprocess.Popen(
            command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=environment,
            errors="replace") as process:
        for line in process.stdout:
            log.write(line)
            if line.startswith(PROGRESS_PREFIX):
                echo(f"  {line.rstrip()}")
    return process.returncode


def last_line(path: Path) -> str:
    """The last line of a session's log that says something (pytest's reason for stopping, usually)."""
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8", errors="replace").splitlines()]
    except OSError:
        return ""
    text = next((line for line in reversed(lines) if line.strip("=- ")), "")
    return text if len(text) <= 200 else text[:197] + "..."


def session_ledger(folder: Path, size: int, status: int, before: str | None) -> dict:
    """The ledger a session wrote, or SessionError (one line) where it wrote none: none there, one left
    from an earlier session, or one that cannot be read."""
    path = folder / LEDGER_FILE
    log = folder / LOG_FILE
    reason = f"pytest exit status {status}; {log}" + (f": {last_line(log)}" if last_line(log) else "")
    if not path.is_file():
        raise SessionError(f"the session for {size:,} training images wrote no ledger ({reason})")
    try:
        document = read_ledger(path, record_check=table_record_problem)
    except LedgerError as error:
        raise SessionError(f"the session for {size:,} training images left a ledger the sweep cannot read: "
                           f"{error}") from None
    if before is not None and document.get("session") == before:
        raise SessionError(f"the session for {size:,} training images wrote no ledger of its own ({path} is an "
                           f"earlier session's; {reason})")
    return document


# ----------------------------------------------------------------------------------------------------
# Ledgers -> rows (pure)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# What the table reads from a TABLE record, and what each must be; other records are not read.
_TABLE_FIELDS = {
    "check_id": lambda v: isinstance(v, str), "outcome": lambda v: isinstance(v, str),
    "metric": lambda v: isinstance(v, str), "effect_ci_method": lambda v: isinstance(v, str),
    "effect": lambda v: v is None or _is_number(v),
    "effect_ci": lambda v: isinstance(v, list) and len(v) == 2 and all(x is None or _is_number(x) for x in v),
    "n": lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
    "p_value": lambda v: v is None or _is_number(v), "mirror_p_value": lambda v: v is None or _is_number(v),
    "corrected_alpha": _is_number, "threshold": _is_number, "tier": lambda v: isinstance(v, str),
}


def table_record_problem(record) -> str | None:
    """What is wrong with a record for the sweep's table, or None (records of other checks pass)."""
    if not isinstance(record, dict) or not str(record.get("check_id", "")).startswith(CHECK_PREFIX):
        return None
    for name, fits in _TABLE_FIELDS.items():
        if name not in record:
            return f"{name} is missing"
        if not fits(record[name]):
            return f"{name} is {json.dumps(record[name])[:60]}, not what the table reads"
    return None


def ledger_passes(ledger: dict) -> int | None:
    """Passes over the training split each run made, as the ledger's settings state the budget."""
    budget = (ledger.get("settings") or {}).get("budget") or {}
    return budget.get("passes")


def record_row(record: dict, size: int, passes: int | None) -> dict:
    """One TABLE check at one size, as the ledger recorded it: the p is the one that decided the outcome
    (the mirror test's for a refuted check, Holm's where the family's step-down decided)."""
    which, p, level = deciding_test(record)
    arms = [record.get(side, {}).get("name") for side in ("arm_a", "arm_b") if isinstance(record.get(side), dict)]
    return {"check_id": record["check_id"], "size": size, "passes": passes, "outcome": record["outcome"],
            "expected": expected_outcome(record), "effect": record["effect"], "effect_ci": list(record["effect_ci"]),
            "effect_ci_method": record["effect_ci_method"], "n": record["n"], "p": p, "p_test": which,
            "level": level, "metric": record["metric"], "arms": arms, "threshold": record["threshold"],
            "test": record.get("test")}


def missing_row(check_id: str, size: int, passes: int | None) -> dict:
    """A check the ledger of this size does not hold (its test errored before a verdict, or was
    deselected)."""
    return {"check_id": check_id, "size": size, "passes": passes, "outcome": None, "expected": None,
            "effect": None, "effect_ci": None, "effect_ci_method": None, "n": None, "p": None, "p_test": None,
            "level": None, "metric": None, "arms": [], "threshold": None, "test": None}


def table_rows(ledgers: dict[int, dict]) -> list[dict]:
    """Every TABLE check found in any ledger, at every size ({size: ledger}), by check then size."""
    found = {size: {record["check_id"]: record for record in ledger.get("records", [])
                    if str(record.get("check_id", "")).startswith(CHECK_PREFIX)}
             for size, ledger in ledgers.items()}
    checks = sorted({check for records in found.values() for check in records}, key=_check_order)
    rows = []
    for check in checks:
        for size in sorted(ledgers):
            passes = ledger_passes(ledgers[size])
            record = found[size].get(check)
            rows.append(record_row(record, size, passes) if record else missing_row(check, size, passes))
    return rows


def _check_order(check_id: str) -> tuple:
    """By comparison (TABLE-2 before TABLE-10), BN's check before its normalizer controls (TABLE-1-LN)."""
    claim = check_id.split(".")[0]
    number = re.match(r"TABLE-(\d+)", claim)
    return (int(number.group(1)) if number else math.inf, claim != f"TABLE-{number.group(1) if number else ''}",
            check_id)


# ----------------------------------------------------------------------------------------------------
# Rows -> the table (pure)


def effect_label(row: dict) -> str:
    """'test accuracy, BN − plain': what an effect measures; the failure checks' metric names its own
    difference."""
    metric = row["metric"] or ""
    if " - " in metric or len(row["arms"]) != 2:
        return metric
    return f"{metric}, {row['arms'][0]} − {row['arms'][1]}"


def p_cell(row: dict) -> str:
    if row["p"] is None:
        return "—"
    return f"{format_p(row['p'])}" + ("" if row["p_test"] == "claim test" else f" ({row['p_test']})")


def markdown_table(rows: list[dict], title: str = "") -> str:
    """The sweep's table in Markdown: a row per check and size; each interval's method as a numbered
    note below (the methods are long, and the same for many rows)."""
    methods = list(dict.fromkeys(row["effect_ci_method"] for row in rows if row["effect_ci_method"]))
    lines = [*([title, ""] if title else []),
             "| check | training images | passes | outcome | effect | interval | n | p | level |",
             "|---|---:|---:|---|---:|---|---:|---|---:|"]
    for row in rows:
        passes = "—" if row["passes"] is None else f"{row['passes']:,}"
        if row["outcome"] is None:
            lines.append(f"| {row['check_id']} | {row['size']:,} | {passes} | not in the ledger | | | | | |")
            continue
        outcome = row["outcome"] + ("" if row["outcome"] == row["expected"] else f" (expected {row['expected']})")
        note = methods.index(row["effect_ci_method"]) + 1
        lines.append(f"| {row['check_id']} | {row['size']:,} | {passes} | {outcome} | "
                     f"{number_text(row['effect'], '+.4f')} | {format_interval(row['effect_ci'])} [{note}] | "
                     f"{row['n']} | {p_cell(row)} | {row['level']:.4g} |")
    lines.append("")
    effects = dict.fromkeys(f"{row['check_id']}: {effect_label(row)}" for row in rows if row["metric"])
    lines += ["Effects:", ""] + [f"- {effect}" for effect in effects]
    lines += ["", "Intervals:", ""] + [f"- [{index}] {method}" for index, method in enumerate(methods, 1)]
    return "\n".join(lines)


def sweep_title(dataset: str, ledgers: dict[int, dict]) -> str:
    """One line: the dataset, profile, budget and seeds, as the ledgers state them."""
    settings = [ledger.get("settings") or {} for _, ledger in sorted(ledgers.items())]
    first = settings[0] if settings else {}
    # Passes are whole, so the examples seen differ a little between sizes that do not divide the budget.
    seen = sorted({(entry.get("budget") or {}).get("examples_seen") for entry in settings} - {None})
    budget = (f", {seen[0]:,} examples seen per run" if len(seen) == 1
              else f", {seen[0]:,} to {seen[-1]:,} examples seen per run" if seen else "")
    seeds, looks = first.get("seeds") or [], first.get("looks") or 1
    seeds_text = (f", seeds {format_seeds(tuple(seeds))} (up to {len(seeds) * looks} where undecided)"
                  if seeds else "")
    return (f"The talk's table against training-set size: {dataset}, profile {first.get('profile', '?')}"
            + budget + seeds_text)


def sweep_document(dataset: str, rows: list[dict], sessions: list[dict], title: str) -> dict:
    return {"schema": SCHEMA, "version": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "title": title,
            "dataset": dataset, "sizes": sorted({row["size"] for row in rows} | {s["size"] for s in sessions}),
            "sessions": sessions, "rows": rows}


# ----------------------------------------------------------------------------------------------------
# Rows -> the plot (pure: a matplotlib Figure, no pyplot)


def draw_sweep(rows: list[dict], title: str = ""):
    """Effect against training-set size, one panel per check: each size's effect coloured by outcome,
    its interval as a bar (an open side runs to the panel's edge with an arrow), the threshold dashed where
    it is not 0, and the zero line."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FixedLocator, NullLocator

    from .report.plots import DPI, FONT_SIZE, OUTCOME_COLORS

    checks = list(dict.fromkeys(row["check_id"] for row in rows))
    # Two columns for the talk's four comparisons; four (a comparison each) where normalizer controls join.
    columns = min(2, max(1, len(checks))) if len(checks) <= 4 else 4
    lines = -(-max(1, len(checks)) // columns)
    figure = Figure(figsize=(5.0 * columns, 3.4 * lines + 0.6), dpi=DPI, layout="constrained")
    axes = figure.subplots(lines, columns, squeeze=False).ravel()
    sizes = sorted({row["size"] for row in rows})
    for ax, check in zip(axes, checks):
        _draw_panel(ax, [row for row in rows if row["check_id"] == check], sizes, OUTCOME_COLORS, FONT_SIZE)
        ax.xaxis.set_major_locator(FixedLocator(sizes))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticklabels([f"{size:,}" for size in sizes], fontsize=FONT_SIZE - 1)
    for ax in axes[len(checks):]:
        ax.set_visible(False)
    outcomes = [o for o in OUTCOME_MARKERS if any(row["outcome"] == o for row in rows)]
    handles = [Line2D([], [], color=OUTCOME_COLORS[o], marker=OUTCOME_MARKERS[o], linestyle="none", label=o)
               for o in outcomes]
    if handles:
        figure.legend(handles=handles, loc="outside lower center", ncols=len(handles), fontsize=FONT_SIZE,
                      frameon=False)
    figure.suptitle("\n".join(textwrap.wrap(title, 110)), fontsize=FONT_SIZE + 1)
    return figure


def _finite(value) -> bool:
    return value is not None and math.isfinite(value)


def _draw_panel(ax, rows: list[dict], sizes: list[int], colors: dict, font_size: int) -> None:
    shown = [row for row in rows if row["outcome"] is not None]
    values = [0.0] + [v for row in shown for v in (row["effect"], *row["effect_ci"], row["threshold"]) if _finite(v)]
    low, high = min(values), max(values)
    pad = 0.08 * (high - low or 1.0)
    bottom, top = low - pad, high + pad
    for row in shown:
        color = colors.get(row["outcome"], "0.4")
        ci_low, ci_high = row["effect_ci"]
        ax.plot([row["size"]] * 2, [ci_low if _finite(ci_low) else bottom, ci_high if _finite(ci_high) else top],
                color=color, linewidth=2, solid_capstyle="butt")
        for bound, edge, arrow in ((ci_low, bottom, "v"), (ci_high, top, "^")):
            if not _finite(bound):
                ax.plot([row["size"]], [edge], marker=arrow, color=color, markersize=6, clip_on=False)
        if _finite(row["effect"]):
            ax.plot([row["size"]], [row["effect"]], marker=OUTCOME_MARKERS.get(row["outcome"], "o"), color=color,
                    markersize=7, markeredgecolor="black", markeredgewidth=0.6, zorder=3)
    ax.axhline(0, color="0.5", linewidth=0.8)
    threshold = next((row["threshold"] for row in shown if _finite(row["threshold"])), 0.0)
    if threshold:
        ax.axhline(threshold, color="0.3", linewidth=0.8, linestyle="--")
        ax.annotate(f"threshold {threshold:+g}", (1.0, threshold), xycoords=("axes fraction", "data"),
                    ha="right", va="bottom", fontsize=font_size - 2, color="0.3")
    for row in rows:
        if row["outcome"] is None:
            ax.annotate("not in\nthe ledger", (row["size"], 0.0), ha="center", va="bottom", fontsize=font_size - 2,
                        color="0.4")
    ax.set_xscale("log")
    ax.set_xlim(sizes[0] / 1.6, sizes[-1] * 1.6)
    ax.set_ylim(bottom, top)
    ax.set_title(rows[0]["check_id"], fontsize=font_size + 1)
    label = next((effect_label(row) for row in shown), "")
    ax.set_ylabel("\n".join(textwrap.wrap(f"effect: {label}", 40)), fontsize=font_size - 1)
    ax.set_xlabel("training images (log scale)", fontsize=font_size - 1)
    ax.tick_params(labelsize=font_size - 1)
    ax.grid(alpha=0.25)


# ----------------------------------------------------------------------------------------------------
# The command line


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        # One line, not argparse's usage block: the message is the whole story.
        raise OptionError(" ".join(message.split()))


def _size(text: str) -> int:
    if not re.fullmatch(r"[0-9]+", text) or not int(text):
        raise argparse.ArgumentTypeError(f"size {text!r} is not a positive whole number of training images")
    return int(text)


def _workers(text: str) -> str:
    if text != "auto" and not text.isdigit():
        raise argparse.ArgumentTypeError(f"-n {text!r} is not a number of workers or 'auto'")
    return text


def parse_options(argv: list[str]) -> argparse.Namespace:
    extra = []
    if "--" in argv:
        argv, extra = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    parser = _Parser(prog="python -m bnclaims.datasize", description=__doc__.split("\n\n")[0],
                     epilog="Anything after -- goes to every session's pytest (--claims-looks 1, --claims-cache DIR). "
                            "docs/datasize.md says what the sweep answers and how to read its plot.")
    fixed = ", ".join(name for name, kind in DATASETS.items() if not kind.per_seed_split)
    parser.add_argument("--dataset", required=True,
                        help=f"a dataset with a fixed split ({fixed} or {IDX_PREFIX}<folder>) and at least as many "
                             f"training images as the largest size; no @ suffix: --sizes sets it")
    parser.add_argument("--sizes", nargs="+", type=_size, default=list(DEFAULT_SIZES), metavar="N",
                        help="training-set sizes (default: 3200 12000 48000)")
    parser.add_argument("--out", default=DEFAULT_OUT, help=f"where the ledgers, table and plot go (default: "
                                                           f"{DEFAULT_OUT})")
    parser.add_argument("-n", dest="workers", type=_workers, default="auto",
                        help="pytest-xdist workers of each session (default: auto; 0: none)")
    parser.add_argument("--profile", default="default", choices=sorted(PROFILES),
                        help="the budget, seeds and looks (default: default; its dataset is replaced)")
    parser.add_argument("--seeds", default=None, help="override the profile's seeds (as --claims-seeds)")
    options = parser.parse_args(argv)
    options.extra = extra
    options.sizes = sorted(set(options.sizes))
    return options


def check_options(options: argparse.Namespace, root: Path) -> dict[int, str]:
    """Every option checked before anything is written: OptionError (one line) otherwise. Returns each
    size's --claims-dataset."""
    try:
        base, suffix = split_training_size(options.dataset)
    except DatasetError as error:
        raise OptionError(f"--dataset: {error}") from None
    if suffix is not None:
        raise OptionError(f"--dataset {options.dataset!r} has a training-size suffix: give the dataset "
                          f"({base}) and the sizes with --sizes")
    try:
        Settings.resolve(profile=options.profile, dataset=options.dataset, seeds=options.seeds, root=root,
                         check_folders=False)
    except SettingsError as error:
        raise OptionError(str(error)) from None
    if options.sizes[0] < TALK_BATCH:
        # Every BN run's trained-model probes fill batches of up to the talk's 128 from the training split.
        raise OptionError(f"--sizes: {options.sizes[0]} is fewer than one batch of the talk's {TALK_BATCH} "
                          f"(the runs' probes draw such batches from the training images); use {TALK_BATCH} or more")
    if not (root / TALK_TABLE).is_file():
        raise OptionError(f"{root / TALK_TABLE} not found: run the sweep from the repository's root folder")
    try:
        dataset = load_dataset(options.dataset)
        train_size = len(dataset.y_train)
        if options.sizes[-1] > train_size:
            raise OptionError(f"--sizes: {options.dataset} has {train_size:,} training images, fewer than the "
                              f"largest size {options.sizes[-1]:,}; use sizes up to {train_size}")
        names = {size: session_dataset(options.dataset, size, train_size) for size in options.sizes}
        for name in names.values():
            load_dataset(name)
    except DatasetError as error:
        raise OptionError(f"--dataset: {error}") from None
    try:
        writable_folder(root / options.out, "--out")
    except SettingsError as error:
        raise OptionError(str(error)) from None
    return names


def run_sweep(options: argparse.Namespace, names: dict[int, str], root: Path, echo=print) -> tuple[dict, list]:
    """Each size's session in turn; returns ({size: ledger}, [session entries]). SessionError where a
    session wrote no ledger."""
    out = root / options.out
    ledgers, sessions = {}, []
    for index, (size, name) in enumerate(names.items(), 1):
        folder = session_folder(out, size)
        command = session_command(name, folder, profile=options.profile, seeds=options.seeds,
                                  workers=options.workers, extra=options.extra)
        echo(f"datasize: {size:,} training images ({index} of {len(names)}): "
             f"{shlex.join(['python', *command[1:]])}")
        before = ledger_session(folder / LEDGER_FILE)
        start = time.monotonic()
        status = run_session(command, folder, cwd=root, echo=echo)
        seconds = time.monotonic() - start
        ledgers[size] = session_ledger(folder, size, status, before)
        sessions.append({"size": size, "dataset": name, "ledger": str(folder / LEDGER_FILE), "exit_status": status,
                         "seconds": round(seconds, 1)})
        outcomes = ", ".join(f"{row['check_id'].split('.')[0]} {row['outcome'] or 'not in the ledger'}"
                             for row in table_rows({size: ledgers[size]}))
        echo(f"datasize: {size:,} training images done in {duration_text(seconds)} (pytest exit status {status}): "
             f"{outcomes}")
    return ledgers, sessions


def write_outputs(out: Path, dataset: str, ledgers: dict[int, dict], sessions: list[dict]) -> tuple[str, list[Path]]:
    """The table (Markdown, JSON) and the plot (PNG, SVG) from the ledgers; returns the Markdown and the
    paths written."""
    from .report.plots import DPI, svg_bytes

    rows = table_rows(ledgers)
    title = sweep_title(dataset, ledgers)
    text = markdown_table(rows, title)
    document = sweep_document(dataset, rows, sessions, title)
    paths = [out / "datasize.md", out / "datasize.json", out / "datasize.png", out / "datasize.svg"]
    out.mkdir(parents=True, exist_ok=True)
    paths[0].write_text(text + "\n", encoding="utf-8")
    paths[1].write_text(json.dumps(document, indent=1, allow_nan=False) + "\n", encoding="utf-8")
    figure = draw_sweep(rows, title)
    figure.savefig(paths[2], format="png", dpi=DPI)
    paths[3].write_bytes(svg_bytes(figure))
    return text, paths


def main(argv: list[str] | None = None, *, root: Path | None = None) -> int:
    root = Path.cwd() if root is None else Path(root)
    try:
        options = parse_options(list(sys.argv[1:] if argv is None else argv))
        names = check_options(options, root)
    except OptionError as error:
        print(f"datasize: {error}", file=sys.stderr)
        return 2
    start = time.monotonic()
    try:
        ledgers, sessions = run_sweep(options, names, root)
    except SessionError as error:
        print(f"datasize: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        # The session got the same Ctrl-C and has stopped; its folder keeps what it wrote.
        print("datasize: interrupted; the sessions finished so far keep their ledgers", file=sys.stderr)
        return 130
    text, paths = write_outputs(root / options.out, options.dataset, ledgers, sessions)
    print(text)
    print(f"datasize: {len(sessions)} sessions in {duration_text(time.monotonic() - start)}; wrote "
          f"{', '.join(str(path) for path in paths)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
