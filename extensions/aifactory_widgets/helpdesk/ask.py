"""Ask an expert: a researcher's question to the centre's support staff, from a notebook.

The form shows, before anything is sent, the context that goes with the question (project,
partition, session job, recent jobs with states and exit codes, the end of a failed job's
output, package versions); the researcher may leave the output out. Below it, their tickets:
status, the conversation, a reply box and Close. Replies arrive on Refresh.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import ipywidgets as w

from aifactory_hub.helpdesk.bodies import TOPICS
from aifactory_widgets.helpdesk.context import gather, latest_failed, read_tail
from aifactory_widgets.helpdesk.panel import API, TicketPanel
from aifactory_widgets.helpdesk.view import context_html, conversation_html, first_reply_text
from aifactory_widgets.jobs.commands import JobRunner, SlurmRunner
from aifactory_widgets.ui.client import FactoryClient, FactoryError

NO_JOB = "none"


def job_option(job: Mapping[str, str]) -> str:
    """'123 train (FAILED, exit 1:0)': a Dropdown label, which the browser shows as text."""
    state, code = job.get("state", ""), job.get("exit_code", "")
    return f"{job['id']} {job.get('name', '')} ({state}, exit {code})"


class AskAnExpert(TicketPanel):
    """The question form with its context, and the researcher's tickets (the session's own
    token by default; outside the hub, a line saying it needs the hub)."""

    empty = "You have asked nothing yet."

    def __init__(
        self,
        client: FactoryClient | None = None,
        environ: Mapping[str, str] | None = None,
        runner: JobRunner | None = None,
        now: datetime | None = None,
        reader: Callable[[str], str | None] = read_tail,
    ):
        try:
            client = client or FactoryClient.from_env()
        except FactoryError as exc:
            super().__init__(None, now)  # type: ignore[arg-type]  # never asked: no form
            self.children = [w.Label(f"Asking an expert needs AI Factory Hub: {exc}")]
            return
        super().__init__(client, now)
        self.environ = dict(os.environ if environ is None else environ)
        self.runner = runner or SlurmRunner(environ=self.environ)
        self.reader = reader
        self.context: dict[str, Any] = {}
        self.jobs: list[dict[str, str]] = []
        self.topic = w.Dropdown(description="Topic", options=[(v, k) for k, v in TOPICS.items()])
        self.subject = w.Text(
            description="Subject",
            placeholder="One line: what goes wrong",
            layout=w.Layout(width="640px"),
        )
        self.body = w.Textarea(
            placeholder="What you tried, what you expected, what happened (paste the error).",
            layout=w.Layout(width="640px", height="140px"),
        )
        self.attach = w.Checkbox(value=True, description="Attach the end of a job's output")
        self.tail_job = w.Dropdown(description="Job", options=[(NO_JOB, NO_JOB)])
        self.context_view = w.HTML()
        self.send_button = self.button("Send", self.send, button_style="primary", icon="send")
        self.sent = w.Label()
        self.state = w.Label()
        self.conversation = w.HTML()
        self.reply_box = w.Textarea(
            placeholder="Reply in this ticket", layout=w.Layout(width="640px", height="90px")
        )
        self.reply_button = self.button("Reply", self.reply)
        self.close_button = self.button("Close ticket", self.close_ticket)
        self.thread = w.VBox(
            [self.state, self.conversation, self.reply_box,
             w.HBox([self.reply_button, self.close_button])],
            layout=w.Layout(display="none"),
        )  # fmt: skip
        self.watch(self.attach, self.gather)
        self.watch(self.tail_job, self.gather)
        refresh = self.button("Refresh", self.load, icon="refresh")
        self.children = [
            w.HTML("<h3>Ask an expert</h3>"),
            self.topic,
            self.subject,
            self.body,
            w.HBox([self.attach, self.tail_job]),
            w.HTML("<b>Sent with your question</b>"),
            self.context_view,
            w.HBox([self.send_button, self.sent]),
            w.HTML("<h3>Your tickets</h3>"),
            w.HBox([refresh, self.message]),
            self.table,
            self.pick,
            self.thread,
            self.errors,
        ]
        self.gather(first=True)
        self.load()

    # --- the question and its context ---------------------------------------------------------

    def gather(self, first: bool = False) -> None:
        """Collect the context again; the first time, offer the recent jobs and pick the newest
        failed one as the output to attach."""
        tail_of = "auto" if first else (self.tail_job.value if self.attach.value else None)
        if tail_of == NO_JOB:
            tail_of = None
        self.context, jobs = gather(self.environ, self.runner, tail_of, self.reader)
        if first:
            self.jobs = jobs
            options = [(NO_JOB, NO_JOB), *((job_option(j), j["id"]) for j in jobs)]
            self.set_options(self.tail_job, options)
            chosen = latest_failed(jobs, skip=self.environ.get("SLURM_JOB_ID", ""))
            self._quiet = True
            self.tail_job.value = chosen or NO_JOB
            self._quiet = False
        user = self.environ.get("JUPYTERHUB_USER", "")
        self.context_view.value = context_html(self.context, user)

    def send(self) -> None:
        subject, body = self.subject.value.strip(), self.body.value.strip()
        if len(subject) < 3 or not body:
            self.say("Write a subject (3 characters or more) and your question.", True, self.sent)
            return
        payload = {"topic": self.topic.value, "subject": subject, "body": body,
                   "context": self.context}  # fmt: skip
        ticket = self.attempt("Not sent", lambda: self.client.post(API, payload), label=self.sent)
        if ticket is None:
            return
        self.say(f"Sent as ticket #{ticket['id']}. An expert will answer here.", label=self.sent)
        self.subject.value = self.body.value = ""
        self.load()
        if any(item["id"] == ticket["id"] for item in self.items):
            self.pick.value = ticket["id"]

    # --- the researcher's tickets ---------------------------------------------------------------

    def list_path(self) -> str:
        return API

    def option(self, item: dict[str, Any]) -> str:
        return f"#{item['id']} {item.get('subject', '')} ({item.get('status')})"

    def show_item(self, ticket: dict[str, Any] | None) -> None:
        self.thread.layout.display = "none" if ticket is None else "flex"
        if ticket is None:
            self.conversation.value = ""
            return
        who = ticket.get("assignee") or "not assigned yet"
        self.state.value = (
            f"Ticket #{ticket['id']} ({ticket.get('topic_label')}): {ticket.get('status')}; "
            f"first reply {first_reply_text(ticket, self.now)}; expert: {who}"
        )
        self.conversation.value = conversation_html(ticket)
        self.close_button.disabled = ticket.get("status") == "closed"

    def reply(self) -> None:
        text = self.reply_box.value.strip()
        if not text or self.current is None:
            self.say("Write your reply first.", error=True)
            return
        if self.act("Reply not sent", "messages", {"body": text}):
            self.reply_box.value = ""
            self.say("Reply sent; the ticket is back in the experts' queue.")

    def close_ticket(self) -> None:
        if self.act("Not closed", "close"):
            self.say(f"Ticket #{self.current['id']} closed. Reply in it to reopen it.")
