"""Support staff open "Usage and billing" in the console, in a real browser: every project
with its use against its allocation, the period picker, the CSV download, the funder
report and every project's storage. A researcher is refused the dashboard."""

from __future__ import annotations

import base64

import pytest

from tests.access import api, ok
from tests.browser.conftest import login

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]
DASHBOARD = "/services/console/voila/render/usage.ipynb"


def test_staff_see_usage_and_billing_in_the_console(hub, browser, artifacts):
    hub.login("dave")  # pg-dave exists (and in a whole run, has the usage tests' jobs)
    ok(api(hub, "POST", "usage/collect", "sam"))
    ok(api(hub, "POST", "usage/storage", "sam"))
    page = login(browser, hub, "sam")
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Usage and billing")
        page.wait_for_selector("text=Billing: every project, use against allocation",
                               timeout=90_000)  # fmt: skip
        page.locator("td:has-text('pg-dave') >> visible=true").first.wait_for(timeout=60_000)
        page.wait_for_selector("text=Funder report: hours by access mode")
        page.locator("td:has-text('Playground') >> visible=true").first.wait_for()
        page.wait_for_selector("text=Storage: every project's folders, as last measured")
        page.wait_for_selector("text=/\\d+ projects? holds? .* in [\\d,]+ entries/")
        page.locator("td:has-text('2 GB') >> visible=true").first.wait_for()  # ai-alpha's
        page.click("text=Export CSV")
        link = page.locator("a.af-download").first
        link.wait_for()
        href = link.get_attribute("href")
        csv_text = base64.b64decode(href.split("base64,", 1)[1]).decode()
        assert csv_text.startswith("account,title,pi,") and "\npg-dave," in csv_text
        page.screenshot(path=str(artifacts / "console-usage.png"), full_page=True)
        # another period: the tables follow the picker
        page.locator(".widget-dropdown select").first.select_option(label="Last 30 days")
        page.wait_for_selector("text=/\\d{4}-\\d{2}-\\d{2} to \\d{4}-\\d{2}-\\d{2}/")
    finally:
        page.close(run_before_unload=True)


def test_a_researcher_cannot_open_the_usage_dashboard(hub, browser):
    page = login(browser, hub, "alice")
    try:
        resp = page.goto(f"{hub.url}{DASHBOARD}")
        assert resp.status == 403
    finally:
        page.close(run_before_unload=True)
