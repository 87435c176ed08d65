"""The access policy, mode by mode, against the published EuroHPC AI Factories table (the
default `PUBLISHED` modes): who may apply, how much, for how long, how a request is selected
and checked, what it costs whom, and its QOS priority; then a site file's own modes.

The expectations are written out from the issue's table, not computed from the settings.
"""

from __future__ import annotations

import re
from itertools import product

import pytest

from aifactory_hub.policy import (
    AccessSettings,
    ApplicantType,
    DataSource,
    EthicsAssessment,
    PartitionInfo,
    ProposalDraft,
    Request,
    check_eligibility,
    price,
)
from aifactory_hub.policy.pricing import in_sentence
from aifactory_hub.site import DEMO_SITE, SiteError, parse_site

ACCESS = AccessSettings()
PARTITIONS = (PartitionInfo(name="cpu", has_gpus=False), PartitionInfo(name="gpu", has_gpus=True))
MODES = ("playground", "fast_lane", "large_scale", "ai_science")
INDUSTRIAL = ("startup_sme", "industry")
EVERYONE = ("startup_sme", "industry", "academia", "public_research")

ALLOWED = {
    "playground": INDUSTRIAL,
    "fast_lane": INDUSTRIAL,
    "large_scale": INDUSTRIAL,
    "ai_science": EVERYONE,
}
LENGTHS = {
    "playground": (1, 2, 3),
    "fast_lane": (1, 2, 3),
    "large_scale": (3, 6, 12),
    "ai_science": (6,),
}
# A request each mode accepts as it stands (GPU hours, CPU hours).
FITTING = {
    "playground": (100, 1000),
    "fast_lane": (5000, 10_000),
    "large_scale": (60_000, 100_000),
    "ai_science": (20_000, 0),
}


def ethics() -> EthicsAssessment:
    return EthicsAssessment(
        intended_use="Detecting defects on a factory line from camera images",
        data_sources=(DataSource(name="own line images", licence="proprietary, ours"),),
        transparency_acknowledged=True,
    )


def draft(mode: str, **changes) -> ProposalDraft:
    gpu, cpu = FITTING[mode]
    good = {
        "applicant": "alice",
        "organisation": "Alpha Robotics GmbH",
        "applicant_type": ALLOWED[mode][0],
        "access_mode": mode,
        "length_months": LENGTHS[mode][0],
        "title": "Defect detection at scale",
        "abstract": "We fine-tune a vision transformer on ten million images of welded seams.",
        "requests": (Request(partition="gpu", gpu_hours=gpu, cpu_hours=cpu),),
        "ethics": ethics(),
    }
    return ProposalDraft(**{**good, **changes})


def findings(d: ProposalDraft, access: AccessSettings = ACCESS) -> dict[str, str]:
    result = check_eligibility(d, access.mode(d.access_mode), PARTITIONS)
    return {f.field: f.message for f in result.findings}


def asking(gpu: float, cpu: float = 0) -> tuple[Request, ...]:
    return (Request(partition="gpu", gpu_hours=gpu, cpu_hours=cpu),)


def test_the_published_modes_in_their_order():
    assert tuple(ACCESS.modes) == MODES
    assert [m.label for m in ACCESS.modes.values()] == [
        "Playground", "Fast Lane", "Large Scale", "AI for Science",
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
def test_a_fitting_request_is_eligible_in_each_mode(mode):
    assert findings(draft(mode)) == {}


@pytest.mark.parametrize(("mode", "applicant"), list(product(MODES, EVERYONE)))
def test_applicant_types_allowed_and_refused(mode, applicant):
    found = findings(draft(mode, applicant_type=applicant))
    if applicant in ALLOWED[mode]:
        assert "applicant_type" not in found
    else:
        label = ACCESS.mode(mode).label
        assert found["applicant_type"].startswith(f"{label} is for start-up or SME, industry")
        assert found["applicant_type"].endswith(f"not {in_sentence(ApplicantType(applicant))}.")


@pytest.mark.parametrize(
    ("mode", "gpu", "cpu", "refused"),
    [
        # the playground: small first tests
        ("playground", 1000, 10_000, None),
        ("playground", 1000.5, 0, "1000.5 GPU hours in total exceed the Playground limit of 1000."),
        ("playground", 10, 10_001,
         "10001 CPU hours in total exceed the Playground limit of 10000."),
        # the fast lane: up to 50,000 GPU-hours
        ("fast_lane", 50_000, 500_000, None),
        ("fast_lane", 50_001, 0, "50001 GPU hours in total exceed the Fast Lane limit of 50000."),
        ("fast_lane", 10, 500_001,
         "500001 CPU hours in total exceed the Fast Lane limit of 500000."),
        # large scale: more than 50,000 GPU-hours, no upper bound of its own (the call's)
        ("large_scale", 50_000, 0, None),
        ("large_scale", 5_000_000, 50_000_000, None),
        ("large_scale", 49_999, 0,
         "Large Scale is for more than 50000 GPU hours; 49999 fit a smaller mode."),
        ("large_scale", 0, 1000,
         "Large Scale is for more than 50000 GPU hours; 0 fit a smaller mode."),
        # AI for Science: sized per call, no bound in the mode
        ("ai_science", 1, 0, None),
        ("ai_science", 5_000_000, 50_000_000, None),
    ],
)  # fmt: skip
def test_size_bounds_per_mode(mode, gpu, cpu, refused):
    found = findings(draft(mode, requests=asking(gpu, cpu)))
    assert found == ({} if refused is None else {"requests": refused})


def test_a_modes_bound_on_one_partition():
    bounded = ACCESS.mode("fast_lane").model_copy(update={"partition_max_gpu_hours": {"gpu": 100}})
    site = AccessSettings(modes={**ACCESS.modes, "fast_lane": bounded})
    assert findings(draft("fast_lane", requests=asking(100)), site) == {}
    assert findings(draft("fast_lane", requests=asking(101)), site) == {
        "requests.0.gpu_hours": "Fast Lane allows at most 100 GPU hours on gpu."
    }
    cpu_only = (Request(partition="cpu", cpu_hours=5000),)  # another partition: no bound
    assert findings(draft("fast_lane", requests=cpu_only), site) == {}


@pytest.mark.parametrize(("mode", "months"), list(product(MODES, range(0, 14))))
def test_lengths_allowed_per_mode(mode, months):
    found = findings(draft(mode, length_months=months))
    if months in LENGTHS[mode]:
        assert "length_months" not in found
    else:
        assert found["length_months"].startswith(f"{ACCESS.mode(mode).label} allocations last ")
        assert found["length_months"].endswith(f"months, not {months}.")


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("playground", "Choose a length: 1, 2 or 3 months."),
        ("large_scale", "Choose a length: 3, 6 or 12 months."),
        ("ai_science", "Choose a length: 6 months."),
    ],
)
def test_a_length_must_be_chosen(mode, message):
    assert findings(draft(mode, length_months=None)) == {"length_months": message}


