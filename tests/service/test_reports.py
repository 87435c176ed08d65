"""In-process: the reports a granted project owes, the PI's submission, and the staff's list.

A Large Scale project (progress reports at 1, 3 and 9 months, then the final report) started
45 days ago: its reports are made on first read, once; its PI submits them; every bad
submission is refused with the field named and nothing changed; staff see what is due,
overdue and submitted across projects, open-results obligations beside them.
"""

from __future__ import annotations

import pwd
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from aifactory_hub.policy.clocks import add_months
from aifactory_hub.policy.reports import FINAL_REPORT_DAYS
from aifactory_hub.store import models as m
from tests.service.world import ok

ROOT = pwd.getpwuid(0).pw_name  # a POSIX account every machine has (given a playground)
LARGE = "t-large"
RESULTS = "t-results"
ENDED = "t-ended"
STARTED_DAYS_AGO = 45
SUMMARY = "We fine-tuned a vision model for parcel inspection and measured its recall."
PAPER = {"kind": "paper", "title": "Parcels at scale", "url": "https://example.org/paper"}


def add_project(store, account: str, pi: str, days_ago: int, *members: str, **extra) -> date:
    """A 12-month Large Scale project of `pi` that started `days_ago` (fields in `extra`
    replace its own); its start."""
    starts = date.today() - timedelta(days=days_ago)
    fields = {"account": account, "title": f"Project {account}", "organisation": "Gamma Labs",
              "pi": pi, "access_mode": "large_scale", "starts_on": starts,
              "ends_on": add_months(starts, 12), "status": "active", **extra}  # fmt: skip
    with store.begin() as db:
        project = m.Project(**fields)
        project.members = [m.Member(username=pi, role="pi", added_by="tests")] + [
            m.Member(username=name, role="member", added_by="tests") for name in members
        ]
        db.add(project)
    return starts


@pytest.fixture
async def large(client, store) -> dict[str, Any]:
    """carol's Large Scale project (bob a member), 12 months from 45 days ago; beside it
    carol's Fast Lane project whose open results were due yesterday, with no link given,
    and dave's project that ended 400 days ago."""
    starts = add_project(store, LARGE, "carol", STARTED_DAYS_AGO, "bob")
    yesterday = date.today() - timedelta(days=1)
    add_project(store, RESULTS, "carol", 90, access_mode="fast_lane",
                ends_on=date.today() + timedelta(days=90),
                obligation="publish results openly", obligation_due=yesterday)  # fmt: skip
    add_project(store, ENDED, "dave", 500, access_mode="fast_lane",
                ends_on=date.today() - timedelta(days=400), status="ended")  # fmt: skip
    return {"starts": starts, "ends": add_months(starts, 12)}


def report_rows(store) -> list[tuple]:
    """Every stored report, as (account, kind, due_on, submitted_at, summary)."""
    with store() as db:
        query = select(m.Project.account, m.Report.kind, m.Report.due_on, m.Report.submitted_at,
                       m.Report.summary).join(m.Project).order_by(m.Report.id)  # fmt: skip
        return [tuple(row) for row in db.execute(query)]


def events(store) -> int:
    with store() as db:
        return db.scalar(select(func.count()).select_from(m.Event))


async def reports_of(client, user: str, account: str = LARGE) -> list[dict[str, Any]]:
    return await ok(await client.call("GET", f"projects/{account}/reports", user))


async def test_a_large_scale_project_owes_progress_reports_and_a_final_one(client, large, store):
    reports = await reports_of(client, "carol")
    starts = large["starts"]
    assert [(r["kind"], r["due_on"]) for r in reports] == [
        ("progress", add_months(starts, 1).isoformat()),
        ("progress", add_months(starts, 3).isoformat()),
        ("progress", add_months(starts, 9).isoformat()),
        ("final", (large["ends"] + timedelta(days=FINAL_REPORT_DAYS)).isoformat()),
    ]
    # the first progress report was due 15 days ago; the others are further off than 30 days
    assert [r["state"] for r in reports] == ["overdue", "upcoming", "upcoming", "upcoming"]
    assert all(r["submitted_at"] is None and r["account"] == LARGE for r in reports)
    again = await reports_of(client, "bob")  # a member reads them too
    assert again == reports
    assert len([r for r in report_rows(store) if r[0] == LARGE]) == 4  # made once


