"""One claims session: the object the pytest plugin keeps on its config (config.stash).

It holds the settings resolved from the options, the evidence records and run counts gathered from
the tests' reports, the devices the runs trained on, and where the ledger and the report go; at the
end it writes the ledger, then renders the report from it. Nothing here imports pytest: the plugin
hands it plain values.

Tests send their data to the controller as pytest user_properties (xdist carries them across
processes), each a (name, JSON text) pair:
  claim_evidence   one ledger record per verified check (sent with the test's "call" report)
  claim_figure     one figure payload (bnclaims.figures), stored with the test's record
  claim_runs       the runs the test used, each with "from_cache" (sent with its "teardown" report)
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

from . import formatting
from .ledger import (INTERRUPTED_LEDGER_NAME, LEDGER_NAME, LedgerError, finding_entry, ledger_document,
                     merge_previous, read_ledger, write_ledger)
from .settings import Settings
from .spec import ENGINES, environment_fingerprint

EVIDENCE_PROPERTY = "claim_evidence"
RUNS_PROPERTY = "claim_runs"
FIGURE_PROPERTY = "claim_figure"
REPORT_NAME = "claims.html"
FIGURE_CACHE_FOLDER = "figures"     # in the run cache: drawn figures (bnclaims.report.figure_cache)
OWN_PROPERTIES = (EVIDENCE_PROPERTY, RUNS_PROPERTY, FIGURE_PROPERTY)   # other plugins' properties are theirs
PROJECT_ROOT = Path(__file__).resolve().parents[1]
STEP_SUMMARY_ENV_VAR = "GITHUB_STEP_SUMMARY"   # GitHub Actions' summary page of a job, in Markdown


@lru_cache(maxsize=None)
def source_revision(root: Path = PROJECT_ROOT) -> str:
    """The git commit the suite's code came from, '+modified' where the work tree differs from it;
    'unknown' outside a git checkout (an unpacked release, say)."""
    def git(*arguments: str) -> str:
        return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True, text=True, timeout=10,
                              check=True).stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        modified = bool(git("status", "--porcelain", "--untracked-files=no"))
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return commit + ("+modified" if modified else "")


def reading_environment() -> dict:
    """What a reader of a ledger needs beside the run keys' libraries to reproduce its numbers: the code's
    commit, Python, the statistics libraries, the CPU and its flags, and XLA's instruction-set cap. Not
    part of any run key (the keys name what changes a run's numbers; these explain a verdict's p)."""
    from importlib import metadata

    from .backend import cpu_identity

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "absent"

    return {"git_commit": source_revision(), "python": platform.python_version(), "scipy": version("scipy"),
            "statsmodels": version("statsmodels"), "cpu": cpu_identity(),
            "xla_flags": os.environ.get("XLA_FLAGS", "")}


def evidence_record(evidence, finding=None, settlement=None) -> dict:
    """A check's ledger record as its test sends it: the evidence and the finding it was settled against."""
    record = evidence.to_dict()
    observed = settlement is not None and settlement.action == "xfail"
    # A finding not observed keeps its reason, with this run's numbers in it: never the raw template.
    reason = settlement.text if observed else (finding.explain(evidence.reason_fields()) if finding else "")
    record["finding"] = finding_entry(finding, reason)
    if record["finding"] and settlement is not None and settlement.action == "pass" and settlement.text:
        record["finding"]["not_observed"] = settlement.text     # a declared finding this run did not show
    return record


def property_value(payload) -> str:
    return json.dumps(payload, sort_keys=True, allow_nan=True, default=float)


