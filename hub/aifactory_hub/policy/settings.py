"""The access section of the site file: the access modes as data, the instant trial, rates.

The Site model mounts `AccessSettings` as `access`; every field has a default, so a site file
without an `[access]` table gets the EuroHPC AI Factories' published modes (`PUBLISHED`):

- playground: start-ups, SMEs and entry-level industry, small first tests; first come first
  served after the eligibility and technical checks; decided within 2 working days; 1-3 months.
- fast_lane: industry already familiar with HPC, up to 50,000 GPU-hours; first come first
  served after a short technical assessment; 4 working days; 1-3 months.
- large_scale: high-impact industrial AI, more than 50,000 GPU-hours; technical and peer
  review at cut-off dates (two a month); 10 working days after a cut-off; 3, 6 or 12 months.
- ai_science: scientific, public and industrial users in collaborative EU R&I projects, sized
  per call; technical and expert peer review at cut-offs; a month (20 working days) after a
  cut-off; 6 months.

Terms: free for eligible AI start-ups and SMEs in the industrial modes; other industry is
free when its results are published openly or it works with an academic partner (LUMI's
terms), otherwise charged at the site's rates; publicly funded research is free.
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, model_validator

from aifactory_hub.policy.model import ApplicantType, Frozen

MODE_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
Selection = Literal["fifo", "review"]
Check = Literal["eligibility", "technical", "ethics"]
# free: always; open_or_partner: free with open results, an academic partner or public
# funding, else charged; charged: pay per use at the site's rates.
PriceTerm = Literal["free", "open_or_partner", "charged"]
ClockFrom = Literal["submission", "cutoff"]
_INDUSTRY = {"startup_sme": "free", "industry": "open_or_partner"}


class ModeSettings(Frozen):
    """The rules of one access mode."""

    label: str = Field(min_length=1, max_length=60, description="its name, as people read it")
    description: str = Field("", max_length=300, description="who it is for, one line")
    applicant_types: tuple[ApplicantType, ...] = Field(
        min_length=1, description="who may apply in this mode"
    )
    min_gpu_hours: float = Field(0, ge=0, description="GPU hours a proposal must ask at least")
    max_gpu_hours: float | None = Field(
        None, ge=0, description="GPU hours per proposal, all partitions; none: the call's bound"
    )
    max_cpu_hours: float | None = Field(
        None, ge=0, description="CPU hours per proposal, all partitions; none: the call's bound"
    )
    partition_max_gpu_hours: dict[str, float] = Field(
        {}, description="GPU hours a proposal may ask on one partition (partition -> hours)"
    )
    lengths_months: tuple[int, ...] = Field(
        min_length=1, description="allocation lengths a proposal may choose, in months"
    )
    selection: Selection = Field(
        description="fifo: checked and granted in order of arrival; review: peer-reviewed "
        "and ranked at cut-offs"
    )
    cutoff_days: tuple[int, ...] = Field(
        (), description="review modes: the days of each month on which proposals are cut off"
    )
    checks: tuple[Check, ...] = Field(
        ("eligibility", "ethics"), description="what must pass before a decision"
    )
    reviewers_required: int = Field(0, ge=0, le=10, description="peer reviews before a decision")
    decision_working_days: int = Field(
        ge=1, le=250, description="service-level target: working days to a decision"
    )
    clock_from: ClockFrom = Field(
        "submission", description="the target counts from the submission or from its cut-off"
    )
    price: dict[ApplicantType, PriceTerm] = Field(
        description="price term by applicant type: free, open_or_partner or charged"
    )
    qos_priority: int = Field(
        100, ge=0, le=100000, description="Slurm QOS priority of the mode's projects"
    )
    progress_report_months: tuple[int, ...] = Field(
        (), description="months after the start when a progress report is due"
    )

    @model_validator(mode="after")
    def _coherent(self) -> ModeSettings:
        if self.max_gpu_hours is not None and self.min_gpu_hours > self.max_gpu_hours:
            raise ValueError("min_gpu_hours exceeds max_gpu_hours")
        if self.selection == "review" and not self.cutoff_days:
            raise ValueError("a review mode needs cutoff_days")
        if self.selection == "fifo" and self.reviewers_required:
            raise ValueError("a fifo mode has no peer reviews")
        if any(not 1 <= d <= 28 for d in self.cutoff_days):
            raise ValueError("cutoff_days are days 1 to 28 of a month")
        if any(not 1 <= n <= 36 for n in self.lengths_months):
            raise ValueError("lengths_months are 1 to 36")
        if missing := set(self.applicant_types) - set(self.price):
            raise ValueError(f"price: no term for {', '.join(sorted(missing))}")
        return self

    @property
    def technical_check(self) -> bool:
        return "technical" in self.checks

    @property
    def max_length_months(self) -> int:
        return max(self.lengths_months)


class TrialSettings(Frozen):
    """The instant trial: a new researcher's small project, made at first login."""

    max_gpu_hours: float = Field(10, ge=0, description="GPU hours on each GPU partition")
    max_cpu_hours: float = Field(100, ge=0, description="CPU hours on each CPU partition")
    duration_days: int = Field(30, ge=1, le=1100, description="how long it lasts")
    mode: str = Field(
        "playground", pattern=MODE_PATTERN, description="the access mode it is counted under"
    )


