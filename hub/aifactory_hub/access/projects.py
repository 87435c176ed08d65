"""Projects: who may see and change them, members, the open-results obligation, re-pricing,
ending, the first-login playground, and provisioning into Slurm with every step recorded.
"""

from __future__ import annotations

import logging
import pwd
import re
from collections.abc import Callable
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from aifactory_hub import policy
from aifactory_hub.access import provision
from aifactory_hub.access.views import Caller
from aifactory_hub.core.errors import AccessError, conflict, forbidden, not_found
from aifactory_hub.data import folders
from aifactory_hub.policy import AccessSettings
from aifactory_hub.site import Project as SiteProject
from aifactory_hub.site import Site, StorageSettings
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event, now

PLAYGROUND_PREFIX = "pg-"
log = logging.getLogger(__name__)


def get_project(db: Session, caller: Caller, account: str) -> m.Project:
    project = db.scalars(select(m.Project).where(m.Project.account == account)).first()
    members = {mb.username for mb in project.members} if project else set()
    if project is None or not (caller.manage or caller.name in members):
        raise not_found(f"project {account}")
    return project


def list_projects(db: Session, caller: Caller) -> list[m.Project]:
    query = select(m.Project).order_by(m.Project.account)
    if not caller.manage:
        query = query.where(m.Project.members.any(m.Member.username == caller.name))
    return list(db.scalars(query))


def projects_of(db: Session, username: str) -> list[m.Project]:
    """Active projects `username` may charge sessions to (the spawn form's list)."""
    query = (
        select(m.Project)
        .where(m.Project.status == "active")
        .where(m.Project.members.any(m.Member.username == username))
        .order_by(m.Project.account)
    )
    return list(db.scalars(query))


def _pi_or_staff(project: m.Project, caller: Caller) -> None:
    if not (caller.manage or caller.name == project.pi):
        raise forbidden(f"only the PI of {project.account} ({project.pi}) changes its members")


def _open(project: m.Project) -> None:
    if project.status == "ended":
        raise conflict(f"project {project.account} has ended")


def add_member(db: Session, caller: Caller, account: str, username: str) -> m.Project:
    project = get_project(db, caller, account)
    _pi_or_staff(project, caller)
    _open(project)
    try:
        pwd.getpwnam(username)
    except KeyError:
        raise AccessError(400, f"{username} has no account on the cluster", "username") from None
    if any(mb.username == username for mb in project.members):
        raise conflict(f"{username} is already a member of {account}", "username")
    project.members.append(m.Member(username=username, role="member", added_by=caller.name))
    event(db, caller.name, "add member", f"project {account}", username=username)
    return project


def remove_member(db: Session, caller: Caller, account: str, username: str) -> m.Project:
    project = get_project(db, caller, account)
    _pi_or_staff(project, caller)
    _open(project)
    member = next((mb for mb in project.members if mb.username == username), None)
    if member is None:
        raise not_found(f"member {username} in {account}")
    if member.role == "pi":
        raise conflict("the PI stays a member of their project", "username")
    project.members.remove(member)
    event(db, caller.name, "remove member", f"project {account}", username=username)
    return project


def submit_obligation(db: Session, caller: Caller, account: str, url: str) -> m.Project:
    project = get_project(db, caller, account)
    if caller.name != project.pi:
        raise forbidden("the PI reports the open-results link")
    if not project.obligation:
        raise conflict(f"project {account} has no open-results obligation")
    project.obligation_url = url
    event(db, caller.name, "open results", f"project {account}", url=url)
    return project


def reprice(db: Session, site: Site, caller: Caller, account: str) -> m.Project:
    """Charge a project whose open-results obligation passed unmet."""
    project = get_project(db, caller, account)
    due = project.obligation_due
    if due is None or not policy.obligation_overdue(
        due, bool(project.obligation_url), date.today()
    ):
        raise conflict(f"project {account} has no overdue obligation: its price stands")
    project.charged = True
    rates = site.access.rates
    project.price_reason = (
        f"re-priced: open results were due by {due.isoformat()} and were not reported; "
        f"charged at {rates.gpu_hour_eur} {rates.currency}/GPU-hour, "
        f"{rates.cpu_hour_eur} {rates.currency}/CPU-hour"
    )
    event(db, caller.name, "reprice", f"project {account}")
    return project


def end_project(db: Session, caller: Caller, account: str) -> m.Project:
    project = get_project(db, caller, account)
    _open(project)
    project.status = "ended"
    project.ended_at = now()  # the retention clock of its folders starts
    event(db, caller.name, "end", f"project {account}")
    return project


def data_removable_from(project: m.Project, retention_days: int) -> datetime | None:
    """When staff may remove an ended project's folders (None: it has not ended)."""
    if project.status != "ended" or project.ended_at is None:
        return None
    return project.ended_at + timedelta(days=retention_days)


def check_data_removal(
    db: Session, caller: Caller, account: str, retention_days: int, at: datetime
) -> m.Project:
    """Staff may remove an ended project's folders once its retention period is over."""
    if not caller.manage:
        raise forbidden("only staff remove a project's data")
    project = get_project(db, caller, account)
    since = data_removable_from(project, retention_days)
    if since is None:
        raise conflict(f"project {account} has not ended: its data stays")
    if project.data_removed_at is not None:
        raise conflict(f"project {account}'s data was removed already")
    if at < since:
        raise conflict(
            f"project {account}'s data is kept until {since.date().isoformat()} "
            f"({retention_days} days after it ended)"
        )
    return project