@dataclass
class ClaimsSession:
    settings: Settings
    report_path: Path | None = None        # the claims report (HTML); None: the ledger only
    pytest_html_path: Path | None = None   # pytest-html's results page, linked from the report
    records: list[dict] = field(default_factory=list)
    runs: dict = field(default_factory=lambda: {"trained": 0, "from_cache": 0})
    run_details: dict = field(default_factory=dict)     # run key -> what the ledger states of that run
    runs_by_test: dict = field(default_factory=dict)    # test node id -> runs it used (the progress line's total)
    specs_by_test: dict = field(default_factory=dict)   # test node id -> {run key: spec}: the next session's plan
    devices: set[str] = field(default_factory=set)
    ledger_path: Path | None = None
    written_report: Path | None = None
    report_error: str = ""
    ledger_note: str = ""                  # what became of the ledger that was there (merged into, set aside)
    interrupted: bool = False
    # The figure cache and its background drawing, made when the first record comes (False: not possible).
    _figures: object = field(default=None, init=False, repr=False)
    _drawing: object = field(default=None, init=False, repr=False)

    @classmethod
    def start(cls, settings: Settings) -> "ClaimsSession":
        return cls(settings=settings, report_path=settings.report_dir / REPORT_NAME)

    def collect(self, *, nodeid: str, when: str, test_outcome: str, properties) -> None:
        """Take what one test report carries (its user_properties)."""
        values: dict[str, list] = {}
        for name, value in properties:
            if name in OWN_PROPERTIES:
                values.setdefault(name, []).append(json.loads(value))
        if when == "call" and values.get(EVIDENCE_PROPERTY):
            records = values[EVIDENCE_PROPERTY]
            figures = values.get(FIGURE_PROPERTY, [])
            for record in records:
                mine = figures if len(records) == 1 else [
                    f for f in figures if f.get("claim_id", "") in ("", record["claim_id"])]
                self.records.append({**record, "nodeid": nodeid, "test_outcome": test_outcome, "figures": mine,
                                     "session": self.settings.session_id})
                if drawing := self._background_drawing():
                    drawing.add(self.records[-1])
        if when == "teardown":
            for runs in values.get(RUNS_PROPERTY, []):
                self.runs_by_test[nodeid] = self.runs_by_test.get(nodeid, 0) + len(runs)
                self.runs["trained"] += sum(not run["from_cache"] for run in runs)
                self.runs["from_cache"] += sum(bool(run["from_cache"]) for run in runs)
                for run in (run for run in runs if "key" in run):
                    if isinstance(run.get("spec"), dict):
                        self.specs_by_test.setdefault(nodeid, {}).setdefault(run["key"], run["spec"])
                    self.run_details.setdefault(run["key"], {
                        name: run.get(name) for name in ("key", "label", "seed", "outcome", "test_accuracy",
                                                         "examples_seen", "steps", "split")})

    def environment(self) -> dict:
        # The Keras backend is the session engine's, whatever the controller's environment says.
        environment = {**environment_fingerprint(), **reading_environment(), "engine": self.settings.engine,
                       "backend": ENGINES[self.settings.engine]}
        if self.devices:
            environment["device"] = ", ".join(sorted(self.devices))
        return environment

    def ledger(self) -> dict:
        runs = {**self.runs, "each": sorted(self.run_details.values(), key=lambda r: (r["label"], r["seed"]))}
        return ledger_document(self.settings, self.records, runs=runs, environment=self.environment())

    def _figure_cache(self):
        """Where drawn figures are kept, beside the runs they draw; None where the session may not touch
        the run cache (or writes no report)."""
        if self._figures is None and self.report_path is not None and self.settings.cache_mode != "bypass":
            from .report.figure_cache import FigureCache   # matplotlib: only for a session with a report

            self._figures = FigureCache(self.settings.cache_dir / FIGURE_CACHE_FOLDER)
        return self._figures

    def _background_drawing(self):
        if self._drawing is None:
            try:
                cache = self._figure_cache()
            except Exception:   # noqa: BLE001 - no drawing now; the report says what is wrong
                cache = None
            if cache is None:
                self._drawing = False
            else:
                from .report.figure_cache import BackgroundDrawing

                self._drawing = BackgroundDrawing(cache)
        return self._drawing

    def finish(self, *, interrupted: bool = False, present=lambda nodeid: True) -> None:
        """Write the ledger, then the report rendered from it (nothing when no check ran).

        A session that ran some of the checks merges into the ledger already there when it has the same
        settings: the checks it did not run keep their last records (each names its session), so that
        `-k A5.sigmoid` after a full run leaves the other records in place; present(nodeid) says whether a
        kept record's test still exists. A ledger of other settings is moved aside, not overwritten. An
        interrupted session leaves the ledger and the report as they were and writes what it has beside
        them, marked interrupted."""
        if self._drawing:
            self._drawing.finish(wait=bool(self.records) and not interrupted)
        if not self.records:
            return
        document = self.ledger()
        path = self.settings.report_dir / LEDGER_NAME
        if interrupted:
            document["interrupted"] = True
            self.ledger_path = write_ledger(self.settings.report_dir / INTERRUPTED_LEDGER_NAME, document)
            self.interrupted = True
            return
        document = self._merged(document, path, present)
        self.ledger_path = write_ledger(path, document)
        self._write_step_summary(document)
        if self.report_path is not None:
            try:
                from .report import write_report     # matplotlib: only for a session that has a report to draw

                self.written_report = write_report(document, self.report_path, ledger_path=self.ledger_path,
                                                   pytest_html_path=self.pytest_html_path,
                                                   figure_cache=self._figure_cache())
            except Exception as error:   # the ledger is written: the report can be rendered from it later
                self.report_error = f"{type(error).__name__}: {error}"

    def _write_step_summary(self, document: dict) -> None:
        """On GitHub Actions, the verdicts on the run's summary page too ($GITHUB_STEP_SUMMARY, appended)."""
        target = os.environ.get(STEP_SUMMARY_ENV_VAR)
        if not target:
            return
        settings = self.settings
        title = (f"Batch Normalization claims: profile {settings.profile}, dataset {settings.dataset}, "
                 f"{len(settings.seeds)} seeds")
        try:
            with open(target, "a", encoding="utf-8") as stream:
                stream.write(formatting.markdown_summary(document["records"], title=title,
                                                         runs_text=formatting.runs_line(self.runs)))
        except OSError as error:
            self.ledger_note = f"the CI summary page could not be written: {error.strerror or error}"

    def _merged(self, document: dict, path: Path, present) -> dict:
        if not path.exists():
            return document
        try:
            previous = read_ledger(path)
        except LedgerError as error:
            self.ledger_note = f"the previous ledger could not be read ({error}); kept as {self._set_aside(path)}"
            return document
        if previous.get("settings", {}).get("reproduce") != document["settings"]["reproduce"]:
            self.ledger_note = f"the previous ledger, of other settings, kept as {self._set_aside(path)}"
            return document
        merged = merge_previous(document, previous, present)
        if kept := merged.get("merged", {}).get("kept"):
            self.ledger_note = (f"{kept} checks not run in this session keep their records from earlier sessions "
                                f"({', '.join(merged['merged']['sessions'])})")
        return merged

    @staticmethod
    def _set_aside(path: Path) -> str:
        kept = path.with_name(f"{path.stem}.{int(path.stat().st_mtime)}{path.suffix}")
        os.replace(path, kept)
        return kept.name

    def summary_lines(self, *, every_check: bool = True) -> list[str]:
        if not self.records:
            return []
        if self.interrupted:
            return [f"interrupted: the ledger and the report were left as they were; the {len(self.records)} checks "
                    f"this session finished are in {self.ledger_path}", formatting.runs_line(self.runs)]
        lines = [*formatting.summary_lines(self.records, every_check=every_check), formatting.runs_line(self.runs)]
        if self.ledger_path:
            lines.append(f"ledger: {self.ledger_path}" + (f" ({self.ledger_note})" if self.ledger_note else ""))
        if self.written_report:
            lines.append(f"report: {self.written_report}")
        elif self.report_error:
            lines.append(f"report: not written ({self.report_error}); render it from the ledger with "
                         f"python -m bnclaims.report {self.ledger_path}")
        return lines
