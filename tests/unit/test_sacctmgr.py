"""The one sacctmgr engine: commands, what sacctmgr reports, and the plan that both the demo
site (ops.accounts) and grant provisioning (access.provision) run, against simulated states."""

from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from aifactory_hub.slurm import sacctmgr
from aifactory_hub.slurm.runner import CommandResult
from aifactory_hub.slurm.sacctmgr import (
    Account,
    SlurmState,
    Step,
    Wanted,
    WantedAccount,
    add_account_argv,
    add_cluster_argv,
    add_qos_argv,
    add_user_argv,
    default_account_argv,
    delete_user_argv,
    limits_argv,
    modify_account_argv,
    parse_rows,
    parse_state,
    plan,
    read_state,
    state_queries,
    wanted_associations,
)
from aifactory_hub.slurm.tres import tres_numbers

CLUSTER = "aifactory"
SACCTMGR = ("sacctmgr", "-i")


def simulate(state: SlurmState, steps: list[Step]) -> SlurmState:
    """What sacctmgr reports after `steps`: a small model of the commands a plan uses.

    It also checks what slurmdbd 22.05 would get wrong or refuse: a remove that leaves a user
    with associations but none in their default account.
    """
    state = copy.deepcopy(state)
    for step in steps:
        assert step.argv[:2] == SACCTMGR
        verb, entity, *where = step.argv[2:]
        where = where[1:] if where[:1] == ["where"] else where
        settings: dict[str, str] = {}
        if "set" in where:
            cut = where.index("set")
            where, settings = where[:cut], dict(a.split("=", 1) for a in where[cut + 1 :])
        keys = dict(a.split("=", 1) for a in where if "=" in a)
        if (verb, entity) == ("add", "cluster"):
            state.clusters.add(where[0])
        elif (verb, entity) == ("add", "qos"):
            state.qos[where[0]] = int(keys["Priority"])
        elif (verb, entity) == ("modify", "qos"):
            state.qos[keys["Name"]] = int(settings["Priority"])
        elif (verb, entity) == ("add", "account"):
            # Slurm stores descriptions and organisations lower-cased.
            organisation = keys.get("Organization", where[0]).lower()
            state.accounts[where[0]] = Account(
                organisation, keys["Description"].lower(), qos=frozenset({"normal"})
            )
        elif (verb, entity) == ("modify", "account"):
            account = state.accounts[keys["Name"]]
            if "GrpTRESMins" in settings:
                account.grp_tres_mins.update(tres_numbers(settings["GrpTRESMins"]))
            if "QOS" in settings:
                account.qos = frozenset(settings["QOS"].split(","))
                account.default_qos = settings["DefaultQOS"]
            if "Description" in settings:
                account.description = settings["Description"].lower()
            if "Organization" in settings:
                account.organisation = settings["Organization"].lower()
        elif (verb, entity) == ("add", "user"):
            user = where[0]
            assert keys["Account"] in state.accounts, "add user before add account"
            for partition in keys["Partition"].split(","):
                state.associations.add((user, keys["Account"], partition))
            if "DefaultAccount" in keys:
                # 22.05 on a known user: makes it their default AND adds an association of
                # that account on the partitions. plan() must never ask for that.
                assert user not in state.default_accounts, f"DefaultAccount for known {user}"
                state.default_accounts[user] = keys["DefaultAccount"]
        elif (verb, entity) == ("modify", "user"):
            state.default_accounts[keys["Name"]] = settings["DefaultAccount"]
        elif (verb, entity) == ("delete", "user"):
            user = keys["Name"]
            state.associations.remove((user, keys["Account"], keys["Partition"]))
            left = {a for u, a, _ in state.associations if u == user}
            if not left:
                del state.default_accounts[user]  # no association left: no user
            assert not left or state.default_accounts[user] in left, f"{user} lost the default"
        else:
            raise AssertionError(f"unexpected command {step.argv}")
    return state


def state_with(*associations: tuple[str, str, str], **defaults: str) -> SlurmState:
    """The cluster registered, every account named in `associations` on it."""
    return SlurmState(
        clusters={CLUSTER},
        accounts={a: Account(a, a) for _, a, _ in associations},
        associations=set(associations),
        default_accounts=dict(defaults),
        qos={"normal": 0},
    )


