"""Session options: what a user may ask this site for, checked against an allow-list with bounds.

It sits with the site because it is the site's partitions and limits read as a grammar: the
spawner validates a spawn with it, and a workshop fixes its participants' sessions with it.

User input is hostile. Every field is parsed strictly (no coercion of odd types, no extra
fields), every string must be one of the values the site offers this user, and every number
must be inside the partition's limits. The result is a frozen `SessionRequest`; nothing else
the user sent survives validation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlencode

from aifactory_hub.core.errors import FieldError
from aifactory_hub.policy import ProjectQuota, session_refusal
from aifactory_hub.site import Partition, Project, Site

FIELDS = ("project", "partition", "environment", "cpus", "memory_gb", "gpus", "walltime_hours")
_INT = re.compile(r"^[0-9]{1,6}$")
_HOURS = re.compile(r"^[0-9]{1,4}(\.[0-9]{1,2})?$")


class OptionError(FieldError):
    """A session option was refused. `field` names it; the message says why."""


@dataclass(frozen=True)
class SessionRequest:
    """A validated session: every value came from the allow-list or is inside its bounds."""

    account: str
    partition: str
    cpus: int
    memory_gb: int
    gpus: int
    walltime_minutes: int
    gpu_type: str = ""
    reservation: str = ""
    materials: str = ""  # a workshop's folder under notebooks/, copied in at session start
    # The site environment the kernels run in ("": the site defines none).
    environment: str = ""

    def to_options(self) -> dict[str, Any]:
        """The user_options form of this request (what the hub stores and shows again)."""
        return {
            "project": self.account,
            "partition": self.partition,
            **({"environment": self.environment} if self.environment else {}),
            "cpus": self.cpus,
            "memory_gb": self.memory_gb,
            "gpus": self.gpus,
            "walltime_hours": round(self.walltime_minutes / 60, 2),
        }

    def to_state(self) -> dict[str, Any]:
        return asdict(self)


def spawn_query(options: Mapping[str, object], *, prefix: str = "") -> str:
    """The URL-encoded query of a spawn link (`/hub/spawn?...`) for `options`, in the form's
    order; an empty value is left out, so the form picks its own. `prefix` is JupyterHub's
    optional `opt-`. The hub validates the link like the form; this only spells it."""
    return urlencode(
        [(prefix + k, str(options[k])) for k in FIELDS if options.get(k) not in (None, "")]
    )


def allowed_partitions(site: Site, project: Project) -> list[Partition]:
    return [site.partition(name) for name in project.partitions]


def form_to_options(formdata: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Flatten the hub's form data (a list per field) into one string per field."""
    options: dict[str, str] = {}
    for key, values in formdata.items():
        if key == "_xsrf":
            continue
        if not isinstance(values, (list, tuple)) or len(values) != 1:
            raise OptionError(str(key)[:40], "expected exactly one value")
        options[key] = values[0]
    return options


def validate_options(
    raw: Mapping[str, Any] | None,
    *,
    site: Site,
    projects: Sequence[Project],
) -> SessionRequest:
    """Turn user-supplied options into a SessionRequest, or raise OptionError.

    `projects` are the projects this user is a member of; nothing else can be charged.
    Missing fields take the site's defaults; unknown fields are refused.
    """
    raw = dict(raw or {})
    unknown = sorted(str(k)[:40] for k in raw if k not in FIELDS)
    if unknown:
        raise OptionError(unknown[0], "unknown option (allowed: " + ", ".join(FIELDS) + ")")
    if not projects:
        raise OptionError("project", "you are not a member of any project; apply for access first")

    by_account = {p.account: p for p in projects}
    account = _choice(raw, "project", list(by_account), default=projects[0].account)
    project = by_account[account]

    offered = [p.name for p in allowed_partitions(site, project)]
    fallback = site.default_partition.name if site.default_partition.name in offered else offered[0]
    part_name = _choice(raw, "partition", offered, default=fallback, what=f"project {account}")
    part = site.partition(part_name)
    environment = _environment(raw, site, part.name)

    defaults = site.defaults
    cpus = _integer(raw, "cpus", 1, part.max_cpus, default=min(defaults.cpus, part.max_cpus))
    memory = _integer(
        raw, "memory_gb", 1, part.max_memory_gb, default=min(defaults.memory_gb, part.max_memory_gb)
    )
    gpus = _integer(raw, "gpus", part.min_gpus, part.max_gpus, default=part.min_gpus)
    hours = _hours(raw, part.max_walltime_hours, default=defaults.walltime_hours)
    return SessionRequest(
        account=account,
        partition=part.name,
        cpus=cpus,
        memory_gb=memory,
        gpus=gpus,
        walltime_minutes=max(1, math.ceil(hours * 60)),
        gpu_type=part.gpu_type if gpus else "",
        environment=environment,
    )


