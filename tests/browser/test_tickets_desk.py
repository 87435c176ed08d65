"""Support staff answer a ticket in the console, in a real browser, and the researcher's widget
shows the answer; the guide browser in the console, with a code block copied by its button."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from aifactory_hub.service.routes.site import public_site
from aifactory_widgets.guides.facts import site_facts
from aifactory_widgets.guides.library import fill, load_guides, segments
from tests.access import api, ok
from tests.browser.conftest import login
from tests.helpdesk import failed_job, file_ticket, output_of, read_ticket, session

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]
XSS = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def ticket(hub) -> Iterator[dict]:
    with session(hub, "alice", project="ai-alpha", partition="cpu") as (job, env):
        failed, _ = failed_job("alice", "ai-alpha")
        subject = f"{XSS} fails {uuid.uuid4().hex[:6]}"
        report = file_ticket(hub, "alice", env, failed, subject)
        assert report["sent"].startswith("Sent as ticket #"), report
        assert failed in report["offered"], (report["offered"], report["context"]["problems"])
        yield {"id": report["ticket"]["id"], "subject": subject, "failed": failed,
               "session": job, "env": env}  # fmt: skip
        output_of("alice", failed).unlink(missing_ok=True)


def dropdown(page, label: str):
    return page.locator(f".widget-dropdown:has(label:text-is('{label}')) select").first


def test_staff_answer_a_ticket_in_the_console(hub, browser, artifacts, ticket):
    dialogs: list[str] = []
    page = login(browser, hub, "sam")
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    tid = ticket["id"]
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Tickets")
        dropdown(page, "Ticket").wait_for(timeout=60_000)
        dropdown(page, "Ticket").select_option(label=f"#{tid} {ticket['subject']} (alice)")
        page.wait_for_selector(f"text=End of the output of job {ticket['failed']}", timeout=30_000)
        page.locator(f"text=#{tid} {ticket['subject']} >> visible=true").first.wait_for()
        assert "none yet (waiting" in page.inner_text("body")  # no reply yet: how long
        reply = f"Your script ends with exit 3; remove it. ({uuid.uuid4().hex[:6]})"
        page.fill("textarea[placeholder^='Your answer']", reply)
        page.click("button:has-text('Send reply')")
        page.wait_for_selector(f"text=Reply sent on ticket #{tid}.", timeout=30_000)
        page.locator(f"text={reply} >> visible=true").first.wait_for()
        dropdown(page, "Status").select_option(label="any")
        page.wait_for_selector("text=median time to first reply", timeout=30_000)
        page.set_viewport_size({"width": 1280, "height": 2000})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / "console-tickets.png"))
    finally:
        page.close(run_before_unload=True)
    assert dialogs == []  # the subject's markup was shown as text, never run
    answered = ok(api(hub, "GET", f"tickets/{tid}", "alice"))
    assert answered["status"] == "answered" and answered["assignee"] == "sam"
    assert answered["first_reply_s"] is not None
    seen = read_ticket(hub, "alice", ticket["env"], tid)  # the researcher's widget, refreshed
    assert reply in seen["conversation"] and ": answered;" in seen["state"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in seen["table"]


def test_the_guides_in_the_console_copy_a_code_block(hub, browser, artifacts):
    guide = next(g for g in load_guides() if g.slug == "multi-node-training")
    text = fill(guide, site_facts(public_site(hub.site)))
    first_code = next(p.text for p in segments(text) if p.kind == "code")
    browser.grant_permissions(["clipboard-read", "clipboard-write"], origin=hub.url)
    page = login(browser, hub, "sam")
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Guides")
        search = page.locator("input[placeholder^='Search']").first
        search.wait_for(timeout=60_000)
        search.fill("torchrun STOP_AT")
        search.press("Enter")
        page.wait_for_selector(f"h2:text-is('{guide.title}')", timeout=30_000)
        page.locator("text=#SBATCH --partition=gpu").first.wait_for()
        page.set_viewport_size({"width": 1280, "height": 1400})
        page.evaluate("window.scrollTo(0, 0)")
        page.screenshot(path=str(artifacts / "console-guides.png"))
        page.locator(".af-code button").first.click()
        page.wait_for_selector(".af-code button:text-is('Copied')", timeout=10_000)
        assert page.evaluate("navigator.clipboard.readText()") == first_code
    finally:
        page.close(run_before_unload=True)
