"""Provisioning of the demo site: the sacctmgr commands and the password file (pure parts)."""

from __future__ import annotations

import pytest

from aifactory_hub.ops.accounts import memberships, plan, read_passwords, render_passwords, wanted
from aifactory_hub.site import DEMO_SITE, Site, load_site, parse_site
from aifactory_hub.slurm.sacctmgr import (
    Account,
    SlurmState,
    WantedAccount,
    add_account_argv,
    add_cluster_argv,
    add_user_argv,
    default_account_argv,
    delete_user_argv,
    modify_account_argv,
    parse_state,
    wanted_associations,
)
from tests.unit.test_sacctmgr import simulate

SITE = """
[site]
name = "test"
cluster = "aifactory"
[[partitions]]
name = "cpu"
cpus_per_node = 8
memory_gb_per_node = 16
max_walltime_hours = 12
max_cpus = 8
max_memory_gb = 16
[[partitions]]
name = "gpu"
cpus_per_node = 8
memory_gb_per_node = 16
gpu_type = "sim"
gpus_per_node = 2
max_walltime_hours = 4
max_cpus = 8
max_memory_gb = 16
max_gpus = 2
[[projects]]
account = "ai-alpha"
title = "Alpha Robotics: vision models"
organisation = "Alpha Robotics (start-up)"
pi = "alice"
members = ["alice", "bob"]
partitions = ["cpu", "gpu"]
[[projects]]
account = "ai-beta"
title = "Beta Health"
pi = "carol"
members = ["carol", "bob"]
partitions = ["cpu"]
[[users]]
name = "alice"
[[users]]
name = "bob"
[[users]]
name = "carol"
[[users]]
name = "sam"
roles = ["support"]
"""


CLUSTER = "aifactory"


@pytest.fixture(scope="module")
def site() -> Site:
    return parse_site(SITE)


def commands(site: Site, state: SlurmState) -> list[list[str]]:
    """The argv of each step of the site's plan."""
    return [list(step.argv) for step in plan(site, state)]


def association_argv(user: str, account: str, partitions: list[str], default: str = ""):
    return add_user_argv(CLUSTER, user, account, partitions, default or None)


def remove_association_argv(user: str, account: str, partition: str) -> list[str]:
    return delete_user_argv(CLUSTER, user, account, partition)


def applied(site: Site) -> SlurmState:
    """What Slurm reports once apply_site has run on `site`."""
    return SlurmState(
        clusters={"aifactory"},
        accounts={
            "root": Account("root", "default root account"),
            # Slurm stores descriptions and organisations lower-cased.
            "ai-alpha": Account("alpha robotics (start-up)", "alpha robotics: vision models"),
            "ai-beta": Account("ai-beta", "beta health"),
        },
        associations={
            ("alice", "ai-alpha", "cpu"),
            ("alice", "ai-alpha", "gpu"),
            ("bob", "ai-alpha", "cpu"),
            ("bob", "ai-alpha", "gpu"),
            ("bob", "ai-beta", "cpu"),
            ("carol", "ai-beta", "cpu"),
            ("root", "root", ""),
        },
        default_accounts={"alice": "ai-alpha", "bob": "ai-alpha", "carol": "ai-beta"},
    )


def test_memberships_in_site_order_first_project_first(site):
    assert memberships(site) == {
        "alice": ["ai-alpha"],
        "bob": ["ai-alpha", "ai-beta"],
        "carol": ["ai-beta"],
    }


def test_each_project_is_a_wanted_account_and_the_first_project_is_the_default(site):
    accounts = wanted(site).accounts
    assert [(a.name, a.members, a.partitions) for a in accounts] == [
        ("ai-alpha", ("alice", "bob"), ("cpu", "gpu")),
        ("ai-beta", ("carol", "bob"), ("cpu",)),
    ]
    # The site file is where a title changes: the description follows it.
    assert all(a.describe and a.limits is None and a.qos is None for a in accounts)
    assert accounts[0] == WantedAccount(
        "ai-alpha", "Alpha Robotics: vision models", "Alpha Robotics (start-up)",
        ("alice", "bob"), ("cpu", "gpu"), describe=True,
    )  # fmt: skip
    assert wanted(site).defaults == {"alice": "ai-alpha", "bob": "ai-alpha", "carol": "ai-beta"}
    assert wanted(site).cluster == "aifactory" and wanted(site).qos == {}


