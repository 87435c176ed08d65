"""Quota arithmetic: what a project was granted, what it used, what is left and when it runs out;
and how full its folders are against the site's storage allowance.

Pure functions over plain data (jobs as the accounting collector stored them, the project's
allocations and dates). A job's use is spread evenly over the time it ran, so a period (the
allocation's dates, the last 7 days, one day of the plot) counts only its share of a job that
crosses the period's edge. Slurm enforces a project's hours as one pool per resource
(`GrpTRESMins` on the account), so warnings, the spawn gate and the projection look at the
project's totals; the per-partition rows say where the hours went.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

LEVELS = ("none", "80", "95", "exhausted")  # the warning levels, mildest first
BURN_DAYS = 7
GB = 10**9  # storage allowances are in GB of 10^9 bytes (as `df -H` and the site file count)


@dataclass(frozen=True)
class Hours:
    """GPU-hours and CPU-hours together, because every figure here comes in that pair."""

    gpu: float = 0.0
    cpu: float = 0.0

    def __add__(self, other: Hours) -> Hours:
        return Hours(self.gpu + other.gpu, self.cpu + other.cpu)

    def __sub__(self, other: Hours) -> Hours:
        return Hours(self.gpu - other.gpu, self.cpu - other.cpu)

    def scaled(self, factor: float) -> Hours:
        return Hours(self.gpu * factor, self.cpu * factor)

    def rounded(self, digits: int = 4) -> dict[str, float]:
        """The JSON form: {"gpu_hours": .., "cpu_hours": ..}."""
        return {"gpu_hours": round(self.gpu, digits), "cpu_hours": round(self.cpu, digits)}


@dataclass(frozen=True)
class JobUse:
    """One job's use. `end` is when it ended, or for a running job when its figure was read."""

    account: str
    user: str
    partition: str
    start: datetime
    end: datetime
    cpu_seconds: float
    gpu_seconds: float


@dataclass(frozen=True)
class PartitionQuota:
    partition: str
    granted: Hours
    used: Hours

    @property
    def remaining(self) -> Hours:
        return self.granted - self.used


@dataclass(frozen=True)
class ProjectQuota:
    """A project's quota as of one moment (the collector's last successful read)."""

    account: str
    as_of: datetime
    starts_on: date | None
    ends_on: date | None
    partitions: tuple[PartitionQuota, ...]
    burn_per_day: Hours
    members: Mapping[str, Hours] = field(default_factory=dict)
    daily: tuple[tuple[date, Hours], ...] = ()  # cumulative use at the end of each day

    @property
    def granted(self) -> Hours:
        return sum((p.granted for p in self.partitions), Hours())

    @property
    def used(self) -> Hours:
        return sum((p.used for p in self.partitions), Hours())

    @property
    def remaining(self) -> Hours:
        return self.granted - self.used

    @property
    def has_allocation(self) -> bool:
        return self.granted.gpu > 0 or self.granted.cpu > 0

    @property
    def level(self) -> str:
        return warning_level(self.granted, self.used)

    def exhaustion(self) -> dict[str, date | None]:
        """Per resource: the day it runs out at the current burn rate (None: not at this rate)."""
        return projected_exhaustion(self.granted, self.used, self.burn_per_day, self.as_of)


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def share(job: JobUse, lo: datetime | None, hi: datetime | None) -> Hours:
    """The job's use inside [lo, hi), spread evenly over its run time."""
    start, end = job.start, max(job.end, job.start)
    a = start if lo is None else max(start, lo)
    b = end if hi is None else min(end, hi)
    if b <= a:  # outside the period, or a job that never ran (and so used nothing)
        return Hours()
    fraction = (b - a).total_seconds() / (end - start).total_seconds()
    return Hours(job.gpu_seconds / 3600 * fraction, job.cpu_seconds / 3600 * fraction)


def use_by(
    jobs: Iterable[JobUse],
    key: Callable[[JobUse], Hashable],
    lo: datetime | None = None,
    hi: datetime | None = None,
) -> dict[Hashable, Hours]:
    """Use inside [lo, hi) grouped by `key` (user, partition, account, ...)."""
    totals: dict[Hashable, Hours] = defaultdict(Hours)
    for job in jobs:
        part = share(job, lo, hi)
        if part.gpu or part.cpu:
            totals[key(job)] = totals[key(job)] + part
    return dict(totals)


