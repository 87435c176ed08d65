"""One-click Dask: a SLURMCluster charged to the session's project, a ready Client, one-click stop.

    from aifactory_widgets import DaskLauncher
    launcher = DaskLauncher()
    launcher                       # pick size and min/max workers, click Start
    client = launcher.client       # a connected dask.distributed Client

cluster.py holds the defaults (and why); this module is only the widget.
"""

from __future__ import annotations

import asyncio
import html
import os
import subprocess
from collections.abc import Callable, Mapping
from typing import Any

import ipywidgets as w
from IPython.display import display

from aifactory_widgets.jobs.commands import SlurmError, job_dir
from aifactory_widgets.jobs.dask.cluster import (
    DaskRequest,
    FactorySLURMCluster,
    PrivateDashboardScheduler,
    check_dask,
    cluster_name,
    cluster_options,
    dashboard_link,
    dashboard_options,
    start_reaper,
    tls_options,
    worker_sizes,
)
from aifactory_widgets.jobs.limits import JobSite, LimitError, load_site, session_place
from aifactory_widgets.jobs.placement import Placement, field
from aifactory_widgets.ui.client import FactoryClient, FactoryError
from aifactory_widgets.ui.confirm import ConfirmRow
from aifactory_widgets.ui.refresh import start_soon
from aifactory_widgets.ui.tables import html_table

WORKER_COLUMNS = ("worker", "address", "threads", "memory", "tasks running")
WATCH_EVERY_S = 1.0


def client_for(cluster: Any) -> Any:
    from dask.distributed import Client

    return Client(cluster)


def worker_rows(info: Mapping[str, Any]) -> list[tuple]:
    """The scheduler's view of its workers, as table rows."""
    rows = []
    for address, worker in sorted(list((info.get("workers") or {}).items())):
        memory = worker.get("memory_limit") or 0
        rows.append(
            (
                worker.get("name", ""),
                address,
                worker.get("nthreads", ""),
                f"{memory / 2**30:.1f} GiB" if memory else "",
                (worker.get("metrics") or {}).get("executing", ""),
            )
        )
    return rows