def converges(wanted: Wanted, state: SlurmState) -> SlurmState:
    """Run the plan in the simulator; a second plan must then be empty."""
    after = simulate(state, plan(wanted, state))
    assert plan(wanted, after) == []
    return after


# --- the commands ------------------------------------------------------------------------


def test_commands_are_one_argument_per_setting():
    assert add_cluster_argv(CLUSTER) == ["sacctmgr", "-i", "add", "cluster", "aifactory"]
    assert add_account_argv(CLUSTER, "ai-beta", "Beta Health") == [
        "sacctmgr", "-i", "add", "account", "ai-beta", "Cluster=aifactory",
        "Description=Beta Health",
    ]  # fmt: skip
    assert modify_account_argv("ai-beta", "Beta Health", "Beta (start-up)") == [
        "sacctmgr", "-i", "modify", "account", "where", "Name=ai-beta", "set",
        "Description=Beta Health", "Organization=Beta (start-up)",
    ]  # fmt: skip
    assert limits_argv(CLUSTER, "p", {"cpu": 60, "gres/gpu": 0}, None) == [
        "sacctmgr", "-i", "modify", "account", "where", "Name=p", "Cluster=aifactory",
        "set", "GrpTRESMins=cpu=60,gres/gpu=0",
    ]  # fmt: skip
    assert add_qos_argv("af-playground", 100)[2:] == ["add", "qos", "af-playground", "Priority=100"]


def test_a_known_user_gets_no_default_account_on_add():
    # On a known user slurmdbd 22.05 would also add an association in the DefaultAccount.
    assert add_user_argv(CLUSTER, "bob", "ai-beta", ["cpu"], None) == [
        "sacctmgr", "-i", "add", "user", "bob", "Account=ai-beta", "Partition=cpu",
        "Cluster=aifactory",
    ]  # fmt: skip
    assert add_user_argv(CLUSTER, "dave", "p", ["cpu", "gpu"], "p")[-2:] == [
        "Cluster=aifactory", "DefaultAccount=p",
    ]  # fmt: skip


def test_the_association_without_partition_is_removed_by_an_empty_partition():
    assert delete_user_argv(CLUSTER, "bob", "p", "") == [
        "sacctmgr", "-i", "delete", "user", "where", "Name=bob", "Account=p", "Partition=",
        "Cluster=aifactory",
    ]  # fmt: skip


# --- what sacctmgr reports ---------------------------------------------------------------


def test_parse_rows_keeps_pipes_in_the_last_column():
    assert parse_rows("a|b|c|d\n\nx|y|z\n", 3) == [["a", "b", "c|d"], ["x", "y", "z"]]


def test_parse_state_joins_account_rows_with_their_descriptions():
    state = parse_state(
        clusters="aifactory\n",
        accounts="ai-alpha|alpha robotics|alpha: vision\nroot|root|default root account\n"
        "elsewhere|x|only on another cluster\n",
        # As `sacctmgr -n -P show association Cluster=... format=Account,User,Partition,
        # GrpTRESMins,QOS,DefaultQOS` prints it: account rows have no user.
        associations="root|||||\nroot|root||||\nai-alpha|||cpu=60,gres/gpu=0,mem=x|normal|\n"
        "ai-alpha|alice|cpu||normal|\nai-alpha|alice|gpu||normal|\n"
        "ai-gamma|||cpu=6000|af-fastlane,normal|af-fastlane\nai-gamma|bob|||af-fastlane|\n",
        users="alice|ai-alpha\nroot|root\n",
        qos="normal|0\naf-fastlane|300\nodd|x\n\n",
    )
    assert state.clusters == {"aifactory"}
    assert state.accounts == {
        "root": Account("root", "default root account"),
        "ai-alpha": Account("alpha robotics", "alpha: vision", {"cpu": 60, "gres/gpu": 0},
                            frozenset({"normal"})),
        # An account row without a `show account` row still makes the account present.
        "ai-gamma": Account("", "", {"cpu": 6000}, frozenset({"af-fastlane", "normal"}),
                            "af-fastlane"),
    }  # fmt: skip
    assert "elsewhere" not in state.accounts  # no association on this cluster
    assert state.associations == {
        ("root", "root", ""),
        ("alice", "ai-alpha", "cpu"),
        ("alice", "ai-alpha", "gpu"),
        ("bob", "ai-gamma", ""),
    }
    assert state.default_accounts == {"alice": "ai-alpha", "root": "root"}
    assert state.qos == {"normal": 0, "af-fastlane": 300, "odd": 0}


