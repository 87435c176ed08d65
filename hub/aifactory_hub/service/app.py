"""The factory service's tornado application: handlers, auth by hub token, JSON errors."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from jupyterhub.services.auth import HubAuth
from tornado import web
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from aifactory_hub.service.cluster import ClusterMonitor
from aifactory_hub.site import scopes

log = logging.getLogger("aifactory.service")
USERNAME = re.compile(r"^[a-z_][a-z0-9_.-]{0,31}$")


class HubAPI:
    """The hub's REST API, called with the service's own token."""

    def __init__(self, api_url: str, token: str):
        self.api_url = api_url.rstrip("/")
        self.token = token
        self.http = AsyncHTTPClient()

    async def request(self, method: str, path: str, body: Any = None) -> Any:
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


class APIHandler(web.RequestHandler):
    """JSON in and out; every request authenticated by a hub token and checked for a scope."""

    hub_auth: HubAuth
    token_owner: dict[str, Any]

    def initialize(self, hub_auth: HubAuth) -> None:
        self.hub_auth = hub_auth

    def check_xsrf_cookie(self) -> None:
        # Token-authenticated API: no cookies are accepted, so there is nothing to forge.
        return

    async def require(self, scope: str) -> dict[str, Any]:
        header = self.request.headers.get("Authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() not in ("token", "bearer") or not token:
            raise web.HTTPError(401, "a hub token is required (Authorization: token ...)")
        model = await self.hub_auth.user_for_token(token.strip(), sync=False)
        if not model:
            raise web.HTTPError(401, "the token is not valid")
        if not self.hub_auth.check_scopes({scope}, model):
            raise web.HTTPError(403, f"{model.get('name')} lacks the scope {scope}")
        self.token_owner = model
        return model

    def write_json(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        message = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            message = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"status": status_code, "message": message}))


class NotFoundHandler(APIHandler):
    """Any path the service does not serve: a JSON 404 like every other refusal."""

    def prepare(self) -> None:
        raise web.HTTPError(404, "there is no such endpoint (see api/openapi.json)")


class HealthHandler(web.RequestHandler):
    def get(self) -> None:
        self.finish({"ok": True})


class ClusterHandler(APIHandler):
    def initialize(self, hub_auth: HubAuth, monitor: ClusterMonitor) -> None:
        super().initialize(hub_auth)
        self.monitor = monitor

    async def get(self) -> None:
        await self.require(scopes.CLUSTER_READ)
        snapshot = await self.monitor.snapshot()
        self.write_json(snapshot.to_json())


class SessionHandler(APIHandler):
    def initialize(self, hub_auth: HubAuth, hub: HubAPI) -> None:
        super().initialize(hub_auth)
        self.hub = hub

    async def delete(self, user: str) -> None:
        await self.require(scopes.SESSIONS_STOP)
        if not USERNAME.match(user):
            raise web.HTTPError(400, "not a valid user name")
        actor = self.request.headers.get("X-AIFactory-Actor", "")[:64]
        try:
            model = await self.hub.get(f"/users/{user}")
            if "" not in (model.get("servers") or {}):
                raise web.HTTPError(404, f"{user} has no running session")
            await self.hub.request("DELETE", f"/users/{user}/server")
        except HTTPClientError as exc:
            if exc.code == 404:
                raise web.HTTPError(404, f"there is no user {user}") from None
            raise web.HTTPError(502, f"the hub refused: {exc}") from None
        log.info("session of %s stopped by %s (for %s)", user, self.token_owner.get("name"), actor)
        self.write_json({"user": user, "stopping": True}, status=202)


def make_app(prefix: str, hub_auth: HubAuth, hub: HubAPI, monitor: ClusterMonitor, site, store):
    """The service's routes under its hub prefix (e.g. /services/factory/)."""
    from aifactory_hub.service import (  # build on APIHandler
        access_api,
        jobs_api,
        site_api,
        tickets_api,
        usage_api,
        workshops_api,
    )

    api = prefix.rstrip("/") + "/api"
    auth = {"hub_auth": hub_auth}
    # Modules of endpoints in the access handlers' pattern: each has ROUTES and BODIES.
    modules = (access_api, site_api, tickets_api, jobs_api, usage_api, workshops_api)
    extra = [(m.ROUTES, m.BODIES) for m in modules[1:]]
    return web.Application(
        [
            (f"{api}/health", HealthHandler),
            (
                f"{api}/openapi.json",
                access_api.OpenAPIHandler,
                {"server_prefix": api, "extra": extra},
            ),
            (f"{api}/cluster", ClusterHandler, {**auth, "monitor": monitor}),
            (f"{api}/sessions/([^/]+)", SessionHandler, {**auth, "hub": hub}),
            *[
                r
                for m in modules
                for r in access_api.handlers(api, hub_auth, site, store, m.ROUTES)
            ],
        ],
        default_handler_class=NotFoundHandler,
        default_handler_args=auth,
    )
