"""The ask-an-expert operations (docs/help-api.md): researchers file tickets and follow them,
support staff (custom:aifactory:tickets:manage) assign, answer and close them.

One request is one store transaction, as in `routes.access`; a refusal changes nothing.
"""

from __future__ import annotations

from aifactory_hub.helpdesk import bodies
from aifactory_hub.helpdesk import tickets as desk
from aifactory_hub.service.base import Handler, Route
from aifactory_hub.site import scopes

TOPIC_LIST = [{"code": code, "label": label} for code, label in bodies.TOPICS.items()]
RESEARCHER = (scopes.FACTORY_ACCESS,)
STAFF = (scopes.FACTORY_ACCESS, scopes.TICKETS_MANAGE)
_TEXT = {"type": "string", "maxLength": 64}


def asker(h: Handler) -> desk.Asker:
    """The token's owner as the desk sees them: may they manage every ticket?"""
    return desk.Asker(name=h.user, manage=h.holds(scopes.TICKETS_MANAGE))


def _arg(h: Handler, name: str) -> str:
    return h.get_query_argument(name, "")[:64]


async def list_tickets(h: Handler) -> None:
    status, topic, assignee = _arg(h, "status"), _arg(h, "topic"), _arg(h, "assignee")
    with h.store() as db:
        found = desk.listing(db, asker(h), status, topic, assignee)
        h.write_json([desk.ticket_json(t, with_messages=False) for t in found])


async def new_ticket(h: Handler) -> None:
    body = h.body(bodies.NewTicket)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.create(db, asker(h), body)), 201)


async def show_ticket(h: Handler, tid: str) -> None:
    with h.store() as db:
        h.write_json(desk.ticket_json(desk.get(db, asker(h), int(tid))))


async def reply(h: Handler, tid: str) -> None:
    body = h.body(bodies.ReplyBody)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.reply(db, asker(h), int(tid), body)))


async def assign(h: Handler, tid: str) -> None:
    body = h.body(bodies.AssignBody)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.assign(db, asker(h), int(tid), body)))


async def close(h: Handler, tid: str) -> None:
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.close(db, asker(h), int(tid))))


async def topics(h: Handler) -> None:
    """The fixed topics, and for staff the people a ticket can be assigned to."""
    caller = asker(h)
    staff_names = scopes.role_members(h.site).get("support", []) if caller.manage else []
    h.write_json({"topics": TOPIC_LIST, "staff": staff_names, "manage": caller.manage})


routes: list[Route] = [
    Route("get", "tickets", list_tickets, "Ask-an-expert tickets (yours; staff: all)",
          RESEARCHER, query={"status": _TEXT, "topic": _TEXT, "assignee": _TEXT}),
    Route("post", "tickets", new_ticket, "Ask an expert", RESEARCHER,
          body=bodies.NewTicket, success=(201,)),
    Route("get", "tickets/topics", topics,
          "Ticket topics (and, for staff, assignable people)", RESEARCHER),
    Route("get", "tickets/{id}", show_ticket, "A ticket with its context and messages",
          RESEARCHER),
    Route("post", "tickets/{id}/messages", reply, "Reply to a ticket", RESEARCHER,
          body=bodies.ReplyBody),
    Route("post", "tickets/{id}/assign", assign, "Assign a ticket (staff)", STAFF,
          body=bodies.AssignBody),
    Route("post", "tickets/{id}/close", close, "Close a ticket", RESEARCHER),
]  # fmt: skip
