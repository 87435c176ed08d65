"""The access section of the site file: limits and review steps per access mode, and rates.

The Site model mounts `AccessSettings` as `access`; every field has a default, so a site file
without an `[access]` table gets the policy described in the docs.
"""

from __future__ import annotations

from pydantic import Field

from aifactory_hub.policy.model import AccessMode, Frozen


class ModeSettings(Frozen):
    """The rules of one access mode."""

    max_gpu_hours: float = Field(ge=0, description="GPU hours per proposal, all partitions")
    max_cpu_hours: float = Field(ge=0, description="CPU hours per proposal, all partitions")
    duration_days: int = Field(ge=1, le=1100, description="how long a granted allocation lasts")
    reviewers_required: int = Field(ge=0, le=10, description="peer reviews before a decision")
    technical_check: bool = Field(description="staff check feasibility before a decision")


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


class AccessSettings(Frozen):
    """The `[access]` table of the site file."""

    playground: ModeSettings = Field(
        ModeSettings(
            max_gpu_hours=10,
            max_cpu_hours=100,
            duration_days=30,
            reviewers_required=0,
            technical_check=False,
        ),
        description="a new researcher's small first project, made at first login",
    )
    # The call asks for at least two peer reviewers wherever there is a review.
    fast_lane: ModeSettings = Field(
        ModeSettings(
            max_gpu_hours=500,
            max_cpu_hours=5000,
            duration_days=180,
            reviewers_required=2,
            technical_check=False,
        ),
        description="mid-size proposals, peer-reviewed",
    )
    large_scale: ModeSettings = Field(
        ModeSettings(
            max_gpu_hours=50_000,
            max_cpu_hours=500_000,
            duration_days=365,
            reviewers_required=2,
            technical_check=True,
        ),
        description="the largest proposals, peer-reviewed and checked by staff",
    )
    rates: Rates = Field(
        Rates(),
        description="what charged access costs (industry without open results or an "
        "academic partner)",
    )
    open_results_due_days: int = Field(
        365, ge=0, le=1100, description="days after the allocation ends to publish results"
    )

    def mode(self, name: str) -> ModeSettings:
        """Settings of an access mode by its code (an `AccessMode` or its string)."""
        try:
            return getattr(self, AccessMode(name).value)
        except ValueError:
            raise KeyError(name) from None
