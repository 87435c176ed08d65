"""Least-privilege sudo rules for a hub that does not run as root.

A hub running as root becomes the session's user itself (setuid in the child, slurm.py). A hub
running as a service account instead prefixes ``sudo -n -E -u USER --`` to the commands it runs
as the user, and needs exactly these sudo rules:

- only the commands the spawner runs as the user (spawner.py through slurm.jobs): ``sbatch
  --parsable`` (the script comes on stdin) and ``scancel JOBID``, by absolute path and with
  exactly those arguments; squeue, sacct and scontrol run as the hub itself (the poller), not
  as the user, so they are not here;
- only as members of the factory's user group (site.FACTORY_GROUP), never as root: the Runas list
  is ``%aifactory, !root`` (sudo matches the list left to right, the last match wins, so root
  is refused even if someone puts it in the group); a system account outside the group, such
  as daemon, matches nothing and is refused;
- ``SETENV`` because slurm.py passes ``-E``: the job's environment (the session's hub token)
  reaches sbatch in the environment, never on a command line or in the script; sudo still
  drops the variables of its ``env_delete`` list (LD_PRELOAD, ...);
- no group switch (no Runas group), no shell, no other command.

The text is validated with ``visudo -c`` before it is moved into place, so a broken file never
lands in /etc/sudoers.d (a broken file there stops sudo for everyone).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path

from aifactory_hub.site import FACTORY_GROUP
from aifactory_hub.site.names import is_username
from aifactory_hub.slurm.jobs import sbatch_argv

SUDOERS_D = Path("/etc/sudoers.d")
DEFAULT_FILE = SUDOERS_D / "aifactory-hub"
VISUDO = "/usr/sbin/visudo"
# What the spawner runs as the user, with the only arguments it passes (sudoers syntax: a
# literal argument list, or ^...$ for a regular expression; sudo >= 1.9.10).
SPAWNER_COMMANDS: Mapping[str, str] = {
    "sbatch": " ".join(sbatch_argv()[1:]),  # --parsable; the script comes on stdin
    "scancel": "^[0-9]+$",  # slurm.jobs.scancel_argv(job_id); one numeric job id
}


class SudoersError(RuntimeError):
    """The rules could not be rendered, validated or installed; says why."""


def command_paths(names: Mapping[str, str] = SPAWNER_COMMANDS) -> dict[str, str]:
    """{absolute path: argument spec} of the commands, found where sudo finds them."""
    found = {}
    for name, args in names.items():
        path = shutil.which(name, path="/usr/local/bin:/usr/bin:/bin")
        if path is None:
            raise SudoersError(f"{name} is not installed (looked in /usr/local/bin, /usr/bin)")
        found[os.path.realpath(path)] = args
    return found


def render(
    hub_user: str, group: str = FACTORY_GROUP, commands: Mapping[str, str] | None = None
) -> str:
    """The /etc/sudoers.d file for a hub running as `hub_user` (pure but for `command_paths`
    when `commands` is not given)."""
    # A POSIX group name has the grammar of a user name; neither needs escaping in sudoers.
    for what, name in (("hub user", hub_user), ("group", group)):
        if not is_username(name):
            raise SudoersError(f"not a valid {what} name for sudoers: {name!r}")
    if hub_user == "root":
        raise SudoersError("a hub running as root needs no sudo rules")
    commands = dict(commands) if commands is not None else command_paths()
    for path, args in commands.items():
        if not path.startswith("/") or any(c.isspace() or c in ",:=\\" for c in path):
            raise SudoersError(f"not an absolute command path: {path!r}")
        if any(c in ",:=\\\n" for c in args):
            raise SudoersError(f"unsupported argument spec for {path}: {args!r}")
    alias = "AIFACTORY_SPAWNER_CMDS"
    specs = ", \\\n    ".join(f"{path} {args}".rstrip() for path, args in commands.items())
    return "\n".join(
        [
            "# managed by aifactory: python -m aifactory_hub.ops.cli sudoers"
            " --hub-user NAME --install",
            f"# The hub's service account {hub_user} may run only what the spawner runs as a",
            f"# researcher (sbatch, scancel), only as members of group {group}, never as root.",
            f"Cmnd_Alias {alias} = \\\n    {specs}",
            f"Defaults:{hub_user} !requiretty",
            f"{hub_user} ALL = (%{group}, !root) NOPASSWD: SETENV: {alias}",
            "",
        ]
    )


def validate(text: str) -> None:
    """Raise SudoersError unless `visudo -c` accepts `text` as a sudoers file."""
    with tempfile.NamedTemporaryFile("w", prefix="aifactory-sudoers.", suffix=".check") as f:
        f.write(text)
        f.flush()
        result = subprocess.run(
            [VISUDO, "-c", "-f", f.name], capture_output=True, text=True, timeout=30
        )
    if result.returncode != 0:
        raise SudoersError(f"visudo refused the rules: {(result.stderr or result.stdout).strip()}")


def install(text: str, path: Path = DEFAULT_FILE) -> Path:
    """Validate `text`, then put it at `path` atomically (root:root 0440). The temporary file
    has a '.' in its name, which sudo's @includedir skips, so sudo never reads it half-done."""
    if "." in path.name or path.name.endswith("~"):
        raise SudoersError(f"sudo ignores {path.name} in {path.parent} (it has '.' or '~')")
    validate(text)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.chmod(tmp, 0o440)
        os.chown(tmp, 0, 0)
        result = subprocess.run(
            [VISUDO, "-c", "-f", tmp], capture_output=True, text=True, timeout=30
        )
        if result.returncode != 0:
            raise SudoersError(f"visudo refused {tmp}: {(result.stderr or result.stdout).strip()}")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
