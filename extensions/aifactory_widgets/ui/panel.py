"""What every desk panel shares: refusals shown in words, never raised, and a confirm row.

A Voila page swallows a callback's exception, so a panel runs every callback inside an Output
widget (the traceback then shows on the page) and turns the service's refusals into a message
line coloured as an error. Actions that change Slurm or cannot be undone go through
`Panel.ask`, the panel's `ConfirmRow`, which only runs them after a second, explicit click.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.tables import html_table

T = TypeVar("T")
ERROR_COLOUR = "#b00020"


def refusal(exc: FactoryError) -> str:
    """The service's reason, with the field it names, so the user knows what to change."""
    text = str(exc)
    return f"{text} (field: {exc.field})" if exc.field else text


class Panel(w.VBox):
    """A desk tab: a client, a message line, a confirm row and an Output for stray errors.

    Subclasses build their widgets, then set `children` (placing `message` and `confirm`
    near the buttons they answer)."""

    def __init__(self, client: FactoryClient):
        self.client = client
        self.message = w.Label()
        self.errors = w.Output()
        self.confirm = ConfirmRow(self.run)
        self._quiet = False
        super().__init__()

    def run(self, handler: Callable[[], None]) -> None:
        """Run a callback so that an unexpected error shows on the page (in a kernel)."""
        with self.errors:
            handler()

    def button(self, description: str, handler: Callable[[], None], **kwargs: Any) -> w.Button:
        button = w.Button(description=description, **kwargs)
        button.on_click(lambda _: self.run(handler))
        return button

    def watch(self, widget: w.ValueWidget, handler: Callable[[], None]) -> None:
        widget.observe(lambda _: None if self._quiet else self.run(handler), "value")

    def set_options(self, dropdown: w.Dropdown, options: Sequence[tuple[str, Any]]) -> bool:
        """New options, keeping the choice when it is still offered (else the first); True if
        the choice changed. A Dropdown jumps to its first option whenever its options change,
        and a watcher would reload for that jump, so watchers are quiet meanwhile."""
        keep = dropdown.value
        values = [value for _, value in options]
        self._quiet = True
        try:
            dropdown.options = list(options)
            dropdown.value = keep if keep in values else (values[0] if values else None)
        finally:
            self._quiet = False
        return dropdown.value != keep

    def say(self, text: str, error: bool = False, label: w.Label | None = None) -> None:
        target = label or self.message
        target.value = text
        target.style.text_color = ERROR_COLOUR if error else None

    def attempt(self, failed: str, call: Callable[[], T], label: w.Label | None = None) -> T | None:
        """The service's answer, or None once its refusal is shown as '<failed>: <reason>'."""
        try:
            return call()
        except FactoryError as exc:
            self.say(f"{failed}: {refusal(exc)}", error=True, label=label)
            return None

    def ask(self, question: str, yes: str, action: Callable[[], None]) -> None:
        self.confirm.ask(question, yes, action)


class ListPanel(Panel):
    """A table of the service's items, a Dropdown to pick one, and the pick read afresh.

    The list may be older than an item's reviews or provisioning, so the picked item is always
    fetched again. Subclasses name the paths and the rows, and show the item in `show_item`."""

    noun = "item"
    key = "id"
    columns: tuple[str, ...] = ()
    empty = "none"

    def __init__(self, client: FactoryClient, pick: str):
        super().__init__(client)
        self.items: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.table = w.HTML()
        self.pick = w.Dropdown(description=pick, options=[], layout=w.Layout(width="520px"))
        self.watch(self.pick, self.show_selected)

    def list_path(self) -> str:
        raise NotImplementedError

    def item_path(self, key: Any) -> str:
        raise NotImplementedError

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        raise NotImplementedError

    def option(self, item: dict[str, Any]) -> str:
        return str(item[self.key])

    def show_item(self, item: dict[str, Any] | None) -> None:
        raise NotImplementedError

    def load(self) -> None:
        path = self.list_path()
        items = self.attempt(f"Could not read the {self.noun}s", lambda: self.client.get(path))
        if items is None:
            return
        self.items = items
        self.table.value = html_table(self.columns, self.rows(items), empty=self.empty)
        self.set_options(self.pick, [(self.option(i), i[self.key]) for i in items])
        self.show_selected()

    def show_selected(self) -> None:
        self.confirm.hide()
        key = self.pick.value
        if key is None:
            self.show(None)
            return
        path = self.item_path(key)
        self.show(self.attempt(f"Could not read {self.noun} {key}", lambda: self.client.get(path)))

    def show(self, item: dict[str, Any] | None) -> None:
        """Show `item` (None: nothing picked or readable) and put it into the table too."""
        self.current = item
        if item is not None:
            self.items = [item if i[self.key] == item[self.key] else i for i in self.items]
            self.table.value = html_table(self.columns, self.rows(self.items), empty=self.empty)
        self.show_item(item)
