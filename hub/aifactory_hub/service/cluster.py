"""What the staff console shows about the cluster: partitions, nodes, queue and the hub's
sessions.

One snapshot is taken per refresh interval for every viewer: one `scontrol show node`, one
`squeue` for all jobs and one hub API call, however many dashboards are open. The commands
and their parsers are `slurm`'s; `ClusterMonitor` is the only part that runs commands or
talks HTTP.
"""

from __future__ import annotations

import asyncio
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

from aifactory_hub import slurm
from aifactory_hub.slurm import capacity
from aifactory_hub.slurm.jobs import QUEUE_ARGV, QueueJob, parse_queue
from aifactory_hub.slurm.nodes import show_nodes_argv


@dataclass(frozen=True)
class Session:
    """A hub user's server and the Slurm job it runs in."""

    user: str
    job_id: str
    project: str
    partition: str
    ready: bool
    pending: str
    started: str
    last_activity: str


@dataclass(frozen=True)
class Snapshot:
    taken_at: float
    partitions: list[capacity.PartitionCapacity] = field(default_factory=list)
    nodes: list[capacity.NodeInfo] = field(default_factory=list)
    queue: list[QueueJob] = field(default_factory=list)
    sessions: list[Session] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for part, cap in zip(data["partitions"], self.partitions, strict=True):
            part.update(cpus_free=cap.cpus_free, gpus_free=cap.gpus_free)
        return data


def parse_sessions(users: Iterable[dict[str, Any]]) -> list[Session]:
    """The hub's servers from `GET /hub/api/users?state=active` (with server state)."""
    sessions = []
    for user in users:
        for server in (user.get("servers") or {}).values():
            state = server.get("state") or {}
            options = server.get("user_options") or {}
            session = state.get("session") or {}
            sessions.append(
                Session(
                    user=str(user.get("name", "")),
                    job_id=str(state.get("job_id") or ""),
                    project=str(session.get("project") or options.get("project") or ""),
                    partition=str(session.get("partition") or options.get("partition") or ""),
                    ready=bool(server.get("ready")),
                    pending=str(server.get("pending") or ""),
                    started=str(server.get("started") or ""),
                    last_activity=str(server.get("last_activity") or ""),
                )
            )
    return sorted(sessions, key=lambda s: s.user)


HubGet = Callable[[str], Awaitable[Any]]


class ClusterMonitor:
    """Takes snapshots, at most one per `interval` seconds, shared by all callers."""

    def __init__(self, hub_get: HubGet, interval: float, runner=slurm.arun):
        self.interval = interval
        self._hub_get = hub_get
        self._run = runner
        self._last: Snapshot | None = None
        self._lock = asyncio.Lock()
        self.taken = 0  # how many snapshots were taken (the console's load on Slurm)

    async def snapshot(self) -> Snapshot:
        async with self._lock:
            if self._last is None or time.time() - self._last.taken_at >= self.interval:
                self._last = await self._take()
                self.taken += 1
            return self._last

    async def _take(self) -> Snapshot:
        errors: dict[str, str] = {}
        nodes, queue, users = await asyncio.gather(
            self._run(show_nodes_argv(), timeout=10),
            self._run(list(QUEUE_ARGV), timeout=10),
            self._hub_get("/users?" + urllib.parse.urlencode({"state": "active"})),
            return_exceptions=True,
        )
        partitions: list[capacity.PartitionCapacity] = []
        node_list: list[capacity.NodeInfo] = []
        jobs: list[QueueJob] = []
        sessions: list[Session] = []
        if isinstance(nodes, BaseException):
            errors["partitions"] = _describe(nodes)
        else:
            node_list = capacity.parse_node_list(nodes.stdout)
            partitions = list(capacity.partitions_of(node_list).values())
        if isinstance(queue, BaseException):
            errors["queue"] = _describe(queue)
        else:
            jobs, skipped = parse_queue(queue.stdout)
            if skipped:
                errors["queue"] = f"{len(skipped)} squeue line(s) could not be read"
        if isinstance(users, BaseException):
            errors["sessions"] = _describe(users)
        else:
            sessions = parse_sessions(users)
        if self._last is not None:
            # Keep the last good figures for a part that failed; the error says they are stale.
            partitions = partitions if "partitions" not in errors else self._last.partitions
            node_list = node_list if "partitions" not in errors else self._last.nodes
            sessions = sessions if "sessions" not in errors else self._last.sessions
            if isinstance(queue, BaseException):
                jobs = self._last.queue
        return Snapshot(time.time(), partitions, node_list, jobs, sessions, errors)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, slurm.ControllerUnreachable):
        return f"Slurm controller unreachable: {exc}"
    return str(exc) or type(exc).__name__
