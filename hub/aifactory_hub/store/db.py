"""Engines, sessions and migrations for the factory store.

SQLite is the default (one file, WAL so that readers never wait for the writer); a
`postgresql://` URL selects PostgreSQL through psycopg 3. The schema is only ever created by
the Alembic migrations in `migrations/` (`migrate`), never by `create_all`, so a database made
today and one upgraded from last year have the same tables. A new revision:

    from alembic import command
    command.revision(alembic_config(url), message="...", autogenerate=True)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:////var/lib/aifactory/factory/factory.sqlite"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000  # a writer waits this long for another writer, then fails


def normalise_url(url: str | URL) -> URL:
    """The URL as given, with psycopg 3 as the driver when a PostgreSQL URL names none."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def make_engine(url: str | URL = DEFAULT_URL) -> Engine:
    """An engine for `url`. SQLite: the file's directory is created, and every connection gets
    WAL, foreign keys ON (SQLite's default is OFF) and a busy timeout."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(parsed)
    event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # durable enough with WAL, much faster
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def alembic_config(url: str | URL) -> Config:
    """Alembic's configuration, built in code: no alembic.ini, migrations found in the package
    (so it works from an installed wheel)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    # configparser treats '%' as interpolation; passwords may contain it.
    rendered = normalise_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def migrate(url: str | URL = DEFAULT_URL) -> None:
    """Bring the database at `url` to the newest schema (`alembic upgrade head`); a database
    already there is left alone."""
    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions on `engine`; objects stay readable after commit (no reload on attribute
    access), which is what a REST handler returning what it just saved wants."""
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session in one transaction: committed when the block ends, rolled back (and the
    exception re-raised) when it raises."""
    with factory() as session, session.begin():
        yield session


_factories: dict[str, sessionmaker[Session]] = {}


def hub_store(url: str) -> sessionmaker[Session]:
    """A process's own session factory on the store at ``url``: one engine per URL, made once."""
    if url not in _factories:
        _factories[url] = session_factory(make_engine(url))
    return _factories[url]
