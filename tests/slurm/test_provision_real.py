"""Provisioning a grant into the real local Slurm: slurmctld then enforces members, partitions
and the CPU-minute quota itself. Each test works on its own throw-away `t-prov-*` account."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pytest

from aifactory_hub import slurm
from aifactory_hub.access.provision import Grant, apply, plan
from aifactory_hub.site import Site
from aifactory_hub.slurm import SlurmError
from aifactory_hub.slurm.sacctmgr import SACCTMGR, Step, read_state
from tests.slurm.test_localcluster import submit, wait_for_job

pytestmark = pytest.mark.slurm
Record = list[tuple[str, str, str]]  # (action, "done" | "failed", error text)
T = TypeVar("T")


def job_args(account: str, *args: str) -> list[str]:
    return [f"--account={account}", "--partition=cpu", "--output=/dev/null", *args, "--wrap=true"]


def show_assoc(cluster: str, account: str) -> set[tuple[str, ...]]:
    """(User, Partition, GrpTRESMins, QOS, DefaultQOS) of every association of `account`."""
    out = slurm.run([
        "sacctmgr", "-n", "-P", "show", "association", f"Cluster={cluster}", f"Account={account}",
        "format=User,Partition,GrpTRESMins,QOS,DefaultQOS",
    ]).stdout  # fmt: skip
    return {tuple(line.split("|")) for line in out.splitlines() if line}


def default_accounts(*users: str) -> dict[str, str]:
    out = slurm.run(["sacctmgr", "-n", "-P", "show", "user", "format=User,DefaultAccount"]).stdout
    rows = (line.split("|") for line in out.splitlines() if line)
    return {user: account for user, account in rows if user in users}


def cancel_jobs(account: str) -> None:
    """Cancel this test account's jobs by id and wait until they have ended."""
    jobs = slurm.run(["squeue", "-h", f"--account={account}", "-o", "%i"]).stdout.split()
    if jobs:
        slurm.run(["scancel", *jobs])
        for job in jobs:
            wait_for_job(int(job))


def eventually(probe: Callable[[], T | None], what: str, timeout: float = 30) -> T:
    """The first answer of `probe` that is not None, asked every half second."""
    deadline = time.monotonic() + timeout
    while (answer := probe()) is None:
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.5)
    return answer


def state_and_reason(job: int) -> tuple[str, str]:
    """squeue's (state, reason) of a job, once the scheduler has looked at it."""

    def probe() -> tuple[str, str] | None:
        out = slurm.run(["squeue", "-h", "-j", str(job), "-o", "%T|%r"]).stdout.strip()
        state, reason = out.split("|")
        return None if (state, reason) == ("PENDING", "None") else (state, reason)

    return eventually(probe, f"a reason for job {job}")


def wait_for_accounting(job: int) -> None:
    """Wait until slurmdbd has the job (slurmctld reports it there asynchronously)."""
    sacct = ["sacct", "-n", "-X", "-j", str(job), "-o", "JobID"]
    eventually(lambda: slurm.run(sacct).stdout.strip() or None, f"job {job} in slurmdbd")


@pytest.fixture
def new_grant(local_cluster: Site, demo_accounts) -> Iterator[Callable[..., Grant]]:
    """Makes grants on fresh `t-prov-<random>` accounts; deletes those accounts afterwards."""
    made: list[str] = []

    def make(**changes) -> Grant:
        account = f"t-prov-{secrets.token_hex(4)}"
        made.append(account)
        fields = {
            "account": account, "title": "Provisioning test", "organisation": "AI Factory tests",
            "access_mode": "playground", "members": ("alice", "bob"), "partitions": ("cpu",),
            "gpu_hours": 0.0, "cpu_hours": 0.05,  # 3 CPU-minutes
        } | changes  # fmt: skip
        return Grant(**fields)

    yield make
    for account in made:
        cancel_jobs(account)
        out = slurm.run(["sacctmgr", "-n", "-P", "show", "account", account, "format=Account"])
        if out.stdout.strip():
            slurm.run([*SACCTMGR, "delete", "account", "where", f"Name={account}"])


def run_apply(grant: Grant, cluster: str) -> tuple[list[Step], Record]:
    """apply() with its record kept: (steps, [(action, status, error)])."""
    record: Record = []
    steps = apply(
        grant, cluster, lambda step, status, err: record.append((step.action, status, err))
    )
    return steps, record


def test_a_grant_becomes_an_account_with_limits_qos_and_member_partitions(local_cluster, new_grant):
    cluster = local_cluster.site.cluster
    grant = new_grant()
    steps, record = run_apply(grant, cluster)
    assert [(action, status) for action, status, _ in record] == [(s.action, "done") for s in steps]
    assert {s.action for s in steps} >= {"add account", "set limits", "add member"}
    qos = ("af-playground", "af-playground")
    assert show_assoc(cluster, grant.account) == {
        ("", "", "cpu=3,gres/gpu=0", *qos),  # the account: the quota counts everyone's jobs
        ("alice", "cpu", "", *qos),  # the members: cpu only, the QOS inherited
        ("bob", "cpu", "", *qos),
    }
    # Both already had a default project; the grant does not take it over.
    assert default_accounts("alice", "bob") == {"alice": "ai-alpha", "bob": "ai-alpha"}


