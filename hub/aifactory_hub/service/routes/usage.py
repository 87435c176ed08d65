"""The usage operations (docs/usage-api.md): projects' use against their allocations, and for
staff the billing and funder reports over a period, as JSON or CSV.

Everything here reads the store, which the accounting collector and the storage meter keep
current; no request runs sacct or walks a folder (except "collect now", which runs the
collector's one incremental read, and "measure storage now", the meter's one pass, in a
worker thread).
Reports over every project run in a worker thread, so a big site's report does not stall
the service's other requests.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from aifactory_hub.core.errors import AccessError, not_found
from aifactory_hub.data.storage_use import shared_meter
from aifactory_hub.service.base import Handler, Route, in_thread
from aifactory_hub.service.routes.access import caller_of
from aifactory_hub.site import Site, scopes
from aifactory_hub.usage import billing as bill
from aifactory_hub.usage import ledgers as usage

T = TypeVar("T")
MAX_PERIOD_DAYS = 3660
# Reports add a day to the end of a period: the year 9999 has no day after it.
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(2999, 12, 31)
RESEARCHER = (scopes.FACTORY_ACCESS,)
STAFF = (scopes.FACTORY_ACCESS, scopes.USAGE_READ)
_DAY = {"type": "string", "format": "date"}
PERIOD = {"from": _DAY, "to": _DAY}


def period(h: Handler, today: date | None = None) -> tuple[date, date]:
    """`?from=YYYY-MM-DD&to=YYYY-MM-DD`, both days included; default: this month so far."""
    today = today or date.today()
    days: dict[str, date] = {}
    for name, default in (("from", today.replace(day=1)), ("to", today)):
        text = h.get_query_argument(name, "")[:10]
        try:
            days[name] = date.fromisoformat(text) if text else default
        except ValueError:
            raise AccessError(400, "must be a date like 2026-11-01", name) from None
        if not FIRST_DAY <= days[name] <= LAST_DAY:
            raise AccessError(400, f"must be between {FIRST_DAY} and {LAST_DAY}", name)
    if days["to"] < days["from"]:
        raise AccessError(400, "the period ends before it starts", "to")
    if days["to"] - days["from"] > timedelta(days=MAX_PERIOD_DAYS):
        raise AccessError(400, f"a period is at most {MAX_PERIOD_DAYS} days", "from")
    return days["from"], days["to"]


async def my_usage(h: Handler) -> None:
    caller, staff = caller_of(h), h.holds(scopes.USAGE_READ)
    everyone = h.get_query_argument("all", "") in ("1", "true")
    if everyone and not staff:
        raise AccessError(403, f"{caller.name} lacks the scope {scopes.USAGE_READ}", "all")

    def read() -> dict[str, Any]:
        with h.store() as db:
            return usage.caller_usage(db, h.site, caller, staff, everyone=everyone)

    h.write_json(await in_thread(read))


async def project_usage(h: Handler, account: str) -> None:
    caller, staff = caller_of(h), h.holds(scopes.USAGE_READ)

    def read() -> dict[str, Any]:  # in a worker thread, as the other usage reads
        with h.store() as db:
            return usage.caller_usage(db, h.site, caller, staff, account=account)

    answer = await in_thread(read)
    if not answer["projects"]:
        raise not_found(f"project {account}")
    h.write_json({**answer, "project": answer.pop("projects")[0]})


async def _staff_report(h: Handler, build: Callable[..., T]) -> tuple[T, date, date]:
    """`build(db, site, first, last)` for the period asked, in a worker thread."""
    first, last = period(h)

    def read() -> T:
        with h.store() as db:
            return build(db, h.site, first, last)

    return await in_thread(read), first, last


async def billing_report(h: Handler) -> None:
    report, _, _ = await _staff_report(h, bill.billing)
    h.write_json(report)


def _csv(db: Session, site: Site, first: date, last: date) -> str:
    return bill.billing_csv(bill.billing(db, site, first, last))


async def billing_csv(h: Handler) -> None:
    text, first, last = await _staff_report(h, _csv)
    h.set_header("Content-Type", "text/csv; charset=utf-8")
    name = f"usage-{first.isoformat()}-{last.isoformat()}.csv"
    h.set_header("Content-Disposition", f'attachment; filename="{name}"')
    h.finish(text)


async def funder_report(h: Handler) -> None:
    report, _, _ = await _staff_report(h, bill.funder)
    h.write_json(report)


async def collect_now(h: Handler) -> None:
    """Run the collector's incremental read now, and say how it went. The collector is the
    service's one (its periodic task shares it), so two runs never overlap."""
    h.write_json(await h.context.collector.run_once())


async def measure_storage_now(h: Handler) -> None:
    """Measure every project's folders (and purge scratch) now, and say how it went. The
    meter is the service's one (its periodic pass shares it), so two passes never overlap."""
    h.write_json(await shared_meter(h.store, h.site).run_once())


routes: list[Route] = [
    Route("get", "usage", my_usage, "Your projects' usage (staff, ?all=1: every project's)",
          RESEARCHER, query={"all": {"type": "string", "enum": ["1", "true", "0", ""]}}),
    Route("get", "usage/projects/{account}", project_usage, "One project's usage", RESEARCHER),
    Route("get", "usage/billing", billing_report,
          "Billing over a period: every project (staff)", STAFF, query=PERIOD),
    Route("get", "usage/billing.csv", billing_csv, "The billing report as CSV (staff)", STAFF,
          query=PERIOD, content="text/csv"),
    Route("get", "usage/funder", funder_report,
          "Hours by access mode and applicant type (staff)", STAFF, query=PERIOD),
    Route("post", "usage/collect", collect_now, "Read accounting now (staff)", STAFF),
    Route("post", "usage/storage", measure_storage_now,
          "Measure every project's folders and purge scratch now (staff)", STAFF),
]  # fmt: skip
