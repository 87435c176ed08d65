"""The researcher's reports widget and the staff's reports desk, headless.

A fake client records every (method, path, body) and answers with JSON shaped as the factory
service's report operations answer, so the tests see what each click sends and shows.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aifactory_widgets import FactoryError, MyReports, ReportsDesk
from aifactory_widgets.ui.panel import ERROR_COLOUR

XSS = "<img src=x onerror=alert(1)>"
ACK = "We acknowledge the AI Factory for awarding this project access to its supercomputer."
SUMMARY = "We fine-tuned a vision model for parcel inspection and measured its recall."
PROJECT = {"account": "prj-7", "title": "Parcels", "pi": "carol", "access_mode": "large_scale"}
PROGRESS = {"id": 11, "account": "prj-7", "title": "Parcels", "pi": "carol", "kind": "progress",
            "due_on": "2027-02-15", "state": "overdue", "summary": "", "products": [],
            "acknowledged": False, "submitted_by": None, "submitted_at": None}  # fmt: skip
FINAL = {**PROGRESS, "id": 12, "kind": "final", "due_on": "2028-02-14", "state": "upcoming"}
PAPER = {"kind": "paper", "title": "Parcels at scale", "url": "https://example.org/paper"}


class FakeClient:
    """Records (method, path, body) and answers from `answers[(method, path)]`."""

    def __init__(self, answers: dict[tuple[str, str], Any]):
        self.answers = answers
        self.calls: list[tuple[str, str, Any]] = []

    def _answer(self, method: str, path: str, body: Any) -> Any:
        self.calls.append((method, path, copy.deepcopy(body)))
        answer = self.answers[(method, path)]
        if isinstance(answer, FactoryError):
            raise answer
        return answer(body) if callable(answer) else copy.deepcopy(answer)

    def get(self, path: str) -> Any:
        return self._answer("GET", path, None)

    def put(self, path: str, body: Any) -> Any:
        return self._answer("PUT", path, body)

    def sent(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.calls if (m, p) == (method, path)]


def submitted(body: dict[str, Any], report: dict[str, Any]) -> dict[str, Any]:
    return {**report, **body, "state": "submitted", "submitted_by": "carol",
            "submitted_at": "2027-02-20T09:30:00+00:00"}  # fmt: skip


def researcher(**extra: Any) -> FakeClient:
    answers = {
        ("GET", "api/site"): {"access": {"acknowledgement": ACK}},
        ("GET", "api/projects"): [PROJECT],
        ("GET", "api/projects/prj-7/reports"): [FINAL, PROGRESS],
        ("PUT", "api/projects/prj-7/reports/11"): lambda body: submitted(body, PROGRESS),
        ("PUT", "api/projects/prj-7/reports/12"): lambda body: submitted(body, FINAL),
    }
    for key, answer in extra.items():
        method, path = key.split(" ", 1)
        answers[(method, path)] = answer
    return FakeClient(answers)


def test_the_pi_sees_the_reports_overdue_first_and_the_acknowledgement_text():
    view = MyReports(researcher(), me="carol")
    assert "OVERDUE" in view.table.value and "2027-02-15" in view.table.value
    assert view.pick.value == 11  # the overdue progress report is picked first
    assert view.form.layout.display == "flex"
    view.pick.value = 12
    assert ACK in view.acknowledgement_text.value
    assert "required for the final report" in view.acknowledgement_text.value


def test_the_pi_submits_a_report_with_a_product():
    client = researcher()
    view = MyReports(client, me="carol")
    view.pick.value = 12
    view.summary.value = SUMMARY
    view.add_product_button.click()
    (row,) = view.products.children
    row.kind.value, row.title.value, row.url.value = "paper", PAPER["title"], f" {PAPER['url']} "
    view.acknowledged.value = True
    view.submit_button.click()
    body = {"summary": SUMMARY, "products": [PAPER], "acknowledged": True}
    assert client.sent("PUT", "api/projects/prj-7/reports/12") == [body]
    assert view.message.value == "Final report due 2028-02-14 submitted."
    assert view.form.layout.display == "none"  # submitted: read-only from now on
    assert "Submitted by carol" in view.details.value and PAPER["url"] in view.details.value


@pytest.mark.parametrize(
    ("summary", "url", "acknowledged", "shown"),
    [
        (SUMMARY, "example.org/paper", True, "products.0.url"),
        ("Done.", PAPER["url"], True, "summary"),
        (SUMMARY, PAPER["url"], False, "acknowledged"),
    ],
)
def test_what_is_wrong_is_shown_and_nothing_is_sent(summary, url, acknowledged, shown):
    client = researcher()
    view = MyReports(client, me="carol")
    view.pick.value = 12
    view.summary.value = summary
    view.add_product_button.click()
    (row,) = view.products.children
    row.title.value, row.url.value = PAPER["title"], url
    view.acknowledged.value = acknowledged
    view.submit_button.click()
    assert client.sent("PUT", "api/projects/prj-7/reports/12") == []
    assert [label.value.split(":")[0] for label in view.findings.children] == [shown]
    assert view.message.style.text_color == ERROR_COLOUR


def test_a_removed_product_is_not_sent():
    client = researcher()
    view = MyReports(client, me="carol")  # the progress report: no acknowledgement needed
    view.summary.value = SUMMARY
    view.add_product_button.click()
    view.products.children[0].remove.click()
    view.submit_button.click()
    sent = client.sent("PUT", "api/projects/prj-7/reports/11")
    assert sent == [{"summary": SUMMARY, "products": [], "acknowledged": False}]


def test_the_services_refusal_is_shown_with_its_field():
    refused = FactoryError(409, "this final report was submitted on 2027-02-20: it stands")
    view = MyReports(researcher(**{"PUT api/projects/prj-7/reports/11": refused}), me="carol")
    view.summary.value = SUMMARY
    view.submit_button.click()
    assert view.message.value == (
        "Could not submit the progress report: this final report was submitted on "
        "2027-02-20: it stands"
    )
    assert view.summary.value == SUMMARY  # kept, to try again
    url = FactoryError(400, "String should match pattern", "products.0.url")
    view = MyReports(researcher(**{"PUT api/projects/prj-7/reports/11": url}), me="carol")
    view.summary.value = SUMMARY
    view.submit_button.click()
    assert view.message.value.endswith("(field: products.0.url)")


def test_a_member_who_is_not_the_pi_reads_the_reports_but_gets_no_form():
    client = researcher()
    view = MyReports(client, me="bob")
    assert view.form.layout.display == "none"
    assert "Only the PI of prj-7 (carol) submits its reports." in view.details.value
    view.submit_button.click()
    assert client.sent("PUT", "api/projects/prj-7/reports/11") == []


def test_titles_and_summaries_are_shown_as_text_never_markup():
    done = submitted({"summary": XSS, "products": [{**PAPER, "title": XSS}]}, PROGRESS)
    client = researcher(**{"GET api/projects/prj-7/reports": [done]})
    view = MyReports(client, me="carol")
    assert XSS not in view.details.value and "&lt;img" in view.details.value


def test_without_projects_the_widget_says_so():
    view = MyReports(researcher(**{"GET api/projects": []}), me="carol")
    assert view.message.value == "You are not a member of any project."
    assert view.form.layout.display == "none"


LISTED = {
    "reports": [
        {**PROGRESS, "state": "overdue"},
        submitted({"summary": SUMMARY, "products": [PAPER], "acknowledged": True}, FINAL),
    ],
    "obligations": [{"account": "prj-3", "title": "Old", "pi": "dave",
                     "obligation": "publish results openly", "due_on": "2027-01-01",
                     "url": None, "charged": False, "state": "overdue"}],
}  # fmt: skip


def staff(**extra: Any) -> FakeClient:
    overdue = {**LISTED, "reports": LISTED["reports"][:1]}
    answers = {("GET", "api/reports"): LISTED, ("GET", "api/reports?status=overdue"): overdue}
    for key, answer in extra.items():
        method, path = key.split(" ", 1)
        answers[(method, path)] = answer
    return FakeClient(answers)


def test_staff_see_reports_and_obligations_and_read_a_submitted_report():
    desk = ReportsDesk(staff())
    assert desk.counts.value == "2 reports (1 overdue), 1 obligations"
    assert "OVERDUE" in desk.reports.value and "prj-3" in desk.obligations.value
    assert desk.pick.value == 12  # only submitted reports are offered to read
    assert SUMMARY in desk.details.value and PAPER["url"] in desk.details.value
    assert "acknowledgement confirmed" in desk.details.value


def test_staff_filter_by_state():
    client = staff()
    desk = ReportsDesk(client)
    desk.state.value = "overdue"
    assert [p for m, p, _ in client.calls][-1] == "api/reports?status=overdue"
    assert desk.counts.value == "1 reports (1 overdue), 1 obligations"
    assert desk.details.value == ""


def test_a_refused_list_is_shown_not_raised():
    desk = ReportsDesk(staff(**{"GET api/reports": FactoryError(403, "sam lacks the scope x")}))
    assert desk.message.value == "Could not read the reports: sam lacks the scope x"
