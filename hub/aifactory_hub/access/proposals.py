"""Calls and proposals: drafts, submission through the automatic checks, technical check,
reviewer assignment and scores, and the ranked decision against a call's capacity.

Two flows, as the access mode (site data) says:
- first come, first served (`selection == "fifo"`): a submitted request waits only for the
  checks its mode names; staff's feasible technical check grants it at once if the call's
  remaining capacity covers it in full (else it is waitlisted), an infeasible one rejects it.
  Nothing waits for a review round, and such a proposal has no peer reviewers.
- review (`selection == "review"`): proposals collect until their cut-off; a decision round
  (`decide`) ranks those whose cut-off has passed and that have their checks and reviews.
Every submission gets its service-level clock (`cutoff_on`, `decision_due_on`, in working
days of the site's holiday calendar); every decision sets `decided_at`.

Every function takes an open store session and the caller; it raises AccessError before it
changes anything it should not. The caller commits (one transaction per request).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory_hub import policy
from aifactory_hub.access import bodies
from aifactory_hub.access.projects import projects_of
from aifactory_hub.access.reports import ensure_reports
from aifactory_hub.access.views import OPEN_FOR_DECISION, Caller, remaining
from aifactory_hub.core.errors import AccessError, conflict, forbidden, not_found
from aifactory_hub.data import catalogue
from aifactory_hub.policy.clocks import add_months, decision_due
from aifactory_hub.policy.eligibility import CatalogueLicence
from aifactory_hub.policy.settings import ModeSettings
from aifactory_hub.site import Site
from aifactory_hub.site.scopes import role_members
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event, now

BEFORE_DECISION = ("draft", "in_review")
DECIDED = ("granted", "partial", "waitlisted", "rejected")
# A first-come request is granted in full or not at all: scaling it down is a review round's
# way of sharing scarce capacity among ranked proposals, not a queue's.
FIFO_MIN_FRACTION = 1.0
# How `GET proposals` may be ordered: by arrival (the desk's order) or by what is due first.
SORTS = ("arrival", "due")


def partitions_of(site: Site) -> list[policy.PartitionInfo]:
    return [policy.PartitionInfo(name=p.name, has_gpus=p.has_gpus) for p in site.partitions]


def mode_of(site: Site, code: str) -> ModeSettings:
    """The access mode's rules; a proposal or call of a mode the site file no longer has
    cannot move on (409) until the site has it again."""
    try:
        return site.access.mode(code)
    except KeyError:
        raise conflict(f"this site has no access mode {code!r} any more") from None


def is_fifo(site: Site, code: str) -> bool:
    return mode_of(site, code).selection == "fifo"


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
    if body.mode not in site.access.modes:
        modes = ", ".join(site.access.modes)
        raise AccessError(400, f"{body.mode!r} is not one of this site's modes ({modes})", "mode")
    call = m.Call(
        mode=body.mode,
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
    db: Session, caller: Caller, call_id: int | None, status: str | None, sort: str = "arrival"
) -> list[m.Proposal]:
    """The proposals the caller may see. `arrival` (the default, the desk's order): by
    submission, drafts last; `due`: those waiting for a decision first, the earliest due date
    first, then the rest by arrival."""
    if sort not in SORTS:
        raise AccessError(400, f"sort is one of {', '.join(SORTS)}", "sort")
    p = m.Proposal
    arrival = (p.submitted_at.is_(None), p.submitted_at, p.id)
    if sort == "due":
        waiting = p.status.in_(OPEN_FOR_DECISION)
        order = (~waiting, p.decision_due_on.is_(None), p.decision_due_on, *arrival)
    else:
        order = arrival
    query = select(m.Proposal).order_by(*order)
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
        "length_months": draft.length_months,
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
        mode_of(site, mode),
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
        access_mode=mode,
        length_months=draft.length_months,
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


def submit(
    db: Session, site: Site, caller: Caller, proposal_id: int, today: date | None = None
) -> m.Proposal:
    """Run the automatic checks. Fixable problems refuse the submission (400, nothing
    changes); a prohibited practice makes the proposal ineligible for good.

    An eligible proposal starts its service-level clock (`today`, default the real one): its
    cut-off (review modes) and the date its decision is due. A first-come request whose mode
    names no technical check is decided at once; one that does waits for staff's check.
    """
    today = today or date.today()
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
    settings = mode_of(site, proposal.access_mode)
    proposal.status = "in_review"
    proposal.eligibility = []
    proposal.cutoff_on, proposal.decision_due_on = decision_due(
        settings, today, site.access.holidays
    )
    event(db, caller.name, "submit", f"proposal {proposal.id}", outcome="in_review")
    if settings.selection == "fifo" and not settings.technical_check:
        decide_one(db, site, proposal, today)
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


def waiting_for_check(site: Site, proposal: m.Proposal) -> bool:
    """A first-come request that still waits for staff's technical check."""
    return (
        proposal.status in OPEN_FOR_DECISION
        and proposal.technical_check is None
        and mode_of(site, proposal.access_mode).selection == "fifo"
    )


def waiting_ahead(site: Site, proposal: m.Proposal) -> int | None:
    """For a first-come request still waiting for its technical check: how many requests of
    the same call arrived before it and wait too (its place in the queue; None otherwise)."""
    if proposal.access_mode not in site.access.modes or not waiting_for_check(site, proposal):
        return None
    return sum(
        1
        for other in proposal.call.proposals
        if other.id != proposal.id
        and other.submitted_at is not None
        and proposal.submitted_at is not None
        and (other.submitted_at, other.id) < (proposal.submitted_at, proposal.id)
        and waiting_for_check(site, other)
    )


def record_technical_check(
    db: Session,
    site: Site,
    caller: Caller,
    proposal_id: int,
    body: bodies.TechnicalCheckBody,
    today: date | None = None,
) -> m.Proposal:
    """Record staff's technical check. In a review mode it is one of the things a decision
    round waits for. A first-come request is decided by it at once: feasible, it is granted
    if the call's remaining capacity covers it in full (else waitlisted); infeasible, it is
    rejected with the check's notes as the reason. Its grant's project is provisioned by the
    caller after the commit (`proposal.project`).

    Staff work first-come requests in order of arrival (the desk lists them so, and
    `waiting_ahead` says how many older ones still wait), but a check out of order is not
    refused: an older request may be held up waiting for its applicant's answer, and a strict
    queue would stall every request behind it. The audit event records how many older
    requests were passed over, so the order a desk actually kept can be reviewed.
    """
    proposal = get_proposal(db, caller, proposal_id)
    _in_review(proposal)
    settings = mode_of(site, proposal.access_mode)
    ahead = waiting_ahead(site, proposal)
    if proposal.technical_check is None:
        proposal.technical_check = m.TechnicalCheck(checked_by=caller.name, feasible=False)
    proposal.technical_check.feasible = body.feasible
    proposal.technical_check.notes = body.notes
    proposal.technical_check.checked_by = caller.name
    proposal.technical_check.checked_at = now()
    passed_over = {"older_waiting": ahead} if ahead else {}
    event(
        db, caller.name, "technical check", f"proposal {proposal.id}",
        feasible=body.feasible, **passed_over,
    )  # fmt: skip
    if settings.selection == "fifo":
        if body.feasible:
            decide_one(db, site, proposal, today or date.today())
        else:
            reason = "the technical check found it infeasible"
            _reject(proposal, f"{reason}: {body.notes}" if body.notes.strip() else reason)
            event(db, caller.name, "decide", f"proposal {proposal.id}", outcome="rejected")
    return proposal


def assign_reviewer(
    db: Session, site: Site, caller: Caller, proposal_id: int, reviewer: str
) -> m.Proposal:
    """A reviewer from the applicant's own organisation, or the applicant, is refused."""
    proposal = get_proposal(db, caller, proposal_id)
    _in_review(proposal)
    settings = mode_of(site, proposal.access_mode)
    if settings.selection == "fifo":
        raise conflict(
            f"proposal {proposal.id} is a {settings.label} request: first come, first served "
            "after its checks, with no peer review",
            "reviewer",
        )
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
    settings = mode_of(site, proposal.access_mode)
    checked = proposal.technical_check
    if settings.technical_check and checked is not None and not checked.feasible:
        return False, "the technical check found it infeasible", scores
    ready, why = policy.ready_for_decision(
        settings, len(scores), checked is not None and checked.feasible
    )
    return ready, why, scores


def cutoff_passed(proposal: m.Proposal, today: date) -> bool:
    """A review-mode proposal is decided only once its cut-off has come (one submitted before
    cut-offs were recorded has none, and is due)."""
    return proposal.cutoff_on is None or today >= proposal.cutoff_on


def ranking(
    db: Session, site: Site, call: m.Call, today: date | None = None, only: int | None = None
) -> list[dict[str, Any]]:
    """The decision this call would make now (`today`), proposal by proposal; nothing
    changes. A review-mode proposal whose cut-off is still to come is shown, not ranked.
    `only`: rank that one proposal alone against the remaining capacity (a first-come
    request, decided on its own)."""
    today = today or date.today()
    fifo = is_fifo(site, call.mode)
    rows, candidates = [], []
    waiting = [
        p
        for p in call.proposals
        if p.status in OPEN_FOR_DECISION and (only is None or p.id == only)
    ]
    for proposal in waiting:
        ready, why, scores = _readiness(site, proposal)
        if not fifo and not cutoff_passed(proposal, today):
            cutoff = f"It waits for its cut-off on {proposal.cutoff_on.isoformat()}."
            ready, why = False, f"{cutoff} {why}".strip()
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
                "cutoff_on": proposal.cutoff_on.isoformat() if proposal.cutoff_on else None,
                "requested": proposal.requests,
                "status": "in_review",
                "fraction": 0.0,
                "granted": [],
            }
        )
        if ready:
            requests = tuple(policy.Request(**r) for r in proposal.requests)
            # A proposal that needs no reviews (first come, first served) ranks on an even
            # score: in such a call only one is decided at a time.
            candidates.append(
                policy.Candidate(proposal_id=proposal.id, score=score or 0.0, requests=requests)
            )
    capacity = {k: (v["gpu_hours"], v["cpu_hours"]) for k, v in remaining(call).items()}
    by_id = {row["proposal_id"]: row for row in rows}
    fraction = {"min_fraction": FIFO_MIN_FRACTION} if fifo else {}
    for decision in policy.decide(candidates, capacity, **fraction):
        by_id[decision.proposal_id].update(
            rank=decision.rank,
            status=decision.status,
            fraction=decision.fraction,
            granted=[g.model_dump() for g in decision.granted],
        )
    return sorted(rows, key=lambda r: (r["rank"] is None, r["rank"] or 0, r["proposal_id"]))


