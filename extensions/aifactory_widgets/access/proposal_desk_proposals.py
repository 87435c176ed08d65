"""The proposal desk's Proposals tab: filter, read a proposal, check it, assign its reviewers.

Requests come in the order their decision is due (the service's `sort=due`), each with its
service-level clock, and the overdue ones are named above the table: staff work from the top.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.proposal_view import (
    FIELD_COLUMNS,
    FINDING_COLUMNS,
    REVIEW_COLUMNS,
    clock_text,
    eligibility_rows,
    finding_rows,
    is_overdue,
    length_text,
    mode_label,
    option_text,
    proposal_html,
    review_rows,
    section,
    technical_rows,
)
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.format import number, yes_no
from aifactory_widgets.ui.panel import ERROR_COLOUR, ListPanel, refusal
from aifactory_widgets.ui.tables import html_table

PROPOSAL_COLUMNS = ("id", "applicant", "organisation", "title", "mode", "length", "status",
                    "clock", "eligible?", "score", "rank")  # fmt: skip
# Every state a submitted proposal can be in (drafts are the applicant's own business).
ORDERS = [("due first", "due"), ("arrival", "arrival")]
STATUSES = ("in_review", "ineligible", "granted", "partial", "waitlisted", "rejected", "withdrawn")


def proposal_rows(proposals: Sequence[dict[str, Any]]) -> list[tuple]:
    return [
        (
            p["id"],
            p.get("applicant", ""),
            p.get("organisation", ""),
            p.get("title", ""),
            mode_label(p),
            length_text(p.get("length_months")),
            str(p.get("status", "")).replace("_", " "),
            clock_text(p),
            yes_no((p.get("eligibility") or {}).get("eligible")),
            number(p.get("score")),
            number(p.get("rank")),
        )
        for p in proposals
    ]


def proposals_path(call_id: int | None, status: str | None, sort: str = "due") -> str:
    """`GET proposals` with only the filters that are set, in the order asked (`due`: what is
    due first; `arrival`: the first-come queue)."""
    query = {k: v for k, v in (("call", call_id), ("status", status)) if v is not None}
    return "api/proposals?" + urllib.parse.urlencode({**query, "sort": sort})


def overdue_text(proposals: Sequence[dict[str, Any]]) -> str:
    """'2 requests overdue: #8, #9' ('' when none is): the flag above the desk's table."""
    late = [f"#{p['id']}" for p in proposals if is_overdue(p)]
    if not late:
        return ""
    noun = "request is" if len(late) == 1 else "requests are"
    return f"{len(late)} {noun} overdue: {', '.join(late)}"


def staff_html(proposal: dict[str, Any]) -> str:
    """The shared proposal view plus what only staff see: eligibility and the technical check."""
    technical = proposal.get("technical_check") or {}
    eligibility = proposal.get("eligibility") or {}
    return (
        section("Eligibility", FIELD_COLUMNS, eligibility_rows(proposal), empty="-")
        + html_table(FINDING_COLUMNS, finding_rows(eligibility.get("findings", [])), "no findings")
        + proposal_html(proposal)
        + section("Technical check", FIELD_COLUMNS, technical_rows(proposal), empty="-")
        + html_table(
            FINDING_COLUMNS,
            finding_rows(technical.get("findings", [])),
            empty="no automatic findings",
        )
    )


