"""Doubles for the in-process tier of the factory service (after JupyterHub's tests/mocking.py).

The real application, the real operations and a real SQLite store run in the test's own event
loop; what lies outside the service's process is replaced at the seams the service already
has (`service.base.Context`): the hub's auth (`MockHubAuth`), the hub's REST API (`MockHub`),
Slurm's commands behind the cluster monitor and the accounting collector (`ScriptedSlurm`),
provisioning through `access.projects`' own runner seam (`RecordingProvisioner`), and the
workshop steps that make accounts and reservations (`StoreOnlyWorkshops`). Nothing here
starts a process or opens a connection beyond the test's own loopback server.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlparse

from jupyterhub.services.auth import check_scopes
from sqlalchemy.orm import Session, sessionmaker
from tornado.httpclient import HTTPClientError

from aifactory_hub import slurm
from aifactory_hub.access import projects as prj
from aifactory_hub.access import provision
from aifactory_hub.service.base import SlurmSteps
from aifactory_hub.site import Site, scopes
from aifactory_hub.store import models as m
from aifactory_hub.workshops import lifecycle as life
from aifactory_hub.workshops import plan


def hub_scopes(site: Site, user: str) -> set[str]:
    """The scopes the hub gives `user`'s token: every user reaches the factory service
    (`extra_user_scopes`), and each of their roles adds its own (`scopes.load_roles`)."""
    held = {scopes.FACTORY_ACCESS}
    for role, members in scopes.role_members(site).items():
        if user in members:
            held |= set(scopes.ROLE_SCOPES[role])
    return held


class MockHubAuth:
    """`HubAuth` without a hub: each token names a model `{kind, name, scopes}`, and scopes are
    checked with JupyterHub's own `check_scopes` (so filters such as
    `access:services!service=factory` resolve as they do in the service)."""

    def __init__(self) -> None:
        self.models: dict[str, dict[str, Any]] = {}

    def token(self, name: str, held: Iterable[str], kind: str = "user") -> str:
        """A new token of `name` holding exactly `held`."""
        token = f"test-{name}-{secrets.token_hex(8)}"
        self.models[token] = {"kind": kind, "name": name, "scopes": sorted(held)}
        return token

    async def user_for_token(
        self, token: str, use_cache: bool = True, session_id: str = "", *, sync: bool = True
    ) -> dict[str, Any] | None:
        return self.models.get(token)

    def check_scopes(self, required_scopes: set[str], user: dict[str, Any]) -> set[str]:
        return check_scopes(required_scopes, set(user["scopes"]))


class MockHub:
    """The hub's REST API in memory: users and their default servers, as JupyterHub answers
    (404 for a user it does not know, 400 to start a running server). Every call is recorded;
    `refuse_with` makes every call fail with that status."""

    def __init__(self, users: Iterable[str]):
        self.users: dict[str, dict[str, Any]] = {u: {"name": u, "servers": {}} for u in users}
        self.calls: list[tuple[str, str]] = []
        self.refuse_with: int | None = None

    def start(self, user: str, **state: Any) -> None:
        """`user`'s default server, running, with this spawner state (e.g. job_id)."""
        self.users.setdefault(user, {"name": user, "servers": {}})
        self.users[user]["servers"][""] = {"ready": True, "state": state, "user_options": {}}

    async def request(self, method: str, path: str, body: Any = None) -> Any:
        self.calls.append((method, path))
        if self.refuse_with:
            raise HTTPClientError(self.refuse_with, "refused by the mock hub")
        parts = urlparse(path).path.strip("/").split("/")
        if parts == ["users"] and method == "GET":
            return list(self.users.values())
        if len(parts) < 2 or parts[0] != "users" or parts[1] not in self.users:
            raise HTTPClientError(404, "Not Found")
        user = self.users[parts[1]]
        if len(parts) == 2 and method == "GET":
            return user
        if parts[2:] == ["server"] and method == "DELETE":
            user["servers"].pop("", None)
            return None
        if parts[2:] == ["server"] and method == "POST":
            if "" in user["servers"]:
                raise HTTPClientError(400, "already running")
            self.start(parts[1])
            return None
        raise HTTPClientError(405, "Method Not Allowed")

    async def get(self, path: str) -> Any:
        return await self.request("GET", path)


