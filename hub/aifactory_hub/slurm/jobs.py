"""Slurm's job commands and what they print: sbatch, scancel, squeue, sacct, `scontrol show job`.

Builders return argv lists (`slurm.runner` runs them, never through a shell); parsers turn the
output into records. Each query the factory makes is written here once, next to its parser:

- the hub's own session jobs: `squeue_argv` / `parse_squeue` and, for the ones squeue no
  longer lists, `sacct_argv` / `parse_sacct` (the poller);
- the queue the console and the job monitor show: `QUEUE_ARGV` / `parse_queue`;
- a user's session jobs with their spawn marks: `named_jobs_argv` / `parse_job_comments`;
- when a running job's wall time ends it: `end_time_argv` / `parse_end_time` (JupyterLab's
  status bar, aifactory_lab);
- every job's usage since a watermark: `usage_argv` / `parse_usage` (the collector);
- a user's recent jobs: `recent_jobs_argv` / `parse_recent_jobs` (the widgets' job monitor
  and ticket context).

Fields are '|'-separated; where a user-chosen field (the job name) is asked for, it is last,
so a '|' in it cannot shift the others. Whether a state is live or ended is `slurm.states`'.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from aifactory_hub.site.names import require_username
from aifactory_hub.slurm import states
from aifactory_hub.slurm.tres import tres_counts

# A job (123), an array task (123_4), a pending array's tasks still to run (123_[5-9%2]) or a
# heterogeneous job's component (123+1): how squeue and sacct name jobs.
JOB_ID_PATTERN = r"[0-9]{1,12}(?:_[0-9]{1,8}|_\[[0-9,%-]{1,64}\]|\+[0-9]{1,8})?"
_JOB = re.compile(r"[0-9]{1,12}")
_TASK = re.compile(r"[0-9]{1,12}(?:_[0-9]{1,8})?")
# An allocation that ran or runs: a pending array's "123_[5-9]" line has used nothing.
_ALLOCATION = re.compile(r"[0-9]{1,12}(?:[_+][0-9]{1,8})?")
_LISTED = re.compile(JOB_ID_PATTERN)
_STEP = re.compile(r"batch|extern|interactive|[0-9]{1,8}")
_NULL = ("None", "(null)")


def check_job_id(text: str, *, array_task: bool = False) -> str:
    """`text` if it is one job's id (with `array_task`, also an array task's: 12_3), else
    ValueError: one bad id in a command for many jobs would break it for all of them."""
    grammar = _TASK if array_task else _JOB
    if not (isinstance(text, str) and grammar.fullmatch(text)):
        raise ValueError(f"not a Slurm job id: {str(text)[:40]!r}")
    return text


@dataclass(frozen=True)
class JobInfo:
    """What Slurm last said about one job."""

    job_id: str
    phase: str  # "pending" | "running" | "gone" | "unknown"
    state: str = ""
    reason: str = ""
    expected_start: str = ""
    node: str = ""
    account: str = ""
    partition: str = ""
    exit_code: str = ""
    error: str = ""

    @property
    def alive(self) -> bool:
        return self.phase in ("pending", "running", "unknown")


def _info_phase(state: str) -> str:
    # A job Slurm lists in a state this table does not know is taken as over: the hub's
    # sessions only run in the states it knows.
    phase = states.phase(state)
    return phase if phase in (states.PENDING, states.RUNNING) else "gone"


def _fields(line: str, width: int) -> list[str] | None:
    """`width` '|'-separated fields of a line, the last one keeping any surplus '|'; None when
    the line has fewer."""
    parts = line.split("|", width - 1)
    return parts if len(parts) == width else None


def _value(text: str, empty: Sequence[str] = _NULL) -> str:
    return "" if text in empty else text


# --- sbatch and scancel ------------------------------------------------------------------


def sbatch_argv() -> list[str]:
    """sbatch reading the script from stdin and printing only the job id."""
    return ["sbatch", "--parsable"]


def parse_sbatch(stdout: str) -> str:
    """The job id `sbatch --parsable` printed ("123" or "123;cluster"); "" when it printed none."""
    first = stdout.strip().split(";")[0]
    return first if _JOB.fullmatch(first) else ""


def scancel_argv(job: str, *, array_task: bool = False) -> list[str]:
    """Cancel one job (with `array_task`, also one array task: 12_3). The hub's own scancel
    takes a plain job id only: that is all its sudo rule allows (ops.sudoers)."""
    return ["scancel", check_job_id(job, array_task=array_task)]


def _job_name(name: str) -> str:
    # --name= takes a comma-separated list: a ',' would select jobs of other names too.
    if not name or "," in name or not name.isprintable():
        raise ValueError(f"not one job name: {name[:40]!r}")
    return name


def scancel_named_argv(name: str, user: str | None = None) -> list[str]:
    """Cancel every job called `name` (of `user` only, when given)."""
    who = [f"--user={require_username(user)}"] if user is not None else []
    return ["scancel", *who, f"--name={_job_name(name)}"]


# --- squeue: the hub's session jobs --------------------------------------------------------

_SQUEUE_FORMAT = "%i|%T|%r|%S|%N|%a|%P|%u"  # id, state, reason, start, nodes, account, ...


def squeue_argv(job_ids: Sequence[str]) -> list[str]:
    """One squeue for many jobs, in every state; '|' separates fields, so node lists with
    commas survive."""
    return [
        "squeue",
        "--noheader",
        "--states=all",
        "--jobs=" + ",".join(check_job_id(j) for j in job_ids),
        f"--format={_SQUEUE_FORMAT}",
    ]


def parse_squeue(text: str) -> tuple[dict[str, JobInfo], list[str]]:
    """`squeue_argv`'s output: the jobs, and the lines that could not be read."""
    jobs: dict[str, JobInfo] = {}
    skipped: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.strip().split("|")
        if (
            len(parts) != 8
            or not _JOB.fullmatch(parts[0])
            or states.job_state(parts[1]) != parts[1]
        ):
            skipped.append(line)
            continue
        job, state, reason, start, node, account, partition, _user = parts
        jobs[job] = JobInfo(
            job_id=job,
            phase=_info_phase(state),
            state=state,
            reason=_value(reason),
            expected_start=_value(start, ("N/A", "Unknown", "(null)")),
            node=_value(node, ("", "(null)")),
            account=account,
            partition=partition,
        )
    return jobs, skipped


