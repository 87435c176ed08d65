"""Real stack: `up`'s demo (ops.demo) on a hub of its own, run twice.

The session's test hub is not used: its store is shared by every hub test, and others assert
exact project lists for the demo users. This module starts its own hub on port 18100 with a
fresh state folder, seeds it twice through the real API as the demo users, and checks through
the API, Slurm's accounting and sacctmgr that every stage is there exactly once, the grants are
in Slurm with their members, the jobs ran and were charged, and nothing was duplicated.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date

import pytest

from aifactory_hub import slurm
from aifactory_hub.ops import cli
from aifactory_hub.ops import demo as demo_mod
from aifactory_hub.ops.demo_plan import DEMO, JOB_NAME
from aifactory_hub.site import load_site
from tests.stack import demo_site_on_port, sh

PORT = 18100


@pytest.fixture(scope="module")
def seeded(tmp_path_factory, demo_accounts) -> Iterator[dict]:
    """A fresh hub seeded twice; its API client (as the demo users) and both outcomes."""
    state = tmp_path_factory.mktemp("demo-hub")
    path = state / "site.toml"
    path.write_text(demo_site_on_port(PORT, state))
    site = load_site(path)
    cli.start_hub(site, str(path))
    client = demo_mod.FactoryClient(site.hub.bind_url, demo_accounts)
    first = second = None
    try:
        first = demo_mod.seed(site, demo_accounts)
        second = demo_mod.seed(site, demo_accounts)
        yield {"site": site, "api": client, "first": first, "second": second}
    finally:
        submitted = [j for o in (first, second) if o for ids in o.seen.jobs.values() for j in ids]
        for job in submitted:
            slurm.run(["scancel", job], check=False)
        try:  # the workshop's reservation and participant accounts go with it
            for ws in client.call("tess", "GET", "workshops"):
                if ws["status"] != "ended":
                    client.call("tess", "POST", f"workshops/{ws['id']}/end")
        finally:
            client.close()
            cli.stop_hub(site)


def ours(proposals: list[dict]) -> dict[str, list[dict]]:
    """The demo's requests by plan key (a list, to see duplicates)."""
    found: dict[str, list[dict]] = {s.key: [] for s in DEMO.proposals}
    for s in DEMO.proposals:
        found[s.key] = [
            p for p in proposals if (p["applicant"], p["title"]) == (s.applicant, s.title)
        ]
    return found


def test_both_runs_succeed_and_the_second_makes_nothing(seeded):
    first, second = seeded["first"], seeded["second"]
    assert first.problems == {}, first.lines()
    assert second.problems == {}, second.lines()
    assert sum(len(ids) for ids in first.seen.jobs.values()) == len(DEMO.jobs)
    assert second.seen.jobs == {}, "the second run submitted jobs again"
    assert first.seen.ticket["id"] == second.seen.ticket["id"]
    assert first.seen.workshop["id"] == second.seen.workshop["id"]
    lines = "\n".join(second.lines())
    assert "Demo factory" in lines and "none added" in lines


def test_each_stage_is_there_exactly_once(seeded):
    api = seeded["api"]
    calls = api.call("sam", "GET", "calls")
    for spec in DEMO.calls:
        assert [c["mode"] for c in calls if c["title"] == spec.title] == [spec.mode]
    found = ours(api.call("sam", "GET", "proposals"))
    assert {k: len(v) for k, v in found.items()} == {s.key: 1 for s in DEMO.proposals}
    by_key = {k: v[0] for k, v in found.items()}
    assert by_key["summaries"]["status"] == "draft"
    folding = by_key["folding"]
    assert folding["status"] == "in_review" and folding["technical_check"]["feasible"] is None
    assert folding["waiting_ahead"] == 0  # the first-come queue: nothing older waits
    for key in ("vision", "clinical"):
        assert by_key[key]["status"] == "granted" and by_key[key]["project"]
    speech = by_key["speech"]
    assert speech["status"] == "waitlisted" and "capacity" in speech["decision"]["reason"]
    review = by_key["clinical-fm"]
    assert review["status"] == "in_review"
    assert [(r["reviewer"], r["submitted"]) for r in review["reviews"]] == [("rita", False)]
    today = date.today().isoformat()
    for key in ("manipulation", "nowcasting"):
        p = by_key[key]
        # Ready for the round, which comes at the cut-off: always after the submission day.
        assert p["status"] == "in_review" and p["cutoff_on"] > today
        assert sorted(r["reviewer"] for r in p["reviews"] if r["submitted"]) == ["rita", "rob"]
    ranking = api.call("sam", "GET", f"calls/{by_key['manipulation']['call_id']}/ranking")
    waiting = {r["proposal_id"]: r for r in ranking["rows"]}
    assert "cut-off" in waiting[by_key["manipulation"]["id"]]["why_not"]


