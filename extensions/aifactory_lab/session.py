"""What JupyterLab's status bar shows about the session: its Slurm job, project, partition,
node, when the job's wall time ends it, and what is left of the project's hours.

The job's facts come from Slurm's own environment of the job (the server runs inside it).
The end time comes from slurmctld (`slurm.jobs.end_time_argv`), since staff may extend a job;
the hours from the factory service with the session's own token (the widgets' FactoryClient,
`GET api/usage/projects/<account>`). Both are cached for `ttl_s` (60 s): a status bar polls,
and neither changes faster than the accounting collector reads. A server that is not a Slurm
job (a plain `jupyter lab`), a Slurm that does not answer or a service that cannot be reached
gives nulls and a line in "notes" saying why, never an error.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote

from aifactory_hub import slurm
from aifactory_hub.slurm import jobs
from aifactory_widgets.ui.client import FactoryClient, FactoryError

TTL_S = 60.0
SLURM_TIMEOUT_S = 10.0
NOT_A_JOB = "this server is not a Slurm job (no SLURM_JOB_ID): no project, partition or end time"


@dataclass(frozen=True)
class SlurmSession:
    """The job this server runs in, as Slurm's environment of the job names it."""

    job_id: str | None = None
    project: str | None = None
    partition: str | None = None
    node: str | None = None


def slurm_session(env: Mapping[str, str]) -> SlurmSession:
    """The job facts from Slurm's variables; all None outside a job (or for a malformed id)."""
    try:
        job_id = jobs.check_job_id(env.get("SLURM_JOB_ID", ""))
    except ValueError:
        return SlurmSession()
    return SlurmSession(
        job_id=job_id,
        project=env.get("SLURM_JOB_ACCOUNT") or None,
        partition=env.get("SLURM_JOB_PARTITION") or None,
        node=env.get("SLURMD_NODENAME") or None,
    )


def hours_left(project: Mapping[str, Any]) -> tuple[dict[str, float | None], list[str]]:
    """The status bar's hours from the service's ProjectUsage (docs/usage-api.md), and notes.

    A resource the allocation does not grant (or a project with no recorded allocation) is
    None: there is nothing to count down. "Left" is negative when use ran past the grant."""
    hours: dict[str, float | None] = {
        "gpu_hours_left": None,
        "gpu_hours_granted": None,
        "cpu_hours_left": None,
    }
    account = project.get("account", "the project")
    if not project.get("has_allocation"):
        return hours, [f"{account} has no recorded allocation"]
    granted = project.get("granted") or {}
    remaining = project.get("remaining") or {}
    notes = []
    if granted.get("gpu_hours"):
        hours["gpu_hours_granted"] = float(granted["gpu_hours"])
        hours["gpu_hours_left"] = float(remaining.get("gpu_hours", 0.0))
    else:
        notes.append(f"{account}'s allocation grants no GPU-hours")
    if granted.get("cpu_hours"):
        hours["cpu_hours_left"] = float(remaining.get("cpu_hours", 0.0))
    return hours, notes


async def slurm_end_time(job_id: str) -> datetime | None:
    """When slurmctld will end the job (its start plus its time limit, as extended)."""
    result = await slurm.arun(
        jobs.end_time_argv(job_id), env=jobs.SACCT_ENV, timeout=SLURM_TIMEOUT_S
    )
    return jobs.parse_end_time(result.stdout, job_id)


def service_usage(account: str) -> Mapping[str, Any]:
    """The project's usage from the factory service, with this session's own token (blocking:
    run it in a thread)."""
    answer = FactoryClient.from_env().get(f"api/usage/projects/{quote(account, safe='')}")
    return answer["project"]


@dataclass
class _Entry:
    value: Any
    note: str | None
    at: float


@dataclass
class TimedCache:
    """One answer per key for `ttl_s` seconds, failures included (a service that is down is
    not asked again on every poll); one lookup per key at a time."""

    ttl_s: float = TTL_S
    clock: Callable[[], float] = time.monotonic
    _entries: dict[str, _Entry] = field(default_factory=dict)
    _locks: dict[str, asyncio.Lock] = field(default_factory=dict)

    async def get(
        self, key: str, lookup: Callable[[], Awaitable[Any]], errors: tuple[type[Exception], ...]
    ) -> tuple[Any, str | None]:
        """(value, None) or (None, why it failed), from the cache while it is fresh."""
        async with self._locks.setdefault(key, asyncio.Lock()):
            entry = self._entries.get(key)
            if entry is None or self.clock() - entry.at >= self.ttl_s:
                try:
                    entry = _Entry(await lookup(), None, self.clock())
                except errors as exc:
                    entry = _Entry(None, str(exc), self.clock())
                self._entries[key] = entry
            return entry.value, entry.note


class SessionFacts:
    """`GET aifactory/session`'s answer, with Slurm and the service injectable for tests."""

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        *,
        end_time: Callable[[str], Awaitable[datetime | None]] = slurm_end_time,
        usage: Callable[[str], Mapping[str, Any]] = service_usage,
        clock: Callable[[], float] = time.monotonic,
        ttl_s: float = TTL_S,
    ):
        self.env = os.environ if env is None else env
        self.end_time = end_time
        self.usage = usage
        self.cache = TimedCache(ttl_s, clock)

    async def answer(self) -> dict[str, Any]:
        job = slurm_session(self.env)
        notes: list[str] = []
        info: dict[str, Any] = {
            "job_id": job.job_id,
            "project": job.project,
            "partition": job.partition,
            "node": job.node,
            "ends_at": None,
            "gpu_hours_left": None,
            "gpu_hours_granted": None,
            "cpu_hours_left": None,
            "notes": notes,
        }
        if job.job_id is None:
            notes.append(NOT_A_JOB)
            return info
        info["ends_at"] = await self._ends_at(job.job_id, notes)
        if job.project is None:
            notes.append("Slurm names no account for this job: no project hours")
        else:
            info.update(await self._hours(job.project, notes))
        return info

    async def _ends_at(self, job_id: str, notes: list[str]) -> str | None:
        key = "end:" + job_id
        end, why = await self.cache.get(key, lambda: self.end_time(job_id), (slurm.SlurmError,))
        if why:
            notes.append(f"Slurm did not say when the job ends: {why}")
        elif end is None:
            notes.append(f"Slurm lists no end time for job {job_id}")
        return end.isoformat() if end is not None else None

    async def _hours(self, account: str, notes: list[str]) -> dict[str, float | None]:
        project, why = await self.cache.get(
            "usage:" + account,
            lambda: asyncio.to_thread(self.usage, account),
            (FactoryError, KeyError, TypeError, ValueError),  # refused, unreachable or garbled
        )
        if why:
            notes.append(f"the factory service gave no hours for {account}: {why}")
            return {}
        hours, more = hours_left(project)
        notes += more
        return hours
