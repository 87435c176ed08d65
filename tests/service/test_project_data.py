"""In-process: an ended project's data and its retention period. Ending a project starts the
clock; staff may remove its folders only once the site's retention period is over, once; a
researcher never may. The removal itself is recorded, not run (the real removal of real
folders is in tests/slurm/test_project_folders.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from aifactory_hub.store import models as m
from tests.service.world import ok


async def test_staff_remove_an_ended_projects_data_after_retention_and_only_once(
    client, world, provisioner
):
    path = f"projects/{world['ended']}/data/remove"
    done = await ok(await client.call("POST", path, "sam"))
    assert provisioner.removed == [world["ended"]]
    assert done["data_removed_at"] is not None and done["ended_at"] is not None
    again = await client.call("POST", path, "sam")
    assert again.status == 409 and "removed already" in again.text
    assert provisioner.removed == [world["ended"]]


async def test_a_researcher_cannot_remove_project_data(client, world, provisioner):
    answer = await client.call("POST", f"projects/{world['ended']}/data/remove", "dave")
    assert answer.status == 403
    assert provisioner.removed == []


async def test_a_running_projects_data_stays(client, world, provisioner):
    answer = await client.call("POST", f"projects/{world['project']}/data/remove", "sam")
    assert answer.status == 409 and "has not ended" in answer.text
    assert provisioner.removed == []


@pytest.mark.parametrize("days_ago", [0, 5])
async def test_data_inside_its_retention_period_stays(client, world, store, provisioner, site,
                                                      days_ago):  # fmt: skip
    answer = await client.call("POST", f"projects/{world['project']}/end", "sam")
    assert answer.status == 200 and answer.json()["ended_at"] is not None
    with store.begin() as db:
        project = db.query(m.Project).filter_by(account=world["project"]).one()
        project.ended_at = datetime.now(UTC) - timedelta(days=days_ago)
    answer = await client.call("POST", f"projects/{world['project']}/data/remove", "sam")
    assert answer.status == 409, answer.text
    assert f"{site.storage.retention_days} days after it ended" in answer.text
    assert provisioner.removed == []


async def test_ending_a_project_empties_its_group_in_the_grant(client, world, provisioner):
    await ok(await client.call("POST", f"projects/{world['project']}/end", "sam"))
    assert provisioner.grants[-1].active is False
