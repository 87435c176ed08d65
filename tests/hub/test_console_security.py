"""The staff console over plain HTTP, as a signed-in support user: it serves its dashboards
rendered (no sources) and nothing else: no file of the checkout, no notebook or script
download, no file browser, no kernel API, however the path is spelled."""

from __future__ import annotations

import http.client
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
ROOT = Path(__file__).resolve().parents[2]
CONSOLE = "/services/console/"
DASHBOARD = "cluster.ipynb"
# Text that is only in the files themselves, never in a page or error about them.
SECRETS_OF = {
    "notebook": '"nbformat"',
    "notebook source": "ClusterView(refresh_s=float(",
    "config.py": (ROOT / "hub/aifactory_hub/hubside/config.py").read_text().splitlines()[0],
    "console app": "allowed_message_types = WIDGET_MESSAGES",
    "passwd": "root:x:0:0",
    "site file": "[hub]",
}


@pytest.fixture(scope="module")
def support(hub) -> requests.Session:
    """sam (support), signed in to the hub and, through its OAuth, to the console."""
    session = hub.login("sam")
    landing = session.get(hub.url + CONSOLE, timeout=60)
    assert landing.status_code == 200 and "Cluster, queue and sessions" in landing.text
    return session


def raw_get(hub, session: requests.Session, path: str) -> tuple[int, str]:
    """GET `path` exactly as written (no client-side '..' removal or re-encoding)."""
    url = urlparse(hub.url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    cookies = "; ".join(f"{c.name}={c.value}" for c in session.cookies)
    try:
        conn.request("GET", path, headers={"Cookie": cookies})
        resp = conn.getresponse()
        return resp.status, resp.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.hardening(
    "attack",
    "support user asks for a dashboard as a download (?download=1&format=raw)",
    "the rendered page only: no notebook JSON, no code",
)
@pytest.mark.parametrize("query", ["", "?download=1&format=raw"])
def test_a_dashboard_renders_without_its_code(hub, support, query):
    """Also the positive control: the same session gets the real dashboard."""
    status, body = raw_get(hub, support, f"{CONSOLE}voila/render/{DASHBOARD}{query}")
    assert status == 200 and "jupyter-config-data" in body
    assert SECRETS_OF["notebook source"] not in body and SECRETS_OF["notebook"] not in body


UP = "../../"
ENC = "%2e%2e/%2e%2e/"
PATHS = {
    "voila-files-notebook": f"voila/files/{DASHBOARD}",
    "voila-files-traversal": f"voila/files/{UP}hub/aifactory_hub/hubside/config.py",
    "files-notebook": f"files/{DASHBOARD}",
    "files-traversal": f"files/{UP}hub/aifactory_hub/hubside/config.py",
    "api-contents": "api/contents",
    "api-contents-notebook": f"api/contents/{DASHBOARD}",
    "api-contents-notebook-raw": f"api/contents/{DASHBOARD}?content=1&format=text",
    "voila-api-contents": f"voila/api/contents/{DASHBOARD}",
    "tree": "tree",
    "voila-tree": "voila/tree",
    "voila-tree-up": f"voila/tree/{UP}",
    "render-traversal": f"voila/render/{UP}hub/aifactory_hub/hubside/config.py",
    "render-encoded-traversal": f"voila/render/{ENC}hub/aifactory_hub/hubside/config.py",
    "render-encoded-slash": "voila/render/..%2f..%2fhub%2faifactory_hub%2fconfig.py",
    "render-double-encoded": "voila/render/%252e%252e/%252e%252e/hub/aifactory_hub/"
    "hubside/config.py",
    "render-absolute": "voila/render//etc/passwd",
    "render-not-a-dashboard": "voila/render/../notebooks/apply-for-access.ipynb",
    "render-python-file": "voila/render/../hub/aifactory_hub/console/app.py",
    "static-traversal": f"static/{UP}{UP}{UP}etc/passwd",
    "static-encoded-traversal": f"static/{ENC}{ENC}{ENC}etc/passwd",
    "static-up-one": "static/../",
    "voila-static-traversal": f"voila/static/{ENC}{ENC}hub/aifactory_hub/console/app.py",
    "notebook-download": f"{DASHBOARD}",
    "nbconvert-script": f"nbconvert/script/{DASHBOARD}",
    "nbconvert-notebook": f"nbconvert/notebook/{DASHBOARD}",
    "voila-nbconvert": f"voila/nbconvert/notebook/{DASHBOARD}",
    "api-kernels-list": "api/kernels",
    "api-sessions": "api/sessions",
    "api-kernelspecs": "api/kernelspecs",
    "api-terminals": "api/terminals",
    "lab": "lab",
    "edit": f"edit/{DASHBOARD}",
    "site-file-by-name": "voila/files/site.toml",
}


@pytest.mark.hardening(
    "attack",
    "support user asks the console for a file, notebook, script, file list or kernel list",
    "403/404, never the file's content",
)
@pytest.mark.parametrize("case", list(PATHS))
def test_nothing_but_dashboards_is_served(hub, support, case):
    status, body = raw_get(hub, support, CONSOLE + PATHS[case])
    assert status in (403, 404), (status, body[:500])
    leaked = [what for what, text in SECRETS_OF.items() if text in body]
    assert leaked == [], body[:500]


@pytest.mark.hardening(
    "attack",
    "support user's token starts a kernel or a session through the console's REST API",
    "403/404 and no kernel",
)
@pytest.mark.parametrize(
    "path", ["api/kernels", "voila/api/kernels", "api/sessions", "api/terminals"]
)
def test_no_kernel_can_be_started_over_rest(hub, support, path):
    token = hub.token("sam")
    # the token does open the console (so a refusal below is the route's, not the login's)
    assert (
        requests.get(
            hub.url + CONSOLE, headers={"Authorization": f"token {token}"}, timeout=60
        ).status_code
        == 200
    )
    resp = requests.post(
        hub.url + CONSOLE + path,
        json={"name": "python3", "path": "x.ipynb", "type": "notebook", "kernel": {}},
        headers={"Authorization": f"token {token}"},
        timeout=60,
    )
    assert resp.status_code in (403, 404, 405), resp.text[:500]
    assert '"id"' not in resp.text
