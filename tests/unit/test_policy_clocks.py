"""Service-level clocks with injected dates: working days (weekends and Slovenian public
holidays from the `holidays` library), cut-offs across month and year ends, when a decision
is due in FIFO and review modes, the clock's state, allocation ends, and the funder report's
time-to-access figures.

December 2026 starts on a Tuesday: Christmas (the 25th) is a Friday, Independence and Unity
Day (the 26th) a Saturday; 1 January 2027 is a Friday, 2 January a Saturday.
"""

from __future__ import annotations

from datetime import date

import pytest

from aifactory_hub.policy import AccessSettings
from aifactory_hub.policy.clocks import (
    add_months,
    add_working_days,
    clock_state,
    decision_due,
    is_working_day,
    next_cutoff,
    percentile,
    time_to_access,
    working_days_between,
)

SI = "SI"
MODES = AccessSettings().modes


@pytest.mark.parametrize(
    ("day", "region", "working"),
    [
        (date(2026, 12, 24), SI, True),  # Thursday
        (date(2026, 12, 25), SI, False),  # Christmas, a Friday
        (date(2026, 12, 26), SI, False),  # Independence and Unity Day, a Saturday
        (date(2026, 12, 27), SI, False),  # Sunday
        (date(2026, 12, 28), SI, True),  # Monday
        (date(2027, 1, 1), SI, False),  # New Year, a Friday
        (date(2027, 1, 2), SI, False),  # the second day of the New Year, a Saturday
        (date(2027, 1, 4), SI, True),
        (date(2027, 2, 8), SI, False),  # Preseren Day, a Monday
        (date(2027, 1, 6), SI, True),  # Epiphany is no holiday in Slovenia ...
        (date(2027, 1, 6), "DE-BY", False),  # ... but is in Bavaria
        (date(2026, 12, 8), SI, True),  # an ordinary Tuesday
    ],
)
def test_working_days_leave_out_weekends_and_the_regions_holidays(day, region, working):
    assert is_working_day(day, region) is working


@pytest.mark.parametrize(
    ("start", "days", "expected"),
    [
        (date(2026, 12, 4), 1, date(2026, 12, 7)),  # Friday + 1: over the weekend
        (date(2026, 12, 7), 4, date(2026, 12, 11)),  # a plain week
        (date(2026, 12, 24), 1, date(2026, 12, 28)),  # over Christmas and the weekend
        (date(2026, 12, 24), 2, date(2026, 12, 29)),
        (date(2026, 12, 30), 2, date(2027, 1, 4)),  # over New Year and the weekend
        (date(2026, 12, 30), 4, date(2027, 1, 6)),
        (date(2026, 12, 25), 1, date(2026, 12, 28)),  # starting on a holiday
        (date(2026, 12, 9), 0, date(2026, 12, 9)),
    ],
)
def test_add_working_days(start, days, expected):
    assert add_working_days(start, days, SI) == expected


def test_add_working_days_refuses_a_negative_count():
    with pytest.raises(ValueError, match="days"):
        add_working_days(date(2026, 12, 9), -1, SI)


@pytest.mark.parametrize(
    ("start", "end", "count"),
    [
        (date(2026, 12, 24), date(2027, 1, 4), 5),  # 28, 29, 30, 31 December and 4 January
        (date(2026, 12, 4), date(2026, 12, 7), 1),  # Friday to Monday
        (date(2026, 12, 24), date(2026, 12, 27), 0),  # holiday and weekend
        (date(2026, 12, 9), date(2026, 12, 9), 0),
        (date(2026, 12, 9), date(2026, 12, 1), 0),  # end before start
    ],
)
def test_working_days_between(start, end, count):
    assert working_days_between(start, end, SI) == count


def test_working_days_between_undoes_add_working_days():
    start = date(2026, 12, 18)
    for days in range(0, 30):
        assert working_days_between(start, add_working_days(start, days, SI), SI) == days


@pytest.mark.parametrize(
    ("after", "days", "expected"),
    [
        (date(2026, 12, 10), (1, 15), date(2026, 12, 15)),
        (date(2026, 12, 15), (1, 15), date(2026, 12, 15)),  # on a cut-off: that one
        (date(2026, 12, 16), (1, 15), date(2027, 1, 1)),  # across the year end
        (date(2026, 12, 16), (15, 1), date(2027, 1, 1)),  # in any order
        (date(2026, 1, 31), (1,), date(2026, 2, 1)),  # across a month end
        (date(2027, 2, 1), (28,), date(2027, 2, 28)),
        (date(2026, 11, 29), (28,), date(2026, 12, 28)),
    ],
)
def test_next_cutoff(after, days, expected):
    assert next_cutoff(after, days) == expected


