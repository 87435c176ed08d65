"""The real local cluster: daemons up, partitions, demo associations, jobs, idempotency."""

from __future__ import annotations

import grp
import socket
import stat
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aifactory_hub import slurm
from aifactory_hub.ops import localcluster
from aifactory_hub.ops.accounts import apply_site, memberships, plan, read_passwords, wanted
from aifactory_hub.ops.localcluster import daemons as d
from aifactory_hub.ops.localcluster.conf import DEFAULT_PATHS
from aifactory_hub.slurm import RunAs, SlurmError
from aifactory_hub.slurm.reservations import create_reservation_argv, delete_reservation_argv
from aifactory_hub.slurm.sacctmgr import read_state, wanted_associations
from tests.stack import submit

pytestmark = pytest.mark.slurm
PASSWORD_FILE = Path("/var/lib/aifactory/demo-passwords")  # as in conftest.demo_accounts


def run_job(user: str, *args: str) -> tuple[dict[str, str], str]:
    """Submit as `user` with output in their home, wait for the end: (job fields, output)."""
    output = Path(RunAs.lookup(user).home) / "aifactory-test-%j.out"
    job = submit(user, f"--output={output}", *args)
    fields = wait_for_job(job)
    result = Path(str(output).replace("%j", str(job)))
    text = result.read_text().strip() if result.exists() else ""
    result.unlink(missing_ok=True)
    return fields, text


def wait_for_job(job_id: int, timeout: float = 60) -> dict[str, str]:
    """Fields of `scontrol show job` once the job has ended (MinJobAge keeps it 300 s)."""
    deadline = time.monotonic() + timeout
    while True:
        out = slurm.run(["scontrol", "-o", "show", "job", str(job_id)]).stdout
        fields = dict(w.split("=", 1) for w in out.split() if "=" in w)
        if fields["JobState"] not in ("PENDING", "CONFIGURING", "RUNNING", "COMPLETING"):
            return fields
        assert time.monotonic() < deadline, f"job {job_id} still {fields['JobState']}"
        time.sleep(0.5)


NODES = ["cpu1", "cpu2", "gpu1", "gpu2"]


def test_status_says_every_daemon_and_node_is_up(local_cluster):
    states = localcluster.status(local_cluster)
    assert [s.name for s in states] == [
        "munged", "mariadb", "slurmdbd", "slurmctld", *(f"slurmd {n}" for n in NODES)
    ]  # fmt: skip
    assert all(s.up for s in states), "\n".join(s.line() for s in states)


def test_sinfo_shows_two_nodes_of_their_own_in_each_partition(local_cluster):
    out = slurm.run(["sinfo", "-h", "-o", "%P|%a|%l|%D|%N"]).stdout.split()
    assert sorted(out) == ["cpu*|up|12:00:00|2|cpu[1-2]", "gpu|up|4:00:00|2|gpu[1-2]"]
    for name in NODES:
        node = slurm.run(["scontrol", "-o", "show", "node", name]).stdout
        assert "CPUTot=4" in node and "RealMemory=5120" in node
        assert ("Gres=gpu:sim:4" in node) == name.startswith("gpu")
        # every node's name leads to an address of its own (the hub and jobs use it)
        assert socket.gethostbyname(name) == f"127.0.1.{NODES.index(name) + 1}"


def test_a_job_step_runs_on_two_nodes_at_once(local_cluster, demo_accounts):
    out = slurm.run(
        ["srun", "-N2", "-n2", "--account=ai-alpha", "--partition=cpu", "--time=2",
         "bash", "-c", 'echo "$SLURM_PROCID $SLURMD_NODENAME"'],
        run_as=slurm.RunAs.lookup("alice"), timeout=120,
    ).stdout  # fmt: skip
    assert sorted(out.split("\n")[:2]) == ["0 cpu1", "1 cpu2"], out