# --- squeue: the queue as the console and the job monitor show it --------------------------

QUEUE_FIELDS = ("id", "user", "account", "partition", "state", "reason", "start", "elapsed",
                "nodes", "name")  # fmt: skip
# Every live job Slurm prints (see slurm.states); the job name last, for its '|'.
QUEUE_ARGV = (
    "squeue",
    "--noheader",
    "--all",
    "--states=" + ",".join(sorted(states.LIVE_STATES & states.PRINTED_STATES)),
    "--format=%i|%u|%a|%P|%T|%r|%S|%M|%D|%j",
)


def user_queue_argv(user: str) -> list[str]:
    """`QUEUE_ARGV` for one user's jobs."""
    return [*QUEUE_ARGV, f"--user={require_username(user)}"]


@dataclass(frozen=True)
class QueueJob:
    id: str
    user: str
    account: str
    partition: str
    state: str
    reason: str
    expected_start: str
    elapsed: str
    nodes: int
    name: str


def parse_queue(text: str) -> tuple[list[QueueJob], list[str]]:
    """`QUEUE_ARGV`'s output: the jobs, and the lines that could not be read."""
    jobs: list[QueueJob] = []
    skipped: list[str] = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = _fields(line, len(QUEUE_FIELDS))
        if parts is None or not parts[0].replace("_", "").isdigit():
            skipped.append(line)
            continue
        row = dict(zip(QUEUE_FIELDS, parts, strict=True))
        jobs.append(
            QueueJob(
                id=row["id"],
                user=row["user"],
                account=row["account"],
                partition=row["partition"],
                state=row["state"],
                reason=_value(row["reason"]),
                expected_start=_value(row["start"], ("N/A", "Unknown")),
                elapsed=row["elapsed"],
                nodes=int(row["nodes"]) if row["nodes"].isdigit() else 0,
                name=row["name"],
            )
        )
    return jobs, skipped


# --- squeue: when a running job's wall time ends it ---------------------------------------


def end_time_argv(job: str) -> list[str]:
    """When `job` ends at the latest: its start plus its time limit, as slurmctld holds it now
    (staff may extend it). Run it with `SACCT_ENV`, so the time comes out in UTC."""
    return ["squeue", "--noheader", f"--jobs={check_job_id(job)}", "--format=%i|%e"]


