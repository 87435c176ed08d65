"""What a ticket carries so that nobody has to ask: where the question was asked from.

Gathered in the researcher's own kernel (which runs as them, inside their session job): the
session's project, partition and job from Slurm's environment variables, their recent jobs
from `sacct` (through `jobs.commands.SlurmRunner`: argv, no shell, a timeout), the end of one
job's output, and package versions. Whatever cannot be gathered is named in `problems`, never
raised: a question must be sendable even when Slurm's accounting is down.
"""

from __future__ import annotations

import os
import platform
import re
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from aifactory_hub.helpdesk.bodies import JOB_ID, MAX_TAIL
from aifactory_widgets.jobs.commands import JobRunner, SlurmError, scontrol_job_argv

RECENT = "now-7days"
MAX_JOBS = 30
TAIL_LINES = 40
TAIL_BYTES = 64 * 1024
SESSION_LOGS = ".jupyter-sessions"
PACKAGES = (
    "aifactory-hub", "torch", "numpy", "pandas", "dask", "distributed", "dask-jobqueue",
    "jupyterlab", "ipywidgets", "transformers", "datasets", "accelerate", "deepspeed",
)  # fmt: skip
# Fixed fields first, the free-text job name last (so a '|' in a name cannot shift a field).
SACCT_FORMAT = "JobID,Partition,Account,State,ExitCode,Start,End,Elapsed,WorkDir,JobName"
_FIXED = 9
NOT_ENDED = frozenset({"RUNNING", "PENDING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING"})
_STDOUT = re.compile(r"(?:^|\s)StdOut=(\S+)")
_JOB_ID = re.compile(JOB_ID)


def sacct_argv(user: str, since: str = RECENT) -> list[str]:
    """The user's jobs since `since`, allocations only, newest last (sacct's order)."""
    return ["sacct", "--noheader", "--parsable2", "--allocations", f"--user={user}",
            f"--starttime={since}", f"--format={SACCT_FORMAT}"]  # fmt: skip


def parse_sacct(text: str, limit: int = MAX_JOBS) -> list[dict[str, str]]:
    """sacct's parsable lines as job records, newest first, at most `limit`."""
    jobs = []
    for line in text.splitlines():
        parts = line.split("|")
        if len(parts) <= _FIXED or not parts[0] or not _JOB_ID.match(parts[0]):
            continue  # not a job line (or an id the service would refuse)
        jid, part, account, state, exit_code, start, end, elapsed, workdir = parts[:_FIXED]
        jobs.append(
            {
                "id": jid, "name": "|".join(parts[_FIXED:])[:200], "partition": part[:64],
                "account": account[:64], "state": state[:64], "exit_code": exit_code[:16],
                "start": start[:64], "end": end[:64], "elapsed": elapsed[:64],
                "workdir": workdir,
            }
        )  # fmt: skip
    return jobs[::-1][:limit]


def failed(job: Mapping[str, str]) -> bool:
    """Did the job end badly (FAILED, TIMEOUT, OUT_OF_MEMORY, CANCELLED, ... or exit != 0)?"""
    state = (job.get("state") or "").split(" ")[0]
    if state in NOT_ENDED:
        return False
    return state != "COMPLETED" or job.get("exit_code", "0:0") not in ("0:0", "")


def latest_failed(jobs: Sequence[Mapping[str, str]], skip: str = "") -> str:
    """The newest failed job's id (not `skip`, the session itself), or ''."""
    return next((j["id"] for j in jobs if j["id"] != skip and failed(j)), "")


def output_candidates(runner: JobRunner, job: Mapping[str, str], home: str) -> list[str]:
    """Where the job's output may be: Slurm's StdOut while it still knows the job, else the
    session log or sbatch's default file in the job's working directory."""
    paths = []
    try:
        found = _STDOUT.search(runner.run(scontrol_job_argv(job["id"])))
        if found:
            paths.append(found.group(1))
    except (SlurmError, ValueError):
        pass  # long gone from slurmctld: guess from the usual places below
    paths.append(str(Path(home) / SESSION_LOGS / f"{job['id']}.log"))
    if job.get("workdir"):
        paths.append(str(Path(job["workdir"]) / f"slurm-{job['id']}.out"))
    return paths


def read_tail(path: str, lines: int = TAIL_LINES) -> str | None:
    """The last `lines` lines of one of the user's own regular files; None if it is not one."""
    try:
        info = os.stat(path)
        if not Path(path).is_file() or info.st_uid != os.getuid():
            return None
        with open(path, "rb") as handle:
            handle.seek(max(info.st_size - TAIL_BYTES, 0))
            text = handle.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    return "\n".join(text.splitlines()[-lines:])[-MAX_TAIL:]


def versions(packages: Sequence[str] = PACKAGES) -> dict[str, str]:
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = metadata.version(name)[:64]
        except metadata.PackageNotFoundError:
            continue
    return found


def gather(
    environ: Mapping[str, str],
    runner: JobRunner,
    tail_of: str | None = "auto",
    reader: Callable[[str], str | None] = read_tail,
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """(the ticket's context, the recent jobs for the widget to offer). `tail_of`: a job id,
    "auto" (the newest failed job) or None (attach no output)."""
    user = environ.get("JUPYTERHUB_USER") or environ.get("USER", "")
    session = environ.get("SLURM_JOB_ID", "")
    problems: list[str] = []
    jobs: list[dict[str, str]] = []
    if user:
        try:
            jobs = parse_sacct(runner.run(sacct_argv(user)))
        except SlurmError as exc:
            problems.append(f"recent jobs unavailable: {str(exc)[:400]}")
    context: dict[str, Any] = {
        "project": environ.get("SLURM_JOB_ACCOUNT", ""),
        "partition": environ.get("SLURM_JOB_PARTITION", ""),
        "job_id": session,
        "node": environ.get("SLURMD_NODENAME", "")[:64],
        "jobs": [{k: v for k, v in j.items() if k != "workdir"} for j in jobs],
        "output_tail": None,
        "versions": versions(),
        "problems": problems,
    }
    chosen = latest_failed(jobs, skip=session) if tail_of == "auto" else (tail_of or "")
    job = next((j for j in jobs if j["id"] == chosen), None)
    if job is not None:
        home = environ.get("HOME", str(Path.home()))
        for path in output_candidates(runner, job, home):
            text = reader(path)
            if text is not None:
                tail = {"job_id": job["id"], "path": path[:500], "text": text[-MAX_TAIL:]}
                context["output_tail"] = tail
                break
        else:
            problems.append(f"no output of job {job['id']} found that you own")
    return context, jobs
