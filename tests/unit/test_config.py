from traitlets.config import Config

from aifactory_hub.hubside.config import apply_site
from aifactory_hub.site import parse_site


def test_hub_config_from_demo_site(demo_site):
    c = apply_site(Config(), demo_site, site_file="/s.toml", proxy_command="/p/chp")
    assert c.JupyterHub.bind_url == "http://127.0.0.1:8000"
    assert c.JupyterHub.hub_bind_url == "http://127.0.0.1:8081"
    assert c.JupyterHub.spawner_class == "aifactory_hub.hubside.spawner.FactorySpawner"
    assert c.JupyterHub.authenticator_class == "pam"
    assert c.PAMAuthenticator.allowed_groups == {"aifactory"}
    assert c.JupyterHub.cleanup_servers is False
    assert c.ConfigurableHTTPProxy.command == ["/p/chp"]
    assert c.FactorySpawner.site_file == "/s.toml"
    assert c.FactorySpawner.connect_ip == ""  # the node name
    assert c.Authenticator.admin_users == {"ada"}


def test_oauth_site(demo_site, monkeypatch):
    text = (demo_site.__class__.__module__, None)
    assert text
    from aifactory_hub.site import DEMO_SITE

    toml = DEMO_SITE.read_text().replace(
        '[auth]\nkind = "pam"',
        """[auth]
kind = "oauth"
[auth.oauth]
client_id = "aifactory"
authorize_url = "https://login.example.org/auth"
token_url = "https://login.example.org/token"
userdata_url = "https://login.example.org/userinfo"
callback_url = "https://hub.example.org/hub/oauth_callback"
""",
    )
    monkeypatch.setenv("AIFACTORY_OAUTH_SECRET", "s3cret")
    c = apply_site(Config(), parse_site(toml), site_file="", proxy_command="chp")
    assert c.JupyterHub.authenticator_class == "generic-oauth"
    assert c.GenericOAuthenticator.client_secret == "s3cret"
    assert c.GenericOAuthenticator.username_claim == "preferred_username"
