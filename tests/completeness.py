"""A run proves only what it ran: a skipped test or a tier that collected nothing fails it.

pytest counts a skip as a success (exit 0), and a tier whose conftest or imports went wrong
can collect nothing without failing anything else; either way a green run would claim tests
that never ran (a skipped real-Slurm tier, an empty browser tier). This plugin turns both into
failures:

- any test that ends skipped (``pytest.skip``, ``skipif``, ``importorskip``, an xfail) fails
  the run, naming the test and the reason, in every run;
- a whole-suite run (no paths, ``-k``, ``-m`` or deselection: the same rule as the hardening
  table's) fails when one of the tiers in ``TIERS`` collected no test.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.hardening import whole_suite

TIERS = ("unit", "service", "store", "slurm", "hub", "browser")


class Completeness:
    def __init__(self, config: pytest.Config, tests_dir: Path):
        self.config = config
        self.tests_dir = tests_dir
        self.skipped: list[str] = []
        self.empty_tiers: list[str] = []

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        if not whole_suite(self.config):
            return
        collected = {tier: 0 for tier in TIERS}
        for item in items:
            try:
                tier = Path(item.path).relative_to(self.tests_dir).parts[0]
            except ValueError:
                continue
            if tier in collected:
                collected[tier] += 1
        self.empty_tiers = [tier for tier, n in collected.items() if n == 0]

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.skipped:
            reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else "xfail"
            self.skipped.append(f"{report.nodeid}: {reason}")

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        problems = [f"skipped (a skip is a test that did not run): {s}" for s in self.skipped]
        problems += [f"tier tests/{t} collected no test" for t in self.empty_tiers]
        if not problems:
            return
        if session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            for problem in problems:
                reporter.write_line(f"FAILED RUN: {problem}", red=True)
