"""Hub configuration as a pure function of the site file.

`apply_site(c, site, ...)` sets traitlets on a JupyterHub `Config`; it reads no files and
starts nothing, so tests call it with a bare `Config()`. jupyterhub_config.py only loads the
site file and calls `configure(c)`.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
from pathlib import Path

from traitlets.config import Config

from aifactory_hub.hubside import firstlogin, port_api, presets
from aifactory_hub.site import FACTORY_GROUP, SITE_ENV, Site, load_site, paths, scopes

TEMPLATES = Path(__file__).parent / "templates"
PREFIX_ENV = "AIFACTORY_PREFIX"
DEFAULT_PREFIX = "/opt/aifactory"


def apply_site(
    c: Config, site: Site, *, site_file: str, proxy_command: str, factory_token: str = ""
) -> Config:
    """Configure hub, proxy, authenticator, spawner and services from the validated site.

    `factory_token` is the factory service's API token; the hub uses it at a user's first
    login to ask for their playground project."""
    hub = site.hub
    state = Path(hub.state_dir)
    c.JupyterHub.bind_url = hub.bind_url
    c.JupyterHub.hub_bind_url = hub.hub_bind_url
    c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
    c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
    # Users' jobs outlive a hub restart; the hub adopts them again on start.
    c.JupyterHub.cleanup_servers = False
    c.ConfigurableHTTPProxy.command = [proxy_command]
    c.ConfigurableHTTPProxy.api_url = hub.proxy_api_url
    c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

    c.Authenticator.admin_users = set(hub.admin_users)
    if site.auth.kind == "pam":
        c.JupyterHub.authenticator_class = "pam"
        c.PAMAuthenticator.allowed_groups = {FACTORY_GROUP}
    else:
        oauth = site.auth.oauth
        c.JupyterHub.authenticator_class = "generic-oauth"
        c.GenericOAuthenticator.client_id = oauth.client_id
        c.GenericOAuthenticator.client_secret = os.environ.get(oauth.client_secret_env, "")
        c.GenericOAuthenticator.authorize_url = oauth.authorize_url
        c.GenericOAuthenticator.token_url = oauth.token_url
        c.GenericOAuthenticator.userdata_url = oauth.userdata_url
        c.GenericOAuthenticator.oauth_callback_url = oauth.callback_url
        c.GenericOAuthenticator.username_claim = oauth.username_claim
        c.GenericOAuthenticator.scope = list(oauth.scope)
        c.GenericOAuthenticator.allow_all = True

    c.JupyterHub.spawner_class = "aifactory_hub.hubside.spawner.FactorySpawner"
    # The factory's pages (JupyterHub's own, extended): the home says why a session ended.
    c.JupyterHub.template_paths = [str(TEMPLATES)]
    c.FactorySpawner.site_file = site_file
    c.FactorySpawner.connect_ip = hub.connect_ip
    c.FactorySpawner.start_timeout = hub.start_timeout_s
    c.FactorySpawner.http_timeout = 120
    c.FactorySpawner.poll_interval = hub.poll_interval_s
    c.FactorySpawner.default_url = "/lab"
    c.FactorySpawner.cmd = ["jupyterhub-singleuser"]
    # A spawn link that only fills in the form is not an error (hubside/presets.py).
    logging.getLogger("JupyterHub").addFilter(presets.QuietPrefill())
    # A terminal is a non-login bash: a login shell's /etc/profile would reset PATH, and the
    # terminal's `python` and `module` must be the session environment's.
    c.FactorySpawner.args = ['--ServerApp.terminado_settings={"shell_command": ["/bin/bash"]}']

    c.JupyterHub.custom_scopes = scopes.CUSTOM_SCOPES
    c.JupyterHub.load_roles = scopes.load_roles(site)
    c.JupyterHub.services = scopes.services(site, site_file, factory_token=factory_token)
    # Every user reaches the factory service; a session's token does too (the widgets).
    c.JupyterHub.extra_user_scopes = [scopes.FACTORY_ACCESS]
    c.FactorySpawner.server_token_scopes = [
        "users:activity!user",
        "access:servers!server",
        scopes.FACTORY_ACCESS,
    ]
    factory_public = f"{hub.bind_url.rstrip('/')}/services/{scopes.FACTORY}/"
    # A site file's own materials reach the session that copies them (it reads no site file).
    c.FactorySpawner.environment = {
        "AIFACTORY_FACTORY_URL": factory_public,
        **paths.environment(site.paths),
    }
    if factory_token:
        factory_api = f"{site.services.factory_url.rstrip('/')}/services/{scopes.FACTORY}/api"
        c.Authenticator.post_auth_hook = firstlogin.post_auth_hook(factory_api, factory_token)
    return c


def proxy_command() -> str:
    """configurable-http-proxy as installed by the project's own steps (npm, under the prefix)."""
    prefix = Path(os.environ.get(PREFIX_ENV, DEFAULT_PREFIX))
    local = prefix / "node" / "node_modules" / ".bin" / "configurable-http-proxy"
    if local.exists():
        return str(local)
    return shutil.which("configurable-http-proxy") or str(local)


def configure(c: Config) -> Config:
    """Entry point for jupyterhub_config.py: site file from $AIFACTORY_SITE or the demo."""
    site_file = os.environ.get(SITE_ENV, "")
    site = load_site(site_file or None)
    state = Path(site.hub.state_dir)
    state.mkdir(parents=True, exist_ok=True, mode=0o700)
    port_api.install()
    return apply_site(
        c,
        site,
        site_file=site_file,
        proxy_command=proxy_command(),
        factory_token=secret_file(state / "factory-api-token"),
    )


def secret_file(path: Path) -> str:
    """A random secret kept in a root-only file (made on first use), stable across restarts."""
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_hex(32))
    return path.read_text().strip()