def offered_environments(site: Site, partition: str) -> list[str]:
    """The names of the environments a session on `partition` may run, the default first."""
    return [env.name for env in site.environments_on(partition)]


def _environment(raw: Mapping[str, Any], site: Site, partition: str) -> str:
    offered = offered_environments(site, partition)
    if not offered:
        if _present(raw, "environment") and site.environments:
            raise OptionError("environment", f"no environment is offered on {partition}")
        if _present(raw, "environment"):
            raise OptionError("environment", "this site defines no environments")
        return ""
    return _choice(raw, "environment", offered, default=offered[0], what=f"partition {partition}")


def check_allocation(request: SessionRequest, quotas: Mapping[str, ProjectQuota]) -> None:
    """Refuse a session Slurm would hold for ever: its project's hours are used up, or fewer
    are left than it may use. `quotas` come from the store; a project without a recorded
    allocation is not gated here (Slurm's own limits still apply)."""
    quota = quotas.get(request.account)
    if quota is None:
        return
    field, reason = session_refusal(quota, request.gpus, request.cpus, request.walltime_minutes)
    if reason:
        raise OptionError(field, reason)


def _present(raw: Mapping[str, Any], field: str) -> bool:
    return field in raw and raw[field] is not None and raw[field] != ""


def _choice(
    raw: Mapping[str, Any], field: str, allowed: list[str], *, default: str, what: str = "you"
) -> str:
    if not _present(raw, field):
        return default
    value = raw[field]
    if not isinstance(value, str):
        raise OptionError(field, "must be a string")
    if value not in allowed:
        shown = value if len(value) <= 40 and value.isprintable() else repr(value[:40])
        choices = ", ".join(allowed)
        raise OptionError(field, f"{shown} is not available to {what} (choose from {choices})")
    return value


def _integer(raw: Mapping[str, Any], field: str, low: int, high: int, *, default: int) -> int:
    if not _present(raw, field):
        return default
    value = raw[field]
    if isinstance(value, bool):
        raise OptionError(field, "must be a whole number")
    if isinstance(value, str):
        if not _INT.match(value):
            raise OptionError(field, "must be a whole number")
        value = int(value)
    if not isinstance(value, int):
        raise OptionError(field, "must be a whole number")
    if not low <= value <= high:
        raise OptionError(field, f"{value} is outside the partition's limits ({low} to {high})")
    return value


def _hours(raw: Mapping[str, Any], high: float, *, default: float) -> float:
    field = "walltime_hours"
    if not _present(raw, field):
        return min(default, high)
    value = raw[field]
    if isinstance(value, bool):
        raise OptionError(field, "must be a number of hours")
    if isinstance(value, str):
        if not _HOURS.match(value):
            raise OptionError(field, "must be a number of hours, like 1 or 2.5")
        value = float(value)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise OptionError(field, "must be a number of hours")
    if not 0 < value <= high:
        raise OptionError(field, f"{value:g} h is outside the partition's limit (up to {high:g} h)")
    return float(value)
