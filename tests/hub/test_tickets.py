"""Ask an expert and the site facts on the real stack: a ticket filed from a real session's
kernel (as the researcher, inside their Slurm job) carries that job's id and a failed batch
job's id, state, exit code and output; who may see and change tickets; the public site facts
a session reads; and the getting-help notebook run in a kernel of the researcher's session."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.access import api, ok
from tests.helpdesk import failed_job, file_ticket, output_of, read_ticket, session
from tests.session_kernel import run_notebook

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def alice(hub):
    with session(hub, "alice", project="ai-alpha", partition="cpu") as (job, env):
        yield job, env


@pytest.fixture(scope="module")
def filed(hub, alice) -> Iterator[dict]:
    job, env = alice
    failed, marker = failed_job("alice", "ai-alpha")
    subject = f"Job fails at once {uuid.uuid4().hex[:6]}"
    report = file_ticket(hub, "alice", env, failed, subject)
    assert report["errors"] == [], report["errors"]
    assert report["sent"].startswith("Sent as ticket #"), report["sent"]
    yield {"session": job, "failed": failed, "marker": marker, "report": report}
    output_of("alice", failed).unlink(missing_ok=True)


def test_a_ticket_from_a_session_carries_the_real_job_ids(hub, filed):
    report = filed["report"]
    ticket = ok(api(hub, "GET", f"tickets/{report['ticket']['id']}", "sam"))
    context = ticket["context"]
    assert (ticket["user"], ticket["project"], ticket["status"]) == ("alice", "ai-alpha", "open")
    assert context["job_id"] == filed["session"]  # the session's own Slurm job
    assert (context["project"], context["partition"]) == ("ai-alpha", "cpu")
    jobs = {j["id"]: j for j in context["jobs"]}
    assert jobs[filed["session"]]["state"] == "RUNNING"
    assert jobs[filed["session"]]["name"] == "jupyterhub-session"
    assert (jobs[filed["failed"]]["state"], jobs[filed["failed"]]["exit_code"]) == ("FAILED", "3:0")
    assert report["auto"] != filed["session"]  # the widget offers a failed job, not the session
    tail = context["output_tail"]
    assert tail["job_id"] == filed["failed"]
    assert tail["path"] == f"/home/alice/ticket-test-{filed['failed']}.out"
    assert tail["text"].splitlines()[-1] == filed["marker"]
    assert context["versions"]["aifactory-hub"] and context["versions"]["python"]
    assert ticket["messages"][0]["body"] == "My job fails at once. What is wrong?"


def test_researchers_see_only_their_tickets_and_cannot_manage_them(hub, filed):
    tid = filed["report"]["ticket"]["id"]
    assert next(t["id"] for t in ok(api(hub, "GET", "tickets", "alice"))) == tid
    assert tid not in [t["id"] for t in ok(api(hub, "GET", "tickets", "bob"))]
    assert api(hub, "GET", f"tickets/{tid}", "bob").status_code == 404
    refused = api(hub, "POST", f"tickets/{tid}/assign", "alice", json={"assignee": "alice"})
    assert refused.status_code == 403 and "tickets:manage" in refused.json()["message"]
    assert ok(api(hub, "GET", "tickets/topics", "alice"))["staff"] == []
    staff = ok(api(hub, "GET", "tickets/topics", "sam"))
    assert "sam" in staff["staff"] and staff["manage"]
    bad = api(
        hub, "POST", "tickets", "alice", json={"topic": "gossip", "subject": "x", "body": "y"}
    )
    assert (bad.status_code, bad.json()["field"]) == (400, "topic")
    assert api(hub, "GET", "tickets", None).status_code == 401


def test_staff_answer_and_the_researcher_sees_it_in_the_widget(hub, alice, filed):
    _, env = alice
    tid = filed["report"]["ticket"]["id"]
    ok(api(hub, "POST", f"tickets/{tid}/assign", "sam", json={"assignee": "sam"}))
    reply = "Exit code 3 comes from your script: it calls exit 3 after printing."
    answered = ok(api(hub, "POST", f"tickets/{tid}/messages", "sam", json={"body": reply}))
    assert answered["status"] == "answered" and answered["first_reply_s"] >= 0
    seen = read_ticket(hub, "alice", env, tid)
    assert reply in seen["conversation"] and "sam (support)" in seen["conversation"]
    assert f"Ticket #{tid}" in seen["state"] and ": answered;" in seen["state"]
    listed = {t["id"]: t for t in ok(api(hub, "GET", "tickets?status=answered", "sam"))}
    assert listed[tid]["first_reply_s"] is not None


def test_a_session_reads_the_public_site_facts(hub, alice):
    _, env = alice
    resp = requests.get(
        env["AIFACTORY_FACTORY_URL"] + "api/site",
        headers={"Authorization": f"token {env['JUPYTERHUB_API_TOKEN']}"},
        timeout=30,
    )
    facts = resp.json()
    assert [p["name"] for p in facts["partitions"]] == ["cpu", "gpu"]
    assert facts["gpu_types"][0]["name"] == "sim" and facts["gpu_types"][0]["memory_gb"] == 80
    assert facts["access"]["rates"]["currency"] == "EUR"
    paths = ok(api(hub, "GET", "openapi.json", None))["paths"]
    assert {"/site", "/tickets", "/tickets/{id}/messages"} <= set(paths)


def test_the_getting_help_notebook_runs_in_the_users_session(hub, alice):
    """Opened and run in alice's session, as JupyterLab runs it: its kernel is the one the
    notebook names, in alice's Slurm job, as alice; its three widgets are shown."""
    job, _ = alice
    run = run_notebook(hub.url, "alice", hub.token("alice"), NOTEBOOKS / "getting-help.ipynb")
    assert run.errors == []
    assert (run.kernel, run.user, run.job) == ("aifactory", "alice", job)
    assert len(run.cells) == 3
    assert len(run.outputs(WIDGET_VIEW)) == 3  # the guides, the advisor, ask an expert
