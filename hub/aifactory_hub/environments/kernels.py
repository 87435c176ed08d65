"""Jupyter kernel specifications: a `kernel.json` per kernel, in a `kernels/` folder that
JupyterLab finds through JUPYTER_PATH (or the user's own ~/.local/share/jupyter).

- A site environment gets a folder `<kernels_root>/<name>` holding `python3`, the
  environment's own Python, so it is the default kernel of the session (it shadows the
  server's native `python3`: JUPYTER_PATH comes first in Jupyter's search). The factory's own
  environment needs none: its Python is the server's.
- Every session also gets `<kernels_root>/tools` with `aifactory`, "AI Factory tools
  (Python 3)", the factory's own Python: the factory's widgets are one click away in any
  environment, and the shipped notebooks, which use them, name this kernel.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aifactory_hub.site.software import Environment, SoftwareSettings

KERNEL_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
FACTORY_KERNEL = "aifactory"
TOOLS_FOLDER = "tools"  # under kernels_root; not an environment name (those are checked)
FACTORY_KERNEL_LABEL = "AI Factory tools (Python 3)"


def kernel_spec(
    python: str, display_name: str, env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The `kernel.json` of an ipykernel run by `python` (an absolute path)."""
    if not python.startswith("/"):
        raise ValueError(f"not an absolute python: {python!r}")
    spec: dict[str, Any] = {
        "argv": [
            python,
            "-Xfrozen_modules=off",
            "-m",
            "ipykernel_launcher",
            "-f",
            "{connection_file}",
        ],
        "display_name": display_name,
        "language": "python",
        "metadata": {"debugger": True},
    }
    if env:
        spec["env"] = dict(env)
    return spec


def write_kernel_spec(kernels_dir: Path, name: str, spec: Mapping[str, Any]) -> Path:
    """Write `<kernels_dir>/<name>/kernel.json` atomically (0644); returns the file."""
    if not KERNEL_NAME.match(name):
        raise ValueError(f"not a kernel name: {name!r}")
    folder = Path(kernels_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / "kernel.json"
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".kernel-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as out:
            json.dump(spec, out, indent=1)
            out.write("\n")
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def is_factory_prefix(prefix: str, factory_prefix: str = sys.prefix) -> bool:
    """True when `prefix` is the factory's own environment (the server's)."""
    return os.path.realpath(prefix) == os.path.realpath(factory_prefix)


def environment_folder(software: SoftwareSettings, env: Environment) -> Path:
    """Where the site environment's kernels live (a JUPYTER_PATH entry)."""
    return Path(software.kernels_root) / env.name


def tools_folder(software: SoftwareSettings) -> Path:
    """Where the AI Factory tools kernel lives (a JUPYTER_PATH entry of every session)."""
    return Path(software.kernels_root) / TOOLS_FOLDER


def write_tools_kernel(software: SoftwareSettings, factory_prefix: str = sys.prefix) -> Path:
    spec = kernel_spec(f"{factory_prefix}/bin/python", FACTORY_KERNEL_LABEL)
    return write_kernel_spec(tools_folder(software) / "kernels", FACTORY_KERNEL, spec)


def environment_kernels(
    env: Environment, factory_prefix: str = sys.prefix
) -> dict[str, dict[str, Any]]:
    """The kernels of a site environment's folder, by name; none for the factory's own."""
    if is_factory_prefix(env.prefix, factory_prefix):
        return {}
    return {"python3": kernel_spec(f"{env.prefix}/bin/python", f"Python 3 ({env.name})")}


def write_environment_kernels(
    software: SoftwareSettings, env: Environment, factory_prefix: str = sys.prefix
) -> list[Path]:
    """Write (again) the environment's kernel specifications, removing any it no longer has;
    returns the files written."""
    kernels = environment_folder(software, env) / "kernels"
    wanted = environment_kernels(env, factory_prefix)
    if kernels.is_dir():
        for old in kernels.iterdir():
            if old.name not in wanted and (old / "kernel.json").is_file():
                (old / "kernel.json").unlink()
                old.rmdir()
    return [write_kernel_spec(kernels, name, spec) for name, spec in wanted.items()]
