"""The proposal form, headless, against a fake factory service answering as docs/access-api.md.

`FakeClient` and the canned objects are shared with test_widgets_status.py.
"""

from __future__ import annotations

import copy
from typing import Any

import ipywidgets as w
import pytest

from aifactory_hub.policy import model
from aifactory_hub.service.routes.site import public_site
from aifactory_hub.site import load_site
from aifactory_widgets import FactoryError, ProposalForm
from aifactory_widgets.access import form as form_module
from aifactory_widgets.access.form import DRAFT_FIELDS, length_options, parse_data_sources

XSS = "<img src=x onerror=alert(1)>"
SITE = public_site(load_site())  # the demo site's public facts: the published access modes
CALL = {
    "id": 1, "mode": "fast_lane", "mode_label": "Fast Lane", "title": "Fast lane 2026",
    "status": "open",
    "opens_at": "2026-11-27T10:00:00+00:00", "deadline": None,
    "capacity": {"gpu": {"gpu_hours": 1000, "cpu_hours": 8000}},
    "remaining": {"gpu": {"gpu_hours": 600, "cpu_hours": 8000}},
}  # fmt: skip
LARGE_CALL = {
    **CALL, "id": 2, "mode": "large_scale", "mode_label": "Large Scale",
    "title": "Large scale 2026",
    "capacity": {"cpu": {"gpu_hours": 0, "cpu_hours": 90000},
                 "gpu": {"gpu_hours": 9000, "cpu_hours": 9000}},
}  # fmt: skip
CLOSED_CALL = {**CALL, "id": 3, "title": "Fast lane 2025", "status": "closed"}
PROPOSAL = {
    "id": 7, "call_id": 1, "access_mode": "fast_lane", "access_mode_label": "Fast Lane",
    "length_months": 3, "applicant": "alice",
    "organisation": "Alpha Robotics", "applicant_type": "startup_sme",
    "title": "Robot arms that learn", "abstract": "We train a policy for robot arms " * 3,
    "software": "PyTorch 2",
    "requests": [{"partition": "gpu", "gpu_hours": 200, "cpu_hours": 800}],
    "open_results": True, "academic_partner": "", "public_funding": False,
    "ethics": {"intended_use": "Pick and place in warehouses", "prohibited_practices": [],
               "high_risk_area": "none", "mitigation_plan": "", "personal_data": False,
               "legal_basis": None,
               "data_sources": [{"name": "COCO", "licence": "CC-BY-4.0"}],
               "transparency_acknowledged": True},
    "catalogue": ["stocks-monthly"],
    "catalogue_items": [{"name": "stocks-monthly", "licence": "Yahoo terms",
                         "licence_url": "https://example.org/terms", "commercial_use": False,
                         "known": True}],
    "status": "in_review",
    "eligibility": {"eligible": True, "findings": [], "ineligible_reason": ""},
    "technical_check": {"feasible": True, "notes": "", "checked_by": "sam",
                        "findings": [{"field": "requests", "message": "fine"}]},
    "reviews": [{"reviewer": "rita", "quality": 4, "pertinence": 5, "comment": "Solid plan",
                 "submitted": True}],
    "score": 4.5, "rank": 1,
    "decision": {"status": "partial", "fraction": 0.5,
                 "granted": [{"partition": "gpu", "gpu_hours": 100, "cpu_hours": 400}]},
    "project": "prj-7",
    "price": {"charged": False, "reason": "Free: the results will be published openly.",
              "obligation": "publish results openly (link due by 2028-05-26)"},
    "created_at": "2026-11-27T10:00:00+00:00", "updated_at": "2026-11-27T10:00:00+00:00",
    "submitted_at": "2026-11-27T11:00:00+00:00",
    "cutoff_on": None, "decision_due_on": "2026-12-03", "clock": "running", "overdue": False,
    "decided_at": None,
}  # fmt: skip
DRAFT = {**PROPOSAL, "status": "draft", "eligibility": None, "reviews": [], "score": None,
         "rank": None, "decision": None, "project": None, "price": None,
         "decision_due_on": None, "clock": None}  # fmt: skip
FINDINGS = {
    "eligible": False,
    "findings": [
        {"field": "title", "message": "Give a title of 5 to 200 characters."},
        {"field": "abstract", "message": f"Write more than {XSS}."},
        {"field": "ethics.transparency_acknowledged", "message": "Confirm transparency."},
    ],
    "ineligible_reason": "",
}
READY = {"eligible": True, "findings": [], "ineligible_reason": ""}
ITEMS = [
    {"name": "stocks-monthly", "kind": "dataset", "licence": "Yahoo terms",
     "commercial_use": False},
    {"name": "stocks-trend", "kind": "model", "licence": "CC0-1.0", "commercial_use": True},
]  # fmt: skip

