"""The one way a widget asks before a step that cannot be undone from here.

Stopping a session, cancelling a job or a Dask cluster, submitting a proposal, removing a
member, closing a call or ending a workshop: each puts its question in a `ConfirmRow` and runs
the step only after the second, explicit click on Yes.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w


def _call(action: Callable[[], None]) -> None:
    action()


class ConfirmRow(w.VBox):
    """A question with Yes and Cancel, hidden until asked; Yes runs the action once.

    The question has a line of its own: a Label never wraps, and it names what will happen.
    `run` runs the action (a desk panel passes its own, which shows errors on the page)."""

    def __init__(self, run: Callable[[Callable[[], None]], None] = _call):
        self._run = run
        self._action: Callable[[], None] | None = None
        self.question = w.Label()
        self.yes = w.Button(button_style="danger")
        self.no = w.Button(description="Cancel")
        self.yes.on_click(lambda _: self._answer(True))
        self.no.on_click(lambda _: self._answer(False))
        buttons = w.HBox([self.yes, self.no])
        super().__init__([self.question, buttons], layout=w.Layout(display="none"))

    @property
    def asking(self) -> bool:
        return self.layout.display != "none"

    def ask(self, question: str, yes: str, action: Callable[[], None]) -> None:
        """Show `question` with a Yes button labelled `yes`; Yes runs `action`."""
        self.question.value = question
        self.yes.description = yes
        self._action = action
        self.layout.display = "flex"

    def hide(self) -> None:
        self._action = None
        self.layout.display = "none"

    def _answer(self, yes: bool) -> None:
        action = self._action
        self.hide()
        if yes and action is not None:
            self._run(action)
