"""Spawner benchmark: the project's FactorySpawner against stock batchspawner.SlurmSpawner.

All sides run in one invocation on the same machine, Slurm, hub, proxy, services and bench
site, in rounds whose order of sides rotates; every figure is reported as median [min-max]
over the rounds. Slurm's own counters are the referees: `sdiag` (slurmctld, by message type
and by user) and `sacctmgr show stats` (slurmdbd), both reset at the start of each window.

    /opt/aifactory/venv/bin/python benchmarks/spawners.py --nodes 2          # the full run
    /opt/aifactory/venv/bin/python benchmarks/spawners.py --users 4 --duration 20 --repeats 1

Sides (same start-up cadence, `--startup-poll`, 1 s: the factory's; same server exec):
  stock       batchspawner as shipped but for: the server exec'd by the batch script as the
              factory's is (no `srun` job step), --no-requeue as the factory's jobs, the
              factory's start-up cadence; it asks Slurm once per session every --poll (10 s)
  stock-60    the same, asking Slurm once per session every slurm_confirm_s (60 s): stock at
              the factory's Slurm cadence
  stock-srun  (with --sides) stock with batchspawner's own `srun` line: the job step's cost
  factory     knocks on each session's port every --poll, one squeue for all every
              slurm_confirm_s (and at once when a knock goes unanswered)

Scenarios, in this order on each side's hub (one round):
  burst      --users spawn within 5 s: failures, POST-to-ready p50/p95, RPCs, hub API p50/p95
  steady     the same sessions idle for --duration: RPCs, processes started, hub CPU
  detection  three sessions end under the hub at once: scancel of one job, SIGKILL of one
             server process, one node set DOWN; seconds until the hub's REST API shows each
             user's server gone (polled every 0.5 s)
  restart    the hub SIGTERMed and started again with the sessions left: survivors, seconds
             until all answer through the proxy, RPCs
then every session is stopped. Cleanup touches only the bench account's jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import requests
from benchlib import (
    ACCOUNT,
    CONFIGS,
    USERS,
    DbdStats,
    Sdiag,
    cancel_bench_jobs,
    forks,
    hub_cpu,
    pct,
    prepare,
    restore_demo,
    run_metadata,
    tree_cpu,
)

from aifactory_hub.ops import cli
from aifactory_hub.site import Site
from tests.stack import HubClient

# What the stock hub reads (stock_jupyterhub_config.py): its cadences and its exec line.
STOCK_ENV = ("AIFACTORY_BENCH_POLL_S", "AIFACTORY_BENCH_STARTUP_POLL_S", "AIFACTORY_BENCH_SRUN")
SERVER_PROGRAMS = ("batchspawner-singleuser", "jupyterhub-singleuser", "jupyter-lab")
NODE_DOWN_REASON = "aifactory-bench"


@dataclass(frozen=True)
class Side:
    """One spawner set-up: which hub config, and what the stock hub is told."""

    name: str
    config: str  # a CONFIGS key
    env: dict[str, str] = field(default_factory=dict)


def sides(poll: float, confirm: float, startup_poll: float) -> dict[str, Side]:
    startup = {"AIFACTORY_BENCH_STARTUP_POLL_S": str(startup_poll)}
    stock = {**startup, "AIFACTORY_BENCH_SRUN": "0"}
    return {
        "stock": Side("stock", "stock", {**stock, "AIFACTORY_BENCH_POLL_S": str(poll)}),
        "stock-60": Side("stock-60", "stock", {**stock, "AIFACTORY_BENCH_POLL_S": str(confirm)}),
        "stock-srun": Side(
            "stock-srun",
            "stock",
            {**startup, "AIFACTORY_BENCH_SRUN": "1", "AIFACTORY_BENCH_POLL_S": str(poll)},
        ),
        "factory": Side("factory", "factory"),
    }


def round_orders(names: list[str], repeats: int) -> list[list[str]]:
    """Round r runs the sides rotated by r (a Latin square over len(names) rounds): each
    side goes first, middle and last equally often, so drift and warm caches even out."""
    k = len(names)
    return [names[k - r % k :] + names[: k - r % k] for r in range(repeats)]


# --- Slurm facts, as root, the bench account's only ----------------------------------------


def bench_jobs() -> dict[str, tuple[str, str]]:
    """Running bench sessions: user -> (job id, node)."""
    out = subprocess.run(
        ["squeue", "-h", "-A", ACCOUNT, "-t", "R", "-o", "%i %u %N"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    jobs = {}
    for line in out.splitlines():
        job, user, node = line.split()
        jobs[user] = (job, node)
    return jobs


def foreign_jobs_on(node: str) -> list[str]:
    """Jobs on `node` that are not the bench's: a node is only taken down under our own."""
    out = subprocess.run(
        ["squeue", "-h", "-w", node, "-o", "%i %a"],
        check=True, capture_output=True, text=True, timeout=30,
    ).stdout  # fmt: skip
    return [line for line in out.splitlines() if line.split()[1] != ACCOUNT]


