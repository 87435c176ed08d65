"""Usage against allocations, read from the store (never from slurmdbd): what a member, a PI,
staff and the spawn form see.

The accounting collector keeps `usage_jobs` current; this module turns those rows and the
projects' allocations into `policy.quota` figures. Projects from the site file (the demo's
ai-alpha, ai-beta) have no allocation in the store: they show their use and "no recorded
allocation", and the spawn gate leaves them to Slurm's own limits.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, selectinload

from aifactory_hub.access.projects import projects_of
from aifactory_hub.access.views import Caller
from aifactory_hub.data import storage_use
from aifactory_hub.policy import (
    Hours,
    JobUse,
    ProjectQuota,
    Rates,
    charge,
    fraction_used,
    project_quota,
)
from aifactory_hub.site import Site
from aifactory_hub.store import models as m
from aifactory_hub.usage import collector as accounting

log = logging.getLogger(__name__)
NOT_STATED = "not_stated"


@dataclass(frozen=True)
class Ledger:
    """A project as usage sees it: an account, its dates, grants and members."""

    account: str
    title: str
    pi: str
    organisation: str
    access_mode: str  # the policy's code; "site" for a site-file project
    status: str
    starts_on: date | None
    ends_on: date | None
    grants: dict[str, Hours]
    members: tuple[tuple[str, str], ...]  # (username, role), PI first
    charged: bool = False
    applicant_type: str = NOT_STATED


def ledger(project: m.Project, applicant_type: str | None = None) -> Ledger:
    members = project.members_pi_first
    return Ledger(
        account=project.account,
        title=project.title,
        pi=project.pi,
        organisation=project.organisation,
        access_mode=project.access_mode,
        status=project.status,
        starts_on=project.starts_on,
        ends_on=project.ends_on,
        grants={a.partition: Hours(a.gpu_hours, a.cpu_hours) for a in project.allocations},
        members=tuple((mb.username, mb.role) for mb in members),
        charged=project.charged,
        applicant_type=applicant_type or NOT_STATED,
    )


def site_ledgers(site: Site, known: set[str]) -> list[Ledger]:
    """The site file's projects that the store does not know (no recorded allocation)."""
    return [
        Ledger(
            account=p.account,
            title=p.title,
            pi=p.pi,
            organisation=p.organisation,
            access_mode="site",
            status="active",
            starts_on=None,
            ends_on=None,
            grants={},
            members=tuple((u, "pi" if u == p.pi else "member") for u in p.members),
        )
        for p in site.projects
        if p.account not in known
    ]


def all_ledgers(db: Session, site: Site, only: str | None = None) -> list[Ledger]:
    """Every store project (with its applicant type) and the site file's other projects;
    with `only`, that one project alone (read by itself: staff looking at one project must
    not pay for loading every project, as the service load run showed they did)."""
    query = select(m.Project).options(
        selectinload(m.Project.allocations), selectinload(m.Project.members)
    )
    types_query = select(m.Proposal.id, m.Proposal.applicant_type)
    if only is not None:
        query = query.where(m.Project.account == only)
        types_query = types_query.join(m.Project, m.Project.proposal_id == m.Proposal.id).where(
            m.Project.account == only
        )
    types = dict(db.execute(types_query).all())
    stored = [ledger(p, types.get(p.proposal_id)) for p in db.scalars(query)]
    found = stored + site_ledgers(site, {p.account for p in stored})
    if only is not None:
        found = [p for p in found if p.account == only]
    return sorted(found, key=lambda p: p.account)


def ledgers_of(
    db: Session, site: Site, caller: Caller, everyone: bool, only: str | None = None
) -> list[Ledger]:
    """The projects the caller may see the usage of: their own, or all for staff (with
    `only`, staff's one project)."""
    if everyone:
        return all_ledgers(db, site, only)
    query = select(m.Project).where(m.Project.members.any(m.Member.username == caller.name))
    stored = [ledger(p) for p in db.scalars(query)]
    site_only = site_ledgers(site, {p.account for p in stored})
    mine = [p for p in site_only if caller.name in {name for name, _ in p.members}]
    return sorted(stored + mine, key=lambda p: p.account)


def load_jobs(
    db: Session, accounts: Iterable[str] | None = None, since: datetime | None = None
) -> dict[str, list[JobUse]]:
    """Stored jobs by account (all accounts when None), ending at or after `since`. A running
    job's figure is as of its last read, so that is its end here."""
    cols = (m.UsageJob.account, m.UsageJob.user, m.UsageJob.partition, m.UsageJob.start,
            m.UsageJob.end, m.UsageJob.updated_at, m.UsageJob.cpu_seconds,
            m.UsageJob.gpu_seconds)  # fmt: skip
    query = select(*cols).where(m.UsageJob.start.is_not(None))
    if since is not None:
        query = query.where(or_(m.UsageJob.end.is_(None), m.UsageJob.end >= since))
    wanted = None if accounts is None else sorted(set(accounts))
    chunks = [None] if wanted is None else [wanted[i : i + 500] for i in range(0, len(wanted), 500)]
    jobs: dict[str, list[JobUse]] = defaultdict(list)
    for chunk in chunks:
        q = query if chunk is None else query.where(m.UsageJob.account.in_(chunk))
        for account, user, part, start, end, seen, cpu, gpu in db.execute(q):
            jobs[account].append(JobUse(account, user, part, start, end or seen, cpu, gpu))
    return jobs


