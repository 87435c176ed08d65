"""The accounting collector: slurmdbd's jobs, read incrementally with `sacct`, into the store.

Why sacct and not sreport: sreport answers from the hourly rollup, so it is empty for the
first hour and never shows a running job; sacct shows every job as it is now, running ones
with their elapsed time so far.

Each run asks only for the jobs active since the watermark (`sacct -S`), upserts them by job
id (reading a job twice never counts it twice) and leaves `final` jobs alone. A job is final
once its state is an end state (`slurm.states`) and its end and elapsed time are filled in:
right after a job ends, sacct can show it COMPLETED with those fields still empty. (The sacct
command and the reading of its lines are `slurm.jobs`': `usage_argv`, `parse_usage`.) The
watermark trails the last successful run by a margin, because slurmctld reports to slurmdbd
asynchronously (and after a slurmdbd outage, late). A failed run (slurmdbd or slurmctld down)
changes no figure; it records the error, so answers can say the figures are stale since the
last success.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub import slurm
from aifactory_hub.slurm.jobs import SACCT_ENV, SacctJob, parse_usage, usage_argv
from aifactory_hub.slurm.states import ENDED_STATES
from aifactory_hub.store import models as m

log = logging.getLogger("aifactory.accounting")

NAME = "sacct"  # the collector's row in collector_state
FIRST_LOOKBACK = timedelta(days=31)  # the first run reads this much history
LAG = timedelta(minutes=10)  # slurmctld -> slurmdbd delay the watermark allows for
FORGET_AFTER = timedelta(days=2)  # a non-final job unseen this long no longer holds the mark

Runner = Callable[..., Awaitable[slurm.CommandResult]]


def upsert(db: Session, jobs: Iterable[SacctJob]) -> tuple[int, int]:
    """Insert or update by job id; final rows are never touched again. (new, updated)."""
    jobs = list({j.job_id: j for j in jobs}.values())
    new = updated = 0
    for chunk in (jobs[i : i + 500] for i in range(0, len(jobs), 500)):
        ids = [j.job_id for j in chunk]
        rows = db.scalars(select(m.UsageJob).where(m.UsageJob.job_id.in_(ids)))
        known = {r.job_id: r for r in rows}
        for job in chunk:
            row = known.get(job.job_id)
            if row is None:
                row = m.UsageJob(job_id=job.job_id)
                db.add(row)
                new += 1
            elif row.final:
                continue
            else:
                updated += 1
            row.cluster, row.account, row.user = job.cluster, job.account, job.user
            row.partition, row.state = job.partition, job.state
            row.start, row.end, row.final = job.start, job.end, job.final
            row.cpu_seconds, row.gpu_seconds = job.cpu_seconds, job.gpu_seconds
    return new, updated


def next_watermark(db: Session, started: datetime, previous_success: datetime | None) -> datetime:
    """Where the next run starts reading: behind this run and the previous success by LAG,
    and before any ended job whose record was still incomplete (it must be read again)."""
    mark = min(started, previous_success or started) - LAG
    ended = or_(m.UsageJob.end.is_not(None), m.UsageJob.state.in_(ENDED_STATES))
    incomplete = db.scalars(
        select(m.UsageJob.start)
        .where(m.UsageJob.final.is_(False), ended)
        .where(m.UsageJob.updated_at >= started - FORGET_AFTER)
        .order_by(m.UsageJob.start)
        .limit(1)
    ).first()
    return min(mark, incomplete) if incomplete else mark


class Collector:
    """Reads slurmdbd into the store every `interval_s`; one run at a time."""

    def __init__(
        self,
        store: sessionmaker[Session],
        cluster: str,
        interval_s: float = 60.0,
        runner: Runner = slurm.arun,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        timeout_s: float = 120.0,
    ):
        self.store = store
        self.cluster = cluster
        self.interval_s = interval_s
        self.runner = runner
        self.clock = clock
        self.timeout_s = timeout_s
        self._lock = asyncio.Lock()
        self._task: asyncio.Task | None = None

    def state(self) -> dict:
        """The collector's record: last run, last success, last error, watermark."""
        with self.store() as db:
            return state_json(db.get(m.CollectorState, NAME), self.interval_s, self.clock())

    async def run_once(self) -> dict:
        """One incremental read. Never raises for Slurm or store trouble: it is recorded."""
        async with self._lock:
            started = self.clock()
            loop = asyncio.get_running_loop()
            since = await loop.run_in_executor(None, self._since, started)
            argv = usage_argv(self.cluster, since, started)
            try:
                result = await self.runner(argv, env=SACCT_ENV, timeout=self.timeout_s)
                jobs, skipped = parse_usage(result.stdout)
                await loop.run_in_executor(None, self._save, jobs, skipped, started)
            except Exception as exc:  # Slurm down, store down: keep the figures, say why
                log.warning("accounting collector run failed: %s", exc)
                await loop.run_in_executor(None, self._failed, started, str(exc) or repr(exc))
            return await loop.run_in_executor(None, self.state)

    def _since(self, started: datetime) -> datetime:
        with self.store() as db:
            row = db.get(m.CollectorState, NAME)
            if row is not None and row.watermark is not None:
                return row.watermark
            first = db.scalars(select(m.Project.starts_on).order_by(m.Project.starts_on)).first()
        since = started - FIRST_LOOKBACK
        if first is not None:
            since = min(since, datetime(first.year, first.month, first.day, tzinfo=UTC))
        return since

    def _save(self, jobs: list[SacctJob], skipped: int, started: datetime) -> None:
        with self.store.begin() as db:
            row = db.get(m.CollectorState, NAME) or m.CollectorState(name=NAME)
            db.add(row)
            new, updated = upsert(db, jobs)
            db.flush()
            row.watermark = next_watermark(db, started, row.last_success_at)
            row.last_run_at = row.last_success_at = started
            row.last_error = ""
        log.info("accounting: %d new, %d updated jobs; %d lines skipped", new, updated, skipped)

    def _failed(self, started: datetime, error: str) -> None:
        try:
            with self.store.begin() as db:
                row = db.get(m.CollectorState, NAME) or m.CollectorState(name=NAME)
                db.add(row)
                row.last_run_at = started
                row.last_error = error[:2000]
        except Exception as exc:  # the store itself is down: the log is all there is
            log.warning("accounting: cannot record the failure: %s", exc)

    async def run_forever(self) -> None:
        while True:
            await self.run_once()
            await asyncio.sleep(self.interval_s)

    def start(self) -> asyncio.Task:
        """Run periodically in the current event loop (the factory service's)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self.run_forever())
        return self._task


def state_json(row: m.CollectorState | None, interval_s: float, now: datetime) -> dict:
    """What answers say about the figures' age: stale when the last run failed, or when no
    run succeeded for three periods (the service was down)."""
    success = row.last_success_at if row else None
    error = row.last_error if row else ""
    late = success is None or now - success > timedelta(seconds=3 * interval_s)
    return {
        "last_run_at": _iso(row.last_run_at if row else None),
        "last_success_at": _iso(success),
        "last_error": error,
        "watermark": _iso(row.watermark if row else None),
        "interval_s": interval_s,
        "stale": bool(error) or late,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


_shared: dict[int, Collector] = {}


def shared_collector(store: sessionmaker[Session], cluster: str, interval_s: float) -> Collector:
    """The service's one collector for its store: the periodic task and "collect now" share
    it, so two runs never overlap."""
    if id(store) not in _shared:
        _shared[id(store)] = Collector(store, cluster, interval_s)
    return _shared[id(store)]
