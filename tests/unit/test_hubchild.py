"""A managed service ends with its hub (a SIGKILLed hub leaves no orphan service behind)."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from aifactory_hub.ops.cli import exited


@pytest.mark.hardening(
    "fault", "the hub SIGKILLed while its managed services run", "each service ends within ~2 s"
)
def test_service_ends_when_its_hub_is_killed(tmp_path):
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(120)\n")
    hub = textwrap.dedent(
        """
        import subprocess, sys, time
        child = subprocess.Popen(
            [sys.executable, "-m", "aifactory_hub.hubside.hubchild", "sleeper"],
            start_new_session=True,
        )
        print(child.pid, flush=True)
        time.sleep(120)
        """
    )
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    parent = subprocess.Popen([sys.executable, "-c", hub], stdout=subprocess.PIPE, env=env)
    child = int(parent.stdout.readline())
    try:
        time.sleep(1.5)
        assert not exited(child), "the service must run while its hub does"
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + 10
        while not exited(child) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert exited(child), "the service outlived its hub"
    finally:
        if not exited(child):
            os.kill(child, signal.SIGKILL)
        parent.stdout.close()


def test_usage_without_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "aifactory_hub.hubside.hubchild"], capture_output=True, text=True
    )
    assert result.returncode == 1 and "usage:" in result.stderr
