"""What the demo factory holds, as plain data, and the pure decisions of `ops.demo`.

`up` fills a new factory with what a working one has: open calls, requests at every stage of
the access workflow, granted projects with members, a few real jobs, an answered ticket and a
planned workshop. Each thing is an "ensure": the functions here compare what the factory's API
shows now with what the demo wants and name the steps still missing, so a second `up` does
nothing and a half-failed one is finished by the next. Nothing here talks to the network or to
Slurm; `ops.demo` does, with the demo users' own tokens.

Stages and how the real workflow reaches them (docs/access-api.md):
- draft: a saved, unsubmitted request;
- submitted: a first-come request waiting for staff's technical check;
- granted: a first-come request whose feasible check found the call's capacity enough;
- waitlisted: a first-come request checked after the grants, when what is left does not
  cover it (first come, first served never scales a request down);
- in review: a Large Scale proposal with its check and one reviewer assigned, no score yet;
- round: Large Scale proposals with their check and two scores, ranked at the call's next
  cut-off against its capacity: the better one granted in full, the other partly. A cut-off
  is always after the submission day (`policy.clocks.decision_due`), so `up` decides this
  round only on a run after that date; until then they wait for it, as the desk shows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

# The job name the demo's jobs carry: how a second `up` finds the ones it already submitted.
JOB_NAME = "aifactory-demo"
JOB_SECONDS = 30
Stage = Literal["draft", "submitted", "in_review", "granted", "waitlisted", "round"]

ETHICS = {
    "intended_use": "Research and product development on the data named below; no people "
    "are profiled and no decisions about people are made.",
    "prohibited_practices": [],
    "high_risk_area": "none",
    "mitigation_plan": "",
    "personal_data": False,
    "legal_basis": None,
    "data_sources": [{"name": "own data", "licence": "proprietary, ours"}],
    "transparency_acknowledged": True,
}


@dataclass(frozen=True)
class CallSpec:
    key: str
    mode: str
    title: str
    capacity: Mapping[str, Mapping[str, float]]

    def body(self) -> dict[str, Any]:
        """`POST calls`'s body."""
        return {"mode": self.mode, "title": self.title, "capacity": dict(self.capacity)}


@dataclass(frozen=True)
class ProposalSpec:
    key: str
    call: str  # a CallSpec.key
    applicant: str
    title: str
    organisation: str
    stage: Stage
    requests: tuple[Mapping[str, Any], ...]
    length_months: int
    abstract: str
    # (reviewer, mark): assigned by staff, then scored by the reviewer (mark None: assigned only)
    reviews: tuple[tuple[str, int | None], ...] = ()
    members: tuple[str, ...] = ()  # added by the PI once granted

    def draft(self, call_id: int) -> dict[str, Any]:
        """`POST proposals`'s body: a complete request (every check passes)."""
        return {
            "call_id": call_id,
            "title": self.title,
            "abstract": self.abstract,
            "organisation": self.organisation,
            "applicant_type": "startup_sme",
            "software": "PyTorch 2, torchrun",
            "requests": [dict(r) for r in self.requests],
            "open_results": True,
            "ethics": ETHICS,
            "length_months": self.length_months,
        }


@dataclass(frozen=True)
class JobSpec:
    user: str
    project: str  # the ProposalSpec.key whose grant the job is charged to
    partition: str
    gpus: int = 0


@dataclass(frozen=True)
class TicketSpec:
    user: str
    topic: str
    subject: str
    body: str
    staff: str
    reply: str


@dataclass(frozen=True)
class WorkshopSpec:
    trainer: str
    title: str
    participants: int
    partition: str
    days_ahead: int  # starts this many days after today, at `start_hour` UTC
    start_hour: int
    hours: int
    materials: str = "workshop-intro"