def decide(
    db: Session, site: Site, caller: Caller, call_id: int, today: date | None = None
) -> tuple[m.Call, list, list]:
    """A review call's decision round (`today`, default the real one): the proposals whose
    cut-off has passed and that have their checks and reviews are ranked against the call's
    remaining capacity; grants become projects (returned, to be provisioned after the
    commit), the rest wait with their rank; the others stay in review for a later round.

    A first-come call has no rounds (each request is decided at its technical check): 409.
    With no proposal past its cut-off there is nothing to decide: 409, naming the next one.
    An open call stays open (it takes proposals for its next cut-off); a closed one is
    `decided` once nothing waits in it.
    """
    today = today or date.today()
    call = get_call(db, call_id)
    if call.status == "decided":
        raise conflict(f"call {call.id} is already decided")
    settings = mode_of(site, call.mode)
    if settings.selection == "fifo":
        raise conflict(
            f"call {call.id} is first come, first served: each request is decided at its "
            "technical check, not in a round"
        )
    waiting = [p for p in call.proposals if p.status in OPEN_FOR_DECISION]
    if not any(cutoff_passed(p, today) for p in waiting):
        upcoming = sorted(p.cutoff_on for p in waiting if p.cutoff_on is not None)
        after = f": the next cut-off is {upcoming[0].isoformat()}" if upcoming else ""
        raise conflict(f"no proposal of call {call.id} has reached its cut-off{after}")
    rows = ranking(db, site, call, today)
    projects = apply_rows(db, site, call, rows, today)
    if call.status == "closed" and not any(p.status in OPEN_FOR_DECISION for p in call.proposals):
        call.status = "decided"
    event(db, caller.name, "decide", f"call {call.id}", granted=len(projects))
    return call, rows, projects


