"""The factory service's read APIs under concurrent clients, at increasing concurrency.

Not a timed test: a harness that reports. It builds a store (SQLite in a temporary directory,
filled by `benchmarks/usage.py`'s builder: projects with allocations and members, jobs over
the last 120 days), serves the real factory service app (`service.app.make_app`, logging as
the service does) in a process of its own, and drives it with locust
(`benchmarks/service_locustfile.py`, in another process, so locust's gevent never shares the
service's loop). Hub authentication is replaced by a double that reads the user from the
token; the scope checks are the hub's own (`jupyterhub.services.auth.check_scopes`).

For each step (N users, no think time): requests/s, p50/p95/max latency (total and per
endpoint), errors by kind, and the CPU of the service process, of the load driver and of the
whole machine over the measured window, so what limits the service is measured: one core
(one tornado process, ~100 %), the client, or neither. The steps run in alternating order
(up, down, up, ...) `--passes` times; the report gives the median and the range per step.

    /opt/aifactory/venv/bin/pip install locust py-spy   # load tools, not the hub's dependencies
    /opt/aifactory/venv/bin/python benchmarks/service_load.py --projects 200 --jobs 20000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib.metadata import version
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(ROOT / "hub"), str(HERE)]

from jupyterhub.services.auth import check_scopes  # noqa: E402
from sqlalchemy import select  # noqa: E402

from aifactory_hub.site import scopes  # noqa: E402
from aifactory_hub.store import db as store_db  # noqa: E402
from aifactory_hub.store import models as m  # noqa: E402

PREFIX = "/services/factory/"
RESEARCHER_SCOPES = [scopes.FACTORY_ACCESS]
STAFF_SCOPES = [scopes.FACTORY_ACCESS, *scopes.STAFF_SCOPES]
# What a sample's innermost Python frame is doing. SQLite's own C work shows as the
# SQLAlchemy frame that called it (py-spy samples Python frames only).
LEAF_KINDS = (
    ("SQLAlchemy + SQLite", ("(sqlalchemy/",)),
    ("logging (access log)", ("(logging/",)),
    ("JSON", ("(json/",)),
    ("pydantic", ("(pydantic",)),
    ("tornado + asyncio (HTTP, loop)", ("(tornado/", "(asyncio/", "(selectors.py")),
    ("worker threads (hand-off)", ("(concurrent/", "(threading.py", "(queue.py")),
    ("hub scope checks", ("(jupyterhub/",)),
    ("the service's own code", ("(aifactory_hub/",)),
)
MEASURED = ("service_load.py", "service_locustfile.py", "usage.py")
BASE = "(aifactory_hub/service/base.py"  # every route's frames: the handler, not the work
SPY = Path(sys.executable).with_name("py-spy")


class TokenNamesUser:
    """HubAuth double: `researcher-NAME` is NAME with a researcher's scope on the service,
    `staff-NAME` NAME with every staff scope. The hub's round trip per token is not what is
    timed here; which scopes a request needs and holds is still checked the hub's way."""

    api_url = "http://127.0.0.1:9/hub/api"  # the read routes never call the hub
    api_token = ""

    async def user_for_token(self, token: str, sync: bool = False) -> dict[str, Any] | None:
        kind, _, name = token.partition("-")
        held = {"researcher": RESEARCHER_SCOPES, "staff": STAFF_SCOPES}.get(kind)
        return {"name": name, "scopes": held} if held and name else None

    def check_scopes(self, required: set[str], model: dict[str, Any]) -> set[str]:
        return check_scopes(required, set(model["scopes"]))


def serve(url: str) -> None:
    """The service process: the real app on a free loopback port, logging at INFO as the
    service's __main__ does (one access-log line per request); prints the port, then serves."""
    from tornado.httpserver import HTTPServer
    from tornado.netutil import bind_sockets

    from aifactory_hub.service.app import make_app, real_context
    from aifactory_hub.site import load_site

    logging.basicConfig(level=logging.INFO, format="[%(levelname)s %(name)s] %(message)s")

    async def run() -> None:
        store = store_db.session_factory(store_db.make_engine(url))
        app = make_app(PREFIX, real_context(load_site(), store, TokenNamesUser()))
        sockets = bind_sockets(0, "127.0.0.1")
        HTTPServer(app).add_sockets(sockets)
        print(f"PORT {sockets[0].getsockname()[1]}", flush=True)
        await asyncio.Event().wait()

    asyncio.run(run())


