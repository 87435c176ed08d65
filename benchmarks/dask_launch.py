"""Dask launch benchmark: the DaskLauncher widget's click against a hand-written SLURMCluster.

Both run in one invocation, in one Python process as the same demo user, on the same machine
and Slurm, alternating (hand, widget, hand, widget, ...). Each run measures:

  to_2_workers_s   from the click (or the SLURMCluster(...) call) until 2 workers are connected
  stop_s           from stop until no job of the cluster is left in squeue

    /opt/aifactory/venv/bin/python benchmarks/dask_launch.py --user bob --runs 5

Run as root it re-runs itself as --user (sbatch must come from the user, as in a session).
The widget gets the partitions from the site file instead of the factory service (one HTTP
GET in a session, not measured here). Results: benchmarks/results-dask.json and a Markdown
table for README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results-dask.json"


def live_jobs(user: str, name: str) -> list[str]:
    out = subprocess.run(
        ["squeue", "-h", "-u", user, "-n", name, "-t", "PD,R,CG,CF", "-o", "%i"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    return out.split()


def wait_gone(user: str, name: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while live_jobs(user, name) and time.monotonic() < deadline:
        time.sleep(0.2)


def hand_written(user: str, account: str, partition: str) -> dict[str, float]:
    """What a researcher types from dask-jobqueue's documentation, with this site's interface."""
    from dask.distributed import Client
    from dask_jobqueue import SLURMCluster

    name = f"bench-hand-{os.getpid()}"
    start = time.monotonic()
    cluster = SLURMCluster(cores=1, memory="2GiB", account=account, queue=partition,
                           walltime="00:15:00", job_name=name, interface="lo")  # fmt: skip
    cluster.scale(2)
    client = Client(cluster)
    client.wait_for_workers(2, timeout=600)
    ready = time.monotonic() - start
    start = time.monotonic()
    client.close()
    cluster.close()
    wait_gone(user, name)
    return {"to_2_workers_s": ready, "stop_s": time.monotonic() - start}


def widget(user: str, account: str, partition: str) -> dict[str, float]:
    from aifactory_hub.service.routes.jobs import jobs_facts, project_partitions
    from aifactory_hub.site import load_site
    from aifactory_widgets import DaskLauncher
    from aifactory_widgets.jobs.limits import JobSite

    site = load_site()
    facts = JobSite.from_json(jobs_facts(site, project_partitions(site, {}, user)))
    env = {**os.environ, "SLURM_JOB_ACCOUNT": account, "SLURM_JOB_PARTITION": partition}
    launcher = DaskLauncher(site=facts, environ=env)
    launcher.minimum.value, launcher.maximum.value = 2, 2
    launcher.placement.walltime.value = 15
    start = time.monotonic()
    launcher.start_button.click()
    launcher.client.wait_for_workers(2, timeout=600)
    ready = time.monotonic() - start
    name = launcher.cluster.job_name
    start = time.monotonic()
    launcher.stop()
    wait_gone(user, name)
    return {"to_2_workers_s": ready, "stop_s": time.monotonic() - start}


def table(results: dict[str, list[dict[str, float]]]) -> str:
    lines = ["| metric | hand-written SLURMCluster | DaskLauncher widget | widget / hand |",
             "|---|---|---|---|"]  # fmt: skip
    for metric in ("to_2_workers_s", "stop_s"):
        hand = statistics.median(r[metric] for r in results["hand"])
        mine = statistics.median(r[metric] for r in results["widget"])
        lines.append(f"| {metric} (median) | {hand:.2f} | {mine:.2f} | {mine / hand:.2f} |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", default="bob")
    parser.add_argument("--account", default="ai-alpha")
    parser.add_argument("--partition", default="cpu")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() == 0:
        from benchlib import run_metadata

        started = run_metadata()
        # The child prints its progress to stderr and the results, as JSON, last on stdout.
        argv = ["runuser", "-u", args.user, "--", sys.executable, __file__, *sys.argv[1:]]
        home = os.path.expanduser(f"~{args.user}")  # a session starts there, as the job output does
        child = subprocess.run(argv, cwd=home, stdout=subprocess.PIPE, text=True, check=False)
        if child.returncode == 0:
            data = json.loads(child.stdout.strip().splitlines()[-1])
            data["command"] = " ".join(["python", "benchmarks/dask_launch.py", *sys.argv[1:]])
            # commit, versions and machine, from the parent: the child runs as the user,
            # outside the checkout
            data["run"] = started
            RESULTS.write_text(json.dumps(data, indent=1) + "\n")
            print(table(data["runs"]))
        return child.returncode
    os.environ["HOME"] = os.path.expanduser(f"~{args.user}")
    results: dict[str, list[dict[str, float]]] = {"hand": [], "widget": []}
    for i in range(args.runs):
        for kind, run_one in (("hand", hand_written), ("widget", widget)):
            results[kind].append(run_one(args.user, args.account, args.partition))
            print(kind, i, results[kind][-1], file=sys.stderr, flush=True)
    print(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "runs": results}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
