"""tests/hardening.py: the table is written only after the whole suite, and names its commit.
Runs pytest in a subprocess on a tiny suite of its own (pytester)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.hardening import commit_of, rows_differ

pytest_plugins = ["pytester"]

SUITE = """
import pytest

@pytest.mark.hardening("attack", "a door tried", "it holds")
def test_door():
    pass

def test_other():
    pass
"""
ROOT = Path(__file__).resolve().parents[2]
CONFTEST = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests.hardening import HardeningReport

def pytest_configure(config):
    config.addinivalue_line("markers", "hardening(kind, tried, expected): a hardening row")
    report = Path(str(config.rootpath)) / "report.md"
    config.pluginmanager.register(HardeningReport(config, report), "hardening-report")
"""


@pytest.fixture
def suite(pytester):
    pytester.makepyfile(test_suite=SUITE)
    pytester.makeconftest(CONFTEST)
    return pytester


def report(pytester) -> Path:
    return Path(str(pytester.path)) / "report.md"


def test_a_whole_run_writes_the_table_with_its_rows(suite):
    suite.runpytest_subprocess("-p", "no:cacheprovider").assert_outcomes(passed=2)
    text = report(suite).read_text()
    assert "| a door tried | it holds | passed | `test_suite.py::test_door` |" in text
    assert "1 cases (0 fault, 0 bad input, 1 attack); 1 passed." in text
    assert "Run on " in text


@pytest.mark.parametrize(
    "args",
    [["--co"], ["-x"], ["--maxfail=2"], ["-k", "door"], ["-m", "hardening"],
     ["--deselect", "test_suite.py::test_other"], ["test_suite.py"]],
)  # fmt: skip
def test_a_narrowed_run_writes_nothing(suite, args):
    suite.runpytest_subprocess("-p", "no:cacheprovider", *args)
    assert not report(suite).exists()


def test_the_commit_is_named_and_changes_are_said(tmp_path):
    assert commit_of(tmp_path) == "unknown commit"
    run = lambda *a: subprocess.run(["git", "-C", str(tmp_path), *a], check=True,  # noqa: E731
                                    capture_output=True)  # fmt: skip
    run("init", "-q")
    (tmp_path / "a.txt").write_text("1")
    run("add", "a.txt")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "x")
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "--short", "HEAD"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    assert commit_of(tmp_path) == f"commit {head}"
    (tmp_path / "a.txt").write_text("2")
    assert commit_of(tmp_path) == f"commit {head} with uncommitted changes"


def git(where: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(where), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)  # fmt: skip


def test_a_whole_run_fails_when_its_table_differs_from_the_committed_one(suite):
    where = Path(str(suite.path))
    git(where, "init", "-q")
    (where / "report.md").write_text("# an old table\n\nRun on commit 0000000.\n")
    git(where, "add", "report.md")
    git(where, "commit", "-q", "-m", "old table")
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*report.md differs from the committed one*"])
    # The run rewrote it; once that is committed, the next whole run passes.
    git(where, "commit", "-q", "-am", "the table this suite writes")
    assert suite.runpytest_subprocess("-p", "no:cacheprovider").ret == pytest.ExitCode.OK


def test_only_the_commit_line_may_differ():
    old = "# t\n\nRun on commit 1111111.\n\n| a | b | passed | `x` |\n"
    assert not rows_differ(old, old.replace("1111111", "2222222 with uncommitted changes"))
    assert rows_differ(old, old.replace("passed", "FAILED"))
    assert rows_differ(old, old + "| c | d | passed | `y` |\n")
