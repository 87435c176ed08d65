"""Sessions on the real stack: real hub, real PAM login, real Slurm jobs, real proxy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.stack import (
    hub_log,
    progress_events,
    server_token,
    session_job_ids,
    session_jobs,
    sh,
    wait_no_jobs,
)

pytestmark = [pytest.mark.slurm, pytest.mark.hub]


@pytest.mark.hardening(
    "attack",
    "look for the session's hub token in the batch script, scontrol show job -dd, sacct -o ALL, "
    "the hub log and the job's output",
    "found in none of them",
)
def test_session_is_a_slurm_job_charged_to_the_project(hub):
    resp = hub.api(
        "POST",
        "/users/bob/server",
        "bob",
        json={"project": "ai-beta", "partition": "cpu", "cpus": 2, "memory_gb": 3},
    )
    assert resp.status_code in (201, 202), resp.text
    server = hub.wait_ready("bob")
    jobs = session_jobs("bob")
    assert len(jobs) == 1
    job = jobs[0]
    assert (job["account"], job["partition"], job["state"]) == ("ai-beta", "cpu", "RUNNING")
    detail = sh("scontrol", "show", "job", job["id"])
    assert "NumCPUs=2" in detail and "mem=3G" in detail

    # reachable through the proxy
    status = requests.get(
        f"{hub.url}{server['url']}api/status",
        headers={"Authorization": f"token {hub.token('bob')}"},
        timeout=30,
    )
    assert status.status_code == 200, status.text

    # the hub's token for the server is nowhere a person or accounting can read it
    token = server_token(job["id"])
    script = sh("scontrol", "write", "batch_script", job["id"], "-")
    assert "#SBATCH --account=ai-beta" in script
    assert token not in script
    assert token not in sh("scontrol", "show", "job", "-dd", job["id"])
    assert token not in sh("sacct", "-j", job["id"], "-P", "-o", "ALL")
    assert token not in hub_log(hub)
    output = Path(f"/home/bob/.jupyter-sessions/{job['id']}.log").read_text()
    assert f"session job {job['id']}" in output and token not in output

    hub.stop("bob")
    wait_no_jobs("bob")
    state = sh("sacct", "-n", "-X", "-P", "-j", job["id"], "-o", "State").strip()
    assert state.startswith("CANCELLED")


def test_gpu_session_gets_simulated_gpus(hub):
    resp = hub.api(
        "POST",
        "/users/alice/server",
        "alice",
        json={"project": "ai-alpha", "partition": "gpu", "gpus": 2},
    )
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("alice")
    (job,) = session_jobs("alice")
    assert (job["account"], job["partition"]) == ("ai-alpha", "gpu")
    assert "gres/gpu=2" in sh("scontrol", "show", "job", job["id"])
    hub.stop("alice")
    wait_no_jobs("alice")


@pytest.mark.parametrize(
    ("user", "options", "message"),
    [
        ("alice", {"project": "ai-beta"}, "project: ai-beta is not available"),
        ("carol", {"partition": "gpu"}, "not available to project ai-beta"),
        ("alice", {"cpus": 99}, "cpus: 99 is outside the partition"),
        ("alice", {"walltime_hours": 1000}, "walltime_hours"),
        ("alice", {"project": "ai-alpha\n#SBATCH --account=ai-beta"}, "project"),
        ("alice", {"cpus": "1\n#SBATCH --exclusive"}, "cpus: must be a whole number"),
        ("alice", {"cmd": ["/bin/sh", "-c", "id"]}, "cmd: unknown option"),
        ("alice", {"prologue": "touch /tmp/pwned"}, "prologue: unknown option"),
        ("sam", {}, "not a member of any project"),
    ],
)
@pytest.mark.hardening(
    "attack",
    "spawn options with a foreign project, an unknown partition, out-of-range sizes, "
    "#SBATCH lines smuggled in a value, cmd or prologue",
    "400 naming the option; no job submitted; no server",
)
def test_refused_options_submit_no_job(hub, user, options, message):
    before = session_job_ids(user)
    resp = hub.api("POST", f"/users/{user}/server", user, json=options)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["message"]
    # Finished jobs age out of squeue meanwhile (MinJobAge): only a new id is a failure.
    assert session_job_ids(user) - before == set()
    assert not hub.server(user)


@pytest.mark.hardening(
    "fault",
    "a starting session's job held by a used-up allocation, then scancelled during start-up",
    "the spawn page shows the pending reason; the spawn fails at once; the user can retry",
)
def test_pending_reason_shown_then_scancel_fails_fast_and_user_can_retry(hub):
    # A used-up allocation: Slurm holds the job with an AssocGrp...Minutes reason.
    assoc = ("user=bob", "account=ai-alpha", "cluster=aifactory")
    sh("sacctmgr", "-i", "modify", "user", "where", *assoc, "set", "GrpTRESMins=cpu=1")
    try:
        resp = hub.api(
            "POST",
            "/users/bob/server",
            "bob",
            json={"project": "ai-alpha", "cpus": 2, "walltime_hours": 1},
        )
        assert resp.status_code in (201, 202), resp.text
        events = progress_events(
            hub, "bob", timeout=60, stop_on=lambda e: "AssocGrp" in e.get("message", "")
        )
        message = events[-1]["message"]
        assert "pending (reason: AssocGrpCPUMinutesLimit" in message, message
        assert "allocation is used up" in message
        (job,) = session_jobs("bob")
        assert job["state"] == "PENDING"

        # The job is cancelled behind the hub's back: the spawn fails within seconds.
        started = time.monotonic()
        sh("scancel", job["id"])
        events = progress_events(hub, "bob", timeout=60, stop_on=lambda e: e.get("failed"))
        assert events[-1].get("failed"), events[-1]
        assert f"Slurm job {job['id']} ended before it started: CANCELLED" in events[-1]["message"]
        assert "You can start again now" in events[-1]["message"]
        assert time.monotonic() - started < 15
    finally:
        sh("sacctmgr", "-i", "modify", "user", "where", *assoc, "set", "GrpTRESMins=cpu=-1")
    # and at once a new session works
    resp = hub.api("POST", "/users/bob/server", "bob", json={"project": "ai-alpha"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("bob")
    hub.stop("bob")
    wait_no_jobs("bob")
