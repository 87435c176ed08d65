"""What the database itself guarantees, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm.exc import StaleDataError

from aifactory_hub.store.db import transaction
from aifactory_hub.store.models import (
    Allocation,
    Call,
    Event,
    Member,
    Project,
    Proposal,
    ProvisioningStep,
    Review,
)
from tests.store import sample


def review(proposal_id: int, **changes) -> Review:
    fields = dict(
        proposal_id=proposal_id, reviewer="rita", reviewer_organisation="Uni A",
        assigned_by="sam",
    )  # fmt: skip
    return Review(**{**fields, **changes})


def saved_proposal(store, **changes) -> int:
    with transaction(store) as session:
        proposal = sample.proposal(sample.call(), **changes)
        session.add(proposal)
        session.flush()
        return proposal.id


def refused(store, *rows) -> None:
    """Adding `rows` in one transaction fails with an IntegrityError and leaves nothing."""
    with pytest.raises(IntegrityError), transaction(store) as session:
        session.add_all(rows)
    with store() as session:
        for row in rows:
            assert session.scalar(select(func.count()).select_from(type(row))) == 0


def test_check_refuses_an_unknown_status(store):
    refused(store, sample.call(status="bogus"))
    call = sample.call()
    refused(store, sample.proposal(call, status="approved"))
    refused(store, sample.project(status="frozen"))


def test_a_call_keeps_any_mode_code_and_needs_no_deadline(store):
    """Access modes are site data: the store keeps a call's mode code as given (the service
    checks it against the site's modes), and review modes have cut-offs, not deadlines."""
    with transaction(store) as session:
        session.add_all([sample.call(mode="large_scale", deadline=None),
                         sample.call(mode="regional_sprint", deadline=None)])  # fmt: skip
    with store() as session:
        modes = session.scalars(select(Call.mode).where(Call.deadline.is_(None))).all()
        assert sorted(modes) == ["large_scale", "regional_sprint"]


def test_a_proposal_keeps_its_length_and_clock(store):
    decided = datetime(2026, 12, 9, 15, 30, tzinfo=UTC)
    proposal_id = saved_proposal(
        store, length_months=6, cutoff_on=date(2026, 12, 1), decision_due_on=date(2026, 12, 15),
        decided_at=decided,
    )  # fmt: skip
    with store() as session:
        kept = session.get(Proposal, proposal_id)
        assert (kept.length_months, kept.cutoff_on, kept.decision_due_on) == (
            6, date(2026, 12, 1), date(2026, 12, 15),
        )  # fmt: skip
        assert kept.decided_at == decided and kept.decided_at.tzinfo is not None


@pytest.mark.parametrize("field", ["quality", "pertinence"])
@pytest.mark.parametrize("score", [0, 6])
def test_check_refuses_a_score_outside_1_to_5(store, field, score):
    proposal_id = saved_proposal(store)
    refused(store, review(proposal_id, **{field: score}))
    with transaction(store) as session:
        session.add(review(proposal_id, quality=5, pertinence=1))


def test_one_review_per_reviewer_and_proposal(store):
    proposal_id = saved_proposal(store)
    with transaction(store) as session:
        session.add(review(proposal_id))
    with pytest.raises(IntegrityError), transaction(store) as session:
        session.add(review(proposal_id, comment="again"))


def test_one_allocation_per_project_and_partition(store):
    project = sample.project(
        allocations=[
            Allocation(partition="gpu", gpu_hours=100.0),
            Allocation(partition="gpu", gpu_hours=50.0),
        ]
    )
    with pytest.raises(IntegrityError), transaction(store) as session:
        session.add(project)
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_review_for_a_missing_proposal_is_refused(store):
    refused(store, review(proposal_id=999))


def test_deleting_a_project_deletes_its_rows(store):
    with transaction(store) as session:
        session.add(
            sample.project(
                allocations=[Allocation(partition="gpu", gpu_hours=10.0)],
                members=[Member(username="alice", role="pi", added_by="ada")],
                steps=[ProvisioningStep(seq=1, action="add account", argv=["sacctmgr"])],
            )
        )
    with transaction(store) as session:  # SQL DELETE: the database cascades, not the ORM
        session.execute(delete(Project))
    with store() as session:
        for table in (Allocation, Member, ProvisioningStep):
            assert session.scalar(select(func.count()).select_from(table)) == 0


def test_concurrent_decisions_one_fails_with_stale_data(store):
    proposal_id = saved_proposal(store, status="in_review")
    first, second = store(), store()
    mine = first.get(Proposal, proposal_id)
    theirs = second.get(Proposal, proposal_id)
    assert mine.version == theirs.version == 1

    mine.status = "granted"
    first.commit()
    theirs.status = "rejected"
    with pytest.raises(StaleDataError):
        second.commit()
    second.close()
    first.close()

    with store() as session:
        decided = session.get(Proposal, proposal_id)
        assert (decided.status, decided.version) == ("granted", 2)


def test_json_round_trips(store):
    requests = [
        {"partition": "gpu", "gpu_hours": 1234.5, "cpu_hours": 0.0},
        {"partition": "cpu", "gpu_hours": 0.0, "cpu_hours": 20000.0},
    ]
    ethics = {
        "prohibited": [],
        "high_risk": {"uses": ["employment", "credit scoring"], "mitigation": "human review"},
        "answers": [["q1", True], ["q2", False, None]],
    }
    capacity = {"gpu": {"gpu_hours": 50000.0, "cpu_hours": 0.0}}
    proposal_id = saved_proposal(store, requests=requests, ethics=ethics)
    with transaction(store) as session:
        proposal = session.get(Proposal, proposal_id)
        proposal.call.capacity = capacity
        session.add(Event(actor="ada", action="grant", target="proposal:1", detail=ethics))
    with store() as session:
        proposal = session.get(Proposal, proposal_id)
        assert proposal.requests == requests
        assert proposal.ethics == ethics
        assert proposal.call.capacity == capacity
        assert session.scalars(select(Event.detail)).one() == ethics


def test_timestamps_come_back_timezone_aware_utc(store):
    paris = timezone(timedelta(hours=2))
    opens = datetime(2026, 6, 1, 12, 0, tzinfo=paris)
    with transaction(store) as session:
        session.add(sample.call(opens_at=opens, deadline=opens + timedelta(days=30)))
    with store() as session:
        call = session.scalars(select(Call)).one()
        assert call.opens_at == opens
        assert call.opens_at.utcoffset() == timedelta(0)
        assert call.opens_at.hour == 10
        assert call.created_at.tzinfo is not None
        assert abs(call.created_at - datetime.now(UTC)) < timedelta(minutes=5)


def test_a_naive_timestamp_is_refused(store):
    with pytest.raises(StatementError, match="naive datetime"), transaction(store) as session:
        session.add(sample.call(opens_at=datetime(2026, 6, 1, 12, 0)))


def test_transaction_rolls_back_on_an_exception(store):
    with pytest.raises(RuntimeError, match="halfway"), transaction(store) as session:
        session.add(sample.project())
        session.flush()  # the row reached the database inside the transaction
        raise RuntimeError("halfway")
    with store() as session:
        assert session.scalar(select(func.count()).select_from(Project)) == 0


def test_transaction_commits_and_objects_stay_readable(store):
    with transaction(store) as session:
        project = sample.project(members=[Member(username="bob", added_by="alice")])
        session.add(project)
    assert project.id is not None and project.members[0].role == "member"
    with store() as session:
        assert session.scalars(select(Member.username)).all() == ["bob"]
