"""The access workflow's operations (docs/access-api.md): calls, proposals, projects and a new
user's playground. Parse, authorise, call `access`, answer JSON.

One request is one store transaction: a refusal raises before the commit, so it changes
nothing. Provisioning runs after the commit, in a worker thread, with its own record.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory_hub.access import bodies
from aifactory_hub.access import projects as prj
from aifactory_hub.access import proposals as prp
from aifactory_hub.access.views import Caller, call_json, project_json, proposal_json
from aifactory_hub.core.bodies import MAX_ID
from aifactory_hub.core.errors import AccessError
from aifactory_hub.data import catalogue
from aifactory_hub.service.base import Handler, Route, in_thread
from aifactory_hub.site import scopes
from aifactory_hub.store import models
from aifactory_hub.store.audit import now

RESEARCHER = (scopes.FACTORY_ACCESS,)
STAFF = (scopes.FACTORY_ACCESS, scopes.PROPOSALS_MANAGE)


def caller_of(h: Handler) -> Caller:
    """The token's owner as the access workflow sees them: may they manage, review?"""
    return Caller(
        name=h.user,
        manage=h.holds(scopes.PROPOSALS_MANAGE),
        review=h.holds(scopes.PROPOSALS_REVIEW),
    )


def _proposal(h: Handler, p: models.Proposal, caller: Caller) -> dict[str, Any]:
    data = proposal_json(p, caller, date.today())
    data["access_mode_label"] = h.site.access.label(p.access_mode)
    data["waiting_ahead"] = prp.waiting_ahead(h.site, p)
    data["catalogue_items"] = catalogue.licences(h.site.catalogue, data["catalogue"])
    if caller.manage:
        check = data["technical_check"] or {"feasible": None, "notes": "", "checked_by": ""}
        data["technical_check"] = {**check, "findings": prp.technical_findings(h.site, p)}
    return data


def _project(h: Handler, project: models.Project) -> dict[str, Any]:
    data = project_json(project, date.today())
    data["access_mode_label"] = h.site.access.label(project.access_mode)
    return data


def _call(h: Handler, call: models.Call) -> dict[str, Any]:
    return {**call_json(call), "mode_label": h.site.access.label(call.mode)}


async def provision(h: Handler, accounts: list[str]) -> None:
    """Bring Slurm in line with each project, one after the other, in a worker thread."""
    for account in accounts:
        await in_thread(h.context.slurm.provision, h.store, h.site.site.cluster, account)


# --- calls --------------------------------------------------------------------------------------


async def list_calls(h: Handler) -> None:
    with h.store() as db:
        calls = db.scalars(select(models.Call).order_by(models.Call.id))
        h.write_json([_call(h, c) for c in calls])


async def open_call(h: Handler) -> None:
    body = h.body(bodies.NewCall)
    with h.store.begin() as db:
        h.write_json(_call(h, prp.create_call(db, h.site, caller_of(h), body)), 201)


async def close_call(h: Handler, call_id: str) -> None:
    with h.store.begin() as db:
        h.write_json(_call(h, prp.close_call(db, caller_of(h), int(call_id))))


async def call_ranking(h: Handler, call_id: str) -> None:
    with h.store() as db:
        call = prp.get_call(db, int(call_id))
        h.write_json({"call": _call(h, call), "rows": prp.ranking(db, h.site, call)})


async def decide_call(h: Handler, call_id: str) -> None:
    with h.store.begin() as db:
        _, rows, projects = prp.decide(db, h.site, caller_of(h), int(call_id))
        accounts = [p.account for p in projects]
    await provision(h, accounts)
    with h.store() as db:
        h.write_json({"call": _call(h, prp.get_call(db, int(call_id))), "rows": rows})


# --- proposals ----------------------------------------------------------------------------------


async def check_draft(h: Handler) -> None:
    draft = h.body(bodies.Draft)
    # Without a call, a draft is checked against the fast lane (or the site's first mode).
    modes = h.site.access.modes
    mode = "fast_lane" if "fast_lane" in modes else next(iter(modes))
    if draft.call_id is not None:
        with h.store() as db:
            mode = prp.get_call(db, draft.call_id).mode
    result = prp.check(h.site, mode, h.user, draft)
    h.write_json(result.model_dump(mode="json"))


CALL_NUMBER = "^[0-9]{1,19}$"


