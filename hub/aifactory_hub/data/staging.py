"""Staging: copying data the user can read into their project's or scratch folder, in a job.

A copy of many gigabytes does not belong in a notebook kernel: it is a batch job on a compute
node, submitted by the user (a session kernel already runs as them), charged to the project,
bounded by --time, writing its progress to a log in the user's home. This module is what the
staging widget and the real-stack test share:

- `check_request` turns the user's four fields into a `StagingRequest` or a `StagingError`
  naming the field. Paths are resolved (os.path.realpath) before they are judged, so a '..' or
  a symlink, in the source or already inside the project folder, cannot point the copy
  elsewhere. The job runs as the user, so the filesystem has the last word; these checks
  refuse, clearly and before any job, what is plainly not theirs.
- `sbatch_argv` is the one command: fixed options, then the shipped script `stage_job.py`, then
  the paths as its arguments; no user text is ever part of a script or an option.
- `parse_progress` reads rsync's `--info=progress2` lines (or the Python copy's) from the log,
  `job_phase` reads squeue's or sacct's answer through `slurm.jobs`, and `submit` and `status`
  run them (through `aifactory_hub.slurm`, or the widget's own runner).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.core.errors import FieldError
from aifactory_hub.data import FOLDERS, folder
from aifactory_hub.site.names import is_slurm_name
from aifactory_hub.site.schema import Partition
from aifactory_hub.site.storage import StorageSettings
from aifactory_hub.slurm import SlurmError, jobs, states
from aifactory_hub.slurm.scripts import sbatch_path

JOB_NAME = "aifactory-stage"
LOG_DIR = ".aifactory-jobs/staging"  # under the user's home, beside the other jobs' output
SCRIPT = Path(__file__).with_name("stage_job.py")
DEFAULT_MINUTES = 240
MEMORY_GB = 2  # rsync --no-inc-recursive holds the whole file list: ~100 bytes a file
MAX_PATH = 4096  # PATH_MAX
TAIL_LINES = 12
# What a job may inherit from the kernel: where home is, who we are, how to find Slurm and
# rsync. Never the session's hub token or its own SLURM_* variables.
_KEPT_ENV = ("HOME", "USER", "LOGNAME", "SLURM_CONF", "TZ", "PATH")

Run = Callable[[list[str]], str]  # runs one Slurm command, returns its stdout


class StagingError(FieldError):
    """A staging request refused before any job; `field` names what to change."""


@dataclass(frozen=True)
class StagingRequest:
    """A checked request: resolved absolute paths, the project and which of its folders."""

    source: str
    account: str
    folder: str  # "project" | "scratch"
    subdir: str  # relative, normalised; "" for the folder itself
    destination: str  # the folder (or its subfolder) the source is copied into

    @property
    def copy_path(self) -> str:
        """Where the copy lands: the source's own name inside the destination."""
        return os.path.join(self.destination, os.path.basename(self.source))


# --- the request ---------------------------------------------------------------------------


def _text(field: str, value: object, *, required: bool) -> str:
    if not isinstance(value, str):
        raise StagingError(field, "must be text")
    if "\x00" in value:
        raise StagingError(field, "must not contain a NUL character")
    if len(value) > MAX_PATH:
        raise StagingError(field, f"is longer than {MAX_PATH} characters")
    value = value.strip()
    if required and not value:
        raise StagingError(field, "is required")
    return value


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def check_account(account: object, accounts: Sequence[str]) -> str:
    """`account` if it is one of the user's projects (`accounts`), else StagingError."""
    account = _text("account", account, required=True)
    if not is_slurm_name(account) or account not in accounts:
        mine = ", ".join(sorted(accounts)) or "none"
        raise StagingError("account", f"{account!r} is not one of your projects ({mine})")
    return account


def check_subdir(subdir: object) -> str:
    """A relative path inside a folder, normalised ("" for the folder itself): no absolute
    path, no '..' and no NUL; where it leads once resolved is `destination`'s check."""
    text = _text("subdir", subdir, required=False)
    if text.startswith(("/", "~")):
        raise StagingError("subdir", "must be a path inside the folder, not an absolute path")
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise StagingError("subdir", "must not contain '..'")
    return "/".join(parts)


def destination(storage: StorageSettings, which: str, account: str, subdir: str) -> str:
    """The resolved folder the copy goes into; StagingError if it is not the user's to write
    or if, through a symlink already there, it leads out of the project's folder."""
    if which not in FOLDERS:
        raise StagingError("folder", f"must be one of {', '.join(FOLDERS)}")
    root = str(folder(storage, which, account))
    if not os.path.isdir(root):
        raise StagingError("folder", f"{account} has no {which} folder ({root}); ask the staff")
    if not os.access(root, os.W_OK | os.X_OK):
        raise StagingError("account", f"you may not write {account}'s {which} folder ({root})")
    real_root = os.path.realpath(root)
    dest = os.path.realpath(os.path.join(root, subdir)) if subdir else real_root
    if not _inside(dest, real_root):
        raise StagingError("subdir", f"leads out of {account}'s {which} folder (to {dest})")
    if os.path.lexists(dest) and not os.path.isdir(dest):
        raise StagingError("subdir", f"{subdir} exists and is not a folder")
    return dest


