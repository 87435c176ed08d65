"""The access REST API (docs/access-api.md): parse, authorise, call `access`, answer JSON.

One request is one store transaction: a refusal raises before the commit, so it changes
nothing. Provisioning runs after the commit, in a worker thread, with its own record.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError
from tornado import web

from aifactory_hub.access import bodies
from aifactory_hub.access import projects as prj
from aifactory_hub.access import proposals as prp
from aifactory_hub.access.views import Caller, call_json, project_json, proposal_json
from aifactory_hub.core.bodies import MAX_ID, parse
from aifactory_hub.core.errors import AccessError
from aifactory_hub.service.app import APIHandler
from aifactory_hub.site import Site, scopes
from aifactory_hub.store import models

ACCOUNT = r"([a-z][a-z0-9_-]{0,31})"
ID = re.compile(r"^[0-9]{1,19}$")


class AccessHandler(APIHandler):
    """Base for the access endpoints: the caller, the store, JSON bodies and errors."""

    def initialize(self, hub_auth, site: Site, store: sessionmaker[Session]) -> None:
        super().initialize(hub_auth)
        self.site = site
        self.store = store

    async def caller(self) -> Caller:
        model = await self.require(scopes.FACTORY_ACCESS)
        check = self.hub_auth.check_scopes
        return Caller(
            name=model["name"],
            manage=bool(check({scopes.PROPOSALS_MANAGE}, model)),
            review=bool(check({scopes.PROPOSALS_REVIEW}, model)),
        )

    async def staff(self) -> Caller:
        caller = await self.caller()
        if not caller.manage:
            raise AccessError(403, f"{caller.name} lacks the scope {scopes.PROPOSALS_MANAGE}")
        return caller

    def body(self, model: type[bodies._Body]) -> Any:
        try:
            data = json.loads(self.request.body or b"{}")
        except (ValueError, RecursionError):  # RecursionError: nested too deep
            raise AccessError(400, "the body is not valid JSON") from None
        return parse(model, data)

    async def _answer(self, function, *args, **kwargs):
        try:
            _ids_in_range(args)
            return await function(*args, **kwargs)
        except AccessError as exc:
            self.write_json(
                {"status": exc.status, "message": exc.message, "field": exc.field}, exc.status
            )
        except StaleDataError:
            self.write_json(
                {"status": 409, "message": "changed by someone else: reload", "field": ""}, 409
            )

    def proposal(self, p, caller: Caller) -> dict[str, Any]:
        data = proposal_json(p, caller)
        if caller.manage:
            check = data["technical_check"] or {"feasible": None, "notes": "", "checked_by": ""}
            data["technical_check"] = {**check, "findings": prp.technical_findings(self.site, p)}
        return data

    def project(self, project) -> dict[str, Any]:
        return project_json(project, date.today())

    async def provision(self, accounts: list[str]) -> None:
        loop = asyncio.get_running_loop()
        for account in accounts:
            await loop.run_in_executor(
                None, prj.provision_project, self.store, self.site.site.cluster, account
            )


def _ids_in_range(args: Sequence[Any]) -> None:
    """A numeric path id beyond the store's 64-bit ids names nothing (and must not reach it)."""
    for arg in args:
        if isinstance(arg, str) and arg.isascii() and arg.isdigit() and int(arg) > MAX_ID:
            raise AccessError(404, f"there is no object {arg[:24]}...")


def _handler(**methods):
    """A handler class whose HTTP methods are the given coroutines (self, *path_args)."""

    def wrap(fn):
        async def method(self, *args):
            await self._answer(fn, self, *args)

        return method

    return type("Handler", (AccessHandler,), {k: wrap(v) for k, v in methods.items()})


# --- calls --------------------------------------------------------------------------------------


async def list_calls(h: AccessHandler) -> None:
    await h.caller()
    with h.store() as db:
        calls = db.scalars(select(models.Call).order_by(models.Call.id))
        h.write_json([call_json(c) for c in calls])


