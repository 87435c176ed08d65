"""The JupyterLab extension's status bar and wall-time warning rules (extensions/aifactory_lab/js
src/session.ts: pure functions with the clock passed in), run by Node's own test runner over
the compiled module (js/test/session.test.mjs). The browser test (tests/browser/test_lab_home.py)
sees the same rules on the real stack; this one covers the cases a real session cannot reach in
a test's time: a page opened with 1 minute left, the 2-minute warning, a bad end time."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

JS = Path(__file__).resolve().parents[2] / "extensions" / "aifactory_lab" / "js"


def test_status_text_and_warnings_follow_the_rules():
    if shutil.which("npm") is None or not (JS / "node_modules").is_dir():
        pytest.skip("the extension's npm packages are not installed (hub/bin/aifactory install)")
    # `npm test` compiles src/ first, so the rules tested are the sources', never a stale lib/.
    done = subprocess.run(
        ["npm", "test", "--silent"], cwd=JS, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "# fail 0" in done.stdout and "# pass 5" in done.stdout, done.stdout
