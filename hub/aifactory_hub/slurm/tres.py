"""Slurm's TRES lists ("billing=2,cpu=2,gres/gpu:sim=1,gres/gpu=1,mem=4G,node=1"), both ways.

The same `name=value,...` text is sacct's AllocTRES, scontrol's CfgTRES and AllocTRES, and
sacctmgr's GrpTRESMins.
"""

from __future__ import annotations

from collections.abc import Mapping

CPU, GPU = "cpu", "gres/gpu"  # the TRES the factory counts and limits


def parse_tres(text: str) -> dict[str, str]:
    """{name: value} of a TRES list; items without '=' are not TRES and are left out."""
    return dict(item.split("=", 1) for item in text.split(",") if "=" in item)


def tres_counts(text: str) -> tuple[int, int]:
    """(cpus, gpus) of a TRES list. The GPU total is `gres/gpu`; where only typed counts
    (`gres/gpu:a100=2`) are given, their sum. A value that is not a whole number counts 0."""
    tres = parse_tres(text)
    cpus = _count(tres.get(CPU, "0"))
    if GPU in tres:
        return cpus, _count(tres[GPU])
    return cpus, sum(_count(v) for k, v in tres.items() if k.startswith(GPU + ":"))


def tres_numbers(text: str) -> dict[str, int]:
    """{name: whole number} of a TRES list of counts or minutes (GrpTRESMins); values that are
    not whole numbers (mem=4G) are left out."""
    return {name: int(value) for name, value in parse_tres(text).items() if value.isdigit()}


def format_tres(values: Mapping[str, int]) -> str:
    """The TRES list of `values`, in their order: {"cpu": 60, "gres/gpu": 0} ->
    "cpu=60,gres/gpu=0"."""
    return ",".join(f"{name}={value}" for name, value in values.items())


def _count(text: str) -> int:
    return int(text) if text.isdigit() else 0