def fraction_used(granted: Hours, used: Hours) -> float | None:
    """The larger used/granted of the resources that were granted (None: nothing granted)."""
    fractions = [u / g for g, u in ((granted.gpu, used.gpu), (granted.cpu, used.cpu)) if g > 0]
    return max(fractions) if fractions else None


def level_of(fraction: float | None) -> str:
    """The warning for a used fraction (`LEVELS`): none below 80 % (or with nothing
    allowed), then "80", "95", and "exhausted" from 100 %."""
    if fraction is None or fraction < 0.8:
        return "none"
    if fraction >= 1:
        return "exhausted"
    return "95" if fraction >= 0.95 else "80"


def warning_level(granted: Hours, used: Hours) -> str:
    """none below 80 %, then "80", "95", and "exhausted" once a granted pool is used up."""
    return level_of(fraction_used(granted, used))


def burn_rate(jobs: Iterable[JobUse], as_of: datetime, since: datetime | None = None) -> Hours:
    """Hours per day over the last 7 days (or since the project started, at least one day)."""
    lo = as_of - timedelta(days=BURN_DAYS)
    if since is not None and since > lo:
        lo = since
    days = max((as_of - lo).total_seconds() / 86400, 1.0)
    total = sum((share(j, lo, as_of) for j in jobs), Hours())
    return total.scaled(1 / days)


MAX_PROJECTION_DAYS = 36_500  # a hundred years; past that "never" is the honest answer


def projected_exhaustion(
    granted: Hours, used: Hours, burn_per_day: Hours, as_of: datetime
) -> dict[str, date | None]:
    """Per granted resource, the day the rest is gone at `burn_per_day` (today if it is gone)."""
    out: dict[str, date | None] = {}
    for name in ("gpu", "cpu"):
        left, rate = getattr(granted, name) - getattr(used, name), getattr(burn_per_day, name)
        if getattr(granted, name) <= 0:
            continue
        if left <= 0:
            out[name] = as_of.date()
        elif rate > 0 and left / rate < MAX_PROJECTION_DAYS:
            out[name] = (as_of + timedelta(days=left / rate)).date()
        else:
            out[name] = None  # not at this rate: no use, or not within a century
    return out


def cumulative_daily(jobs: Iterable[JobUse], first: date, last: date) -> list[tuple[date, Hours]]:
    """Cumulative use at the end of each day from `first` to `last` (the plot's points)."""
    if last < first:
        return []
    per_day: dict[date, Hours] = defaultdict(Hours)
    for job in jobs:
        day = max(job.start.date(), first)
        while day <= min(job.end.date(), last):
            per_day[day] = per_day[day] + share(job, day_start(day), day_start(day + timedelta(1)))
            day += timedelta(days=1)
    points, running, day = [], Hours(), first
    while day <= last:
        running = running + per_day.get(day, Hours())
        points.append((day, running))
        day += timedelta(days=1)
    return points


def project_quota(
    account: str,
    grants: Mapping[str, Hours],
    jobs: Iterable[JobUse],
    as_of: datetime,
    starts_on: date | None = None,
    ends_on: date | None = None,
    *,
    with_members: bool = True,
    with_daily: bool = True,
) -> ProjectQuota:
    """Granted, used and left per partition, burn rate, members and the plot of one project.

    Only the account's jobs inside the allocation's dates count (an account name can be older
    than the project); without dates (a project with no recorded allocation) all of them do."""
    lo = day_start(starts_on) if starts_on else None
    hi = day_start(ends_on + timedelta(days=1)) if ends_on else None
    hi = as_of if hi is None or as_of < hi else hi
    mine = [
        j
        for j in jobs
        if j.account == account and (lo is None or j.end > lo) and j.start < hi and j.end > j.start
    ]
    by_partition = use_by(mine, lambda j: j.partition, lo, hi)
    names = sorted(set(grants) | set(by_partition))
    partitions = tuple(
        PartitionQuota(n, grants.get(n, Hours()), by_partition.get(n, Hours())) for n in names
    )
    members = use_by(mine, lambda j: j.user, lo, hi) if with_members else {}
    daily: list[tuple[date, Hours]] = []
    if with_daily:
        first = starts_on or min((j.start.date() for j in mine), default=as_of.date())
        daily = cumulative_daily(mine, first, min(hi, as_of).date())
    return ProjectQuota(
        account=account,
        as_of=as_of,
        starts_on=starts_on,
        ends_on=ends_on,
        partitions=partitions,
        burn_per_day=burn_rate(mine, min(hi, as_of), lo),
        members=dict(sorted(members.items())),
        daily=tuple(daily),
    )