async def open_call(h: AccessHandler) -> None:
    caller = await h.staff()
    body = h.body(bodies.NewCall)
    with h.store.begin() as db:
        h.write_json(call_json(prp.create_call(db, h.site, caller, body)), 201)


async def close_call(h: AccessHandler, call_id: str) -> None:
    caller = await h.staff()
    with h.store.begin() as db:
        h.write_json(call_json(prp.close_call(db, caller, int(call_id))))


async def call_ranking(h: AccessHandler, call_id: str) -> None:
    await h.staff()
    with h.store() as db:
        call = prp.get_call(db, int(call_id))
        h.write_json({"call": call_json(call), "rows": prp.ranking(db, h.site, call)})


async def decide_call(h: AccessHandler, call_id: str) -> None:
    caller = await h.staff()
    with h.store.begin() as db:
        _, rows, projects = prp.decide(db, h.site, caller, int(call_id))
        accounts = [p.account for p in projects]
    await h.provision(accounts)
    with h.store() as db:
        h.write_json({"call": call_json(prp.get_call(db, int(call_id))), "rows": rows})


# --- proposals ----------------------------------------------------------------------------------


async def check_draft(h: AccessHandler) -> None:
    caller = await h.caller()
    draft = h.body(bodies.Draft)
    mode = "fast_lane"
    if draft.call_id is not None:
        with h.store() as db:
            mode = prp.get_call(db, draft.call_id).mode
    result = prp.check(h.site, mode, caller.name, draft)
    h.write_json(result.model_dump(mode="json"))


async def list_proposals(h: AccessHandler) -> None:
    caller = await h.caller()
    call = h.get_query_argument("call", "")
    if call and not (ID.match(call) and int(call) <= MAX_ID):
        raise AccessError(400, "call must be a call's number", "call")
    status = h.get_query_argument("status", "")
    if status and status not in models.PROPOSAL_STATUSES:
        choices = ", ".join(models.PROPOSAL_STATUSES)
        raise AccessError(400, f"status is one of {choices}", "status")
    with h.store() as db:
        found = prp.list_proposals(db, caller, int(call) if call else None, status or None)
        h.write_json([h.proposal(p, caller) for p in found])


async def new_proposal(h: AccessHandler) -> None:
    caller = await h.caller()
    draft = h.body(bodies.Draft)
    with h.store.begin() as db:
        h.write_json(h.proposal(prp.create_draft(db, caller, draft), caller), 201)


async def show_proposal(h: AccessHandler, pid: str) -> None:
    caller = await h.caller()
    with h.store() as db:
        h.write_json(h.proposal(prp.get_proposal(db, caller, int(pid)), caller))


async def edit_proposal(h: AccessHandler, pid: str) -> None:
    caller = await h.caller()
    draft = h.body(bodies.Draft)
    with h.store.begin() as db:
        h.write_json(h.proposal(prp.update_draft(db, caller, int(pid), draft), caller))


async def submit_proposal(h: AccessHandler, pid: str) -> None:
    caller = await h.caller()
    with h.store.begin() as db:
        proposal = prp.submit(db, h.site, caller, int(pid))
        accounts = [proposal.project.account] if proposal.project else []
    await h.provision(accounts)
    await show_proposal(h, pid)


async def withdraw_proposal(h: AccessHandler, pid: str) -> None:
    caller = await h.caller()
    with h.store.begin() as db:
        h.write_json(h.proposal(prp.withdraw(db, caller, int(pid)), caller))


async def technical_check(h: AccessHandler, pid: str) -> None:
    caller = await h.staff()
    body = h.body(bodies.TechnicalCheckBody)
    with h.store.begin() as db:
        h.write_json(h.proposal(prp.record_technical_check(db, caller, int(pid), body), caller))


