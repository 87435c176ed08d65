"""How a proposal reads on the staff and reviewer desks: pure functions from the service's JSON.

Both desks must show a proposal the same way (a reviewer and the support staff discussing it
look at the same words), so its rows are made here once. Every value goes out through
`html_table`, which escapes it: titles, abstracts and data-source names are applicant text.
Codes are shown by the labels the access policy gives them, so the desks never drift from it.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from enum import StrEnum
from typing import Any

from aifactory_hub.policy.model import (
    ApplicantType,
    HighRiskArea,
    LegalBasis,
    ProhibitedPractice,
)
from aifactory_widgets.ui.format import number, yes_no
from aifactory_widgets.ui.tables import html_table

FIELD_COLUMNS = ("field", "value")
ETHICS_COLUMNS = ("question", "applicant's answer")
REQUEST_COLUMNS = ("partition", "GPU hours", "CPU hours")
FINDING_COLUMNS = ("field", "finding")
CATALOGUE_COLUMNS = ("catalogue item", "licence", "commercial use")
REVIEW_COLUMNS = ("reviewer", "quality", "pertinence", "comment", "submitted")
DECIDED = frozenset({"granted", "partial", "waitlisted", "rejected"})


def labels(kind: type[StrEnum]) -> dict[str, str]:
    """{code: human label} of one of the policy's enumerations, in its order."""
    return {member.value: member.label for member in kind}


def mode_label(record: dict[str, Any], key: str = "access_mode") -> str:
    """An access mode's label as the service sent it (modes are site data), else its code."""
    return record.get(f"{key}_label") or record.get(key) or ""


def clock_text(proposal: dict[str, Any]) -> str:
    """The service-level clock of a submitted request, in words, from the service's fields
    (`clock` running|due|overdue|decided, `decision_due_on`, `cutoff_on`, `decided_at`,
    `waiting_ahead`); no clock (a draft, or a request that left without a decision) is ""."""
    p = proposal
    state, due, cutoff = p.get("clock"), p.get("decision_due_on"), p.get("cutoff_on")
    if state == "decided":
        return f"decided {str(p.get('decided_at') or '')[:10]}".strip()
    if state is None or not due:
        return ""
    if state == "overdue":
        text = f"overdue: decision expected by {due}"
    elif state == "due":
        text = f"decision expected today, {due}"
    else:
        text = f"decision expected by {due}"
    if cutoff:
        text += f" (reviewed after the cut-off on {cutoff})"
    ahead = p.get("waiting_ahead")
    if ahead:
        text += f"; {ahead} earlier request{'s' if ahead != 1 else ''} checked first"
    return text


def is_overdue(proposal: dict[str, Any]) -> bool:
    return proposal.get("clock") == "overdue" or bool(proposal.get("overdue"))


def length_text(months: Any) -> str:
    """An allocation length: 1 -> '1 month', 6 -> '6 months'; None -> ''."""
    if months is None:
        return ""
    return f"{months} month" + ("" if months == 1 else "s")


def label(kind: type[StrEnum], code: str | None) -> str:
    """The policy's human label for `code`; an unknown code is shown as it is, not hidden."""
    if code is None:
        return ""
    try:
        return str(getattr(kind(code), "label", code))
    except ValueError:
        return str(code)


def request_rows(requests: Iterable[dict[str, Any]]) -> list[tuple]:
    return [
        (r["partition"], number(r.get("gpu_hours")), number(r.get("cpu_hours"))) for r in requests
    ]


def hours_text(requests: Iterable[dict[str, Any]]) -> str:
    """Requests in one cell: 'gpu: 200 GPU h, 800 CPU h; cpu: 0 GPU h, 50 CPU h'."""
    return "; ".join(
        f"{r['partition']}: {number(r.get('gpu_hours', 0))} GPU h, "
        f"{number(r.get('cpu_hours', 0))} CPU h"
        for r in requests
    )


def summary_rows(proposal: dict[str, Any]) -> list[tuple[str, str]]:
    """Who asks, for what, with which software: the part of a proposal a reviewer scores."""
    p = proposal
    rows = [
        ("Title", p.get("title", "")),
        ("Applicant", p.get("applicant", "")),
        ("Organisation", p.get("organisation", "")),
        ("Applicant type", label(ApplicantType, p.get("applicant_type"))),
        ("Access mode", mode_label(p)),
        ("Allocation length", length_text(p.get("length_months"))),
        ("Decision", clock_text(p)),
        ("Status", str(p.get("status", "")).replace("_", " ")),
        ("Abstract", p.get("abstract", "")),
        ("Software", p.get("software", "")),
        ("Results published openly", yes_no(p.get("open_results"))),
        ("Public funding", yes_no(p.get("public_funding"))),
    ]
    if p.get("academic_partner"):
        rows.append(("Academic partner", p["academic_partner"]))
    return rows


