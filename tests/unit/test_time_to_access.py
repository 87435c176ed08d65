"""The funder report's time to access per access mode (usage.billing.access_times): working
days from submission to decision on the site's holiday calendar (Slovenia here), against
the date the decision was due, counted from the submission or the cut-off as the mode says.
"""

from __future__ import annotations

from datetime import date

import pytest

from aifactory_hub.policy.settings import PUBLISHED
from aifactory_hub.usage.billing import Decided, access_times

FRI, MON, TUE, THU = date(2026, 11, 20), date(2026, 11, 23), date(2026, 11, 24), date(2026, 11, 26)


def figures(decided: list[Decided]) -> dict[str, dict]:
    return {row["key"]: row for row in access_times(decided, PUBLISHED, "SI")}


@pytest.mark.parametrize(
    ("decided", "mode", "expected"),
    [
        # Playground: 2 working days from Friday is Tuesday.
        ([Decided("playground", FRI, TUE, None)], "playground",
         {"decided": 1, "median_working_days": 2.0, "p90_working_days": 2.0,
          "within_target": 1.0}),
        # Decided on Wednesday: 3 working days, one over the target.
        ([Decided("playground", FRI, date(2026, 11, 25), None)], "playground",
         {"decided": 1, "median_working_days": 3.0, "p90_working_days": 3.0,
          "within_target": 0.0}),
        # A weekend is not counted: Friday to Monday is one working day.
        ([Decided("fast_lane", FRI, MON, None), Decided("fast_lane", FRI, THU, None),
          Decided("fast_lane", FRI, date(2026, 12, 1), None)], "fast_lane",
         {"decided": 3, "median_working_days": 4.0, "p90_working_days": 7.0,
          "within_target": 0.667}),
        # Large Scale counts from the cut-off (Dec 1): 10 working days after it is Dec 15,
        # 17 working days after the submission; decided Dec 14: 16, within.
        ([Decided("large_scale", FRI, date(2026, 12, 14), None)], "large_scale",
         {"decided": 1, "median_working_days": 16.0, "p90_working_days": 16.0,
          "within_target": 1.0}),
        # AI for Science: due Dec 30 (Christmas is not a working day); decided Monday Jan 4,
        # 2027 (New Year's day, a Friday, is not one either): 29 working days, late.
        ([Decided("ai_science", FRI, date(2027, 1, 4), None)], "ai_science",
         {"decided": 1, "median_working_days": 29.0, "p90_working_days": 29.0,
          "within_target": 0.0}),
        # A due date stored at submission is the target, not one recomputed.
        ([Decided("fast_lane", FRI, date(2026, 12, 1), date(2026, 12, 2))], "fast_lane",
         {"decided": 1, "median_working_days": 7.0, "p90_working_days": 7.0,
          "within_target": 1.0}),
        ([], "fast_lane",
         {"decided": 0, "median_working_days": None, "p90_working_days": None,
          "within_target": None}),
    ],
)  # fmt: skip
def test_time_to_access_per_mode(decided, mode, expected):
    row = figures(decided)[mode]
    assert {k: row[k] for k in expected} == expected
    assert row["decision_working_days"] == PUBLISHED[mode].decision_working_days
    assert row["label"] == PUBLISHED[mode].label


def test_every_mode_has_a_row_in_the_sites_order_and_a_lost_mode_keeps_its_own():
    decided = [Decided("fast_lane", FRI, MON, None), Decided("retired", FRI, MON, THU),
               Decided("gone", FRI, MON, None)]  # fmt: skip
    rows = access_times(decided, PUBLISHED, "SI")
    assert [r["key"] for r in rows] == [*PUBLISHED, "retired"]  # "gone": no target known
    retired = rows[-1]
    assert (retired["label"], retired["decision_working_days"], retired["decided"]) == (
        "retired", None, 1,
    )  # fmt: skip
    assert retired["within_target"] == 1.0