def check_source(
    source: object, storage: StorageSettings, accounts: Sequence[str], home: str = ""
) -> str:
    """The resolved source: an absolute path (or ~/...) to a file or folder the user can
    read; StagingError if not, or if it is inside a project folder not theirs."""
    text = _text("source", source, required=True)
    if home and (text == "~" or text.startswith("~/")):
        text = home + text[1:]
    if not text.startswith("/"):
        raise StagingError("source", "must be an absolute path (start with / or ~/)")
    real = os.path.realpath(text)
    for root in (storage.project_root, storage.scratch_root):
        base = os.path.realpath(root)
        if _inside(real, base) and real != base:
            owner = real[len(base) + 1 :].split("/")[0]
            if owner not in accounts:
                raise StagingError("source", f"{real} is in a folder of {owner}, not yours")
    if not os.path.lexists(real):
        shown = text if real == text else f"{text} (that is {real})"
        raise StagingError("source", f"{shown} does not exist or you cannot see it")
    if not (os.path.isfile(real) or os.path.isdir(real)):
        raise StagingError("source", f"{real} is not a file or a folder")
    wanted = os.R_OK | (os.X_OK if os.path.isdir(real) else 0)
    if not os.access(real, wanted):
        raise StagingError("source", f"you cannot read {real}")
    return real


def check_request(
    storage: StorageSettings,
    accounts: Sequence[str],
    *,
    source: object,
    account: object,
    folder: object,
    subdir: object = "",
    home: str = "",
) -> StagingRequest:
    """The user's fields as a `StagingRequest`, checked as the user (this process's identity:
    the kernel, or the test's process run as the user), or StagingError naming the field."""
    account = check_account(account, accounts)
    if folder not in FOLDERS:
        raise StagingError("folder", f"must be one of {', '.join(FOLDERS)}")
    sub = check_subdir(subdir)
    real_source = check_source(source, storage, accounts, home)
    dest = destination(storage, str(folder), account, sub)
    if _inside(dest, real_source):
        raise StagingError("source", f"{real_source} holds the destination {dest}")
    if os.path.dirname(real_source) == dest:
        raise StagingError("subdir", f"{real_source} is already in {dest}")
    return StagingRequest(real_source, account, str(folder), sub, dest)


# --- the job -------------------------------------------------------------------------------


def staging_partition(partitions: Sequence[Partition]) -> Partition:
    """Where a copy runs among the project's partitions: the site's default if the project may
    use it and it needs no GPU, else the first one without GPUs, else the first that needs
    none. A copy never holds a GPU."""
    usable = [p for p in partitions if p.min_gpus == 0]
    if not usable:
        raise StagingError("account", "the project has no partition a copy can run on")
    no_gpus = [p for p in usable if p.gpus_per_node == 0]
    default = [p for p in no_gpus if p.default]
    return (default or no_gpus or usable)[0]


def check_minutes(minutes: object, partition: Partition) -> int:
    limit = int(partition.max_walltime_hours * 60)
    if not isinstance(minutes, int) or isinstance(minutes, bool) or not 1 <= minutes <= limit:
        raise StagingError("minutes", f"must be 1 to {limit} (partition {partition.name})")
    return minutes


def log_path(home: str, job: str = "%j", folder: str = LOG_DIR) -> str:
    """The job's log in `folder` under the home: `%j` (Slurm fills in the job id) or one
    job's. An environment build keeps its logs in a folder of its own."""
    return f"{sbatch_path(home.rstrip('/'))}/{folder}/{job}.log"


def sbatch_argv(
    request: StagingRequest,
    partition: Partition,
    home: str,
    minutes: int = DEFAULT_MINUTES,
    script: Path = SCRIPT,
) -> list[str]:
    """The one sbatch command: fixed options, the shipped script, then the user's paths as the
    script's arguments (sbatch stops reading options at the script's name)."""
    minutes = check_minutes(minutes, partition)
    times = "fresh-times" if request.folder == "scratch" else "keep-times"
    return [
        "sbatch",
        "--parsable",
        f"--account={request.account}",
        f"--partition={partition.name}",
        f"--job-name={JOB_NAME}",
        f"--time={minutes}",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=1",
        f"--mem={min(MEMORY_GB, partition.max_memory_gb)}G",
        f"--chdir={sbatch_path(home)}",
        f"--output={log_path(home)}",
        str(script),
        times,
        request.source,
        request.destination,
    ]


