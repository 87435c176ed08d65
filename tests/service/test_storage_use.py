"""In-process: the storage meter behind the usage API. Staff's "measure now" walks every live
project's folders (the demo site's, moved under a temporary folder by conftest) in a worker
thread and purges old scratch files; the quota answer carries the figures against the access
mode's allowance with the warning level and the folders' paths; the funder report lists
storage per project; a researcher cannot trigger a pass."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from aifactory_hub.data import folder, storage_use
from aifactory_hub.data.scan import measure
from aifactory_hub.service import tasks
from aifactory_hub.store import models as m
from tests.service.world import PROJECT, ok


def du(path: Path) -> int:
    out = subprocess.run(["du", "-s", "--block-size=1", str(path)], capture_output=True,
                         text=True, check=True).stdout  # fmt: skip
    return int(out.split()[0])


@pytest.fixture
def folders(site):
    """The in-process project's folders, filled, and ai-alpha's project folder; removed after."""
    made = []
    for which, account in (("project", PROJECT), ("scratch", PROJECT), ("project", "ai-alpha")):
        path = Path(folder(site.storage, which, account))
        path.mkdir(parents=True)
        made.append(path)
    project, scratch, alpha = made
    (project / "data").mkdir()
    (project / "data" / "train.npz").write_bytes(os.urandom(300_000))
    (project / "notes.md").write_text("what we tried\n")
    (scratch / "fresh.ckpt").write_bytes(os.urandom(50_000))
    (scratch / "old.ckpt").write_bytes(os.urandom(80_000))
    when = (datetime.now(UTC) - timedelta(days=site.storage.scratch_purge_days + 1)).timestamp()
    os.utime(scratch / "old.ckpt", (when, when))
    os.symlink("/etc", scratch / "to-etc")  # fresh: stays; never followed
    (alpha / "weights.pt").write_bytes(os.urandom(20_000))
    yield {"project": project, "scratch": scratch, "alpha": alpha}
    for path in made:
        shutil.rmtree(path)


async def test_measure_now_stores_what_du_counts_and_purges_old_scratch(
    client, world, store, folders
):
    answer = await ok(await client.call("POST", "usage/storage", "sam"))
    assert answer["last_error"] == "" and answer["last_success_at"] and not answer["stale"]
    assert answer["purged"] == 1 and answer["purged_bytes"] > 0
    assert not (folders["scratch"] / "old.ckpt").exists()
    assert os.path.islink(folders["scratch"] / "to-etc") and Path("/etc/passwd").exists()
    with store() as db:
        rows = {(r.account, r.folder): r for r in db.query(m.StorageUse)}
    project = rows[(PROJECT, "project")]
    assert project.bytes == du(folders["project"]) and project.files == 4 and project.complete
    assert rows[(PROJECT, "scratch")].bytes == du(folders["scratch"])
    assert rows[(PROJECT, "scratch")].files == 3  # the folder, fresh.ckpt and the link
    assert rows[("ai-alpha", "project")].bytes == du(folders["alpha"])
    assert rows[("ai-beta", "project")].error == storage_use.MISSING  # never made: not a crash


async def test_the_quota_answer_shows_storage_against_the_allowance(client, world, site, folders):
    await ok(await client.call("POST", "usage/storage", "sam"))
    answer = await ok(await client.call("GET", f"usage/projects/{PROJECT}", "carol"))
    storage = answer["project"]["storage"]
    used = du(folders["project"]) + du(folders["scratch"])
    assert storage["bytes"] == used and storage["used_gb"] == pytest.approx(used / 1e9, abs=1e-6)
    assert storage["files"] == 4 + 3 and not storage["lower_bound"]
    assert storage["allowance_gb"] == site.storage.allowance("fast_lane")
    assert storage["percent"] == pytest.approx(
        100 * used / (storage["allowance_gb"] * 1e9), abs=1e-4
    )
    assert storage["level"] == "none" and storage["measured_at"]
    paths = {f["env"]: f["path"] for f in storage["folders"]}
    assert paths == {"PROJECT_DIR": str(folders["project"]),
                     "SCRATCH_DIR": str(folders["scratch"])}  # fmt: skip
    assert answer["storage"]["last_success_at"]

    mine = await ok(await client.call("GET", "usage", "alice"))  # ai-alpha: a site project
    alpha = next(p for p in mine["projects"] if p["account"] == "ai-alpha")["storage"]
    assert alpha["allowance_gb"] == site.storage.allowance(None)  # the "site" allowance
    assert alpha["bytes"] == du(folders["alpha"])
    scratch = next(f for f in alpha["folders"] if f["folder"] == "scratch")
    assert scratch["measured"] and not scratch["exists"] and scratch["error"] == ""


async def test_before_any_pass_the_answer_says_not_measured(client, world):
    answer = await ok(await client.call("GET", f"usage/projects/{PROJECT}", "carol"))
    storage = answer["project"]["storage"]
    assert not storage["measured"] and storage["used_gb"] is None and storage["level"] == "none"
    assert answer["storage"]["stale"] and answer["storage"]["last_success_at"] is None


async def test_the_funder_report_lists_storage_per_project(client, world, folders):
    await ok(await client.call("POST", "usage/storage", "sam"))
    report = await ok(await client.call("GET", "usage/funder?from=2026-01-01&to=2026-12-31",
                                        "sam"))  # fmt: skip
    rows = {r["account"]: r for r in report["storage"]}
    assert rows[PROJECT]["used_gb"] == pytest.approx(
        (du(folders["project"]) + du(folders["scratch"])) / 1e9, abs=1e-6
    )
    assert rows[PROJECT]["access_mode"] == "fast_lane" and rows["ai-alpha"]["access_mode"] == "site"
    totals = report["storage_totals"]
    assert totals["used_gb"] == pytest.approx(sum(r["used_gb"] or 0 for r in rows.values()))


async def test_a_researcher_cannot_trigger_a_pass(client, world, store):
    answer = await client.call("POST", "usage/storage", "bob")
    assert answer.status == 403
    with store() as db:
        assert db.query(m.StorageUse).count() == 0


async def test_an_ended_project_is_not_measured(client, world, store, site, folders):
    with store.begin() as db:
        project = db.query(m.Project).filter_by(account=PROJECT).one()
        project.status, project.ended_at = "ended", datetime.now(UTC)
    await ok(await client.call("POST", "usage/storage", "sam"))
    with store() as db:
        accounts = {r.account for r in db.query(m.StorageUse)}
    assert PROJECT not in accounts and "ai-alpha" in accounts
    assert (folders["scratch"] / "old.ckpt").exists()  # frozen for retention: not purged


async def test_the_pass_runs_in_a_worker_thread_never_on_the_event_loop(
    client, world, store, site, monkeypatch
):
    loop_thread = threading.get_ident()
    seen = []

    def slow_scan(path, bound):
        seen.append(threading.get_ident())
        time.sleep(0.05)
        return measure(path, bound)

    meter = storage_use.shared_meter(store, site)
    monkeypatch.setattr(meter, "scanner", slow_scan)
    passing = asyncio.create_task(meter.run_once())
    ticks = 0
    while not passing.done():  # the loop keeps turning while the folders are walked
        ticks += 1
        await asyncio.sleep(0.01)
    await passing
    assert seen and loop_thread not in seen and ticks > 5


async def test_the_service_starts_the_periodic_pass(context, store, site, monkeypatch):
    started = []
    meter = storage_use.shared_meter(store, site)
    done = asyncio.get_running_loop().create_task(asyncio.sleep(0))
    monkeypatch.setattr(meter, "start", lambda: started.append(meter) or done)
    monkeypatch.setattr(context.collector, "start", lambda: done)
    monkeypatch.setattr(tasks, "end_due_workshops", lambda _c: asyncio.sleep(0))
    tasks.start(context)
    assert started == [meter]
    await asyncio.sleep(0)


async def test_the_figures_of_removed_data_are_dropped(client, world, store, folders):
    await ok(await client.call("POST", "usage/storage", "sam"))
    with store.begin() as db:
        project = db.query(m.Project).filter_by(account=PROJECT).one()
        now = datetime.now(UTC)
        project.status, project.ended_at, project.data_removed_at = "ended", now, now
    await ok(await client.call("POST", "usage/storage", "sam"))
    with store() as db:
        assert db.query(m.StorageUse).filter_by(account=PROJECT).count() == 0
        assert db.query(m.StorageUse).filter_by(account="ai-alpha").count() == 2
    report = await ok(await client.call("GET", "usage/funder", "sam"))
    assert PROJECT not in {r["account"] for r in report["storage"]}


async def test_a_failed_pass_is_recorded_and_the_figures_stay(client, world, store, site, folders):
    await ok(await client.call("POST", "usage/storage", "sam"))
    meter = storage_use.shared_meter(store, site)

    def broken(path, bound):
        raise RuntimeError("the filesystem went away")

    original = meter.scanner
    meter.scanner = broken
    try:
        state = await ok(await client.call("POST", "usage/storage", "sam"))
    finally:
        meter.scanner = original
    assert state["last_error"] == "the filesystem went away" and state["stale"]
    answer = await ok(await client.call("GET", f"usage/projects/{PROJECT}", "carol"))
    assert answer["project"]["storage"]["bytes"] == du(folders["project"]) + du(folders["scratch"])
    assert answer["storage"]["last_error"] == "the filesystem went away"
    state = await ok(await client.call("POST", "usage/storage", "sam"))
    assert state["last_error"] == "" and not state["stale"]  # the next pass clears it
