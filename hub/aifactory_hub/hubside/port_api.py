"""The endpoint batchspawner's singleuser wrapper calls to report its port.

Stock batchspawner's handler sets any spawner attribute the request names. This one accepts
exactly `{"port": <int>}` for the caller's own server (matched by the server's API token) and
refuses everything else with 400 or 403. It is mounted at the same path, replacing the stock
handler, so the stock wrapper keeps working.
"""

from __future__ import annotations

import json

from jupyterhub import apihandlers
from jupyterhub.apihandlers import APIHandler
from tornado import web

PATH = r"/api/batchspawner"
MIN_PORT, MAX_PORT = 1024, 65535


def parse_port_report(body: object) -> int:
    """The reported port, or ValueError with the reason."""
    if not isinstance(body, dict) or set(body) != {"port"}:
        raise ValueError('body must be exactly {"port": <integer>}')
    port = body["port"]
    if isinstance(port, bool) or not isinstance(port, int):
        raise ValueError("port must be an integer")
    if not MIN_PORT <= port <= MAX_PORT:
        raise ValueError(f"port must be between {MIN_PORT} and {MAX_PORT}")
    return port


class PortReportHandler(APIHandler):
    @web.authenticated
    def post(self) -> None:
        user = self.current_user
        token = self.get_auth_token()
        spawners = getattr(user, "spawners", {}) or {}
        spawner = next(
            (s for s in spawners.values() if token and s.api_token and s.api_token == token), None
        )
        if spawner is None:
            raise web.HTTPError(403, "only a session's own server may report its port")
        try:
            body = json.loads(self.request.body or b"null")
            port = parse_port_report(body)
        except ValueError as exc:
            raise web.HTTPError(400, str(exc)) from None
        if not spawner.pending == "spawn":
            raise web.HTTPError(409, "the server is not starting")
        spawner.port = port
        self.set_status(201)
        self.finish(json.dumps({"message": "port recorded"}))


def install() -> None:
    """Replace batchspawner's handler in JupyterHub's API handler list (idempotent)."""
    import batchspawner  # noqa: F401 - importing it registers the stock handler we replace

    handlers = apihandlers.default_handlers
    handlers[:] = [h for h in handlers if h[0] != PATH]
    handlers.append((PATH, PortReportHandler))
