"""Talking to the factory service's access API from tests, as a person with a hub token,
and the few things a real-stack test must do to the test hub's store (a review round's
cut-off brought forward, so a test need not wait two weeks for it)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta

import requests
from sqlalchemy import select

from aifactory_hub.policy.clocks import add_working_days
from aifactory_hub.site import Site
from aifactory_hub.store import db as store_db
from aifactory_hub.store import models as m

# A Large Scale request: more than the mode's 50,000 GPU-hours. The figures are Slurm limits
# (GrpTRESMins), not hours the demo's small nodes could deliver.
LARGE = 100_000

ETHICS = {
    "intended_use": "Visual inspection of parcels by warehouse robots, no people in view.",
    "prohibited_practices": [],
    "high_risk_area": "none",
    "mitigation_plan": "",
    "personal_data": False,
    "legal_basis": None,
    "data_sources": [{"name": "own warehouse images", "licence": "proprietary, ours"}],
    "transparency_acknowledged": True,
}


def api(hub, method: str, path: str, user: str | None, **kwargs) -> requests.Response:
    headers = {"Authorization": f"token {hub.token(user)}"} if user else {}
    return requests.request(
        method, f"{hub.url}/services/factory/api/{path}", headers=headers, timeout=120, **kwargs
    )


def ok(resp: requests.Response, status: int = 200) -> dict:
    assert resp.status_code == status, resp.text
    return resp.json()


def draft(
    call_id: int, title: str, organisation: str, gpu_hours: float, length_months: int = 3, **extra
) -> dict:
    """A complete draft on the gpu partition; 3 months is a length Playground, Fast Lane and
    Large Scale allow (AI for Science: pass length_months=6)."""
    return {
        "call_id": call_id,
        "title": title,
        "abstract": "We train a compact vision transformer for robust detection. " * 2,
        "organisation": organisation,
        "applicant_type": "startup_sme",
        "software": "PyTorch 2, torchrun",
        "requests": [{"partition": "gpu", "gpu_hours": gpu_hours, "cpu_hours": 100}],
        "open_results": True,
        "ethics": ETHICS,
        "length_months": length_months,
        **extra,
    }


def reviewed_proposals(
    hub, call_id: int, scores: dict[str, list[tuple[str, int]]], gpu_hours: float = LARGE
) -> dict:
    """In a review mode's call: submit one proposal per applicant in `scores` ({applicant:
    [(reviewer, mark)]}), pass staff's technical check and have the reviewers score them;
    returns {applicant: proposal id}. Their cut-off is still to come (see `pass_cutoff`)."""
    orgs = {"alice": "Alpha Robotics", "carol": "Beta Health", "bob": "Bob Labs"}
    ids = {}
    for applicant, marks in scores.items():
        body = draft(call_id, f"{orgs[applicant]} vision", orgs[applicant], gpu_hours)
        proposal = ok(api(hub, "POST", "proposals", applicant, json=body), 201)
        ok(api(hub, "POST", f"proposals/{proposal['id']}/submit", applicant))
        ok(api(hub, "POST", f"proposals/{proposal['id']}/technical-check", "sam",
               json={"feasible": True, "notes": "fits the gpu partition"}))  # fmt: skip
        for reviewer, mark in marks:
            path = f"proposals/{proposal['id']}"
            ok(api(hub, "POST", f"{path}/reviewers", "sam", json={"reviewer": reviewer}))
            score = {"quality": mark, "pertinence": mark, "comment": "clear plan"}
            ok(api(hub, "PUT", f"{path}/review", reviewer, json=score))
        ids[applicant] = proposal["id"]
    return ids


def store_of(site: Site):
    """A session factory on the test hub's own store (the site file's `store_url`)."""
    return store_db.session_factory(store_db.make_engine(site.services.store_url))


def pass_cutoff(site: Site, proposal_ids: Iterable[int], today: date | None = None) -> date:
    """Bring the review round of these submitted proposals forward: their cut-off becomes
    yesterday and their decision due date what a submission before that cut-off would have
    had (where the mode's clock counts from the cut-off: its working days after it, on the
    site's holiday calendar). Review modes decide only proposals whose cut-off has passed,
    and the real one may be two weeks away; this is the only thing the tests change behind
    the service's back. Returns the cut-off."""
    cutoff = (today or date.today()) - timedelta(days=1)
    ids = list(proposal_ids)
    with store_of(site).begin() as db:
        proposals = db.scalars(select(m.Proposal).where(m.Proposal.id.in_(ids))).all()
        assert sorted(p.id for p in proposals) == sorted(ids), "a proposal is missing"
        for proposal in proposals:
            mode = site.access.mode(proposal.access_mode)
            assert mode.selection == "review", f"{proposal.access_mode} has no cut-offs"
            proposal.cutoff_on = cutoff
            if mode.clock_from == "cutoff":  # else its clock runs from the submission
                proposal.decision_due_on = add_working_days(
                    cutoff, mode.decision_working_days, site.access.holidays
                )
    return cutoff