def _hours(value: float) -> str:
    return f"{value:,.2f}".rstrip("0").rstrip(".")


def session_refusal(
    quota: ProjectQuota, gpus: int, cpus: int, walltime_minutes: int
) -> tuple[str, str]:
    """(field, why) a session on this project would pend for ever, or ("", "") if it can start.

    Slurm (`AccountingStorageEnforce=...,safe`) starts a job only if it can run to its wall
    time within the project's GPU- and CPU-minutes, and holds it otherwise, for ever. Saying so
    at the form is kinder. A pool that was never granted is not checked (no recorded
    allocation: Slurm's own limits, if any, decide)."""
    hours = walltime_minutes / 60
    as_of = quota.as_of.strftime("%Y-%m-%d %H:%M UTC")
    for name, label, asked in (("cpu", "CPU", cpus), ("gpu", "GPU", gpus)):
        granted = getattr(quota.granted, name)
        if granted <= 0 or asked <= 0:
            continue
        left = granted - getattr(quota.used, name)
        if left <= 0:
            return "project", (
                f"project {quota.account} has used its {label}-hours: "
                f"{_hours(getattr(quota.used, name))} of {_hours(granted)} (as of {as_of}). "
                "Slurm would hold the session for ever; ask your PI or support for more hours, "
                "or choose another project"
            )
        needed = asked * hours
        if needed > left + 1e-9:
            fits = left / asked
            return "walltime_hours", (
                f"project {quota.account} has {_hours(left)} {label}-hours left (as of {as_of}); "
                f"this session may need {_hours(needed)} ({asked} {label}s x {_hours(hours)} h), "
                f"so Slurm would hold it for ever. Ask for at most {_hours(fits)} h of wall "
                f"time, or fewer {label}s"
            )
    return "", ""


def quota_note(quota: ProjectQuota) -> str:
    """One line for the spawn form: what is left, with the warning at 80 % and 95 %."""
    if not quota.has_allocation:
        return f"{quota.account}: no recorded allocation (Slurm's own limits apply)."
    parts = []
    for name, label in (("gpu", "GPU"), ("cpu", "CPU")):
        granted = getattr(quota.granted, name)
        if granted > 0:
            used = getattr(quota.used, name)
            parts.append(
                f"{_hours(max(granted - used, 0))} of {_hours(granted)} {label}-hours left "
                f"({used / granted:.0%} used)"
            )
    text = f"{quota.account}: " + ", ".join(parts)
    level = quota.level
    if level == "exhausted":
        return text + ". The allocation is used up: a session here is refused."
    if level in ("80", "95"):
        return text + f". Warning: over {level} % of the allocation is used."
    return text + "."


def storage_fraction(used_bytes: int, allowance_gb: float) -> float | None:
    """Used over allowed (None: the site sets no allowance, 0 GB)."""
    if allowance_gb <= 0:
        return None
    return max(used_bytes, 0) / (allowance_gb * GB)


def storage_level(used_bytes: int, allowance_gb: float) -> str:
    """The storage warning, as the hours' (`LEVELS`): none below 80 % of the allowance, "80",
    "95", and "exhausted" at or past it; none when there is no allowance. Storage is not
    enforced by the filesystem here (no quota tool on the demo's), so "exhausted" is a warning
    to clean up, not a refusal."""
    return level_of(storage_fraction(used_bytes, allowance_gb))
