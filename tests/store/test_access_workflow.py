"""The access workflow on both databases: the same calls, proposals, reviews, decisions and
provisioning record on SQLite and on PostgreSQL (Slurm is scripted here; the real-Slurm
tier provisions for real). Days are fixed ("today" is injected), so cut-offs and clocks
are the same on every run: AI for Science cuts off on the 1st of each month and decides
within 20 working days (Slovenian holidays); Fast Lane is first come, first served, decided
within 4 working days of the submission.
"""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from aifactory_hub.access import bodies, provision
from aifactory_hub.access import projects as prj
from aifactory_hub.access import proposals as prp
from aifactory_hub.access.views import Caller, project_json, proposal_json
from aifactory_hub.core.errors import AccessError
from aifactory_hub.policy.clocks import add_months
from aifactory_hub.site import load_site
from aifactory_hub.store import models as m

SITE = load_site()
SAM = Caller("sam", manage=True)
BEFORE_CUTOFF = date(2026, 11, 20)  # a Friday; AI for Science's next cut-off: 2026-12-01
CUTOFF = date(2026, 12, 1)
FEASIBLE = bodies.TechnicalCheckBody(feasible=True, notes="fits the gpu partition")
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
            "length_months": 3,  # Fast Lane's longest; AI for Science: 6
            **extra,
        }
    )


def new_call(db, title: str, capacity: dict, mode: str = "ai_science") -> m.Call:
    body = {"mode": mode, "title": title, "capacity": capacity}
    return prp.create_call(db, SITE, SAM, bodies.NewCall.model_validate(body))


def reviewed(
    db, call_id: int, applicant: str, org: str, hours: float, marks: dict[str, int],
    submitted_on: date = BEFORE_CUTOFF,
) -> int:  # fmt: skip
    """An AI for Science proposal submitted on `submitted_on`, technically checked and scored."""
    me = Caller(applicant)
    proposal = prp.create_draft(db, me, draft(call_id, org, hours, length_months=6))
    prp.submit(db, SITE, me, proposal.id, today=submitted_on)
    prp.record_technical_check(db, SITE, SAM, proposal.id, FEASIBLE, today=submitted_on)
    for reviewer, mark in marks.items():
        prp.assign_reviewer(db, SITE, SAM, proposal.id, reviewer)
        body = bodies.ReviewBody(quality=mark, pertinence=mark)
        prp.score(db, Caller(reviewer, review=True), proposal.id, body)
    return proposal.id


def test_a_call_from_drafts_to_a_partial_grant_at_its_cutoff(store):
    with store.begin() as db:
        call = new_call(db, "Winter", {"gpu": {"gpu_hours": 150}})
        first = reviewed(db, call.id, "alice", "Alpha Robotics", 100, {"rita": 5, "rob": 5})
        second = reviewed(db, call.id, "carol", "Beta Health", 100, {"ada": 3, "rob": 4})
        # bob's is checked and reviewed too, but came on the cut-off day: the next round's.
        late = reviewed(
            db, call.id, "bob", "Bob Labs", 10, {"rita": 5, "ada": 4}, submitted_on=CUTOFF
        )
        call_id = call.id
    with pytest.raises(AccessError) as early, store.begin() as db:
        prp.decide(db, SITE, SAM, call_id, today=date(2026, 11, 30))
    assert early.value.status == 409
    assert "reached its cut-off: the next cut-off is 2026-12-01" in early.value.message
    with store.begin() as db:
        _, rows, projects = prp.decide(db, SITE, SAM, call_id, today=CUTOFF)
        accounts = [(p.account, p.starts_on, p.ends_on) for p in projects]
    by_id = {r["proposal_id"]: r for r in rows}
    assert (by_id[first]["status"], by_id[first]["rank"]) == ("granted", 1)
    assert (by_id[second]["status"], by_id[second]["fraction"]) == ("partial", 0.5)
    assert by_id[late]["ready"] is False
    assert by_id[late]["why_not"] == "It waits for its cut-off on 2027-01-01."
    six_months = add_months(CUTOFF, 6)
    assert accounts == [(f"prj-{first}", CUTOFF, six_months), (f"prj-{second}", CUTOFF, six_months)]
    with store() as db:
        call = db.get(m.Call, call_id)
        assert call.status == "open"  # it takes proposals for the next cut-off
        again = prp.ranking(db, SITE, call, today=CUTOFF)
        assert [r["proposal_id"] for r in again] == [late]
        granted = db.get(m.Proposal, first)
        shown = proposal_json(granted, Caller("alice"), today=CUTOFF)
        assert shown["project"] == f"prj-{first}" and shown["price"]["charged"] is False
        assert all("reviewer" not in r for r in shown["reviews"])
        assert (shown["length_months"], shown["cutoff_on"]) == (6, "2026-12-01")
        # 20 working days after the cut-off, Christmas (Dec 25) not one of them.
        assert shown["decision_due_on"] == "2026-12-30"
        assert shown["clock"] == "decided" and shown["overdue"] is False
        assert shown["decided_at"] == granted.decided_at.isoformat()
        waiting = proposal_json(db.get(m.Proposal, late), Caller("bob"), today=date(2027, 2, 1))
        assert (waiting["cutoff_on"], waiting["decided_at"]) == ("2027-01-01", None)
        assert (waiting["clock"], waiting["overdue"]) == ("overdue", True)


