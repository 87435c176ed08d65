"""The factory's two name grammars, written once: every validator (site file, spawn options,
REST bodies and paths, sudoers, Slurm output) uses these.

- A user name is a POSIX login that Slurm, sudoers and the hub all accept: lower case, starts
  with a letter or `_`, then letters, digits, `_`, `.`, `-`; at most 32 characters (useradd's
  limit). No `@`, no `$`, no upper case: a name that any of those tools would refuse is refused
  here first.
- A Slurm name (account, partition, cluster, QOS, reservation): lower case, starts with a
  letter, then letters, digits, `_`, `-`; at most 32 characters. Slurm lower-cases account
  names itself, so an upper-case one would not be the same account when read back.
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

_USERNAME = r"[a-z_][a-z0-9_.-]{0,31}"
_SLURM_NAME = r"[a-z][a-z0-9_-]{0,31}"
USERNAME_PATTERN = rf"^{_USERNAME}$"
SLURM_NAME_PATTERN = rf"^{_SLURM_NAME}$"

USERNAME = re.compile(USERNAME_PATTERN)
SLURM_NAME = re.compile(SLURM_NAME_PATTERN)

Username = Annotated[str, Field(pattern=USERNAME_PATTERN)]
SlurmName = Annotated[str, Field(pattern=SLURM_NAME_PATTERN)]
# A Slurm name or nothing: a field that may be left empty (a ticket asked outside a session).
OptionalSlurmName = Annotated[str, Field(pattern=rf"^({_SLURM_NAME})?$")]


def is_username(text: object) -> bool:
    """True when ``text`` is a user name of the factory's grammar."""
    return isinstance(text, str) and USERNAME.fullmatch(text) is not None


def is_slurm_name(text: object) -> bool:
    """True when ``text`` is an account, partition, cluster, QOS or reservation name."""
    return isinstance(text, str) and SLURM_NAME.fullmatch(text) is not None


def require_username(text: str, what: str = "user name") -> str:
    """``text`` if it is a user name, else ValueError saying it is not a `what`."""
    if not is_username(text):
        raise ValueError(f"not a {what}: {text!r}")
    return text


def require_slurm_name(text: str, what: str = "Slurm name") -> str:
    """``text`` if it is an account, partition, cluster, QOS or reservation name, else
    ValueError saying it is not a `what`."""
    if not is_slurm_name(text):
        raise ValueError(f"not a {what}: {text!r}")
    return text