class Rates(Frozen):
    """What charged access costs (industry without open results or an academic partner)."""

    gpu_hour_eur: float = Field(
        2.0, ge=0, description="price of one GPU-hour of charged access, in `currency`"
    )
    cpu_hour_eur: float = Field(
        0.02, ge=0, description="price of one CPU-hour of charged access, in `currency`"
    )
    currency: str = Field(
        "EUR", pattern=r"^[A-Z]{3}$", description="ISO 4217 code of the rates and the bills"
    )


PUBLISHED: dict[str, ModeSettings] = {
    "playground": ModeSettings(
        label="Playground",
        description="Entry-level industry users, SMEs and start-ups: small first tests",
        applicant_types=("startup_sme", "industry"),
        max_gpu_hours=1000,
        max_cpu_hours=10_000,
        lengths_months=(1, 2, 3),
        selection="fifo",
        checks=("eligibility", "technical", "ethics"),
        decision_working_days=2,
        price=_INDUSTRY,
        qos_priority=100,
    ),
    "fast_lane": ModeSettings(
        label="Fast Lane",
        description="Industry users already familiar with HPC: up to 50,000 GPU-hours",
        applicant_types=("startup_sme", "industry"),
        max_gpu_hours=50_000,
        max_cpu_hours=500_000,
        lengths_months=(1, 2, 3),
        selection="fifo",
        checks=("eligibility", "technical", "ethics"),
        decision_working_days=4,
        price=_INDUSTRY,
        qos_priority=300,
    ),
    "large_scale": ModeSettings(
        label="Large Scale",
        description="High-impact industrial AI: more than 50,000 GPU-hours",
        applicant_types=("startup_sme", "industry"),
        min_gpu_hours=50_000,
        lengths_months=(3, 6, 12),
        selection="review",
        cutoff_days=(1, 15),
        checks=("eligibility", "technical", "ethics"),
        reviewers_required=2,
        decision_working_days=10,
        clock_from="cutoff",
        price=_INDUSTRY,
        qos_priority=200,
        progress_report_months=(1, 3, 9),
    ),
    "ai_science": ModeSettings(
        label="AI for Science",
        description="Scientific, public and industrial users in collaborative EU R&I projects",
        applicant_types=("academia", "public_research", "startup_sme", "industry"),
        lengths_months=(6,),
        selection="review",
        cutoff_days=(1,),
        checks=("eligibility", "technical", "ethics"),
        reviewers_required=2,
        decision_working_days=20,
        clock_from="cutoff",
        price={**_INDUSTRY, "academia": "open_or_partner", "public_research": "open_or_partner"},
        qos_priority=200,
        progress_report_months=(3,),
    ),
}


class AccessSettings(Frozen):
    """The `[access]` table of the site file."""

    modes: dict[str, ModeSettings] = Field(
        PUBLISHED,
        description="the access modes, by code (a table per mode); default: the EuroHPC AI "
        "Factories' published modes",
    )
    trial: TrialSettings = Field(
        TrialSettings(), description="the instant trial project a new researcher gets"
    )
    rates: Rates = Field(
        Rates(),
        description="what charged access costs (industry without open results or an "
        "academic partner)",
    )
    open_results_due_days: int = Field(
        365, ge=0, le=1100, description="days after the allocation ends to publish results"
    )
    holidays: str = Field(
        "SI",
        pattern=r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$",
        description="country (ISO 3166, optionally -subdivision) whose public holidays are "
        "not working days for service-level clocks (the `holidays` library)",
    )
    acknowledgement: str = Field(
        "We acknowledge the AI Factory for awarding this project access to its supercomputer.",
        min_length=1,
        max_length=500,
        description="the text publications of granted projects carry",
    )

    @model_validator(mode="after")
    def _trial_mode(self) -> AccessSettings:
        for code in self.modes:
            if not _is_code(code):
                raise ValueError(f"modes: {code!r} is not a mode code ({MODE_PATTERN})")
        if self.trial.mode not in self.modes:
            raise ValueError(f"trial.mode: {self.trial.mode!r} is not one of the modes")
        return self

    def mode(self, name: str) -> ModeSettings:
        """Settings of an access mode by its code; KeyError for a mode the site lacks."""
        return self.modes[name]

    def label(self, name: str) -> str:
        mode = self.modes.get(name)
        return mode.label if mode else name


def _is_code(code: str) -> bool:
    return re.fullmatch(MODE_PATTERN, code) is not None
