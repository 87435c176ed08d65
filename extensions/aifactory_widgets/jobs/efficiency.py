"""The job monitor's efficiency cells for a finished job: what `slurm.efficiency` worked out
from accounting, written for a researcher (pure: the monitor runs the one sacct)."""

from __future__ import annotations

from aifactory_hub.slurm.efficiency import JobEfficiency, hints, size_text

COLUMNS = ("CPU use", "memory peak", "GPU-h")
WIDTHS = ("110px", "150px", "70px")


def cells(job: JobEfficiency | None) -> tuple[str, str, str]:
    """(CPU efficiency, peak memory against the request, GPU-hours); blanks where accounting
    has no figure yet (a job that just ended, or one that never ran)."""
    if job is None:
        return "", "", ""
    efficiency = job.cpu_efficiency
    cpu = f"{efficiency:.0%} of {job.cpus}" if efficiency is not None else ""
    memory = ""
    if job.peak_bytes is not None:
        memory = size_text(job.peak_bytes)
        if job.asked_bytes:
            memory += f" of {size_text(job.asked_bytes)}"
    gpu = f"{job.gpu_hours:.3f}" if job.gpus else "-"
    return cpu, memory, gpu


def hint_text(job: JobEfficiency | None) -> str:
    """One line of advice for the next job like this one; "" when it used what it asked for."""
    said = hints(job) if job is not None else []
    return f"Job {job.job_id}: " + "; ".join(said) + "." if job is not None and said else ""


def settled(job: JobEfficiency) -> bool:
    """Accounting's figures for the job are complete (its steps' peak is in), so they need not
    be asked again; a job that never ran has none to wait for."""
    return job.peak_bytes is not None or job.elapsed_s == 0
