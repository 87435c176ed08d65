"""The sudo rules of a hub that does not run as root, tried for real: a throwaway service
account gets the rules `aifactory sudoers` renders, in a sudoers.d file of this test's own
(validated by visudo before it goes in, removed afterwards whatever happens), and then runs
sudo itself: what the spawner needs works through slurm.py's own sudo prefix, nothing else."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory_hub.ops import sudoers
from tests.stack import sh, wait_for

pytestmark = pytest.mark.slurm
HUB_USER = "aifactory-hubsvc"
ALICE_SCRIPT = """#!/bin/bash
#SBATCH --job-name={name}
#SBATCH --account=ai-alpha
#SBATCH --partition=cpu
#SBATCH --time=1
#SBATCH --hold
#SBATCH --chdir=/tmp
#SBATCH --output=/dev/null
sleep 1
"""


@pytest.fixture(scope="module")
def hub_user(demo_accounts) -> Iterator[pwd.struct_passwd]:
    """A system account for a non-root hub, made for this test and removed after it."""
    made = False
    try:
        pwd.getpwnam(HUB_USER)
    except KeyError:
        sh("/usr/sbin/useradd", "--system", "--no-create-home", "--home-dir", "/nonexistent",
           "--shell", "/usr/sbin/nologin", HUB_USER)  # fmt: skip
        made = True
    try:
        yield pwd.getpwnam(HUB_USER)
    finally:
        if made:
            subprocess.run(["/usr/sbin/userdel", HUB_USER], check=False, timeout=60)


@pytest.fixture(scope="module")
def installed(hub_user) -> Iterator[Path]:
    """The rendered rules in /etc/sudoers.d under a name of this test's own, removed after."""
    path = sudoers.SUDOERS_D / f"aifactory-test-sudoers-{uuid.uuid4().hex[:8]}"
    try:
        sudoers.install(sudoers.render(HUB_USER), path)
        yield path
    finally:
        path.unlink(missing_ok=True)
        for stale in sudoers.SUDOERS_D.glob(f".{path.name}.*"):
            stale.unlink()
    assert subprocess.run(["/usr/sbin/visudo", "-c"], capture_output=True).returncode == 0


def as_hub(
    hub_user: pwd.struct_passwd, argv: list[str], stdin: str = ""
) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/tmp",
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"},
        user=hub_user.pw_uid,
        group=hub_user.pw_gid,
        extra_groups=[],
    )


def test_without_the_rules_the_account_may_run_nothing(hub_user):
    """The baseline (runs before `installed` exists): the account alone has no sudo."""
    result = as_hub(hub_user, ["sudo", "-n", "-u", "alice", "/usr/bin/scancel", "1"])
    assert result.returncode != 0 and "password is required" in result.stderr


# What the spawner does, through slurm.py's own `sudo -n -E -u USER --` prefix.
SPAWNER = """
import sys
from aifactory_hub import slurm
alice = slurm.RunAs.lookup("alice")
if sys.argv[1] == "submit":
    out = slurm.run(["sbatch", "--parsable"], input=sys.stdin.read(), run_as=alice,
                    env={"JUPYTERHUB_API_TOKEN": "not-a-real-token"}).stdout
    print(out.strip())
else:
    slurm.run(["scancel", sys.argv[2]], run_as=alice)
"""


def job_fields(job: str) -> list[str]:
    """User, name and state of a job (squeue as root; a held job is not in sacct yet)."""
    return sh("squeue", "-h", "-t", "all", "-j", job, "-o", "%u|%j|%T").strip().split("|")


