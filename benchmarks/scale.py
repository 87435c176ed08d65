"""Scale run in the style of hubtraf: simulated users log in, start a server, run code in a
kernel and stop, against stock batchspawner.SlurmSpawner and the project's FactorySpawner in
one invocation on the same machine, Slurm, bench site and arrival pattern (issue [proof]).

    flock /tmp/aifactory-realstack.lock /opt/aifactory/venv/bin/python benchmarks/scale.py \\
        --users 50 --out benchmarks/results-scale.json
    ... benchmarks/scale.py --users 3 --arrival 20 --hold 5,10 --out /tmp/scale.json   # try-out

Each user, on its own thread, does what a person at a browser does (hubtraf's steps):
  login    GET /hub/login, POST the form (PAM, the user's real password)
  spawn    POST /hub/api/users/{u}/server, then the spawn page's progress stream until ready
  open     GET /user/{u}/lab through the proxy (the single-user server's OAuth with the hub)
  execute  start a kernel in the session and get the first reply on its websocket
  work     run a line every few seconds for the user's hold time, checking its output
  stop     DELETE the server and wait until the hub has no server for the user
Arrival times, think times and hold times come from one seeded generator, so both sides get
the same users at the same moments. hubtraf itself is not driven: benchmarks/README.md says
why.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import benchlib
import requests
from benchlib import CONFIGS, USERS, DbdStats, Sdiag, cli, hub_cpu, pct

from tests.session_kernel import SessionKernel
from tests.stack import HubClient

STAGES = ("login", "spawn", "open", "execute", "work", "stop")
TIMED = ("login", "spawn", "open", "execute", "stop")
FACTORY_OPTIONS = {"project": benchlib.ACCOUNT, "cpus": 1, "memory_gb": 1}
LINE, EXPECTED = "print(sum(range(10)) * 7)", "315"
SPAWN_TIMEOUT_S = 300.0


@dataclass(frozen=True)
class Plan:
    """One simulated user's timeline, drawn once and replayed on each side."""

    user: str
    arrive_s: float  # after the run's start
    think_after_login_s: float
    think_after_ready_s: float
    hold_s: float  # working in the kernel before stopping
    work_every_s: tuple[float, ...]  # pauses between the lines it runs while holding


def draw_plans(
    users: list[str], arrival_s: float, hold_s: tuple[float, float], seed: int
) -> list[Plan]:
    """Seeded arrivals spread uniformly over `arrival_s`, think and hold times per user."""
    rng = random.Random(seed)  # noqa: S311 - a replayable schedule, not a secret
    plans = []
    for user in users:
        hold = rng.uniform(*hold_s)
        pauses, total = [], 0.0
        while total < hold:
            pauses.append(round(rng.uniform(2.0, 5.0), 2))
            total += pauses[-1]
        plans.append(
            Plan(
                user=user,
                arrive_s=round(rng.uniform(0, arrival_s), 2),
                think_after_login_s=round(rng.uniform(1.0, 5.0), 2),
                think_after_ready_s=round(rng.uniform(1.0, 5.0), 2),
                hold_s=round(hold, 2),
                work_every_s=tuple(pauses),
            )
        )
    return sorted(plans, key=lambda p: p.arrive_s)


@dataclass
class Outcome:
    user: str
    seconds: dict[str, float] = field(default_factory=dict)
    failed_at: str = ""
    reason: str = ""
    lines_run: int = 0


