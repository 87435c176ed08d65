import pytest
from pydantic import ValidationError

from aifactory_hub.policy import AccessMode, AccessSettings, ModeSettings


def test_defaults_per_access_mode():
    access = AccessSettings()
    summary = {
        mode: (s.max_gpu_hours, s.max_cpu_hours, s.duration_days, s.reviewers_required)
        for mode in AccessMode
        for s in [access.mode(mode)]
    }
    assert summary == {
        "playground": (10, 100, 30, 0),
        "fast_lane": (500, 5000, 180, 2),
        "large_scale": (50_000, 500_000, 365, 2),
    }
    assert [access.mode(m).technical_check for m in AccessMode] == [False, False, True]
    assert access.open_results_due_days == 365
    assert access.rates.currency == "EUR"


def test_mode_by_name_and_unknown_mode():
    access = AccessSettings()
    assert access.mode("fast_lane") is access.fast_lane
    assert access.mode(AccessMode.large_scale) is access.large_scale
    with pytest.raises(KeyError):
        access.mode("rates")


def test_site_file_section_overrides_one_mode():
    access = AccessSettings.model_validate(
        {
            "fast_lane": {
                "max_gpu_hours": 1000,
                "max_cpu_hours": 8000,
                "duration_days": 90,
                "reviewers_required": 3,
                "technical_check": True,
            },
            "rates": {"gpu_hour_eur": 1.5, "cpu_hour_eur": 0.01},
        }
    )
    assert access.fast_lane.reviewers_required == 3 and access.playground.max_gpu_hours == 10


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_gpu_hours", -1),
        ("max_cpu_hours", -0.5),
        ("duration_days", 0),
        ("duration_days", 1101),
        ("reviewers_required", -1),
        ("reviewers_required", 11),
    ],
)
def test_mode_settings_out_of_bounds_are_refused(field, value):
    good = {
        "max_gpu_hours": 1,
        "max_cpu_hours": 1,
        "duration_days": 1,
        "reviewers_required": 0,
        "technical_check": False,
    }
    with pytest.raises(ValidationError, match=field):
        ModeSettings.model_validate({**good, field: value})


def test_unknown_fields_and_bad_rates_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        AccessSettings.model_validate({"free_for_all": True})
    with pytest.raises(ValidationError, match="gpu_hour_eur"):
        AccessSettings.model_validate({"rates": {"gpu_hour_eur": -1}})
    with pytest.raises(ValidationError, match="currency"):
        AccessSettings.model_validate({"rates": {"currency": "euro"}})
