"""Fill a new factory with a working demo, through the factory's own API, as its users.

`up` calls `seed` once the hub answers. Every user the demo acts as logs in through the hub's
login form with their demo password and makes a short-lived token of their own (deleted at
the end): the factory service then authorises alice as alice and sam as support staff, so
everything is made by the same requests the widgets and the console send, never by writing
to the store. Jobs are submitted with sbatch as the member, the way the hub submits sessions
(`slurm.run` with `run_as`); the factory has no job submission API.

Each step ensures its part (`ops.demo_plan` says what is still missing): a second run makes
nothing new, and one that failed half-way is finished by the next. A step that fails is
reported by name and the others still run where they can; the demo is never worth failing
`up` for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import requests

from aifactory_hub import slurm
from aifactory_hub.ops import demo_plan as plan
from aifactory_hub.ops.demo_plan import DEMO, DemoPlan, Seen
from aifactory_hub.site import Site
from aifactory_hub.slurm import RunAs
from aifactory_hub.slurm.jobs import (
    SACCT_ENV,
    named_jobs_argv,
    parse_job_comments,
    parse_recent_jobs,
    parse_sbatch,
    recent_jobs_argv,
    sbatch_argv,
)

TOKEN_NOTE = "aifactory up: demo"  # noqa: S105 - a label, not a secret
TOKEN_SECONDS = 900


class DemoError(RuntimeError):
    """A request of the demo was refused or could not be made; says which and why."""


class FactoryClient:
    """The hub and its factory service, as the demo users (each with their own token)."""

    def __init__(self, hub_url: str, passwords: Mapping[str, str], timeout: float = 120):
        self.url = hub_url.rstrip("/")
        self.passwords = passwords
        self.timeout = timeout
        self._tokens: dict[str, tuple[str, str]] = {}  # user -> (token, token id)

    def token(self, user: str) -> str:
        """The user's own token: log in through the form, then ask the hub for a token."""
        if user in self._tokens:
            return self._tokens[user][0]
        if user not in self.passwords:
            raise DemoError(f"no demo password for {user} (is {user} in the demo passwords?)")
        s = requests.Session()
        page = s.get(f"{self.url}/hub/login", timeout=self.timeout)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text)
        resp = s.post(
            f"{self.url}/hub/login?next=",
            data={
                "username": user,
                "password": self.passwords[user],
                "_xsrf": xsrf.group(1) if xsrf else "",
            },
            allow_redirects=False,
            timeout=self.timeout,
        )
        if resp.status_code != 302:
            raise DemoError(f"{user} could not log in to the hub ({resp.status_code})")
        s.headers["X-XSRFToken"] = s.cookies.get("_xsrf", xsrf.group(1) if xsrf else "")
        resp = s.post(
            f"{self.url}/hub/api/users/{user}/tokens",
            json={"note": TOKEN_NOTE, "expires_in": TOKEN_SECONDS},
            timeout=self.timeout,
        )
        if resp.status_code != 201:
            raise DemoError(f"the hub made no token for {user}: {resp.status_code} {resp.text}")
        answer = resp.json()
        self._tokens[user] = (answer["token"], answer["id"])
        return answer["token"]

    def call(self, user: str, method: str, path: str, body: Any = None) -> Any:
        """One factory API request as `user`; DemoError with the service's message if refused."""
        resp = requests.request(
            method,
            f"{self.url}/services/factory/api/{path}",
            headers={"Authorization": f"token {self.token(user)}"},
            json=body,
            timeout=self.timeout,
        )
        if resp.status_code >= 300:
            try:
                detail = resp.json().get("message", resp.text)
            except ValueError:
                detail = resp.text[:200]
            raise DemoError(f"{method} {path} as {user}: {resp.status_code} {detail}")
        return resp.json()

    def wait_for_factory(self, user: str, timeout: float = 120) -> dict[str, Any]:
        """The site facts, once the factory service answers (it starts with the hub)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.call(user, "GET", "site")
            except (DemoError, requests.RequestException) as exc:
                if time.monotonic() > deadline:
                    raise DemoError(f"the factory service did not answer: {exc}") from exc
                time.sleep(2)

    def close(self) -> None:
        """Delete the tokens made for the demo (they would expire anyway)."""
        for user, (token, token_id) in self._tokens.items():
            try:
                requests.delete(
                    f"{self.url}/hub/api/users/{user}/tokens/{token_id}",
                    headers={"Authorization": f"token {token}"},
                    timeout=self.timeout,
                )
            except requests.RequestException:
                pass  # it expires after TOKEN_SECONDS
        self._tokens.clear()


@dataclass
class Outcome:
    """What a demo run saw and which steps failed (step name -> why)."""

    seen: Seen = field(default_factory=Seen)
    problems: dict[str, str] = field(default_factory=dict)

    def lines(self, demo: DemoPlan = DEMO) -> list[str]:
        lines = plan.summary(self.seen, demo)
        for step, why in self.problems.items():
            lines.append(f"! demo step '{step}' failed: {why}")
        if self.problems:
            lines.append("! run `up` again to finish the demo (it makes only what is missing)")
        return lines


class Demo:
    """One run of the demo's ensure steps against one factory."""

    def __init__(
        self,
        client: FactoryClient,
        demo: DemoPlan = DEMO,
        today: Callable[[], date] = date.today,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ):
        self.client = client
        self.demo = demo
        self.today = today
        self.now = now
        self.calls: dict[str, dict[str, Any]] = {}  # CallSpec.key -> call
        self.outcome = Outcome()

    # --- steps -------------------------------------------------------------------------------

    def ensure_calls(self) -> None:
        staff = self.demo.staff
        existing = {c["title"]: c for c in self.client.call(staff, "GET", "calls")}
        for spec in self.demo.calls:
            call = existing.get(spec.title)
            if call is None:
                call = self.client.call(staff, "POST", "calls", spec.body())
            self.calls[spec.key] = call

    def _proposals(self) -> list[dict[str, Any]]:
        return self.client.call(self.demo.staff, "GET", "proposals")

    def ensure_proposals(self) -> None:
        """Each request to its stage, in the plan's order (first-come grants before the one
        the call's remaining capacity will not cover)."""
        for spec in self.demo.proposals:
            call_id = self.calls[spec.call]["id"]
            proposal = plan.find_proposal(self._proposals(), spec, call_id)
            for step in plan.proposal_steps(spec, proposal):
                proposal = self._do(spec, step, call_id, proposal)

    def _do(
        self, spec: plan.ProposalSpec, step: plan.Step, call_id: int, proposal: Any
    ) -> dict[str, Any]:
        c, staff = self.client, self.demo.staff
        if step[0] == "create":
            return c.call(spec.applicant, "POST", "proposals", spec.draft(call_id))
        path = f"proposals/{proposal['id']}"
        if step[0] == "submit":
            return c.call(spec.applicant, "POST", f"{path}/submit")
        if step[0] == "check":
            note = {"feasible": True, "notes": "fits the partitions it names"}
            return c.call(staff, "POST", f"{path}/technical-check", note)
        if step[0] == "assign":
            return c.call(staff, "POST", f"{path}/reviewers", {"reviewer": step[1]})
        if step[0] == "review":
            mark = int(step[2])
            score = {"quality": mark, "pertinence": mark, "comment": "A clear, feasible plan."}
            return c.call(step[1], "PUT", f"{path}/review", score)
        raise AssertionError(f"unknown step {step}")  # pragma: no cover

    def _granted(self) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
        """ProposalSpec.key -> (its proposal, its project), as staff see them, for the
        demo's grants."""
        proposals = self._proposals()
        projects = {p["account"]: p for p in self.client.call(self.demo.staff, "GET", "projects")}
        found = {}
        for spec in self.demo.proposals:
            proposal = plan.find_proposal(proposals, spec, self.calls[spec.call]["id"])
            if proposal and proposal.get("project") in projects:
                found[spec.key] = (proposal, projects[proposal["project"]])
        return found

    def ensure_members(self) -> None:
        """The PI adds the demo's members; a project left pending is provisioned again."""
        by_key = {s.key: s for s in self.demo.proposals}
        for key, (_, project) in self._granted().items():
            spec, account = by_key[key], project["account"]
            for name in plan.missing_members(spec, project):
                project = self.client.call(
                    spec.applicant, "POST", f"projects/{account}/members", {"username": name}
                )
            if project["status"] == "pending":
                project = self.client.call(self.demo.staff, "POST", f"projects/{account}/provision")
            if project["status"] != "active":
                failed = [s for s in project["provisioning"] if s["status"] != "done"]
                raise DemoError(f"{account} is {project['status']} in Slurm: {failed[:1]}")

    def ensure_round(self) -> None:
        """Staff decide the Large Scale round once a proposal's cut-off has come."""
        for spec in self.demo.calls:
            call = self.calls[spec.key]
            if call["status"] == "decided" or not any(
                p.call == spec.key and p.stage == "round" for p in self.demo.proposals
            ):
                continue
            mine = [p for p in self._proposals() if p["call_id"] == call["id"]]
            if plan.round_due(mine, self.today()):
                self.client.call(self.demo.staff, "POST", f"calls/{call['id']}/decide")

    def ensure_jobs(self) -> None:
        """Each member's short job, charged to the grant, unless they have one there already.
        A job counts only from the grant's decision on: a Slurm account of the same name left
        by an earlier store (prj-<id> restarts at 1 with a new store) is not this project."""
        granted = self._granted()
        for spec in self.demo.jobs:
            proposal, project = granted.get(spec.project, (None, None))
            if project is None or project["status"] != "active":
                raise DemoError(f"no active project for {spec.user}'s job ({spec.project})")
            account = project["account"]
            who = RunAs.lookup(spec.user)
            since = plan.sacct_time(proposal["decided_at"])
            recent = slurm.run(recent_jobs_argv(spec.user, since), env=SACCT_ENV).stdout
            queued = slurm.run(named_jobs_argv(spec.user, plan.JOB_NAME)).stdout
            queued_ids = [job for job, _ in parse_job_comments(queued)]
            if plan.has_demo_job(parse_recent_jobs(recent), queued_ids, account):
                continue
            argv = [*sbatch_argv(), *plan.job_options(spec, account, who.home)]
            out = slurm.run(argv, input=plan.job_script(), run_as=who).stdout
            job = parse_sbatch(out)
            if not job:
                raise DemoError(f"sbatch printed no job id for {spec.user}: {out.strip()!r}")
            self.outcome.seen.jobs.setdefault(account, []).append(job)

    def ensure_ticket(self) -> None:
        t = self.demo.ticket
        mine = [x for x in self.client.call(t.user, "GET", "tickets") if x["subject"] == t.subject]
        ticket = min(mine, key=lambda x: x["id"]) if mine else None
        if ticket is None:
            body = {"topic": t.topic, "subject": t.subject, "body": t.body}
            ticket = self.client.call(t.user, "POST", "tickets", body)
        if ticket["first_reply_at"] is None:
            path = f"tickets/{ticket['id']}/messages"
            ticket = self.client.call(t.staff, "POST", path, {"body": t.reply})
        self.outcome.seen.ticket = ticket

    def ensure_workshop(self) -> None:
        w = self.demo.workshop
        workshop = plan.planned_workshop(self.client.call(w.trainer, "GET", "workshops"), w)
        if workshop is None:
            starts, ends = plan.workshop_window(w, self.now())
            body = {
                "title": w.title,
                "starts_at": starts.isoformat(),
                "ends_at": ends.isoformat(),
                "participants": w.participants,
                "partition": w.partition,
                "cpus": 1,
                "memory_gb": 1,
                "gpus": 0,
                "materials": w.materials,
            }
            workshop = self.client.call(w.trainer, "POST", "workshops", body)["workshop"]
        self.outcome.seen.workshop = workshop

    # --- the run ------------------------------------------------------------------------------

    STEPS = (
        ("calls", "ensure_calls", ()),
        ("requests", "ensure_proposals", ("calls",)),
        ("decision round", "ensure_round", ("calls", "requests")),
        ("members", "ensure_members", ("calls", "requests")),
        ("jobs", "ensure_jobs", ("calls", "requests", "members")),
        ("ticket", "ensure_ticket", ()),
        ("workshop", "ensure_workshop", ()),
    )

    def run(self) -> Outcome:
        """Every step in order; one that fails is recorded and the ones that need it skipped."""
        problems = self.outcome.problems
        try:
            self.client.wait_for_factory(self.demo.staff)
        except (DemoError, requests.RequestException) as exc:
            problems["factory service"] = str(exc)
            return self.outcome
        for name, method, needs in self.STEPS:
            blocked = [n for n in needs if n in problems]
            if blocked:
                problems[name] = f"skipped: needs {', '.join(blocked)}"
                continue
            try:
                getattr(self, method)()
            except (DemoError, requests.RequestException, slurm.SlurmError, KeyError) as exc:
                problems[name] = str(exc) or type(exc).__name__
        self._look()
        return self.outcome

    def _look(self) -> None:
        """What exists now, for the summary (best effort: a failing read leaves it out)."""
        seen, staff = self.outcome.seen, self.demo.staff
        try:
            seen.calls = self.client.call(staff, "GET", "calls")
            seen.proposals = self._proposals()
            seen.projects = self.client.call(staff, "GET", "projects")
            collector = self.client.call(staff, "GET", "usage").get("collector") or {}
            seen.collector_interval_s = float(collector.get("interval_s") or 60)
        except (DemoError, requests.RequestException) as exc:
            self.outcome.problems.setdefault("summary", str(exc))


def seed(site: Site, passwords: Mapping[str, str], demo: DemoPlan = DEMO) -> Outcome:
    """Make (or complete) the demo on the factory behind `site`'s hub; never raises for a
    refused request: the outcome names the step."""
    client = FactoryClient(site.hub.bind_url, passwords)
    try:
        return Demo(client, demo).run()
    finally:
        client.close()
