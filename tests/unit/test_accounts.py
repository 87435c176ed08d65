"""Provisioning of the demo site: the sacctmgr commands and the password file (pure parts)."""

from __future__ import annotations

import pytest

from aifactory_hub.ops.accounts import (
    SlurmState,
    account_argv,
    association_argv,
    cluster_argv,
    default_account_argv,
    memberships,
    modify_account_argv,
    parse_rows,
    parse_state,
    plan,
    project_partitions,
    read_passwords,
    remove_association_argv,
    render_passwords,
    wanted_associations,
)
from aifactory_hub.site import DEMO_SITE, Site, load_site, parse_site

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


@pytest.fixture(scope="module")
def site() -> Site:
    return parse_site(SITE)


def applied(site: Site) -> SlurmState:
    """What Slurm reports once apply_site has run on `site`."""
    return SlurmState(
        clusters={"aifactory"},
        accounts={
            "root": ("root", "default root account"),
            # Slurm stores descriptions and organisations lower-cased.
            "ai-alpha": ("alpha robotics (start-up)", "alpha robotics: vision models"),
            "ai-beta": ("ai-beta", "beta health"),
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


def test_project_partitions_per_user_and_account(site):
    assert project_partitions(site) == {
        "alice": {"ai-alpha": ["cpu", "gpu"]},
        "bob": {"ai-alpha": ["cpu", "gpu"], "ai-beta": ["cpu"]},
        "carol": {"ai-beta": ["cpu"]},
    }
    assert list(project_partitions(site)["bob"]) == ["ai-alpha", "ai-beta"]  # default first


def test_demo_site_wants_partition_associations():
    """bob may use gpu through ai-alpha only: ai-beta lists just cpu."""
    demo = load_site(DEMO_SITE)
    assert wanted_associations(demo) == {
        ("alice", "ai-alpha", "cpu"),
        ("alice", "ai-alpha", "gpu"),
        ("bob", "ai-alpha", "cpu"),
        ("bob", "ai-alpha", "gpu"),
        ("bob", "ai-beta", "cpu"),
        ("carol", "ai-beta", "cpu"),
    }


def test_plan_for_the_demo_site_on_an_empty_database():
    demo = load_site(DEMO_SITE)
    adds = [argv[4:] for argv in plan(demo, SlurmState()) if argv[2:4] == ["add", "user"]]
    assert adds == [
        ["alice", "Account=ai-alpha", "Partition=cpu,gpu", "Cluster=aifactory",
         "DefaultAccount=ai-alpha"],
        ["bob", "Account=ai-alpha", "Partition=cpu,gpu", "Cluster=aifactory",
         "DefaultAccount=ai-alpha"],
        ["bob", "Account=ai-beta", "Partition=cpu", "Cluster=aifactory",
         "DefaultAccount=ai-alpha"],
        ["carol", "Account=ai-beta", "Partition=cpu", "Cluster=aifactory",
         "DefaultAccount=ai-beta"],
    ]  # fmt: skip


def test_cluster_argv(site):
    assert cluster_argv(site) == ["sacctmgr", "-i", "add", "cluster", "aifactory"]


def test_account_argv_carries_description_and_organisation(site):
    assert account_argv(site, site.projects[0]) == [
        "sacctmgr", "-i", "add", "account", "ai-alpha", "Cluster=aifactory",
        "Description=Alpha Robotics: vision models", "Organization=Alpha Robotics (start-up)",
    ]  # fmt: skip


def test_account_argv_without_organisation_leaves_it_to_slurm(site):
    assert account_argv(site, site.projects[1]) == [
        "sacctmgr", "-i", "add", "account", "ai-beta", "Cluster=aifactory",
        "Description=Beta Health",
    ]  # fmt: skip


def test_modify_account_argv(site):
    assert modify_account_argv(site.projects[0]) == [
        "sacctmgr", "-i", "modify", "account", "where", "Name=ai-alpha", "set",
        "Description=Alpha Robotics: vision models", "Organization=Alpha Robotics (start-up)",
    ]  # fmt: skip


def test_association_argv_default_account_is_the_first_project(site):
    assert association_argv(site, "bob", "ai-beta", ["cpu"]) == [
        "sacctmgr", "-i", "add", "user", "bob", "Account=ai-beta", "Partition=cpu",
        "Cluster=aifactory", "DefaultAccount=ai-alpha",
    ]  # fmt: skip


def test_association_argv_leaves_a_known_users_default_alone(site):
    # On a known user slurmdbd 22.05 would also add an association in the DefaultAccount.
    assert association_argv(site, "bob", "ai-beta", ["cpu"], known=True) == [
        "sacctmgr", "-i", "add", "user", "bob", "Account=ai-beta", "Partition=cpu",
        "Cluster=aifactory",
    ]  # fmt: skip


def test_association_argv_one_association_per_partition(site):
    assert association_argv(site, "alice", "ai-alpha", ["cpu", "gpu"]) == [
        "sacctmgr", "-i", "add", "user", "alice", "Account=ai-alpha", "Partition=cpu,gpu",
        "Cluster=aifactory", "DefaultAccount=ai-alpha",
    ]  # fmt: skip


def test_default_and_remove_argv(site):
    assert default_account_argv("bob", "ai-alpha") == [
        "sacctmgr", "-i", "modify", "user", "where", "Name=bob", "set", "DefaultAccount=ai-alpha",
    ]  # fmt: skip
    assert remove_association_argv(site, "sam", "ai-beta", "cpu") == [
        "sacctmgr", "-i", "delete", "user", "where", "Name=sam", "Account=ai-beta",
        "Partition=cpu", "Cluster=aifactory",
    ]  # fmt: skip


def test_remove_argv_for_the_association_without_partition(site):
    # An empty `Partition=` matches only the partition-less association, not the others.
    assert remove_association_argv(site, "bob", "ai-beta", "") == [
        "sacctmgr", "-i", "delete", "user", "where", "Name=bob", "Account=ai-beta",
        "Partition=", "Cluster=aifactory",
    ]  # fmt: skip


def test_plan_on_an_empty_database_creates_everything(site):
    assert plan(site, SlurmState()) == [
        cluster_argv(site),
        account_argv(site, site.projects[0]),
        account_argv(site, site.projects[1]),
        association_argv(site, "alice", "ai-alpha", ["cpu", "gpu"]),
        association_argv(site, "bob", "ai-alpha", ["cpu", "gpu"]),
        association_argv(site, "bob", "ai-beta", ["cpu"]),
        association_argv(site, "carol", "ai-beta", ["cpu"]),
    ]


def test_users_in_no_project_get_no_association(site):
    users = {argv[4] for argv in plan(site, SlurmState()) if argv[3] == "user"}
    assert users == {"alice", "bob", "carol"}  # not sam


def test_plan_is_empty_once_applied(site):
    assert plan(site, applied(site)) == []


def test_plan_adds_only_the_missing_association(site):
    state = applied(site)
    state.associations.discard(("bob", "ai-beta", "cpu"))
    assert plan(site, state) == [association_argv(site, "bob", "ai-beta", ["cpu"], known=True)]


def test_plan_adds_only_the_missing_partition(site):
    state = applied(site)
    state.associations.discard(("alice", "ai-alpha", "gpu"))
    assert plan(site, state) == [association_argv(site, "alice", "ai-alpha", ["gpu"], known=True)]


def test_plan_removes_a_partition_the_project_no_longer_lists(site):
    state = applied(site)
    state.associations.add(("bob", "ai-beta", "gpu"))
    assert plan(site, state) == [remove_association_argv(site, "bob", "ai-beta", "gpu")]


def test_plan_removes_an_unknown_partition_association(site):
    state = applied(site)
    state.associations.add(("carol", "ai-beta", "old"))
    assert plan(site, state) == [remove_association_argv(site, "carol", "ai-beta", "old")]


def test_plan_migrates_partitionless_associations_adds_before_removes(site):
    """The old layout: one association per (user, account), valid on every partition."""
    state = applied(site)
    state.associations = {(u, a, "") for (u, a, _) in state.associations}
    assert plan(site, state) == [
        association_argv(site, "alice", "ai-alpha", ["cpu", "gpu"], known=True),
        association_argv(site, "bob", "ai-alpha", ["cpu", "gpu"], known=True),
        association_argv(site, "bob", "ai-beta", ["cpu"], known=True),
        association_argv(site, "carol", "ai-beta", ["cpu"], known=True),
        # Only now the partition-less ones go, so no user loses their last association.
        remove_association_argv(site, "alice", "ai-alpha", ""),
        remove_association_argv(site, "bob", "ai-alpha", ""),
        remove_association_argv(site, "bob", "ai-beta", ""),
        remove_association_argv(site, "carol", "ai-beta", ""),
    ]


def test_plan_moving_a_user_adds_fixes_the_default_then_removes(site):
    """carol leaves ai-beta for ai-alpha: her default moves before the old project goes."""
    moved = parse_site(
        SITE.replace('members = ["alice", "bob"]', 'members = ["alice", "bob", "carol"]').replace(
            'pi = "carol"\nmembers = ["carol", "bob"]', 'pi = "bob"\nmembers = ["bob"]'
        )
    )
    assert memberships(moved)["carol"] == ["ai-alpha"]
    assert plan(moved, applied(site)) == [
        association_argv(moved, "carol", "ai-alpha", ["cpu", "gpu"], known=True),
        default_account_argv("carol", "ai-alpha"),
        remove_association_argv(moved, "carol", "ai-beta", "cpu"),
    ]


def test_plan_sets_the_default_of_a_user_slurm_already_knows(site):
    """A user known to Slurm (other accounts) keeps their default on `add user`: modify it."""
    state = applied(site)
    state.associations.discard(("carol", "ai-beta", "cpu"))
    state.default_accounts["carol"] = "other-account"
    assert plan(site, state) == [
        association_argv(site, "carol", "ai-beta", ["cpu"], known=True),
        default_account_argv("carol", "ai-beta"),
    ]


def test_plan_fixes_a_wrong_default_account(site):
    state = applied(site)
    state.default_accounts["bob"] = "ai-beta"
    assert plan(site, state) == [default_account_argv("bob", "ai-alpha")]


def test_plan_updates_a_changed_title(site):
    state = applied(site)
    state.accounts["ai-beta"] = ("ai-beta", "an old title")
    assert plan(site, state) == [modify_account_argv(site.projects[1])]


def test_plan_removes_non_members_from_site_accounts_only(site):
    state = applied(site)
    state.associations |= {("sam", "ai-beta", "cpu"), ("sam", "other-account", "")}
    assert plan(site, state) == [remove_association_argv(site, "sam", "ai-beta", "cpu")]


def test_parse_rows_keeps_pipes_in_the_last_column():
    assert parse_rows("a|b|c|d\n\nx|y|z\n", 3) == [["a", "b", "c|d"], ["x", "y", "z"]]


def test_parse_state_from_sacctmgr_output():
    state = parse_state(
        clusters="aifactory\n",
        accounts="ai-alpha|alpha robotics|alpha: vision\nroot|root|default root account\n",
        # As `sacctmgr -n -P show association format=Account,User,Partition` prints it.
        associations="root||\nroot|root|\nai-alpha||\nai-alpha|alice|cpu\nai-alpha|alice|gpu\n"
        "ai-beta||\nai-beta|bob|\n",
        users="alice|ai-alpha\nroot|root\n",
    )
    assert state.clusters == {"aifactory"}
    assert state.accounts["ai-alpha"] == ("alpha robotics", "alpha: vision")
    # Account-level rows (empty user) are not user associations.
    assert state.associations == {
        ("root", "root", ""),
        ("alice", "ai-alpha", "cpu"),
        ("alice", "ai-alpha", "gpu"),
        ("bob", "ai-beta", ""),
    }
    assert state.default_accounts == {"alice": "ai-alpha", "root": "root"}


def test_password_file_round_trip(tmp_path):
    text = render_passwords({"bob": "pw-2", "alice": "pw 1"})
    assert text == "alice pw 1\nbob pw-2\n"
    path = tmp_path / "passwords"
    path.write_text(text + "\n")
    assert read_passwords(path) == {"alice": "pw 1", "bob": "pw-2"}
    assert read_passwords(tmp_path / "missing") == {}
