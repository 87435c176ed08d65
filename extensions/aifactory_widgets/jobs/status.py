"""The job monitor's facts, from squeue (live) and sacct (recent): pure arithmetic over what
`aifactory_hub.slurm.jobs` parsed (`parse_queue`, `parse_recent_jobs`); whether a job is live
is `slurm.states`'.

Cost so far is in the project's units: a job holding GPUs burns GPU-hours (GPUs x hours),
any other job CPU-hours (CPUs x hours), from accounting's AllocTRES and ElapsedRaw, the same
figures Slurm charges against the project's GrpTRESMins.
"""

from __future__ import annotations

import glob
from dataclasses import dataclass
from pathlib import Path

from aifactory_hub.slurm.jobs import QueueJob
from aifactory_hub.slurm.states import is_live
from aifactory_hub.slurm.tres import tres_counts
from aifactory_widgets.jobs.commands import JOB_DIR
from aifactory_widgets.ui.format import elapsed_text

TAIL_BYTES = 16_384


@dataclass(frozen=True)
class JobRow:
    id: str
    name: str
    state: str
    reason: str
    expected_start: str
    elapsed: str
    account: str
    partition: str
    cost: str
    nodes: str = ""  # as Slurm prints them: "cpu1", "cpu[1-2]"

    @property
    def live(self) -> bool:
        """Slurm still holds the job (pending or running): it may be cancelled."""
        return is_live(self.state)


def cost_so_far(tres: str, elapsed_s: int) -> tuple[float, str]:
    """(amount, unit): GPU-hours for a job holding GPUs, else CPU-hours."""
    cpus, gpus = tres_counts(tres)
    hours = max(elapsed_s, 0) / 3600
    if gpus:
        return gpus * hours, "GPU-h"
    return cpus * hours, "CPU-h"


def cost_text(tres: str, elapsed_s: int) -> str:
    if not tres:
        return ""
    amount, unit = cost_so_far(tres, elapsed_s)
    return f"{amount:.3f} {unit}"


FINISHED_SHOWN = 25  # a sweep makes hundreds of jobs a day: a row of widgets each is too many


def merge(
    live: list[QueueJob], recent: list[dict[str, str]], finished: int = FINISHED_SHOWN
) -> list[JobRow]:
    """Live jobs first (squeue's word on state: `parse_queue`), then the newest `finished`
    ones (sacct's: `parse_recent_jobs`)."""
    acct = {r["id"]: r for r in recent}
    rows = []
    for q in live:
        a = acct.get(q.id, {})
        pending = q.state == "PENDING"
        cost = "0.000" if pending else cost_text(a.get("tres", ""), _seconds(a))
        rows.append(
            JobRow(
                id=q.id,
                name=q.name,
                state=q.state,
                reason=q.reason,
                expected_start=q.expected_start if pending else "",
                elapsed=q.elapsed,
                account=q.account,
                partition=q.partition,
                cost=cost,
                nodes=_nodes(a),
            )
        )
    shown = {q.id for q in live}
    done = [a for a in recent if a["id"] not in shown and not is_live(a["state"])]
    for a in sorted(done, key=_newest_first)[:finished]:
        rows.append(
            JobRow(
                id=a["id"],
                name=a["name"],
                state=a["state"],
                reason="",
                expected_start="",
                elapsed=elapsed_text(_seconds(a)),
                account=a["account"],
                partition=a["partition"],
                cost=cost_text(a["tres"], _seconds(a)),
                nodes=_nodes(a),
            )
        )
    return rows


def _nodes(row: dict[str, str]) -> str:
    """The job's nodes; sacct says "None assigned" for a job that has none yet."""
    nodes = row.get("nodes", "")
    return "" if nodes.startswith("None") else nodes


def _seconds(row: dict[str, str]) -> int:
    value = row.get("elapsed_s", "")
    return int(value) if value.isdigit() else 0


def _newest_first(row: dict[str, str]) -> tuple[int, int]:
    """Job ids grow with submission; an array's tasks ('12_3') follow their order."""
    head, _, task = row["id"].partition("_")
    return (-int(head) if head.isdigit() else 0, int(task) if task.isdigit() else 0)


def output_candidates(home: str, job_id: str) -> list[Path]:
    """Where the launchers (and the hub) write a finished job's output, most likely first."""
    base = Path(home)
    return [
        base / JOB_DIR / f"{job_id}.out",  # training (%j) and sweep tasks (%A_%a)
        *sorted((base / JOB_DIR / "dask").glob(f"*-{glob.escape(job_id)}.err")),  # Dask logs
        base / ".jupyter-sessions" / f"{job_id}.log",  # sessions
    ]


def tail(path: Path, lines: int = 20) -> str:
    """The last lines of a file, reading at most TAIL_BYTES of it."""
    with path.open("rb") as handle:
        handle.seek(0, 2)
        size = handle.tell()
        handle.seek(max(0, size - TAIL_BYTES))
        data = handle.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])