def test_status_names_a_node_whose_slurmd_is_down(local_cluster):
    daemon = d.slurmd("cpu2")
    pid = d.running_pid(daemon, localcluster.DEFAULT_PATHS)
    assert pid is not None
    try:
        d.terminate(daemon, pid, localcluster.DEFAULT_PATHS)
        (line,) = [s for s in localcluster.status(local_cluster) if s.name == "slurmd cpu2"]
        assert not line.up and "not running" in line.detail
        assert all(s.up for s in localcluster.status(local_cluster) if s.name != line.name)
    finally:
        localcluster.start(local_cluster)  # idempotent: starts only what is missing
    assert all(s.up for s in localcluster.status(local_cluster))


def test_sacctmgr_shows_the_demo_associations(local_cluster, demo_accounts):
    """One association per (user, account, partition); none of a user without a partition."""
    cluster = f"cluster={local_cluster.site.cluster}"
    out = slurm.run(
        ["sacctmgr", "-n", "-P", "show", "assoc", cluster, "format=Cluster,Account,User,Partition"]
    )
    # Only the demo's accounts: a benchmark or a site admin may have added others.
    ours = {"root"} | {p.account for p in local_cluster.projects}
    rows = {tuple(line.split("|")) for line in out.stdout.split()}
    rows = {r for r in rows if r[1] in ours}
    assert {r[0] for r in rows} == {"aifactory"}
    users = {(a, u, p) for _, a, u, p in rows if u}
    assert users == {
        ("root", "root", ""),
        ("ai-alpha", "alice", "cpu"),
        ("ai-alpha", "alice", "gpu"),
        ("ai-alpha", "bob", "cpu"),
        ("ai-alpha", "bob", "gpu"),
        ("ai-beta", "bob", "cpu"),  # not gpu: ai-beta lists only cpu
        ("ai-beta", "carol", "cpu"),
    }
    assert users - {("root", "root", "")} == {
        (a, u, p) for u, a, p in wanted_associations(wanted(local_cluster))
    }
    # The account-level associations stay without a partition.
    accounts = {(a, p) for _, a, u, p in rows if not u}
    assert accounts == {("root", ""), ("ai-alpha", ""), ("ai-beta", "")}
    users = slurm.run(["sacctmgr", "-n", "-P", "show", "user", "format=User,DefaultAccount"])
    # Users in the site's projects (a playground, like dave's, is the store's business).
    demo_users = {"root"} | set(memberships(local_cluster))
    defaults = {u: a[0] for u, *a in (line.split("|") for line in users.stdout.split())}
    defaults = {u: a for u, a in defaults.items() if u in demo_users}
    assert defaults == {"root": "root"} | {
        u: accounts[0] for u, accounts in memberships(local_cluster).items()
    }
    assert defaults["bob"] == "ai-alpha"


def test_a_member_can_submit_and_the_job_completes(local_cluster, demo_accounts):
    fields, output = run_job("alice", "--account=ai-alpha", "--partition=cpu", "--wrap", "hostname")
    assert fields["JobState"] == "COMPLETED", fields
    assert fields["UserId"].startswith("alice(") and fields["Account"] == "ai-alpha"
    assert output == localcluster.short_hostname()  # one machine: every node's host


def test_a_gpu_job_gets_a_simulated_gpu(local_cluster, demo_accounts):
    fields, output = run_job(
        "bob", "--account=ai-alpha", "--partition=gpu", "--gres=gpu:sim:1",
        "--wrap", "echo $CUDA_VISIBLE_DEVICES",
    )  # fmt: skip
    assert fields["JobState"] == "COMPLETED"
    assert output == "0"


