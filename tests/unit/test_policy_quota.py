"""Quota arithmetic: shares of jobs across period edges, granted/used/left, burn rate,
projected exhaustion, the daily plot, warning levels and the spawn gate's refusals."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from aifactory_hub import policy
from aifactory_hub.policy import Hours, JobUse, project_quota, session_refusal, warning_level
from aifactory_hub.policy.quota import share

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


def job(start_h: float, hours: float, cpus: int = 1, gpus: int = 0, **kw) -> JobUse:
    """A job that started `start_h` hours before NOW and ran `hours`."""
    start = NOW - timedelta(hours=start_h)
    seconds, where = hours * 3600, (kw.get("account", "prj"), kw.get("user", "alice"))
    end = start + timedelta(hours=hours)
    return JobUse(*where, kw.get("partition", "gpu"), start, end, seconds * cpus, seconds * gpus)


def test_a_job_crossing_the_edge_counts_pro_rata():
    j = job(4, 4, cpus=2, gpus=1)  # 8 CPU-h, 4 GPU-h over 4 hours
    assert share(j, None, None) == Hours(4, 8)
    assert share(j, NOW - timedelta(hours=1), None) == Hours(1, 2)
    assert share(j, NOW, None) == Hours()
    assert share(job(1, 0), None, None) == Hours()  # never ran


def test_granted_used_left_per_partition_and_member():
    jobs = [job(30, 2, cpus=4, gpus=2, user="alice"), job(5, 1, cpus=8, partition="cpu",
            user="bob"), job(5, 1, gpus=1, account="other")]  # fmt: skip
    q = project_quota("prj", {"gpu": Hours(10, 40), "cpu": Hours(0, 100)}, jobs, NOW,
                      date(2026, 11, 1), date(2026, 12, 31))  # fmt: skip
    assert q.granted == Hours(10, 140) and q.used == Hours(4, 16)
    assert q.remaining == Hours(6, 124)
    parts = {p.partition: p for p in q.partitions}
    assert parts["gpu"].remaining == Hours(6, 32) and parts["cpu"].used == Hours(0, 8)
    assert q.members == {"alice": Hours(4, 8), "bob": Hours(0, 8)}
    assert q.level == "none"


def test_only_the_allocation_dates_count():
    before = job(24 * 30, 1, gpus=1)  # a month ago: an older project on the same account
    q = project_quota("prj", {"gpu": Hours(10, 10)}, [before], NOW, NOW.date(), NOW.date())
    assert q.used == Hours()


def test_burn_rate_and_projected_exhaustion():
    jobs = [job(24 * d + 2, 1, gpus=2) for d in range(7)]  # 2 GPU-h a day for a week
    q = project_quota("prj", {"gpu": Hours(30, 0)}, jobs, NOW, date(2026, 10, 1),
                      date(2026, 12, 31))  # fmt: skip
    assert q.burn_per_day.gpu == pytest.approx(2.0)
    # 16 GPU-h left at 2 a day: 8 days from now, before the end date
    assert q.exhaustion() == {"gpu": date(2026, 12, 5)}
    idle = project_quota("prj", {"gpu": Hours(30, 0)}, [], NOW, date(2026, 10, 1))
    assert idle.exhaustion() == {"gpu": None}
    young = policy.burn_rate([job(2, 1, gpus=1)], NOW, since=NOW - timedelta(hours=3))
    assert young.gpu == pytest.approx(1.0)  # a project younger than a day: per day, not per week


def test_cumulative_daily_points():
    start = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)
    j = JobUse("prj", "a", "gpu", start, start + timedelta(hours=2), 7200, 7200)
    points = policy.cumulative_daily([j], date(2026, 11, 24), date(2026, 11, 27))
    assert [(d.day, h.gpu) for d, h in points] == [(24, 0), (25, 1.0), (26, 2.0), (27, 2.0)]
    assert policy.cumulative_daily([j], date(2026, 11, 27), date(2026, 11, 26)) == []


@pytest.mark.parametrize(
    ("used", "level"),
    [(Hours(0, 0), "none"), (Hours(7.9, 0), "none"), (Hours(8, 0), "80"), (Hours(9.5, 0), "95"),
     (Hours(10, 0), "exhausted"), (Hours(0, 100), "exhausted"), (Hours(12, 1), "exhausted")],
)  # fmt: skip
def test_warning_levels(used, level):
    assert warning_level(Hours(10, 100), used) == level
    assert warning_level(Hours(0, 0), used) == "none"  # nothing recorded: no warning


def test_the_spawn_gate():
    q = project_quota("prj", {"gpu": Hours(10, 100)}, [job(5, 4, cpus=2, gpus=2)], NOW,
                      date(2026, 11, 1), date(2026, 12, 31))  # fmt: skip
    assert q.remaining == Hours(2, 92)
    assert session_refusal(q, gpus=1, cpus=1, walltime_minutes=120) == ("", "")
    field, why = session_refusal(q, gpus=2, cpus=1, walltime_minutes=120)
    assert field == "walltime_hours" and "at most 1 h" in why and "prj" in why
    used_up = project_quota("prj", {"gpu": Hours(8, 100)}, [job(5, 4, cpus=2, gpus=2)], NOW,
                            date(2026, 11, 1), date(2026, 12, 31))  # fmt: skip
    field, why = session_refusal(used_up, gpus=1, cpus=1, walltime_minutes=60)
    assert field == "project" and "has used its GPU-hours: 8 of 8" in why
    # a CPU session on a project whose GPU-hours are gone still starts
    assert session_refusal(used_up, gpus=0, cpus=1, walltime_minutes=60) == ("", "")
    assert "used up" in policy.quota_note(used_up)
    assert "no recorded allocation" in policy.quota_note(project_quota("x", {}, [], NOW))


def test_charge_uses_the_site_rates():
    assert str(policy.charge(10, 100, policy.Rates())) == "22.00"


GB = 10**9


@pytest.mark.parametrize(
    ("used_bytes", "allowance_gb", "level"),
    [
        (0, 50, "none"),
        (int(39.99 * GB), 50, "none"),
        (40 * GB, 50, "80"),  # 80 % exactly warns
        (int(47.49 * GB), 50, "80"),
        (int(47.5 * GB), 50, "95"),
        (50 * GB - 1, 50, "95"),
        (50 * GB, 50, "exhausted"),
        (70 * GB, 50, "exhausted"),
        (10**15, 0, "none"),  # no allowance set: no warning
        (-5, 5, "none"),  # a nonsense figure is not a warning
    ],
)
def test_storage_warning_levels(used_bytes, allowance_gb, level):
    assert policy.quota.storage_level(used_bytes, allowance_gb) == level


def test_storage_fraction():
    assert policy.quota.storage_fraction(GB, 4) == 0.25
    assert policy.quota.storage_fraction(GB, 0) is None


def test_a_projection_past_a_century_is_never_not_an_overflow():
    """A 100,000 GPU-hour allocation burning seconds a day would end after year 9999."""
    granted, used = Hours(gpu=100_000, cpu=0), Hours(gpu=0.01, cpu=0)
    out = policy.projected_exhaustion(granted, used, Hours(gpu=0.0001, cpu=0), NOW)
    assert out == {"gpu": None}
    soon = policy.projected_exhaustion(granted, used, Hours(gpu=10_000, cpu=0), NOW)
    assert soon == {"gpu": (NOW + timedelta(days=(100_000 - 0.01) / 10_000)).date()}
