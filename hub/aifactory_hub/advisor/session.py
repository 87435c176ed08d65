"""The session to work on a recommended plan from: the site environment for the user's
framework, and a spawn link that fills in (or starts) that session.

Pure functions of the public site facts (`GET api/site`), like the rest of the advisor: the
environment is matched by name, then by description, against the framework (case-insensitive,
PyTorch -> an environment named or described "pytorch"), else the partition's default (the
first one offered there: the service lists the default first, as a spawn picks it). The
session is one node's share of the plan, as far as the partition's per-session limits allow:
a multi-node run or more GPUs than a session may hold is still launched as a job (the
training launcher), from this session. The link's values are checked again by the spawn form,
so a link can never ask for more than the user may have.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field

from aifactory_hub.advisor.plan import Option
from aifactory_hub.policy.model import Frozen
from aifactory_hub.site.sessions import spawn_query

# The advisor's framework choice: (label, value); "other" matches no environment.
FRAMEWORKS: tuple[tuple[str, str], ...] = (("PyTorch", "pytorch"), ("JAX", "jax"),
                                           ("other", "other"))  # fmt: skip
SPAWN_PATH = "/hub/spawn"


class SessionSize(Frozen):
    """The spawn form's resource fields for a session that works on the plan."""

    cpus: int = Field(ge=1)
    memory_gb: int = Field(ge=1)
    gpus: int = Field(ge=0)
    walltime_hours: float = Field(gt=0)
    limited: bool = False  # the partition's per-session limits held the plan's node share back


def environment_for(
    environments: Sequence[Mapping[str, Any]], partition: str, framework: str
) -> str:
    """The environment to pick on `partition` for `framework`; "" when none is offered there
    (a site without environments runs every session in the factory's own)."""
    offered = [e for e in environments if partition in (e.get("partitions") or ())]
    if not offered:
        return ""
    key = framework.strip().lower()
    if key and key != "other":
        for field in ("name", "description"):
            match = next((e for e in offered if key in str(e.get(field) or "").lower()), None)
            if match is not None:
                return match["name"]
    return offered[0]["name"]


def session_size(option: Option, partition: Mapping[str, Any]) -> SessionSize:
    """One node's share of the plan (its GPUs and that fraction of the node's CPUs and memory)
    for one job's wall time, within the partition's per-session limits (`GET api/site`)."""
    per_node = int(partition.get("gpus_per_node") or 0)
    wanted = min(option.gpus, per_node) if per_node else 0
    low, high = int(partition.get("min_gpus") or 0), int(partition.get("max_gpus") or 0)
    gpus = max(low, min(wanted, high))
    share = wanted / per_node if per_node else 1.0
    cpus_wanted = max(1, math.ceil(partition["cpus_per_node"] * share))
    memory_wanted = max(1, math.ceil(partition["memory_gb_per_node"] * share))
    cpus = min(cpus_wanted, int(partition["max_cpus"]))
    memory = min(memory_wanted, int(partition["max_memory_gb"]))
    most = float(partition["max_walltime_hours"])
    hours = min(math.ceil(option.wall_hours * 100) / 100, most) or min(0.01, most)
    limited = (gpus, cpus, memory) != (wanted, cpus_wanted, memory_wanted)
    return SessionSize(
        cpus=cpus, memory_gb=memory, gpus=gpus, walltime_hours=hours, limited=limited
    )


def spawn_link(
    project: str, partition: str, environment: str, size: SessionSize, base: str = SPAWN_PATH
) -> str:
    """`base?project=..&partition=..&environment=..&cpus=..&memory_gb=..&gpus=..&walltime_hours=..`
    (URL-encoded); an empty project or environment is left out, so the form picks its own."""
    options = {"project": project, "partition": partition, "environment": environment,
               "cpus": size.cpus, "memory_gb": size.memory_gb, "gpus": size.gpus,
               "walltime_hours": f"{size.walltime_hours:g}"}  # fmt: skip
    return f"{base}?{spawn_query(options)}"