def test_granted_projects_are_in_slurm_with_their_members(seeded):
    api = seeded["api"]
    found = ours(api.call("sam", "GET", "proposals"))
    for spec in DEMO.proposals:
        if spec.stage != "granted":
            continue
        account = found[spec.key][0]["project"]
        project = api.call("sam", "GET", f"projects/{account}")
        members = {m["username"] for m in project["members"]}
        assert project["status"] == "active" and members == {spec.applicant, *spec.members}
        rows = sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={account}",
                  "format=User,Partition")  # fmt: skip
        in_slurm = {tuple(r.split("|")) for r in rows.split() if not r.startswith("|")}
        wanted = {(u, r["partition"]) for u in members for r in spec.requests}
        assert in_slurm == wanted, (account, in_slurm)


def test_the_jobs_ran_charged_to_the_grants_and_usage_shows(seeded):
    api, first = seeded["api"], seeded["first"]
    jobs = {job: account for account, ids in first.seen.jobs.items() for job in ids}
    fields = "JobID,User,Account,JobName,State"
    deadline = time.monotonic() + 240
    while True:
        out = sh("sacct", "-n", "-P", "-X", "-j", ",".join(jobs), f"--format={fields}")
        rows = {r.split("|")[0]: r.split("|") for r in out.split()}
        if len(rows) == len(jobs) and all(r[4] == "COMPLETED" for r in rows.values()):
            break
        assert time.monotonic() < deadline, f"demo jobs not all completed: {rows}"
        time.sleep(3)
    users = {j.user for j in DEMO.jobs}
    assert {r[1] for r in rows.values()} == users
    assert all(
        rows[job][2] == account and rows[job][3] == JOB_NAME for job, account in jobs.items()
    )
    api.call("sam", "POST", "usage/collect")  # what the collector does every minute, now
    for account in set(jobs.values()):
        usage = api.call("sam", "GET", f"usage/projects/{account}")["project"]
        assert usage["used"]["cpu_hours"] > 0, usage
        assert usage["burn_per_day"]["cpu_hours"] > 0
    gpu_users = {j.user for j in DEMO.jobs if j.gpus}
    for account in {r[2] for r in rows.values() if r[1] in gpu_users}:
        usage = api.call("sam", "GET", f"usage/projects/{account}")["project"]
        assert usage["used"]["gpu_hours"] > 0, usage


def test_the_ticket_has_a_reply_and_the_workshop_is_planned(seeded):
    api, t, w = seeded["api"], DEMO.ticket, DEMO.workshop
    tickets = [x for x in api.call(t.user, "GET", "tickets") if x["subject"] == t.subject]
    assert len(tickets) == 1
    ticket = api.call(t.user, "GET", f"tickets/{tickets[0]['id']}")
    assert ticket["status"] == "answered"
    assert [(m["author"], m["staff"]) for m in ticket["messages"]] == [
        (t.user, False),
        (t.staff, True),
    ]
    workshops = [x for x in api.call(w.trainer, "GET", "workshops") if x["title"] == w.title]
    assert [x["status"] for x in workshops] == ["planned"]
    assert workshops[0]["participants"] == w.participants
    assert workshops[0]["starts_at"] > date.today().isoformat()
    reservations = sh("scontrol", "-o", "show", "reservation", workshops[0]["reservation"])
    assert f"ReservationName={workshops[0]['reservation']}" in reservations
