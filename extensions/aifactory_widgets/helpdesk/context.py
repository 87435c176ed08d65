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
from collections.abc import Callable, Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from aifactory_hub.helpdesk.bodies import MAX_TAIL
from aifactory_hub.slurm.jobs import (
    job_stdout,
    parse_recent_jobs,
    recent_jobs_argv,
    show_job_argv,
)
from aifactory_hub.slurm.states import ended_badly
from aifactory_widgets.jobs.commands import JobRunner, SlurmError

RECENT = "now-7days"
MAX_JOBS = 30
TAIL_LINES = 40
TAIL_BYTES = 64 * 1024
SESSION_LOGS = ".jupyter-sessions"
PACKAGES = (
    "aifactory-hub", "torch", "numpy", "pandas", "dask", "distributed", "dask-jobqueue",
    "jupyterlab", "ipywidgets", "transformers", "datasets", "accelerate", "deepspeed",
)  # fmt: skip
# What a ticket carries of a job besides its id (helpdesk.bodies.JobRecord), each field cut to
# the length the service takes.
_RECORD = {"name": 200, "partition": 64, "account": 64, "state": 64, "exit_code": 16,
           "start": 64, "end": 64, "elapsed": 64}  # fmt: skip


def job_record(job: Mapping[str, str]) -> dict[str, str]:
    """What the ticket carries of one of `parse_recent_jobs`' jobs: no working directory (a path
    stays private unless output is attached), the state as sacct printed it ("CANCELLED by
    1000": staff read who cancelled it), every field within the service's bounds."""
    fields = {**job, "state": job["state_text"]}
    return {"id": job["id"], **{key: fields.get(key, "")[:most] for key, most in _RECORD.items()}}


def latest_failed(jobs: Sequence[Mapping[str, str]], skip: str = "") -> str:
    """The newest job that ended badly (`slurm.states.ended_badly`: not a live one, however
    odd its state) but `skip` (the session itself), or ''."""
    return next(
        (j["id"] for j in jobs if j["id"] != skip and ended_badly(j["state"], j["exit_code"])),
        "",
    )


def output_candidates(runner: JobRunner, job: Mapping[str, str], home: str) -> list[str]:
    """Where the job's output may be: Slurm's StdOut while it still knows the job, else the
    session log or sbatch's default file in the job's working directory."""
    paths = []
    try:
        found = job_stdout(runner.run(show_job_argv(job["id"])))
        if found:
            paths.append(found)
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
            # newest first, as the widget offers them and the ticket lists them
            jobs = parse_recent_jobs(runner.run(recent_jobs_argv(user, RECENT)))[::-1][:MAX_JOBS]
        except (SlurmError, ValueError) as exc:  # ValueError: a user name sacct must not get
            problems.append(f"recent jobs unavailable: {str(exc)[:400]}")
    context: dict[str, Any] = {
        "project": environ.get("SLURM_JOB_ACCOUNT", ""),
        "partition": environ.get("SLURM_JOB_PARTITION", ""),
        "job_id": session,
        "node": environ.get("SLURMD_NODENAME", "")[:64],
        "jobs": [job_record(j) for j in jobs],
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
