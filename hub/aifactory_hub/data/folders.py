"""Each project's POSIX group and its two folders, as on LUMI or JUWELS.

A project gets a group named like its Slurm account, whose members are the project's members,
and a project folder and a scratch folder (`data.folder`), owned by root, group-owned by the
project's group, mode 2770: members read and write, the setgid bit makes every new file the
project's, and nobody else can enter. A default ACL (`u::rwx,g::rwx,o::---`) makes what a
member creates there writable by the other members whatever their umask (where the filesystem
has no ACLs, files keep the creator's umask and the plan says nothing about it). The roots
are 0711: others may pass through to a folder they belong to, but cannot list which projects
exist.

Like `slurm.sacctmgr`, this is a plan and an apply: `read_state` looks at the group and the
folders, `plan` (pure) returns only the commands still needed, `apply` runs them one by one
and reports each, so a re-run after a failure half-way does only what is missing and a run on a
provisioned project does nothing. Membership is set whole with `gpasswd -M`, so adding and
removing members are the same idempotent step; an ended project's group has no members and its
folders stay (the site's `retention_days`) until staff remove them (`remove_plan`).

A running session keeps the groups it started with (the kernel fixes a process's groups at
login): a removed member loses access from their next session or job, a new member gains it
from theirs.

Refused, with the reason: a group of that name outside the site's project GID range (a project
named like a system group, `sudo` or `docker`, must never hand out that group), and a folder
path that is a symlink or not a directory.
"""

from __future__ import annotations

import errno
import grp
import logging
import os
import stat
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from aifactory_hub import slurm
from aifactory_hub.data import FOLDERS, env_name, folder
from aifactory_hub.site.storage import StorageSettings
from aifactory_hub.slurm.sacctmgr import Step

log = logging.getLogger(__name__)

FOLDER_MODE = 0o2770  # setgid, group rwx, no others
ROOT_MODE = 0o711  # pass through, no listing
GROUPADD = "/usr/sbin/groupadd"
GROUPDEL = "/usr/sbin/groupdel"
GPASSWD = "/usr/bin/gpasswd"
INSTALL = "/usr/bin/install"
CHOWN = "/usr/bin/chown"
CHMOD = "/usr/bin/chmod"
RM = "/usr/bin/rm"
SETFACL = "/usr/bin/setfacl"
DEFAULT_ACL = "u::rwx,g::rwx,o::---"
ACL_XATTR = "system.posix_acl_default"
# DEFAULT_ACL as the kernel stores it: version 2, then (tag, perm, id) per entry.
DEFAULT_ACL_BYTES = bytes.fromhex("0200000001000700ffffffff04000700ffffffff20000000ffffffff")


class FolderError(ValueError):
    """A project's group or folder is in a state the factory must not change by itself."""


@dataclass(frozen=True)
class Group:
    gid: int
    members: frozenset[str]


@dataclass(frozen=True)
class Node:
    """What is at a path: kind "dir", "link", "other" or "missing", owner, group, mode."""

    kind: str
    uid: int = 0
    gid: int = 0
    mode: int = 0
    acl: bytes | None = DEFAULT_ACL_BYTES  # its default ACL; what we want if unsupported


@dataclass(frozen=True)
class State:
    group: Group | None
    paths: dict[str, Node]  # path -> what is there (folders and their roots)


# --- pure ----------------------------------------------------------------------------------


def _paths(storage: StorageSettings, account: str) -> list[tuple[str, str]]:
    """(root, folder) for each of the project's folders."""
    return [(str(folder(storage, which, account).parent), str(folder(storage, which, account)))
            for which in FOLDERS]  # fmt: skip


