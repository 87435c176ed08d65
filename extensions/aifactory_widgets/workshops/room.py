"""The trainer's room view: who in a workshop is logged in, running or idle, and whose hand is up.

A trainer glances at it while teaching, so it refreshes itself with the cluster view's
browser-ticking timer (ui/refresh.py): a page that is closed stops the requests. Rows are rebuilt
only when the room changed and keep the participants' order, so a click never lands on a row
that moved under the pointer; raised hands are summed up above the rows instead. A question
(restart, end) lives in the panel's confirm row, outside the rows, and survives the refreshes.
"""

from __future__ import annotations

import datetime as dt
import html
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient
from aifactory_widgets.ui.format import clock, plural, short_time, utc_moment
from aifactory_widgets.ui.panel import ListPanel
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon, updated_line
from aifactory_widgets.ui.tables import cell

WORKSHOP_COLUMNS = ("workshop", "title", "status", "starts", "ends", "partition",
                    "participants", "each gets")  # fmt: skip
ROOM_COLUMNS = ("participant", "state", "last activity", "job", "hand")
WITH_SESSION = frozenset({"pending", "running", "idle"})
EXTENSIONS = (("Extend by 30 min", 30), ("Extend by 1 h", 60))
HAND_COLOUR = "#ffd54f"
CELL = "130px"  # the width of a room row's cells