def test_demo_site_wants_partition_associations():
    """bob may use gpu through ai-alpha only: ai-beta lists just cpu."""
    demo = load_site(DEMO_SITE)
    assert wanted_associations(wanted(demo)) == {
        ("alice", "ai-alpha", "cpu"),
        ("alice", "ai-alpha", "gpu"),
        ("bob", "ai-alpha", "cpu"),
        ("bob", "ai-alpha", "gpu"),
        ("bob", "ai-beta", "cpu"),
        ("carol", "ai-beta", "cpu"),
    }


def test_plan_for_the_demo_site_on_an_empty_database():
    demo = load_site(DEMO_SITE)
    adds = [argv[4:] for argv in commands(demo, SlurmState()) if argv[2:4] == ["add", "user"]]
    assert adds == [
        ["alice", "Account=ai-alpha", "Partition=cpu,gpu", "Cluster=aifactory",
         "DefaultAccount=ai-alpha"],
        ["bob", "Account=ai-alpha", "Partition=cpu,gpu", "Cluster=aifactory",
         "DefaultAccount=ai-alpha"],
        # bob is known to Slurm after his first add: a DefaultAccount here would also add an
        # ai-alpha association on ai-beta's partitions (slurmdbd 22.05).
        ["bob", "Account=ai-beta", "Partition=cpu", "Cluster=aifactory"],
        ["carol", "Account=ai-beta", "Partition=cpu", "Cluster=aifactory",
         "DefaultAccount=ai-beta"],
    ]  # fmt: skip


def test_plan_on_an_empty_database_creates_everything(site):
    alpha, beta = site.projects
    assert commands(site, SlurmState()) == [
        ["sacctmgr", "-i", "add", "cluster", "aifactory"],
        [
            "sacctmgr", "-i", "add", "account", "ai-alpha", "Cluster=aifactory",
            "Description=Alpha Robotics: vision models", "Organization=Alpha Robotics (start-up)",
        ],
        # Without an organisation Slurm uses the account's name.
        [
            "sacctmgr", "-i", "add", "account", "ai-beta", "Cluster=aifactory",
            "Description=Beta Health",
        ],
        # A user new to Slurm gets their first project as default, with their first add.
        association_argv("alice", "ai-alpha", ["cpu", "gpu"], "ai-alpha"),
        association_argv("bob", "ai-alpha", ["cpu", "gpu"], "ai-alpha"),
        association_argv("bob", "ai-beta", ["cpu"]),
        association_argv("carol", "ai-beta", ["cpu"], "ai-beta"),
    ]  # fmt: skip
    assert commands(site, SlurmState())[:3] == [
        add_cluster_argv(CLUSTER),
        add_account_argv(CLUSTER, alpha.account, alpha.title, alpha.organisation),
        add_account_argv(CLUSTER, beta.account, beta.title, beta.organisation),
    ]


def test_users_in_no_project_get_no_association(site):
    users = {argv[4] for argv in commands(site, SlurmState()) if argv[3] == "user"}
    assert users == {"alice", "bob", "carol"}  # not sam


def test_plan_is_empty_once_applied(site):
    assert commands(site, applied(site)) == []


def test_plan_adds_only_the_missing_association(site):
    state = applied(site)
    state.associations.discard(("bob", "ai-beta", "cpu"))
    assert commands(site, state) == [association_argv("bob", "ai-beta", ["cpu"])]


def test_plan_adds_only_the_missing_partition(site):
    state = applied(site)
    state.associations.discard(("alice", "ai-alpha", "gpu"))
    assert commands(site, state) == [association_argv("alice", "ai-alpha", ["gpu"])]


def test_plan_removes_a_partition_the_project_no_longer_lists(site):
    state = applied(site)
    state.associations.add(("bob", "ai-beta", "gpu"))
    assert commands(site, state) == [remove_association_argv("bob", "ai-beta", "gpu")]


def test_plan_removes_an_unknown_partition_association(site):
    state = applied(site)
    state.associations.add(("carol", "ai-beta", "old"))
    assert commands(site, state) == [remove_association_argv("carol", "ai-beta", "old")]


def test_plan_migrates_partitionless_associations_adds_before_removes(site):
    """The old layout: one association per (user, account), valid on every partition."""
    state = applied(site)
    state.associations = {(u, a, "") for (u, a, _) in state.associations}
    assert commands(site, state) == [
        association_argv("alice", "ai-alpha", ["cpu", "gpu"]),
        association_argv("bob", "ai-alpha", ["cpu", "gpu"]),
        association_argv("bob", "ai-beta", ["cpu"]),
        association_argv("carol", "ai-beta", ["cpu"]),
        # Only now the partition-less ones go, so no user loses their last association.
        remove_association_argv("alice", "ai-alpha", ""),
        remove_association_argv("bob", "ai-alpha", ""),
        remove_association_argv("bob", "ai-beta", ""),
        remove_association_argv("carol", "ai-beta", ""),
    ]


