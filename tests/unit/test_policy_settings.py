import pytest
from pydantic import ValidationError

from aifactory_hub.policy import AccessSettings, ModeSettings
from aifactory_hub.policy.settings import PUBLISHED

# A mode as small as the rules allow; tests change one field at a time.
GOOD_MODE = {
    "label": "Sovereign",
    "applicant_types": ["public_research"],
    "lengths_months": [12],
    "selection": "fifo",
    "decision_working_days": 5,
    "price": {"public_research": "free"},
}


def test_the_default_modes_are_the_published_table():
    access = AccessSettings()
    assert access.modes == PUBLISHED
    summary = {
        code: (m.min_gpu_hours, m.max_gpu_hours, m.lengths_months, m.selection,
               m.decision_working_days, m.clock_from, m.reviewers_required)
        for code, m in access.modes.items()
    }  # fmt: skip
    assert summary == {
        "playground": (0, 1000, (1, 2, 3), "fifo", 2, "submission", 0),
        "fast_lane": (0, 50_000, (1, 2, 3), "fifo", 4, "submission", 0),
        "large_scale": (50_000, None, (3, 6, 12), "review", 10, "cutoff", 2),
        "ai_science": (0, None, (6,), "review", 20, "cutoff", 2),
    }
    assert all(m.technical_check for m in access.modes.values())
    assert [m.max_length_months for m in access.modes.values()] == [3, 3, 12, 6]
    assert access.trial.mode == "playground" and access.holidays == "SI"
    assert access.open_results_due_days == 365
    assert access.rates.currency == "EUR"
    assert "acknowledge" in access.acknowledgement


def test_mode_by_code_label_and_unknown_mode():
    access = AccessSettings()
    assert access.mode("fast_lane") is access.modes["fast_lane"]
    assert access.label("large_scale") == "Large Scale"
    assert access.label("retired_mode") == "retired_mode"  # an old code is shown, not hidden
    with pytest.raises(KeyError):
        access.mode("rates")


def test_a_site_file_replaces_the_modes_with_its_own():
    access = AccessSettings.model_validate(
        {
            "modes": {"sovereign": GOOD_MODE},
            "trial": {"mode": "sovereign", "max_gpu_hours": 5},
            "rates": {"gpu_hour_eur": 1.5, "cpu_hour_eur": 0.01},
        }
    )
    assert list(access.modes) == ["sovereign"]
    mode = access.mode("sovereign")
    assert mode.max_gpu_hours is None and mode.checks == ("eligibility", "ethics")
    assert not mode.technical_check and mode.qos_priority == 100
    assert access.trial.max_gpu_hours == 5 and access.rates.gpu_hour_eur == 1.5


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_gpu_hours", -1),
        ("max_cpu_hours", -0.5),
        ("min_gpu_hours", -1),
        ("decision_working_days", 0),
        ("decision_working_days", 251),
        ("reviewers_required", -1),
        ("reviewers_required", 11),
        ("qos_priority", -1),
        ("lengths_months", []),
        ("applicant_types", []),
        ("applicant_types", ["aliens"]),
        ("selection", "lottery"),
        ("clock_from", "midnight"),
        ("checks", ["astrology"]),
        ("price", {"public_research": "maybe"}),
        ("label", ""),
    ],
)
def test_mode_settings_out_of_bounds_are_refused(field, value):
    with pytest.raises(ValidationError, match=field):
        ModeSettings.model_validate({**GOOD_MODE, field: value})


def test_unknown_fields_and_bad_rates_are_refused():
    with pytest.raises(ValidationError, match="extra"):
        AccessSettings.model_validate({"free_for_all": True})
    with pytest.raises(ValidationError, match="extra"):
        ModeSettings.model_validate({**GOOD_MODE, "duration_days": 30})  # the old field
    with pytest.raises(ValidationError, match="gpu_hour_eur"):
        AccessSettings.model_validate({"rates": {"gpu_hour_eur": -1}})
    with pytest.raises(ValidationError, match="currency"):
        AccessSettings.model_validate({"rates": {"currency": "euro"}})
    with pytest.raises(ValidationError, match="holidays"):
        AccessSettings.model_validate({"holidays": "Slovenia"})
