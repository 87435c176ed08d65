"""The reports a project owes under each published access mode, their states on a given day,
and what a submission must hold: table-tested, every date injected."""

from __future__ import annotations

from datetime import date

import pytest

from aifactory_hub.policy.clocks import add_months
from aifactory_hub.policy.reports import (
    FINAL_REPORT_DAYS,
    MAX_PRODUCTS,
    MIN_SUMMARY_CHARS,
    Owed,
    final_due,
    report_state,
    reports_owed,
    submission_findings,
)
from aifactory_hub.policy.settings import PUBLISHED, ModeSettings

START = date(2027, 1, 15)


def owed(*pairs: tuple[str, str]) -> list[Owed]:
    return [Owed(kind=kind, due_on=date.fromisoformat(day)) for kind, day in pairs]


@pytest.mark.parametrize(
    ("mode", "ends_on", "expected"),
    [
        # FIFO modes ask no progress report: only the final one, 30 days after the end
        ("playground", "2027-02-15", [("final", "2027-03-17")]),
        ("playground", "2027-04-15", [("final", "2027-05-15")]),
        ("fast_lane", "2027-03-15", [("final", "2027-04-14")]),
        # Large Scale asks at 1, 3 and 9 months: only those before the end
        ("large_scale", "2027-04-15", [("progress", "2027-02-15"), ("final", "2027-05-15")]),
        ("large_scale", "2027-07-15",
         [("progress", "2027-02-15"), ("progress", "2027-04-15"), ("final", "2027-08-14")]),
        ("large_scale", "2028-01-15",
         [("progress", "2027-02-15"), ("progress", "2027-04-15"), ("progress", "2027-10-15"),
          ("final", "2028-02-14")]),
        # AI for Science: one at 3 months of its 6
        ("ai_science", "2027-07-15", [("progress", "2027-04-15"), ("final", "2027-08-14")]),
    ],
)  # fmt: skip
def test_the_reports_each_published_mode_owes(mode, ends_on, expected):
    assert reports_owed(PUBLISHED[mode], START, date.fromisoformat(ends_on)) == owed(*expected)


def test_a_progress_report_due_on_the_last_day_is_not_asked_the_final_report_covers_it():
    mode = PUBLISHED["large_scale"]  # at 1, 3, 9 months; a 3-month project ends at 3 months
    found = reports_owed(mode, START, date(2027, 4, 15))
    assert [r.kind for r in found] == ["progress", "final"]


def test_months_count_from_the_start_to_the_same_day_or_the_months_last():
    mode = PUBLISHED["large_scale"].model_copy(update={"progress_report_months": (1, 3)})
    found = reports_owed(mode, date(2027, 1, 31), date(2028, 1, 31))
    assert [r.due_on for r in found[:2]] == [date(2027, 2, 28), date(2027, 4, 30)]


def test_the_same_month_listed_twice_asks_one_report():
    mode = PUBLISHED["ai_science"].model_copy(update={"progress_report_months": (3, 3, 1)})
    found = reports_owed(mode, START, date(2027, 7, 15))
    assert [(r.kind, r.due_on.isoformat()) for r in found] == [
        ("progress", "2027-02-15"), ("progress", "2027-04-15"), ("final", "2027-08-14"),
    ]  # fmt: skip


def test_a_mode_the_site_no_longer_lists_still_owes_the_final_report():
    assert reports_owed(None, START, date(2027, 7, 15)) == owed(("final", "2027-08-14"))


def test_the_final_report_is_due_the_set_number_of_days_after_the_end():
    assert (final_due(date(2027, 12, 20)) - date(2027, 12, 20)).days == FINAL_REPORT_DAYS
    assert final_due(date(2027, 12, 20)) == date(2028, 1, 19)


