"""In-process: what the service reaches outside itself, through the doubles at its seams.
The cluster snapshot reads Slurm through the monitor's runner and the hub through its API;
a session stop goes to the hub; "collect now" runs sacct through the collector's runner;
grants are provisioned through `access.projects`' runner seam; workshops are made and ended
through the workshop steps, their sessions stopped and restarted through the hub; and the
timer ends a workshop that is due. (Their real-stack twins are in tests/hub.)"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from aifactory_hub.service import tasks
from aifactory_hub.store import models as m
from tests.service.world import ok, workshop_body


async def wait_until(condition, timeout: float = 5.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


async def test_the_cluster_snapshot_is_one_read_of_slurm_and_the_hub_for_every_viewer(
    client, hub, slurm_commands
):
    hub.start("carol", job_id="12", session={"project": "ai-beta", "partition": "cpu"})
    first = await ok(await client.call("GET", "cluster", "sam"))
    second = await ok(await client.call("GET", "cluster", "ada"))
    assert first == second
    parts = {p["name"]: p for p in first["partitions"]}
    assert set(parts) == {"cpu", "gpu"} and parts["gpu"]["gpus_total"] == 4
    assert [(j["id"], j["user"], j["state"]) for j in first["queue"]] == [
        ("12", "alice", "RUNNING")
    ]
    assert [(s["user"], s["job_id"], s["project"]) for s in first["sessions"]] == [
        ("carol", "12", "ai-beta")
    ]
    assert sorted(slurm_commands.commands) == ["scontrol", "squeue"]  # once, for both
    assert hub.calls == [("GET", "/users?state=active")]


async def test_a_staff_stop_asks_the_hub_to_stop_the_session(client, hub):
    hub.start("carol", job_id="12")
    answer = await client.call("DELETE", "sessions/carol", "sam")
    assert answer.status == 202
    assert answer.json() == {"user": "carol", "stopping": True}
    assert hub.calls == [("GET", "/users/carol"), ("DELETE", "/users/carol/server")]
    assert hub.users["carol"]["servers"] == {}


async def test_a_hub_that_refuses_is_a_502(client, hub):
    hub.start("carol")
    hub.refuse_with = 500
    answer = await client.call("DELETE", "sessions/carol", "sam")
    assert answer.status == 502
    assert answer.json()["message"].startswith("the hub refused")


async def test_collect_now_runs_sacct_through_the_collector_and_stores_the_jobs(
    client, store, slurm_commands
):
    state = await ok(await client.call("POST", "usage/collect", "sam"))
    assert state["last_error"] == "" and state["last_success_at"] and not state["stale"]
    (argv,) = slurm_commands.argvs
    assert argv[0] == "sacct" and "--clusters=aifactory" in argv
    with store() as db:
        jobs = db.scalars(select(m.UsageJob)).all()
    assert [(j.job_id, j.account, j.user, j.cpu_seconds) for j in jobs] == [
        ("101", "ai-alpha", "alice", 7200.0)
    ]


async def test_a_decided_grant_is_provisioned_and_becomes_an_active_project(
    client, world, provisioner
):
    review = world["review"]  # AI for Science: its cut-off has passed
    await ok(await client.call("POST", f"proposals/{review}/technical-check", "sam",
                               {"feasible": True, "notes": "fits"}))  # fmt: skip
    await ok(await client.call("POST", f"proposals/{review}/reviewers", "sam",
                               {"reviewer": "rita"}))  # fmt: skip
    for reviewer in ("rob", "rita"):
        score = {"quality": 4, "pertinence": 5, "comment": "clear plan"}
        await ok(await client.call("PUT", f"proposals/{review}/review", reviewer, score))
    decided = await ok(await client.call("POST", f"calls/{world['review_call']}/decide", "sam"))
    (row,) = [r for r in decided["rows"] if r["proposal_id"] == review]
    assert row["status"] == "granted"
    (granted,) = [p for p in await ok(await client.call("GET", "projects", "carol"))
                  if p["account"] != world["project"]]  # fmt: skip
    assert provisioner.accounts == [granted["account"]]
    assert granted["status"] == "active" and granted["pi"] == "carol"
    assert [g.members for g in provisioner.grants] == [("carol",)]


async def test_the_hub_gives_a_new_user_a_playground_once(client, provisioner):
    made = await ok(await client.call("POST", "playground/root", token=client.hub_token()), 201)
    assert made["created"] and made["project"]["account"] == "pg-root"
    assert made["project"]["status"] == "active" and provisioner.accounts == ["pg-root"]
    again = await ok(await client.call("POST", "playground/root", token=client.hub_token()))
    assert again == {"created": False, "project": None}
    assert provisioner.accounts == ["pg-root"]


async def test_a_workshop_is_made_shown_and_ended_through_its_steps_and_the_hub(
    client, hub, workshops
):
    made = await ok(await client.call("POST", "workshops", "tess", workshop_body(2)), 201)
    wid = made["workshop"]["id"]
    first, second = (c["username"] for c in made["credentials"])
    assert workshops.calls == [("create", wid)]
    hub.start(first)
    shown = await ok(await client.call("GET", f"workshops/{wid}", "tess"))
    assert {p["username"] for p in shown["room"]} == {first, second}
    assert ("GET", "/users?limit=10000") in hub.calls
    ended = await ok(await client.call("POST", f"workshops/{wid}/end", "tess"))
    assert ended["status"] == "ended" and ended["problems"] == []
    assert ("DELETE", f"/users/{first}/server") in hub.calls
    assert hub.users[first]["servers"] == {}
    assert workshops.calls[-1] == ("end", wid)
    again = await client.call("POST", f"workshops/{wid}/end", "tess")
    assert again.status == 409 and "ended already" in again.json()["message"]


async def test_a_restart_answers_at_once_and_the_hub_stops_and_starts_the_session(
    client, world, hub
):
    user = world["participant"]
    hub.start(user)
    answer = await client.call(
        "POST", f"workshops/{world['workshop']}/participants/{user}/restart", "tess"
    )
    assert answer.status == 202 and answer.json() == {"restarting": user}
    await wait_until(lambda: ("POST", f"/users/{user}/server") in hub.calls)
    assert hub.calls[-2:] == [("DELETE", f"/users/{user}/server"),
                              ("POST", f"/users/{user}/server")]  # fmt: skip
    assert "" in hub.users[user]["servers"]


async def test_the_timer_ends_a_workshop_whose_end_time_has_passed(
    client, context, store, hub, workshops
):
    made = await ok(await client.call("POST", "workshops", "tess", workshop_body(1)), 201)
    wid, (user,) = made["workshop"]["id"], [c["username"] for c in made["credentials"]]
    hub.start(user)
    with store.begin() as db:
        db.get(m.Workshop, wid).ends_at = datetime.now(UTC) - timedelta(minutes=1)
    timer = asyncio.create_task(tasks.end_due_workshops(context, every_s=3600))
    try:
        await wait_until(lambda: ("end", wid) in workshops.calls)
    finally:
        timer.cancel()
    assert ("DELETE", f"/users/{user}/server") in hub.calls
    with store() as db:
        assert db.get(m.Workshop, wid).status == "ended"