def mark_data_removed(db: Session, caller: Caller, account: str) -> m.Project:
    project = get_project(db, caller, account)
    project.data_removed_at = now()
    event(db, caller.name, "remove data", f"project {account}")
    return project


# --- playground at first login ----------------------------------------------------------------


def playground_account(username: str, taken: set[str]) -> str:
    """A Slurm account name for a user's playground: pg-<name>, made safe and unique."""
    base = PLAYGROUND_PREFIX + re.sub(r"[^a-z0-9_-]", "-", username.lower())[:24]
    account, n = base, 1
    while account in taken:
        n += 1
        account = f"{base}-{n}"
    return account


def ensure_playground(db: Session, site: Site, username: str) -> m.Project | None:
    """A new user's playground project (None if they already have a project). The automatic
    checks: a POSIX account on the cluster, not staff-only, no project yet."""
    try:
        pwd.getpwnam(username)
    except (KeyError, ValueError):  # ValueError: a NUL in the name
        raise AccessError(400, f"{username!r} has no account on the cluster", "username") from None
    roles = next((set(u.roles) for u in site.users if u.name == username), {"researcher"})
    if "researcher" not in roles or site.projects_of(username) or projects_of(db, username):
        return None
    if db.scalars(select(m.Project).where(m.Project.pi == username)).first():
        return None  # theirs exists (maybe still being provisioned)
    settings = site.access.trial
    taken = set(db.scalars(select(m.Project.account)))
    today = date.today()
    project = m.Project(
        account=playground_account(username, taken),
        title=f"Playground of {username}",
        organisation=site.organisation_of(username),
        pi=username,
        access_mode=settings.mode,
        starts_on=today,
        ends_on=today + timedelta(days=settings.duration_days),
        status="pending",
        charged=False,
        price_reason="playground access is free: it is for trying things",
    )
    project.allocations = [
        m.Allocation(
            partition=p.name,
            gpu_hours=settings.max_gpu_hours if p.has_gpus else 0.0,
            cpu_hours=0.0 if p.has_gpus else settings.max_cpu_hours,
        )
        for p in site.partitions
    ]
    project.members = [m.Member(username=username, role="pi", added_by="first login")]
    db.add(project)
    event(db, "hub", "playground", f"project {project.account}", username=username)
    db.flush()
    return project


# --- provisioning -------------------------------------------------------------------------------


def grant_of(project: m.Project, access: AccessSettings | None = None) -> provision.Grant:
    """The project as a grant; its QOS priority is its access mode's (`access`, site data)."""
    members = project.members_pi_first
    mode = access.modes.get(project.access_mode) if access else None
    return provision.Grant(
        account=project.account,
        title=project.title.replace("\n", " ")[:200] or project.account,
        organisation=project.organisation.replace("\n", " "),
        access_mode=project.access_mode,
        members=tuple(mb.username for mb in members),
        partitions=tuple(sorted(a.partition for a in project.allocations)),
        gpu_hours=sum(a.gpu_hours for a in project.allocations),
        cpu_hours=sum(a.cpu_hours for a in project.allocations),
        active=project.status != "ended",
        qos_priority=mode.qos_priority if mode else 100,
    )


Runner = Callable[[provision.Grant, str, Callable[[provision.Step, str, str], None]], object]


def provision_project(
    factory,
    cluster: str,
    account: str,
    runner: Runner = provision.apply,
    storage: StorageSettings | None = None,
    access: AccessSettings | None = None,
) -> tuple[bool, str]:
    """Bring Slurm in line with the project, then (given the site's `storage`) its POSIX
    group and folders; record each step in its own transaction, so a failure halfway is on
    record, and a retry does only what is missing. Returns (complete, error). Runs outside
    the request's transaction (it takes seconds)."""
    with factory() as db:
        project = db.scalars(select(m.Project).where(m.Project.account == account)).one()
        grant = grant_of(project, access)
        project_id = project.id
        seq = max((s.seq for s in project.steps), default=0)

    def record(step: provision.Step, status: str, error: str) -> None:
        nonlocal seq
        seq += 1
        with factory.begin() as db:
            db.add(
                m.ProvisioningStep(
                    project_id=project_id,
                    seq=seq,
                    action=step.action,
                    argv=list(step.argv),
                    status=status,
                    error=error[:4000],
                )
            )

    error = ""
    try:
        # Planned first, so a group that is not a project's is refused before any change
        # (Slurm's steps do not touch groups or folders).
        members = grant.members if grant.active else ()
        folder_steps = folders.planned(storage, grant.account, members) if storage else []
        runner(grant, cluster, record)
        folders.run(folder_steps, record)
    except Exception as exc:
        error = str(exc) or type(exc).__name__
    with factory.begin() as db:
        project = db.get(m.Project, project_id)
        if not error:
            project.provisioned_at = now()
            if project.status == "pending":
                project.status = "active"
        db.add(
            m.Event(
                actor="factory",
                action="provision",
                target=f"project {account}",
                detail={"ok": not error, "error": error[:500]},
            )
        )
    return not error, error


# --- the spawn form's view ------------------------------------------------------------------------


def spawnable_projects(db: Session, username: str) -> list[SiteProject]:
    """The user's active store projects as the spawn form sees projects; one with no
    allocation has no partition to offer and is left out (it must not hide the others)."""
    return [
        SiteProject(
            account=p.account,
            title=p.title[:200] or p.account,
            organisation=p.organisation,
            pi=p.pi,
            members=[mb.username for mb in p.members],
            partitions=sorted(a.partition for a in p.allocations),
        )
        for p in projects_of(db, username)
        if p.allocations
    ]
