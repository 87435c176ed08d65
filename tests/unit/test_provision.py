"""Provisioning a grant into Slurm: the plan, line by line, against simulated sacctmgr states."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aifactory_hub import slurm
from aifactory_hub.access import provision
from aifactory_hub.access.provision import Grant, plan, tres_minutes
from aifactory_hub.policy import AccessSettings
from aifactory_hub.slurm import sacctmgr
from aifactory_hub.slurm.sacctmgr import Account, SlurmState, Step
from tests.unit.test_sacctmgr import CLUSTER, SACCTMGR, simulate

GRANT = Grant(
    account="ai-gamma",
    title="Gamma Vision: defect detection",
    organisation="Gamma Vision (start-up)",
    access_mode="fast_lane",
    members=("alice", "bob"),
    partitions=("cpu", "gpu"),
    gpu_hours=10,
    cpu_hours=100,
    qos_priority=300,  # the published fast lane's
)


def demo_state() -> SlurmState:
    """Slurm with the demo site's projects and no ai-gamma yet."""
    return SlurmState(
        clusters={CLUSTER},
        accounts={
            "root": Account("root", "default root account"),
            "ai-alpha": Account("alpha robotics (start-up)", "alpha robotics: vision models"),
            "ai-beta": Account("ai-beta", "beta health"),
        },
        associations={
            ("root", "root", ""),
            ("alice", "ai-alpha", "cpu"),
            ("alice", "ai-alpha", "gpu"),
            ("bob", "ai-alpha", "cpu"),
            ("bob", "ai-alpha", "gpu"),
            ("bob", "ai-beta", "cpu"),
            ("carol", "ai-beta", "cpu"),
        },
        default_accounts={
            "root": "root",
            "alice": "ai-alpha",
            "bob": "ai-alpha",
            "carol": "ai-beta",
        },
        qos={"normal": 0},
    )


def provisioned(grant: Grant = GRANT, state: SlurmState | None = None) -> SlurmState:
    state = demo_state() if state is None else state
    return simulate(state, plan(grant, CLUSTER, state))


# --- a fresh account ---------------------------------------------------------------------


def test_a_fresh_grant_creates_qos_account_limits_and_associations():
    assert plan(GRANT, CLUSTER, demo_state()) == [
        Step("add qos", (*SACCTMGR, "add", "qos", "af-fastlane", "Priority=300")),
        Step("add account", (
            *SACCTMGR, "add", "account", "ai-gamma", "Cluster=aifactory",
            "Description=Gamma Vision: defect detection",
            "Organization=Gamma Vision (start-up)",
        )),
        Step("set limits", (
            *SACCTMGR, "modify", "account", "where", "Name=ai-gamma", "Cluster=aifactory",
            "set", "GrpTRESMins=cpu=6000,gres/gpu=600", "QOS=af-fastlane",
            "DefaultQOS=af-fastlane",
        )),
        # alice and bob are known to Slurm: their default stays ai-alpha.
        Step("add member", (
            *SACCTMGR, "add", "user", "alice", "Account=ai-gamma", "Partition=cpu,gpu",
            "Cluster=aifactory",
        )),
        Step("add member", (
            *SACCTMGR, "add", "user", "bob", "Account=ai-gamma", "Partition=cpu,gpu",
            "Cluster=aifactory",
        )),
    ]  # fmt: skip


def test_a_user_new_to_slurm_gets_the_grant_as_default_account():
    grant = replace(GRANT, members=("dave",), partitions=("cpu",))
    adds = [s.argv for s in plan(grant, CLUSTER, demo_state()) if s.action == "add member"]
    assert adds == [
        (*SACCTMGR, "add", "user", "dave", "Account=ai-gamma", "Partition=cpu",
         "Cluster=aifactory", "DefaultAccount=ai-gamma"),
    ]  # fmt: skip


def test_provisioning_moves_no_existing_default_account():
    after = provisioned()
    assert after.default_accounts == demo_state().default_accounts


def test_each_access_mode_has_its_own_qos_with_the_sites_priority():
    modes = AccessSettings().modes
    names = {code: plan(replace(GRANT, access_mode=code, qos_priority=mode.qos_priority),
                        CLUSTER, demo_state())[0].argv[4:]
             for code, mode in modes.items()}  # fmt: skip
    assert names == {
        "playground": ("af-playground", "Priority=100"),
        "fast_lane": ("af-fastlane", "Priority=300"),
        "large_scale": ("af-largescale", "Priority=200"),
        "ai_science": ("af-aiscience", "Priority=200"),
    }


