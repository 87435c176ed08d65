"""How well finished jobs used what they asked for, as `seff` and Princeton's jobstats say it.

One sacct for many jobs (`efficiency_argv`), its lines turned into one `JobEfficiency` per
job (`parse_efficiency`), all pure:

- CPU efficiency = TotalCPU / (Elapsed x AllocCPUS): the CPU time the job's steps used over
  the CPU time it held (seff's "CPU Efficiency");
- peak memory = the largest MaxRSS over the job's steps (the batch step included: a script
  that runs python without srun has all its use there), against ReqMem (seff's "Memory
  Efficiency"). MaxRSS is one task's peak, so a job of many tasks may have used more in all:
  the figure is a floor, as seff's is. Accounting samples it every JobAcctGatherFrequency
  (30 s here), so a job shorter than that shows the peak of its first sample only;
- GPU-hours = the GPUs in AllocTRES x Elapsed, what the project is charged for.

A hint says so when a job held much more than it used (`hints`), so the next one asks for
less and starts sooner.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from aifactory_hub.slurm import states
from aifactory_hub.slurm.jobs import check_job_id
from aifactory_hub.slurm.tres import parse_tres, tres_counts

FIELDS = ("JobID", "State", "ElapsedRaw", "TotalCPU", "AllocCPUS", "NNodes", "ReqMem", "MaxRSS",
          "AllocTRES")  # fmt: skip
# Below this share of what was held, the hint says to ask for less (jobstats warns at 25 %).
LOW_USE = 0.25
# Slurm's JobAcctGatherFrequency: how often accounting samples a job's memory (the local
# factory's slurm.conf, ops.localcluster.conf, sets 30 s, Slurm's default).
SAMPLE_S = 30

_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
# ReqMem: "4G"; before Slurm 21.08 also "4Gn" (per node) or "512Mc" (per CPU).
_MEMORY = re.compile(r"([0-9]+(?:\.[0-9]+)?)([KMGTP]?)([nc]?)")
# TotalCPU: [DD-][HH:]MM:SS[.mmm]
_DURATION = re.compile(r"(?:([0-9]+)-)?(?:([0-9]+):)?([0-9]+):([0-9]+(?:\.[0-9]+)?)")


def efficiency_argv(job_ids: Sequence[str]) -> list[str]:
    """One sacct for the jobs (array tasks too: 12_3) and each of their steps."""
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "--jobs=" + ",".join(check_job_id(j, array_task=True) for j in job_ids),
        f"--format={','.join(FIELDS)}",
    ]


def duration_s(text: str) -> float | None:
    """sacct's TotalCPU in seconds: '00:38.801' -> 38.801, '1:02:03' -> 3723.0,
    '2-01:00:00' -> 176400.0; None for anything else."""
    match = _DURATION.fullmatch(text.strip())
    if not match:
        return None
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def memory_bytes(text: str) -> int | None:
    """A MaxRSS or ReqMem figure in bytes ('316888K', '1G', '0'); None when empty or unreadable.
    sacct's units are binary (K = 1024), and a bare number is bytes for MaxRSS."""
    match = _MEMORY.fullmatch(text.strip())
    if not match or match.group(3):
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2)])


def asked_bytes(req_mem: str, cpus: int, nodes: int) -> int | None:
    """What the job asked for, from ReqMem. Slurm since 21.08 prints the job's request as the
    job's TRES show it ('2G'); older ones mark it per node ('2Gn') or per CPU ('512Mc')."""
    match = _MEMORY.fullmatch(req_mem.strip())
    if not match:
        return None
    value = int(float(match.group(1)) * _UNITS[match.group(2) or "M"])  # bare ReqMem is MB
    if match.group(3) == "c":
        return value * max(cpus, 1)
    if match.group(3) == "n":
        return value * max(nodes, 1)
    return value


