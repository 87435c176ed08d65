"""Accounting usage (the collector's jobs and watermark) and ask-an-expert tickets.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
USER = sa.String(length=64)
CODE = sa.String(length=32)


def upgrade() -> None:
    op.create_table(
        "usage_jobs",
        sa.Column("job_id", sa.String(length=32), nullable=False),
        sa.Column("cluster", USER, nullable=False),
        sa.Column("account", USER, nullable=False),
        sa.Column("user", USER, nullable=False),
        sa.Column("partition", USER, nullable=False),
        sa.Column("state", CODE, nullable=False),
        sa.Column("start", TIMESTAMP, nullable=True),
        sa.Column("end", TIMESTAMP, nullable=True),
        sa.Column("cpu_seconds", sa.Double(), nullable=False),
        sa.Column("gpu_seconds", sa.Double(), nullable=False),
        sa.Column("final", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("job_id", name="pk_usage_jobs"),
    )
    op.create_index("ix_usage_jobs_account_start", "usage_jobs", ["account", "start"])
    op.create_index("ix_usage_jobs_final", "usage_jobs", ["final"])
    op.create_table(
        "collector_state",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("watermark", TIMESTAMP, nullable=True),
        sa.Column("last_run_at", TIMESTAMP, nullable=True),
        sa.Column("last_success_at", TIMESTAMP, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_collector_state"),
    )
    op.create_table(
        "tickets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user", USER, nullable=False),
        sa.Column("project", USER, nullable=False),
        sa.Column("topic", CODE, nullable=False),
        sa.Column("subject", sa.Text(), nullable=False),
        sa.Column("context", sa.JSON(), nullable=False),
        sa.Column("status", CODE, nullable=False),
        sa.Column("assignee", USER, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("first_reply_at", TIMESTAMP, nullable=True),
        sa.Column("closed_at", TIMESTAMP, nullable=True),
        sa.CheckConstraint(
            "status IN ('open', 'answered', 'closed')", name=op.f("ck_tickets_status")
        ),
        sa.PrimaryKeyConstraint("id", name="pk_tickets"),
    )
    op.create_index("ix_tickets_user", "tickets", ["user"])
    op.create_index("ix_tickets_status_topic", "tickets", ["status", "topic"])
    op.create_table(
        "ticket_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("author", USER, nullable=False),
        sa.Column("staff", sa.Boolean(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name="fk_ticket_messages_ticket_id_tickets",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_ticket_messages"),
    )


def downgrade() -> None:
    op.drop_table("ticket_messages")
    op.drop_index("ix_tickets_status_topic", table_name="tickets")
    op.drop_index("ix_tickets_user", table_name="tickets")
    op.drop_table("tickets")
    op.drop_table("collector_state")
    op.drop_index("ix_usage_jobs_final", table_name="usage_jobs")
    op.drop_index("ix_usage_jobs_account_start", table_name="usage_jobs")
    op.drop_table("usage_jobs")
