"""Pure parts of a workshop: names, sizes, the fixed session of a participant, and what the
trainer's form may ask for (its reservation's commands are `slurm.reservations`')."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated

from pydantic import Field, model_validator

from aifactory_hub.core.bodies import Body
from aifactory_hub.site import Site, paths
from aifactory_hub.site.names import SlurmName
from aifactory_hub.site.sessions import SessionRequest, offered_environments
from aifactory_hub.site.software import ENVIRONMENT_PATTERN

MAX_PARTICIPANTS = 200
IDLE_AFTER_S = 15 * 60
_FOLDER = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_OPTIONAL_ENVIRONMENT = f"^({ENVIRONMENT_PATTERN[1:-1]})?$"


class NewWorkshop(Body):
    title: Annotated[str, Field(min_length=3, max_length=200)]
    starts_at: datetime
    ends_at: datetime
    participants: Annotated[int, Field(ge=1, le=MAX_PARTICIPANTS, strict=True)]
    partition: SlurmName
    cpus: Annotated[int, Field(ge=1, le=1024, strict=True)] = 1
    memory_gb: Annotated[int, Field(ge=1, le=4096, strict=True)] = 2
    gpus: Annotated[int, Field(ge=0, le=64, strict=True)] = 0
    materials: Annotated[str, Field(pattern=_FOLDER)] = "workshop-intro"
    # The site environment every participant's kernels run in ("": the partition's default).
    environment: Annotated[str, Field(pattern=_OPTIONAL_ENVIRONMENT)] = ""

    @model_validator(mode="after")
    def _window(self) -> NewWorkshop:
        for name in ("starts_at", "ends_at"):
            if getattr(self, name).tzinfo is None:
                raise ValueError(f"{name} needs a time zone (e.g. +00:00)")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if (self.ends_at - self.starts_at).days > 14:
            raise ValueError("a workshop lasts at most 14 days")
        return self


class Extension(Body):
    ends_at: datetime


def check_against_site(site: Site, body: NewWorkshop) -> tuple[str, str]:
    """(field, reason) when the site cannot host it, or ("", "")."""
    try:
        part = site.partition(body.partition)
    except KeyError:
        return "partition", f"unknown partition {body.partition!r}"
    if body.cpus > part.max_cpus:
        return "cpus", f"at most {part.max_cpus} CPUs per session on {part.name}"
    if body.memory_gb > part.max_memory_gb:
        return "memory_gb", f"at most {part.max_memory_gb} GB per session on {part.name}"
    if not part.min_gpus <= body.gpus <= part.max_gpus:
        return "gpus", f"{part.min_gpus}..{part.max_gpus} GPUs per session on {part.name}"
    if body.participants * body.cpus > part.cpus_per_node * part.nodes:
        return "participants", f"{part.name} has {part.cpus_per_node * part.nodes} CPUs in all"
    reason = environment_refusal(site, body.environment, part.name)
    if reason:
        return "environment", reason
    try:
        notebooks = paths.notebooks(site.paths)
    except paths.MissingData as exc:
        return "materials", str(exc)
    if not (notebooks / body.materials).is_dir():
        return "materials", f"no folder notebooks/{body.materials}"
    return "", ""


def environment_refusal(site: Site, name: str, partition: str) -> str:
    """Why a workshop on `partition` cannot name environment `name` ("" when it can): the
    same allow-list a participant's spawn is checked against, so no session fails later."""
    if not name:
        return ""
    offered = offered_environments(site, partition)
    if site.environment(name) is None:
        if not site.environments:
            return f"this site defines no environments (not {name!r})"
        known = ", ".join(e.name for e in site.environments)
        return f"unknown environment {name!r} (the site has {known})"
    if name not in offered:
        choices = ", ".join(offered) or "none"
        return f"{name} is not offered on {partition} (offered there: {choices})"
    return ""


def names(workshop_id: int, participants: int, tag: str) -> tuple[str, str, list[str]]:
    """(account, reservation, participant usernames) of a workshop. `tag` (a few random
    letters) keeps them unique across stores: disabled accounts of an old workshop stay."""
    if not re.match(r"^[a-z0-9]{1,6}$", tag):
        raise ValueError(f"bad workshop tag {tag!r}")
    account = f"ws-{workshop_id}-{tag}"
    width = max(2, len(str(participants)))
    users = [f"ws{workshop_id}{tag}-{n:0{width}d}" for n in range(1, participants + 1)]
    return account, account, users


def hours(body: NewWorkshop) -> tuple[float, float]:
    """(GPU-hours, CPU-hours) that cover every participant for the whole window."""
    span = (body.ends_at - body.starts_at).total_seconds() / 3600
    return (
        math.ceil(body.participants * body.gpus * span),
        math.ceil(body.participants * body.cpus * span),
    )


def session_request(site: Site, ws, now: datetime | None = None) -> SessionRequest:
    """The one session a participant gets: the workshop's resources, in its reservation,
    charged to its project, until its end (within the partition's limit), in the workshop's
    environment. An empty one (or one the site has since stopped offering there) is the
    partition's default, as a spawn without a choice gets; "" when the site defines none."""
    part = site.partition(ws.partition)
    offered = offered_environments(site, ws.partition)
    chosen = ws.environment
    environment = chosen if chosen in offered else (offered[0] if offered else "")
    now = now or datetime.now(UTC)
    left_min = max(1, math.floor((ws.ends_at - max(now, ws.starts_at)).total_seconds() / 60))
    return SessionRequest(
        account=ws.account,
        partition=ws.partition,
        cpus=ws.cpus,
        memory_gb=ws.memory_gb,
        gpus=ws.gpus,
        walltime_minutes=min(left_min, int(part.max_walltime_hours * 60)),
        gpu_type=part.gpu_type if ws.gpus else "",
        reservation=ws.reservation,
        materials=ws.materials,
        environment=environment,
    )


def room_state(server: dict | None, disabled: bool, logged_in: bool, now: datetime) -> str:
    """A participant's state from their hub user model's default server."""
    if disabled:
        return "disabled"
    if not server:
        return "logged_in" if logged_in else "not_logged_in"
    if server.get("pending") == "spawn" or not server.get("ready"):
        return "pending"
    last = server.get("last_activity")
    if last:
        seen = datetime.fromisoformat(last.replace("Z", "+00:00"))
        if (now - seen).total_seconds() > IDLE_AFTER_S:
            return "idle"
    return "running"


PASSWORD = re.compile(r"^[A-Za-z0-9_-]{12,64}$")
