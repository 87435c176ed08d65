"""Batch scripts for training runs and parameter sweeps, rendered by pure functions.

User text (a script path, its arguments, a sweep's name) is validated first (no newlines, a
path inside the home directory) and then only ever appears shell-quoted, as words after the
command; #SBATCH lines carry numbers and names the site or the service gave.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from aifactory_hub.slurm.scripts import sbatch_path
from aifactory_widgets.jobs.commands import JOB_DIR
from aifactory_widgets.jobs.limits import LimitError, Resources

TRAIN_JOB = "aif-train"
SWEEP_JOB = "aif-sweep"


@dataclass(frozen=True)
class JobContext:
    """Facts about where the job runs that are not the user's to choose."""

    home: str
    python: str  # the session environment's interpreter, which the job runs too
    interface: str = ""  # the site's network interface for the jobs' own traffic


def no_newlines(field: str, text: str) -> str:
    if any(c in text for c in "\n\r\0"):
        raise LimitError(field, "must be one line")
    return text


def script_path(text: str) -> str:
    """A path relative to the home directory, naming a file inside it."""
    path = no_newlines("script", text.strip())
    if not path:
        raise LimitError("script", "name the Python script to run, relative to your home")
    if path.startswith(("/", "~", "-")):
        raise LimitError("script", "give the path relative to your home directory, e.g. train.py")
    if ".." in path.split("/"):
        raise LimitError("script", "the path may not leave your home directory ('..')")
    return path


def script_args(text: str) -> tuple[str, ...]:
    """The script's arguments, split like a shell would, each later quoted again."""
    try:
        return tuple(shlex.split(no_newlines("arguments", text)))
    except ValueError as exc:
        raise LimitError("arguments", f"cannot split them: {exc}") from None


def _header(name: str, res: Resources) -> list[str]:
    lines = [
        "#!/bin/bash",
        f"#SBATCH --job-name={name}",
        f"#SBATCH --account={res.account}",
        f"#SBATCH --partition={res.partition}",
        f"#SBATCH --nodes={res.nodes}",
        f"#SBATCH --ntasks-per-node={res.tasks_per_node}",
        f"#SBATCH --cpus-per-task={res.cpus_per_task}",
        f"#SBATCH --mem={res.memory_gb}G",
        f"#SBATCH --time={res.walltime_minutes}",
    ]
    if res.gpus_per_node:
        lines.append(f"#SBATCH --gres=gpu:{res.gpu_type}:{res.gpus_per_node}")
    return lines


def _command(ctx: JobContext, script: str, args: Sequence[str]) -> str:
    words = [ctx.python, f"{sbatch_path(ctx.home)}/{script}", *args]
    return " ".join(shlex.quote(w) for w in words)


def render_training_script(
    res: Resources, script: str, args: Sequence[str], ctx: JobContext
) -> str:
    """srun starts one process per task; each gets torchrun's variables (env:// rendezvous):
    MASTER_ADDR/PORT from the first node, WORLD_SIZE, RANK, LOCAL_RANK, LOCAL_WORLD_SIZE."""
    home = sbatch_path(ctx.home)
    lines = _header(TRAIN_JOB, res)
    lines += [
        f"#SBATCH --chdir={home}",
        f"#SBATCH --output={home}/{JOB_DIR}/%j.out",
        "",
        "set -eu",
        f"export PATH={shlex.quote(ctx.python.rsplit('/', 1)[0])}:$PATH",
        "# Rendezvous as torchrun does it: the first node of the allocation is the master, by",
        "# its name (node names resolve to the nodes' addresses); the port (torch's 29500 + job",
        "# id % 1000) differs between jobs sharing a node, below the kernel's ephemeral ports.",
        'MASTER_ADDR=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)',
        "export MASTER_ADDR",
        "export MASTER_PORT=$((29500 + SLURM_JOB_ID % 1000))",
        "export WORLD_SIZE=$SLURM_NTASKS",
    ]
    if ctx.interface:
        iface = shlex.quote(ctx.interface)
        lines.append(f"export GLOO_SOCKET_IFNAME={iface} NCCL_SOCKET_IFNAME={iface}")
    lines += [
        'echo "aifactory: training job $SLURM_JOB_ID: $SLURM_NNODES node(s), '
        '$WORLD_SIZE processes, master $MASTER_ADDR:$MASTER_PORT"',
        "srun --kill-on-bad-exit=1 bash -c 'export RANK=$SLURM_PROCID LOCAL_RANK=$SLURM_LOCALID "
        'LOCAL_WORLD_SIZE=$SLURM_NTASKS_PER_NODE; exec "$@"\' rank ' + _command(ctx, script, args),
        "",
    ]
    return "\n".join(lines)


def render_sweep_script(
    res: Resources,
    script: str,
    args: Sequence[str],
    ctx: JobContext,
    *,
    grid_file: str,
    points: int,
    parallel: int,
) -> str:
    """A job array of `points` tasks; task N reads line N+1 of the grid file (JSON lines)."""
    home = sbatch_path(ctx.home)
    if not grid_file.startswith(f"{home}/{JOB_DIR}/"):
        raise ValueError(f"grid file outside {home}/{JOB_DIR}: {grid_file!r}")
    lines = _header(SWEEP_JOB, res)
    lines += [
        f"#SBATCH --array=0-{points - 1}%{parallel}",
        f"#SBATCH --chdir={home}",
        f"#SBATCH --output={home}/{JOB_DIR}/%A_%a.out",
        "",
        "set -eu",
        f"export PATH={shlex.quote(ctx.python.rsplit('/', 1)[0])}:$PATH",
        "# One parameter set per line (JSON); array task N runs line N+1.",
        f"export AIFACTORY_SWEEP_FILE={shlex.quote(grid_file)}",
        'AIFACTORY_SWEEP_PARAMS=$(sed -n "$((SLURM_ARRAY_TASK_ID + 1))p" "$AIFACTORY_SWEEP_FILE")',
        "export AIFACTORY_SWEEP_PARAMS",
        'echo "aifactory: sweep $SLURM_ARRAY_JOB_ID task $SLURM_ARRAY_TASK_ID: '
        '$AIFACTORY_SWEEP_PARAMS"',
        "exec " + _command(ctx, script, args),
        "",
    ]
    return "\n".join(lines)
