"""The session's batch script, rendered by a pure function (its sbatch, scancel and squeue
command lines are `slurm.jobs`').

Only values from a validated `SessionRequest` and from the hub's own configuration reach a
script; the hub's API token travels in the job's environment, never in the script text.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from aifactory_hub.site.sessions import SessionRequest
from aifactory_hub.slurm.scripts import sbatch_path, session_options

JOB_NAME = "jupyterhub-session"
SPAWN_MARK = "aifactory-spawn-"
SESSION_LOG_DIR = ".jupyter-sessions"


@dataclass(frozen=True)
class ScriptContext:
    """Facts about where the session runs that are not the user's to choose."""

    home: str
    venv_bin: str
    command: Sequence[str]
    # Marks the one job this spawn submits (its Slurm comment), so a job queued by an sbatch
    # that timed out can still be found and cancelled: see FactorySpawner._sweep_orphan.
    spawn_id: str = ""
    # The server listens on its node's own address (the site's hub.session_ip is empty): the
    # node is only known once the job runs, so the script says it, from Slurm's environment.
    listen_on_node: bool = False
    # The lines that load the session's software environment (environments.session): from
    # the site file and the validated request only.
    environment: Sequence[str] = ()


def render_session_script(request: SessionRequest, ctx: ScriptContext) -> str:
    """The sbatch script that starts a user's JupyterLab, as text."""
    # Slurm does not unquote #SBATCH lines: a name outside the grammar never reaches one.
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={JOB_NAME}",
        *(
            f"#SBATCH {option}"
            for option in session_options(
                account=request.account,
                partition=request.partition,
                cpus=request.cpus,
                memory_gb=request.memory_gb,
                gpus=request.gpus,
                gpu_type=request.gpu_type,
                walltime_minutes=request.walltime_minutes,
                reservation=request.reservation,
            )
        ),
    ]
    if ctx.spawn_id:
        if not re.fullmatch(r"[0-9a-f]{8,64}", ctx.spawn_id):
            raise ValueError(f"not a spawn id: {ctx.spawn_id!r}")
        lines.append(f"#SBATCH --comment={SPAWN_MARK}{ctx.spawn_id}")
    lines += [
        f"#SBATCH --chdir={sbatch_path(ctx.home)}",
        f"#SBATCH --output={sbatch_path(ctx.home)}/{SESSION_LOG_DIR}/%j.log",
        "#SBATCH --signal=B:TERM@60",
        # A session whose node fails must end, not restart behind the hub's back.
        "#SBATCH --no-requeue",
        "",
        "set -eu",
        "# sudo and slurmd reset PATH: put the session environment first ourselves.",
        f"export PATH={shlex.quote(ctx.venv_bin)}:$PATH",
        'echo "aifactory: session job $SLURM_JOB_ID on $SLURMD_NODENAME, $SLURM_JOB_ACCOUNT"',
        *materials_lines(request),
        *ctx.environment,
        *listen_lines(ctx),
        "exec " + " ".join(shlex.quote(part) for part in ctx.command),
        "",
    ]
    return "\n".join(lines)


def listen_lines(ctx: ScriptContext) -> list[str]:
    """Point JupyterLab at the node's own address: the hub then reaches the session by its
    node's name (batchspawner's wrapper fills in the port). Only Slurm's and the hub's
    variables are used: SLURMD_NODENAME and the server's URL prefix."""
    if not ctx.listen_on_node:
        return []
    return [
        "# Listen on this node's own address; the hub reaches the session by the node's name.",
        'export JUPYTERHUB_SERVICE_URL="http://${SLURMD_NODENAME}:0${JUPYTERHUB_SERVICE_PREFIX}"',
    ]


def materials_lines(request: SessionRequest) -> list[str]:
    """A workshop session copies its materials in first (missing files only)."""
    if not request.materials:
        return []
    if not re.match(r"^[a-z0-9][a-z0-9_-]{0,63}$", request.materials):
        raise ValueError(f"not a materials folder: {request.materials!r}")
    return [f"python -m aifactory_hub.workshops.materials {request.materials} || true"]
