"""Service-level clocks: working days (weekends and the site's public holidays, from the kept
`holidays` library), cut-off dates of review modes, when a decision is due, allocation ends,
and the funder report's time-to-access figures. Pure: the holiday calendar is computed, not
read from anywhere, and "today" is always an argument.
"""

from __future__ import annotations

import calendar
import math
from collections.abc import Sequence
from datetime import date, timedelta
from functools import cache

import holidays

from aifactory_hub.policy.settings import ModeSettings


@cache
def _calendar(region: str, year: int) -> frozenset[date]:
    country, _, subdivision = region.partition("-")
    found = holidays.country_holidays(country, subdiv=subdivision or None, years=year)
    return frozenset(found)


def is_working_day(day: date, region: str) -> bool:
    """Monday to Friday and not a public holiday of `region` ("SI", "DE-BY", ...)."""
    return day.weekday() < 5 and day not in _calendar(region, day.year)


def add_working_days(start: date, days: int, region: str) -> date:
    """The `days`-th working day after `start` (start itself does not count)."""
    if days < 0:
        raise ValueError("days must be >= 0")
    day = start
    while days:
        day += timedelta(days=1)
        if is_working_day(day, region):
            days -= 1
    return day


def working_days_between(start: date, end: date, region: str) -> int:
    """Working days after `start` up to and including `end` (0 when end <= start)."""
    count, day = 0, start
    while day < end:
        day += timedelta(days=1)
        count += is_working_day(day, region)
    return count


def next_cutoff(after: date, cutoff_days: Sequence[int]) -> date:
    """The first cut-off on or after `after`: days of the month (1..28) in `cutoff_days`."""
    if not cutoff_days:
        raise ValueError("no cut-off days")
    year, month = after.year, after.month
    for _ in range(2):
        for day in sorted(cutoff_days):
            candidate = date(year, month, day)
            if candidate >= after:
                return candidate
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    raise AssertionError("a cut-off is always within two months")  # pragma: no cover


def decision_due(mode: ModeSettings, submitted_on: date, region: str) -> tuple[date | None, date]:
    """(cut-off or None, the date a decision is due): FIFO modes count working days from the
    submission, review modes from the next cut-off after it."""
    if mode.selection == "review":
        cutoff = next_cutoff(submitted_on + timedelta(days=1), mode.cutoff_days)
        start = cutoff if mode.clock_from == "cutoff" else submitted_on
        return cutoff, add_working_days(start, mode.decision_working_days, region)
    return None, add_working_days(submitted_on, mode.decision_working_days, region)


def clock_state(due: date | None, decided_on: date | None, today: date) -> str:
    """`decided`, `overdue`, `due` (today) or `running`."""
    if decided_on is not None:
        return "decided"
    if due is None:
        return "running"
    return "overdue" if today > due else "due" if today == due else "running"


def add_months(start: date, months: int) -> date:
    """`start` plus whole months (the last day of a shorter month where the day is missing)."""
    index = start.month - 1 + months
    year, month = start.year + index // 12, index % 12 + 1
    return date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def percentile(values: Sequence[float], fraction: float) -> float | None:
    """Nearest-rank percentile (0 < fraction <= 1) of `values`; None when there are none."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def time_to_access(rows: Sequence[tuple[int, int]]) -> dict[str, float | int | None]:
    """From (working days taken, target) per decided request: count, median, 90th
    percentile and the share within target."""
    taken = [float(t) for t, _ in rows]
    within = sum(t <= target for t, target in rows)
    return {
        "decided": len(rows),
        "median_working_days": percentile(taken, 0.5),
        "p90_working_days": percentile(taken, 0.9),
        "within_target": round(within / len(rows), 3) if rows else None,
    }
