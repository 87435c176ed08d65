"""What the researcher's ticket list and the staff desk share: a ticket list, one ticket read
afresh, and actions on it that show the ticket as the service answers it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from aifactory_widgets.helpdesk.view import LIST_COLUMNS, list_rows
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.panel import ListPanel

API = "api/tickets"


class TicketPanel(ListPanel):
    noun = "ticket"
    columns = LIST_COLUMNS

    def __init__(self, client: FactoryClient, now: datetime | None = None):
        super().__init__(client, pick="Ticket")
        self.now = now  # None: the real clock (tests fix it)

    def item_path(self, key: Any) -> str:
        return f"{API}/{int(key)}"

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        return list_rows(items, self.now)

    def act(self, failed: str, suffix: str, body: dict[str, Any] | None = None) -> bool:
        """POST to the current ticket's `suffix`; show the answer, or '<failed>: <why>'."""
        if self.current is None:
            return False
        path = f"{self.item_path(self.current['id'])}/{suffix}"
        answer = self.attempt(failed, lambda: self.client.post(path, body))
        if answer is None:
            return False
        self.show(answer)
        return True
