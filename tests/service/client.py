"""Calling the in-process factory service: its real application served on a loopback port
of the test's own event loop, and a client that calls it with a (mock) hub token."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from tornado.httpclient import AsyncHTTPClient, HTTPRequest
from tornado.httpserver import HTTPServer
from tornado.httputil import HTTPHeaders
from tornado.testing import bind_unused_port

from aifactory_hub.service.app import ROUTES, make_app
from aifactory_hub.service.base import Context, Route
from aifactory_hub.site import Site, scopes
from tests.service.mocking import MockHubAuth, hub_scopes

PREFIX = "/services/factory/"
NO_BODY = object()
# A value of each path parameter kind that its pattern accepts, and one that it refuses.
GOOD = {"id": "7", "account": "ai-alpha", "name": "someone"}
BAD = {"id": "seven", "account": "Not_An_Account!"}
EVERY_SCOPE = sorted({scope for route in ROUTES for scope in route.scopes})


def label(route: Route) -> str:
    """How a route is named in test ids: `POST /calls/{id}/close`."""
    return f"{route.method.upper()} /{route.path}"


def concrete(route: Route, values: dict[str, str] | None = None) -> str:
    """The route's path with a value for each parameter (`GOOD` unless given)."""
    values = {**GOOD, **(values or {})}
    return route.path.format(**{name: values[name] for name in route.params})


@dataclass(frozen=True)
class Answer:
    status: int
    headers: HTTPHeaders
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class ServiceClient:
    """Calls the service as a person (or the hub) with a hub token would."""

    def __init__(self, base: str, http: AsyncHTTPClient, auth: MockHubAuth, site: Site):
        self.base = base
        self.http = http
        self.auth = auth
        self.site = site
        self._tokens: dict[str, str] = {}

    def token(self, user: str) -> str:
        """`user`'s token with the scopes the hub would give them."""
        if user not in self._tokens:
            self._tokens[user] = self.auth.token(user, hub_scopes(self.site, user))
        return self._tokens[user]

    def hub_token(self) -> str:
        """The hub's own call at a user's first login: the factory service's token."""
        return self.auth.token(scopes.FACTORY, [scopes.PLAYGROUND_GRANT], kind="service")

    async def call(
        self,
        method: str,
        path: str,
        user: str | None = None,
        body: Any = NO_BODY,
        *,
        token: str | None = None,
        data: bytes | None = None,
    ) -> Answer:
        """`method` on `api/<path>`, with `user`'s token (or `token`), `body` sent as JSON or
        `data` as it is."""
        token = token or (self.token(user) if user else None)
        headers = {"Authorization": f"token {token}"} if token else {}
        if data is None and body is not NO_BODY:
            data = json.dumps(body).encode()
        if data is None and method in ("POST", "PUT"):
            data = b""
        request = HTTPRequest(
            self.base + path, method=method, headers=headers, body=data,
            allow_nonstandard_methods=True, request_timeout=30,
        )  # fmt: skip
        resp = await self.http.fetch(request, raise_error=False)
        return Answer(resp.code, resp.headers, resp.body.decode() if resp.body else "")


@asynccontextmanager
async def served(
    context: Context, routes: Sequence[Route] = ROUTES
) -> AsyncIterator[ServiceClient]:
    """`make_app(PREFIX, context, routes)` on a free loopback port, and a client for it."""
    sock, port = bind_unused_port()
    server = HTTPServer(make_app(PREFIX, context, routes))
    server.add_sockets([sock])
    http = AsyncHTTPClient(force_instance=True)
    try:
        yield ServiceClient(
            f"http://127.0.0.1:{port}{PREFIX}api/", http, context.auth, context.site
        )
    finally:
        http.close()
        server.stop()
        await server.close_all_connections()
