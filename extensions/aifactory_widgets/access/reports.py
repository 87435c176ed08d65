"""A researcher's reports: pick a project, see the progress and final reports it owes (due
date, state), and, as its PI, write and submit one: a summary, the products (paper, model,
dataset, code) with their links, and the confirmation that publications carry the site's
acknowledgement text.

What the widget finds wrong (the same rules as the service: `policy.reports`) is shown
before anything is sent; the service checks again and its refusals show with their field.
A member who is not the PI sees the reports but no form: only the PI submits.
"""

from __future__ import annotations

import html
import os
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import ipywidgets as w

from aifactory_hub.policy.reports import MIN_SUMMARY_CHARS, PRODUCT_KINDS, submission_findings
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import short_time
from aifactory_widgets.ui.panel import ERROR_COLOUR, Panel
from aifactory_widgets.ui.tables import html_table

API = "api/"
REPORT_COLUMNS = ("report", "due on", "state", "submitted")
PRODUCT_COLUMNS = ("kind", "title", "link")
NO_ACKNOWLEDGEMENT = "(the site's acknowledgement text could not be read)"
STATE_WORDS = {"overdue": "OVERDUE", "due": "due soon", "upcoming": "upcoming",
               "submitted": "submitted"}  # fmt: skip


def report_name(report: Mapping[str, Any]) -> str:
    return f"{report.get('kind', '')} report".capitalize()


def state_text(report: Mapping[str, Any]) -> str:
    state = str(report.get("state") or "")
    return STATE_WORDS.get(state, state)


