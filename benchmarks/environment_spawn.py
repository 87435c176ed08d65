"""Spawn time with each site environment against the default (`factory`), in one run.

Not a timed test: a harness that reports (issue [environments]). It starts a test-style hub
of its own (the demo site on 127.0.0.1:19400, its own state; never the demo hub on :8000 or
the test hub on :18000), and for one demo user starts sessions in each environment, in
alternating order (factory, pytorch, jax, then jax, pytorch, factory, ...) so that a drift of
the machine over the run falls on every environment alike. For each session it measures:

- `spawn_s` (a): from POST /hub/api/users/<u>/server with {"environment": env, ...} until the
  hub's API says the server is ready (polled every 0.2 s): Slurm's queueing, the batch
  script (Lmod and the environment's modules), JupyterLab's start. JupyterLab runs from the
  factory's own Python in every environment, so this phase differs by the script alone.
- `kernel_s` (b): from ready until the first execute_reply of `import sys` in a new default
  kernel (POST api/kernels, its websocket, the kernel's start in the environment's Python):
  where environments differ, since each has its own interpreter and ipykernel.
- `import_s` (c): the first import of the environment's distinguishing package in that kernel
  (`--imports`, default torch for factory and pytorch, jax for jax), timed inside the kernel
  with perf_counter; `import_roundtrip_s` is the same seen from the client.

Then the session is stopped and its Slurm job gone before the next. Only the harness's own
jobs are ever cancelled (by the ids it recorded), never the demo hub's or a test run's.
Results: benchmarks/results-environments.json (`--out`), and a Markdown table on stdout.

    flock /tmp/aifactory-realstack.lock /opt/aifactory/venv/bin/python \
        benchmarks/environment_spawn.py --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchlib import live, stats, wait_gone, wait_ready  # noqa: E402

from aifactory_hub.ops import cli, localcluster  # noqa: E402
from aifactory_hub.ops.accounts import apply_site  # noqa: E402
from aifactory_hub.site import DEMO_SITE, Site, load_site  # noqa: E402
from tests.session_kernel import SessionKernel  # noqa: E402
from tests.stack import HubClient, demo_site_on_port, session_job_ids  # noqa: E402

PORT = 19400  # proxy API 19401, hub API 19481, factory service 19490, console 19491
STATE = Path("/var/lib/aifactory/bench-environments")
PASSWORDS = Path("/var/lib/aifactory/demo-passwords")
PHASES = ("spawn_s", "kernel_s", "import_s")
PHASE_NAMES = {
    "spawn_s": "(a) POST to ready",
    "kernel_s": "(b) ready to `import sys` replied",
    "import_s": "(c) first import of its package",
}
IPYKERNEL = "import importlib.metadata as m; print(m.version('ipykernel'))"
IMPORT = """
import json as _j, time as _t
_t0 = _t.perf_counter()
import {module}
print(_j.dumps({{"import_s": _t.perf_counter() - _t0, "version": {module}.__version__}}))
"""


class FirstKernel(SessionKernel):
    """A session kernel whose first message is the measured `import sys` (the base class
    checks the kernel with `1` on connect, which would be the first execute_reply)."""

    def connect(self) -> None:
        import uuid

        import websocket

        ws_url = self.base.replace("http://", "ws://", 1) + f"api/kernels/{self.id}/channels"
        self.ws = websocket.create_connection(
            ws_url, header=[f"Authorization: token {self.token}"], timeout=self.timeout
        )
        self.session = uuid.uuid4().hex


def one_session(
    client: HubClient, args, env: str, prefix: str, module: str | None, jobs: set[str]
) -> dict:
    """One session in `env`: the three phases, then stopped and its job gone."""
    user = args.user
    options = {"project": args.project, "environment": env, "cpus": 1, "memory_gb": 1}
    before = session_job_ids(user)  # the user's jobs elsewhere are not the harness's
    t0 = time.monotonic()
    resp = client.api("POST", f"/users/{user}/server", user, json=options)
    if resp.status_code not in (201, 202):
        raise RuntimeError(f"spawn {env}: {resp.status_code} {resp.text[:300]}")
    try:
        wait_ready(client, user, args.timeout)
        ready = time.monotonic()
        kernel = FirstKernel(client.url, user, client.token(user), timeout=args.timeout)
        try:
            kernel.execute("import sys", timeout=args.timeout)
            replied = time.monotonic()
            python = kernel.execute("print(sys.executable)").stdout.strip()
            if not python.startswith(prefix.rstrip("/") + "/"):
                raise RuntimeError(f"{env}: the default kernel runs {python}, not in {prefix}")
            row = {
                "environment": env,
                "job": ",".join(sorted(session_job_ids(user) - before)),
                "python": python,
                "spawn_s": round(ready - t0, 2),
                "kernel_s": round(replied - ready, 2),
            }
            if module:
                t1 = time.monotonic()
                out = kernel.execute(IMPORT.format(module=module), timeout=args.timeout)
                found = json.loads(out.stdout.strip().splitlines()[-1])
                row.update(
                    module=module,
                    version=found["version"],
                    import_s=round(found["import_s"], 2),
                    import_roundtrip_s=round(time.monotonic() - t1, 2),
                )
            return row
        finally:
            kernel.shutdown()
    finally:
        jobs.update(session_job_ids(user) - before)
        client.stop(user, timeout=120)
        wait_gone(jobs, 60)


def order(environments: list[str], repeats: int) -> list[str]:
    """factory, pytorch, jax, jax, pytorch, factory, ...: each environment `repeats` times."""
    rounds = [environments if r % 2 == 0 else environments[::-1] for r in range(repeats)]
    return [env for one in rounds for env in one]


def summarise(runs: list[dict], environments: list[str]) -> dict:
    out: dict = {}
    for env in environments:
        mine = [r for r in runs if r["environment"] == env]
        out[env] = {p: stats([r[p] for r in mine]) for p in PHASES if all(p in r for r in mine)}
        if mine and "module" in mine[0]:
            out[env]["module"] = mine[0]["module"]
    base = out.get("factory", {})
    for env in environments:
        for phase, s in out[env].items():
            if phase == "module" or phase not in base:
                continue
            same = phase != "import_s" or out[env].get("module") == base.get("module")
            delta = round(s["median"] - base[phase]["median"], 2)
            s["median_minus_factory"] = delta if same else None
    return out


def hub_changes() -> list[str]:
    """The files under hub/ that differ from the commit (git status), to record with it."""
    out = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--", "hub"],
                         capture_output=True, text=True).stdout  # fmt: skip
    return sorted(line[3:] for line in out.splitlines() if line.strip())


def versions(site: Site) -> dict[str, str]:
    def cmd(*argv: str) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=30)
        except OSError:
            return "?"
        return done.stdout.strip() or "?"

    found = {
        "python": platform.python_version(),
        "slurm": cmd("sinfo", "--version"),
        "lmod": cmd("dpkg-query", "-W", "-f", "${Version}", "lmod"),
    }
    for dist in ("jupyterhub", "batchspawner", "jupyter_server", "ipykernel"):
        found[dist] = metadata.version(dist)
    for env in site.environments:
        python = f"{env.prefix}/bin/python"
        found[f"{env.name}_python"] = cmd(python, "--version")
        found[f"{env.name}_ipykernel"] = cmd(python, "-c", IPYKERNEL)
    return found


def machine() -> dict:
    cpuinfo = Path("/proc/cpuinfo").read_text()
    model = next((ln.split(":", 1)[1].strip() for ln in cpuinfo.splitlines()
                  if ln.startswith("model name")), "?")  # fmt: skip
    mem = next(ln for ln in Path("/proc/meminfo").read_text().splitlines() if "MemTotal" in ln)
    return {"cpus": os.cpu_count(), "cpu_model": model, "kernel": platform.release(),
            "memory_gb": round(int(mem.split()[1]) / 2**20, 1)}  # fmt: skip


def table(summary: dict, environments: list[str]) -> str:
    """The Markdown table for benchmarks/README.md."""
    rows = [
        "| phase | environment | n | min s | median s | max s | median - factory s |",
        "|---|---|---|---|---|---|---|",
    ]
    for phase in PHASES:
        for env in environments:
            s = summary[env].get(phase)
            if not s:
                continue
            name = PHASE_NAMES[phase]
            if phase == "import_s":
                name += f" (`import {summary[env]['module']}`)"
            delta = s.get("median_minus_factory")
            delta_text = "-" if delta is None or env == "factory" else f"{delta:+.2f}"
            rows.append(f"| {name} | {env} | {s['n']} | {s['min']} | {s['median']} | "
                        f"{s['max']} | {delta_text} |")  # fmt: skip
    return "\n".join(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="sessions per environment")
    parser.add_argument("--user", default="carol", help="a demo researcher")
    parser.add_argument("--project", default="ai-beta", help="one of the user's projects")
    parser.add_argument("--environments", default="factory,pytorch,jax")
    parser.add_argument("--imports", default="factory=torch,pytorch=torch,jax=jax",
                        help="environment=module for phase (c)")  # fmt: skip
    parser.add_argument("--timeout", type=float, default=300.0, help="per step, seconds")
    parser.add_argument("--out", default=str(Path(__file__).with_name("results-environments.json")))
    args = parser.parse_args()
    environments = args.environments.split(",")
    imports = dict(pair.split("=", 1) for pair in args.imports.split(",") if pair)

    demo = load_site(DEMO_SITE)
    localcluster.start(demo)
    passwords = apply_site(demo, PASSWORDS)  # the demo users, and the environments built
    shutil.rmtree(STATE, ignore_errors=True)  # a fresh hub: no servers or tokens from before
    STATE.mkdir(parents=True, mode=0o700)
    site_file = STATE / "site.toml"
    site_file.write_text(demo_site_on_port(PORT, STATE / "hub"))
    site = load_site(site_file)
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    dirty = hub_changes()
    jobs: set[str] = set()
    runs: list[dict] = []
    cli.start_hub(site, str(site_file))
    try:
        client = HubClient(site, passwords)
        client.token(args.user)  # log in before any clock starts
        plan = order(environments, args.repeats)
        for n, env in enumerate(plan, 1):
            print(f"{n}/{len(plan)}: {env}", file=sys.stderr)
            prefix = site.environment(env).prefix
            runs.append(one_session(client, args, env, prefix, imports.get(env), jobs))
            print(f"  {json.dumps(runs[-1])}", file=sys.stderr)
    finally:
        cli.stop_hub(site)
        left = live(jobs)
        if left:  # the harness's own jobs only, by the ids it recorded
            subprocess.run(["scancel", *sorted(left)], check=False, timeout=30)
    summary = summarise(runs, environments)
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": commit,
        # Files under hub/ that differ from the commit: at the start (what the hub loaded) and
        # at the end (a change in the shared tree during the run reaches only new processes).
        "hub_changed_since_commit": dirty,
        "hub_changed_during_run": sorted(set(hub_changes()) - set(dirty)),
        "command": " ".join(["benchmarks/environment_spawn.py", *sys.argv[1:]]),
        "user": args.user,
        "project": args.project,
        "session": {
            "cpus": 1,
            "memory_gb": 1,
            "partition": "the project's first (the form's default)",
        },
        "poll_interval_s": site.hub.poll_interval_s,
        "order": order(environments, args.repeats),
        "versions": versions(site),
        "machine": machine(),
        "runs": runs,
        "summary": summary,
    }
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(table(summary, environments))
    return 0


if __name__ == "__main__":
    sys.exit(main())