def plan(
    storage: StorageSettings, account: str, members: Sequence[str], state: State
) -> list[Step]:
    """The commands that give `account` its group with exactly `members` and its two private
    folders; [] when all is in place. Raises FolderError for what must not be touched."""
    steps: list[Step] = []
    group = state.group
    if group is None:
        steps.append(Step(f"group {account}", (
            GROUPADD, "-K", f"GID_MIN={storage.group_gid_min}",
            "-K", f"GID_MAX={storage.group_gid_max}", account)))  # fmt: skip
    elif not storage.group_gid_min <= group.gid <= storage.group_gid_max:
        raise FolderError(
            f"group {account!r} exists with GID {group.gid}, outside the project range "
            f"{storage.group_gid_min}-{storage.group_gid_max}: it is not a project's group"
        )
    wanted = sorted(set(members))
    if group is None or group.members != frozenset(wanted):
        what = ", ".join(wanted) or "nobody"
        steps.append(
            Step(f"members of {account}: {what}", (GPASSWD, "-M", ",".join(wanted), account))
        )
    gid = group.gid if group else None
    for root, path in _paths(storage, account):
        node = state.paths.get(root, Node("missing"))
        if node.kind == "missing":
            steps.append(Step(f"root {root}", (INSTALL, "-d", "-o", "root", "-g", "root",
                                               "-m", f"{ROOT_MODE:o}", root)))  # fmt: skip
        elif node.kind != "dir":
            raise FolderError(f"{root} is not a directory")
        node = state.paths.get(path, Node("missing"))
        if node.kind == "missing":
            steps.append(Step(f"folder {path}", (INSTALL, "-d", "-o", "root", "-g", account,
                                                 "-m", f"{FOLDER_MODE:o}", path)))  # fmt: skip
            steps.append(_acl_step(path))
            continue
        if node.kind != "dir":
            raise FolderError(f"{path} is a {node.kind}, not a project folder: left alone")
        owned = node.uid == 0 and node.gid == gid
        if not owned:
            steps.append(Step(f"owner of {path}", (CHOWN, f"root:{account}", path)))
        if node.mode != FOLDER_MODE or not owned:  # chown may drop the setgid bit
            steps.append(Step(f"mode of {path}", (CHMOD, f"{FOLDER_MODE:o}", path)))
        if node.acl != DEFAULT_ACL_BYTES:
            steps.append(_acl_step(path))
    return steps


def _acl_step(path: str) -> Step:
    return Step(f"shared writes in {path}", (SETFACL, "-d", "-m", DEFAULT_ACL, path))


def remove_plan(storage: StorageSettings, account: str, state: State) -> list[Step]:
    """The commands that delete an ended project's folders and group (staff, after the
    retention period): folders first, so nothing is left owned by a number with no name."""
    steps = [
        Step(f"remove {path}", (RM, "-rf", "--one-file-system", "--", path))
        for _, path in _paths(storage, account)
        if state.paths.get(path, Node("missing")).kind != "missing"
    ]
    if state.group is not None:
        if not storage.group_gid_min <= state.group.gid <= storage.group_gid_max:
            raise FolderError(f"group {account!r} is not a project's group: left alone")
        steps.append(Step(f"remove group {account}", (GROUPDEL, account)))
    return steps


# --- impure --------------------------------------------------------------------------------


def _node(path: str) -> Node:
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return Node("missing")
    if stat.S_ISLNK(info.st_mode):
        return Node("link")
    if not stat.S_ISDIR(info.st_mode):
        return Node("other", info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode))
    try:
        acl: bytes | None = os.getxattr(path, ACL_XATTR, follow_symlinks=False)
    except OSError as exc:
        # ENODATA: no default ACL; ENOTSUP: the filesystem has none, so want nothing.
        acl = DEFAULT_ACL_BYTES if exc.errno == errno.ENOTSUP else None
    return Node("dir", info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode), acl)


def read_state(storage: StorageSettings, account: str) -> State:
    try:
        entry = grp.getgrnam(account)
        group = Group(entry.gr_gid, frozenset(entry.gr_mem))
    except KeyError:
        group = None
    paths: dict[str, Node] = {}
    for root, path in _paths(storage, account):
        paths[root] = _node(root)
        paths[path] = _node(path)
    return State(group=group, paths=paths)


Record = Callable[[Step, str, str], None]


def run(steps: list[Step], record: Record | None = None) -> list[Step]:
    """Run planned steps in order, reporting each; the first failure is recorded and raised."""
    for step in steps:
        try:
            slurm.run(list(step.argv))
        except slurm.SlurmError as exc:
            if record:
                record(step, "failed", (exc.stderr or exc.stdout).strip() or str(exc))
            raise
        if record:
            record(step, "done", "")
        log.info("%s", " ".join(step.argv))
    return steps


def apply(
    storage: StorageSettings, account: str, members: Sequence[str], record: Record | None = None
) -> list[Step]:
    """Run the steps still needed for `account`'s group and folders; return them. A
    FolderError (nothing run) or the first failing command (recorded, then raised) stops it."""
    return run(planned(storage, account, members), record)


def planned(storage: StorageSettings, account: str, members: Sequence[str]) -> list[Step]:
    """The steps still needed for `account` as things stand (nothing run); FolderError if its
    group or folders must not be touched."""
    return plan(storage, account, members, read_state(storage, account))


def remove(storage: StorageSettings, account: str, record: Record | None = None) -> list[Step]:
    """Delete `account`'s folders and group (the caller checked the retention period)."""
    return run(remove_plan(storage, account, read_state(storage, account)), record)


def project_paths(storage: StorageSettings, account: str) -> dict[str, PurePosixPath]:
    """{"PROJECT_DIR": ..., "SCRATCH_DIR": ...}: what a session of `account` is told."""
    return {env_name(which): folder(storage, which, account) for which in FOLDERS}
