"""A staging copy on the real local cluster, run as researcher alice the way her session's
kernel does it: `aifactory_hub.data.staging` checks the request and submits with her own
identity, the job copies on a compute node, and the copy lands in ai-alpha's project folder
owned by her, group ai-alpha: bob (a member) reads it, carol (ai-beta only) cannot. A request
into ai-beta's folder (not her project) is refused before any job."""

from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory_hub.data import folder, staging
from tests.stack import sh, wait_finished

pytestmark = pytest.mark.slurm

# What the kernel does, run as alice: check the fields, then submit (or say which field).
KERNEL = r"""
import json, sys
from aifactory_hub.data import staging
from aifactory_hub.site import Partition, StorageSettings
a = json.loads(sys.argv[1])
try:
    req = staging.check_request(
        StorageSettings(**a["storage"]), a["accounts"], source=a["source"],
        account=a["account"], folder=a["folder"], subdir=a["subdir"], home=a["home"])
    job = staging.submit(req, Partition(**a["partition"]), a["home"], minutes=10)
    print(json.dumps({"job": job, "copy": req.copy_path}))
except staging.StagingError as exc:
    print(json.dumps({"field": exc.field, "error": str(exc)}))
"""


def as_user(user: str, argv: list[str], check: bool = True) -> subprocess.CompletedProcess:
    """`argv` run as `user` with their groups (setuid in the child, as the hub does)."""
    who = pwd.getpwnam(user)
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/tmp",
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": who.pw_dir,
            "USER": user,
            "LOGNAME": user,
            "LANG": "C.UTF-8",
        },
        user=who.pw_uid,
        group=who.pw_gid,
        extra_groups=os.getgrouplist(user, who.pw_gid),
        check=check,
    )


def stage_as(user: str, site, **fields) -> dict:
    """The kernel's check and submit, as `user`; their answer."""
    accounts = fields.pop("accounts", [p.account for p in site.projects_of(user)])
    account = fields["account"]
    usable = [site.partition(n) for p in site.projects if p.account == account
              for n in p.partitions] or list(site.partitions)  # fmt: skip
    request = {
        "storage": site.storage.model_dump(),
        "accounts": accounts,
        "partition": staging.staging_partition(usable).model_dump(),
        "home": pwd.getpwnam(user).pw_dir,
        "subdir": "",
        "folder": "project",
        **fields,
    }
    out = as_user(user, [sys.executable, "-c", KERNEL, json.dumps(request)]).stdout
    return json.loads(out.strip().splitlines()[-1])


def stage_jobs(user: str) -> list[str]:
    return sh("squeue", "-h", "-u", user, "-n", staging.JOB_NAME, "-t", "all", "-o", "%i").split()


@pytest.fixture
def alices_file(demo_accounts) -> Iterator[Path]:
    """A private file of alice's, made as root and given to her."""
    alice = pwd.getpwnam("alice")
    path = Path(alice.pw_dir, f"stage-me-{uuid.uuid4().hex[:8]}.bin")
    path.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    os.chown(path, alice.pw_uid, alice.pw_gid)
    path.chmod(0o600)
    yield path
    path.unlink(missing_ok=True)


