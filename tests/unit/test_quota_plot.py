"""The quota plot on fixed figures: its axes span the allocation's period and the grant; a
project with no use yet, or no recorded allocation, says so instead of drawing."""

from __future__ import annotations

import copy
from datetime import date

import ipywidgets as w
import matplotlib.dates as mdates
import pytest

from aifactory_widgets.usage.quota import ProjectUsageCard, plot_note, quota_figure
from tests.unit.test_widgets_quota import PROJECT

NOTHING = [{"day": "2026-11-20", "gpu_hours": 0.0, "cpu_hours": 0.0}]


def test_the_axes_span_the_allocations_period_and_its_grant():
    gpu, cpu = quota_figure(PROJECT).axes
    for ax in (gpu, cpu):
        start, end = (mdates.num2date(x).date() for x in ax.get_xlim())
        assert (start, end) == (date(2026, 11, 20), date(2026, 12, 20))
    assert gpu.get_ylim() == pytest.approx((0, 10.0 * 1.1))  # granted 10 GPU-h, used 8.5
    assert cpu.get_ylim() == pytest.approx((0, 100.0 * 1.1))  # granted 100 CPU-h, used 12
    (grant,) = [line for line in gpu.get_lines() if line.get_label() == "granted"]
    assert list(grant.get_ydata()) == [10.0, 10.0]  # a horizontal line at the grant
    (used,) = [line for line in gpu.get_lines() if line.get_label() == "used"]
    assert list(used.get_ydata()) == [4.0, 8.5]


def test_use_past_the_grant_stays_on_the_chart():
    over = copy.deepcopy(PROJECT)
    over["daily"][-1]["gpu_hours"] = 14.0
    gpu, _ = quota_figure(over).axes
    assert gpu.get_ylim() == pytest.approx((0, 14.0 * 1.1))


def test_a_project_with_no_use_yet_says_so_instead_of_an_empty_chart():
    fresh = {**PROJECT, "daily": NOTHING, "used": {"gpu_hours": 0.0, "cpu_hours": 0.0}}
    said = "No use recorded yet for pg-dave (allocation 2026-11-20..2026-12-20)."
    assert plot_note(fresh) == said
    card = ProjectUsageCard(fresh)
    assert isinstance(card.plot, w.Label) and card.plot.value == plot_note(fresh)
    assert plot_note({**PROJECT, "daily": []}).startswith("No use recorded yet for pg-dave")


def test_a_project_with_no_recorded_allocation_has_no_plot():
    site = {**PROJECT, "account": "ai-alpha", "has_allocation": False, "starts_on": None,
            "ends_on": None}  # fmt: skip
    assert plot_note(site) == "No recorded allocation for ai-alpha, so no plot of its use."
    assert isinstance(ProjectUsageCard(site).plot, w.Label)
    assert plot_note(PROJECT) == ""
    assert isinstance(ProjectUsageCard(PROJECT).plot, w.Image)
