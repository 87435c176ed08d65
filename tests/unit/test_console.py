"""The console's pure parts: roles and services, dashboards and who may open them, the
Voila configuration that keeps code out of the kernels."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from jupyterhub.scopes import _check_scopes_exist, _custom_scope_pattern
from jupyterhub.services.auth import HubAuth
from traitlets.config import Config

from aifactory_hub.console import dashboards
from aifactory_hub.console.app import WIDGET_MESSAGES, console_config
from aifactory_hub.hubside.config import apply_site
from aifactory_hub.site import paths, scopes

ENV = {
    "JUPYTERHUB_SERVICE_URL": "http://127.0.0.1:18091",
    "JUPYTERHUB_SERVICE_PREFIX": "/services/console/",
    "AIFACTORY_KERNEL_CULL_S": "60",
    "AIFACTORY_SITE_NAME": "Demo",
}


def _model(*granted: str) -> dict:
    return {"kind": "user", "name": "u", "scopes": list(granted)}


def test_roles_follow_the_site(demo_site):
    members = scopes.role_members(demo_site)
    assert members["support"] == ["ada", "sam"]
    assert members["trainer"] == ["ada", "tess"]
    assert members["researcher"] == ["alice", "bob", "carol", "dave"]
    assert members["reviewer"] == ["ada", "rita", "rob"]
    roles = {r["name"]: r for r in scopes.load_roles(demo_site)}
    assert scopes.CLUSTER_READ in roles["support"]["scopes"]
    assert scopes.CLUSTER_READ not in roles["trainer"]["scopes"]
    assert scopes.CONSOLE_ACCESS not in roles["researcher"]["scopes"]
    assert scopes.PROPOSALS_MANAGE in roles["support"]["scopes"]
    assert scopes.PROPOSALS_REVIEW in roles["reviewer"]["scopes"]
    assert scopes.PROPOSALS_MANAGE not in roles["reviewer"]["scopes"]
    factory = roles["factory-service"]
    assert factory["services"] == ["factory"] and scopes.PLAYGROUND_GRANT in factory["scopes"]


def test_custom_scopes_are_valid_for_the_hub(demo_site):
    for name in scopes.CUSTOM_SCOPES:
        assert _custom_scope_pattern.match(name), name
    for role in scopes.load_roles(demo_site):
        for scope in role["scopes"]:
            if scope.startswith("custom:"):
                assert scope in scopes.CUSTOM_SCOPES
            else:
                _check_scopes_exist([scope])


def test_console_runs_as_its_own_user_and_reads_no_site_file(demo_site):
    factory, console, _culler = scopes.services(
        demo_site, "/root/private/site.toml", python="/py", hub_pid=4242
    )
    child = ["/py", "-m", scopes.HUBCHILD, "--parent", "4242"]
    assert factory["command"] == [*child, "aifactory_hub.service"]
    assert console["command"] == [*child, "aifactory_hub.console"]
    assert factory["environment"] == {"AIFACTORY_SITE": "/root/private/site.toml"}
    assert console["user"] == "aifactory-console"
    assert "AIFACTORY_SITE" not in console["environment"]
    assert console["environment"]["AIFACTORY_FACTORY_URL"] == (
        "http://127.0.0.1:8090/services/factory/"
    )
    # a viewer's token may carry their staff scopes to the factory, never the hub's grant
    allowed = set(console["oauth_client_allowed_scopes"])
    assert allowed == {scopes.FACTORY_ACCESS, *scopes.STAFF_SCOPES}
    assert scopes.PLAYGROUND_GRANT not in allowed


def test_hub_config_carries_roles_and_services(demo_site):
    c = apply_site(Config(), demo_site, site_file="/s.toml", proxy_command="chp", factory_token="t")
    assert c.JupyterHub.services[0]["api_token"] == "t"
    assert c.JupyterHub.extra_user_scopes == [scopes.FACTORY_ACCESS]
    assert scopes.FACTORY_ACCESS in c.FactorySpawner.server_token_scopes
    assert c.FactorySpawner.environment == {
        "AIFACTORY_FACTORY_URL": "http://127.0.0.1:8000/services/factory/"
    }
    assert callable(c.Authenticator.post_auth_hook)
    assert [s["name"] for s in c.JupyterHub.services] == ["factory", "console", "idle-culler"]
    assert {r["name"] for r in c.JupyterHub.load_roles} >= {"support", "trainer", "researcher"}
    assert c.JupyterHub.custom_scopes == scopes.CUSTOM_SCOPES


def test_idle_sessions_are_culled_through_the_hub_unless_switched_off(demo_site):
    culler = scopes.services(demo_site, "", python="/py", hub_pid=4242)[-1]
    child = ["/py", "-m", scopes.HUBCHILD, "--parent", "4242"]
    assert culler["command"][:6] == [*child, "jupyterhub_idle_culler"]
    assert f"--timeout={demo_site.hub.cull_idle_s}" in culler["command"]
    (role,) = [r for r in scopes.load_roles(demo_site) if r["name"] == "idle-culler"]
    assert role["services"] == ["idle-culler"]
    assert "delete:servers" in role["scopes"] and "admin:users" not in role["scopes"]

    off = demo_site.model_copy(update={"hub": demo_site.hub.model_copy(update={"cull_idle_s": 0})})
    assert [s["name"] for s in scopes.services(off, "")] == ["factory", "console"]
    assert "idle-culler" not in {r["name"] for r in scopes.load_roles(off)}


def test_the_cluster_dashboard_needs_the_cluster_scope():
    boards = {b.name: b for b in dashboards.discover(paths.dashboards())}
    cluster = boards["cluster.ipynb"]
    assert cluster.scope == scopes.CLUSTER_READ
    check = HubAuth.check_scopes.__get__(HubAuth.__new__(HubAuth))
    assert dashboards.visible(boards.values(), _model(scopes.CLUSTER_READ), check) == [cluster]
    assert dashboards.visible(boards.values(), _model(scopes.CONSOLE_ACCESS), check) == []


def test_a_notebook_without_metadata_is_no_dashboard(tmp_path: Path):
    (tmp_path / "plain.ipynb").write_text('{"cells": [], "metadata": {}}')
    (tmp_path / "broken.ipynb").write_text("{not json")
    (tmp_path / "noscope.ipynb").write_text('{"metadata": {"aifactory": {"title": "t"}}}')
    assert dashboards.discover(tmp_path) == []
    with pytest.raises(dashboards.NotADashboard):
        dashboards.from_metadata("x.ipynb", {"aifactory": {"title": "t", "scope": ""}})


@pytest.mark.parametrize("name", ["sam", "o'brien", 'a"b', "x\\y", "ünï", "a@b.c", "a;rm -rf /"])
def test_viewer_cell_is_a_literal_not_code(name):
    cell = dashboards.viewer_cell(name, "0123abcdef_token")
    tree = ast.parse(cell.source)
    user, token = tree.body[1:]
    assert ast.literal_eval(user.value) == name
    assert ast.literal_eval(token.value) == "0123abcdef_token"
    assert len(tree.body) == 3  # the import and two assignments, nothing injected


@pytest.mark.parametrize("name", ["", "a\nb", "a\x00b", "x" * 300])
def test_viewer_cell_refuses_unusable_names(name):
    with pytest.raises(ValueError):
        dashboards.viewer_cell(name, "0123abcdef_token")


@pytest.mark.parametrize("token", ["", "short", "abc def ghi", "x'+__import__('os')+'", "a\nb" * 5])
def test_viewer_cell_refuses_odd_tokens(token):
    with pytest.raises(ValueError):
        dashboards.viewer_cell("sam", token)


def test_voila_kernels_accept_widget_messages_only():
    c = console_config(ENV, Path("/d"))
    allowed = c.MappingKernelManager.allowed_message_types
    assert allowed == WIDGET_MESSAGES
    assert not {"execute_request", "inspect_request", "complete_request"} & set(allowed)
    assert c.MappingKernelManager.allow_tracebacks is False
    assert c.MappingKernelManager.cull_idle_timeout == 60
    assert c.MappingKernelManager.cull_connected is False
    assert (c.Voila.ip, c.Voila.port, c.Voila.base_url) == (
        "127.0.0.1",
        18091,
        ENV["JUPYTERHUB_SERVICE_PREFIX"],
    )
    assert c.VoilaConfiguration.show_tracebacks is False
    assert c.VoilaConfiguration.strip_sources is True
    assert re.search("JupyterHubIdentityProvider", repr(c.Voila.identity_provider_class))
