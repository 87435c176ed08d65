"""Bad input on the real stack: every form and REST field of every capability, fed wrong
types, negative and huge numbers, unknown partitions, foreign objects, newlines and shell
metacharacters, 10 kB strings, odd Unicode and odd user names. Each case must be refused
with the status and a message naming the field, and change nothing: the store's records as
staff see them, the Slurm associations of our project, the hub's servers and Slurm's jobs."""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import requests
from sqlalchemy import select

from aifactory_hub import slurm
from aifactory_hub.access import projects as prj
from aifactory_hub.store import db as store_db
from aifactory_hub.store import models as m
from tests.access import ETHICS, LARGE, api, draft, ok
from tests.stack import session_job_ids, sh

pytestmark = [pytest.mark.slurm, pytest.mark.hub]

BIG = 2**63  # one past the store's 64-bit ids
HUGE = 10**30
TEN_KB = "x" * 10_240
SHELL = ("; rm -rf /", "$(id)", "`id`", "\n#SBATCH --exclusive")
RTL = "\u202eahpla-ia"  # right-to-left override: "ai-alpha" shown backwards
EMOJI = "\U0001f680 rocket"
NUL = "ai\u0000alpha"
SURROGATE = "\ud800"


@dataclass(frozen=True)
class Raw:
    """A body sent as these bytes, not as JSON made from an object."""

    data: bytes


@dataclass(frozen=True)
class Case:
    user: str
    method: str
    path: str  # formatted with the `world` fixture's ids
    body: Any = None  # an object sent as JSON, a Raw, or None for no body
    status: int = 400
    field: str | None = None  # the answer's field must start with it (None: not checked)
    says: str = ""  # and its message must contain this


# --- the records the cases aim at ---------------------------------------------------------------


@pytest.fixture(scope="module")
def store(hub_site):
    site, _ = hub_site
    return store_db.session_factory(store_db.make_engine(site.services.store_url))


@pytest.fixture(scope="module")
def world(hub, hub_site, store) -> Iterator[dict[str, Any]]:
    """A Large Scale call of ours (a review mode, so proposals get reviewers), a draft of
    bob's, an in-review proposal of carol's with rob assigned (its cut-off still to come), a
    Fast Lane call with a request of carol's waiting for its technical check, a provisioned
    project of carol's (with an open-results obligation) and a ticket of bob's."""
    site, _ = hub_site
    tag = uuid.uuid4().hex[:6]
    call = ok(api(hub, "POST", "calls", "sam", json={
        "mode": "large_scale", "title": f"Bad input {tag}",
        "capacity": {"gpu": {"gpu_hours": LARGE, "cpu_hours": 100}}}), 201)  # fmt: skip
    bob = ok(api(hub, "POST", "proposals", "bob",
                 json=draft(call["id"], f"Bob draft {tag}", "Bob Labs", LARGE)), 201)  # fmt: skip
    carol = ok(api(hub, "POST", "proposals", "carol",
                   json=draft(call["id"], f"Gamma {tag}", "Gamma Labs", LARGE)), 201)  # fmt: skip
    assert ok(api(hub, "POST", f"proposals/{carol['id']}/submit", "carol"))["status"] == "in_review"
    ok(api(hub, "POST", f"proposals/{carol['id']}/reviewers", "sam", json={"reviewer": "rob"}))
    # a Fast Lane call (first come, first served) and a request in it waiting for its check
    fifo_call = ok(api(hub, "POST", "calls", "sam", json={
        "mode": "fast_lane", "title": f"Bad input queue {tag}",
        "capacity": {"gpu": {"gpu_hours": 100, "cpu_hours": 100}}}), 201)  # fmt: skip
    body = draft(fifo_call["id"], f"Queued {tag}", "Gamma Labs", 10)
    queued = ok(api(hub, "POST", "proposals", "carol", json=body), 201)
    queued = ok(api(hub, "POST", f"proposals/{queued['id']}/submit", "carol"))
    assert queued["status"] == "in_review" and queued["technical_check"] is None
    account = f"t-bad-{secrets.token_hex(3)}"
    today = date.today()
    with store.begin() as db:
        project = m.Project(
            account=account, title="Bad input target", organisation="Gamma Labs", pi="carol",
            access_mode="fast_lane", starts_on=today, ends_on=today + timedelta(days=30),
            obligation="publish results openly", obligation_due=today + timedelta(days=60),
        )  # fmt: skip
        project.allocations = [m.Allocation(partition="cpu", gpu_hours=0, cpu_hours=1)]
        project.members = [m.Member(username="carol", role="pi", added_by="tests")]
        db.add(project)
    done, error = prj.provision_project(store, site.site.cluster, account)
    assert done, error
    (report,) = ok(api(hub, "GET", f"projects/{account}/reports", "carol"))  # its final one
    ticket = ok(api(hub, "POST", "tickets", "bob", json={
        "topic": "other", "subject": f"Bad input {tag}", "body": "A question."}), 201)  # fmt: skip
    yield {"call": call["id"], "draft": bob["id"], "review": carol["id"], "project": account,
           "ticket": ticket["id"], "fifo_call": fifo_call["id"],
           "queued": queued["id"], "report": report["id"]}  # fmt: skip
    api(hub, "POST", f"projects/{account}/end", "sam")
    slurm.run(["sacctmgr", "-i", "delete", "account", f"name={account}"], check=False)


