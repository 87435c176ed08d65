"""Build a new environment in a job: a venv from requirements, registered as the user's kernel.

Installing packages is minutes of downloads and disk: not the hub host's work and not the
notebook kernel's. Like the data room's staging (`aifactory_hub.data.staging`, whose Slurm
helpers this module reuses), it is a batch job the user submits from their kernel, charged to
one of their projects, bounded by the site's `[software]` build_minutes (--time) and
build_max_gb (the job measures the environment and stops pip past it). This module is what
the build widget and the real-stack test share:

- `check_request` turns the user's fields into a `BuildRequest` or a `BuildError` naming the
  field. Each requirement line is parsed with `packaging` (a name, extras, versions, markers;
  comments allowed); options (`-e`, `-r`, `--index-url`, ...), URLs and local paths are
  refused with the line quoted, so pip reads only what was checked, from the site's indexes.
  An environment.yml is refused: this site has no conda (the local factory has none and no
  conda channel is reachable; a site with one would add it here).
- `submit` writes the checked requirements into a file of the user's (the build's folder) and
  runs the one sbatch command: fixed options, the shipped `build_job.py`, then paths and site
  values as its arguments; no user text is ever part of a script or an option.
- `status` reads Slurm's state (`staging.job_state`) and the job's log: the progress lines,
  pip's `ERROR:` lines and the final `built:` / `failed:` line.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from aifactory_hub.core.errors import FieldError
from aifactory_hub.data import staging
from aifactory_hub.data.staging import Run, StagingError
from aifactory_hub.environments import build_job, register
from aifactory_hub.site.schema import Partition
from aifactory_hub.site.software import ENVIRONMENT_PATTERN, SoftwareSettings
from aifactory_hub.slurm import SlurmError, jobs, states
from aifactory_hub.slurm.scripts import sbatch_path

JOB_NAME = "aifactory-env-build"
ENVS_DIR = ".local/share/aifactory/envs"  # under the home: the user's built environments
LOG_DIR = ".aifactory-jobs/environments"  # under the home: logs and request files
SCRIPT = Path(__file__).with_name("build_job.py")
MEMORY_GB = 2  # pip resolving and unpacking; compiling a package from source may need more
MAX_TEXT = 64 * 1024
MAX_LINES = 500
TAIL_LINES = 12
LOG_LIMIT = 256 * 1024  # the end of the log read: pip's errors come after its output
NO_CONDA = (
    "this site has no conda, so an environment.yml cannot be built: give a requirements.txt "
    "(the pip packages, one per line) instead"
)
# A requirements line that is really YAML (an environment.yml pasted as requirements).
_YAML_KEY = re.compile(r"^\s*(name|channels|dependencies|prefix)\s*:")
_COMMENT = re.compile(r"(^|\s)#.*$")  # pip's rule: '#' at the start or after white space
_LOCAL = re.compile(r"^(\.|/|~|[A-Za-z]:\\)|[/\\]|\.(whl|zip|tar(\.gz|\.bz2|\.xz)?|tgz)$")
_PROGRESS = re.compile(r"^build: (" + "|".join(build_job.PHASES) + r"), (\d+) s, (\d+) bytes$")
PERCENT = {"venv": 5, "download": 25, "install": 70, "kernel": 95, "done": 100, "failed": 100}


class BuildError(FieldError):
    """A build request refused before any job; `field` names what to change."""


@dataclass(frozen=True)
class BuildRequest:
    """A checked request: the environment's name and prefix, the project, the requirements."""

    name: str
    account: str
    requirements: tuple[str, ...]  # one checked requirement each (packaging's own spelling)
    prefix: str
    replace: bool = False

    @property
    def display_name(self) -> str:
        return f"Python 3 ({self.name})"


# --- the request ---------------------------------------------------------------------------