def test_plan_moving_a_user_adds_fixes_the_default_then_removes(site):
    """carol leaves ai-beta for ai-alpha: her default moves before the old project goes."""
    moved = parse_site(
        SITE.replace('members = ["alice", "bob"]', 'members = ["alice", "bob", "carol"]').replace(
            'pi = "carol"\nmembers = ["carol", "bob"]', 'pi = "bob"\nmembers = ["bob"]'
        )
    )
    assert memberships(moved)["carol"] == ["ai-alpha"]
    assert commands(moved, applied(site)) == [
        association_argv("carol", "ai-alpha", ["cpu", "gpu"]),
        default_account_argv("carol", "ai-alpha"),
        remove_association_argv("carol", "ai-beta", "cpu"),
    ]


def test_plan_sets_the_default_of_a_user_slurm_already_knows(site):
    """A user known to Slurm (other accounts) keeps their default on `add user`: modify it."""
    state = applied(site)
    state.associations.discard(("carol", "ai-beta", "cpu"))
    state.default_accounts["carol"] = "other-account"
    assert commands(site, state) == [
        association_argv("carol", "ai-beta", ["cpu"]),
        default_account_argv("carol", "ai-beta"),
    ]


def test_plan_fixes_a_wrong_default_account(site):
    state = applied(site)
    state.default_accounts["bob"] = "ai-beta"
    assert commands(site, state) == [default_account_argv("bob", "ai-alpha")]


def test_plan_updates_a_changed_title(site):
    state = applied(site)
    state.accounts["ai-beta"] = Account("ai-beta", "an old title")
    assert commands(site, state) == [modify_account_argv("ai-beta", "Beta Health")]


def test_plan_removes_non_members_from_site_accounts_only(site):
    state = applied(site)
    state.associations |= {("sam", "ai-beta", "cpu"), ("sam", "other-account", "")}
    assert commands(site, state) == [remove_association_argv("sam", "ai-beta", "cpu")]


def test_the_site_state_read_back_from_sacctmgr_needs_nothing(site):
    out = parse_state(
        clusters="aifactory\n",
        accounts="ai-alpha|alpha robotics (start-up)|alpha robotics: vision models\n"
        "ai-beta|ai-beta|beta health\nroot|root|default root account\n",
        # As `sacctmgr -n -P show association Cluster=aifactory format=Account,User,Partition,
        # GrpTRESMins,QOS,DefaultQOS` prints it; account rows (empty user) are no association.
        associations="root|||||\nroot|root||||\nai-alpha|||||\nai-alpha|alice|cpu|||\n"
        "ai-alpha|alice|gpu|||\nai-alpha|bob|cpu|||\nai-alpha|bob|gpu|||\nai-beta|||||\n"
        "ai-beta|bob|cpu|||\nai-beta|carol|cpu|||\n",
        users="alice|ai-alpha\nbob|ai-alpha\ncarol|ai-beta\nroot|root\n",
        qos="normal|0\n",
    )
    assert out.accounts == applied(site).accounts
    assert out.associations == applied(site).associations
    assert out.default_accounts == {**applied(site).default_accounts, "root": "root"}
    assert commands(site, out) == []


def test_plan_from_nothing_reaches_the_applied_state(site):
    after = simulate(SlurmState(), plan(site, SlurmState()))
    assert after.associations == applied(site).associations - {("root", "root", "")}
    assert after.default_accounts == applied(site).default_accounts
    assert plan(site, after) == []


def test_a_former_member_whose_default_was_a_site_project_is_moved_first(site):
    """sam left ai-beta; his default moves to the account he keeps before the remove (slurmdbd
    refuses to remove a user's default account while they keep others)."""
    state = applied(site)
    state.associations |= {("sam", "ai-beta", "cpu"), ("sam", "other-account", "")}
    state.default_accounts["sam"] = "ai-beta"
    assert commands(site, state) == [
        default_account_argv("sam", "other-account"),
        remove_association_argv("sam", "ai-beta", "cpu"),
    ]


def test_password_file_round_trip(tmp_path):
    text = render_passwords({"bob": "pw-2", "alice": "pw 1"})
    assert text == "alice pw 1\nbob pw-2\n"
    path = tmp_path / "passwords"
    path.write_text(text + "\n")
    assert read_passwords(path) == {"alice": "pw 1", "bob": "pw-2"}
    assert read_passwords(tmp_path / "missing") == {}
