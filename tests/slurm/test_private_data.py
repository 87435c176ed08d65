"""Slurm's PrivateData on the local cluster, tried as the researchers themselves: alice sees
her own jobs and usage and none of bob's, with any client a login shell offers (squeue,
scontrol, sacct, sshare, sreport, sacctmgr). Every check first shows root does see bob's, so
an empty answer means "hidden", not "nothing there".

sreport's usage reports (`user TopUsage`, `cluster AccountUtilizationByUser`) are not among
the cases: they read slurmdbd's hourly roll-ups, which hold only completed hours, so on a fresh
cluster root's answer is empty for up to an hour after bob's job and alice's empty answer
would prove nothing. sreport's job reports (`job SizesByAccount`) read the job records
themselves, which hold bob's job as soon as sacct does (they count only jobs that ran for a
second or more, so bob's finished job runs for 2 s): the control holds on a fresh machine.
What usage PrivateData hides is checked with sshare (slurmctld's usage of bob's association)."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator

import pytest

from aifactory_hub.slurm import RunAs
from tests.stack import sh, submit, wait_finished, wait_for

pytestmark = pytest.mark.slurm
SINCE = "now-7days"


def as_user(user: str, *argv: str) -> subprocess.CompletedProcess:
    """A Slurm client run as `user` (setuid in the child, as the hub does), no shell."""
    who = RunAs.lookup(user)
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/tmp",
        env={"PATH": "/usr/bin:/bin", "HOME": who.home, "USER": user, "LANG": "C.UTF-8"},
        user=who.uid,
        group=who.gid,
        extra_groups=[],
    )


@pytest.fixture(scope="module")
def bobs_jobs(demo_accounts) -> Iterator[dict[str, str]]:
    """A finished job of bob's (in accounting) and a held one (in the queue)."""
    name = f"aif-private-{uuid.uuid4().hex[:8]}"
    common = ("--account=ai-alpha", "--partition=cpu", "--time=1", "--output=/dev/null",
              f"--job-name={name}", "--chdir=/tmp")  # fmt: skip
    # it runs 2 s: sreport's job reports count only jobs that ran for a second or more
    done = str(submit("bob", *common, "--wrap=sleep 2"))
    held = str(submit("bob", *common, "--hold", "--wrap=true"))
    try:
        wait_finished(done)
        # a job that ended this second is not in a -S/-E window query yet
        window = ("sacct", "-n", "-P", "-X", "-u", "bob", "-S", SINCE, "-o", "JobID")
        wait_for(lambda: done in sh(*window).split(), 30, f"job {done} in sacct's window")
        yield {"name": name, "done": done, "held": held}
    finally:
        sh("scancel", held)


CASES = {
    "squeue-all": (("squeue", "-h", "-o", "%i|%u"), "held"),
    "squeue-of-bob": (("squeue", "-h", "-u", "bob", "-t", "all", "-o", "%i|%u"), "held"),
    "squeue-by-name": (("squeue", "-h", "-n", "{name}", "-t", "all", "-o", "%i|%u"), "held"),
    "scontrol-show-job": (("scontrol", "show", "job", "{held}"), "held"),
    "scontrol-show-all-jobs": (("scontrol", "-o", "show", "job"), "held"),
    "sacct-of-bob": (("sacct", "-n", "-P", "-X", "-u", "bob", "-S", SINCE, "-o", "JobID,User"),
                     "done"),
    "sacct-allusers": (("sacct", "-n", "-P", "-X", "-a", "-S", SINCE, "-o", "JobID,User"), "done"),
    "sacct-by-job-id": (("sacct", "-n", "-P", "-X", "-j", "{done}", "-o", "JobID,User"), "done"),
    "sacct-json": (("sacct", "--json", "-j", "{done}"), "done"),
    "sshare-all": (("sshare", "-a", "-h", "-P"), "bob"),
    "sshare-of-bob": (("sshare", "-h", "-P", "-u", "bob"), "bob"),
    "sreport-job-sizes-of-bob": (("sreport", "-n", "-P", "job", "SizesByAccount", "users=bob",
                                  "PrintJobCount", "FlatView", f"start={SINCE}", "end=now"),
                                 "counted"),
    "sreport-job-sizes-of-ai-alpha-by-bob": (("sreport", "-n", "-P", "job", "SizesByAccount",
                                              "users=bob", "accounts=ai-alpha", "PrintJobCount",
                                              f"start={SINCE}", "end=now"), "counted"),
    "sacctmgr-associations": (("sacctmgr", "-n", "-P", "show", "assoc", "format=Account,User"),
                              "bob"),
    "sacctmgr-users": (("sacctmgr", "-n", "-P", "show", "user", "format=User"), "bob"),
}  # fmt: skip


def leaked(output: str, what: str, jobs: dict[str, str]) -> bool:
    """Does `output` show bob's job (by id), bob's name, or (`counted`: a job report asked
    for bob's jobs only) any job counted, as the case looks for?"""
    if what == "bob":
        return any("bob" in line.split("|") for line in output.splitlines())
    if what == "counted":  # cluster|account|<jobs per size bin>...|% of cluster
        return any(
            sum(int(n) for n in line.split("|")[2:-1] if n.isdigit()) > 0
            for line in output.splitlines()
        )
    job = jobs[what]
    return any(
        job in (line.split("|")[0], *line.split())
        or f"JobId={job} " in line
        or f'"job_id": {job},' in line
        for line in output.splitlines()
    )


@pytest.mark.hardening(
    "attack",
    "researcher alice lists bob's jobs, accounting, fair share and usage with the Slurm clients",
    "only her own: bob's jobs and usage are hidden (PrivateData), root still sees them",
)
@pytest.mark.parametrize("case", list(CASES))
def test_alice_sees_nothing_of_bobs(bobs_jobs, case):
    argv, what = CASES[case]
    argv = tuple(a.format(**bobs_jobs) for a in argv)
    # the control: root's answer to the same question does show bob's
    assert leaked(sh(*argv), what, bobs_jobs), f"root sees nothing of bob's in {argv}"
    mine = as_user("alice", *argv)
    assert not leaked(mine.stdout, what, bobs_jobs), mine.stdout[:1000]
    if case in ("squeue-all", "sacct-allusers", "sshare-all", "sacctmgr-associations"):
        # what she does see is her own (or nothing)
        users = {f for line in mine.stdout.splitlines() for f in line.split("|")[1:2]}
        assert users <= {"alice", ""}, users


def test_bob_himself_sees_his_jobs(bobs_jobs):
    """The other side of the control: the same clients show bob his own."""
    out = as_user("bob", "squeue", "-h", "-n", bobs_jobs["name"], "-t", "all", "-o", "%i").stdout
    assert bobs_jobs["held"] in out.split()
    out = as_user("bob", "sacct", "-n", "-P", "-X", "-j", bobs_jobs["done"], "-o", "JobID").stdout
    assert out.split() == [bobs_jobs["done"]]
