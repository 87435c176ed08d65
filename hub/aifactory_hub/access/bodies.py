"""Request bodies: strict models (unknown fields refused) with bounds, one per endpoint."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import Field, field_validator

from aifactory_hub.core.bodies import Body, Id
from aifactory_hub.policy import ApplicantType, EthicsAssessment
from aifactory_hub.policy.reports import (
    MAX_PRODUCTS,
    MAX_SUMMARY_CHARS,
    MAX_TITLE_CHARS,
    MAX_URL_CHARS,
    URL_PATTERN,
    ProductKind,
)
from aifactory_hub.policy.settings import MODE_PATTERN
from aifactory_hub.site.names import SlurmName, Username

Text = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=20_000)]
Hours = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
# A catalogue item's name, as the site file spells it (site.storage.CatalogueItem.name).
CatalogueName = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]
MAX_CATALOGUE_ITEMS = 20


class RequestBody(Body):
    """Hours asked for on one partition; absurd numbers are refused here, before any check."""

    partition: SlurmName
    gpu_hours: Hours = 0
    cpu_hours: Hours = 0


class Draft(Body):
    """A proposal's fields; in a draft everything but the call may still be missing."""

    call_id: Id | None = None
    title: Text = ""
    abstract: LongText = ""
    organisation: Text = ""
    applicant_type: ApplicantType | None = None
    software: Annotated[str, Field(max_length=2000)] = ""
    requests: Annotated[tuple[RequestBody, ...], Field(max_length=20)] = ()
    open_results: bool = False
    academic_partner: Text = ""
    public_funding: bool = False
    ethics: EthicsAssessment | None = None
    # The allocation's length, one the access mode allows (checked with the mode's rules).
    length_months: Annotated[int, Field(ge=1, le=36, strict=True)] | None = None
    # Catalogue items the project will use; the service checks the applicant may use each.
    catalogue: Annotated[tuple[CatalogueName, ...], Field(max_length=MAX_CATALOGUE_ITEMS)] = ()

    @field_validator("catalogue")
    @classmethod
    def _unique(cls, names: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(names)) != len(names):
            raise ValueError("names an item twice")
        return names


class CapacityRow(Body):
    gpu_hours: Hours = 0
    cpu_hours: Hours = 0


class NewCall(Body):
    mode: Annotated[str, Field(pattern=MODE_PATTERN)]  # one of the site's modes
    title: Annotated[str, Field(min_length=3, max_length=200)]
    deadline: date | None = None
    capacity: Annotated[dict[SlurmName, CapacityRow], Field(min_length=1, max_length=50)]


class TechnicalCheckBody(Body):
    feasible: bool
    notes: LongText = ""


class ReviewerBody(Body):
    reviewer: Username


class ReviewBody(Body):
    quality: Annotated[int, Field(ge=1, le=5, strict=True)]
    pertinence: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: LongText = ""


class MemberBody(Body):
    username: Username


class ObligationBody(Body):
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=500)]


class ProductBody(Body):
    """One product of a report: what it is, its title, and the public link to it."""

    kind: ProductKind
    title: Annotated[str, Field(min_length=1, max_length=MAX_TITLE_CHARS)]
    url: Annotated[str, Field(pattern=URL_PATTERN, max_length=MAX_URL_CHARS)]


class ReportBody(Body):
    """A progress or final report as the PI submits it (policy.reports checks the rest: the
    summary's length, the acknowledgement a final report needs)."""

    summary: Annotated[str, Field(max_length=MAX_SUMMARY_CHARS)]
    products: Annotated[tuple[ProductBody, ...], Field(max_length=MAX_PRODUCTS)] = ()
    acknowledged: Annotated[bool, Field(strict=True)] = False
