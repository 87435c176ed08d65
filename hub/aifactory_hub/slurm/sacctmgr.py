"""Slurm's accounting database through sacctmgr: its commands, what it reports, and the one
diff that turns "what the caller wants" and "what Slurm has" into the commands still needed.

Two callers want accounts: the demo site's projects (`ops.accounts`) and granted allocations
(`access.provision`). Both describe what they want as a `Wanted` (the accounts, their members
and partitions, limits and QOS where they manage them), `read_state` asks sacctmgr what it
has, and `plan` returns only the steps still needed, so a re-run after a failure half-way does
what is missing and a run on a provisioned cluster does nothing ("Nothing new added" is an
error exit in sacctmgr, so asking first also keeps re-runs free of errors).

A member gets one association per (account, partition) wanted, and none without a partition:
with AccountingStorageEnforce=associations Slurm then refuses a job on any other partition
("Invalid account or account/partition combination specified"). A partition-less user
association would match every partition, so one left over in a wanted account is removed.
The account-level association (no user) has no partition.

Order of the steps: cluster, QOS, accounts (and their limits), adds and default-account
fixes, default-account moves, removes (one association each). Limits come before any member
is added, so no member ever has an account without its quota; adding before removing means a
user never loses their last association on the way (that would delete the user from Slurm).
Defaults are fixed or moved before the removes: slurmdbd 22.05 leaves a user whose
default-account associations are all removed with no default, and refuses ("You can not
remove the default account of a user") one remove that takes default and non-default
associations of a user together. slurmdbd also refuses to remove an association with pending
or running jobs ("Job(s) active, cancel job(s) before remove"): that step fails, and a re-run
once the jobs have ended does it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from aifactory_hub import slurm
from aifactory_hub.slurm.tres import format_tres, tres_numbers

SACCTMGR = ("sacctmgr", "-i")  # -i: commit without the interactive "Would you like to..."
QUERY = ("sacctmgr", "-n", "-P")  # -n: no header, -P: '|'-separated, no padding
_ASSOCIATION_COLUMNS = "format=Account,User,Partition,GrpTRESMins,QOS,DefaultQOS"


# --- commands ------------------------------------------------------------------------------


def add_cluster_argv(cluster: str) -> list[str]:
    """Register `cluster` in slurmdbd."""
    return [*SACCTMGR, "add", "cluster", cluster]


def _described(description: str, organisation: str) -> list[str]:
    fields = [f"Description={description}"]
    if organisation:  # else Slurm uses the account's name
        fields.append(f"Organization={organisation}")
    return fields


def add_account_argv(
    cluster: str, account: str, description: str, organisation: str = ""
) -> list[str]:
    """Create `account` (under root) on `cluster`."""
    return [
        *SACCTMGR, "add", "account", account, f"Cluster={cluster}",
        *_described(description, organisation),
    ]  # fmt: skip


def modify_account_argv(account: str, description: str, organisation: str = "") -> list[str]:
    """Bring an existing account's description (and organisation, if given) in line."""
    return [
        *SACCTMGR, "modify", "account", "where", f"Name={account}",
        "set", *_described(description, organisation),
    ]  # fmt: skip


def add_user_argv(
    cluster: str, user: str, account: str, partitions: Sequence[str], default: str | None
) -> list[str]:
    """Add `user` to `account` on `partitions` (one association each).

    `default` only for a user new to Slurm: on a known user slurmdbd 22.05 makes
    DefaultAccount their default AND adds an association of that account on `partitions`
    (seen: `add user carol Account=prj-4 Partition=gpu DefaultAccount=ai-beta` created
    ai-beta/carol/gpu). Without it a known user keeps their default and gets only the
    associations asked for; `default_account_argv` changes a default without adding anything.
    """
    argv = [
        *SACCTMGR, "add", "user", user, f"Account={account}",
        f"Partition={','.join(partitions)}", f"Cluster={cluster}",
    ]  # fmt: skip
    return [*argv, f"DefaultAccount={default}"] if default else argv


