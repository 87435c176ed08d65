"""One Slurm poller for the whole hub.

Every spawner asks the poller, never Slurm. The poller answers from a cache and refreshes it
with ONE `squeue` for all of the hub's jobs when the cache is older than the caller can
accept; concurrent callers share the same call. A job missing from squeue's answer is only
"gone" once accounting (`sacct`) confirms an end state; a controller that does not answer
makes every job "unknown", never "gone".

Running sessions are also *watched*: one loop refreshes every poll interval (with jitter)
and tells a session's spawner the moment its job is gone, so an ended job is noticed within
one interval, not one interval plus the age of the cache its next poll happens to read.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from . import batch, slurm

log = logging.getLogger(__name__)

PENDING_STATES = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED"}
RUNNING_STATES = {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}
_STATE = re.compile(r"[A-Z]+(_[A-Z]+)*")


@dataclass(frozen=True)
class JobInfo:
    """What Slurm last said about one job."""

    job_id: str
    phase: str  # "pending" | "running" | "gone" | "unknown"
    state: str = ""
    reason: str = ""
    expected_start: str = ""
    node: str = ""
    account: str = ""
    partition: str = ""
    exit_code: str = ""
    error: str = ""

    @property
    def alive(self) -> bool:
        return self.phase in ("pending", "running", "unknown")


def parse_squeue(text: str) -> tuple[dict[str, JobInfo], list[str]]:
    """Parse `--format=%i|%T|%r|%S|%N|%a|%P|%u` output; return jobs and the lines skipped."""
    jobs: dict[str, JobInfo] = {}
    skipped: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split("|")
        # States are upper case with underscores (NODE_FAIL, OUT_OF_MEMORY): a check for
        # letters only once made every such job "unparsable", so a session whose node failed
        # was never noticed.
        if len(parts) != 8 or not parts[0].isdigit() or not _STATE.fullmatch(parts[1]):
            skipped.append(line)
            continue
        job_id, state, reason, start, node, account, partition, _user = parts
        jobs[job_id] = JobInfo(
            job_id=job_id,
            phase=_phase(state),
            state=state,
            reason="" if reason in ("None", "(null)") else reason,
            expected_start="" if start in ("N/A", "Unknown", "(null)") else start,
            node=node if node not in ("", "(null)") else "",
            account=account,
            partition=partition,
        )
    return jobs, skipped


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """Parse `sacct --parsable2 --format=JobID,State,ExitCode,Reason` for whole jobs."""
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or not parts[0].isdigit() or not parts[1]:
            continue
        job_id, state, exit_code, reason = parts
        state = state.split()[0]  # "CANCELLED by 1001" -> "CANCELLED"
        jobs[job_id] = JobInfo(
            job_id=job_id,
            phase=_phase(state),
            state=state,
            exit_code=exit_code,
            reason="" if reason in ("None", "(null)") else reason,
        )
    return jobs


def _phase(state: str) -> str:
    if state in PENDING_STATES:
        return "pending"
    if state in RUNNING_STATES:
        return "running"
    return "gone"


Runner = Callable[..., Awaitable[slurm.CommandResult]]


@dataclass
class _Snapshot:
    taken: float = 0.0
    asked: frozenset[str] = frozenset()
    jobs: dict[str, JobInfo] = field(default_factory=dict)


class SlurmPoller:
    """A process-wide cache of the hub's jobs, refreshed by one squeue per interval."""

    def __init__(
        self,
        *,
        runner: Runner = slurm.arun,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = 20.0,
        min_spacing: float = 0.5,
    ):
        self._runner = runner
        self._clock = clock
        self._timeout = timeout
        self._min_spacing = min_spacing
        self._tracked: set[str] = set()
        self._snapshot = _Snapshot()
        self._lock = asyncio.Lock()
        self._watchers: dict[str, Callable[[JobInfo], Awaitable[None]]] = {}
        self._watch_every = 0.0
        self._watch_task: asyncio.Task | None = None
        self._notices: set[asyncio.Task] = set()
        self.calls = 0  # squeue + sacct invocations, for tests and benchmarks

    def track(self, job_id: str) -> None:
        self._tracked.add(job_id)

    def untrack(self, job_id: str) -> None:
        self._tracked.discard(job_id)
        self._watchers.pop(job_id, None)
        self._snapshot.jobs.pop(job_id, None)

    def watch(
        self, job_id: str, on_gone: Callable[[JobInfo], Awaitable[None]], every: float
    ) -> None:
        """Call `on_gone(info)` once, within about `every` seconds of the job ending.

        All watched jobs share one loop and one squeue per interval; watching a job twice
        just replaces its callback."""
        self.track(job_id)
        self._watchers[job_id] = on_gone
        self._watch_every = min(self._watch_every or every, every)
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.ensure_future(self._watch_loop())

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watchers)

    async def _watch_loop(self) -> None:
        while self._watchers:
            every = self._watch_every
            await asyncio.sleep(every * random.uniform(0.95, 1.05))  # noqa: S311 - jitter
            async with self._lock:
                if self._clock() - self._snapshot.taken >= self._min_spacing:
                    await self._refresh()
            for job_id, on_gone in list(self._watchers.items()):
                info = self._snapshot.jobs.get(job_id)
                if info is not None and info.phase == "gone":
                    del self._watchers[job_id]
                    task = asyncio.ensure_future(self._notify(on_gone, info))
                    self._notices.add(task)  # keep a reference until it is done
                    task.add_done_callback(self._notices.discard)
        self._watch_every = 0.0

    @staticmethod
    async def _notify(on_gone: Callable[[JobInfo], Awaitable[None]], info: JobInfo) -> None:
        try:
            await on_gone(info)
        except Exception:
            log.exception("telling the spawner of job %s that it is gone failed", info.job_id)

    @property
    def tracked(self) -> frozenset[str]:
        return frozenset(self._tracked)

    async def get(self, job_id: str, max_age: float) -> JobInfo:
        """The job's state, no older than `max_age` seconds (shared refresh if needed)."""
        self.track(job_id)
        snap = self._snapshot
        if self._fresh(snap, job_id, max_age):
            return snap.jobs.get(job_id, JobInfo(job_id, "unknown"))
        async with self._lock:
            snap = self._snapshot
            if not self._fresh(snap, job_id, max_age):
                await self._refresh()
            return self._snapshot.jobs.get(job_id, JobInfo(job_id, "unknown"))

    def _fresh(self, snap: _Snapshot, job_id: str, max_age: float) -> bool:
        age = self._clock() - snap.taken
        if job_id not in snap.asked:
            return age < self._min_spacing and job_id in snap.jobs
        return age < max_age

    async def _refresh(self) -> None:
        ids = sorted(self._tracked, key=int)
        now = self._clock()
        if not ids:
            self._snapshot = _Snapshot(now, frozenset(), {})
            return
        previous = self._snapshot.jobs
        jobs = await self._query(ids, previous)
        self._snapshot = _Snapshot(now, frozenset(ids), jobs)

    async def _query(self, ids: list[str], previous: dict[str, JobInfo]) -> dict[str, JobInfo]:
        self.calls += 1
        try:
            result = await self._runner(batch.squeue_argv(ids), timeout=self._timeout, check=False)
        except slurm.SlurmError as exc:
            return self._unknown(ids, previous, str(exc))
        if result.returncode != 0:
            if "invalid job id" not in result.stderr.lower():
                err = slurm.classify(result.argv, result.returncode, result.stdout, result.stderr)
                return self._unknown(ids, previous, str(err))
            seen: dict[str, JobInfo] = {}  # every id unknown to slurmctld: ask accounting
        else:
            seen, skipped = parse_squeue(result.stdout)
            if skipped:
                log.warning("squeue: ignored %d unparsable line(s): %r", len(skipped), skipped[:3])
                if not seen:
                    return self._unknown(ids, previous, "squeue gave no parsable lines")
        missing = [j for j in ids if j not in seen]
        if missing:
            seen.update(await self._confirm_gone(missing, previous))
        return seen

    async def _confirm_gone(
        self, missing: list[str], previous: dict[str, JobInfo]
    ) -> dict[str, JobInfo]:
        """Ask accounting about jobs squeue did not list; only an end state there is 'gone'."""
        self.calls += 1
        try:
            result = await self._runner(batch.sacct_argv(missing), timeout=self._timeout)
        except slurm.SlurmError as exc:
            return self._unknown(missing, previous, str(exc))
        known = parse_sacct(result.stdout)
        answer: dict[str, JobInfo] = {}
        for job_id in missing:
            info = known.get(job_id)
            if info is not None and info.phase == "gone":
                answer[job_id] = info
            else:
                # Not listed anywhere yet (just submitted) or accounting still says alive.
                last = previous.get(job_id)
                answer[job_id] = JobInfo(
                    job_id, "unknown", state=last.state if last else "", error="not listed"
                )
        return answer

    @staticmethod
    def _unknown(
        ids: Iterable[str], previous: dict[str, JobInfo], error: str
    ) -> dict[str, JobInfo]:
        log.warning("Slurm did not answer, job states unknown: %s", error)
        out = {}
        for job_id in ids:
            last = previous.get(job_id)
            out[job_id] = JobInfo(
                job_id,
                "unknown",
                state=last.state if last else "",
                reason=last.reason if last else "",
                node=last.node if last else "",
                error=error,
            )
        return out


_shared: SlurmPoller | None = None


def shared_poller() -> SlurmPoller:
    """The hub's single poller (created on first use, inside the hub's event loop)."""
    global _shared
    if _shared is None:
        _shared = SlurmPoller()
    return _shared