def test_every_published_mode_owes_a_final_report_after_every_length_it_allows():
    for code, mode in PUBLISHED.items():
        for months in mode.lengths_months:
            ends = add_months(START, months)
            found = reports_owed(mode, START, ends)
            assert found[-1] == Owed(kind="final", due_on=final_due(ends)), code
            assert all(r.kind == "progress" and r.due_on < ends for r in found[:-1]), code
            assert found == sorted(found, key=lambda r: r.due_on), code


DUE = date(2027, 6, 30)


@pytest.mark.parametrize(
    ("submitted", "today", "state"),
    [
        (True, date(2027, 9, 1), "submitted"),  # late, but in: it stands as submitted
        (True, date(2027, 1, 1), "submitted"),  # early
        (False, date(2027, 7, 1), "overdue"),  # the day after
        (False, date(2027, 6, 30), "due"),  # on the day
        (False, date(2027, 5, 31), "due"),  # 30 days before
        (False, date(2027, 5, 30), "upcoming"),  # 31 days before
        (False, date(2026, 12, 1), "upcoming"),
    ],
)
def test_a_reports_state_on_a_given_day(submitted, today, state):
    assert report_state(DUE, submitted, today) == state


SUMMARY = "x" * MIN_SUMMARY_CHARS
PAPER = {"kind": "paper", "title": "Parcels at scale", "url": "https://example.org/p"}


@pytest.mark.parametrize(
    ("kind", "summary", "products", "acknowledged", "fields"),
    [
        ("final", SUMMARY, [PAPER], True, []),
        ("final", SUMMARY, [], True, []),  # a final report may list no products
        ("progress", SUMMARY, [], False, []),  # a progress report need not acknowledge
        ("final", SUMMARY, [PAPER], False, ["acknowledged"]),
        ("final", SUMMARY[:-1], [PAPER], True, ["summary"]),
        ("progress", " " * 100, [], False, ["summary"]),  # spaces are no summary
        ("progress", SUMMARY, [{**PAPER, "url": "http://example.org"}], False, []),
        ("progress", SUMMARY, [{**PAPER, "url": "ftp://example.org/p"}], False,
         ["products.0.url"]),
        ("progress", SUMMARY, [{**PAPER, "url": "https://"}], False, ["products.0.url"]),
        ("progress", SUMMARY, [{**PAPER, "url": "https://ex ample.org"}], False,
         ["products.0.url"]),
        ("progress", SUMMARY, [{**PAPER, "url": "javascript:alert(1)"}], False,
         ["products.0.url"]),
        ("progress", SUMMARY, [PAPER, {**PAPER, "kind": "poster"}], False, ["products.1.kind"]),
        ("progress", SUMMARY, [{**PAPER, "title": "  "}], False, ["products.0.title"]),
        ("progress", SUMMARY, [{"kind": "code"}], False,
         ["products.0.title", "products.0.url"]),
        ("progress", SUMMARY, ["https://example.org"], False, ["products.0"]),
        ("progress", SUMMARY, [PAPER] * (MAX_PRODUCTS + 1), False, ["products"]),
        ("final", "", [{**PAPER, "url": "x"}], False,
         ["summary", "products.0.url", "acknowledged"]),
        ("interim", SUMMARY, [], True, ["kind"]),
    ],
)  # fmt: skip
def test_what_a_submission_must_hold(kind, summary, products, acknowledged, fields):
    found = submission_findings(kind, summary, products, acknowledged)
    assert [f.field for f in found] == fields
    assert all(f.message for f in found)


def test_every_product_kind_is_accepted():
    for kind in ("paper", "model", "dataset", "code"):
        assert submission_findings("final", SUMMARY, [{**PAPER, "kind": kind}], True) == []


def test_a_mode_with_progress_months_past_its_longest_length_asks_none_of_them():
    mode = ModeSettings(**{**PUBLISHED["fast_lane"].model_dump(), "progress_report_months": (6,)})
    assert [r.kind for r in reports_owed(mode, START, date(2027, 4, 15))] == ["final"]
