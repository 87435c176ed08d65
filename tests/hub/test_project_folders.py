"""Real stack: project folders on the local factory. A project provisioned through the factory
gets its POSIX group and private folders; its PI adds and removes members through the factory
API, and the member's next Slurm job can or cannot write there; other researchers and the
console's service account cannot enter; ending the project empties the group and keeps the
data; staff removal deletes folders and group. Jobs run as the users, on the cluster's nodes."""

from __future__ import annotations

import grp
import os
import pwd
import secrets
import stat
import subprocess
import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from aifactory_hub import slurm
from aifactory_hub.access import projects as prj
from aifactory_hub.data import folder, folders
from aifactory_hub.store import db as store_db
from aifactory_hub.store import models as m
from tests.access import api, ok
from tests.stack import sh, submit, wait_finished

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
NAME = "af-data-test"  # our jobs' name: other suites look for jupyterhub-session jobs only


@pytest.fixture
def store(hub_site):
    site, _ = hub_site
    return store_db.session_factory(store_db.make_engine(site.services.store_url))


def job(user: str, account: str, command: str) -> tuple[str, str]:
    """Run `command` (this test's own text) as `user` in a Slurm job charged to `account`;
    (end state, output)."""
    out = Path("/tmp") / f"{NAME}-{secrets.token_hex(4)}.out"
    args = [f"--account={account}", "--partition=cpu", "--cpus-per-task=1", "--mem=200M",
            "--time=2", f"--job-name={NAME}", f"--output={out}", f"--wrap={command}"]  # fmt: skip
    number = submit(user, *args)
    state = wait_finished(str(number))[str(number)]
    try:
        return state.split()[0], out.read_text()
    finally:
        out.unlink(missing_ok=True)


def members(account: str) -> set[str]:
    return set(grp.getgrnam(account).gr_mem)


def outlast_slurms_group_cache() -> None:
    """Slurm caches a user's groups for GroupUpdateTime (the local cluster sets 5 s): a
    membership change reaches jobs submitted after that."""
    line = next(x for x in sh("scontrol", "show", "config").splitlines() if "GroupUpdateTime" in x)
    time.sleep(int(line.split("=")[1].split()[0]) + 1)


@pytest.fixture
def project(hub, hub_site, store):
    """alice's new project (alice its PI, bob's default account stays ai-alpha), provisioned
    with its group and folders; everything it made is removed afterwards."""
    site, _ = hub_site
    account = f"t-data-{secrets.token_hex(3)}"
    today = date.today()
    with store.begin() as db:
        made = m.Project(
            account=account, title="Shared data", organisation="Alpha Robotics", pi="alice",
            access_mode="fast_lane", starts_on=today, ends_on=today + timedelta(days=30),
            status="active",
        )  # fmt: skip
        made.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=5)]
        made.members = [m.Member(username="alice", role="pi", added_by="tests")]
        db.add(made)
    done, error = prj.provision_project(store, site.site.cluster, account, storage=site.storage)
    assert done, error
    yield account
    for number in sh("squeue", "-h", "-A", account, "-o", "%i").split():
        sh("scancel", number)
    slurm.run(["sacctmgr", "-i", "delete", "account", f"name={account}"], check=False)
    folders.remove(site.storage, account)


def test_a_new_projects_folders_are_private_to_its_group_and_setgid(hub_site, project):
    site, _ = hub_site
    gid = grp.getgrnam(project).gr_gid
    assert members(project) == {"alice"}
    assert site.storage.group_gid_min <= gid <= site.storage.group_gid_max
    for which in ("project", "scratch"):
        info = os.stat(folder(site.storage, which, project))
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, gid, 0o2770)