class Sessions:
    """How many users have a ready server at once (the load the hub is carrying)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.peak = 0

    def change(self, by: int) -> None:
        with self._lock:
            self.now += by
            self.peak = max(self.peak, self.now)


class SimulatedUser:
    """One person: log in, spawn, open JupyterLab, run code in a kernel, stop."""

    def __init__(self, client: HubClient, plan: Plan, options: dict, start: float, live: Sessions):
        self.client, self.plan, self.options = client, plan, options
        self.start, self.live = start, live
        self.user = plan.user
        self.url = client.url
        self.outcome = Outcome(plan.user)
        self.browser: requests.Session | None = None
        self.token = ""
        self.kernel: SessionKernel | None = None
        self.spawned = False  # asked for a server that may still be there
        self.counted = False  # counted in `live` as a ready server

    def run(self) -> Outcome:
        time.sleep(max(0.0, self.start + self.plan.arrive_s - time.monotonic()))
        stage = STAGES[0]
        try:
            for stage in STAGES:
                t0 = time.monotonic()
                getattr(self, stage)()
                if stage in TIMED:
                    self.outcome.seconds[stage] = round(time.monotonic() - t0, 3)
                time.sleep(self.think_after(stage))  # not part of the stage's time
        except Exception as exc:  # a failed user is a result, whatever went wrong
            self.outcome.failed_at = stage
            self.outcome.reason = f"{type(exc).__name__}: {str(exc).strip()[:300]}"
        finally:
            self._clean_up()
        return self.outcome

    def think_after(self, stage: str) -> float:
        if stage == "login":
            return self.plan.think_after_login_s
        return self.plan.think_after_ready_s if stage == "open" else 0.0

    def login(self) -> None:
        self.browser = self.client.login(self.user)
        resp = self.browser.post(
            f"{self.url}/hub/api/users/{self.user}/tokens",
            json={"note": "scale run", "expires_in": 3600},
            timeout=60,
        )
        if resp.status_code != 201:
            raise RuntimeError(f"token: {resp.status_code} {resp.text[:200]}")
        self.token = resp.json()["token"]

    def _api(self, method: str, path: str, **kwargs) -> requests.Response:
        headers = {"Authorization": f"token {self.token}"}
        return requests.request(
            method, f"{self.url}/hub/api{path}", headers=headers, timeout=60, **kwargs
        )

    def spawn(self) -> None:
        resp = self._api("POST", f"/users/{self.user}/server", json=self.options)
        if resp.status_code not in (201, 202):
            raise RuntimeError(f"POST server: {resp.status_code} {resp.text[:200]}")
        self.spawned = True
        if resp.status_code == 202:
            self._wait_ready()
        self._count(True)

    def _wait_ready(self) -> None:
        """Follow the progress stream the spawn page shows until `ready` or `failed`."""
        deadline = time.monotonic() + SPAWN_TIMEOUT_S
        last = {}
        with requests.get(
            f"{self.url}/hub/api/users/{self.user}/server/progress",
            headers={"Authorization": f"token {self.token}"},
            stream=True,
            timeout=(30, 60),  # the hub sends a keepalive every 8 s
        ) as resp:
            if resp.status_code != 200:
                raise RuntimeError(f"progress: {resp.status_code} {resp.text[:200]}")
            for line in resp.iter_lines(decode_unicode=True):
                if line and line.startswith("data:"):
                    last = json.loads(line[5:])
                    if last.get("ready"):
                        return
                    if last.get("failed"):
                        raise RuntimeError(f"spawn failed: {last.get('message', '')[:300]}")
                if time.monotonic() > deadline:
                    break
        raise RuntimeError(f"not ready in {SPAWN_TIMEOUT_S:g} s; last: {last.get('message')}")

    def open(self) -> None:
        resp = self.browser.get(f"{self.url}/user/{self.user}/lab", timeout=120)
        if resp.status_code != 200 or not resp.url.split("?")[0].endswith(f"/user/{self.user}/lab"):
            raise RuntimeError(f"lab: {resp.status_code} at {resp.url}")

    def execute(self) -> None:
        # Kernel start (POST api/kernels, in the session) + websocket + the first reply.
        self.kernel = SessionKernel(self.url, self.user, self.token, timeout=120)

    def work(self) -> None:
        for pause in (0.0, *self.plan.work_every_s):
            time.sleep(pause)
            out = self.kernel.execute(LINE, timeout=120).stdout.strip()
            if out != EXPECTED:
                raise RuntimeError(f"{LINE} printed {out!r}")
            self.outcome.lines_run += 1

    def stop(self) -> None:
        self._shutdown_kernel()
        resp = self._api("DELETE", f"/users/{self.user}/server")
        if resp.status_code not in (202, 204):
            raise RuntimeError(f"DELETE server: {resp.status_code} {resp.text[:200]}")
        deadline = time.monotonic() + 120
        while self._server():
            if time.monotonic() > deadline:
                raise RuntimeError("server still there 120 s after DELETE")
            time.sleep(1)
        self.spawned = False
        self._count(False)

    def _server(self) -> dict:
        resp = self._api("GET", f"/users/{self.user}")
        resp.raise_for_status()
        return resp.json()["servers"].get("", {})

    def _shutdown_kernel(self) -> None:
        kernel, self.kernel = self.kernel, None
        if kernel:
            try:
                kernel.shutdown()
            except Exception as exc:  # the server may already be gone
                print(f"  {self.user}: kernel shutdown: {exc}", file=sys.stderr)

    def _clean_up(self) -> None:
        """After a failure: leave no kernel or server behind for the next user or side."""
        self._shutdown_kernel()
        if self.spawned and self.token:
            try:
                self._api("DELETE", f"/users/{self.user}/server")
            except requests.RequestException as exc:
                print(f"  {self.user}: clean-up: {exc}", file=sys.stderr)
        self._count(False)

    def _count(self, ready: bool) -> None:
        if ready != self.counted:
            self.counted = ready
            self.live.change(+1 if ready else -1)


class CpuByPart:
    """CPU seconds by part of the stack over a window, from /proc every `every_s` seconds:
    what the 2 cores went to (a process that lives less than one interval is missed; its
    parent's count does not include it until reaped, which the hub's figure does)."""

    def __init__(self, hub_pid: int, session_uids: set[int], every_s: float = 2.0):
        self.hub_pid, self.session_uids, self.every_s = hub_pid, session_uids, every_s
        self.start: dict[int, float] = {}
        self.last: dict[int, tuple[str, float]] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def part(self, pid: int, uid: int, comm: str) -> str:
        if pid == self.hub_pid:
            return "hub"
        if pid == os.getpid():
            return "simulated users"
        if uid in self.session_uids:
            return "sessions"
        if comm.startswith(("slurm", "mariadbd", "mysqld", "munged")):
            return "slurm"
        if comm == "node":
            return "proxy"
        return "others"

    def _sample(self) -> dict[int, tuple[str, float]]:
        ticks = os.sysconf("SC_CLK_TCK")
        seen = {}
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                uid = proc.stat().st_uid
            except OSError:
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat.rsplit(")", 1)[1].split()
            pid = int(proc.name)
            seen[pid] = (self.part(pid, uid, comm), (int(fields[11]) + int(fields[12])) / ticks)
        return seen

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            self.last.update(self._sample())

    def __enter__(self) -> CpuByPart:
        self.start = {pid: cpu for pid, (_, cpu) in self._sample().items()}
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.last.update(self._sample())

    def seconds(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for pid, (part, cpu) in self.last.items():
            out[part] = out.get(part, 0.0) + cpu - self.start.get(pid, 0.0)
        return {part: round(cpu, 1) for part, cpu in sorted(out.items(), key=lambda i: -i[1])}


def machine_cpu() -> float:
    """CPU seconds the whole machine spent busy (all cores, /proc/stat): sessions, slurmd,
    proxy and hub together, for what the 2 cores had to give."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    busy = sum(int(f) for i, f in enumerate(fields[:8]) if i not in (3, 4))  # not idle/iowait
    return busy / os.sysconf("SC_CLK_TCK")