def check_name(name: object) -> str:
    """The environment's name: also its kernel's and its folder's."""
    if not isinstance(name, str) or not re.fullmatch(ENVIRONMENT_PATTERN, name.strip()):
        raise BuildError(
            "name", "must be 1 to 32 lower-case letters, digits, '-' or '_', starting with a letter"
        )
    name = name.strip()
    if name in register.RESERVED:
        raise BuildError("name", f"{name!r} is the session's own kernel: choose another name")
    return name


def check_line(line: str, where: str) -> str | None:
    """One requirement line as pip will read it, None for a blank or comment line, or
    BuildError quoting the line: only a name with extras, versions and markers is built."""
    text = _COMMENT.sub("", line).strip()
    if not text:
        return None
    shown = f"{where}: {text[:120]!r}"
    name_part = text.split(";")[0].strip()
    if text.startswith("-"):
        raise BuildError(
            "requirements", f"{shown} is a pip option; only package requirements are built"
        )
    if _YAML_KEY.match(text):
        raise BuildError("requirements", f"{shown} looks like an environment.yml: {NO_CONDA}")
    if "://" in text or text.startswith("git+"):
        raise BuildError("requirements", f"{shown} is a URL; only packages from the index")
    if text.endswith("\\"):
        raise BuildError("requirements", f"{shown} continues on the next line: write it on one")
    if _LOCAL.search(name_part):
        raise BuildError("requirements", f"{shown} is a local path; only packages from the index")
    try:
        req = Requirement(text)
    except InvalidRequirement as exc:
        why = str(exc).splitlines()[0] if str(exc) else "not understood"
        raise BuildError("requirements", f"{shown} is not a requirement ({why})") from None
    if req.url:
        raise BuildError("requirements", f"{shown} is a URL; only packages from the index")
    return str(req)


def check_requirements(text: object) -> tuple[str, ...]:
    """A requirements.txt's text as checked requirements (at least one)."""
    if not isinstance(text, str):
        raise BuildError("requirements", "must be text")
    if len(text) > MAX_TEXT or "\x00" in text:
        raise BuildError("requirements", f"must be at most {MAX_TEXT // 1024} kB of text")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise BuildError("requirements", f"must be at most {MAX_LINES} lines")
    found = [check_line(line, f"line {n}") for n, line in enumerate(lines, 1)]
    kept = tuple(r for r in found if r is not None)
    if not kept:
        raise BuildError("requirements", "names no package")
    return kept


def check_packages(packages: object) -> tuple[str, ...]:
    """A list of package names (each may carry extras and a version) as requirements."""
    if isinstance(packages, str) or not isinstance(packages, Sequence):
        raise BuildError("packages", "must be a list of package names")
    if len(packages) > MAX_LINES:
        raise BuildError("packages", f"must be at most {MAX_LINES} packages")
    kept = []
    for n, item in enumerate(packages, 1):
        if not isinstance(item, str):
            raise BuildError("packages", f"package {n} must be text")
        try:
            req = check_line(item, f"package {n}")
        except BuildError as exc:
            raise BuildError("packages", exc.message) from None
        if req is not None:
            kept.append(req)
    if not kept:
        raise BuildError("packages", "names no package")
    return tuple(kept)


def env_prefix(home: str, name: str) -> str:
    """Where the environment `name` is built."""
    return os.path.join(home, ENVS_DIR, name)


def check_request(
    accounts: Sequence[str],
    *,
    name: object,
    project: object,
    home: str,
    requirements: object = None,
    packages: object = None,
    environment_yml: object = None,
    replace: bool = False,
) -> BuildRequest:
    """The user's fields as a `BuildRequest` (exactly one of requirements, packages and
    environment_yml), or BuildError naming the field. Checked as the user (the kernel)."""
    name = check_name(name)
    try:
        account = staging.check_account(project, accounts)
    except StagingError as exc:
        raise BuildError("project", exc.message) from None
    given = [k for k, v in (("requirements", requirements), ("packages", packages),
                            ("environment_yml", environment_yml)) if v]  # fmt: skip
    if len(given) != 1:
        raise BuildError("requirements", "give a requirements.txt or a list of packages")
    if given == ["environment_yml"]:
        raise BuildError("environment_yml", NO_CONDA)
    reqs = check_requirements(requirements) if requirements else check_packages(packages)
    prefix = env_prefix(home, name)
    if os.path.lexists(prefix) and not replace:
        raise BuildError(
            "name", f"you already have an environment {name} ({prefix}): choose another name "
            "or replace it"
        )  # fmt: skip
    try:
        register.check_free(register.kernels_dir(home), name, replace=replace)
    except register.RegisterError as exc:
        raise BuildError(exc.field, exc.message) from None
    return BuildRequest(name, account, reqs, prefix, replace)