# A canned answer: a value (copied), a callable of the request body, or a FactoryError to raise.
Answer = Any


class FakeClient:
    """Records (method, path, body) and answers from `answers[(method, path)]`."""

    def __init__(self, answers: dict[tuple[str, str], Answer]):
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

    def post(self, path: str, body: Any = None) -> Any:
        return self._answer("POST", path, {} if body is None else body)

    def put(self, path: str, body: Any) -> Any:
        return self._answer("PUT", path, body)

    def delete(self, path: str) -> Any:
        return self._answer("DELETE", path, None)

    def sent(self, method: str, path: str) -> list[Any]:
        return [b for m, p, b in self.calls if (m, p) == (method, path)]


def service(**extra: Answer) -> FakeClient:
    answers: dict[tuple[str, str], Answer] = {
        ("GET", "api/calls"): [CALL, LARGE_CALL, CLOSED_CALL],
        ("POST", "api/proposals/check"): FINDINGS,
        ("GET", "api/catalogue"): ITEMS,
        ("GET", "api/site"): SITE,
    }
    for key, answer in extra.items():
        method, path = key.split(" ", 1)
        answers[(method, path)] = answer
    return FakeClient(answers)


def draft_fields(proposal: dict[str, Any]) -> dict[str, Any]:
    return {k: proposal[k] for k in DRAFT_FIELDS}


def fill(form: ProposalForm) -> None:
    form.title.value = "Robot arms that learn"
    form.abstract.value = "Long enough."
    form.organisation.value = "Alpha Robotics"
    form.applicant_type.value = "industry"
    form.software.value = "PyTorch 2"
    form.requests["gpu"][0].value = 200
    form.requests["gpu"][1].value = 800
    form.open_results.value = True
    form.intended_use.value = "Pick and place"
    form.data_sources.value = "COCO | CC-BY-4.0\n\n  my own scrape  \n"
    form.transparency.value = True
    form.length.value = 2


@pytest.mark.parametrize(
    ("labels", "enum"),
    [
        (form_module.APPLICANT_TYPES, model.ApplicantType),
        (form_module.PROHIBITED_PRACTICES, model.ProhibitedPractice),
        (form_module.HIGH_RISK_AREAS, model.HighRiskArea),
        (form_module.LEGAL_BASES, model.LegalBasis),
    ],
)
def test_labels_are_the_policy_enumerations(labels, enum):
    assert labels == {m.value: m.label for m in enum}


def test_data_sources_one_per_line_and_a_missing_licence_stays_empty():
    text = "COCO | CC-BY-4.0\n\n  my own scrape  \nweird | a | b\n"
    assert parse_data_sources(text) == [
        {"name": "COCO", "licence": "CC-BY-4.0"},
        {"name": "my own scrape", "licence": ""},
        {"name": "weird", "licence": "a | b"},
    ]


def test_only_open_calls_are_offered_and_the_call_sets_the_mode():
    form = ProposalForm(service())
    assert [v for _, v in form.call.options] == [1, 2]
    assert form.call.options[0][0] == "Fast Lane: Fast lane 2026"
    assert form.access_mode.value == (
        "Access mode: Fast Lane (set by the call): decided within 4 working days"
    )
    assert list(form.requests) == ["gpu"]
    form.requests["gpu"][0].value = 50
    form.call.value = 2
    assert form.access_mode.value == (
        "Access mode: Large Scale (set by the call): decided within 10 working days after its "
        "cut-off"
    )
    assert list(form.requests) == ["cpu", "gpu"]
    assert form.requests["gpu"][0].value == 50  # hours typed survive a change of call


def test_the_length_follows_the_calls_mode_as_the_site_defines_it():
    client = service()
    form = ProposalForm(client)
    assert ("GET", "api/site", None) in client.calls
    assert form.length.options == (("1 month", 1), ("2 months", 2), ("3 months", 3))
    form.length.value = 3
    assert client.sent("POST", "api/proposals/check")[-1]["length_months"] == 3  # checked at once
    form.call.value = 2  # large scale: 3, 6 or 12 months; 3 is still allowed and kept
    assert [n for _, n in form.length.options] == [3, 6, 12] and form.length.value == 3
    form.length.value = 12
    form.call.value = 1  # back to the fast lane: 12 is not offered, its first length is chosen
    assert form.length.value == 1 and form.to_body()["length_months"] == 1
    assert length_options(SITE["access"]["modes"]["ai_science"]) == [("6 months", 6)]


