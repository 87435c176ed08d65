"""The factory service on the real hub: hub tokens and RBAC scopes decide, staff see real
sessions and queue, and a stop cancels the Slurm job."""

from __future__ import annotations

import time

import pytest
import requests

from tests.stack import session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]


def factory(hub, method: str, path: str, user: str | None = None) -> requests.Response:
    headers = {"Authorization": f"token {hub.token(user)}"} if user else {}
    return requests.request(
        method, f"{hub.url}/services/factory/api/{path}", headers=headers, timeout=60
    )


def wait_for_session(hub, user: str, timeout: float = 40) -> tuple[dict, dict]:
    """The snapshot (as support staff sees it) once it lists `user`'s session."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        snap = factory(hub, "GET", "cluster", "sam").json()
        found = [s for s in snap["sessions"] if s["user"] == user and s["job_id"]]
        if found:
            return snap, found[0]
        time.sleep(2)
    raise AssertionError(f"{user}'s session never appeared in the cluster snapshot")


def test_cluster_needs_a_token_and_the_staff_scope(hub):
    assert factory(hub, "GET", "health").json() == {"ok": True}
    anonymous = factory(hub, "GET", "cluster")
    assert anonymous.status_code == 401
    assert "token" in anonymous.json()["message"]
    refused = factory(hub, "GET", "cluster", "alice")
    assert refused.status_code == 403
    assert "custom:aifactory:cluster:read" in refused.json()["message"]
    assert factory(hub, "GET", "cluster", "tess").status_code == 403
    snap = factory(hub, "GET", "cluster", "sam")
    assert snap.status_code == 200
    parts = {p["name"]: p for p in snap.json()["partitions"]}
    assert set(parts) == {"cpu", "gpu"} and parts["gpu"]["gpus_total"] == 8  # 2 nodes x 4
    nodes = {n["name"]: n for n in snap.json()["nodes"]}
    assert set(nodes) == {"cpu1", "cpu2", "gpu1", "gpu2"}
    assert nodes["gpu2"]["partitions"] == ["gpu"] and nodes["gpu2"]["gpus_total"] == 4


def test_staff_see_a_session_and_stop_it(hub):
    resp = hub.api("POST", "/users/carol/server", "carol", json={"project": "ai-beta"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("carol")
    (job,) = session_jobs("carol")
    snap, session = wait_for_session(hub, "carol")
    assert (session["job_id"], session["project"], session["partition"]) == (
        job["id"],
        "ai-beta",
        "cpu",
    )
    queued = {j["id"]: j for j in snap["queue"]}
    assert queued[job["id"]]["user"] == "carol"
    assert queued[job["id"]]["name"] == "jupyterhub-session"

    # a researcher cannot stop anyone's session, not even with a valid token
    assert factory(hub, "DELETE", "sessions/carol", "alice").status_code == 403
    assert factory(hub, "DELETE", "sessions/a;b", "sam").status_code == 400
    assert factory(hub, "DELETE", "sessions/alice", "sam").status_code == 404
    assert session_jobs("carol") == [job]

    stopped = factory(hub, "DELETE", "sessions/carol", "sam")
    assert stopped.status_code == 202, stopped.text
    wait_no_jobs("carol", timeout=60)
    deadline = time.monotonic() + 30
    while hub.server("carol") and time.monotonic() < deadline:
        time.sleep(1)
    assert not hub.server("carol")
