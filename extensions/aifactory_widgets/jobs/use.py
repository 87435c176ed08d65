"""The session's own CPU, memory and GPU use while it runs:

    from aifactory_widgets import SessionUse
    SessionUse()

Memory is shown against the job's limit (what the session asked for: past it, Slurm's cgroup
kills the kernel), so a researcher sees the wall before hitting it. The figures come from the
job's cgroup, found through /proc/self/cgroup; outside a Slurm job (or where the cgroup cannot
be read) from the session's processes through psutil, and the panel says which. GPU use comes
from nvidia-smi where real GPUs answer; the local factory's GPUs are simulated and have no use
figures, which the panel says too. It refreshes on a Play widget that ticks in the browser
(ui/refresh.py): closed, it stops.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import ipywidgets as w
import psutil

from aifactory_hub import slurm
from aifactory_hub.slurm import SlurmError
from aifactory_widgets.jobs import live_use
from aifactory_widgets.jobs.live_use import Reading
from aifactory_widgets.ui.refresh import BrowserRefresh, start_soon, updated_line

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")
GPU_TIMEOUT_S = 10.0
NO_CGROUP = "No job cgroup for this kernel: figures from the session's processes (psutil)."

Clock = Callable[[], float]


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _pids_under(folder: Path) -> set[int]:
    """Every process in a cgroup and the cgroups below it (Slurm's steps and tasks)."""
    pids: set[int] = set()
    for procs in folder.rglob("cgroup.procs"):
        try:
            pids.update(int(p) for p in procs.read_text().split())
        except (OSError, ValueError):
            continue
    return pids


def _processes(pids: set[int]) -> list[psutil.Process]:
    found = []
    for pid in sorted(pids):
        try:
            found.append(psutil.Process(pid))
        except psutil.Error:  # it ended since the cgroup listed it
            continue
    return found


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for proc in processes:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
    return total


def read_cgroup(
    clock: Clock = time.monotonic,
    root: Path = CGROUP_ROOT,
    proc_self: Path = PROC_SELF_CGROUP,
) -> Reading | None:
    """The job's use from its cgroup (v1 as Slurm's task/cgroup makes it, or v2); None when
    this process is in no job's cgroup or the files cannot be read."""
    try:
        paths = live_use.cgroup_paths(proc_self.read_text())
    except OSError:
        return None
    v2 = "memory" not in paths
    found = live_use.job_cgroup(paths.get("" if v2 else "memory", ""))
    if found is None:
        return None
    job_path, job = found
    memory = root / job_path.lstrip("/") if v2 else root / "memory" / job_path.lstrip("/")
    used = _read_int(memory / ("memory.current" if v2 else "memory.usage_in_bytes"))
    if used is None:
        return None
    limit_file = memory / ("memory.max" if v2 else "memory.limit_in_bytes")
    limit = live_use.memory_limit(_read_int(limit_file), psutil.virtual_memory().total)
    cpuset = root / job_path.lstrip("/") if v2 else root / "cpuset" / job_path.lstrip("/")
    try:
        cpus = live_use.cpuset_count((cpuset / "cpuset.cpus.effective").read_text())
    except OSError:
        try:
            cpus = live_use.cpuset_count((cpuset / "cpuset.cpus").read_text())
        except OSError:
            cpus = 0
    # Slurm's task/cgroup keeps no cpuacct group of the job unless accounting gathers by
    # cgroup: then the CPU seconds are those of the processes in the job's memory cgroup.
    processes = _processes(_pids_under(memory))
    node = job_path.strip("/").split("/")[0].removeprefix("slurm_")
    return Reading(
        at=clock(),
        cpu_s=_cpu_seconds(processes),
        cpus=cpus or len(os.sched_getaffinity(0)),
        memory_bytes=used,
        limit_bytes=limit,
        source=f"From the job's cgroup (job {job} on {node}).",
        job=job,
    )


def read_processes(
    clock: Clock = time.monotonic, environ: Mapping[str, str] = os.environ
) -> Reading:
    """The session's use from its processes: the Jupyter server that started this kernel and
    everything below it; the limit Slurm told the job (SLURM_MEM_PER_NODE, MB) if any."""
    parent = psutil.Process(os.getppid())
    processes = [parent, *parent.children(recursive=True)]
    rss = 0
    for proc in processes:
        try:
            rss += proc.memory_info().rss
        except psutil.Error:
            continue
    per_node = environ.get("SLURM_MEM_PER_NODE", "")
    return Reading(
        at=clock(),
        cpu_s=_cpu_seconds(processes),
        cpus=len(os.sched_getaffinity(0)),
        memory_bytes=rss,
        limit_bytes=int(per_node) * 1024**2 if per_node.isdigit() else None,
        source=NO_CGROUP,
        job=environ.get("SLURM_JOB_ID", ""),
    )


def read_use(clock: Clock = time.monotonic) -> Reading:
    """The job's cgroup where there is one, else the session's processes."""
    return read_cgroup(clock) or read_processes(clock)


def gpu_lines(environ: Mapping[str, str] = os.environ) -> list[str]:
    """What the panel says about GPUs: the use nvidia-smi reports, else why there is none."""
    given = live_use.session_gpus(dict(environ))
    if not given:
        return ["GPU: no GPU in this session."]
    try:
        text = slurm.run(live_use.gpu_query_argv(), timeout=GPU_TIMEOUT_S).stdout
    except SlurmError as exc:
        if exc.returncode == 127:  # no nvidia-smi: no NVIDIA driver, so no real GPU
            return [f"GPU: simulated GPUs ({given}): no use figures."]
        return [f"GPU: nvidia-smi did not answer: {exc}"]
    found = live_use.parse_gpu_query(text)
    return live_use.gpu_lines(found) or [f"GPU: nvidia-smi reported no use for GPUs {given}."]


class SessionUse(BrowserRefresh, w.VBox):
    """This session's CPU, memory and GPU use, refreshed every `refresh_s` while shown."""

    def __init__(
        self,
        reader: Callable[[], Reading] | None = None,
        gpus: Callable[[], list[str]] | None = None,
        refresh_s: float = 5.0,
    ):
        self.reader = reader or read_use
        self.gpus = gpus or gpu_lines
        self.refresh_s = refresh_s
        self.last: Reading | None = None
        self.cpu = w.Label()
        self.memory = w.Label()
        self.memory_bar = w.FloatProgress(min=0, max=1, description="memory")
        self.gpu = w.VBox()
        self.source = w.Label()
        self.status = w.Label()
        self.make_timer(refresh_s)
        super().__init__(
            [
                w.HTML("<h3>This session's use</h3>"),
                self.cpu,
                w.HBox([self.memory_bar, self.memory]),
                self.gpu,
                self.source,
                self.status,
                self.timer,
            ]
        )
        self.refresh()
        start_soon(self.start_timer)

    def timer_off(self, text: str) -> None:
        self.status.value = text

    def refresh(self) -> Reading:
        """Read once more; CPU use is the rate since the last reading."""
        reading = self.reader()
        self.cpu.value = live_use.cpu_line(self.last, reading)
        self.memory.value = live_use.memory_line(reading)
        if reading.limit_bytes:
            share = reading.memory_bytes / reading.limit_bytes
            self.memory_bar.value = min(share, 1.0)
            self.memory_bar.bar_style = "danger" if share >= 0.9 else "info"
        self.memory_bar.layout.display = None if reading.limit_bytes else "none"
        self.gpu.children = [w.Label(line) for line in self.gpus()]
        self.source.value = reading.source
        self.status.value = updated_line(self.refresh_s)
        self.last = reading
        return reading

    def close(self) -> None:
        """Stop the browser's timer with the panel: a closed panel reads nothing more."""
        self.timer.playing = False
        super().close()
