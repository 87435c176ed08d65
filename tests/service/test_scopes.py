"""In-process: every operation refuses a caller without its scopes (403, naming the scope)
and a request without a valid hub token (401), with the JSON error body, before it reads a
body or touches the store, the hub or Slurm. Generated from the route records' scopes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aifactory_hub.service.app import ROUTES
from aifactory_hub.site import scopes
from aifactory_hub.store import models as m
from tests.service.client import EVERY_SCOPE, concrete, label

GUARDED = [r for r in ROUTES if r.scopes]
REFUSALS = [(route, scope) for route in GUARDED for scope in route.scopes]


def nothing_happened(store, hub, slurm_commands, provisioner, workshops) -> None:
    with store() as db:
        assert db.scalar(select(func.count()).select_from(m.Event)) == 0
    assert hub.calls == [] and slurm_commands.argvs == []
    assert provisioner.grants == [] and workshops.calls == []


def test_the_public_operations_are_only_health_and_the_description():
    assert sorted(r.path for r in ROUTES if not r.scopes) == ["health", "openapi.json"]


def test_the_scopes_are_the_projects_own():
    assert set(EVERY_SCOPE) == {scopes.FACTORY_ACCESS, scopes.PLAYGROUND_GRANT,
                                *scopes.STAFF_SCOPES} - {scopes.PROPOSALS_REVIEW}  # fmt: skip


@pytest.mark.parametrize(
    ("route", "scope"), REFUSALS, ids=[f"{label(r)} without {s}" for r, s in REFUSALS]
)
async def test_an_operation_without_its_scope_is_refused(
    client, route, scope, store, hub, slurm_commands, provisioner, workshops
):
    token = client.auth.token("mallory", [s for s in EVERY_SCOPE if s != scope])
    answer = await client.call(route.method.upper(), concrete(route), token=token, data=b"{")
    assert answer.status == 403, answer.text
    assert answer.headers["Content-Type"] == "application/json"
    assert answer.json() == {
        "status": 403, "message": f"mallory lacks the scope {scope}", "field": "",
    }  # fmt: skip
    nothing_happened(store, hub, slurm_commands, provisioner, workshops)


@pytest.mark.parametrize("route", GUARDED, ids=label)
async def test_an_operation_without_a_valid_token_is_refused(
    client, route, store, hub, slurm_commands, provisioner, workshops
):
    method, path = route.method.upper(), concrete(route)
    missing = await client.call(method, path)
    assert missing.status == 401
    assert missing.json() == {
        "status": 401,
        "message": "a hub token is required (Authorization: token ...)",
        "field": "",
    }
    unknown = await client.call(method, path, token="not-a-token-the-hub-made")
    assert unknown.status == 401
    assert unknown.json() == {"status": 401, "message": "the token is not valid", "field": ""}
    nothing_happened(store, hub, slurm_commands, provisioner, workshops)


@pytest.mark.parametrize(
    ("user", "path", "allowed"),
    [
        ("alice", "cluster", False),  # a researcher
        ("tess", "cluster", False),  # a trainer
        ("rita", "cluster", False),  # a reviewer
        ("sam", "cluster", True),  # support
        ("ada", "cluster", True),  # an admin holds every staff role
        ("alice", "workshops", False),
        ("tess", "workshops", True),
        ("alice", "usage/billing", False),
        ("sam", "usage/billing", True),
    ],
)
async def test_the_demo_roles_hold_the_scopes_the_hub_gives_them(client, user, path, allowed):
    answer = await client.call("GET", path, user)
    assert (answer.status == 200) is allowed, answer.text
    if not allowed:
        assert answer.status == 403 and "lacks the scope custom:aifactory:" in answer.text
