"""The lines of a session's batch script that put it in its software environment.

JupyterLab keeps running from the factory's own Python (the script execs it by absolute path),
so its extensions always match the server; the environment decides everything else:

1. MODULEPATH is the site's, Lmod's bash functions are loaded (in every session, so the
   terminal's `module` works), and the environment's modules are loaded in order. A module
   that does not load ends the job with Lmod's message in the session log (the spawn then
   fails with the job's exit, not a silently wrong stack).
2. The environment's `bin` goes first on PATH (so a terminal's `python` and `pip` are its own),
   and its variables are set.
3. JUPYTER_PATH names the environment's kernel folder (its `python3` becomes the notebooks'
   default kernel), the "AI Factory tools" kernel's and the site's extra kernel folders, such as a
   project's shared ones. The user's own ~/.local/share/jupyter/kernels is always searched.

Every value comes from the site file (validated by `site.software`) or the validated request;
each is quoted with shlex. No user text is ever part of these lines.
"""

from __future__ import annotations

import shlex

from aifactory_hub.environments.kernels import (
    environment_folder,
    is_factory_prefix,
    tools_folder,
)
from aifactory_hub.site import Site
from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.site.software import Environment

ENV_VARIABLE = "AIFACTORY_ENVIRONMENT"


def environment_of(site: Site, request: SessionRequest) -> Environment | None:
    if not request.environment:
        return None
    env = site.environment(request.environment)
    if env is None:  # validated against the same site: only a changed site file gets here
        raise ValueError(f"the site has no environment {request.environment!r}")
    return env


def kernel_path(
    site: Site, env: Environment | None, project_dir: str, factory_prefix: str
) -> list[str]:
    """JUPYTER_PATH entries of a session: the environment's kernels, the AI Factory tools
    kernel, then the site's folders."""
    own = (
        []
        if env is None or is_factory_prefix(env.prefix, factory_prefix)
        else [str(environment_folder(site.software, env))]
    )
    return [*own, str(tools_folder(site.software)), *site.software.kernel_folders(project_dir)]


def environment_lines(
    site: Site, request: SessionRequest, project_dir: str, factory_prefix: str
) -> list[str]:
    """Shell lines (bash, `set -eu` in force) that load the request's environment."""
    env = environment_of(site, request)
    q = shlex.quote
    software = site.software
    modules = env.modules if env is not None else []
    lines: list[str] = []
    if env is not None:
        lines.append(f"# Software environment {env.name!r} (the site file's [[environments]]).")
    if modules and not software.lmod_init:
        raise ValueError(
            f"environment {request.environment} loads modules but the site has no Lmod"
        )
    if software.lmod_init:
        # Every session gets the module system (its terminal's `module avail` works whatever
        # was chosen); Lmod's functions read unset variables and return non-zero on the way.
        lines += [
            "export MODULEPATH=" + q(":".join(software.module_paths)),
            "set +eu",
            f"if [ -r {q(software.lmod_init)} ]; then source {q(software.lmod_init)}; fi",
        ]
        if modules:
            lines += [
                f"if ! module load {' '.join(q(m) for m in modules)}; then",
                '  echo "aifactory: the environment\'s modules did not load (above)" >&2',
                "  exit 3",
                "fi",
            ]
        lines.append("set -eu")
    if env is not None:
        if not is_factory_prefix(env.prefix, factory_prefix):
            lines.append(f'export PATH={q(env.prefix + "/bin")}:"$PATH"')
        lines += [f"export {name}={q(value)}" for name, value in env.variables.items()]
        lines.append(f"export {ENV_VARIABLE}={q(env.name)}")
    folders = kernel_path(site, env, project_dir, factory_prefix)
    if folders:
        lines.append(
            "export JUPYTER_PATH=" + q(":".join(folders)) + '"${JUPYTER_PATH:+:$JUPYTER_PATH}"'
        )
    return lines
