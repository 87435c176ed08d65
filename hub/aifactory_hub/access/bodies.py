"""Request bodies: strict models (unknown fields refused) with bounds, one per endpoint."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aifactory_hub.core.errors import AccessError
from aifactory_hub.policy import AccessMode, ApplicantType, EthicsAssessment

Text = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=20_000)]
Username = Annotated[str, Field(pattern=r"^[a-z_][a-z0-9_.-]{0,31}$")]
Partition = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
Hours = Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
MAX_ID = 2**63 - 1  # the store's ids are 64-bit integers
Id = Annotated[int, Field(ge=1, le=MAX_ID)]


def _storable(value: object) -> object:
    """Refuse text no store can keep: a NUL character (PostgreSQL refuses it) or a lone
    surrogate (not UTF-8), anywhere in a string, a list or a mapping."""
    if isinstance(value, str):
        if "\x00" in value:
            raise ValueError("must not contain a NUL character")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError("must be valid Unicode text (a lone surrogate is not)") from None
    elif isinstance(value, (list, tuple)):
        for item in value:
            _storable(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(key)
            _storable(item)
    return value


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        return _storable(value)


class RequestBody(_Body):
    """Hours asked for on one partition; absurd numbers are refused here, before any check."""

    partition: Partition
    gpu_hours: Hours = 0
    cpu_hours: Hours = 0


class Draft(_Body):
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


class CapacityRow(_Body):
    gpu_hours: Hours = 0
    cpu_hours: Hours = 0


class NewCall(_Body):
    mode: AccessMode
    title: Annotated[str, Field(min_length=3, max_length=200)]
    deadline: date | None = None
    capacity: Annotated[dict[Partition, CapacityRow], Field(min_length=1, max_length=50)]


class TechnicalCheckBody(_Body):
    feasible: bool
    notes: LongText = ""


class ReviewerBody(_Body):
    reviewer: Username


class ReviewBody(_Body):
    quality: Annotated[int, Field(ge=1, le=5, strict=True)]
    pertinence: Annotated[int, Field(ge=1, le=5, strict=True)]
    comment: LongText = ""


class MemberBody(_Body):
    username: Username


class ObligationBody(_Body):
    url: Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=500)]


def parse(model: type[_Body], data: object) -> _Body:
    """Validate a JSON body; the first problem becomes a 400 naming its field."""
    if not isinstance(data, dict):
        raise AccessError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(part) for part in err["loc"])
        message = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        raise AccessError(400, message, field) from None
