"""The facts guides may quote, from the factory's public site facts and the access policy.

`site_facts(site)` turns the JSON of `GET api/site` into a nested mapping of display strings:
`{{ gpu.name }}` is the first partition with GPUs, `{{ cpu.name }}` the default partition (or
the first one without GPUs), `{{ rates.gpu_hour }}` the charged rate, `{{ tables.partitions }}`
a Markdown table of every partition. Guides say "the GPU partition", never "gpu", so a centre
that calls it "booster" gets guides that say "booster". The access modes are site data too:
`{{ modes.<code>.* }}` quote one mode's bounds, lengths, selection and decision target, and
`{{ tables.access_modes }}` / `{{ tables.prices }}` list every mode the site defines. So are
the software environments: `{{ environments.default }}` is the one a session gets when none is
chosen, `{{ environments.example }}` another one to show in examples (the default when there is
no other), `{{ tables.environments }}` lists them all with the partitions they are offered on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aifactory_hub import policy
from aifactory_hub.policy import eligibility
from aifactory_hub.policy.model import ApplicantType
from aifactory_hub.policy.settings import TrialSettings
from aifactory_hub.site import StorageSettings
from aifactory_widgets.ui.format import amount, grouped, walltime_text

NONE = "none"
PRICE_TERMS = {"free": "free", "open_or_partner": "free with open results or a partner",
               "charged": "charged"}  # fmt: skip


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


def _environments(site: Mapping[str, Any]) -> dict[str, str]:
    """The environments' quotable names and the software bounds (`GET api/site` lists the
    environments with the default first; a site without them has only the factory's own)."""
    envs = site.get("environments") or []
    default = next((e for e in envs if e.get("default")), envs[0] if envs else None)
    other = next((e for e in envs if e is not default), default)
    modules = [m for e in envs for m in e.get("modules") or ()]
    software = site.get("software") or {}
    return {
        "default": default["name"] if default else NONE,
        "example": other["name"] if other else NONE,
        "example_module": modules[0] if modules else NONE,
        "names": _listed([e["name"] for e in envs]) if envs else NONE,
        "count": grouped(len(envs)),
        "module_system": "yes" if software.get("module_system") else "no",
        "build_minutes": grouped(software.get("build_minutes", 30)),
        "build_max_gb": grouped(software.get("build_max_gb", 5)),
    }


def _environment_table(site: Mapping[str, Any]) -> str:
    envs = site.get("environments") or []
    if not envs:
        return (
            "This centre defines no software environments: every session runs the factory's "
            "own Python."
        )
    everywhere = [p["name"] for p in site.get("partitions", [])]
    rows = [
        [
            f"**{e['name']}**" + (" (default)" if e.get("default") else ""),
            e.get("description") or "-",
            ", ".join(f"`{m}`" for m in e.get("modules") or ()) or "-",
            "all" if set(everywhere) <= set(e.get("partitions") or ()) else
            ", ".join(e.get("partitions") or ()) or NONE,
        ]
        for e in envs
    ]  # fmt: skip
    return table(["environment", "what it has", "modules it loads", "partitions"], rows)


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
        [m["label"], m["who"], m["size"], m["selection"], m["decision"], m["lengths"]]
        for m in modes.values()
    ]
    notes = "\n".join(_note(m) for m in modes.values())
    price_rows = [
        [m["label"], *(m["price"].get(t.value, "not open") for t in ApplicantType)]
        for m in modes.values()
    ]
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
        "access_modes": table(
            ["access mode", "for", "size per proposal", "selection", "decision", "lasts"],
            mode_rows,
        ),
        "access_mode_notes": notes or "This centre defines no access mode.",
        "prices": table(["access mode", *(t.label for t in ApplicantType)], price_rows),
        "prohibited_practices": "\n".join(f"- {p.label}" for p in policy.ProhibitedPractice),
        "high_risk_areas": "\n".join(
            f"- {a.label}" for a in policy.HighRiskArea if a != policy.HighRiskArea.none
        ),
        "legal_bases": ", ".join(b.label.lower() for b in policy.LegalBasis),
        "environments": _environment_table(site),
    }


def _hours(value: float | None, unit: str) -> str:
    return f"{grouped(value)} {unit}" if value is not None else "set by the call"