def test_a_member_added_by_the_pi_writes_from_their_next_job_and_a_removed_one_cannot(
    hub, hub_site, project
):
    site, _ = hub_site
    path = Path(folder(site.storage, "project", project))
    ok(api(hub, "POST", f"projects/{project}/members", "alice", json={"username": "bob"}))
    assert members(project) == {"alice", "bob"}
    outlast_slurms_group_cache()
    state, output = job("bob", project, f"id -Gn && echo results > {path}/bob.txt")
    assert state == "COMPLETED", output
    made = os.stat(path / "bob.txt")
    assert made.st_uid == pwd.getpwnam("bob").pw_uid
    assert made.st_gid == grp.getgrnam(project).gr_gid  # the setgid folder makes it the project's
    assert stat.S_IMODE(made.st_mode) & 0o060 == 0o060  # the default ACL: members may edit it
    # alice, the PI, can change bob's file: shared writes whatever bob's umask was.
    state, output = job("alice", project, f"echo edited >> {path}/bob.txt")
    assert state == "COMPLETED", output

    answer = api(hub, "DELETE", f"projects/{project}/members/bob", "alice")
    assert answer.status_code == 200, answer.text
    assert members(project) == {"alice"}
    outlast_slurms_group_cache()
    # bob's next job (charged to a project he still has) cannot enter the folder.
    state, output = job("bob", "ai-alpha", f"ls {path}")
    assert state == "FAILED" and "Permission denied" in output, output


def test_other_researchers_and_the_console_account_cannot_enter(hub_site, project):
    site, _ = hub_site
    path = Path(folder(site.storage, "project", project))
    Path(path / "secret.txt").write_text("model weights\n")  # data to hide
    os.chown(path / "secret.txt", 0, grp.getgrnam(project).gr_gid)
    state, output = job("carol", "ai-beta", f"ls {path}; cat {path}/secret.txt")
    assert state == "FAILED" and output.count("Permission denied") == 2, output
    console = site.services.console_user
    for argv in (["ls", str(path)], ["cat", str(path / "secret.txt")]):
        seen = subprocess.run(["runuser", "-u", console, "--", *argv], capture_output=True,
                              text=True, timeout=30)  # fmt: skip
        assert seen.returncode != 0 and "Permission denied" in seen.stderr
    listing = subprocess.run(["runuser", "-u", console, "--", "ls", site.storage.project_root],
                             capture_output=True, text=True, timeout=30)  # fmt: skip
    assert listing.returncode != 0, "the projects' root must not list project names"


def test_ending_a_project_empties_its_group_keeps_its_data_and_staff_remove_it_after_retention(
    hub, hub_site, store, project
):
    site, _ = hub_site
    path = Path(folder(site.storage, "project", project))
    (path / "keep.txt").write_text("kept for the retention period\n")
    ok(api(hub, "POST", f"projects/{project}/end", "sam"))
    assert members(project) == set()
    assert (path / "keep.txt").exists()
    early = api(hub, "POST", f"projects/{project}/data/remove", "sam")
    assert early.status_code == 409 and "is kept until" in early.text
    assert path.exists()
    with store.begin() as db:  # as if the retention period had passed
        ended = db.query(m.Project).filter_by(account=project).one()
        ended.ended_at = ended.ended_at - timedelta(days=site.storage.retention_days + 1)
    removed = ok(api(hub, "POST", f"projects/{project}/data/remove", "sam"))
    assert removed["data_removed_at"]
    assert not path.exists() and not Path(folder(site.storage, "scratch", project)).exists()
    with pytest.raises(KeyError):
        grp.getgrnam(project)


def test_a_project_named_like_a_system_group_is_refused_before_anything_changes(
    hub, hub_site, store
):
    """`users` (GID 100) exists on every Debian machine: a project of that name must not get
    its members, and Slurm must not get the account either."""
    site, _ = hub_site
    before = grp.getgrnam("users")
    today = date.today()
    with store.begin() as db:
        made = m.Project(
            account="users", title="Named like a system group", organisation="x", pi="alice",
            access_mode="fast_lane", starts_on=today, ends_on=today + timedelta(days=1),
        )  # fmt: skip
        made.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=1)]
        made.members = [m.Member(username="alice", role="pi", added_by="tests")]
        db.add(made)
    try:
        done, error = prj.provision_project(store, site.site.cluster, "users", storage=site.storage)
        assert not done and "not a project's group" in error
        assert grp.getgrnam("users") == before
        accounts = sh("sacctmgr", "-n", "-P", "show", "account", "users", "format=Account")
        assert accounts.strip() == ""
        assert not Path(folder(site.storage, "project", "users")).exists()
    finally:
        with store.begin() as db:
            db.delete(db.query(m.Project).filter_by(account="users").one())