def test_next_cutoff_needs_cutoff_days():
    with pytest.raises(ValueError, match="cut-off"):
        next_cutoff(date(2026, 12, 1), ())


@pytest.mark.parametrize(
    ("mode", "submitted", "cutoff", "due"),
    [
        # FIFO modes count from the submission: 2 and 4 working days
        ("playground", date(2026, 12, 7), None, date(2026, 12, 9)),
        ("playground", date(2026, 12, 24), None, date(2026, 12, 29)),
        ("fast_lane", date(2026, 12, 24), None, date(2026, 12, 31)),
        ("fast_lane", date(2026, 12, 30), None, date(2027, 1, 6)),
        # review modes count from the next cut-off after the submission
        ("large_scale", date(2026, 12, 14), date(2026, 12, 15), date(2026, 12, 30)),
        # submitted on a cut-off day: it waits for the next cut-off, over the year end
        ("large_scale", date(2026, 12, 15), date(2027, 1, 1), date(2027, 1, 15)),
        ("ai_science", date(2026, 11, 20), date(2026, 12, 1), date(2026, 12, 30)),
        ("ai_science", date(2026, 12, 1), date(2027, 1, 1), date(2027, 1, 29)),
    ],
)
def test_decision_due_per_mode(mode, submitted, cutoff, due):
    assert decision_due(MODES[mode], submitted, SI) == (cutoff, due)


def test_a_review_mode_may_count_from_the_submission():
    mode = MODES["large_scale"].model_copy(update={"clock_from": "submission"})
    assert decision_due(mode, date(2026, 12, 14), SI) == (date(2026, 12, 15), date(2026, 12, 29))


def test_the_holiday_region_moves_the_due_date():
    fast = MODES["fast_lane"]
    assert decision_due(fast, date(2027, 1, 4), SI) == (None, date(2027, 1, 8))
    assert decision_due(fast, date(2027, 1, 4), "DE-BY") == (None, date(2027, 1, 11))


@pytest.mark.parametrize(
    ("due", "decided", "today", "state"),
    [
        (date(2026, 12, 9), None, date(2026, 12, 8), "running"),
        (date(2026, 12, 9), None, date(2026, 12, 9), "due"),
        (date(2026, 12, 9), None, date(2026, 12, 10), "overdue"),
        (date(2026, 12, 9), date(2026, 12, 20), date(2026, 12, 21), "decided"),  # late, decided
        (date(2026, 12, 9), date(2026, 12, 1), date(2026, 12, 8), "decided"),
        (None, None, date(2026, 12, 8), "running"),  # no target known
    ],
)
def test_clock_state(due, decided, today, state):
    assert clock_state(due, decided, today) == state


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        (date(2026, 1, 31), 1, date(2026, 2, 28)),  # the last day of a shorter month
        (date(2028, 1, 31), 1, date(2028, 2, 29)),  # a leap year
        (date(2026, 3, 31), 1, date(2026, 4, 30)),
        (date(2026, 8, 31), 6, date(2027, 2, 28)),  # across the year end
        (date(2026, 12, 15), 1, date(2027, 1, 15)),
        (date(2026, 11, 30), 3, date(2027, 2, 28)),
        (date(2026, 1, 31), 13, date(2027, 2, 28)),
        (date(2026, 6, 15), 12, date(2027, 6, 15)),
        (date(2026, 6, 15), 0, date(2026, 6, 15)),
        (date(2026, 1, 15), -1, date(2025, 12, 15)),
    ],
)
def test_add_months(start, months, end):
    assert add_months(start, months) == end


@pytest.mark.parametrize(
    ("values", "fraction", "expected"),
    [
        ([], 0.5, None),
        ([7], 0.9, 7),
        ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 0.5, 5),  # nearest rank, unsorted input
        ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 0.9, 9),
        ([10, 1, 9, 2, 8, 3, 7, 4, 6, 5], 1.0, 10),
        ([1, 2, 3, 4], 0.5, 2),
        ([1, 2, 3, 4], 0.9, 4),
    ],
)
def test_percentile(values, fraction, expected):
    assert percentile(values, fraction) == expected


def test_time_to_access():
    # (working days taken, target): two within target, two late
    rows = [(1, 2), (2, 2), (3, 2), (10, 4)]
    assert time_to_access(rows) == {
        "decided": 4,
        "median_working_days": 2.0,
        "p90_working_days": 10.0,
        "within_target": 0.5,
    }
    assert time_to_access([(1, 2), (2, 4), (4, 4)])["within_target"] == 1.0
    assert time_to_access([(5, 2), (3, 2), (4, 2)])["within_target"] == 0.0


def test_time_to_access_with_nothing_decided():
    assert time_to_access([]) == {
        "decided": 0,
        "median_working_days": None,
        "p90_working_days": None,
        "within_target": None,
    }
