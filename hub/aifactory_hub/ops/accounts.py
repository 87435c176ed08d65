"""Provision the site's demo users and projects: POSIX users and Slurm associations.

The Slurm part is the site's projects as a `slurm.sacctmgr.Wanted`: each project an account
(its description kept in line with the site file), its members on its partitions, and every
member's default account their first project in the site file. `slurm.sacctmgr` reads what
Slurm has and plans the steps still needed (its docstring says in which order, and why);
users in no project get no association, so they cannot submit.
"""

from __future__ import annotations

import grp
import logging
import os
import pwd
import secrets
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.core import homes
from aifactory_hub.data import folders
from aifactory_hub.ops.catalogue import ensure_demo_catalogue
from aifactory_hub.ops.environments import ensure_environments
from aifactory_hub.site import FACTORY_GROUP, Site
from aifactory_hub.slurm import sacctmgr
from aifactory_hub.slurm.sacctmgr import SlurmState, Step, Wanted, WantedAccount

log = logging.getLogger(__name__)


# --- pure: what the site wants ---------------------------------------------------------


def memberships(site: Site) -> dict[str, list[str]]:
    """user -> the accounts they belong to, in site order (the first is their default)."""
    result: dict[str, list[str]] = {}
    for project in site.projects:
        for member in project.members:
            result.setdefault(member, []).append(project.account)
    return result


def wanted(site: Site) -> Wanted:
    """The site's projects as sacctmgr should have them on the site's cluster."""
    accounts = tuple(
        WantedAccount(
            name=project.account,
            description=project.title,
            organisation=project.organisation,
            members=tuple(project.members),
            partitions=tuple(project.partitions),
            describe=True,  # the site file is where a project's title is changed
        )
        for project in site.projects
    )
    defaults = {user: accounts[0] for user, accounts in memberships(site).items()}
    return Wanted(cluster=site.site.cluster, accounts=accounts, defaults=defaults)


def plan(site: Site, state: SlurmState) -> list[Step]:
    """The sacctmgr steps that make Slurm match the site; [] when it already does."""
    return sacctmgr.plan(wanted(site), state)


# --- impure: query and apply -----------------------------------------------------------


def ensure_cluster(site: Site) -> None:
    """Register the cluster in slurmdbd if it is not there yet."""
    cluster = site.site.cluster
    if cluster not in sacctmgr.parse_clusters(slurm.run(sacctmgr.clusters_query()).stdout):
        slurm.run(sacctmgr.add_cluster_argv(cluster))
        log.info("added cluster %s to slurmdbd", cluster)


def apply_slurm(site: Site) -> list[Step]:
    """Create the site's accounts and associations; return the steps that were run."""
    steps = plan(site, sacctmgr.read_state(site.site.cluster))
    for step in steps:
        slurm.run(step.argv)
        log.info("ran %s", " ".join(step.argv))
    return steps


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
            slurm.run(["/usr/sbin/useradd", *homes.USERADD_HOME, "-s", "/bin/bash",
                       "-G", FACTORY_GROUP, name])  # fmt: skip
            existed = False
        if said := homes.make_private(name):
            log.info("%s", said)
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
    """Provision the demo site: POSIX users, Slurm accounts and associations, project folders.

    Idempotent: a second run changes nothing. Returns {user: password} for site.users.
    """
    passwords = ensure_posix_users(site, Path(password_file))
    ensure_service_user(site.services.console_user)
    apply_slurm(site)
    apply_folders(site)
    ensure_demo_catalogue(site)  # logs, never raises: the hub works without it
    for line in ensure_environments(site):  # a failed build logs; the hub works without it
        log.info(line)
    return passwords


def apply_folders(site: Site) -> list[Step]:
    """Each site project's POSIX group (its members) and its project and scratch folders."""
    steps: list[Step] = []
    for project in site.projects:
        steps += folders.apply(site.storage, project.account, project.members)
    return steps


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