# The service's own timers write these on their schedule, whatever the requests do: the
# accounting collector and the storage meter (every scan_interval_s; a pass during a case
# once made "nothing changed" fail).
BACKGROUND_TABLES = {"usage_jobs", "collector_state", "storage_use"}


def snapshot(store, world: dict[str, Any], slurm_too: bool) -> dict[str, Any]:
    """Everything a refused request could have changed: every row of every table of the
    store (read straight from it: fast enough for hundreds of cases) and, for requests on
    projects (the only ones that provision), the Slurm associations of our project
    (sacctmgr takes 0.4 s, twice per case)."""
    with store() as db:
        seen: dict[str, Any] = {
            table.name: db.execute(select(table).order_by(*table.primary_key.columns)).all()
            for table in m.Base.metadata.sorted_tables
            if table.name not in BACKGROUND_TABLES
        }
    if not slurm_too:
        return seen
    seen["associations"] = sh("sacctmgr", "-n", "-P", "show", "assoc",
                              f"account={world['project']}",
                              "format=Account,User,Partition,GrpTRESMins,QOS")  # fmt: skip
    return seen


def fill(body: Any, world: dict[str, Any]) -> Any:
    """The body with every "{name}" value replaced by the world's record id of that name."""
    if isinstance(body, str) and body.startswith("{") and body[1:-1] in world:
        return world[body[1:-1]]
    if isinstance(body, dict):
        return {k: fill(v, world) for k, v in body.items()}
    if isinstance(body, list):
        return [fill(v, world) for v in body]
    return body


def send(hub, case: Case, world: dict[str, Any]) -> requests.Response:
    path = case.path.format(**world)
    if isinstance(case.body, Raw):
        return api(hub, case.method, path, case.user, data=case.body.data)
    if case.body is None:
        return api(hub, case.method, path, case.user)
    return api(hub, case.method, path, case.user, json=fill(case.body, world))


def refused(hub, store, case: Case, world: dict[str, Any]) -> None:
    slurm_too = case.path.startswith("projects")
    before = snapshot(store, world, slurm_too)
    resp = send(hub, case, world)
    assert resp.status_code == case.status, resp.text
    answer = resp.json()
    assert answer["status"] == case.status and answer["message"], answer
    if case.field is not None:
        assert answer.get("field", "").startswith(case.field), answer
    assert case.says in answer["message"], answer
    assert snapshot(store, world, slurm_too) == before, "a refused request changed something"


def in_hours(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).replace(microsecond=0).isoformat()


def workshop(**change) -> dict[str, Any]:
    return {"title": "Bad input workshop", "starts_at": in_hours(0), "ends_at": in_hours(2),
            "participants": 1, "partition": "cpu", "cpus": 1, "memory_gb": 1,
            "materials": "workshop-intro", **change}  # fmt: skip


def call_body(**change) -> dict[str, Any]:
    return {"mode": "fast_lane", "title": "A call", "deadline": None,
            "capacity": {"gpu": {"gpu_hours": 10, "cpu_hours": 10}}, **change}  # fmt: skip


def ticket(**change) -> dict[str, Any]:
    return {"topic": "other", "subject": "A question", "body": "Why?", **change}


def context(**change) -> dict[str, Any]:
    return ticket(context={"project": "ai-alpha", "job_id": "12", **change})


def proposal(**change) -> dict[str, Any]:
    return {**draft(0, "A vision model", "Bob Labs", 10), "call_id": "{call}", **change}


def report_body(**change) -> dict[str, Any]:
    return {"summary": "We trained the model and published its weights and the paper. " * 2,
            "products": [], "acknowledged": True, **change}  # fmt: skip


def requested(**change) -> dict[str, Any]:
    return proposal(requests=[{"partition": "gpu", "gpu_hours": 1, "cpu_hours": 1, **change}])


