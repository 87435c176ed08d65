"""How the local cluster confines jobs: cgroup v1 where this machine allows it.

On a real site each job runs in its own cgroup: it gets the cores and the memory it asked for
and only the GPUs it was given (`proctrack/cgroup`, `task/cgroup`, a cgroup.conf that
constrains cores, RAM, swap and devices). Slurm 22.05 can do this here through its
`cgroup/v1` plugin when the v1 controllers it needs are mounted read-write; its `cgroup/v2`
plugin needs slurmd started by systemd with delegation, which this machine's containers lack.
Where the controllers are missing, the cluster runs unconfined (`proctrack/linuxproc`,
`task/none`) and `aifactory status` says why.

Pure functions: /proc/mounts text goes in, a decision and file text come out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

# cpuset: cores; memory: RAM and swap; devices: GPUs; freezer: proctrack/cgroup suspends and
# signals a job's processes through it.
NEEDED = ("cpuset", "memory", "devices", "freezer")
MOUNTS = Path("/proc/mounts")


@dataclass(frozen=True)
class Confinement:
    """Whether jobs are confined, and in words why not (or what is constrained)."""

    cgroup_v1: bool
    detail: str

    @property
    def proctrack(self) -> str:
        return "proctrack/cgroup" if self.cgroup_v1 else "proctrack/linuxproc"

    @property
    def task_plugin(self) -> str:
        return "task/cgroup" if self.cgroup_v1 else "task/none"


def confinement(mounts: str) -> Confinement:
    """What this machine allows, from /proc/mounts: cgroup v1 when every controller in NEEDED
    is mounted read-write as a v1 hierarchy (on its own or co-mounted), otherwise none."""
    mounted: dict[str, bool] = {}
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) < 4 or fields[2] != "cgroup":
            continue
        options = fields[3].split(",")
        for controller in NEEDED:
            if controller in options:
                mounted[controller] = mounted.get(controller, False) or "rw" in options
    missing = [c for c in NEEDED if c not in mounted]
    if missing:
        return Confinement(
            False,
            f"jobs NOT confined: cgroup v1 controller(s) {', '.join(missing)} not mounted "
            "(Slurm 22.05's cgroup/v2 needs slurmd under systemd with delegation)",
        )
    read_only = [c for c in NEEDED if not mounted[c]]
    if read_only:
        return Confinement(
            False, f"jobs NOT confined: cgroup v1 controller(s) {', '.join(read_only)} read-only"
        )
    return Confinement(True, "jobs confined by cgroup v1: cores, RAM, swap and devices")


def render_cgroup_conf(header: str, confine: Confinement) -> str | None:
    """cgroup.conf for a confined cluster; None when jobs run unconfined (no file needed)."""
    if not confine.cgroup_v1:
        return None
    lines = [
        header,
        "CgroupPlugin=cgroup/v1",
        "CgroupMountpoint=/sys/fs/cgroup",
        # A job gets the cores, the memory (RAM and RAM+swap: no more swap than RAM) and the
        # GPU device files it was allocated, nothing else. The OOM killer acts inside the job.
        "ConstrainCores=yes",
        "ConstrainRAMSpace=yes",
        "ConstrainSwapSpace=yes",
        "ConstrainDevices=yes",
    ]
    return "\n".join(lines) + "\n"
