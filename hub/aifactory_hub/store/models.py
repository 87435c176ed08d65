"""The factory store's tables: the access workflow from a call to a provisioned project.

Enum-like columns are short text with CHECK constraints (portable across SQLite and
PostgreSQL; the allowed values are the tuples below). Timestamps are timezone-aware UTC on
both databases. JSON columns are replaced, not mutated in place: SQLAlchemy does not see
`proposal.requests.append(...)`, it does see `proposal.requests = [*proposal.requests, new]`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    Double,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

CALL_STATUSES = ("open", "closed", "decided")
PROPOSAL_STATUSES = (
    "draft", "submitted", "ineligible", "in_review",
    "granted", "partial", "waitlisted", "rejected", "withdrawn",
)  # fmt: skip
PROJECT_STATUSES = ("pending", "active", "ended")
MEMBER_ROLES = ("pi", "member")
STEP_STATUSES = ("pending", "done", "failed")
TICKET_STATUSES = ("open", "answered", "closed")
WORKSHOP_STATUSES = ("planned", "active", "ended")
STORAGE_FOLDERS = ("project", "scratch")
REPORT_KINDS = ("progress", "final")

# Named constraints, so that later migrations (SQLite's batch mode too) can refer to them.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}
User = String(64)  # a POSIX user name or Slurm account name
Code = String(32)  # a value from one of the tuples above, or the policy's vocabulary


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp, stored as UTC; a naive datetime is refused.

    PostgreSQL keeps `timestamptz`; SQLite keeps text without an offset, so the offset is
    normalised to UTC on the way in and put back on the way out.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value.isoformat()}: give a timezone")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def one_of(column: str, values: tuple[str, ...]) -> CheckConstraint:
    """CHECK (column IN (...)), named ck_<table>_<column>."""
    allowed = ", ".join(f"'{v}'" for v in values)
    return CheckConstraint(f"{column} IN ({allowed})", name=column)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    # float is DOUBLE PRECISION on PostgreSQL, whichever SQLAlchemy 2.x maps it by default.
    type_annotation_map = {
        datetime: UTCDateTime,
        float: Double,
        dict[str, Any]: JSON,
        list[Any]: JSON,
    }


class Call(Base):
    """A call for proposals; playground and fast-lane calls roll (no deadline)."""

    __tablename__ = "calls"
    __table_args__ = (one_of("status", CALL_STATUSES),)  # `mode`: one of the site's modes

    id: Mapped[int] = mapped_column(primary_key=True)
    mode: Mapped[str] = mapped_column(Code)
    title: Mapped[str] = mapped_column(Text)
    opens_at: Mapped[datetime]
    deadline: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(Code, default="open")
    # {partition: {"gpu_hours": float, "cpu_hours": float}} offered by this call
    capacity: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_by: Mapped[str] = mapped_column(User)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    proposals: Mapped[list[Proposal]] = relationship(back_populates="call")


class Proposal(Base):
    """An application to a call. `version` makes concurrent decisions fail (StaleDataError)
    instead of silently overwriting each other."""

    __tablename__ = "proposals"
    __table_args__ = (
        one_of("status", PROPOSAL_STATUSES),
        Index("ix_proposals_applicant", "applicant"),
        Index("ix_proposals_call_id_status", "call_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("calls.id"))
    applicant: Mapped[str] = mapped_column(User)
    organisation: Mapped[str] = mapped_column(Text)
    applicant_type: Mapped[str] = mapped_column(Code)
    access_mode: Mapped[str] = mapped_column(Code)
    title: Mapped[str] = mapped_column(Text)
    abstract: Mapped[str] = mapped_column(Text, default="")
    software: Mapped[str] = mapped_column(Text, default="")
    open_results: Mapped[bool] = mapped_column(default=False)
    academic_partner: Mapped[str] = mapped_column(Text, default="")
    public_funding: Mapped[bool] = mapped_column(default=False)
    # [{"partition": str, "gpu_hours": float, "cpu_hours": float}]
    requests: Mapped[list[Any]] = mapped_column(default=list)
    ethics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    catalogue: Mapped[list[Any]] = mapped_column(default=list)  # names of catalogue items
    length_months: Mapped[int | None]  # the allocation length asked for (the mode allows it)
    cutoff_on: Mapped[date | None]  # review modes: the cut-off it is decided after
    decision_due_on: Mapped[date | None]  # the service-level target, in working days
    decided_at: Mapped[datetime | None]  # granted, partly granted, waitlisted or declined
    status: Mapped[str] = mapped_column(Code, default="draft")
    eligibility: Mapped[list[Any]] = mapped_column(default=list)  # the policy's findings
    ineligible_reason: Mapped[str] = mapped_column(Text, default="")
    # {"status", "fraction", "granted": [requests]} once decided; {"charged", "reason", ...}
    decision: Mapped[dict[str, Any] | None]
    price: Mapped[dict[str, Any] | None]
    score: Mapped[float | None]
    rank: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column()

    __mapper_args__ = {"version_id_col": version}

    call: Mapped[Call] = relationship(back_populates="proposals")
    reviews: Mapped[list[Review]] = relationship(
        back_populates="proposal", cascade="all, delete-orphan", passive_deletes=True
    )
    technical_check: Mapped[TechnicalCheck | None] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    project: Mapped[Project | None] = relationship(viewonly=True, uselist=False)

    @property
    def eligibility_result(self) -> dict[str, Any]:
        """The automatic checks as the API shows them."""
        return {
            "eligible": not self.eligibility and not self.ineligible_reason,
            "findings": self.eligibility,
            "ineligible_reason": self.ineligible_reason,
        }


class Review(Base):
    """A peer review: quality and pertinence, 1 to 5, empty until submitted."""

    __tablename__ = "reviews"
    __table_args__ = (
        UniqueConstraint("proposal_id", "reviewer"),
        CheckConstraint("quality BETWEEN 1 AND 5", name="quality"),
        CheckConstraint("pertinence BETWEEN 1 AND 5", name="pertinence"),
        Index("ix_reviews_reviewer", "reviewer"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    reviewer: Mapped[str] = mapped_column(User)
    reviewer_organisation: Mapped[str] = mapped_column(Text)
    quality: Mapped[int | None]
    pertinence: Mapped[int | None]
    comment: Mapped[str] = mapped_column(Text, default="")
    assigned_by: Mapped[str] = mapped_column(User)
    assigned_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]

    proposal: Mapped[Proposal] = relationship(back_populates="reviews")


class TechnicalCheck(Base):
    """The centre's feasibility check of a proposal (one per proposal)."""

    __tablename__ = "technical_checks"

    proposal_id: Mapped[int] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    checked_by: Mapped[str] = mapped_column(User)
    feasible: Mapped[bool]
    notes: Mapped[str] = mapped_column(Text, default="")
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class Project(Base):
    """A granted project: one Slurm account, its allocations, members and obligations."""

    __tablename__ = "projects"
    __table_args__ = (
        one_of("status", PROJECT_STATUSES),
        CheckConstraint("ends_on >= starts_on", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account: Mapped[str] = mapped_column(User, unique=True)
    title: Mapped[str] = mapped_column(Text)
    organisation: Mapped[str] = mapped_column(Text)
    pi: Mapped[str] = mapped_column(User)
    access_mode: Mapped[str] = mapped_column(Code)
    proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposals.id"))
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    status: Mapped[str] = mapped_column(Code, default="pending")
    charged: Mapped[bool] = mapped_column(default=False)
    price_reason: Mapped[str] = mapped_column(Text, default="")
    obligation: Mapped[str] = mapped_column(Text, default="")
    obligation_due: Mapped[date | None]
    obligation_url: Mapped[str | None] = mapped_column(Text)
    provisioned_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # starts the retention clock of its folders
    data_removed_at: Mapped[datetime | None]  # staff removed its folders after retention

    allocations: Mapped[list[Allocation]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True
    )
    members: Mapped[list[Member]] = relationship(cascade="all, delete-orphan", passive_deletes=True)
    steps: Mapped[list[ProvisioningStep]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="ProvisioningStep.seq"
    )
    reports: Mapped[list[Report]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="Report.due_on"
    )

    @property
    def members_pi_first(self) -> list[Member]:
        """The PI, then the members by name (how every view and Slurm grant lists them)."""
        return sorted(self.members, key=lambda mb: (mb.role != "pi", mb.username))


class Allocation(Base):
    """Hours granted to a project on one partition."""

    __tablename__ = "allocations"
    __table_args__ = (
        UniqueConstraint("project_id", "partition"),
        CheckConstraint("gpu_hours >= 0 AND cpu_hours >= 0", name="hours"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    partition: Mapped[str] = mapped_column(User)
    gpu_hours: Mapped[float] = mapped_column(default=0.0)
    cpu_hours: Mapped[float] = mapped_column(default=0.0)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (one_of("role", MEMBER_ROLES), Index("ix_members_username", "username"))

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(User, primary_key=True)
    role: Mapped[str] = mapped_column(Code, default="member")
    added_by: Mapped[str] = mapped_column(User)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class Report(Base):
    """A progress or final report a granted project owes: due on a date the access mode
    sets; the PI submits it (a summary, products with links, the acknowledgement)."""

    __tablename__ = "reports"
    __table_args__ = (
        one_of("kind", REPORT_KINDS),
        UniqueConstraint("project_id", "kind", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(Code)
    due_on: Mapped[date]
    summary: Mapped[str] = mapped_column(Text, default="")
    # [{"kind": "paper" | "model" | "dataset" | "code", "title": str, "url": str}]
    products: Mapped[list[Any]] = mapped_column(default=list)
    acknowledged: Mapped[bool] = mapped_column(default=False)
    submitted_by: Mapped[str | None] = mapped_column(User)
    submitted_at: Mapped[datetime | None]


class ProvisioningStep(Base):
    """One command provisioning ran (or will run) for a project, saved before and after it
    runs, so that a failure halfway is retried from the record, never forgotten."""

    __tablename__ = "provisioning_steps"
    __table_args__ = (one_of("status", STEP_STATUSES), UniqueConstraint("project_id", "seq"))

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    seq: Mapped[int]
    action: Mapped[str] = mapped_column(Text)
    argv: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(Code, default="pending")
    error: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Event(Base):
    """The audit log: who did what to which thing (target like "proposal:12")."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_target", "target"), Index("ix_events_at", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(User)
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text)
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)


class UsageJob(Base):
    """One Slurm job's use as accounting last reported it. The collector upserts by job id,
    so reading the same job twice never counts it twice; `final` jobs are never read again."""

    __tablename__ = "usage_jobs"
    __table_args__ = (
        Index("ix_usage_jobs_account_start", "account", "start"),
        Index("ix_usage_jobs_final", "final"),
    )

    job_id: Mapped[str] = mapped_column(String(32), primary_key=True)  # "123" or "123_4"
    cluster: Mapped[str] = mapped_column(User)
    account: Mapped[str] = mapped_column(User)
    user: Mapped[str] = mapped_column(User)
    partition: Mapped[str] = mapped_column(User)
    state: Mapped[str] = mapped_column(Code)
    start: Mapped[datetime | None]
    end: Mapped[datetime | None]
    cpu_seconds: Mapped[float] = mapped_column(default=0.0)
    gpu_seconds: Mapped[float] = mapped_column(default=0.0)
    final: Mapped[bool] = mapped_column(default=False)  # ended and complete in accounting
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StorageUse(Base):
    """One project folder's (or scratch folder's) size at its last measurement. `complete`
    is False when the scan stopped at the site's bound: `bytes` is then a lower bound."""

    __tablename__ = "storage_use"
    __table_args__ = (one_of("folder", STORAGE_FOLDERS),)

    account: Mapped[str] = mapped_column(User, primary_key=True)
    folder: Mapped[str] = mapped_column(String(16), primary_key=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    files: Mapped[int] = mapped_column(BigInteger, default=0)
    complete: Mapped[bool] = mapped_column(default=True)
    error: Mapped[str] = mapped_column(Text, default="")
    measured_at: Mapped[datetime] = mapped_column(default=utcnow)


class CollectorState(Base):
    """Where the accounting collector got to, and whether its last run worked."""

    __tablename__ = "collector_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime | None]  # jobs that ended before it are all final
    last_run_at: Mapped[datetime | None]
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")


class Ticket(Base):
    """A question to the centre's experts, with the context it was asked in."""

    __tablename__ = "tickets"
    __table_args__ = (
        one_of("status", TICKET_STATUSES),
        Index("ix_tickets_user", "user"),
        Index("ix_tickets_status_topic", "status", "topic"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user: Mapped[str] = mapped_column(User)
    project: Mapped[str] = mapped_column(User, default="")
    topic: Mapped[str] = mapped_column(Code)
    subject: Mapped[str] = mapped_column(Text)
    context: Mapped[dict[str, Any]] = mapped_column(default=dict)  # jobs, versions, output tail
    status: Mapped[str] = mapped_column(Code, default="open")
    assignee: Mapped[str | None] = mapped_column(User)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    first_reply_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    messages: Mapped[list[TicketMessage]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="TicketMessage.id"
    )


class TicketMessage(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(User)
    staff: Mapped[bool] = mapped_column(default=False)
    body: Mapped[str] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Workshop(Base):
    """A trainer's workshop: a reservation, a project, temporary accounts and materials."""

    __tablename__ = "workshops"
    __table_args__ = (one_of("status", WORKSHOP_STATUSES), Index("ix_workshops_trainer", "trainer"))

    id: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    trainer: Mapped[str] = mapped_column(User)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    partition: Mapped[str] = mapped_column(User)
    cpus: Mapped[int]
    memory_gb: Mapped[int]
    gpus: Mapped[int]
    materials: Mapped[str] = mapped_column(Text, default="")
    # The software environment of every participant's session ("": the site's default).
    environment: Mapped[str] = mapped_column(Text, default="", server_default="")
    account: Mapped[str] = mapped_column(User)  # the workshop project's Slurm account
    reservation: Mapped[str] = mapped_column(User)
    status: Mapped[str] = mapped_column(Code, default="planned")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]

    people: Mapped[list[WorkshopParticipant]] = relationship(
        cascade="all, delete-orphan", passive_deletes=True, order_by="WorkshopParticipant.username"
    )


class WorkshopParticipant(Base):
    __tablename__ = "workshop_participants"

    workshop_id: Mapped[int] = mapped_column(
        ForeignKey("workshops.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(User, primary_key=True, unique=True)
    hand_raised_at: Mapped[datetime | None]
    disabled_at: Mapped[datetime | None]
