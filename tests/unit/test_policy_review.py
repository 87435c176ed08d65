import pytest
from pydantic import ValidationError

from aifactory_hub.policy import (
    AccessSettings,
    PartitionInfo,
    Request,
    Score,
    TechnicalCheck,
    combined,
    conflict_of_interest,
    ready_for_decision,
    technical_findings,
)

PARTITIONS = (PartitionInfo(name="cpu", has_gpus=False), PartitionInfo(name="gpu", has_gpus=True))
ACCESS = AccessSettings()


@pytest.mark.parametrize(
    ("reviewer", "applicant"),
    [
        ("Alpha Robotics GmbH", "alpha robotics"),
        ("ALPHA ROBOTICS LTD.", "Alpha Robotics"),
        ("Alpha-Robotics", "Alpha Robotics Oy"),
        ("Beta AI (start-up)", "beta ai"),
        ("Gamma Vision S.A.", "gamma vision sa"),
        ("Delta Labs SRL", "Delta Labs (SME)"),
        ("Epsilon B.V.", "epsilon"),
        ("Zürich Vision AG", "Zurich Vision"),
        ("Volvo AB", "AB Volvo"),
        ("Omega GmbH & Co. KG", "Omega"),
    ],
)
def test_same_organisation_whatever_the_spelling_is_a_conflict(reviewer, applicant):
    assert conflict_of_interest(reviewer, applicant)
    assert conflict_of_interest(applicant, reviewer)


@pytest.mark.parametrize(
    ("reviewer", "applicant"),
    [
        ("Alpha Robotics GmbH", "Beta Robotics GmbH"),
        ("Alpha Robotics", "Alpha Robotics Labs"),
        ("GmbH", "Alpha GmbH"),
        ("", "Alpha Robotics"),  # reviewer's organisation unknown: not a conflict
        ("Alpha Robotics", ""),
        ("", ""),
        ("  ", "---"),
    ],
)
def test_different_or_unknown_organisations_are_no_conflict(reviewer, applicant):
    assert not conflict_of_interest(reviewer, applicant)


@pytest.mark.parametrize(
    "marks",
    [
        {"quality": 0, "pertinence": 3},
        {"quality": 3, "pertinence": 6},
        {"quality": -1, "pertinence": 3},
        {"quality": 2.5, "pertinence": 3},
        {"quality": True, "pertinence": 3},
        {"quality": "4", "pertinence": 3},
        {"quality": 4},
        {"quality": 4, "pertinence": 4, "novelty": 5},  # only quality and pertinence count
    ],
)
def test_scores_out_of_bounds_or_of_the_wrong_kind_are_refused(marks):
    with pytest.raises(ValidationError):
        Score(**marks)


def test_combined_score_is_the_mean_of_each_reviewers_average():
    assert combined([Score(quality=4, pertinence=5), Score(quality=3, pertinence=3)]) == 3.75
    three = [
        Score(quality=5, pertinence=4),
        Score(quality=3, pertinence=3),
        Score(quality=4, pertinence=4),
    ]
    assert combined(three) == 3.83  # 11.5 / 3 = 3.8333...
    assert combined([Score(quality=1, pertinence=1)]) == 1.0
    assert combined([Score(quality=5, pertinence=5)] * 4) == 5.0


def test_combined_needs_at_least_one_score():
    with pytest.raises(ValueError, match="no scores"):
        combined([])


def test_technical_findings_check_requests_against_per_project_caps():
    fine = (
        Request(partition="gpu", gpu_hours=800, cpu_hours=100),
        Request(partition="cpu", cpu_hours=900),
    )
    assert technical_findings(fine, PARTITIONS, 1000, 1000) == ()
    [finding] = technical_findings(fine, PARTITIONS, 500, 1000)
    assert finding.field == "requests"
    assert finding.message == "800 GPU hours in total exceed the per-project limit of 500."
    wrong = (Request(partition="cpu", gpu_hours=10),)
    assert [f.field for f in technical_findings(wrong, PARTITIONS, 1000, 1000)] == [
        "requests.0.gpu_hours"
    ]


def test_technical_check_holds_a_verdict_and_notes():
    check = TechnicalCheck(feasible=False, notes="needs 80 GB GPUs; we have 40 GB")
    assert not check.feasible and "80 GB" in check.notes


def test_a_fifo_mode_without_a_technical_check_is_ready_at_once():
    quick = ACCESS.mode("playground").model_copy(update={"checks": ("eligibility", "ethics")})
    assert ready_for_decision(quick, 0, False) == (True, "")


def test_fifo_modes_wait_for_the_technical_check_but_for_no_review():
    for code in ("playground", "fast_lane"):
        ready, reason = ready_for_decision(ACCESS.mode(code), 0, False)
        assert not ready and reason == (
            "The technical check is not done or did not find the request feasible."
        )
        assert ready_for_decision(ACCESS.mode(code), 0, True) == (True, "")


@pytest.mark.parametrize("code", ["large_scale", "ai_science"])
def test_review_modes_wait_for_two_reviews_and_a_feasible_technical_check(code):
    mode = ACCESS.mode(code)
    ready, reason = ready_for_decision(mode, 1, True)
    assert not ready and reason == "1 of 2 reviews are in; 1 more needed."
    ready, reason = ready_for_decision(mode, 2, False)
    assert not ready and "technical check" in reason
    ready, reason = ready_for_decision(mode, 0, False)
    assert not ready and reason.startswith("0 of 2 reviews") and "technical check" in reason
    assert ready_for_decision(mode, 3, True) == (True, "")
