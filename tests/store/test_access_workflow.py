"""The access workflow on both databases: the same calls, proposals, reviews, decisions and
provisioning record on SQLite and on PostgreSQL (Slurm is scripted here; the real-Slurm
tier provisions for real)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from aifactory_hub.access import bodies, provision
from aifactory_hub.access import projects as prj
from aifactory_hub.access import proposals as prp
from aifactory_hub.access.views import Caller, project_json, proposal_json
from aifactory_hub.core.errors import AccessError
from aifactory_hub.site import load_site
from aifactory_hub.store import models as m

SITE = load_site()
SAM = Caller("sam", manage=True)
ETHICS = {
    "intended_use": "Parcel detection for warehouse robots; no people in the images.",
    "data_sources": [{"name": "own images", "licence": "proprietary"}],
    "transparency_acknowledged": True,
}


def draft(call_id: int, organisation: str, gpu_hours: float, **extra) -> bodies.Draft:
    return bodies.Draft.model_validate(
        {
            "call_id": call_id,
            "title": f"Vision for {organisation}",
            "abstract": "A compact vision model trained on our own data, evaluated openly. " * 2,
            "organisation": organisation,
            "applicant_type": "startup_sme",
            "requests": [{"partition": "gpu", "gpu_hours": gpu_hours}],
            "open_results": True,
            "ethics": ETHICS,
            **extra,
        }
    )


def new_call(db, title: str, capacity: dict) -> m.Call:
    body = {"mode": "fast_lane", "title": title, "capacity": capacity}
    return prp.create_call(db, SITE, SAM, bodies.NewCall.model_validate(body))


def reviewed(db, call_id: int, applicant: str, org: str, hours: float, marks: dict[str, int]):
    me = Caller(applicant)
    proposal = prp.create_draft(db, me, draft(call_id, org, hours))
    prp.submit(db, SITE, me, proposal.id)
    for reviewer, mark in marks.items():
        prp.assign_reviewer(db, SITE, SAM, proposal.id, reviewer)
        body = bodies.ReviewBody(quality=mark, pertinence=mark)
        prp.score(db, Caller(reviewer, review=True), proposal.id, body)
    return proposal.id


def test_a_call_from_drafts_to_a_partial_grant(store):
    with store.begin() as db:
        call = new_call(db, "Winter", {"gpu": {"gpu_hours": 150}})
        first = reviewed(db, call.id, "alice", "Alpha Robotics", 100, {"rita": 5, "rob": 5})
        second = reviewed(db, call.id, "carol", "Beta Health", 100, {"ada": 3, "rob": 4})
        waiting = prp.create_draft(db, Caller("bob"), draft(call.id, "Bob Labs", 10))
        prp.submit(db, SITE, Caller("bob"), waiting.id)  # in review, no reviews yet
        _, rows, projects = prp.decide(db, SITE, SAM, call.id)
        accounts = [p.account for p in projects]
    by_id = {r["proposal_id"]: r for r in rows}
    assert (by_id[first]["status"], by_id[first]["rank"]) == ("granted", 1)
    assert (by_id[second]["status"], by_id[second]["fraction"]) == ("partial", 0.5)
    assert by_id[waiting.id]["ready"] is False and "review" in by_id[waiting.id]["why_not"]
    assert accounts == [f"prj-{first}", f"prj-{second}"]
    with store() as db:
        call = db.get(m.Call, call.id)
        assert call.status == "open"  # bob's proposal still waits for its reviews
        again = prp.ranking(db, SITE, call)
        assert [r["proposal_id"] for r in again] == [waiting.id]
        shown = proposal_json(db.get(m.Proposal, first), Caller("alice"))
        assert shown["project"] == f"prj-{first}" and shown["price"]["charged"] is False
        assert all("reviewer" not in r for r in shown["reviews"])


def test_provisioning_records_a_failure_and_a_retry_finishes(store):
    with store.begin() as db:
        project = prj.ensure_playground(db, SITE, "root")
        account = project.account
    calls = []

    def flaky(grant: provision.Grant, cluster: str, record) -> None:
        calls.append(grant)
        record(provision.Step("add account", ("sacctmgr", "add", "account")), "done", "")
        if len(calls) == 1:
            record(provision.Step("add user", ("sacctmgr", "add", "user")), "failed", "boom")
            raise RuntimeError("boom")

    assert prj.provision_project(store, "c", account, runner=flaky) == (False, "boom")
    with store() as db:
        shown = project_json(db.scalars(select(m.Project)).one(), prp.now().date())
        assert shown["status"] == "pending" and shown["provisioned_at"] is None
        assert [(s["seq"], s["status"]) for s in shown["provisioning"]] == [
            (1, "done"),
            (2, "failed"),
        ]
    assert prj.provision_project(store, "c", account, runner=flaky) == (True, "")
    with store() as db:
        project = db.scalars(select(m.Project)).one()
        assert project.status == "active" and project.provisioned_at is not None
        assert len(project.steps) == 3
    assert (
        calls[0].account == account and calls[0].gpu_hours == SITE.access.playground.max_gpu_hours
    )


def test_refusals_change_nothing(store):
    with store.begin() as db:
        call = new_call(db, "Spring", {"cpu": {"cpu_hours": 10}})
        proposal = prp.create_draft(db, Caller("alice"), draft(call.id, "Alpha", 1))
        ids = call.id, proposal.id
    refusals = [
        lambda db: prp.submit(db, SITE, Caller("bob"), ids[1]),  # not hers: 404
        lambda db: prp.update_draft(db, Caller("alice"), ids[1], bodies.Draft(call_id=999)),
        lambda db: prp.assign_reviewer(db, SITE, SAM, ids[1], "rita"),  # still a draft
        lambda db: prp.close_call(db, SAM, ids[0]) and prp.close_call(db, SAM, ids[0]),
    ]
    for refuse in refusals:
        with pytest.raises(AccessError), store.begin() as db:
            refuse(db)
    with store() as db:
        assert db.get(m.Proposal, ids[1]).status == "draft"
        assert db.get(m.Call, ids[0]).status == "open"
        assert db.scalars(select(m.Review)).all() == []
