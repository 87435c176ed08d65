"""Real stack: storage use. A Slurm job run as alice (a member of ai-alpha) fills a folder in
ai-alpha's project folder (files, a subfolder, a sparse file, a hard link, links out of the
folder); staff's "measure now" on the test hub's factory service walks it, and the quota
answer's figures match `du -s --block-size=1` and `find | wc -l` of the project folder. In
ai-alpha's scratch folder, a file alice dated older than the purge age is removed by the same
pass, and her fresh one stays. The job's files are removed afterwards."""

from __future__ import annotations

import pwd
import secrets
import shutil
import subprocess
from pathlib import Path

import pytest

from aifactory_hub.data import folder
from tests.access import api, ok
from tests.stack import submit, wait_finished

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
NAME = "af-storage-test"  # our jobs' name: other suites look for jupyterhub-session jobs only
ACCOUNT = "ai-alpha"


def as_alice(command: str) -> None:
    """Run `command` (this test's own text) as alice in a Slurm job charged to ai-alpha."""
    args = [f"--account={ACCOUNT}", "--partition=cpu", "--cpus-per-task=1", "--mem=200M",
            "--time=2", f"--job-name={NAME}", "--output=/dev/null", "--chdir=/tmp",
            f"--wrap={command}"]  # fmt: skip
    number = submit("alice", *args)
    state = wait_finished(str(number))[str(number)]
    assert state.split()[0] == "COMPLETED", state


def du(path: Path) -> int:
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True, timeout=120).stdout  # fmt: skip
    return int(out.split()[0])


def find_count(path: Path) -> int:
    out = subprocess.run(["find", str(path)], capture_output=True, text=True, check=True,
                         timeout=120).stdout  # fmt: skip
    return len(out.splitlines())


def measure_now(hub) -> dict:
    state = ok(api(hub, "POST", "usage/storage", "sam"))
    assert state["last_error"] == "" and not state["stale"], state
    return state


def alpha_storage(hub) -> dict:
    return ok(api(hub, "GET", f"usage/projects/{ACCOUNT}", "alice"))["project"]["storage"]


@pytest.fixture
def folders(hub_site):
    """ai-alpha's project and scratch folders (made by `up`), and this test's subfolder name;
    whatever the test's job wrote there is removed afterwards."""
    site, _ = hub_site
    project = Path(folder(site.storage, "project", ACCOUNT))
    scratch = Path(folder(site.storage, "scratch", ACCOUNT))
    assert project.is_dir() and scratch.is_dir(), "aifactory up makes the project's folders"
    mine = f"{NAME}-{secrets.token_hex(4)}"
    yield project, scratch, mine
    for root in (project, scratch):
        shutil.rmtree(root / mine, ignore_errors=True)


def test_storage_figures_match_du_on_a_folder_a_job_of_alice_fills(hub, folders):
    project, _, mine = folders
    made = project / mine
    as_alice(
        f'set -e; d="{made}"; mkdir -p "$d/sub/deeper"; '
        'head -c 3000000 /dev/urandom > "$d/weights.bin"; '
        'head -c 12345 /dev/urandom > "$d/sub/part-0.npz"; '
        'echo "what we tried" > "$d/sub/deeper/notes.md"; '
        'truncate -s 1G "$d/sparse.img"; '
        'ln "$d/weights.bin" "$d/sub/same-weights.bin"; '
        'ln -s /etc "$d/to-etc"; ln -s "$d" "$d/sub/loop"'
    )
    assert made.stat().st_uid == pwd.getpwnam("alice").pw_uid  # written as alice
    state = measure_now(hub)
    assert state["accounts"] >= 2  # ai-alpha and ai-beta at least
    storage = alpha_storage(hub)
    (figures,) = [f for f in storage["folders"] if f["folder"] == "project"]
    # Nothing else writes the folder while the real-stack tier holds its lock.
    assert figures["bytes"] == du(project)
    assert figures["files"] == find_count(project)
    assert figures["complete"] and figures["exists"] and figures["error"] == ""
    assert figures["path"] == str(project) and figures["env"] == "PROJECT_DIR"
    assert 3_000_000 <= du(made) < 1 << 30  # the sparse gigabyte counts what it holds
    assert storage["allowance_gb"] is not None and storage["level"] in ("none", "80", "95",
                                                                         "exhausted")  # fmt: skip
    assert storage["measured_at"] and not storage["lower_bound"]


def test_the_pass_purges_alices_old_scratch_file_and_keeps_her_fresh_one(hub, hub_site, folders):
    site, _ = hub_site
    _, scratch, mine = folders
    made = scratch / mine
    days = site.storage.scratch_purge_days + 2
    as_alice(
        f'set -e; d="{made}"; mkdir -p "$d/old-run"; '
        'head -c 40000 /dev/urandom > "$d/old-run/ckpt.pt"; '
        f'touch -d "{days} days ago" "$d/old-run/ckpt.pt"; '
        'head -c 40000 /dev/urandom > "$d/fresh.pt"'
    )
    assert (made / "old-run" / "ckpt.pt").exists()
    state = measure_now(hub)
    assert state["purged"] >= 2  # the old file, and the subfolder it leaves empty
    assert not (made / "old-run").exists()
    assert (made / "fresh.pt").exists() and made.is_dir() and scratch.is_dir()
    (figures,) = [f for f in alpha_storage(hub)["folders"] if f["folder"] == "scratch"]
    assert figures["bytes"] == du(scratch) and figures["files"] == find_count(scratch)
