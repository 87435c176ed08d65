"""Provision a granted allocation into Slurm, so that Slurm itself enforces it.

A grant becomes: the access mode's QOS (created once, shared by every project in that mode),
the project's Slurm account with `GrpTRESMins` (its CPU- and GPU-minutes over the whole
allocation), `QOS` and `DefaultQOS`, and one user association per (member, partition), as
`accounts` does for the demo site: none without a partition, so Slurm refuses any other
partition. An ended grant keeps its account (the accounting history stays) with its limits
at zero and no members.

As in `accounts`, a pure `plan` diffs the grant against what sacctmgr reports now and
returns only the steps still needed; `apply` reads Slurm, plans and runs the steps one by
one, reporting each to the caller. A re-run after a failure half-way therefore does only
what is still missing, and a run on a provisioned grant does nothing.

Order of the steps: QOS, account, limits, adds, default-account fixes, removes. The limits
come before any member is added, so no member ever has an account without its quota, and when
a project ends they are zero before anyone is removed. Adds come before removes and defaults
are moved before the removes, for the reasons given in `accounts`. slurmdbd refuses to remove
an association that has pending or running jobs ("Job(s) active, cancel job(s) before
remove"): that step fails, and a re-run once the jobs have ended does it. It only knows the
jobs slurmctld has already reported to it, which lags a moment behind sbatch.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from pydantic import TypeAdapter, ValidationError

from aifactory_hub import slurm
from aifactory_hub.ops.accounts import (
    QUERY,
    SACCTMGR,
    add_account_argv,
    add_user_argv,
    default_account_argv,
    delete_user_argv,
    parse_rows,
    query_cluster_state,
)
from aifactory_hub.site.names import SlurmName, Username

log = logging.getLogger(__name__)

# Access mode -> (QOS name, priority). Fast-lane grants are small and time-boxed, their point
# is a quick turn-around; large-scale grants are big but planned; the playground yields to
# both. The priority counts only where slurm.conf sets PriorityWeightQOS (the local cluster
# leaves it 0, so there the QOS names the mode and nothing more).
MODE_QOS: dict[str, tuple[str, int]] = {
    "playground": ("af-playground", 100),
    "fast_lane": ("af-fastlane", 300),
    "large_scale": ("af-largescale", 200),
}
# The TRES a grant limits, as GrpTRESMins names them.
CPU, GPU = "cpu", "gres/gpu"
DONE, FAILED = "done", "failed"
_LIMIT_COLUMNS = "format=Account,User,GrpTRESMins,QOS,DefaultQOS"
_NAME = TypeAdapter(SlurmName)
_POSIX_NAME = TypeAdapter(Username)


@dataclass(frozen=True)
class Grant:
    """A granted allocation, as plain data. Invalid values raise ValueError naming the field."""

    account: str  # the Slurm account
    title: str
    organisation: str
    access_mode: str  # a key of MODE_QOS
    members: tuple[str, ...]  # POSIX user names, PI first
    partitions: tuple[str, ...]
    gpu_hours: float  # over the whole allocation
    cpu_hours: float
    active: bool = True  # False: the project ended: limits to zero, members removed

    def __post_init__(self) -> None:
        _check(_NAME, "account", self.account)
        for name in self.members:
            _check(_POSIX_NAME, "members", name)
        for name in self.partitions:
            _check(_NAME, "partitions", name)
        if self.access_mode not in MODE_QOS:
            raise ValueError(f"access_mode: {self.access_mode!r} is not one of {list(MODE_QOS)}")
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


@dataclass(frozen=True)
class Step:
    """One sacctmgr command of a provisioning plan; `action` says what it is for."""

    action: str
    argv: tuple[str, ...]


@dataclass
class AccountLimits:
    """The account-level association (no user) of one account on the cluster."""

    grp_tres_mins: dict[str, int] = field(default_factory=dict)  # TRES name -> minutes
    qos: frozenset[str] = frozenset()
    default_qos: str = ""


@dataclass
class SlurmState:
    """What sacctmgr reports now (the parts provisioning manages)."""

    accounts: dict[str, AccountLimits] = field(default_factory=dict)  # only the ones asked for
    # (user, account, partition) of every user association on the cluster, as in `accounts`.
    associations: set[tuple[str, str, str]] = field(default_factory=set)
    default_accounts: dict[str, str] = field(default_factory=dict)  # user -> account
    qos: dict[str, int] = field(default_factory=dict)  # name -> priority


# --- pure: what the grant wants, and the difference --------------------------------------


def tres_minutes(hours: float) -> int:
    """Whole TRES-minutes, rounded up so a quota is never smaller than granted (0 stays 0)."""
    return math.ceil(round(hours * 60, 6))


def wanted_limits(grant: Grant) -> dict[str, int]:
    """GrpTRESMins of the grant's account: the allocation, or zero once the project ended."""
    if not grant.active:
        return {CPU: 0, GPU: 0}
    return {CPU: tres_minutes(grant.cpu_hours), GPU: tres_minutes(grant.gpu_hours)}