# --- the job -------------------------------------------------------------------------------


def build_partition(software: SoftwareSettings, partitions: Sequence[Partition]) -> Partition:
    """Where a build runs among the project's partitions: the site's build partition, or (none
    named) the default partition without GPUs as for a staging copy."""
    if software.build_partition:
        named = [p for p in partitions if p.name == software.build_partition]
        if not named:
            raise BuildError(
                "project", f"the project may not use {software.build_partition}, where builds run"
            )
        return named[0]
    try:
        return staging.staging_partition(partitions)
    except StagingError as exc:
        raise BuildError("project", exc.message) from None


def build_minutes(software: SoftwareSettings, partition: Partition) -> int:
    """The job's --time: the site's, within the partition's limit."""
    return max(1, min(software.build_minutes, int(partition.max_walltime_hours * 60)))


def base_python() -> str:
    """The interpreter the venv is made from: the one the factory's own venv was made from."""
    base = getattr(sys, "_base_executable", "") or ""
    if base and os.path.isfile(base) and os.access(base, os.X_OK):
        return base
    return "/usr/bin/python3"


def ipywidgets_version() -> str:
    """The factory's ipywidgets: the same in the new kernel, so widgets render in the Lab."""
    return importlib.metadata.version("ipywidgets")


def log_path(home: str, job: str = "%j") -> str:
    """The job's log: `%j` (Slurm fills in the job id) or one job's."""
    return staging.log_path(home, job, LOG_DIR)


@dataclass(frozen=True)
class Interpreters:
    """The factory's pythons the job is given: its own (runs the script) and the base."""

    factory: str = field(default_factory=lambda: sys.executable)
    base: str = field(default_factory=base_python)
    ipywidgets: str = field(default_factory=ipywidgets_version)


def sbatch_argv(
    request: BuildRequest,
    partition: Partition,
    software: SoftwareSettings,
    home: str,
    requirements_file: str,
    pythons: Interpreters | None = None,
    script: Path = SCRIPT,
) -> list[str]:
    """The one sbatch command: fixed options, the shipped script, then its arguments (paths
    and the site's values; sbatch stops reading options at the script's name)."""
    py = pythons or Interpreters()
    return [
        "sbatch",
        "--parsable",
        f"--account={request.account}",
        f"--partition={partition.name}",
        f"--job-name={JOB_NAME}",
        f"--time={build_minutes(software, partition)}",
        "--nodes=1",
        "--ntasks=1",
        "--cpus-per-task=1",
        f"--mem={min(MEMORY_GB, partition.max_memory_gb)}G",
        f"--chdir={sbatch_path(home)}",
        f"--output={log_path(home)}",
        str(script),
        py.factory,
        py.base,
        request.prefix,
        requirements_file,
        f"{software.build_max_gb:g}",
        py.ipywidgets,
        request.name,
        str(register.kernels_dir(home)),
        "replace" if request.replace else "keep",
    ]


def write_requirements(request: BuildRequest, home: str) -> str:
    """The checked requirements in a new file of the user's (0600) in the build's folder."""
    folder = Path(home, LOG_DIR)
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd, path = tempfile.mkstemp(dir=folder, prefix=f"{request.name}-", suffix=".requirements.txt")
    with os.fdopen(fd, "w") as out:
        out.write("".join(f"{line}\n" for line in request.requirements))
    return path


