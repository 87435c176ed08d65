"""Spawner benchmark: the project's FactorySpawner against stock batchspawner.SlurmSpawner.

Both run in one invocation on the same machine, Slurm, hub, proxy and poll interval; Slurm's
own `sdiag` (reset before each measurement) is the referee for controller RPCs.

    /opt/aifactory/venv/bin/python benchmarks/spawners.py            # every scenario
    /opt/aifactory/venv/bin/python benchmarks/spawners.py --scenarios steady --sizes 5,20

Scenarios (issue [perf]):
  steady   N idle servers for --duration seconds: slurmctld RPCs, processes started on the
           machine, hub CPU seconds
  burst    20 users spawn within 5 s: failures, spawn time p50/p95, RPCs, hub API latency
  restart  hub restarted with 20 running servers: survivors, time until all answer, RPCs

Results go to benchmarks/results.json and are printed as the Markdown table in README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from benchlib import (
    CONFIGS,
    USERS,
    Sdiag,
    forks,
    hub_cpu,
    pct,
    prepare,
    restore_demo,
    run_metadata,
)

from aifactory_hub.ops import cli
from aifactory_hub.site import Site
from tests.stack import HubClient


def session_nodes() -> set[str]:
    """The nodes the bench's running sessions are on (squeue as root)."""
    out = subprocess.run(["squeue", "-h", "-A", "bench", "-t", "R", "-o", "%N"],
                         check=True, capture_output=True, text=True).stdout  # fmt: skip
    return set(out.split())


