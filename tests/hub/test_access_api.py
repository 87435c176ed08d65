"""The access workflow on the real hub, real store and real Slurm: a Large Scale call (a
review mode), two proposals through the ethics gate, staff's technical check and peer review,
a ranked decision against capacity once their cut-off has passed, priced projects provisioned
into Slurm, members added by the PI, and the RBAC around all of it.

The cut-off is brought forward to yesterday in the test hub's store (`pass_cutoff`): the next
real one may be two weeks away. The hours are Large Scale's (over 50,000 GPU-hours): Slurm
limits, which the demo's small nodes need not be able to deliver."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
import requests

from aifactory_hub.policy.clocks import add_months
from aifactory_hub.slurm import SlurmError
from tests.access import ETHICS, LARGE, api, draft, ok, pass_cutoff
from tests.stack import session_jobs, sh, submit, wait_no_jobs

pytestmark = [pytest.mark.slurm, pytest.mark.hub]


def assoc(account: str) -> str:
    return sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={account}",
              "format=User,Partition,GrpTRESMins")  # fmt: skip


@pytest.fixture(scope="module")
def call(hub) -> dict:
    body = {
        "mode": "large_scale",
        "title": f"Large scale {uuid.uuid4().hex[:6]}",
        "capacity": {"gpu": {"gpu_hours": 1.5 * LARGE, "cpu_hours": 1000}},
    }
    return ok(api(hub, "POST", "calls", "sam", json=body), 201)


@pytest.fixture(scope="module")
def decided(hub, hub_site, call) -> dict:
    """alice's and carol's proposals through checks, review, their cut-off and the decision."""
    site, _ = hub_site
    body = draft(call["id"], "Alpha vision", "Alpha Robotics", LARGE)
    alice = ok(api(hub, "POST", "proposals", "alice", json=body), 201)
    carol = ok(api(hub, "POST", "proposals", "carol", json=draft(
        call["id"], "Beta notes", "University of Ljubljana", LARGE,
        applicant_type="industry", open_results=False)), 201)  # fmt: skip
    for p, user in ((alice, "alice"), (carol, "carol")):
        assert ok(api(hub, "POST", f"proposals/{p['id']}/submit", user))["status"] == "in_review"
        ok(api(hub, "POST", f"proposals/{p['id']}/technical-check", "sam",
               json={"feasible": True, "notes": "fits"}))  # fmt: skip
    # rita is from the University of Ljubljana, like carol's proposal
    conflict = api(hub, "POST", f"proposals/{carol['id']}/reviewers", "sam",
                   json={"reviewer": "rita"})  # fmt: skip
    scores = [(alice["id"], "rita", 5, 5), (alice["id"], "rob", 4, 4),
              (carol["id"], "ada", 3, 4), (carol["id"], "rob", 3, 3)]  # fmt: skip
    for pid, reviewer, q, r in scores:
        ok(api(hub, "POST", f"proposals/{pid}/reviewers", "sam", json={"reviewer": reviewer}))
        ok(api(hub, "PUT", f"proposals/{pid}/review", reviewer,
               json={"quality": q, "pertinence": r, "comment": "ok"}))  # fmt: skip
    pass_cutoff(site, [alice["id"], carol["id"]])
    preview = ok(api(hub, "GET", f"calls/{call['id']}/ranking", "sam"))
    result = ok(api(hub, "POST", f"calls/{call['id']}/decide", "sam"))
    return {"alice": alice["id"], "carol": carol["id"], "preview": preview, "result": result,
            "conflict": conflict}  # fmt: skip


def test_first_login_gives_a_new_researcher_a_playground(hub):
    hub.login("dave")
    (project,) = ok(api(hub, "GET", "projects", "dave"))
    assert project["account"] == "pg-dave" and project["access_mode"] == "playground"
    assert project["status"] == "active" and not project["charged"]
    assert {(a["partition"], a["gpu_hours"], a["cpu_hours"]) for a in project["allocations"]} == {
        ("cpu", 0.0, 100.0),
        ("gpu", 10.0, 0.0),
    }
    assert "cpu=6000,gres/gpu=600" in assoc("pg-dave")
    # staff get no playground; a second login creates nothing new
    hub.login("sam")
    assert [p for p in ok(api(hub, "GET", "projects", "sam")) if p["pi"] == "sam"] == []
    hub.login("dave")
    assert [p["account"] for p in ok(api(hub, "GET", "projects", "dave"))] == ["pg-dave"]


def test_the_playground_is_in_the_spawn_form_and_charged_by_slurm(hub):
    resp = hub.api("POST", "/users/dave/server", "dave", json={"project": "pg-dave"})
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("dave")
    (job,) = session_jobs("dave")
    assert job["account"] == "pg-dave"
    hub.stop("dave")
    wait_no_jobs("dave")


def test_checks_as_you_type_and_a_refused_submission_changes_nothing(hub, call):
    incomplete = {"call_id": call["id"], "title": "x", "requests": []}
    checked = ok(api(hub, "POST", "proposals/check", "bob", json=incomplete))
    assert not checked["eligible"]
    fields = {f["field"] for f in checked["findings"]}
    assert {"title", "abstract", "requests", "ethics"} <= fields
    proposal = ok(api(hub, "POST", "proposals", "bob", json=incomplete), 201)
    refused = api(hub, "POST", f"proposals/{proposal['id']}/submit", "bob")
    assert refused.status_code == 400 and refused.json()["field"]
    assert ok(api(hub, "GET", f"proposals/{proposal['id']}", "bob"))["status"] == "draft"


def test_a_prohibited_practice_is_ineligible_with_the_reason(hub, call):
    ethics = {**ETHICS, "prohibited_practices": ["social_scoring"]}
    body = draft(call["id"], "Citizen scores", "Bob Labs", LARGE, ethics=ethics)
    proposal = ok(api(hub, "POST", "proposals", "bob", json=body), 201)
    result = ok(api(hub, "POST", f"proposals/{proposal['id']}/submit", "bob"))
    assert result["status"] == "ineligible"
    reason = result["eligibility"]["ineligible_reason"]
    assert "Only trustworthy and ethical AI in line with EU values is eligible." in reason


def test_bad_bodies_and_unknown_fields_are_refused_with_the_field(hub, call):
    cases = [
        ({**draft(call["id"], "t" * 10, "o", 1), "cmd": "rm -rf /"}, "cmd"),
        (draft(call["id"], "t" * 10, "o", -5), "requests.0.gpu_hours"),
        ({**draft(call["id"], "t" * 10, "o", 1), "title": "x" * 10_000}, "title"),
        ({**draft(call["id"], "t" * 10, "o", 1), "applicant_type": "pirate"}, "applicant_type"),
    ]
    before = len(ok(api(hub, "GET", "proposals", "bob")))
    for body, field in cases:
        resp = api(hub, "POST", "proposals", "bob", json=body)
        assert resp.status_code == 400 and resp.json()["field"] == field, resp.text
    assert api(hub, "POST", "proposals", "bob", data="{not json").status_code == 400
    assert len(ok(api(hub, "GET", "proposals", "bob"))) == before


def test_people_see_only_their_own(hub, decided):
    alice_id = decided["alice"]
    assert api(hub, "GET", f"proposals/{alice_id}", "bob").status_code == 404
    assert {p["applicant"] for p in ok(api(hub, "GET", "proposals", "alice"))} == {"alice"}
    assert api(hub, "GET", f"calls/{1}/ranking", "alice").status_code == 403
    assert api(hub, "POST", f"proposals/{alice_id}/reviewers", "rita",
               json={"reviewer": "rob"}).status_code == 403  # fmt: skip
    # a reviewer sees what they review, and only their own review
    seen = ok(api(hub, "GET", f"proposals/{alice_id}", "rita"))
    assert [r["reviewer"] for r in seen["reviews"]] == ["rita"]
    assert api(hub, "GET", f"proposals/{decided['carol']}", "rita").status_code == 404
    # the applicant sees scores, never who gave them
    own = ok(api(hub, "GET", f"proposals/{alice_id}", "alice"))
    assert own["reviews"] and all("reviewer" not in r for r in own["reviews"])
    assert api(hub, "GET", "projects", None).status_code == 401


def test_conflict_of_interest_is_refused(hub, decided):
    resp = decided["conflict"]
    assert resp.status_code == 409 and "conflict of interest" in resp.json()["message"]
    carol = ok(api(hub, "GET", f"proposals/{decided['carol']}", "sam"))
    assert "rita" not in {r["reviewer"] for r in carol["reviews"]}


def test_ranked_decision_against_capacity_with_a_partial_grant(hub, call, decided):
    rows = {r["proposal_id"]: r for r in decided["result"]["rows"]}
    alice, carol = rows[decided["alice"]], rows[decided["carol"]]
    assert (alice["rank"], alice["score"], alice["status"]) == (1, 4.5, "granted")
    assert (carol["rank"], carol["score"], carol["status"]) == (2, 3.25, "partial")
    assert carol["fraction"] == 0.5 and carol["granted"][0]["gpu_hours"] == LARGE / 2
    assert decided["preview"]["rows"] == decided["result"]["rows"]  # the preview was honest
    assert decided["result"]["call"]["remaining"]["gpu"]["gpu_hours"] == 0
    again = api(hub, "POST", f"calls/{call['id']}/decide", "sam")
    assert again.status_code == 409


def test_grants_are_priced_and_provisioned_into_slurm(hub, decided):
    # Large Scale's terms: free for a start-up (no obligation); industry without open results
    # or an academic partner pays at the site's rates
    alice = ok(api(hub, "GET", f"proposals/{decided['alice']}", "alice"))
    assert alice["price"]["charged"] is False and alice["price"]["obligation"] == ""
    carol = ok(api(hub, "GET", f"proposals/{decided['carol']}", "carol"))
    assert carol["price"]["charged"] is True
    project = ok(api(hub, "GET", f"projects/{alice['project']}", "alice"))
    assert project["status"] == "active" and project["provisioned_at"]
    # the allocation lasts the 3 months the draft chose (one Large Scale allows)
    assert project["ends_on"] == add_months(date.fromisoformat(project["starts_on"]), 3).isoformat()
    assert all(step["status"] == "done" for step in project["provisioning"])
    assert f"gres/gpu={LARGE * 60}" in assoc(alice["project"])  # GPU-hours in minutes
    partial = ok(api(hub, "GET", f"projects/{carol['project']}", "carol"))
    assert partial["allocations"][0]["gpu_hours"] == LARGE / 2
    assert api(hub, "POST", f"projects/{alice['project']}/reprice", "sam").status_code == 409


def test_the_pi_adds_and_removes_a_member_and_slurm_follows(hub, decided):
    account = ok(api(hub, "GET", f"proposals/{decided['alice']}", "alice"))["project"]
    assert (
        api(
            hub, "POST", f"projects/{account}/members", "bob", json={"username": "carol"}
        ).status_code
        == 404
    )  # not even visible to bob
    assert api(hub, "POST", f"projects/{account}/members", "alice",
               json={"username": "nosuchuser"}).status_code == 400  # fmt: skip
    project = ok(api(hub, "POST", f"projects/{account}/members", "alice",
                     json={"username": "bob"}))  # fmt: skip
    assert {m["username"] for m in project["members"]} == {"alice", "bob"}
    job = submit("bob", f"--account={account}", "--partition=gpu", "--gres=gpu:1", "--time=1",
                 "--wrap=true")  # fmt: skip
    sh("scancel", str(job))
    # bob's spawn form now offers the project
    resp = hub.api(
        "POST", "/users/bob/server", "bob", json={"project": account, "partition": "gpu"}
    )
    assert resp.status_code in (201, 202), resp.text
    hub.wait_ready("bob")
    assert session_jobs("bob")[0]["account"] == account
    hub.stop("bob")
    wait_no_jobs("bob")

    project = ok(api(hub, "DELETE", f"projects/{account}/members/bob", "alice"))
    assert {m["username"] for m in project["members"]} == {"alice"}
    with pytest.raises(SlurmError, match="Invalid account or account/partition combination"):
        submit("bob", f"--account={account}", "--partition=gpu", "--time=1", "--wrap=true")
    assert api(hub, "DELETE", f"projects/{account}/members/alice", "alice").status_code == 409


def test_the_openapi_description_names_every_route(hub):
    spec = requests.get(f"{hub.url}/services/factory/api/openapi.json", timeout=30).json()
    assert spec["openapi"].startswith("3.")
    assert {"/calls", "/proposals/{id}/submit", "/projects/{account}/members/{name}"} <= set(
        spec["paths"]
    )
    body = spec["paths"]["/proposals"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["additionalProperties"] is False
