"""The proposal desk (support staff) and the review desk (reviewers), headless.

A fake client records every (method, path, body) and answers with JSON shaped as in
docs/access-api.md, so the tests see exactly what each click sends and what it shows.
"""

from __future__ import annotations

import copy
import datetime as dt
import html
from pathlib import Path
from typing import Any

import ipywidgets as w
import pytest

from aifactory_hub.console.dashboards import from_metadata, read_metadata
from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import load_site
from aifactory_widgets import FactoryError, ProposalDesk, ReviewDesk
from aifactory_widgets.ui.panel import ERROR_COLOUR

DASHBOARDS = Path(__file__).resolve().parents[2] / "dashboards"
XSS = "<img src=x onerror=alert(1)>"
SITE = public_site(load_site())  # the demo site's public facts: the published access modes

CALL = {
    "id": 1,
    "mode": "fast_lane",
    "mode_label": "Fast Lane",
    "title": "Fast lane 2026",
    "status": "open",
    "opens_at": "2026-11-27T10:00:00+00:00",
    "deadline": None,
    "capacity": {"gpu": {"gpu_hours": 1000, "cpu_hours": 8000}},
    "remaining": {"gpu": {"gpu_hours": 600, "cpu_hours": 8000}},
}
ETHICS = {
    "intended_use": "Detect defects on a production line from camera images.",
    "prohibited_practices": ["social_scoring"],
    "high_risk_area": "employment",
    "mitigation_plan": "A human checks every flagged worker.",
    "personal_data": True,
    "legal_basis": "legitimate_interests",
    "data_sources": [{"name": "COCO", "licence": "CC-BY-4.0"}, {"name": XSS, "licence": ""}],
    "transparency_acknowledged": True,
}
PROPOSAL = {
    "id": 7,
    "call_id": 1,
    "access_mode": "fast_lane",
    "access_mode_label": "Fast Lane",
    "length_months": 3,
    "applicant": "alice",
    "organisation": "Alpha Robotics",
    "applicant_type": "startup_sme",
    "title": XSS,
    "abstract": "We train a small vision model on open data.",
    "software": "PyTorch 2",
    "requests": [{"partition": "gpu", "gpu_hours": 200, "cpu_hours": 800}],
    "open_results": True,
    "academic_partner": "",
    "public_funding": False,
    "ethics": ETHICS,
    "status": "in_review",
    "eligibility": {"eligible": True, "findings": [], "ineligible_reason": ""},
    "technical_check": {
        "feasible": True,
        "notes": "",
        "checked_by": "sam",
        "findings": [{"field": "requests.0.gpu_hours", "message": "Above the per-project cap."}],
    },
    "reviews": [
        {"reviewer": "rita", "quality": 4, "pertinence": 5, "comment": "", "submitted": True}
    ],
    "score": 4.5,
    "rank": 1,
    "decision": None,
    "project": None,
    "price": None,
    "created_at": "2026-11-27T10:00:00+00:00",
    "updated_at": "2026-11-27T10:00:00+00:00",
    "submitted_at": "2026-11-27T10:00:00+00:00",
    "cutoff_on": None,
    "decision_due_on": "2026-12-01",
    "clock": "running",
    "overdue": False,
    "decided_at": None,
}
# Requests as `GET proposals?sort=due` answers: what is due first, the decided ones last.
LATE = {**PROPOSAL, "id": 8, "title": "Speech model", "applicant": "carol",
        "decision_due_on": "2026-11-30", "clock": "overdue", "overdue": True}  # fmt: skip
DUE_TODAY = {**PROPOSAL, "id": 9, "title": "Chip layouts", "access_mode": "large_scale",
             "access_mode_label": "Large Scale", "length_months": 12, "cutoff_on": "2026-12-01",
             "decision_due_on": "2026-12-15", "clock": "due"}  # fmt: skip
