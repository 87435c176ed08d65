"""The local PostgreSQL server: loopback only, an unprivileged role, idempotent start/stop."""

from __future__ import annotations

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from aifactory_hub.ops import postgres
from aifactory_hub.store import db


def test_bin_dir_picks_the_newest_version_numerically(tmp_path):
    for version in ("9", "15", "16", "17-beta"):
        (tmp_path / version / "bin").mkdir(parents=True)
        (tmp_path / version / "bin" / "postgres").touch()
    (tmp_path / "18" / "bin").mkdir(parents=True)  # client programs only, no server
    assert postgres.bin_dir(tmp_path) == tmp_path / "16" / "bin"
    with pytest.raises(postgres.PostgresError, match="apt-get install postgresql"):
        postgres.bin_dir(tmp_path / "none")


@pytest.mark.parametrize(
    "changes",
    [
        {"role": "x; DROP ROLE postgres"},
        {"role": "ok\n"},
        {"database": "Bad-Name"},
        {"password": "short"},
        {"password": "p" * 20 + "'"},
    ],
)
def test_unsafe_names_are_refused_before_anything_runs(tmp_path, changes):
    args = {"role": "ok", "database": "ok", "password": "p" * 20, **changes}
    with pytest.raises(ValueError, match="invalid"):
        postgres.start(tmp_path / "data", 15499, **args)
    assert not (tmp_path / "data").exists()


@pytest.mark.store
def test_start_again_reuses_the_running_server(pg_server):
    server = pg_server
    again = dict(role=server.role, password=server.password, database="again")
    url = postgres.start(server.data_dir, server.port, **again)
    assert postgres.is_running(server.data_dir)
    assert postgres.running_port(server.data_dir) == server.port
    engine = db.make_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT current_database()")).scalar() == "again"
    engine.dispose()
    with pytest.raises(postgres.PostgresError, match="already running on port"):
        postgres.start(server.data_dir, server.port + 1, **again)


@pytest.mark.store
def test_server_listens_on_loopback_only_and_the_role_is_not_superuser(pg_server):
    engine = db.make_engine(pg_server.fresh_url())
    with engine.connect() as connection:
        assert connection.execute(text("SHOW listen_addresses")).scalar() == "127.0.0.1"
        superuser = "SELECT rolsuper FROM pg_roles WHERE rolname = current_user"
        assert connection.execute(text(superuser)).scalar() is False
    engine.dispose()


def test_stop_of_a_server_that_is_not_running_does_nothing(tmp_path):
    postgres.stop(tmp_path / "never-started")


@pytest.mark.store
def test_a_stopped_server_starts_again_with_its_data(pg_server):
    server = pg_server
    url = server.fresh_url()
    db.migrate(url)
    postgres.stop(server.data_dir)
    assert not postgres.is_running(server.data_dir)
    postgres.stop(server.data_dir)  # stopping twice is fine

    postgres.start(
        server.data_dir, server.port, role=server.role, password=server.password,
        database=server.role,
    )  # fmt: skip

    engine = db.make_engine(url)
    with engine.connect() as connection:
        version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    assert version == ScriptDirectory.from_config(db.alembic_config("sqlite://")).get_current_head()
