"""One error type for the whole workflow: an HTTP status, a field and a sentence."""

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
