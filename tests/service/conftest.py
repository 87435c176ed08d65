"""The in-process tier of the factory service: the real application and operations on a real
SQLite store in tmp_path, served on loopback in the test's own event loop, with the hub's
auth, the hub's API and Slurm replaced by the doubles in `tests.service.mocking`. No hub, no
Slurm, no process is started; a test that reached Slurm fails (`no_real_slurm`)."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from aifactory_hub import slurm
from aifactory_hub.service.base import Context
from aifactory_hub.service.cluster import ClusterMonitor
from aifactory_hub.site import DEMO_SITE, Site, load_site
from aifactory_hub.slurm import runner
from aifactory_hub.store import db
from aifactory_hub.usage.collector import Collector
from tests.service.client import ServiceClient, served
from tests.service.mocking import (
    MockHub,
    MockHubAuth,
    RecordingProvisioner,
    ScriptedSlurm,
    StoreOnlyWorkshops,
    slurm_steps,
)
from tests.service.world import make as make_world


@pytest.fixture(autouse=True)
def no_real_slurm(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any step that would run a real command (Slurm, useradd, sacctmgr) fails the test."""

    def refuse(argv, *args: Any, **kwargs: Any):
        raise AssertionError(f"the in-process tier ran a real command: {argv}")

    for module in (slurm, runner):
        monkeypatch.setattr(module, "run", refuse)
        monkeypatch.setattr(module, "arun", refuse)


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    """The demo site, its project and scratch folders under a temporary folder (a storage
    pass measures and purges them: never the machine's own /srv/aifactory)."""
    demo = load_site(DEMO_SITE)
    roots = tmp_path_factory.mktemp("storage")
    storage = demo.storage.model_copy(
        update={"project_root": str(roots / "projects"), "scratch_root": str(roots / "scratch")}
    )
    return demo.model_copy(update={"storage": storage})


@pytest.fixture(scope="session")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One migrated store, copied for each test (the migrations take longer than a test)."""
    path = tmp_path_factory.mktemp("store") / "template.sqlite"
    db.migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def store(tmp_path: Path, migrated: Path) -> Iterator[sessionmaker[Session]]:
    path = tmp_path / "factory.sqlite"
    with sqlite3.connect(migrated) as source, sqlite3.connect(path) as copy:
        source.backup(copy)
    engine = db.make_engine(f"sqlite:///{path}")
    yield db.session_factory(engine)
    engine.dispose()


@pytest.fixture
def auth() -> MockHubAuth:
    return MockHubAuth()


@pytest.fixture
def hub(site: Site) -> MockHub:
    return MockHub(u.name for u in site.users)


@pytest.fixture
def slurm_commands() -> ScriptedSlurm:
    return ScriptedSlurm()


@pytest.fixture
def provisioner() -> RecordingProvisioner:
    return RecordingProvisioner()


@pytest.fixture
def workshops() -> StoreOnlyWorkshops:
    return StoreOnlyWorkshops()


@pytest.fixture
def context(site, store, auth, hub, slurm_commands, provisioner, workshops) -> Context:
    return Context(
        site=site,
        store=store,
        auth=auth,
        hub=hub,
        monitor=ClusterMonitor(hub.get, interval=60, runner=slurm_commands),
        collector=Collector(store, site.site.cluster, 60, runner=slurm_commands),
        slurm=slurm_steps(provisioner, workshops),
    )


@pytest.fixture
async def client(context: Context) -> AsyncIterator[ServiceClient]:
    """The service's real application on a loopback port of this test's event loop."""
    async with served(context) as service:
        yield service


@pytest.fixture
async def world(client: ServiceClient, store, hub: MockHub, site: Site) -> dict[str, Any]:
    """The objects the examples act on (see `tests.service.world.make`)."""
    return await make_world(client, store, hub, site)
