"""The console: stock Voila with JupyterHub's OAuth identity, per-dashboard scopes, a landing
page, and kernels that can only exchange widget messages.

Why a thin Voila subclass rather than Voila inside jupyterhub-singleuser: a single-user
server exposes /api/kernels and /lab, so anyone allowed in could run code as the console's
user. Standalone Voila exposes only its dashboards; we add what it lacks:
- identity: JupyterHub's own `JupyterHubIdentityProvider` (hub OAuth, access scope checked);
- authorisation per dashboard: the prelaunch hook refuses a dashboard whose scope the viewer
  lacks (Voila's page handlers call no authorizer);
- no code from the browser: `allowed_message_types` lets only widget (comm) and kernel-info
  messages through the kernel websocket, so an `execute_request` is dropped;
- no leaked kernels: idle kernels are culled; dashboards refresh from a browser-side timer,
  so a kernel nobody views goes idle.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from jupyter_server import DEFAULT_STATIC_FILES_PATH
from jupyter_server.base.handlers import JupyterHandler
from jupyter_server.utils import url_path_join
from jupyterhub.singleuser.extension import JupyterHubAuthorizer, JupyterHubIdentityProvider
from tornado import escape, template, web
from traitlets import Unicode
from traitlets.config import Config
from voila.app import Voila
from voila.tornado.handler import TornadoVoilaHandler

from aifactory_hub.console import dashboards

# Widget traffic only: what the Voila page itself sends to its kernel.
WIDGET_MESSAGES = [
    "comm_open",
    "comm_msg",
    "comm_close",
    "comm_info_request",
    "kernel_info_request",
]

INDEX = template.Template(
    """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{ site }} - console</title>
