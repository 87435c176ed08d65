"""The proposal desk's Projects tab: granted projects, their provisioning, re-pricing and end."""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.proposal_view import (
    REQUEST_COLUMNS,
    mode_label,
    request_rows,
    section,
)
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import yes_no
from aifactory_widgets.ui.panel import ListPanel

PROJECT_COLUMNS = ("account", "PI", "mode", "status", "ends on", "charged", "obligation due",
                   "overdue", "provisioned")  # fmt: skip
STEP_COLUMNS = ("seq", "action", "status", "error")


def project_rows(projects: Sequence[dict[str, Any]]) -> list[tuple]:
    return [
        (
            p["account"],
            p.get("pi", ""),
            mode_label(p),
            p.get("status", ""),
            p.get("ends_on") or "",
            yes_no(p.get("charged")),
            p.get("obligation_due") or "",
            "OVERDUE" if p.get("obligation_overdue") else "",
            (p.get("provisioned_at") or "")[:10] or "no",
        )
        for p in projects
    ]


def step_rows(project: dict[str, Any]) -> list[tuple]:
    return [
        (s.get("seq"), s.get("action", ""), s.get("status", ""), s.get("error", ""))
        for s in project.get("provisioning", [])
    ]


class ProjectsPanel(ListPanel):
    """Every project; one project's Slurm provisioning, with retry, re-price and end."""

    noun = "project"
    key = "account"
    columns = PROJECT_COLUMNS
    empty = "no projects yet"

    def __init__(self, client: FactoryClient):
        super().__init__(client, pick="Project")
        self.details = w.HTML()
        self.retry = self.button("Retry provisioning", self.provision, icon="repeat")
        self.reprice = self.button("Re-price…", self.ask_reprice, button_style="warning")
        self.end = self.button("End project…", self.ask_end, button_style="danger")
        self.buttons = w.HBox([self.retry, self.reprice, self.end])
        self.children = [
            self.table,
            self.pick,
            self.details,
            self.buttons,
            self.confirm,
            self.message,
            self.errors,
        ]
        self.show(None)

    def list_path(self) -> str:
        return "api/projects"

    def item_path(self, key: Any, suffix: str = "") -> str:
        return f"api/projects/{urllib.parse.quote(str(key), safe='')}{suffix}"

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        return project_rows(items)

    def show_item(self, project: dict[str, Any] | None) -> None:
        """One project's hours and provisioning steps; buttons only where they can apply."""
        self.buttons.layout.display = "none" if project is None else "flex"
        if project is None:
            self.details.value = ""
            return
        self.details.value = section(
            f"Allocations of {project['account']}",
            REQUEST_COLUMNS,
            request_rows(project.get("allocations", [])),
            empty="none",
        ) + section("Provisioning in Slurm", STEP_COLUMNS, step_rows(project), "no steps yet")
        ended = project.get("status") == "ended"
        self.retry.disabled = ended
        self.end.disabled = ended
        self.reprice.disabled = ended or not project.get("obligation_overdue")

    def act(self, action: str, suffix: str, done: str) -> None:
        if self.current is None:
            return
        account = self.current["account"]
        path = self.item_path(account, suffix)
        project = self.attempt(f"Could not {action} {account}", lambda: self.client.post(path))
        if project is not None:
            self.show(project)
            self.say(done.format(account=account, status=project.get("status", "")))

    def provision(self) -> None:
        self.act("provision", "/provision", "Provisioning of {account} retried: it is {status}.")

    def ask_reprice(self) -> None:
        p = self.current
        if p is None:
            return
        self.ask(
            f"Re-price {p['account']}? Its obligation ({p.get('obligation', '')}) was due on "
            f"{p.get('obligation_due', '')}; the project becomes charged.",
            "Yes, re-price",
            lambda: self.act("re-price", "/reprice", "{account} re-priced."),
        )

    def ask_end(self) -> None:
        p = self.current
        if p is None:
            return
        self.ask(
            f"End project {p['account']} now? Its Slurm limits go to zero and its members are "
            "removed; this cannot be undone here.",
            "Yes, end it",
            lambda: self.act("end", "/end", "{account} is {status}."),
        )
