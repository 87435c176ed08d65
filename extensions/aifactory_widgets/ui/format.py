"""How the widgets write times, durations and numbers: one function for each, used by all.

Times arrive from the service as ISO 8601 and are shown in UTC, the clock the service, Slurm
and a workshop's reservation keep (a trainer's and a participant's browser may be anywhere).
Every time function shows empty input (None or "") as "", and text that is no time as it
is: a surprise from the service is seen on the page, never raised in a callback.
"""

from __future__ import annotations

import datetime as dt
from typing import Any


def utc_moment(iso: str) -> dt.datetime:
    """An ISO time as an aware UTC datetime (a naive one is taken as UTC); ValueError if it is
    no time."""
    moment = dt.datetime.fromisoformat(iso)
    return moment.replace(tzinfo=dt.UTC) if moment.tzinfo is None else moment.astimezone(dt.UTC)


def _in_utc(iso: str | None, form: str) -> str:
    if not iso:
        return ""
    try:
        return utc_moment(iso).strftime(form)
    except ValueError:
        return iso


def short_time(iso: str | None) -> str:
    """'2026-11-27T16:40:12.123+00:00' -> '2026-11-27 16:40 UTC'; '' and None -> ''."""
    return _in_utc(iso, "%Y-%m-%d %H:%M UTC")


def clock(iso: str | None) -> str:
    """'2026-11-27T10:42:05+00:00' -> '10:42' (UTC); '' and None -> ''."""
    return _in_utc(iso, "%H:%M")


def duration_text(seconds: float | None) -> str:
    """45 -> '45 s', 750 -> '12 min', 11100 -> '3 h 05 min', 187200 -> '2 d 4 h'; None -> ''."""
    if seconds is None:
        return ""
    s = int(max(seconds, 0))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        return f"{s // 3600} h {s % 3600 // 60:02d} min"
    return f"{s // 86400} d {s % 86400 // 3600} h"


def elapsed_text(seconds: int) -> str:
    """A job's run time as squeue writes it: 3723 -> '1:02:03' (a negative one is 0)."""
    hours, rest = divmod(max(seconds, 0), 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def walltime_text(minutes: int) -> str:
    """A wall time in Slurm's HH:MM:SS (`--time`): 90 -> '01:30:00'."""
    return f"{minutes // 60:02d}:{minutes % 60:02d}:00"


def number(value: Any) -> str:
    """Hours and scores without float noise: 200.0 -> '200', 4.25 -> '4.25'; None -> '';
    anything that is no number is shown as it is."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def grouped(value: float) -> str:
    """A number with thousands grouped, as a guide quotes it: 12.0 -> '12', 50000 -> '50,000',
    0.02 -> '0.02'."""
    return format(value, ",g")


def amount(value: float | str | None) -> str:
    """Hours or money to two places: 1234.5 -> '1,234.50'; None -> '-'."""
    return "-" if value is None else f"{float(value):,.2f}"


def percent(fraction: float | None) -> str:
    """0.5 -> '50 %'; None -> ''."""
    return "" if fraction is None else f"{fraction * 100:g} %"


def yes_no(value: bool | None, unknown: str = "") -> str:
    """'yes' or 'no'; None -> `unknown`."""
    return unknown if value is None else ("yes" if value else "no")


def plural(count: int, noun: str) -> str:
    """1 -> '1 ticket', 3 -> '3 tickets'."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"