@dataclass(frozen=True)
class DemoPlan:
    calls: tuple[CallSpec, ...]
    proposals: tuple[ProposalSpec, ...]
    jobs: tuple[JobSpec, ...]
    ticket: TicketSpec
    workshop: WorkshopSpec
    staff: str = "sam"

    def call(self, key: str) -> CallSpec:
        return next(c for c in self.calls if c.key == key)

    def users(self) -> list[str]:
        """Everyone the demo acts as, in a stable order."""
        names = [p.applicant for p in self.proposals]
        names += [r for p in self.proposals for r, _ in p.reviews]
        names += [self.staff, self.ticket.user, self.ticket.staff, self.workshop.trainer]
        names += [j.user for j in self.jobs]
        return list(dict.fromkeys(names))


_ABSTRACT = (
    "We train and evaluate compact models on our own data, first on the CPU partition for "
    "data preparation, then on GPUs for training; the plan and its milestones are attached. "
)

DEMO = DemoPlan(
    calls=(
        CallSpec(
            "fast_lane",
            "fast_lane",
            "Fast Lane demo call",
            {"gpu": {"gpu_hours": 500, "cpu_hours": 1000}, "cpu": {"cpu_hours": 1000}},
        ),
        CallSpec(
            "large_scale",
            "large_scale",
            "Large Scale demo call",
            {"gpu": {"gpu_hours": 150_000, "cpu_hours": 4000}},
        ),
    ),
    # First-come requests in the order staff check them: the grants come before the request
    # the call's remaining capacity no longer covers.
    proposals=(
        ProposalSpec(
            key="vision",
            call="fast_lane",
            applicant="alice",
            stage="granted",
            title="Vision models for warehouse robots",
            organisation="Alpha Robotics",
            requests=(
                {"partition": "gpu", "gpu_hours": 300, "cpu_hours": 200},
                {"partition": "cpu", "cpu_hours": 200},
            ),
            length_months=3,
            abstract=_ABSTRACT,
            members=("bob",),
        ),
        ProposalSpec(
            key="clinical",
            call="fast_lane",
            applicant="carol",
            stage="granted",
            title="Clinical text de-identification at scale",
            organisation="Beta Health",
            requests=({"partition": "cpu", "cpu_hours": 400},),
            length_months=2,
            abstract=_ABSTRACT,
            members=("dave",),
        ),
        ProposalSpec(
            key="speech",
            call="fast_lane",
            applicant="dave",
            stage="waitlisted",
            title="Speech recognition for call centres",
            organisation="Delta Voice",
            requests=({"partition": "gpu", "gpu_hours": 400, "cpu_hours": 100},),
            length_months=3,
            abstract=_ABSTRACT,
        ),
        ProposalSpec(
            key="folding",
            call="fast_lane",
            applicant="bob",
            stage="submitted",
            title="Protein structure search for enzyme design",
            organisation="Bob Labs",
            requests=({"partition": "gpu", "gpu_hours": 50, "cpu_hours": 50},),
            length_months=1,
            abstract=_ABSTRACT,
        ),
        ProposalSpec(
            key="summaries",
            call="fast_lane",
            applicant="carol",
            stage="draft",
            title="Multilingual summaries of patient leaflets",
            organisation="Beta Health",
            requests=({"partition": "gpu", "gpu_hours": 80, "cpu_hours": 40},),
            length_months=2,
            abstract=_ABSTRACT,
        ),
        ProposalSpec(
            key="manipulation",
            call="large_scale",
            applicant="alice",
            stage="round",
            title="Foundation model for robot manipulation",
            organisation="Alpha Robotics",
            requests=({"partition": "gpu", "gpu_hours": 100_000, "cpu_hours": 1000},),
            length_months=6,
            abstract=_ABSTRACT,
            reviews=(("rita", 5), ("rob", 5)),
        ),
        ProposalSpec(
            key="nowcasting",
            call="large_scale",
            applicant="bob",
            stage="round",
            title="Weather nowcasting with transformers",
            organisation="Bob Labs",
            requests=({"partition": "gpu", "gpu_hours": 100_000, "cpu_hours": 1000},),
            length_months=6,
            abstract=_ABSTRACT,
            reviews=(("rita", 3), ("rob", 3)),
        ),
        ProposalSpec(
            key="clinical-fm",
            call="large_scale",
            applicant="carol",
            stage="in_review",
            title="A clinical foundation model for Slovenian",
            organisation="Beta Health",
            requests=({"partition": "gpu", "gpu_hours": 60_000, "cpu_hours": 500},),
            length_months=12,
            abstract=_ABSTRACT,
            reviews=(("rita", None),),
        ),
    ),
    jobs=(
        JobSpec("alice", "vision", "cpu"),
        JobSpec("bob", "vision", "gpu", gpus=1),
        JobSpec("carol", "clinical", "cpu"),
    ),
    ticket=TicketSpec(
        user="alice",
        topic="jobs",
        subject="How much of our allocation did my last job use?",
        body="I ran a short job on our new Fast Lane project. Where do I see how many "
        "CPU-hours it used, and how much of the grant is left?",
        staff="sam",
        reply="Open QuotaView() in a notebook (or the AI Factory launcher's Quota card): it "
        "shows each project's hours used and left, read from Slurm's accounting every minute.",
    ),
    workshop=WorkshopSpec(
        trainer="tess",
        title="Introduction to the AI Factory",
        participants=3,
        partition="cpu",
        days_ahead=7,
        start_hour=9,
        hours=3,
    ),
)