@pytest.mark.hardening(
    "attack",
    "a non-root hub's service account submits and cancels a session job as a researcher "
    "with the rendered sudo rules",
    "sbatch --parsable and scancel JOBID run as the researcher through slurm.py's sudo -n -E",
)
def test_the_spawners_commands_work_as_a_member_of_the_group(installed, hub_user):
    name = f"aif-sudoers-{uuid.uuid4().hex[:8]}"
    spawner = [sys.executable, "-c", SPAWNER]
    result = as_hub(hub_user, [*spawner, "submit"], ALICE_SCRIPT.format(name=name))
    assert result.returncode == 0, result.stderr
    job = result.stdout.strip()
    assert job.isdigit()
    try:
        # submitted as alice, not as the hub's account
        assert job_fields(job) == ["alice", name, "PENDING"]
        result = as_hub(hub_user, [*spawner, "cancel", job])
        assert result.returncode == 0, result.stderr
        wait_for(lambda: job_fields(job)[2] == "CANCELLED", 60, f"job {job} to be cancelled")
    finally:
        sh("scancel", job)


REFUSED = {
    "as-root": ["sudo", "-n", "-u", "root", "/usr/bin/sbatch", "--parsable"],
    "as-uid-0": ["sudo", "-n", "-u", "#0", "/usr/bin/scancel", "1"],
    "as-system-account-daemon": ["sudo", "-n", "-u", "daemon", "/usr/bin/scancel", "1"],
    "as-the-console-service-account": [
        "sudo", "-n", "-u", "aifactory-console", "/usr/bin/scancel", "1"],
    "a-shell": ["sudo", "-n", "-u", "alice", "/bin/sh", "-c", "touch {marker}"],
    "squeue-as-a-member": ["sudo", "-n", "-u", "alice", "/usr/bin/squeue"],
    "scontrol-as-a-member": ["sudo", "-n", "-u", "alice", "/usr/bin/scontrol", "show", "job"],
    "sbatch-with-other-arguments": [
        "sudo", "-n", "-u", "alice", "/usr/bin/sbatch", "--wrap=touch {marker}"],
    "scancel-of-every-job-of-the-user": ["sudo", "-n", "-u", "alice", "/usr/bin/scancel", "-u",
                                         "alice"],
    # (sudo lets -g name a group alice is already in: no gain; any other group is refused)
    "a-group-switch-to-root": ["sudo", "-n", "-u", "alice", "-g", "root", "/usr/bin/scancel", "1"],
    "a-group-switch-to-sudo": ["sudo", "-n", "-u", "alice", "-g", "sudo", "/usr/bin/scancel", "1"],
    "a-login-shell": ["sudo", "-n", "-i", "-u", "alice"],
}  # fmt: skip


@pytest.mark.hardening(
    "attack",
    "the non-root hub's service account uses its sudo rules for something else",
    "sudo refuses (root, system accounts, shells, other commands or arguments); nothing runs",
)
@pytest.mark.parametrize("case", list(REFUSED))
def test_anything_else_is_refused(installed, hub_user, case):
    marker = Path(f"/tmp/aif-sudoers-{uuid.uuid4().hex}")  # alice could write it, were it run
    argv = [part.replace("{marker}", str(marker)) for part in REFUSED[case]]
    result = as_hub(hub_user, argv)
    assert result.returncode != 0
    assert result.stderr.startswith("sudo: "), result.stderr
    assert "password is required" in result.stderr or "not allowed" in result.stderr
    assert not marker.exists()
    assert "{marker}" not in " ".join(REFUSED[case]) or argv != REFUSED[case]


@pytest.mark.hardening(
    "bad input",
    "sudo rules for root, a name with spaces, or text visudo rejects",
    "refused before anything is written; no file left in the target directory",
)
def test_broken_rules_are_never_written(tmp_path):
    with pytest.raises(sudoers.SudoersError):
        sudoers.render("root")
    with pytest.raises(sudoers.SudoersError):
        sudoers.render("hub svc")
    good = sudoers.render(HUB_USER, commands={"/usr/bin/scancel": "^[0-9]+$"})
    broken = good.replace("NOPASSWD:", "NOPASSWD")
    target = tmp_path / "aifactory-hub"
    with pytest.raises(sudoers.SudoersError, match="visudo"):
        sudoers.install(broken, target)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(sudoers.SudoersError, match="ignores"):
        sudoers.install(good, tmp_path / "aifactory.hub")
    assert sudoers.install(good, target) == target
    assert target.read_text() == good and (target.stat().st_mode & 0o777) == 0o440
    assert os.stat(target).st_uid == 0
