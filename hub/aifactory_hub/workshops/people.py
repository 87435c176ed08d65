"""Temporary participant accounts on the local cluster: POSIX users that expire with the
workshop (PAM then refuses them), made and disabled with argv commands, no shell."""

from __future__ import annotations

import pwd
import secrets
from collections.abc import Iterable
from datetime import date

from aifactory_hub import slurm
from aifactory_hub.core import homes
from aifactory_hub.site import FACTORY_GROUP


def create(users: Iterable[str], expires: date) -> dict[str, str]:
    """Create the users (home, bash, the factory group, account expiry) with fresh
    passwords; return {user: password}. A user that exists already is refused."""
    passwords = {}
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            pass
        else:
            raise RuntimeError(f"{user} exists already: refusing to take over an account")
        slurm.run(["/usr/sbin/useradd", *homes.USERADD_HOME, "-s", "/bin/bash",
                   "-G", FACTORY_GROUP, "-e", expires.isoformat(), user])  # fmt: skip
        # A leading letter: a password starting with - or = is a formula to a spreadsheet.
        passwords[user] = "p" + secrets.token_urlsafe(12)
    lines = "".join(f"{u}:{p}\n" for u, p in passwords.items())
    if lines:
        slurm.run(["/usr/sbin/chpasswd"], input=lines)
    return passwords


def extend(users: Iterable[str], expires: date) -> None:
    for user in users:
        slurm.run(["/usr/sbin/usermod", "-e", expires.isoformat(), user])


def disable(users: Iterable[str]) -> None:
    """Lock the password and expire the account: no new login; homes stay for the report."""
    for user in users:
        try:
            pwd.getpwnam(user)
        except KeyError:
            continue
        slurm.run(["/usr/sbin/usermod", "-L", "-e", "1", user])
