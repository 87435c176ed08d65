"""Store tier: the factory store on SQLite and on a real PostgreSQL server.

The server is started here on 127.0.0.1:15432 in a temporary directory owned by the
`postgres` user, and stopped at the end by its own pg_ctl, so nothing else is touched.
Every PostgreSQL run is marked `store` (`-m "not store"` keeps to SQLite, and then no
server is started at all). Each test gets a fresh, migrated database.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub.ops import postgres
from aifactory_hub.slurm import RunAs
from aifactory_hub.store import db

PG_PORT = int(os.environ.get("AIFACTORY_TEST_PG_PORT", "15432"))
ROLE = "aifactory_test"
# A throw-away server: durability buys nothing and costs seconds.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class PgServer:
    data_dir: Path
    port: int
    password: str
    role: str = ROLE

    def fresh_url(self) -> str:
        """The URL of a new, empty database owned by the test role."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        postgres.ensure_database(self.data_dir, self.port, name, owner=self.role)
        return postgres.url(self.role, self.password, self.port, name)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    # Not under pytest's tmp_path: that is private to root, and the server runs as postgres.
    root = Path(tempfile.mkdtemp(prefix="aifactory-store-pg-"))
    entry = RunAs.lookup(postgres.OS_USER)
    os.chown(root, entry.uid, entry.gid)
    server = PgServer(root / "data", PG_PORT, secrets.token_urlsafe(24))
    try:
        postgres.start(
            server.data_dir, PG_PORT, role=ROLE, password=server.password, database=ROLE,
            settings=FAST,
        )  # fmt: skip
        yield server
    finally:
        postgres.stop(server.data_dir)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.store)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database: a SQLite file, or a new PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'factory.sqlite'}"
    return request.getfixturevalue("pg_server").fresh_url()


@pytest.fixture
def store(store_url: str) -> Iterator[sessionmaker[Session]]:
    """A session factory on a freshly migrated database."""
    db.migrate(store_url)
    engine = db.make_engine(store_url)
    yield db.session_factory(engine)
    engine.dispose()