def fifo_request(db, call_id: int, applicant: str, hours: float, today: date) -> int:
    me = Caller(applicant)
    proposal = prp.create_draft(db, me, draft(call_id, f"{applicant.title()} Labs", hours))
    prp.submit(db, SITE, me, proposal.id, today=today)
    return proposal.id


def test_fast_lane_requests_wait_for_their_check_and_are_granted_in_full_or_waitlisted(store):
    """No review round: each request is decided at its technical check, against what the
    call has left; a check out of order is allowed (and counted in the audit)."""
    monday, tuesday = date(2026, 11, 23), date(2026, 11, 24)
    with store.begin() as db:
        call = new_call(db, "Fast", {"gpu": {"gpu_hours": 150}}, mode="fast_lane")
        alice = fifo_request(db, call.id, "alice", 100, monday)
        bob = fifo_request(db, call.id, "bob", 100, monday)
        carol = fifo_request(db, call.id, "carol", 10, tuesday)
        waiting = db.get(m.Proposal, bob)
        assert (waiting.status, waiting.cutoff_on, waiting.decision_due_on) == (
            "in_review", None, date(2026, 11, 27),  # 4 working days after the submission
        )  # fmt: skip
        assert prp.waiting_ahead(SITE, waiting) == 1  # alice's came first
        assert prp.waiting_ahead(SITE, db.get(m.Proposal, carol)) == 2
        ids = call.id, alice, bob, carol
    call_id, alice, bob, carol = ids
    with store.begin() as db:  # bob's first: alice's waits for an answer from alice
        checked = prp.record_technical_check(db, SITE, SAM, bob, FEASIBLE, today=tuesday)
        assert checked.status == "granted" and checked.decided_at is not None
        assert (checked.project.account, checked.project.ends_on) == (
            f"prj-{bob}", add_months(tuesday, 3),  # the length the draft chose
        )  # fmt: skip
        audit = db.scalars(select(m.Event).where(m.Event.action == "technical check")).one()
        assert audit.detail["older_waiting"] == 1
    with store.begin() as db:  # 50 GPU-hours left: alice's 100 do not fit, none of it
        shown = prp.record_technical_check(db, SITE, SAM, alice, FEASIBLE, today=tuesday)
        assert (shown.status, shown.project, shown.decision["granted"]) == ("waitlisted", None, [])
        assert "remaining capacity" in shown.decision["reason"]
        no = bodies.TechnicalCheckBody(feasible=False, notes="needs 80 GB GPUs we lack")
        refused = prp.record_technical_check(db, SITE, SAM, carol, no, today=tuesday)
        assert refused.status == "rejected" and refused.decided_at is not None
        assert refused.decision["reason"].endswith("needs 80 GB GPUs we lack")
    with store() as db:
        call = db.get(m.Call, call_id)
        assert [p.status for p in sorted(call.proposals, key=lambda p: p.id)] == [
            "waitlisted", "granted", "rejected",
        ]  # fmt: skip
        assert call.status == "open" and len(db.scalars(select(m.Project)).all()) == 1


def test_a_fifo_request_has_no_reviewers_and_its_call_no_round(store):
    with store.begin() as db:
        call = new_call(db, "Fast", {"gpu": {"gpu_hours": 150}}, mode="fast_lane")
        pid = fifo_request(db, call.id, "alice", 10, BEFORE_CUTOFF)
        ids = call.id, pid
    with pytest.raises(AccessError) as reviewer, store.begin() as db:
        prp.assign_reviewer(db, SITE, SAM, ids[1], "rita")
    assert (reviewer.value.status, reviewer.value.field) == (409, "reviewer")
    with pytest.raises(AccessError) as round_, store.begin() as db:
        prp.decide(db, SITE, SAM, ids[0], today=CUTOFF)
    assert round_.value.status == 409 and "first come, first served" in round_.value.message
    with store() as db:
        assert db.scalars(select(m.Review)).all() == []
        assert db.get(m.Proposal, ids[1]).status == "in_review"


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
    assert calls[0].account == account and calls[0].gpu_hours == SITE.access.trial.max_gpu_hours


def test_refusals_change_nothing(store):
    with store.begin() as db:
        call = new_call(db, "Spring", {"cpu": {"cpu_hours": 10}})
        proposal = prp.create_draft(
            db, Caller("alice"), draft(call.id, "Alpha", 1, length_months=6)
        )
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
