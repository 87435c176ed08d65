import pytest
from pydantic import ValidationError

from aifactory_hub.policy import (
    AccessSettings,
    DataSource,
    EthicsAssessment,
    HighRiskArea,
    LegalBasis,
    PartitionInfo,
    ProhibitedPractice,
    ProposalDraft,
    Request,
    check_eligibility,
)
from aifactory_hub.policy.eligibility import CatalogueLicence, commercial_work

PARTITIONS = (PartitionInfo(name="cpu", has_gpus=False), PartitionInfo(name="gpu", has_gpus=True))
SETTINGS = AccessSettings()
EU_VALUES = "Only trustworthy and ethical AI in line with EU values is eligible."


def ethics(**changes) -> EthicsAssessment:
    good = {
        "intended_use": "Detecting defects on a factory line from camera images",
        "high_risk_area": "none",
        "personal_data": False,
        "data_sources": (DataSource(name="own line images", licence="proprietary, ours"),),
        "transparency_acknowledged": True,
    }
    return EthicsAssessment(**{**good, **changes})


def draft(**changes) -> ProposalDraft:
    good = {
        "applicant": "alice",
        "organisation": "Alpha Robotics GmbH",
        "applicant_type": "startup_sme",
        "access_mode": "fast_lane",
        "length_months": 3,
        "title": "Defect detection at scale",
        "abstract": "We fine-tune a vision transformer on ten million images of welded seams.",
        "requests": (Request(partition="gpu", gpu_hours=400, cpu_hours=1000),),
        "software": "PyTorch 2.4",
        "ethics": ethics(),
    }
    return ProposalDraft(**{**good, **changes})


def check(d: ProposalDraft):
    return check_eligibility(d, SETTINGS.mode(d.access_mode), PARTITIONS)


def fields(result) -> list[str]:
    return [f.field for f in result.findings]


def test_complete_draft_is_eligible():
    result = check(draft())
    assert result.eligible and result.findings == () and result.ineligible_reason == ""


MITIGATION = "Human review of every decision, bias audits per release, a public model card. " * 2


@pytest.mark.parametrize(
    ("bad", "good", "field"),
    [
        ({"title": "Tiny"}, {"title": "Vision"}, "title"),
        ({"title": "x" * 201}, {"title": "x" * 200}, "title"),
        ({"title": "   a   "}, {"title": "  abcde "}, "title"),
        ({"abstract": "a" * 49}, {"abstract": "a" * 50}, "abstract"),
        ({"requests": ()}, {"requests": (Request(partition="cpu", cpu_hours=1),)}, "requests"),
        (
            {"requests": (Request(partition="tpu", cpu_hours=10),)},
            {"requests": (Request(partition="cpu", cpu_hours=10),)},
            "requests.0.partition",
        ),
        (
            {"requests": (Request(partition="cpu", cpu_hours=10),) * 2},
            {"requests": (Request(partition="cpu", cpu_hours=20),)},
            "requests.1.partition",
        ),
        (
            {"requests": (Request(partition="gpu", gpu_hours=-1, cpu_hours=10),)},
            {"requests": (Request(partition="gpu", gpu_hours=0, cpu_hours=10),)},
            "requests.0.gpu_hours",
        ),
        (
            {"requests": (Request(partition="cpu", cpu_hours=-5),)},
            {"requests": (Request(partition="cpu", cpu_hours=5),)},
            "requests.0.cpu_hours",
        ),
        (
            {"requests": (Request(partition="gpu"),)},
            {"requests": (Request(partition="gpu", gpu_hours=1),)},
            "requests.0",
        ),
        (
            {"requests": (Request(partition="cpu", gpu_hours=10),)},
            {"requests": (Request(partition="gpu", gpu_hours=10),)},
            "requests.0.gpu_hours",
        ),
        (
            {"requests": (Request(partition="gpu", gpu_hours=50_001),)},
            {"requests": (Request(partition="gpu", gpu_hours=50_000),)},
            "requests",
        ),
        (
            {
                "requests": (
                    Request(partition="gpu", cpu_hours=300_000),
                    Request(partition="cpu", cpu_hours=200_001),
                )
            },
            {
                "requests": (
                    Request(partition="gpu", cpu_hours=300_000),
                    Request(partition="cpu", cpu_hours=200_000),
                )
            },
            "requests",
        ),
        ({"length_months": None}, {"length_months": 1}, "length_months"),
        ({"length_months": 6}, {"length_months": 2}, "length_months"),
        ({"applicant_type": "academia"}, {"applicant_type": "industry"}, "applicant_type"),
        ({"ethics": None}, {"ethics": ethics()}, "ethics"),
        (
            {"ethics": ethics(intended_use="x" * 19)},
            {"ethics": ethics(intended_use="x" * 20)},
            "ethics.intended_use",
        ),
        (
            {"ethics": ethics(high_risk_area=HighRiskArea.employment, mitigation_plan="x" * 99)},
            {"ethics": ethics(high_risk_area=HighRiskArea.employment, mitigation_plan="x" * 100)},
            "ethics.mitigation_plan",
        ),
        (
            {"ethics": ethics(personal_data=True)},
            {"ethics": ethics(personal_data=True, legal_basis=LegalBasis.consent)},
            "ethics.legal_basis",
        ),
        (
            {
                "ethics": ethics(
                    data_sources=(
                        DataSource(name="a", licence="MIT"),
                        DataSource(name="b", licence=" "),
                    )
                )
            },
            {
                "ethics": ethics(
                    data_sources=(
                        DataSource(name="a", licence="MIT"),
                        DataSource(name="b", licence="CC-BY-4.0"),
                    )
                )
            },
            "ethics.data_sources.1.licence",
        ),
        (
            {"ethics": ethics(data_sources=(DataSource(name="", licence="MIT"),))},
            {"ethics": ethics(data_sources=(DataSource(name="web crawl", licence="MIT"),))},
            "ethics.data_sources.0.name",
        ),
        (
            {"ethics": ethics(transparency_acknowledged=False)},
            {"ethics": ethics(transparency_acknowledged=True)},
            "ethics.transparency_acknowledged",
        ),
    ],
)
def test_each_rule_refuses_the_bad_value_and_accepts_the_good_one(bad, good, field):
    refused = check(draft(**bad))
    assert not refused.eligible
    assert fields(refused) == [field]
    assert refused.ineligible_reason == ""  # a fixable problem, not a refusal
    assert check(draft(**good)).eligible


