"""The port-report endpoint accepts only a port, only from the server's own token."""

from __future__ import annotations

import pytest
import requests

from tests.stack import server_token, session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]


@pytest.mark.hardening(
    "attack",
    "a session reports a port with the user's, another user's or its own token plus cmd/ip",
    "403 for any token but the server's own; 400 for anything beyond a port; 409 to change it",
)
def test_only_the_servers_own_token_may_report_only_a_port(hub):
    resp = hub.api("POST", "/users/alice/server", "alice", json={})
    assert resp.status_code in (201, 202), resp.text
    before = hub.wait_ready("alice")
    (job,) = session_jobs("alice")
    token = server_token(job["id"])
    url = f"{hub.url}/hub/api/batchspawner"

    def post(body, tok=token):
        return requests.post(url, json=body, headers={"Authorization": f"token {tok}"}, timeout=30)

    # a user's own API token is not the server's token
    assert post({"port": 45678}, hub.token("alice")).status_code == 403
    # another user's token neither
    assert post({"port": 45678}, hub.token("bob")).status_code == 403
    # the server's token, but anything beyond a port
    for body in (
        {"port": 45678, "cmd": ["/bin/sh"]},
        {"ip": "10.1.1.1"},
        {"port": "1"},
        {"port": 22},
    ):
        resp = post(body)
        assert resp.status_code == 400, (body, resp.text)
    # and a running server's port cannot be changed from under it
    assert post({"port": 45678}).status_code == 409
    assert hub.server("alice")["url"] == before["url"]
    hub.stop("alice")
    wait_no_jobs("alice")
