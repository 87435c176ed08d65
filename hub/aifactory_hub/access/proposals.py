"""Calls and proposals: drafts, submission through the automatic checks, technical check,
reviewer assignment and scores, and the ranked decision against a call's capacity.

Every function takes an open store session and the caller; it raises AccessError before it
changes anything it should not. The caller commits (one transaction per request).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory_hub import policy
from aifactory_hub.access import bodies
from aifactory_hub.access.projects import projects_of
from aifactory_hub.access.views import Caller, remaining
from aifactory_hub.core.errors import AccessError, conflict, forbidden, not_found
from aifactory_hub.data import catalogue
from aifactory_hub.policy.eligibility import CatalogueLicence
from aifactory_hub.site import Site
from aifactory_hub.site.scopes import role_members
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event, now

OPEN_FOR_DECISION = ("in_review",)
BEFORE_DECISION = ("draft", "in_review")


def partitions_of(site: Site) -> list[policy.PartitionInfo]:
    return [policy.PartitionInfo(name=p.name, has_gpus=p.has_gpus) for p in site.partitions]


# --- calls ---------------------------------------------------------------------------------


def get_call(db: Session, call_id: int) -> m.Call:
    call = db.get(m.Call, call_id)
    if call is None:
        raise not_found(f"call {call_id}")
    return call


def create_call(db: Session, site: Site, caller: Caller, body: bodies.NewCall) -> m.Call:
    known = {p.name for p in site.partitions}
    for name in body.capacity:
        if name not in known:
            raise AccessError(400, f"unknown partition {name!r}", f"capacity.{name}")
    if body.mode == policy.AccessMode.large_scale and body.deadline is None:
        raise AccessError(400, "a large-scale call needs a deadline", "deadline")
    call = m.Call(
        mode=body.mode.value,
        title=body.title,
        opens_at=now(),
        deadline=None
        if body.deadline is None
        else datetime.combine(body.deadline, time(23, 59), tzinfo=UTC),
        status="open",
        capacity={k: v.model_dump() for k, v in body.capacity.items()},
        created_by=caller.name,
    )
    db.add(call)
    db.flush()
    event(db, caller.name, "open call", f"call {call.id}", mode=call.mode)
    return call


def close_call(db: Session, caller: Caller, call_id: int) -> m.Call:
    call = get_call(db, call_id)
    if call.status != "open":
        raise conflict(f"call {call_id} is {call.status}, not open")
    call.status = "closed"
    event(db, caller.name, "close call", f"call {call.id}")
    return call


def open_call_of_mode(db: Session, mode: str) -> m.Call | None:
    return db.scalars(
        select(m.Call).where(m.Call.mode == mode, m.Call.status == "open").order_by(m.Call.id)
    ).first()


# --- proposals -------------------------------------------------------------------------------


def get_proposal(db: Session, caller: Caller, proposal_id: int) -> m.Proposal:
    """The proposal, if the caller may see it (applicant, assigned reviewer, or staff)."""
    proposal = db.get(m.Proposal, proposal_id)
    if proposal is None:
        raise not_found(f"proposal {proposal_id}")
    assigned = caller.review and any(r.reviewer == caller.name for r in proposal.reviews)
    if not (caller.manage or proposal.applicant == caller.name or assigned):
        raise not_found(f"proposal {proposal_id}")  # not even its existence leaks
    return proposal


def list_proposals(
    db: Session, caller: Caller, call_id: int | None, status: str | None
) -> list[m.Proposal]:
    query = select(m.Proposal).order_by(m.Proposal.id)
    if not caller.manage:
        mine = m.Proposal.applicant == caller.name
        if caller.review:
            assigned = m.Proposal.reviews.any(m.Review.reviewer == caller.name)
            query = query.where(mine | assigned)
        else:
            query = query.where(mine)
    if call_id is not None:
        query = query.where(m.Proposal.call_id == call_id)
    if status:
        query = query.where(m.Proposal.status == status)
    return list(db.scalars(query))


def _fields(draft: bodies.Draft) -> dict[str, Any]:
    return {
        "title": draft.title,
        "abstract": draft.abstract,
        "organisation": draft.organisation,
        "applicant_type": draft.applicant_type.value if draft.applicant_type else "",
        "software": draft.software,
        "requests": [r.model_dump() for r in draft.requests],
        "open_results": draft.open_results,
        "academic_partner": draft.academic_partner,
        "public_funding": draft.public_funding,
        "ethics": draft.ethics.model_dump(mode="json") if draft.ethics else {},
        "catalogue": list(draft.catalogue),
    }


def accounts_of(db: Session, site: Site, username: str) -> list[str]:
    """The accounts of `username`'s projects: the site file's and the store's active ones."""
    found = [p.account for p in site.projects_of(username)]
    return list(dict.fromkeys([*found, *(p.account for p in projects_of(db, username))]))


