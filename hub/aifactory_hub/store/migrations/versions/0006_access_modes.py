"""[access-modes]: modes are site data (no CHECK on a call's mode), a proposal's allocation
length, cut-off and service-level due date, when it was decided, and projects' reports.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
USER = sa.String(length=64)
CODE = sa.String(length=32)


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch:
        batch.drop_constraint(op.f("ck_calls_mode"), type_="check")
        batch.drop_constraint(op.f("ck_calls_deadline"), type_="check")
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(sa.Column("length_months", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("cutoff_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("decision_due_on", sa.Date(), nullable=True))
        batch.add_column(sa.Column("decided_at", TIMESTAMP, nullable=True))
    op.create_table(
        "reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("kind", CODE, nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("products", sa.JSON(), nullable=False),
        sa.Column("acknowledged", sa.Boolean(), nullable=False),
        sa.Column("submitted_by", USER, nullable=True),
        sa.Column("submitted_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint("kind IN ('progress', 'final')", name=op.f("ck_reports_kind")),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_reports_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "project_id", "kind", "due_on", name=op.f("uq_reports_project_id_kind_due_on")
        ),
    )


def downgrade() -> None:
    op.drop_table("reports")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("decided_at")
        batch.drop_column("decision_due_on")
        batch.drop_column("cutoff_on")
        batch.drop_column("length_months")
    with op.batch_alter_table("calls") as batch:
        batch.create_check_constraint(
            op.f("ck_calls_deadline"), "mode != 'large_scale' OR deadline IS NOT NULL"
        )
        batch.create_check_constraint(
            op.f("ck_calls_mode"), "mode IN ('playground', 'fast_lane', 'large_scale')"
        )
