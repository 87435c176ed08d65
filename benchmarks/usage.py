"""The usage and billing dashboard's data path on a big store: 1,000 projects, 100,000 jobs.

Not a timed test: a harness that reports. It builds a store (SQLite in a temporary directory
by default, or the empty database at --store-url), serves the real factory service app on a
loopback port (hub authentication replaced by an allow-all double, so only the service's own
work is timed), and measures:
- the service's answers the staff dashboard asks for (billing, its CSV, the funder report),
  a researcher's `GET usage`, and the spawn form's store read (`spawn_quotas`);
- the dashboard widget itself (`UsageDesk`: three requests, tables, the CSV link);
- processes started during all of that (sacct or any other): must be 0, since pages read the
  store and only the collector talks to slurmdbd.

    /opt/aifactory/venv/bin/python benchmarks/usage.py --projects 1000 --jobs 100000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import insert

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hub"), str(ROOT / "extensions")]

from aifactory_hub import slurm  # noqa: E402
from aifactory_hub.site import load_site  # noqa: E402
from aifactory_hub.store import db as store_db  # noqa: E402
from aifactory_hub.store import models as m  # noqa: E402
from aifactory_hub.usage import collector as accounting  # noqa: E402
from aifactory_hub.usage import ledgers as usage  # noqa: E402

MODES = ("playground", "fast_lane", "fast_lane", "large_scale")
TYPES = ("startup_sme", "industry", "academia", "public_research")
USERS = [f"user{i:04d}" for i in range(600)]


class AllowAll:
    """HubAuth double: every token is sam's, with every scope (auth is not what is timed).
    The usage pages never call the hub, so its API address is never used."""

    api_url = "http://127.0.0.1:9/hub/api"
    api_token = ""

    async def user_for_token(self, token: str, sync: bool = False) -> dict[str, Any]:
        return {"name": "sam", "scopes": []}

    def check_scopes(self, required: set[str], model: dict[str, Any]) -> set[str]:
        return set(required)


def fill(store, projects: int, jobs: int, now: datetime, seed: int = 7) -> None:
    """Calls, proposals, projects with allocations and members, jobs over the last 120 days."""
    rnd = random.Random(seed)  # noqa: S311 - synthetic test data, not secrets
    today = now.date()
    with store.begin() as db:
        calls = [m.Call(mode=mode, title=mode, opens_at=now - timedelta(days=400),
                        deadline=now, status="decided", created_by="sam")
                 for mode in ("playground", "fast_lane", "large_scale")]  # fmt: skip
        db.add_all(calls)
        db.flush()
        call_of = {c.mode: c.id for c in calls}
        for i in range(projects):
            mode = MODES[i % len(MODES)]
            starts = today - timedelta(days=rnd.randint(0, 150))
            proposal_id = None
            if mode != "playground":
                proposal = m.Proposal(
                    call_id=call_of[mode], applicant=USERS[i % len(USERS)], organisation="Org",
                    applicant_type=TYPES[i % len(TYPES)], access_mode=mode, title=f"P{i}",
                    status="granted", version=1,
                )  # fmt: skip
                db.add(proposal)
                db.flush()
                proposal_id = proposal.id
            project = m.Project(
                account=f"prj-{i:04d}", title=f"Project {i}", organisation="Org",
                pi=USERS[i % len(USERS)], access_mode=mode, proposal_id=proposal_id,
                starts_on=starts, ends_on=starts + timedelta(days=180), status="active",
                charged=mode != "playground" and i % 3 == 0,
            )  # fmt: skip
            project.allocations = [
                m.Allocation(partition="gpu", gpu_hours=rnd.choice((10, 500, 5000)), cpu_hours=0),
                m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=rnd.choice((100, 5000))),
            ]
            members = {USERS[i % len(USERS)], *rnd.sample(USERS, 2)}
            project.members = [
                m.Member(username=u, role="pi" if u == project.pi else "member", added_by="b")
                for u in sorted(members)
            ]
            db.add(project)
        rows = []
        for j in range(jobs):
            start = now - timedelta(seconds=rnd.randint(60, 120 * 86400))
            seconds = rnd.randint(60, 8 * 3600)
            end = start + timedelta(seconds=seconds)
            running = end > now
            gpus = rnd.choice((0, 0, 1, 2))
            cpus = rnd.choice((1, 2, 4, 8))
            elapsed = (now - start).total_seconds() if running else seconds
            rows.append({
                "job_id": str(100000 + j), "cluster": "aifactory",
                "account": f"prj-{rnd.randrange(projects):04d}", "user": rnd.choice(USERS),
                "partition": "gpu" if gpus else "cpu", "state": "RUNNING" if running else
                "COMPLETED", "start": start, "end": None if running else end,
                "cpu_seconds": elapsed * cpus, "gpu_seconds": elapsed * gpus,
                "final": not running, "updated_at": now,
            })  # fmt: skip
        for chunk in range(0, len(rows), 5000):
            db.execute(insert(m.UsageJob), rows[chunk : chunk + 5000])
        db.add(m.CollectorState(name=accounting.NAME, watermark=now - timedelta(minutes=10),
                                last_run_at=now, last_success_at=now, last_error=""))  # fmt: skip


class ProcessCounter:
    """Counts every process started (slurm.run/arun and subprocess), i.e. sacct calls too."""

    def __init__(self):
        self.count = 0
        self._popen = subprocess.Popen.__init__

    def __enter__(self) -> ProcessCounter:
        counter, original = self, subprocess.Popen.__init__

        def counting(popen, *args, **kwargs):
            counter.count += 1
            return original(popen, *args, **kwargs)

        subprocess.Popen.__init__ = counting
        self._arun = slurm.arun

        async def arun(*args, **kwargs):
            counter.count += 1
            return await self._arun(*args, **kwargs)

        slurm.arun = arun
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.Popen.__init__ = self._popen
        slurm.arun = self._arun


def serve(site, store) -> tuple[str, asyncio.AbstractEventLoop]:
    """The factory service's real app on a free loopback port, in a thread."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from aifactory_hub.service.app import make_app, real_context

    loop = asyncio.new_event_loop()
    ready = threading.Event()
    port: list[int] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        app = make_app("/services/factory/", real_context(site, store, AllowAll()))
        sockets = bind_sockets(0, "127.0.0.1")
        port.append(sockets[0].getsockname()[1])
        HTTPServer(app).add_sockets(sockets)
        ready.set()
        loop.run_forever()

    threading.Thread(target=run, daemon=True).start()
    ready.wait(30)
    return f"http://127.0.0.1:{port[0]}/services/factory/", loop


