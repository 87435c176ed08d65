"""Support staff decide a Large Scale call (a review mode) in the console, in a real browser:
the ranked list against capacity, a Decide that asks first, and grants provisioned in Slurm.
A reviewer sees only their own assignments. The proposals' cut-off is brought forward to
yesterday in the test hub's store (`pass_cutoff`), so the call has something to decide today."""

from __future__ import annotations

import uuid

import pytest

from tests.access import LARGE, api, ok, pass_cutoff, reviewed_proposals
from tests.browser.conftest import login
from tests.stack import sh

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]
DESK = "/services/console/voila/render/proposals.ipynb"
REVIEWS = "/services/console/voila/render/review.ipynb"


@pytest.fixture(scope="module")
def call(hub, hub_site) -> dict:
    body = {
        "mode": "large_scale",
        "title": f"Browser round {uuid.uuid4().hex[:6]}",
        "capacity": {"gpu": {"gpu_hours": 1.5 * LARGE, "cpu_hours": 1000}},
    }
    call = ok(api(hub, "POST", "calls", "sam", json=body), 201)
    call["proposals"] = reviewed_proposals(
        hub, call["id"], {"alice": [("rita", 5), ("rob", 4)], "carol": [("ada", 3), ("rob", 3)]}
    )
    pass_cutoff(hub_site[0], call["proposals"].values())
    return call


def test_staff_decide_a_call_in_the_console(hub, browser, artifacts, call):
    page = login(browser, hub, "sam")
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Proposals, review and decisions")
        page.wait_for_selector("text=Open a call", timeout=60_000)
        page.click(".lm-TabBar-tab:has-text('Decision'), .p-TabBar-tab:has-text('Decision')")
        select = page.locator(".widget-dropdown:visible select").first
        select.select_option(label=f"{call['id']}: {call['title']}")
        page.wait_for_selector("text=Ranking (preview: nothing is decided yet)", timeout=30_000)
        page.locator("text=Alpha Robotics vision >> visible=true").first.wait_for()
        page.screenshot(path=str(artifacts / "console-decision.png"), full_page=True)
        page.click("text=Decide…")
        page.wait_for_selector("text=This provisions the projects in Slurm.")
        assert (
            ok(api(hub, "GET", f"proposals/{call['proposals']['alice']}", "sam"))["status"]
            == "in_review"
        )  # only asked so far
        page.click("text=Yes, decide")
        page.wait_for_selector(f"text=Call {call['id']} is decided", timeout=120_000)
    finally:
        page.close(run_before_unload=True)
    alice = ok(api(hub, "GET", f"proposals/{call['proposals']['alice']}", "alice"))
    carol = ok(api(hub, "GET", f"proposals/{call['proposals']['carol']}", "carol"))
    assert (alice["status"], carol["status"]) == ("granted", "partial")
    project = ok(api(hub, "GET", f"projects/{alice['project']}", "alice"))
    assert project["status"] == "active"
    limits = sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={alice['project']}",
                "format=GrpTRESMins")  # fmt: skip
    assert f"gres/gpu={LARGE * 60}" in limits  # GPU-hours in minutes


def test_a_reviewer_sees_their_assignments_only(hub, browser, artifacts, call):
    page = login(browser, hub, "rita")
    try:
        page.goto(f"{hub.url}/services/console/")
        assert "Proposals, review and decisions" not in page.inner_text("body")
        page.click("text=My reviews")
        page.locator("text=Alpha Robotics vision >> visible=true").first.wait_for(timeout=60_000)
        assert "Beta Health vision" not in page.inner_text("body")
        page.screenshot(path=str(artifacts / "console-review.png"), full_page=True)
        resp = page.goto(f"{hub.url}{DESK}")
        assert resp.status == 403
    finally:
        page.close(run_before_unload=True)
