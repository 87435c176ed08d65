"""[data]: measured storage use per project, catalogue items named by proposals, and when a
project ended and its data was removed (the retention clock).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime(timezone=True)
USER = sa.String(length=64)


def upgrade() -> None:
    op.create_table(
        "storage_use",
        sa.Column("account", USER, nullable=False),
        sa.Column("folder", sa.String(length=16), nullable=False),
        sa.Column("bytes", sa.BigInteger(), nullable=False),
        sa.Column("files", sa.BigInteger(), nullable=False),
        sa.Column("complete", sa.Boolean(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("measured_at", TIMESTAMP, nullable=False),
        sa.CheckConstraint("folder IN ('project', 'scratch')", name=op.f("ck_storage_use_folder")),
        sa.PrimaryKeyConstraint("account", "folder", name="pk_storage_use"),
    )
    with op.batch_alter_table("proposals") as batch:
        batch.add_column(
            sa.Column("catalogue", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )
    with op.batch_alter_table("projects") as batch:
        batch.add_column(sa.Column("ended_at", TIMESTAMP, nullable=True))
        batch.add_column(sa.Column("data_removed_at", TIMESTAMP, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("projects") as batch:
        batch.drop_column("data_removed_at")
        batch.drop_column("ended_at")
    with op.batch_alter_table("proposals") as batch:
        batch.drop_column("catalogue")
    op.drop_table("storage_use")