@dataclass(frozen=True)
class JobEfficiency:
    """One finished job's use against its request."""

    job_id: str
    state: str
    elapsed_s: int
    cpus: int
    cpu_used_s: float  # TotalCPU: user + system time of all its steps
    peak_bytes: int | None  # the largest MaxRSS of its steps; None: accounting has none
    asked_bytes: int | None
    gpus: int

    @property
    def cpu_efficiency(self) -> float | None:
        """CPU time used over CPU time held; None for a job that held none (never ran)."""
        held = self.elapsed_s * self.cpus
        return self.cpu_used_s / held if held > 0 else None

    @property
    def cpus_used(self) -> float:
        """How many CPUs' worth the job kept busy on average."""
        return self.cpu_used_s / self.elapsed_s if self.elapsed_s > 0 else 0.0

    @property
    def memory_fraction(self) -> float | None:
        if self.peak_bytes is None or not self.asked_bytes:
            return None
        return self.peak_bytes / self.asked_bytes

    @property
    def gpu_hours(self) -> float:
        return self.gpus * self.elapsed_s / 3600


def parse_efficiency(text: str) -> dict[str, JobEfficiency]:
    """`efficiency_argv`'s output: {job id: its efficiency}. The job's own line gives its
    state, elapsed time, CPUs, TotalCPU, request and TRES; its steps' lines give MaxRSS.
    Lines that are not the jobs' (or are unreadable) are left out."""
    whole: dict[str, list[str]] = {}
    peaks: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != len(FIELDS):
            continue
        job, _, step = parts[0].partition(".")
        if step:
            rss = memory_bytes(parts[7])
            if rss is not None:
                peaks[job] = max(peaks.get(job, 0), rss)
        else:
            whole[job] = parts
    found = {}
    for job, parts in whole.items():
        _, state_text, elapsed, total_cpu, cpus_text, nodes_text, req_mem, rss, tres = parts
        cpus = int(cpus_text) if cpus_text.isdigit() else 0
        nodes = int(nodes_text) if nodes_text.isdigit() else 1
        asked = asked_bytes(req_mem, cpus, nodes)
        if asked is None:  # no ReqMem: what was allocated
            asked = memory_bytes(parse_tres(tres).get("mem", ""))
        peak = peaks.get(job, memory_bytes(rss))
        found[job] = JobEfficiency(
            job_id=job,
            state=states.job_state(state_text) or state_text,
            elapsed_s=int(elapsed) if elapsed.isdigit() else 0,
            cpus=cpus,
            cpu_used_s=duration_s(total_cpu) or 0.0,
            peak_bytes=peak,
            asked_bytes=asked,
            gpus=tres_counts(tres)[1],
        )
    return found


def size_text(value: int | None) -> str:
    """Bytes as sacct's users read them: 316888K -> '309 MB', 2G -> '2.0 GB'."""
    if value is None:
        return "?"
    if value >= 1024**3:
        return f"{value / 1024**3:.1f} GB"
    return f"{value / 1024**2:.0f} MB"


def hints(job: JobEfficiency, sample_s: int = SAMPLE_S) -> list[str]:
    """Plain advice when the job held much more than it used (under `LOW_USE` of it), so the
    next one asks for less: less waiting in the queue, less of the project's hours. No memory
    advice for a job shorter than accounting's sampling (`sample_s`): its peak is unknown."""
    said = []
    efficiency = job.cpu_efficiency
    if efficiency is not None and job.cpus > 1 and efficiency < LOW_USE:
        enough = max(1, math.ceil(job.cpus_used * 1.25))  # a quarter to spare
        said.append(
            f"asked for {job.cpus} CPUs, used about {job.cpus_used:.1f}: ask for {enough} next time"
        )
    peak, asked, fraction = job.peak_bytes, job.asked_bytes, job.memory_fraction
    sampled = job.elapsed_s >= sample_s
    if peak is not None and asked and fraction is not None and fraction < LOW_USE and sampled:
        enough_gb = max(1, math.ceil(peak * 1.25 / 1024**3))  # a quarter to spare
        if enough_gb * 1024**3 < asked:
            said.append(
                f"asked for {size_text(job.asked_bytes)} of memory, peaked at "
                f"{size_text(job.peak_bytes)}: ask for {enough_gb} GB next time"
            )
    return said