async def assign_reviewer(h: AccessHandler, pid: str) -> None:
    caller = await h.staff()
    body = h.body(bodies.ReviewerBody)
    with h.store.begin() as db:
        proposal = prp.assign_reviewer(db, h.site, caller, int(pid), body.reviewer)
        h.write_json(h.proposal(proposal, caller))


async def review(h: AccessHandler, pid: str) -> None:
    caller = await h.caller()
    body = h.body(bodies.ReviewBody)
    with h.store.begin() as db:
        h.write_json(h.proposal(prp.score(db, caller, int(pid), body), caller))


# --- projects -----------------------------------------------------------------------------------


async def list_projects(h: AccessHandler) -> None:
    caller = await h.caller()
    with h.store() as db:
        h.write_json([h.project(p) for p in prj.list_projects(db, caller)])


async def show_project(h: AccessHandler, account: str) -> None:
    caller = await h.caller()
    with h.store() as db:
        h.write_json(h.project(prj.get_project(db, caller, account)))


async def _change_and_provision(h: AccessHandler, account: str, change) -> None:
    caller = await h.caller()
    with h.store.begin() as db:
        change(db, caller)
    await h.provision([account])
    await show_project(h, account)


async def add_member(h: AccessHandler, account: str) -> None:
    body = h.body(bodies.MemberBody)
    await _change_and_provision(
        h, account, lambda db, c: prj.add_member(db, c, account, body.username)
    )


async def remove_member(h: AccessHandler, account: str, username: str) -> None:
    await _change_and_provision(
        h, account, lambda db, c: prj.remove_member(db, c, account, username)
    )


async def reprovision(h: AccessHandler, account: str) -> None:
    await h.staff()
    await _change_and_provision(h, account, lambda db, c: prj.get_project(db, c, account))


async def end_project(h: AccessHandler, account: str) -> None:
    await h.staff()
    await _change_and_provision(h, account, lambda db, c: prj.end_project(db, c, account))


async def obligation(h: AccessHandler, account: str) -> None:
    caller = await h.caller()
    body = h.body(bodies.ObligationBody)
    with h.store.begin() as db:
        h.write_json(h.project(prj.submit_obligation(db, caller, account, body.url)))


async def reprice(h: AccessHandler, account: str) -> None:
    caller = await h.staff()
    with h.store.begin() as db:
        h.write_json(h.project(prj.reprice(db, h.site, caller, account)))


async def playground(h: AccessHandler, username: str) -> None:
    """Called by the hub at a user's login: their playground, if they have no project."""
    await h.require(scopes.PLAYGROUND_GRANT)
    with h.store.begin() as db:
        project = prj.ensure_playground(db, h.site, username)
        account = project.account if project else None
    if account is None:
        h.write_json({"created": False, "project": None})
        return
    await h.provision([account])
    with h.store() as db:
        project = db.scalars(select(models.Project).where(models.Project.account == account))
        h.write_json({"created": True, "project": h.project(project.one())}, 201)


