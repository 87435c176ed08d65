"""The cluster view: partitions, nodes, the Slurm queue and the hub's sessions, with a stop
button.

Staff see it in the console's cluster dashboard. It reads one snapshot from the factory
service per refresh; the service takes at most one per interval for all viewers. The refresh
timer is a Play widget ticking in the browser, so a kernel whose page is gone stops asking
and goes idle (and the console culls it); ui/refresh.py says how it is started.
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.format import short_time
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon, updated_line
from aifactory_widgets.ui.tables import cell, html_table

PARTITION_COLUMNS = (
    "partition",
    "nodes up",
    "CPUs alloc / idle / total",
    "GPUs alloc / idle / total",
)
NODE_COLUMNS = ("node", "partitions", "state", "reason", "CPUs alloc / total",
                "GPUs alloc / total")  # fmt: skip
QUEUE_COLUMNS = ("job", "name", "user", "account", "partition", "state", "reason", "expected start",
                 "elapsed", "nodes")  # fmt: skip
SESSION_COLUMNS = ("user", "project", "partition", "job", "state", "started", "last activity", "")
NARROW, WIDE = "120px", "180px"  # the session rows' cells; the two times are wide


def partition_rows(snapshot: dict[str, Any]) -> list[tuple]:
    return [
        (
            p["name"],
            f"{p['nodes_up']}/{p['nodes']}",
            f"{p['cpus_alloc']} / {p['cpus_free']} / {p['cpus_total']}",
            f"{p['gpus_alloc']} / {p['gpus_free']} / {p['gpus_total']}" if p["gpus_total"] else "-",
        )
        for p in snapshot.get("partitions", [])
    ]


def node_rows(snapshot: dict[str, Any]) -> list[tuple]:
    """One row per node; a node out of service says so in words, with the reason given."""
    return [
        (
            n["name"],
            ", ".join(n["partitions"]),
            n["state"] if n["usable"] else f"{n['state']} (takes no new jobs)",
            n["reason"] or "-",
            f"{n['cpus_alloc']} / {n['cpus_total']}",
            f"{n['gpus_alloc']} / {n['gpus_total']}" if n["gpus_total"] else "-",
        )
        for n in snapshot.get("nodes", [])
    ]


def queue_rows(snapshot: dict[str, Any]) -> list[tuple]:
    return [
        (
            j["id"],
            j["name"],
            j["user"],
            j["account"],
            j["partition"],
            j["state"],
            j["reason"],
            j["expected_start"],
            j["elapsed"],
            j["nodes"],
        )
        for j in snapshot.get("queue", [])
    ]


def session_state(session: dict[str, Any]) -> str:
    if session.get("pending"):
        return f"{session['pending']}ing"
    return "running" if session.get("ready") else "starting"


def status_line(snapshot: dict[str, Any], refresh_s: float) -> str:
    line = updated_line(refresh_s, snapshot.get("taken_at", 0))
    for part, error in sorted((snapshot.get("errors") or {}).items()):
        line += f" {part}: {error} (showing the last figures)."
    return line


class ClusterView(BrowserRefresh, w.VBox):
    """Partitions, queue and sessions, refreshed by a browser-side timer every `refresh_s`
    (the viewer's own token by default)."""

    def __init__(self, client: FactoryClient | None = None, refresh_s: float = 10.0):
        self.client = client or FactoryClient.from_env()
        self.refresh_s = refresh_s
        self.status = w.Label()
        self.message = w.Label()
        self.partitions = w.HTML()
        self.nodes = w.HTML()
        self.queue = w.HTML()
        self.sessions = w.VBox()
        self.confirm = ConfirmRow()
        self.refresh_button = w.Button(description="Refresh now", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.make_timer(refresh_s)
        self._session_key: tuple | None = None
        super().__init__(
            [
                w.HBox([self.refresh_button, self.status]),
                self.message,
                w.HTML("<h3>Partitions</h3>"),
                self.partitions,
                w.HTML("<h3>Nodes</h3>"),
                self.nodes,
                w.HTML("<h3>Sessions</h3>"),
                self.confirm,
                self.sessions,
                w.HTML("<h3>Queue</h3>"),
                self.queue,
                self.timer,
            ]
        )
        self.refresh()
        start_soon(self.start_timer)

    def timer_off(self, text: str) -> None:
        self.message.value = text

    def refresh(self) -> None:
        try:
            snapshot = self.client.get("api/cluster")
        except FactoryError as exc:
            self.status.value = f"Could not refresh: {exc}"
            return
        self.show(snapshot)

    def show(self, snapshot: dict[str, Any]) -> None:
        self.status.value = status_line(snapshot, self.refresh_s)
        self.partitions.value = html_table(PARTITION_COLUMNS, partition_rows(snapshot))
        self.nodes.value = html_table(NODE_COLUMNS, node_rows(snapshot), empty="no nodes")
        self.queue.value = html_table(QUEUE_COLUMNS, queue_rows(snapshot), empty="no jobs")
        sessions = snapshot.get("sessions", [])
        key = tuple(tuple(sorted(s.items())) for s in sessions)
        if key != self._session_key:  # rebuild rows only when something changed
            self._session_key = key
            rows = [self._row(s) for s in sessions]
            self.sessions.children = [self._header(), *rows] if rows else [w.Label("No sessions.")]

    def _header(self) -> w.HBox:
        *names, started, last, stop = SESSION_COLUMNS
        cells = [cell(c, NARROW, bold=True) for c in names]
        wide = [cell(c, WIDE, bold=True) for c in (started, last)]
        return w.HBox([*cells, *wide, cell(stop, NARROW, bold=True)])

    def _row(self, s: dict[str, Any]) -> w.HBox:
        stop = w.Button(description="Stop", button_style="warning", layout=w.Layout(width="80px"))
        stop.on_click(lambda _, s=s: self.ask_stop(s))
        cells = [s["user"], s["project"], s["partition"], s["job_id"], session_state(s)]
        times = [short_time(s["started"]), short_time(s["last_activity"])]
        return w.HBox([*(cell(v, NARROW) for v in cells), *(cell(v, WIDE) for v in times), stop])

    def ask_stop(self, session: dict[str, Any]) -> None:
        """Ask before stopping: the user loses unsaved work and the job is cancelled."""
        user, job = session["user"], session.get("job_id") or "?"
        question = f"Stop {user}'s session (Slurm job {job})? Unsaved work is lost."
        self.confirm.ask(question, "Yes, stop it", lambda: self.stop(user))

    def stop(self, user: str) -> None:
        self.confirm.hide()
        try:
            self.client.delete(f"api/sessions/{user}")
        except FactoryError as exc:
            self.message.value = f"Could not stop {user}'s session: {exc}"
            return
        self.message.value = f"Stopping {user}'s session; its Slurm job is being cancelled."
        self.refresh()
