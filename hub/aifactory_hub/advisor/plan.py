"""Where and at what price a training run fits this centre: per GPU partition, per access mode.

Built on `advisor` (memory and compute) and on the access policy's own `price` and `charge`,
so the advisor never states a rule or a rate of its own.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from pydantic import Field

from aifactory_hub.advisor.training import (
    PRECISIONS,
    Memory,
    TrainingRun,
    gpu_hours,
    memory_per_gpu,
    min_gpus,
)
from aifactory_hub.advisor.training import training_flops as flops_of
from aifactory_hub.policy.model import ApplicantType, Frozen
from aifactory_hub.policy.pricing import PriceDecision, charge, price
from aifactory_hub.policy.settings import AccessSettings


class GpuSpec(Frozen):
    name: str
    memory_gb: float = Field(gt=0)
    peak_tflops_bf16: float = Field(gt=0)
    label: str = ""
    note: str = ""


class GpuPartition(Frozen):
    """What the advisor needs of a partition with GPUs."""

    name: str
    gpu_type: str
    gpus_per_node: int = Field(ge=1)
    nodes: int = Field(1, ge=1)
    cpus_per_node: int = Field(ge=1)
    max_walltime_hours: float = Field(gt=0)


class Option(Frozen):
    """The run on one partition: how many GPUs, how long, and whether it can run there."""

    partition: str
    gpu_type: str
    min_gpus: int | None
    gpus: int
    nodes: int
    total_gpus: int
    fits: bool
    why_not: str = ""
    memory: Memory | None = None
    gpu_hours: float = 0.0
    cpu_hours: float = 0.0
    wall_hours: float = 0.0
    jobs: int = 0  # walltime-limited jobs in a row (checkpoint, then resubmit)


def gpu_partitions(site: Mapping[str, Any]) -> tuple[list[GpuPartition], dict[str, GpuSpec]]:
    """The GPU partitions and GPU specs from the factory's public site facts (`api/site`)."""
    fields = GpuPartition.model_fields
    parts = [
        GpuPartition(**{k: v for k, v in p.items() if k in fields})
        for p in site.get("partitions", [])
        if p.get("gpus_per_node")
    ]
    spec_fields = GpuSpec.model_fields
    specs = {
        g["name"]: GpuSpec(**{k: v for k, v in g.items() if k in spec_fields})
        for g in site.get("gpu_types", [])
    }
    return parts, specs


def access_settings(site: Mapping[str, Any]) -> AccessSettings:
    """The access settings back from the public facts' `access` block (the site's own modes,
    each as `ModeSettings` dumps it); the policy's defaults where the block is missing. The
    public facts leave the instant trial out, so it is counted under the site's first mode
    unless that mode is named."""
    access = site.get("access") or {}
    modes = access.get("modes") or None
    settings: dict[str, Any] = {
        "rates": access.get("rates") or {},
        "open_results_due_days": access.get("open_results_due_days", 365),
    }
    if modes:
        trial = dict(access.get("trial") or {})
        if trial.get("mode") not in modes:
            trial["mode"] = "playground" if "playground" in modes else next(iter(modes))
        settings |= {"modes": modes, "trial": trial}
    return AccessSettings(**settings)


def option(
    run: TrainingRun, part: GpuPartition, spec: GpuSpec | None, gpus: int | None = None
) -> Option:
    """The run on `part` with `gpus` GPUs (default: the fewest that hold it)."""
    total = part.nodes * part.gpus_per_node
    base = {"partition": part.name, "gpu_type": part.gpu_type, "total_gpus": total}
    if spec is None:
        why = f"the site file gives no specs for GPU type {part.gpu_type!r}: ask support"
        return Option(**base, min_gpus=None, gpus=0, nodes=0, fits=False, why_not=why)
    least = min_gpus(run, spec.memory_gb)
    if least is None:
        why = "does not fit in GPU memory with this sharding at any size: shard (ZeRO-3/FSDP), "
        why += "checkpoint activations or use a smaller micro-batch"
        return Option(**base, min_gpus=None, gpus=0, nodes=0, fits=False, why_not=why)
    used = max(gpus or least, least)
    peak = spec.peak_tflops_bf16 * PRECISIONS[run.precision].throughput_factor
    hours = gpu_hours(flops_of(run.parameters, run.training_tokens), peak, run.mfu)
    wall = hours / used
    fits = used <= total
    return Option(
        **base,
        min_gpus=least,
        gpus=used,
        nodes=math.ceil(used / part.gpus_per_node),
        fits=fits,
        why_not="" if fits else f"needs {used} GPUs; the partition has {total}",
        memory=memory_per_gpu(run, used),
        gpu_hours=hours,
        cpu_hours=hours * part.cpus_per_node / part.gpus_per_node,
        wall_hours=wall,
        jobs=max(math.ceil(wall / part.max_walltime_hours - 1e-9), 1),
    )