def test_read_state_asks_the_five_queries_through_the_runner():
    asked: list[tuple[str, ...]] = []
    answers = iter(["aifactory\n", "p|o|d\n", "p|||||\np|alice|cpu|||\n", "alice|p\n", "n|1\n"])

    def run(argv):
        asked.append(tuple(argv))
        return CommandResult(tuple(argv), 0, next(answers), "")

    state = read_state(CLUSTER, run)
    assert asked == [tuple(q) for q in state_queries(CLUSTER)]
    assert all(q[:3] == ("sacctmgr", "-n", "-P") for q in asked)
    assert "Cluster=aifactory" in asked[2]  # associations of this cluster only
    assert state.associations == {("alice", "p", "cpu")} and state.accounts["p"].description == "d"


# --- the plan ----------------------------------------------------------------------------

TEAM = WantedAccount("p", "P", members=("alice", "bob"), partitions=("cpu", "gpu"))


def test_every_association_wanted_is_a_member_on_a_partition():
    wanted = Wanted(CLUSTER, (TEAM, WantedAccount("q", "Q", members=("bob",), partitions=("cpu",))))
    assert wanted_associations(wanted) == {
        ("alice", "p", "cpu"), ("alice", "p", "gpu"), ("bob", "p", "cpu"), ("bob", "p", "gpu"),
        ("bob", "q", "cpu"),
    }  # fmt: skip


def test_steps_come_in_the_documented_order():
    """cluster, QOS, accounts and limits, adds and default fixes, moves, removes."""
    state = SlurmState(
        accounts={"old": Account("old", "old")},
        associations={("carol", "old", "cpu"), ("carol", "x", "cpu"), ("dave", "p", "")},
        default_accounts={"carol": "old", "dave": "other"},
    )
    wanted = Wanted(
        CLUSTER,
        (
            WantedAccount("p", "P", members=("dave",), partitions=("cpu",), limits={"cpu": 6},
                          qos="q1"),
            WantedAccount("old", "Old"),
        ),
        qos={"q1": 10},
        defaults={"dave": "p"},
    )  # fmt: skip
    assert [s.action for s in plan(wanted, state)] == [
        "add cluster",
        "add qos",
        "add account",
        "set limits",
        "add member",
        "set default account",
        "move default account",
        "remove member",
        "remove member",
    ]


def test_a_caller_that_decides_defaults_fixes_them_after_the_adds():
    wanted = Wanted(CLUSTER, (TEAM,), defaults={"alice": "p", "bob": "p"})
    state = state_with(("alice", "other", "cpu"), ("bob", "p", "cpu"), alice="other", bob="p")
    steps = plan(wanted, state)
    assert [s.argv[2:5] for s in steps] == [
        ("add", "user", "alice"),
        ("modify", "user", "where"),
        ("add", "user", "bob"),
    ]
    assert steps[1].argv == tuple(default_account_argv("alice", "p"))
    assert converges(wanted, state).default_accounts == {"alice": "p", "bob": "p"}


def test_a_caller_that_does_not_decide_defaults_leaves_them_and_new_users_get_the_account():
    wanted = Wanted(CLUSTER, (TEAM,))
    state = state_with(("alice", "other", "cpu"), alice="other")
    after = converges(wanted, state)
    assert after.default_accounts == {"alice": "other", "bob": "p"}


def test_a_new_user_in_two_accounts_is_given_a_default_once():
    """After the first add Slurm knows the user: a second DefaultAccount would also add an
    association of that account on the other account's partitions (slurmdbd 22.05)."""
    wanted = Wanted(
        CLUSTER,
        (
            WantedAccount("p", "P", members=("dave",), partitions=("cpu",)),
            WantedAccount("q", "Q", members=("dave",), partitions=("gpu",)),
        ),
        defaults={"dave": "q"},
    )
    state = state_with()
    users = [s for s in plan(wanted, state) if s.argv[3] == "user"]
    assert [s.argv[4:] for s in users] == [
        ("dave", "Account=p", "Partition=cpu", "Cluster=aifactory", "DefaultAccount=p"),
        ("dave", "Account=q", "Partition=gpu", "Cluster=aifactory"),
        ("where", "Name=dave", "set", "DefaultAccount=q"),  # the caller's choice, after
    ]
    assert converges(wanted, state).default_accounts["dave"] == "q"


