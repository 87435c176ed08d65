"""The workshop desk: a trainer creates a workshop, hands out its accounts and watches the room.

Trainers open it in the console's "Workshops" dashboard (scope
custom:aifactory:workshops:manage). Creating a workshop answers with the participants'
passwords exactly once (docs/workshops-api.md), so they are shown here as a table, a CSV
download built in the page (no second request could fetch them again) and a printing hint.
Times are entered and shown in UTC: the reservation in Slurm and the service both use UTC,
and a trainer's browser may be anywhere.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.format import short_time
from aifactory_widgets.ui.panel import Panel, refusal
from aifactory_widgets.ui.tables import csv_link, html_table
from aifactory_widgets.workshops.room import RoomPanel

TAB_TITLES = ("My workshops", "New workshop")
MAX_PARTICIPANTS = 200
DEFAULT_MATERIALS = "workshop-intro"
CREDENTIAL_COLUMNS = ("username", "password")
_HH_MM = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*$")


def utc_datetime(day: dt.date | None, hh_mm: str, what: str) -> dt.datetime:
    """A date and an 'HH:MM' as a UTC moment; ValueError names what to fix."""
    if day is None:
        raise ValueError(f"Give the {what} date.")
    match = _HH_MM.match(hh_mm)
    hour, minute = (int(match[1]), int(match[2])) if match else (24, 60)
    if hour > 23 or minute > 59:
        raise ValueError(f"Write the {what} time as HH:MM in UTC, e.g. 09:00 (not {hh_mm!r}).")
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def workshop_body(
    title: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    participants: int,
    partition: str,
    resources: tuple[int, int, int],
    materials: str,
    environment: str = "",
) -> dict[str, Any]:
    """The `POST workshops` body (resources: CPUs, memory GB, GPUs per participant). An end not
    after the start is refused here, before anything is sent; the rest is the service's. No
    `environment` (the partition's default) is left out of the body, as the service takes it."""
    if ends_at <= starts_at:
        raise ValueError(
            f"The end ({short_time(ends_at.isoformat())}) must be after the start "
            f"({short_time(starts_at.isoformat())})."
        )
    cpus, memory_gb, gpus = resources
    return {
        "title": title.strip(),
        "starts_at": starts_at.isoformat(),
        "ends_at": ends_at.isoformat(),
        "participants": participants,
        "partition": partition.strip(),
        "cpus": cpus,
        "memory_gb": memory_gb,
        "gpus": gpus,
        "materials": materials.strip(),
        **({"environment": environment} if environment else {}),
    }


def credentials_csv(credentials: Sequence[dict[str, str]]) -> str:
    """username,password lines with a header, as a spreadsheet or a mail merge reads them."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CREDENTIAL_COLUMNS)
    writer.writerows((c["username"], c["password"]) for c in credentials)
    return out.getvalue()


def credentials_html(workshop: dict[str, Any], credentials: Sequence[dict[str, str]]) -> str:
    """The accounts of a new workshop: the download link, how to hand them out, the table."""
    name = f"workshop-{workshop['id']}-accounts.csv"
    hint = (
        f"Shown only now: download the CSV or print this page (Ctrl+P) and hand each participant "
        f"their line. The accounts work from {short_time(workshop.get('starts_at') or '')} to "
        f"{short_time(workshop.get('ends_at') or '')}."
    )
    rows = [(c["username"], c["password"]) for c in credentials]
    return (
        f"<h3>Accounts of workshop {html.escape(str(workshop['id']))}</h3>"
        f"<p>{csv_link(credentials_csv(credentials), name)}</p><p><b>{html.escape(hint)}</b></p>"
        + html_table(CREDENTIAL_COLUMNS, rows, empty="no accounts")
    )


def _field(width: str = "340px") -> dict[str, Any]:
    """Room for the descriptions, which ipywidgets would otherwise cut short."""
    return {"style": {"description_width": "150px"}, "layout": w.Layout(width=width)}


def _time_field(value: str) -> w.Text:
    return w.Text(
        value=value, placeholder="HH:MM", description="at (UTC)", layout=w.Layout(width="160px")
    )


def partition_label(partition: dict[str, Any]) -> str:
    return (
        f"{partition['name']}: up to {partition['max_cpus']} CPUs, "
        f"{partition['max_memory_gb']} GB, {partition['max_gpus']} GPUs each"
    )


def environment_options(
    environments: Sequence[dict[str, Any]], partition: str
) -> list[tuple[str, str]]:
    """The environments `GET api/site` says are offered on `partition`, as Dropdown options:
    first the one a session there gets when none is named (value "", so each spawn takes the
    site's default then), then the others by name."""
    offered = [e for e in environments if partition in e.get("partitions", [])]
    if not offered:
        return [(f"none offered on {partition or 'this partition'}", "")]

    def label(env: dict[str, Any]) -> str:
        return env["name"] + (f": {env['description']}" if env.get("description") else "")

    first, *others = offered  # the service lists the default first
    return [(f"{label(first)} (the default)", "")] + [(label(e), e["name"]) for e in others]


class NewWorkshopPanel(Panel):
    """The creation form, and the new workshop's accounts shown once."""

    def __init__(self, client: FactoryClient, on_created: Callable[[dict[str, Any]], None]):
        super().__init__(client)
        self.on_created = on_created
        self.title = w.Text(description="Title", **_field("600px"))
        self.start_day = w.DatePicker(description="Starts (UTC)", **_field())
        self.start_time = _time_field("09:00")
        self.end_day = w.DatePicker(description="Ends (UTC)", **_field())
        self.end_time = _time_field("17:00")
        self.participants = w.BoundedIntText(
            value=10, min=1, max=MAX_PARTICIPANTS, description="Participants", **_field()
        )
        self.cpus = w.BoundedIntText(value=1, min=1, max=256, description="CPUs each", **_field())
        self.memory_gb = w.BoundedIntText(
            value=2, min=1, max=4096, description="Memory GB each", **_field()
        )
        self.gpus = w.BoundedIntText(value=0, min=0, max=64, description="GPUs each", **_field())
        self.partition_hint = w.Label()
        self.partitions: dict[str, dict[str, Any]] = {}
        self.environments: list[dict[str, Any]] = []
        self.partition = self._partition_field()
        self.environment = w.Dropdown(description="Environment", **_field("600px"))
        # A site without environments runs every session in the factory's own: nothing to pick.
        self.environment.layout.display = None if self.environments else "none"
        self.watch(self.partition, self.partition_changed)
        self.partition_changed()
        self.materials = w.Text(value=DEFAULT_MATERIALS, description="Materials folder", **_field())
        self.create_button = self.button("Create workshop", self.create, button_style="primary")
        self.credentials = w.HTML()
        self.children = [
            w.HTML("<h3>New workshop</h3>"),
            self.title,
            w.HBox([self.start_day, self.start_time]),
            w.HBox([self.end_day, self.end_time]),
            w.Label("Times are in UTC. Accounts and the Slurm reservation last from start to end."),
            self.participants,
            w.HBox([self.partition, self.partition_hint]),
            self.environment,
            self.cpus,
            self.memory_gb,
            self.gpus,
            w.HBox([self.materials, w.Label("a folder under notebooks/, copied to each home")]),
            self.create_button,
            self.message,
            self.credentials,
            self.errors,
        ]

    def _partition_field(self) -> w.Dropdown | w.Text:
        """A Dropdown of the site's partitions (`GET api/site`: all of them, as the service
        checks a workshop against the site, not against the trainer's own projects), bounding
        the sizes; a Text when the service names none."""
        try:
            site = self.client.get("api/site") or {}
        except FactoryError as exc:
            site = {}
            self.partition_hint.value = f"Type its name ({refusal(exc)})."
        self.partitions = {p["name"]: p for p in site.get("partitions", [])}
        self.environments = list(site.get("environments") or [])
        if not self.partitions:
            self.partition_hint.value = self.partition_hint.value or "Type its name, e.g. cpu."
            return w.Text(description="Partition", placeholder="e.g. cpu", **_field())
        options = [(partition_label(p), name) for name, p in self.partitions.items()]
        default = site.get("default_partition")
        return w.Dropdown(
            description="Partition",
            options=options,
            value=default if default in self.partitions else options[0][1],
            **_field("600px"),
        )

    def partition_changed(self) -> None:
        self.bound_sizes()
        if self.environments:
            options = environment_options(self.environments, self.partition.value or "")
            self.set_options(self.environment, options)

    def bound_sizes(self) -> None:
        """Bound CPUs, memory and GPUs by the partition's per-session limits."""
        limits = self.partitions.get(self.partition.value)
        if limits is None:
            return
        self.cpus.max = limits["max_cpus"]
        self.memory_gb.max = limits["max_memory_gb"]
        self.gpus.min = 0  # before max, which may fall below the old min
        self.gpus.max = limits["max_gpus"]
        self.gpus.min = limits.get("min_gpus", 0)

    def body(self) -> dict[str, Any]:
        """The form as the `POST workshops` body; ValueError says what to fix first."""
        return workshop_body(
            self.title.value,
            utc_datetime(self.start_day.value, self.start_time.value, "start"),
            utc_datetime(self.end_day.value, self.end_time.value, "end"),
            self.participants.value,
            self.partition.value or "",
            (self.cpus.value, self.memory_gb.value, self.gpus.value),
            self.materials.value,
            self.environment.value or "",
        )

    def create(self) -> None:
        try:
            body = self.body()
        except ValueError as exc:
            self.say(str(exc), error=True)
            return
        failed = "The workshop was not created"
        answer = self.attempt(failed, lambda: self.client.post("api/workshops", body))
        if answer is None:
            return
        workshop, credentials = answer["workshop"], answer["credentials"]
        self.credentials.value = credentials_html(workshop, credentials)
        self.say(
            f"Created workshop {workshop['id']} ({workshop.get('title', '')}) with "
            f"{len(credentials)} accounts; its room is in the My workshops tab."
        )
        self.on_created(workshop)


class WorkshopDesk(w.VBox):
    """Tabs My workshops (list and live room, refreshed every `refresh_s`) and New workshop
    over the workshops API (the viewer's own token by default)."""

    def __init__(self, client: FactoryClient | None = None, refresh_s: float = 10.0):
        client = client or FactoryClient.from_env()
        self.client = client
        self.room = RoomPanel(client, refresh_s=refresh_s)
        self.new = NewWorkshopPanel(client, on_created=self.created)
        self.tabs = w.Tab(children=[self.room, self.new], titles=TAB_TITLES)
        super().__init__([self.tabs])
        self.room.load()
        if not self.room.items:
            self.tabs.selected_index = 1  # nothing to watch yet: start with the form

    def created(self, workshop: dict[str, Any]) -> None:
        """Pick the new workshop in the room tab, so it is there when the trainer turns to it."""
        self.room.select(workshop["id"])
