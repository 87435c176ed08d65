"""The session's own use while it runs, as figures: pure parsing and arithmetic over what the
kernel reads (its cgroup files, its processes' CPU times, nvidia-smi), for `jobs.use`.

Slurm's task/cgroup puts a job in cgroups named after it (cgroup v1 here:
`memory:/slurm_<node>/uid_<uid>/job_<id>/step_batch/task_0`); the job's own level holds its
limit (`memory.limit_in_bytes`, the `--mem` it asked for) and its use (`memory.usage_in_bytes`,
what the kernel charges against that limit, page cache included, so what the OOM killer
sees). The job is found from /proc/self/cgroup, never by building the path from the node and
uid. CPU use is a rate: the CPU seconds used between two readings over the seconds between
them (the clock is injected, so tests travel in time).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_JOB_LEVEL = re.compile(r"job_([0-9]+)")
_GPU_FIELDS = 4  # index, utilization.gpu, memory.used, memory.total


def cgroup_paths(text: str) -> dict[str, str]:
    """/proc/self/cgroup as {controller: path}; cgroup v2's single line is the key "".
    v1 lines naming several controllers ("4:cpu,cpuacct:/x") give each of them."""
    paths: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for controller in parts[1].split(",") if parts[1] else [""]:
            paths[controller] = parts[2]
    return paths


def job_cgroup(path: str) -> tuple[str, str] | None:
    """(the job's own cgroup, its job id) of a process's cgroup path: the path cut after its
    `job_<id>` level; None when the process is in no job's cgroup."""
    levels = path.strip("/").split("/")
    for n, level in enumerate(levels):
        match = _JOB_LEVEL.fullmatch(level)
        if match:
            return "/" + "/".join(levels[: n + 1]), match.group(1)
    return None


def cpuset_count(text: str) -> int:
    """How many CPUs a cpuset list names: "0-3,6" -> 5; "" -> 0."""
    count = 0
    for item in text.strip().split(","):
        low, _, high = item.partition("-")
        if low.isdigit():
            count += int(high) - int(low) + 1 if high.isdigit() else 1
    return count


def memory_limit(value: int | None, machine_bytes: int | None = None) -> int | None:
    """A cgroup's memory limit, None for "no limit": cgroup v1 writes no limit as a huge number
    (9223372036854771712), larger than the machine."""
    if value is None or value <= 0:
        return None
    if machine_bytes is not None and value >= machine_bytes:
        return None
    return value if value < 2**60 else None


@dataclass(frozen=True)
class Reading:
    """One look at the session's use."""

    at: float  # the injected clock's seconds
    cpu_s: float  # CPU seconds used so far by the session's processes (or its cgroup)
    cpus: int  # CPUs the session may use
    memory_bytes: int
    limit_bytes: int | None  # None: no job limit found
    source: str  # how it was read, said on the page
    job: str = ""


def cpus_busy(before: Reading | None, after: Reading) -> float | None:
    """How many CPUs' worth the session kept busy between two readings; None until there are
    two (or when the clock did not move). A process that ended in between takes its CPU
    seconds with it, so a drop counts as 0, never as negative use."""
    if before is None or after.at <= before.at:
        return None
    return max(after.cpu_s - before.cpu_s, 0.0) / (after.at - before.at)


def cpu_line(before: Reading | None, after: Reading) -> str:
    busy = cpus_busy(before, after)
    if busy is None:
        return "CPU: measuring (figures from the next refresh)."
    share = busy / after.cpus if after.cpus else 0.0
    plural = "s" if after.cpus != 1 else ""
    return f"CPU: {busy:.2f} of {after.cpus} CPU{plural} busy ({share:.0%})."


def size(value: int) -> str:
    """Bytes as GB above 1 GiB, else MB (binary, as Slurm's --mem counts)."""
    if value >= 1024**3:
        return f"{value / 1024**3:.2f} GB"
    return f"{value / 1024**2:.0f} MB"


def memory_line(reading: Reading) -> str:
    used = size(reading.memory_bytes)
    if reading.limit_bytes is None:
        return f"Memory: {used} (no job limit found)."
    share = reading.memory_bytes / reading.limit_bytes
    return f"Memory: {used} of {size(reading.limit_bytes)}, the job's limit ({share:.0%})."


@dataclass(frozen=True)
class GpuUse:
    index: str
    busy_percent: float
    memory_used_mib: float
    memory_total_mib: float


def gpu_query_argv() -> list[str]:
    """nvidia-smi's machine-readable use of each GPU the session sees."""
    return [
        "nvidia-smi",
        "--query-gpu=index,utilization.gpu,memory.used,memory.total",
        "--format=csv,noheader,nounits",
    ]


def parse_gpu_query(text: str) -> list[GpuUse]:
    """`gpu_query_argv`'s output ("0, 73, 10240, 81559"); lines it cannot read are left out
    ("[N/A]" where a GPU does not report a figure)."""
    found = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != _GPU_FIELDS:
            continue
        try:
            busy, used, total = (float(p) for p in parts[1:])
        except ValueError:
            continue
        found.append(GpuUse(parts[0], busy, used, total))
    return found


def gpu_lines(gpus: list[GpuUse]) -> list[str]:
    return [
        f"GPU {g.index}: {g.busy_percent:.0f} % busy, memory "
        f"{g.memory_used_mib / 1024:.1f} of {g.memory_total_mib / 1024:.1f} GB."
        for g in gpus
    ]


def session_gpus(environ: dict[str, str] | None) -> str:
    """The GPUs Slurm gave the session, as its environment says ("" for none)."""
    env = environ or {}
    for key in ("SLURM_JOB_GPUS", "SLURM_STEP_GPUS", "CUDA_VISIBLE_DEVICES"):
        value = env.get(key, "").strip()
        if value and value not in ("NoDevFiles", "-1"):
            return value
    return ""
