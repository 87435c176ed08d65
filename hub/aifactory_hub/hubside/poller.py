"""One Slurm poller for the whole hub.

Every spawner asks the poller, never Slurm. The poller answers from a cache and refreshes it
with ONE `squeue` for all of the hub's jobs when the cache is older than the caller can
accept; concurrent callers share the same call. A job missing from squeue's answer is only
"gone" once accounting (`sacct`) confirms an end state; a controller that does not answer
makes every job "unknown", never "gone".

Running sessions are also *watched*: one loop wakes every poll interval (with jitter) and
tells a session's spawner the moment its job is gone, so an ended job is noticed within one
interval. The loop first knocks on each session's own port (a TCP connect, no request, so it
is no activity for the idle culler): a server that accepts is alive, and while every watched
server accepts, Slurm is asked only once per `confirm_every`. A server that does not answer
makes that tick's one squeue happen, and Slurm decides: gone, or still running (a server
restarting, a node Slurm has not yet missed). So slurmctld sees fewer queries than one per
interval, however many sessions run, without noticing an end later.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field

from aifactory_hub import slurm
from aifactory_hub.slurm.jobs import (
    JobInfo,
    check_job_id,
    parse_sacct,
    parse_squeue,
    sacct_argv,
    squeue_argv,
)

log = logging.getLogger(__name__)

Runner = Callable[..., Awaitable[slurm.CommandResult]]


Address = tuple[str, int]


async def answers(address: Address, timeout: float) -> bool:
    """Whether something accepts a TCP connection at `address` within `timeout` seconds."""
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(*address), timeout)
    except (TimeoutError, OSError, ValueError, OverflowError):
        return False
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return True


@dataclass
class _Snapshot:
    taken: float = 0.0
    asked: frozenset[str] = frozenset()
    jobs: dict[str, JobInfo] = field(default_factory=dict)


class SlurmPoller:
    """A process-wide cache of the hub's jobs, refreshed by one squeue per interval at most."""

    def __init__(
        self,
        *,
        runner: Runner = slurm.arun,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        timeout: float = 20.0,
        min_spacing: float = 0.5,
    ):
        self._runner = runner
        self._clock = clock
        self._sleep = sleep  # the watch loop's wait: tests pass virtual time with the clock
        self._timeout = timeout
        self._min_spacing = min_spacing
        self._tracked: set[str] = set()
        self._snapshot = _Snapshot()
        self._lock = asyncio.Lock()
        self._watchers: dict[str, Callable[[JobInfo], Awaitable[None]]] = {}
        self._addresses: dict[str, Address] = {}
        self._answered: dict[str, float] = {}  # job id -> when its server last accepted
        self._watch_every = 0.0
        self._confirm_every = 0.0
        self._watch_task: asyncio.Task | None = None
        self._notices: set[asyncio.Task] = set()
        self.calls = 0  # squeue + sacct invocations, for tests and benchmarks

    def track(self, job_id: str) -> None:
        # One bad id would break the squeue of every job of the hub: refuse it here.
        self._tracked.add(check_job_id(job_id))

    def untrack(self, job_id: str) -> None:
        self._tracked.discard(job_id)
        self.unwatch(job_id)
        self._snapshot.jobs.pop(job_id, None)

    def unwatch(self, job_id: str) -> None:
        """Stop watching a job (it stays tracked: e.g. its spawner is ending it itself)."""
        self._watchers.pop(job_id, None)
        self._addresses.pop(job_id, None)
        self._answered.pop(job_id, None)

    def watch(
        self,
        job_id: str,
        on_gone: Callable[[JobInfo], Awaitable[None]],
        every: float,
        *,
        address: Address | None = None,
        confirm_every: float = 0.0,
    ) -> None:
        """Call `on_gone(info)` once, within about `every` seconds of the job ending.

        All watched jobs share one loop and at most one squeue per interval. With the
        session's `address`, Slurm is asked only when its server stops accepting
        connections or `confirm_every` seconds after the last answer (0: every interval).
        Watching a job twice just replaces its callback and address."""
        self.track(job_id)
        self._watchers[job_id] = on_gone
        if address is not None:
            self._addresses[job_id] = address
        self._watch_every = min(self._watch_every or every, every)
        self._confirm_every = max(confirm_every, self._watch_every)
        if self._watch_task is None or self._watch_task.done():
            self._watch_task = asyncio.ensure_future(self._watch_loop())

    @property
    def watched(self) -> frozenset[str]:
        return frozenset(self._watchers)

    async def _watch_loop(self) -> None:
        while self._watchers:
            every = self._watch_every
            await self._sleep(every * random.uniform(0.95, 1.05))  # noqa: S311 - jitter
            silent = await self._knock(timeout=min(3.0, every / 3))
            due = self._clock() - self._snapshot.taken >= self._confirm_every * 0.95
            if silent or due:
                async with self._lock:
                    if self._clock() - self._snapshot.taken >= self._min_spacing:
                        await self._refresh()
            for job_id, on_gone in list(self._watchers.items()):
                info = self._snapshot.jobs.get(job_id)
                if info is not None and info.phase == "gone":
                    self.unwatch(job_id)
                    task = asyncio.ensure_future(self._notify(on_gone, info))
                    self._notices.add(task)  # keep a reference until it is done
                    task.add_done_callback(self._notices.discard)
        self._watch_every = 0.0

    async def _knock(self, timeout: float) -> list[str]:
        """Knock on every watched session's port at once; the watched jobs that did not
        answer (or have no address)."""
        jobs = list(self._watchers)
        addressed = [j for j in jobs if j in self._addresses]
        results = await asyncio.gather(*(answers(self._addresses[j], timeout) for j in addressed))
        answered = {j for j, ok in zip(addressed, results, strict=True) if ok}
        now = self._clock()
        self._answered.update(dict.fromkeys(answered, now))
        return [j for j in jobs if j not in answered]

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
        now = self._clock()
        age = now - snap.taken
        if job_id not in snap.asked:
            return age < self._min_spacing and job_id in snap.jobs
        if age < max_age:
            return True
        # A watched session whose server accepted a connection within max_age is as alive
        # as Slurm last said; Slurm's answer is renewed by the watch loop.
        info = snap.jobs.get(job_id)
        answered = self._answered.get(job_id)
        return (
            info is not None
            and info.phase != "gone"
            and answered is not None
            and now - answered < max_age
        )

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
            result = await self._runner(squeue_argv(ids), timeout=self._timeout, check=False)
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
            result = await self._runner(sacct_argv(missing), timeout=self._timeout)
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
