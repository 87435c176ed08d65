"""A PI submits a progress report in a real browser, from the reports widget in their own
session (a notebook rendered by Voila in the JupyterLab server of their Slurm job, with the
session's own token), and support staff see it submitted in the console's proposals
dashboard, summary and products included."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta
from pathlib import Path

import pytest
import requests

import aifactory_hub
import aifactory_widgets
from aifactory_hub.policy.clocks import add_months
from aifactory_hub.store import db as store_db
from aifactory_hub.store import models as m
from tests.access import api, ok
from tests.browser.conftest import login
from tests.stack import session_jobs, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]
PI = "carol"
NOTEBOOK = "aifactory-reports-test.ipynb"
SUMMARY = "We fine-tuned a detector for parcels and measured its recall on our own images."
PRODUCT = ("Parcel detector weights", "https://example.org/models/parcel-detector")


@pytest.fixture(scope="module")
def project(hub_site) -> dict:
    """carol's Large Scale project, granted 40 days ago: its 1-month progress report is
    overdue. Made in the store (how it was granted is not what this test is about)."""
    site, _ = hub_site
    store = store_db.session_factory(store_db.make_engine(site.services.store_url))
    account = f"rep-{uuid.uuid4().hex[:8]}"
    starts = date.today() - timedelta(days=40)
    with store.begin() as db:
        made = m.Project(
            account=account, title="Parcel vision at scale", organisation="Beta Health",
            pi=PI, access_mode="large_scale", starts_on=starts, ends_on=add_months(starts, 6),
            status="active",
        )  # fmt: skip
        made.allocations = [m.Allocation(partition="gpu", gpu_hours=60_000, cpu_hours=0)]
        made.members = [m.Member(username=PI, role="pi", added_by="tests")]
        db.add(made)
    return {"account": account, "title": "Parcel vision at scale",
            "progress_due": add_months(starts, 1).isoformat()}  # fmt: skip


def _notebook() -> str:
    """The PI's notebook: the reports widget, from the checkout under test (the session's
    environment may be installed from another one)."""
    checkout = [
        str(Path(aifactory_hub.__file__).resolve().parents[1]),
        str(Path(aifactory_widgets.__file__).resolve().parents[1]),
    ]
    source = (
        f"import sys\nsys.path[:0] = {checkout!r}\n"
        "from aifactory_widgets import MyReports\n\nMyReports()"
    )
    cell = {"cell_type": "code", "execution_count": None, "id": "reports", "metadata": {},
            "outputs": [], "source": source}  # fmt: skip
    kernel = {"kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}}
    return json.dumps({"cells": [cell], "metadata": kernel, "nbformat": 4, "nbformat_minor": 5})


@pytest.fixture(scope="module")
def session(hub):
    """carol's running session (charged to her site project), with the notebook in her home."""
    resp = hub.api("POST", f"/users/{PI}/server", PI, json={"project": "ai-beta"})
    assert resp.status_code in (201, 202), resp.text
    contents = f"{hub.url}/user/{PI}/api/contents/{NOTEBOOK}"
    headers = {"Authorization": f"token {hub.token(PI)}"}
    try:
        hub.wait_ready(PI)
        assert len(session_jobs(PI)) == 1
        body = {"type": "notebook", "format": "json", "content": json.loads(_notebook())}
        put = requests.put(contents, headers=headers, json=body, timeout=60)
        assert put.status_code in (200, 201), put.text
        yield
    finally:
        requests.delete(contents, headers=headers, timeout=60)
        hub.stop(PI)
        wait_no_jobs(PI)


def test_a_report_submitted_in_the_browser_shows_in_the_staff_desk(
    hub, browser, artifacts, project, session
):
    account, due = project["account"], project["progress_due"]
    page = login(browser, hub, PI)
    try:
        page.goto(f"{hub.url}/user/{PI}/voila/render/{NOTEBOOK}")
        projects = page.get_by_label("Project", exact=True)
        projects.wait_for(timeout=180_000)  # the kernel starts in the session's Slurm job
        projects.select_option(label=f"{account}: {project['title']}")
        overdue = f"text=Progress report due {due} (OVERDUE). >> visible=true"
        page.locator(overdue).first.wait_for(timeout=60_000)
        page.fill("textarea[placeholder^='What was done']", SUMMARY)
        page.click("button:has-text('Add product')")
        page.locator("input[placeholder='title']").wait_for(timeout=30_000)
        page.select_option("select:has(option:text-is('dataset'))", "model")
        page.fill("input[placeholder='title']", PRODUCT[0])
        page.fill("input[placeholder^='https://']", PRODUCT[1])
        page.screenshot(path=str(artifacts / "reports-pi-form.png"), full_page=True)
        page.click("button:has-text('Submit report')")
        done = f"text=Progress report due {due} submitted. >> visible=true"
        page.locator(done).first.wait_for(timeout=60_000)
        page.screenshot(path=str(artifacts / "reports-pi-submitted.png"), full_page=True)
    finally:
        page.close(run_before_unload=True)

    reports = ok(api(hub, "GET", f"projects/{account}/reports", PI))
    progress = next(r for r in reports if r["due_on"] == due)
    assert (progress["state"], progress["submitted_by"], progress["summary"]) == (
        "submitted", PI, SUMMARY,
    )  # fmt: skip
    assert progress["products"] == [{"kind": "model", "title": PRODUCT[0], "url": PRODUCT[1]}]

    page = login(browser, hub, "sam")
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Proposals, review and decisions")
        page.wait_for_selector("text=Reports and obligations", timeout=120_000)
        read = page.get_by_label("Read", exact=True)
        read.locator(f"option:has-text('{account}: Progress report')").wait_for(
            state="attached", timeout=60_000
        )
        read.select_option(label=f"{account}: Progress report due {due}")
        page.locator(f"text={SUMMARY} >> visible=true").first.wait_for(timeout=30_000)
        row = page.locator("tr", has=page.locator(f"td:text-is('{account}')")).filter(
            has_text="Progress report"
        )
        assert "submitted" in row.filter(has_text=due).first.inner_text()
        assert page.locator(f"td:text-is('{PRODUCT[1]}')").first.is_visible()
        page.screenshot(path=str(artifacts / "reports-staff-desk.png"), full_page=True)
    finally:
        page.close(run_before_unload=True)
