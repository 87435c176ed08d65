"""[lab] on the real stack, from a kernel in carol's real session (ai-beta on cpu, 1 GB): the
live-use panel reads the session job's own cgroup and shows the limit the session asked for,
and the job monitor shows a finished job's efficiency as accounting has it, with a hint.
The local Slurm is shared: the job is found by its id, every wait allows for a busy queue."""

from __future__ import annotations

import pytest

from tests.session_kernel import SessionKernel
from tests.stack import sh, wait_finished, wait_for

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
QUEUE_WAIT_S = 600  # other sessions may hold the nodes for a while
GB = 1024**3
# Two CPUs and 2 GB held, idle with about 100 MB: a job that asked for much more than it used.
# It runs past the first of accounting's samples (JobAcctGatherFrequency=30 s), where its peak
# memory is taken. As carol, through the kernel's own jobs/commands.py.
IDLE_JOB = """#!/bin/bash
#SBATCH --job-name=aif-efficiency
#SBATCH --account=ai-beta
#SBATCH --partition=cpu
#SBATCH --cpus-per-task=2
#SBATCH --mem=2G
#SBATCH --time=5
#SBATCH --output=/dev/null
python3 -c 'import time; b = bytearray(100 * 2**20); time.sleep(35)'
"""


@pytest.fixture(scope="module")
def carol_kernel(hub):
    resp = hub.api("POST", "/users/carol/server", "carol", json={"project": "ai-beta",
                   "partition": "cpu", "cpus": 1, "memory_gb": 1})  # fmt: skip
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("carol", timeout=QUEUE_WAIT_S)
    kernel = SessionKernel(hub.url, "carol", hub.token("carol"))
    yield kernel
    kernel.shutdown()
    hub.stop("carol")


def test_the_live_use_panel_reads_the_session_jobs_cgroup_and_its_limit(carol_kernel):
    kernel = carol_kernel
    job = kernel.value("__import__('os').environ['SLURM_JOB_ID']")
    kernel.execute(
        "from aifactory_widgets import SessionUse\n"
        "import time\n"
        "panel = SessionUse()\n"
        "sum(i * i for i in range(3_000_000))\n"  # some CPU use between the two readings
        "time.sleep(1)\n"
        "reading = panel.refresh()\n"
    )
    seen = kernel.value(
        "{'limit': reading.limit_bytes, 'used': reading.memory_bytes, 'job': reading.job,"
        " 'source': reading.source, 'cpu': panel.cpu.value, 'memory': panel.memory.value,"
        " 'gpu': [c.value for c in panel.gpu.children], 'cpus': reading.cpus}"
    )
    assert seen["limit"] == 1 * GB  # the session asked for 1 GB
    assert seen["job"] == job and seen["source"].startswith(f"From the job's cgroup (job {job} on")
    limit = sh("scontrol", "show", "job", job)
    assert "mem=1G" in limit
    assert 0 < seen["used"] < GB
    assert seen["cpus"] == 1
    assert seen["cpu"].startswith("CPU: ") and "of 1 CPU busy" in seen["cpu"]
    assert " of 1.00 GB, the job's limit (" in seen["memory"]
    assert seen["gpu"] == ["GPU: no GPU in this session."]
    kernel.execute("panel.close()")
    assert kernel.value("panel.timer.playing") is False


def test_the_monitor_shows_a_finished_jobs_efficiency_and_a_hint(carol_kernel):
    kernel = carol_kernel
    kernel.execute(
        "from aifactory_widgets import JobMonitor\n"
        "from aifactory_widgets.jobs import commands\n"
        f"job = commands.submit(commands.SlurmRunner(), {IDLE_JOB!r})\n"
    )
    job = kernel.value("job")
    assert wait_finished(job) == {job: "COMPLETED"}
    kernel.execute("m = JobMonitor()")

    def settled() -> dict | None:
        # accounting has the batch step's peak a moment after the job ends
        kernel.execute("m.refresh()")
        return kernel.value(
            f"(lambda f: f and f.peak_bytes and {{'cpus': f.cpus, 'asked': f.asked_bytes,"
            f" 'peak': f.peak_bytes, 'eff': f.cpu_efficiency, 'gpu_hours': f.gpu_hours}})"
            f"(m.figures({job!r}))"
        )

    figures = wait_for(settled, 120, f"accounting's figures for job {job}", every=3)
    assert (figures["cpus"], figures["asked"], figures["gpu_hours"]) == (2, 2 * GB, 0)
    assert 50 * 2**20 < figures["peak"] < 400 * 2**20  # the 100 MB it held, and python's own
    assert 0 <= figures["eff"] < 0.1  # it slept
    shown = kernel.value(
        "[c.value for r in m.table.children for c in getattr(r, 'children', ())"
        " if type(c).__name__ == 'Label']"
    )
    (hint,) = [line for line in shown if line.startswith(f"Job {job}: ")]
    assert "asked for 2 CPUs, used about 0.0: ask for 1 next time" in hint
    assert "asked for 2.0 GB of memory, peaked at " in hint and "ask for 1 GB next time" in hint
