"""The advisor's tables as rows of text: pure functions of the policy's estimates."""

from __future__ import annotations

from collections.abc import Sequence

from aifactory_hub.advisor import plan
from aifactory_hub.advisor import training as adv


def gb(value: float) -> str:
    return f"{value / adv.GB:,.1f} GB"


def wall_text(hours: float) -> str:
    """'3.5 h', or '96.0 h (4.0 days)' once it runs for days."""
    text = f"{hours:,.1f} h"
    return f"{text} ({hours / 24:,.1f} days)" if hours >= 48 else text


def memory_rows(
    run: adv.TrainingRun, best: plan.Option | None, gpu_memory_gb: float | None
) -> list[tuple]:
    """Memory per GPU under each sharding, on the GPUs the best option uses (else one)."""
    gpus = best.gpus if best else 1
    usable = gpu_memory_gb * adv.GB * adv.USABLE_FRACTION if gpu_memory_gb else None
    rows = []
    for code, (label, _) in adv.SHARDING.items():
        mem = adv.memory_per_gpu(run.model_copy(update={"sharding": code}), gpus)
        fits = "" if usable is None else ("yes" if mem.total <= usable else "no")
        chosen = " (chosen)" if code == run.sharding else ""
        rows.append(
            (f"{label}{chosen}, {gpus} GPU(s)", gb(mem.weights), gb(mem.gradients),
             gb(mem.optimiser), gb(mem.activations), gb(mem.total), fits)
        )  # fmt: skip
    return rows


def compute_rows(run: adv.TrainingRun, options: Sequence[plan.Option]) -> list[tuple]:
    rows = []
    for o in options:
        if o.min_gpus is None:
            rows.append((o.partition, o.gpu_type, "-", "-", "", "", "", "", o.why_not))
            continue
        rows.append(
            (o.partition, o.gpu_type, o.min_gpus, o.gpus, f"{o.gpu_hours:,.1f}",
             f"{o.cpu_hours:,.1f}", wall_text(o.wall_hours), o.jobs,
             "fits" if o.fits else o.why_not)
        )  # fmt: skip
    return rows


def _bounds(c: plan.ModeCost) -> str:
    said = [f"more than {c.min_gpu_hours:,g} GPU-h"] if c.min_gpu_hours else []
    said += [f"at most {c.max_gpu_hours:,g} GPU-h"] if c.max_gpu_hours is not None else []
    said += [f"at most {c.max_cpu_hours:,g} CPU-h"] if c.max_cpu_hours is not None else []
    return ", ".join(said)


def cost_rows(costs: Sequence[plan.ModeCost], currency: str = "EUR") -> list[tuple]:
    """(mode, can one proposal ask for it, price with open results or a partner, otherwise):
    the modes `plan.costs` found open to the applicant type, bounds said only where set."""
    rows = []
    for c in costs:
        fits = "yes" if c.fits else "no: " + _bounds(c)
        charged = f"{c.closed_amount:,} {currency}"
        free = "free" + (f" ({c.open_terms.obligation})" if c.open_terms.obligation else "")
        free = charged if c.open_terms.charged else free  # a mode that charges this type anyway
        closed = charged if c.closed_terms.charged else "free"
        rows.append((c.label, fits, free, closed))
    return rows