def test_a_staging_job_copies_a_file_as_the_user_into_the_project_folder(
    local_cluster, alices_file
):
    subdir = f"staged-{uuid.uuid4().hex[:8]}/raw"
    project = Path(folder(local_cluster.storage, "project", "ai-alpha"))
    answer = stage_as("alice", local_cluster, source=f"~/{alices_file.name}",
                      account="ai-alpha", subdir=subdir)  # fmt: skip
    assert "job" in answer, answer
    job = answer["job"]
    log = Path(staging.log_path(pwd.getpwnam("alice").pw_dir, job))
    try:
        assert wait_finished(job) == {job: "COMPLETED"}
        copy = project / subdir / alices_file.name
        assert answer["copy"] == str(copy)
        assert copy.read_bytes() == alices_file.read_bytes()
        info = copy.stat()
        assert pwd.getpwuid(info.st_uid).pw_name == "alice"
        assert grp.getgrgid(info.st_gid).gr_name == "ai-alpha"  # the project's, not hers
        assert info.st_mode & 0o777 == 0o660  # shared with the members, closed to others
        size = alices_file.stat().st_size
        assert as_user("bob", ["wc", "-c", str(copy)]).stdout.split()[0] == str(size)  # a member
        refused = as_user("carol", ["wc", "-c", str(copy)], check=False)  # of ai-beta only
        assert refused.returncode != 0 and "Permission denied" in refused.stderr
        made = (project / subdir).stat()
        assert grp.getgrgid(made.st_gid).gr_name == "ai-alpha" and made.st_mode & 0o2000
        account = sh("sacct", "-n", "-P", "-X", "-j", job, "-o", "Account,User").split()
        assert account == ["ai-alpha|alice"]  # charged to the project, run as her
        progress = staging.parse_progress(log.read_text())
        # rsync's last progress line, or the Python copy's
        assert (progress.bytes, progress.percent) == (size, 100), log.read_text()
        assert pwd.getpwuid(log.stat().st_uid).pw_name == "alice"
    finally:
        shutil.rmtree(project / subdir.split("/")[0], ignore_errors=True)
        log.unlink(missing_ok=True)


@pytest.mark.hardening(
    "bad input",
    "alice stages a file into ai-beta's project folder (not her project), claims ai-beta as "
    "hers, and names a symlink to ai-beta's data as her source",
    "each refused before any job, the field named; ai-beta's folder unchanged",
)
def test_staging_into_or_out_of_another_projects_folder_is_refused_before_any_job(
    local_cluster, alices_file
):
    beta = Path(folder(local_cluster.storage, "project", "ai-beta"))
    before = sorted(os.listdir(beta))
    jobs_before = stage_jobs("alice")
    source = f"~/{alices_file.name}"
    answer = stage_as("alice", local_cluster, source=source, account="ai-beta")
    assert answer["field"] == "account" and "not one of your projects" in answer["error"]
    # Even if the list of her projects said so, the filesystem does not let her in.
    answer = stage_as("alice", local_cluster, source=source, account="ai-beta",
                      accounts=["ai-alpha", "ai-beta"])  # fmt: skip
    assert answer == {
        "field": "account",
        "error": f"account: you may not write ai-beta's project folder ({beta})",
    }
    link = alices_file.with_suffix(".link")
    link.symlink_to(beta / "anything")
    os.lchown(link, pwd.getpwnam("alice").pw_uid, pwd.getpwnam("alice").pw_gid)
    try:
        answer = stage_as("alice", local_cluster, source=f"~/{link.name}", account="ai-alpha")
        assert answer["field"] == "source" and "a folder of ai-beta, not yours" in answer["error"]
    finally:
        link.unlink()
    assert stage_jobs("alice") == jobs_before
    assert sorted(os.listdir(beta)) == before


def test_a_copy_into_scratch_is_dated_now_so_the_purge_counts_from_the_copy(
    local_cluster, alices_file
):
    old = alices_file.stat().st_mtime - 90 * 86400  # older than any purge age
    os.utime(alices_file, (old, old))
    scratch = Path(folder(local_cluster.storage, "scratch", "ai-alpha"))
    subdir = f"staged-{uuid.uuid4().hex[:8]}"
    answer = stage_as("alice", local_cluster, source=str(alices_file), account="ai-alpha",
                      folder="scratch", subdir=subdir)  # fmt: skip
    job = answer["job"]
    try:
        assert wait_finished(job) == {job: "COMPLETED"}
        copy = scratch / subdir / alices_file.name
        assert copy.read_bytes() == alices_file.read_bytes()
        assert copy.stat().st_mtime > old + 80 * 86400
        assert grp.getgrgid(copy.stat().st_gid).gr_name == "ai-alpha"
    finally:
        shutil.rmtree(scratch / subdir, ignore_errors=True)
        Path(staging.log_path(pwd.getpwnam("alice").pw_dir, job)).unlink(missing_ok=True)
