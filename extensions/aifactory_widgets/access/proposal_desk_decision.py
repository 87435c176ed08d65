"""The proposal desk's Decision tab: a call's ranking against what is left, then the decision.

The ranking is a preview the service computes without changing anything; deciding applies it
and provisions the granted projects in Slurm, so it is asked for with the counts it will apply.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.proposal_view import hours_text, option_text, section
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import number, percent, yes_no
from aifactory_widgets.ui.panel import Panel

PREVIEW_COLUMNS = ("rank", "score", "title", "applicant", "requested", "would be", "fraction",
                   "would get", "ready", "why not")  # fmt: skip
RESULT_COLUMNS = ("rank", "score", "title", "applicant", "requested", "decided", "fraction",
                  "granted", "ready", "why not")  # fmt: skip


def ranking_rows(rows: Sequence[dict[str, Any]]) -> list[tuple]:
    return [
        (
            r.get("rank"),
            number(r.get("score")),
            r.get("title", ""),
            r.get("applicant", ""),
            hours_text(r.get("requested", [])),
            str(r.get("status", "")).replace("_", " "),
            percent(r.get("fraction")) if r.get("ready") else "",
            hours_text(r.get("granted", [])),
            yes_no(r.get("ready")),
            r.get("why_not", ""),
        )
        for r in rows
    ]


def remaining_text(call: dict[str, Any]) -> str:
    left = call.get("remaining") or {}
    parts = [
        f"{name} {number(h.get('gpu_hours', 0))} GPU h, {number(h.get('cpu_hours', 0))} CPU h"
        for name, h in sorted(left.items())
    ]
    status = call.get("status", "")
    return f"Call {call['id']} ({status}); left to grant: {'; '.join(parts) or 'nothing'}."


def decide_question(call: dict[str, Any], rows: Sequence[dict[str, Any]]) -> str:
    """What Decide will do, counted from the preview, in one question."""
    ready = [r for r in rows if r.get("ready")]
    count = Counter(r.get("status") for r in ready)
    question = (
        f"Grant {count['granted']}, partial {count['partial']}, waitlist {count['waitlisted']}"
        f" on call {call['id']} ({call.get('title', '')})?"
    )
    if count["rejected"]:
        question += f" {count['rejected']} rejected."
    if len(rows) > len(ready):
        question += f" {len(rows) - len(ready)} not ready stay in review."
    return question + " This provisions the projects in Slurm."


class DecisionPanel(Panel):
    """Pick a call, see its ranking, decide it after confirming."""

    def __init__(self, client: FactoryClient, on_change: Callable[[], None]):
        super().__init__(client)
        self.on_change = on_change
        self.preview_call: dict[str, Any] | None = None
        self.preview_rows: list[dict[str, Any]] = []
        self.pick = w.Dropdown(description="Call", options=[], layout=w.Layout(width="520px"))
        self.refresh_button = self.button("Preview ranking", self.preview, icon="refresh")
        self.remaining = w.Label()
        self.ranking = w.HTML()
        self.decide_button = self.button(
            "Decide…", self.ask_decide, button_style="danger", disabled=True
        )
        self.result = w.HTML()
        self.watch(self.pick, self.preview)
        self.children = [
            w.HBox([self.pick, self.refresh_button]),
            self.remaining,
            self.ranking,
            self.decide_button,
            self.confirm,
            self.message,
            self.result,
            self.errors,
        ]

    def set_calls(self, calls: Sequence[dict[str, Any]]) -> None:
        if self.set_options(
            self.pick, [(option_text(c["id"], c["title"]), c["id"]) for c in calls]
        ):
            self.preview()

    def preview(self) -> None:
        """GET the ranking: who would get what now, and who is not ready and why."""
        self.confirm.hide()
        self.decide_button.disabled = True
        self.preview_call, self.preview_rows = None, []
        self.remaining.value = self.ranking.value = ""
        cid = self.pick.value
        if cid is None:
            return
        answer = self.attempt(
            f"Could not rank call {cid}", lambda: self.client.get(f"api/calls/{cid}/ranking")
        )
        if answer is None:
            return
        self.preview_call, self.preview_rows = answer["call"], answer["rows"]
        self.remaining.value = remaining_text(answer["call"])
        self.ranking.value = section(
            "Ranking (preview: nothing is decided yet)",
            PREVIEW_COLUMNS,
            ranking_rows(answer["rows"]),
            empty="no proposals in review",
        )
        ready = any(r.get("ready") for r in answer["rows"])
        self.decide_button.disabled = answer["call"].get("status") == "decided" or not ready

    def ask_decide(self) -> None:
        call = self.preview_call
        if call is None:
            return
        self.ask(decide_question(call, self.preview_rows), "Yes, decide", lambda: self.decide(call))

    def decide(self, call: dict[str, Any]) -> None:
        answer = self.attempt(
            f"Call {call['id']} was not decided",
            lambda: self.client.post(f"api/calls/{call['id']}/decide"),
        )
        if answer is None:
            return
        self.decide_button.disabled = True
        self.ranking.value = ""
        self.remaining.value = remaining_text(answer["call"])
        self.result.value = section(
            f"Decision on call {call['id']}", RESULT_COLUMNS, ranking_rows(answer["rows"]), "none"
        )
        self.say(f"Call {call['id']} is decided; granted projects are being provisioned.")
        self.on_change()