# --- the table ------------------------------------------------------------------------------

REPORTS: dict[str, Case] = {
        f"report: {what}": Case(user, "PUT", "projects/{project}/reports/{report}",
                                report_body(**change), status=status, field=field)
        for what, user, change, status, field in (
            ("a product's link is not a web address", "carol",
             {"products": [{"kind": "paper", "title": "A paper", "url": "javascript:alert(1)"}]},
             400, "products.0.url"),
            ("a product of no known kind", "carol",
             {"products": [{"kind": "poster", "title": "A poster", "url": "https://x.org"}]},
             400, "products.0.kind"),
            ("the final report without the acknowledgement", "carol", {"acknowledged": False},
             400, "acknowledged"),
            ("a summary too short", "carol", {"summary": "Done."}, 400, "summary"),
            ("a summary of 30 kB", "carol", {"summary": TEN_KB * 3}, 400, "summary"),
            ("an unknown field", "carol", {"extra": "$(id)"}, 400, "extra"),
            ("by staff, not the PI", "sam", {}, 403, None),
            ("for someone else's project", "bob", {}, 404, None),
        )
    }  # fmt: skip


CASES: dict[str, Case] = {
    # calls (staff)
    "call: title is a number": Case("sam", "POST", "calls", call_body(title=42), field="title"),
    "call: title 10 kB": Case("sam", "POST", "calls", call_body(title=TEN_KB), field="title"),
    "call: title with NUL": Case("sam", "POST", "calls", call_body(title=NUL), field="title"),
    "call: title lone surrogate": Case(
        "sam", "POST", "calls", call_body(title=f"A call {SURROGATE}"), field="title"
    ),
    "call: a mode the site lacks": Case(
        "sam", "POST", "calls", call_body(mode="pirate"), field="mode", says="pirate"
    ),
    "call: capacity a string": Case(
        "sam", "POST", "calls", call_body(capacity="lots"), field="capacity"
    ),
    "call: negative capacity": Case(
        "sam",
        "POST",
        "calls",
        call_body(capacity={"gpu": {"gpu_hours": -1}}),
        field="capacity.gpu.gpu_hours",
    ),
    "call: capacity 1e308": Case(
        "sam",
        "POST",
        "calls",
        call_body(capacity={"gpu": {"cpu_hours": 1e308}}),
        field="capacity.gpu.cpu_hours",
    ),
    "call: unknown partition": Case(
        "sam",
        "POST",
        "calls",
        call_body(capacity={"bigmem": {"gpu_hours": 1}}),
        field="capacity.bigmem",
        says="unknown partition",
    ),
    **{
        f"call: partition {shell!r}": Case(
            "sam",
            "POST",
            "calls",
            call_body(capacity={f"gpu{shell}": {"gpu_hours": 1}}),
            field="capacity.gpu",
        )
        for shell in SHELL
    },
    "call: deadline not a date": Case(
        "sam", "POST", "calls", call_body(deadline="tomorrow"), field="deadline"
    ),
    **{
        f"call: mode {mode!r}": Case("sam", "POST", "calls", call_body(mode=mode), field="mode")
        for mode in ("Fast Lane", "fast-lane", "$(id)", "", "m" * 33, 3, None)
    },
    "call: body a list": Case("sam", "POST", "calls", [call_body()], says="JSON object"),
    "call: invalid JSON": Case("sam", "POST", "calls", Raw(b'{"mode": '), says="not valid JSON"),
    "call: JSON nested 100000 deep": Case(
        "sam", "POST", "calls", Raw(b"[" * 100_000), says="not valid JSON"
    ),
    "call: not UTF-8": Case("sam", "POST", "calls", Raw(b"\xff\xfe{}"), says="not valid JSON"),
    "call: opened by a researcher": Case(
        "alice", "POST", "calls", call_body(), status=403, says="proposals:manage"
    ),
    "call: close id 2**63": Case("sam", "POST", f"calls/{BIG}/close", status=404),
    "call: decide id 10**30": Case("sam", "POST", f"calls/{HUGE}/decide", status=404),
    "call: ranking id 2**63": Case("sam", "GET", f"calls/{BIG}/ranking", status=404),
    "call: decided before any cut-off": Case(
        "sam", "POST", "calls/{call}/decide", status=409, says="cut-off"
    ),
    "call: a first-come call decided in a round": Case(
        "sam", "POST", "calls/{fifo_call}/decide", status=409, says="first come"
    ),
    # proposals
    "draft: call_id 2**63": Case(
        "bob", "POST", "proposals", proposal(call_id=BIG), field="call_id"
    ),
    "draft: call_id negative": Case(
        "bob", "POST", "proposals", proposal(call_id=-1), field="call_id"
    ),
    "draft: call_id with shell": Case(
        "bob", "POST", "proposals", proposal(call_id="1; rm -rf /"), field="call_id"
    ),
    "draft: unknown call": Case(
        "bob", "POST", "proposals", proposal(call_id=BIG - 1), status=404, says="no call"
    ),
    "draft: requests a string": Case(
        "bob", "POST", "proposals", proposal(requests="all of it"), field="requests"
    ),
    "draft: 21 requests": Case(
        "bob",
        "POST",
        "proposals",
        proposal(requests=[{"partition": "gpu", "gpu_hours": 1}] * 21),
        field="requests",
    ),
    "draft: gpu_hours a string": Case(
        "bob", "POST", "proposals", requested(gpu_hours="lots"), field="requests.0.gpu_hours"
    ),
    "draft: gpu_hours 2**63": Case(
        "bob", "POST", "proposals", requested(gpu_hours=BIG), field="requests.0.gpu_hours"
    ),
    "draft: cpu_hours 1e308": Case(
        "bob", "POST", "proposals", requested(cpu_hours=1e308), field="requests.0.cpu_hours"
    ),
    **{
        f"draft: partition {shell!r}": Case(
            "bob",
            "POST",
            "proposals",
            requested(partition=f"gpu{shell}"),
            field="requests.0.partition",
        )
        for shell in SHELL
    },
    "draft: ethics a string": Case(
        "bob", "POST", "proposals", proposal(ethics="fine"), field="ethics"
    ),
    "draft: unknown prohibited practice": Case(
        "bob",
        "POST",
        "proposals",
        proposal(ethics={**ETHICS, "prohibited_practices": ["$(id)"]}),
        field="ethics.prohibited_practices",
    ),
    "draft: abstract 30 kB": Case(
        "bob", "POST", "proposals", proposal(abstract="a" * 30_000), field="abstract"
    ),
    "draft: title with NUL": Case(
        "bob", "POST", "proposals", proposal(title=f"Vision {NUL}"), field="title"
    ),
    "draft: NUL deep in ethics": Case(
        "bob",
        "POST",
        "proposals",
        proposal(ethics={**ETHICS, "intended_use": NUL}),
        field="ethics",
    ),
    **{
        f"draft: length_months {months!r}": Case(
            "bob", "POST", "proposals", proposal(length_months=months), field="length_months"
        )
        for months in (0, -3, 37, BIG, "3", 2.5, True, [3])
    },
    **{
        f"draft: {field} set by the applicant": Case(
            "bob", "POST", "proposals", proposal(**{field: "2020-01-01"}), field=field
        )
        for field in ("cutoff_on", "decision_due_on", "decided_at")
    },
    "draft: open_results a string": Case(
        "bob", "POST", "proposals", proposal(open_results="perhaps"), field="open_results"
    ),
    "check: call_id 2**63": Case(
        "bob", "POST", "proposals/check", proposal(call_id=BIG), field="call_id"
    ),
    "edit: moved to another call": Case(
        "bob", "PUT", "proposals/{draft}", proposal(call_id=BIG - 1), field="call_id"
    ),
    "edit: body a list": Case("bob", "PUT", "proposals/{draft}", [1, 2], says="JSON object"),
    "edit: someone else's draft": Case("alice", "PUT", "proposals/{draft}", proposal(), status=404),
    "submit: someone else's draft": Case("alice", "POST", "proposals/{draft}/submit", status=404),
    "withdraw: someone else's draft": Case(
        "alice", "POST", "proposals/{draft}/withdraw", status=404
    ),
    "submit: id 10**30": Case("bob", "POST", f"proposals/{HUGE}/submit", status=404),
    "read: id 2**63": Case("bob", "GET", f"proposals/{BIG}", status=404),
    "list: call not a number": Case("bob", "GET", "proposals?call=abc", field="call"),
    "list: call a superscript digit": Case("bob", "GET", "proposals?call=%C2%B2", field="call"),
    "list: call 10**30": Case("bob", "GET", f"proposals?call={HUGE}", field="call"),
    "list: status with shell": Case("bob", "GET", "proposals?status=%24(id)", field="status"),
    "list: unknown sort": Case("sam", "GET", "proposals?sort=deadline", field="sort"),
    "list: sort with shell": Case("bob", "GET", "proposals?sort=%24(id)", field="sort"),
    # technical check, reviewers, reviews
    "technical check: feasible 'maybe'": Case(
        "sam",
        "POST",
        "proposals/{review}/technical-check",
        {"feasible": "maybe"},
        field="feasible",
    ),
    "technical check: feasible missing": Case(
        "sam", "POST", "proposals/{review}/technical-check", {}, field="feasible"
    ),
    "technical check: notes 30 kB": Case(
        "sam",
        "POST",
        "proposals/{review}/technical-check",
        {"feasible": True, "notes": "n" * 30_000},
        field="notes",
    ),
    "technical check: by a researcher": Case(
        "carol", "POST", "proposals/{review}/technical-check", {"feasible": True}, status=403
    ),
    **{
        f"reviewer: {name!r}": Case(
            "sam", "POST", "proposals/{review}/reviewers", {"reviewer": name}, field="reviewer"
        )
        for name in (
            "rob@juelich.de",
            "ROB",
            "-rob",
            "rob; rm -rf /",
            "rob\n",
            TEN_KB,
            42,
            "r\u00f6b",
            NUL,
            None,
        )
    },
    **{
        f"reviewer: {name!r} (no such reviewer)": Case(
            "sam",
            "POST",
            "proposals/{review}/reviewers",
            {"reviewer": name},
            field="reviewer",
            says="not a reviewer",
        )
        for name in ("rob.smith", "rob-smith", "_rob", "carol")
    },
    **{
        f"review: quality {value!r}": Case(
            "rob",
            "PUT",
            "proposals/{review}/review",
            {"quality": value, "pertinence": 3},
            field="quality",
        )
        for value in (0, 6, -1, "5", 4.0, BIG, 1e308, True, None)
    },
    "reviewer: on a first-come request": Case(
        "sam",
        "POST",
        "proposals/{queued}/reviewers",
        {"reviewer": "rob"},
        status=409,
        field="reviewer",
        says="no peer review",
    ),
    "review: pertinence missing": Case(
        "rob", "PUT", "proposals/{review}/review", {"quality": 3}, field="pertinence"
    ),
    "review: comment with NUL": Case(
        "rob",
        "PUT",
        "proposals/{review}/review",
        {"quality": 3, "pertinence": 3, "comment": NUL},
        field="comment",
    ),
    "review: by a reviewer not assigned": Case(
        "rita", "PUT", "proposals/{review}/review", {"quality": 3, "pertinence": 3}, status=404
    ),
    # projects
    **{
        f"member: {name!r}": Case(
            "carol", "POST", "projects/{project}/members", {"username": name}, field="username"
        )
        for name in (
            "bob@example.org",
            "-rf",
            "bob; rm -rf /",
            "$(id)",
            "`id`",
            "bob\n#SBATCH --exclusive",
            TEN_KB,
            "b\u00f6b",
            RTL,
            NUL,
            7,
            ["bob"],
        )
    },
    **{
        f"member: {name!r} (no such account)": Case(
            "carol",
            "POST",
            "projects/{project}/members",
            {"username": name},
            field="username",
            says="no account",
        )
        for name in ("bob.smith", "bob-smith", "_bob", "b" * 32)
    },
    "member: body missing": Case("carol", "POST", "projects/{project}/members", field="username"),
    "member: added by a non-member": Case(
        "bob", "POST", "projects/{project}/members", {"username": "bob"}, status=404
    ),
    "member: the PI removed": Case(
        "carol", "DELETE", "projects/{project}/members/carol", status=409, field="username"
    ),
    "member: removing a non-member": Case(
        "carol", "DELETE", "projects/{project}/members/bob%40x", status=404
    ),
    "obligation: javascript URL": Case(
        "carol",
        "POST",
        "projects/{project}/obligation",
        {"url": "javascript:alert(1)"},
        field="url",
    ),
    "obligation: URL with a newline": Case(
        "carol",
        "POST",
        "projects/{project}/obligation",
        {"url": "https://example.org/\nSet-Cookie: x"},
        field="url",
    ),
    "obligation: URL 10 kB": Case(
        "carol",
        "POST",
        "projects/{project}/obligation",
        {"url": "https://example.org/" + TEN_KB},
        field="url",
    ),
    "obligation: by a non-member": Case(
        "bob",
        "POST",
        "projects/{project}/obligation",
        {"url": "https://example.org"},
        status=404,
    ),
    "project: read by a non-member": Case("bob", "GET", "projects/{project}", status=404),
    "project: ended by its PI": Case("carol", "POST", "projects/{project}/end", status=403),
    "project: provisioned by its PI": Case(
        "carol", "POST", "projects/{project}/provision", status=403
    ),
    "project: re-priced before it is due": Case(
        "sam", "POST", "projects/{project}/reprice", status=409, says="no overdue obligation"
    ),
    # tickets
    "ticket: subject 10 kB": Case(
        "bob", "POST", "tickets", ticket(subject=TEN_KB), field="subject"
    ),
    "ticket: subject a number": Case("bob", "POST", "tickets", ticket(subject=42), field="subject"),
    "ticket: body with NUL": Case("bob", "POST", "tickets", ticket(body=NUL), field="body"),
    "ticket: body 30 kB": Case("bob", "POST", "tickets", ticket(body="b" * 30_000), field="body"),
    "ticket: topic with shell": Case(
        "bob", "POST", "tickets", ticket(topic="$(id)"), field="topic"
    ),
    **{
        f"ticket: job id {job!r}": Case(
            "bob", "POST", "tickets", context(job_id=job), field="context.job_id"
        )
        for job in ("1; rm -rf /", "$(id)", "12\n#SBATCH", "-1", str(HUGE), 12)
    },
    "ticket: project with shell": Case(
        "bob", "POST", "tickets", context(project="`id`"), field="context.project"
    ),
    "ticket: 51 jobs": Case(
        "bob", "POST", "tickets", context(jobs=[{"id": "1"}] * 51), field="context.jobs"
    ),
    "ticket: output tail 9 kB": Case(
        "bob",
        "POST",
        "tickets",
        context(output_tail={"job_id": "1", "path": "/tmp/x", "text": "t" * 9000}),
        field="context.output_tail.text",
    ),
    "ticket: 41 versions": Case(
        "bob",
        "POST",
        "tickets",
        context(versions={f"p{i}": "1" for i in range(41)}),
        field="context.versions",
    ),
    "ticket: unknown context field": Case(
        "bob", "POST", "tickets", context(cmd="id"), field="context.cmd", says="unknown field"
    ),
    "reply: empty": Case("bob", "POST", "tickets/{ticket}/messages", {"body": ""}, field="body"),
    "reply: someone else's ticket": Case(
        "alice", "POST", "tickets/{ticket}/messages", {"body": "me too"}, status=404
    ),
    "close: someone else's ticket": Case("alice", "POST", "tickets/{ticket}/close", status=404),
    "assign: assignee with @": Case(
        "sam",
        "POST",
        "tickets/{ticket}/assign",
        {"assignee": "sam@example.org"},
        field="assignee",
    ),
    "assign: assignee a number": Case(
        "sam", "POST", "tickets/{ticket}/assign", {"assignee": 5}, field="assignee"
    ),
    "assign: by a researcher": Case(
        "bob", "POST", "tickets/{ticket}/assign", {"assignee": "bob"}, status=403
    ),
    "tickets: unknown status": Case("bob", "GET", "tickets?status=pending", field="status"),
    "tickets: assignee with shell": Case(
        "sam", "GET", "tickets?assignee=%24(id)", field="assignee"
    ),
    "ticket: id 2**63": Case("bob", "GET", f"tickets/{BIG}", status=404),
    # workshops (trainer)
    **{
        f"workshop: participants {n!r}": Case(
            "tess", "POST", "workshops", workshop(participants=n), field="participants"
        )
        for n in (0, -1, 201, BIG, "3", 1.5, None)
    },
    "workshop: unknown partition": Case(
        "tess",
        "POST",
        "workshops",
        workshop(partition="bigmem"),
        field="partition",
        says="unknown partition",
    ),
    **{
        f"workshop: partition {shell!r}": Case(
            "tess", "POST", "workshops", workshop(partition=f"cpu{shell}"), field="partition"
        )
        for shell in SHELL
    },
    "workshop: cpus 0": Case("tess", "POST", "workshops", workshop(cpus=0), field="cpus"),
    "workshop: cpus over the partition": Case(
        "tess", "POST", "workshops", workshop(cpus=64), field="cpus", says="at most"
    ),
    "workshop: memory 1e308": Case(
        "tess", "POST", "workshops", workshop(memory_gb=1e308), field="memory_gb"
    ),
    "workshop: gpus -1": Case("tess", "POST", "workshops", workshop(gpus=-1), field="gpus"),
    "workshop: starts_at not a time": Case(
        "tess", "POST", "workshops", workshop(starts_at="soon"), field="starts_at"
    ),
    "workshop: no time zone": Case(
        "tess",
        "POST",
        "workshops",
        workshop(starts_at="2030-01-01T09:00:00"),
        says="starts_at needs a time zone",
    ),
    "workshop: 15 days": Case(
        "tess", "POST", "workshops", workshop(ends_at=in_hours(15 * 24)), says="14 days"
    ),
    "workshop: over already": Case(
        "tess",
        "POST",
        "workshops",
        workshop(starts_at=in_hours(-5), ends_at=in_hours(-3)),
        field="ends_at",
        says="over already",
    ),
    "workshop: materials outside notebooks/": Case(
        "tess", "POST", "workshops", workshop(materials="../../etc"), field="materials"
    ),
    "workshop: materials that do not exist": Case(
        "tess", "POST", "workshops", workshop(materials="no-such-folder"), field="materials"
    ),
    "workshop: title 10 kB": Case(
        "tess", "POST", "workshops", workshop(title=TEN_KB), field="title"
    ),
    "workshop: title with NUL": Case(
        "tess", "POST", "workshops", workshop(title=NUL), field="title"
    ),
    "workshop: by a researcher": Case("alice", "POST", "workshops", workshop(), status=403),
    "workshop: extend to no time": Case(
        "tess", "POST", "workshops/999999/extend", {"ends_at": "later"}, field="ends_at"
    ),
    "workshop: extend id 2**63": Case(
        "tess", "POST", f"workshops/{BIG}/extend", {"ends_at": in_hours(3)}, status=404
    ),
    "workshop: end id 10**30": Case("tess", "POST", f"workshops/{HUGE}/end", status=404),
    "workshop: restart id 2**63": Case(
        "tess", "POST", f"workshops/{BIG}/participants/a/restart", status=404
    ),
    "workshop: lower hand id 2**63": Case("tess", "DELETE", f"workshops/{BIG}/hands/a", status=404),
    "workshop: raise a hand outside a workshop": Case(
        "bob", "POST", "workshops/mine/hand", status=404
    ),
    # usage periods and scopes
    "billing: the last day there is": Case(
        "sam", "GET", "usage/billing?from=9999-12-31&to=9999-12-31", field="from"
    ),
    "billing: day one": Case(
        "sam", "GET", "usage/billing?from=0001-01-01&to=0001-01-02", field="from"
    ),
    "billing: from with shell": Case("sam", "GET", "usage/billing?from=%24(id)", field="from"),
    "billing: from 10 kB": Case("sam", "GET", f"usage/billing?from={TEN_KB}", field="from"),
    "billing: to before from": Case(
        "sam", "GET", "usage/billing?from=2026-11-02&to=2026-11-01", field="to"
    ),
    "billing: a period of 11 years": Case(
        "sam", "GET", "usage/billing?from=2015-01-01&to=2026-01-01", field="from"
    ),
    "billing csv: to in the year 9999": Case(
        "sam", "GET", "usage/billing.csv?from=2026-01-01&to=9999-12-31", field="to"
    ),
    "funder: from not a date": Case("sam", "GET", "usage/funder?from=yesterday", field="from"),
    "billing: by a researcher": Case("bob", "GET", "usage/billing", status=403),
    "usage: everyone's by a researcher": Case("bob", "GET", "usage?all=1", status=403, field="all"),
    "usage: someone else's project": Case("bob", "GET", "usage/projects/{project}", status=404),
    "collect: by a researcher": Case("bob", "POST", "usage/collect", status=403),
    # reports after the grant (the project owes a final report: made by the world's first read)
    **REPORTS,
    "report: an id past 64 bits": Case(
        "carol", "PUT", f"projects/{{project}}/reports/{BIG}", report_body(), status=404
    ),
    "reports: an unknown state": Case("sam", "GET", "reports?status=lost", field="status"),
    "reports: everyone's by a researcher": Case("bob", "GET", "reports", status=403),
    # sessions (staff stop)
    **{
        f"stop session: user {name!r}": Case(
            "sam", "DELETE", f"sessions/{name}", says="not a valid user name"
        )
        for name in ("bob%40example.org", "%24(id)", "-rf", "b%C3%B6b", "x" * 300, "%00")
    },
}