def server_pids(job_id: str) -> list[int]:
    """The session server's processes of a job (not srun, not the batch shell), from /proc:
    the job's processes carry SLURM_JOB_ID in their environment."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            raw = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        argv = [a.decode(errors="replace") for a in raw if a]
        if not argv or Path(argv[0]).name == "srun":
            continue
        if f"SLURM_JOB_ID={job_id}".encode() not in environ:
            continue
        if any(Path(a).name in SERVER_PROGRAMS for a in argv[:3]):
            found.append(int(proc.name))
    return found


def resume(node: str, timeout: float = 180) -> bool:
    """Bring a node back (RESUME is refused while its killed jobs are still completing)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        subprocess.run(["scontrol", "update", f"NodeName={node}", "State=RESUME"],
                       capture_output=True, timeout=30, check=False)  # fmt: skip
        state = subprocess.run(
            ["sinfo", "-h", "-n", node, "-o", "%t"], capture_output=True, text=True, timeout=30
        ).stdout.strip()
        if state in ("idle", "mix", "alloc"):
            return True
        time.sleep(2)
    return False


def counters_reset() -> None:
    Sdiag.reset()
    DbdStats.reset()


def counters() -> dict[str, int]:
    return {**Sdiag.summary(), **DbdStats.summary()}


# --- one side's hub --------------------------------------------------------------------------