def timed(fn, repeat: int) -> dict[str, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return {"median_s": round(statistics.median(times), 3), "max_s": round(max(times), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--jobs", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--store-url", default="", help="an empty database (default: SQLite)")
    args = parser.parse_args()

    from aifactory_widgets import FactoryClient, UsageDesk

    tmp = tempfile.mkdtemp(prefix="aifactory-usage-bench-")
    url = args.store_url or f"sqlite:///{tmp}/factory.sqlite"
    store_db.migrate(url)
    store = store_db.session_factory(store_db.make_engine(url))
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    fill(store, args.projects, args.jobs, now)
    fill_s = time.perf_counter() - t0
    site = load_site()
    base, _ = serve(site, store)
    client = FactoryClient(base, "bench-token")
    period = f"from={date.today().replace(day=1)}&to={date.today()}"
    pi = "user0001"
    from benchlib import run_metadata  # commit, versions, machine

    results: dict[str, Any] = {"run": run_metadata(), "projects": args.projects,
                               "jobs": args.jobs, "store": url.split(":")[0],
                               "fill_s": round(fill_s, 1)}  # fmt: skip
    with ProcessCounter() as processes:
        results["billing"] = timed(lambda: client.get(f"api/usage/billing?{period}"), args.repeat)
        results["billing_csv"] = timed(lambda: client.text(f"api/usage/billing.csv?{period}"),
                                       args.repeat)  # fmt: skip
        results["funder"] = timed(lambda: client.get(f"api/usage/funder?{period}"), args.repeat)
        results["dashboard_view"] = timed(lambda: UsageDesk(client), args.repeat)
        results["usage_all_projects"] = timed(lambda: client.get("api/usage?all=1"), args.repeat)

        def spawn_quotas() -> dict:
            with store() as db:
                return usage.spawn_quotas(db, site, pi)

        results["spawn_quotas"] = timed(spawn_quotas, args.repeat)
    results["processes_started"] = processes.count
    results["billing_rows"] = len(client.get(f"api/usage/billing?{period}")["rows"])
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
