"""A researcher's allocation as it burns: `from aifactory_widgets import QuotaView; QuotaView()`.

For each of the caller's projects: granted, used and left GPU- and CPU-hours per partition
with bars, the burn rate over the last 7 days, the day the hours run out at that rate
against the allocation's end, a plot of cumulative use over the allocation's period against
the grant (or a line saying why there is none), and for the PI who used what; and next to
the hours, the project's storage against its allowance, with its folders
($PROJECT_DIR, $SCRATCH_DIR; `usage.storage`). The figures come from the factory service (the
store the accounting collector and the storage meter fill), never from slurmdbd or a walk
of the folders; running jobs count up to the collector's last read, which the widget names.
"""

from __future__ import annotations

import html
import io
from collections.abc import Mapping
from datetime import date
from typing import TYPE_CHECKING, Any

import ipywidgets as w

from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.format import amount, short_time
from aifactory_widgets.ui.tables import html_table
from aifactory_widgets.usage.storage import StorageBox

if TYPE_CHECKING:
    from matplotlib.figure import Figure

API = "api/"
RESOURCES = (("gpu_hours", "GPU-hours"), ("cpu_hours", "CPU-hours"))
BAR_STYLE = {"none": "success", "80": "warning", "95": "danger", "exhausted": "danger"}
LEVEL_TEXT = {
    "80": "Warning: over 80 % of the allocation is used.",
    "95": "Warning: over 95 % of the allocation is used; ask for more hours soon.",
    "exhausted": "The allocation is used up: new sessions and jobs on it are refused "
    "(Slurm would hold them). Ask your PI or support for more hours.",
}
PARTITION_COLUMNS = ("partition", "GPU-h granted", "GPU-h used", "GPU-h left",
                     "CPU-h granted", "CPU-h used", "CPU-h left")  # fmt: skip
MEMBER_COLUMNS = ("member", "role", "GPU-hours", "CPU-hours")


def freshness(answer: Mapping[str, Any]) -> tuple[str, bool]:
    """The line saying how old the figures are, and whether they are stale."""
    state = answer.get("collector") or {}
    success = state.get("last_success_at")
    if not success:
        return "Accounting has not been read yet: no usage figures so far.", True
    line = f"Figures as of {short_time(success)} (accounting is read every "
    line += f"{state.get('interval_s', 60):g} s; running jobs count up to then)."
    if state.get("last_error"):
        line = (
            f"Stale figures: accounting could not be read since {short_time(success)} "
            f"({state['last_error'][:200]}). Showing the last figures."
        )
    elif state.get("stale"):
        line = f"Stale figures: the last accounting read was at {short_time(success)}."
    return line, bool(state.get("stale"))


def partition_rows(project: Mapping[str, Any]) -> list[tuple]:
    rows = []
    for p in project.get("partitions") or []:
        cells = [p["partition"]]
        for unit, _ in RESOURCES:
            cells += _fmt(p["granted"], p["used"], p["remaining"], unit)
        rows.append(tuple(cells))
    return rows


def _fmt(granted: dict, used: dict, left: dict, unit: str) -> tuple[str, str, str]:
    if not granted[unit]:  # drawn from the project's pool (Slurm limits the project's total)
        return "-", amount(used[unit]), "-"
    return amount(granted[unit]), amount(used[unit]), amount(left[unit])


def member_rows(project: Mapping[str, Any]) -> list[tuple]:
    return [
        (m["username"], m["role"], amount(m["gpu_hours"]), amount(m["cpu_hours"]))
        for m in project.get("members") or []
    ]


def projection_text(project: Mapping[str, Any]) -> str:
    """Burn rate over the last 7 days and when the hours run out at that rate."""
    burn = project.get("burn_per_day") or {}
    rate = ", ".join(f"{amount(burn.get(unit, 0))} {label}/day" for unit, label in RESOURCES)
    text = f"Burn rate over the last 7 days: {rate}."
    if not project.get("has_allocation"):
        return text + " No recorded allocation, so no projection."
    ends = project.get("ends_on")
    for name, when in sorted((project.get("exhaustion") or {}).items()):
        label = "GPU-hours" if name == "gpu" else "CPU-hours"
        if when is None:
            text += f" The {label} last beyond the end date at this rate."
        elif ends and when < ends:
            text += f" At this rate the {label} run out on {when}, before the end on {ends}."
        else:
            text += f" At this rate the {label} last until {when} (the allocation ends {ends})."
    return text


def plot_note(project: Mapping[str, Any]) -> str:
    """What stands instead of the plot, or "" when there is a plot to draw: a project with no
    recorded allocation has no period or grant to draw against, and one with no use yet would
    draw an empty chart."""
    account = project.get("account", "")
    if not project.get("has_allocation"):
        return f"No recorded allocation for {account}, so no plot of its use."
    if not any(d.get(unit) for d in project.get("daily") or [] for unit, _ in RESOURCES):
        period = f"{project.get('starts_on') or '?'}..{project.get('ends_on') or '?'}"
        return f"No use recorded yet for {account} (allocation {period})."
    return ""


