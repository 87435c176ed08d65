"""The proposal desk's Calls tab: what each call offers and has left, opening and closing calls."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.proposal_view import mode_label, option_text
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import number
from aifactory_widgets.ui.panel import Panel
from aifactory_widgets.ui.tables import html_table

CALL_COLUMNS = ("call", "mode", "title", "status", "deadline", "partition",
                "GPU h left / total", "CPU h left / total")  # fmt: skip


def call_rows(calls: Sequence[dict[str, Any]]) -> list[tuple]:
    """One row per call and partition, remaining capacity next to the capacity."""
    rows = []
    for call in calls:
        head = (
            call["id"],
            mode_label(call, "mode"),
            call.get("title", ""),
            call.get("status", ""),
            (call.get("deadline") or "")[:10],
        )
        capacity = call.get("capacity") or {}
        remaining = call.get("remaining") or {}
        if not capacity:
            rows.append((*head, "-", "", ""))
        for partition, total in sorted(capacity.items()):
            left = remaining.get(partition) or {}
            rows.append(
                (
                    *head,
                    partition,
                    f"{number(left.get('gpu_hours', 0))} / {number(total.get('gpu_hours', 0))}",
                    f"{number(left.get('cpu_hours', 0))} / {number(total.get('cpu_hours', 0))}",
                )
            )
    return rows


def open_call_body(
    mode: str,
    title: str,
    deadline: dt.date | None,
    capacity: Sequence[tuple[str, float, float]],
) -> dict[str, Any]:
    """The `POST calls` body. Raises ValueError for what the JSON object cannot carry (a blank
    or repeated partition name); everything else is the service's to judge."""
    hours: dict[str, dict[str, float]] = {}
    for partition, gpu_hours, cpu_hours in capacity:
        name = partition.strip()
        if not name and not gpu_hours and not cpu_hours:
            continue  # an untouched row
        if not name:
            raise ValueError("Give each capacity row its partition's name.")
        if name in hours:
            raise ValueError(f"Partition {name} appears twice; give it one row.")
        hours[name] = {"gpu_hours": gpu_hours, "cpu_hours": cpu_hours}
    body: dict[str, Any] = {"mode": mode, "title": title.strip(), "capacity": hours}
    if deadline is not None:
        body["deadline"] = deadline.isoformat()
    return body


class CapacityRow(w.HBox):
    """One partition's capacity in the open-call form."""

    def __init__(self) -> None:
        self.partition = w.Text(placeholder="partition, e.g. gpu", layout=w.Layout(width="180px"))
        self.gpu_hours = w.BoundedFloatText(min=0, max=1e9, description="GPU hours")
        self.cpu_hours = w.BoundedFloatText(min=0, max=1e9, description="CPU hours")
        super().__init__([self.partition, self.gpu_hours, self.cpu_hours])

    def value(self) -> tuple[str, float, float]:
        return self.partition.value, self.gpu_hours.value, self.cpu_hours.value


def mode_options(site: dict[str, Any] | None) -> list[tuple[str, str]]:
    """(label, code) of the site's access modes (site data, from GET api/site)."""
    modes = ((site or {}).get("access") or {}).get("modes") or {}
    return [(m.get("label") or code, code) for code, m in modes.items()]


class CallsPanel(Panel):
    """Calls with capacity and remaining hours; open a call; close one (after asking)."""

    def __init__(self, client: FactoryClient, on_change: Callable[[], None]):
        super().__init__(client)
        self.on_change = on_change
        self.calls: list[dict[str, Any]] = []
        self.table = w.HTML()
        site = self.attempt(
            "Could not read the site's access modes", lambda: client.get("api/site")
        )
        self.mode = w.Dropdown(description="Mode", options=mode_options(site))
        self.title = w.Text(description="Title", layout=w.Layout(width="480px"))
        self.deadline = w.DatePicker(description="Deadline")
        self.deadline_hint = w.Label("Optional: the call closes then; review modes decide at "
                                     "their cut-offs.")  # fmt: skip
        self.capacity = w.VBox([CapacityRow()])
        self.add_row = self.button("Add partition", self.add_partition, icon="plus")
        self.open_button = self.button("Open call", self.open_call, button_style="primary")
        self.to_close = w.Dropdown(description="Call", options=[])
        self.close_button = self.button("Close call…", self.ask_close, button_style="warning")
        self.children = [
            w.HTML("<h3>Calls</h3>"),
            self.table,
            w.HTML("<h3>Open a call</h3>"),
            self.mode,
            self.title,
            w.HBox([self.deadline, self.deadline_hint]),
            w.Label("Capacity per partition (hours the call may grant in total):"),
            self.capacity,
            w.HBox([self.add_row, self.open_button]),
            w.HTML("<h3>Close a call</h3>"),
            w.HBox([self.to_close, self.close_button]),
            self.confirm,
            self.message,
            self.errors,
        ]

    def load(self) -> list[dict[str, Any]] | None:
        """GET calls and show them; the list for the other tabs, or None if refused."""
        calls = self.attempt("Could not read the calls", lambda: self.client.get("api/calls"))
        if calls is None:
            return None
        self.calls = calls
        self.table.value = html_table(CALL_COLUMNS, call_rows(calls), empty="no calls yet")
        open_calls = [c for c in calls if c.get("status") == "open"]
        self.set_options(
            self.to_close, [(option_text(c["id"], c["title"]), c["id"]) for c in open_calls]
        )
        self.close_button.disabled = not open_calls
        return calls

    def add_partition(self) -> None:
        self.capacity.children = [*self.capacity.children, CapacityRow()]

    def open_call(self) -> None:
        try:
            body = open_call_body(
                self.mode.value,
                self.title.value,
                self.deadline.value,
                [row.value() for row in self.capacity.children],
            )
        except ValueError as exc:
            self.say(str(exc), error=True)
            return
        call = self.attempt("The call was not opened", lambda: self.client.post("api/calls", body))
        if call is None:
            return
        self.say(f"Opened call {call['id']}: {call['title']}.")
        self.title.value = ""
        self.deadline.value = None
        self.capacity.children = [CapacityRow()]
        self.on_change()

    def ask_close(self) -> None:
        call = next((c for c in self.calls if c["id"] == self.to_close.value), None)
        if call is None:
            return
        self.ask(
            f"Close call {call['id']} ({call['title']})? No more proposals can be submitted to it.",
            "Yes, close it",
            lambda: self.close(call),
        )

    def close(self, call: dict[str, Any]) -> None:
        closed = self.attempt(
            f"Call {call['id']} was not closed",
            lambda: self.client.post(f"api/calls/{call['id']}/close"),
        )
        if closed is not None:
            self.say(f"Closed call {closed['id']}: {closed['title']}.")
            self.on_change()
