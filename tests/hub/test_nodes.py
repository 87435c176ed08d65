"""Sessions spread over the local cluster's nodes (real hub, real Slurm with a slurmd per node):
where they land, how the hub reaches them, a node drained for maintenance, a node that fails."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from aifactory_hub.ops import localcluster
from aifactory_hub.ops.localcluster import daemons
from tests.access import api, ok
from tests.stack import session_jobs, sh, wait_for, wait_no_jobs

# Drains nodes and kills a slurmd: every job on the cluster sees it (README "Tests").
pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.cluster_wide]

CPU_NODES = ("cpu1", "cpu2")
MAINTENANCE = "aifactory test: disk swap"


def node_of(job: str) -> str:
    return sh("squeue", "-h", "-j", job, "-o", "%N").strip()


def start(hub, user: str) -> tuple[str, str]:
    """A cpu session of `user` (ai-beta): its job id and node, once JupyterLab answers."""
    resp = hub.api("POST", f"/users/{user}/server", user, json={"project": "ai-beta"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready(user)
    (job,) = session_jobs(user)
    return job["id"], node_of(job["id"])


def answers(hub, user: str) -> bool:
    server = hub.server(user)
    if not server.get("ready"):
        return False
    status = requests.get(
        f"{hub.url}{server['url']}api/status",
        headers={"Authorization": f"token {hub.token(user)}"},
        timeout=30,
    )
    return status.status_code == 200


def listens_at(user: str, job: str) -> str:
    """The address JupyterLab says it listens on, from the session's own log."""
    log = Path(f"/home/{user}/.jupyter-sessions/{job}.log").read_text()
    return re.search(r"ServerApp\] http://([^:/]+):\d+/user/", log).group(1)


def node_state(node: str) -> str:
    return sh("sinfo", "-h", "-n", node, "-o", "%T").strip()


def resume(node: str) -> None:
    """Put `node` back in service (scontrol refuses to resume a node that is not out of it,
    and a node whose killed jobs still complete)."""

    def back() -> bool:
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"],
                       capture_output=True, timeout=30, check=False)  # fmt: skip
        return node_state(node) in ("idle", "mixed", "allocated")

    wait_for(back, 120, f"node {node} to be back", every=2)


def cluster_node(hub, name: str) -> dict:
    return next(n for n in ok(api(hub, "GET", "cluster", "sam"))["nodes"] if n["name"] == name)


@pytest.fixture(scope="module")
def spread(hub) -> Iterator[dict[str, tuple[str, str]]]:
    """bob's session on one cpu node, carol's on the other: bob's node is drained (with a
    maintenance reason) before carol starts, so Slurm must place her on the other node."""
    bob = start(hub, "bob")
    sh("scontrol", "update", f"NodeName={bob[1]}", "State=DRAIN", f"Reason={MAINTENANCE}")
    try:
        carol = start(hub, "carol")
        yield {"bob": bob, "carol": carol}
    finally:
        resume(bob[1])
        for user in ("bob", "carol"):
            if hub.server(user):
                hub.stop(user)
            wait_no_jobs(user)


def test_sessions_land_on_either_node_and_each_listens_at_its_nodes_address(hub, spread):
    assert {node for _, node in spread.values()} == set(CPU_NODES)
    for user, (job, node) in spread.items():
        assert listens_at(user, job) == node  # the node's name, i.e. its own address
        assert answers(hub, user), f"{user}'s session on {node} does not answer via the proxy"


def test_a_drained_node_keeps_its_sessions_shows_its_reason_and_offers_no_capacity(hub, spread):
    drained = spread["bob"][1]
    assert node_state(drained) in ("draining", "drained", "mixed+drain", "drng")
    # the running session on it carries on
    assert answers(hub, "bob")
    # the console lists the node with the admin's reason, as taking no new jobs
    node = cluster_node(hub, drained)
    assert "DRAIN" in node["state"] and node["reason"] == MAINTENANCE and not node["usable"]
    cpu = next(p for p in ok(api(hub, "GET", "cluster", "sam"))["partitions"] if p["name"] == "cpu")
    assert (cpu["nodes"], cpu["nodes_up"]) == (2, 1)
    # the spawn form's capacity counts only the other node's CPUs (its cache is 15 s old at most)
    alice = hub.login("alice")
    one_node = f"/{cpu['cpus_total']} CPUs free"
    wait_for(lambda: one_node in alice.get(f"{hub.url}/hub/spawn", timeout=60).text, 60,
             "the spawn form to leave the drained node out")  # fmt: skip


def test_a_failed_node_ends_only_its_sessions_and_the_user_starts_again_elsewhere(hub, spread):
    carol_job, failed = spread["carol"]
    other = spread["bob"][1]
    resume(other)  # its maintenance is over: carol's next session may go there
    slurmd = daemons.slurmd(failed)
    pid = daemons.running_pid(slurmd, localcluster.DEFAULT_PATHS)
    try:
        daemons.terminate(slurmd, pid, localcluster.DEFAULT_PATHS)
        sh(
            "scontrol",
            "update",
            f"NodeName={failed}",
            "State=DOWN",
            "Reason=aifactory test: failed",
        )
        wait_for(lambda: not hub.server("carol"), 120, "the hub to end carol's session")
        ended = sh("sacct", "-n", "-X", "-j", carol_job, "-o", "State").split()
        assert ended and ended[0] == "NODE_FAIL", ended
        # carol's hub home says what happened, in words
        home = hub.login("carol").get(f"{hub.url}/hub/home", timeout=60).text
        assert f"Slurm job {carol_job} on node {failed}) ended because its node failed" in home
        # bob's session on the healthy node never noticed
        assert answers(hub, "bob")
        # carol starts again at once, on the node that is up
        again, node = start(hub, "carol")
        assert again != carol_job and node == other
        assert answers(hub, "carol")
        home = hub.login("carol").get(f"{hub.url}/hub/home", timeout=60).text
        assert "aifactory-ended-notice" not in home  # a new session clears the notice
    finally:
        localcluster.start(hub.site)  # its slurmd back; start resumes the node
        wait_for(lambda: node_state(failed) in ("idle", "mixed", "allocated"), 120,
                 f"node {failed} to be back")  # fmt: skip


def sinfo_cpus() -> dict[str, tuple[int, int]]:
    """{partition: (allocated, total) CPUs} as sinfo says (%C is alloc/idle/other/total)."""
    rows = (line.split() for line in sh("sinfo", "-h", "-o", "%R %C").splitlines())
    return {part: (int(c.split("/")[0]), int(c.split("/")[3])) for part, c in rows}


def test_the_consoles_figures_agree_with_sinfo_over_all_nodes(hub, spread):
    """The snapshot and sinfo are read one after the other; retried while a job starts or ends
    in between."""

    def agree() -> bool:
        snapshot = ok(api(hub, "GET", "cluster", "sam"))
        theirs = sinfo_cpus()
        for part, (alloc, total) in theirs.items():
            nodes = [n for n in snapshot["nodes"] if part in n["partitions"]]
            row = next(p for p in snapshot["partitions"] if p["name"] == part)
            if (sum(n["cpus_alloc"] for n in nodes), sum(n["cpus_total"] for n in nodes)) != (
                alloc,
                total,
            ):
                return False
            # the partition's capacity: the nodes that take jobs (all of them here)
            if row["cpus_total"] != sum(n["cpus_total"] for n in nodes if n["usable"]):
                return False
        return set(theirs) == {"cpu", "gpu"}

    wait_for(agree, 60, "the console's CPUs to agree with sinfo", every=3)
