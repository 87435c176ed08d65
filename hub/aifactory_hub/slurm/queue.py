"""The queue as the spawn form shows it: jobs pending per partition (one `squeue` for every
partition), and Slurm's expected start of a request that does not fit now (`sbatch --test-only`).

The argv builders and parsers are pure; `pending_by_partition` and `expected_start` are the
two reads, both through the one runner. A failed read gives "unknown", never an exception: the
spawn form must still work when slurmctld does not answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aifactory_hub import slurm
from aifactory_hub.slurm.scripts import session_options
from aifactory_hub.slurm.shared_read import SharedRead

CACHE_SECONDS = 15.0
# A pending job that no free node would start: held by its user or an admin.
_HELD = ("JobHeld", "Held")
# What `sbatch --test-only` prints (on stderr): the job id it would get, when and where.
_TEST_ONLY = re.compile(
    r"Job (?P<job>\d+) to start at (?P<start>\S+) using (?P<cpus>\d+) processors? on nodes? "
    r"(?P<nodes>\S+)(?: in partition (?P<partition>\S+))?"
)


@dataclass(frozen=True)
class PartitionQueue:
    """Jobs waiting on one partition now; `held` of them wait for a release, not for nodes."""

    pending: int = 0
    held: int = 0


@dataclass(frozen=True)
class ExpectedStart:
    """Slurm's answer to `sbatch --test-only`: when (cluster-local ISO time) and on which nodes."""

    start: str
    nodes: str
    partition: str = ""


def pending_argv() -> list[str]:
    """Every pending job's partition(s) and reason, all users, one line each."""
    return ["squeue", "--noheader", "--states=PENDING", "--format=%P|%r"]


def parse_pending(text: str) -> dict[str, PartitionQueue]:
    """Pending jobs per partition from `pending_argv()`'s output; a job submitted to several
    partitions ("cpu,gpu") waits on each of them, so it counts on each."""
    counts: dict[str, list[int]] = {}
    for line in text.splitlines():
        parts, sep, reason = line.strip().partition("|")
        if not sep:
            continue
        held = reason.strip().startswith(_HELD)
        for name in filter(None, parts.split(",")):
            entry = counts.setdefault(name, [0, 0])
            entry[0] += 1
            entry[1] += held
    return {name: PartitionQueue(p, h) for name, (p, h) in sorted(counts.items())}


def sbatch_test_only_argv(
    *,
    account: str,
    partition: str,
    cpus: int,
    memory_gb: int,
    gpus: int,
    gpu_type: str,
    walltime_minutes: int,
    reservation: str = "",
) -> list[str]:
    """`sbatch --test-only` for a session's request: the session script's own resource options
    (`scripts.session_options`), a trivial `--wrap` and no output file, so nothing is queued or
    written."""
    options = session_options(
        account=account,
        partition=partition,
        cpus=cpus,
        memory_gb=memory_gb,
        gpus=gpus,
        gpu_type=gpu_type,
        walltime_minutes=walltime_minutes,
        reservation=reservation,
    )
    return ["sbatch", "--test-only", *options, "--output=/dev/null", "--wrap=true"]


def parse_test_only(text: str) -> ExpectedStart | None:
    """The expected start in `sbatch --test-only`'s output, None when it printed none."""
    found = _TEST_ONLY.search(text)
    if found is None:
        return None
    return ExpectedStart(found["start"], found["nodes"], found["partition"] or "")


# One `squeue` for all partitions, shared: many forms opened at once cost one.
PENDING: SharedRead[dict[str, PartitionQueue]] = SharedRead(pending_argv, parse_pending)


async def pending_by_partition(
    max_age: float = CACHE_SECONDS, timeout: float = 10.0
) -> dict[str, PartitionQueue] | None:
    """Pending jobs per partition (partitions without any are absent), at most `max_age` s
    old; None when the controller does not answer."""
    return await PENDING.get(max_age, timeout)


async def expected_start(
    argv: list[str], run_as: slurm.RunAs, timeout: float = 5.0
) -> ExpectedStart | str:
    """Run `sbatch_test_only_argv(...)` as the user (their associations decide what Slurm allows);
    the answer, or a short text saying why it is unknown."""
    try:
        result = await slurm.arun(argv, run_as=run_as, timeout=timeout)
    except slurm.ControllerUnreachable:
        return "Slurm did not answer in time"
    except slurm.SlurmError as exc:
        lines = [x for x in (exc.stderr or exc.stdout).splitlines() if x.strip()]
        return lines[-1].strip()[:200] if lines else "sbatch --test-only failed"
    found = parse_test_only(result.stderr + "\n" + result.stdout)
    return found if found is not None else "sbatch --test-only gave no start time"
