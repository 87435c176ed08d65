"""What every feature's request bodies share: strict models (unknown fields refused) whose
text any store can keep, and one parse that turns the first problem into a 400 naming its field."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from aifactory_hub.core.errors import AccessError

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


class Body(BaseModel):
    """Base of every request body: frozen, unknown fields refused, storable text only."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @field_validator("*", mode="before")
    @classmethod
    def _storable_text(cls, value: object) -> object:
        return _storable(value)


def parse(model: type[Body], data: object) -> Body:
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
