"""Shared plumbing of the real-stack benchmarks (spawners.py, scale.py): the bench site, the
referees (slurmctld's sdiag, slurmdbd's stats, /proc), and what every result file records.

The bench site is the demo site plus a project `bench` of 50 users (bench01..bench50) on a
hub at 127.0.0.1:19000. Everything here that touches Slurm keeps to the bench account, so a
benchmark never cancels the demo hub's or a test run's sessions.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The checkout's own packages first: a benchmark measures this tree, whatever is installed.
sys.path[:0] = [str(ROOT), str(ROOT / "hub"), str(ROOT / "extensions")]

from aifactory_hub.ops import cli, localcluster  # noqa: E402
from aifactory_hub.ops.accounts import apply_site  # noqa: E402
from aifactory_hub.site import DEMO_SITE, Site, load_site  # noqa: E402
from tests.stack import HubClient, demo_site_on_port  # noqa: E402

PORT = 19000
ACCOUNT = "bench"
USERS = [f"bench{i:02d}" for i in range(1, 51)]
STATE = Path("/var/lib/aifactory/bench")
# The demo password file: existing demo users keep their passwords, bench users are added.
PASSWORDS = Path("/var/lib/aifactory/demo-passwords")
CONFIGS = {
    "factory": cli.HUB_CONFIG,
    "stock": Path(__file__).with_name("stock_jupyterhub_config.py"),
}
# RPC types a spawner's job queries cause (squeue); everything else is reported in "all".
QUERY_RPCS = ("REQUEST_JOB_INFO", "REQUEST_JOB_INFO_SINGLE", "REQUEST_JOB_USER_INFO")
NOT_THE_HUB = ("REQUEST_STATS_INFO", "MESSAGE_NODE_REGISTRATION_STATUS", "REQUEST_PING")
# Who acts for a hub in sdiag's by-user section: the hub runs as root (squeue, scancel) and
# submits as each user through sudo (sbatch); slurmd's own traffic is also root's but is
# excluded by type (NOT_THE_HUB).
HUB_USERS = ("root", *USERS)


def bench_site_text(poll: float, cpu_nodes: int = 2) -> str:
    """The demo site plus the bench users in one project, on `cpu_nodes` nodes in `cpu`,
    each declared big enough for all bench sessions at one CPU and 1 GB (idle sessions use
    ~150 MB each; the declaration only lets Slurm place them: the demo's nodes hold five)."""
    text = demo_site_on_port(PORT, STATE / "hub")
    text = re.sub(r"poll_interval_s = [0-9.]+", f"poll_interval_s = {poll}", text)
    text = re.sub(r"cpus_per_node = \d+", "cpus_per_node = 64", text)
    text = re.sub(r"memory_gb_per_node = \d+", "memory_gb_per_node = 64", text)
    cpu = text.index('name = "cpu"')
    text = text[:cpu] + re.sub(r"\nnodes = \d+", f"\nnodes = {cpu_nodes}", text[cpu:], count=1)
    text += f'\n[[projects]]\naccount = "{ACCOUNT}"\ntitle = "Benchmarks"\npi = "{USERS[0]}"\n'
    text += f'members = {json.dumps(USERS)}\npartitions = ["cpu"]\n'
    for user in USERS:
        text += f'\n[[users]]\nname = "{user}"\nroles = ["researcher"]\n'
    return text


def prepare(poll: float, cpu_nodes: int) -> tuple[Site, Path, dict[str, str]]:
    """Write and apply the bench site (Slurm accounts, Unix users, nodes); return the site,
    its file and the users' passwords."""
    STATE.mkdir(parents=True, exist_ok=True)
    site_file = STATE / "site.toml"
    site_file.write_text(bench_site_text(poll, cpu_nodes))
    site = load_site(site_file)
    localcluster.start(site)
    passwords = apply_site(site, PASSWORDS)
    return site, site_file, passwords


def cancel_bench_jobs() -> None:
    """Cancel the bench account's jobs only: never the demo hub's or a test run's."""
    subprocess.run(["scancel", f"--account={ACCOUNT}"], check=False)


def restore_demo() -> None:
    """Put the local factory back as the demo site has it: no bench account, demo nodes."""
    cancel_bench_jobs()
    time.sleep(5)
    subprocess.run(["sacctmgr", "-i", "delete", "account", ACCOUNT], check=False)
    subprocess.run(["sacctmgr", "-i", "delete", "user", ",".join(USERS)], check=False)
    demo = load_site(DEMO_SITE)
    localcluster.start(demo)
    apply_site(demo, PASSWORDS)


def _run(argv: list[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def rpc_counts(out: str) -> tuple[dict[str, int], dict[str, int]]:
    """(count by message type, count by user) from sdiag's or `sacctmgr show stats`'s text:
    both print the same two sections (sdiag then a pending-RPC section, left out)."""
    by_type_text = out.split("Remote Procedure Call statistics by message type", 1)[-1]
    by_type_text, _, by_user_text = by_type_text.partition(
        "Remote Procedure Call statistics by user"
    )
    line = r"^\s+([\w.-]+)\s+\(\s*\d+\) count:(\d+)"
    by_type = {name: int(n) for name, n in re.findall(line, by_type_text, re.M)}
    by_user_text = by_user_text.split("Pending RPC statistics", 1)[0]
    by_user = {name: int(n) for name, n in re.findall(line, by_user_text, re.M)}
    return by_type, by_user


class Sdiag:
    """slurmctld's RPC counters by message type and by user, reset at the start of each
    measurement. Counts by type are filtered to what a hub causes; counts by user split the
    hub's (root and the bench users) from anyone else's on the machine in the same window."""

    @staticmethod
    def reset() -> None:
        subprocess.run(["sdiag", "--reset"], check=True, capture_output=True, timeout=30)

    @staticmethod
    def parse(out: str) -> tuple[dict[str, int], dict[str, int]]:
        """sdiag's text -> (count by message type, count by user)."""
        return rpc_counts(out)

    @classmethod
    def counts(cls) -> tuple[dict[str, int], dict[str, int]]:
        return cls.parse(_run(["sdiag"]))

    @classmethod
    def summary(cls) -> dict[str, int]:
        """rpc_query: job-query RPCs (all users); rpc_all: every RPC type a client causes
        (all users); rpc_hub: the hub's users' RPCs (root's minus slurmd/sdiag types is not
        separable by user, so root counts whole: see HUB_USERS); rpc_others: everyone else."""
        by_type, by_user = cls.counts()
        root_noise = sum(by_type.get(k, 0) for k in NOT_THE_HUB)
        hub = sum(n for user, n in by_user.items() if user in HUB_USERS)
        return {
            "rpc_query": sum(by_type.get(k, 0) for k in QUERY_RPCS),
            "rpc_all": sum(v for k, v in by_type.items() if k not in NOT_THE_HUB),
            # Pings, node registrations and sdiag's own calls are root's but not the hub's.
            "rpc_hub": max(0, hub - root_noise),
            "rpc_others": sum(n for user, n in by_user.items() if user not in HUB_USERS),
        }


class DbdStats:
    """slurmdbd's own RPC counters (`sacctmgr show stats`): sacct and the usage collector
    talk to slurmdbd, not slurmctld, so sdiag alone does not see them."""

    @staticmethod
    def reset() -> None:
        subprocess.run(["sacctmgr", "-i", "clear", "stats"], check=False, capture_output=True)

    @staticmethod
    def parse(out: str) -> tuple[dict[str, int], dict[str, int]]:
        """`sacctmgr show stats` text -> (count by RPC type, count by user)."""
        return rpc_counts(out)

    @classmethod
    def summary(cls) -> dict[str, int]:
        """dbd_hub: slurmdbd RPCs from the hub's users (root, the bench users), less the
        harness's own `sacctmgr clear stats` (4 RPCs from root, measured on 22.05: persist
        init, the clear, two fini; a `show stats` is not in the figures it returns);
        dbd_slurmctld: slurmctld's job records (user slurm); dbd_all: everyone."""
        try:
            out = _run(["sacctmgr", "show", "stats"])
        except (subprocess.SubprocessError, OSError):
            return {}
        by_type, by_user = cls.parse(out)
        own = 4 * by_type.get("DBD_CLEAR_STATS", 0) + 4 * by_type.get("DBD_GET_STATS", 0)
        hub = sum(n for user, n in by_user.items() if user in HUB_USERS)
        return {
            "dbd_hub": max(0, hub - own),
            "dbd_slurmctld": by_user.get("slurm", 0),
            "dbd_all": max(0, sum(by_type.values()) - own),
        }


def forks() -> int:
    """Processes started on the machine so far (/proc/stat), for a delta over a window."""
    for line in Path("/proc/stat").read_text().splitlines():
        if line.startswith("processes "):
            return int(line.split()[1])
    raise RuntimeError("no processes line in /proc/stat")


def hub_cpu(pid: int) -> float:
    """The hub's CPU seconds, with its waited-for children (sudo, squeue, ...)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])
    return ticks / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (no interpolation: a p95 of 20 values is one of them)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return ""


def _git(*args: str) -> str:
    result = subprocess.run(["git", "-C", str(ROOT), *args], capture_output=True, text=True)
    return result.stdout.strip()


def _relative(path: str) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return path


def other_hubs(own_pid: int = 0) -> list[str]:
    """Other JupyterHubs running on the machine (the demo's, a test run's): they are root
    too, so their Slurm calls would land in the hub's by-user count. Recorded, not stopped."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == own_pid:
            continue
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        words = [a.decode(errors="replace") for a in argv if a]
        if "jupyterhub" in words and "-f" in words:
            found.append(f"{proc.name}: {' '.join(words[-3:])}")
    return found


def run_metadata() -> dict[str, object]:
    """What a result depends on, for every result file: the commit (and whether the tree
    had uncommitted changes), the date, the software versions and the machine."""
    cpu_model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu_model = line.split(":", 1)[1].strip()
            break
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
            break
    try:
        slurm = _run(["scontrol", "--version"]).strip()
    except (subprocess.SubprocessError, OSError):
        slurm = ""
    return {
        "commit": _git("rev-parse", "--short", "HEAD"),
        # The shared checkout has others' work in progress: what matters is the code a run
        # executes (hub/, benchmarks/), listed when it differs from the commit.
        "dirty": _git(
            "status", "--porcelain", "--untracked-files=no", "--", "hub", "benchmarks"
        ).splitlines(),
        "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
        "command": " ".join([_relative(sys.argv[0]), *sys.argv[1:]]),
        "slurm": slurm,
        "jupyterhub": _version("jupyterhub"),
        "batchspawner": _version("batchspawner"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "memory_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "other_hubs": other_hubs(),
    }


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            ppid = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(proc.name))
    return tree


def tree_cpu(pid: int) -> float:
    """CPU seconds of the hub and every live process under it (its services: the factory
    service, the idle culler), each with its waited-for children. The hub's own figure
    (hub_cpu) misses a service's work until the service exits."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        current = todo.pop()
        try:
            total += hub_cpu(current)
        except OSError:
            continue
        todo += tree.get(current, [])
    return total


# --- one user's sessions, one at a time (environment_spawn.py, lab_start.py) ---


def wait_ready(client: HubClient, user: str, timeout: float) -> None:
    """Until the hub's API says the user's server is ready (finer than HubClient's 1 s)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        server = client.server(user)
        if server.get("ready"):
            return
        if not server:
            raise RuntimeError(f"{user}'s server is gone while waiting for it")
        time.sleep(0.2)
    raise RuntimeError(f"{user}'s server not ready after {timeout} s")


def wait_gone(jobs: set[str], timeout: float) -> None:
    """Until squeue lists none of the harness's jobs (as root)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not live(jobs):
            return
        time.sleep(0.5)
    raise RuntimeError(f"jobs {sorted(live(jobs))} still in squeue after {timeout} s")


def live(jobs: set[str]) -> set[str]:
    if not jobs:
        return set()
    out = subprocess.run(["squeue", "-h", "-j", ",".join(sorted(jobs)), "-o", "%i"],
                         capture_output=True, text=True, timeout=30).stdout  # fmt: skip
    return set(out.split()) & jobs


def stats(values: list[float]) -> dict[str, float]:
    return {"n": len(values), "min": min(values), "median": round(statistics.median(values), 2),
            "max": max(values)}  # fmt: skip
