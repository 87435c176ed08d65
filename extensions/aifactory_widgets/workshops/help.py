"""A workshop participant's help button.

A participant is stuck in a notebook and the trainer is across the room with thirty others:
`HelpButton()` raises their hand in the trainer's room view (room.py) without a word
said. It talks to the factory service with the session's own token, like every widget here.
Times are shown in UTC, as the trainer entered them, so both read the same clock.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.format import clock
from aifactory_widgets.ui.panel import Panel, refusal

RAISE = "✋ Raise my hand"
SEEN = "Your trainer sees your raised hand."
HAND = "api/workshops/mine/hand"


class HelpButton(Panel):
    """The button and a line saying which workshop, or why there is nothing to raise a hand in
    (the session's own token by default; outside the hub the button is off and says why)."""

    def __init__(self, client: FactoryClient | None = None):
        unavailable = ""
        if client is None:
            try:
                client = FactoryClient.from_env()
            except FactoryError as exc:
                unavailable = str(exc)
        super().__init__(client)  # type: ignore[arg-type]  # None: outside the hub, disabled
        self.raise_button = self.button(RAISE, self.raise_hand, button_style="warning")
        self.workshop: dict[str, Any] | None = None
        self.children = [w.HBox([self.raise_button, self.message]), self.errors]
        if client is None:
            self._off(unavailable)
        else:
            self.load()

    def load(self) -> None:
        """Read `workshops/mine`: 404 means this user is in no workshop, so no hand to raise."""
        try:
            self.workshop = self.client.get("api/workshops/mine")
        except FactoryError as exc:
            if exc.status == 404:
                self.raise_button.description = "You are in no workshop"
                self._off("")
            else:
                self._off(f"The help button is off: {refusal(exc)}")
            return
        title, ends = self.workshop.get("title", ""), clock(self.workshop.get("ends_at"))
        self.say(SEEN if self.workshop.get("hand_raised") else f"{title}: ends {ends} UTC.")

    def raise_hand(self) -> None:
        if self.attempt("Your hand was not raised", lambda: self.client.post(HAND)) is not None:
            self.say(SEEN)

    def _off(self, reason: str) -> None:
        self.raise_button.disabled = True
        self.say(reason, error=bool(reason))
