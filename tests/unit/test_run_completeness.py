"""tests/completeness.py: a skipped test, or a tier that collected nothing, fails the run.
Runs pytest in a subprocess on a tiny suite of its own (pytester) with the six tiers."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.completeness import TIERS

pytest_plugins = ["pytester"]

ROOT = Path(__file__).resolve().parents[2]
CONFTEST = f"""
import sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
from tests.completeness import Completeness

def pytest_configure(config):
    config.pluginmanager.register(Completeness(config, Path(__file__).parent), "completeness")
"""


@pytest.fixture
def suite(pytester):
    """A passing test in every tier."""
    pytester.makeconftest(CONFTEST)
    for tier in TIERS:
        pytester.mkpydir(tier)
        pytester.makepyfile(**{f"{tier}/test_{tier}": "def test_it():\n    assert 1 + 1 == 2\n"})
    return pytester


def test_a_whole_run_with_every_tier_and_no_skip_passes(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(TIERS))
    assert result.ret == pytest.ExitCode.OK
    assert "FAILED RUN" not in result.stdout.str()


@pytest.mark.parametrize(
    "body",
    [
        "import pytest\n\ndef test_s():\n    pytest.skip('no Slurm here')\n",
        "import pytest\n\n@pytest.mark.skipif(True, reason='no Slurm here')\ndef test_s():\n"
        "    pass\n",
        "import pytest\n\ndef test_s():\n    pytest.importorskip('no_such_module_here')\n",
    ],
    ids=["skip", "skipif", "importorskip"],
)
def test_a_skipped_test_fails_the_run_and_is_named(suite, body):
    suite.makepyfile(**{"slurm/test_skipped": body})
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(TIERS), skipped=1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED RUN: skipped*slurm/test_skipped.py::test_s*"])


def test_a_skip_fails_a_narrowed_run_too(suite):
    suite.makepyfile(**{"hub/test_skipped": "import pytest\n\ndef test_s():\n    pytest.skip()\n"})
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "hub")
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_a_tier_that_collects_nothing_fails_a_whole_run(suite):
    (Path(str(suite.path)) / "browser" / "test_browser.py").unlink()
    result = suite.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=len(TIERS) - 1)
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.stdout.fnmatch_lines(["*FAILED RUN: tier tests/browser collected no test*"])


def test_a_narrowed_run_may_leave_tiers_out(suite):
    result = suite.runpytest_subprocess("-p", "no:cacheprovider", "unit")
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
