"""In-process: a workshop naming a site environment: stored and shown when the site offers it
on the workshop's partition, refused with 400 naming `environment` otherwise, no workshop made."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from aifactory_hub.site import DEMO_SITE, Site, load_site
from aifactory_hub.store import models as m
from tests.service.world import ok, workshop_body


@pytest.fixture(scope="module")
def site() -> Site:
    """The demo site with `jax` offered on the GPU partition only."""
    demo = load_site(DEMO_SITE)
    envs = [
        e.model_copy(update={"partitions": ["gpu"]}) if e.name == "jax" else e
        for e in demo.environments
    ]
    return demo.model_copy(update={"environments": envs})


def workshops_count(store) -> int:
    with store() as db:
        return db.scalar(select(func.count()).select_from(m.Workshop))


async def test_a_workshop_stores_and_shows_its_environment(client, store):
    body = {**workshop_body(2), "environment": "pytorch"}
    made = await ok(await client.call("POST", "workshops", "tess", body), 201)
    assert made["workshop"]["environment"] == "pytorch"
    wid = made["workshop"]["id"]
    shown = await ok(await client.call("GET", f"workshops/{wid}", "tess"))
    assert shown["environment"] == "pytorch"
    listed = await ok(await client.call("GET", "workshops", "tess"))
    assert [w["environment"] for w in listed] == ["pytorch"]
    with store() as db:
        assert db.get(m.Workshop, wid).environment == "pytorch"
    plain = await ok(await client.call("POST", "workshops", "tess", workshop_body(1)), 201)
    assert plain["workshop"]["environment"] == ""  # the partition's default at each spawn


@pytest.mark.parametrize(
    ("environment", "message"),
    [
        ("tensorflow", "unknown environment 'tensorflow' (the site has factory, pytorch, jax)"),
        ("jax", "jax is not offered on cpu (offered there: factory, pytorch)"),
        ("Bad Name", "String should match pattern"),
    ],
)
async def test_a_workshop_with_an_environment_not_offered_is_refused(
    client, store, workshops, environment, message
):
    body = {**workshop_body(2), "environment": environment}
    answer = await client.call("POST", "workshops", "tess", body)
    assert answer.status == 400, answer.text
    assert answer.json()["field"] == "environment"
    assert message in answer.json()["message"]
    assert workshops.calls == [] and workshops_count(store) == 0