def wanted_associations(grant: Grant) -> set[tuple[str, str, str]]:
    """(user, account, partition) for every member on every partition; none once ended."""
    if not grant.active:
        return set()
    return {(u, grant.account, p) for u in grant.members for p in grant.partitions}


def add_qos_argv(name: str, priority: int) -> list[str]:
    """Create an access mode's QOS."""
    return [*SACCTMGR, "add", "qos", name, f"Priority={priority}"]


def qos_priority_argv(name: str, priority: int) -> list[str]:
    """Set an existing QOS's priority back to the one its access mode has."""
    return [*SACCTMGR, "modify", "qos", "where", f"Name={name}", "set", f"Priority={priority}"]


def limits_argv(cluster: str, account: str, limits: dict[str, int], qos: str | None) -> list[str]:
    """Set the account's GrpTRESMins and, unless `qos` is None, its only and default QOS.

    `modify account` sets them on the account-level association only (Grp* limits count the
    usage of the whole account); the member associations inherit the QOS.
    """
    tres = ",".join(f"{name}={minutes}" for name, minutes in limits.items())
    argv = [
        *SACCTMGR, "modify", "account", "where", f"Name={account}", f"Cluster={cluster}",
        "set", f"GrpTRESMins={tres}",
    ]  # fmt: skip
    if qos is not None:
        argv += [f"QOS={qos}", f"DefaultQOS={qos}"]
    return argv


def plan(grant: Grant, cluster: str, current: SlurmState) -> list[Step]:
    """The steps that make Slurm match the grant; [] when it already does."""
    account = grant.account
    existing = current.accounts.get(account)
    if existing is None and not grant.active:
        return []  # never provisioned: there is no account (nor history) to keep
    steps: list[Step] = []
    # An ended grant leaves the QOS alone: its account keeps whatever it had.
    qos = MODE_QOS[grant.access_mode][0] if grant.active else None
    if qos is not None:
        steps += _qos_steps(grant, current)
    if existing is None:
        steps.append(Step("add account", tuple(add_account_argv(cluster, grant))))
        existing = AccountLimits()
    limits = wanted_limits(grant)
    if _limits_differ(existing, limits, qos):
        steps.append(Step("set limits", tuple(limits_argv(cluster, account, limits, qos))))

    wanted = wanted_associations(grant)
    members = dict.fromkeys(grant.members) if grant.active else {}  # in order, once each
    for user in members:
        missing = [p for p in grant.partitions if (user, account, p) not in current.associations]
        if missing:
            # A user Slurm already knows keeps their default account (see add_user_argv).
            default = None if user in current.default_accounts else account
            argv = add_user_argv(cluster, user, account, missing, default)
            steps.append(Step("add member", tuple(argv)))

    removes = sorted(a for a in current.associations if a[1] == account and a not in wanted)
    leaving = {user for user, _, _ in removes} - {user for user, _, _ in wanted}
    for user in sorted(leaving):
        if current.default_accounts.get(user) != account:
            continue
        others = sorted({a for u, a, _ in current.associations if u == user and a != account})
        # Without another account the user leaves Slurm with their last association.
        if others:
            steps.append(Step("move default account", tuple(default_account_argv(user, others[0]))))
    for user, _, partition in removes:
        argv = delete_user_argv(cluster, user, account, partition)
        steps.append(Step("remove member", tuple(argv)))
    return steps