def quota_figure(project: Mapping[str, Any]) -> Figure:
    """Cumulative use per day against what was granted: the time axis spans the allocation
    (its start to its end, so how far through the period it is shows at a glance), the value
    axis the grant (a dashed line) or the use, whichever is higher."""
    from matplotlib.figure import Figure  # imported here: only a plot needs it

    daily = project.get("daily") or []
    days = [date.fromisoformat(d["day"]) for d in daily]
    starts = project.get("starts_on")
    ends = project.get("ends_on")
    fig = Figure(figsize=(8, 2.6), dpi=96, layout="constrained")
    axes = fig.subplots(1, 2)
    for ax, (unit, label) in zip(axes, RESOURCES, strict=True):
        used = [d[unit] for d in daily]
        ax.plot(days, used, marker="o", markersize=3, label="used")
        granted = (project.get("granted") or {}).get(unit) or 0
        if granted:
            ax.axhline(granted, color="tab:red", linestyle="--", label="granted")
        if starts and ends:
            ax.set_xlim(date.fromisoformat(starts), date.fromisoformat(ends))
        ax.set_ylim(0, max([granted, *used, 1e-9]) * 1.1)  # the grant and the use, with room
        ax.set_title(f"{label}, cumulative", fontsize=10)
        ax.tick_params(labelsize=8)
        ax.legend(fontsize=7, loc="upper left")
    fig.autofmt_xdate()
    return fig


def plot_png(project: Mapping[str, Any]) -> bytes:
    """`quota_figure` as PNG."""
    out = io.BytesIO()
    quota_figure(project).savefig(out, format="png")
    return out.getvalue()


class ProjectUsageCard(w.VBox):
    """One project's figures, as the service answered them."""

    def __init__(self, project: Mapping[str, Any]):
        self.project = project
        mode = str(project.get("access_mode") or "").replace("_", " ")
        ends = f", ends {project['ends_on']}" if project.get("ends_on") else ""
        self.heading = w.Label(
            f"{project['account']}: {project.get('title') or ''} ({mode}{ends})",
            style={"font_weight": "bold"},
        )
        self.warning = w.Label(LEVEL_TEXT.get(project.get("level", "none"), ""))
        self.warning.style.text_color = "#b00020" if project.get("level") != "none" else None
        self.bars = w.VBox(self._bars())
        self.storage = StorageBox(project.get("storage"))
        self.partitions = w.HTML(html_table(PARTITION_COLUMNS, partition_rows(project)))
        self.projection = w.HTML(f"<p>{html.escape(projection_text(project))}</p>")
        note = plot_note(project)
        self.plot = w.Label(note) if note else w.Image(value=plot_png(project), format="png")
        charge = project.get("charge")
        self.charge = w.Label(
            f"Charged access: {charge['amount']} {charge['currency']} for the use so far."
            if charge
            else "Free of charge."
        )
        parts: list[w.Widget] = [self.heading, self.warning, self.bars, self.storage,
                                 self.partitions, self.projection, self.plot,
                                 self.charge]  # fmt: skip
        self.members = None
        if project.get("members") is not None:
            self.members = w.HTML(html_table(MEMBER_COLUMNS, member_rows(project)))
            parts += [w.HTML("<b>Use by member</b> (you see this as the PI)"), self.members]
        super().__init__(parts, layout=w.Layout(border="1px solid #dde", padding="6px"))

    def _bars(self) -> list[w.Widget]:
        """A bar per partition and granted resource; one line when nothing is recorded."""
        if not self.project.get("has_allocation"):
            used = self.project.get("used") or {}
            text = ", ".join(f"{amount(used.get(u))} {label}" for u, label in RESOURCES)
            return [w.Label(f"No recorded allocation. Used so far: {text}.")]
        bars: list[w.Widget] = []
        style = BAR_STYLE.get(self.project.get("level", "none"), "info")
        for p in self.project.get("partitions") or []:
            for unit, label in RESOURCES:
                granted, used = p["granted"][unit], p["used"][unit]
                if not granted:
                    continue
                name = f"{p['partition']} {label}"
                bar = w.FloatProgress(
                    value=min(used, granted), min=0, max=granted, bar_style=style, description=name
                )
                bar.style.description_width = "140px"
                note = f"{amount(used)} of {amount(granted)} used, {amount(granted - used)} left"
                bars.append(w.HBox([bar, w.Label(note)]))
        return bars


class QuotaView(w.VBox):
    """Every project of the caller, with a refresh button and the figures' age (the session's
    own token by default)."""

    def __init__(self, client: FactoryClient | None = None):
        self.client = client or FactoryClient.from_env()
        self.status = w.Label()
        self.refresh_button = w.Button(description="Refresh", icon="refresh")
        self.refresh_button.on_click(lambda _: self.refresh())
        self.cards = w.VBox()
        self.answer: dict[str, Any] = {}
        super().__init__([w.HBox([self.refresh_button, self.status]), self.cards])
        self.refresh()

    def refresh(self) -> None:
        try:
            answer = self.client.get(API + "usage")
        except FactoryError as exc:
            self.status.value = f"Could not read your usage: {exc}"
            self.status.style.text_color = "#b00020"
            return
        self.show(answer)

    def show(self, answer: dict[str, Any]) -> None:
        self.answer = answer
        line, stale = freshness(answer)
        self.status.value = line
        self.status.style.text_color = "#b00020" if stale else None
        projects = answer.get("projects") or []
        cards = [ProjectUsageCard(p) for p in projects]
        self.cards.children = cards or [w.Label("You are not a member of any project.")]