ROUTES: list[tuple[str, dict[str, Any], str]] = [
    ("calls", {"get": list_calls, "post": open_call}, "Calls for proposals"),
    (r"calls/(\d+)/close", {"post": close_call}, "Close a call"),
    (r"calls/(\d+)/ranking", {"get": call_ranking}, "The ranked list against capacity"),
    (r"calls/(\d+)/decide", {"post": decide_call}, "Decide a call and provision grants"),
    ("proposals/check", {"post": check_draft}, "Automatic checks of a draft"),
    ("proposals", {"get": list_proposals, "post": new_proposal}, "Proposals"),
    (r"proposals/(\d+)", {"get": show_proposal, "put": edit_proposal}, "A proposal"),
    (r"proposals/(\d+)/submit", {"post": submit_proposal}, "Submit a draft"),
    (r"proposals/(\d+)/withdraw", {"post": withdraw_proposal}, "Withdraw a proposal"),
    (r"proposals/(\d+)/technical-check", {"post": technical_check}, "Technical check"),
    (r"proposals/(\d+)/reviewers", {"post": assign_reviewer}, "Assign a reviewer"),
    (r"proposals/(\d+)/review", {"put": review}, "Score a proposal"),
    ("projects", {"get": list_projects}, "Projects"),
    (f"projects/{ACCOUNT}", {"get": show_project}, "A project"),
    (f"projects/{ACCOUNT}/members", {"post": add_member}, "Add a member"),
    (f"projects/{ACCOUNT}/members/([^/]+)", {"delete": remove_member}, "Remove a member"),
    (f"projects/{ACCOUNT}/provision", {"post": reprovision}, "Retry provisioning"),
    (f"projects/{ACCOUNT}/obligation", {"post": obligation}, "Report open results"),
    (f"projects/{ACCOUNT}/reprice", {"post": reprice}, "Re-price an overdue project"),
    (f"projects/{ACCOUNT}/end", {"post": end_project}, "End a project"),
    ("playground/([^/]+)", {"post": playground}, "A new user's playground (hub only)"),
]


def handlers(
    api: str, hub_auth, site: Site, store: sessionmaker[Session], routes: list | None = None
) -> list:
    """Tornado rules for `routes` (another module's ROUTES list; default: these)."""
    kwargs = {"hub_auth": hub_auth, "site": site, "store": store}
    chosen = ROUTES if routes is None else routes
    return [(f"{api}/{path}", _handler(**methods), kwargs) for path, methods, _ in chosen]


BODIES: dict[tuple[str, str], type[bodies._Body]] = {
    ("calls", "post"): bodies.NewCall,
    ("proposals/check", "post"): bodies.Draft,
    ("proposals", "post"): bodies.Draft,
    (r"proposals/(\d+)", "put"): bodies.Draft,
    (r"proposals/(\d+)/technical-check", "post"): bodies.TechnicalCheckBody,
    (r"proposals/(\d+)/reviewers", "post"): bodies.ReviewerBody,
    (r"proposals/(\d+)/review", "put"): bodies.ReviewBody,
    (f"projects/{ACCOUNT}/members", "post"): bodies.MemberBody,
    (f"projects/{ACCOUNT}/obligation", "post"): bodies.ObligationBody,
}


# What the description says beyond ROUTES and BODIES: statuses other than 200, query
# parameters, and the routes the service's app serves outside the access handlers.
SUCCESS: dict[tuple[str, str], tuple[str, ...]] = {
    ("calls", "post"): ("201",),
    ("proposals", "post"): ("201",),
    ("tickets", "post"): ("201",),
    ("workshops", "post"): ("201",),
    (r"workshops/(\d+)/participants/([^/]+)/restart", "post"): ("202",),
    ("playground/([^/]+)", "post"): ("200", "201"),
}
UPSTREAM = {("workshops", "post"), (r"workshops/(\d+)/end", "post")}  # may answer 502
_TEXT = {"type": "string", "maxLength": 64}
_DAY = {"type": "string", "format": "date"}
QUERY: dict[tuple[str, str], dict[str, dict[str, Any]]] = {
    ("proposals", "get"): {
        "call": {"type": "string", "pattern": "^[0-9]{1,19}$"},
        "status": {"type": "string", "enum": list(models.PROPOSAL_STATUSES)},
    },
    ("tickets", "get"): {"status": _TEXT, "topic": _TEXT, "assignee": _TEXT},
    ("usage", "get"): {"all": {"type": "string", "enum": ["1", "true", "0", ""]}},
    ("usage/billing", "get"): {"from": _DAY, "to": _DAY},
    ("usage/billing.csv", "get"): {"from": _DAY, "to": _DAY},
    ("usage/funder", "get"): {"from": _DAY, "to": _DAY},
}
CONTENT: dict[tuple[str, str], str] = {("usage/billing.csv", "get"): "text/csv"}
PATH_PARAMS: dict[str, dict[str, Any]] = {
    "id": {"type": "string", "pattern": "^[0-9]+$"},
    "account": {"type": "string", "pattern": "^" + ACCOUNT[1:-1] + "$"},
    "name": {"type": "string", "minLength": 1},
}
ERROR = {
    "type": "object",
    "required": ["status", "message"],
    "properties": {
        "status": {"type": "integer"},
        "message": {"type": "string"},
        "field": {"type": "string", "description": "the dotted field at fault, or empty"},
    },
}
SERVICE_ROUTES: list[tuple[str, dict[str, Any], str]] = [
    ("health", {"get": None}, "The service answers (no token needed)"),
    ("cluster", {"get": None}, "Partitions, the Slurm queue and every hub session (staff)"),
    ("sessions/([^/]+)", {"delete": None}, "Stop a user's session (staff)"),
]
PUBLIC = {"health"}