def submit(
    request: BuildRequest,
    partition: Partition,
    software: SoftwareSettings,
    home: str,
    run: Run = staging.run_command,
    pythons: Interpreters | None = None,
) -> str:
    """Submit the build as the calling user; returns the job id. The requirements file and
    the log folder are made first (Slurm does not create an output file's folder)."""
    path = write_requirements(request, home)
    argv = sbatch_argv(request, partition, software, home, path, pythons)
    try:
        out = run(argv)
        job = jobs.parse_sbatch(out)
        if not job:
            raise SlurmError(argv, 0, out.strip(), "sbatch printed no job id")
    except BaseException:
        Path(path).unlink(missing_ok=True)
        raise
    return job


# --- progress ------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildProgress:
    """Where the build is: its phase, seconds since it started, the environment's size."""

    phase: str
    elapsed_s: int
    bytes: int

    @property
    def percent(self) -> int:
        return PERCENT[self.phase]


def parse_progress(log: str) -> BuildProgress | None:
    """The log's last progress line; None before the first."""
    for line in reversed(log.splitlines()):
        if m := _PROGRESS.match(line.strip()):
            return BuildProgress(m[1], int(m[2]), int(m[3]))
    return None


def errors(log: str) -> list[str]:
    """pip's `ERROR:` lines (and the job's own), as pip wrote them."""
    return [line.strip() for line in log.splitlines() if line.startswith("ERROR:")]


def result_line(log: str) -> str:
    """The job's final word, `built: ...` or `failed: ...` ("" until it has one)."""
    for line in reversed(log.splitlines()):
        if line.startswith(("built: ", "failed: ")):
            return line.strip()
    return ""


def log_tail(log: str, lines: int = TAIL_LINES) -> str:
    """The log's last lines, of all progress lines only the latest (staging's rule)."""
    rows = log.splitlines()
    marks = [i for i, line in enumerate(rows) if _PROGRESS.match(line.strip())]
    older = set(marks[:-1])
    kept = [line for i, line in enumerate(rows) if i not in older]
    return staging.log_tail("\n".join(kept), lines)


# --- the job's state -----------------------------------------------------------------------


@dataclass(frozen=True)
class BuildStatus:
    """What the widget shows of one build job."""

    job: str
    state: str  # Slurm's word ("" unknown)
    phase: str  # "pending" | "running" | "ended" | "unknown"
    progress: BuildProgress | None
    tail: str
    exit_code: str = ""
    errors: tuple[str, ...] = ()
    result: str = ""

    @property
    def ended(self) -> bool:
        return self.phase == "ended"

    @property
    def ok(self) -> bool:
        """The build finished and its kernel is registered."""
        return (
            self.ended
            and not states.ended_badly(self.state, self.exit_code)
            and self.result.startswith("built: ")
        )

    @property
    def why(self) -> str:
        """Why a build failed, in pip's words (or the job's), '' while it has not."""
        if not self.ended or self.ok:
            return ""
        reason = self.result.removeprefix("failed: ") if self.result.startswith("failed:") else ""
        if reason and reason not in self.errors:  # the job's own: its size, time or a cancel
            return reason
        if self.errors:  # pip's, with the lines that explain its last
            return "\n".join(self.errors[-3:])
        if reason:
            return reason
        code = f" ({self.exit_code})" if self.exit_code else ""
        return f"the job ended {self.state or 'unknown'}{code}; see its log"


def status(job: str, home: str, run: Run = staging.run_command) -> BuildStatus:
    """One look at a build job: Slurm's state and the log's progress, errors and tail."""
    job = jobs.check_job_id(job)
    state, phase, code = staging.job_state(job, run)
    log = staging.read_log(home, job, LOG_LIMIT, LOG_DIR)
    return BuildStatus(
        job,
        state,
        phase,
        parse_progress(log),
        log_tail(log),
        code,
        tuple(errors(log)),
        result_line(log),
    )
