"""In-process: an answer leaves only after its transaction has committed. A handler writes
its answer inside the transaction; if the commit then fails, the client gets the error, not
the success (the service once sent 201 before the draft was in the store, which a
hub-tier "a refused request changes nothing" test caught as a race on a loaded machine)."""

from __future__ import annotations

import pytest
from sqlalchemy import event
from sqlalchemy.orm import Session

from aifactory_hub.store import models as m
from tests.access import draft
from tests.service.world import ok


class CommitFails(RuntimeError):
    pass


@pytest.fixture
def failing_commits():
    def refuse(session: Session) -> None:
        raise CommitFails("the store refused the commit")

    event.listen(Session, "before_commit", refuse)
    yield
    event.remove(Session, "before_commit", refuse)


async def drafts_of(store, title: str) -> int:
    with store() as db:
        return db.query(m.Proposal).filter_by(title=title).count()


async def test_a_success_is_sent_only_after_the_commit(client, world, store):
    body = draft(world["call"], "Saved before answered", "Bob Labs", 10)
    made = await ok(await client.call("POST", "proposals", "bob", body), 201)
    assert await drafts_of(store, "Saved before answered") == 1 and made["id"]


async def test_a_failed_commit_answers_500_not_the_success(client, world, store, failing_commits):
    body = draft(world["call"], "Never saved", "Bob Labs", 10)
    answer = await client.call("POST", "proposals", "bob", body)
    assert answer.status == 500, answer.text
    assert '"status": 500' in answer.text and '"id"' not in answer.text
    assert await drafts_of(store, "Never saved") == 0