class Bench:
    def __init__(self, side: Side, site: Site, site_file: Path, passwords: dict[str, str]):
        self.side, self.site, self.site_file = side, site, site_file
        self.client = HubClient(site, passwords)
        self.pid = 0

    def options(self) -> dict:
        if self.side.config == "factory":
            return {"project": ACCOUNT, "cpus": 1, "memory_gb": 1}
        return {}

    def start_hub(self) -> None:
        for key in STOCK_ENV:
            os.environ.pop(key, None)
        os.environ.update(self.side.env)  # the hub inherits the harness's environment
        self.pid = cli.start_hub(
            self.site, str(self.site_file), config_file=CONFIGS[self.side.config]
        )

    def stop_hub(self) -> None:
        cli.stop_hub(self.site)

    def server(self, user: str) -> dict:
        return self.client.server(user)

    def spawn(self, user: str) -> float:
        t0 = time.monotonic()
        resp = self.client.api("POST", f"/users/{user}/server", user, json=self.options())
        if resp.status_code not in (201, 202):
            raise RuntimeError(f"{user}: {resp.status_code} {resp.text[:200]}")
        self.client.wait_ready(user, timeout=300)
        return time.monotonic() - t0

    def stop_all(self, users: list[str]) -> None:
        with ThreadPoolExecutor(len(users) or 1) as pool:
            list(pool.map(self._stop_quiet, users))
        cancel_bench_jobs()  # whatever a failed stop left: the bench account's jobs only

    def _stop_quiet(self, user: str) -> None:
        try:
            if self.server(user):
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

    def burst(self, users: list[str], window: float = 5.0) -> tuple[dict, list[str]]:
        """Spawn `users` within `window` seconds; the sessions stay up for what follows.
        Returns the figures and the users whose server is ready."""
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
        counters_reset()
        prober = threading.Thread(target=probe, daemon=True)
        prober.start()
        times: dict[str, float] = {}
        failures: list[str] = []

        def staggered(i: int, user: str) -> None:
            time.sleep(window * i / len(users))
            try:
                times[user] = self.spawn(user)
            except Exception as exc:
                failures.append(f"{user}: {exc}")

        with ThreadPoolExecutor(len(users)) as pool:
            list(pool.map(staggered, range(len(users)), users))
        done.set()
        prober.join()
        result = {
            "failures": len(failures),
            "spawn_p50_s": round(pct(list(times.values()), 0.5), 2),
            "spawn_p95_s": round(pct(list(times.values()), 0.95), 2),
            **counters(),
            "api_p50_ms": round(pct(latencies, 0.5), 1),
            "api_p95_ms": round(pct(latencies, 0.95), 1),
        }
        if failures:
            result["failure_examples"] = failures[:3]
        return result, [u for u in users if u in times]

    def steady(self, users: list[str], duration: float, settle: float = 5.0) -> dict:
        time.sleep(settle)  # let start-up traffic settle
        counters_reset()
        f0, c0, t0 = forks(), hub_cpu(self.pid), tree_cpu(self.pid)
        time.sleep(duration)
        return {
            **counters(),
            "processes": forks() - f0,
            "hub_cpu_s": round(hub_cpu(self.pid) - c0, 2),
            "hub_tree_cpu_s": round(tree_cpu(self.pid) - t0, 2),
            # Ready after the burst but no longer running in Slurm: ended on their own.
            "sessions_lost": len(set(users) - set(bench_jobs())),
        }

    def detection(self, users: list[str], timeout: float) -> tuple[dict, list[str]]:
        """End three sessions under the hub at once and time how long until its REST API
        shows each user's server gone. The node taken down is one that hosts bench
        sessions only; the scancel and kill victims are on another node. Returns the
        figures and the users whose session is still running."""
        jobs = {u: jv for u, jv in bench_jobs().items() if u in users}
        by_node: dict[str, list[str]] = {}
        for user, (_, node) in sorted(jobs.items()):
            by_node.setdefault(node, []).append(user)
        result: dict = {}
        downable = [n for n in sorted(by_node) if not foreign_jobs_on(n)]
        # Down the node with fewest sessions whose others can host the two single victims.
        down = next(
            (n for n in sorted(downable, key=lambda n: len(by_node[n]))
             if sum(len(v) for k, v in by_node.items() if k != n) >= 2),
            None,
        )  # fmt: skip
        singles = [u for node, us in sorted(by_node.items()) if node != down for u in us]
        if len(singles) < 2:
            return {"detection_skipped": f"sessions by node: {by_node}"}, users
        victims = {"scancel": [singles[0]], "server_killed": [singles[1]]}
        if down:
            victims["node_down"] = by_node[down]
        else:
            result["node_down_skipped"] = "no node with bench sessions only"
        starts: dict[str, float] = {}

        def end(how: str) -> None:
            user = victims[how][0]
            job = jobs[user][0]
            starts[how] = time.monotonic()
            if how == "scancel":
                subprocess.run(["scancel", job], check=True, timeout=30)
            elif how == "server_killed":
                pids = server_pids(job)
                if not pids:
                    raise RuntimeError(f"no server process found for job {job}")
                for pid in pids:
                    os.kill(pid, signal.SIGKILL)
            else:
                subprocess.run(["scontrol", "update", f"NodeName={down}", "State=DOWN",
                                f"Reason={NODE_DOWN_REASON}"], check=True, timeout=30)  # fmt: skip

        noticed: dict[str, float] = {}
        for how in victims:
            end(how)
        gone_by = {u: how for how, us in victims.items() for u in us}
        deadline = time.monotonic() + timeout
        while len(noticed) < len(gone_by) and time.monotonic() < deadline:
            for user, how in gone_by.items():
                if user not in noticed and not self.server(user):
                    noticed[user] = time.monotonic() - starts[how]
            time.sleep(0.5)
        for how, us in victims.items():
            seen = [noticed[u] for u in us if u in noticed]
            key = f"detect_{how}_s"
            result[key] = round(max(seen), 1) if len(seen) == len(us) else None
            if how == "node_down":
                result["node_down_sessions"] = len(us)
                result["detect_node_down_p50_s"] = (
                    round(statistics.median(seen), 1) if seen else None
                )
        if down and not resume(down):
            result["node_resume_failed"] = down
        return result, [u for u in users if u not in gone_by]

    def restart(self, users: list[str]) -> dict:
        # Only sessions the hub still shows: one that ended on its own earlier (counted in
        # steady's sessions_lost) is not the restart's to lose.
        alive = [u for u in users if self.server(u)]
        ended_before = len(users) - len(alive)
        users = alive
        os.kill(self.pid, signal.SIGTERM)
        while not cli.exited(self.pid):
            time.sleep(0.1)
        counters_reset()
        t0 = time.monotonic()
        self.start_hub()
        pending = set(users)
        while pending and time.monotonic() - t0 < 120:
            pending = {u for u in pending if not self.answers(u)}
            time.sleep(0.5)
        all_answer = time.monotonic() - t0
        survivors = sum(1 for u in users if self.server(u).get("ready"))
        return {
            "survive": f"{survivors}/{len(users)}",
            "all_answer_s": round(all_answer, 1) if not pending else None,
            **counters(),
            "ended_before": ended_before,
        }


