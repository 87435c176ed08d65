"""The one place the hub process reads the factory store, and never on its event loop.

A spawn form or a spawn needs four things from the store for one user: the projects granted
through access, their quotas (the collector's figures), their price terms (access mode,
charged or not: the form's price per hour) and, for a workshop participant, the workshop's
fixed session. They are read together in one store session, in a worker thread, so
a slow or locked database delays that user's form, not every request the hub is serving.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aifactory_hub.access.projects import projects_of, spawnable_projects
from aifactory_hub.policy import ProjectQuota
from aifactory_hub.site import Project, Site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.store.db import hub_store
from aifactory_hub.usage.ledgers import spawn_quotas
from aifactory_hub.workshops.lifecycle import session_for

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StoreView:
    """What the store says about one user, as the spawner needs it."""

    projects: list[Project] = field(default_factory=list)  # granted through access
    quotas: dict[str, ProjectQuota] = field(default_factory=dict)
    workshop: SessionRequest | None = None  # a participant's fixed session
    # {account: (access mode, charged)} of the user's store projects; None: store unreadable
    price_terms: dict[str, tuple[str, bool]] | None = None


def read_store_view(site: Site, username: str) -> StoreView:
    """One store session for everything the spawner needs (blocking: run it in a thread).

    A store that cannot be read (not migrated yet, database down) gives an empty view: no
    granted projects, no quota gate (Slurm still enforces), no workshop; the hub's log says so.
    """
    try:
        with hub_store(site.services.store_url)() as db:
            return StoreView(
                projects=spawnable_projects(db, username),
                quotas=spawn_quotas(db, site, username),
                workshop=session_for(db, site, username),
                price_terms={
                    p.account: (p.access_mode, p.charged) for p in projects_of(db, username)
                },
            )
    except Exception as exc:
        log.warning("store view of %s unavailable: %s", username, exc)
        return StoreView()


async def store_view(site: Site, username: str) -> StoreView:
    """`read_store_view` off the event loop."""
    return await asyncio.to_thread(read_store_view, site, username)