# --- what is still missing ------------------------------------------------------------------

Step = tuple[str, ...]  # ("create",), ("submit",), ("check",), ("assign", r), ("review", r, n)


def find_proposal(
    proposals: Iterable[Mapping[str, Any]], spec: ProposalSpec, call_id: int
) -> Mapping[str, Any] | None:
    """The demo's proposal for `spec` among those the API lists (by call, applicant, title);
    the newest one if several (a withdrawn copy is not the demo's)."""
    found = [
        p
        for p in proposals
        if p["call_id"] == call_id
        and p["applicant"] == spec.applicant
        and p["title"] == spec.title
        and p["status"] not in ("withdrawn", "ineligible")
    ]
    return max(found, key=lambda p: p["id"]) if found else None


def _checked(proposal: Mapping[str, Any]) -> bool:
    # Staff see a check record with `feasible: None` until the check is made.
    check = proposal.get("technical_check") or {}
    return check.get("feasible") is not None


def proposal_steps(spec: ProposalSpec, proposal: Mapping[str, Any] | None) -> list[Step]:
    """The steps that bring the demo's request to its stage from what the API shows now
    (None: it does not exist yet). A decided request needs nothing more: the round's
    decision is the call's, `round_due` says when."""
    steps: list[Step] = []
    if proposal is None:
        steps.append(("create",))
        proposal = {"status": "draft", "technical_check": None, "reviews": []}
    if spec.stage == "draft":
        return steps
    if proposal["status"] == "draft":
        steps.append(("submit",))
    elif proposal["status"] != "in_review":
        return steps
    if spec.stage == "submitted":
        return steps
    if not _checked(proposal):
        steps.append(("check",))
    reviews = {r.get("reviewer"): r for r in proposal.get("reviews", [])}
    for reviewer, mark in spec.reviews:
        if reviewer not in reviews:
            steps.append(("assign", reviewer))
        if mark is not None and not reviews.get(reviewer, {}).get("submitted"):
            steps.append(("review", reviewer, str(mark)))
    return steps


def missing_members(spec: ProposalSpec, project: Mapping[str, Any]) -> list[str]:
    """The members the demo adds to a granted project that it does not have yet."""
    have = {m["username"] for m in project.get("members", [])}
    return [name for name in spec.members if name not in have]