def decide_one(db: Session, site: Site, proposal: m.Proposal, today: date) -> list[m.Project]:
    """Decide a first-come request on its own against its call's remaining capacity: granted
    in full, or waitlisted when the capacity left does not cover it."""
    db.flush()
    rows = ranking(db, site, proposal.call, today, only=proposal.id)
    projects = apply_rows(db, site, proposal.call, rows, today)
    if proposal.status == "waitlisted":
        proposal.decision = {
            **proposal.decision,
            "reason": "the call's remaining capacity does not cover the request in full",
        }
    event(db, "policy", "decide", f"proposal {proposal.id}", outcome=proposal.status)
    return projects


def _reject(proposal: m.Proposal, reason: str) -> None:
    proposal.status = "rejected"
    proposal.decision = {"status": "rejected", "fraction": 0.0, "granted": [], "reason": reason}
    proposal.decided_at = now()


def apply_rows(
    db: Session, site: Site, call: m.Call, rows: list[dict[str, Any]], today: date | None = None
) -> list:
    """Store the ranked rows' outcome, with the moment of the decision; grants become
    projects (provisioned after commit)."""
    proposals = {p.id: p for p in call.proposals}
    projects = []
    for row in rows:
        if row["rank"] is None:
            continue
        proposal = proposals[row["proposal_id"]]
        proposal.rank, proposal.score = row["rank"], row["score"]
        proposal.status = row["status"]
        proposal.decision = {k: row[k] for k in ("status", "fraction", "granted")}
        proposal.decided_at = now()
        if row["status"] in ("granted", "partial"):
            projects.append(grant_project(db, site, proposal, row["granted"], today))
    return projects


def grant_project(
    db: Session,
    site: Site,
    proposal: m.Proposal,
    granted: list[dict[str, Any]],
    today: date | None = None,
) -> m.Project:
    """A project for a granted proposal, priced by access mode and applicant, starting
    `today` and lasting the length the proposal chose (the mode's longest if it has none)."""
    settings = mode_of(site, proposal.access_mode)
    today = today or date.today()
    ends = add_months(today, proposal.length_months or settings.max_length_months)
    due = policy.obligation_due(ends, site.access)
    decision = policy.price(
        policy.ApplicantType(proposal.applicant_type),
        settings,
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
    project.reports = []
    ensure_reports(db, site.access, [project])  # what it owes, from the grant on
    db.add(project)
    db.flush()
    return project
