"""Provision a granted allocation into Slurm, so that Slurm itself enforces it.

A grant becomes: the access mode's QOS (created once, shared by every project in that mode),
the project's Slurm account with `GrpTRESMins` (its CPU- and GPU-minutes over the whole
allocation), `QOS` and `DefaultQOS`, and one user association per (member, partition), as
the demo site's projects have (`ops.accounts`): none without a partition, so Slurm refuses
any other partition. An ended grant keeps its account (the accounting history stays) with its
limits at zero and no members. A member keeps their default account; one new to Slurm gets
the grant's.

The grant becomes a `slurm.sacctmgr.Wanted`, and `slurm.sacctmgr` diffs it against what
sacctmgr reports now, as for the demo site, returning only the steps still needed (its
docstring says in which order, and why); `apply` reads Slurm, plans and runs the steps one by
one, reporting each to the caller. A re-run after a failure half-way therefore does only what
is still missing, and a run on a provisioned grant does nothing. When a project ends its
limits are zero before anyone is removed. slurmdbd refuses to remove an association that has
pending or running jobs: that step fails, and a re-run once the jobs have ended does it. It
only knows the jobs slurmctld has already reported to it, which lags a moment behind sbatch.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import TypeAdapter, ValidationError

from aifactory_hub import slurm
from aifactory_hub.site.names import SlurmName, Username
from aifactory_hub.slurm import sacctmgr
from aifactory_hub.slurm.sacctmgr import SlurmState, Step, Wanted, WantedAccount
from aifactory_hub.slurm.tres import CPU, GPU

log = logging.getLogger(__name__)

# Each access mode has its QOS, af-<mode code without underscores>, with the mode's
# `qos_priority` (site data). The priority counts only where slurm.conf sets
# PriorityWeightQOS (the local cluster leaves it 0, so there the QOS names the mode).
MODE_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,31}$")


def qos_name(access_mode: str) -> str:
    return "af-" + access_mode.replace("_", "")


DONE, FAILED = "done", "failed"
_NAME = TypeAdapter(SlurmName)
_POSIX_NAME = TypeAdapter(Username)


@dataclass(frozen=True)
class Grant:
    """A granted allocation, as plain data. Invalid values raise ValueError naming the field."""

    account: str  # the Slurm account
    title: str
    organisation: str
    access_mode: str  # one of the site's access modes
    members: tuple[str, ...]  # POSIX user names, PI first
    partitions: tuple[str, ...]
    gpu_hours: float  # over the whole allocation
    cpu_hours: float
    active: bool = True  # False: the project ended: limits to zero, members removed
    qos_priority: int = 100  # the access mode's (site data)

    def __post_init__(self) -> None:
        _check(_NAME, "account", self.account)
        for name in self.members:
            _check(_POSIX_NAME, "members", name)
        for name in self.partitions:
            _check(_NAME, "partitions", name)
        if not MODE_PATTERN.fullmatch(self.access_mode):
            raise ValueError(f"access_mode: {self.access_mode!r} is not an access mode's code")
        for key in ("gpu_hours", "cpu_hours"):
            hours = getattr(self, key)
            if not (isinstance(hours, int | float) and math.isfinite(hours) and hours >= 0):
                raise ValueError(f"{key}: {hours!r} is not a number of hours >= 0")
        # sacctmgr's one-line-per-row output must stay one line per row.
        for key in ("title", "organisation"):
            if not getattr(self, key).isprintable():
                raise ValueError(f"{key}: must be one line of printable text")
        if not self.title.strip():
            raise ValueError("title: must not be empty")


def _check(adapter: TypeAdapter, key: str, value: str) -> None:
    try:
        adapter.validate_python(value)
    except ValidationError as exc:
        raise ValueError(f"{key}: {value!r}: {exc.errors()[0]['msg']}") from None


# --- pure: what the grant wants, and the difference --------------------------------------


def tres_minutes(hours: float) -> int:
    """Whole TRES-minutes, rounded up so a quota is never smaller than granted (0 stays 0)."""
    return math.ceil(round(hours * 60, 6))


def wanted_limits(grant: Grant) -> dict[str, int]:
    """GrpTRESMins of the grant's account: the allocation, or zero once the project ended."""
    if not grant.active:
        return {CPU: 0, GPU: 0}
    return {CPU: tres_minutes(grant.cpu_hours), GPU: tres_minutes(grant.gpu_hours)}


def wanted(grant: Grant, cluster: str) -> Wanted:
    """The grant as sacctmgr should have it on `cluster`: its access mode's QOS, its account
    with the allocation as GrpTRESMins, every member on every partition; once ended, limits
    at zero, the QOS as it was and no members."""
    name, priority = qos_name(grant.access_mode), grant.qos_priority
    account = WantedAccount(
        name=grant.account,
        description=grant.title,
        organisation=grant.organisation,
        members=grant.members if grant.active else (),
        partitions=grant.partitions,
        limits=wanted_limits(grant),
        qos=name if grant.active else None,
    )
    qos = {name: priority} if grant.active else {}
    return Wanted(cluster=cluster, accounts=(account,), qos=qos)


def plan(grant: Grant, cluster: str, current: SlurmState) -> list[Step]:
    """The steps that make Slurm match the grant; [] when it already does."""
    if grant.account not in current.accounts and not grant.active:
        return []  # never provisioned: there is no account (nor history) to keep
    return sacctmgr.plan(wanted(grant, cluster), current)


# --- impure: query and apply -------------------------------------------------------------


def apply(grant: Grant, cluster: str, record: Callable[[Step, str, str], None]) -> list[Step]:
    """Run the steps still needed for `grant`, in order; return them.

    After each step `record(step, "done" | "failed", error_text)` is called (error_text ""
    when done), so the caller can store how far provisioning got. The first failure stops
    the run and is raised (a `slurm.SlurmError`) after it is recorded; a re-run plans again
    from what Slurm then has, and does only what is still missing.
    """
    steps = plan(grant, cluster, sacctmgr.read_state(cluster))
    for step in steps:
        try:
            slurm.run(step.argv)
        except slurm.SlurmError as exc:
            # sacctmgr's reason is often on the first line and details follow: keep it all.
            record(step, FAILED, (exc.stderr or exc.stdout).strip() or str(exc))
            raise
        record(step, DONE, "")
        log.info("%s: %s", grant.account, " ".join(step.argv))
    return steps
