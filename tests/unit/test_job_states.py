"""The one table of Slurm job states: every documented state classified once, live and ended
never both, and the state word read the same way from squeue and sacct."""

from __future__ import annotations

import pytest

from aifactory_hub.slurm import states
from aifactory_hub.slurm.jobs import QUEUE_ARGV
from aifactory_hub.slurm.states import (
    ENDED_STATES,
    JOB_STATES,
    LIVE_STATES,
    PENDING_STATES,
    PRINTED_STATES,
    RUNNING_STATES,
    ended_badly,
    is_ended,
    is_live,
    job_state,
    phase,
)

# https://slurm.schedmd.com/job_state_codes.html: the base states, then the state flags.
BASE_STATES = {
    "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL", "OUT_OF_MEMORY",
    "PENDING", "PREEMPTED", "RUNNING", "SUSPENDED", "TIMEOUT",
}  # fmt: skip
STATE_FLAGS = {
    "COMPLETING", "CONFIGURING", "LAUNCH_FAILED", "POWER_UP_NODE", "RECONFIG_FAIL", "REQUEUED",
    "REQUEUE_FED", "REQUEUE_HOLD", "RESIZING", "RESV_DEL_HOLD", "REVOKED", "SIGNALING",
    "SPECIAL_EXIT", "STAGE_OUT", "STOPPED", "UPDATE_DB",
}  # fmt: skip
# What squeue 22.05 accepts in --states (its own error message lists them), and prints.
SQUEUE_STATES = (
    "PENDING,RUNNING,SUSPENDED,COMPLETED,CANCELLED,FAILED,TIMEOUT,NODE_FAIL,PREEMPTED,BOOT_FAIL,"
    "DEADLINE,OUT_OF_MEMORY,COMPLETING,CONFIGURING,RESIZING,RESV_DEL_HOLD,REQUEUED,REQUEUE_FED,"
    "REQUEUE_HOLD,REVOKED,SIGNALING,SPECIAL_EXIT,STAGE_OUT,STOPPED"
).split(",")


def test_every_documented_state_is_classified_exactly_once():
    assert set(JOB_STATES) == BASE_STATES | STATE_FLAGS
    groups = (PENDING_STATES, RUNNING_STATES, ENDED_STATES)
    assert sum(len(g) for g in groups) == len(JOB_STATES)  # disjoint
    assert PENDING_STATES | RUNNING_STATES | ENDED_STATES == set(JOB_STATES)
    assert LIVE_STATES == PENDING_STATES | RUNNING_STATES
    assert not LIVE_STATES & ENDED_STATES


def test_the_printed_states_are_the_ones_squeue_knows():
    assert set(SQUEUE_STATES) == PRINTED_STATES


@pytest.mark.parametrize("state", sorted(JOB_STATES))
def test_a_state_is_live_or_ended_never_both(state):
    assert is_live(state) != is_ended(state)
    assert phase(state) in (states.PENDING, states.RUNNING, states.ENDED)


def test_the_end_states_are_the_ones_that_end_a_job_for_good():
    assert ENDED_STATES == {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "TIMEOUT",
    }  # fmt: skip
    assert RUNNING_STATES == {"RUNNING", "COMPLETING", "STAGE_OUT", "SIGNALING"}


def test_waiting_held_requeued_and_stopped_jobs_are_pending():
    for state in ("PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED",
                  "STOPPED", "SPECIAL_EXIT", "RESV_DEL_HOLD", "REQUEUE_FED"):  # fmt: skip
        assert phase(state) == states.PENDING, state


def test_the_state_word_of_squeue_and_sacct_fields():
    assert job_state("CANCELLED by 1001") == "CANCELLED"
    assert job_state("OUT_OF_MEMORY") == "OUT_OF_MEMORY"
    assert job_state(" NODE_FAIL ") == "NODE_FAIL"
    for garbage in ("", "running", "RUN-NING", "_", "A__B", "12"):
        assert job_state(garbage) == "", garbage
    assert is_ended("CANCELLED by 0") and not is_live("CANCELLED by 0")


def test_a_name_not_in_the_table_is_neither_live_nor_ended():
    for text in ("NEW_STATE_OF_SLURM_99", "", "garbage"):
        assert phase(text) == "" and not is_live(text) and not is_ended(text)


@pytest.mark.parametrize(
    ("state", "exit_code", "bad"),
    [
        ("COMPLETED", "0:0", False),
        ("COMPLETED", "", False),
        ("COMPLETED", "1:0", True),
        ("FAILED", "1:0", True),
        ("TIMEOUT", "0:0", True),
        ("CANCELLED by 1002", "0:15", True),
        ("OUT_OF_MEMORY", "0:125", True),
        # Live jobs never ended badly, whatever the exit code says so far: ticket_context's
        # own list once missed CONFIGURING and REQUEUE_HOLD and called them failed.
        ("CONFIGURING", "0:0", False),
        ("REQUEUE_HOLD", "0:0", False),
        ("SPECIAL_EXIT", "1:0", False),
        ("RUNNING", "0:0", False),
        ("", "", False),
    ],
)
def test_ended_badly(state, exit_code, bad):
    assert ended_badly(state, exit_code) is bad


def test_the_queue_lists_every_live_state_squeue_prints():
    states_arg = next(a for a in QUEUE_ARGV if a.startswith("--states="))
    assert set(states_arg.removeprefix("--states=").split(",")) == LIVE_STATES & PRINTED_STATES


def test_the_sets_that_drifted_are_each_inside_the_table():
    """The four copies this table replaced (collector, poller, job monitor, ticket context)
    agreed with it where they overlapped; they differed only in what each left out."""
    collector_terminal = {
        "BOOT_FAIL", "CANCELLED", "COMPLETED", "DEADLINE", "FAILED", "NODE_FAIL",
        "OUT_OF_MEMORY", "PREEMPTED", "REVOKED", "TIMEOUT",
    }  # fmt: skip
    poller_pending = {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED"}
    job_monitor_live = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "SUSPENDED", "REQUEUED"}
    ticket_not_ended = {"RUNNING", "PENDING", "REQUEUED", "RESIZING", "SUSPENDED", "COMPLETING"}
    assert collector_terminal == ENDED_STATES
    assert poller_pending <= PENDING_STATES
    assert job_monitor_live <= LIVE_STATES and ticket_not_ended <= LIVE_STATES
