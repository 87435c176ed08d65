"""Migrations: one initial revision, idempotent, and it builds exactly the models' schema."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect, select, text

from aifactory_hub.store import db
from aifactory_hub.store.models import Base, Call
from tests.store import sample


def current_revision(url: str) -> str | None:
    engine = db.make_engine(url)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def head() -> str:
    return ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()


def test_revisions_shipped_inside_the_package_form_one_line():
    config = db.alembic_config("sqlite://")
    assert config.get_main_option("script_location") == str(db.MIGRATIONS)
    assert db.MIGRATIONS.is_relative_to(Path(db.__file__).parent)
    revisions = list(ScriptDirectory.from_config(config).walk_revisions())
    assert revisions[0].revision == head() and revisions[-1].down_revision is None
    for newer, older in pairwise(revisions):
        assert newer.down_revision == older.revision


def test_migrate_twice_is_a_no_op(store_url):
    db.migrate(store_url)
    engine = db.make_engine(store_url)
    factory = db.session_factory(engine)
    with db.transaction(factory) as session:
        session.add(sample.call(title="kept"))
    tables = set(inspect(engine).get_table_names())

    db.migrate(store_url)

    assert current_revision(store_url) == head()
    assert set(inspect(engine).get_table_names()) == tables
    assert tables == set(Base.metadata.tables) | {"alembic_version"}
    with factory() as session:
        assert session.scalars(select(Call.title)).all() == ["kept"]
    engine.dispose()


def test_migrated_schema_matches_the_models(store_url):
    db.migrate(store_url)
    engine = db.make_engine(store_url)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    # compare_metadata does not look at CHECK constraints: compare their names at least.
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        wanted = {c.name for c in table.constraints if isinstance(c, CheckConstraint)}
        found = {c["name"] for c in inspector.get_check_constraints(table.name)}
        assert found == wanted, table.name
    engine.dispose()


def test_sqlite_connections_get_wal_and_foreign_keys(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path / 'sub' / 'factory.sqlite'}")
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert connection.execute(text("PRAGMA busy_timeout")).scalar() == 30_000
    assert (tmp_path / "sub" / "factory.sqlite").exists()
    engine.dispose()


def test_postgresql_url_without_driver_uses_psycopg_3():
    assert db.normalise_url("postgresql://u@h/d").drivername == "postgresql+psycopg"
    assert db.normalise_url("postgresql+psycopg2://u@h/d").drivername == "postgresql+psycopg2"
