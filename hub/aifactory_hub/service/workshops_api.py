"""Workshop endpoints (docs/workshops-api.md): trainers make and run workshops; a
participant sees theirs and raises a hand. Slurm and account steps run in a worker thread."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sqlalchemy import select
from tornado.httpclient import HTTPClientError

from aifactory_hub.core.errors import AccessError, not_found
from aifactory_hub.service.access_api import AccessHandler
from aifactory_hub.service.app import HubAPI
from aifactory_hub.site import scopes
from aifactory_hub.store import models as m
from aifactory_hub.workshops import lifecycle as life
from aifactory_hub.workshops import plan

log = logging.getLogger("aifactory.workshops")


async def _trainer(h: AccessHandler) -> str:
    model = await h.require(scopes.WORKSHOPS_MANAGE)
    return model["name"]


def _hub(h: AccessHandler) -> HubAPI:
    return HubAPI(h.hub_auth.api_url, h.hub_auth.api_token)


async def _in_thread(function, *args):
    return await asyncio.get_running_loop().run_in_executor(None, function, *args)


async def list_workshops(h: AccessHandler) -> None:
    trainer = await _trainer(h)
    with h.store() as db:
        rows = db.scalars(
            select(m.Workshop).where(m.Workshop.trainer == trainer).order_by(m.Workshop.id)
        )
        h.write_json([life.workshop_json(ws) for ws in rows])


async def new_workshop(h: AccessHandler) -> None:
    trainer = await _trainer(h)
    body = h.body(plan.NewWorkshop)
    workshop_id, passwords = await _in_thread(life.create, h.store, h.site, trainer, body)
    with h.store() as db:
        ws = db.get(m.Workshop, workshop_id)
        credentials = [{"username": u, "password": p} for u, p in sorted(passwords.items())]
        h.write_json({"workshop": life.workshop_json(ws), "credentials": credentials}, 201)


async def show_workshop(h: AccessHandler, wid: str) -> None:
    trainer = await _trainer(h)
    users = {u["name"]: u for u in await _hub(h).get("/users?limit=10000")}
    with h.store() as db:
        ws = life.get(db, trainer, int(wid))
        h.write_json(life.workshop_json(ws, life.room(ws, users)))


async def extend_workshop(h: AccessHandler, wid: str) -> None:
    trainer = await _trainer(h)
    body = h.body(plan.Extension)
    await _in_thread(life.extend, h.store, trainer, int(wid), body.ends_at)
    await show_workshop(h, wid)


async def stop_sessions(hub: HubAPI, users: list[str]) -> None:
    for user in users:
        try:
            await hub.request("DELETE", f"/users/{user}/server")
        except HTTPClientError as exc:
            if exc.code not in (400, 404):  # no such user or no server: nothing to stop
                log.warning("could not stop %s's session: %s", user, exc)


async def end(hub: HubAPI, store, site, workshop_id: int, actor: str) -> list[str]:
    """Stop the sessions, then tear the rest down (also used at the end time)."""
    with store() as db:
        users = [p.username for p in db.get(m.Workshop, workshop_id).people]
    await stop_sessions(hub, users)
    return await _in_thread(life.teardown, store, site, workshop_id, actor)


async def end_workshop(h: AccessHandler, wid: str) -> None:
    trainer = await _trainer(h)
    with h.store() as db:
        if life.get(db, trainer, int(wid)).status == "ended":
            raise AccessError(409, f"workshop {wid} has ended already")
    problems = await end(_hub(h), h.store, h.site, int(wid), trainer)
    with h.store() as db:
        h.write_json({**life.workshop_json(life.get(db, trainer, int(wid))), "problems": problems})


async def restart(h: AccessHandler, wid: str, username: str) -> None:
    trainer = await _trainer(h)
    with h.store() as db:
        ws = life.get(db, trainer, int(wid))
        if username not in {p.username for p in ws.people}:
            raise not_found(f"participant {username}")
    # Answer at once; the stop and the new start take as long as Slurm needs.
    task = asyncio.create_task(_restart(_hub(h), username))
    _restarts.add(task)
    task.add_done_callback(_restarts.discard)
    h.write_json({"restarting": username}, 202)


_restarts: set[asyncio.Task] = set()  # kept referenced until done


async def _restart(hub: HubAPI, username: str) -> None:
    await stop_sessions(hub, [username])
    for _ in range(120):  # the hub answers 400 while the old server is still stopping
        try:
            await hub.request("POST", f"/users/{username}/server", {})
            return
        except HTTPClientError as exc:
            if exc.code != 400:
                log.warning("restart of %s refused by the hub: %s", username, exc)
                return
            await asyncio.sleep(1)
    log.warning("restart of %s: the old session did not stop in 120 s", username)


async def lower_hand(h: AccessHandler, wid: str, username: str) -> None:
    trainer = await _trainer(h)
    life.lower_hand(h.store, trainer, int(wid), username)
    await show_workshop(h, wid)


async def my_workshop(h: AccessHandler) -> None:
    caller = await h.caller()
    with h.store() as db:
        ws = life.participant_of(db, caller.name)
        if ws is None:
            raise not_found("workshop of yours")
        me = next(p for p in ws.people if p.username == caller.name)
        h.write_json({"id": ws.id, "title": ws.title, "ends_at": ws.ends_at.isoformat(),
                      "hand_raised": me.hand_raised_at is not None})  # fmt: skip


async def raise_hand(h: AccessHandler) -> None:
    caller = await h.caller()
    life.raise_hand(h.store, caller.name)
    h.write_json({"hand_raised": True})


ROUTES: list[tuple[str, dict[str, Any], str]] = [
    ("workshops", {"get": list_workshops, "post": new_workshop}, "Workshops"),
    ("workshops/mine", {"get": my_workshop}, "The caller's workshop"),
    ("workshops/mine/hand", {"post": raise_hand}, "Raise my hand"),
    (r"workshops/(\d+)", {"get": show_workshop}, "A workshop and its room"),
    (r"workshops/(\d+)/extend", {"post": extend_workshop}, "Extend a workshop"),
    (r"workshops/(\d+)/end", {"post": end_workshop}, "End a workshop"),
    (r"workshops/(\d+)/participants/([^/]+)/restart", {"post": restart}, "Restart a session"),
    (r"workshops/(\d+)/hands/([^/]+)", {"delete": lower_hand}, "Lower a hand"),
]
BODIES: dict[tuple[str, str], Any] = {
    ("workshops", "post"): plan.NewWorkshop,
    (r"workshops/(\d+)/extend", "post"): plan.Extension,
}


async def end_due_workshops(hub: HubAPI, store, site, every_s: float = 60) -> None:
    """Runs in the service: workshops start and end on time, nobody has to press a button."""
    while True:
        try:
            ending = await _in_thread(life.due, store)
            for workshop_id in ending:
                await end(hub, store, site, workshop_id, "end time")
        except Exception:  # try again next round: the loop must never stop
            log.exception("workshop timer")
        await asyncio.sleep(every_s)