@pytest.mark.hardening(
    "bad input",
    "a REST request with a bad field, a foreign object or an id past 64 bits",
    "refused (400 naming the field, 403 or 404); store, Slurm associations unchanged",
)
@pytest.mark.parametrize("name", list(CASES))
def test_bad_rest_input_is_refused_and_changes_nothing(hub, store, world, name):
    refused(hub, store, CASES[name], world)


@pytest.mark.hardening(
    "bad input",
    "Unicode text (right-to-left override, emoji, combining marks) in a draft",
    "kept exactly as sent and given back as sent",
)
def test_unicode_text_is_kept_exactly(hub, world):
    title = f"{RTL} {EMOJI} e\u0301te\u0301"
    edited = ok(api(hub, "PUT", f"proposals/{world['draft']}", "bob",
                    json=fill(proposal(title=title), world)))  # fmt: skip
    assert edited["title"] == title
    assert ok(api(hub, "GET", f"proposals/{world['draft']}", "bob"))["title"] == title


# --- the spawn form's options (POST /hub/api/users/{name}/server) -----------------------------

SPAWN: dict[str, tuple[Any, str]] = {
    "cpus a list": ({"cpus": [1]}, "cpus: must be a whole number"),
    "cpus 2.5": ({"cpus": 2.5}, "cpus: must be a whole number"),
    "cpus true": ({"cpus": True}, "cpus: must be a whole number"),
    "cpus negative": ({"cpus": -1}, "cpus: -1 is outside"),
    "cpus zero": ({"cpus": 0}, "cpus: 0 is outside"),
    "cpus 2**63": ({"cpus": BIG}, f"cpus: {BIG} is outside"),
    "cpus 10 kB of digits": ({"cpus": "1" * 10_240}, "cpus: must be a whole number"),
    "memory 1e308": ({"memory_gb": 1e308}, "memory_gb: must be a whole number"),
    "gpus 2**63 on gpu": ({"partition": "gpu", "gpus": BIG}, f"gpus: {BIG} is outside"),
    "gpus 0 on gpu": ({"partition": "gpu", "gpus": 0}, "gpus: 0 is outside"),
    "walltime 1e308": ({"walltime_hours": 1e308}, "walltime_hours"),
    "walltime negative": ({"walltime_hours": -1}, "walltime_hours"),
    "walltime zero": ({"walltime_hours": 0}, "walltime_hours"),
    "walltime with shell": ({"walltime_hours": "1; id"}, "walltime_hours: must be a number"),
    "walltime a dict": ({"walltime_hours": {"h": 1}}, "walltime_hours: must be a number"),
    "unknown partition": ({"partition": "bigmem"}, "partition: bigmem is not available"),
    **{f"partition {shell!r}": ({"partition": f"cpu{shell}"}, "partition:") for shell in SHELL},
    "project a number": ({"project": 42}, "project: must be a string"),
    "project 10 kB": ({"project": TEN_KB}, "project:"),
    "project right-to-left": ({"project": RTL}, "project:"),
    "project emoji": ({"project": EMOJI}, "project:"),
    "project with NUL": ({"project": NUL}, "project:"),
    "another user's playground": ({"project": "pg-dave"}, "project: pg-dave is not available"),
    "a project that does not exist": ({"project": "ai-gamma"}, "project: ai-gamma"),
    "option named with a newline": ({"cpus\n#SBATCH --exclusive": 1}, "unknown option"),
    "body a list": ([{"project": "ai-alpha"}], "must be a JSON object"),
}