_every_job: dict[int, tuple[tuple, dict[str, list[JobUse]]]] = {}


def every_job(db: Session) -> dict[str, list[JobUse]]:
    """All stored jobs by account, reused while `usage_jobs` is unchanged: one dashboard view
    asks for three reports, and only the collector changes the table (its row count and
    latest `updated_at` say when). Callers must not change the lists."""
    stamp = tuple(db.execute(select(func.count(), func.max(m.UsageJob.updated_at))).one())
    key = id(db.get_bind())
    cached = _every_job.get(key)
    if cached is None or cached[0] != stamp:
        cached = (stamp, load_jobs(db))
        _every_job[key] = cached
    return cached[1]


def figures_as_of(db: Session, interval_s: float, now: datetime | None = None) -> tuple:
    """(as_of, collector state): figures are as of the collector's last successful read."""
    now = now or datetime.now(UTC)
    state = accounting.state_json(db.get(m.CollectorState, accounting.NAME), interval_s, now)
    success = state["last_success_at"]
    return (datetime.fromisoformat(success) if success else now), state


def quota_of(ledger: Ledger, jobs: list[JobUse], as_of: datetime, **kw: Any) -> ProjectQuota:
    return project_quota(ledger.account, ledger.grants, jobs, as_of, ledger.starts_on,
                         ledger.ends_on, **kw)  # fmt: skip


def _iso(value: date | datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def usage_json(
    ledger: Ledger,
    quota: ProjectQuota,
    rates: Rates,
    with_members: bool,
    storage: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """docs/usage-api.md's ProjectUsage (`storage`: `data.storage_use.storage_json`)."""
    exhaustion = quota.exhaustion()
    runs_out = [d for d in exhaustion.values() if d is not None]
    data: dict[str, Any] = {
        "account": ledger.account,
        "title": ledger.title,
        "pi": ledger.pi,
        "access_mode": ledger.access_mode,
        "status": ledger.status,
        "starts_on": _iso(ledger.starts_on),
        "ends_on": _iso(ledger.ends_on),
        "as_of": _iso(quota.as_of),
        "has_allocation": quota.has_allocation,
        "level": quota.level,
        "fraction_used": fraction_used(quota.granted, quota.used),
        "granted": quota.granted.rounded(),
        "used": quota.used.rounded(),
        "remaining": quota.remaining.rounded(),
        "partitions": [
            {
                "partition": p.partition,
                "granted": p.granted.rounded(),
                "used": p.used.rounded(),
                "remaining": p.remaining.rounded(),
            }
            for p in quota.partitions
        ],
        "burn_per_day": quota.burn_per_day.rounded(),
        "exhaustion": {k: _iso(v) for k, v in exhaustion.items()},
        "runs_out_before_end": bool(
            runs_out and ledger.ends_on is not None and min(runs_out) < ledger.ends_on
        ),
        "daily": [{"day": d.isoformat(), **h.rounded()} for d, h in quota.daily],
        "charged": ledger.charged,
        "charge": None,
        "members": None,
        "storage": storage,
    }
    if ledger.charged:
        used = quota.used
        amount = charge(max(used.gpu, 0), max(used.cpu, 0), rates)
        data["charge"] = {"amount": str(amount), "currency": rates.currency}
    if with_members:
        data["members"] = [
            {"username": name, "role": role, **quota.members.get(name, Hours()).rounded()}
            for name, role in ledger.members
        ] + [
            {"username": name, "role": "former member", **used.rounded()}
            for name, used in quota.members.items()
            if name not in {n for n, _ in ledger.members}
        ]
    return data


def caller_usage(
    db: Session,
    site: Site,
    caller: Caller,
    staff: bool,
    account: str | None = None,
    everyone: bool = False,
) -> dict[str, Any]:
    """The caller's projects' usage; staff may ask for every project (`everyone`) or any one
    (`account`). Who used what, per project, for its PI and for staff; and each project's
    storage as the storage meter last measured it."""
    as_of, state = figures_as_of(db, site.services.collector_interval_s)
    any_project = staff and (everyone or account is not None)
    ledgers = ledgers_of(db, site, caller, any_project, None if everyone else account)
    if account is not None:
        ledgers = [p for p in ledgers if p.account == account]
    jobs = load_jobs(db, [p.account for p in ledgers])
    stored = storage_use.read(db, [p.account for p in ledgers])
    projects = [
        usage_json(
            p,
            quota_of(p, jobs.get(p.account, []), as_of),
            site.access.rates,
            with_members=staff or p.pi == caller.name,
            storage=storage_use.storage_json(
                site.storage, p.account, p.access_mode, stored.get(p.account, {})
            ),
        )
        for p in ledgers
    ]
    meter = storage_use.state_json(db, site.storage.scan_interval_s, datetime.now(UTC))
    return {"as_of": _iso(as_of), "collector": state, "storage": meter, "projects": projects}


def spawn_quotas(db: Session, site: Site, username: str) -> dict[str, ProjectQuota]:
    """The spawn form's view: quota of each active store project of the user, from the store
    only (no slurmdbd query per page view)."""
    as_of, _ = figures_as_of(db, site.services.collector_interval_s)
    ledgers = [ledger(p) for p in projects_of(db, username)]
    jobs = load_jobs(db, [p.account for p in ledgers])
    return {
        p.account: quota_of(p, jobs.get(p.account, []), as_of, with_members=False, with_daily=False)
        for p in ledgers
    }
