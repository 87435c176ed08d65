"""Usage and billing for support staff: every project's use against its allocation, the charge
for charged access, a CSV export, and the funder report, for a chosen period; and every
project's storage as last measured (from the funder report: a figure of now, not of the
period), with "Measure storage now".

Staff open it in the console's "Usage and billing" dashboard (scope
custom:aifactory:usage:read). It asks the factory service for two reports per period; the
service answers from the store, so a page view runs no sacct. "Export CSV" fetches the
service's own export and offers it as a download link (a data: URL): nothing is written on
the server, and a view that needs no CSV does not pay for one.
"""

from __future__ import annotations

import html
from datetime import date, timedelta
from typing import Any
from urllib.parse import urlencode

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import amount, plural, short_time
from aifactory_widgets.ui.panel import Panel
from aifactory_widgets.ui.tables import csv_link, html_table
from aifactory_widgets.usage.quota import freshness
from aifactory_widgets.usage.storage import size_text

API = "api/usage/"
PRESETS = ("This month", "Last month", "Last 30 days", "This year", "Custom")
BILLING_COLUMNS = ("project", "title", "mode", "PI", "GPU-h granted", "GPU-h in period",
                   "GPU-h to date", "CPU-h granted", "CPU-h in period", "CPU-h to date",
                   "used", "warning", "charge")  # fmt: skip
FUNDER_COLUMNS = ("", "projects", "GPU-h granted", "GPU-h used", "CPU-h granted", "CPU-h used")
LEVELS = {"none": "", "80": "80 %", "95": "95 %", "exhausted": "used up"}
STORAGE_COLUMNS = ("project", "title", "mode", "used", "entries", "allowance", "used %",
                   "warning", "measured")  # fmt: skip
STORAGE_LEVELS = {"none": "", "80": "80 %", "95": "95 %", "exhausted": "over allowance"}


def preset_period(name: str, today: date) -> tuple[date, date]:
    """The (first, last) day of a named period; both days are included."""
    if name == "Last month":
        last = today.replace(day=1) - timedelta(days=1)
        return last.replace(day=1), last
    if name == "Last 30 days":
        return today - timedelta(days=29), today
    if name == "This year":
        return today.replace(month=1, day=1), today
    return today.replace(day=1), today


def billing_rows(report: dict[str, Any]) -> list[tuple]:
    rows = []
    for r in report.get("rows") or []:
        g, p, t = r["granted"], r["period"], r["total"]
        share = "" if r.get("fraction_used") is None else f"{r['fraction_used']:.0%}"
        charge = f"{r['charge']} {report.get('currency', '')}" if r.get("charge") else "free"
        rows.append((
            r["account"], r["title"], str(r["access_mode"]).replace("_", " "), r["pi"],
            amount(g["gpu_hours"]), amount(p["gpu_hours"]), amount(t["gpu_hours"]),
            amount(g["cpu_hours"]), amount(p["cpu_hours"]), amount(t["cpu_hours"]),
            share, LEVELS.get(r["level"], r["level"]), charge,
        ))  # fmt: skip
    return rows


def funder_rows(rows: list[dict[str, Any]]) -> list[tuple]:
    return [
        (r["label"], r["projects"], amount(r["granted"]["gpu_hours"]),
         amount(r["used"]["gpu_hours"]), amount(r["granted"]["cpu_hours"]),
         amount(r["used"]["cpu_hours"]))
        for r in rows
    ]  # fmt: skip


def storage_rows(rows: list[dict[str, Any]]) -> list[tuple]:
    """The funder report's storage, one project per line ("at least" for a bounded scan)."""
    out = []
    for r in rows:
        at_least = "at least " if r.get("lower_bound") else ""
        used = "not measured" if r.get("used_gb") is None else at_least + size_text(r["used_gb"])
        allowance = r.get("allowance_gb")
        out.append((
            r["account"], r.get("title", ""), str(r.get("access_mode", "")).replace("_", " "),
            used, "" if r.get("files") is None else f"{r['files']:,}",
            f"{allowance:g} GB" if allowance else "none set",
            "" if r.get("percent") is None else f"{r['percent']:.1f} %",
            STORAGE_LEVELS.get(r.get("level", "none"), r.get("level")),
            short_time(r.get("measured_at")),
        ))  # fmt: skip
    return out


def storage_totals_text(report: dict[str, Any]) -> str:
    totals = report.get("storage_totals") or {}
    if not totals.get("projects"):
        return "<p>Storage has not been measured yet.</p>"
    at_least = "at least " if totals.get("lower_bound") else ""
    state = report.get("storage_pass") or {}
    when = short_time(state.get("last_success_at"))
    verb = "holds" if totals["projects"] == 1 else "hold"
    return (f"<p>{plural(totals['projects'], 'project')} {verb} {at_least}"
            f"{html.escape(size_text(totals.get('used_gb')))} in {totals.get('files', 0):,} "
            f"entries (last measured {html.escape(when)}).</p>")  # fmt: skip


def download_link(csv_text: str, first: date, last: date) -> str:
    """The period's CSV as a download link, its file named after the period."""
    lines = max(csv_text.count("\n") - 1, 0)
    name = f"usage-{first.isoformat()}-{last.isoformat()}.csv"
    return csv_link(csv_text, name, f"Download CSV ({lines} rows)")