def _listed(words: list[str], conjunction: str = "or") -> str:
    *first, last = words or [NONE]
    return f"{', '.join(first)} {conjunction} {last}" if first else last


def _days(days: list[str]) -> str:
    """Cut-off days of the month: 'day 1', 'days 1 and 15'."""
    return ("days " if len(days) > 1 else "day ") + _listed(days, "and")


def _checks(mode: Mapping[str, Any]) -> str:
    """'eligibility check, technical check, ethics self-assessment and 2 peer reviews'."""
    named = {"eligibility": "eligibility check", "technical": "technical check",
             "ethics": "ethics self-assessment"}  # fmt: skip
    words = [named.get(c, c) for c in mode.get("checks") or ()]
    reviewers = int(mode.get("reviewers_required") or 0)
    words += [f"{reviewers} peer reviews"] if reviewers else []
    *first, last = words or ["automatic checks"]
    return f"{', '.join(first)} and {last}" if first else last


def _note(m: Mapping[str, Any]) -> str:
    """One mode as a Markdown bullet: who, how much, how long, how it is selected, and when
    the decision comes."""
    head = f"- **{m['label']}**" + (f": {m['description']}." if m["description"] else ":")
    size = m["size"] if m["size"] != "set by the call" else "sized by the call"
    text = f"{head} {size[:1].upper()}{size[1:]} per request, for {m['lengths']}."
    if m["cutoff_days"] != NONE:  # a review mode (it has cut-offs)
        text += (
            f" Requests collect until the next cut-off ({m['cutoff_days']} of each month), then "
            f"get the {m['checks']} and are ranked against the call's capacity; the decision "
            f"comes {m['decision']}."
        )
    else:
        text += (
            f" First come, first served: after the {m['checks']}, requests are granted in "
            f"order of arrival, the decision {m['decision']}."
        )
    return text


def _mode_facts(code: str, m: Mapping[str, Any]) -> dict[str, Any]:
    """One access mode's quotable facts, from its settings as `GET api/site` sends them."""
    low, high = float(m.get("min_gpu_hours") or 0), m.get("max_gpu_hours")
    size = f"at least {grouped(low)} GPU-h" if low else ""
    size = size or (f"up to {grouped(high)} GPU-h" if high is not None else "set by the call")
    review = m.get("selection") == "review"
    cutoffs = [str(d) for d in m.get("cutoff_days") or ()]
    target = int(m["decision_working_days"])
    months = [str(n) for n in m.get("lengths_months") or ()]
    return {
        "label": m.get("label", code),
        "description": m.get("description", ""),
        "who": ", ".join(ApplicantType(t).label for t in m.get("applicant_types") or ()),
        "min_gpu_hours": grouped(low),
        "max_gpu_hours": _hours(high, "GPU-hours"),
        "max_cpu_hours": _hours(m.get("max_cpu_hours"), "CPU-hours"),
        "size": size,
        "lengths": _listed(months) + " months",
        "max_length_months": max(months, key=int) if months else NONE,
        "selection": (
            f"peer review at cut-offs ({_days(cutoffs)} of each month)"
            if review
            else "first come, first served"
        ),
        "cutoff_days": _days(cutoffs) if cutoffs else NONE,
        "checks": _checks(m),
        "decision_working_days": grouped(target),
        "decision": f"within {target} working days" + (" of a cut-off" if review else ""),
        "reviewers_required": grouped(int(m.get("reviewers_required") or 0)),
        "price": {t: PRICE_TERMS.get(term, term) for t, term in (m.get("price") or {}).items()},
    }


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
    modes = {code: _mode_facts(code, m) for code, m in access.get("modes", {}).items()}
    # The public facts may leave the instant trial out: the policy's default trial then.
    trial = {**TrialSettings().model_dump(), **access.get("trial", {})}
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
        "trial": {
            "max_gpu_hours": grouped(trial["max_gpu_hours"]),
            "max_cpu_hours": grouped(trial["max_cpu_hours"]),
            "duration_days": grouped(trial["duration_days"]),
            "mode": modes.get(trial["mode"], {}).get("label", trial["mode"]),
        },
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
        "environments": _environments(site),
        "tables": _tables(site, modes, currency),
    }
