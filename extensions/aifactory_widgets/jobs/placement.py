"""Where a launched job runs and who pays: the project and partition pickers the launchers share.

The session's own project and partition are the defaults; only the user's projects, and only
the partitions the chosen project may use, are offered. The wall time is bounded by the
partition's limit, and every launcher checks the request again before submitting.
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w

from aifactory_hub.site import Partition
from aifactory_widgets.jobs.limits import JobSite, SessionPlace

STYLE = {"description_width": "140px"}
DEFAULT_WALLTIME_MIN = 60


def field(kind: Callable[..., w.Widget], description: str, **kw: object) -> w.Widget:
    return kind(description=description, style=STYLE, layout=w.Layout(width="420px"), **kw)


class Placement(w.VBox):
    """Project, partition and wall time; `on_partition` runs when the partition changes."""

    def __init__(self, site: JobSite, place: SessionPlace, on_partition: Callable[[], None]):
        self.site = site
        self.on_partition = on_partition
        accounts = sorted(site.projects)
        self.project = field(w.Dropdown, "Project", options=accounts)
        self.partition = field(w.Dropdown, "Partition", options=[])
        self.walltime = field(w.BoundedIntText, "Wall time (min)", min=1, max=60, value=60)
        if place.account in accounts:
            self.project.value = place.account
        self._fill_partitions(prefer=place.partition)
        self.project.observe(lambda _: self._fill_partitions(self.partition.value), "value")
        self.partition.observe(lambda _: self._partition_changed(), "value")
        super().__init__([self.project, self.partition, self.walltime])

    @property
    def account(self) -> str:
        return self.project.value or ""

    @property
    def limits(self) -> Partition | None:
        return self.site.partitions.get(self.partition.value or "")

    def _fill_partitions(self, prefer: str) -> None:
        names = [p.name for p in self.site.partitions_of(self.account)]
        value = prefer if prefer in names else (names[0] if names else None)
        self.partition.options = names  # selects the first, which may notify once
        self.partition.value = value
        self._partition_changed()

    def _partition_changed(self) -> None:
        part = self.limits
        if part is not None:
            limit = int(part.max_walltime_hours * 60)
            self.walltime.max = limit
            self.walltime.value = min(self.walltime.value or DEFAULT_WALLTIME_MIN, limit)
        self.on_partition()