def _check_catalogue(db: Session, site: Site | None, applicant: str, draft: bodies.Draft) -> None:
    """Each catalogue item the draft names must be one the applicant may use (400 naming
    `catalogue` otherwise, before anything is stored)."""
    if not draft.catalogue:
        return
    if site is None:
        raise AccessError(400, "this site has no catalogue", "catalogue")
    accounts = accounts_of(db, site, applicant)
    why = catalogue.refusal(site.catalogue, accounts, draft.catalogue)
    if why:
        raise AccessError(400, why, "catalogue")


def create_draft(
    db: Session, caller: Caller, draft: bodies.Draft, site: Site | None = None
) -> m.Proposal:
    """A new draft in an open call; `site` checks the catalogue items it names."""
    if draft.call_id is None:
        raise AccessError(400, "choose the call you apply to", "call_id")
    call = get_call(db, draft.call_id)
    if call.status != "open":
        raise conflict(f"call {call.id} is {call.status}: it takes no new proposals", "call_id")
    _check_catalogue(db, site, caller.name, draft)
    proposal = m.Proposal(
        call_id=call.id, applicant=caller.name, access_mode=call.mode, **_fields(draft)
    )
    db.add(proposal)
    db.flush()
    return proposal


def update_draft(
    db: Session, caller: Caller, proposal_id: int, draft: bodies.Draft, site: Site | None = None
) -> m.Proposal:
    proposal = get_proposal(db, caller, proposal_id)
    if proposal.applicant != caller.name:
        raise forbidden("only the applicant edits a proposal")
    if proposal.status != "draft":
        raise conflict(f"proposal {proposal.id} is {proposal.status}: only drafts change")
    if draft.call_id not in (None, proposal.call_id):
        raise AccessError(400, "a draft stays in its call", "call_id")
    _check_catalogue(db, site, caller.name, draft)
    for key, value in _fields(draft).items():
        setattr(proposal, key, value)
    return proposal


def check(site: Site, mode: str, applicant: str, draft: bodies.Draft) -> policy.Eligibility:
    """The automatic checks of `policy` on a draft (nothing is stored)."""
    named, unknown = _licences(site, draft)
    kind = draft.applicant_type or policy.ApplicantType.startup_sme
    result = policy.check_eligibility(
        _as_policy_draft(draft, mode, applicant, kind),
        site.access.mode(mode),
        partitions_of(site),
        named,
    )
    first: list[policy.Finding] = []
    if draft.applicant_type is None:
        first.append(
            policy.Finding(field="applicant_type", message="Say what kind of applicant you are.")
        )
    if not (first or unknown):
        return result
    findings = (*first, *result.findings, *unknown)
    return result.model_copy(update={"eligible": False, "findings": findings})