def _operation(path: str, method: str, summary: str, params: list, model) -> dict[str, Any]:
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    kind = CONTENT.get((path, method), "application/json")
    responses: dict[str, Any] = {
        code: {"description": "OK", "content": {kind: {}}}
        for code in SUCCESS.get((path, method), ("200",))
    }
    problems = {
        "400": "bad input: the message names the field",
        "401": "no or bad token",
        "403": "the token lacks the scope",
        "404": "not found (or not yours)",
        "409": "wrong state for this change",
    }
    if (path, method) in UPSTREAM or path.startswith("sessions/"):
        problems["502"] = "Slurm, the accounts or the hub refused a step"
    for code, text in problems.items():
        responses[code] = {"description": text, "content": error}
    query = [
        {"name": n, "in": "query", "required": False, "schema": schema}
        for n, schema in QUERY.get((path, method), {}).items()
    ]
    op: dict[str, Any] = {
        "summary": summary,
        "parameters": params + query,
        "responses": responses,
    }
    if path not in PUBLIC:
        op["security"] = [{"hubToken": []}]
    else:
        op["responses"] = {"200": responses["200"]}
    if model is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    return op


def openapi(server_prefix: str, extra: Sequence[tuple[list, dict]] = ()) -> dict[str, Any]:
    """An OpenAPI 3.1 description of the routes, with the bodies' JSON schemas; `extra` adds
    other modules' (ROUTES, BODIES)."""
    paths: dict[str, Any] = {}
    bodies_of = dict(BODIES)
    routes = SERVICE_ROUTES + list(ROUTES)
    for more_routes, more_bodies in extra:
        routes += more_routes
        bodies_of.update(more_bodies)
    for path, methods, summary in routes:
        shown = path
        for group in (r"(\d+)", ACCOUNT, "([^/]+)"):
            while group in shown:
                name = "id" if group == r"(\d+)" else ("account" if group == ACCOUNT else "name")
                shown = shown.replace(group, "{" + name + "}", 1)
        params = [
            {"name": n, "in": "path", "required": True, "schema": PATH_PARAMS[n]}
            for n in ("id", "account", "name")
            if "{" + n + "}" in shown
        ]
        paths["/" + shown] = {
            method: _operation(path, method, summary, params, bodies_of.get((path, method)))
            for method in methods
        }
    return {
        "openapi": "3.1.0",
        "info": {"title": "AI Factory Hub: factory service", "version": "1"},
        "servers": [{"url": server_prefix}],
        "components": {
            "securitySchemes": {
                "hubToken": {"type": "apiKey", "in": "header", "name": "Authorization"}
            },
            "schemas": {"Error": ERROR},
        },
        "paths": paths,
    }


class OpenAPIHandler(web.RequestHandler):
    def initialize(self, server_prefix: str, extra: Sequence[tuple[list, dict]] = ()) -> None:
        self.server_prefix = server_prefix
        self.extra = extra

    def get(self) -> None:
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(openapi(self.server_prefix, self.extra)))
