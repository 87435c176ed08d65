"""AI Factory inside JupyterLab, server side: a Jupyter server extension that tells the
JupyterLab extension (js/, built into labextension/) about the session and opens the
launcher's AI Factory cards as starter notebooks in the user's folder.

Enabled by jupyter-config/jupyter_server_config.d/aifactory_lab.json, installed into
`<prefix>/etc/jupyter/jupyter_server_config.d/` (`python -m aifactory_lab.install` for an
editable install, which gets no data files). The routes are in `handlers`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any


def _jupyter_server_extension_points() -> list[dict[str, Any]]:
    """How Jupyter server finds this extension (`jpserver_extensions`)."""
    return [{"module": "aifactory_lab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the routes; the cards open into the server's contents root (ServerApp.root_dir)."""
    from aifactory_lab.handlers import handlers  # the server's imports only when it loads us
    from aifactory_lab.session import SessionFacts

    web_app = serverapp.web_app
    base_url = web_app.settings["base_url"]
    root = Path(serverapp.root_dir).expanduser()
    web_app.add_handlers(".*$", handlers(base_url, root, SessionFacts()))
    serverapp.log.info("aifactory_lab: AI Factory routes under %saifactory/", base_url)
