"""Shared fixtures. Tiers: tests/unit (pure), tests/slurm (real Slurm), tests/hub (real hub),
tests/browser (real Chromium). Real-stack fixtures are session-scoped and shared: the local
cluster and the demo accounts are brought up once (idempotently) for the whole run."""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from aifactory_hub.ops import cli, localcluster
from aifactory_hub.ops.accounts import apply_site
from aifactory_hub.site import Site, load_site
from tests.completeness import Completeness
from tests.hardening import HardeningReport
from tests.stack import HubClient, demo_site_on_port

PASSWORD_FILE = Path("/var/lib/aifactory/demo-passwords")
# The test hub has its own ports and state, so it never touches a demo hub on :8000.
PORT = int(os.environ.get("AIFACTORY_TEST_PORT", "18000"))
# Held by a run for as long as it uses the real cluster: the fault tests stop slurmctld, take
# a node down and restart the hub's services, which would break another run's tests midway.
CLUSTER_LOCK = Path(os.environ.get("AIFACTORY_TEST_LOCK", "/run/lock/aifactory-tests.lock"))


def pytest_configure(config: pytest.Config) -> None:
    config.pluginmanager.register(HardeningReport(config), "hardening-report")
    config.pluginmanager.register(Completeness(config, Path(__file__).parent), "completeness")


@pytest.fixture(scope="session")
def demo_site() -> Site:
    return load_site()


@pytest.fixture(scope="session")
def cluster_lock() -> Iterator[None]:
    """One run at a time on this machine's cluster: a second run waits here (and says so)
    until the first has finished, instead of failing under its faults."""
    CLUSTER_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with CLUSTER_LOCK.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            sys.__stderr__.write(
                f"\nwaiting for another test run on this cluster (pid {holder}) to finish\n"
            )
            fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


@pytest.fixture(scope="session")
def local_cluster(demo_site: Site, cluster_lock) -> Site:
    """The running local cluster's site (started here if it is not up yet)."""
    assert demo_site.site.local_cluster, "the test suite runs on the local factory"
    localcluster.start(demo_site)
    return demo_site


@pytest.fixture(scope="session")
def demo_accounts(local_cluster: Site) -> dict[str, str]:
    """{user: password} of the demo users, after POSIX users and Slurm accounts exist."""
    return apply_site(local_cluster, PASSWORD_FILE)


@pytest.fixture(scope="session")
def hub_site(tmp_path_factory, local_cluster) -> tuple[Site, Path]:
    state = tmp_path_factory.mktemp("hub-state")
    text = demo_site_on_port(PORT, state, kernel_cull_s=20)
    path = state / "site.toml"
    path.write_text(text)
    return load_site(path), path


@pytest.fixture(scope="session")
def hub(hub_site, demo_accounts) -> Iterator[HubClient]:
    site, path = hub_site
    cli.start_hub(site, str(path))
    client = HubClient(site, demo_accounts)
    yield client
    for user in site.users:
        try:
            if client.server(user.name):
                client.stop(user.name)
        except Exception:  # noqa: S110 - best effort: the hub may already be gone
            pass
    cli.stop_hub(site)
