"""My applications and my projects, headless, against a fake service answering as the contract."""

from __future__ import annotations

import html
from collections.abc import Iterator
from typing import Any

import ipywidgets as w

from aifactory_widgets import FactoryError, MyApplications, MyProjects
from aifactory_widgets.access.status import ProjectCard, decision_text
from tests.unit.test_widgets_apply import DRAFT, PROPOSAL, XSS, FakeClient

PROJECT = {
    "account": "prj-7", "title": "Robot arms that learn", "organisation": "Alpha Robotics",
    "pi": "alice", "access_mode": "fast_lane", "access_mode_label": "Fast Lane",
    "status": "active",
    "starts_on": "2026-11-27", "ends_on": "2027-05-26",
    "allocations": [{"partition": "gpu", "gpu_hours": 100, "cpu_hours": 400}],
    "members": [{"username": "alice", "role": "pi"}, {"username": "bob", "role": "member"}],
    "charged": False, "price_reason": "Free: the results will be published openly.",
    "obligation": "publish results openly (link due by 2028-05-26)",
    "obligation_due": "2028-05-26", "obligation_url": None, "obligation_overdue": False,
    "provisioned_at": "2026-11-27T12:00:00+00:00",
    "provisioning": [{"seq": 1, "action": "add account prj-7", "status": "done", "error": ""}],
}  # fmt: skip
MEMBERS = "api/projects/prj-7/members"


def walk(widget: w.Widget) -> Iterator[w.Widget]:
    yield widget
    for child in getattr(widget, "children", ()):
        yield from walk(child)


def buttons(widget: w.Widget) -> dict[str, w.Button]:
    return {b.description: b for b in walk(widget) if isinstance(b, w.Button)}


def texts(widget: w.Widget) -> list[str]:
    return [c.value for c in walk(widget) if isinstance(c, w.Label)]


def applications(*proposals: dict[str, Any]) -> FakeClient:
    return FakeClient({("GET", "api/proposals"): list(proposals)})


def projects(project: dict[str, Any] = PROJECT, **answers: Any) -> FakeClient:
    client = FakeClient({("GET", "api/projects"): [project]})
    for key, answer in answers.items():
        method, path = key.split(" ", 1)
        client.answers[(method, path)] = answer
    return client


def test_the_table_shows_each_proposal_and_escapes_titles():
    view = MyApplications(applications({**PROPOSAL, "title": XSS}, {**DRAFT, "id": 8}))
    table = view.table.value
    assert XSS not in table and html.escape(XSS) in table
    for cell in ("1 / Fast Lane", "in review", "3 months", "decision expected by 2026-12-03",
                 "4.5", "prj-7", "partial (50%): gpu: 100 GPU h"):  # fmt: skip
        assert cell in table
    assert "Free: the results will be published openly." in table
    assert [label for label, _ in view.choose.options] == [f"#7 {XSS}", "#8 Robot arms that learn"]


def test_decisions_read_plainly():
    assert decision_text(None) == ""
    assert decision_text({"status": "rejected", "fraction": 0, "granted": []}) == "rejected"
    granted = {"status": "granted", "fraction": 1,
               "granted": [{"partition": "cpu", "gpu_hours": 0, "cpu_hours": 1500.5}]}  # fmt: skip
    assert decision_text(granted) == "granted: cpu: 0 GPU h, 1500.5 CPU h"


def test_a_selected_proposal_shows_reviews_without_names_findings_and_obligation():
    findings = {
        "eligible": False,
        "findings": [{"field": "title", "message": XSS}],
        "ineligible_reason": "Prohibited by the EU AI Act",
    }
    draft_review = {"quality": 1, "pertinence": 1, "comment": "half written", "submitted": False}
    proposal = {**PROPOSAL, "eligibility": findings,
                "reviews": [*PROPOSAL["reviews"], draft_review]}  # fmt: skip
    view = MyApplications(applications(proposal))
    assert view.choose.value == 7
    assert "Solid plan" in view.reviews.value and "rita" not in view.reviews.value
    assert "half written" not in view.reviews.value
    labels = texts(view.eligibility)
    assert labels == ["Prohibited by the EU AI Act", f"title: {XSS}"]
    assert view.eligibility.children[0].style.text_color == "red"
    assert view.obligation.value == "publish results openly (link due by 2028-05-26)"


def test_the_selected_request_shows_its_clock_and_an_overdue_one_in_red():
    late = {**PROPOSAL, "id": 9, "clock": "overdue", "overdue": True}
    view = MyApplications(applications(PROPOSAL, late, {**DRAFT, "id": 8}))
    assert view.clock.value == "decision expected by 2026-12-03"
    assert view.clock.style.text_color is None
    assert "overdue: decision expected by 2026-12-03" in view.table.value
    view.choose.value = 9
    assert view.clock.value == "overdue: decision expected by 2026-12-03"
    assert view.clock.style.text_color == "red"
    view.choose.value = 8  # a draft: no clock until it is submitted
    assert view.clock.value == "" and view.clock.style.text_color is None


def test_a_queued_request_says_how_many_are_checked_first_and_one_that_left_has_no_clock():
    queued = {**PROPOSAL, "waiting_ahead": 2}
    first = {**PROPOSAL, "id": 9, "waiting_ahead": 1}
    left = {**PROPOSAL, "id": 10, "status": "ineligible", "clock": None, "overdue": False}
    view = MyApplications(applications(queued, first, left))
    assert view.clock.value == "decision expected by 2026-12-03; 2 earlier requests checked first"
    view.choose.value = 9
    assert view.clock.value == "decision expected by 2026-12-03; 1 earlier request checked first"
    view.choose.value = 10  # ineligible: it left without a decision, so no clock runs
    assert view.clock.value == ""


