"""The staff console's operations: the cluster snapshot (partitions, nodes, the Slurm queue and
every hub session) and stopping a user's session through the hub."""

from __future__ import annotations

import logging

from tornado.httpclient import HTTPClientError

from aifactory_hub.core.errors import AccessError, not_found
from aifactory_hub.service.base import Handler, Route
from aifactory_hub.site import names, scopes

log = logging.getLogger("aifactory.service")


async def snapshot(h: Handler) -> None:
    """The monitor's snapshot: at most one Slurm read per refresh interval for every viewer."""
    h.write_json((await h.context.monitor.snapshot()).to_json())


async def stop_session(h: Handler, user: str) -> None:
    if not names.is_username(user):
        raise AccessError(400, "not a valid user name")
    actor = h.request.headers.get("X-AIFactory-Actor", "")[:64]
    hub = h.context.hub
    try:
        model = await hub.get(f"/users/{user}")
        if "" not in (model.get("servers") or {}):
            raise AccessError(404, f"{user} has no running session")
        await hub.request("DELETE", f"/users/{user}/server")
    except HTTPClientError as exc:
        if exc.code == 404:
            raise not_found(f"user {user}") from None
        raise AccessError(502, f"the hub refused: {exc}") from None
    log.info("session of %s stopped by %s (for %s)", user, h.user, actor)
    h.write_json({"user": user, "stopping": True}, status=202)


routes: list[Route] = [
    Route(
        "get",
        "cluster",
        snapshot,
        "Partitions, nodes, the Slurm queue and every hub session (staff)",
        (scopes.CLUSTER_READ,),
    ),
    Route(
        "delete",
        "sessions/{name}",
        stop_session,
        "Stop a user's session (staff)",
        (scopes.SESSIONS_STOP,),
        success=(202,),
        upstream=True,
    ),
]