def hub_options(hub, user: str) -> Any:
    """What the hub keeps of the user's last accepted options (its admin view)."""
    model = hub.api("GET", f"/users/{user}", "ada").json()
    return {k: model.get(k) for k in ("servers", "pending")}


@pytest.mark.hardening(
    "bad input",
    "spawn options over REST: wrong types, out-of-range, shell text, odd Unicode, foreign project",
    "400 naming the option; no Slurm job, no server",
)
@pytest.mark.parametrize("name", list(SPAWN))
def test_bad_spawn_options_are_refused_and_submit_nothing(hub, name):
    options, message = SPAWN[name]
    user = "alice"
    before_jobs, before_hub = session_job_ids(user), hub_options(hub, user)
    resp = hub.api("POST", f"/users/{user}/server", user, json=options)
    assert resp.status_code == 400, resp.text
    assert message in resp.json()["message"], resp.text
    # Finished jobs age out of squeue meanwhile (MinJobAge): only a new id is a failure.
    assert session_job_ids(user) - before_jobs == set()
    assert not hub.server(user) and hub_options(hub, user) == before_hub


@pytest.mark.hardening(
    "bad input",
    "a spawn request whose body is not JSON",
    "400; no Slurm job, no server",
)
def test_a_spawn_body_that_is_not_json_is_refused(hub):
    before = session_job_ids("alice")
    resp = requests.post(
        f"{hub.url}/hub/api/users/alice/server",
        headers={"Authorization": f"token {hub.token('alice')}"},
        data=b'{"project": "ai-alpha",',
        timeout=60,
    )
    assert resp.status_code == 400, resp.text
    assert "json" in json.dumps(resp.json()).lower()
    assert session_job_ids("alice") - before == set() and not hub.server("alice")
