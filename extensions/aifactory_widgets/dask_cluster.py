"""A Dask cluster on Slurm for a session: dask-jobqueue's SLURMCluster with the factory's
defaults, and the two guards that take its worker jobs away with the kernel.

Defaults, from what dask-jobqueue's users run into:
- the scheduler lives in the kernel and listens on the site's interface for the jobs
  (`[jobs] interface`, e.g. ib0; the local factory: lo), workers use the same one;
- the dashboard binds 127.0.0.1 on a free port (several sessions share a node) and is reached
  through the hub: `{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status` (jupyter-server-proxy);
- workers of long runs restart before Slurm's walltime kills them: `--lifetime` (walltime - 5
  min) with `--lifetime-stagger`, and adaptive scaling submits the replacements;
- worker jobs are submitted through jobs.py with a clean environment: no hub token in them.
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

import secrets
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from dask_jobqueue import SLURMCluster
from dask_jobqueue.slurm import SLURMJob

from aifactory_hub.batch import safe_path

from .jobs import JOB_DIR, SlurmRunner
from .limits import JobSite, check_range, check_walltime, walltime_text

DASHBOARD_LINK = "{JUPYTERHUB_SERVICE_PREFIX}proxy/{port}/status"
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
        chdir = safe_path(workdir or home)
    except ValueError:
        chdir = safe_path(home)
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
        "worker_extra_args": lifetime_args(req.walltime_minutes),
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


def dashboard_link(prefix: str, port: int) -> str:
    return DASHBOARD_LINK.format(JUPYTERHUB_SERVICE_PREFIX=prefix or "/", port=port)


class FactorySLURMJob(SLURMJob):
    """dask-jobqueue's Slurm job, with its sbatch/scancel run by jobs.py (clean environment)."""

    @staticmethod
    async def _call(cmd: list[str], **kwargs: Any) -> str:
        return await SlurmRunner().arun(cmd)


class FactorySLURMCluster(SLURMCluster):
    job_cls = FactorySLURMJob


def start_reaper(user: str, name: str) -> subprocess.Popen:
    """The guard for pending workers: it cancels the cluster's jobs when this pipe closes."""
    return subprocess.Popen(
        [sys.executable, "-m", "aifactory_widgets.reaper", user, name],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # a kernel interrupt or restart must not reach it first
    )
