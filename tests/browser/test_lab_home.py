"""The researcher's home in JupyterLab (the @aifactory/lab extension and the aifactory_lab
server extension, as hub/bin/aifactory installs them), walked in real Chromium on the real hub:

- bob starts a session from the spawn form as it comes; JupyterLab opens on an "AI Factory"
  launcher section, first, with the server's cards in order; no news pop-up; the status bar
  names the session's project and partition and the time left;
- the Quota card opens its notebook and runs it: the QuotaView draws bars and a plot for a
  project granted to bob in this test (Fast Lane, through the access API) on which a real job
  has run;
- a short session, whose wall time staff shorten with `scontrol update` (a real Slurm event:
  the form's shortest wall time is 15 minutes), brings the 10-minute warning to save.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from aifactory_lab.cards import cards_json
from tests.access import api, draft, ok
from tests.browser.conftest import login
from tests.hub.test_access_modes import open_call, wait_provisioned
from tests.hub.test_usage import collect
from tests.stack import session_jobs, sh, submit, wait_final_in_sacct, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]

CARD = ".jp-LauncherCard[data-category='AI Factory']"
STATUS = "#aifactory-session-status"
GPU_HOURS = 50


@pytest.fixture(scope="module")
def bobs_project(hub) -> Iterator[str]:
    """A Fast Lane project granted to bob through the access API, with a real job's use on it
    (a project with no use has no plot to draw); its account. Ended afterwards (staff's own
    end), so the tests after these see bob's projects as the demo site has them."""
    call = open_call(hub, "fast_lane", 10 * GPU_HOURS)
    body = draft(call["id"], f"Lab home {uuid.uuid4().hex[:6]}", "Bob Labs", GPU_HOURS)
    proposal = ok(api(hub, "POST", "proposals", "bob", json=body), 201)
    ok(api(hub, "POST", f"proposals/{proposal['id']}/submit", "bob"))
    checked = ok(api(hub, "POST", f"proposals/{proposal['id']}/technical-check", "sam",
                     json={"feasible": True, "notes": "fits the gpu partition"}))  # fmt: skip
    assert checked["status"] == "granted", checked
    account = wait_provisioned(hub, "bob", checked["project"])["account"]
    job = submit("bob", f"--account={account}", "--partition=gpu", "--gres=gpu:1",
                 "--cpus-per-task=1", "--time=1", "--output=/dev/null",
                 "--job-name=af-lab-home-test", "--wrap=sleep 5")  # fmt: skip
    wait_final_in_sacct(job)
    collect(hub)
    yield account
    ok(api(hub, "POST", f"projects/{account}/end", "sam"))


def test_the_launcher_status_bar_and_quota_card(hub, browser, artifacts, bobs_project):
    page = login(browser, hub, "bob")
    try:
        page.wait_for_url("**/hub/spawn**", timeout=60_000)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_url("**/user/bob/lab**", timeout=180_000)
        page.wait_for_selector(CARD, timeout=120_000)
        (job,) = session_jobs("bob")

        cards = cards_json()  # what GET aifactory/cards answers
        assert [c["id"] for c in cards][:2] == ["quota", "guides"]
        labels = page.locator(f"{CARD} .jp-LauncherCard-label").all_inner_texts()
        assert labels == [c["title"] for c in cards]
        assert page.locator(".jp-Launcher-sectionTitle").first.inner_text() == "AI Factory"
        quota = page.locator(CARD, has_text="Quota")
        assert quota.get_attribute("title") == cards[0]["caption"]

        status = page.locator(STATUS)
        status.wait_for(state="visible", timeout=60_000)
        text = status.inner_text()
        assert text.startswith(f"{job['account']} · {job['partition']} · "), text
        assert re.search(r"\d+:\d\d left", text), text
        # JupyterLab's news question would be a toast by now; the factory turns it off
        page.wait_for_timeout(3000)
        assert page.get_by_text("official Jupyter news").count() == 0
        assert page.locator(".Toastify__toast").count() == 0
        page.screenshot(path=str(artifacts / "lab-launcher.png"))

        quota.click()
        page.wait_for_selector(".jp-NotebookPanel .jp-OutputArea-output", timeout=120_000)
        output = page.locator(".jp-NotebookPanel .jp-OutputArea-output").first
        card = output.locator(".widget-vbox", has_text=f"{bobs_project}: ").last
        card.wait_for(timeout=120_000)
        bar = card.locator(".widget-hprogress", has_text="gpu GPU-hours")
        assert bar.count() == 1
        used = card.get_by_text(re.compile(rf" of {GPU_HOURS}(\.0+)? used, .* left"))
        assert used.first.is_visible()
        plot = card.locator("img.widget-image")
        plot.wait_for(timeout=60_000)
        assert plot.evaluate("img => img.naturalWidth") > 100
        # The granted project's card (bars, then its plot) in view, for the screenshot
        page.set_viewport_size({"width": 1280, "height": 1250})
        card.evaluate("el => el.scrollIntoView({block: 'start'})")
        page.wait_for_timeout(500)
        page.screenshot(path=str(artifacts / "lab-quota.png"))
        tab = page.locator(".jp-mod-current.lm-TabBar-tab .lm-TabBar-tabLabel").first
        assert tab.inner_text() == "quota.ipynb"
    finally:
        page.close()
        hub.stop("bob")
        wait_no_jobs("bob")


def test_a_session_near_its_wall_time_warns_to_save(hub, browser, artifacts):
    resp = hub.api("POST", "/users/bob/server", "bob", json={"walltime_hours": 0.25})
    assert resp.status_code in (201, 202), resp.text
    page = None
    try:
        hub.wait_ready("bob")
        (job,) = session_jobs("bob")
        # Staff shorten the job: about 10 minutes are left a minute after it started.
        sh("scontrol", "update", f"JobId={job['id']}", "TimeLimit=11")
        page = login(browser, hub, "bob")
        page.goto(f"{hub.url}/user/bob/lab")
        status = page.locator(STATUS)
        status.wait_for(state="visible", timeout=120_000)
        assert re.search(r"0:1[01] left", status.inner_text()), status.inner_text()
        toast = page.locator(".Toastify__toast", has_text="(its wall time): save your work.")
        toast.wait_for(timeout=180_000)
        assert re.fullmatch(
            r"Your session ends in (10|9) minutes \(its wall time\): save your work\.",
            toast.locator(".jp-toast-message").inner_text().strip(),
        )
        assert toast.get_by_role("button", name="Save all").is_visible()
        assert re.search(r"0:(10|09) left", status.inner_text()), status.inner_text()
        page.wait_for_timeout(1000)  # the toast has slid in
        page.screenshot(path=str(artifacts / "lab-notification.png"))
    finally:
        if page is not None:
            page.close()
        hub.stop("bob")
        wait_no_jobs("bob")