def raised_hands(room: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The participants whose hand is up, who raised it first first."""
    return sorted((p for p in room if p.get("hand_raised_at")), key=lambda p: p["hand_raised_at"])


def hands_html(room: Sequence[dict[str, Any]]) -> str:
    """The count of raised hands, large, and who raised them (escaped: usernames are data)."""
    hands = raised_hands(room)
    if not hands:
        return '<div class="af-muted">No raised hands.</div>'
    who = ", ".join(
        f"{html.escape(p['username'])} since {html.escape(clock(p['hand_raised_at']))}"
        for p in hands
    )
    return (
        f'<div style="font-size:18px;background:{HAND_COLOUR};padding:6px 10px">'
        f"<b>✋ {plural(len(hands), 'raised hand')}</b>: {who}</div>"
    )


def extended_end(ends_at: str, minutes: int) -> str:
    """The `extend` body's new end: the current end plus `minutes`, in ISO with +00:00."""
    return (utc_moment(ends_at) + dt.timedelta(minutes=minutes)).isoformat()


def end_question(workshop: dict[str, Any]) -> str:
    """What ending does, with its numbers, so the trainer knows who is cut off."""
    room = workshop.get("room") or []
    sessions = sum(1 for p in room if p.get("state") in WITH_SESSION)
    accounts = len(room) or int(workshop.get("participants") or 0)
    return (
        f"End workshop {workshop['id']} ({workshop.get('title', '')})? Stop "
        f"{plural(sessions, 'session')}, delete the reservation and disable "
        f"{plural(accounts, 'account')}?"
    )


def workshop_rows(workshops: Sequence[dict[str, Any]]) -> list[tuple]:
    return [
        (
            ws["id"],
            ws.get("title", ""),
            ws.get("status", ""),
            short_time(ws.get("starts_at") or ""),
            short_time(ws.get("ends_at") or ""),
            ws.get("partition", ""),
            ws.get("participants", ""),
            f"{ws.get('cpus')} CPU, {ws.get('memory_gb')} GB, {ws.get('gpus')} GPU",
        )
        for ws in workshops
    ]


class RoomPanel(BrowserRefresh, ListPanel):
    """The trainer's workshops, and the room of the one picked, refreshed every `refresh_s`."""

    noun = "workshop"
    columns = WORKSHOP_COLUMNS
    empty = "no workshops yet: create one in the New workshop tab"

    def __init__(self, client: FactoryClient, refresh_s: float = 10.0):
        super().__init__(client, pick="Workshop")
        self.refresh_s = refresh_s
        self.status = w.Label()
        self.summary = w.Label()
        self.hands = w.HTML()
        self.room_rows = w.VBox()
        self.extend_buttons = [
            self.button(text, lambda m=minutes: self.extend(m), icon="clock-o")
            for text, minutes in EXTENSIONS
        ]
        self.end_button = self.button("End workshop…", self.ask_end, button_style="danger")
        refresh = self.button("Refresh now", self.refresh_room, icon="refresh")
        self.make_timer(refresh_s)
        self._room_key: tuple | None = None
        self.children = [
            w.HTML("<h3>My workshops</h3>"),
            self.table,
            w.HBox([self.pick, refresh]),
            self.status,
            self.summary,
            self.hands,
            w.HBox([*self.extend_buttons, self.end_button]),
            self.confirm,
            self.message,
            self.room_rows,
            self.errors,
            self.timer,
        ]
        start_soon(self.start_timer)

    def list_path(self) -> str:
        return "api/workshops"

    def item_path(self, key: Any) -> str:
        return f"api/workshops/{key}"

    def rows(self, items: Sequence[dict[str, Any]]) -> list[tuple]:
        return workshop_rows(items)

    def option(self, item: dict[str, Any]) -> str:
        return f"{item['id']}: {item.get('title', '')} ({item.get('status', '')})"

    def select(self, workshop_id: int) -> None:
        """Read the list again and show `workshop_id`'s room (a workshop just created)."""
        self.load()
        if workshop_id in [item["id"] for item in self.items]:
            self.pick.value = workshop_id

    def timer_off(self, text: str) -> None:
        self.status.value = text

    def refresh(self) -> None:
        """A tick of the timer: the room again, any error shown on the page."""
        self.run(self.refresh_room)

    def refresh_room(self) -> None:
        """Read the picked workshop again, keeping any question the trainer is being asked."""
        key = self.pick.value
        if key is None:
            return
        path = self.item_path(key)
        failed = f"Could not refresh workshop {key}"
        workshop = self.attempt(failed, lambda: self.client.get(path), label=self.status)
        if workshop is not None:
            self.show(workshop)

    def show_item(self, item: dict[str, Any] | None) -> None:
        ended = item is None or item.get("status") == "ended"
        for button in [*self.extend_buttons, self.end_button]:
            button.disabled = ended
        if item is None:
            self.summary.value, self.hands.value = "No workshop picked.", ""
            self.room_rows.children, self._room_key = [], None
            return
        self.say(updated_line(self.refresh_s), label=self.status)
        self.summary.value = (
            f"{item.get('title', '')}: {item.get('status', '')}, {short_time(item['starts_at'])}"
            f" to {short_time(item['ends_at'])}; partition {item.get('partition', '')}, "
            f"reservation {item.get('reservation', '')}, account {item.get('account', '')}."
        )
        room = item.get("room") or []
        self.hands.value = hands_html(room)
        key = (item["id"], ended, tuple(tuple(sorted(p.items())) for p in room))
        if key != self._room_key:  # rebuild rows only when something changed
            self._room_key = key
            rows = [self._row(p, ended) for p in room]
            self.room_rows.children = (
                [w.HBox([cell(c, CELL, bold=True) for c in ROOM_COLUMNS]), *rows]
                if rows
                else [w.Label("No participants.")]
            )

    def _row(self, participant: dict[str, Any], ended: bool) -> w.HBox:
        user = participant["username"]
        state = participant.get("state", "")
        last = clock(participant.get("last_activity"))
        cells = [user, state.replace("_", " "), f"{last} UTC" if last else "-"]  # not_logged_in
        cells.append(participant.get("job_id") or "-")
        raised = participant.get("hand_raised_at")
        hand = cell(f"✋ since {clock(raised)}" if raised else "", CELL, bold=True)
        if raised:
            hand.style.background = HAND_COLOUR
        restart = self.button(
            "Restart session",
            lambda: self.ask_restart(participant),
            disabled=ended or state == "disabled",
        )
        lower = self.button("Lower hand", lambda: self.lower_hand(user), disabled=not raised)
        return w.HBox([*(cell(c, CELL) for c in cells), hand, restart, lower])

    def _act(self, failed: str, call: Callable[[], Any], done: str) -> Any:
        """Send one action and read the room again: the answers differ (a 202 has no room),
        the room afterwards is what the trainer needs to see. The answer, or None if refused."""
        answer = self.attempt(failed, lambda: call() or {})
        if answer is not None:
            self.say(done)
            self.refresh_room()
        return answer

    def _path(self, *parts: Any) -> str:
        assert self.current is not None
        quoted = (urllib.parse.quote(str(p), safe="") for p in parts)
        return "/".join(["api/workshops", str(self.current["id"]), *quoted])

    def ask_restart(self, participant: dict[str, Any]) -> None:
        """Ask first: the participant's unsaved work in the running session is lost."""
        user, job = participant["username"], participant.get("job_id")
        session = f"{user}'s session (Slurm job {job})" if job else f"{user}'s session"
        question = f"Restart {session}? Unsaved work in it is lost."
        self.ask(question, "Yes, restart it", lambda: self.restart(user))

    def restart(self, user: str) -> None:
        path = self._path("participants", user, "restart")
        done = f"Restarting {user}'s session: it stops and starts again."
        self._act(f"{user}'s session was not restarted", lambda: self.client.post(path), done)

    def lower_hand(self, user: str) -> None:
        path = self._path("hands", user)
        done = f"Lowered {user}'s hand."
        self._act(f"{user}'s hand was not lowered", lambda: self.client.delete(path), done)

    def extend(self, minutes: int) -> None:
        if self.current is None:
            return
        body = {"ends_at": extended_end(self.current["ends_at"], minutes)}
        path, key = self._path("extend"), self.current["id"]
        done = f"Workshop {key} now ends {short_time(body['ends_at'])}."
        self._act(f"Workshop {key} was not extended", lambda: self.client.post(path, body), done)

    def ask_end(self) -> None:
        if self.current is not None:
            path = self._path("end")
            self.ask(end_question(self.current), "Yes, end it", lambda: self.end(path))

    def end(self, path: str) -> None:
        done = (
            "The workshop ended: sessions stopped, reservation deleted, accounts disabled; "
            "the usage is kept."
        )
        answer = self._act("The workshop was not ended", lambda: self.client.post(path), done)
        problems = answer.get("problems") if isinstance(answer, dict) else None
        if problems:  # every step was tried; these failed and need staff
            self.say(f"{done} Not done: {'; '.join(map(str, problems))}", error=True)
