"""A Dask cluster on Slurm for a session: dask-jobqueue's SLURMCluster with the factory's
defaults, and the two guards that take its worker jobs away with the kernel.

Defaults, from what dask-jobqueue's users run into:
- the scheduler lives in the kernel and listens on the site's interface for the jobs
  (`[jobs] interface`, e.g. ib0; the local factory: lo), workers use the same one;
- the dashboard binds 127.0.0.1 on a free port (several sessions share a node) and is reached
  through the hub at a capability URL only: `{JUPYTERHUB_SERVICE_PREFIX}proxy/absolute/{port}/
  dask-{secret}/status` (jupyter-server-proxy; see PrivateDashboardScheduler);
- workers of long runs restart before Slurm's walltime kills them: `--lifetime` (walltime - 5
  min) with `--lifetime-stagger`, and adaptive scaling submits the replacements;
- worker jobs are submitted through jobs/commands.py with a clean environment: no hub token in them.
- workers start in the notebook's folder (relative paths in tasks mean what they mean there);
- the scheduler speaks TLS with credentials made for this one cluster (`tls_options`): other
  users on the node can reach its port, and dask's plain tcp:// comms have no authentication,
  so without it any local user could connect a Client and run code as the researcher.

When the kernel dies, worker jobs must not linger. A running worker exits as soon as its
connection to the scheduler breaks, or after `--death-timeout` (the site's
`worker_death_timeout_s`) when it cannot reach it at all; that leaves pending workers, which
no scheduler can tell anything: a small reaper process (reaper.py) holds a pipe from the
kernel and, when it reads end-of-file (the kernel is gone, or the cluster stopped), cancels
every job of the cluster's unique name.
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from dask_jobqueue import SLURMCluster
from dask_jobqueue.slurm import SLURMJob
from distributed import Scheduler
from tornado import web
from tornado.routing import PathMatches, Rule

from aifactory_hub.slurm.scripts import sbatch_path
from aifactory_widgets.jobs.commands import JOB_DIR, SlurmRunner
from aifactory_widgets.jobs.limits import JobSite, check_range, check_walltime
from aifactory_widgets.ui.format import walltime_text

DASHBOARD_PREFIX = "{JUPYTERHUB_SERVICE_PREFIX}proxy/absolute/{port}/dask-{secret}"
LIFETIME_MARGIN_MIN = 5
LIFETIME_STAGGER_MIN = 4


@dataclass(frozen=True)
class WorkerSize:
    cores: int
    memory_gb: int
    gpus: int = 0

    @property
    def label(self) -> str:
        gpus = f", {self.gpus} GPU" if self.gpus else ""
        return f"{self.cores} CPU, {self.memory_gb} GB{gpus}"


def worker_sizes(part: Any) -> list[WorkerSize]:
    """1, 2, 4, ... cores up to the partition's limit, memory in the node's proportion."""
    per_core = max(1, part.max_memory_gb // part.max_cpus)
    sizes, cores = [], 1
    while cores <= part.max_cpus:
        sizes.append(WorkerSize(cores, min(cores * per_core, part.max_memory_gb), part.min_gpus))
        cores *= 2
    return sizes


@dataclass(frozen=True)
class DaskRequest:
    account: str
    partition: str
    size: WorkerSize
    minimum: int
    maximum: int
    walltime_minutes: int


def check_dask(req: DaskRequest, site: JobSite) -> None:
    """Refuse, with the reason, what the project or partition does not allow."""
    part = site.partition_for(req.account, req.partition)
    check_range("cores", req.size.cores, 1, part.max_cpus, f"partition {part.name}'s CPUs")
    check_range("memory_gb", req.size.memory_gb, 1, part.max_memory_gb, "the partition's GB")
    check_range("gpus", req.size.gpus, part.min_gpus, part.max_gpus, "the partition's GPUs")
    check_range("maximum", req.maximum, 1, 64, "the workers one cluster may have")
    check_range("minimum", req.minimum, 0, req.maximum, "0 to the maximum")
    check_walltime(req.walltime_minutes, part)


def lifetime_args(walltime_minutes: int) -> list[str]:
    """Restart workers before the walltime ends (runs longer than 20 min only)."""
    if walltime_minutes < 20:
        return []
    lifetime = walltime_minutes - LIFETIME_MARGIN_MIN
    return ["--lifetime", f"{lifetime}m", "--lifetime-stagger", f"{LIFETIME_STAGGER_MIN}m"]


def cluster_options(
    req: DaskRequest,
    site: JobSite,
    *,
    home: str,
    name: str,
    python: str = sys.executable,
    workdir: str = "",
) -> dict[str, Any]:
    """The SLURMCluster keyword arguments (pure: tests compare them, and its job_script).
    Workers start in `workdir` (the notebook's folder) so tasks open relative paths as the
    notebook does; a folder Slurm's #SBATCH lines cannot carry falls back to the home."""
    part = site.partitions[req.partition]
    try:
        chdir = sbatch_path(workdir or home)
    except ValueError:
        chdir = sbatch_path(home)
    directives = [f"--chdir={chdir}"]
    if req.size.gpus:
        directives.append(f"--gres=gpu:{part.gpu_type}:{req.size.gpus}")
    options: dict[str, Any] = {
        "account": req.account,
        "queue": req.partition,
        "cores": req.size.cores,
        "processes": 1,
        "memory": f"{req.size.memory_gb}GiB",
        "walltime": walltime_text(req.walltime_minutes),
        "job_name": name,
        "python": python,
        "death_timeout": site.jobs.worker_death_timeout_s,
        # A worker's own web pages (status, metrics) would listen unauthenticated on the
        # jobs network: nothing here needs them.
        "worker_extra_args": ["--no-dashboard", *lifetime_args(req.walltime_minutes)],
        "job_extra_directives": directives,
        "log_directory": f"{home}/{JOB_DIR}/dask",
        "scheduler_options": {"dashboard_address": "127.0.0.1:0"},
    }
    if site.jobs.interface:
        options["interface"] = site.jobs.interface
    return options


def tls_options(home: str) -> dict[str, Any]:
    """TLS for the scheduler, its workers and the Client, with a temporary CA and key pair
    made for this cluster (`Security.temporary()`, in memory, never on a command line or in
    a job script). dask-jobqueue writes the workers' copy to 0600 temporary files in
    `shared_temp_directory` (the researcher's own 0700 ~/.aifactory-jobs/dask, which the
    worker jobs on this node read), passes only their paths to the workers, and deletes them
    when the cluster is closed. Connecting without those credentials fails the handshake."""
    from distributed.security import Security

    return {
        "security": Security.temporary(),
        "protocol": "tls://",
        "shared_temp_directory": f"{home}/{JOB_DIR}/dask",
    }


def cluster_name() -> str:
    """A unique job name per cluster: what the reaper cancels, and nothing else."""
    return f"aif-dask-{secrets.token_hex(4)}"


def free_local_port() -> int:
    """A port free on 127.0.0.1 now (the dashboard's: its URL names it before it starts)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dashboard_options(service_prefix: str, port: int | None = None) -> dict[str, Any]:
    """The scheduler_options of a dashboard only its link opens (PrivateDashboardScheduler):
    127.0.0.1 on a port chosen now, under a secret prefix that is the path the hub's proxy
    forwards as it is (`proxy/absolute/{port}/...`). Not `proxy/{port}/...`: that proxy strips
    its own path, but bokeh names its scripts by absolute paths under the prefix, which the
    browser would then ask the hub for, outside the proxy."""
    port = port or free_local_port()
    prefix = DASHBOARD_PREFIX.format(
        JUPYTERHUB_SERVICE_PREFIX=service_prefix or "/", port=port, secret=secrets.token_urlsafe(24)
    )
    return {"dashboard_address": f"127.0.0.1:{port}", "http_prefix": prefix}


def dashboard_link(http_prefix: str) -> str:
    """The dashboard's page under its prefix: the link the researcher opens (a secret)."""
    return "/" + http_prefix.strip("/") + "/status"


class NotFound(web.RequestHandler):
    """404 for any method. Not a tornado ErrorHandler: distributed's RoutingApplication would
    take that for "no route" and ask the bokeh application next, which answers `/`."""

    def prepare(self) -> None:
        raise web.HTTPError(404)


class PrivateDashboardScheduler(Scheduler):
    """A scheduler whose HTTP server answers 404 to every path outside its secret `http_prefix`.

    The dashboard has no authentication of its own: the hub's proxy checks the researcher's
    login, but any user on the node can connect to 127.0.0.1:port directly. With a secret
    prefix its pages (status, /json/identity.json, /info, /metrics...) are only under that
    prefix, yet distributed still answers `/` with a redirect naming the prefix and serves
    `/sitemap.json` (a list of routes) outside it. A first rule in the application's router
    closes all of that: it is in place before the server handles its first request (this
    method runs synchronously, in the event loop, right after the server starts listening)."""

    def __init__(self, *args: Any, http_prefix: str = "/", **kwargs: Any):
        if not http_prefix.strip("/"):
            raise ValueError("a private dashboard needs a secret http_prefix")
        self.private_prefix = "/" + http_prefix.strip("/")
        super().__init__(*args, http_prefix=http_prefix, **kwargs)

    def start_http_server(self, *args: Any, **kwargs: Any) -> None:
        super().start_http_server(*args, **kwargs)
        router = self.http_application.default_router
        outside = PathMatches(f"(?!{re.escape(self.private_prefix)}/).*")
        router.rules.insert(0, router.process_rule(Rule(outside, NotFound)))


class FactorySLURMJob(SLURMJob):
    """dask-jobqueue's Slurm job, its sbatch/scancel run by jobs/commands.py (clean environment)."""

    @staticmethod
    async def _call(cmd: list[str], **kwargs: Any) -> str:
        return await SlurmRunner().arun(cmd)


class FactorySLURMCluster(SLURMCluster):
    job_cls = FactorySLURMJob

    @property
    def dashboard_link(self) -> str:
        """The capability URL when the scheduler is private (the Client's and the cluster's
        own widgets show this), instead of distributed's `distributed.dashboard.link`."""
        prefix = getattr(getattr(self, "scheduler", None), "private_prefix", "")
        return dashboard_link(prefix) if prefix else super().dashboard_link


def start_reaper(user: str, name: str) -> subprocess.Popen:
    """The guard for pending workers: it cancels the cluster's jobs when this pipe closes."""
    return subprocess.Popen(
        [sys.executable, "-m", "aifactory_widgets.jobs.dask.reaper", user, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a kernel interrupt or restart must not reach it first
    )
