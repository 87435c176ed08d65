"""The hardening table: every fault, bad input and attack the suite tries, with its result.

A test says what it tries with a marker::

    @pytest.mark.hardening("fault", "slurmctld stopped for twice the poll interval",
                           "sessions kept; a spawn fails fast and names the controller")

(kind is one of KINDS). After a whole-suite run (no paths, no -k/-m selection) the plugin writes
docs/hardening.md from what actually ran, so the table is the suite's output, never hand-kept.
A parametrised test gives one row per case, the case id appended to what was tried.
"""

from __future__ import annotations

from dataclasses import dataclass
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

    def whole_suite(self) -> bool:
        opt = self.config.option
        return not opt.file_or_dir and not opt.keyword and not opt.markexpr

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        if self.rows and self.whole_suite():
            self.path.write_text(self.render())

    def render(self) -> str:
        counts = {k: sum(r.kind == k for r in self.rows.values()) for k in KINDS}
        passed = sum(r.result == "passed" for r in self.rows.values())
        lines = [
            "# Hardening: faults, bad input and attacks tried by the suite",
            "",
            "Written by `tests/hardening.py` at the end of `hub/bin/aifactory test` (the whole",
            "suite, on the real local stack). Do not edit by hand: rerun the suite.",
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