class UsageDesk(Panel):
    """Period picker, billing table with totals and CSV, funder report (the viewer's own token
    by default)."""

    def __init__(self, client: FactoryClient | None = None, today: date | None = None):
        super().__init__(client or FactoryClient.from_env())
        self.today = today or date.today()
        first, last = preset_period("This month", self.today)
        self.preset = w.Dropdown(description="Period", options=PRESETS, value="This month")
        self.first = w.DatePicker(description="From", value=first)
        self.last = w.DatePicker(description="To", value=last)
        self.preset.observe(lambda _: self.run(self.pick_preset), "value")
        self.show_button = self.button("Show", self.load, icon="table", button_style="primary")
        self.collect_button = self.button(
            "Read accounting now", self.collect, icon="refresh", layout=w.Layout(width="auto")
        )
        self.export_button = self.button("Export CSV", self.export, icon="download")
        self.measure_button = self.button(
            "Measure storage now", self.measure, icon="hdd-o", layout=w.Layout(width="auto")
        )
        self.status = w.Label()
        self.totals = w.HTML()
        self.billing = w.HTML()
        self.download = w.HTML()
        self.by_mode = w.HTML()
        self.by_type = w.HTML()
        self.storage_totals = w.HTML()
        self.storage = w.HTML()
        self.report: dict[str, Any] = {}
        self.children = [
            w.HBox([self.preset, self.first, self.last, self.show_button]),
            w.HBox([self.collect_button, self.status]),
            self.message,
            w.HTML("<h3>Billing: every project, use against allocation</h3>"),
            self.totals,
            w.HBox([self.export_button, self.download]),
            self.billing,
            w.HTML("<h3>Funder report: hours by access mode</h3>"),
            self.by_mode,
            w.HTML("<h3>Funder report: hours by applicant type</h3>"),
            self.by_type,
            w.HTML("<h3>Storage: every project's folders, as last measured</h3>"),
            w.HBox([self.measure_button, self.storage_totals]),
            self.storage,
            self.errors,
        ]
        self.load()

    def pick_preset(self) -> None:
        if self.preset.value == "Custom":
            return
        self.first.value, self.last.value = preset_period(self.preset.value, self.today)
        self.load()

    def period_query(self) -> str:
        return urlencode({"from": self.first.value.isoformat(), "to": self.last.value.isoformat()})

    def load(self) -> None:
        """Read the billing report, its CSV and the funder report for the chosen period."""
        if self.first.value is None or self.last.value is None:
            self.say("Pick both days of the period first.", error=True)
            return
        query = self.period_query()
        report = self.attempt("Could not read the billing report",
                              lambda: self.client.get(f"{API}billing?{query}"))  # fmt: skip
        if report is None:
            return
        self.report = report
        self.say("")
        line, stale = freshness(report)
        self.say(line, error=stale, label=self.status)
        totals = report["totals"]
        self.totals.value = (
            f"<p><b>{html.escape(report['from'])} to {html.escape(report['to'])}</b>: "
            f"{amount(totals['gpu_hours'])} GPU-hours and "
            f"{amount(totals['cpu_hours'])} CPU-hours used; "
            f"charges {html.escape(totals['charge'])} {html.escape(report['currency'])} "
            f"(rates: {report['rates']['gpu_hour_eur']} {html.escape(report['currency'])} per "
            f"GPU-hour, {report['rates']['cpu_hour_eur']} per CPU-hour).</p>"
        )
        self.billing.value = html_table(BILLING_COLUMNS, billing_rows(report), empty="no projects")
        self.download.value = ""
        funder = self.attempt("Could not read the funder report",
                              lambda: self.client.get(f"{API}funder?{query}"))  # fmt: skip
        if funder is not None:
            self.by_mode.value = html_table(FUNDER_COLUMNS, funder_rows(funder["by_access_mode"]))
            self.by_type.value = html_table(
                FUNDER_COLUMNS, funder_rows(funder["by_applicant_type"])
            )
            self.storage_totals.value = storage_totals_text(funder)
            self.storage.value = html_table(
                STORAGE_COLUMNS, storage_rows(funder.get("storage") or []), empty="no projects"
            )

    def export(self) -> None:
        """The service's CSV of the period shown, as a download link."""
        if not self.report:
            return
        first, last = date.fromisoformat(self.report["from"]), date.fromisoformat(self.report["to"])
        query = urlencode({"from": first.isoformat(), "to": last.isoformat()})
        csv_text = self.attempt("Could not export the CSV",
                                lambda: self.client.text(f"{API}billing.csv?{query}"))  # fmt: skip
        self.download.value = download_link(csv_text, first, last) if csv_text else ""

    def measure(self) -> None:
        """Measure every project's folders now (the service walks them in a worker thread;
        a big site takes a while), then show the new figures."""
        state = self.attempt("Could not measure storage",
                             lambda: self.client.post(API + "storage"))  # fmt: skip
        if state is not None:
            self.load()

    def collect(self) -> None:
        state = self.attempt("Could not read accounting", lambda: self.client.post(API + "collect"))
        if state is not None:
            self.load()