DECIDED = {**PROPOSAL, "id": 10, "title": "Decided", "status": "granted", "clock": "decided",
           "decided_at": "2026-11-28T09:00:00+00:00"}  # fmt: skip
ROW_READY = {
    "proposal_id": 7,
    "title": XSS,
    "applicant": "alice",
    "organisation": "Alpha Robotics",
    "score": 4.5,
    "rank": 1,
    "ready": True,
    "why_not": "",
    "requested": [{"partition": "gpu", "gpu_hours": 200, "cpu_hours": 800}],
    "status": "partial",
    "fraction": 0.5,
    "granted": [{"partition": "gpu", "gpu_hours": 100, "cpu_hours": 400}],
}
ROW_WAITING = {
    **ROW_READY,
    "proposal_id": 8,
    "title": "Speech model",
    "applicant": "carol",
    "score": None,
    "rank": None,
    "ready": False,
    "why_not": "1 of 2 reviews are in; 1 more needed.",
    "status": "in_review",
    "fraction": 0.0,
    "granted": [],
}
PROJECT = {
    "account": "prj-7",
    "title": XSS,
    "organisation": "Alpha Robotics",
    "pi": "alice",
    "access_mode": "fast_lane",
    "status": "pending",
    "starts_on": "2026-11-27",
    "ends_on": "2027-05-26",
    "allocations": [{"partition": "gpu", "gpu_hours": 100, "cpu_hours": 400}],
    "members": [{"username": "alice", "role": "pi"}],
    "charged": False,
    "price_reason": "open results",
    "obligation": "publish results openly (link due by 2028-05-26)",
    "obligation_due": "2028-05-26",
    "obligation_url": None,
    "obligation_overdue": False,
    "provisioned_at": None,
    "provisioning": [
        {"seq": 1, "action": "add account prj-7", "status": "done", "error": ""},
        {"seq": 2, "action": "add user alice", "status": "failed", "error": XSS},
    ],
}


def answers() -> dict[tuple[str, str], Any]:
    return {
        ("GET", "api/site"): SITE,
        ("GET", "api/calls"): [CALL],
        ("GET", "api/proposals"): [PROPOSAL],
        ("GET", "api/proposals/7"): PROPOSAL,
        ("GET", "api/projects"): [PROJECT],
        ("GET", "api/projects/prj-7"): PROJECT,
        ("GET", "api/calls/1/ranking"): {"call": CALL, "rows": [ROW_READY, ROW_WAITING]},
        ("POST", "api/calls/1/decide"): {
            "call": {**CALL, "status": "decided"},
            "rows": [{**ROW_READY, "title": "Decided one"}, ROW_WAITING],
        },
        ("POST", "api/calls"): {**CALL, "id": 2, "title": "Large 2027", "mode": "large_scale"},
        ("POST", "api/calls/1/close"): {**CALL, "status": "closed"},
        ("POST", "api/proposals/7/technical-check"): PROPOSAL,
        ("POST", "api/proposals/7/reviewers"): PROPOSAL,
        ("PUT", "api/proposals/7/review"): PROPOSAL,
        ("POST", "api/projects/prj-7/reprice"): {**PROJECT, "charged": True},
        ("POST", "api/projects/prj-7/provision"): {**PROJECT, "status": "active"},
        ("POST", "api/projects/prj-7/end"): {**PROJECT, "status": "ended"},
    }


