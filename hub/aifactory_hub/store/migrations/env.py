"""Alembic environment: migrate on the connection `db.migrate` hands over, or on the URL of
the configuration (a fresh engine made by `db.make_engine`, so SQLite gets its pragmas)."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from aifactory_hub.store.db import make_engine
from aifactory_hub.store.models import Base


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,  # SQLite cannot ALTER most things; batch mode copies the table
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_offline() -> None:
    """`alembic upgrade --sql`: print the SQL for a DBA instead of running it."""
    context.configure(
        url=context.config.get_main_option("sqlalchemy.url"),
        target_metadata=Base.metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
elif (given := context.config.attributes.get("connection")) is not None:
    run(given)
else:
    engine = make_engine(context.config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()
