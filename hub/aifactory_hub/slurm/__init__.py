"""Slurm: the one runner (`runner`) and, beside it, Slurm's text, each written once.

- `states`: the job states, each pending, running (together: live) or ended;
- `jobs`: sbatch, scancel, squeue, sacct and `scontrol show job`: argv builders and parsers;
- `sacctmgr`: accounts, associations, limits and QOS: the commands, the state sacctmgr
  reports and the one plan that diffs a wanted state against it;
- `nodes`: `scontrol show node`, `ping` and node resume; `capacity`: free cores and GPUs;
- `queue`: jobs pending per partition and `sbatch --test-only`'s expected start;
- `efficiency`: a finished job's CPU efficiency, peak memory and GPU-hours (`sacct`);
- `shared_read`: one read shared by every caller for a few seconds (the spawn form's);
- `reservations`: `scontrol create|update|delete reservation`;
- `tres`: TRES lists ("cpu=2,gres/gpu=1") both ways;
- `scripts`: what a batch script's #SBATCH lines can carry, and a session's resource options.

Only `runner` starts processes; the rest is pure, but for the reads that go through it
(`sacctmgr.read_state`, `capacity.cluster_nodes`, `queue.pending_by_partition`,
`queue.expected_start`).
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
