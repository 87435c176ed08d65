"""The ticket desk's rules on a real (SQLite) store: who sees what, status and first reply."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from aifactory_hub.core.bodies import parse
from aifactory_hub.core.errors import AccessError
from aifactory_hub.helpdesk import bodies
from aifactory_hub.helpdesk import tickets as desk
from aifactory_hub.store import db

ALICE = desk.Asker("alice")
BOB = desk.Asker("bob")
SAM = desk.Asker("sam", manage=True)


@pytest.fixture
def store(tmp_path):
    url = f"sqlite:///{tmp_path}/factory.sqlite"
    db.migrate(url)
    engine = db.make_engine(url)
    yield db.session_factory(engine)
    engine.dispose()


def new(subject: str = "Job 102 fails", **context) -> bodies.NewTicket:
    return bodies.NewTicket(
        topic="jobs", subject=subject, body="It says CUDA out of memory.", context=context
    )


def file(store, asker=ALICE, **kwargs) -> int:
    with db.transaction(store) as s:
        return desk.create(s, asker, new(**kwargs)).id


def test_a_ticket_keeps_its_context_and_the_researchers_message(store):
    tid = file(store, project="ai-alpha", job_id="104", jobs=[{"id": "104", "state": "RUNNING"}])
    with store() as s:
        data = desk.ticket_json(desk.get(s, ALICE, tid))
    assert (data["user"], data["project"], data["status"], data["topic"]) == (
        "alice", "ai-alpha", "open", "jobs",
    )  # fmt: skip
    assert data["context"]["job_id"] == "104" and data["context"]["jobs"][0]["id"] == "104"
    assert data["messages"] == [
        {"author": "alice", "staff": False, "body": "It says CUDA out of memory.",
         "at": data["created_at"]}
    ]  # fmt: skip
    assert data["first_reply_s"] is None and data["topic_label"].startswith("Jobs")


def test_researchers_see_only_their_own_tickets_staff_see_all(store):
    mine, theirs = file(store), file(store, BOB)
    with store() as s:
        assert [t.id for t in desk.listing(s, ALICE)] == [mine]
        assert [t.id for t in desk.listing(s, SAM)] == [theirs, mine]
        with pytest.raises(AccessError) as refused:
            desk.get(s, ALICE, theirs)
        assert refused.value.status == 404


def test_a_staff_reply_answers_and_times_the_first_reply_the_researcher_reopens(store):
    tid = file(store)
    with db.transaction(store) as s:
        ticket = desk.get(s, SAM, tid)
        ticket.created_at -= timedelta(minutes=12)  # filed 12 minutes ago
        desk.reply(s, SAM, tid, bodies.ReplyBody(body="Use a smaller micro-batch."))
    with store() as s:
        data = desk.ticket_json(desk.get(s, ALICE, tid))
    assert data["status"] == "answered" and data["assignee"] == "sam"
    assert 12 * 60 <= data["first_reply_s"] < 13 * 60
    assert data["messages"][-1]["staff"] and data["messages"][-1]["author"] == "sam"
    with db.transaction(store) as s:
        desk.close(s, ALICE, tid)
    with db.transaction(store) as s, pytest.raises(AccessError) as refused:
        desk.reply(s, SAM, tid, bodies.ReplyBody(body="more"))
    assert refused.value.status == 409
    with db.transaction(store) as s:
        again = desk.reply(s, ALICE, tid, bodies.ReplyBody(body="Still fails."))
        assert (again.status, again.closed_at) == ("open", None)
        first = again.first_reply_at
    with db.transaction(store) as s:
        desk.reply(s, SAM, tid, bodies.ReplyBody(body="Then try this."))
    with store() as s:
        assert desk.get(s, SAM, tid).first_reply_at == first  # the first one counts


def test_filters_and_assignment(store):
    a, b = file(store), file(store, BOB)
    with db.transaction(store) as s:
        desk.assign(s, SAM, a, bodies.AssignBody(assignee="sam"))
        desk.close(s, SAM, b)
    with store() as s:
        assert [t.id for t in desk.listing(s, SAM, status="open")] == [a]
        assert [t.id for t in desk.listing(s, SAM, assignee="sam")] == [a]
        assert [t.id for t in desk.listing(s, SAM, assignee="-")] == [b]
        assert [t.id for t in desk.listing(s, SAM, topic="data")] == []
        with pytest.raises(AccessError) as bad:
            desk.listing(s, SAM, status="lost")
        assert bad.value.field == "status"
    with db.transaction(store) as s, pytest.raises(AccessError) as twice:
        desk.close(s, SAM, b)
    assert twice.value.status == 409


def test_bodies_refuse_unknown_topics_fields_and_oversized_context():
    with pytest.raises(AccessError) as topic:
        parse(bodies.NewTicket, {"topic": "gossip", "subject": "abc", "body": "x"})
    assert topic.value.field == "topic"
    with pytest.raises(AccessError) as extra:
        parse(bodies.NewTicket, {"topic": "data", "subject": "abc", "body": "x", "user": "sam"})
    assert (extra.value.field, extra.value.message) == ("user", "unknown field")
    with pytest.raises(ValidationError):
        bodies.Context(jobs=[{"id": "1; rm -rf /"}])
    with pytest.raises(ValidationError):
        bodies.Context(output_tail={"job_id": "1", "path": "/x", "text": "x" * 9000})
    with pytest.raises(ValidationError):
        bodies.Context(project="../etc")


def test_a_blank_subject_is_refused(store):
    with db.transaction(store) as s, pytest.raises(AccessError) as blank:
        desk.create(s, ALICE, new(subject="   "))
    assert blank.value.field == "subject"