def report_rows(reports: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [
        (report_name(r), r.get("due_on") or "", state_text(r), short_time(r.get("submitted_at")))
        for r in reports
    ]


def report_option(report: Mapping[str, Any]) -> str:
    """How a report reads in the picker: text, never markup."""
    return f"{report_name(report)} due {report.get('due_on', '')} ({state_text(report)})"


def product_rows(products: Sequence[Mapping[str, Any]]) -> list[tuple]:
    return [(p.get("kind", ""), p.get("title", ""), p.get("url", "")) for p in products]


def products_table(report: Mapping[str, Any]) -> str:
    """A submitted report's products as a table (the researcher's and the staff's view)."""
    rows = product_rows(report.get("products") or [])
    return html_table(PRODUCT_COLUMNS, rows, empty="no products listed")


class ProductRow(w.HBox):
    """One product being written: its kind, title and link, and a button to drop it."""

    def __init__(self, on_remove):
        self.kind = w.Dropdown(options=list(PRODUCT_KINDS), value="paper",
                               layout=w.Layout(width="110px"))  # fmt: skip
        self.title = w.Text(placeholder="title", layout=w.Layout(width="280px"))
        self.url = w.Text(placeholder="https://... (where it is public)",
                          layout=w.Layout(width="320px"))  # fmt: skip
        self.remove = w.Button(description="Remove", layout=w.Layout(width="80px"))
        self.remove.on_click(lambda _: on_remove(self))
        super().__init__([self.kind, self.title, self.url, self.remove])

    def value(self) -> dict[str, str]:
        return {"kind": self.kind.value, "title": self.title.value.strip(),
                "url": self.url.value.strip()}  # fmt: skip


class MyReports(Panel):
    """The caller's projects' reports; the PI of one submits them here. The session's own
    token by default; `me` is the hub user (JUPYTERHUB_USER by default)."""

    def __init__(self, client: FactoryClient | None = None, me: str | None = None):
        super().__init__(client or FactoryClient.from_env())
        self.me = os.environ.get("JUPYTERHUB_USER", "") if me is None else me
        self.projects: dict[str, dict[str, Any]] = {}
        self.reports: dict[int, dict[str, Any]] = {}
        self.acknowledgement = NO_ACKNOWLEDGEMENT
        self.refresh_button = self.button("Refresh", self.refresh, icon="refresh")
        self.project = w.Dropdown(description="Project", options=[],
                                  layout=w.Layout(width="520px"))  # fmt: skip
        self.watch(self.project, self.load_reports)
        self.table = w.HTML()
        self.pick = w.Dropdown(description="Report", options=[], layout=w.Layout(width="520px"))
        self.watch(self.pick, self.show_report)
        self.details = w.HTML()
        self.summary = w.Textarea(
            placeholder=f"What was done and what came of it (at least {MIN_SUMMARY_CHARS} "
            "characters)",
            layout=w.Layout(width="720px", height="120px"),
        )
        self.products = w.VBox()
        self.add_product_button = self.button("Add product", self.add_product, icon="plus")
        self.acknowledgement_text = w.HTML()
        self.acknowledged = w.Checkbox(
            description="Our publications carry this acknowledgement",
            indent=False,
            layout=w.Layout(width="auto"),
        )
        self.submit_button = self.button("Submit report", self.submit, button_style="primary")
        self.findings = w.VBox()
        self.form = w.VBox([
            w.HTML("<b>Summary</b>"), self.summary,
            w.HTML("<b>Products</b> (papers, models, datasets, code, with links)"),
            self.products, self.add_product_button,
            w.HTML("<b>Acknowledgement</b>"), self.acknowledgement_text, self.acknowledged,
            self.submit_button, self.findings,
        ])  # fmt: skip
        self.children = [
            w.HBox([self.refresh_button, self.message]),
            self.project,
            self.table,
            self.pick,
            self.details,
            self.form,
            self.errors,
        ]
        self.refresh()

    # --- reading ---------------------------------------------------------------------------

    def refresh(self) -> None:
        """Read the site's acknowledgement text and the caller's projects again."""
        site = self.attempt("Could not read the site", lambda: self.client.get(API + "site"))
        text = ((site or {}).get("access") or {}).get("acknowledgement")
        self.acknowledgement = str(text) if text else NO_ACKNOWLEDGEMENT
        projects = self.attempt(
            "Could not read your projects", lambda: self.client.get(API + "projects")
        )
        if projects is None:
            return
        self.projects = {p["account"]: p for p in projects}
        options = [(f"{p['account']}: {p.get('title') or ''}", p["account"]) for p in projects]
        self.set_options(self.project, options)
        self.say("" if projects else "You are not a member of any project.")
        self.load_reports()

    def _path(self, *parts: str) -> str:
        return API + "/".join(["projects", *(quote(str(p), safe="") for p in parts)])

    def load_reports(self) -> None:
        account = self.project.value
        if account is None:
            self._show_reports([])
            return
        reports = self.attempt(
            f"Could not read the reports of {account}",
            lambda: self.client.get(self._path(account, "reports")),
        )
        self._show_reports(reports or [])

    def _show_reports(self, reports: Sequence[dict[str, Any]]) -> None:
        self.reports = {r["id"]: r for r in reports}
        self.table.value = html_table(
            REPORT_COLUMNS, report_rows(reports), empty="this project owes no reports"
        )
        # what is still to submit first, the earliest first
        order = sorted(reports, key=lambda r: (r.get("state") == "submitted", r.get("due_on")))
        self.set_options(self.pick, [(report_option(r), r["id"]) for r in order])
        self.show_report()

    @property
    def is_pi(self) -> bool:
        project = self.projects.get(self.project.value) or {}
        return bool(self.me) and project.get("pi") == self.me

    @property
    def current(self) -> dict[str, Any] | None:
        return self.reports.get(self.pick.value)

    def show_report(self) -> None:
        """The picked report: read-only once submitted; a form for its PI before that."""
        report = self.current
        self.findings.children = []
        open_for_pi = report is not None and report.get("state") != "submitted" and self.is_pi
        self.form.layout.display = "flex" if open_for_pi else "none"
        if report is None:
            self.details.value = ""
            return
        if report.get("state") == "submitted":
            self.details.value = (
                f"<p>Submitted by {_escape(report.get('submitted_by'))} on "
                f"{_escape(short_time(report.get('submitted_at')))}.</p>"
                f"<p>{_escape(report.get('summary'))}</p>" + products_table(report)
            )
            return
        project = self.projects.get(self.project.value) or {}
        if not self.is_pi:
            self.details.value = _escape(
                f"Only the PI of {project.get('account', '')} ({project.get('pi', '')}) "
                "submits its reports."
            )
            return
        final = report.get("kind") == "final"
        need = "required for the final report" if final else "optional for a progress report"
        self.details.value = _escape(f"{report_option(report)}.")
        self.acknowledgement_text.value = (
            f"<blockquote>{_escape(self.acknowledgement)}</blockquote><i>{need}</i>"
        )

    # --- writing ---------------------------------------------------------------------------

    def add_product(self) -> None:
        self.products.children = [*self.products.children, ProductRow(self.remove_product)]

    def remove_product(self, row: ProductRow) -> None:
        self.products.children = [r for r in self.products.children if r is not row]

    def body(self) -> dict[str, Any]:
        products = [row.value() for row in self.products.children]
        return {"summary": self.summary.value, "products": products,
                "acknowledged": bool(self.acknowledged.value)}  # fmt: skip

    def submit(self) -> None:
        """Check as the service will, then send; the answer (or the refusal) is shown."""
        report = self.current
        if report is None or not self.is_pi:
            return
        body = self.body()
        found = submission_findings(
            str(report.get("kind")), body["summary"], body["products"], body["acknowledged"]
        )
        if found:
            self.findings.children = [_red(f"{f.field}: {f.message}") for f in found]
            self.say("Not sent: fix what is listed below the form.", error=True)
            return
        path = self._path(self.project.value, "reports", str(report["id"]))
        done = self.attempt(
            f"Could not submit the {report.get('kind')} report",
            lambda: self.client.put(path, body),
        )
        if done is None:
            return
        self.summary.value = ""
        self.products.children = []
        self.acknowledged.value = False
        self.reports[done["id"]] = done
        self._show_reports(list(self.reports.values()))  # the pick stays on this report
        self.say(f"{report_name(done)} due {done.get('due_on')} submitted.")


def _escape(value: Any) -> str:
    return html.escape("" if value is None else str(value))


def _red(text: str) -> w.Label:
    label = w.Label(text)
    label.style.text_color = ERROR_COLOUR
    return label