def options(
    run: TrainingRun,
    partitions: Sequence[GpuPartition],
    specs: Mapping[str, GpuSpec],
    gpus: int | None = None,
) -> list[Option]:
    return [option(run, p, specs.get(p.gpu_type), gpus) for p in partitions]


def recommend(found: Sequence[Option]) -> Option | None:
    """The partition to use: of those that fit, the fewest GPU-hours, then the shortest wait."""
    fitting = [o for o in found if o.fits]
    return min(fitting, key=lambda o: (o.gpu_hours, o.wall_hours)) if fitting else None


class ModeCost(Frozen):
    """One access mode for these hours: whether one proposal can ask for them, and the price
    with open results (or an academic partner) and without."""

    mode: str
    label: str
    fits: bool
    min_gpu_hours: float
    max_gpu_hours: float | None  # None: the mode sets no upper bound (its call does)
    max_cpu_hours: float | None
    open_terms: PriceDecision
    closed_terms: PriceDecision
    closed_amount: Decimal


def _bound(hours: float | None) -> float:
    """A mode's upper bound; None (the call bounds it) is no bound here, 0 is zero."""
    return math.inf if hours is None else hours


def costs(
    gpu_h: float,
    cpu_h: float,
    access: AccessSettings,
    applicant_type: ApplicantType = ApplicantType.startup_sme,
) -> list[ModeCost]:
    """The site's modes open to `applicant_type`, in the site's order, each with whether one
    proposal may ask for these hours and the price with and without open results."""
    rows = []
    for code, limits in access.modes.items():
        if applicant_type not in limits.applicant_types:
            continue
        open_terms = price(applicant_type, limits, False, True, "")
        closed_terms = price(applicant_type, limits, False, False, "")
        amount = charge(gpu_h, cpu_h, access.rates) if closed_terms.charged else Decimal("0.00")
        rows.append(
            ModeCost(
                mode=code,
                label=limits.label,
                fits=limits.min_gpu_hours <= gpu_h <= _bound(limits.max_gpu_hours)
                and cpu_h <= _bound(limits.max_cpu_hours),
                min_gpu_hours=limits.min_gpu_hours,
                max_gpu_hours=limits.max_gpu_hours,
                max_cpu_hours=limits.max_cpu_hours,
                open_terms=open_terms,
                closed_terms=closed_terms,
                closed_amount=amount,
            )
        )
    return rows


def allocation_fit(
    needed_gpu_h: float, needed_cpu_h: float, left_gpu_h: float, left_cpu_h: float
) -> tuple[bool, str]:
    """(fits, sentence) for the run against what a project has left on a partition."""
    short = []
    if needed_gpu_h > left_gpu_h:
        short.append(f"{needed_gpu_h - left_gpu_h:,.1f} GPU-hours")
    if needed_cpu_h > left_cpu_h:
        short.append(f"{needed_cpu_h - left_cpu_h:,.1f} CPU-hours")
    if not short:
        return True, (
            f"fits: {needed_gpu_h:,.1f} of {left_gpu_h:,.1f} GPU-hours and "
            f"{needed_cpu_h:,.1f} of {left_cpu_h:,.1f} CPU-hours left"
        )
    return False, "does not fit: short by " + " and ".join(short)
