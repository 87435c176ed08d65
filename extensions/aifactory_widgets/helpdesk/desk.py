"""The ticket desk: support staff work the ask-an-expert queue in the console.

Opened from the console's "Tickets" dashboard (scope custom:aifactory:tickets:manage); the
viewer's own token reaches the service, which lists every ticket for them. Filter by status,
topic and assignee; read a ticket's context and conversation; assign, reply, close. The list
shows each ticket's time to first reply (or how long it has waited) and the median over it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import ipywidgets as w

from aifactory_widgets.helpdesk.panel import API, TicketPanel
from aifactory_widgets.helpdesk.view import (
    context_html,
    conversation_html,
    first_reply_text,
    median_first_reply,
)
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import plural

ANY = ""
UNASSIGNED = "-"


class TicketDesk(TicketPanel):
    """The queue, one ticket in full, and what staff do with it (the viewer's own token by
    default)."""

    empty = "no tickets match"

    def __init__(self, client: FactoryClient | None = None, now: datetime | None = None):
        client = client or FactoryClient.from_env()
        super().__init__(client, now)
        meta = self.attempt("Could not read the topics", lambda: client.get(f"{API}/topics"))
        meta = meta or {"topics": [], "staff": []}
        me = client.actor
        self.status = w.Dropdown(
            description="Status",
            options=[("open", "open"), ("answered", "answered"), ("closed", "closed"),
                     ("any", ANY)],
        )  # fmt: skip
        topics = [(t["label"], t["code"]) for t in meta["topics"]]
        self.topic = w.Dropdown(description="Topic", options=[("any", ANY), *topics])
        assignees = [("anyone", ANY), ("nobody yet", UNASSIGNED)]
        assignees += [(name, name) for name in meta["staff"]]
        self.assignee = w.Dropdown(description="Assigned", options=assignees)
        self.summary = w.Label()
        for widget in (self.status, self.topic, self.assignee):
            self.watch(widget, self.load)
        self.heading = w.Label(style={"font_weight": "bold"})
        self.state = w.Label()
        self.context_view = w.HTML()
        self.conversation = w.HTML()
        staff = list(meta["staff"]) or ([me] if me else [])
        self.assign_to = w.Dropdown(
            description="Assign to",
            options=[("nobody", None), *((n, n) for n in staff)],
            value=me if me in staff else None,
        )
        self.assign_button = self.button("Assign", self.assign)
        self.reply_box = w.Textarea(
            placeholder="Your answer (the researcher sees it in their notebook)",
            layout=w.Layout(width="680px", height="140px"),
        )
        self.reply_button = self.button("Send reply", self.reply, button_style="primary")
        self.close_button = self.button("Close ticket…", self.ask_close)
        self.detail = w.VBox(
            [
                self.heading,
                self.state,
                w.HTML("<h4>Context</h4>"),
                self.context_view,
                w.HTML("<h4>Conversation</h4>"),
                self.conversation,
                self.reply_box,
                w.HBox([self.reply_button, self.close_button]),
                w.HBox([self.assign_to, self.assign_button]),
            ],
            layout=w.Layout(display="none"),
        )
        refresh = self.button("Refresh", self.load, icon="refresh")
        self.children = [
            w.HBox([self.status, self.topic, self.assignee, refresh]),
            self.summary,
            self.table,
            self.pick,
            self.message,
            self.confirm,
            self.detail,
            self.errors,
        ]
        self.load()

    def list_path(self) -> str:
        query = {"status": self.status.value, "topic": self.topic.value,
                 "assignee": self.assignee.value}  # fmt: skip
        args = urlencode({k: v for k, v in query.items() if v})
        return f"{API}?{args}" if args else API

    def option(self, item: dict[str, Any]) -> str:
        return f"#{item['id']} {item.get('subject', '')} ({item.get('user')})"

    def load(self) -> None:
        super().load()
        tickets = plural(len(self.items), "ticket")
        self.summary.value = f"{tickets}; {median_first_reply(self.items)}"

    def show_item(self, ticket: dict[str, Any] | None) -> None:
        self.detail.layout.display = "none" if ticket is None else "flex"
        if ticket is None:
            return
        self.heading.value = f"#{ticket['id']} {ticket.get('subject', '')}"
        self.state.value = (
            f"{ticket.get('topic_label')}; from {ticket.get('user')}; {ticket.get('status')}; "
            f"assigned to {ticket.get('assignee') or 'nobody'}; "
            f"first reply {first_reply_text(ticket, self.now)}"
        )
        self.context_view.value = context_html(ticket.get("context"), ticket.get("user", ""))
        self.conversation.value = conversation_html(ticket)
        closed = ticket.get("status") == "closed"
        self.reply_button.disabled = self.close_button.disabled = closed

    def assign(self) -> None:
        who = self.assign_to.value
        if self.act("Not assigned", "assign", {"assignee": who}):
            self.say(f"Ticket #{self.current['id']} assigned to {who or 'nobody'}.")

    def reply(self) -> None:
        text = self.reply_box.value.strip()
        if not text:
            self.say("Write the reply first.", error=True)
            return
        if self.act("Reply not sent", "messages", {"body": text}):
            self.reply_box.value = ""
            self.say(f"Reply sent on ticket #{self.current['id']}.")

    def ask_close(self) -> None:
        if self.current is None:
            return
        tid = self.current["id"]
        self.ask(f"Close ticket #{tid}? The researcher can reopen it by replying.",
                 "Yes, close it", self.close_ticket)  # fmt: skip

    def close_ticket(self) -> None:
        if self.act("Not closed", "close"):
            self.say(f"Ticket #{self.current['id']} closed.")
