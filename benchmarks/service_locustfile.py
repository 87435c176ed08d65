"""The factory service's read APIs under concurrent clients: the locust user and the driver.

Two kinds of session read the service (paths under its hub prefix, `/services/factory/api/`):
- a researcher's (the quota widget, the guides and advisor): `GET usage` (their projects, with
  the daily series the quota plot draws), `GET usage/projects/{account}` (one project's quota),
  `GET site` (the centre's public facts);
- a staff dashboard's looking at one project at a time: `GET usage/projects/{account}` of any
  project (staff may read every one) and `GET site`, with a staff token.
One user class carries both as weighted tasks (four researcher sessions to one staff session),
so the mix of requests is the same at every concurrency, one user included. Users have no
think time: N users keep N requests in flight, far more than N people clicking.

`benchmarks/service_load.py` runs this file as its driver process, so locust's gevent patches
only this process, never the service's. It also works with the locust CLI against a service
the harness started (AIFACTORY_LOAD_SESSIONS names its sessions file):

    locust -f benchmarks/service_locustfile.py --headless -u 10 -t 30s --host http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any

from locust import FastHttpUser, constant, task

API = "/services/factory/api/"
STAFF = {"Authorization": "token staff-sam"}
SESSIONS: dict[str, Any] = {}


def sessions() -> dict[str, Any]:
    """The harness's sessions file: researchers with their projects, every project."""
    if not SESSIONS:
        SESSIONS.update(json.loads(Path(os.environ["AIFACTORY_LOAD_SESSIONS"]).read_text()))
    return SESSIONS


class ServiceReader(FastHttpUser):
    """One researcher (a member of some projects) and, in 3 requests of 19, a staff dashboard.
    Task weights: a researcher session's (quota 2, usage 1, site 1) four times, a staff
    session's (quota 2, site 1) once."""

    wait_time = constant(0)

    def on_start(self) -> None:
        name, self.accounts = random.choice(sessions()["researchers"])  # noqa: S311 - load mix
        self.headers = {"Authorization": f"token researcher-{name}"}

    @task(8)
    def quota(self) -> None:
        account = random.choice(self.accounts)  # noqa: S311 - load mix
        self.client.get(f"{API}usage/projects/{account}", headers=self.headers,
                        name="GET usage/projects/{account}")  # fmt: skip

    @task(4)
    def usage(self) -> None:
        self.client.get(f"{API}usage", headers=self.headers, name="GET usage")

    @task(4)
    def site(self) -> None:
        self.client.get(f"{API}site", headers=self.headers, name="GET site")

    @task(2)
    def staff_quota(self) -> None:
        account = random.choice(sessions()["accounts"])  # noqa: S311 - load mix
        self.client.get(f"{API}usage/projects/{account}", headers=STAFF,
                        name="GET usage/projects/{account} (staff)")  # fmt: skip

    @task(1)
    def staff_site(self) -> None:
        self.client.get(f"{API}site", headers=STAFF, name="GET site (staff)")


# --- the driver: one locust environment per step, stats reset after the ramp -------------------


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, all its threads (/proc/PID/stat, in clock ticks)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) clock ticks of every core since boot (/proc/stat's cpu line)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


def percentiles(entry: Any) -> dict[str, Any]:
    """One stats entry as the report shows it (milliseconds, as locust records them)."""
    return {
        "requests": entry.num_requests,
        "failures": entry.num_failures,
        "p50_ms": entry.get_response_time_percentile(0.50),
        "p95_ms": entry.get_response_time_percentile(0.95),
        "max_ms": round(entry.max_response_time or 0, 1),
    }


def step(
    host: str, users: int, warmup_s: float, duration_s: float, server: int, profile: list[str]
) -> dict:
    """`users` users for warmup_s (ramp and warm-up, then the stats are reset) + duration_s;
    `profile` (a py-spy command line, or none) samples the service meanwhile."""
    import gevent
    from gevent import subprocess as gsubprocess
    from locust.env import Environment

    env = Environment(user_classes=[ServiceReader], host=host)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=min(users, 50))
    gevent.sleep(warmup_s)
    env.stats.reset_all()
    t0, service0, client0, busy0 = time.monotonic(), cpu_seconds(server), os.times(), machine_busy()
    spy = gsubprocess.Popen(profile, stdout=gsubprocess.DEVNULL) if profile else None
    gevent.sleep(duration_s)
    if spy:
        spy.wait()
    t1, service1, client1, busy1 = time.monotonic(), cpu_seconds(server), os.times(), machine_busy()
    row = {
        "users": users,
        "running": runner.user_count,
        "seconds": round(t1 - t0, 2),
        "rps": round(env.stats.total.num_requests / (t1 - t0), 1),
        **percentiles(env.stats.total),
        "endpoints": {name: percentiles(e) for (name, _), e in sorted(env.stats.entries.items())},
        "errors": [
            {"name": e.name, "error": str(e.error)[:200], "count": e.occurrences}
            for e in env.stats.errors.values()
        ],
        "service_cpu_pct": round(100 * (service1 - service0) / (t1 - t0), 1),
        "client_cpu_pct": round(100 * (sum(client1[:2]) - sum(client0[:2])) / (t1 - t0), 1),
        "machine_busy_pct": round(100 * (busy1[0] - busy0[0]) / (busy1[1] - busy0[1]), 1),
    }
    # Everything else on the machine, in % of one core: the noise the step ran beside.
    cores = (os.cpu_count() or 1) * row["machine_busy_pct"]
    row["others_cpu_pct"] = round(
        max(0.0, cores - row["service_cpu_pct"] - row["client_cpu_pct"]), 1
    )
    runner.quit()
    return row


def drive() -> None:
    """Runs the steps in order and prints one JSON line per step (the harness reads them)."""
    parser = argparse.ArgumentParser(description="the load driver (service_load.py runs it)")
    parser.add_argument("--host", required=True)
    parser.add_argument("--server-pid", type=int, required=True)
    parser.add_argument("--steps", required=True, help="users per step, e.g. 1,5,10,5,1")
    parser.add_argument("--warmup", type=float, default=3.0)
    parser.add_argument("--duration", type=float, default=15.0)
    parser.add_argument("--pause", type=float, default=2.0)
    parser.add_argument("--profile", default="", help="py-spy raw output: the steps are sampled")
    args = parser.parse_args()
    import gevent

    spy = [str(Path(sys.executable).with_name("py-spy")), "record", "--pid", str(args.server_pid),
           "--duration", str(int(args.duration)), "--rate", "100", "--format", "raw",
           "--nonblocking", "--output", args.profile]  # fmt: skip
    for users in (int(n) for n in args.steps.split(",")):
        row = step(args.host, users, args.warmup, args.duration, args.server_pid,
                   spy if args.profile else [])  # fmt: skip
        print(json.dumps(row), flush=True)
        gevent.sleep(args.pause)


if __name__ == "__main__":
    sys.exit(drive())