# --- idempotence -------------------------------------------------------------------------


def test_a_second_plan_on_the_resulting_state_is_empty():
    state = provisioned()
    assert state.accounts["ai-gamma"] == Account(
        "gamma vision (start-up)",
        "gamma vision: defect detection",
        {"cpu": 6000, "gres/gpu": 600},
        frozenset({"af-fastlane"}),
        "af-fastlane",
    )
    assert {a for a in state.associations if a[1] == "ai-gamma"} == {
        ("alice", "ai-gamma", "cpu"),
        ("alice", "ai-gamma", "gpu"),
        ("bob", "ai-gamma", "cpu"),
        ("bob", "ai-gamma", "gpu"),
    }
    assert plan(GRANT, CLUSTER, state) == []


def test_a_run_stopped_half_way_is_completed_by_the_next_plan():
    state = demo_state()
    steps = plan(GRANT, CLUSTER, state)
    half = simulate(state, steps[:3])  # QOS, account and limits; no member yet
    assert plan(GRANT, CLUSTER, half) == steps[3:]


# --- QOS ---------------------------------------------------------------------------------


def test_qos_is_created_only_when_missing():
    state = demo_state()
    state.qos["af-fastlane"] = 300
    assert [s.action for s in plan(GRANT, CLUSTER, state)][:2] == ["add account", "set limits"]


def test_a_qos_with_another_priority_is_set_back():
    state = provisioned()
    state.qos["af-fastlane"] = 5
    assert plan(GRANT, CLUSTER, state) == [
        Step("set qos priority", (
            *SACCTMGR, "modify", "qos", "where", "Name=af-fastlane", "set", "Priority=300",
        )),
    ]  # fmt: skip


def test_a_changed_access_mode_moves_the_account_to_the_new_qos():
    grant = replace(GRANT, access_mode="large_scale", qos_priority=200)
    assert plan(grant, CLUSTER, provisioned()) == [
        Step("add qos", (*SACCTMGR, "add", "qos", "af-largescale", "Priority=200")),
        Step("set limits", (
            *SACCTMGR, "modify", "account", "where", "Name=ai-gamma", "Cluster=aifactory",
            "set", "GrpTRESMins=cpu=6000,gres/gpu=600", "QOS=af-largescale",
            "DefaultQOS=af-largescale",
        )),
    ]  # fmt: skip


# --- limits ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("hours", "minutes"),
    [(0, 0), (0.05, 3), (0.1, 6), (1 / 3, 20), (1 / 7, 9), (1.001, 61), (100, 6000)],
)
def test_tres_minutes_are_whole_and_rounded_up(hours, minutes):
    assert tres_minutes(hours) == minutes


def test_limits_are_rounded_up_to_whole_minutes():
    grant = replace(GRANT, cpu_hours=0.05, gpu_hours=1 / 7)
    limits = next(s for s in plan(grant, CLUSTER, demo_state()) if s.action == "set limits")
    assert "GrpTRESMins=cpu=3,gres/gpu=9" in limits.argv


def test_a_changed_allocation_sets_only_the_limits():
    grant = replace(GRANT, gpu_hours=20)
    assert [s.argv[-4:] for s in plan(grant, CLUSTER, provisioned())] == [
        ("set", "GrpTRESMins=cpu=6000,gres/gpu=1200", "QOS=af-fastlane", "DefaultQOS=af-fastlane")
    ]


def test_other_tres_limits_set_by_hand_are_left_alone():
    state = provisioned()
    state.accounts["ai-gamma"].grp_tres_mins["mem"] = 10
    assert plan(GRANT, CLUSTER, state) == []


# --- changed members ---------------------------------------------------------------------