def test_refresh_keeps_the_selection_and_a_refusal_is_shown():
    client = applications(PROPOSAL, {**DRAFT, "id": 8, "title": "Second"})
    view = MyApplications(client)
    view.choose.value = 8
    assert "Not checked yet" in texts(view.eligibility)[0]
    buttons(view)["Refresh"].click()
    assert view.choose.value == 8 and len(client.calls) == 2
    client.answers[("GET", "api/proposals")] = FactoryError(401, "your token has expired")
    view.refresh()
    assert view.message.value == "Could not load your proposals: your token has expired"


def test_a_project_shows_allocations_members_price_and_obligation():
    view = MyProjects(projects(), me="bob")
    (card,) = view.cards.children
    assert "prj-7: Robot arms that learn (Fast Lane, active)" == card.heading.value
    assert "<td>gpu</td><td>100</td><td>400</td>" in card.allocations.value
    assert ["alice", "pi"] == texts(card.members)[:2] and ["bob", "member"] == texts(card.members)[
        2:
    ]
    assert card.price.value == "Free: the results will be published openly."
    assert card.obligation.value == (
        "Obligation: publish results openly (link due by 2028-05-26); due 2028-05-26"
    )


def test_pi_controls_are_absent_for_a_member():
    card = MyProjects(projects(), me="bob").cards.children[0]
    assert not {"Add member", "Remove", "Submit link"} & set(buttons(card))
    assert card.new_member not in walk(card) and card.link not in walk(card)


def test_who_i_am_comes_from_the_hub(monkeypatch):
    monkeypatch.setenv("JUPYTERHUB_USER", "alice")
    card = MyProjects(projects()).cards.children[0]
    assert {"Add member", "Remove", "Submit link"} <= set(buttons(card))


def test_the_pi_adds_a_member_and_sees_the_refreshed_project():
    members = [*PROJECT["members"], {"username": "dave", "role": "member"}]
    client = projects(**{f"POST {MEMBERS}": {**PROJECT, "members": members}})
    card = MyProjects(client, me="alice").cards.children[0]
    card.new_member.value = " dave "
    buttons(card)["Add member"].click()
    assert client.calls[-1] == ("POST", MEMBERS, {"username": "dave"})
    assert "dave" in texts(card.members) and card.message.value == "dave was added."
    assert card.new_member.value == ""


def test_the_pi_cannot_be_removed_and_removing_asks_first():
    client = projects(**{f"DELETE {MEMBERS}/bob": {**PROJECT, "members": PROJECT["members"][:1]}})
    card = MyProjects(client, me="alice").cards.children[0]
    alice_row, bob_row = card.members.children
    assert not [c for c in alice_row.children if isinstance(c, w.Button)]
    bob_row.children[-1].click()
    assert card.confirm.asking and len(client.calls) == 1
    assert "Remove bob from prj-7?" in card.confirm.question.value
    card.confirm.no.click()  # Cancel
    assert len(client.calls) == 1
    bob_row.children[-1].click()
    card.confirm.yes.click()  # Yes
    assert client.calls[-1] == ("DELETE", f"{MEMBERS}/bob", None)
    assert texts(card.members) == ["alice", "pi"] and card.message.value == "bob was removed."


def test_the_pi_submits_the_open_results_link():
    url = "https://zenodo.org/records/1"
    done = {**PROJECT, "obligation_url": url}
    client = projects(**{"POST api/projects/prj-7/obligation": done})
    card = MyProjects(client, me="alice").cards.children[0]
    card.link.value = url
    buttons(card)["Submit link"].click()
    assert client.calls[-1] == ("POST", "api/projects/prj-7/obligation", {"url": url})
    assert card.obligation.value.endswith(f"Link given: {url}")


def test_a_refused_action_is_shown_with_its_field():
    refusal = FactoryError(400, "there is no user zed", "username")
    card = MyProjects(projects(**{f"POST {MEMBERS}": refusal}), me="alice").cards.children[0]
    card.new_member.value = "zed"
    card.add_member()
    assert card.message.value == "Could not add zed: there is no user zed (field: username)"
    assert card.new_member.value == "zed" and texts(card.members)[::2] == ["alice", "bob"]


def test_no_link_box_without_an_obligation_and_an_overdue_one_says_so():
    charged = {**PROJECT, "obligation": "", "charged": True, "price_reason": "Charged per hour."}
    card = ProjectCard(projects(), charged, me="alice")
    assert "Submit link" not in buttons(card) and card.price.value == "Charged per hour."
    overdue = ProjectCard(projects(), {**PROJECT, "obligation_overdue": True}, me="alice")
    assert overdue.obligation.value.endswith("(OVERDUE)")


def test_no_projects_and_errors_are_said():
    assert "not a member" in MyProjects(FakeClient({("GET", "api/projects"): []})).message.value
    down = FakeClient({("GET", "api/projects"): FactoryError(403, "missing scope")})
    assert MyProjects(down, me="x").message.value == "Could not load your projects: missing scope"


def test_no_proposals_yet():
    view = MyApplications(applications())
    assert "You have no proposals yet." in view.table.value
    assert view.choose.value is None and view.eligibility.children == ()
