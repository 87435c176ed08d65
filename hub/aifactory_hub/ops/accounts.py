"""Provision the site's demo users and projects: POSIX users and Slurm associations.

The Slurm part is split in two: pure functions that turn (site, what Slurm has now) into
the sacctmgr commands still needed, and a thin layer that queries Slurm and runs them.
Querying first makes re-running a no-op that prints no errors ("Nothing new added" is an
error exit in sacctmgr). Users in no project get no association, so they cannot submit.

A member gets one association per (account, partition) the project lists, and none without a
partition: with AccountingStorageEnforce=associations Slurm then refuses a job on any other
partition ("Invalid account or account/partition combination specified"). A partition-less
user association would match every partition, so one left over is removed. The account-level
association (no user) has no partition.

Order of the commands: adds, then default-account fixes, then removes, one association per
remove. Adding first means a user never loses their last association on the way (that would
delete the user from Slurm). Fixing the default first means a removed association no longer
carries the default flag: slurmdbd 22.05 leaves a user whose default-account associations are
all removed with no default, and refuses ("You can not remove the default account of a user")
one remove that takes default and non-default associations of a user together.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from aifactory_hub import slurm
from aifactory_hub.site import FACTORY_GROUP, Project, Site

SACCTMGR = ("sacctmgr", "-i")  # -i: commit without the interactive "Would you like to..."
QUERY = ("sacctmgr", "-n", "-P")  # -n: no header, -P: '|'-separated, no padding

log = logging.getLogger(__name__)


class AccountInfo(Protocol):
    """What a Slurm account is made from: a site project, or a granted allocation."""

    @property
    def account(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def organisation(self) -> str: ...


# --- pure: what the site wants ---------------------------------------------------------


def memberships(site: Site) -> dict[str, list[str]]:
    """user -> the accounts they belong to, in site order (the first is their default)."""
    result: dict[str, list[str]] = {}
    for project in site.projects:
        for member in project.members:
            result.setdefault(member, []).append(project.account)
    return result


def cluster_argv(site: Site) -> list[str]:
    return [*SACCTMGR, "add", "cluster", site.site.cluster]


def _account_fields(project: AccountInfo) -> list[str]:
    fields = [f"Description={project.title}"]
    if project.organisation:
        fields.append(f"Organization={project.organisation}")
    return fields


def account_argv(site: Site, project: Project) -> list[str]:
    """Create the project's Slurm account (under root) on the site's cluster."""
    return add_account_argv(site.site.cluster, project)


def add_account_argv(cluster: str, project: AccountInfo) -> list[str]:
    """Create `project.account` (under root) on `cluster`."""
    return [
        *SACCTMGR, "add", "account", project.account,
        f"Cluster={cluster}", *_account_fields(project),
    ]  # fmt: skip


def modify_account_argv(project: AccountInfo) -> list[str]:
    """Bring an existing account's description and organisation in line with the site."""
    return [
        *SACCTMGR, "modify", "account", "where", f"Name={project.account}",
        "set", *_account_fields(project),
    ]  # fmt: skip


def project_partitions(site: Site) -> dict[str, dict[str, list[str]]]:
    """user -> {account: its partitions}, in site order (the first account is the default)."""
    result: dict[str, dict[str, list[str]]] = {}
    for project in site.projects:
        for member in project.members:
            result.setdefault(member, {})[project.account] = list(project.partitions)
    return result


def wanted_associations(site: Site) -> set[tuple[str, str, str]]:
    """Every (user, account, partition) association the site asks for."""
    return {
        (user, account, partition)
        for user, accounts in project_partitions(site).items()
        for account, partitions in accounts.items()
        for partition in partitions
    }


def association_argv(
    site: Site, user: str, account: str, partitions: list[str], known: bool = False
) -> list[str]:
    """Add `user` to `account` on `partitions`; a user new to Slurm (not `known`) gets their
    first project as default."""
    default = None if known else memberships(site)[user][0]
    return add_user_argv(site.site.cluster, user, account, partitions, default)


def add_user_argv(
    cluster: str, user: str, account: str, partitions: Sequence[str], default: str | None
) -> list[str]:
    """Add `user` to `account` on `partitions` (one association each).

    `default` only for a user new to Slurm: on a known user slurmdbd 22.05 makes
    DefaultAccount their default AND adds an association of that account on `partitions`
    (seen: `add user carol Account=prj-4 Partition=gpu DefaultAccount=ai-beta` created
    ai-beta/carol/gpu). Without it a known user keeps their default and gets only the
    associations asked for; `default_account_argv` changes a default without adding anything.
    """
    argv = [
        *SACCTMGR, "add", "user", user, f"Account={account}",
        f"Partition={','.join(partitions)}", f"Cluster={cluster}",
    ]  # fmt: skip
    return [*argv, f"DefaultAccount={default}"] if default else argv