def test_changed_members_adds_before_it_removes_one_association_each():
    grant = replace(GRANT, members=("alice", "carol"))
    assert [(s.action, s.argv[2:]) for s in plan(grant, CLUSTER, provisioned())] == [
        ("add member", ("add", "user", "carol", "Account=ai-gamma", "Partition=cpu,gpu",
                        "Cluster=aifactory")),
        ("remove member", ("delete", "user", "where", "Name=bob", "Account=ai-gamma",
                           "Partition=cpu", "Cluster=aifactory")),
        ("remove member", ("delete", "user", "where", "Name=bob", "Account=ai-gamma",
                           "Partition=gpu", "Cluster=aifactory")),
    ]  # fmt: skip
    assert plan(grant, CLUSTER, provisioned(grant, provisioned())) == []


def test_a_member_leaving_their_default_account_gets_another_default_first():
    state = provisioned()
    state.default_accounts["bob"] = "ai-gamma"
    grant = replace(GRANT, members=("alice",))
    steps = plan(grant, CLUSTER, state)
    assert [(s.action, s.argv[2:]) for s in steps] == [
        ("move default account", ("modify", "user", "where", "Name=bob", "set",
                                  "DefaultAccount=ai-alpha")),
        ("remove member", ("delete", "user", "where", "Name=bob", "Account=ai-gamma",
                           "Partition=cpu", "Cluster=aifactory")),
        ("remove member", ("delete", "user", "where", "Name=bob", "Account=ai-gamma",
                           "Partition=gpu", "Cluster=aifactory")),
    ]  # fmt: skip
    assert simulate(state, steps).default_accounts["bob"] == "ai-alpha"


def test_a_member_in_no_other_account_leaves_slurm_without_a_default_fix():
    grant = replace(GRANT, members=("alice", "dave"), partitions=("cpu",))
    state = provisioned(grant)
    assert state.default_accounts["dave"] == "ai-gamma"
    steps = plan(replace(grant, members=("alice",)), CLUSTER, state)
    assert [s.action for s in steps] == ["remove member"]
    assert "dave" not in simulate(state, steps).default_accounts


def test_a_partition_no_longer_granted_is_removed_and_members_stay():
    grant = replace(GRANT, partitions=("cpu",))
    steps = plan(grant, CLUSTER, provisioned())
    assert [s.argv[5:8] for s in steps] == [
        ("Name=alice", "Account=ai-gamma", "Partition=gpu"),
        ("Name=bob", "Account=ai-gamma", "Partition=gpu"),
    ]
    assert {s.action for s in steps} == {"remove member"}


def test_a_partitionless_association_is_replaced():
    """One valid on every partition: the granted ones are added, then it goes."""
    state = provisioned()
    state.associations -= {("bob", "ai-gamma", "cpu"), ("bob", "ai-gamma", "gpu")}
    state.associations.add(("bob", "ai-gamma", ""))
    assert [(s.action, s.argv[2:]) for s in plan(GRANT, CLUSTER, state)] == [
        ("add member", ("add", "user", "bob", "Account=ai-gamma", "Partition=cpu,gpu",
                        "Cluster=aifactory")),
        ("remove member", ("delete", "user", "where", "Name=bob", "Account=ai-gamma",
                           "Partition=", "Cluster=aifactory")),
    ]  # fmt: skip


def test_only_the_grants_account_is_changed():
    steps = plan(replace(GRANT, members=("carol",)), CLUSTER, provisioned())
    assert [s.action for s in steps] == ["add member"] + ["remove member"] * 4
    assert all("Account=ai-gamma" in s.argv for s in steps)


# --- an ended project --------------------------------------------------------------------


def test_an_ended_project_gets_zero_limits_and_no_members_but_keeps_its_account():
    ended = replace(GRANT, active=False)
    steps = plan(ended, CLUSTER, provisioned())
    assert [(s.action, s.argv[2:]) for s in steps] == [
        # The QOS stays: only the limits change.
        ("set limits", ("modify", "account", "where", "Name=ai-gamma", "Cluster=aifactory",
                        "set", "GrpTRESMins=cpu=0,gres/gpu=0")),
        *[("remove member", ("delete", "user", "where", f"Name={u}", "Account=ai-gamma",
                             f"Partition={p}", "Cluster=aifactory"))
          for u in ("alice", "bob") for p in ("cpu", "gpu")],
    ]  # fmt: skip
    after = simulate(provisioned(), steps)
    assert after.accounts["ai-gamma"].grp_tres_mins == {"cpu": 0, "gres/gpu": 0}
    assert after.accounts["ai-gamma"].qos == {"af-fastlane"}
    assert plan(ended, CLUSTER, after) == []


