"""The one place the widgets run Slurm commands, from the researcher's own kernel.

The kernel already runs as the researcher inside their session job, so there is no identity
to change: commands go through the hub's `aifactory_hub.slurm` runner (argv lists, no shell,
timeouts, errors with command, exit code, stdout and stderr, "controller unreachable"), which
is installed in the same environment as the session. What is run, and how its output reads,
is `aifactory_hub.slurm.jobs`' (written once for the hub and the widgets): this module only
runs it.

Every command gets a clean environment. sbatch copies the caller's environment into the job,
and the kernel's holds the session's hub token and the session job's own SLURM_* variables:
neither belongs in a worker or training job.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from aifactory_hub import slurm
from aifactory_hub.slurm import SlurmError, jobs  # the widgets catch SlurmError from here

TIMEOUT_S = 20.0
JOB_DIR = ".aifactory-jobs"  # under the researcher's home: job scripts' output, sweep grids
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


def submit(runner: JobRunner, script: str) -> str:
    """sbatch the script (given on stdin, so no file to clean up); returns the job id."""
    argv = jobs.sbatch_argv()
    out = runner.run(argv, input=script)
    job = jobs.parse_sbatch(out)
    if not job:
        raise SlurmError(argv, 0, out.strip(), "sbatch printed no job id")
    return job


def cancel(runner: JobRunner, job: str) -> None:
    """scancel one job or array task (12_3); anything else is a ValueError, never run."""
    runner.run(jobs.scancel_argv(job, array_task=True))


def cancel_named(runner: JobRunner, user: str, name: str) -> None:
    """Cancel the user's jobs of this exact name (a Dask cluster's workers)."""
    runner.run(jobs.scancel_named_argv(name, user))


def job_dir(home: str, *sub: str) -> Path:
    """~/.aifactory-jobs (or a folder in it), made private to the user if new: Slurm does not
    create an output file's folder, and job output may hold anything."""
    path = Path(home, JOB_DIR)
    path.mkdir(mode=0o700, exist_ok=True)
    for part in sub:
        path = path / part
        path.mkdir(mode=0o700, exist_ok=True)
    return path