class FakeClient:
    """Answers from a table; an answer that is a FactoryError is raised, like the real client."""

    def __init__(self, **overrides: Any):
        self.answers = answers()
        for key, value in overrides.items():
            method, _, path = key.partition(" ")
            self.answers[(method, path)] = value
        self.sent: list[tuple[str, str, Any]] = []

    def _answer(self, method: str, path: str, body: Any = None) -> Any:
        self.sent.append((method, path, body))
        # A filtered list answers like the whole list unless a test says otherwise.
        answer = self.answers.get((method, path)) or self.answers[(method, path.split("?")[0])]
        if isinstance(answer, FactoryError):
            raise answer
        return copy.deepcopy(answer)

    def get(self, path: str) -> Any:
        return self._answer("GET", path)

    def post(self, path: str, body: Any = None) -> Any:
        return self._answer("POST", path, {} if body is None else body)

    def put(self, path: str, body: Any) -> Any:
        return self._answer("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self._answer("DELETE", path)

    def writes(self) -> list[tuple[str, str, Any]]:
        return [s for s in self.sent if s[0] != "GET"]


def html_values(widget: w.Widget) -> list[str]:
    """Every HTML widget's markup under `widget` (Labels and Dropdowns never render markup)."""
    found = [widget.value] if isinstance(widget, w.HTML) else []
    for child in getattr(widget, "children", ()):
        found += html_values(child)
    return found


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def desk(client: FakeClient) -> ProposalDesk:
    return ProposalDesk(client)


def test_calls_table_shows_remaining_next_to_capacity(desk):
    table = desk.calls.table.value
    assert "Fast lane 2026" in table and "Fast Lane" in table
    assert "600 / 1000" in table and "8000 / 8000" in table
    assert [t for t in desk.tabs.titles] == ["Calls", "Proposals", "Decision", "Projects"]


def test_opening_a_call_posts_mode_title_deadline_and_capacity(desk, client):
    calls = desk.calls
    calls.mode.value = "large_scale"
    calls.title.value = " Large 2027 "
    calls.deadline.value = dt.date(2027, 1, 31)
    first = calls.capacity.children[0]
    first.partition.value, first.gpu_hours.value, first.cpu_hours.value = "gpu", 1000, 8000
    calls.add_row.click()
    second = calls.capacity.children[1]
    second.partition.value, second.cpu_hours.value = "cpu", 5000
    calls.open_button.click()
    assert client.writes() == [
        (
            "POST",
            "api/calls",
            {
                "mode": "large_scale",
                "title": "Large 2027",
                "deadline": "2027-01-31",
                "capacity": {
                    "gpu": {"gpu_hours": 1000, "cpu_hours": 8000},
                    "cpu": {"gpu_hours": 0, "cpu_hours": 5000},
                },
            },
        )
    ]
    assert "Opened call 2" in calls.message.value
    posted = client.sent.index(client.writes()[0])
    assert ("GET", "api/calls", None) in client.sent[posted:]  # every tab refreshed
    assert len(calls.capacity.children) == 1 and calls.title.value == ""


def test_a_call_without_deadline_leaves_it_out_and_the_server_judges(client):
    client.answers[("POST", "api/calls")] = FactoryError(
        400, "give the capacity of at least one partition", "capacity"
    )
    calls = ProposalDesk(client).calls
    calls.mode.value = "large_scale"
    calls.title.value = "Large 2027"
    calls.open_button.click()
    [(method, path, body)] = client.writes()
    assert (method, path) == ("POST", "api/calls")
    assert "deadline" not in body and body["capacity"] == {}
    assert calls.message.value == (
        "The call was not opened: give the capacity of at least one partition (field: capacity)"
    )
    assert calls.message.style.text_color == ERROR_COLOUR


def test_a_capacity_row_without_partition_name_is_refused_before_sending(desk, client):
    row = desk.calls.capacity.children[0]
    row.gpu_hours.value = 10
    desk.calls.open_button.click()
    assert client.writes() == []
    assert "partition's name" in desk.calls.message.value


def test_closing_a_call_asks_first(desk, client):
    desk.calls.close_button.click()
    assert client.writes() == []
    assert "Close call 1 (Fast lane 2026)?" in desk.calls.confirm.question.value
    desk.calls.confirm.no.click()
    assert client.writes() == [] and not desk.calls.confirm.asking
    desk.calls.close_button.click()
    desk.calls.confirm.yes.click()
    assert client.writes() == [("POST", "api/calls/1/close", {})]


def test_proposal_filters_go_into_the_query(desk, client):
    desk.proposals.status_filter.value = "in_review"
    desk.proposals.call_filter.value = 1
    gets = [p for m, p, _ in client.sent if m == "GET" and p.startswith("api/proposals?")]
    assert gets == [
        "api/proposals?sort=due",
        "api/proposals?status=in_review&sort=due",
        "api/proposals?call=1&status=in_review&sort=due",
    ]
    desk.proposals.order.value = "arrival"  # the first-come queue, as the service keeps it
    gets = [p for m, p, _ in client.sent if m == "GET" and p.startswith("api/proposals?")]
    assert gets[-1] == "api/proposals?call=1&status=in_review&sort=arrival"


def test_the_calls_mode_dropdown_offers_the_sites_modes(desk, client):
    assert ("GET", "api/site", None) in client.sent
    assert desk.calls.mode.options == (
        ("Playground", "playground"),
        ("Fast Lane", "fast_lane"),
        ("Large Scale", "large_scale"),
        ("AI for Science", "ai_science"),
    )


def test_each_request_shows_its_clock_and_the_overdue_ones_are_flagged(client):
    client.answers[("GET", "api/proposals")] = [LATE, DUE_TODAY, PROPOSAL, DECIDED]
    client.answers[("GET", "api/proposals/8")] = LATE
    panel = ProposalDesk(client).proposals
    table = panel.table.value
    clocks = [
        "overdue: decision expected by 2026-11-30",
        "decision expected today, 2026-12-15 (reviewed after the cut-off on 2026-12-01)",
        "decision expected by 2026-12-01",
        "decided 2026-11-28",
    ]
    places = [table.index(html.escape(c)) for c in clocks]
    assert places == sorted(places)  # in the order the service sorted them: due first
    assert "12 months" in table and "3 months" in table
    assert panel.overdue.value == "1 request is overdue: #8"
    assert panel.overdue.style.text_color == ERROR_COLOUR
    assert "overdue: decision expected by 2026-11-30" in panel.details.value  # the picked one
    client.answers[("GET", "api/proposals")] = [{**LATE, "id": 11}, LATE, PROPOSAL]
    panel.status_filter.value = "in_review"
    assert panel.overdue.value == "2 requests are overdue: #11, #8"


def test_an_unreadable_site_is_said_and_offers_no_mode():
    client = FakeClient(**{"GET api/site": FactoryError(403, "sam lacks the scope x")})
    calls = ProposalDesk(client).calls
    assert calls.mode.options == () and calls.message.value == (
        "Could not read the site's access modes: sam lacks the scope x"
    )


def test_nothing_overdue_flags_nothing(desk):
    assert desk.proposals.overdue.value == ""
    assert "decision expected by 2026-12-01" in desk.proposals.table.value


def test_proposal_table_and_details(desk):
    panel = desk.proposals
    assert panel.pick.value == 7
    for text in ("alice", "Alpha Robotics", "4.5", "in review"):
        assert text in panel.table.value
    details = panel.details.value
    assert "PyTorch 2" in details and "Above the per-project cap." in details
    assert "rita" in panel.reviews.value


def test_ethics_summary_names_practices_and_bases_by_label(desk):
    details = desk.proposals.details.value
    assert "Social scoring leading to unfavourable treatment" in details
    assert "social_scoring" not in details
    assert "Employment and workers management" in details
    assert "A human checks every flagged worker." in details
    assert "Legitimate interests" in details
    assert "COCO (CC-BY-4.0)" in details and "licence not given" in details


def test_technical_check_posts_feasible_and_notes(desk, client):
    panel = desk.proposals
    panel.feasible.value = False
    panel.notes.value = "Needs 8 GPUs at once; we have 4."
    panel.save_check.click()
    assert client.writes() == [
        (
            "POST",
            "api/proposals/7/technical-check",
            {"feasible": False, "notes": "Needs 8 GPUs at once; we have 4."},
        )
    ]
    assert "saved" in panel.message.value


def test_a_conflict_of_interest_is_shown_next_to_the_assignment(client):
    client.answers[("POST", "api/proposals/7/reviewers")] = FactoryError(
        409, "conflict of interest: rita works for Alpha Robotics", "reviewer"
    )
    panel = ProposalDesk(client).proposals
    panel.reviewer.value = " rita "
    panel.assign.click()
    assert client.writes() == [("POST", "api/proposals/7/reviewers", {"reviewer": "rita"})]
    assert panel.assign_message.value == (
        "rita was not assigned to proposal 7 (conflict): "
        "conflict of interest: rita works for Alpha Robotics (field: reviewer)"
    )
    assert panel.assign_message.style.text_color == ERROR_COLOUR
    assert panel.reviewer.value == " rita "  # kept, to correct


def test_assigning_a_reviewer(desk, client):
    desk.proposals.reviewer.value = "rita"
    desk.proposals.assign.click()
    assert client.writes() == [("POST", "api/proposals/7/reviewers", {"reviewer": "rita"})]
    assert desk.proposals.assign_message.value == "rita now reviews proposal 7."


def test_decide_asks_with_the_counts_and_only_then_posts(desk, client):
    panel = desk.decision
    assert panel.pick.value == 1 and not panel.decide_button.disabled
    panel.decide_button.click()
    assert client.writes() == []
    assert panel.confirm.question.value == (
        "Grant 0, partial 1, waitlist 0 on call 1 (Fast lane 2026)? 1 not ready stay in review."
        " This provisions the projects in Slurm."
    )
    panel.confirm.no.click()
    assert client.writes() == []
    panel.decide_button.click()
    panel.confirm.yes.click()
    assert client.writes() == [("POST", "api/calls/1/decide", {})]
    assert "Decided one" in panel.result.value and panel.decide_button.disabled
    assert "is decided" in panel.message.value


def test_ranking_shows_why_a_proposal_is_not_ready(desk):
    panel = desk.decision
    assert "1 of 2 reviews are in; 1 more needed." in panel.ranking.value
    assert "50 %" in panel.ranking.value and "gpu: 100 GPU h, 400 CPU h" in panel.ranking.value
    assert "left to grant: gpu 600 GPU h, 8000 CPU h" in panel.remaining.value


def test_nothing_to_decide_when_no_row_is_ready(client):
    ranking = {"call": CALL, "rows": [ROW_WAITING]}
    client.answers[("GET", "api/calls/1/ranking")] = ranking
    assert ProposalDesk(client).decision.decide_button.disabled


def test_project_steps_and_buttons(desk, client):
    panel = desk.projects
    assert panel.pick.value == "prj-7"
    assert "add account prj-7" in panel.details.value and "failed" in panel.details.value
    assert "2028-05-26" in panel.table.value and "OVERDUE" not in panel.table.value
    assert panel.reprice.disabled and not panel.end.disabled
    panel.retry.click()
    assert client.writes() == [("POST", "api/projects/prj-7/provision", {})]
    assert "it is active" in panel.message.value


def test_reprice_only_when_overdue_and_after_asking(client):
    client.answers[("GET", "api/projects/prj-7")] = {**PROJECT, "obligation_overdue": True}
    panel = ProposalDesk(client).projects
    assert not panel.reprice.disabled
    panel.reprice.click()
    assert client.writes() == [] and "was due on 2028-05-26" in panel.confirm.question.value
    panel.confirm.yes.click()
    assert client.writes() == [("POST", "api/projects/prj-7/reprice", {})]


def test_end_project_asks_first_then_disables_the_buttons(desk, client):
    panel = desk.projects
    panel.end.click()
    assert client.writes() == [] and "End project prj-7" in panel.confirm.question.value
    panel.confirm.yes.click()
    assert client.writes() == [("POST", "api/projects/prj-7/end", {})]
    assert panel.end.disabled and panel.retry.disabled and panel.reprice.disabled


def test_a_refused_read_is_shown_not_raised():
    client = FakeClient(**{"GET api/projects": FactoryError(403, "sam lacks the scope x")})
    desk = ProposalDesk(client)
    assert desk.projects.message.value == "Could not read the projects: sam lacks the scope x"


def test_user_text_is_escaped_in_every_table():
    call = {**CALL, "title": XSS}
    client = FakeClient(
        **{
            "GET api/calls": [call],
            "GET api/calls/1/ranking": {"call": call, "rows": [ROW_READY, ROW_WAITING]},
            "POST api/calls/1/decide": {"call": call, "rows": [ROW_READY]},
        }
    )
    desk = ProposalDesk(client)
    review = ReviewDesk(FakeClient())
    shown = [
        desk.calls.table,
        desk.proposals.table,
        desk.proposals.details,
        desk.decision.ranking,
        desk.projects.details,
        review.table,
        review.details,
    ]
    escaped = html.escape(XSS)
    assert [widget for widget in shown if escaped not in widget.value] == []
    desk.decision.decide_button.click()
    desk.decision.confirm.yes.click()
    assert escaped in desk.decision.result.value
    assert XSS in desk.decision.confirm.question.value  # a Label: shown as text, never markup
    markup = html_values(desk) + html_values(review)
    assert [m for m in markup if XSS in m] == []


def test_review_desk_shows_the_proposal_and_prefills_the_review(client):
    review = ReviewDesk(client)
    assert "submitted (quality 4, pertinence 5)" in review.table.value
    assert "We train a small vision model" in review.details.value
    assert "Social scoring leading to unfavourable treatment" in review.details.value
    assert "gpu" in review.details.value and "800" in review.details.value
    assert (review.quality.value, review.pertinence.value) == (4, 5)
    assert review.submit.description == "Change review" and "Submitted" in review.state.value


def test_review_form_puts_quality_pertinence_and_comment():
    unreviewed = {**PROPOSAL, "reviews": []}
    client = FakeClient(**{"GET api/proposals/7": unreviewed, "GET api/proposals": [unreviewed]})
    review = ReviewDesk(client)
    assert review.quality.value is None and review.state.value == ""
    review.submit.click()
    assert client.writes() == [] and "Give a mark" in review.message.value
    review.quality.value, review.pertinence.value = 3, 5
    review.comment.value = "Sound plan."
    review.submit.click()
    assert client.writes() == [
        ("PUT", "api/proposals/7/review", {"quality": 3, "pertinence": 5, "comment": "Sound plan."})
    ]
    assert review.state.value.startswith("Submitted") and "submitted" in review.message.value


def test_a_review_after_the_decision_shows_the_service_refusal():
    refused = FactoryError(409, "call 1 is decided; reviews can no longer change")
    review = ReviewDesk(FakeClient(**{"PUT api/proposals/7/review": refused}))
    review.submit.click()
    assert review.message.value == (
        "Your review of proposal 7 was not saved: call 1 is decided; reviews can no longer change"
    )


@pytest.mark.parametrize(
    ("name", "title", "scope", "widget"),
    [
        ("proposals.ipynb", "Proposals, review and decisions", "proposals:manage", "ProposalDesk"),
        ("review.ipynb", "My reviews", "proposals:review", "ReviewDesk"),
    ],
)
def test_dashboards_declare_their_scope(name, title, scope, widget):
    path = DASHBOARDS / name
    dashboard = from_metadata(name, read_metadata(path))
    assert dashboard.title == title and dashboard.description
    assert dashboard.scope == f"custom:aifactory:{scope}"
    assert dashboard.order == {"proposals.ipynb": 20, "review.ipynb": 30}[name]
    source = path.read_text()
    assert f"from aifactory_widgets import {widget}" in source and f"{widget}()" in source
