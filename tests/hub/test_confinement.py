"""Confinement of a real session (real hub, real Slurm with cgroup v1): it gets the CPUs and
the memory it asked for, and a kernel that allocates past the memory is killed by the job's
cgroup while JupyterLab lives on; after the user stops, the hub home says what happened."""

from __future__ import annotations

import pwd
import time
from pathlib import Path

import pytest
import requests
from websocket import WebSocketException

from tests.session_kernel import SessionKernel
from tests.stack import session_jobs, sh, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]

GIB = 1024**3


def job_cgroup(controller: str, node: str, user: str, job: str) -> Path:
    uid = pwd.getpwnam(user).pw_uid
    return Path(f"/sys/fs/cgroup/{controller}/slurm_{node}/uid_{uid}/job_{job}")


def oom_kills(cgroup: Path) -> int:
    """Processes the OOM killer ended anywhere in the job (cgroup v1 counts a kill in the
    victim's own cgroup: the step's task, not the job whose limit was reached)."""
    kills = 0
    for control in cgroup.rglob("memory.oom_control"):
        fields = dict(line.split() for line in control.read_text().splitlines())
        kills += int(fields.get("oom_kill", 0))
    return kills


@pytest.mark.hardening(
    "fault",
    "a kernel of a session that asked for 2 CPUs and 4 GB allocates 4.5 GB",
    "the session has 2 cores and a 4 GiB cgroup; the kernel is killed, JupyterLab answers, "
    "the job's batch step ends OUT_OF_MEMORY and the hub home says 'used more memory than the "
    "4 GB it asked for'",
)
def test_a_session_gets_what_it_asked_for_and_a_kernel_past_its_memory_is_killed(hub):
    ask = {"project": "ai-beta", "partition": "cpu", "cpus": 2, "memory_gb": 4}
    resp = hub.api("POST", "/users/carol/server", "carol", json=ask)
    assert resp.status_code in (201, 202), resp.text
    server = hub.wait_ready("carol")
    (job,) = session_jobs("carol")
    node = sh("squeue", "-h", "-j", job["id"], "-o", "%N").strip()
    memory = job_cgroup("memory", node, "carol", job["id"])
    assert int((memory / "memory.limit_in_bytes").read_text()) == 4 * GIB
    kernel = SessionKernel(hub.url, "carol", hub.token("carol"))
    try:
        assert kernel.value("len(__import__('os').sched_getaffinity(0))") == 2
        first_pid = kernel.value("__import__('os').getpid()")
        # b"x" * n writes every page: the memory is really used, not just reserved
        kernel.send("hog = b'x' * (4608 * 2**20)")
        deadline = time.monotonic() + 180
        while oom_kills(memory) == 0 and time.monotonic() < deadline:
            time.sleep(1)
        assert oom_kills(memory) >= 1, "the job's cgroup never killed the kernel"
        # JupyterLab lives on and restarts the kernel: a new process answers (as JupyterLab
        # does, reconnect to the kernel's channels after its restart)
        deadline = time.monotonic() + 120
        pid = first_pid
        while pid == first_pid:
            assert time.monotonic() < deadline, "the kernel never came back"
            time.sleep(2)
            try:
                kernel.ws.close()
                kernel.connect()
                pid = kernel.value("__import__('os').getpid()", timeout=20)
            except (OSError, WebSocketException):
                continue
        assert pid != first_pid
        status = requests.get(f"{hub.url}{server['url']}api/status", timeout=30,
                              headers={"Authorization": f"token {hub.token('carol')}"})  # fmt: skip
        assert status.status_code == 200
    finally:
        kernel.shutdown()
    hub.stop("carol")
    wait_no_jobs("carol")
    steps = sh("sacct", "-n", "-P", "-j", job["id"], "-o", "JobID,State")
    assert f"{job['id']}.batch|OUT_OF_MEMORY" in steps
    home = hub.login("carol").get(f"{hub.url}/hub/home", timeout=60).text
    assert f"In your last session (Slurm job {job['id']} on node {node})" in home
    assert "used more memory than the 4 GB it asked for" in home
