"""The facts guides may quote, from the factory's public site facts and the access policy.

`site_facts(site)` turns the JSON of `GET api/site` into a nested mapping of display strings:
`{{ gpu.name }}` is the first partition with GPUs, `{{ cpu.name }}` the default partition (or
the first one without GPUs), `{{ rates.gpu_hour }}` the charged rate, `{{ tables.partitions }}`
a Markdown table of every partition. Guides say "the GPU partition", never "gpu", so a centre
that calls it "booster" gets guides that say "booster".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aifactory_hub import policy
from aifactory_hub.policy import eligibility
from aifactory_hub.site import StorageSettings
from aifactory_widgets.ui.format import amount, grouped, walltime_text

NONE = "none"


def table(columns: list[str], rows: list[list[str]]) -> str:
    """A Markdown table (cells are the centre's own facts; '|' is escaped)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _partition(part: Mapping[str, Any] | None, specs: Mapping[str, Mapping[str, Any]]) -> dict:
    if part is None:
        return {k: NONE for k in ("name", "description", "gpu_type", "gpu_label")}
    gpus = int(part.get("gpus_per_node") or 0)
    spec = specs.get(part.get("gpu_type") or "", {})
    return {
        "name": part["name"],
        "description": part.get("description") or part["name"],
        "nodes": grouped(part.get("nodes", 1)),
        "cpus_per_node": grouped(part["cpus_per_node"]),
        "memory_gb_per_node": grouped(part["memory_gb_per_node"]),
        "max_walltime_hours": grouped(part["max_walltime_hours"]),
        "max_walltime_hms": walltime_text(round(part["max_walltime_hours"] * 60)),
        "max_cpus": grouped(part["max_cpus"]),
        "max_memory_gb": grouped(part["max_memory_gb"]),
        "max_gpus": grouped(part.get("max_gpus", 0)),
        "min_gpus": grouped(part.get("min_gpus", 0)),
        "gpu_type": part.get("gpu_type") or NONE,
        "gpus_per_node": grouped(gpus),
        "total_gpus": grouped(gpus * part.get("nodes", 1)),
        "cpus_per_gpu": grouped(part["cpus_per_node"] // gpus) if gpus else NONE,
        "gpu_label": spec.get("label") or part.get("gpu_type") or NONE,
        "gpu_memory_gb": grouped(spec["memory_gb"]) if spec else "unknown",
        "gpu_peak_tflops_bf16": grouped(spec["peak_tflops_bf16"]) if spec else "unknown",
        "gpu_note": spec.get("note", ""),
    }


def _tables(site: Mapping[str, Any], modes: dict[str, dict[str, str]], currency: str) -> dict:
    parts = site.get("partitions", [])
    partitions = [
        [
            p["name"] + (" (default)" if p["name"] == site.get("default_partition") else ""),
            p.get("description", ""),
            f"{p.get('gpus_per_node') or 0} x {p['gpu_type']}" if p.get("gpus_per_node") else "-",
            f"{p['max_cpus']} CPUs, {p['max_memory_gb']} GB"
            + (
                f", {p.get('min_gpus', 0)}-{p.get('max_gpus', 0)} GPUs" if p.get("max_gpus") else ""
            ),
            f"{grouped(p['max_walltime_hours'])} h",
        ]
        for p in parts
    ]
    gpu_types = [
        [g["name"], g.get("label", ""), f"{grouped(g['memory_gb'])} GB",
         f"{grouped(g['peak_tflops_bf16'])}", g.get("note", "")]
        for g in site.get("gpu_types", [])
    ]  # fmt: skip
    mode_rows = [
        [m["label"], f"{m['max_gpu_hours']} GPU-h, {m['max_cpu_hours']} CPU-h", m["review"],
         f"{m['duration_days']} days"]
        for m in modes.values()
    ]  # fmt: skip
    return {
        "partitions": table(
            ["partition", "what it is for", "GPUs per node", "per session at most", "wall time"],
            partitions,
        ),
        "gpu_types": table(
            ["GPU type", "model", "memory", "peak TFLOPS (BF16, dense)", "note"], gpu_types
        )
        if gpu_types
        else "The site file lists no GPU specifications.",
        "access_modes": table(["access mode", "size per proposal", "review", "lasts"], mode_rows),
        "prohibited_practices": "\n".join(f"- {p.label}" for p in policy.ProhibitedPractice),
        "high_risk_areas": "\n".join(
            f"- {a.label}" for a in policy.HighRiskArea if a != policy.HighRiskArea.none
        ),
        "legal_bases": ", ".join(b.label.lower() for b in policy.LegalBasis),
    }


def _review(mode: Mapping[str, Any]) -> str:
    reviewers = int(mode["reviewers_required"])
    text = f"{reviewers} peer reviews" if reviewers else "automatic checks, granted at once"
    return text + (" and a technical check" if mode["technical_check"] else "")


def site_facts(site: Mapping[str, Any]) -> dict[str, Any]:
    """Every fact a guide may quote, as display strings, from `GET api/site`'s answer."""
    parts = site.get("partitions", [])
    specs = {g["name"]: g for g in site.get("gpu_types", [])}
    default = next((p for p in parts if p["name"] == site.get("default_partition")), parts[0])
    cpu = default if not default.get("gpus_per_node") else None
    cpu = cpu or next((p for p in parts if not p.get("gpus_per_node")), default)
    gpu = next((p for p in parts if p.get("gpus_per_node")), None)
    access = site.get("access", {})
    rates = access.get("rates", {"gpu_hour_eur": 0, "cpu_hour_eur": 0, "currency": "EUR"})
    modes = {
        code: {
            "label": m.get("label", code),
            "max_gpu_hours": grouped(m["max_gpu_hours"]),
            "max_cpu_hours": grouped(m["max_cpu_hours"]),
            "duration_days": grouped(m["duration_days"]),
            "reviewers_required": grouped(m["reviewers_required"]),
            "technical_check": "yes" if m["technical_check"] else "no",
            "review": _review(m),
        }
        for code, m in access.get("modes", {}).items()
    }
    currency = rates.get("currency", "EUR")
    storage = {**StorageSettings().model_dump(), **site.get("storage", {})}
    gpu_facts = _partition(gpu, specs)
    example = {}
    if gpu is not None:
        hours = float(gpu["max_walltime_hours"])
        gpu_h, cpu_h = gpu.get("max_gpus", 0) * hours, gpu["max_cpus"] * hours
        cost = policy.charge(gpu_h, cpu_h, policy.Rates(**rates))
        example = {"gpu_hours": grouped(gpu_h), "cpu_hours": grouped(cpu_h), "cost": amount(cost)}
    return {
        "site": {"name": site.get("name", ""), "cluster": site.get("cluster", "")},
        "cpu": _partition(cpu, specs),
        "gpu": gpu_facts,
        "defaults": {k: grouped(v) for k, v in site.get("defaults", {}).items()},
        "rates": {
            "gpu_hour": amount(rates.get("gpu_hour_eur", 0)),
            "cpu_hour": amount(rates.get("cpu_hour_eur", 0)),
            "currency": currency,
        },
        "modes": modes,
        "open_results_due_days": grouped(access.get("open_results_due_days", 0)),
        "storage": {
            "project_root": storage["project_root"],
            "scratch_root": storage["scratch_root"],
            "scratch_purge_days": grouped(storage["scratch_purge_days"]),
            "retention_days": grouped(storage["retention_days"]),
        },
        "example_gpu_session": example or {"gpu_hours": "0", "cpu_hours": "0", "cost": "0.00"},
        "ethics": {
            "min_intended_use": grouped(eligibility.MIN_INTENDED_USE),
            "min_mitigation_plan": grouped(eligibility.MIN_MITIGATION_PLAN),
            "min_abstract": grouped(eligibility.MIN_ABSTRACT),
            "eu_values": eligibility.EU_VALUES,
        },
        "tables": _tables(site, modes, currency),
    }
