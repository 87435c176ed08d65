"""The hardening table: every fault, bad input and attack the suite tries, with its result.

A test says what it tries with a marker::

    @pytest.mark.hardening("fault", "slurmctld stopped for twice the poll interval",
                           "sessions kept; a spawn fails fast and names the controller")

(kind is one of KINDS). After a whole-suite run the plugin writes docs/hardening.md from what
actually ran, so the table is the suite's output, never hand-kept; the file names the commit
it ran on (and says so when the tree had uncommitted changes), and a whole run whose table
differs from the committed one in more than that line fails. A run that selected, deselected,
only collected, stopped at the first failure or was interrupted is not the whole suite and
writes nothing. A parametrised test gives one row per case, the case id appended to what was
tried.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

KINDS = ("fault", "bad input", "attack")
REPORT = Path(__file__).resolve().parent.parent / "docs" / "hardening.md"


@dataclass
class Row:
    kind: str
    tried: str
    expected: str
    test: str
    result: str = "not run"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class HardeningReport:
    def __init__(self, config: pytest.Config, path: Path = REPORT):
        self.config = config
        self.path = path
        self.rows: dict[str, Row] = {}

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            mark = item.get_closest_marker("hardening")
            if mark is None:
                continue
            kind, tried, expected = mark.args
            if kind not in KINDS:
                raise pytest.UsageError(f"{item.nodeid}: hardening kind {kind!r} not in {KINDS}")
            case = getattr(item, "callspec", None)
            if case is not None:
                tried = f"{tried} [{case.id}]"
            test = item.nodeid.split("[", 1)[0]
            self.rows[item.nodeid] = Row(kind, tried, expected, test)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        row = self.rows.get(report.nodeid)
        if row is None:
            return
        if report.failed:
            row.result = "FAILED"
        elif report.skipped and row.result == "not run":
            row.result = "skipped"
        elif report.when == "call" and report.passed and row.result == "not run":
            row.result = "passed"

    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        ran_to_the_end = exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED)
        if not (self.rows and whole_suite(self.config) and ran_to_the_end):
            return
        written = self.render(commit_of(self.path.parent.parent))
        committed = committed_report(self.path)
        self.path.write_text(written)
        if committed is not None and rows_differ(committed, written):
            # The committed table must be what the suite does: a run whose rows differ from
            # it fails (CI included) until the table it wrote is committed.
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
            reporter = self.config.pluginmanager.get_plugin("terminalreporter")
            if reporter is not None:
                reporter.write_line(
                    f"{self.path.name} differs from the committed one (other rows or results): "
                    "this run rewrote it; review and commit it.",
                    red=True,
                )

    def render(self, commit: str = "unknown commit") -> str:
        counts = {k: sum(r.kind == k for r in self.rows.values()) for k in KINDS}
        passed = sum(r.result == "passed" for r in self.rows.values())
        lines = [
            "# Hardening: faults, bad input and attacks tried by the suite",
            "",
            "Written by `tests/hardening.py` at the end of `hub/bin/aifactory test` (the whole",
            "suite, on the real local stack). Do not edit by hand: rerun the suite.",
            "",
            f"Run on {commit}, finished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC.",
            "",
            f"{len(self.rows)} cases ({', '.join(f'{n} {k}' for k, n in counts.items())}); "
            f"{passed} passed.",
            "",
        ]
        for kind in KINDS:
            rows = sorted((r for r in self.rows.values() if r.kind == kind), key=lambda r: r.test)
            if not rows:
                continue
            lines += [f"## {kind}", "", "| tried | expected | result | test |", "|---|---|---|---|"]
            for r in rows:
                cells = (_cell(r.tried), _cell(r.expected), r.result, f"`{r.test}`")
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
        return "\n".join(lines)


def whole_suite(config: pytest.Config) -> bool:
    """Every test collected and run to the end: no paths, -k, -m, --deselect, --co, -x
    (or --maxfail), --lf or --sw."""
    opt = config.option
    narrowed = (
        opt.file_or_dir,
        opt.keyword,
        opt.markexpr,
        getattr(opt, "deselect", None),
        getattr(opt, "collectonly", False),
        getattr(opt, "maxfail", 0),
        getattr(opt, "lf", False),
        getattr(opt, "stepwise", False),
    )
    return not any(narrowed)


def committed_report(path: Path) -> str | None:
    """The report as committed at HEAD; None outside a git checkout or if never committed."""
    done = subprocess.run(["git", "-C", str(path.parent), "show", f"HEAD:./{path.name}"],
                          capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
    return done.stdout if done.returncode == 0 else None


def rows_differ(committed: str, written: str) -> bool:
    """True when two reports differ in more than the commit they name."""

    def body(text: str) -> list[str]:
        return [line for line in text.splitlines() if not line.startswith("Run on ")]

    return body(committed) != body(written)


def commit_of(checkout: Path) -> str:
    """The checkout's commit for the report, e.g. "commit 13d39b4" or "commit 13d39b4 with
    uncommitted changes"; "unknown commit" outside a git checkout."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", "-C", str(checkout), *args], capture_output=True,
                              text=True, timeout=30, check=False)  # fmt: skip
        return done.stdout.strip() if done.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "unknown commit"
    dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs/hardening.md")
    return f"commit {head}" + (" with uncommitted changes" if dirty else "")
