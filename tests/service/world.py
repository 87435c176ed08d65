"""The small world the in-process examples act on: a call, proposals, a project, a ticket, a
workshop and a running session, made through the service where it can be."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from aifactory_hub.policy.clocks import decision_due
from aifactory_hub.site import Site
from aifactory_hub.store import models as m
from tests.access import draft
from tests.service.client import Answer, ServiceClient
from tests.service.mocking import MockHub

CALL = {
    "mode": "fast_lane",
    "title": "In-process call",
    "capacity": {"gpu": {"gpu_hours": 300, "cpu_hours": 1000}},
}
# AI for Science: peer-reviewed at a cut-off (the 1st of each month), 6-month allocations.
REVIEW_CALL = {
    "mode": "ai_science",
    "title": "In-process science call",
    "capacity": {"gpu": {"gpu_hours": 300, "cpu_hours": 1000}},
}
SUBMITTED_DAYS_AGO = 40  # carol's proposal: its cut-off (within a month of it) has passed
ROB = {"reviewer": "rob"}
PROJECT = "t-inproc"
ENDED = "t-ended"
TICKET = {"topic": "jobs", "subject": "Job 102 fails", "body": "It says CUDA out of memory."}


def workshop_body(participants: int = 2, hours: float = 2) -> dict[str, Any]:
    start = datetime.now(UTC).replace(microsecond=0)
    return {"title": "Intro to the AI factory", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=hours)).isoformat(), "participants": participants,
            "partition": "cpu", "cpus": 1, "memory_gb": 1}  # fmt: skip


async def ok(answer: Answer, status: int = 200) -> Any:
    """The answer's JSON, once its status is `status`."""
    assert answer.status == status, answer.text
    return answer.json()


def backdate(store, site: Site, proposal_id: int, days: int) -> None:
    """Make a submitted proposal `days` old: its submission, cut-off and due date are what a
    submission then would have had (the only thing the examples change behind the service's
    back, so that a review round need not wait for a real cut-off)."""
    with store.begin() as db:
        proposal = db.get(m.Proposal, proposal_id)
        submitted = proposal.submitted_at - timedelta(days=days)
        mode = site.access.mode(proposal.access_mode)
        proposal.submitted_at = submitted
        proposal.cutoff_on, proposal.decision_due_on = decision_due(
            mode, submitted.date(), site.access.holidays
        )


async def make(client: ServiceClient, store, hub: MockHub, site: Site) -> dict[str, Any]:
    """What the examples act on, made through the service where it can be: sam's open fast
    lane call (first come, first served) and bob's complete draft in it; sam's AI for Science
    call and carol's (academia) proposal in it, submitted 40 days ago so its cut-off has
    passed, in review with rob assigned; carol's project
    (bob a member, its open results overdue); dave's project that ended 400 days ago;
    bob's ticket; tess's workshop of two (in the
    store only); carol's running session in the hub."""
    call = await ok(await client.call("POST", "calls", "sam", CALL), 201)
    mine = draft(call["id"], "Bob's robot arm", "Bob Labs", 10)
    bobs = await ok(await client.call("POST", "proposals", "bob", mine), 201)
    science = await ok(await client.call("POST", "calls", "sam", REVIEW_CALL), 201)
    theirs = draft(science["id"], "Gamma de-identification", "Gamma Labs", 10,
                   applicant_type="academia", length_months=6)  # fmt: skip
    carols = await ok(await client.call("POST", "proposals", "carol", theirs), 201)
    await ok(await client.call("POST", f"proposals/{carols['id']}/submit", "carol"))
    backdate(store, site, carols["id"], SUBMITTED_DAYS_AGO)
    await ok(await client.call("POST", f"proposals/{carols['id']}/reviewers", "sam", ROB))
    today = date.today()
    with store.begin() as db:
        project = m.Project(
            account=PROJECT, title="In-process project", organisation="Gamma Labs", pi="carol",
            access_mode="fast_lane", starts_on=today - timedelta(days=90),
            ends_on=today + timedelta(days=90), status="active",
            obligation="publish results openly", obligation_due=today - timedelta(days=1),
        )  # fmt: skip
        project.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=100)]
        project.members = [m.Member(username="carol", role="pi", added_by="tests"),
                           m.Member(username="bob", role="member", added_by="tests")]  # fmt: skip
        db.add(project)
        ended = m.Project(
            account=ENDED, title="Ended project", organisation="Old Labs", pi="dave",
            access_mode="playground", starts_on=today - timedelta(days=500),
            ends_on=today - timedelta(days=400), status="ended",
            ended_at=datetime.now(UTC) - timedelta(days=400),
        )  # fmt: skip
        ended.members = [m.Member(username="dave", role="pi", added_by="tests")]
        db.add(ended)
    ticket = await ok(await client.call("POST", "tickets", "bob", TICKET), 201)
    made = await ok(await client.call("POST", "workshops", "tess", workshop_body()), 201)
    hub.start("carol", job_id="12")
    return {
        "call": call["id"], "draft": bobs["id"], "review_call": science["id"],
        "review": carols["id"], "project": PROJECT,
        "ended": ENDED,
        "ticket": ticket["id"], "workshop": made["workshop"]["id"],
        "participant": made["credentials"][0]["username"],
    }  # fmt: skip