def job_env(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The environment sbatch (and so the job) gets: sbatch copies its caller's into the job."""
    return {key: environ[key] for key in _KEPT_ENV if key in environ}


def run_command(argv: list[str]) -> str:
    """One Slurm command as the calling user, with only what a job may inherit; its stdout."""
    return slurm.run(argv, env=job_env()).stdout


def submit(
    request: StagingRequest,
    partition: Partition,
    home: str,
    minutes: int = DEFAULT_MINUTES,
    run: Run = run_command,
) -> str:
    """Submit the copy as the calling user; returns the job id. Makes the private log folder
    first (Slurm does not create an output file's folder)."""
    argv = sbatch_argv(request, partition, home, minutes)
    Path(home, LOG_DIR).mkdir(mode=0o700, parents=True, exist_ok=True)
    out = run(argv)
    job = jobs.parse_sbatch(out)
    if not job:
        raise SlurmError(argv, 0, out.strip(), "sbatch printed no job id")
    return job


# --- progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """How far the copy is: bytes copied so far and the percentage of the whole."""

    bytes: int
    percent: int
    total: int | None = None  # the Python copy says it; rsync only its percentage


# rsync --info=progress2: "     10,551,296  35%    9.77MB/s    0:00:01 (xfr#1, to-chk=2/4)";
# the thousands separator follows the locale (',', '.', "'" or none).
_RSYNC = re.compile(r"^\s*(\d{1,3}(?:[,.']\d{3})+|\d+)\s+(\d{1,3})%\s+\S+/s\s+\d+:\d{2}:\d{2}")
_PYTHON = re.compile(r"^progress (\d+) (\d+) (\d{1,3})%$")
_GLUED = re.compile(r"(\(xfr#\d+, to-chk=\d+/\d+\))(?=\S)")  # "...0/3)rsync error: ..."


def parse_progress(log: str) -> Progress | None:
    """The last progress line in the log (rsync rewrites its line with '\\r'); None if none."""
    for chunk in reversed(re.split(r"[\r\n]", log)):
        if m := _RSYNC.match(chunk):
            return Progress(int(re.sub(r"\D", "", m[1])), min(int(m[2]), 100))
        if m := _PYTHON.match(chunk.strip()):
            return Progress(int(m[1]), min(int(m[3]), 100), int(m[2]))
    return None


def log_tail(log: str, lines: int = TAIL_LINES) -> str:
    """The log's last lines as a person reads them: rsync rewrites its progress line with
    '\\r' (and writes its closing error right after it), so of all progress lines only the
    latest is kept, where it stood."""
    entries: list[tuple[bool, str]] = []
    for chunk in re.split(r"[\r\n]", _GLUED.sub("\\1\n", log)):
        text = chunk.strip()
        if text:
            entries.append((bool(_RSYNC.match(chunk) or _PYTHON.match(text)), text))
    last = max((i for i, (progress, _) in enumerate(entries) if progress), default=-1)
    kept = [text for i, (progress, text) in enumerate(entries) if not progress or i == last]
    return "\n".join(kept[-lines:])


# --- the job's state -----------------------------------------------------------------------


@dataclass(frozen=True)
class StagingStatus:
    """What the widget shows of one staging job."""

    job: str
    state: str  # Slurm's word: PENDING, RUNNING, COMPLETED, FAILED, ... ("" unknown)
    phase: str  # "pending" | "running" | "ended" | "unknown"
    progress: Progress | None
    tail: str
    exit_code: str = ""

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    @property
    def ok(self) -> bool:
        """The copy finished and every file was copied."""
        return self.ended and not states.ended_badly(self.state, self.exit_code)


def job_phase(job: str, squeue_out: str | None, sacct_out: str | None) -> tuple[str, str, str]:
    """(state, phase, exit code) from squeue's answer or, once squeue no longer lists the job,
    sacct's; ("", "unknown", "") when neither says."""
    listed = jobs.parse_squeue(squeue_out or "")[0].get(job)
    info = listed if listed and listed.phase != "gone" else None
    info = info or jobs.parse_sacct(sacct_out or "").get(job) or listed
    if info is None:
        return "", "unknown", ""
    phase = {"pending": "pending", "running": "running", "gone": "ended"}[info.phase]
    return info.state, phase, info.exit_code


def _ask(run: Run, argv: list[str]) -> str | None:
    try:
        return run(argv)
    except SlurmError:  # squeue no longer knows the job, or the controller did not answer
        return None


def job_state(job: str, run: Run = run_command) -> tuple[str, str, str]:
    """(state, phase, exit code) of one job: squeue's answer, and sacct's once squeue says it
    ended or no longer knows it (`job_phase`)."""
    squeue_out = _ask(run, jobs.squeue_argv([job]))
    state, phase, code = job_phase(job, squeue_out, None)
    if phase in ("ended", "unknown"):
        state, phase, code = job_phase(job, squeue_out, _ask(run, jobs.sacct_argv([job])))
    return state, phase, code


def read_log(home: str, job: str, limit: int = 64 * 1024, folder: str = LOG_DIR) -> str:
    """The end of the job's log in `folder` ("" while it has none)."""
    try:
        with open(log_path(home, jobs.check_job_id(job), folder), "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - limit))
            return f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def status(job: str, home: str, run: Run = run_command) -> StagingStatus:
    """One look at a staging job: Slurm's state and the log's progress and tail."""
    job = jobs.check_job_id(job)
    state, phase, code = job_state(job, run)
    log = read_log(home, job)
    return StagingStatus(job, state, phase, parse_progress(log), log_tail(log), code)
