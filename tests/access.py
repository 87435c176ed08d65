"""Talking to the factory service's access API from tests, as a person with a hub token."""

from __future__ import annotations

import requests

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


def draft(call_id: int, title: str, organisation: str, gpu_hours: float, **extra) -> dict:
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
        **extra,
    }


def reviewed_proposals(hub, call_id: int, scores: dict[str, list[tuple[str, int]]]) -> dict:
    """Submit one proposal per applicant in `scores` ({applicant: [(reviewer, mark)]}) and
    have the reviewers score them; returns {applicant: proposal id}."""
    orgs = {"alice": "Alpha Robotics", "carol": "Beta Health", "bob": "Bob Labs"}
    ids = {}
    for applicant, marks in scores.items():
        body = draft(call_id, f"{orgs[applicant]} vision", orgs[applicant], 200)
        proposal = ok(api(hub, "POST", "proposals", applicant, json=body), 201)
        ok(api(hub, "POST", f"proposals/{proposal['id']}/submit", applicant))
        for reviewer, mark in marks:
            path = f"proposals/{proposal['id']}"
            ok(api(hub, "POST", f"{path}/reviewers", "sam", json={"reviewer": reviewer}))
            score = {"quality": mark, "pertinence": mark, "comment": "clear plan"}
            ok(api(hub, "PUT", f"{path}/review", reviewer, json=score))
        ids[applicant] = proposal["id"]
    return ids
