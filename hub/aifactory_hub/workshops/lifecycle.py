"""A workshop's life: made from one form, followed in the room view, ended by the trainer or
at its end time. Store changes are transactions; Slurm and POSIX steps run after them, and a
failure on the way tears down what was made, so no half-workshop is left behind."""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub import slurm
from aifactory_hub.access import projects as prj
from aifactory_hub.core.errors import AccessError, conflict, not_found
from aifactory_hub.site import Site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm import reservations
from aifactory_hub.store import models as m
from aifactory_hub.store.audit import event
from aifactory_hub.workshops import people, plan

log = logging.getLogger("aifactory.workshops")
Store = sessionmaker[Session]


def now() -> datetime:
    return datetime.now(UTC)


def workshop_json(ws: m.Workshop, room: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    data = {
        "id": ws.id,
        "title": ws.title,
        "trainer": ws.trainer,
        "status": ws.status,
        "starts_at": ws.starts_at.isoformat(),
        "ends_at": ws.ends_at.isoformat(),
        "partition": ws.partition,
        "cpus": ws.cpus,
        "memory_gb": ws.memory_gb,
        "gpus": ws.gpus,
        "participants": len(ws.people),
        "materials": ws.materials,
        "environment": ws.environment,  # "": the partition's default environment
        "account": ws.account,
        "reservation": ws.reservation,
    }
    return data if room is None else {**data, "room": room}


def get(db: Session, trainer: str, workshop_id: int) -> m.Workshop:
    """The workshop if `trainer` runs it (another trainer's is not even shown to exist)."""
    ws = db.get(m.Workshop, workshop_id)
    if ws is None or ws.trainer != trainer:
        raise not_found(f"workshop {workshop_id}")
    return ws


def participant_of(db: Session, username: str) -> m.Workshop | None:
    """The workshop `username` takes part in, while it is not over."""
    row = db.scalars(
        select(m.WorkshopParticipant).where(m.WorkshopParticipant.username == username)
    ).first()
    if row is None:
        return None
    ws = db.get(m.Workshop, row.workshop_id)
    return ws if ws is not None and ws.status != "ended" else None


def create(store: Store, site: Site, trainer: str, body: plan.NewWorkshop) -> tuple[int, dict]:
    """Make the workshop: store rows, accounts, Slurm project and reservation. Returns its id
    and the participants' passwords (shown once, never stored)."""
    field, reason = plan.check_against_site(site, body)
    if reason:
        raise AccessError(400, reason, field)
    if body.ends_at <= now():
        raise AccessError(400, "the workshop would be over already", "ends_at")
    if not site.site.local_cluster:
        raise conflict("temporary accounts are made on the local factory only; a site with "
                       "its own identity provider gives participants their accounts")  # fmt: skip
    gpu_hours, cpu_hours = plan.hours(body)
    with store.begin() as db:
        ws = m.Workshop(
            title=body.title, trainer=trainer, starts_at=body.starts_at, ends_at=body.ends_at,
            partition=body.partition, cpus=body.cpus, memory_gb=body.memory_gb, gpus=body.gpus,
            materials=body.materials, environment=body.environment, account="", reservation="",
            status="active" if body.starts_at <= now() else "planned",
        )  # fmt: skip
        db.add(ws)
        db.flush()
        account, reservation, users = plan.names(ws.id, body.participants, secrets.token_hex(2))
        if db.scalars(select(m.Project).where(m.Project.account == account)).first():
            raise conflict(f"a project {account} exists already")
        ws.account, ws.reservation = account, reservation
        ws.people = [m.WorkshopParticipant(username=u) for u in users]
        project = m.Project(
            account=account, title=f"Workshop: {body.title}"[:200], organisation="",
            pi=trainer, access_mode=site.access.trial.mode, starts_on=body.starts_at.date(),
            ends_on=body.ends_at.date(), status="pending", charged=False,
            price_reason="workshops are free for their participants",
        )  # fmt: skip
        project.allocations = [
            m.Allocation(partition=body.partition, gpu_hours=gpu_hours, cpu_hours=cpu_hours)
        ]
        project.members = [m.Member(username=trainer, role="pi", added_by=trainer)] + [
            m.Member(username=u, role="member", added_by=trainer) for u in users
        ]
        db.add(project)
        event(db, trainer, "create workshop", f"workshop {ws.id}", participants=len(users))
        workshop_id = ws.id
    try:
        passwords = people.create(users, (body.ends_at + timedelta(days=1)).date())
        done, error = prj.provision_project(
            store, site.site.cluster, account, storage=site.storage, access=site.access
        )
        if not done:
            raise RuntimeError(f"provisioning {account} failed: {error}")
        cores = body.participants * body.cpus
        slurm.run(reservations.create_reservation_argv(
            reservation, account, body.partition, cores, body.starts_at, body.ends_at))  # fmt: skip
    except Exception as exc:
        log.exception("workshop %s could not be made; tearing down", workshop_id)
        teardown(store, site, workshop_id, actor="factory")
        raise AccessError(502, f"the workshop could not be made: {exc}") from None
    return workshop_id, passwords


def check_extension(ws: m.Workshop, ends_at: datetime) -> None:
    """Refuse an extension that is not one (before anything reaches Slurm or the accounts)."""
    if ws.status == "ended":
        raise conflict(f"workshop {ws.id} has ended")
    if ends_at.tzinfo is None or ends_at <= ws.ends_at:
        raise AccessError(400, "the new end must be later (with a time zone)", "ends_at")
    if ends_at - ws.starts_at > timedelta(days=14):
        raise AccessError(400, "a workshop lasts at most 14 days", "ends_at")


def extend(store: Store, trainer: str, workshop_id: int, ends_at: datetime) -> None:
    with store.begin() as db:
        ws = get(db, trainer, workshop_id)
        check_extension(ws, ends_at)
        slurm.run(reservations.extend_reservation_argv(ws.reservation, ends_at))
        people.extend([p.username for p in ws.people], (ends_at + timedelta(days=1)).date())
        ws.ends_at = ends_at
        event(db, trainer, "extend workshop", f"workshop {ws.id}", ends_at=ends_at.isoformat())


def raise_hand(store: Store, username: str) -> None:
    with store.begin() as db:
        row = db.scalars(
            select(m.WorkshopParticipant).where(m.WorkshopParticipant.username == username)
        ).first()
        if row is None or participant_of(db, username) is None:
            raise not_found("workshop of yours")
        row.hand_raised_at = now()


def lower_hand(store: Store, trainer: str, workshop_id: int, username: str) -> None:
    with store.begin() as db:
        ws = get(db, trainer, workshop_id)
        row = next((p for p in ws.people if p.username == username), None)
        if row is None:
            raise not_found(f"participant {username}")
        row.hand_raised_at = None


def teardown(store: Store, site: Site, workshop_id: int, actor: str) -> list[str]:
    """Reservation deleted, accounts disabled, project ended in Slurm (limits zeroed, members
    removed; usage stays). Sessions are stopped by the caller (it holds the hub API).
    Every step is tried even if one fails; the failures are returned and logged."""
    problems: list[str] = []
    with store() as db:
        ws = db.get(m.Workshop, workshop_id)
        users = [p.username for p in ws.people]
        reservation, account = ws.reservation, ws.account
    if reservation:
        result = slurm.run(reservations.delete_reservation_argv(reservation), check=False)
        output = result.stderr + result.stdout
        if result.returncode and not reservations.reservation_missing(output):
            problems.append(f"reservation: {result.stderr.strip()}")
    try:
        people.disable(users)
    except slurm.SlurmError as exc:
        problems.append(f"accounts: {exc}")
    with store.begin() as db:
        ws = db.get(m.Workshop, workshop_id)
        ws.status, ws.ended_at = "ended", now()
        for person in ws.people:
            person.disabled_at = person.disabled_at or now()
        project = db.scalars(select(m.Project).where(m.Project.account == account)).first()
        if project is not None and project.status != "ended":
            project.status, project.ended_at = "ended", now()
        event(db, actor, "end workshop", f"workshop {workshop_id}", problems=problems)
    if account:
        done, error = prj.provision_project(
            store, site.site.cluster, account, storage=site.storage, access=site.access
        )
        if not done:
            problems.append(f"project: {error}")
    for problem in problems:
        log.warning("workshop %s teardown: %s", workshop_id, problem)
    return problems


def room(ws: m.Workshop, users: dict[str, dict], at: datetime | None = None) -> list[dict]:
    """One row per participant, from the hub's user models (name -> model)."""
    at = at or now()
    rows = []
    for person in ws.people:
        model = users.get(person.username)
        server = ((model or {}).get("servers") or {}).get("")
        state = (server or {}).get("state") or {}
        rows.append(
            {
                "username": person.username,
                "state": plan.room_state(server, person.disabled_at is not None, bool(model), at),
                "last_activity": (server or model or {}).get("last_activity"),
                "hand_raised_at": person.hand_raised_at.isoformat()
                if person.hand_raised_at
                else None,
                "job_id": str(state.get("job_id") or "") or None,
            }
        )
    return rows


def due(store: Store, at: datetime | None = None) -> list[int]:
    """The workshops to end at `at`; those that start now only have their status flipped."""
    at = at or now()
    with store.begin() as db:
        starting = db.scalars(
            select(m.Workshop).where(m.Workshop.status == "planned", m.Workshop.starts_at <= at)
        ).all()
        for ws in starting:
            ws.status = "active"
        ending = db.scalars(
            select(m.Workshop.id).where(m.Workshop.status != "ended", m.Workshop.ends_at <= at)
        ).all()
        return list(ending)


def session_for(db: Session, site: Site, username: str) -> SessionRequest | None:
    """A participant's fixed session (None for everybody else)."""
    ws = participant_of(db, username)
    return plan.session_request(site, ws) if ws is not None else None
