"""The ticket desk's rules over the store.

A researcher files a ticket and sees only their own; support staff (the tickets:manage scope)
see all, assign, reply and close. A staff reply marks a ticket `answered` and, the first time,
stamps `first_reply_at` (the desk shows time to first reply); the researcher's reply puts it
back to `open`, also after it was closed: the same question goes on in the same thread.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from aifactory_hub.core.errors import AccessError, conflict, not_found
from aifactory_hub.helpdesk.bodies import TOPICS, AssignBody, NewTicket, ReplyBody
from aifactory_hub.site.names import is_username
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event


@dataclass(frozen=True)
class Asker:
    """Who is asking, and whether their token holds the tickets:manage scope."""

    name: str
    manage: bool = False


def now() -> datetime:
    return datetime.now(UTC)


def create(db: Session, asker: Asker, body: NewTicket) -> m.Ticket:
    if len(body.subject.strip()) < 3:
        raise AccessError(400, "give a subject of at least 3 characters", "subject")
    if not body.body.strip():
        raise AccessError(400, "write your question", "body")
    context = body.context.model_dump(mode="json")
    at = now()
    ticket = m.Ticket(
        user=asker.name,
        project=body.context.project,
        topic=body.topic,
        subject=body.subject.strip(),
        context=context,
        status="open",
        created_at=at,
    )
    ticket.messages = [m.TicketMessage(author=asker.name, staff=False, body=body.body, at=at)]
    db.add(ticket)
    db.flush()
    event(db, asker.name, "ticket.create", f"ticket:{ticket.id}", topic=body.topic)
    return ticket


def get(db: Session, asker: Asker, ticket_id: int) -> m.Ticket:
    """The ticket, if `asker` filed it or manages tickets (else it does not exist for them)."""
    ticket = db.get(m.Ticket, ticket_id)
    if ticket is None or not (asker.manage or ticket.user == asker.name):
        raise not_found(f"ticket {ticket_id}")
    return ticket


def listing(
    db: Session, asker: Asker, status: str = "", topic: str = "", assignee: str = ""
) -> list[m.Ticket]:
    """Own tickets (staff: all), newest first, optionally of one status, topic or assignee
    ("-" for the unassigned ones)."""
    query = select(m.Ticket).options(selectinload(m.Ticket.messages)).order_by(m.Ticket.id.desc())
    if not asker.manage:
        query = query.where(m.Ticket.user == asker.name)
    if status:
        if status not in m.TICKET_STATUSES:
            raise AccessError(400, f"status is one of {', '.join(m.TICKET_STATUSES)}", "status")
        query = query.where(m.Ticket.status == status)
    if topic:
        if topic not in TOPICS:
            raise AccessError(400, "not a topic", "topic")
        query = query.where(m.Ticket.topic == topic)
    if assignee == "-":
        query = query.where(m.Ticket.assignee.is_(None))
    elif assignee and not is_username(assignee):
        raise AccessError(400, "a user name, or - for the unassigned tickets", "assignee")
    elif assignee:
        query = query.where(m.Ticket.assignee == assignee)
    return list(db.scalars(query.limit(500)))


def reply(db: Session, asker: Asker, ticket_id: int, body: ReplyBody) -> m.Ticket:
    ticket = get(db, asker, ticket_id)
    if not body.body.strip():
        raise AccessError(400, "write a reply", "body")
    staff = asker.manage and ticket.user != asker.name
    at = now()
    if staff:
        if ticket.status == "closed":
            raise conflict(f"ticket {ticket_id} is closed; the researcher can reopen it")
        ticket.status = "answered"
        if ticket.first_reply_at is None:
            ticket.first_reply_at = at
        if ticket.assignee is None:
            ticket.assignee = asker.name  # whoever answers first owns it, unless assigned
    else:
        ticket.status = "open"
        ticket.closed_at = None
    ticket.messages = [
        *ticket.messages,
        m.TicketMessage(author=asker.name, staff=staff, body=body.body, at=at),
    ]
    event(db, asker.name, "ticket.reply", f"ticket:{ticket_id}", staff=staff)
    return ticket


def assign(db: Session, asker: Asker, ticket_id: int, body: AssignBody) -> m.Ticket:
    ticket = get(db, asker, ticket_id)
    ticket.assignee = body.assignee
    event(db, asker.name, "ticket.assign", f"ticket:{ticket_id}", assignee=body.assignee)
    return ticket


def close(db: Session, asker: Asker, ticket_id: int) -> m.Ticket:
    ticket = get(db, asker, ticket_id)
    if ticket.status == "closed":
        raise conflict(f"ticket {ticket_id} is already closed")
    ticket.status = "closed"
    ticket.closed_at = now()
    event(db, asker.name, "ticket.close", f"ticket:{ticket_id}")
    return ticket


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def first_reply_seconds(ticket: m.Ticket) -> float | None:
    if ticket.first_reply_at is None:
        return None
    return max((ticket.first_reply_at - ticket.created_at).total_seconds(), 0.0)


def ticket_json(ticket: m.Ticket, with_messages: bool = True) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": ticket.id,
        "user": ticket.user,
        "project": ticket.project,
        "topic": ticket.topic,
        "topic_label": TOPICS.get(ticket.topic, ticket.topic),
        "subject": ticket.subject,
        "status": ticket.status,
        "assignee": ticket.assignee,
        "created_at": _iso(ticket.created_at),
        "first_reply_at": _iso(ticket.first_reply_at),
        "first_reply_s": first_reply_seconds(ticket),
        "closed_at": _iso(ticket.closed_at),
        "updated_at": _iso(max(msg.at for msg in ticket.messages) if ticket.messages else None),
        "messages_count": len(ticket.messages),
    }
    if with_messages:
        data["context"] = ticket.context
        data["messages"] = [
            {"author": msg.author, "staff": msg.staff, "body": msg.body, "at": _iso(msg.at)}
            for msg in ticket.messages
        ]
    return data
