"""Slurm's job states, classified once: pending, running (together: live) or ended.

Every state name Slurm documents (https://slurm.schedmd.com/job_state_codes.html: twelve base
states and the state flags) is in `JOB_STATES` exactly once. squeue and sacct print one word
per job: a flag when one of the flags they know is set, else the base state; sacct adds who
cancelled a job ("CANCELLED by 1001"), which `job_state` strips. A name not in the table (a
newer Slurm, or garbage) is neither live nor ended: every caller decides what that means.

Why each live state is pending or running:
- running means the job's processes run, or are being signalled or cleaned up (COMPLETING,
  STAGE_OUT, SIGNALING): the resources are held and a session's server may answer;
- pending means the job waits: queued, held (REQUEUE_HOLD, SPECIAL_EXIT, RESV_DEL_HOLD),
  requeued, being resized, waiting for its nodes to boot (CONFIGURING, POWER_UP_NODE), or
  stopped with its resources kept (SUSPENDED, STOPPED); nothing of it answers yet;
- LAUNCH_FAILED, RECONFIG_FAIL and UPDATE_DB are flags squeue and sacct never print; a job
  carrying one is still slurmctld's (a failed launch is requeued), so they are pending too.
Ended states are final for the job on this cluster: REVOKED (its federated sibling runs
elsewhere) and PREEMPTED (a preempted job that is requeued shows REQUEUED, not PREEMPTED)
included.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from types import MappingProxyType

PENDING, RUNNING, ENDED = "pending", "running", "ended"

JOB_STATES: Mapping[str, str] = MappingProxyType({
    # base states
    "BOOT_FAIL": ENDED,
    "CANCELLED": ENDED,
    "COMPLETED": ENDED,
    "DEADLINE": ENDED,
    "FAILED": ENDED,
    "NODE_FAIL": ENDED,
    "OUT_OF_MEMORY": ENDED,
    "PENDING": PENDING,
    "PREEMPTED": ENDED,
    "RUNNING": RUNNING,
    "SUSPENDED": PENDING,
    "TIMEOUT": ENDED,
    # state flags (printed instead of the base state when set)
    "COMPLETING": RUNNING,
    "CONFIGURING": PENDING,
    "LAUNCH_FAILED": PENDING,
    "POWER_UP_NODE": PENDING,
    "RECONFIG_FAIL": PENDING,
    "REQUEUED": PENDING,
    "REQUEUE_FED": PENDING,
    "REQUEUE_HOLD": PENDING,
    "RESIZING": PENDING,
    "RESV_DEL_HOLD": PENDING,
    "REVOKED": ENDED,
    "SIGNALING": RUNNING,
    "SPECIAL_EXIT": PENDING,
    "STAGE_OUT": RUNNING,
    "STOPPED": PENDING,
    "UPDATE_DB": PENDING,
})  # fmt: skip

PENDING_STATES = frozenset(s for s, phase in JOB_STATES.items() if phase == PENDING)
RUNNING_STATES = frozenset(s for s, phase in JOB_STATES.items() if phase == RUNNING)
ENDED_STATES = frozenset(s for s, phase in JOB_STATES.items() if phase == ENDED)
LIVE_STATES = PENDING_STATES | RUNNING_STATES
# The flags that squeue and sacct never print (nor accept in --states).
UNPRINTED_STATES = frozenset({"LAUNCH_FAILED", "POWER_UP_NODE", "RECONFIG_FAIL", "UPDATE_DB"})
# What squeue --states accepts and squeue/sacct print.
PRINTED_STATES = frozenset(JOB_STATES) - UNPRINTED_STATES

# Upper case words joined by single underscores (NODE_FAIL, OUT_OF_MEMORY): a check for
# letters only once made every such job unreadable, so a failed node went unnoticed.
_WORD = re.compile(r"[A-Z]+(?:_[A-Z]+)*")


def job_state(text: str) -> str:
    """The state word of a squeue or sacct state field ("CANCELLED by 1001" -> "CANCELLED");
    "" when the field does not start with a state word."""
    words = text.split()
    word = words[0] if words else ""
    return word if _WORD.fullmatch(word) else ""


def phase(state: str) -> str:
    """PENDING, RUNNING or ENDED for a state field as printed; "" for a name not in the table."""
    return JOB_STATES.get(job_state(state), "")


def is_live(state: str) -> bool:
    """The job waits or runs: Slurm still holds it (pending or running)."""
    return phase(state) in (PENDING, RUNNING)


def is_ended(state: str) -> bool:
    """The job is over for good on this cluster (it will not run, or run again, here)."""
    return phase(state) == ENDED


def ended_badly(state: str, exit_code: str = "") -> bool:
    """The job is over and did not complete cleanly: any end state but COMPLETED, or COMPLETED
    with an exit code other than 0:0 (sacct's ExitCode). A live job never ended badly."""
    if not is_ended(state):
        return False
    return job_state(state) != "COMPLETED" or exit_code not in ("0:0", "")
