"""The initial factory store: calls, proposals, reviews, technical checks, projects,
allocations, members, provisioning steps and the audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# The models' UTCDateTime stores this type; the migration needs only the column type.
# CHECK names go through op.f(): they are final, the metadata's naming convention would
# otherwise prefix them a second time (ck_calls_ck_calls_mode).
TIMESTAMP = sa.DateTime(timezone=True)
USER = sa.String(length=64)
CODE = sa.String(length=32)


def _id() -> sa.Column:
    return sa.Column("id", sa.Integer(), nullable=False)


def _project_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["project_id"], ["projects.id"], name=f"fk_{table}_project_id_projects", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "calls",
        _id(),
        sa.Column("mode", CODE, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("opens_at", TIMESTAMP, nullable=False),
        sa.Column("deadline", TIMESTAMP, nullable=True),
        sa.Column("status", CODE, nullable=False),
        sa.Column("capacity", sa.JSON(), nullable=False),
        sa.Column("created_by", USER, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "mode != 'large_scale' OR deadline IS NOT NULL", name=op.f("ck_calls_deadline")
        ),
        sa.CheckConstraint(
            "mode IN ('playground', 'fast_lane', 'large_scale')", name=op.f("ck_calls_mode")
        ),
        sa.CheckConstraint("status IN ('open', 'closed', 'decided')", name=op.f("ck_calls_status")),
        sa.PrimaryKeyConstraint("id", name="pk_calls"),
    )
    op.create_table(
        "proposals",
        _id(),
        sa.Column("call_id", sa.Integer(), nullable=False),
        sa.Column("applicant", USER, nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("applicant_type", CODE, nullable=False),
        sa.Column("access_mode", CODE, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=False),
        sa.Column("software", sa.Text(), nullable=False),
        sa.Column("open_results", sa.Boolean(), nullable=False),
        sa.Column("academic_partner", sa.Text(), nullable=False),
        sa.Column("public_funding", sa.Boolean(), nullable=False),
        sa.Column("requests", sa.JSON(), nullable=False),
        sa.Column("ethics", sa.JSON(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("eligibility", sa.JSON(), nullable=False),
        sa.Column("score", sa.Double(), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("submitted_at", TIMESTAMP, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('draft', 'submitted', 'ineligible', 'in_review', 'granted', 'partial',"
            " 'waitlisted', 'rejected', 'withdrawn')",
            name=op.f("ck_proposals_status"),
        ),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"], name="fk_proposals_call_id_calls"),
        sa.PrimaryKeyConstraint("id", name="pk_proposals"),
    )
    op.create_index("ix_proposals_applicant", "proposals", ["applicant"])
    op.create_index("ix_proposals_call_id_status", "proposals", ["call_id", "status"])
    op.create_table(
        "reviews",
        _id(),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("reviewer", USER, nullable=False),
        sa.Column("reviewer_organisation", sa.Text(), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=True),
        sa.Column("pertinence", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("assigned_by", USER, nullable=False),
        sa.Column("assigned_at", TIMESTAMP, nullable=False),
        sa.Column("submitted_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("pertinence BETWEEN 1 AND 5", name=op.f("ck_reviews_pertinence")),
        sa.CheckConstraint("quality BETWEEN 1 AND 5", name=op.f("ck_reviews_quality")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name="fk_reviews_proposal_id_proposals",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_reviews"),
        sa.UniqueConstraint("proposal_id", "reviewer", name="uq_reviews_proposal_id_reviewer"),
    )
    op.create_index("ix_reviews_reviewer", "reviews", ["reviewer"])
    op.create_table(
        "technical_checks",
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("checked_by", USER, nullable=False),
        sa.Column("feasible", sa.Boolean(), nullable=False),
        sa.Column("notes", sa.Text(), nullable=False),
        sa.Column("checked_at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name="fk_technical_checks_proposal_id_proposals",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", name="pk_technical_checks"),
    )
    op.create_table(
        "projects",
        _id(),
        sa.Column("account", USER, nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("organisation", sa.Text(), nullable=False),
        sa.Column("pi", USER, nullable=False),
        sa.Column("access_mode", CODE, nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=True),
        sa.Column("starts_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("charged", sa.Boolean(), nullable=False),
        sa.Column("price_reason", sa.Text(), nullable=False),
        sa.Column("obligation", sa.Text(), nullable=False),
        sa.Column("obligation_due", sa.Date(), nullable=True),
        sa.Column("obligation_url", sa.Text(), nullable=True),
        sa.Column("provisioned_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'active', 'ended')", name=op.f("ck_projects_status")
        ),
        sa.CheckConstraint("ends_on >= starts_on", name=op.f("ck_projects_dates")),
        sa.ForeignKeyConstraint(
            ["proposal_id"], ["proposals.id"], name="fk_projects_proposal_id_proposals"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_projects"),
        sa.UniqueConstraint("account", name="uq_projects_account"),
    )
    op.create_table(
        "allocations",
        _id(),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("partition", USER, nullable=False),
        sa.Column("gpu_hours", sa.Double(), nullable=False),
        sa.Column("cpu_hours", sa.Double(), nullable=False),
        sa.CheckConstraint("gpu_hours >= 0 AND cpu_hours >= 0", name=op.f("ck_allocations_hours")),
        _project_fk("allocations"),
        sa.PrimaryKeyConstraint("id", name="pk_allocations"),
        sa.UniqueConstraint("project_id", "partition", name="uq_allocations_project_id_partition"),
    )
    op.create_table(
        "members",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("username", USER, nullable=False),
        sa.Column("role", CODE, nullable=False),
        sa.Column("added_by", USER, nullable=False),
        sa.Column("added_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("role IN ('pi', 'member')", name=op.f("ck_members_role")),
        _project_fk("members"),
        sa.PrimaryKeyConstraint("project_id", "username", name="pk_members"),
    )
    op.create_index("ix_members_username", "members", ["username"])
    op.create_table(
        "provisioning_steps",
        _id(),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("argv", sa.JSON(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'done', 'failed')", name=op.f("ck_provisioning_steps_status")
        ),
        _project_fk("provisioning_steps"),
        sa.PrimaryKeyConstraint("id", name="pk_provisioning_steps"),
        sa.UniqueConstraint("project_id", "seq", name="uq_provisioning_steps_project_id_seq"),
    )
    op.create_table(
        "events",
        _id(),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", USER, nullable=False),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_events"),
    )
    op.create_index("ix_events_at", "events", ["at"])
    op.create_index("ix_events_target", "events", ["target"])


def downgrade() -> None:
    for table in (
        "events", "provisioning_steps", "members", "allocations", "projects",
        "technical_checks", "reviews", "proposals", "calls",
    ):  # fmt: skip
        op.drop_table(table)  # drops the table's indexes with it
