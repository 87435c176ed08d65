"""What a ticket, a reply and a ticket's context may hold.

The context is gathered by the researcher's own kernel (sacct, environment, package versions),
so the service treats it as input like any other: known fields only, every string bounded,
lists capped. Staff see it as text, escaped.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field

from aifactory_hub.core.bodies import Body
from aifactory_hub.site.names import OptionalSlurmName, Username
from aifactory_hub.slurm.jobs import JOB_ID_PATTERN

# The fixed list of topics: code (stored, sent over REST) -> what the researcher reads.
TOPICS: dict[str, str] = {
    "getting_started": "Getting started and notebooks",
    "resources": "Choosing a partition and resources",
    "jobs": "Jobs that fail, pend or are slow",
    "dask": "Dask on the cluster",
    "training": "Distributed training and checkpointing",
    "data": "Moving and staging data",
    "software": "Software and environments",
    "access": "Access, allocations and price",
    "ethics": "Ethics self-assessment",
    "workshops": "Workshops and training events",
    "other": "Something else",
}
MAX_TEXT = 20_000
MAX_TAIL = 8_000


def _known_topic(code: str) -> str:
    if code not in TOPICS:
        raise ValueError(f"not a topic; choose one of {', '.join(TOPICS)}")
    return code


Topic = Annotated[str, AfterValidator(_known_topic)]
Short = Annotated[str, Field(max_length=64)]
# A job as sacct names it (slurm.jobs), or one of its steps (123.batch, 123.0); or nothing.
JOB_ID = rf"^({JOB_ID_PATTERN}(\.[A-Za-z0-9_-]{{1,16}})?)?$"
JobId = Annotated[str, Field(pattern=JOB_ID)]


class JobRecord(Body):
    """One of the researcher's recent jobs as `sacct` reported it."""

    id: JobId
    name: Annotated[str, Field(max_length=200)] = ""
    partition: Short = ""
    account: Short = ""
    state: Short = ""
    exit_code: Annotated[str, Field(max_length=16)] = ""
    start: Short = ""
    end: Short = ""
    elapsed: Short = ""


class OutputTail(Body):
    """The last lines of a (failed) job's output file."""

    job_id: JobId
    path: Annotated[str, Field(max_length=500)]
    text: Annotated[str, Field(max_length=MAX_TAIL)]


class Context(Body):
    """Where the question was asked from; every field may be empty (outside a session)."""

    project: OptionalSlurmName = ""
    partition: OptionalSlurmName = ""
    job_id: JobId = ""
    node: Short = ""
    jobs: Annotated[tuple[JobRecord, ...], Field(max_length=50)] = ()
    output_tail: OutputTail | None = None
    versions: Annotated[dict[Short, Short], Field(max_length=40)] = {}
    problems: Annotated[
        tuple[Annotated[str, Field(max_length=500)], ...], Field(max_length=10)
    ] = ()


class NewTicket(Body):
    topic: Topic
    subject: Annotated[str, Field(min_length=3, max_length=200)]
    body: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]
    context: Context = Context()


class ReplyBody(Body):
    body: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)]


class AssignBody(Body):
    """`assignee` null takes the ticket back to the unassigned queue."""

    assignee: Username | None
