"""Workshops and their temporary participants.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
USER = sa.String(length=64)
CODE = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "workshops",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("trainer", USER, nullable=False),
        sa.Column("starts_at", TIMESTAMP, nullable=False),
        sa.Column("ends_at", TIMESTAMP, nullable=False),
        sa.Column("partition", USER, nullable=False),
        sa.Column("cpus", sa.Integer(), nullable=False),
        sa.Column("memory_gb", sa.Integer(), nullable=False),
        sa.Column("gpus", sa.Integer(), nullable=False),
        sa.Column("materials", sa.Text(), nullable=False),
        sa.Column("account", USER, nullable=False),
        sa.Column("reservation", USER, nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("ended_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('planned', 'active', 'ended')", name=op.f("ck_workshops_status")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_workshops"),
    )
    op.create_index("ix_workshops_trainer", "workshops", ["trainer"])
    op.create_table(
        "workshop_participants",
        sa.Column("workshop_id", sa.Integer(), nullable=False),
        sa.Column("username", USER, nullable=False),
        sa.Column("hand_raised_at", TIMESTAMP, nullable=True),
        sa.Column("disabled_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(
            ["workshop_id"],
            ["workshops.id"],
            name="fk_workshop_participants_workshop_id_workshops",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workshop_id", "username", name="pk_workshop_participants"),
        sa.UniqueConstraint("username", name="uq_workshop_participants_username"),
    )


def downgrade() -> None:
    op.drop_table("workshop_participants")
    op.drop_index("ix_workshops_trainer", table_name="workshops")
    op.drop_table("workshops")
