"""Private homes: every account the factory creates has a home only its owner can enter.

A start-up's code, notebooks, data and session logs live in its members' homes; Debian's
default (`drwxr-xr-x`) would let any other researcher, workshop participant or service
account list and read them. useradd makes the home 0700 (`-K HOME_MODE=0700`), and
`make_private` tightens a home that exists already (`aifactory up` runs it for every site
user), so a cluster set up before this change is fixed by the next `up`.
"""

from __future__ import annotations

import os
import pwd
import stat

HOME_MODE = 0o700
# useradd's arguments for a new login's home: made, and private from the start.
USERADD_HOME = ("--create-home", "-K", f"HOME_MODE={HOME_MODE:04o}")


def make_private(user: str) -> str:
    """Make `user`'s home 0700 if it is open to others; what was done, in words ("" if the
    home was private already). A home that is missing, not a directory or not owned by the
    user is left alone and said: changing it could lock out whoever owns it."""
    try:
        entry = pwd.getpwnam(user)
        home = entry.pw_dir
        info = os.lstat(home)
    except (KeyError, FileNotFoundError):
        return f"{user}: no home to make private"
    if not stat.S_ISDIR(info.st_mode):
        return f"{user}: {home} is not a directory, left alone"
    if info.st_uid != entry.pw_uid:
        return f"{user}: {home} is not owned by {user}, left alone"
    was = stat.S_IMODE(info.st_mode)
    if was & 0o077 == 0:
        return ""
    os.chmod(home, HOME_MODE)
    return f"{user}: {home} made private (was {was:o})"