def default_account_argv(user: str, account: str) -> list[str]:
    """Make `account` the user's default (used when a job names no --account)."""
    return [
        *SACCTMGR,
        "modify",
        "user",
        "where",
        f"Name={user}",
        "set",
        f"DefaultAccount={account}",
    ]


def remove_association_argv(site: Site, user: str, account: str, partition: str) -> list[str]:
    """Remove one association of `user` in a site project."""
    return delete_user_argv(site.site.cluster, user, account, partition)


def delete_user_argv(cluster: str, user: str, account: str, partition: str) -> list[str]:
    """Remove one association of `user` in `account` on `cluster`.

    `partition` "" selects only the association without a partition (`Partition=` with an
    empty value); the ones with a partition are kept.
    """
    return [
        *SACCTMGR, "delete", "user", "where", f"Name={user}", f"Account={account}",
        f"Partition={partition}", f"Cluster={cluster}",
    ]  # fmt: skip


# --- pure: what Slurm has, and the difference ------------------------------------------


@dataclass
class SlurmState:
    """What sacctmgr reports now (only the parts apply_site manages)."""

    clusters: set[str] = field(default_factory=set)
    accounts: dict[str, tuple[str, str]] = field(default_factory=dict)  # -> (org, description)
    # (user, account, partition); partition "" for an association without one
    associations: set[tuple[str, str, str]] = field(default_factory=set)
    default_accounts: dict[str, str] = field(default_factory=dict)  # user -> account


def parse_rows(stdout: str, columns: int) -> list[list[str]]:
    """Rows of `sacctmgr -n -P` output; the last column may itself contain '|'."""
    return [line.split("|", columns - 1) for line in stdout.splitlines() if line.strip()]


def parse_state(clusters: str, accounts: str, associations: str, users: str) -> SlurmState:
    """Build a SlurmState from the four query outputs (see `QUERIES` for their formats)."""
    state = SlurmState()
    state.clusters = {row[0] for row in parse_rows(clusters, 1)}
    state.accounts = {r[0]: (r[1], r[2]) for r in parse_rows(accounts, 3) if len(r) == 3}
    state.associations = {
        (r[1], r[0], r[2]) for r in parse_rows(associations, 3) if len(r) == 3 and r[1]
    }
    state.default_accounts = {r[0]: r[1] for r in parse_rows(users, 2) if len(r) == 2}
    return state


def plan(site: Site, state: SlurmState) -> list[list[str]]:
    """The sacctmgr commands that make Slurm match the site; [] when it already does."""
    commands: list[list[str]] = []
    if site.site.cluster not in state.clusters:
        commands.append(cluster_argv(site))
    for project in site.projects:
        current = state.accounts.get(project.account)
        if current is None:
            commands.append(account_argv(site, project))
        # Slurm lower-cases descriptions and organisations, so compare without case.
        elif _norm(current) != _norm((project.organisation or current[0], project.title)):
            commands.append(modify_account_argv(project))
    wanted = wanted_associations(site)
    for user, accounts in project_partitions(site).items():
        for account, partitions in accounts.items():
            missing = [p for p in partitions if (user, account, p) not in state.associations]
            if missing:
                known = user in state.default_accounts
                commands.append(association_argv(site, user, account, missing, known))
        default = next(iter(accounts))
        # A user new to Slurm gets the default from the first add above.
        if user in state.default_accounts and state.default_accounts[user] != default:
            commands.append(default_account_argv(user, default))
    managed = {p.account for p in site.projects}
    for user, account, partition in sorted(state.associations):
        if account in managed and (user, account, partition) not in wanted:
            commands.append(remove_association_argv(site, user, account, partition))
    return commands


def _norm(pair: tuple[str, str]) -> tuple[str, str]:
    return (pair[0].lower(), pair[1].lower())


# --- impure: query and apply -----------------------------------------------------------


def query_state(site: Site) -> SlurmState:
    """Ask sacctmgr for the clusters, accounts, associations and default accounts."""
    return query_cluster_state(site.site.cluster)


