"""Reports a granted project owes (progress and final), their submission by the PI, and the
staff's view of what is due and overdue, open-results obligations included.

The reports are made from the project's dates and its access mode (`policy.reports`) the
first time anyone reads them: the service's report operations call `ensure_reports` first,
and it only adds what is missing, so reading twice or racing another reader never makes a
report twice (the store's unique (project, kind, due date) refuses the second; the service
retries once). The first-login trial owes no reports: it is for trying things.

Open-results obligations stay on the project (`access.projects`: the PI gives the link,
staff re-price one left unmet); the staff list shows them beside the reports, with the same
states.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from aifactory_hub.access import bodies
from aifactory_hub.access.projects import PLAYGROUND_PREFIX, get_project
from aifactory_hub.access.views import Caller
from aifactory_hub.core.errors import AccessError, conflict, forbidden, not_found
from aifactory_hub.policy import AccessSettings
from aifactory_hub.policy.reports import report_state, reports_owed, submission_findings
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event, now


def owes_reports(project: m.Project) -> bool:
    """Every granted project does, except a new user's first-login trial."""
    return not (project.proposal_id is None and project.account.startswith(PLAYGROUND_PREFIX))


def ensure_reports(db: Session, access: AccessSettings, projects: Iterable[m.Project]) -> int:
    """Add the reports each project owes and lacks; returns how many were added. Reports
    already there (submitted or not) are never changed."""
    added = 0
    for project in projects:
        if not owes_reports(project):
            continue
        have = {(r.kind, r.due_on) for r in project.reports}
        mode = access.modes.get(project.access_mode)
        for owed in reports_owed(mode, project.starts_on, project.ends_on):
            if (owed.kind, owed.due_on) not in have:
                project.reports.append(m.Report(kind=owed.kind, due_on=owed.due_on))
                added += 1
    if added:
        db.flush()
    return added


def report_json(report: m.Report, project: m.Project, today: date) -> dict[str, Any]:
    return {
        "id": report.id,
        "account": project.account,
        "title": project.title,
        "pi": project.pi,
        "access_mode": project.access_mode,
        "kind": report.kind,
        "due_on": report.due_on.isoformat(),
        "state": report_state(report.due_on, report.submitted_at is not None, today),
        "summary": report.summary,
        "products": list(report.products or []),
        "acknowledged": report.acknowledged,
        "submitted_by": report.submitted_by,
        "submitted_at": report.submitted_at.isoformat() if report.submitted_at else None,
    }


def obligation_json(project: m.Project, today: date) -> dict[str, Any]:
    """An open-results obligation as the staff list shows it, in the reports' states."""
    due = project.obligation_due
    fulfilled = bool(project.obligation_url)
    return {
        "account": project.account,
        "title": project.title,
        "pi": project.pi,
        "obligation": project.obligation,
        "due_on": due.isoformat() if due else None,
        "url": project.obligation_url,
        "charged": project.charged,
        "state": report_state(due, fulfilled, today) if due else "upcoming",
    }


def project_reports(
    db: Session, caller: Caller, access: AccessSettings, account: str
) -> tuple[m.Project, list[m.Report]]:
    """A project's reports, by due date, for its members and staff (404 for anyone else)."""
    project = get_project(db, caller, account)
    ensure_reports(db, access, [project])
    return project, sorted(project.reports, key=lambda r: (r.due_on, r.kind))


def submit_report(
    db: Session,
    caller: Caller,
    access: AccessSettings,
    account: str,
    report_id: int,
    body: bodies.ReportBody,
) -> tuple[m.Project, m.Report]:
    """The PI submits one report, once. Refused (nothing changed): 404 for a project the
    caller is not in or a report not of this project, 403 for anyone but the PI (staff
    included: the report is the PI's word), 409 for a report already submitted, 400 naming
    the field for what `policy.reports` finds wrong."""
    project, reports = project_reports(db, caller, access, account)
    report = next((r for r in reports if r.id == report_id), None)
    if report is None:
        raise not_found(f"report {report_id} of project {account}")
    if caller.name != project.pi:
        raise forbidden(f"only the PI of {account} ({project.pi}) submits its reports")
    if report.submitted_at is not None:
        when = report.submitted_at.date().isoformat()
        raise conflict(f"this {report.kind} report was submitted on {when}: it stands")
    products = [p.model_dump() for p in body.products]
    findings = submission_findings(report.kind, body.summary, products, body.acknowledged)
    if findings:
        raise AccessError(400, findings[0].message, findings[0].field)
    report.summary = body.summary.strip()
    report.products = products
    report.acknowledged = body.acknowledged
    report.submitted_by = caller.name
    report.submitted_at = now()
    event(db, caller.name, f"{report.kind} report", f"project {account}",
          report=report.id, due_on=report.due_on.isoformat(), products=len(products))  # fmt: skip
    return project, report


def staff_list(
    db: Session, caller: Caller, access: AccessSettings, today: date, state: str | None
) -> dict[str, list[dict[str, Any]]]:
    """Every project's reports and open-results obligations (staff only), optionally only
    those in `state`; what is overdue first, then by due date."""
    if not caller.manage:
        raise forbidden("only staff see every project's reports")
    query = select(m.Project).options(selectinload(m.Project.reports))
    projects = list(db.scalars(query.order_by(m.Project.account)))
    ensure_reports(db, access, projects)
    reports = [report_json(r, p, today) for p in projects for r in p.reports]
    obligations = [obligation_json(p, today) for p in projects if p.obligation]
    if state:
        reports = [r for r in reports if r["state"] == state]
        obligations = [o for o in obligations if o["state"] == state]
    return {"reports": sorted(reports, key=_order), "obligations": sorted(obligations, key=_order)}


def _order(row: dict[str, Any]) -> tuple:
    return (row["state"] != "overdue", row["due_on"] or "", row["account"])