async def list_proposals(h: Handler) -> None:
    caller = caller_of(h)
    call = h.get_query_argument("call", "")
    if call and not (re.fullmatch(CALL_NUMBER, call) and int(call) <= MAX_ID):
        raise AccessError(400, "call must be a call's number", "call")
    status = h.get_query_argument("status", "")
    if status and status not in models.PROPOSAL_STATUSES:
        choices = ", ".join(models.PROPOSAL_STATUSES)
        raise AccessError(400, f"status is one of {choices}", "status")
    sort = h.get_query_argument("sort", "") or "arrival"
    if sort not in prp.SORTS:
        raise AccessError(400, f"sort is one of {', '.join(prp.SORTS)}", "sort")
    with h.store() as db:
        found = prp.list_proposals(db, caller, int(call) if call else None, status or None, sort)
        h.write_json([_proposal(h, p, caller) for p in found])


async def new_proposal(h: Handler) -> None:
    draft = h.body(bodies.Draft)
    caller = caller_of(h)
    with h.store.begin() as db:
        h.write_json(_proposal(h, prp.create_draft(db, caller, draft, h.site), caller), 201)


async def show_proposal(h: Handler, pid: str) -> None:
    caller = caller_of(h)
    with h.store() as db:
        h.write_json(_proposal(h, prp.get_proposal(db, caller, int(pid)), caller))


async def edit_proposal(h: Handler, pid: str) -> None:
    draft = h.body(bodies.Draft)
    caller = caller_of(h)
    with h.store.begin() as db:
        h.write_json(_proposal(h, prp.update_draft(db, caller, int(pid), draft, h.site), caller))


async def submit_proposal(h: Handler, pid: str) -> None:
    with h.store.begin() as db:
        proposal = prp.submit(db, h.site, caller_of(h), int(pid))
        accounts = [proposal.project.account] if proposal.project else []
    await provision(h, accounts)
    await show_proposal(h, pid)


async def withdraw_proposal(h: Handler, pid: str) -> None:
    caller = caller_of(h)
    with h.store.begin() as db:
        h.write_json(_proposal(h, prp.withdraw(db, caller, int(pid)), caller))


async def technical_check(h: Handler, pid: str) -> None:
    body = h.body(bodies.TechnicalCheckBody)
    caller = caller_of(h)
    with h.store.begin() as db:
        proposal = prp.record_technical_check(db, h.site, caller, int(pid), body)
        accounts = [proposal.project.account] if proposal.project else []
    await provision(h, accounts)  # a first-come request granted by its check
    await show_proposal(h, pid)


async def assign_reviewer(h: Handler, pid: str) -> None:
    body = h.body(bodies.ReviewerBody)
    caller = caller_of(h)
    with h.store.begin() as db:
        proposal = prp.assign_reviewer(db, h.site, caller, int(pid), body.reviewer)
        h.write_json(_proposal(h, proposal, caller))


async def review(h: Handler, pid: str) -> None:
    body = h.body(bodies.ReviewBody)
    caller = caller_of(h)
    with h.store.begin() as db:
        h.write_json(_proposal(h, prp.score(db, caller, int(pid), body), caller))


# --- projects -----------------------------------------------------------------------------------


async def list_projects(h: Handler) -> None:
    with h.store() as db:
        h.write_json([_project(h, p) for p in prj.list_projects(db, caller_of(h))])


async def show_project(h: Handler, account: str) -> None:
    with h.store() as db:
        h.write_json(_project(h, prj.get_project(db, caller_of(h), account)))


async def _change_and_provision(
    h: Handler, account: str, change: Callable[[Session, Caller], object]
) -> None:
    with h.store.begin() as db:
        change(db, caller_of(h))
    await provision(h, [account])
    await show_project(h, account)


async def add_member(h: Handler, account: str) -> None:
    body = h.body(bodies.MemberBody)
    await _change_and_provision(
        h, account, lambda db, c: prj.add_member(db, c, account, body.username)
    )


async def remove_member(h: Handler, account: str, username: str) -> None:
    await _change_and_provision(
        h, account, lambda db, c: prj.remove_member(db, c, account, username)
    )


async def reprovision(h: Handler, account: str) -> None:
    await _change_and_provision(h, account, lambda db, c: prj.get_project(db, c, account))


async def end_project(h: Handler, account: str) -> None:
    await _change_and_provision(h, account, lambda db, c: prj.end_project(db, c, account))