def build_store(tmp: Path, projects: int, jobs: int) -> tuple[str, dict[str, Any], float]:
    """The store, and the sessions the load uses: every member with their projects."""
    from usage import fill  # benchmarks/usage.py: the usage benchmark's store builder

    url = f"sqlite:///{tmp}/factory.sqlite"
    store_db.migrate(url)
    store = store_db.session_factory(store_db.make_engine(url))
    t0 = time.perf_counter()
    fill(store, projects, jobs, datetime.now(UTC))
    fill_s = time.perf_counter() - t0
    with store() as db:
        rows = db.execute(select(m.Member.username, m.Project.account).join(m.Project)).all()
    mine: dict[str, list[str]] = {}
    for name, account in rows:
        mine.setdefault(name, []).append(account)
    sessions = {
        "researchers": sorted(mine.items()),
        "accounts": sorted({account for _, account in rows}),
    }
    return url, sessions, fill_s


def spread(values: list[float]) -> dict[str, float]:
    return {"min": min(values), "median": round(statistics.median(values), 1), "max": max(values)}


def summarise(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per concurrency: the median and range over the passes, errors summed by kind."""
    table = []
    for users in sorted({r["users"] for r in rows}):
        mine = [r for r in rows if r["users"] == users]
        errors: dict[str, int] = {}
        for r in mine:
            for e in r["errors"]:
                key = f"{e['name']}: {e['error']}"
                errors[key] = errors.get(key, 0) + e["count"]
        table.append({
            "users": users,
            "passes": len(mine),
            **{k: spread([r[k] for r in mine]) for k in ("rps", "p50_ms", "p95_ms",
               "service_cpu_pct", "client_cpu_pct", "others_cpu_pct")},
            "max_ms": max(r["max_ms"] for r in mine),
            "requests": sum(r["requests"] for r in mine),
            "failures": sum(r["failures"] for r in mine),
            "errors": errors,
        })  # fmt: skip
    return table


def driver_argv(args: argparse.Namespace, port: int, pid: int, order: list[int]) -> list[str]:
    return [sys.executable, str(HERE / "service_locustfile.py"), "--host",
            f"http://127.0.0.1:{port}", "--server-pid", str(pid), "--steps",
            ",".join(map(str, order)), "--warmup", str(args.warmup),
            "--duration", str(args.duration)]  # fmt: skip


def drive(argv: list[str], tmp: Path) -> list[dict[str, Any]]:
    """Runs the load driver; its steps' rows, each also shown as it comes."""
    env = {**os.environ, "AIFACTORY_LOAD_SESSIONS": str(tmp / "sessions.json")}
    rows = []
    with subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env) as driver:
        for line in driver.stdout or ():
            row = json.loads(line)
            rows.append(row)
            print(f"{row['users']:>3} users: {row['rps']:7.1f} req/s  p50 {row['p50_ms']} ms  "
                  f"p95 {row['p95_ms']} ms  max {row['max_ms']} ms  errors "
                  f"{row['failures']}  service CPU {row['service_cpu_pct']} %  client CPU "
                  f"{row['client_cpu_pct']} %  others {row['others_cpu_pct']} %",
                  file=sys.stderr, flush=True)  # fmt: skip
    if driver.returncode:
        raise SystemExit(f"the load driver failed (exit {driver.returncode})")
    return rows


