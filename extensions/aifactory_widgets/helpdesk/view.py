"""How a ticket reads, for the researcher and on the staff desk: pure functions from the
service's JSON. Everything a person wrote (subjects, messages, job names, job output) leaves
here escaped: through `html_table`, or `html.escape` in the few blocks of free text.
"""

from __future__ import annotations

import html
import statistics
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from aifactory_widgets.ui.format import duration_text, plural, short_time, utc_moment
from aifactory_widgets.ui.tables import STYLE, html_table

LIST_COLUMNS = ("id", "topic", "subject", "status", "from", "project", "assigned to", "filed",
                "first reply")  # fmt: skip
JOB_COLUMNS = ("job", "name", "partition", "project", "state", "exit code", "start", "end")
STATUS_WORDS = {"open": "open: waiting for an expert", "answered": "answered", "closed": "closed"}


def first_reply_text(ticket: Mapping[str, Any], now: datetime | None = None) -> str:
    """'after 12 min', or for an unanswered open ticket 'none yet (waiting 3 h 05 min)'."""
    if ticket.get("first_reply_s") is not None:
        return f"after {duration_text(ticket['first_reply_s'])}"
    created = ticket.get("created_at")
    if ticket.get("status") == "closed" or not created:
        return "none"
    waited = ((now or datetime.now(UTC)) - utc_moment(created)).total_seconds()
    return f"none yet (waiting {duration_text(waited)})"


def list_rows(tickets: Iterable[Mapping[str, Any]], now: datetime | None = None) -> list[tuple]:
    return [
        (
            t["id"],
            t.get("topic_label") or t.get("topic"),
            t.get("subject"),
            t.get("status"),
            t.get("user"),
            t.get("project") or "",
            t.get("assignee") or "nobody",
            short_time(t.get("created_at")),
            first_reply_text(t, now),
        )
        for t in tickets
    ]


def median_first_reply(tickets: Sequence[Mapping[str, Any]]) -> str:
    """'median time to first reply: 12 min (over 4 answered tickets)'."""
    known = [t["first_reply_s"] for t in tickets if t.get("first_reply_s") is not None]
    if not known:
        return "no ticket in this list has a reply yet"
    median = duration_text(statistics.median(known))
    return f"median time to first reply: {median} (over {plural(len(known), 'answered ticket')})"


def conversation_html(ticket: Mapping[str, Any]) -> str:
    """The messages, oldest first, each with who wrote it and when."""
    blocks = []
    for msg in ticket.get("messages") or []:
        who = html.escape(str(msg.get("author", "")))
        role = "support" if msg.get("staff") else "researcher"
        colour = "#eef6ee" if msg.get("staff") else "#f3f4f8"
        blocks.append(
            f'<div style="background:{colour};border-radius:4px;padding:6px 10px;margin:4px 0">'
            f'<div class="af-muted">{who} ({role}), {html.escape(short_time(msg.get("at")))}'
            f'</div><div style="white-space:pre-wrap">{html.escape(str(msg.get("body", "")))}'
            "</div></div>"
        )
    return STYLE + ("".join(blocks) or '<p class="af-muted">no messages</p>')


def context_html(context: Mapping[str, Any] | None, user: str = "") -> str:
    """The context a ticket carries: where it was asked, recent jobs, output tail, versions."""
    ctx = context or {}
    facts = [
        ("user", user),
        ("project", ctx.get("project") or "(not in a session)"),
        ("partition", ctx.get("partition") or ""),
        ("session job", ctx.get("job_id") or ""),
        ("node", ctx.get("node") or ""),
    ]
    parts = [html_table(("asked from", ""), [f for f in facts if f[1]])]
    jobs = [
        (j.get("id"), j.get("name"), j.get("partition"), j.get("account"), j.get("state"),
         j.get("exit_code"), j.get("start"), j.get("end"))
        for j in ctx.get("jobs") or []
    ]  # fmt: skip
    table = html_table(JOB_COLUMNS, jobs, empty="no recent jobs")
    parts += ["<b>Recent jobs</b>", f'<div style="max-height:14em;overflow:auto">{table}</div>']
    tail = ctx.get("output_tail")
    if tail:
        parts.append(
            f"<b>End of the output of job {html.escape(str(tail.get('job_id')))}</b> "
            f'<span class="af-muted">({html.escape(str(tail.get("path", "")))})</span>'
            '<pre style="background:#f6f8fa;padding:6px;max-height:18em;overflow:auto">'
            f"{html.escape(str(tail.get('text', '')))}</pre>"
        )
    versions = sorted((ctx.get("versions") or {}).items())
    parts += ["<b>Versions</b>", html_table(("package", "version"), versions, empty="none")]
    if ctx.get("problems"):
        parts += ["<b>Not gathered</b>", html_table(("why",), [(p,) for p in ctx["problems"]])]
    return "".join(parts)
