"""The widgets' one formatting module: times in UTC, durations and numbers, and what each
makes of empty input and of text that is no time."""

from __future__ import annotations

import datetime as dt

import pytest

from aifactory_widgets.ui.format import (
    amount,
    clock,
    duration_text,
    elapsed_text,
    grouped,
    number,
    percent,
    plural,
    short_time,
    utc_moment,
    walltime_text,
    yes_no,
)


@pytest.mark.parametrize(
    ("iso", "text"),
    [
        ("2026-11-27T16:40:12.123+00:00", "2026-11-27 16:40 UTC"),
        ("2026-11-27T16:40:12.123456Z", "2026-11-27 16:40 UTC"),  # JupyterHub's form
        ("2026-11-27T17:40:12+01:00", "2026-11-27 16:40 UTC"),  # shown in UTC, not as given
        ("2026-11-27T16:40:12", "2026-11-27 16:40 UTC"),  # a naive time is taken as UTC
        ("", ""),
        (None, ""),
        ("soon", "soon"),  # no time: shown as it is, never raised
    ],
)
def test_short_time(iso, text):
    assert short_time(iso) == text


def test_clock_is_the_utc_hour_and_minute():
    assert clock("2026-11-27T10:42:05+00:00") == "10:42"
    assert clock("2026-11-27T11:42:05+01:00") == "10:42"
    assert (clock(""), clock(None), clock("later")) == ("", "", "later")


def test_utc_moment_is_aware_and_refuses_what_is_no_time():
    assert utc_moment("2026-11-27T10:00:00") == dt.datetime(2026, 11, 27, 10, tzinfo=dt.UTC)
    with pytest.raises(ValueError):
        utc_moment("soon")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(45, "45 s"), (750, "12 min"), (11100, "3 h 05 min"), (187200, "2 d 4 h"), (-5, "0 s"),
     (None, "")],
)  # fmt: skip
def test_durations(seconds, text):
    assert duration_text(seconds) == text


def test_elapsed_and_wall_times_in_slurms_forms():
    assert (elapsed_text(3723), elapsed_text(-1), elapsed_text(90000)) == (
        "1:02:03", "0:00:00", "25:00:00",
    )  # fmt: skip
    assert (walltime_text(90), walltime_text(5), walltime_text(2880)) == (
        "01:30:00", "00:05:00", "48:00:00",
    )  # fmt: skip


def test_numbers():
    assert (number(200.0), number(4.25), number(None), number(True), number("n/a")) == (
        "200", "4.25", "", "True", "n/a",
    )  # fmt: skip
    assert (grouped(12.0), grouped(50000), grouped(0.02)) == ("12", "50,000", "0.02")
    assert (amount(1234.5), amount("0.1"), amount(None)) == ("1,234.50", "0.10", "-")
    assert (percent(0.5), percent(None)) == ("50 %", "")


def test_words():
    assert (yes_no(True), yes_no(False), yes_no(None), yes_no(None, "unknown")) == (
        "yes", "no", "", "unknown",
    )  # fmt: skip
    assert (plural(1, "ticket"), plural(0, "ticket"), plural(3, "raised hand")) == (
        "1 ticket", "0 tickets", "3 raised hands",
    )  # fmt: skip