def spread(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(pct(values, 0.5), 2),
        "p95": round(pct(values, 0.95), 2),
        "max": round(max(values), 2),
    }


def run_side(
    kind: str, site, site_file: Path, passwords: dict[str, str], plans: list[Plan]
) -> dict:
    """Start `kind`'s hub, replay the plans against it, measure, clean up, stop the hub."""
    print(f"{kind}: starting the hub", file=sys.stderr, flush=True)
    pid = cli.start_hub(site, str(site_file), config_file=CONFIGS[kind])
    client = HubClient(site, passwords)
    options = FACTORY_OPTIONS if kind == "factory" else {}
    live = Sessions()
    outcomes: list[Outcome] | None = None
    try:
        time.sleep(5)  # let the hub's start-up settle before the counters start
        Sdiag.reset()
        DbdStats.reset()
        cpu0, machine0, start = hub_cpu(pid), machine_cpu(), time.monotonic()
        users = [SimulatedUser(client, plan, options, start, live) for plan in plans]
        print(f"{kind}: {len(users)} users arriving", file=sys.stderr, flush=True)
        uids = {pwd.getpwnam(plan.user).pw_uid for plan in plans}
        with CpuByPart(pid, uids) as by_part, ThreadPoolExecutor(len(users)) as pool:
            outcomes = list(pool.map(SimulatedUser.run, users))
        wall = time.monotonic() - start
        hub_cpu_s, machine_cpu_s = hub_cpu(pid) - cpu0, machine_cpu() - machine0
        rpcs = Sdiag.summary()
        _, by_user = Sdiag.counts()
        dbd = DbdStats.summary()
    finally:
        failed = {o.user for o in outcomes or [] if o.failed_at}
        leftovers(client, [p.user for p in plans if outcomes is None or p.user in failed])
        cli.stop_hub(site)
    failures = [o for o in outcomes if o.failed_at]
    result = {
        "users": len(outcomes),
        "completed": len(outcomes) - len(failures),
        "failures": len(failures),
        "failed_at": {
            s: sum(o.failed_at == s for o in failures)
            for s in STAGES
            if any(o.failed_at == s for o in failures)
        },
        "failure_examples": [f"{o.user} at {o.failed_at}: {o.reason}" for o in failures[:5]],
        **{
            f"{stage}_s": spread([o.seconds[stage] for o in outcomes if stage in o.seconds])
            for stage in TIMED
        },
        "lines_run": sum(o.lines_run for o in outcomes),
        "peak_sessions": live.peak,
        "wall_s": round(wall, 1),
        "hub_cpu_s": round(hub_cpu_s, 1),
        "machine_cpu_s": round(machine_cpu_s, 1),
        "machine_busy_pct": round(100 * machine_cpu_s / (wall * (os.cpu_count() or 1))),
        "cpu_s_by_part": by_part.seconds(),
        **rpcs,
        "rpc_by_hub_user": {
            "root": by_user.get("root", 0),
            "bench users": sum(n for u, n in by_user.items() if u in USERS),
        },
        **dbd,
    }
    print(json.dumps(result, indent=1), file=sys.stderr, flush=True)
    return result