async def test_the_pi_submits_a_report_and_staff_see_it_submitted(client, large, store):
    first, *_ = await reports_of(client, "carol")
    before = events(store)
    body = {"summary": SUMMARY, "products": [PAPER]}
    done = await ok(await client.call("PUT", f"projects/{LARGE}/reports/{first['id']}", "carol",
                                      body))  # fmt: skip
    assert (done["state"], done["submitted_by"], done["products"]) == ("submitted", "carol",
                                                                        [PAPER])  # fmt: skip
    assert done["submitted_at"] is not None and done["summary"] == SUMMARY
    assert events(store) == before + 1
    listed = await ok(await client.call("GET", "reports?status=submitted", "sam"))
    assert [(r["account"], r["id"]) for r in listed["reports"]] == [(LARGE, first["id"])]
    overdue = await ok(await client.call("GET", "reports?status=overdue", "sam"))
    assert first["id"] not in {r["id"] for r in overdue["reports"]}


async def test_a_progress_report_may_be_submitted_before_it_is_due(client, large):
    *_, later, _final_report = await reports_of(client, "carol")
    assert later["state"] == "upcoming"
    path = f"projects/{LARGE}/reports/{later['id']}"
    done = await ok(await client.call("PUT", path, "carol", {"summary": SUMMARY}))
    assert done["state"] == "submitted" and done["acknowledged"] is False


def _final(reports: list[dict[str, Any]]) -> dict[str, Any]:
    return next(r for r in reports if r["kind"] == "final")


@pytest.mark.parametrize(
    ("user", "body", "status", "field"),
    [
        # a product whose link is not a web address
        ("carol", {"summary": SUMMARY, "acknowledged": True,
                   "products": [{**PAPER, "url": "ftp://example.org/paper"}]}, 400,
         "products.0.url"),
        ("carol", {"summary": SUMMARY, "acknowledged": True,
                   "products": [PAPER, {**PAPER, "url": "example.org"}]}, 400, "products.1.url"),
        ("carol", {"summary": SUMMARY, "acknowledged": True,
                   "products": [{**PAPER, "kind": "poster"}]}, 400, "products.0.kind"),
        ("carol", {"summary": SUMMARY, "acknowledged": True,
                   "products": [{**PAPER, "title": ""}]}, 400, "products.0.title"),
        # the final report without the acknowledgement confirmed
        ("carol", {"summary": SUMMARY, "products": [PAPER]}, 400, "acknowledged"),
        ("carol", {"summary": SUMMARY, "acknowledged": "yes"}, 400, "acknowledged"),
        ("carol", {"summary": "Done.", "acknowledged": True}, 400, "summary"),
        ("carol", {"summary": " " * 80, "acknowledged": True}, 400, "summary"),
        ("carol", {"summary": SUMMARY, "acknowledged": True, "extra": 1}, 400, "extra"),
        # not the PI: a member, staff
        ("bob", {"summary": SUMMARY, "acknowledged": True}, 403, ""),
        ("sam", {"summary": SUMMARY, "acknowledged": True}, 403, ""),
        # not in the project at all: it is not there for them
        ("alice", {"summary": SUMMARY, "acknowledged": True}, 404, ""),
    ],
)  # fmt: skip
async def test_a_bad_submission_is_refused_naming_the_field_and_changes_nothing(
    client, large, store, user, body, status, field
):
    final = _final(await reports_of(client, "carol"))
    rows, before = report_rows(store), events(store)
    answer = await client.call("PUT", f"projects/{LARGE}/reports/{final['id']}", user, body)
    assert answer.status == status, answer.text
    error = answer.json()
    assert error["status"] == status and error["field"] == field and error["message"]
    assert report_rows(store) == rows and events(store) == before


