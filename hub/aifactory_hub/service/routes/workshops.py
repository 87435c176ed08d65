"""Workshop operations (docs/workshops-api.md): trainers make and run workshops; a participant
sees theirs and raises a hand. Slurm and account steps run in a worker thread; sessions are
stopped and started through the hub."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from tornado.httpclient import HTTPClientError

from aifactory_hub.core.errors import AccessError, not_found
from aifactory_hub.service.base import Context, Handler, Hub, Route, in_thread
from aifactory_hub.service.hub_api import stop_sessions
from aifactory_hub.site import scopes
from aifactory_hub.store import models as m
from aifactory_hub.workshops import lifecycle as life
from aifactory_hub.workshops import plan

log = logging.getLogger("aifactory.workshops")
TRAINER = (scopes.WORKSHOPS_MANAGE,)
PARTICIPANT = (scopes.FACTORY_ACCESS,)


async def list_workshops(h: Handler) -> None:
    with h.store() as db:
        rows = db.scalars(
            select(m.Workshop).where(m.Workshop.trainer == h.user).order_by(m.Workshop.id)
        )
        h.write_json([life.workshop_json(ws) for ws in rows])


async def new_workshop(h: Handler) -> None:
    body = h.body(plan.NewWorkshop)
    field, reason = plan.check_against_site(h.site, body)
    if reason:  # refused here, before any account or reservation step is started
        raise AccessError(400, reason, field)
    create = h.context.slurm.create_workshop
    workshop_id, passwords = await in_thread(create, h.store, h.site, h.user, body)
    with h.store() as db:
        ws = db.get(m.Workshop, workshop_id)
        credentials = [{"username": u, "password": p} for u, p in sorted(passwords.items())]
        h.write_json({"workshop": life.workshop_json(ws), "credentials": credentials}, 201)


async def show_workshop(h: Handler, wid: str) -> None:
    users = {u["name"]: u for u in await h.context.hub.get("/users?limit=10000")}
    with h.store() as db:
        ws = life.get(db, h.user, int(wid))
        h.write_json(life.workshop_json(ws, life.room(ws, users)))


async def extend_workshop(h: Handler, wid: str) -> None:
    body = h.body(plan.Extension)
    await in_thread(h.context.slurm.extend_workshop, h.store, h.user, int(wid), body.ends_at)
    await show_workshop(h, wid)


async def end_workshop(context: Context, workshop_id: int, actor: str) -> list[str]:
    """Stop the participants' sessions, then tear the rest down; the problems met. The
    trainer's End and the end time (`service.tasks`) both end a workshop this way."""
    with context.store() as db:
        users = [p.username for p in db.get(m.Workshop, workshop_id).people]
    await stop_sessions(context.hub, users)
    end = context.slurm.end_workshop
    return await in_thread(end, context.store, context.site, workshop_id, actor)


async def end(h: Handler, wid: str) -> None:
    with h.store() as db:
        if life.get(db, h.user, int(wid)).status == "ended":
            raise AccessError(409, f"workshop {wid} has ended already")
    problems = await end_workshop(h.context, int(wid), h.user)
    with h.store() as db:
        h.write_json({**life.workshop_json(life.get(db, h.user, int(wid))), "problems": problems})


async def restart(h: Handler, wid: str, username: str) -> None:
    with h.store() as db:
        ws = life.get(db, h.user, int(wid))
        if username not in {p.username for p in ws.people}:
            raise not_found(f"participant {username}")
    # Answer at once; the stop and the new start take as long as Slurm needs.
    task = asyncio.create_task(_restart(h.context.hub, username))
    _restarts.add(task)
    task.add_done_callback(_restarts.discard)
    h.write_json({"restarting": username}, 202)


_restarts: set[asyncio.Task] = set()  # kept referenced until done


async def _restart(hub: Hub, username: str, tries: int = 120, wait_s: float = 1) -> None:
    await stop_sessions(hub, [username])
    for _ in range(tries):  # the hub answers 400 while the old server is still stopping
        try:
            await hub.request("POST", f"/users/{username}/server", {})
            return
        except HTTPClientError as exc:
            if exc.code != 400:
                log.warning("restart of %s refused by the hub: %s", username, exc)
                return
            await asyncio.sleep(wait_s)
    log.warning("restart of %s: the old session did not stop in %g s", username, tries * wait_s)


async def lower_hand(h: Handler, wid: str, username: str) -> None:
    life.lower_hand(h.store, h.user, int(wid), username)
    await show_workshop(h, wid)


async def my_workshop(h: Handler) -> None:
    with h.store() as db:
        ws = life.participant_of(db, h.user)
        if ws is None:
            raise not_found("workshop of yours")
        me = next(p for p in ws.people if p.username == h.user)
        h.write_json({"id": ws.id, "title": ws.title, "ends_at": ws.ends_at.isoformat(),
                      "hand_raised": me.hand_raised_at is not None})  # fmt: skip


async def raise_hand(h: Handler) -> None:
    life.raise_hand(h.store, h.user)
    h.write_json({"hand_raised": True})


routes: list[Route] = [
    Route("get", "workshops", list_workshops, "Your workshops (trainers)", TRAINER),
    Route("post", "workshops", new_workshop,
          "Make a workshop: reservation, project and accounts (trainers)", TRAINER,
          body=plan.NewWorkshop, success=(201,), upstream=True),
    Route("get", "workshops/mine", my_workshop, "The caller's workshop", PARTICIPANT),
    Route("post", "workshops/mine/hand", raise_hand, "Raise my hand", PARTICIPANT),
    Route("get", "workshops/{id}", show_workshop, "A workshop and its room (trainers)",
          TRAINER),
    Route("post", "workshops/{id}/extend", extend_workshop, "Extend a workshop (trainers)",
          TRAINER, body=plan.Extension),
    Route("post", "workshops/{id}/end", end, "End a workshop (trainers)", TRAINER,
          upstream=True),
    Route("post", "workshops/{id}/participants/{name}/restart", restart,
          "Restart a participant's session (trainers)", TRAINER, success=(202,)),
    Route("delete", "workshops/{id}/hands/{name}", lower_hand, "Lower a hand (trainers)",
          TRAINER),
]  # fmt: skip