def default_account_argv(user: str, account: str) -> list[str]:
    """Make `account` the user's default (used when a job names no --account)."""
    return [
        *SACCTMGR,
        "modify",
        "user",
        "where",
        f"Name={user}",
        "set",
        f"DefaultAccount={account}",
    ]


def delete_user_argv(cluster: str, user: str, account: str, partition: str) -> list[str]:
    """Remove one association of `user` in `account` on `cluster`.

    `partition` "" selects only the association without a partition (`Partition=` with an
    empty value); the ones with a partition are kept.
    """
    return [
        *SACCTMGR, "delete", "user", "where", f"Name={user}", f"Account={account}",
        f"Partition={partition}", f"Cluster={cluster}",
    ]  # fmt: skip


def add_qos_argv(name: str, priority: int) -> list[str]:
    """Create a QOS."""
    return [*SACCTMGR, "add", "qos", name, f"Priority={priority}"]


def qos_priority_argv(name: str, priority: int) -> list[str]:
    """Set an existing QOS's priority."""
    return [*SACCTMGR, "modify", "qos", "where", f"Name={name}", "set", f"Priority={priority}"]


def limits_argv(
    cluster: str, account: str, limits: Mapping[str, int], qos: str | None
) -> list[str]:
    """Set the account's GrpTRESMins and, unless `qos` is None, its only and default QOS.

    `modify account` sets them on the account-level association only (Grp* limits count the
    usage of the whole account); the member associations inherit the QOS.
    """
    argv = [
        *SACCTMGR, "modify", "account", "where", f"Name={account}", f"Cluster={cluster}",
        "set", f"GrpTRESMins={format_tres(limits)}",
    ]  # fmt: skip
    if qos is not None:
        argv += [f"QOS={qos}", f"DefaultQOS={qos}"]
    return argv


# --- what sacctmgr reports -----------------------------------------------------------------


def clusters_query() -> list[str]:
    return [*QUERY, "show", "cluster", "format=Cluster"]


def state_queries(cluster: str) -> list[list[str]]:
    """The queries `parse_state` reads, in its argument order: clusters, accounts, every
    association on `cluster` (with the account-level limits), users' defaults, QOS."""
    return [
        clusters_query(),
        [*QUERY, "show", "account", "format=Account,Organization,Description"],
        [*QUERY, "show", "association", f"Cluster={cluster}", _ASSOCIATION_COLUMNS],
        [*QUERY, "show", "user", "format=User,DefaultAccount"],
        [*QUERY, "show", "qos", "format=Name,Priority"],
    ]


@dataclass
class Account:
    """An account on the cluster: its account-level association (the limits there) and how
    `show account` describes it. Slurm stores descriptions and organisations lower-cased."""

    organisation: str = ""
    description: str = ""
    grp_tres_mins: dict[str, int] = field(default_factory=dict)  # TRES name -> minutes
    qos: frozenset[str] = frozenset()
    default_qos: str = ""


@dataclass
class SlurmState:
    """What sacctmgr reports now, for one cluster."""

    clusters: set[str] = field(default_factory=set)
    # The accounts with an association on the cluster.
    accounts: dict[str, Account] = field(default_factory=dict)
    # (user, account, partition) of every user association on the cluster; partition "" for
    # an association without one (valid on every partition).
    associations: set[tuple[str, str, str]] = field(default_factory=set)
    default_accounts: dict[str, str] = field(default_factory=dict)  # user -> account
    qos: dict[str, int] = field(default_factory=dict)  # name -> priority


def parse_rows(stdout: str, columns: int) -> list[list[str]]:
    """Rows of `sacctmgr -n -P` output; the last column may itself contain '|'."""
    return [line.split("|", columns - 1) for line in stdout.splitlines() if line.strip()]


def parse_clusters(stdout: str) -> set[str]:
    """The cluster names of `clusters_query`'s output."""
    return {row[0] for row in parse_rows(stdout, 1)}