async def test_a_report_of_someone_elses_project_is_not_there(client, large, store):
    """alice reads and writes carol's project's reports as if it did not exist; carol cannot
    reach one project's report through her other project's path."""
    final = _final(await reports_of(client, "carol"))
    rows, before = report_rows(store), events(store)
    answer = await client.call("GET", f"projects/{LARGE}/reports", "alice")
    assert answer.status == 404 and answer.json()["field"] == ""
    other_final = _final(await reports_of(client, "carol", RESULTS))
    rows = report_rows(store)  # that read made the other project's reports
    path = f"projects/{RESULTS}/reports/{final['id']}"  # carol's, wrong project
    answer = await client.call("PUT", path, "carol", {"summary": SUMMARY, "acknowledged": True})
    assert answer.status == 404, answer.text
    assert "report" in answer.json()["message"]
    assert other_final["id"] != final["id"]
    assert report_rows(store) == rows and events(store) == before


async def test_a_report_is_submitted_once(client, large, store):
    final = _final(await reports_of(client, "carol"))
    path = f"projects/{LARGE}/reports/{final['id']}"
    body = {"summary": SUMMARY, "products": [PAPER], "acknowledged": True}
    await ok(await client.call("PUT", path, "carol", body))
    rows, before = report_rows(store), events(store)
    again = await client.call("PUT", path, "carol", {**body, "summary": SUMMARY + " Again."})
    assert again.status == 409, again.text
    assert "submitted on" in again.json()["message"]
    assert report_rows(store) == rows and events(store) == before


async def test_staff_see_overdue_reports_first_and_open_results_obligations(client, large, store):
    add_project(store, "t-soon", "dave", 20)  # its first progress report is due in ~10 days
    listed = await ok(await client.call("GET", "reports", "sam"))
    states = [r["state"] for r in listed["reports"]]
    assert states[0] == "overdue" and "upcoming" in states
    assert states == sorted(states, key=lambda s: s != "overdue")
    accounts = {r["account"] for r in listed["reports"]}
    assert {LARGE, RESULTS, ENDED} <= accounts  # every granted project
    # carol's other project: its open results were due yesterday, with no link given
    (obligation,) = listed["obligations"]
    assert (obligation["account"], obligation["state"]) == (RESULTS, "overdue")
    overdue = await ok(await client.call("GET", "reports?status=overdue", "sam"))
    assert {r["state"] for r in overdue["reports"]} == {"overdue"}
    assert [o["account"] for o in overdue["obligations"]] == [RESULTS]
    due = await ok(await client.call("GET", "reports?status=due", "sam"))
    assert [(r["account"], r["kind"], r["state"]) for r in due["reports"]] == [
        ("t-soon", "progress", "due")
    ]
    assert due["obligations"] == []


async def test_a_given_results_link_shows_the_obligation_submitted(client, large):
    link = {"url": "https://example.org/results"}
    await ok(await client.call("POST", f"projects/{RESULTS}/obligation", "carol", link))
    listed = await ok(await client.call("GET", "reports?status=submitted", "sam"))
    assert [(o["account"], o["url"]) for o in listed["obligations"]] == [(RESULTS, link["url"])]


async def test_only_staff_list_every_projects_reports(client, large, store):
    answer = await client.call("GET", "reports", "carol")
    assert answer.status == 403
    rows = report_rows(store)
    bad = await client.call("GET", "reports?status=late", "sam")
    assert bad.status == 400 and bad.json()["field"] == "status"
    assert report_rows(store) == rows


async def test_the_first_login_trial_owes_no_reports(client, store):
    made = await ok(await client.call("POST", f"playground/{ROOT}", token=client.hub_token()),
                    201)  # fmt: skip
    account = made["project"]["account"]
    assert await ok(await client.call("GET", f"projects/{account}/reports", "sam")) == []
    assert [r for r in report_rows(store) if r[0] == account] == []