def test_slurm_enforces_members_partitions_and_the_cpu_minute_quota(local_cluster, new_grant):
    cluster = local_cluster.site.cluster
    grant = new_grant()
    run_apply(grant, cluster)
    acct = grant.account

    # --time=1: 1 CPU-minute of the 3. Without it a job asks for the partition's 12 h (there
    # is no DefaultTime), 720 CPU-minutes, and waits for ever like the one further down.
    job = submit("alice", *job_args(acct, "--time=1"))
    assert wait_for_job(job)["JobState"] == "COMPLETED"
    assert wait_for_job(submit("bob", *job_args(acct, "--time=1")))["JobState"] == "COMPLETED"

    with pytest.raises(SlurmError) as err:  # carol is not a member
        submit("carol", *job_args(acct, "--time=1"))
    assert "Invalid account or account/partition combination" in err.value.stderr
    with pytest.raises(SlurmError) as err:  # a member, on a partition not granted
        submit("alice", f"--account={acct}", "--partition=gpu", "--time=1", "--wrap=true")
    assert "Invalid account or account/partition combination" in err.value.stderr

    # 10 CPU-minutes asked, 3 granted. Seen on Slurm 22.05 with
    # AccountingStorageEnforce=...,limits,safe: sbatch ACCEPTS the job (safe does not refuse at
    # submit; only a QOS with DenyOnLimit would) and it stays PENDING with the reason
    # AssocGrpCPUMinutesLimit, never started, so it can never be killed half-way by the quota.
    job = submit("alice", *job_args(acct, "--time=10", "--cpus-per-task=1"))
    assert state_and_reason(job) == ("PENDING", "AssocGrpCPUMinutesLimit")
    time.sleep(2)  # ... and it stays there
    assert state_and_reason(job) == ("PENDING", "AssocGrpCPUMinutesLimit")
    slurm.run(["scancel", str(job)])
    assert wait_for_job(job)["JobState"] == "CANCELLED"


def test_provisioning_twice_changes_nothing(local_cluster, new_grant):
    cluster = local_cluster.site.cluster
    grant = new_grant()
    run_apply(grant, cluster)
    before = show_assoc(cluster, grant.account), default_accounts("alice", "bob")
    assert plan(grant, cluster, read_state(cluster)) == []
    assert run_apply(grant, cluster) == ([], [])
    assert (show_assoc(cluster, grant.account), default_accounts("alice", "bob")) == before


def test_a_changed_grant_is_applied_as_a_difference(local_cluster, new_grant):
    cluster = local_cluster.site.cluster
    grant = new_grant()
    run_apply(grant, cluster)
    changed = replace(grant, members=("alice",), cpu_hours=1.0)
    steps, _ = run_apply(changed, cluster)
    assert [s.action for s in steps] == ["set limits", "remove member"]
    assert show_assoc(cluster, grant.account) == {
        ("", "", "cpu=60,gres/gpu=0", "af-playground", "af-playground"),
        ("alice", "cpu", "", "af-playground", "af-playground"),
    }
    assert default_accounts("bob") == {"bob": "ai-alpha"}  # bob keeps his other projects


def test_an_ended_project_keeps_its_account_with_zero_limits_and_no_members(
    local_cluster, new_grant
):
    cluster = local_cluster.site.cluster
    grant = new_grant()
    run_apply(grant, cluster)
    # bob has a job waiting (over the quota): slurmdbd will not remove his association yet.
    job = submit("bob", *job_args(grant.account, "--time=10"))
    wait_for_accounting(job)  # slurmdbd checks its own job table, which lags behind sbatch
    ended = replace(grant, active=False)

    record: Record = []
    with pytest.raises(SlurmError) as refused:
        apply(ended, cluster, lambda step, status, err: record.append((step.action, status, err)))
    # sacctmgr refuses to remove a user whose job still runs under the association
    assert (
        refused.value.argv[0] == "sacctmgr"
        and "active" in refused.value.stdout + refused.value.stderr
    )
    # The limits are zeroed and alice removed; bob's remove failed, and the run stopped there.
    assert [(action, status) for action, status, _ in record] == [
        ("set limits", "done"), ("remove member", "done"), ("remove member", "failed"),
    ]  # fmt: skip
    assert "Job(s) active, cancel job(s) before remove" in record[-1][2]

    slurm.run(["scancel", str(job)])
    wait_for_job(job)
    steps, record = run_apply(ended, cluster)  # the re-run does only what is missing
    assert [(s.action, s.argv[5]) for s in steps] == [("remove member", "Name=bob")]
    assert [status for _, status, _ in record] == ["done"]

    assert show_assoc(cluster, grant.account) == {
        ("", "", "cpu=0,gres/gpu=0", "af-playground", "af-playground"),
    }
    out = slurm.run(["sacctmgr", "-n", "-P", "show", "account", grant.account, "format=Account"])
    assert out.stdout.split() == [grant.account]  # the account, and its history, stay
    with pytest.raises(SlurmError) as err:
        submit("alice", *job_args(grant.account, "--time=1"))
    assert "Invalid account" in err.value.stderr
    assert default_accounts("alice", "bob") == {"alice": "ai-alpha", "bob": "ai-alpha"}
    assert plan(ended, cluster, read_state(cluster)) == []