class DaskLauncher(w.VBox):
    """Start, watch and stop a Dask cluster of Slurm worker jobs."""

    def __init__(
        self,
        client: FactoryClient | None = None,
        site: JobSite | None = None,
        environ: Mapping[str, str] = os.environ,
        cluster_factory: Callable[..., Any] = FactorySLURMCluster,
        client_factory: Callable[[Any], Any] = client_for,
        reaper_factory: Callable[[str, str], Any] = start_reaper,
    ):
        self.environ = environ
        self.place = session_place(environ)
        self.cluster_factory = cluster_factory
        self.client_factory = client_factory
        self.reaper_factory = reaper_factory
        self.cluster: Any = None
        self.client: Any = None
        self.reaper: Any = None
        self.dashboard_url = ""
        self.message = w.Label()
        self.status = w.Label("No cluster.")
        self.workers = w.HTML()
        self.dashboard = w.HTML()
        self.output = w.Output()
        self.confirm = ConfirmRow()
        self.start_button = w.Button(description="Start cluster", button_style="primary")
        self.stop_button = w.Button(description="Stop cluster", disabled=True)
        self.start_button.on_click(lambda _: self.start())
        self.stop_button.on_click(lambda _: self.ask_stop())
        self.size = field(w.Dropdown, "Worker size", options=[])
        self.minimum = field(w.BoundedIntText, "Min workers", min=0, max=64, value=0)
        self.maximum = field(w.BoundedIntText, "Max workers", min=1, max=64, value=2)
        try:
            self.site = site or load_site(client or FactoryClient.from_env())
        except FactoryError as exc:
            self.site = None
            super().__init__([w.Label(f"Cannot offer a Dask cluster: {exc}")])
            return
        self.placement = Placement(self.site, self.place, self._offer_sizes)
        self._offer_sizes()
        super().__init__(
            [
                w.HTML("<h3>Dask cluster on Slurm</h3>"),
                self.placement,
                self.size,
                self.minimum,
                self.maximum,
                w.HBox([self.start_button, self.stop_button]),
                self.confirm,
                self.message,
                self.status,
                self.dashboard,
                self.workers,
                self.output,
            ]
        )

    def _offer_sizes(self) -> None:
        part = self.placement.limits if hasattr(self, "placement") else None
        if part is None:
            return
        sizes = worker_sizes(part)
        self.size.options = [(s.label, s) for s in sizes]
        self.size.value = sizes[0]

    def request(self) -> DaskRequest:
        return DaskRequest(
            account=self.placement.account,
            partition=self.placement.partition.value or "",
            size=self.size.value,
            minimum=int(self.minimum.value),
            maximum=int(self.maximum.value),
            walltime_minutes=int(self.placement.walltime.value),
        )

    def start(self) -> Any:
        """Submit nothing yet: start the scheduler here, then let adaptive scaling submit the
        workers between min and max. Returns the Client (also `self.client`)."""
        if self.cluster is not None:
            self.message.value = "A cluster is already running; stop it first."
            return self.client
        try:
            req = self.request()
            check_dask(req, self.site)
        except LimitError as exc:
            self.message.value = f"Not started: {exc}"
            return None
        name = cluster_name()
        self.message.value = f"Starting the scheduler; workers are Slurm jobs named {name}."
        try:
            job_dir(self.place.home, "dask")
            options = cluster_options(
                req, self.site, home=self.place.home, name=name, workdir=os.getcwd()
            )
            options.update(tls_options(self.place.home))  # no plain, unauthenticated tcp://
            # the dashboard only at a secret path (it has no authentication of its own)
            service_prefix = self.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
            options["scheduler_options"].update(dashboard_options(service_prefix))
            options["scheduler_cls"] = PrivateDashboardScheduler
            self.cluster = self.cluster_factory(**options)
            self.reaper = self.reaper_factory(self.place.user, name)
            if req.minimum:
                self.cluster.scale(req.minimum)  # now, not at adaptive scaling's first tick
            self.cluster.adapt(minimum=req.minimum, maximum=req.maximum)
            self.client = self.client_factory(self.cluster)
        except (SlurmError, OSError, ValueError, RuntimeError) as exc:
            self.message.value = f"Could not start the cluster: {exc}"
            self._shut_down()
            return None
        self._show_dashboard()
        self.start_button.disabled, self.stop_button.disabled = True, False
        self.message.value = (
            f"Running: {req.minimum} to {req.maximum} workers of {req.size.label}, "
            f"charged to {req.account} on {req.partition}. Use launcher.client."
        )
        with self.output:
            display(self.client)
        self.watch()
        start_soon(self._watch_loop)
        return self.client

    def _show_dashboard(self) -> None:
        """The link that opens the dashboard the scheduler serves: its secret prefix (shown
        here, in the researcher's own notebook, and nowhere else), or, from a scheduler
        without one (another cluster_factory), the plain proxy path."""
        services = (self.cluster.scheduler_info or {}).get("services") or {}
        port = services.get("dashboard")
        if not port:
            return
        prefix = getattr(getattr(self.cluster, "scheduler", None), "private_prefix", "")
        if prefix and f"/proxy/absolute/{port}/" not in prefix:
            self.dashboard.value = "No dashboard link: its port was taken as it started."
            return
        service_prefix = self.environ.get("JUPYTERHUB_SERVICE_PREFIX", "/")
        link = dashboard_link(prefix) if prefix else f"{service_prefix}proxy/{port}/status"
        note = "through the hub" + ("; the link is its key: do not share it" if prefix else "")
        self.dashboard_url = link
        self.dashboard.value = (
            f'<a href="{html.escape(link)}" target="_blank">Dask dashboard</a> ({note})'
        )

    def watch(self) -> int:
        """Show the workers the scheduler knows now; returns how many."""
        if self.cluster is None:
            return 0
        info = self.cluster.scheduler_info or {}
        rows = worker_rows(info)
        self.workers.value = html_table(WORKER_COLUMNS, rows, empty="no worker has joined yet")
        # The cluster's own thread changes these dicts: iterate over copies.
        workers = list(self.cluster.workers.values())
        jobs = [str(j.job_id) for j in workers if getattr(j, "job_id", None)]
        listed = ", ".join(jobs) or "-"
        self.status.value = f"{len(rows)} worker(s) connected; Slurm jobs: {listed}."
        return len(rows)

    async def _watch_loop(self) -> None:
        while self.cluster is not None:
            self.watch()
            await asyncio.sleep(WATCH_EVERY_S)

    def ask_stop(self) -> None:
        count = self.watch()
        question = f"Stop the cluster? Its {count} worker job(s) are cancelled; results not "
        question += "gathered are lost."
        self.confirm.ask(question, "Yes, stop it", self.stop)

    def stop(self) -> None:
        """Close the client and the cluster (scancel of every worker job), then the reaper."""
        self._shut_down()
        self.workers.value = ""
        self.dashboard.value = ""
        self.status.value = "No cluster."
        self.message.value = "Stopped; its worker jobs are cancelled."
        self.start_button.disabled, self.stop_button.disabled = False, True

    def _shut_down(self) -> None:
        client, cluster, reaper = self.client, self.cluster, self.reaper
        self.client = self.cluster = self.reaper = None
        for thing in (client, cluster):
            if thing is not None:
                try:
                    thing.close()
                except (OSError, RuntimeError, TimeoutError) as exc:
                    self.message.value = f"While stopping: {exc}"
        if reaper is not None:
            reaper.stdin.close()  # end-of-file: it cancels whatever is left of the cluster
            try:
                reaper.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.message.value = "The reaper did not finish; worker jobs may linger briefly."
