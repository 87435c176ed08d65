"""Slurm's PrivateData on the local cluster, tried as the researchers themselves: alice sees
her own jobs and usage and none of bob's, with the clients a login shell offers (squeue,
scontrol, sacct, sshare, sacctmgr; sreport: below). Every check first shows root does see bob's, so
an empty answer means "hidden", not "nothing there".

sreport is not among the clients tried: no sreport report can show root bob's job within the
test's time on a fresh cluster, so alice's empty answer would prove nothing. Its usage reports
(`user TopUsage`, `cluster AccountUtilizationByUser`) read slurmdbd's hourly roll-ups, which
hold completed hours only; its job reports (`job SizesByAccount`) read the job records but
round the period to whole hours, ending at the last hour boundary before now until the half
hour (and count only jobs that ran a second or more). The same records are asked for with
sacct instead (jobs and their usage, `sacct-usage-of-all`), and the usage PrivateData hides
with sshare (slurmctld's usage of bob's association)."""

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
    done = str(submit("bob", *common, "--wrap=true"))
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
    "sacct-usage-of-all": (("sacct", "-n", "-P", "-X", "-a", "-S", SINCE, "-o",
                            "JobID,User,Account,CPUTimeRAW,TRESUsageInTot"), "done"),
    "sacctmgr-associations": (("sacctmgr", "-n", "-P", "show", "assoc", "format=Account,User"),
                              "bob"),
    "sacctmgr-users": (("sacctmgr", "-n", "-P", "show", "user", "format=User"), "bob"),
}  # fmt: skip


def leaked(output: str, what: str, jobs: dict[str, str]) -> bool:
    """Does `output` show bob's job (by id) or bob's name, as the case looks for?"""
    if what == "bob":
        return any("bob" in line.split("|") for line in output.splitlines())
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
    if case in (
        "squeue-all",
        "sacct-allusers",
        "sacct-usage-of-all",
        "sshare-all",
        "sacctmgr-associations",
    ):
        # what she does see is her own (or nothing)
        users = {f for line in mine.stdout.splitlines() for f in line.split("|")[1:2]}
        assert users <= {"alice", ""}, users


def test_bob_himself_sees_his_jobs(bobs_jobs):
    """The other side of the control: the same clients show bob his own."""
    out = as_user("bob", "squeue", "-h", "-n", bobs_jobs["name"], "-t", "all", "-o", "%i").stdout
    assert bobs_jobs["held"] in out.split()
    out = as_user("bob", "sacct", "-n", "-P", "-X", "-j", bobs_jobs["done"], "-o", "JobID").stdout
    assert out.split() == [bobs_jobs["done"]]