def round_due(proposals: Iterable[Mapping[str, Any]], today: date) -> bool:
    """Whether a review call's decision round can run: a proposal still in review whose
    cut-off has come (`decide` is a 409 before that)."""
    return any(
        p["status"] == "in_review"
        and p.get("cutoff_on")
        and date.fromisoformat(p["cutoff_on"]) <= today
        for p in proposals
    )


def next_cutoff(proposals: Iterable[Mapping[str, Any]]) -> str | None:
    """The earliest cut-off among the proposals still in review (ISO date), if any."""
    days = sorted(
        p["cutoff_on"] for p in proposals if p["status"] == "in_review" and p.get("cutoff_on")
    )
    return days[0] if days else None


def has_demo_job(recent: Iterable[Mapping[str, str]], queued: Iterable[str], account: str) -> bool:
    """Whether the user already has the demo's job on `account`: accounting's list of their
    recent jobs (`slurm.jobs.parse_recent_jobs`) or the ids squeue lists under the demo's job
    name (a job just submitted may not be in accounting yet)."""
    in_accounting = any(j["name"] == JOB_NAME and j["account"] == account for j in recent)
    return in_accounting or any(True for _ in queued)


def sacct_time(iso: str) -> str:
    """An ISO timestamp (the API's, with its offset) as sacct reads a time under
    `slurm.jobs.SACCT_ENV`: UTC, to the second."""
    return datetime.fromisoformat(iso).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def job_options(spec: JobSpec, account: str, home: str) -> list[str]:
    """sbatch's options for a demo job (the script comes on stdin)."""
    options = [
        f"--account={account}",
        f"--partition={spec.partition}",
        f"--job-name={JOB_NAME}",
        "--cpus-per-task=1",
        "--mem=256M",
        "--time=00:05:00",
        f"--chdir={home}",
        f"--output={home}/{JOB_NAME}-%j.out",
    ]
    return options + ([f"--gres=gpu:{spec.gpus}"] if spec.gpus else [])


def job_script(seconds: int = JOB_SECONDS) -> str:
    """A short CPU-bound job: hashes zeros for `seconds` (timeout ends it; the job succeeds)."""
    return (
        "#!/bin/bash\n"
        'echo "demo job $SLURM_JOB_ID of $USER on $(hostname), charged to $SLURM_JOB_ACCOUNT"\n'
        f"timeout {int(seconds)} sha256sum /dev/zero || true\n"
        'echo "done"\n'
    )


def workshop_window(spec: WorkshopSpec, now: datetime) -> tuple[datetime, datetime]:
    """The workshop's start and end (UTC), `days_ahead` days after `now`'s date."""
    day = (now.astimezone(UTC) + timedelta(days=spec.days_ahead)).date()
    start = datetime.combine(day, time(spec.start_hour), tzinfo=UTC)
    return start, start + timedelta(hours=spec.hours)


def planned_workshop(
    workshops: Iterable[Mapping[str, Any]], spec: WorkshopSpec
) -> Mapping[str, Any] | None:
    """The demo's workshop still to come (or running); an ended one does not count."""
    found = [w for w in workshops if w["title"] == spec.title and w["status"] != "ended"]
    return min(found, key=lambda w: w["id"]) if found else None


# --- what `up` prints --------------------------------------------------------------------------

STAGE_WORDS = {
    "draft": "draft",
    "in_review": "in review",
    "granted": "granted",
    "partial": "partly granted",
    "waitlisted": "waitlisted",
    "rejected": "rejected",
}


@dataclass
class Seen:
    """What the factory's API showed at the end of a demo run (for the summary)."""

    calls: list[Mapping[str, Any]] = field(default_factory=list)
    proposals: list[Mapping[str, Any]] = field(default_factory=list)
    projects: list[Mapping[str, Any]] = field(default_factory=list)
    jobs: dict[str, list[str]] = field(default_factory=dict)  # account -> job ids submitted now
    ticket: Mapping[str, Any] | None = None
    workshop: Mapping[str, Any] | None = None
    collector_interval_s: float = 60.0