def _licences(
    site: Site, draft: bodies.Draft
) -> tuple[list[CatalogueLicence], list[policy.Finding]]:
    """The licences of the catalogue items the draft names, for the ethics gate, and a
    finding for each name the catalogue does not (or no longer) list."""
    named, unknown = [], []
    for name in draft.catalogue:
        item = site.catalogue_item(name)
        if item is None:
            unknown.append(
                policy.Finding(field="catalogue", message=f"The catalogue has no {name!r}.")
            )
        else:
            licence = CatalogueLicence(
                name=item.name, licence=item.licence, commercial_use=item.commercial_use
            )
            named.append(licence)
    return named, unknown


def _as_policy_draft(
    draft: bodies.Draft, mode: str, applicant: str, kind: policy.ApplicantType
) -> policy.ProposalDraft:
    return policy.ProposalDraft(
        applicant=applicant,
        applicant_type=kind,
        access_mode=policy.AccessMode(mode),
        title=draft.title,
        abstract=draft.abstract,
        organisation=draft.organisation,
        requests=tuple(policy.Request(**r.model_dump()) for r in draft.requests),
        software=draft.software,
        open_results=draft.open_results,
        academic_partner=draft.academic_partner,
        public_funding=draft.public_funding,
        ethics=draft.ethics,
    )


def stored_draft(proposal: m.Proposal) -> bodies.Draft:
    data = {k: getattr(proposal, k) for k in _fields(bodies.Draft()).keys()}
    data["applicant_type"] = data["applicant_type"] or None
    data["ethics"] = data["ethics"] or None
    return bodies.Draft.model_validate({**data, "call_id": proposal.call_id})


def submit(db: Session, site: Site, caller: Caller, proposal_id: int) -> m.Proposal:
    """Run the automatic checks. Fixable problems refuse the submission (400, nothing
    changes); a prohibited practice makes the proposal ineligible for good."""
    proposal = get_proposal(db, caller, proposal_id)
    if proposal.applicant != caller.name:
        raise forbidden("only the applicant submits a proposal")
    if proposal.status != "draft":
        raise conflict(f"proposal {proposal.id} is {proposal.status}, not a draft")
    if proposal.call.status != "open":
        raise conflict(f"call {proposal.call_id} is {proposal.call.status}: too late")
    draft = stored_draft(proposal)
    _check_catalogue(db, site, caller.name, draft)  # the applicant may have left a project
    result = check(site, proposal.access_mode, caller.name, draft)
    proposal.submitted_at = now()
    if result.ineligible_reason:
        proposal.status = "ineligible"
        proposal.ineligible_reason = result.ineligible_reason
        proposal.eligibility = [f.model_dump() for f in result.findings]
        event(db, caller.name, "submit", f"proposal {proposal.id}", outcome="ineligible")
        return proposal
    if not result.eligible:
        first = result.findings[0]
        raise AccessError(
            400, f"{len(result.findings)} thing(s) to fix first: {first.message}", first.field
        )
    proposal.status = "in_review"
    proposal.eligibility = []
    event(db, caller.name, "submit", f"proposal {proposal.id}", outcome="in_review")
    if proposal.access_mode == policy.AccessMode.playground:
        # Playground: granted at once after the automatic checks, while capacity lasts.
        db.flush()
        rows = [r for r in ranking(db, site, proposal.call) if r["proposal_id"] == proposal.id]
        apply_rows(db, site, proposal.call, rows)
    return proposal


def withdraw(db: Session, caller: Caller, proposal_id: int) -> m.Proposal:
    proposal = get_proposal(db, caller, proposal_id)
    if proposal.applicant != caller.name:
        raise forbidden("only the applicant withdraws a proposal")
    if proposal.status not in BEFORE_DECISION:
        raise conflict(f"proposal {proposal.id} is {proposal.status}: too late to withdraw")
    proposal.status = "withdrawn"
    event(db, caller.name, "withdraw", f"proposal {proposal.id}")
    return proposal


# --- review ----------------------------------------------------------------------------------


def _in_review(proposal: m.Proposal) -> None:
    if proposal.status not in OPEN_FOR_DECISION:
        raise conflict(f"proposal {proposal.id} is {proposal.status}, not in review")