class ProposalsPanel(ListPanel):
    """All proposals, filtered; one in full with the technical check and reviewer assignment."""

    noun = "proposal"
    columns = PROPOSAL_COLUMNS
    empty = "no proposals"

    def __init__(self, client: FactoryClient):
        super().__init__(client, pick="Proposal")
        self.call_filter = w.Dropdown(description="Call", options=[("all calls", None)])
        statuses = [(s.replace("_", " "), s) for s in STATUSES]
        self.status_filter = w.Dropdown(description="Status", options=[("any", None), *statuses])
        self.order = w.Dropdown(description="Order", options=ORDERS, value="due")
        self.details = w.HTML()
        self.overdue = w.Label()
        self.overdue.style.text_color = ERROR_COLOUR
        self.feasible = w.Checkbox(description="Feasible as requested", indent=False)
        self.notes = w.Textarea(
            placeholder="Notes of the technical check", layout=w.Layout(width="520px")
        )
        self.save_check = self.button("Save technical check", self.technical_check)
        self.reviewer = w.Text(placeholder="reviewer's user name")
        self.assign = self.button("Assign reviewer", self.assign_reviewer)
        self.assign_message = w.Label()
        self.reviews = w.HTML()
        self.actions = w.VBox(
            [
                w.HTML("<h4>Technical check by the centre</h4>"),
                self.feasible,
                self.notes,
                self.save_check,
                w.HTML("<h4>Reviewers</h4>"),
                w.HBox([self.reviewer, self.assign]),
                self.assign_message,
                self.reviews,
            ],
            layout=w.Layout(display="none"),
        )
        self.watch(self.call_filter, self.load)
        self.watch(self.status_filter, self.load)
        self.watch(self.order, self.load)
        self.children = [
            w.HBox([self.call_filter, self.status_filter, self.order]),
            self.overdue,
            self.table,
            self.pick,
            self.message,
            self.details,
            self.actions,
            self.errors,
        ]

    def set_calls(self, calls: Sequence[dict[str, Any]]) -> None:
        options = [
            ("all calls", None),
            *((option_text(c["id"], c["title"]), c["id"]) for c in calls),
        ]
        self.set_options(self.call_filter, options)

    def list_path(self) -> str:
        return proposals_path(self.call_filter.value, self.status_filter.value, self.order.value)

    def item_path(self, key: Any) -> str:
        return f"api/proposals/{key}"

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        # the table is rebuilt here after every read and every action: so is the overdue flag
        self.overdue.value = overdue_text(items)
        return proposal_rows(items)

    def option(self, item: dict[str, Any]) -> str:
        return option_text(item["id"], item.get("title", ""))

    def show_item(self, proposal: dict[str, Any] | None) -> None:
        self.assign_message.value = ""
        self.actions.layout.display = "none" if proposal is None else "flex"
        if proposal is None:
            self.details.value = ""
            return
        self.details.value = staff_html(proposal)
        check = proposal.get("technical_check") or {}
        self.feasible.value = bool(check.get("feasible"))
        self.notes.value = check.get("notes") or ""
        self.reviews.value = html_table(
            REVIEW_COLUMNS, review_rows(proposal.get("reviews", [])), empty="no reviewers yet"
        )

    def technical_check(self) -> None:
        if self.current is None:
            return
        pid = self.current["id"]
        body = {"feasible": self.feasible.value, "notes": self.notes.value}
        answer = self.attempt(
            f"The technical check of proposal {pid} was not saved",
            lambda: self.client.post(f"api/proposals/{pid}/technical-check", body),
        )
        if answer is not None:
            self.show(answer)
            self.say(f"Technical check of proposal {pid} saved.")

    def assign_reviewer(self) -> None:
        if self.current is None:
            return
        pid, name = self.current["id"], self.reviewer.value.strip()
        if not name:
            self.say("Give the reviewer's user name.", error=True, label=self.assign_message)
            return
        try:
            answer = self.client.post(f"api/proposals/{pid}/reviewers", {"reviewer": name})
        except FactoryError as exc:
            # 409 here is what the service answers for a conflict of interest.
            why = " (conflict)" if exc.status == 409 else ""
            text = f"{name} was not assigned to proposal {pid}{why}: {refusal(exc)}"
            self.say(text, error=True, label=self.assign_message)
            return
        self.show(answer)
        self.reviewer.value = ""
        self.say(f"{name} now reviews proposal {pid}.", label=self.assign_message)