def where_time_goes(raw: Path) -> dict[str, Any]:
    """py-spy's samples of the service's busy threads: by what the innermost frame is doing,
    and the service's own functions by the share of samples they are on the stack of."""
    kinds: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames = stack.split(";")
        kind = next((k for k, marks in LEAF_KINDS if any(m in frames[-1] for m in marks)), "other")
        kinds[kind] = kinds.get(kind, 0) + int(count)
        own = {f.split(" (")[0] for f in frames if "(aifactory_hub/" in f and BASE not in f}
        for frame in own:
            inclusive[frame] = inclusive.get(frame, 0) + int(count)
    total = sum(kinds.values()) or 1

    def shares(counts: dict[str, int], top: int) -> dict[str, float]:
        ranked = sorted(counts.items(), key=lambda kv: -kv[1])[:top]
        return {name: round(100 * n / total, 1) for name, n in ranked}

    return {"samples": total, "leaf_pct": shares(kinds, 20), "own_code_pct": shares(inclusive, 10)}


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def machine() -> dict[str, Any]:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
                 "")  # fmt: skip
    return {
        "cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
        "loadavg_before": Path("/proc/loadavg").read_text().split()[:3],
        "python": platform.python_version(), "sqlite": sqlite3.sqlite_version,
        **{p: version(p) for p in ("tornado", "SQLAlchemy", "locust", "jupyterhub")},
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--users", default="1,5,10,25,50", help="concurrency steps")
    parser.add_argument("--passes", type=int, default=3, help="up, down, up, ...")
    parser.add_argument("--warmup", type=float, default=3.0, help="s per step before measuring")
    parser.add_argument("--duration", type=float, default=15.0, help="measured s per step")
    parser.add_argument("--profile", action=argparse.BooleanOptionalAction, default=True,
                        help="one more step at the top concurrency under py-spy")  # fmt: skip
    parser.add_argument("--out", default=str(HERE / "results-service-load.json"))
    parser.add_argument("--serve", metavar="STORE_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve(args.serve)

    started, host = datetime.now(UTC), machine()
    # Uncommitted changes to what is measured (others may edit the checkout meanwhile).
    dirty = git("status", "--porcelain", "--", "hub", *(str(HERE / f) for f in MEASURED))
    steps = [int(n) for n in args.users.split(",")]
    order = [n for p in range(args.passes) for n in (steps if p % 2 == 0 else steps[::-1])]
    tmp = Path(tempfile.mkdtemp(prefix="aifactory-service-load-"))
    url, sessions, fill_s = build_store(tmp, args.projects, args.jobs)
    (tmp / "sessions.json").write_text(json.dumps(sessions))
    log = (tmp / "service.log").open("w")
    service = subprocess.Popen([sys.executable, __file__, "--serve", url],
                               stdout=subprocess.PIPE, stderr=log, text=True)  # fmt: skip
    rows: list[dict[str, Any]] = []
    profile: dict[str, Any] = {}
    try:
        line = service.stdout.readline() if service.stdout else ""
        if not line.startswith("PORT "):
            raise SystemExit(f"the service did not start: see {tmp / 'service.log'}")
        port = int(line.split()[1])
        rows = drive(driver_argv(args, port, service.pid, order), tmp)
        if args.profile and SPY.exists():
            # Apart from the measured steps: the sampler costs the machine some CPU.
            argv = driver_argv(args, port, service.pid, [max(steps)])
            profiled = drive([*argv, "--profile", str(tmp / "profile.txt")], tmp)
            profile = {"users": max(steps), "rps": profiled[0]["rps"],
                       "service_cpu_pct": profiled[0]["service_cpu_pct"],
                       **where_time_goes(tmp / "profile.txt")}  # fmt: skip
    finally:
        service.terminate()
        service.wait(30)
    log.close()
    result = {
        "commit": git("rev-parse", "HEAD"),
        "uncommitted": dirty.splitlines(),
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join([Path(sys.executable).as_posix(), *sys.argv]),
        "machine": host,
        "store": {"backend": "sqlite", "projects": args.projects, "jobs": args.jobs,
                  "researchers": len(sessions["researchers"]), "fill_s": round(fill_s, 1)},
        "order": order,
        "warmup_s": args.warmup,
        "duration_s": args.duration,
        "mix": "per request: researcher quota 8, usage 4, site 4; staff quota (any) 2, site 1; "
        "no think time",
        "service_log_lines": sum(1 for _ in (tmp / "service.log").open()),
        "summary": summarise(rows),
        "profile": profile or "not run (--no-profile, or py-spy not installed)",
        "runs": rows,
    }  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    shutil.rmtree(tmp)
    print(json.dumps(result["summary"], indent=2))


if __name__ == "__main__":
    main()
