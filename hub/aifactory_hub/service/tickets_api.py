"""The ask-an-expert REST API (docs/help-api.md): researchers file tickets and follow them,
support staff (custom:aifactory:tickets:manage) assign, answer and close them.

One request is one store transaction, as in `access_api`; a refusal changes nothing.
"""

from __future__ import annotations

from typing import Any

from aifactory_hub.access import bodies as access_bodies
from aifactory_hub.core.errors import AccessError
from aifactory_hub.helpdesk import bodies
from aifactory_hub.helpdesk import tickets as desk
from aifactory_hub.service.access_api import AccessHandler
from aifactory_hub.site import scopes

TOPIC_LIST = [{"code": code, "label": label} for code, label in bodies.TOPICS.items()]


async def asker(h: AccessHandler) -> desk.Asker:
    model = await h.require(scopes.FACTORY_ACCESS)
    manage = bool(h.hub_auth.check_scopes({scopes.TICKETS_MANAGE}, model))
    return desk.Asker(name=model["name"], manage=manage)


async def staff(h: AccessHandler) -> desk.Asker:
    caller = await asker(h)
    if not caller.manage:
        raise AccessError(403, f"{caller.name} lacks the scope {scopes.TICKETS_MANAGE}")
    return caller


def _arg(h: AccessHandler, name: str) -> str:
    return h.get_query_argument(name, "")[:64]


async def list_tickets(h: AccessHandler) -> None:
    caller = await asker(h)
    status, topic, assignee = _arg(h, "status"), _arg(h, "topic"), _arg(h, "assignee")
    with h.store() as db:
        found = desk.listing(db, caller, status, topic, assignee)
        h.write_json([desk.ticket_json(t, with_messages=False) for t in found])


async def new_ticket(h: AccessHandler) -> None:
    caller = await asker(h)
    body = h.body(bodies.NewTicket)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.create(db, caller, body)), 201)


async def show_ticket(h: AccessHandler, tid: str) -> None:
    caller = await asker(h)
    with h.store() as db:
        h.write_json(desk.ticket_json(desk.get(db, caller, int(tid))))


async def reply(h: AccessHandler, tid: str) -> None:
    caller = await asker(h)
    body = h.body(bodies.ReplyBody)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.reply(db, caller, int(tid), body)))


async def assign(h: AccessHandler, tid: str) -> None:
    caller = await staff(h)
    body = h.body(bodies.AssignBody)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.assign(db, caller, int(tid), body)))


async def close(h: AccessHandler, tid: str) -> None:
    caller = await asker(h)
    with h.store.begin() as db:
        h.write_json(desk.ticket_json(desk.close(db, caller, int(tid))))


async def topics(h: AccessHandler) -> None:
    """The fixed topics, and for staff the people a ticket can be assigned to."""
    caller = await asker(h)
    staff_names = scopes.role_members(h.site).get("support", []) if caller.manage else []
    h.write_json({"topics": TOPIC_LIST, "staff": staff_names, "manage": caller.manage})


ROUTES: list[tuple[str, dict[str, Any], str]] = [
    ("tickets", {"get": list_tickets, "post": new_ticket}, "Ask-an-expert tickets"),
    ("tickets/topics", {"get": topics}, "Ticket topics (and, for staff, assignable people)"),
    (r"tickets/(\d+)", {"get": show_ticket}, "A ticket with its context and messages"),
    (r"tickets/(\d+)/messages", {"post": reply}, "Reply to a ticket"),
    (r"tickets/(\d+)/assign", {"post": assign}, "Assign a ticket (staff)"),
    (r"tickets/(\d+)/close", {"post": close}, "Close a ticket"),
]
BODIES: dict[tuple[str, str], type[access_bodies._Body]] = {
    ("tickets", "post"): bodies.NewTicket,
    (r"tickets/(\d+)/messages", "post"): bodies.ReplyBody,
    (r"tickets/(\d+)/assign", "post"): bodies.AssignBody,
}
