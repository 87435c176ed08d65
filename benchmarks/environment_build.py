"""The time of a typical environment build job: submission to kernel registered.

Not a timed test: a harness that reports. On the running local cluster, as researcher alice
(the way her kernel submits it: the factory's python, her identity and home), it builds the
two-package environment of tests/slurm/test_environment_build.py (humanize, termcolor, plus
ipykernel and ipywidgets as every build adds) `--runs` times, one after the other, and
measures for each run:

- `wall_s`: from just before `build.submit` (sbatch) to the kernel.json's write (its mtime):
  what the researcher waits for, queueing included;
- `queued_s` and `job_s`: Slurm's Submit to Start and the job's Elapsed (sacct);
- `size_mb`: the environment's size when it was registered (the job's last progress line).

Each run's environment, kernel and log are removed before the next. pip's cache in alice's
home is left as it is (a researcher's second build finds it warm) unless `--cold`, which
empties it before every run. Prints one JSON object with the commit it ran on.

    flock /tmp/aifactory-realstack.lock /opt/aifactory/venv/bin/python \
        benchmarks/environment_build.py --runs 3
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "hub"), str(ROOT / "extensions")]

from aifactory_hub.environments import build, register  # noqa: E402
from aifactory_hub.site import DEMO_SITE, load_site  # noqa: E402

USER = "alice"
PROJECT = "ai-alpha"
REQUIREMENTS = "humanize\ntermcolor\n"
SUBMIT = r"""
import json, sys, time
from aifactory_hub.environments import build
from aifactory_hub.site import Partition, SoftwareSettings
a = json.loads(sys.argv[1])
software = SoftwareSettings(**a["software"])
req = build.check_request([a["project"]], name=a["name"], project=a["project"],
                          home=a["home"], requirements=a["requirements"])
part = build.build_partition(software, [Partition(**p) for p in a["partitions"]])
at = time.time()
job = build.submit(req, part, software, a["home"])
print(json.dumps({"job": job, "submitted_at": at, "prefix": req.prefix}))
"""


def as_user(argv: list[str]) -> str:
    who = pwd.getpwnam(USER)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": who.pw_dir, "USER": USER,
           "LOGNAME": USER, "LANG": "C.UTF-8"}  # fmt: skip
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, cwd=who.pw_dir, env=env, check=True,
        user=who.pw_uid, group=who.pw_gid, extra_groups=os.getgrouplist(USER, who.pw_gid),
    ).stdout  # fmt: skip


def sacct(job: str) -> dict[str, str]:
    out = subprocess.run(
        ["sacct", "-n", "-P", "-X", "-j", job, "-o", "State,Submit,Start,ElapsedRaw"],
        capture_output=True, text=True, timeout=30, check=True,
        env={**os.environ, "TZ": "UTC", "SLURM_TIME_FORMAT": "%s"},
    ).stdout.strip()  # fmt: skip
    state, submit, start, elapsed = [*out.split("|"), "", "", "", ""][:4]
    return {"state": state, "submit": submit, "start": start, "elapsed": elapsed}


def one_run(site, home: str, timeout_s: float) -> dict:
    name = f"bench{uuid.uuid4().hex[:6]}"
    partitions = [site.partition(n) for p in site.projects if p.account == PROJECT
                  for n in p.partitions]  # fmt: skip
    request = {"name": name, "project": PROJECT, "home": home, "requirements": REQUIREMENTS,
               "software": site.software.model_dump(),
               "partitions": [p.model_dump() for p in partitions]}  # fmt: skip
    answer = json.loads(as_user([sys.executable, "-c", SUBMIT, json.dumps(request)]))
    job, prefix = answer["job"], answer["prefix"]
    spec = register.kernels_dir(home) / name / "kernel.json"
    log = Path(build.log_path(home, job))
    deadline = time.monotonic() + timeout_s
    try:
        while True:
            info = sacct(job)
            if info["state"] and info["state"].split()[0] not in ("PENDING", "RUNNING"):
                if info["elapsed"]:
                    break
            if time.monotonic() > deadline:
                raise SystemExit(f"job {job} did not end in {timeout_s} s")
            time.sleep(1)
        text = log.read_text() if log.exists() else ""
        if not spec.exists():
            raise SystemExit(f"job {job} ended {info['state']} without a kernel:\n{text[-2000:]}")
        progress = build.parse_progress(text)
        return {
            "job": job,
            "state": info["state"],
            "wall_s": round(spec.stat().st_mtime - answer["submitted_at"], 2),
            "queued_s": int(info["start"]) - int(info["submit"]),
            "job_s": int(info["elapsed"]),
            "size_mb": round(progress.bytes / 1e6, 1) if progress else None,
        }
    finally:
        shutil.rmtree(prefix, ignore_errors=True)
        shutil.rmtree(spec.parent, ignore_errors=True)
        log.unlink(missing_ok=True)
        for path in Path(home, build.LOG_DIR).glob(f"{name}-*.requirements.txt"):
            path.unlink()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="empty alice's pip cache first")
    parser.add_argument("--timeout", type=float, default=900.0, help="per run, seconds")
    args = parser.parse_args()
    site = load_site(DEMO_SITE)
    home = pwd.getpwnam(USER).pw_dir
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                            capture_output=True, text=True).stdout.strip()  # fmt: skip
    runs = []
    for n in range(args.runs):
        if args.cold:
            shutil.rmtree(Path(home, ".cache", "pip"), ignore_errors=True)
        print(f"run {n + 1} of {args.runs}", file=sys.stderr)
        runs.append(one_run(site, home, args.timeout))
    walls = [r["wall_s"] for r in runs]
    result = {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "commit": commit,
        "command": " ".join(["benchmarks/environment_build.py", *sys.argv[1:]]),
        "requirements": REQUIREMENTS.split(),
        "pip_cache": "emptied before each run" if args.cold else "as found (warm after run 1)",
        "build_minutes": site.software.build_minutes,
        "build_max_gb": site.software.build_max_gb,
        "runs": runs,
        "wall_s": {"min": min(walls), "median": statistics.median(walls), "max": max(walls)},
    }
    print(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
