"""The one place that runs Slurm commands.

Every command is an argv list run without a shell, with a timeout. Failures carry the
command, exit code, stdout and stderr. A controller that does not answer is its own
error type, so callers can tell "Slurm says the job is gone" from "Slurm said nothing".
"""

from __future__ import annotations

import asyncio
import os
import pwd
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

DEFAULT_TIMEOUT = 30.0

# stderr fragments Slurm clients print when slurmctld/slurmdbd cannot be reached.
_UNREACHABLE_MARKERS = (
    "unable to contact slurm controller",
    "slurm_load_jobs error: socket timed out",
    "socket timed out on send/recv",
    "connection refused",
    "unable to connect to database",
    "slurmdbd: connection",
    "communication connection failure",
    "zero bytes were transmitted or received",
    "slurm backup controller in standby mode",
)


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class SlurmError(RuntimeError):
    """A Slurm command failed. Carries everything needed to say why."""

    def __init__(self, argv: Sequence[str], returncode: int | None, stdout: str, stderr: str):
        self.argv = tuple(argv)
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr
        code = "timeout" if returncode is None else f"exit {returncode}"
        detail = (stderr or stdout).strip().splitlines()
        super().__init__(f"{' '.join(self.argv)}: {code}: {detail[-1] if detail else 'no output'}")


class ControllerUnreachable(SlurmError):
    """slurmctld (or slurmdbd) did not answer: the state of jobs is unknown, not 'gone'."""


def classify(argv: Sequence[str], returncode: int | None, stdout: str, stderr: str) -> SlurmError:
    """Pick the error type for a failed command from its exit and output."""
    text = stderr.lower()
    if returncode is None or any(marker in text for marker in _UNREACHABLE_MARKERS):
        return ControllerUnreachable(argv, returncode, stdout, stderr)
    return SlurmError(argv, returncode, stdout, stderr)


@dataclass(frozen=True)
class RunAs:
    """The POSIX identity a command runs as (the hub submits jobs as the session's user)."""

    user: str
    uid: int
    gid: int
    home: str

    @classmethod
    def lookup(cls, username: str) -> RunAs:
        entry = pwd.getpwnam(username)
        return cls(username, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _process_kwargs(run_as: RunAs | None, sudo: Sequence[str]) -> tuple[list[str], dict]:
    """How to become `run_as`: setuid in the child when we are root, else a sudo prefix."""
    if run_as is None:
        return [], {}
    if os.geteuid() == 0:
        groups = os.getgrouplist(run_as.user, run_as.gid)
        return [], {"user": run_as.uid, "group": run_as.gid, "extra_groups": groups}
    return [*sudo, "-u", run_as.user, "--"], {}


def _cwd(run_as: RunAs | None) -> str:
    """Where the command starts: the user's home when we become the user ourselves (root:
    the child enters it before giving up root), else "/": homes are private (0700), so a
    non-root hub cannot enter one before sudo. Job scripts set `#SBATCH --chdir` anyway."""
    if run_as is not None and os.geteuid() == 0 and os.path.isdir(run_as.home):
        return run_as.home
    return "/"


def _env_for(run_as: RunAs | None, env: Mapping[str, str] | None) -> dict[str, str]:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    if run_as is not None:
        base.update({"HOME": run_as.home, "USER": run_as.user, "LOGNAME": run_as.user})
    if env:
        base.update(env)
    return base


def run(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    run_as: RunAs | None = None,
    sudo: Sequence[str] = ("sudo", "-n", "-E"),
    check: bool = True,
) -> CommandResult:
    """Run a Slurm (or admin) command synchronously; raise SlurmError on failure."""
    prefix, kwargs = _process_kwargs(run_as, sudo)
    full = [*prefix, *argv]
    try:
        proc = subprocess.run(
            full,
            input=input,
            capture_output=True,
            text=True,
            timeout=timeout,
            env=_env_for(run_as, env),
            cwd=_cwd(run_as),
            **kwargs,
        )
    except subprocess.TimeoutExpired as exc:
        raise classify(full, None, _text(exc.stdout), _text(exc.stderr)) from None
    except FileNotFoundError as exc:
        raise SlurmError(full, 127, "", str(exc)) from None
    result = CommandResult(tuple(full), proc.returncode, proc.stdout, proc.stderr)
    if check and proc.returncode != 0:
        raise classify(full, proc.returncode, proc.stdout, proc.stderr)
    return result


async def arun(
    argv: Sequence[str],
    *,
    input: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    run_as: RunAs | None = None,
    sudo: Sequence[str] = ("sudo", "-n", "-E"),
    check: bool = True,
) -> CommandResult:
    """Run a Slurm command without blocking the event loop; same contract as `run`."""
    prefix, kwargs = _process_kwargs(run_as, sudo)
    full = [*prefix, *argv]
    try:
        proc = await asyncio.create_subprocess_exec(
            *full,
            stdin=asyncio.subprocess.PIPE if input is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_env_for(run_as, env),
            cwd=_cwd(run_as),
            **kwargs,
        )
    except FileNotFoundError as exc:
        raise SlurmError(full, 127, "", str(exc)) from None
    try:
        out, err = await asyncio.wait_for(
            proc.communicate(input.encode() if input is not None else None), timeout
        )
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise classify(full, None, "", "") from None
    result = CommandResult(tuple(full), proc.returncode or 0, out.decode(), err.decode())
    if check and proc.returncode != 0:
        raise classify(full, proc.returncode, result.stdout, result.stderr)
    return result


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode() if isinstance(value, bytes) else value