def test_a_project_is_refused_on_a_partition_it_does_not_list(local_cluster, demo_accounts):
    """ai-beta lists only cpu: Slurm itself refuses bob's ai-beta job on gpu."""
    fields, _ = run_job("bob", "--account=ai-beta", "--partition=cpu", "--wrap", "hostname")
    assert fields["JobState"] == "COMPLETED", fields
    assert fields["Account"] == "ai-beta" and fields["Partition"] == "cpu"
    with pytest.raises(SlurmError) as err:
        submit("bob", "--account=ai-beta", "--partition=gpu", "--gres=gpu:sim:1",
               "--wrap", "hostname")  # fmt: skip
    assert "Invalid account or account/partition combination" in err.value.stderr
    with pytest.raises(SlurmError) as err:  # no --gres: still the association that refuses
        submit("bob", "--account=ai-beta", "--partition=gpu", "--wrap", "hostname")
    assert "Invalid account or account/partition combination" in err.value.stderr


def test_a_gpu_job_on_a_project_that_lists_gpu(local_cluster, demo_accounts):
    fields, output = run_job(
        "alice", "--account=ai-alpha", "--partition=gpu", "--gres=gpu:sim:1",
        "--wrap", "echo $CUDA_VISIBLE_DEVICES",
    )  # fmt: skip
    assert fields["JobState"] == "COMPLETED", fields
    assert fields["Account"] == "ai-alpha" and fields["Partition"] == "gpu"
    assert output == "0"


def test_without_account_the_default_project_is_charged(local_cluster, demo_accounts):
    fields, _ = run_job("carol", "--partition=cpu", "--wrap", "hostname")
    assert fields["JobState"] == "COMPLETED", fields
    assert fields["Account"] == "ai-beta"


def test_a_non_member_is_refused(local_cluster, demo_accounts):
    with pytest.raises(SlurmError) as err:
        submit("carol", "--account=ai-alpha", "--partition=cpu", "--wrap", "hostname")
    assert "Invalid account" in err.value.stderr


def test_a_user_in_no_project_cannot_submit(local_cluster, demo_accounts):
    with pytest.raises(SlurmError) as err:
        submit("sam", "--partition=cpu", "--wrap", "hostname")
    assert "Invalid account" in err.value.stderr


def test_start_twice_is_the_same_state(local_cluster):
    before = localcluster.status(local_cluster)
    configs = [DEFAULT_PATHS.slurm_conf, DEFAULT_PATHS.gres_conf, DEFAULT_PATHS.slurmdbd_conf]
    mtimes = [p.stat().st_mtime_ns for p in configs]
    after = localcluster.start(local_cluster)
    assert [(s.name, s.pid) for s in after] == [(s.name, s.pid) for s in before]
    assert all(s.up for s in after)
    assert [p.stat().st_mtime_ns for p in configs] == mtimes


def test_slurmdbd_conf_is_private_to_slurm(local_cluster):
    info = DEFAULT_PATHS.slurmdbd_conf.stat()
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert info.st_uid == RunAs.lookup("slurm").uid


def test_apply_site_twice_changes_nothing(local_cluster, demo_accounts):
    assert plan(local_cluster, read_state(local_cluster.site.cluster)) == []
    assert apply_site(local_cluster, PASSWORD_FILE) == demo_accounts
    stored = read_passwords(PASSWORD_FILE)
    assert {user: stored[user] for user in demo_accounts} == demo_accounts
    assert stat.S_IMODE(PASSWORD_FILE.stat().st_mode) == 0o600
    members = set(grp.getgrnam("aifactory").gr_mem)
    assert {u.name for u in local_cluster.users} <= members


def test_a_workshop_reservation_bigger_than_a_node_spans_the_partitions_nodes(local_cluster):
    """A workshop of 6 one-core participants on cpu (4 cores a node) gets cores on both
    nodes. It starts in three days, so no job running now is held back by it."""
    start = datetime.now(UTC) + timedelta(days=3)
    name = "aif-test-span"
    slurm.run(
        create_reservation_argv(name, "ai-alpha", "cpu", 6, start, start + timedelta(hours=1))
    )
    try:
        shown = slurm.run(["scontrol", "-o", "show", "reservation", name]).stdout
        assert "Nodes=cpu[1-2]" in shown and "CoreCnt=6" in shown and "TRES=cpu=6" in shown
    finally:
        slurm.run(delete_reservation_argv(name), check=False)
