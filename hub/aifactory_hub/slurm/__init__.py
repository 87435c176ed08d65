"""Slurm: the one runner (`runner`) and, beside it, Slurm's text, each written once.

- `states`: the job states, each pending, running (together: live) or ended;
- `jobs`: sbatch, scancel, squeue, sacct and `scontrol show job`: argv builders and parsers;
- `sacctmgr`: accounts, associations, limits and QOS: the commands, the state sacctmgr
  reports and the one plan that diffs a wanted state against it;
- `nodes`: `scontrol show node`, `ping` and node resume; `capacity`: free cores and GPUs;
- `reservations`: `scontrol create|update|delete reservation`;
- `tres`: TRES lists ("cpu=2,gres/gpu=1") both ways;
- `scripts`: what a batch script's #SBATCH lines can carry.

Only `runner` starts processes; the rest is pure, but for the reads that go through it
(`sacctmgr.read_state`, `capacity.partition_capacity`).
"""

from aifactory_hub.slurm.runner import (
    DEFAULT_TIMEOUT,
    CommandResult,
    ControllerUnreachable,
    RunAs,
    SlurmError,
    arun,
    classify,
    run,
)

__all__ = [
    "DEFAULT_TIMEOUT",
    "CommandResult",
    "ControllerUnreachable",
    "RunAs",
    "SlurmError",
    "arun",
    "classify",
    "run",
]