<style>
 body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 52rem; color: #222; }
 a.card { display: block; border: 1px solid #ccd; border-radius: 6px; padding: .8rem 1rem;
          margin: .6rem 0; text-decoration: none; color: inherit; }
 a.card:hover { background: #f4f6fb; } .muted { color: #667; }
</style></head>
<body>
<h1>{{ site }}: staff console</h1>
<p class="muted">Signed in as <b>{{ user }}</b>.
 <a href="{{ hub_home }}">Hub home</a></p>
{% if not boards %}<p>Your role opens no dashboard here yet.</p>{% end %}
{% for board in boards %}
<a class="card" href="{{ base }}voila/render/{{ url_escape(board.name, plus=False) }}">
 <b>{{ board.title }}</b><br><span class="muted">{{ board.description }}</span></a>
{% end %}
</body></html>
""",
    autoescape="xhtml_escape",
)


class IndexHandler(JupyterHandler):
    """The landing page: the dashboards the viewer's scopes open, and nothing else."""

    @web.authenticated
    def get(self) -> None:
        user = self.current_user.hub_user
        hub_auth = self.identity_provider.hub_auth
        boards = dashboards.visible(
            dashboards.discover(Path(self.settings["console_dashboards"])),
            user,
            hub_auth.check_scopes,
        )
        self.finish(
            INDEX.generate(
                site=self.settings["console_site_name"],
                user=user["name"],
                boards=boards,
                base=self.base_url,
                hub_home=url_path_join(hub_auth.hub_prefix, "home"),
                url_escape=escape.url_escape,
            )
        )


ERROR_PAGE = template.Template(
    """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ code }}</title>
<style>body { font-family: system-ui, sans-serif; margin: 3rem auto; max-width: 40rem; }</style>
</head><body><h1>{{ code }}: {{ reason }}</h1><p>{{ message }}</p>
<p><a href="{{ base }}">Back to the console</a></p></body></html>""",
    autoescape="xhtml_escape",
)


class DashboardHandler(TornadoVoilaHandler):
    """Voila's page handler, refusing before any kernel starts when the viewer's scopes do
    not open this dashboard (403), or when the path is not a dashboard (404)."""

    async def prepare(self) -> None:
        await super().prepare()
        user = self.current_user
        if user is None:
            return  # @authenticated on get() sends the viewer to the hub's login
        root = Path(self.settings["console_dashboards"]).resolve()
        path = (root / (self.path_args[0] if self.path_args else "")).resolve()
        if path.parent != root or not path.is_file():
            raise web.HTTPError(404, "There is no such dashboard.")
        try:
            board = dashboards.from_metadata(path.name, dashboards.read_metadata(path))
        except dashboards.NotADashboard:
            raise web.HTTPError(404, "There is no such dashboard.") from None
        if not self.identity_provider.hub_auth.check_scopes({board.scope}, user.hub_user):
            raise web.HTTPError(
                403, f"{user.username} may not open '{board.title}': it needs {board.scope}."
            )

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = exc.log_message if isinstance(exc, web.HTTPError) and exc.log_message else ""
        self.finish(
            ERROR_PAGE.generate(
                code=status_code, reason=self._reason, message=message, base=self.base_url
            )
        )


def prelaunch(handler: web.RequestHandler, notebook: Any, cwd: str) -> Any:
    """Give the dashboard's kernel the viewer's name and own token; refuse again if they may
    not open it (DashboardHandler refused already: this is the last line before a kernel)."""
    user = handler.current_user
    if user is None:
        raise web.HTTPError(403)
    name = os.path.basename(handler.request.path)
    try:
        board = dashboards.from_metadata(name, dict(notebook.metadata))
    except dashboards.NotADashboard:
        raise web.HTTPError(404, "no such dashboard") from None
    hub_auth = handler.settings["identity_provider"].hub_auth
    if not hub_auth.check_scopes({board.scope}, user.hub_user):
        raise web.HTTPError(403, f"{user.username} may not open {board.title}")
    token = hub_auth.get_token(handler) or ""
    notebook.cells.insert(0, dashboards.viewer_cell(user.username, token))
    return notebook


class ConsoleApp(Voila):
    """Voila serving dashboards/ under the service prefix, with the console's handlers."""

    name = "aifactory-console"
    site_name = Unicode("AI Factory", help="The centre's name on the landing page").tag(config=True)

    def init_settings(self) -> dict[str, Any]:
        settings = super().init_settings()
        settings["console_dashboards"] = self.root_dir
        settings["console_site_name"] = self.site_name
        # jupyter_server's error page (a clear 403/404 instead of a traceback) links its
        # static files; Voila alone does not set where they are.
        settings["static_path"] = DEFAULT_STATIC_FILES_PATH
        settings["static_url_prefix"] = url_path_join(self.base_url, "static/")
        return settings

    def init_handlers(self) -> list:
        hidden = {"TornadoVoilaTreeHandler", "VoilaContentsHandler"}
        handlers = []
        for spec in super().init_handlers():
            pattern, handler = spec[0], spec[1]
            if handler.__name__ in hidden:
                continue  # no file browser: the landing page lists what a role may open
            if handler is TornadoVoilaHandler:
                spec = (pattern, DashboardHandler, *spec[2:])
            if pattern in ("/logout", "/oauth_callback"):
                spec = (url_path_join(self.base_url, pattern), *spec[1:])
            handlers.append(spec)
        static = (url_path_join(self.base_url, r"/static/(.*)"), web.StaticFileHandler,
                  {"path": DEFAULT_STATIC_FILES_PATH})  # fmt: skip
        return [(self.base_url, IndexHandler), static, *handlers]


def console_config(environ: dict[str, str], root: Path) -> Config:
    """The console's whole configuration, from the environment the hub gives it
    (see `scopes.services`)."""
    url = urlparse(environ["JUPYTERHUB_SERVICE_URL"])
    cull = int(environ.get("AIFACTORY_KERNEL_CULL_S", "300"))
    c = Config()
    c.Voila.ip = url.hostname or "127.0.0.1"
    c.Voila.port = url.port or 80
    c.Voila.port_retries = 0
    c.Voila.open_browser = False
    c.Voila.base_url = environ.get("JUPYTERHUB_SERVICE_PREFIX", "/services/console/")
    c.Voila.root_dir = str(root)
    c.Voila.identity_provider_class = JupyterHubIdentityProvider
    c.Voila.authorizer_class = JupyterHubAuthorizer
    c.ConsoleApp.site_name = environ.get("AIFACTORY_SITE_NAME", "AI Factory")
    c.VoilaConfiguration.prelaunch_hook = prelaunch
    c.VoilaConfiguration.show_tracebacks = False
    c.VoilaConfiguration.strip_sources = True
    c.MappingKernelManager.allowed_message_types = WIDGET_MESSAGES
    c.MappingKernelManager.allow_tracebacks = False
    c.MappingKernelManager.cull_idle_timeout = cull
    c.MappingKernelManager.cull_interval = max(5, cull // 4)
    c.MappingKernelManager.cull_connected = False
    return c
