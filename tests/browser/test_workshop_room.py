"""A trainer's room view in a real browser: a participant raises a hand and the trainer sees
it, without reloading the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.access import api, ok
from tests.browser.conftest import login
from tests.stack import HubClient

pytestmark = [pytest.mark.slurm, pytest.mark.hub, pytest.mark.browser]


@pytest.fixture(scope="module")
def room(hub):
    start = datetime.now(UTC).replace(microsecond=0)
    body = {"title": "Room view demo", "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=1)).isoformat(), "participants": 2,
            "partition": "cpu"}  # fmt: skip
    made = ok(api(hub, "POST", "workshops", "tess", json=body), 201)
    people = HubClient(hub.site, {c["username"]: c["password"] for c in made["credentials"]})
    yield made["workshop"], people
    ok(api(hub, "POST", f"workshops/{made['workshop']['id']}/end", "tess"))


def test_the_trainer_sees_a_raised_hand(hub, browser, artifacts, room):
    ws, people = room
    user = sorted(people.passwords)[1]
    page = login(browser, hub, "tess")
    try:
        page.goto(f"{hub.url}/services/console/")
        page.click("text=Workshops")
        page.locator(f"text={ws['title']} >> visible=true").first.wait_for(timeout=60_000)
        headers = {"Authorization": f"token {people.token(user)}"}
        raised = requests.post(
            f"{hub.url}/services/factory/api/workshops/mine/hand", headers=headers, timeout=30
        )
        assert raised.status_code == 200
        # the room refreshes itself (browser timer): no reload
        page.locator("text=1 raised hand >> visible=true").first.wait_for(timeout=60_000)
        assert "No raised hands." not in page.inner_text("body")
        assert f"✋ 1 raised hand: {user}" in page.inner_text("body")
        page.screenshot(path=str(artifacts / "console-workshop-room.png"), full_page=True)
    finally:
        page.close(run_before_unload=True)
