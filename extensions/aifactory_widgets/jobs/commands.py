"""The one place the widgets run Slurm commands, from the researcher's own kernel.

The kernel already runs as the researcher inside their session job, so there is no identity
to change: commands go through the hub's `aifactory_hub.slurm` (argv lists, no shell,
timeouts, errors with command, exit code, stdout and stderr, "controller unreachable"), which
is installed in the same environment as the session.

Every command gets a clean environment. sbatch copies the caller's environment into the job,
and the kernel's holds the session's hub token and the session job's own SLURM_* variables:
neither belongs in a worker or training job.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from aifactory_hub import slurm
from aifactory_hub.service.cluster import QUEUE_ARGV
from aifactory_hub.slurm import SlurmError  # the widgets catch it from here

TIMEOUT_S = 20.0
JOB_DIR = ".aifactory-jobs"  # under the researcher's home: job scripts' output, sweep grids
_JOB_ID = re.compile(r"^[0-9]{1,12}(_[0-9]{1,7})?$")
# What a job may inherit from the kernel: where home is, who we are, how to find Slurm.
_KEPT = ("HOME", "USER", "LOGNAME", "SLURM_CONF", "TZ")


def job_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment Slurm commands (and so the jobs they submit) get: no tokens."""
    return {key: environ[key] for key in _KEPT if key in environ}


class JobRunner(Protocol):
    """Runs one Slurm command and returns its stdout (tests script the answers)."""

    def run(self, argv: Sequence[str], input: str | None = None) -> str: ...


class SlurmRunner:
    """The real runner: the researcher's own Slurm commands, through aifactory_hub.slurm."""

    def __init__(self, timeout: float = TIMEOUT_S, environ: Mapping[str, str] = os.environ):
        self.timeout = timeout
        self.env = job_env(environ)

    def run(self, argv: Sequence[str], input: str | None = None) -> str:
        return slurm.run(argv, input=input, env=self.env, timeout=self.timeout).stdout

    async def arun(self, argv: Sequence[str], input: str | None = None) -> str:
        result = await slurm.arun(argv, input=input, env=self.env, timeout=self.timeout)
        return result.stdout


def job_id(text: str) -> str:
    """A job id (or an array task, 12_3) or ValueError: nothing else reaches scancel."""
    if not _JOB_ID.match(text):
        raise ValueError(f"not a Slurm job id: {text[:40]!r}")
    return text


def submit(runner: JobRunner, script: str) -> str:
    """sbatch the script (given on stdin, so no file to clean up); returns the job id."""
    out = runner.run(["sbatch", "--parsable"], input=script).strip()
    first = out.split(";")[0]
    if not first.isdigit():
        raise SlurmError(["sbatch", "--parsable"], 0, out, "sbatch printed no job id")
    return first


def cancel(runner: JobRunner, job: str) -> None:
    runner.run(["scancel", job_id(job)])


def cancel_named(runner: JobRunner, user: str, name: str) -> None:
    """Cancel the user's jobs of this exact name (a Dask cluster's workers)."""
    runner.run(["scancel", f"--user={user}", f"--name={name}"])


def squeue_argv(user: str) -> list[str]:
    """The user's live jobs, in the console's queue format (one parser for both)."""
    return [*QUEUE_ARGV, f"--user={user}"]


SACCT_FIELDS = ("id", "name", "state", "elapsed_s", "tres", "account", "partition", "start")


def sacct_argv(user: str, since: str = "now-1days") -> list[str]:
    """The user's recent jobs from accounting (allocations only, not their steps)."""
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        f"--user={user}",
        f"--starttime={since}",
        "--format=JobID,JobName,State,ElapsedRaw,AllocTRES,Account,Partition,Start",
    ]


def scontrol_job_argv(job: str) -> list[str]:
    return ["scontrol", "--oneliner", "show", "job", job_id(job)]


def job_dir(home: str, *sub: str) -> Path:
    """~/.aifactory-jobs (or a folder in it), made private to the user if new: Slurm does not
    create an output file's folder, and job output may hold anything."""
    path = Path(home, JOB_DIR)
    path.mkdir(mode=0o700, exist_ok=True)
    for part in sub:
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
    return path