def test_selection_checks_and_service_level_targets_per_mode():
    table = {
        code: (m.selection, m.cutoff_days, m.checks, m.technical_check, m.reviewers_required,
               m.decision_working_days, m.clock_from, m.progress_report_months)
        for code, m in ACCESS.modes.items()
    }  # fmt: skip
    all_checks = ("eligibility", "technical", "ethics")
    assert table == {
        "playground": ("fifo", (), all_checks, True, 0, 2, "submission", ()),
        "fast_lane": ("fifo", (), all_checks, True, 0, 4, "submission", ()),
        "large_scale": ("review", (1, 15), all_checks, True, 2, 10, "cutoff", (1, 3, 9)),
        "ai_science": ("review", (1,), all_checks, True, 2, 20, "cutoff", (3,)),
    }


def test_qos_priority_per_mode():
    assert {c: m.qos_priority for c, m in ACCESS.modes.items()} == {
        "playground": 100,
        "fast_lane": 300,
        "large_scale": 200,
        "ai_science": 200,
    }


# --- price: (public funding, open results, academic partner) per applicant type and mode -----

COMBOS = {
    "nothing": (False, False, ""),
    "open": (False, True, ""),
    "partner": (False, False, "TU Delft"),
    "funded": (True, False, ""),
}
# What each allowed applicant type pays in each mode, for each combination: "free" or "charged".
FREE_ALWAYS = dict.fromkeys(COMBOS, "free")
INDUSTRY_TERMS = {"nothing": "charged", "open": "free", "partner": "free", "funded": "charged"}
RESEARCH_TERMS = {"nothing": "charged", "open": "free", "partner": "free", "funded": "free"}
PRICES = {
    # the industrial modes: free for start-ups and SMEs; other industry free with open results
    # or an academic partner (LUMI's terms), else pay-per-use
    **{(m, "startup_sme"): FREE_ALWAYS for m in ("playground", "fast_lane", "large_scale")},
    **{(m, "industry"): INDUSTRY_TERMS for m in ("playground", "fast_lane", "large_scale")},
    # AI for Science: publicly funded research is free; industry as ever
    ("ai_science", "startup_sme"): FREE_ALWAYS,
    ("ai_science", "industry"): INDUSTRY_TERMS,
    ("ai_science", "academia"): RESEARCH_TERMS,
    ("ai_science", "public_research"): RESEARCH_TERMS,
}


def test_every_allowed_applicant_type_of_every_mode_has_a_price_row():
    assert set(PRICES) == {(m, t) for m in MODES for t in ALLOWED[m]}


@pytest.mark.parametrize(
    ("mode", "applicant", "combo"),
    [(m, t, c) for (m, t) in PRICES for c in COMBOS],
)
def test_price_per_mode_applicant_type_and_terms(mode, applicant, combo):
    funded, open_results, partner = COMBOS[combo]
    decision = price(ApplicantType(applicant), ACCESS.mode(mode), funded, open_results, partner)
    assert ("charged" if decision.charged else "free") == PRICES[mode, applicant][combo]
    # only an open-results promise that is what makes it free carries an obligation
    term = ACCESS.mode(mode).price[applicant]
    assert bool(decision.obligation) == (term == "open_or_partner" and combo == "open")


