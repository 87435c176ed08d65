"""In-process: the access flow by mode. First-come requests (Playground, Fast Lane) wait only
for staff's technical check and are granted, waitlisted or rejected by it, with no review
round; review modes (Large Scale, AI for Science) are decided only after their cut-off.
Every proposal carries its service-level clock; the staff list sorts by what is due and
flags what is overdue; the funder report gives the time to access per mode; bad input by
mode is refused with the field named and nothing changed."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from sqlalchemy import func, select

from aifactory_hub.policy.clocks import decision_due
from aifactory_hub.store import models as m
from tests.access import LARGE, draft
from tests.service.world import backdate, ok

FEASIBLE = {"feasible": True, "notes": "fits the gpu partition"}


def counts(store) -> tuple[int, ...]:
    """Events, calls, proposals, reviews and projects: a refusal changes none of them."""
    with store() as db:
        return tuple(
            db.scalar(select(func.count()).select_from(table))
            for table in (m.Event, m.Call, m.Proposal, m.Review, m.Project)
        )


async def open_call(client, mode: str, gpu_hours: float = 300) -> int:
    body = {"mode": mode, "title": f"A {mode} call",
            "capacity": {"gpu": {"gpu_hours": gpu_hours, "cpu_hours": 1000}}}  # fmt: skip
    return (await ok(await client.call("POST", "calls", "sam", body), 201))["id"]


async def submitted(client, call: int, user: str, gpu_hours: float, **extra) -> dict[str, Any]:
    body = draft(call, f"{user.title()} vision", f"{user.title()} Labs", gpu_hours, **extra)
    made = await ok(await client.call("POST", "proposals", user, body), 201)
    return await ok(await client.call("POST", f"proposals/{made['id']}/submit", user))


async def test_a_fast_lane_request_is_granted_at_its_technical_check_and_provisioned(
    client, store, site, provisioner
):
    call = await open_call(client, "fast_lane")
    mine = await submitted(client, call, "alice", 100)
    due = decision_due(site.access.mode("fast_lane"), date.today(), site.access.holidays)[1]
    assert (mine["status"], mine["clock"], mine["overdue"]) == ("in_review", "running", False)
    assert (mine["cutoff_on"], mine["decision_due_on"]) == (None, due.isoformat())
    assert (mine["length_months"], mine["decided_at"], mine["waiting_ahead"]) == (3, None, 0)
    assert mine["project"] is None and provisioner.accounts == []  # no grant before the check
    checked = await ok(await client.call(
        "POST", f"proposals/{mine['id']}/technical-check", "sam", FEASIBLE))  # fmt: skip
    assert (checked["status"], checked["clock"]) == ("granted", "decided")
    assert checked["decided_at"] and checked["project"] == f"prj-{mine['id']}"
    assert checked["reviews"] == [] and checked["decision"]["fraction"] == 1.0
    assert provisioner.accounts == [checked["project"]]
    (project,) = [p for p in await ok(await client.call("GET", "projects", "alice"))
                  if p["account"] == checked["project"]]  # fmt: skip
    assert project["status"] == "active" and project["access_mode"] == "fast_lane"
    with store() as db:  # what it owes is on record from the grant, before anyone reads it
        made = db.query(m.Project).filter_by(account=checked["project"]).one()
        assert [r.kind for r in made.reports] == ["final"]


async def test_first_come_requests_are_listed_in_order_of_arrival_with_their_place(client):
    call = await open_call(client, "playground")
    first = await submitted(client, call, "alice", 10)
    second = await submitted(client, call, "bob", 10)
    listed = await ok(await client.call("GET", f"proposals?call={call}", "sam"))
    assert [(p["id"], p["waiting_ahead"]) for p in listed] == [(first["id"], 0), (second["id"], 1)]
    # Checked out of order (alice's waits for an answer): allowed, and bob's is granted.
    checked = await ok(await client.call(
        "POST", f"proposals/{second['id']}/technical-check", "sam", FEASIBLE))  # fmt: skip
    assert checked["status"] == "granted" and checked["waiting_ahead"] is None


async def test_an_infeasible_check_rejects_and_a_request_too_big_for_what_is_left_waits(
    client, provisioner
):
    call = await open_call(client, "fast_lane", gpu_hours=150)
    big, small = (
        await submitted(client, call, "alice", 100),
        await submitted(client, call, "bob", 60),
    )
    no = {"feasible": False, "notes": "needs 80 GB GPUs"}
    rejected = await ok(await client.call(
        "POST", f"proposals/{big['id']}/technical-check", "sam", no))  # fmt: skip
    assert (rejected["status"], rejected["clock"], rejected["project"]) == (
        "rejected", "decided", None)  # fmt: skip
    assert (
        rejected["decision"]["reason"] == "the technical check found it infeasible: "
        "needs 80 GB GPUs"
    )
    third = await submitted(client, call, "carol", 100)
    await ok(await client.call("POST", f"proposals/{small['id']}/technical-check", "sam",
                               FEASIBLE))  # fmt: skip
    waits = await ok(await client.call(
        "POST", f"proposals/{third['id']}/technical-check", "sam", FEASIBLE))  # fmt: skip
    assert (waits["status"], waits["project"], waits["decision"]["granted"]) == (
        "waitlisted", None, [])  # fmt: skip
    assert waits["decided_at"] and "remaining capacity" in waits["decision"]["reason"]
    assert provisioner.accounts == [f"prj-{small['id']}"]
    shown = await ok(await client.call("GET", f"calls/{call}/ranking", "sam"))
    assert shown["call"]["remaining"]["gpu"]["gpu_hours"] == 90 and shown["rows"] == []


async def test_a_first_come_request_takes_no_reviewer_and_its_call_no_round(client, store):
    call = await open_call(client, "fast_lane")
    mine = await submitted(client, call, "alice", 10)
    before = counts(store)
    answer = await client.call("POST", f"proposals/{mine['id']}/reviewers", "sam",
                               {"reviewer": "rita"})  # fmt: skip
    assert answer.status == 409 and answer.json()["field"] == "reviewer"
    assert "first come, first served" in answer.json()["message"]
    answer = await client.call("POST", f"calls/{call}/decide", "sam")
    assert answer.status == 409 and "technical check" in answer.json()["message"]
    assert counts(store) == before


async def test_a_review_call_decides_only_what_has_passed_its_cutoff(
    client, store, site, provisioner
):
    call = await open_call(client, "large_scale", gpu_hours=4 * LARGE)
    early = await submitted(client, call, "alice", LARGE)
    late = await submitted(client, call, "carol", LARGE)
    assert early["cutoff_on"] and early["decision_due_on"] > early["cutoff_on"]
    for proposal in (early, late):  # both checked and reviewed: only the cut-off differs
        path = f"proposals/{proposal['id']}"
        await ok(await client.call("POST", f"{path}/technical-check", "sam", FEASIBLE))
        for reviewer in ("rob", "rita"):
            await ok(await client.call("POST", f"{path}/reviewers", "sam", {"reviewer": reviewer}))
            score = {"quality": 4, "pertinence": 4, "comment": "clear plan"}
            await ok(await client.call("PUT", f"{path}/review", reviewer, score))
    before = counts(store)
    none_due = await client.call("POST", f"calls/{call}/decide", "sam")
    assert none_due.status == 409, none_due.text
    assert none_due.json()["message"] == (
        f"no proposal of call {call} has reached its cut-off: the next cut-off is "
        f"{early['cutoff_on']}"
    )
    assert counts(store) == before
    backdate(store, site, early["id"], 30)  # its cut-off has passed now
    decided = await ok(await client.call("POST", f"calls/{call}/decide", "sam"))
    rows = {r["proposal_id"]: r for r in decided["rows"]}
    assert rows[early["id"]]["status"] == "granted"
    assert rows[late["id"]]["status"] == "in_review" and not rows[late["id"]]["ready"]
    assert rows[late["id"]]["why_not"] == f"It waits for its cut-off on {late['cutoff_on']}."
    assert decided["call"]["status"] == "open"
    assert provisioner.accounts == [f"prj-{early['id']}"]


async def test_the_staff_list_sorts_by_what_is_due_and_flags_what_is_overdue(
    client, store, site, world
):
    call = await open_call(client, "fast_lane")
    fresh = await submitted(client, call, "alice", 10)
    old = await submitted(client, call, "bob", 10)
    backdate(store, site, old["id"], 30)  # 4 working days long past
    listed = await ok(await client.call("GET", "proposals?sort=due&status=in_review", "sam"))
    ids = [p["id"] for p in listed]
    assert ids.index(old["id"]) < ids.index(fresh["id"])
    dues = [p["decision_due_on"] for p in listed]
    assert dues == sorted(dues)
    shown = {p["id"]: p for p in listed}
    assert (shown[old["id"]]["clock"], shown[old["id"]]["overdue"]) == ("overdue", True)
    assert (shown[fresh["id"]]["clock"], shown[fresh["id"]]["overdue"]) == ("running", False)
    everything = await ok(await client.call("GET", "proposals?sort=due", "sam"))
    waiting = [p["status"] == "in_review" for p in everything]
    assert waiting == sorted(waiting, reverse=True)  # what waits comes before the rest
    arrival = await ok(await client.call("GET", f"proposals?call={call}", "sam"))
    assert [p["id"] for p in arrival] == [old["id"], fresh["id"]]  # bob's arrived first now


async def test_the_funder_report_gives_the_time_to_access_per_mode(client, site):
    call = await open_call(client, "fast_lane")
    mine = await submitted(client, call, "alice", 10)
    await ok(await client.call("POST", f"proposals/{mine['id']}/technical-check", "sam",
                               FEASIBLE))  # fmt: skip
    today = date.today().isoformat()
    report = await ok(await client.call("GET", f"usage/funder?from={today}&to={today}", "sam"))
    rows = {r["key"]: r for r in report["time_to_access"]}
    assert list(rows) == list(site.access.modes)
    assert rows["fast_lane"] == {
        "key": "fast_lane", "label": "Fast Lane", "selection": "fifo",
        "decision_working_days": 4, "clock_from": "submission", "decided": 1,
        "median_working_days": 0.0, "p90_working_days": 0.0, "within_target": 1.0,
    }  # fmt: skip
    assert (
        rows["large_scale"]["decided"] == 0 and rows["large_scale"]["median_working_days"] is None
    )


# --- bad input by mode: refused naming the field, nothing changed ------------------------------

MODE_REFUSALS = [
    pytest.param("fast_lane", 10, {"applicant_type": "academia"}, "applicant_type",
                 id="an applicant type the mode is not for"),
    pytest.param("fast_lane", 60_000, {}, "requests", id="more than the mode's bound"),
    pytest.param("playground", 2_000, {}, "requests", id="more than the playground's bound"),
    pytest.param("large_scale", 1_000, {}, "requests", id="under large scale's minimum"),
    pytest.param("fast_lane", 10, {"length_months": 6}, "length_months",
                 id="a length the mode does not allow"),
    pytest.param("ai_science", 10, {"length_months": 3}, "length_months",
                 id="a length ai science does not allow"),
    pytest.param("fast_lane", 10, {"length_months": None}, "length_months", id="no length"),
]  # fmt: skip


@pytest.mark.parametrize(("mode", "gpu_hours", "extra", "field"), MODE_REFUSALS)
async def test_a_submission_the_mode_does_not_allow_is_refused_naming_the_field(
    client, store, mode, gpu_hours, extra, field
):
    call = await open_call(client, mode)
    body = draft(call, "Vision at scale", "Alpha Robotics", gpu_hours, **extra)
    made = await ok(await client.call("POST", "proposals", "alice", body), 201)
    before = counts(store)
    answer = await client.call("POST", f"proposals/{made['id']}/submit", "alice")
    assert answer.status == 400, answer.text
    assert answer.json()["field"] == field
    assert counts(store) == before
    kept = await ok(await client.call("GET", f"proposals/{made['id']}", "alice"))
    assert (kept["status"], kept["submitted_at"], kept["decision_due_on"]) == ("draft", None, None)


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("hackathon", "'hackathon' is not one of this site's modes"),
        ("Fast Lane", "String should match pattern"),
    ],
)
async def test_a_call_of_a_mode_the_site_lacks_is_refused_naming_mode(client, store, mode, message):
    before = counts(store)
    body = {"mode": mode, "title": "Made-up mode", "capacity": {"gpu": {"gpu_hours": 10}}}
    answer = await client.call("POST", "calls", "sam", body)
    assert answer.status == 400 and answer.json()["field"] == "mode"
    assert answer.json()["message"].startswith(message)
    assert counts(store) == before
