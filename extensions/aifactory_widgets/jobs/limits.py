"""The partitions a session's project may use and their per-job limits, as the launchers see them.

They come from the factory service (`GET api/site/partitions`, with the session's own token):
the site file may be private to the hub's host, and projects granted later live in the store.
The launchers refuse a request over these limits before anything is submitted; Slurm still
enforces the project's associations and quota on submission.
"""

from __future__ import annotations

import os
import pwd
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from aifactory_hub.site import JobSettings, Partition
from aifactory_widgets.ui.client import FactoryClient


class LimitError(ValueError):
    """A request the partition or project does not allow; `field` names what to change."""

    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class JobSite:
    partitions: dict[str, Partition]
    projects: dict[str, list[str]]
    jobs: JobSettings

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> JobSite:
        """The service's answer, validated with the site file's own models."""
        parts = [Partition.model_validate(p) for p in data.get("partitions", [])]
        projects = {str(a): [str(p) for p in ps] for a, ps in data.get("projects", {}).items()}
        return cls({p.name: p for p in parts}, projects, JobSettings(**data.get("jobs", {})))

    def partitions_of(self, account: str) -> list[Partition]:
        return [self.partitions[n] for n in self.projects.get(account, []) if n in self.partitions]

    def partition_for(self, account: str, name: str) -> Partition:
        """The partition if the project may use it; LimitError says which it may use."""
        if account not in self.projects:
            mine = ", ".join(sorted(self.projects)) or "none"
            raise LimitError("project", f"you are not a member of {account} (yours: {mine})")
        allowed = [p.name for p in self.partitions_of(account)]
        if name not in allowed:
            raise LimitError(
                "partition", f"{account} may not use {name} (allowed: {', '.join(allowed)})"
            )
        return self.partitions[name]


def load_site(client: FactoryClient) -> JobSite:
    return JobSite.from_json(client.get("api/site/partitions"))


@dataclass(frozen=True)
class SessionPlace:
    """The session's own project and partition: the launchers' defaults."""

    account: str
    partition: str
    user: str
    home: str


def session_place(environ: Mapping[str, str] = os.environ) -> SessionPlace:
    """From the session job's environment; who we are from the kernel's own POSIX identity,
    which is what Slurm sees."""
    me = pwd.getpwuid(os.getuid())
    return SessionPlace(
        account=environ.get("SLURM_JOB_ACCOUNT", ""),
        partition=environ.get("SLURM_JOB_PARTITION", ""),
        user=me.pw_name,
        home=environ.get("HOME") or me.pw_dir,
    )


def check_range(field: str, value: int, low: int, high: int, what: str) -> None:
    if not low <= value <= high:
        raise LimitError(field, f"{value} is outside {what} ({low} to {high})")


def check_walltime(minutes: int, part: Partition) -> None:
    limit = int(part.max_walltime_hours * 60)
    if not 1 <= minutes <= limit:
        raise LimitError(
            "walltime",
            f"{minutes} min is outside partition {part.name}'s limit (1 to {limit} min)",
        )


@dataclass(frozen=True)
class Resources:
    """What one training or sweep job asks of Slurm (per node where it says so)."""

    account: str
    partition: str
    nodes: int
    tasks_per_node: int
    cpus_per_task: int
    memory_gb: int  # per node
    gpus_per_node: int
    walltime_minutes: int
    gpu_type: str = ""


def check_resources(res: Resources, site: JobSite) -> Resources:
    """Refuse, with the reason, what the project or partition does not allow; returns the
    request with the partition's GPU type. The site file's per-session limits bound each node
    of a job; a job may span the partition's nodes."""
    part = site.partition_for(res.account, res.partition)
    check_range("nodes", res.nodes, 1, part.nodes, f"partition {part.name}'s nodes")
    check_range("tasks_per_node", res.tasks_per_node, 1, part.max_cpus, "the CPUs per node")
    cpus = res.tasks_per_node * res.cpus_per_task
    if res.cpus_per_task < 1 or cpus > part.max_cpus:
        raise LimitError(
            "cpus_per_task",
            f"{res.tasks_per_node} tasks x {res.cpus_per_task} CPUs = {cpus} CPUs per node; "
            f"partition {part.name} allows 1 to {part.max_cpus}",
        )
    check_range("memory_gb", res.memory_gb, 1, part.max_memory_gb, f"partition {part.name}'s GB")
    gpus_what = f"partition {part.name}'s GPUs per node"
    check_range("gpus_per_node", res.gpus_per_node, part.min_gpus, part.max_gpus, gpus_what)
    check_walltime(res.walltime_minutes, part)
    return replace(res, gpu_type=part.gpu_type if res.gpus_per_node else "")
