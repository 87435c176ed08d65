"""The accounting collector: slurmdbd's jobs, read incrementally with `sacct`, into the store.

Why sacct and not sreport: sreport answers from the hourly rollup, so it is empty for the
first hour and never shows a running job; sacct shows every job as it is now, running ones
with their elapsed time so far.

Each run asks only for the jobs active since the watermark (`sacct -S`), upserts them by job
id (reading a job twice never counts it twice) and leaves `final` jobs alone. A job is final
once its state is terminal and its end and elapsed time are filled in: right after a job
ends, sacct can show it COMPLETED with those fields still empty. The watermark trails the
last successful run by a margin, because slurmctld reports to slurmdbd asynchronously (and
after a slurmdbd outage, late). A failed run (slurmdbd or slurmctld down) changes no figure;
it records the error, so answers can say the figures are stale since the last success.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub import slurm
from aifactory_hub.store import models as m

log = logging.getLogger("aifactory.accounting")

NAME = "sacct"  # the collector's row in collector_state
FIELDS = ("JobID", "Cluster", "Account", "User", "Partition", "State", "Start", "End",
          "ElapsedRaw", "AllocTRES")  # fmt: skip
TERMINAL = frozenset({
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
    "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "TIMEOUT",
})  # fmt: skip
FIRST_LOOKBACK = timedelta(days=31)  # the first run reads this much history
LAG = timedelta(minutes=10)  # slurmctld -> slurmdbd delay the watermark allows for
FORGET_AFTER = timedelta(days=2)  # a non-final job unseen this long no longer holds the mark
_JOB_ID = re.compile(r"^\d+([_+]\d+)?$")  # 123, array task 123_4, het component 123+1
_NAME = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")

Runner = Callable[..., Awaitable[slurm.CommandResult]]


@dataclass(frozen=True)
class SacctJob:
    """One allocation line of sacct, checked field by field."""

    job_id: str
    cluster: str
    account: str
    user: str
    partition: str
    state: str
    start: datetime | None
    end: datetime | None
    elapsed_s: int | None
    cpus: int
    gpus: int

    @property
    def cpu_seconds(self) -> float:
        return float((self.elapsed_s or 0) * self.cpus)

    @property
    def gpu_seconds(self) -> float:
        return float((self.elapsed_s or 0) * self.gpus)

    @property
    def final(self) -> bool:
        return self.state in TERMINAL and self.end is not None and self.elapsed_s is not None


def sacct_argv(cluster: str, since: datetime, until: datetime) -> list[str]:
    """Every user's job allocations (no steps) active between `since` and `until`, in UTC."""
    return [
        "sacct", "--noheader", "--parsable2", "--allusers", "--allocations",
        f"--clusters={cluster}", f"--format={','.join(FIELDS)}",
        f"--starttime={_slurm_time(since)}", f"--endtime={_slurm_time(until)}",
    ]  # fmt: skip


SACCT_ENV = {"TZ": "UTC", "SLURM_TIME_FORMAT": "%Y-%m-%dT%H:%M:%S"}  # times in and out in UTC


def _slurm_time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(text: str) -> datetime | None:
    """sacct's time (UTC, see SACCT_ENV); "Unknown", "None" and empty are None."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_tres(text: str) -> tuple[int, int]:
    """(cpus, gpus) of an AllocTRES like "billing=2,cpu=2,gres/gpu:sim=1,gres/gpu=1,mem=4G"."""
    tres = dict(item.split("=", 1) for item in text.split(",") if "=" in item)
    cpus = _count(tres.get("cpu", "0"))
    if "gres/gpu" in tres:
        return cpus, _count(tres["gres/gpu"])
    typed = [_count(v) for k, v in tres.items() if k.startswith("gres/gpu:")]
    return cpus, sum(typed)


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0


def parse_line(line: str) -> SacctJob | None:
    """One line of `sacct --parsable2` in FIELDS order; None for anything else."""
    parts = line.rstrip("\n").split("|")
    if len(parts) != len(FIELDS):
        return None
    job_id, cluster, account, user, partition, state, start, end, elapsed, tres = parts
    if not _JOB_ID.match(job_id) or not all(_NAME.match(v) for v in (cluster, account, user)):
        return None
    if partition and not _NAME.match(partition):
        return None
    word = state.split(" ")[0].upper()  # "CANCELLED by 0" -> CANCELLED
    if not word.replace("_", "").isalpha():
        return None
    cpus, gpus = parse_tres(tres)
    return SacctJob(
        job_id=job_id,
        cluster=cluster,
        account=account,
        user=user,
        partition=partition,
        state=word[:32],
        start=parse_time(start),
        end=parse_time(end),
        elapsed_s=int(elapsed) if elapsed.isdigit() else None,
        cpus=cpus,
        gpus=gpus,
    )


def parse_sacct(text: str) -> tuple[list[SacctJob], int]:
    """The jobs that ran (or run) in sacct's output, and how many lines were unreadable.

    Pending jobs and jobs cancelled before they started used nothing and are left out."""
    jobs, skipped = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        job = parse_line(line)
        if job is None:
            skipped += 1
        elif job.start is not None and job.partition:
            jobs.append(job)
    return jobs, skipped


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
    ended = or_(m.UsageJob.end.is_not(None), m.UsageJob.state.in_(TERMINAL))
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
            argv = sacct_argv(self.cluster, since, started)
            try:
                result = await self.runner(argv, env=SACCT_ENV, timeout=self.timeout_s)
                jobs, skipped = parse_sacct(result.stdout)
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