def parse_state(
    clusters: str, accounts: str, associations: str, users: str, qos: str
) -> SlurmState:
    """A SlurmState from the outputs of `state_queries`, in that order."""
    described = {r[0]: (r[1], r[2]) for r in parse_rows(accounts, 3) if len(r) == 3}
    state = SlurmState(clusters=parse_clusters(clusters))
    for row in parse_rows(associations, 6):
        if len(row) != 6:
            continue
        account, user, partition, tres, qos_names, default_qos = row
        if user:
            state.associations.add((user, account, partition))
        else:
            organisation, description = described.get(account, ("", ""))
            state.accounts[account] = Account(
                organisation,
                description,
                tres_numbers(tres),
                frozenset(name for name in qos_names.split(",") if name),
                default_qos,
            )
    state.default_accounts = {r[0]: r[1] for r in parse_rows(users, 2) if len(r) == 2}
    state.qos = {
        r[0]: int(r[1]) if r[1].isdigit() else 0 for r in parse_rows(qos, 2) if len(r) == 2
    }
    return state


def read_state(cluster: str, run: Callable[..., slurm.CommandResult] | None = None) -> SlurmState:
    """Ask sacctmgr what it has on `cluster` (five queries through `run`, `slurm.run` by
    default); raises `slurm.SlurmError` when slurmdbd does not answer."""
    run = run or slurm.run
    return parse_state(*(run(query).stdout for query in state_queries(cluster)))


# --- what the caller wants, and the difference ---------------------------------------------


@dataclass(frozen=True)
class WantedAccount:
    """One account as the caller wants it on the cluster."""

    name: str
    description: str
    organisation: str = ""  # "" leaves it to Slurm (the account's name) or as it is
    members: tuple[str, ...] = ()  # in order
    partitions: tuple[str, ...] = ()  # every member gets one association per partition
    # GrpTRESMins of the TRES named (others set by hand are left alone); None: not managed.
    limits: Mapping[str, int] | None = None
    qos: str | None = None  # with `limits`: the account's only and default QOS; None: as is
    # Keep description and organisation in line after the account is made. A site project's
    # come from the site file; a grant's title is free text that sacctmgr may store altered
    # (lower-cased, a quote in it turned into '`'), so comparing it might never settle.
    describe: bool = False


@dataclass(frozen=True)
class Wanted:
    """What the caller wants on `cluster`; associations in `accounts` it does not list go."""

    cluster: str
    accounts: tuple[WantedAccount, ...]
    qos: Mapping[str, int] = field(default_factory=dict)  # QOS that must exist -> priority
    # user -> the default account the caller decides (the demo site: a member's first
    # project). A user not named keeps theirs; one new to Slurm gets the account of their
    # first add.
    defaults: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Step:
    """One sacctmgr command of a plan; `action` says what it is for."""

    action: str
    argv: tuple[str, ...]


def wanted_associations(wanted: Wanted) -> set[tuple[str, str, str]]:
    """(user, account, partition) of every association `wanted` asks for."""
    return {
        (user, account.name, partition)
        for account in wanted.accounts
        for user in account.members
        for partition in account.partitions
    }


def plan(wanted: Wanted, current: SlurmState) -> list[Step]:
    """The sacctmgr steps that make `current` what is `wanted`; [] when it already is."""
    cluster = wanted.cluster
    steps: list[Step] = []
    if cluster not in current.clusters:
        steps.append(Step("add cluster", tuple(add_cluster_argv(cluster))))
    steps += _qos_steps(wanted.qos, current.qos)
    for account in wanted.accounts:
        steps += _account_steps(cluster, account, current.accounts.get(account.name))
    want = wanted_associations(wanted)
    steps += _member_steps(wanted, current)
    managed = {account.name for account in wanted.accounts}
    removes = sorted(a for a in current.associations if a[1] in managed and a not in want)
    steps += _default_moves(wanted, current, removes, want)
    for user, account, partition in removes:
        argv = delete_user_argv(cluster, user, account, partition)
        steps.append(Step("remove member", tuple(argv)))
    return steps