def parse_end_time(text: str, job: str) -> datetime | None:
    """`end_time_argv`'s output: the job's end, None when squeue did not list it or printed
    no time ("N/A" for a job not yet started, "Unknown" for one without a time limit)."""
    for line in text.splitlines():
        listed, _, end = line.strip().partition("|")
        if listed == job:
            return parse_time(end)
    return None


# --- squeue: a user's jobs of one name, with their comments --------------------------------


def named_jobs_argv(user: str, name: str) -> list[str]:
    """The user's queued and running jobs called `name`, with their comments (%k)."""
    return [
        "squeue",
        "--noheader",
        f"--user={require_username(user)}",
        f"--name={_job_name(name)}",
        "--format=%i|%k",
    ]


def parse_job_comments(text: str) -> list[tuple[str, str]]:
    """(job id, comment) of `named_jobs_argv`'s output; lines without a job id are left out."""
    pairs = (line.partition("|") for line in text.splitlines())
    return [(job, comment) for job, _, comment in pairs if _JOB.fullmatch(job)]


# --- sacct: accounting's word on the hub's jobs squeue no longer lists ---------------------


def sacct_argv(job_ids: Sequence[str]) -> list[str]:
    """Accounting's word on jobs squeue no longer lists (whole jobs, not their steps)."""
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        "--jobs=" + ",".join(check_job_id(j) for j in job_ids),
        "--format=JobID,State,ExitCode,Reason",
    ]


def parse_sacct(text: str) -> dict[str, JobInfo]:
    """`sacct_argv`'s output: {job id: what accounting says}; other lines are left out."""
    jobs: dict[str, JobInfo] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 4 or not _JOB.fullmatch(parts[0]):
            continue
        job, state_text, exit_code, reason = parts
        state = states.job_state(state_text)  # "CANCELLED by 1001" -> "CANCELLED"
        if not state:
            continue
        jobs[job] = JobInfo(
            job_id=job,
            phase=_info_phase(state),
            state=state,
            exit_code=exit_code,
            reason=_value(reason),
        )
    return jobs


def steps_argv(job_id: str) -> list[str]:
    """One job and each of its steps (batch, extern, srun steps) with their states."""
    return [
        "sacct", "--noheader", "--parsable2",
        "--jobs=" + check_job_id(job_id), "--format=JobID,State",
    ]  # fmt: skip


def parse_steps(text: str, job_id: str) -> dict[str, str]:
    """`steps_argv`'s output: {step ("" for the job itself, "batch", "extern", "0", ...): its
    state word}; lines of other jobs and unknown states are left out."""
    steps: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split("|")
        if len(parts) != 2:
            continue
        job, _, step = parts[0].partition(".")
        state = states.job_state(parts[1])
        if job == job_id and state and (not step or _STEP.fullmatch(step)):
            steps[step] = state
    return steps


# --- sacct: every job's usage, for the accounting collector -------------------------------

USAGE_FIELDS = ("JobID", "Cluster", "Account", "User", "Partition", "State", "Start", "End",
                "ElapsedRaw", "AllocTRES")  # fmt: skip
SACCT_ENV = {"TZ": "UTC", "SLURM_TIME_FORMAT": "%Y-%m-%dT%H:%M:%S"}  # times in and out in UTC
# The names in a usage row are not checked against the factory's grammars (site.names): the
# rows are every job slurmdbd holds, also of users and accounts the factory did not make (a
# directory's user@example.org or upper-case login, another tenant's partition), and refusing
# one would drop usage that really happened from the figures. This only keeps out what is no
# Slurm name at all (blanks, separators, control characters): such a row is skipped, counted.
_TOKEN = re.compile(r"[A-Za-z0-9_.@-]{1,64}")


@dataclass(frozen=True)
class SacctJob:
    """One allocation line of sacct, checked field by field."""

    job_id: str
    cluster: str
    account: str
    user: str
    partition: str
    state: str
    start: datetime | None
    end: datetime | None
    elapsed_s: int | None
    cpus: int
    gpus: int

    @property
    def cpu_seconds(self) -> float:
        return float((self.elapsed_s or 0) * self.cpus)

    @property
    def gpu_seconds(self) -> float:
        return float((self.elapsed_s or 0) * self.gpus)

    @property
    def final(self) -> bool:
        """Ended, with its end and elapsed time filled in: it will not change again."""
        return (
            self.state in states.ENDED_STATES
            and self.end is not None
            and self.elapsed_s is not None
        )