def test_every_problem_is_reported_at_once():
    result = check(
        draft(
            title="",
            abstract="short",
            requests=(Request(partition="cpu", gpu_hours=5), Request(partition="nope")),
            ethics=ethics(
                intended_use="",
                high_risk_area=HighRiskArea.biometrics,
                personal_data=True,
                data_sources=(DataSource(name="faces", licence=""),),
                transparency_acknowledged=False,
            ),
        )
    )
    assert not result.eligible
    assert fields(result) == [
        "title",
        "abstract",
        "requests.0.gpu_hours",
        "requests.1.partition",
        "requests.1",
        "ethics.intended_use",
        "ethics.mitigation_plan",
        "ethics.legal_basis",
        "ethics.data_sources.0.licence",
        "ethics.transparency_acknowledged",
    ]


def test_messages_are_sentences_that_say_what_to_do():
    result = check(
        draft(access_mode="playground", requests=(Request(partition="tpu", gpu_hours=1200),))
    )
    messages = {f.field: f.message for f in result.findings}
    assert messages["requests.0.partition"] == "There is no partition 'tpu' (cpu, gpu exist)."
    assert messages["requests"] == "1200 GPU hours in total exceed the Playground limit of 1000."


def test_totals_are_checked_against_the_drafts_own_access_mode():
    small = (Request(partition="gpu", gpu_hours=1001),)
    assert check(draft(requests=small, access_mode="fast_lane")).eligible
    result = check(draft(requests=small, access_mode="playground"))
    assert [f.message for f in result.findings] == [
        "1001 GPU hours in total exceed the Playground limit of 1000."
    ]


def test_high_risk_message_names_the_area():
    result = check(draft(ethics=ethics(high_risk_area=HighRiskArea.migration_border)))
    assert result.findings[0].message.startswith(
        "Migration, asylum and border control is a high-risk area (EU AI Act, Annex III)"
    )


def test_high_risk_area_none_needs_no_mitigation_plan():
    assert check(
        draft(ethics=ethics(high_risk_area=HighRiskArea.none, mitigation_plan=""))
    ).eligible


@pytest.mark.parametrize("practice", list(ProhibitedPractice))
def test_each_prohibited_practice_makes_the_draft_ineligible(practice):
    result = check(draft(ethics=ethics(prohibited_practices=(practice,))))
    assert not result.eligible
    assert practice.label in result.ineligible_reason
    assert result.ineligible_reason.endswith(EU_VALUES)
    [finding] = result.findings
    assert finding.field == "ethics.prohibited_practices"
    assert finding.message.startswith(practice.label) and EU_VALUES in finding.message


