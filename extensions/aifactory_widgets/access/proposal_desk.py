"""The proposal desk: support staff run calls, proposals, reviews, decisions and projects.

Staff open it in the console's "Proposals, review and decisions" dashboard (scope
custom:aifactory:proposals:manage). Each tab is its own panel module; this one puts them
together and keeps them in step: opening, closing or deciding a call changes what the other
tabs offer, so those actions refresh every tab.
"""

from __future__ import annotations

import ipywidgets as w

from aifactory_widgets.access.proposal_desk_calls import CallsPanel
from aifactory_widgets.access.proposal_desk_decision import DecisionPanel
from aifactory_widgets.access.proposal_desk_projects import ProjectsPanel
from aifactory_widgets.access.proposal_desk_proposals import ProposalsPanel
from aifactory_widgets.ui.client import FactoryClient

TAB_TITLES = ("Calls", "Proposals", "Decision", "Projects")


class ProposalDesk(w.VBox):
    """Tabs Calls, Proposals, Decision and Projects over the factory service's access API
    (the viewer's own token by default)."""

    def __init__(self, client: FactoryClient | None = None):
        client = client or FactoryClient.from_env()
        self.client = client
        self.calls = CallsPanel(client, on_change=self.refresh)
        self.proposals = ProposalsPanel(client)
        self.decision = DecisionPanel(client, on_change=self.refresh)
        self.projects = ProjectsPanel(client)
        self.tabs = w.Tab(
            children=[self.calls, self.proposals, self.decision, self.projects],
            titles=TAB_TITLES,
        )
        refresh = w.Button(description="Refresh all", icon="refresh")
        refresh.on_click(lambda _: self.calls.run(self.refresh))
        super().__init__([refresh, self.tabs])
        self.refresh()

    def refresh(self) -> None:
        """Read calls, proposals and projects again and hand the calls to the tabs that pick one."""
        calls = self.calls.load()
        if calls is not None:
            self.proposals.set_calls(calls)
            self.decision.set_calls(calls)
        self.proposals.load()
        self.projects.load()
