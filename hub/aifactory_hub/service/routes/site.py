"""The centre's public facts: partitions and their limits, GPU models, access modes and rates.

Sessions cannot read the site file (it may be private to root), yet the guides quote its
facts and the advisor sizes runs with them: this is where they read them. Only what any
logged-in user may know is here: no projects, users, URLs or secrets.

Environments are listed by what a user chooses them by (name, description, modules, the
partitions they are offered on, the default), never with their `variables`: a site may set a
licence server or a service's token there, and the session gets them without anyone reading
them here. Their prefixes and build lists are the operators' business and are left out too.
"""

from __future__ import annotations

from typing import Any

from aifactory_hub.service.base import Handler, Route
from aifactory_hub.site import Site, scopes


def public_site(site: Site) -> dict[str, Any]:
    """The site's public facts as JSON (a pure function: the guides' tests call it too)."""
    access = site.access
    modes = {code: mode.model_dump(mode="json") for code, mode in access.modes.items()}
    return {
        "name": site.site.name,
        "cluster": site.site.cluster,
        "default_partition": site.default_partition.name,
        "defaults": site.defaults.model_dump(),
        "partitions": [p.model_dump() for p in site.partitions],
        "gpu_types": [g.model_dump() for g in site.gpu_types],
        "access": {
            "modes": modes,
            "rates": access.rates.model_dump(),
            "open_results_due_days": access.open_results_due_days,
            "acknowledgement": access.acknowledgement,
            "trial": access.trial.model_dump(),
        },
        "environments": public_environments(site),
        # whether sessions have `module` (Lmod), and the bounds of a user's own build job
        "software": {
            "module_system": bool(site.software.lmod_init),
            "build_minutes": site.software.build_minutes,
            "build_max_gb": site.software.build_max_gb,
            "build_partition": site.software.build_partition,
        },
        # where projects' folders live and how long data is kept (the guides quote them)
        "storage": site.storage.model_dump(
            include={"project_root", "scratch_root", "scratch_purge_days", "retention_days"}
        ),
    }


def public_environments(site: Site) -> list[dict[str, Any]]:
    """The site's environments as a user chooses them: `partitions` spelled out (every
    partition when the site file leaves it empty), no variables. They are in the order a
    session picks its default in (`sessions.offered_environments`: the default first), so the
    first one offered on a partition is what a session there gets when none is chosen; the
    site's default is the one marked, or the first when none is."""
    everywhere = [p.name for p in site.partitions]
    ordered = sorted(site.environments, key=lambda e: not e.default)
    marked = any(e.default for e in ordered)
    return [
        {
            "name": env.name,
            "description": env.description,
            "modules": list(env.modules),
            "partitions": [p for p in everywhere if env.offered_on(p)],
            "default": env.default or (not marked and n == 0),
        }
        for n, env in enumerate(ordered)
    ]


async def site_facts(h: Handler) -> None:
    h.write_json(public_site(h.site))


routes: list[Route] = [
    Route("get", "site", site_facts, "The centre's public facts: partitions, GPUs, access, rates",
          (scopes.FACTORY_ACCESS,)),
]  # fmt: skip
