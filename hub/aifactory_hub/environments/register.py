"""Bring your own environment: register a venv or conda prefix the user owns as a kernel.

A researcher who already has an environment (made with `python -m venv`, conda or uv) wants it
in JupyterLab's launcher. That is one `kernel.json` in `~/.local/share/jupyter/kernels/<name>`,
which Jupyter searches for every user; this module writes it, as the user (a session kernel
runs as them), after checks that each refuse with a `RegisterError` naming the field and write
nothing:

- the prefix, once resolved (os.path.realpath: a symlink cannot point elsewhere), is a folder
  the calling user owns, and so are its `bin/` and its `bin/python` (the link itself: a venv's
  python is a link to the system's interpreter). A kernel runs whatever that file is, so only
  the user's own files are registered: never someone else's folder they happen to read;
- `bin/python` is executable and can `import ipykernel` (asked by running it, argv only, with a
  timeout); if not, the message is the exact command that installs it;
- the kernel's name is the display name made into a slug (`kernels.KERNEL_NAME`); an existing
  kernel of that name is replaced only when asked.

The build job (`build_job.py`) registers what it built through `write_kernel` here.
"""

from __future__ import annotations

import json
import os
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.core.errors import FieldError
from aifactory_hub.environments.kernels import (
    FACTORY_KERNEL,
    KERNEL_NAME,
    kernel_spec,
    write_kernel_spec,
)
from aifactory_hub.slurm import SlurmError

KERNELS_DIR = ".local/share/jupyter/kernels"  # under the home: Jupyter's per-user data folder
# The session's own kernels: a user's kernel of that name would hide them.
RESERVED = frozenset({"python3", FACTORY_KERNEL})
MAX_DISPLAY = 80
CHECK_TIMEOUT_S = 60.0
# Variables that would make the check import the kernel's packages from elsewhere.
_UNSET = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONNOUSERSITE")


class RegisterError(FieldError):
    """A registration refused; `field` names what to change. Nothing was written."""


@dataclass(frozen=True)
class UserKernel:
    """A kernel in the user's own kernels folder, as the widget lists it."""

    name: str
    display_name: str
    python: str  # argv[0] of its kernel.json ("" if it has none)


def kernels_dir(home: str) -> Path:
    """The user's own kernels folder (Jupyter searches it in every session)."""
    return Path(home) / KERNELS_DIR


def kernel_name(display_name: object) -> str:
    """The kernel's folder name, from the name the user gives: lower case, accents dropped,
    anything else than letters, digits, '.', '_' and '-' made a '-'; RegisterError if nothing
    usable is left, the text is odd (control characters, too long) or the name is the
    session's own."""
    if not isinstance(display_name, str):
        raise RegisterError("name", "must be text")
    text = display_name.strip()
    if not text:
        raise RegisterError("name", "is required")
    if len(text) > MAX_DISPLAY or any(unicodedata.category(c)[0] == "C" for c in text):
        raise RegisterError("name", f"must be one line of at most {MAX_DISPLAY} characters")
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9._-]+", "-", ascii_text.lower())
    slug = re.sub(r"-{2,}", "-", slug).strip("-._")[:64].rstrip("-._")
    if not KERNEL_NAME.match(slug):
        raise RegisterError(
            "name", f"{text!r} leaves no kernel name: use letters or digits (e.g. 'my-env')"
        )
    if slug in RESERVED:
        raise RegisterError("name", f"{slug!r} is the session's own kernel: choose another name")
    return slug


def _owned(path: str, field: str, what: str, *, follow: bool = True) -> os.stat_result:
    try:
        info = os.stat(path) if follow else os.lstat(path)
    except FileNotFoundError:
        raise RegisterError(field, f"{path} does not exist") from None
    except OSError as exc:
        raise RegisterError(field, f"cannot look at {path}: {exc.strerror}") from None
    if info.st_uid != os.getuid():
        raise RegisterError(
            field, f"{what} {path} is not yours: only your own environments can be registered"
        )
    return info