def technical_findings(site: Site, proposal: m.Proposal) -> list[dict[str, str]]:
    settings = site.access.mode(proposal.access_mode)
    requests = [policy.Request(**r) for r in proposal.requests]
    found = policy.technical_findings(
        requests, partitions_of(site), settings.max_gpu_hours, settings.max_cpu_hours
    )
    return [f.model_dump() for f in found]


def record_technical_check(
    db: Session, caller: Caller, proposal_id: int, body: bodies.TechnicalCheckBody
) -> m.Proposal:
    proposal = get_proposal(db, caller, proposal_id)
    _in_review(proposal)
    if proposal.technical_check is None:
        proposal.technical_check = m.TechnicalCheck(checked_by=caller.name, feasible=False)
    proposal.technical_check.feasible = body.feasible
    proposal.technical_check.notes = body.notes
    proposal.technical_check.checked_by = caller.name
    proposal.technical_check.checked_at = now()
    event(db, caller.name, "technical check", f"proposal {proposal.id}", feasible=body.feasible)
    return proposal


def assign_reviewer(
    db: Session, site: Site, caller: Caller, proposal_id: int, reviewer: str
) -> m.Proposal:
    """A reviewer from the applicant's own organisation, or the applicant, is refused."""
    proposal = get_proposal(db, caller, proposal_id)
    _in_review(proposal)
    if reviewer not in role_members(site)["reviewer"]:
        raise AccessError(400, f"{reviewer} is not a reviewer of this centre", "reviewer")
    organisation = site.organisation_of(reviewer)
    if reviewer == proposal.applicant or policy.conflict_of_interest(
        organisation, proposal.organisation
    ):
        raise conflict(
            f"conflict of interest: {reviewer} ({organisation or 'no organisation'}) may not "
            f"review a proposal from {proposal.organisation or proposal.applicant}",
            "reviewer",
        )
    if any(r.reviewer == reviewer for r in proposal.reviews):
        raise conflict(f"{reviewer} already reviews proposal {proposal.id}", "reviewer")
    proposal.reviews.append(
        m.Review(reviewer=reviewer, reviewer_organisation=organisation, assigned_by=caller.name)
    )
    event(db, caller.name, "assign reviewer", f"proposal {proposal.id}", reviewer=reviewer)
    return proposal


def score(db: Session, caller: Caller, proposal_id: int, body: bodies.ReviewBody) -> m.Proposal:
    proposal = get_proposal(db, caller, proposal_id)
    review = next((r for r in proposal.reviews if r.reviewer == caller.name), None)
    if review is None or not caller.review:
        raise forbidden(f"{caller.name} is not a reviewer of proposal {proposal.id}")
    _in_review(proposal)
    review.quality, review.pertinence, review.comment = body.quality, body.pertinence, body.comment
    review.submitted_at = now()
    event(db, caller.name, "review", f"proposal {proposal.id}")
    return proposal


# --- decision --------------------------------------------------------------------------------


def _readiness(site: Site, proposal: m.Proposal) -> tuple[bool, str, list[policy.Score]]:
    scores = [
        policy.Score(quality=r.quality, pertinence=r.pertinence)
        for r in proposal.reviews
        if r.submitted_at is not None and r.quality is not None and r.pertinence is not None
    ]
    settings = site.access.mode(proposal.access_mode)
    checked = proposal.technical_check
    if settings.technical_check and checked is not None and not checked.feasible:
        return False, "the technical check found it infeasible", scores
    ready, why = policy.ready_for_decision(
        settings, len(scores), checked is not None and checked.feasible
    )
    return ready, why, scores


