"""What a batch script's #SBATCH lines can carry.

sbatch reads an #SBATCH line as options, not as shell words: it does not unquote, and it ends
an option at white space. A value that needs quoting therefore cannot be written there at all,
and is refused before a script is rendered (the session script, the training and sweep
scripts, a Dask cluster's workers).
"""

from __future__ import annotations

import re

from aifactory_hub.site.names import require_slurm_name

# sbatch takes these literally, where a reader (or a shell) expects quoting or expansion: a path
# holding one is refused rather than written to mean something else.
_UNSAFE = "\\\"'$`;"
# A GRES type, as the site file allows it (`gpu_type`).
_GRES_TYPE = re.compile(r"[a-z0-9_]{1,32}")


def sbatch_path(path: str) -> str:
    """`path` if an #SBATCH line can carry it (--chdir, --output): absolute, no white space and
    no quote, backslash, '$', '`' or ';'; else ValueError."""
    if not path.startswith("/") or any(c.isspace() or c in _UNSAFE for c in path):
        raise ValueError(f"unsupported home directory path: {path!r}")
    return path


def session_options(
    *,
    account: str,
    partition: str,
    cpus: int,
    memory_gb: int,
    gpus: int,
    gpu_type: str,
    walltime_minutes: int,
    reservation: str = "",
) -> list[str]:
    """A session's resource options, written once: the session script puts them on #SBATCH
    lines and the spawn form's `sbatch --test-only` passes them as arguments, so Slurm is
    asked about exactly what Start submits. Names must be Slurm names, numbers are ints."""
    options = [
        f"--account={require_slurm_name(account, 'account')}",
        f"--partition={require_slurm_name(partition, 'partition')}",
        "--nodes=1",
        "--ntasks=1",
        f"--cpus-per-task={int(cpus)}",
        f"--mem={int(memory_gb)}G",
        f"--time={int(walltime_minutes)}",
    ]
    if gpus:
        if not _GRES_TYPE.fullmatch(gpu_type):
            raise ValueError(f"not a gpu type: {gpu_type!r}")
        options.append(f"--gres=gpu:{gpu_type}:{int(gpus)}")
    if reservation:
        options.append(f"--reservation={require_slurm_name(reservation, 'reservation')}")
    return options
