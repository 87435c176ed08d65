"""Obligations after the grant: the progress and final reports a project owes, when each is
due, and what a submission must hold. Pure: dates come in as arguments (`today` included),
nothing is read or stored here.

- Progress reports: one `progress_report_months` after the start for each month the access
  mode lists (site data, `ModeSettings.progress_report_months`), only those that fall before
  the allocation ends (a 3-month project in a mode that asks at 1, 3 and 9 months owes one).
- The final report: `FINAL_REPORT_DAYS` after the allocation ends, for every granted project.
  It is a module constant rather than a site setting: the access settings belong to the
  site's lead, and 30 days is what the published terms ask; it moves to the site file if a
  centre needs another number.
- A report may be submitted early, whenever the PI is ready: the due date is a deadline, not
  an opening. It is submitted once.
- What a submission holds: a summary of at least `MIN_SUMMARY_CHARS` characters; products
  (paper, model, dataset or code) each with a title and an http(s) link; and, for the final
  report, the PI's confirmation that publications carry the site's acknowledgement text.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any, Literal

from aifactory_hub.policy.clocks import add_months
from aifactory_hub.policy.eligibility import Finding
from aifactory_hub.policy.model import Frozen
from aifactory_hub.policy.settings import ModeSettings

FINAL_REPORT_DAYS = 30  # the final report is due this many days after the allocation ends
NOTICE_DAYS = 30  # a report is "due" (shown as such) this many days before its date
MIN_SUMMARY_CHARS = 40
MAX_SUMMARY_CHARS = 20_000
MAX_PRODUCTS = 50
MAX_TITLE_CHARS = 300
MAX_URL_CHARS = 500
URL_PATTERN = r"^https?://[^\s/?#]+[^\s]*$"  # a scheme, a host, no spaces

ReportKind = Literal["progress", "final"]
ProductKind = Literal["paper", "model", "dataset", "code"]
ReportState = Literal["submitted", "overdue", "due", "upcoming"]
REPORT_KINDS: tuple[str, ...] = ("progress", "final")
PRODUCT_KINDS: tuple[str, ...] = ("paper", "model", "dataset", "code")
REPORT_STATES: tuple[str, ...] = ("submitted", "overdue", "due", "upcoming")


class Owed(Frozen):
    """One report a project owes: its kind and the date it is due."""

    kind: ReportKind
    due_on: date


def reports_owed(mode: ModeSettings | None, starts_on: date, ends_on: date) -> list[Owed]:
    """The reports a project from `starts_on` to `ends_on` owes under `mode`, by due date.

    A mode the site no longer lists (None) still owes the final report: the grant was made.
    """
    months = mode.progress_report_months if mode is not None else ()
    progress = {add_months(starts_on, n) for n in months}
    owed = [Owed(kind="progress", due_on=d) for d in sorted(progress) if d < ends_on]
    owed.append(Owed(kind="final", due_on=final_due(ends_on)))
    return owed


def final_due(ends_on: date) -> date:
    """When the final report is due: `FINAL_REPORT_DAYS` after the allocation ends."""
    return ends_on + timedelta(days=FINAL_REPORT_DAYS)


def report_state(due_on: date, submitted: bool, today: date) -> ReportState:
    """`submitted`; `overdue` once its date has passed; `due` from `NOTICE_DAYS` before it
    up to and including its date; `upcoming` before that."""
    if submitted:
        return "submitted"
    if today > due_on:
        return "overdue"
    return "due" if today >= due_on - timedelta(days=NOTICE_DAYS) else "upcoming"


def _url_ok(url: str) -> bool:
    return len(url) <= MAX_URL_CHARS and re.fullmatch(URL_PATTERN, url) is not None


def _product_findings(index: int, product: Any) -> Iterable[Finding]:
    where = f"products.{index}"
    if not isinstance(product, Mapping):
        yield Finding(field=where, message="a product is a kind, a title and a link")
        return
    if product.get("kind") not in PRODUCT_KINDS:
        yield Finding(field=f"{where}.kind", message="one of " + ", ".join(PRODUCT_KINDS))
    title = product.get("title")
    if not isinstance(title, str) or not title.strip():
        yield Finding(field=f"{where}.title", message="give the product's title")
    elif len(title) > MAX_TITLE_CHARS:
        yield Finding(field=f"{where}.title", message=f"at most {MAX_TITLE_CHARS} characters")
    url = product.get("url")
    if not isinstance(url, str) or not _url_ok(url):
        yield Finding(
            field=f"{where}.url",
            message="a link that starts with http:// or https:// (where the product is public)",
        )


def submission_findings(
    kind: str, summary: str, products: Sequence[Any], acknowledged: bool
) -> list[Finding]:
    """What is wrong with a report as submitted, each naming its field (none: it may be
    submitted). The final report must confirm the acknowledgement; a progress report may."""
    findings: list[Finding] = []
    if kind not in REPORT_KINDS:
        findings.append(Finding(field="kind", message="one of " + ", ".join(REPORT_KINDS)))
    text = summary.strip()
    if len(text) < MIN_SUMMARY_CHARS:
        findings.append(
            Finding(
                field="summary",
                message=f"write a summary of at least {MIN_SUMMARY_CHARS} characters "
                f"(what was done, what came out of it); this one has {len(text)}",
            )
        )
    elif len(summary) > MAX_SUMMARY_CHARS:
        findings.append(Finding(field="summary", message=f"at most {MAX_SUMMARY_CHARS} characters"))
    if len(products) > MAX_PRODUCTS:
        findings.append(Finding(field="products", message=f"at most {MAX_PRODUCTS} products"))
    for index, product in enumerate(products):
        findings.extend(_product_findings(index, product))
    if kind == "final" and not acknowledged:
        findings.append(
            Finding(
                field="acknowledged",
                message="confirm that publications carry the acknowledgement text",
            )
        )
    return findings