def test_a_length_the_mode_no_longer_offers_is_shown_not_dropped():
    form = ProposalForm(service(), {**DRAFT, "length_months": 9})
    assert form.length.options[-1] == ("9 months", 9) and form.to_body()["length_months"] == 9


def test_an_unreadable_site_leaves_no_length_to_choose_and_says_so():
    form = ProposalForm(service(**{"GET api/site": FactoryError(0, "the service did not answer")}))
    assert form.message.value == "Could not read the access modes: the service did not answer"
    assert form.length.options == () and form.to_body()["length_months"] is None
    assert form.access_mode.value == "Access mode: Fast Lane (set by the call)"


def test_a_submitted_proposal_shows_when_the_decision_is_expected():
    form = ProposalForm(service(), PROPOSAL)
    assert form.clock.value == "decision expected by 2026-12-03"
    assert form.clock.style.text_color is None
    late = ProposalForm(service(), {**PROPOSAL, "clock": "overdue", "overdue": True})
    assert late.clock.value == "overdue: decision expected by 2026-12-03"
    assert late.clock.style.text_color == "red"
    review = {**PROPOSAL, "call_id": 2, "access_mode": "large_scale", "length_months": 6,
              "cutoff_on": "2026-12-15", "decision_due_on": "2027-01-05"}  # fmt: skip
    assert ProposalForm(service(), review).clock.value == (
        "decision expected by 2027-01-05 (reviewed after the cut-off on 2026-12-15)"
    )
    decided = {**PROPOSAL, "clock": "decided", "decided_at": "2026-12-02T09:00:00+00:00"}
    assert ProposalForm(service(), decided).clock.value == "decided 2026-12-02"
    assert ProposalForm(service(), DRAFT).clock.value == ""  # a draft has no clock yet


def test_to_body_is_the_draft_fields_with_the_values_typed():
    form = ProposalForm(service())
    fill(form)
    assert form.to_body() == {
        "call_id": 1,
        "title": "Robot arms that learn",
        "abstract": "Long enough.",
        "organisation": "Alpha Robotics",
        "applicant_type": "industry",
        "software": "PyTorch 2",
        "requests": [{"partition": "gpu", "gpu_hours": 200, "cpu_hours": 800}],
        "open_results": True,
        "academic_partner": "",
        "public_funding": False,
        "length_months": 2,
        "ethics": {
            "intended_use": "Pick and place",
            "prohibited_practices": [],
            "high_risk_area": "none",
            "mitigation_plan": "",
            "personal_data": False,
            "legal_basis": None,
            "data_sources": [
                {"name": "COCO", "licence": "CC-BY-4.0"},
                {"name": "my own scrape", "licence": ""},
            ],
            "transparency_acknowledged": True,
        },
        "catalogue": [],
    }
    assert tuple(form.to_body()) == DRAFT_FIELDS


def test_prohibited_practices_are_checkboxes_saying_my_work_involves():
    form = ProposalForm(service())
    box = form.practices["social_scoring"]
    assert box.description == "my work involves: Social scoring leading to unfavourable treatment"
    box.value = True
    assert form.to_body()["ethics"]["prohibited_practices"] == ["social_scoring"]


def test_a_proposal_round_trips():
    form = ProposalForm(service(), DRAFT)
    assert form.to_body() == draft_fields(DRAFT)
    assert form.proposal_id == 7 and not form.read_only


def test_a_full_ethics_assessment_round_trips():
    ethics = {
        "intended_use": "Screening job applications for skills",
        "prohibited_practices": ["social_scoring", "emotion_recognition_work_education"],
        "high_risk_area": "employment",
        "mitigation_plan": "Humans decide; audits every month.",
        "personal_data": True,
        "legal_basis": "consent",
        "data_sources": [{"name": "CVs", "licence": ""}, {"name": "ESCO", "licence": "EUPL"}],
        "transparency_acknowledged": False,
    }
    requests = [
        {"partition": "gpu", "gpu_hours": 10.5, "cpu_hours": 0},
        {"partition": "cpu", "gpu_hours": 0, "cpu_hours": 300},
    ]
    draft = {**DRAFT, "call_id": 2, "access_mode": "large_scale", "length_months": 12,
             "applicant_type": "academia",
             "public_funding": True, "academic_partner": "TU Wien", "open_results": False,
             "requests": requests, "ethics": ethics}  # fmt: skip
    assert ProposalForm(service(), draft).to_body() == draft_fields(draft)


