"""The site's environments on this machine: kernel specifications for every one, and for the
local factory the environments themselves (a venv per `packages` list) and their modulefiles.

`aifactory up` (and the test stack) runs `ensure_environments`. It is idempotent: an
environment whose prefix carries a stamp of exactly its package list is left alone, so a second
`up` builds nothing; a changed list rebuilds it from scratch (a venv cannot be moved, so it is
built in place, and the stamp is written last: an interrupted build is redone next time).

Packages come from pip (PyPI and this machine's pip configuration); the environments are
readable by every user, since sessions run them as their users. A build that fails is logged
and the rest goes on: the hub still starts, and a session that chooses the missing environment
fails with the module's or the kernel's own message.
"""

from __future__ import annotations

import json
import logging
import shutil
import sys
from pathlib import Path

from aifactory_hub import slurm
from aifactory_hub.environments.kernels import (
    is_factory_prefix,
    write_environment_kernels,
    write_tools_kernel,
)
from aifactory_hub.site import Site
from aifactory_hub.site.software import Environment, SoftwareSettings

log = logging.getLogger(__name__)

STAMP = ".aifactory-packages"
BASE_PYTHON = "/usr/bin/python3"
BUILD_TIMEOUT_S = 1800.0


def stamp_of(env: Environment) -> str:
    return json.dumps({"packages": env.packages, "python": BASE_PYTHON})


def is_built(env: Environment) -> bool:
    stamp = Path(env.prefix) / STAMP
    return stamp.is_file() and stamp.read_text() == stamp_of(env)


def build(env: Environment) -> bool:
    """Build the environment's venv with its packages (again, from scratch); True if it
    was built. Never raises for a failed pip: it logs pip's last lines."""
    prefix = Path(env.prefix)
    if is_factory_prefix(str(prefix)):
        raise ValueError(f"environment {env.name}: its prefix is the factory's own venv")
    if prefix.exists():
        shutil.rmtree(prefix)
    prefix.parent.mkdir(parents=True, exist_ok=True)
    log.info("building environment %s in %s: %s", env.name, prefix, " ".join(env.packages))
    try:
        slurm.run([BASE_PYTHON, "-m", "venv", str(prefix)], timeout=120)
        slurm.run(
            [f"{prefix}/bin/python", "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *env.packages],
            timeout=BUILD_TIMEOUT_S,
        )  # fmt: skip
    except slurm.SlurmError as exc:
        tail = "\n".join(exc.stderr.strip().splitlines()[-5:])
        log.error("environment %s was not built: %s", env.name, tail)
        return False
    _readable(prefix)
    (prefix / STAMP).write_text(stamp_of(env))
    return True


def _readable(prefix: Path) -> None:
    """Users run the environment: a+rX on all of it, as `install` does for the factory's."""
    slurm.run(["chmod", "-R", "a+rX", str(prefix)], timeout=300)


def lua_string(text: str) -> str:
    """`text` as a Lua string literal."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'


def modulefile(env: Environment) -> str:
    """The Lmod modulefile (Lua) that provides a locally built environment."""
    bin_dir = f"{env.prefix}/bin"
    return "\n".join(
        [
            f"-- {env.modules[-1]}: written by `aifactory up` from the site file's environment "
            f"{env.name!r}",
            f"whatis({lua_string('Description: ' + (env.description or env.name))})",
            f"help({lua_string(f'{env.description}. Python: {bin_dir}/python')})",
            f'prepend_path("PATH", {lua_string(bin_dir)})',
            f'setenv("VIRTUAL_ENV", {lua_string(env.prefix)})',
            "",
        ]
    )


def write_modulefile(software: SoftwareSettings, env: Environment) -> Path:
    """`<first module path>/<name>/<version>.lua` for the last of the environment's modules."""
    path = Path(software.module_paths[0]) / f"{env.modules[-1]}.lua"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(modulefile(env))
    return path


def ensure_environments(site: Site, factory_prefix: str = sys.prefix) -> list[str]:
    """Build what is missing, write modulefiles and kernel specifications; returns what it did
    (one line each) for the log."""
    done: list[str] = []
    write_tools_kernel(site.software, factory_prefix)
    for env in site.environments:
        local = site.site.local_cluster and env.packages
        if local and not is_built(env) and build(env):
            done.append(f"built environment {env.name} in {env.prefix}")
        if local and env.modules:
            write_modulefile(site.software, env)
        if Path(env.prefix, "bin", "python").exists():
            write_environment_kernels(site.software, env, factory_prefix)
        else:
            log.warning("environment %s: no %s/bin/python, so no kernel", env.name, env.prefix)
    # Once for all that was written: users' sessions read the modulefiles and kernels.
    for folder in (site.software.kernels_root, site.software.module_paths[0]):
        if Path(folder).is_dir():
            _readable(Path(folder))
    return done


def main(argv: list[str] | None = None) -> int:
    """`python -m aifactory_hub.ops.environments [SITE]`: what `up` does for environments, for
    a site that does not run `up` (it writes the kernel specifications after a change)."""
    import argparse

    from aifactory_hub.site import load_site

    parser = argparse.ArgumentParser(prog="python -m aifactory_hub.ops.environments")
    parser.add_argument("site", nargs="?", help="site file (default: $AIFACTORY_SITE or the demo)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="aifactory: %(message)s")
    for line in ensure_environments(load_site(args.site)):
        log.info(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
