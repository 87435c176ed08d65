"""The staff's view of obligations after the grant: every project's progress and final
reports, and its open-results obligation, by state (overdue first, then by due date).

Staff read a submitted report here (its summary and products); they do not submit one (the
PI does, from their own widget). An open-results obligation left unmet is re-priced from the
proposal desk's Projects tab, as before.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.reports import products_table, report_name, state_text
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import short_time
from aifactory_widgets.ui.panel import Panel
from aifactory_widgets.ui.tables import html_table

STATES = (("everything", ""), ("overdue", "overdue"), ("due soon", "due"),
          ("upcoming", "upcoming"), ("submitted", "submitted"))  # fmt: skip
REPORT_COLUMNS = ("account", "PI", "report", "due on", "state", "submitted", "products")
OBLIGATION_COLUMNS = ("account", "PI", "obligation", "due on", "state", "link", "charged")


def report_rows(reports: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [
        (r.get("account", ""), r.get("pi", ""), report_name(r), r.get("due_on") or "",
         state_text(r), short_time(r.get("submitted_at")), len(r.get("products") or []))
        for r in reports
    ]  # fmt: skip


def obligation_rows(obligations: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [
        (o.get("account", ""), o.get("pi", ""), o.get("obligation", ""), o.get("due_on") or "",
         state_text(o), o.get("url") or "", "yes" if o.get("charged") else "no")
        for o in obligations
    ]  # fmt: skip


class ReportsDesk(Panel):
    """Reports and open-results obligations across projects, filtered by state (the viewer's
    own token by default: the service lists them for staff only)."""

    def __init__(self, client: FactoryClient | None = None):
        super().__init__(client or FactoryClient.from_env())
        self.listed: dict[str, list[dict[str, Any]]] = {"reports": [], "obligations": []}
        self.state = w.Dropdown(description="Show", options=list(STATES), value="")
        self.watch(self.state, self.load)
        self.refresh_button = self.button("Refresh", self.load, icon="refresh")
        self.counts = w.Label()
        self.reports = w.HTML()
        self.pick = w.Dropdown(description="Read", options=[], layout=w.Layout(width="520px"))
        self.watch(self.pick, self.show_report)
        self.details = w.HTML()
        self.obligations = w.HTML()
        self.children = [
            w.HTML("<h3>Reports and obligations</h3>"),
            w.HBox([self.state, self.refresh_button, self.message]),
            self.counts,
            self.reports,
            self.pick,
            self.details,
            w.HTML("<h4>Open-results obligations</h4>"),
            self.obligations,
            self.errors,
        ]
        self.load()

    def load(self) -> None:
        state = self.state.value
        path = "api/reports" + (f"?status={state}" if state else "")
        listed = self.attempt("Could not read the reports", lambda: self.client.get(path))
        if listed is None:
            return
        self.say("")
        self.listed = listed
        reports, obligations = listed.get("reports") or [], listed.get("obligations") or []
        overdue = sum(r.get("state") == "overdue" for r in reports)
        self.counts.value = (
            f"{len(reports)} reports ({overdue} overdue), {len(obligations)} obligations"
        )
        self.reports.value = html_table(REPORT_COLUMNS, report_rows(reports), empty="none")
        self.obligations.value = html_table(
            OBLIGATION_COLUMNS, obligation_rows(obligations), empty="none"
        )
        submitted = [r for r in reports if r.get("state") == "submitted"]
        options = [
            (f"{r.get('account')}: {report_name(r)} due {r.get('due_on')}", r["id"])
            for r in submitted
        ]
        self.set_options(self.pick, options)
        self.show_report()

    def show_report(self) -> None:
        """A submitted report's summary and products (the pick lists only submitted ones)."""
        report = next(
            (r for r in self.listed.get("reports") or [] if r["id"] == self.pick.value), None
        )
        if report is None:
            self.details.value = ""
            return
        acknowledged = "confirmed" if report.get("acknowledged") else "not confirmed"
        self.details.value = (
            f"<p>{html.escape(str(report.get('summary') or ''))}</p>"
            f"<p>Submitted by {html.escape(str(report.get('submitted_by') or ''))} on "
            f"{html.escape(short_time(report.get('submitted_at')))}; acknowledgement "
            f"{acknowledged}.</p>" + products_table(report)
        )