def ranking(db: Session, site: Site, call: m.Call) -> list[dict[str, Any]]:
    """The decision this call would make now, proposal by proposal (nothing changes)."""
    rows, candidates = [], []
    waiting = [p for p in call.proposals if p.status in OPEN_FOR_DECISION]
    for proposal in waiting:
        ready, why, scores = _readiness(site, proposal)
        score = policy.combined(scores) if scores else None
        rows.append(
            {
                "proposal_id": proposal.id,
                "title": proposal.title,
                "applicant": proposal.applicant,
                "organisation": proposal.organisation,
                "score": score,
                "rank": None,
                "ready": ready,
                "why_not": why,
                "requested": proposal.requests,
                "status": "in_review",
                "fraction": 0.0,
                "granted": [],
            }
        )
        if ready:
            requests = tuple(policy.Request(**r) for r in proposal.requests)
            # A proposal that needs no reviews (playground) ranks on an even score.
            candidates.append(
                policy.Candidate(proposal_id=proposal.id, score=score or 0.0, requests=requests)
            )
    capacity = {k: (v["gpu_hours"], v["cpu_hours"]) for k, v in remaining(call).items()}
    by_id = {row["proposal_id"]: row for row in rows}
    for decision in policy.decide(candidates, capacity):
        by_id[decision.proposal_id].update(
            rank=decision.rank,
            status=decision.status,
            fraction=decision.fraction,
            granted=[g.model_dump() for g in decision.granted],
        )
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["proposal_id"]))


def decide(db: Session, site: Site, caller: Caller, call_id: int) -> tuple[m.Call, list, list]:
    """Apply the ranking: grants become projects (returned, to be provisioned after the
    commit), the rest wait with their rank; unready proposals stay in review."""
    call = get_call(db, call_id)
    if call.status == "decided":
        raise conflict(f"call {call.id} is already decided")
    rows = ranking(db, site, call)
    projects = apply_rows(db, site, call, rows)
    if not any(p.status in OPEN_FOR_DECISION for p in call.proposals):
        call.status = "decided"
    event(db, caller.name, "decide", f"call {call.id}", granted=len(projects))
    return call, rows, projects


def apply_rows(db: Session, site: Site, call: m.Call, rows: list[dict[str, Any]]) -> list:
    """Store the ranked rows' outcome; grants become projects (provisioned after commit)."""
    proposals = {p.id: p for p in call.proposals}
    projects = []
    for row in rows:
        if row["rank"] is None:
            continue
        proposal = proposals[row["proposal_id"]]
        proposal.rank, proposal.score = row["rank"], row["score"]
        proposal.status = row["status"]
        proposal.decision = {k: row[k] for k in ("status", "fraction", "granted")}
        if row["status"] in ("granted", "partial"):
            projects.append(grant_project(db, site, proposal, row["granted"]))
    return projects


def grant_project(
    db: Session, site: Site, proposal: m.Proposal, granted: list[dict[str, Any]]
) -> m.Project:
    """A project for a granted proposal, priced by access mode and applicant."""
    settings = site.access.mode(proposal.access_mode)
    today = date.today()
    ends = today + timedelta(days=settings.duration_days)
    due = policy.obligation_due(ends, site.access)
    decision = policy.price(
        policy.ApplicantType(proposal.applicant_type),
        policy.AccessMode(proposal.access_mode),
        proposal.public_funding,
        proposal.open_results,
        proposal.academic_partner,
        due=due,
    )
    proposal.price = decision.model_dump()
    project = m.Project(
        account=f"prj-{proposal.id}",
        title=proposal.title[:200],
        organisation=proposal.organisation,
        pi=proposal.applicant,
        access_mode=proposal.access_mode,
        proposal_id=proposal.id,
        starts_on=today,
        ends_on=ends,
        status="pending",
        charged=decision.charged,
        price_reason=decision.reason,
        obligation=decision.obligation,
        obligation_due=due if decision.obligation else None,
    )
    project.allocations = [
        m.Allocation(partition=g["partition"], gpu_hours=g["gpu_hours"], cpu_hours=g["cpu_hours"])
        for g in granted
    ]
    project.members = [m.Member(username=proposal.applicant, role="pi", added_by="policy")]
    db.add(project)
    db.flush()
    return project