def test_an_ended_project_that_was_never_provisioned_needs_nothing():
    assert plan(replace(GRANT, active=False), CLUSTER, demo_state()) == []


def test_an_ended_project_is_provisioned_again_when_reactivated():
    ended = provisioned(replace(GRANT, active=False), provisioned())
    steps = plan(GRANT, CLUSTER, ended)
    assert [s.action for s in steps] == ["set limits", "add member", "add member"]
    assert plan(GRANT, CLUSTER, simulate(ended, steps)) == []


# --- parsing sacctmgr output -------------------------------------------------------------


def test_account_limits_come_from_account_rows_only():
    # As `sacctmgr -n -P show association Cluster=... format=Account,User,Partition,
    # GrpTRESMins,QOS,DefaultQOS` prints it.
    associations = (
        "ai-gamma|||cpu=6000,gres/gpu=600|af-fastlane|af-fastlane\n"
        "ai-gamma|alice|cpu||af-fastlane|af-fastlane\n"
        "ai-delta||||normal|\n"
        "ai-eps|||cpu=0,mem=10,gres/gpu=0|af-playground,normal|normal\n"
    )
    state = sacctmgr.parse_state("", "", associations, "", "normal|0\naf-fastlane|300\n\n")
    assert state.accounts == {
        "ai-gamma": Account(
            "", "", {"cpu": 6000, "gres/gpu": 600}, frozenset({"af-fastlane"}), "af-fastlane"
        ),
        "ai-delta": Account("", "", {}, frozenset({"normal"}), ""),
        "ai-eps": Account(
            "", "", {"cpu": 0, "mem": 10, "gres/gpu": 0}, frozenset({"af-playground", "normal"}),
            "normal",
        ),
    }  # fmt: skip
    assert state.associations == {("alice", "ai-gamma", "cpu")}
    assert state.qos == {"normal": 0, "af-fastlane": 300}


# --- grants are validated ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"account": "Bad Name"}, "account"),
        ({"account": "a" * 33}, "account"),
        ({"access_mode": "VIP mode"}, "access_mode"),
        ({"members": ("alice", "x y")}, "members"),
        ({"partitions": ("cpu,gpu",)}, "partitions"),
        ({"gpu_hours": -1}, "gpu_hours"),
        ({"cpu_hours": float("nan")}, "cpu_hours"),
        ({"title": "two\nlines"}, "title"),
        ({"title": " "}, "title"),
        ({"organisation": "tab\there"}, "organisation"),
    ],
)
def test_a_bad_grant_is_refused_naming_the_field(change, field):
    with pytest.raises(ValueError, match=f"^{field}: "):
        replace(GRANT, **change)


# --- apply: runs the plan in order, records each step, stops at the first failure --------


def test_apply_records_each_step_and_stops_at_the_first_failure(monkeypatch):
    monkeypatch.setattr(sacctmgr, "read_state", lambda cluster: demo_state())
    ran: list[tuple[str, ...]] = []

    def run(argv):
        ran.append(tuple(argv))
        if argv[4] == "bob":
            raise slurm.SlurmError(argv, 1, "", " Error with request: nope\n  detail\n")
        return slurm.CommandResult(tuple(argv), 0, "", "")

    monkeypatch.setattr(slurm, "run", run)
    records: list[tuple[str, str, str]] = []
    with pytest.raises(slurm.SlurmError):
        provision.apply(
            GRANT, CLUSTER, lambda s, status, err: records.append((s.action, status, err))
        )
    steps = plan(GRANT, CLUSTER, demo_state())
    assert ran == [s.argv for s in steps]  # the last one (bob) failed
    assert records == [
        ("add qos", "done", ""),
        ("add account", "done", ""),
        ("set limits", "done", ""),
        ("add member", "done", ""),
        ("add member", "failed", "Error with request: nope\n  detail"),
    ]


def test_apply_on_a_provisioned_grant_runs_nothing(monkeypatch):
    monkeypatch.setattr(sacctmgr, "read_state", lambda cluster: provisioned())
    monkeypatch.setattr(slurm, "run", lambda argv: pytest.fail(f"ran {argv}"))
    assert provision.apply(GRANT, CLUSTER, lambda *a: pytest.fail("recorded")) == []