def usage_argv(cluster: str, since: datetime, until: datetime) -> list[str]:
    """Every user's job allocations (no steps) active between `since` and `until`, in UTC
    (run it with `SACCT_ENV`)."""
    return [
        "sacct", "--noheader", "--parsable2", "--allusers", "--allocations",
        f"--clusters={cluster}", f"--format={','.join(USAGE_FIELDS)}",
        f"--starttime={_utc(since)}", f"--endtime={_utc(until)}",
    ]  # fmt: skip


def _utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def parse_time(text: str) -> datetime | None:
    """sacct's time (UTC, see SACCT_ENV); "Unknown", "None" and empty are None."""
    try:
        return datetime.strptime(text.strip(), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        return None


def parse_usage_line(line: str) -> SacctJob | None:
    """One line of `usage_argv`'s output; None for anything else."""
    parts = line.rstrip("\n").split("|")
    if len(parts) != len(USAGE_FIELDS):
        return None
    job, cluster, account, user, partition, state_text, start, end, elapsed, tres = parts
    if not _ALLOCATION.fullmatch(job) or not all(
        _TOKEN.fullmatch(v) for v in (cluster, account, user)
    ):
        return None
    if partition and not _TOKEN.fullmatch(partition):
        return None
    state = states.job_state(state_text)  # "CANCELLED by 0" -> CANCELLED
    if not state:
        return None
    cpus, gpus = tres_counts(tres)
    return SacctJob(
        job_id=job,
        cluster=cluster,
        account=account,
        user=user,
        partition=partition,
        state=state[:32],
        start=parse_time(start),
        end=parse_time(end),
        elapsed_s=int(elapsed) if elapsed.isdigit() else None,
        cpus=cpus,
        gpus=gpus,
    )


def parse_usage(text: str) -> tuple[list[SacctJob], int]:
    """The jobs that ran (or run) in `usage_argv`'s output, and how many lines were unreadable.

    Pending jobs and jobs cancelled before they started used nothing and are left out."""
    jobs, skipped = [], 0
    for line in text.splitlines():
        if not line.strip():
            continue
        job = parse_usage_line(line)
        if job is None:
            skipped += 1
        elif job.start is not None and job.partition:
            jobs.append(job)
    return jobs, skipped


# --- sacct: a user's recent jobs (the job monitor, a ticket's context) ---------------------

RECENT_FIELDS = ("id", "partition", "account", "state", "exit_code", "start", "end", "elapsed",
                 "elapsed_s", "tres", "workdir", "nodes", "name")  # fmt: skip
_RECENT_FORMAT = (
    "JobID,Partition,Account,State,ExitCode,Start,End,Elapsed,ElapsedRaw,AllocTRES,WorkDir,"
    "NodeList,JobName"
)


def recent_jobs_argv(user: str, since: str = "now-7days") -> list[str]:
    """The user's jobs since `since` (a sacct time: "now-1days", "2026-11-27T10:00"), whole
    jobs only, oldest first (sacct's order)."""
    return [
        "sacct",
        "--noheader",
        "--parsable2",
        "--allocations",
        f"--user={require_username(user)}",
        f"--starttime={since}",
        f"--format={_RECENT_FORMAT}",
    ]


def parse_recent_jobs(text: str) -> list[dict[str, str]]:
    """`recent_jobs_argv`'s output as one dict per job, keys `RECENT_FIELDS`, in sacct's order.

    "state" is the state word (test it with `slurm.states`), "state_text" the field as sacct
    printed it ("CANCELLED by 1001"); lines that are not a job are left out."""
    jobs = []
    for line in text.splitlines():
        parts = _fields(line, len(RECENT_FIELDS))
        if parts is None or not _LISTED.fullmatch(parts[0]):
            continue
        row = dict(zip(RECENT_FIELDS, parts, strict=True))
        row["state_text"] = row["state"]
        row["state"] = states.job_state(row["state"])
        jobs.append(row)
    return jobs


# --- scontrol show job ---------------------------------------------------------------------

_STDOUT = re.compile(r"(?:^|\s)StdOut=(\S+)")


def show_job_argv(job: str) -> list[str]:
    """Everything slurmctld knows about one job (or array task), on one line."""
    return ["scontrol", "--oneliner", "show", "job", check_job_id(job, array_task=True)]


def job_stdout(line: str) -> str:
    """The StdOut= path of a `show_job_argv` line ('' if it has none)."""
    match = _STDOUT.search(line)
    return match.group(1) if match else ""
