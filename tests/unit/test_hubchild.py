"""A managed service ends with its hub (a SIGKILLed hub leaves no orphan service behind)."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from aifactory_hub.ops.cli import exited


@contextmanager
def hub_with_service(tmp_path, hub_code: str) -> Iterator[tuple[subprocess.Popen, int]]:
    """A stand-in hub (a Python process running `hub_code`) that starts the `sleeper` service
    through hubchild and prints the service's pid; the service is killed afterwards if the
    test left it running."""
    (tmp_path / "sleeper.py").write_text(
        "import pathlib, sys, time\n"
        f"pathlib.Path({str(tmp_path / 'started')!r}).touch()\n"
        "time.sleep(120)\n"
    )
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}:{os.environ.get('PYTHONPATH', '')}")
    hub = subprocess.Popen([sys.executable, "-c", hub_code], stdout=subprocess.PIPE, env=env)
    child = int(hub.stdout.readline())
    try:
        yield hub, child
    finally:
        if not exited(child):
            os.kill(child, signal.SIGKILL)
        hub.stdout.close()


CHILD = """
import os, subprocess, sys, time
child = subprocess.Popen(
    [sys.executable, "-m", "aifactory_hub.hubside.hubchild", "--parent", str(os.getpid()),
     "sleeper"],
    start_new_session=True,
)
print(child.pid, flush=True)
"""


def wait_for(condition, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


@pytest.mark.hardening(
    "fault", "the hub SIGKILLed while its managed services run", "each service ends within ~2 s"
)
def test_service_ends_when_its_hub_is_killed(tmp_path):
    with hub_with_service(tmp_path, CHILD + "time.sleep(120)\n") as (hub, child):
        assert wait_for((tmp_path / "started").exists), "the service never started"
        assert not exited(child), "the service must run while its hub does"
        hub.kill()
        hub.wait()
        assert wait_for(lambda: exited(child)), "the service outlived its hub"


@pytest.mark.hardening(
    "fault",
    "the hub dies before its service has even started",
    "the service ends at once instead of taking init for its hub",
)
def test_service_ends_when_its_hub_died_before_it_started(tmp_path):
    # The hub exits right after printing the pid: hubchild starts already re-parented.
    with hub_with_service(tmp_path, CHILD + "os._exit(0)\n") as (hub, child):
        hub.wait()
        assert wait_for(lambda: exited(child)), "an orphaned service took init for its hub"


@pytest.mark.parametrize(
    "argv", [[], ["sleeper"], ["--parent", "sleeper"], ["--parent", "12x", "sleeper"]]
)
def test_usage_without_a_parent_and_a_module(argv):
    result = subprocess.run(
        [sys.executable, "-m", "aifactory_hub.hubside.hubchild", *argv],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "usage:" in result.stderr