class Bench:
    def __init__(self, kind: str, site: Site, site_file: Path, passwords: dict[str, str]):
        self.kind, self.site, self.site_file = kind, site, site_file
        self.client = HubClient(site, passwords)
        self.pid = 0

    def options(self) -> dict:
        return {"project": "bench", "cpus": 1, "memory_gb": 1} if self.kind == "factory" else {}

    def start_hub(self) -> None:
        self.pid = cli.start_hub(self.site, str(self.site_file), config_file=CONFIGS[self.kind])

    def stop_hub(self) -> None:
        cli.stop_hub(self.site)

    def spawn(self, user: str) -> float:
        t0 = time.monotonic()
        resp = self.client.api("POST", f"/users/{user}/server", user, json=self.options())
        if resp.status_code not in (201, 202):
            raise RuntimeError(f"{user}: {resp.status_code} {resp.text[:200]}")
        self.client.wait_ready(user, timeout=300)
        return time.monotonic() - t0

    def spawn_many(self, users: list[str], workers: int) -> tuple[list[float], list[str]]:
        times, failures = [], []
        with ThreadPoolExecutor(workers) as pool:
            futures = {pool.submit(self.spawn, u): u for u in users}
            for fut, user in futures.items():
                try:
                    times.append(fut.result())
                except Exception as exc:
                    failures.append(f"{user}: {exc}")
        return times, failures

    def stop_all(self, users: list[str]) -> None:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(self._stop_quiet, users))
        # The bench's own jobs only (its project): never the demo hub's or a test run's.
        for name in ("jupyterhub-session", "spawner-jupyterhub"):
            subprocess.run(["scancel", "--account=bench", f"--name={name}"], check=False)

    def _stop_quiet(self, user: str) -> None:
        try:
            if self.client.server(user):
                self.client.stop(user, timeout=120)
        except Exception as exc:
            print(f"  stop {user}: {exc}", file=sys.stderr)

    def answers(self, user: str) -> bool:
        try:
            resp = requests.get(
                f"{self.client.url}/user/{user}/api/status",
                headers={"Authorization": f"token {self.client.token(user)}"},
                timeout=5,
            )
        except requests.RequestException:
            return False
        return resp.status_code == 200

    # --- scenarios ----------------------------------------------------------------------

    def steady(self, n: int, duration: float) -> dict:
        users = USERS[:n]
        _, failures = self.spawn_many(users, workers=4)
        time.sleep(5)  # let start-up traffic settle
        Sdiag.reset()
        f0, c0 = forks(), hub_cpu(self.pid)
        time.sleep(duration)
        result = {
            **Sdiag.summary(),
            "nodes_used": len(session_nodes()),
            "processes": forks() - f0,
            "hub_cpu_s": round(hub_cpu(self.pid) - c0, 2),
            "spawn_failures": len(failures),
        }
        self.stop_all(users)
        return result

    def burst(self, n: int = 20, window: float = 5.0) -> dict:
        users = USERS[:n]
        latencies: list[float] = []
        done = threading.Event()

        def probe() -> None:
            while not done.is_set():
                t0 = time.monotonic()
                try:
                    requests.get(f"{self.client.url}/hub/api/", timeout=30)
                    latencies.append((time.monotonic() - t0) * 1000)
                except requests.RequestException:
                    latencies.append(30_000)
                time.sleep(0.2)

        for user in users:
            self.client.token(user)  # log in before the clock starts
        Sdiag.reset()
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        times: list[float] = []
        failures: list[str] = []

        def staggered(i_user: tuple[int, str]) -> None:
            i, user = i_user
            time.sleep(window * i / n)
            try:
                times.append(self.spawn(user))
            except Exception as exc:
                failures.append(f"{user}: {exc}")

        with ThreadPoolExecutor(n) as pool:
            list(pool.map(staggered, enumerate(users)))
        done.set()
        prober.join()
        result = {
            "failures": len(failures),
            "spawn_p50_s": round(pct(times, 0.5), 2),
            "spawn_p95_s": round(pct(times, 0.95), 2),
            **Sdiag.summary(),
            "api_p50_ms": round(pct(latencies, 0.5), 1),
            "api_p95_ms": round(pct(latencies, 0.95), 1),
        }
        if failures:
            result["failure_examples"] = failures[:3]
        self.stop_all(users)
        return result

    def restart(self, n: int = 20) -> dict:
        users = USERS[:n]
        _, failures = self.spawn_many(users, workers=4)
        os.kill(self.pid, signal.SIGTERM)
        while not cli.exited(self.pid):
            time.sleep(0.1)
        Sdiag.reset()
        t0 = time.monotonic()
        self.start_hub()
        pending = set(users)
        while pending and time.monotonic() - t0 < 120:
            pending = {u for u in pending if not self.answers(u)}
            time.sleep(0.5)
        all_answer = time.monotonic() - t0
        survivors = sum(1 for u in users if self.client.server(u).get("ready"))
        result = {
            "survive": f"{survivors}/{n}",
            "all_answer_s": round(all_answer, 1) if not pending else None,
            **Sdiag.summary(),
            "spawn_failures": len(failures),
        }
        self.stop_all(users)
        return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="steady,burst,restart")
    parser.add_argument("--sizes", default="5,20,40", help="steady-state server counts")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="steady window, seconds (2 x slurm_confirm_s)"
    )
    parser.add_argument("--poll", type=float, default=10.0, help="poll interval for both")
    parser.add_argument("--nodes", type=int, default=2, help="nodes in the cpu partition")
    parser.add_argument("--sides", default="stock,factory", help="spawners to run, in order")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    scenarios = args.scenarios.split(",")
    sizes = [int(n) for n in args.sizes.split(",")]
    site, site_file, passwords = prepare(args.poll, args.nodes)
    results: dict = {
        **run_metadata(),
        "cpu_nodes": args.nodes,
        "poll_interval_s": args.poll,
        "slurm_confirm_s": site.hub.slurm_confirm_s,
        "steady_window_s": args.duration,
    }
    try:
        for kind in args.sides.split(","):
            bench = Bench(kind, site, site_file, passwords)
            bench.start_hub()
            try:
                out = results.setdefault(kind, {})
                if "steady" in scenarios:
                    for n in sizes:
                        print(f"{kind}: steady {n}", file=sys.stderr)
                        out[f"steady_{n}"] = bench.steady(n, args.duration)
                if "burst" in scenarios:
                    print(f"{kind}: burst", file=sys.stderr)
                    out["burst_20"] = bench.burst()
                if "restart" in scenarios:
                    print(f"{kind}: restart", file=sys.stderr)
                    out["restart_20"] = bench.restart()
            finally:
                bench.stop_all(USERS)
                bench.stop_hub()
            print(json.dumps(out, indent=1), file=sys.stderr)
    finally:
        restore_demo()
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


def ratio(stock: float | None, factory: float | None) -> str:
    if not stock or factory is None:
        return "-"
    if factory == 0:  # none in the window: at least stock / 1
        return f">{stock:g}x"
    return f"{stock / factory:.1f}x"


def table(results: dict) -> str:
    """The Markdown table for benchmarks/README.md."""
    stock, factory = results.get("stock", {}), results.get("factory", {})
    rows = [
        "| scenario | metric | stock batchspawner | FactorySpawner | stock / factory |",
        "|---|---|---|---|---|",
    ]
    for key in stock:
        for metric, value in stock[key].items():
            if isinstance(value, list):
                continue
            mine = factory.get(key, {}).get(metric)
            both_numbers = isinstance(value, (int, float)) and isinstance(mine, (int, float))
            rows.append(
                f"| {key} | {metric} | {value} | {mine} | "
                f"{ratio(value, mine) if both_numbers else '-'} |"
            )
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
