"""The review desk: a reviewer reads the proposals assigned to them and scores each one.

Reviewers open it in the console's "My reviews" dashboard (scope
custom:aifactory:proposals:review); the service lists only the proposals assigned to the viewer
and shows them only their own review. Only quality and pertinence count toward the ranking.
A review can be changed until the call is decided: the service says no after that, and the
desk shows its words rather than guessing the rule itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.access.proposal_view import mode_label, option_text, proposal_html
from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.panel import ListPanel

MARKS = [("1 poor", 1), ("2 fair", 2), ("3 good", 3), ("4 very good", 4), ("5 excellent", 5)]
ASSIGNED_COLUMNS = ("id", "title", "mode", "status", "your review")


def own_review(proposal: dict[str, Any]) -> dict[str, Any] | None:
    """The viewer's review: the service sends a reviewer no one else's."""
    reviews = proposal.get("reviews") or []
    return reviews[0] if reviews else None


def review_state(proposal: dict[str, Any]) -> str:
    review = own_review(proposal)
    if not review or not review.get("submitted"):
        return "not yet"
    return f"submitted (quality {review.get('quality')}, pertinence {review.get('pertinence')})"


def assigned_rows(proposals: Sequence[dict[str, Any]]) -> list[tuple]:
    return [
        (
            p["id"],
            p.get("title", ""),
            mode_label(p),
            str(p.get("status", "")).replace("_", " "),
            review_state(p),
        )
        for p in proposals
    ]


class ReviewDesk(ListPanel):
    """Assigned proposals, one in full, and the score form for it (the viewer's own token by
    default)."""

    noun = "proposal"
    columns = ASSIGNED_COLUMNS
    empty = "no proposals assigned to you"

    def __init__(self, client: FactoryClient | None = None):
        super().__init__(client or FactoryClient.from_env(), pick="Proposal")
        self.details = w.HTML()
        self.quality = w.Dropdown(description="Quality", options=MARKS, value=None)
        self.pertinence = w.Dropdown(description="Pertinence", options=MARKS, value=None)
        self.comment = w.Textarea(
            placeholder="Comment for the panel and the applicant", layout=w.Layout(width="520px")
        )
        self.submit = self.button("Submit review", self.send, button_style="primary")
        self.state = w.Label()
        self.form = w.VBox(
            [
                w.HTML("<h4>Your review</h4>"),
                w.Label("Marks: 1 poor, 2 fair, 3 good, 4 very good, 5 excellent."),
                w.HBox([self.quality, self.pertinence]),
                self.comment,
                w.HBox([self.submit, self.state]),
            ],
            layout=w.Layout(display="none"),
        )
        refresh = self.button("Refresh", self.load, icon="refresh")
        self.children = [
            w.HBox([refresh, w.HTML("<b>Proposals assigned to you</b>")]),
            self.table,
            self.pick,
            self.details,
            self.form,
            self.message,
            self.errors,
        ]
        self.load()

    def list_path(self) -> str:
        return "api/proposals"

    def item_path(self, key: Any) -> str:
        return f"api/proposals/{key}"

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        return assigned_rows(items)

    def option(self, item: dict[str, Any]) -> str:
        return option_text(item["id"], item.get("title", ""))

    def show_item(self, proposal: dict[str, Any] | None) -> None:
        """The proposal and the form, filled with the viewer's review if there is one."""
        self.form.layout.display = "none" if proposal is None else "flex"
        if proposal is None:
            self.details.value = ""
            return
        self.details.value = proposal_html(proposal)
        review = own_review(proposal) or {}
        marks = {value for _, value in MARKS}
        self.quality.value = review.get("quality") if review.get("quality") in marks else None
        self.pertinence.value = (
            review.get("pertinence") if review.get("pertinence") in marks else None
        )
        self.comment.value = review.get("comment") or ""
        submitted = bool(review.get("submitted"))
        self.submit.description = "Change review" if submitted else "Submit review"
        self.state.value = (
            "Submitted. You can change it until the call is decided." if submitted else ""
        )

    def send(self) -> None:
        """PUT the review; the service refuses once the call is decided and says so."""
        if self.current is None:
            return
        if self.quality.value is None or self.pertinence.value is None:
            self.say("Give a mark for quality and for pertinence.", error=True)
            return
        pid = self.current["id"]
        body = {
            "quality": self.quality.value,
            "pertinence": self.pertinence.value,
            "comment": self.comment.value,
        }
        answer = self.attempt(
            f"Your review of proposal {pid} was not saved",
            lambda: self.client.put(f"api/proposals/{pid}/review", body),
        )
        if answer is not None:
            self.show(answer)
            self.say(f"Review of proposal {pid} submitted.")
