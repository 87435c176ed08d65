"""First login: a new researcher gets a playground project before the spawn form opens.

The hub asks the factory service (which owns the store and provisioning) with the service's
own token, whose role holds the playground scope. A factory that does not answer never blocks
a login: the user logs in, and the spawn form says they have no project yet.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger("aifactory.firstlogin")

Hook = Callable[[Any, Any, dict[str, Any]], Awaitable[dict[str, Any]]]


def post_auth_hook(factory_api: str, token: str, timeout_s: float = 20) -> Hook:
    """`Authenticator.post_auth_hook` asking the factory for the user's playground."""

    async def hook(authenticator: Any, handler: Any, authentication: dict[str, Any]):
        if not authentication:
            return authentication
        name = authentication["name"]
        request = HTTPRequest(
            f"{factory_api.rstrip('/')}/playground/{quote(name, safe='')}",
            method="POST",
            body="{}",
            headers={"Authorization": f"token {token}"},
            request_timeout=timeout_s,
        )
        try:
            resp = await AsyncHTTPClient().fetch(request)
            answer = json.loads(resp.body)
            if answer.get("created"):
                log.info("playground %s for %s", answer["project"]["account"], name)
        except (HTTPClientError, OSError, ValueError) as exc:
            log.warning("no playground for %s now: %s", name, exc)
        return authentication

    return hook