def test_a_start_up_is_free_in_the_industrial_modes_for_innovation():
    decision = price(ApplicantType.startup_sme, ACCESS.mode("fast_lane"), False, False, "")
    assert decision.reason == "Free: Fast Lane access is free for start-up or SME applicants."


# --- a site file's own modes ------------------------------------------------------------------

SOVEREIGN = """
[access]
holidays = "DE-BY"

[access.trial]
mode = "sovereign"
max_gpu_hours = 5

[access.modes.sovereign]
label = "Sovereign AI"
description = "Public bodies training models on national data"
applicant_types = ["public_research", "academia"]
min_gpu_hours = 100
max_gpu_hours = 20000
partition_max_gpu_hours = {gpu = 15000}
lengths_months = [6, 12]
selection = "review"
cutoff_days = [10]
reviewers_required = 3
decision_working_days = 15
clock_from = "cutoff"
price = {public_research = "free", academia = "open_or_partner"}
qos_priority = 500
progress_report_months = [6]
"""


def site_with(access: str):
    """The demo site with `access` instead of the published modes (and without the demo's
    storage allowances, which name the published modes: a site file may not name others)."""
    text = re.sub(r"(?m)^allowance_gb = .*$", "", DEMO_SITE.read_text())
    assert "[access" not in text  # the demo keeps the published modes
    return parse_site(text + access)


def test_a_site_file_defines_its_own_mode():
    access = site_with(SOVEREIGN).access
    assert list(access.modes) == ["sovereign"] and access.holidays == "DE-BY"
    mode = access.mode("sovereign")
    assert (mode.label, mode.selection, mode.cutoff_days, mode.reviewers_required) == (
        "Sovereign AI", "review", (10,), 3,
    )  # fmt: skip
    assert mode.lengths_months == (6, 12) and mode.qos_priority == 500
    assert access.trial.mode == "sovereign" and access.trial.max_gpu_hours == 5

    def sovereign(**changes) -> ProposalDraft:
        good = {"access_mode": "sovereign", "applicant_type": "public_research",
                "length_months": 12, "requests": asking(10_000)}  # fmt: skip
        return draft("ai_science", **{**good, **changes})

    assert findings(sovereign(), access) == {}
    assert findings(sovereign(applicant_type="industry"), access) == {
        "applicant_type": "Sovereign AI is for public research organisation, academia "
        "applicants, not industry."
    }
    assert set(findings(sovereign(requests=asking(16_000)), access)) == {"requests.0.gpu_hours"}
    assert set(findings(sovereign(requests=asking(99)), access)) == {"requests"}
    assert set(findings(sovereign(length_months=3), access)) == {"length_months"}
    assert not price(ApplicantType.public_research, mode, False, False, "").charged
    assert price(ApplicantType.academia, mode, False, False, "").charged
    with pytest.raises(KeyError):
        access.mode("fast_lane")  # the site's modes replace the published ones


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        # a review mode without its cut-off dates
        ("cutoff_days = [10]\n", "", "access.modes.sovereign", "a review mode needs cutoff_days"),
        ("cutoff_days = [10]\n", "cutoff_days = [31]\n", "access.modes.sovereign",
         "cutoff_days are days 1 to 28"),
        # min above max
        ("min_gpu_hours = 100\n", "min_gpu_hours = 30000\n", "access.modes.sovereign",
         "min_gpu_hours exceeds max_gpu_hours"),
        # the trial counted under a mode the site lacks
        ('mode = "sovereign"\n', 'mode = "vip"\n', "access",
         "trial.mode: 'vip' is not one of the modes"),
        # a type that may apply but has no price
        ('price = {public_research = "free", academia = "open_or_partner"}\n',
         'price = {public_research = "free"}\n', "access.modes.sovereign",
         "price: no term for academia"),
        ('selection = "review"\n', 'selection = "fifo"\n', "access.modes.sovereign",
         "a fifo mode has no peer reviews"),
        ('selection = "review"\n', 'selection = "lottery"\n',
         "access.modes.sovereign.selection", "Input should be 'fifo' or 'review'"),
        ("lengths_months = [6, 12]\n", "lengths_months = []\n",
         "access.modes.sovereign.lengths_months", "at least 1 item"),
        ("lengths_months = [6, 12]\n", "lengths_months = [48]\n", "access.modes.sovereign",
         "lengths_months are 1 to 36"),
        ("qos_priority = 500\n", "qos_priority = -1\n", "access.modes.sovereign.qos_priority",
         "greater than or equal to 0"),
        ("[access.modes.sovereign]", "[access.modes.Sovereign-AI]", "access",
         "'Sovereign-AI' is not a mode code"),
        ('holidays = "DE-BY"\n', 'holidays = "Bavaria"\n', "access.holidays",
         "should match pattern"),
    ],
)  # fmt: skip
def test_a_bad_site_mode_is_refused_naming_the_field(old, new, field, reason):
    assert old in SOVEREIGN
    with pytest.raises(SiteError) as refused:
        site_with(SOVEREIGN.replace(old, new))
    lines = [line.strip() for line in str(refused.value).splitlines()[1:]]
    assert any(line.startswith(f"{field}:") and reason in line for line in lines), lines