def test_a_submitted_proposal_loads_read_only_on_its_closed_call():
    client = service(**{"GET api/calls": [CLOSED_CALL]})
    form = ProposalForm(client, {**PROPOSAL, "call_id": 3})
    assert form.to_body() == draft_fields({**PROPOSAL, "call_id": 3})
    assert form.read_only and form.title.disabled and form.requests["gpu"][0].disabled
    assert form.save_button.layout.display == "none"
    assert form.status.value == "Proposal #7: in review"
    assert client.sent("POST", "api/proposals/check") == []


def test_high_risk_area_shows_the_mitigation_plan_and_personal_data_the_legal_basis():
    form = ProposalForm(service())
    assert form.mitigation_plan.layout.display == "none"
    assert form.legal_basis.layout.display == "none"
    form.mitigation_plan.value = "kept but not sent"
    assert form.to_body()["ethics"]["mitigation_plan"] == ""
    form.high_risk_area.value = "biometrics"
    assert form.mitigation_plan.layout.display != "none"
    assert form.to_body()["ethics"]["mitigation_plan"] == "kept but not sent"
    form.personal_data.value = True
    assert form.legal_basis.layout.display != "none"
    form.legal_basis.value = "contract"
    assert form.to_body()["ethics"]["legal_basis"] == "contract"


def test_each_change_is_checked_and_findings_are_labels():
    client = service()
    form = ProposalForm(client)
    assert len(client.sent("POST", "api/proposals/check")) == 1  # the empty draft, at once
    form.title.value = XSS
    checked = client.sent("POST", "api/proposals/check")
    assert len(checked) == 2 and checked[-1] == form.to_body() and checked[-1]["title"] == XSS
    assert form.summary.value == "3 things to fix before you can submit"
    assert all(isinstance(c, w.Label) for c in form.findings.children)
    assert [c.value for c in form.findings.children] == [
        "title: Give a title of 5 to 200 characters.",
        f"abstract: Write more than {XSS}.",
        "ethics.transparency_acknowledged: Confirm transparency.",
    ]
    form.legal_basis.value = "consent"  # hidden without personal data: the body is the same
    assert len(client.sent("POST", "api/proposals/check")) == 2


def test_ready_and_ineligible_summaries():
    refusal = {**READY, "eligible": False, "ineligible_reason": "Prohibited by the EU AI Act"}
    client = service(**{"POST api/proposals/check": READY})
    form = ProposalForm(client)
    assert form.summary.value == "Ready to submit" and form.findings.children == ()
    client.answers[("POST", "api/proposals/check")] = refusal
    form.practices["social_scoring"].value = True
    assert form.summary.value == "Prohibited by the EU AI Act"
    assert form.summary.style.text_color == "red"


def test_save_then_submit_posts_then_puts_then_submits_and_asks_first():
    submitted = {**PROPOSAL, "status": "in_review"}
    client = service(
        **{
            "POST api/proposals": lambda body: {**DRAFT, **body, "id": 7},
            "PUT api/proposals/7": lambda body: {**DRAFT, **body, "id": 7},
            "POST api/proposals/7/submit": submitted,
        }
    )
    form = ProposalForm(client)
    fill(form)
    form.save_button.click()
    assert form.proposal_id == 7 and "proposal #7" in form.message.value
    form.title.value = "Robot arms that learn faster"
    form.submit_button.click()
    assert form.confirm.asking
    assert "Submit this proposal?" in form.confirm.question.value
    writes = [(m, p) for m, p, _ in client.calls if p != "api/proposals/check" and m != "GET"]
    assert writes == [("POST", "api/proposals")]  # only asked so far
    form.confirm.no.click()  # Cancel
    assert not form.confirm.asking and not form.read_only
    form.submit_button.click()
    form.confirm.yes.click()  # Yes
    writes = [(m, p) for m, p, _ in client.calls if p != "api/proposals/check" and m != "GET"]
    assert writes == [
        ("POST", "api/proposals"),
        ("PUT", "api/proposals/7"),
        ("POST", "api/proposals/7/submit"),
    ]
    assert client.sent("POST", "api/proposals")[0]["call_id"] == 1
    assert client.sent("PUT", "api/proposals/7")[0]["title"] == "Robot arms that learn faster"
    assert form.status.value == "Proposal #7: in review" and "in review" in form.message.value
    assert form.read_only and form.title.disabled and form.call.disabled
    assert form.submit_button.layout.display == "none"
    checks = len(client.sent("POST", "api/proposals/check"))
    form.title.value = "changed after submit"  # read-only: nothing is checked any more
    assert len(client.sent("POST", "api/proposals/check")) == checks