async def remove_data(h: Handler, account: str) -> None:
    """Delete an ended project's folders and group once its retention period is over."""
    storage = h.site.storage
    with h.store() as db:
        prj.check_data_removal(db, caller_of(h), account, storage.retention_days, now())
    await in_thread(h.context.slurm.remove_data, storage, account)
    with h.store.begin() as db:
        prj.mark_data_removed(db, caller_of(h), account)
    await show_project(h, account)


async def obligation(h: Handler, account: str) -> None:
    body = h.body(bodies.ObligationBody)
    with h.store.begin() as db:
        h.write_json(_project(h, prj.submit_obligation(db, caller_of(h), account, body.url)))


async def reprice(h: Handler, account: str) -> None:
    with h.store.begin() as db:
        h.write_json(_project(h, prj.reprice(db, h.site, caller_of(h), account)))


async def playground(h: Handler, username: str) -> None:
    """Called by the hub at a user's login: their playground, if they have no project."""
    with h.store.begin() as db:
        project = prj.ensure_playground(db, h.site, username)
        account = project.account if project else None
    if account is None:
        h.write_json({"created": False, "project": None})
        return
    await provision(h, [account])
    with h.store() as db:
        project = db.scalars(select(models.Project).where(models.Project.account == account))
        h.write_json({"created": True, "project": _project(h, project.one())}, 201)


PROPOSAL_QUERY = {
    "call": {"type": "string", "pattern": CALL_NUMBER},
    "status": {"type": "string", "enum": list(models.PROPOSAL_STATUSES)},
    "sort": {"type": "string", "enum": list(prp.SORTS)},
}

routes: list[Route] = [
    Route("get", "calls", list_calls, "Calls for proposals", RESEARCHER),
    Route("post", "calls", open_call, "Open a call (staff)", STAFF,
          body=bodies.NewCall, success=(201,)),
    Route("post", "calls/{id}/close", close_call, "Close a call (staff)", STAFF),
    Route("get", "calls/{id}/ranking", call_ranking,
          "The ranked list against capacity (staff)", STAFF),
    Route("post", "calls/{id}/decide", decide_call,
          "Decide a call and provision grants (staff)", STAFF),
    Route("post", "proposals/check", check_draft, "Automatic checks of a draft", RESEARCHER,
          body=bodies.Draft),
    Route("get", "proposals", list_proposals, "Proposals (yours; staff: all)", RESEARCHER,
          query=PROPOSAL_QUERY),
    Route("post", "proposals", new_proposal, "Start a draft", RESEARCHER,
          body=bodies.Draft, success=(201,)),
    Route("get", "proposals/{id}", show_proposal, "A proposal", RESEARCHER),
    Route("put", "proposals/{id}", edit_proposal, "Edit a draft", RESEARCHER, body=bodies.Draft),
    Route("post", "proposals/{id}/submit", submit_proposal, "Submit a draft", RESEARCHER),
    Route("post", "proposals/{id}/withdraw", withdraw_proposal, "Withdraw a proposal",
          RESEARCHER),
    Route("post", "proposals/{id}/technical-check", technical_check, "Technical check (staff)",
          STAFF, body=bodies.TechnicalCheckBody),
    Route("post", "proposals/{id}/reviewers", assign_reviewer, "Assign a reviewer (staff)",
          STAFF, body=bodies.ReviewerBody),
    Route("put", "proposals/{id}/review", review, "Score a proposal (its reviewer)",
          RESEARCHER, body=bodies.ReviewBody),
    Route("get", "projects", list_projects, "Projects (yours; staff: all)", RESEARCHER),
    Route("get", "projects/{account}", show_project, "A project", RESEARCHER),
    Route("post", "projects/{account}/members", add_member, "Add a member (PI or staff)",
          RESEARCHER, body=bodies.MemberBody),
    Route("delete", "projects/{account}/members/{name}", remove_member,
          "Remove a member (PI or staff)", RESEARCHER),
    Route("post", "projects/{account}/provision", reprovision, "Retry provisioning (staff)",
          STAFF),
    Route("post", "projects/{account}/obligation", obligation, "Report open results (PI)",
          RESEARCHER, body=bodies.ObligationBody),
    Route("post", "projects/{account}/reprice", reprice, "Re-price an overdue project (staff)",
          STAFF),
    Route("post", "projects/{account}/end", end_project, "End a project (staff)", STAFF),
    Route("post", "projects/{account}/data/remove", remove_data,
          "Remove an ended project's folders after retention (staff)", STAFF),
    Route("post", "playground/{name}", playground, "A new user's playground (the hub only)",
          (scopes.PLAYGROUND_GRANT,), success=(200, 201)),
]  # fmt: skip