def test_all_prohibited_practices_are_named_and_other_problems_still_reported():
    practices = (ProhibitedPractice.social_scoring, ProhibitedPractice.untargeted_face_scraping)
    result = check(draft(title="", ethics=ethics(prohibited_practices=practices)))
    assert fields(result) == ["title", "ethics.prohibited_practices", "ethics.prohibited_practices"]
    for practice in practices:
        assert practice.label in result.ineligible_reason


def test_a_rest_body_is_parsed_into_a_draft_and_unknown_fields_are_refused():
    body = {
        "applicant": "carol",
        "applicant_type": "industry",
        "access_mode": "playground",
        "title": "Scoring citizens",
        "requests": [{"partition": "cpu", "cpu_hours": 10}],
        "ethics": {"prohibited_practices": ["social_scoring"], "transparency_acknowledged": True},
    }
    parsed = ProposalDraft.model_validate(body)
    assert parsed.ethics.prohibited_practices == (ProhibitedPractice.social_scoring,)
    assert "Social scoring" in check(parsed).ineligible_reason
    with pytest.raises(ValidationError, match="extra"):
        ProposalDraft.model_validate({**body, "priority": "high"})
    vip = ProposalDraft.model_validate({**body, "access_mode": "vip"})  # modes are site data:
    with pytest.raises(KeyError):  # a code the site lacks has no rules to check against
        SETTINGS.mode(vip.access_mode)
    with pytest.raises(ValidationError):
        Request(partition="gpu", gpu_hours=float("nan"))


# --- catalogue licences: commercial work may not use an item whose licence forbids it ------------

SCIENCE = {"access_mode": "ai_science", "length_months": 6}  # the mode research may apply in
NON_COMMERCIAL = CatalogueLicence(
    name="stocks-monthly", licence="Yahoo Finance terms", commercial_use=False
)
OPEN = CatalogueLicence(name="stocks-trend", licence="CC0-1.0", commercial_use=True)


@pytest.mark.parametrize(
    ("terms", "items", "flagged"),
    [
        # industry terms (charged): a non-commercial item is flagged, a free one is not
        ({"applicant_type": "startup_sme"}, (NON_COMMERCIAL,), ["stocks-monthly"]),
        ({"applicant_type": "industry"}, (OPEN, NON_COMMERCIAL), ["stocks-monthly"]),
        ({"applicant_type": "industry"}, (OPEN,), []),
        ({"applicant_type": "industry"}, (), []),
        # free terms are not commercial work: open results, an academic partner, public research
        ({"applicant_type": "industry", "open_results": True}, (NON_COMMERCIAL,), []),
        ({"applicant_type": "startup_sme", "academic_partner": "TU Wien"}, (NON_COMMERCIAL,), []),
        ({"applicant_type": "academia", "public_funding": True, **SCIENCE}, (NON_COMMERCIAL,),
         []),
        # research without public funding follows industry terms, as the price rule does
        ({"applicant_type": "public_research", **SCIENCE}, (NON_COMMERCIAL,), ["stocks-monthly"]),
        # the playground's free hours are no licence to use data commercially
        ({"applicant_type": "startup_sme", "access_mode": "playground",
          "requests": (Request(partition="gpu", gpu_hours=5),)},
         (NON_COMMERCIAL,), ["stocks-monthly"]),
    ],
)  # fmt: skip
def test_commercial_work_naming_a_non_commercial_item_gets_a_finding(terms, items, flagged):
    d = draft(**terms)
    result = check_eligibility(d, SETTINGS.mode(d.access_mode), PARTITIONS, items)
    found = [f for f in result.findings if f.field == "catalogue"]
    assert [f.message.split(" ", 1)[0] for f in found] == flagged
    assert result.eligible == (not flagged)
    for finding in found:
        assert "Yahoo Finance terms" in finding.message  # which licence
        assert "forbids commercial use" in finding.message
    assert commercial_work(d) is (d.applicant_type != "academia" and not d.open_results
                                  and not d.academic_partner)  # fmt: skip


def test_the_licence_finding_is_fixable_not_a_refusal():
    result = check_eligibility(draft(), SETTINGS.mode("fast_lane"), PARTITIONS, (NON_COMMERCIAL,))
    assert not result.eligible and result.ineligible_reason == ""
    assert fields(result) == ["catalogue"]
