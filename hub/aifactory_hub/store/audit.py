"""The audit trail: every change a person makes through the factory is one `Event` row, written
in the same transaction as the change itself."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from aifactory_hub.store import models as m


def now() -> datetime:
    """The store's clock: aware UTC."""
    return datetime.now(UTC)


def event(db: Session, actor: str, action: str, target: str, **detail: Any) -> None:
    """Record that ``actor`` did ``action`` to ``target`` (``detail`` is stored as JSON)."""
    db.add(m.Event(actor=actor, action=action, target=target, detail=detail))