def query_cluster_state(cluster_name: str) -> SlurmState:
    """`query_state` for the cluster called `cluster_name` (associations on it only)."""
    cluster = f"Cluster={cluster_name}"
    outputs = [
        slurm.run([*QUERY, "show", "cluster", "format=Cluster"]).stdout,
        slurm.run([*QUERY, "show", "account", "format=Account,Organization,Description"]).stdout,
        slurm.run([*QUERY, "show", "association", cluster, "format=Account,User,Partition"]).stdout,
        slurm.run([*QUERY, "show", "user", "format=User,DefaultAccount"]).stdout,
    ]
    return parse_state(*outputs)


def ensure_cluster(site: Site) -> None:
    """Register the cluster in slurmdbd if it is not there yet."""
    out = slurm.run([*QUERY, "show", "cluster", "format=Cluster"]).stdout
    if site.site.cluster not in {row[0] for row in parse_rows(out, 1)}:
        slurm.run(cluster_argv(site))
        log.info("added cluster %s to slurmdbd", site.site.cluster)


def apply_slurm(site: Site) -> list[list[str]]:
    """Create the site's accounts and associations; return the commands that were run."""
    commands = plan(site, query_state(site))
    for argv in commands:
        slurm.run(argv)
        log.info("ran %s", " ".join(argv))
    return commands


def read_passwords(password_file: Path) -> dict[str, str]:
    """`user password` lines of the password file ({} if it does not exist yet)."""
    try:
        text = password_file.read_text()
    except FileNotFoundError:
        return {}
    pairs = (line.split(None, 1) for line in text.splitlines() if line.strip())
    return {p[0]: p[1].strip() for p in pairs if len(p) == 2}


def render_passwords(passwords: dict[str, str]) -> str:
    return "".join(f"{user} {password}\n" for user, password in sorted(passwords.items()))


def ensure_posix_users(site: Site, password_file: Path) -> dict[str, str]:
    """Create the site's users (group `aifactory`, home, bash) with a password each.

    A user who already exists and has a password in the file keeps that password; new users,
    or users missing from the file, get a fresh random one. All are set with one chpasswd.
    The tools are called by absolute path: /usr/sbin may not be on the caller's PATH.
    """
    try:
        grp.getgrnam(FACTORY_GROUP)
    except KeyError:
        slurm.run(["/usr/sbin/groupadd", FACTORY_GROUP])
    known = read_passwords(password_file)
    passwords = dict(known)
    for user in site.users:
        name = user.name
        try:
            pwd.getpwnam(name)
            existed = True
        except KeyError:
            slurm.run(["/usr/sbin/useradd", "-m", "-s", "/bin/bash", "-G", FACTORY_GROUP, name])
            existed = False
        if name not in grp.getgrnam(FACTORY_GROUP).gr_mem:
            slurm.run(["/usr/sbin/usermod", "-a", "-G", FACTORY_GROUP, name])
        if not (existed and name in known):
            passwords[name] = secrets.token_urlsafe(12)
            log.info("new password for %s", name)
    if passwords != known:
        _write_private(password_file, render_passwords(passwords))
    # The file is the truth: set every site user's password from it in one call, so a
    # password changed behind our back (or by another tool) cannot lock the demo out.
    lines = "".join(f"{u.name}:{passwords[u.name]}\n" for u in site.users)
    slurm.run(["/usr/sbin/chpasswd"], input=lines)
    return {u.name: passwords[u.name] for u in site.users}


def _write_private(path: Path, text: str) -> None:
    """Write a root-only (0600) file atomically; the mode is set before any byte is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.new")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.replace(tmp, path)


def apply_site(site: Site, password_file: str | os.PathLike) -> dict[str, str]:
    """Provision the demo site: POSIX users, then Slurm accounts and associations.

    Idempotent: a second run changes nothing. Returns {user: password} for site.users.
    """
    passwords = ensure_posix_users(site, Path(password_file))
    ensure_service_user(site.services.console_user)
    apply_slurm(site)
    return passwords


SERVICE_HOMES = Path("/var/lib/aifactory/services")


def ensure_service_user(name: str) -> None:
    """A system user with no login and no Slurm association, for a hub service that must
    not run as root (the console and its dashboard kernels)."""
    try:
        pwd.getpwnam(name)
    except KeyError:
        SERVICE_HOMES.mkdir(parents=True, exist_ok=True)
        slurm.run(
            ["/usr/sbin/useradd", "--system", "--create-home", "--home-dir",
             str(SERVICE_HOMES / name), "--shell", "/usr/sbin/nologin", name]
        )  # fmt: skip
        log.info("created service user %s", name)
