"""In-process: staff asking for one project's usage get exactly what the every-project view
says of it, read by itself (the service load run found that each such request loaded every
project in the store first)."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from aifactory_hub.store import models as m
from tests.service.world import PROJECT, ok


@pytest.mark.parametrize("account", [PROJECT, "ai-alpha"])  # a store project, a site-file one
async def test_staff_one_project_is_the_every_project_views_entry(client, world, account):
    everyone = await ok(await client.call("GET", "usage?all=1", "sam"))
    entry = [p for p in everyone["projects"] if p["account"] == account]
    assert len(entry) == 1 and len(everyone["projects"]) > 1
    one = (await ok(await client.call("GET", f"usage/projects/{account}", "sam")))["project"]

    def figures(project: dict) -> dict:  # all but the moment the figures were read
        return {k: v for k, v in project.items() if k != "as_of"}

    assert figures(one) == figures(entry[0])


async def test_staff_one_project_loads_that_project_alone(client, world, store):
    with store() as db:
        in_store = db.query(m.Project).count()
    assert in_store > 1, "the world has other projects to leave unread"
    loaded: list[str] = []

    def on_load(target: m.Project, context) -> None:  # every Project row the ORM builds
        loaded.append(target.account)

    event.listen(m.Project, "load", on_load)
    try:
        await ok(await client.call("GET", f"usage/projects/{PROJECT}", "sam"))
    finally:
        event.remove(m.Project, "load", on_load)
    assert loaded == [PROJECT]


async def test_a_project_unknown_to_staff_is_404(client, world):
    answer = await client.call("GET", "usage/projects/no-such-project", "sam")
    assert answer.status == 404
