from datetime import date
from decimal import Decimal
from itertools import product

import pytest

from aifactory_hub.policy import (
    AccessSettings,
    ApplicantType,
    ModeSettings,
    Rates,
    charge,
    obligation_due,
    obligation_overdue,
    price,
)
from aifactory_hub.policy.pricing import in_sentence

DUE = date(2027, 6, 30)
# (public_funding, open_results, academic_partner), and what each applicant type gets for it
# under the `open_or_partner` term: research without public funding follows industry terms.
COMBOS = [
    (False, False, ""),
    (False, False, "TU Delft"),
    (False, True, ""),
    (False, True, "TU Delft"),
    (True, False, ""),
    (True, False, "TU Delft"),
    (True, True, ""),
    (True, True, "TU Delft"),
]
INDUSTRY = ["charged", "partner", "open", "partner", "charged", "partner", "open", "partner"]
RESEARCH = ["charged", "partner", "open", "partner", "public", "public", "public", "public"]
TABLE = {
    ApplicantType.startup_sme: INDUSTRY,
    ApplicantType.industry: INDUSTRY,
    ApplicantType.academia: RESEARCH,
    ApplicantType.public_research: RESEARCH,
}


def mode_with(term: str) -> ModeSettings:
    """A mode open to every applicant type on the same price term."""
    return ModeSettings(
        label="Test Mode",
        applicant_types=tuple(ApplicantType),
        lengths_months=(1,),
        selection="fifo",
        decision_working_days=2,
        price=dict.fromkeys(ApplicantType, term),
    )


CASES = [
    (applicant, *combo, outcome)
    for applicant, outcomes in TABLE.items()
    for combo, outcome in zip(COMBOS, outcomes, strict=True)
]


@pytest.mark.parametrize(("applicant", "funded", "open_results", "partner", "outcome"), CASES)
def test_price_table_of_the_open_or_partner_term(applicant, funded, open_results, partner, outcome):
    decision = price(applicant, mode_with("open_or_partner"), funded, open_results, partner,
                     due=DUE)  # fmt: skip
    assert decision.charged == (outcome == "charged")
    if outcome == "public":
        assert decision.reason == "Free: publicly funded research and innovation."
    elif outcome == "partner":
        assert decision.reason == "Free: work done with academic partner TU Delft."
    elif outcome == "open":
        assert decision.obligation == "publish results openly (link due by 2027-06-30)"
    else:
        assert decision.reason.startswith("Charged per GPU-hour and CPU-hour")
    assert (decision.obligation != "") == (outcome == "open")


@pytest.mark.parametrize(("applicant", "combo"), list(product(ApplicantType, COMBOS)))
def test_the_free_term_is_free_whatever_and_without_obligation(applicant, combo):
    decision = price(applicant, mode_with("free"), *combo, due=DUE)
    assert not decision.charged
    assert decision.reason == (
        f"Free: Test Mode access is free for {in_sentence(applicant)} applicants."
    )
    assert decision.obligation == ""


@pytest.mark.parametrize(("applicant", "combo"), list(product(ApplicantType, COMBOS)))
def test_the_charged_term_is_charged_whatever(applicant, combo):
    decision = price(applicant, mode_with("charged"), *combo, due=DUE)
    assert decision.charged and decision.obligation == ""
    assert decision.reason.startswith("Charged per GPU-hour and CPU-hour")
    assert "Test Mode access is pay-per-use" in decision.reason


def test_a_type_the_mode_does_not_price_is_charged():
    mode = mode_with("free").model_copy(update={"price": {}})  # not validated: a defensive path
    assert price(ApplicantType.industry, mode, True, True, "TU Delft").charged


def test_a_blank_partner_is_no_partner_and_obligation_without_dates():
    mode = mode_with("open_or_partner")
    assert price(ApplicantType.industry, mode, False, False, "   ").charged
    decision = price(ApplicantType.industry, mode, False, True, "")
    assert decision.obligation == "publish results openly (link due after the allocation ends)"


@pytest.mark.parametrize(
    ("gpu_hours", "cpu_hours", "rates", "expected"),
    [
        (10, 100, Rates(gpu_hour_eur=2.5, cpu_hour_eur=0.03), "28.00"),
        (0, 0, Rates(), "0.00"),
        (1, 0, Rates(gpu_hour_eur=0.125), "0.13"),  # half up, not to even (0.12)
        (1.005, 0, Rates(gpu_hour_eur=1), "1.01"),  # the decimal 1.005, not the float below it
        (0.1, 0.2, Rates(gpu_hour_eur=1, cpu_hour_eur=1), "0.30"),
        (1, 1, Rates(gpu_hour_eur=0.004, cpu_hour_eur=0.004), "0.01"),  # rounded once, on the total
        (50_000, 500_000, Rates(gpu_hour_eur=2.0, cpu_hour_eur=0.02), "110000.00"),
    ],
)
def test_charge_is_decimal_rounded_half_up_to_cents(gpu_hours, cpu_hours, rates, expected):
    amount = charge(gpu_hours, cpu_hours, rates)
    assert isinstance(amount, Decimal)
    assert amount == Decimal(expected) and str(amount) == expected


def test_charge_refuses_negative_hours():
    with pytest.raises(ValueError, match="negative"):
        charge(-1, 0, Rates())


def test_obligation_is_due_a_configured_time_after_the_allocation_ends():
    assert obligation_due(date(2026, 3, 31), AccessSettings()) == date(2027, 3, 31)
    assert obligation_due(date(2027, 12, 31), AccessSettings()) == date(2028, 12, 30)  # leap year
    short = AccessSettings(open_results_due_days=30)
    assert obligation_due(date(2026, 1, 15), short) == date(2026, 2, 14)


@pytest.mark.parametrize(
    ("today", "fulfilled", "overdue"),
    [
        (date(2027, 6, 29), False, False),
        (date(2027, 6, 30), False, False),  # due today is not yet overdue
        (date(2027, 7, 1), False, True),
        (date(2030, 1, 1), True, False),
    ],
)
def test_obligation_overdue(today, fulfilled, overdue):
    assert obligation_overdue(DUE, fulfilled, today) is overdue