def test_a_refusal_is_shown_with_its_field_and_not_raised():
    refusal = FactoryError(400, "more GPU hours than the fast lane allows", "requests.0.gpu_hours")
    client = service(**{"POST api/proposals": refusal})
    form = ProposalForm(client)
    form.submit()
    assert form.message.value == (
        "Could not save: more GPU hours than the fast lane allows (field: requests.0.gpu_hours)"
    )
    assert form.proposal_id is None and not form.read_only
    assert not [p for _, p, _ in client.calls if p.endswith("/submit")]


def test_a_submit_refused_keeps_the_draft_editable():
    client = service(
        **{
            "PUT api/proposals/7": lambda body: {**DRAFT, **body, "id": 7},
            "POST api/proposals/7/submit": FactoryError(409, "the call has closed", ""),
        }
    )
    form = ProposalForm(client, DRAFT)
    form.submit()
    assert form.message.value == "Could not submit: the call has closed"
    assert not form.read_only


def test_an_ineligible_submission_shows_the_reason():
    ineligible = {
        **PROPOSAL,
        "status": "ineligible",
        "eligibility": {**FINDINGS, "ineligible_reason": "Prohibited by the EU AI Act"},
    }
    client = service(
        **{
            "PUT api/proposals/7": lambda body: {**DRAFT, **body, "id": 7},
            "POST api/proposals/7/submit": ineligible,
        }
    )
    form = ProposalForm(client, DRAFT)
    form.submit()
    assert form.status.value == "Proposal #7: ineligible" and form.read_only
    assert form.summary.value == "Prohibited by the EU AI Act"
    assert len(form.findings.children) == 3


def test_a_failed_check_is_said_and_cleared_by_the_next_one():
    client = service(**{"POST api/proposals/check": FactoryError(0, "the service did not answer")})
    form = ProposalForm(client)
    assert form.message.value == "Could not check the draft: the service did not answer"
    client.answers[("POST", "api/proposals/check")] = READY
    form.title.value = "Robot arms"
    assert form.message.value == "" and form.summary.value == "Ready to submit"


def test_no_open_call_and_an_unreachable_service_are_said_not_raised():
    form = ProposalForm(service(**{"GET api/calls": [CLOSED_CALL]}))
    assert form.message.value == "No call is open right now." and form.call.value is None
    down = service(**{"GET api/calls": FactoryError(0, "the factory service did not answer")})
    assert "did not answer" in ProposalForm(down).message.value


def test_the_catalogue_offers_the_items_the_service_says_the_applicant_may_use():
    client = service()
    form = ProposalForm(client)
    assert ("GET", "api/catalogue", None) in client.calls
    assert form.catalogue.options == (
        ("stocks-monthly (Yahoo terms)", "stocks-monthly"),
        ("stocks-trend (CC0-1.0)", "stocks-trend"),
    )
    form.catalogue.value = ("stocks-trend",)
    checked = client.sent("POST", "api/proposals/check")[-1]
    assert checked["catalogue"] == ["stocks-trend"]  # a change is checked at once


def test_a_named_item_no_longer_offered_is_shown_not_dropped():
    client = service(**{"GET api/catalogue": ITEMS[1:]})
    form = ProposalForm(client, {**DRAFT, "catalogue": ["stocks-monthly", "stocks-trend"]})
    assert form.catalogue.options[-1] == (
        "stocks-monthly (not in the catalogue you may use)",
        "stocks-monthly",
    )
    assert form.to_body()["catalogue"] == ["stocks-monthly", "stocks-trend"]


def test_an_unreadable_catalogue_is_said_next_to_it_and_the_form_still_works():
    client = service(**{"GET api/catalogue": FactoryError(0, "the service did not answer")})
    form = ProposalForm(client)
    assert form.catalogue_note.value == "Could not load the catalogue: the service did not answer"
    assert form.catalogue.options == () and form.message.value == ""
    assert form.to_body()["catalogue"] == []
