"""What a session needs to launch distributed jobs: the partitions its projects may use.

A kernel knows its own project and partition (SLURM_JOB_ACCOUNT, SLURM_JOB_PARTITION) but
not the site file, which may be private to the hub's host, nor the projects granted later in
the store. The launchers ask here, with the session's own token, before offering a partition
or a worker size; Slurm still enforces every limit on submission.
"""

from __future__ import annotations

from typing import Any

from aifactory_hub.access import projects as prj
from aifactory_hub.service.base import Handler, Route
from aifactory_hub.site import Site, scopes


def project_partitions(site: Site, granted: dict[str, list[str]], user: str) -> dict[str, list]:
    """{account: partitions} of the user's site projects, then of those granted in the store."""
    usable = {p.account: list(p.partitions) for p in site.projects_of(user)}
    for account, partitions in granted.items():
        usable.setdefault(account, sorted(partitions))
    return usable


def jobs_facts(site: Site, usable: dict[str, list[str]]) -> dict[str, Any]:
    """The answer, as a pure function of the site and the caller's projects."""
    names = {name for partitions in usable.values() for name in partitions}
    return {
        "partitions": [p.model_dump() for p in site.partitions if p.name in names],
        "projects": usable,
        "jobs": site.jobs.model_dump(),
    }


async def my_partitions(h: Handler) -> None:
    with h.store() as db:
        granted = {
            p.account: [a.partition for a in p.allocations] for p in prj.projects_of(db, h.user)
        }
    h.write_json(jobs_facts(h.site, project_partitions(h.site, granted, h.user)))


routes: list[Route] = [
    Route("get", "site/partitions", my_partitions,
          "The partitions your projects may use, their per-job limits, and the job settings",
          (scopes.FACTORY_ACCESS,)),
]  # fmt: skip