def proposal_line(p: Mapping[str, Any]) -> str:
    status = p["status"]
    words = STAGE_WORDS.get(status, status)
    if status == "in_review" and p.get("access_mode") in ("playground", "fast_lane"):
        words = "submitted, waiting for its technical check"
    elif status == "in_review":
        scored = sum(1 for r in p.get("reviews", []) if r.get("submitted"))
        assigned = len(p.get("reviews", []))
        words = (
            f"in review ({assigned} reviewer(s), {scored} score(s); cut-off {p.get('cutoff_on')})"
        )
    if p.get("decision") and p["decision"].get("fraction") and status == "partial":
        words += f" ({p['decision']['fraction']:.0%})"
    project = f" -> {p['project']}" if p.get("project") else ""
    return f"  #{p['id']:<4} {p['applicant']:<6} {words}: {p['title']}{project}"


def summary(seen: Seen, plan: DemoPlan = DEMO) -> list[str]:
    """The lines `up` prints: what the demo holds now, as the API reported it."""
    lines = ["Demo factory (made through the factory's API as the demo users):"]
    titles = {c.title for c in plan.calls}
    for call in seen.calls:
        if call["title"] not in titles:
            continue
        left = ", ".join(
            f"{part} {v.get('gpu_hours', 0):g} GPU-h/{v.get('cpu_hours', 0):g} CPU-h"
            for part, v in sorted(call.get("remaining", {}).items())
        )
        lines.append(f"- call #{call['id']} {call['title']} ({call['status']}; left: {left})")
    wanted = {(p.applicant, p.title) for p in plan.proposals}
    ours = [p for p in seen.proposals if (p["applicant"], p["title"]) in wanted]
    lines.append(f"- {len(ours)} requests:")
    lines += [proposal_line(p) for p in sorted(ours, key=lambda p: p["id"])]
    cutoff = next_cutoff(p for p in ours if p["access_mode"] == "large_scale")
    if cutoff and not any(p["status"] == "partial" for p in ours):
        lines.append(
            f"  (the Large Scale round is decided at its cut-off, {cutoff}: the next `up` "
            "after it, or staff's Decide, grants one in full and the other partly)"
        )
    accounts = {p["project"] for p in ours if p.get("project")}
    for project in seen.projects:
        if project["account"] not in accounts:
            continue
        members = ", ".join(m["username"] for m in project["members"])
        lines.append(f"- project {project['account']} ({project['status']} in Slurm): {members}")
    submitted = sum(len(ids) for ids in seen.jobs.values())
    if submitted:
        lines.append(
            f"- {submitted} demo job(s) submitted now ({JOB_SECONDS} s each); their use shows "
            f"in QuotaView and the usage desk once they end and the collector has read them "
            f"(every {seen.collector_interval_s:g} s): in about "
            f"{(JOB_SECONDS + 2 * seen.collector_interval_s) / 60:.0f} minutes"
        )
    else:
        lines.append("- demo jobs: none added (each member's demo job is already in Slurm)")
    if seen.ticket:
        t = seen.ticket
        lines.append(f"- ticket #{t['id']} from {t['user']} ({t['status']}): {t['subject']}")
    if seen.workshop:
        w = seen.workshop
        lines.append(
            f"- workshop #{w['id']} {w['title']} by {w['trainer']} ({w['status']}, "
            f"{w['starts_at'][:16]} to {w['ends_at'][11:16]} UTC, {w['participants']} seats)"
        )
    return lines


def stage_counts(proposals: Sequence[Mapping[str, Any]], plan: DemoPlan = DEMO) -> dict[str, int]:
    """How many of the demo's requests are at each status (for tests and the report)."""
    wanted = {(p.applicant, p.title) for p in plan.proposals}
    counts: dict[str, int] = {}
    for p in proposals:
        if (p["applicant"], p["title"]) in wanted:
            counts[p["status"]] = counts.get(p["status"], 0) + 1
    return counts