def check_prefix(prefix: object, home: str = "") -> str:
    """The resolved prefix if it is the user's own environment folder with an executable
    `bin/python` (owned by them too), else RegisterError("prefix", ...)."""
    if not isinstance(prefix, str):
        raise RegisterError("prefix", "must be text")
    text = prefix.strip()
    if not text or "\x00" in text or len(text) > 4096:
        raise RegisterError("prefix", "must be the path of an environment folder")
    if home and (text == "~" or text.startswith("~/")):
        text = home + text[1:]
    if not text.startswith("/"):
        raise RegisterError("prefix", "must be an absolute path (start with / or ~/)")
    real = os.path.realpath(text)
    if not os.path.isdir(real):
        shown = text if real == text else f"{text} (that is {real})"
        raise RegisterError("prefix", f"{shown} is not a folder you can see")
    _owned(real, "prefix", "the folder")
    _owned(os.path.join(real, "bin"), "prefix", "the folder")
    python = os.path.join(real, "bin", "python")
    if not os.path.lexists(python):
        raise RegisterError(
            "prefix", f"{real} has no bin/python: give the environment's folder (a venv or conda)"
        )
    _owned(python, "prefix", "the file", follow=False)
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        raise RegisterError("prefix", f"{python} is not an executable file")
    return real


def install_command(python: str) -> str:
    """What the user runs to give the environment a kernel package."""
    return f"{python} -m pip install ipykernel"


def check_ipykernel(python: str, timeout: float = CHECK_TIMEOUT_S) -> None:
    """RegisterError unless `python -c 'import ipykernel'` succeeds (argv, no shell)."""
    env = {k: v for k, v in os.environ.items() if k not in _UNSET}
    try:
        result = slurm.run(
            [python, "-c", "import ipykernel"], env=env, timeout=timeout, check=False
        )
    except SlurmError as exc:  # with check=False: the timeout, or no such program
        if exc.returncode is None:
            raise RegisterError("prefix", f"{python} did not answer in {timeout:g} s") from None
        raise RegisterError("prefix", f"cannot run {python}: {exc.stderr.strip()}") from None
    except OSError as exc:  # not a program this machine runs
        raise RegisterError("prefix", f"cannot run {python}: {exc.strerror}") from None
    if result.returncode != 0:
        raise RegisterError(
            "prefix",
            f"{python} cannot import ipykernel; install it with: {install_command(python)}",
        )


def check_free(folder: Path, name: str, *, replace: bool = False) -> None:
    """RegisterError if `folder` holds a kernel `name` and it is not to be replaced."""
    if not replace and (Path(folder) / name / "kernel.json").exists():
        raise RegisterError(
            "name", f"you already have a kernel {name!r}: choose another name or replace it"
        )


def write_kernel(
    python: str, name: str, display_name: str, folder: Path, *, replace: bool = False
) -> Path:
    """Write the kernel's specification into `folder` (the user's kernels folder); refused
    if a kernel of that name is there and `replace` is false. Returns the kernel.json."""
    check_free(folder, name, replace=replace)
    return write_kernel_spec(Path(folder), name, kernel_spec(python, display_name))


def register(prefix: object, display_name: object, home: str, *, replace: bool = False) -> Path:
    """Register the user's environment at `prefix` as a kernel named after `display_name`;
    returns the kernel.json written. Every check runs before anything is written."""
    name = kernel_name(display_name)
    real = check_prefix(prefix, home)
    folder = kernels_dir(home)
    check_free(folder, name, replace=replace)
    python = os.path.join(real, "bin", "python")
    check_ipykernel(python)
    return write_kernel(python, name, str(display_name).strip(), folder, replace=replace)


def list_user_kernels(home: str) -> list[UserKernel]:
    """The kernels in the user's own folder, by name (unreadable ones are skipped)."""
    found = []
    folder = kernels_dir(home)
    if not folder.is_dir():
        return []
    for spec in sorted(folder.glob("*/kernel.json")):
        try:
            data = json.loads(spec.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict):
            continue
        argv = data.get("argv")
        python = str(argv[0]) if isinstance(argv, list) and argv else ""
        found.append(UserKernel(spec.parent.name, str(data.get("display_name", "")), python))
    return found
