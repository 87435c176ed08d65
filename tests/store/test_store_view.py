"""The hub's one read of the store (hubside/store_view.py): one session, in a worker thread."""

from __future__ import annotations

import asyncio
import threading

from aifactory_hub.hubside import store_view as sv
from aifactory_hub.site import DEMO_SITE, Site, load_site
from aifactory_hub.store import models as m

from . import sample


def site_on(store_url: str) -> Site:
    site = load_site(DEMO_SITE)
    services = site.services.model_copy(update={"store_url": store_url})
    return site.model_copy(update={"services": services})


def test_one_read_gives_projects_quotas_and_no_workshop(store, store_url):
    with store.begin() as db:
        project = sample.project(account="ai-view", pi="alice", status="active")
        project.members = [
            m.Member(username="alice", role="pi", added_by="ada"),
            m.Member(username="bob", role="member", added_by="alice"),
        ]
        project.allocations = [m.Allocation(partition="gpu", gpu_hours=10.0)]
        db.add(project)

    view = sv.read_store_view(site_on(store_url), "bob")

    assert [p.account for p in view.projects] == ["ai-view"]
    assert view.projects[0].partitions == ["gpu"] and view.projects[0].members == ["alice", "bob"]
    assert set(view.quotas) == {"ai-view"}
    assert view.workshop is None
    # the spawn form's price terms come with the same read
    assert view.price_terms == {"ai-view": (project.access_mode, project.charged)}
    # someone who is in no project sees nothing of it (a readable store: no terms, not None)
    assert sv.read_store_view(site_on(store_url), "carol") == sv.StoreView(price_terms={})


def test_a_project_without_allocations_is_left_out_and_hides_nothing(store, store_url):
    """It has no partition to offer; before, its invalid row emptied the user's whole view."""
    with store.begin() as db:
        for account, hours in (("ai-view", 10.0), ("ai-bare", None)):
            project = sample.project(account=account, pi="alice", status="active")
            project.members = [m.Member(username="alice", role="pi", added_by="ada")]
            if hours is not None:
                project.allocations = [m.Allocation(partition="gpu", gpu_hours=hours)]
            db.add(project)

    view = sv.read_store_view(site_on(store_url), "alice")

    assert [p.account for p in view.projects] == ["ai-view"]


def test_an_unreadable_store_gives_an_empty_view(tmp_path, caplog):
    # not migrated: every table is missing
    view = sv.read_store_view(site_on(f"sqlite:///{tmp_path / 'empty.sqlite'}"), "bob")
    assert view == sv.StoreView()
    assert view.price_terms is None  # the form then says the price is unknown
    assert "store view of bob unavailable" in caplog.text


def test_the_read_runs_off_the_event_loop(monkeypatch):
    threads: list[int] = []

    def read(site: Site, username: str) -> sv.StoreView:
        threads.append(threading.get_ident())
        return sv.StoreView()

    monkeypatch.setattr(sv, "read_store_view", read)

    async def main() -> sv.StoreView:
        loop_thread = threading.get_ident()
        view = await sv.store_view(load_site(DEMO_SITE), "bob")
        assert threads and threads[0] != loop_thread
        return view

    assert asyncio.run(main()) == sv.StoreView()
