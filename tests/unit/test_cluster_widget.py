"""The cluster view widget, headless: what it shows, the stop that asks first, and errors."""

from __future__ import annotations

import html

from aifactory_widgets import ClusterView, FactoryError
from aifactory_widgets.ui.tables import html_table

XSS = "<img src=x onerror=alert(1)>"
SNAPSHOT = {
    "taken_at": 0,
    "partitions": [
        {
            "name": "gpu",
            "nodes": 1,
            "nodes_up": 1,
            "cpus_total": 32,
            "cpus_alloc": 2,
            "cpus_free": 30,
            "gpus_total": 4,
            "gpus_alloc": 1,
            "gpus_free": 3,
        },
    ],
    "nodes": [
        {
            "name": "gpu1",
            "partitions": ["gpu"],
            "state": "MIXED",
            "reason": "",
            "usable": True,
            "cpus_total": 32,
            "cpus_alloc": 2,
            "gpus_total": 4,
            "gpus_alloc": 1,
        },
        {
            "name": "gpu2",
            "partitions": ["gpu"],
            "state": "IDLE+DRAIN",
            "reason": XSS,
            "usable": False,
            "cpus_total": 32,
            "cpus_alloc": 0,
            "gpus_total": 4,
            "gpus_alloc": 0,
        },
    ],
    "queue": [
        {
            "id": "13",
            "name": XSS,
            "user": "bob",
            "account": "ai-beta",
            "partition": "cpu",
            "state": "PENDING",
            "reason": "Resources",
            "expected_start": "",
            "elapsed": "0:00",
            "nodes": 1,
        },
    ],
    "sessions": [
        {
            "user": "alice",
            "job_id": "12",
            "project": "ai-alpha",
            "partition": "gpu",
            "ready": True,
            "pending": "",
            "started": "2026-11-27T10:00:00.1Z",
            "last_activity": "2026-11-27T10:05:00Z",
        },
    ],
    "errors": {},
}


class FakeClient:
    def __init__(self, fail_with: FactoryError | None = None):
        self.deleted: list[str] = []
        self.gets = 0
        self.fail_with = fail_with

    def get(self, path):
        assert path == "api/cluster"
        self.gets += 1
        if self.fail_with:
            raise self.fail_with
        return SNAPSHOT

    def delete(self, path):
        self.deleted.append(path)


def _labels(box) -> list[str]:
    return [c.value for c in box.children if hasattr(c, "value")]


def test_escaped_table():
    table = html_table(["name"], [[XSS]])
    assert XSS not in table and html.escape(XSS) in table


def test_view_shows_partitions_nodes_queue_and_sessions():
    client = FakeClient()
    view = ClusterView(client, refresh_s=5)
    assert client.gets == 1
    assert "30" in view.partitions.value and "1 / 3 / 4" in view.partitions.value
    assert html.escape(XSS) in view.queue.value and XSS not in view.queue.value
    assert "gpu1" in view.nodes.value and "2 / 32" in view.nodes.value
    # a drained node says so, with the admin's reason (escaped)
    assert "IDLE+DRAIN (takes no new jobs)" in view.nodes.value
    assert html.escape(XSS) in view.nodes.value and XSS not in view.nodes.value
    _header, row = view.sessions.children
    assert _labels(row)[:5] == ["alice", "ai-alpha", "gpu", "12", "running"]
    assert _labels(row)[5] == "2026-11-27 10:00 UTC"
    assert "refreshes every 5 s" in view.status.value
    assert view.timer.interval == 5000 and view.timer.repeat


def test_the_browser_timer_drives_refreshes():
    client = FakeClient()
    view = ClusterView(client, refresh_s=5)
    view.timer.value += 1  # what the Play widget's tick in the browser does
    view.timer.value += 1
    assert client.gets == 3


async def test_timer_is_nudged_until_the_page_ticks_then_left_alone():
    view = ClusterView(FakeClient())
    view.timer.value += 1
    assert await view.start_timer(every_s=0.01, give_up_s=0.05) is True
    unseen = ClusterView(FakeClient())
    assert await unseen.start_timer(every_s=0.01, give_up_s=0.05) is False
    assert unseen.timer.playing is False and "Refresh now" in unseen.message.value


def test_stop_asks_first_then_stops():
    client = FakeClient()
    view = ClusterView(client)
    stop_button = view.sessions.children[1].children[-1]
    stop_button.click()
    assert client.deleted == []  # only asked
    assert view.confirm.asking
    assert "Stop alice's session (Slurm job 12)?" in view.confirm.question.value
    cancel = view.confirm.no
    cancel.click()
    assert client.deleted == [] and not view.confirm.asking
    stop_button.click()
    view.confirm.yes.click()
    assert client.deleted == ["api/sessions/alice"]
    assert "Stopping alice's session" in view.message.value


def test_a_refusal_is_shown_not_raised():
    view = ClusterView(FakeClient(fail_with=FactoryError(403, "sam lacks the scope x")))
    assert "Could not refresh: sam lacks the scope x" in view.status.value
