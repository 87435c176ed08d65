"""Real stack: sessions run their kernels in the chosen site environment, and spawn links and
presets go through the form's validation.

The `demo_accounts` fixture runs apply_site, which builds the demo's `pytorch` and `jax`
environments (pip) and writes their modulefiles and kernels. Each session here is a real Slurm
job started by a real link (`/hub/spawn?...&autostart=1`); its default kernel is started by the
session's own Jupyter server, and the terminal is a real JupyterLab terminal on the node.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
import websocket

from aifactory_hub.hubside import presets
from tests.session_kernel import SessionKernel
from tests.stack import session_env, session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]

PROBE = """
import importlib.util, json, os, sys
print(json.dumps({
    "python": sys.executable,
    "torch": importlib.util.find_spec("torch") is not None,
    "jax": importlib.util.find_spec("jax") is not None,
    "env": os.environ.get("AIFACTORY_ENVIRONMENT"),
}))
"""


def start_by_link(hub, user: str, query: str):
    """Open a spawn link as a logged-in person would (the hub redirects to the pending page)."""
    s = hub.login(user)
    return s.get(f"{hub.url}/hub/spawn{query}", timeout=120, allow_redirects=False)


@pytest.fixture
def session_in(hub, demo_accounts) -> Iterator:
    started: list[str] = []

    def start(user: str, environment: str) -> SessionKernel:
        link = presets.link(
            {"project": "ai-alpha", "environment": environment, "cpus": 1}, autostart=True
        )
        resp = start_by_link(hub, user, link)
        assert resp.status_code == 302, resp.text[:500]
        started.append(user)
        hub.wait_ready(user)
        return SessionKernel(hub.url, user, hub.token(user))

    yield start
    for user in started:
        hub.stop(user)
        wait_no_jobs(user)


@pytest.mark.parametrize(("environment", "has", "lacks"), [("pytorch", "torch", "jax"),
                                                           ("jax", "jax", "torch")])  # fmt: skip
def test_a_session_runs_its_kernels_in_the_chosen_environment(session_in, environment, has, lacks):
    kernel = session_in("alice", environment)
    try:
        found = json.loads(kernel.execute(PROBE).stdout)
    finally:
        kernel.shutdown()
    assert found["python"] == f"/opt/aifactory/envs/{environment}/bin/python"
    assert found[has] is True
    assert found[lacks] is False
    assert found["env"] == environment
    (job,) = session_jobs("alice")
    env = session_env(job["id"])
    assert env["AIFACTORY_ENVIRONMENT"] == environment
    assert env["JUPYTER_PATH"].startswith(f"/opt/aifactory/kernels/{environment}:")


def terminal_output(hub, user: str, command: str, until: str, timeout: float = 60) -> str:
    """Run `command` in a new JupyterLab terminal of the user's session; its output."""
    base = f"{hub.url}/user/{user}/"
    headers = {"Authorization": f"token {hub.token(user)}"}
    import requests

    name = requests.post(base + "api/terminals", headers=headers, timeout=60).json()["name"]
    ws = websocket.create_connection(
        base.replace("http://", "ws://", 1) + f"terminals/websocket/{name}",
        header=[f"Authorization: token {hub.token(user)}"],
        timeout=timeout,
    )
    out = ""
    try:
        ws.send(json.dumps(["stdin", command + "\r"]))
        deadline = time.monotonic() + timeout
        while until not in out and time.monotonic() < deadline:
            ws.settimeout(max(1.0, deadline - time.monotonic()))
            try:
                message = json.loads(ws.recv())
            except websocket.WebSocketTimeoutException:
                break
            if message[0] == "stdout":
                out += message[1]
    finally:
        ws.close()
        requests.delete(base + f"api/terminals/{name}", headers=headers, timeout=60)
    return out


def test_the_terminal_lists_the_modules_and_kernels_include_the_factory_tools(hub, session_in):
    kernel = session_in("bob", "jax")
    kernel.shutdown()
    out = terminal_output(
        hub, "bob", "module -t avail 2>&1 | cat; which python", until="envs/jax/bin"
    )
    assert "pytorch/2.13" in out and "jax/0.10" in out
    assert "/opt/aifactory/envs/jax/bin/python" in out
    import requests

    specs = requests.get(
        f"{hub.url}/user/bob/api/kernelspecs",
        headers={"Authorization": f"token {hub.token('bob')}"},
        timeout=60,
    ).json()
    assert specs["default"] == "python3"
    labels = {name: s["spec"]["display_name"] for name, s in specs["kernelspecs"].items()}
    assert labels["python3"] == "Python 3 (jax)"
    assert labels["aifactory"] == "AI Factory tools (Python 3)"


def test_a_link_with_a_foreign_project_is_refused_and_submits_nothing(hub, demo_accounts):
    resp = start_by_link(hub, "alice", presets.link({"project": "ai-beta"}, autostart=True))
    assert resp.status_code == 400
    assert "project: ai-beta is not available to you" in resp.text
    resp = start_by_link(hub, "alice", "?environment=tensorflow")
    assert resp.status_code == 400
    assert "environment: tensorflow is not available to partition cpu" in resp.text
    assert session_jobs("alice") == []


def test_a_link_without_autostart_fills_in_the_form(hub, demo_accounts):
    resp = start_by_link(hub, "alice", "?project=ai-alpha&partition=gpu&environment=jax")
    assert resp.status_code == 200
    assert 'id="aif-from-link"' in resp.text
    assert '<option value="jax" selected>' in resp.text
    assert '<option value="gpu" selected>' in resp.text
    assert session_jobs("alice") == []


def test_a_preset_is_saved_by_the_form_offered_again_and_forgotten(hub, demo_accounts):
    s = hub.login("carol")
    name = f"small torch {uuid.uuid4().hex[:6]}"  # the hub may outlive one run: a name of ours
    form = {"project": "ai-beta", "partition": "cpu", "environment": "pytorch", "cpus": "2",
            "memory_gb": "1", "walltime_hours": "0.5", "preset_name": name}  # fmt: skip
    # An over-limit value: refused, and nothing saved.
    resp = s.post(f"{hub.url}/hub/spawn", data={**form, "cpus": "64"}, timeout=60)
    assert resp.status_code == 400
    assert name not in s.get(f"{hub.url}/hub/spawn", timeout=60).text
    try:
        resp = s.post(f"{hub.url}/hub/spawn", data=form, timeout=120, allow_redirects=False)
        assert resp.status_code == 302, resp.text[:500]
        hub.wait_ready("carol")
        (job,) = session_jobs("carol")
        assert job["account"] == "ai-beta"
    finally:
        hub.stop("carol")
        wait_no_jobs("carol")
    page = s.get(f"{hub.url}/hub/spawn", timeout=60).text
    assert name in page
    link = presets.preset_link(name, autostart=True).replace("&", "&amp;")
    assert f'href="{link}"' in page
    filled = s.get(f"{hub.url}/hub/spawn{presets.preset_link(name)}", timeout=60)
    assert '<option value="pytorch" selected>' in filled.text
    assert 'name="cpus" id="aif-cpus" value="2"' in filled.text
    # A refused Start forgets nothing (tests/unit/test_presets.py: a good one does).
    refused = {**form, "preset_name": "", "cpus": "64", "forget_preset": name}
    assert s.post(f"{hub.url}/hub/spawn", data=refused, timeout=60).status_code == 400
    assert name in s.get(f"{hub.url}/hub/spawn", timeout=60).text
