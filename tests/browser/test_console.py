"""Support staff in the console, in a real browser: the landing page, the cluster dashboard
with a session that was just spawned, a stop that asks first, escaped job names, no code
from the browser, and no kernel left behind."""

from __future__ import annotations

import pwd
import time
import uuid
from pathlib import Path

import pytest

from tests.browser.conftest import login
from tests.stack import session_jobs, sh, submit, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]

XSS = "<img src=x onerror=alert(1)>"
CONSOLE_USER = "aifactory-console"
DASHBOARD = "/services/console/voila/render/cluster.ipynb"


def console_kernels() -> set[int]:
    """Dashboard kernels: ipykernel processes of the console's own user."""
    uid = pwd.getpwnam(CONSOLE_USER).pw_uid
    pids = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid == uid and b"ipykernel" in (proc / "cmdline").read_bytes():
                pids.add(int(proc.name))
        except OSError:
            continue
    return pids


def new_kernels(before: set[int], timeout: float) -> set[int]:
    """Kernels started since `before` that are still there after waiting up to `timeout`."""
    deadline = time.monotonic() + timeout
    while console_kernels() - before and time.monotonic() < deadline:
        time.sleep(1)
    return console_kernels() - before


@pytest.fixture(scope="module")
def alice_session(hub):
    resp = hub.api("POST", "/users/alice/server", "alice", json={"project": "ai-alpha"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("alice")
    (job,) = session_jobs("alice")
    yield job
    if hub.server("alice"):
        hub.stop("alice")
    wait_no_jobs("alice")


@pytest.fixture(scope="module")
def xss_job(alice_session):
    job_id = submit("alice", "--account=ai-alpha", "--partition=cpu", f"--job-name={XSS}",
                    "--time=10", "--wrap=sleep 600")  # fmt: skip
    yield str(job_id)
    sh("scancel", str(job_id))


def test_a_researcher_gets_a_clear_403(hub, browser):
    page = login(browser, hub, "alice")
    try:
        resp = page.goto(f"{hub.url}/services/console/")
        assert resp.status == 403
        assert "permission to access JupyterHub service console" in page.inner_text("body")
    finally:
        page.close()


def test_a_trainer_sees_no_cluster_dashboard_and_is_refused_it(hub, browser):
    page = login(browser, hub, "tess")
    try:
        page.goto(f"{hub.url}/services/console/")
        landing = page.inner_text("body")
        assert "Workshops" in landing and "Cluster, queue and sessions" not in landing
        resp = page.goto(f"{hub.url}{DASHBOARD}")
        assert resp.status == 403
        assert "tess may not open 'Cluster, queue and sessions'" in page.inner_text("body")
    finally:
        page.close()


@pytest.mark.hardening(
    "attack",
    "a Slurm job named like markup (<img src=x onerror=...>) shown in the console",
    "shown as text; no element made, no script run",
)
def test_support_sees_the_session_and_stops_it(hub, browser, artifacts, alice_session, xss_job):
    dialogs: list[str] = []
    before = console_kernels()
    page = login(browser, hub, "sam")
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    try:
        page.goto(f"{hub.url}/services/console/")
        page.screenshot(path=str(artifacts / "console.png"))
        page.click("text=Cluster, queue and sessions")
        page.wait_for_url(f"**{DASHBOARD}")
        # the session spawned above, with its Slurm job; refreshed without a reload
        page.wait_for_selector(f"text={alice_session['id']}", timeout=60_000)
        page.wait_for_selector("text=ai-alpha", timeout=30_000)
        # the job named like markup shows as text, and nothing ran
        page.wait_for_selector(f"text={XSS}", timeout=30_000)
        assert page.locator("img[src=x]").count() == 0
        page.screenshot(path=str(artifacts / "console-cluster.png"), full_page=True)
        assert len(console_kernels() - before) == 1

        # stop asks first, then the job is cancelled
        page.locator(".widget-hbox", has_text=alice_session["id"]).locator("text=Stop").click()
        page.wait_for_selector(f"text=Stop alice's session (Slurm job {alice_session['id']})?")
        assert session_jobs("alice") == [alice_session]
        page.click("text=Yes, stop it")
        wait_no_jobs("alice", timeout=60)
        page.wait_for_selector("text=No sessions.", timeout=40_000)
        assert dialogs == []
    finally:
        page.close(run_before_unload=True)
    # Voila shuts its kernel down when the page goes
    assert new_kernels(before, timeout=30) == set()


@pytest.mark.hardening(
    "attack",
    "the browser sends an execute_request over a dashboard kernel's websocket",
    "dropped: no execute_reply, the code never runs",
)
def test_the_browser_cannot_run_code_in_a_dashboard_kernel(hub, browser):
    marker = Path(f"/tmp/aifactory-console-exec-{uuid.uuid4().hex}")
    page = login(browser, hub, "sam")
    try:
        page.goto(f"{hub.url}{DASHBOARD}")
        page.wait_for_selector("text=Partitions", timeout=60_000)
        replies = page.evaluate(
            """async (code) => {
              const cfg = JSON.parse(document.getElementById('jupyter-config-data').textContent);
              const url = location.origin.replace('http', 'ws') + cfg.baseUrl +
                          'api/kernels/' + cfg.kernelId + '/channels?session_id=probe';
              const ws = new WebSocket(url);
              const seen = [];
              ws.onmessage = (e) => { const m = JSON.parse(e.data);
                                      if (m.parent_header.session === 'probe')
                                        seen.push(m.header.msg_type); };
              await new Promise((ok) => { ws.onopen = ok; });
              const msg = (id, type, content) => JSON.stringify({channel: 'shell',
                header: {msg_id: id, msg_type: type, username: 'x', session: 'probe',
                         date: new Date().toISOString(), version: '5.3'},
                parent_header: {}, metadata: {}, content: content, buffers: []});
              ws.send(msg('e1', 'execute_request', {code: code, silent: false,
                store_history: false, user_expressions: {}, allow_stdin: false,
                stop_on_error: true}));
              ws.send(msg('k1', 'kernel_info_request', {}));
              await new Promise((ok) => setTimeout(ok, 4000));
              ws.close();
              return seen;
            }""",
            f"open({str(marker)!r}, 'w').write('ran')",
        )
        # the channel works (kernel info answered) but the execute request never arrived
        assert "kernel_info_reply" in replies
        assert "execute_reply" not in replies
        assert not marker.exists()
    finally:
        page.close(run_before_unload=True)


def test_a_kernel_whose_page_vanished_is_culled(hub, browser):
    before = console_kernels()
    page = login(browser, hub, "sam")
    page.goto(f"{hub.url}{DASHBOARD}")
    page.wait_for_selector("text=Partitions", timeout=60_000)
    assert len(console_kernels() - before) == 1
    page.close(run_before_unload=False)  # a crashed tab: no goodbye to Voila
    # the test site culls idle kernels after 20 s: nobody ticks the refresh timer any more
    assert new_kernels(before, timeout=90) == set()
