"""The hub's REST API as the factory service calls it, with the service's own token: the users'
sessions (read, stop, start). The only place the service talks HTTP to the hub."""

from __future__ import annotations

import json
import logging
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from aifactory_hub.service.base import Hub

log = logging.getLogger("aifactory.service")


class HubAPI:
    """The hub's REST API (`HubAuth.api_url`), called with the service's own token."""

    def __init__(self, api_url: str, token: str):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = AsyncHTTPClient()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        """`method` on `path` (e.g. /users/alice/server); the JSON answer, or None."""
        req = HTTPRequest(
            self.api_url + path,
            method=method,
            headers={"Authorization": f"token {self.token}"},
            body=None if body is None else json.dumps(body),
            allow_nonstandard_methods=True,
            request_timeout=20,
        )
        resp = await self.http.fetch(req)
        return json.loads(resp.body) if resp.body else None

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)


async def stop_sessions(hub: Hub, users: list[str]) -> None:
    """Stop each user's session; a user with no session (or none at all) is skipped."""
    for user in users:
        try:
            await hub.request("DELETE", f"/users/{user}/server")
        except HTTPClientError as exc:
            if exc.code not in (400, 404):  # no such user or no server: nothing to stop
                log.warning("could not stop %s's session: %s", user, exc)