def run_side(bench: Bench, n: int, duration: float, detect_timeout: float) -> dict:
    users = USERS[:n]
    out: dict = {}
    t0 = time.monotonic()
    bench.start_hub()
    try:
        print(f"{bench.side.name}: burst", file=sys.stderr)
        out["burst"], ready = bench.burst(users)
        print(f"{bench.side.name}: steady", file=sys.stderr)
        out["steady"] = bench.steady(ready, duration)
        print(f"{bench.side.name}: detection", file=sys.stderr)
        out["detection"], left = bench.detection(ready, detect_timeout)
        print(f"{bench.side.name}: restart", file=sys.stderr)
        out["restart"] = bench.restart(left)
    finally:
        bench.stop_all(users)
        bench.stop_hub()
    out["side_s"] = round(time.monotonic() - t0)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20, help="sessions in burst and steady")
    parser.add_argument(
        "--duration", type=float, default=120.0, help="steady window, s (2 x slurm_confirm_s)"
    )
    parser.add_argument("--poll", type=float, default=10.0, help="poll interval, s")
    parser.add_argument(
        "--startup-poll", type=float, default=1.0, help="stock's start-up poll, s (the factory's)"
    )
    parser.add_argument("--nodes", type=int, default=2, help="nodes in the cpu partition")
    parser.add_argument("--sides", default="stock,stock-60,factory", help="sides, first order")
    parser.add_argument("--repeats", type=int, default=3, help="rounds, order rotated each")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results.json")))
    args = parser.parse_args()
    if args.users > len(USERS):
        parser.error(f"--users at most {len(USERS)}")
    site, site_file, passwords = prepare(args.poll, args.nodes)
    confirm = site.hub.slurm_confirm_s
    known = sides(args.poll, confirm, args.startup_poll)
    names = args.sides.split(",")
    if unknown := [n for n in names if n not in known]:
        parser.error(f"unknown sides {unknown}; known: {list(known)}")
    results: dict = {
        **run_metadata(),
        "cpu_nodes": args.nodes,
        "users": args.users,
        "poll_interval_s": args.poll,
        "slurm_confirm_s": confirm,
        "startup_poll_interval_s": args.startup_poll,
        "steady_window_s": args.duration,
        "orders": round_orders(names, args.repeats),
        "rounds": [],
    }
    # Long enough for stock-60 to notice (one poll) with the hub's own 30 s of slack.
    detect_timeout = 2 * max(confirm, args.poll) + 30
    try:
        for order in results["orders"]:
            this_round = {}
            for name in order:
                bench = Bench(known[name], site, site_file, passwords)
                this_round[name] = run_side(bench, args.users, args.duration, detect_timeout)
                print(json.dumps({name: this_round[name]}), file=sys.stderr)
            results["rounds"].append(this_round)
            Path(args.out).write_text(json.dumps(results, indent=1) + "\n")  # keep partials
    finally:
        restore_demo()
    results["summary"] = summarise(results["rounds"], names)
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results["summary"], names))
    return 0


# --- reporting -------------------------------------------------------------------------------


def summarise(rounds: list[dict], names: list[str]) -> dict:
    """side -> scenario -> metric -> [min, median, max] over the rounds (numbers only; a
    metric missing or None in a round is left out of that side's spread and counted)."""
    summary: dict = {}
    for name in names:
        runs = [r[name] for r in rounds if name in r]
        scenarios = {s for run in runs for s, v in run.items() if isinstance(v, dict)}
        for scenario in sorted(scenarios):
            metrics: dict[str, list] = {}
            for run in runs:
                for metric, value in run.get(scenario, {}).items():
                    metrics.setdefault(metric, []).append(value)
            for metric, values in metrics.items():
                if metric == "survive":
                    summary.setdefault(name, {}).setdefault(scenario, {})[metric] = values
                    continue
                numbers = [v for v in values if isinstance(v, (int, float))]
                if not numbers:  # notes (a skipped step, failure examples): in the rounds
                    continue
                entry: list = [min(numbers), statistics.median(numbers), max(numbers)]
                if len(numbers) < len(values):
                    entry.append(f"{len(values) - len(numbers)} of {len(values)} missing")
                summary.setdefault(name, {}).setdefault(scenario, {})[metric] = entry
    return summary


def cell(entry) -> str:
    if entry is None:
        return "-"
    if entry and isinstance(entry[0], str):  # survive: one "x/y" per round
        return ", ".join(entry)
    low, mid, high = entry[:3]
    text = f"{mid:g}" if low == high else f"{mid:g} [{low:g}-{high:g}]"
    return text + (f" ({entry[3]})" if len(entry) > 3 else "")


ORDER = ("burst", "steady", "detection", "restart")


def table(summary: dict, names: list[str]) -> str:
    """The Markdown table for benchmarks/README.md: median [min-max] per side."""
    rows = [
        "| scenario | metric | " + " | ".join(names) + " |",
        "|---|---|" + "---|" * len(names),
    ]
    for scenario in ORDER:
        metrics: list[str] = []
        for name in names:
            for metric in summary.get(name, {}).get(scenario, {}):
                if metric not in metrics:
                    metrics.append(metric)
        for metric in metrics:
            cells = [cell(summary.get(n, {}).get(scenario, {}).get(metric)) for n in names]
            rows.append(f"| {scenario} | {metric} | " + " | ".join(cells) + " |")
    return "\n".join(rows)


if __name__ == "__main__":
    sys.exit(main())
