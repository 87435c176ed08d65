"""What a caller sees: store rows as the JSON of docs/access-api.md.

Applicants see their reviews without reviewer names; a reviewer sees only their own review.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from aifactory_hub.policy import obligation_overdue
from aifactory_hub.policy.clocks import clock_state
from aifactory_hub.store import models as m

# A submitted proposal waits in this status for its checks, reviews and cut-off.
OPEN_FOR_DECISION = ("in_review",)


@dataclass(frozen=True)
class Caller:
    """Who is asking, and which of the project's scopes their token holds."""

    name: str
    manage: bool = False
    review: bool = False


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def remaining(call: m.Call) -> dict[str, dict[str, float]]:
    """The call's capacity minus what its proposals were granted."""
    left = {p: dict(v) for p, v in call.capacity.items()}
    for proposal in call.proposals:
        for req in (proposal.decision or {}).get("granted", []):
            row = left.setdefault(req["partition"], {"gpu_hours": 0.0, "cpu_hours": 0.0})
            row["gpu_hours"] = round(row.get("gpu_hours", 0) - req.get("gpu_hours", 0), 2)
            row["cpu_hours"] = round(row.get("cpu_hours", 0) - req.get("cpu_hours", 0), 2)
    return left


def call_json(call: m.Call) -> dict[str, Any]:
    return {
        "id": call.id,
        "mode": call.mode,
        "title": call.title,
        "status": call.status,
        "opens_at": _iso(call.opens_at),
        "deadline": _iso(call.deadline),
        "capacity": call.capacity,
        "remaining": remaining(call),
    }


def _review_json(review: m.Review, with_name: bool) -> dict[str, Any]:
    data = {
        "quality": review.quality,
        "pertinence": review.pertinence,
        "comment": review.comment,
        "submitted": review.submitted_at is not None,
    }
    return {"reviewer": review.reviewer, **data} if with_name else data


def clock_of(p: m.Proposal, today: date) -> str | None:
    """The proposal's service-level clock: `decided` once decided, `running | due | overdue`
    while it waits for a decision, None before submission or when it left without one
    (ineligible, withdrawn)."""
    if p.decided_at is not None:
        return "decided"
    if p.status in OPEN_FOR_DECISION:
        return clock_state(p.decision_due_on, None, today)
    return None


def proposal_json(p: m.Proposal, caller: Caller, today: date | None = None) -> dict[str, Any]:
    """The proposal as `caller` may see it; `today` (default: the real one) sets its clock."""
    clock = clock_of(p, today or date.today())
    if caller.manage:
        reviews = [_review_json(r, True) for r in p.reviews]
    elif p.applicant == caller.name:
        reviews = [_review_json(r, False) for r in p.reviews if r.submitted_at is not None]
    else:
        reviews = [_review_json(r, True) for r in p.reviews if r.reviewer == caller.name]
    check = p.technical_check
    return {
        "id": p.id,
        "call_id": p.call_id,
        "access_mode": p.access_mode,
        "applicant": p.applicant,
        "organisation": p.organisation,
        "applicant_type": p.applicant_type or None,
        "title": p.title,
        "abstract": p.abstract,
        "software": p.software,
        "requests": p.requests,
        "open_results": p.open_results,
        "academic_partner": p.academic_partner,
        "public_funding": p.public_funding,
        "ethics": p.ethics or None,
        "catalogue": list(p.catalogue or []),
        "length_months": p.length_months,
        "status": p.status,
        "eligibility": p.eligibility_result,
        "technical_check": None
        if check is None
        else {"feasible": check.feasible, "notes": check.notes, "checked_by": check.checked_by},
        "reviews": reviews,
        "score": p.score,
        "rank": p.rank,
        "decision": p.decision or None,
        "project": p.project.account if p.project else None,
        "price": p.price or None,
        "created_at": _iso(p.created_at),
        "updated_at": _iso(p.updated_at),
        "submitted_at": _iso(p.submitted_at),
        "cutoff_on": _iso(p.cutoff_on),
        "decision_due_on": _iso(p.decision_due_on),
        "decided_at": _iso(p.decided_at),
        "clock": clock,
        "overdue": clock == "overdue",
    }


def project_json(project: m.Project, today: date) -> dict[str, Any]:
    overdue = project.obligation_due is not None and obligation_overdue(
        project.obligation_due, bool(project.obligation_url), today
    )
    return {
        "account": project.account,
        "title": project.title,
        "organisation": project.organisation,
        "pi": project.pi,
        "access_mode": project.access_mode,
        "status": project.status,
        "starts_on": _iso(project.starts_on),
        "ends_on": _iso(project.ends_on),
        "allocations": [
            {"partition": a.partition, "gpu_hours": a.gpu_hours, "cpu_hours": a.cpu_hours}
            for a in sorted(project.allocations, key=lambda a: a.partition)
        ],
        "members": [{"username": mb.username, "role": mb.role} for mb in project.members_pi_first],
        "charged": project.charged,
        "price_reason": project.price_reason,
        "obligation": project.obligation,
        "obligation_due": _iso(project.obligation_due),
        "obligation_url": project.obligation_url,
        "obligation_overdue": overdue,
        "provisioned_at": _iso(project.provisioned_at),
        "ended_at": _iso(project.ended_at),
        "data_removed_at": _iso(project.data_removed_at),
        "provisioning": [
            {"seq": s.seq, "action": s.action, "status": s.status, "error": s.error}
            for s in sorted(project.steps, key=lambda s: s.seq)
        ],
    }
