"""Reports and obligations after the grant (docs/access-api.md): a project's progress and
final reports, the PI's submission, and the staff's list of what is due, overdue or
submitted, open-results obligations included. Parse, authorise, call `access.reports`,
answer JSON.

Reading a project's reports makes the ones it owes (`access.reports.ensure_reports`); two
first readers at the same moment may both try, and the store's unique constraint refuses
the second: its request is then run once more, and finds them made.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import TypeVar

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from aifactory_hub.access import bodies
from aifactory_hub.access import reports as rep
from aifactory_hub.core.errors import AccessError
from aifactory_hub.policy.reports import REPORT_STATES
from aifactory_hub.service.base import Handler, Route
from aifactory_hub.service.routes.access import RESEARCHER, STAFF, caller_of

T = TypeVar("T")


def _in_transaction(h: Handler, work: Callable[[Session], T]) -> T:
    """`work` in one store transaction, run a second time if a concurrent first read made
    the same reports (an IntegrityError on the unique (project, kind, due date))."""
    try:
        with h.store.begin() as db:
            return work(db)
    except IntegrityError:
        with h.store.begin() as db:
            return work(db)


async def project_reports(h: Handler, account: str) -> None:
    caller, today = caller_of(h), date.today()

    def read(db: Session) -> list:
        project, reports = rep.project_reports(db, caller, h.site.access, account)
        return [rep.report_json(r, project, today) for r in reports]

    h.write_json(_in_transaction(h, read))


async def submit_report(h: Handler, account: str, report_id: str) -> None:
    body = h.body(bodies.ReportBody)
    caller, today = caller_of(h), date.today()

    def submit(db: Session) -> dict:
        project, report = rep.submit_report(
            db, caller, h.site.access, account, int(report_id), body
        )
        return rep.report_json(report, project, today)

    h.write_json(_in_transaction(h, submit))


async def all_reports(h: Handler) -> None:
    state = h.get_query_argument("status", "")
    if state and state not in REPORT_STATES:
        raise AccessError(400, f"status is one of {', '.join(REPORT_STATES)}", "status")
    caller, today = caller_of(h), date.today()
    listed = _in_transaction(
        h, lambda db: rep.staff_list(db, caller, h.site.access, today, state or None)
    )
    h.write_json(listed)


REPORT_QUERY = {"status": {"type": "string", "enum": list(REPORT_STATES)}}

routes: list[Route] = [
    Route("get", "projects/{account}/reports", project_reports,
          "A project's progress and final reports (its members; staff)", RESEARCHER),
    Route("put", "projects/{account}/reports/{id}", submit_report,
          "Submit a report (the project's PI, once)", RESEARCHER, body=bodies.ReportBody),
    Route("get", "reports", all_reports,
          "Every project's reports and open-results obligations by state (staff)", STAFF,
          query=REPORT_QUERY),
]  # fmt: skip
