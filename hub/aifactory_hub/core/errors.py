"""The refusals: `AccessError` for the whole workflow (an HTTP status, a field and a sentence),
and `FieldError`, the one shape of a request's field refused before anything is done."""

from __future__ import annotations


class AccessError(Exception):
    """A refused request. Raised before anything is changed (or inside the transaction that
    is then rolled back), so a refusal changes nothing."""

    def __init__(self, status: int, message: str, field: str = ""):
        self.status = status
        self.message = message
        self.field = field
        super().__init__(f"{field + ': ' if field else ''}{message}")


def not_found(what: str) -> AccessError:
    return AccessError(404, f"there is no {what}")


def forbidden(message: str) -> AccessError:
    return AccessError(403, message)


def conflict(message: str, field: str = "") -> AccessError:
    return AccessError(409, message, field)


class FieldError(ValueError):
    """A request refused before anything is done; `field` names what to change, `message`
    says why, and the text is "<field>: <message>" (as the hub and the widgets show it).

    Each feature raises its own subclass (StagingError, BuildError, RegisterError,
    OptionError), so a caller catches exactly the refusals of the step it ran."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")