def ethics_rows(ethics: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The applicant's ethics self-assessment in words (EU AI Act Art. 5 and Annex III, GDPR)."""
    if not ethics:
        return [("Ethics self-assessment", "not filled in")]
    practices = [label(ProhibitedPractice, code) for code in ethics.get("prohibited_practices", [])]
    sources = [
        f"{s.get('name', '')} ({s.get('licence') or 'licence not given'})"
        for s in ethics.get("data_sources", [])
    ]
    personal = bool(ethics.get("personal_data"))
    return [
        ("Intended use", ethics.get("intended_use", "")),
        ("Prohibited practices (AI Act Art. 5)", "; ".join(practices) or "none declared"),
        ("High-risk area (AI Act Annex III)", label(HighRiskArea, ethics.get("high_risk_area"))),
        ("Mitigation plan", ethics.get("mitigation_plan") or "none given"),
        ("Personal data", yes_no(personal)),
        (
            "Legal basis (GDPR Art. 6)",
            label(LegalBasis, ethics.get("legal_basis")) or ("not given" if personal else "-"),
        ),
        ("Data sources and licences", "; ".join(sources) or "none listed"),
        ("Transparency obligations acknowledged", yes_no(ethics.get("transparency_acknowledged"))),
    ]


def catalogue_rows(proposal: dict[str, Any]) -> list[tuple[str, str, str]]:
    """The catalogue items the proposal names, with their licences as the service gives
    them (`catalogue_items`); an item the catalogue no longer lists is said to be so."""
    shown = proposal.get("catalogue_items")
    if shown is None:  # an answer without the licences: the names alone
        shown = [{"name": n, "known": True} for n in proposal.get("catalogue") or []]
    rows = []
    for item in shown:
        if not item.get("known", True):
            rows.append((item["name"], "no longer in the catalogue", ""))
            continue
        licence = item.get("licence") or ""
        if item.get("licence_url"):
            licence = f"{licence} ({item['licence_url']})"
        allowed = item.get("commercial_use")
        rows.append((item["name"], licence, "" if allowed is None else yes_no(allowed)))
    return rows


def finding_rows(findings: Iterable[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(f.get("field", ""), f.get("message", "")) for f in findings]


def eligibility_rows(proposal: dict[str, Any]) -> list[tuple[str, str]]:
    eligibility = proposal.get("eligibility") or {}
    rows = [("Eligible", yes_no(eligibility.get("eligible"), unknown="not checked yet"))]
    if eligibility.get("ineligible_reason"):
        rows.append(("Why not", eligibility["ineligible_reason"]))
    return rows


def technical_rows(proposal: dict[str, Any]) -> list[tuple[str, str]]:
    check = proposal.get("technical_check") or {}
    return [
        ("Feasible", yes_no(check.get("feasible"), unknown="not checked yet")),
        ("Notes", check.get("notes", "")),
        ("Checked by", check.get("checked_by") or ""),
    ]


def review_rows(reviews: Iterable[dict[str, Any]]) -> list[tuple]:
    return [
        (
            r.get("reviewer", ""),
            number(r.get("quality")),
            number(r.get("pertinence")),
            r.get("comment", ""),
            yes_no(r.get("submitted")),
        )
        for r in reviews
    ]


def section(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]], empty: str) -> str:
    """A heading and its table; the heading is escaped like the cells."""
    return f"<h4>{html.escape(title)}</h4>" + html_table(columns, rows, empty=empty)


def proposal_html(proposal: dict[str, Any]) -> str:
    """What both desks show of a proposal: summary, requested hours, the ethics answers and
    the catalogue items it names with their licences."""
    return (
        section("Proposal", FIELD_COLUMNS, summary_rows(proposal), empty="-")
        + section("Requested", REQUEST_COLUMNS, request_rows(proposal.get("requests", [])), "none")
        + section("Ethics", ETHICS_COLUMNS, ethics_rows(proposal.get("ethics")), empty="-")
        + section("Catalogue items", CATALOGUE_COLUMNS, catalogue_rows(proposal), "none named")
    )


def option_text(item_id: Any, title: str, width: int = 60) -> str:
    """A Dropdown option for a proposal or call: id and a title cut to fit the menu."""
    title = " ".join(str(title).split())
    return f"{item_id}: {title if len(title) <= width else title[: width - 1] + '…'}"