def leftovers(client: HubClient, users: list[str]) -> None:
    """Whatever failed (or interrupted) users left: stop their servers through the hub, then
    cancel the bench account's jobs (the bench's own only)."""
    for user in users:
        try:
            if client.server(user):
                client.stop(user, timeout=120)
        except Exception as exc:
            print(f"  leftover {user}: {exc}", file=sys.stderr)
    benchlib.cancel_bench_jobs()


def summarize(runs: list[dict]) -> dict:
    """min / median / max over repeats of the figures the table shows."""
    keys = ["failures", "peak_sessions", "lines_run", "wall_s", "hub_cpu_s", "machine_cpu_s"]
    keys += ["rpc_hub", "rpc_query", "dbd_hub"]
    keys += [f"{stage}_s.{q}" for stage in TIMED for q in ("p50", "p95", "max")]
    out = {}
    for key in keys:
        name, _, sub = key.partition(".")
        values = [r.get(name, {}).get(sub) if sub else r.get(name) for r in runs]
        values = [v for v in values if isinstance(v, (int, float))]
        if values:
            out[key] = {"min": min(values), "median": statistics.median(values),
                        "max": max(values)}  # fmt: skip
    return out


def table(results: dict) -> str:
    """The Markdown table for benchmarks/README.md (median of repeats; min-max if several)."""
    rows = ["| metric | stock batchspawner | FactorySpawner |", "|---|---|---|"]
    stock, factory = results["summary"].get("stock", {}), results["summary"].get("factory", {})

    def cell(side: dict, key: str) -> str:
        if key not in side:
            return "-"
        m = side[key]
        return (
            f"{m['median']:g}"
            if m["min"] == m["max"]
            else (f"{m['median']:g} ({m['min']:g}-{m['max']:g})")
        )

    for key in dict.fromkeys([*stock, *factory]):
        rows.append(f"| {key} | {cell(stock, key)} | {cell(factory, key)} |")
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50, help=f"at most {len(USERS)}")
    parser.add_argument("--arrival", type=float, default=120.0, help="arrivals spread, s")
    parser.add_argument("--hold", default="10,20", help="min,max s a user works in its kernel")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--sides", default="stock,factory", help="order of the first repeat")
    parser.add_argument("--repeats", type=int, default=2, help="each later one reverses order")
    parser.add_argument("--poll", type=float, default=10.0, help="poll interval for both")
    parser.add_argument("--nodes", type=int, default=2, help="nodes in the cpu partition")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-scale.json")))
    args = parser.parse_args()
    if not 1 <= args.users <= len(USERS):
        parser.error(f"--users must be 1..{len(USERS)}")
    hold = tuple(float(x) for x in args.hold.split(","))
    plans = draw_plans(USERS[: args.users], args.arrival, hold, args.seed)
    sides = args.sides.split(",")
    site, site_file, passwords = benchlib.prepare(args.poll, args.nodes)
    results: dict = {
        **benchlib.run_metadata(),
        "settings": {
            "users": args.users,
            "arrival_s": args.arrival,
            "hold_s": list(hold),
            "seed": args.seed,
            "repeats": args.repeats,
            "cpu_nodes": args.nodes,
            "poll_interval_s": args.poll,
            "slurm_confirm_s": site.hub.slurm_confirm_s,
            "code": LINE,
            "factory_options": FACTORY_OPTIONS,
        },
        "runs": [],
    }
    t0 = time.monotonic()
    try:
        for repeat in range(args.repeats):
            order = sides if repeat % 2 == 0 else sides[::-1]
            for kind in order:
                run = run_side(kind, site, site_file, passwords, plans)
                results["runs"].append({"side": kind, "repeat": repeat + 1, **run})
    finally:
        benchlib.restore_demo()
    results["total_wall_s"] = round(time.monotonic() - t0, 1)
    results["summary"] = {
        kind: summarize([r for r in results["runs"] if r["side"] == kind]) for kind in sides
    }
    Path(args.out).write_text(json.dumps(results, indent=1) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