def test_a_user_leaving_their_default_account_is_moved_to_one_they_keep():
    """Whatever the caller (here with decided defaults for its members, like the demo site)."""
    wanted = Wanted(CLUSTER, (WantedAccount("p", "P", members=("alice",), partitions=("cpu",)),),
                    defaults={"alice": "p"})  # fmt: skip
    state = state_with(("alice", "p", "cpu"), ("sam", "p", "cpu"), ("sam", "z", "cpu"),
                       ("sam", "a", "gpu"), alice="p", sam="p")  # fmt: skip
    steps = plan(wanted, state)
    assert [(s.action, s.argv[5:]) for s in steps] == [
        ("move default account", ("Name=sam", "set", "DefaultAccount=a")),  # first kept, by name
        ("remove member", ("Name=sam", "Account=p", "Partition=cpu", "Cluster=aifactory")),
    ]
    assert converges(wanted, state).default_accounts["sam"] == "a"


def test_descriptions_are_kept_in_line_only_where_the_caller_owns_them():
    state = state_with(("alice", "p", "cpu"), ("bob", "p", "cpu"), alice="p", bob="p")
    state.accounts["p"] = Account("p", "an old title")
    mine = WantedAccount("p", "New Title", members=("alice", "bob"), partitions=("cpu",))
    assert plan(Wanted(CLUSTER, (mine,)), state) == []
    owned = Wanted(CLUSTER, (replace(mine, describe=True),))
    assert plan(owned, state) == [
        Step("update account", tuple(modify_account_argv("p", "New Title")))
    ]
    # Slurm lower-cases what it stores: the same text in another case is no change.
    assert converges(owned, state).accounts["p"].description == "new title"


def test_limits_compare_only_the_tres_the_caller_manages():
    account = WantedAccount("p", "P", limits={"cpu": 60}, qos="q")
    state = state_with()
    state.accounts["p"] = Account("p", "p", {"cpu": 60, "mem": 5}, frozenset({"q"}), "q")
    assert plan(Wanted(CLUSTER, (account,)), state) == []
    state.accounts["p"].default_qos = ""
    assert [s.action for s in plan(Wanted(CLUSTER, (account,)), state)] == ["set limits"]


@pytest.mark.parametrize("partitions", [(), ("cpu",), ("cpu", "gpu")])
def test_any_state_converges_in_one_plan(partitions):
    """From a messy state (partition-less associations, strangers, wrong defaults) one plan
    reaches the wanted state, and slurmdbd's refusals (the simulator's checks) never happen."""
    wanted = Wanted(
        CLUSTER,
        (
            WantedAccount("p", "P", members=("alice", "bob", "eve"), partitions=partitions,
                          limits={"cpu": 1}, qos="q"),
            WantedAccount("r", "R", members=("bob",), partitions=("cpu",), describe=True),
        ),
        qos={"q": 5},
        defaults={"bob": "r"},
    )  # fmt: skip
    state = state_with(("alice", "p", ""), ("bob", "p", ""), ("carol", "p", "cpu"),
                       ("carol", "s", "cpu"), ("dave", "r", "cpu"),
                       alice="p", bob="p", carol="p", dave="r")  # fmt: skip
    after = converges(wanted, state)
    assert {a for a in after.associations if a[1] in ("p", "r")} == wanted_associations(wanted)
    assert after.default_accounts["bob"] == "r" and after.default_accounts["carol"] == "s"


def test_read_state_uses_slurm_run_by_default(monkeypatch):
    from aifactory_hub import slurm

    seen: list[str] = []

    def run(argv):
        seen.append(argv[4])
        return CommandResult(tuple(argv), 0, "", "")

    monkeypatch.setattr(slurm, "run", run)
    assert sacctmgr.read_state(CLUSTER) == SlurmState()
    assert seen == ["cluster", "account", "association", "user", "qos"]
