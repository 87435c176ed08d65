"""Hub configuration as a pure function of the site file.

`apply_site(c, site, ...)` sets traitlets on a JupyterHub `Config`; it reads no files and
starts nothing, so tests call it with a bare `Config()`. jupyterhub_config.py only loads the
site file and calls `configure(c)`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from traitlets.config import Config

from . import port_api, scopes
from .accounts import GROUP as FACTORY_GROUP
from .site import SITE_ENV, Site, load_site

PREFIX_ENV = "AIFACTORY_PREFIX"
DEFAULT_PREFIX = "/opt/aifactory"


def apply_site(c: Config, site: Site, *, site_file: str, proxy_command: str) -> Config:
    """Configure hub, proxy, authenticator and spawner from the validated site."""
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

    c.JupyterHub.spawner_class = "aifactory_hub.spawner.FactorySpawner"
    c.FactorySpawner.site_file = site_file
    c.FactorySpawner.connect_ip = hub.connect_ip
    c.FactorySpawner.start_timeout = hub.start_timeout_s
    c.FactorySpawner.http_timeout = 120
    c.FactorySpawner.poll_interval = hub.poll_interval_s
    c.FactorySpawner.default_url = "/lab"
    c.FactorySpawner.cmd = ["jupyterhub-singleuser"]

    c.JupyterHub.custom_scopes = scopes.CUSTOM_SCOPES
    c.JupyterHub.load_roles = scopes.load_roles(site)
    c.JupyterHub.services = scopes.services(site, site_file)
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
    Path(site.hub.state_dir).mkdir(parents=True, exist_ok=True, mode=0o700)
    port_api.install()
    return apply_site(c, site, site_file=site_file, proxy_command=proxy_command())