def _qos_steps(grant: Grant, current: SlurmState) -> list[Step]:
    name, priority = MODE_QOS[grant.access_mode]
    if name not in current.qos:
        return [Step("add qos", tuple(add_qos_argv(name, priority)))]
    if current.qos[name] != priority:
        return [Step("set qos priority", tuple(qos_priority_argv(name, priority)))]
    return []


def _limits_differ(current: AccountLimits, limits: dict[str, int], qos: str | None) -> bool:
    # Other TRES limits someone set by hand are left alone, so compare only ours.
    if {name: current.grp_tres_mins.get(name) for name in limits} != limits:
        return True
    return qos is not None and (current.qos != {qos} or current.default_qos != qos)


# --- pure: parsing sacctmgr output -------------------------------------------------------


def parse_tres(text: str) -> dict[str, int]:
    """Minutes per TRES of a GrpTRESMins value: "cpu=180,gres/gpu=60" -> {"cpu": 180, ...}."""
    pairs = (item.rpartition("=") for item in text.split(",") if "=" in item)
    return {name: int(value) for name, _, value in pairs if value.isdigit()}


def parse_limits(stdout: str) -> dict[str, AccountLimits]:
    """Account-level rows of `sacctmgr -n -P show association format=` `_LIMIT_COLUMNS`."""
    limits = {}
    for row in parse_rows(stdout, 5):
        if len(row) == 5 and not row[1]:
            account, _, tres, qos, default_qos = row
            qos_names = frozenset(name for name in qos.split(",") if name)
            limits[account] = AccountLimits(parse_tres(tres), qos_names, default_qos)
    return limits


def parse_qos(stdout: str) -> dict[str, int]:
    """Rows of `sacctmgr -n -P show qos format=Name,Priority` -> {name: priority}."""
    return {
        row[0]: int(row[1]) if row[1].isdigit() else 0
        for row in parse_rows(stdout, 2)
        if len(row) == 2
    }


# --- impure: query and apply -------------------------------------------------------------


def read_state(cluster: str, accounts: Iterable[str]) -> SlurmState:
    """Ask sacctmgr for `accounts`' limits, every association and default, and the QOS."""
    known = query_cluster_state(cluster)
    names = sorted(set(accounts))
    limits = ""
    if names:  # an empty Account= would list every account
        query = [*QUERY, "show", "association", f"Cluster={cluster}", f"Account={','.join(names)}"]
        limits = slurm.run([*query, _LIMIT_COLUMNS]).stdout
    qos = slurm.run([*QUERY, "show", "qos", "format=Name,Priority"]).stdout
    return SlurmState(
        accounts=parse_limits(limits),
        associations=known.associations,
        default_accounts=known.default_accounts,
        qos=parse_qos(qos),
    )


def apply(grant: Grant, cluster: str, record: Callable[[Step, str, str], None]) -> list[Step]:
    """Run the steps still needed for `grant`, in order; return them.

    After each step `record(step, "done" | "failed", error_text)` is called (error_text ""
    when done), so the caller can store how far provisioning got. The first failure stops
    the run and is raised (a `slurm.SlurmError`) after it is recorded; a re-run plans again
    from what Slurm then has, and does only what is still missing.
    """
    steps = plan(grant, cluster, read_state(cluster, [grant.account]))
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
