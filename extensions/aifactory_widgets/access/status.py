"""What became of a researcher's access: their proposals, and the projects they were granted.

Both widgets show what the factory service answers and nothing more: the service already
leaves reviewer names out for applicants and decides who may change a project. The PI's
controls here are a convenience; the service checks the PI again on every request.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import quote

import ipywidgets as w

from aifactory_widgets.access.form import API, error_text, finding_text
from aifactory_widgets.access.proposal_view import (
    clock_text,
    hours_text,
    is_overdue,
    length_text,
    mode_label,
)
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.tables import html_table

PROPOSAL_COLUMNS = (
    "id",
    "title",
    "call / mode",
    "status",
    "length",
    "clock",
    "score",
    "rank",
    "decision",
    "price",
    "project",
)
REVIEW_COLUMNS = ("quality", "pertinence", "comment")
ALLOCATION_COLUMNS = ("partition", "GPU hours", "CPU hours")


def decision_text(decision: Mapping[str, Any] | None) -> str:
    """The decision, with the hours granted when some were."""
    if not decision:
        return ""
    status, granted = str(decision.get("status") or ""), decision.get("granted") or []
    if status == "partial" and decision.get("fraction") is not None:
        status = f"partial ({decision['fraction']:.0%})"
    return f"{status}: {hours_text(granted)}" if granted else status


def price_text(charged: bool | None, reason: str) -> str:
    """'free' or 'charged' and why (the service's reasons often start with the word itself)."""
    if charged is None:
        return ""
    word = "charged" if charged else "free"
    if reason.lower().startswith(word):
        return reason
    return f"{word}: {reason}" if reason else word


def mode_text(record: Mapping[str, Any]) -> str:
    return mode_label(dict(record))


def proposal_rows(proposals: Iterable[Mapping[str, Any]]) -> list[tuple]:
    rows = []
    for p in proposals:
        price = p.get("price") or {}
        rows.append(
            (
                p["id"],
                p.get("title"),
                f"{p.get('call_id')} / {mode_text(p)}",
                str(p.get("status") or "").replace("_", " "),
                length_text(p.get("length_months")),
                clock_text(dict(p)),
                p.get("score"),
                p.get("rank"),
                decision_text(p.get("decision")),
                price_text(price.get("charged"), price.get("reason") or ""),
                p.get("project"),
            )
        )
    return rows


def review_rows(reviews: Iterable[Mapping[str, Any]]) -> list[tuple]:
    """Submitted reviews only, and never who wrote them (even if a name slipped through)."""
    return [
        (r.get("quality"), r.get("pertinence"), r.get("comment"))
        for r in reviews
        if r.get("submitted", True)
    ]


def obligation_text(project: Mapping[str, Any]) -> str:
    if not project.get("obligation"):
        return "No open-results obligation."
    text = f"Obligation: {project['obligation']}"
    if project.get("obligation_url"):
        return f"{text}. Link given: {project['obligation_url']}"
    due = f"; due {project['obligation_due']}" if project.get("obligation_due") else ""
    return text + due + (" (OVERDUE)" if project.get("obligation_overdue") else "")


def _red(text: str) -> w.Label:
    label = w.Label(text)
    label.style.text_color = "red"
    return label


class MyApplications(w.VBox):
    """The caller's proposals in a table; one of them in detail: reviews, findings, obligation.
    The session's own token by default."""

    def __init__(self, client: FactoryClient | None = None):
        self.client = client or FactoryClient.from_env()
        self.proposals: dict[int, dict[str, Any]] = {}
        self.message = w.Label()
        self.table = w.HTML()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.choose = w.Dropdown(description="Proposal", options=[])
        self.choose.observe(lambda _: self.show_selected(), "value")
        self.reviews = w.HTML()
        self.eligibility = w.VBox()
        self.obligation = w.Label()
        self.clock = w.Label()
        details = [w.HTML("<h4>Reviews</h4>"), self.reviews, w.HTML("<h4>Eligibility</h4>")]
        super().__init__(
            [
                w.HBox([self.refresh_button, self.message]),
                self.table,
                self.choose,
                self.clock,
                *details,
                self.eligibility,
                self.obligation,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        try:
            proposals = self.client.get(API + "proposals") or []
        except FactoryError as exc:
            self.message.value = f"Could not load your proposals: {error_text(exc)}"
            return
        self.message.value = ""
        self.proposals = {p["id"]: p for p in proposals}
        rows = proposal_rows(proposals)
        self.table.value = html_table(PROPOSAL_COLUMNS, rows, empty="You have no proposals yet.")
        kept = self.choose.value
        # Dropdown option labels are text in the browser, never markup.
        self.choose.options = [(f"#{p['id']} {p.get('title') or ''}", p["id"]) for p in proposals]
        self.choose.value = kept if kept in self.proposals else next(iter(self.proposals), None)
        self.show_selected()

    def show_selected(self) -> None:
        proposal = self.proposals.get(self.choose.value) or {}
        self.clock.value = clock_text(proposal)
        self.clock.style.text_color = "red" if is_overdue(proposal) else None
        reviews = review_rows(proposal.get("reviews") or [])
        self.reviews.value = html_table(REVIEW_COLUMNS, reviews, empty="no reviews yet")
        checked = self._eligibility(proposal.get("eligibility")) if proposal else []
        self.eligibility.children = checked
        self.obligation.value = (proposal.get("price") or {}).get("obligation") or ""
        if proposal and not self.obligation.value:
            self.obligation.value = "No open-results obligation."

    @staticmethod
    def _eligibility(result: Mapping[str, Any] | None) -> list[w.Label]:
        if not result:
            return [w.Label("Not checked yet (checked on submission).")]
        findings = [w.Label(finding_text(f)) for f in result.get("findings") or []]
        if result.get("ineligible_reason"):
            return [_red(str(result["ineligible_reason"])), *findings]
        return findings or [w.Label("Eligible." if result.get("eligible") else "Not eligible.")]


class MyProjects(w.VBox):
    """The caller's projects; the PI of one may manage its members and give the results link.
    The session's own token by default; `me` is the hub user (JUPYTERHUB_USER by default)."""

    def __init__(self, client: FactoryClient | None = None, me: str | None = None):
        self.client = client or FactoryClient.from_env()
        self.me = os.environ.get("JUPYTERHUB_USER", "") if me is None else me
        self.message = w.Label()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cards = w.VBox()
        super().__init__([w.HBox([self.refresh_button, self.message]), self.cards])
        self.refresh()

    def refresh(self) -> None:
        try:
            projects = self.client.get(API + "projects") or []
        except FactoryError as exc:
            self.message.value = f"Could not load your projects: {error_text(exc)}"
            return
        self.message.value = "" if projects else "You are not a member of any project."
        self.cards.children = [ProjectCard(self.client, p, self.me) for p in projects]


class ProjectCard(w.VBox):
    """One project; every action shows the project as the service answers it."""

    def __init__(self, client: FactoryClient, project: dict[str, Any], me: str):
        self.client = client
        self.me = me
        self.heading = w.Label(style={"font_weight": "bold"})
        self.allocations = w.HTML()
        self.members = w.VBox()
        self.price = w.Label()
        self.obligation = w.Label()
        self.message = w.Label()
        self.confirm = ConfirmRow()
        self.new_member = w.Text(placeholder="username")
        self.add_button = w.Button(description="Add member", icon="user-plus")
        self.add_button.on_click(lambda _: self.add_member())
        self.link = w.Text(description="Open results link", placeholder="https://...")
        self.link.style.description_width = "130px"
        self.link_button = w.Button(description="Submit link")
        self.link_button.on_click(lambda _: self.submit_link())
        super().__init__(layout=w.Layout(border="1px solid #dde", padding="6px", margin="4px 0"))
        self.show(project)

    @property
    def is_pi(self) -> bool:
        return bool(self.me) and self.project.get("pi") == self.me

    def show(self, project: dict[str, Any]) -> None:
        """Render `project`; the PI's controls are built only for the PI."""
        self.project = project
        mode = mode_text(project)
        self.heading.value = (
            f"{project['account']}: {project.get('title') or ''} ({mode}, {project.get('status')})"
        )
        allocations = project.get("allocations") or []
        rows = [(a["partition"], a.get("gpu_hours"), a.get("cpu_hours")) for a in allocations]
        self.allocations.value = html_table(ALLOCATION_COLUMNS, rows, empty="no allocation")
        self.members.children = [self._member(m) for m in project.get("members") or []]
        self.price.value = price_text(project.get("charged"), project.get("price_reason") or "")
        self.obligation.value = obligation_text(project)
        pi_rows = [w.HBox([self.new_member, self.add_button])] if self.is_pi else []
        if self.is_pi and project.get("obligation"):
            pi_rows.append(w.HBox([self.link, self.link_button]))
        parts = [self.heading, self.allocations, w.Label("Members:"), self.members]
        self.children = [*parts, *pi_rows, self.price, self.obligation, self.confirm, self.message]

    def _member(self, member: Mapping[str, Any]) -> w.HBox:
        name, role = member["username"], member.get("role") or ""
        cells: list[w.Widget] = [w.Label(name, layout=w.Layout(width="160px")), w.Label(role)]
        if self.is_pi and role != "pi" and name != self.project.get("pi"):
            remove = w.Button(description="Remove", button_style="warning")
            remove.on_click(lambda _, name=name: self.ask_remove(name))
            cells.append(remove)
        return w.HBox(cells)

    def _path(self, *parts: str) -> str:
        return API + "/".join(["projects", *(quote(p, safe="") for p in parts)])

    def _act(self, what: str, call: Callable[[], Any], done: str) -> bool:
        """Run one request; show the project it returns, or why it was refused."""
        try:
            project = call()
        except FactoryError as exc:
            self.message.value = f"Could not {what}: {error_text(exc)}"
            return False
        self.show(project)
        self.message.value = done
        return True

    def add_member(self) -> None:
        name = self.new_member.value.strip()
        if not name:
            self.message.value = "Type the username to add first."
            return
        path = self._path(self.project["account"], "members")
        added = self._act(
            f"add {name}", lambda: self.client.post(path, {"username": name}), f"{name} was added."
        )
        if added:
            self.new_member.value = ""

    def ask_remove(self, name: str) -> None:
        """Ask first: the member loses access to the project's allocation at once."""
        question = (
            f"Remove {name} from {self.project['account']}? They can no longer use its hours."
        )
        self.confirm.ask(question, f"Yes, remove {name}", lambda: self.remove_member(name))

    def remove_member(self, name: str) -> None:
        path = self._path(self.project["account"], "members", name)
        self._act(f"remove {name}", lambda: self.client.delete(path), f"{name} was removed.")

    def submit_link(self) -> None:
        url = self.link.value.strip()
        if not url:
            self.message.value = "Paste the link to your published results first."
            return
        path = self._path(self.project["account"], "obligation")
        self._act("submit the link", lambda: self.client.post(path, {"url": url}), "Link saved.")