def _qos_steps(wanted: Mapping[str, int], current: Mapping[str, int]) -> list[Step]:
    steps = []
    for name, priority in wanted.items():
        if name not in current:
            steps.append(Step("add qos", tuple(add_qos_argv(name, priority))))
        elif current[name] != priority:
            steps.append(Step("set qos priority", tuple(qos_priority_argv(name, priority))))
    return steps


def _account_steps(cluster: str, wanted: WantedAccount, current: Account | None) -> list[Step]:
    name, description, organisation = wanted.name, wanted.description, wanted.organisation
    steps = []
    if current is None:
        argv = add_account_argv(cluster, name, description, organisation)
        steps.append(Step("add account", tuple(argv)))
        current = Account()
    elif wanted.describe:
        # Slurm lower-cases descriptions and organisations, so compare without case.
        now = (current.organisation.lower(), current.description.lower())
        if now != ((organisation or current.organisation).lower(), description.lower()):
            argv = modify_account_argv(name, description, organisation)
            steps.append(Step("update account", tuple(argv)))
    if wanted.limits is not None and _limits_differ(current, wanted.limits, wanted.qos):
        argv = limits_argv(cluster, name, wanted.limits, wanted.qos)
        steps.append(Step("set limits", tuple(argv)))
    return steps


def _limits_differ(current: Account, limits: Mapping[str, int], qos: str | None) -> bool:
    # Other TRES limits someone set by hand are left alone, so compare only ours.
    if {name: current.grp_tres_mins.get(name) for name in limits} != dict(limits):
        return True
    return qos is not None and (current.qos != {qos} or current.default_qos != qos)


def _member_steps(wanted: Wanted, current: SlurmState) -> list[Step]:
    """Per user, in the order they first appear: the missing associations, then their
    default account where the caller decides it."""
    accounts_of: dict[str, dict[str, tuple[str, ...]]] = {}  # user -> {account: partitions}
    for account in wanted.accounts:
        for user in account.members:
            accounts_of.setdefault(user, {})[account.name] = account.partitions
    steps = []
    for user, accounts in accounts_of.items():
        known = user in current.default_accounts
        default = current.default_accounts.get(user, "")
        for account, partitions in accounts.items():
            missing = [p for p in partitions if (user, account, p) not in current.associations]
            if not missing:
                continue
            # Only the first add of a user new to Slurm names a default (its own account):
            # after it Slurm knows the user, and on a known user DefaultAccount would add
            # associations nobody asked for (see add_user_argv).
            argv = add_user_argv(wanted.cluster, user, account, missing, None if known else account)
            steps.append(Step("add member", tuple(argv)))
            default = default if known else account
            known = True
        decided = wanted.defaults.get(user)
        if decided is not None and known and default != decided:
            steps.append(Step("set default account", tuple(default_account_argv(user, decided))))
    return steps


def _default_moves(
    wanted: Wanted,
    current: SlurmState,
    removes: list[tuple[str, str, str]],
    want: set[tuple[str, str, str]],
) -> list[Step]:
    """A user whose removes take every association in their default account, and who keeps
    another account, gets that one (the first by name) as default before the removes."""
    removed = {(user, account) for user, account, _ in removes}
    kept = (current.associations - set(removes)) | want
    steps = []
    for user in sorted({user for user, _ in removed}):
        default = current.default_accounts.get(user)
        if user in wanted.defaults or (user, default) not in removed:
            continue  # the caller decides it (fixed above), or it is not being removed
        others = sorted({a for u, a, _ in kept if u == user})
        if default in others:
            continue  # an association in it stays
        # Without another account the user leaves Slurm with their last association.
        if others:
            argv = default_account_argv(user, others[0])
            steps.append(Step("move default account", tuple(argv)))
    return steps
