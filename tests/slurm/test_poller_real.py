"""The shared poller against the real slurmctld: one squeue answers for many jobs, and a
job that ended is only 'gone' once accounting says so."""

from __future__ import annotations

import asyncio
import subprocess
import time

import pytest

from aifactory_hub import slurm
from aifactory_hub.hubside.poller import SlurmPoller

pytestmark = pytest.mark.slurm


def submit(user: str, account: str, seconds: int) -> str:
    result = slurm.run(
        ["sbatch", "--parsable", f"--account={account}", "--partition=cpu", "--mem=100M",
         "--time=5", "--job-name=poller-test", f"--wrap=sleep {seconds}"],
        run_as=slurm.RunAs.lookup(user),
    )  # fmt: skip
    return result.stdout.strip().split(";")[0]


async def test_one_squeue_for_many_real_jobs(demo_accounts):
    jobs = [submit("alice", "ai-alpha", 120) for _ in range(3)]
    jobs += [submit("carol", "ai-beta", 120) for _ in range(3)]
    poller = SlurmPoller()
    try:
        for job in jobs:
            poller.track(job)
        deadline = time.monotonic() + 30
        infos = []
        while time.monotonic() < deadline:
            calls = poller.calls
            infos = await asyncio.gather(*(poller.get(j, max_age=60) for j in jobs))
            assert poller.calls - calls <= 1  # six jobs, at most one squeue
            if all(i.phase == "running" for i in infos):
                break
            await asyncio.sleep(1)
            poller._snapshot.taken = 0  # let the next round ask Slurm again
        assert [i.phase for i in infos] == ["running"] * 6
        assert {i.account for i in infos} == {"ai-alpha", "ai-beta"}
    finally:
        subprocess.run(["scancel", *jobs], check=False)
    # Cancelled: squeue still lists them for MinJobAge, as CANCELLED -> gone.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        infos = await asyncio.gather(*(poller.get(j, max_age=0) for j in jobs))
        if all(i.phase == "gone" for i in infos):
            break
        await asyncio.sleep(1)
    assert {i.state for i in infos} == {"CANCELLED"}


async def test_purged_job_is_confirmed_gone_by_accounting(demo_accounts):
    job = submit("alice", "ai-alpha", 1)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        out = subprocess.run(
            ["sacct", "-n", "-X", "-P", "-j", job, "-o", "State"], capture_output=True, text=True
        ).stdout.strip()
        if out == "COMPLETED":
            break
        time.sleep(1)
    # A job id squeue never knew (purged, or from another life of the cluster) plus our job:
    # squeue lists only ours, accounting is asked about the other and does not know it.
    poller = SlurmPoller()
    info = await poller.get(job, max_age=0)
    assert (info.phase, info.state) == ("gone", "COMPLETED")
    unknown = await poller.get("999999", max_age=0)
    assert unknown.phase == "unknown"
