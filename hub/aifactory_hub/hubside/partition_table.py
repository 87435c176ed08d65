"""What the spawn form tells a user before they press Start, as server-rendered HTML: the
partitions their projects may use (node types and free capacity as Slurm reports them, the GPU
model, the jobs waiting), the price of an hour of the session, and, for a request that does not
fit now, when Slurm expects to start it.

Pure functions over plain inputs (the Slurm and store reads are hubside/spawn_inputs.py's);
every text from a site file, the store or Slurm is escaped here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from html import escape

from aifactory_hub.policy import Rates, charge
from aifactory_hub.site import Site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm.capacity import NodeInfo, PartitionCapacity, fits_now, node_types
from aifactory_hub.slurm.queue import ExpectedStart, PartitionQueue

SITE_MODE = "site"  # a site-file project: no access mode, never charged


@dataclass(frozen=True)
class ProjectPrice:
    """How a project's sessions are priced: charged at the site's rates, or free and why."""

    charged: bool
    why: str  # for a free project: "Playground access", "site project"


def project_price(site: Site, access_mode: str, charged: bool) -> ProjectPrice:
    """The price terms of a project from its store record (or a site-file project's)."""
    if charged:
        return ProjectPrice(True, f"{site.access.label(access_mode)} access, charged")
    if access_mode == SITE_MODE:
        return ProjectPrice(False, "site project")
    return ProjectPrice(False, f"{site.access.label(access_mode)} access")


def hourly_price(rates: Rates, cpus: int, gpus: int) -> Decimal:
    """What one hour of a session with `cpus` and `gpus` costs a charged project: a session
    is charged like any job, its CPU-hours and GPU-hours at the site's rates."""
    return charge(gpus, cpus, rates)


def price_text(price: ProjectPrice | None, rates: Rates, cpus: int, gpus: int) -> str:
    """The form's price line for one project and request."""
    if price is None:
        return "Price: unknown (the factory's records could not be read now)."
    if not price.charged:
        return f"Price: free ({price.why})."
    amount = hourly_price(rates, cpus, gpus)
    parts = [f"{cpus} CPU-h x {rates.cpu_hour_eur:g}"]
    if gpus:
        parts.append(f"{gpus} GPU-h x {rates.gpu_hour_eur:g}")
    return (
        f"Price: {amount} {rates.currency} per session hour ({' + '.join(parts)} "
        f"{rates.currency}; {price.why})."
    )


def partition_table(
    site: Site,
    names: Sequence[str],
    nodes: Sequence[NodeInfo] | None,
    capacity: Mapping[str, PartitionCapacity],
    queue: Mapping[str, PartitionQueue] | None,
) -> str:
    """The table of the partitions called `names` (those the user's projects may use).
    `nodes` None: Slurm did not answer; the site file's node shape is shown, marked so."""
    rows = "".join(_row(site, name, nodes, capacity.get(name), queue) for name in names)
    note = (
        '<p class="alert alert-warning" id="aif-slurm-unknown">Slurm is not answering now: '
        "free capacity and the queue are unknown. You can still start a session; it waits in "
        "the queue until the cluster can run it.</p>"
        if nodes is None
        else ""
    )
    return (
        f'{note}<table class="table table-condensed" id="aif-partitions">'
        "<caption>Partitions your projects may use, now</caption><thead><tr>"
        '<th scope="col">Partition</th><th scope="col">Nodes (CPUs, memory each)</th>'
        '<th scope="col">GPUs</th><th scope="col">CPUs free / total</th>'
        '<th scope="col">GPUs free / total</th><th scope="col">Queue</th>'
        f"</tr></thead><tbody>{rows}</tbody></table>"
    )


def _row(
    site: Site,
    name: str,
    nodes: Sequence[NodeInfo] | None,
    cap: PartitionCapacity | None,
    queue: Mapping[str, PartitionQueue] | None,
) -> str:
    part = site.partition(name)
    label = f"{name} - {part.description}" if part.description else name
    if nodes is None:
        shapes = (
            f"{part.nodes} x {part.cpus_per_node} CPUs, {part.memory_gb_per_node} GB (site file)"
        )
    else:
        types = node_types(list(nodes), name)
        shapes = (
            "; ".join(f"{t.count} x {t.cpus} CPUs, {_gb(t.memory_mb)}" for t in types) or "no nodes"
        )
        if cap is not None and cap.nodes_up < cap.nodes:
            shapes += f" ({cap.nodes - cap.nodes_up} not taking jobs)"
    gpu = site.gpu_type(part.gpu_type) if part.gpu_type else None
    model = (gpu.label or gpu.name) if gpu else part.gpu_type
    gpus = f"{model}, {part.gpus_per_node} per node" if part.has_gpus else "none"
    if cap is None:
        cpus = gpu_free = "unknown"
    else:
        cpus = f"{cap.cpus_free} / {cap.cpus_total}"
        gpu_free = f"{cap.gpus_free} / {cap.gpus_total}" if part.has_gpus else "-"
    waiting = _queue_text(queue, name)
    cells = (label, shapes, gpus, cpus, gpu_free, waiting)
    attrs = ("", "", "", ' class="aif-cpus-free"', ' class="aif-gpus-free"', ' class="aif-queue"')
    body = "".join(f"<td{a}>{escape(c)}</td>" for a, c in zip(attrs, cells, strict=True))
    return f'<tr data-partition="{escape(name)}">{body}</tr>'


def _queue_text(queue: Mapping[str, PartitionQueue] | None, name: str) -> str:
    if queue is None:
        return "unknown"
    waiting = queue.get(name, PartitionQueue())
    held = f" ({waiting.held} held)" if waiting.held else ""
    return f"{waiting.pending} pending{held}"


def _gb(memory_mb: int) -> str:
    return f"{memory_mb / 1024:g} GB"


def request_fits(nodes: Sequence[NodeInfo] | None, request: SessionRequest) -> bool | None:
    """Whether the request could start on a free node now; None when Slurm did not answer."""
    if nodes is None:
        return None
    return fits_now(list(nodes), request.partition, request.cpus, request.memory_gb, request.gpus)


def start_text(
    request: SessionRequest, fits: bool | None, expected: ExpectedStart | str | None
) -> str:
    """The line about when the pre-filled request starts: now, Slurm's expected start, or
    that it is unknown (with Slurm's reason)."""
    if fits is None:
        return "Expected start unknown: Slurm is not answering."
    if fits:
        return f"This request fits on a free node of {request.partition} now."
    head = (
        f"Not enough free CPUs, GPUs or memory on one node of {request.partition} now for "
        f"this request ({request.cpus} CPUs, {request.memory_gb} GB"
        + (f", {request.gpus} GPUs" if request.gpus else "")
        + ")."
    )
    if isinstance(expected, ExpectedStart):
        return f"{head} Slurm expects it to start at {expected.start} on {expected.nodes}."
    why = f" ({expected})" if expected else ""
    return f"{head} Expected start unknown{why}."