NODES = (
    "NodeName=n1 CPUTot=32 State=MIXED Partitions=cpu,gpu CfgTRES=cpu=32,mem=64G,gres/gpu=4 "
    "AllocTRES=cpu=2,gres/gpu=1\n"
)
QUEUE = "12|alice|ai-alpha|gpu|RUNNING|None|2026-11-27T10:00:00|5:01|1|jupyterhub-session\n"
SACCT = (
    "101|aifactory|ai-alpha|alice|cpu|COMPLETED|2026-11-02T10:00:00|2026-11-02T11:00:00|3600|"
    "billing=2,cpu=2,mem=4G\n"
)


class ScriptedSlurm:
    """Slurm's commands behind the service's async runner seam (the cluster monitor's and the
    accounting collector's `runner`): canned output per command, every argv recorded."""

    def __init__(self, outputs: dict[str, str] | None = None):
        self.outputs = outputs if outputs is not None else {
            "scontrol": NODES, "squeue": QUEUE, "sacct": SACCT,
        }  # fmt: skip
        self.argvs: list[list[str]] = []

    async def __call__(self, argv: list[str], **_: Any) -> slurm.CommandResult:
        self.argvs.append(list(argv))
        return slurm.CommandResult(tuple(argv), 0, self.outputs.get(argv[0], ""), "")

    @property
    def commands(self) -> list[str]:
        return [argv[0] for argv in self.argvs]


class RecordingProvisioner:
    """Provisioning through `access.projects.provision_project` with its own `runner` seam:
    the store records the run as it does for real (the project becomes active), but no
    sacctmgr runs; the grants it was asked to apply are kept."""

    def __init__(self) -> None:
        self.grants: list[provision.Grant] = []
        self.removed: list[str] = []

    def __call__(self, store: sessionmaker[Session], cluster: str, account: str):
        return prj.provision_project(store, cluster, account, runner=self._apply)

    def remove_data(self, storage, account: str) -> list:
        """Removing an ended project's folders: recorded, nothing deleted."""
        self.removed.append(account)
        return []

    def _apply(self, grant: provision.Grant, cluster: str, record) -> list[provision.Step]:
        self.grants.append(grant)
        return []

    @property
    def accounts(self) -> list[str]:
        return [g.account for g in self.grants]


class StoreOnlyWorkshops:
    """The workshop steps that reach Slurm and the accounts (`workshops.lifecycle`'s create,
    extend, teardown), done in the store only: a workshop gets its rows and participants'
    passwords, but no POSIX accounts, project or reservation. Every step is recorded."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def create(self, store, site: Site, trainer: str, body: plan.NewWorkshop):
        with store.begin() as db:
            ws = m.Workshop(
                title=body.title, trainer=trainer, starts_at=body.starts_at,
                ends_at=body.ends_at, partition=body.partition, cpus=body.cpus,
                memory_gb=body.memory_gb, gpus=body.gpus, materials=body.materials,
                environment=body.environment, account="", reservation="", status="active",
            )  # fmt: skip
            db.add(ws)
            db.flush()
            account, reservation, users = plan.names(ws.id, body.participants, "test")
            ws.account, ws.reservation = account, reservation
            ws.people = [m.WorkshopParticipant(username=u) for u in users]
            workshop_id = ws.id
        self.calls.append(("create", workshop_id))
        return workshop_id, {u: f"pw-{u}" for u in users}

    def extend(self, store, trainer: str, workshop_id: int, ends_at: datetime) -> None:
        with store.begin() as db:
            ws = life.get(db, trainer, workshop_id)
            life.check_extension(ws, ends_at)  # the real refusals; only Slurm is left out
            ws.ends_at = ends_at
        self.calls.append(("extend", workshop_id))

    def teardown(self, store, site: Site, workshop_id: int, actor: str) -> list[str]:
        with store.begin() as db:
            ws = db.get(m.Workshop, workshop_id)
            ws.status, ws.ended_at = "ended", datetime.now(UTC)
        self.calls.append(("end", workshop_id))
        return []


def slurm_steps(provisioner: RecordingProvisioner, workshops: StoreOnlyWorkshops) -> SlurmSteps:
    return SlurmSteps(
        provision=provisioner,
        create_workshop=workshops.create,
        extend_workshop=workshops.extend,
        end_workshop=workshops.teardown,
        remove_data=provisioner.remove_data,
    )
