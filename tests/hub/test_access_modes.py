"""The published access modes on the real hub, real store and real Slurm.

- FIFO modes: a Playground and a Fast Lane request go from submission to a provisioned Slurm
  account (its mode's QOS, the applicant's association) on staff's technical check alone, with
  no review round and no `decide`, and within their service-level clocks.
- Review modes: a Large Scale proposal submitted before its cut-off stays in review when the
  call is decided; once its cut-off has passed it is ranked and granted. The cut-off is
  brought forward to yesterday in the test hub's store (`tests.access.pass_cutoff`): the next
  real one may be two weeks away.
- Price: a charged industrial Fast Lane project runs a real job; its bill in the billing
  report is its hours (sacct's) at the site file's rates.
- Bad input: what a mode does not allow (applicant type, size, length), a call of a mode the
  site lacks and a cut-off set by the applicant are refused naming the field; nothing changes.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import select

from aifactory_hub import slurm
from aifactory_hub.policy.clocks import add_months, add_working_days, decision_due
from aifactory_hub.store import models as m
from tests.access import LARGE, api, draft, ok, pass_cutoff, store_of
from tests.hub.test_usage import NAME, collect, sacct_use
from tests.slurm.test_localcluster import wait_for_job
from tests.stack import sh, submit, wait_final_in_sacct

pytestmark = [pytest.mark.slurm, pytest.mark.hub]
# The service's own timers write these on their schedule, whatever the requests do: the
# accounting collector and the storage meter (every scan_interval_s; a pass during a case
# once made "nothing changed" fail).
BACKGROUND_TABLES = {"usage_jobs", "collector_state", "storage_use"}


@pytest.fixture(scope="module")
def store(hub_site):
    return store_of(hub_site[0])


def open_call(hub, mode: str, gpu_hours: float) -> dict:
    body = {
        "mode": mode,
        "title": f"{mode} {uuid.uuid4().hex[:6]}",
        "capacity": {"gpu": {"gpu_hours": gpu_hours, "cpu_hours": 10_000}},
    }
    return ok(api(hub, "POST", "calls", "sam", json=body), 201)


def proposal(hub, user: str, pid: int) -> dict:
    return ok(api(hub, "GET", f"proposals/{pid}", user))


def wait_provisioned(hub, user: str, account: str, timeout: float = 180) -> dict:
    """The project once provisioning is done (the service runs sacctmgr after the commit)."""
    deadline = time.monotonic() + timeout
    while True:
        project = ok(api(hub, "GET", f"projects/{account}", user))
        if project["provisioned_at"]:
            return project
        failed = [s for s in project["provisioning"] if s["status"] == "failed"]
        assert not failed, failed
        assert time.monotonic() < deadline, f"{account} not provisioned: {project}"
        time.sleep(1)


def associations(account: str) -> set[tuple[str, str, str]]:
    """(User, Partition, QOS) of every association of `account` in slurmdbd."""
    out = sh("sacctmgr", "-n", "-P", "show", "assoc", f"account={account}",
             "format=User,Partition,QOS")  # fmt: skip
    return {tuple(line.split("|")) for line in out.splitlines() if line}  # type: ignore[misc]


def submitted_on(record: dict) -> date:
    return datetime.fromisoformat(record["submitted_at"]).astimezone(UTC).date()


def decided_on(record: dict) -> date:
    return datetime.fromisoformat(record["decided_at"]).astimezone(UTC).date()


def through_fifo(hub, site, mode: str, user: str, body: dict) -> tuple[dict, dict]:
    """Submit `body` in a new call of FIFO `mode`; check it waits for staff's technical check
    only (no reviewers, no decision round), pass it; return (proposal, provisioned project)."""
    call = open_call(hub, mode, 10 * body["requests"][0]["gpu_hours"])
    draft_ = ok(api(hub, "POST", "proposals", user, json={**body, "call_id": call["id"]}), 201)
    submitted = ok(api(hub, "POST", f"proposals/{draft_['id']}/submit", user))
    settings = site.access.mode(mode)
    # waiting for the technical check: nothing granted yet, its clock running from today
    assert submitted["status"] == "in_review" and submitted["project"] is None
    assert submitted["cutoff_on"] is None and submitted["clock"] in ("running", "due")
    due = add_working_days(submitted_on(submitted), settings.decision_working_days,
                           site.access.holidays)  # fmt: skip
    assert submitted["decision_due_on"] == due.isoformat()
    assert decision_due(settings, submitted_on(submitted), site.access.holidays) == (None, due)

    # a first-come request has no peer review: a reviewer is refused
    reviewer = api(hub, "POST", f"proposals/{draft_['id']}/reviewers", "sam",
                   json={"reviewer": "rob"})  # fmt: skip
    assert reviewer.status_code == 409 and reviewer.json()["field"] == "reviewer", reviewer.text
    checked = ok(api(hub, "POST", f"proposals/{draft_['id']}/technical-check", "sam",
                     json={"feasible": True, "notes": "fits the gpu partition"}))  # fmt: skip
    assert checked["status"] == "granted", checked  # at once: no reviewers, no decide
    granted = proposal(hub, user, draft_["id"])
    assert granted["reviews"] == [] and granted["clock"] == "decided" and not granted["overdue"]
    assert decided_on(granted) <= date.fromisoformat(granted["decision_due_on"])
    return granted, wait_provisioned(hub, user, granted["project"])


@pytest.mark.parametrize(
    ("mode", "user", "gpu_hours", "months", "qos"),
    [
        ("playground", "bob", 50, 1, "af-playground"),
        ("fast_lane", "alice", 5_000, 2, "af-fastlane"),
    ],
)
def test_a_fifo_request_is_provisioned_on_its_technical_check_without_a_review_round(
    hub, hub_site, mode, user, gpu_hours, months, qos
):
    site, _ = hub_site
    body = draft(0, f"{mode} first tests", "Start-up Labs", gpu_hours, length_months=months)
    granted, project = through_fifo(hub, site, mode, user, body)
    account = granted["project"]
    assert project["access_mode"] == mode and project["status"] == "active"
    starts = date.fromisoformat(project["starts_on"])
    assert project["ends_on"] == add_months(starts, months).isoformat()
    assert associations(account) == {("", "", qos), (user, "gpu", qos)}
    limits = dict(line.split("|") for line in sh(
        "sacctmgr", "-n", "-P", "show", "assoc", f"account={account}",
        "format=User,GrpTRESMins").splitlines())  # fmt: skip
    assert f"gres/gpu={gpu_hours * 60}" in limits[""]  # the account's, in GPU-minutes
    # Slurm takes the member's job on it
    job = submit(user, f"--account={account}", "--partition=gpu", "--gres=gpu:1", "--time=1",
                 "--output=/dev/null", f"--job-name={NAME}", "--wrap=true")  # fmt: skip
    sh("scancel", str(job))


def test_a_large_scale_proposal_waits_for_its_cutoff_then_is_ranked_and_granted(hub, hub_site):
    """Reviewed and checked before its cut-off, the proposal stays in review when the call is
    decided; after the cut-off (brought forward to yesterday in the store, see the module
    docstring) the same decision ranks and grants it."""
    site, _ = hub_site
    settings = site.access.mode("large_scale")
    call = open_call(hub, "large_scale", LARGE)
    body = draft(call["id"], "Foundation model for robot grasping", "Beta Health", LARGE,
                 length_months=6)  # fmt: skip
    pid = ok(api(hub, "POST", "proposals", "carol", json=body), 201)["id"]
    submitted = ok(api(hub, "POST", f"proposals/{pid}/submit", "carol"))
    cutoff, due = decision_due(settings, submitted_on(submitted), site.access.holidays)
    assert submitted["status"] == "in_review" and cutoff is not None
    assert cutoff > submitted_on(submitted) and cutoff.day in settings.cutoff_days
    assert (submitted["cutoff_on"], submitted["decision_due_on"]) == (
        cutoff.isoformat(),
        due.isoformat(),
    )
    ok(api(hub, "POST", f"proposals/{pid}/technical-check", "sam", json={"feasible": True}))
    for reviewer, mark in (("rob", 5), ("ada", 4)):
        ok(api(hub, "POST", f"proposals/{pid}/reviewers", "sam", json={"reviewer": reviewer}))
        ok(api(hub, "PUT", f"proposals/{pid}/review", reviewer,
               json={"quality": mark, "pertinence": mark, "comment": "strong"}))  # fmt: skip

    # checked and reviewed, but before its cut-off: the preview does not rank it, and a
    # decision round has nothing to decide (409 naming the cut-off); nothing changes
    preview = ok(api(hub, "GET", f"calls/{call['id']}/ranking", "sam"))
    row = next(r for r in preview["rows"] if r["proposal_id"] == pid)
    assert row["rank"] is None and not row["ready"] and cutoff.isoformat() in row["why_not"]
    early = api(hub, "POST", f"calls/{call['id']}/decide", "sam")
    assert early.status_code == 409 and cutoff.isoformat() in early.json()["message"], early.text
    waiting = proposal(hub, "carol", pid)
    assert waiting["status"] == "in_review" and waiting["project"] is None
    assert waiting["decided_at"] is None and waiting["clock"] == "running"

    cutoff = pass_cutoff(site, [pid])
    decided = ok(api(hub, "POST", f"calls/{call['id']}/decide", "sam"))
    row = next(r for r in decided["rows"] if r["proposal_id"] == pid)
    assert (row["rank"], row["score"], row["status"]) == (1, 4.5, "granted")
    granted = proposal(hub, "carol", pid)
    assert granted["status"] == "granted" and granted["cutoff_on"] == cutoff.isoformat()
    assert granted["clock"] == "decided" and not granted["overdue"]
    assert cutoff <= decided_on(granted) <= date.fromisoformat(granted["decision_due_on"])
    project = wait_provisioned(hub, "carol", granted["project"])
    assert project["ends_on"] == add_months(date.fromisoformat(project["starts_on"]), 6).isoformat()
    assert associations(granted["project"]) == {("", "", "af-largescale"),
                                                ("carol", "gpu", "af-largescale")}  # fmt: skip


def test_staff_list_what_is_due_first_and_see_what_is_overdue(hub, store):
    """A Playground request (due 2 working days after submission) is listed before a Large
    Scale one (due 10 working days after its cut-off); one whose due date has passed (set to
    last week in the test hub's store: waiting a week for it is no test) is flagged overdue
    and listed first. Both are withdrawn afterwards."""
    queued = {}
    for mode, user, hours in (("playground", "bob", 10), ("large_scale", "alice", LARGE)):
        call = open_call(hub, mode, 2 * hours)
        body = draft(call["id"], f"Waiting in {mode}", "Start-up Labs", hours)
        pid = ok(api(hub, "POST", "proposals", user, json=body), 201)["id"]
        assert ok(api(hub, "POST", f"proposals/{pid}/submit", user))["status"] == "in_review"
        queued[mode] = (user, pid)
    try:
        order = [p["id"] for p in due_first(hub)]
        assert order.index(queued["playground"][1]) < order.index(queued["large_scale"][1])

        user, pid = queued["large_scale"]
        with store.begin() as db:
            db.get(m.Proposal, pid).decision_due_on = date.today() - timedelta(days=7)
        late = proposal(hub, user, pid)
        assert late["clock"] == "overdue" and late["overdue"] is True
        order = [p["id"] for p in due_first(hub)]
        assert order.index(pid) < order.index(queued["playground"][1])
    finally:
        for user, pid in queued.values():
            ok(api(hub, "POST", f"proposals/{pid}/withdraw", user))


def due_first(hub) -> list[dict]:
    """Staff's `GET proposals?sort=due`, checked: those waiting for a decision first, by due
    date (those with none after them), then the rest."""
    listed = ok(api(hub, "GET", "proposals?sort=due", "sam"))
    waiting = [p for p in listed if p["status"] == "in_review"]
    assert listed[: len(waiting)] == waiting
    dues = [p["decision_due_on"] for p in waiting]
    dated = [d for d in dues if d is not None]
    assert dues[: len(dated)] == dated and dated == sorted(dated)
    return waiting


def test_a_charged_industrial_projects_bill_is_its_hours_at_the_sites_rates(hub, hub_site):
    site, _ = hub_site
    rates = site.access.rates
    body = draft(0, "Defect detection for our own lines", "Beta Health", 100,
                 applicant_type="industry", open_results=False, academic_partner="")  # fmt: skip
    granted, project = through_fifo(hub, site, "fast_lane", "carol", body)
    assert granted["price"]["charged"] is True and project["charged"] is True
    account = granted["project"]
    job = submit("carol", f"--account={account}", "--partition=gpu", "--gres=gpu:1",
                 "--cpus-per-task=2", "--time=2", "--output=/dev/null", f"--job-name={NAME}",
                 "--wrap=sleep 20")  # fmt: skip
    try:
        wait_for_job(job, timeout=300)
    finally:
        slurm.run(["scancel", str(job)], check=False)
    wait_final_in_sacct(job)
    collect(hub)

    # Every job sacct knows on the account since the allocation began: ours, and any an
    # earlier run's test hub (a fresh store, the same shared cluster) charged to an account
    # of the same name today.
    use = sacct_use("-a", "-A", account, "-S", f"{project['starts_on']}T00:00:00", "-E", "now")
    cpu_seconds, gpu_seconds = use[str(job)]
    assert gpu_seconds >= 20 and cpu_seconds >= 2 * 20
    gpu_hours = Decimal(sum(g for _, g in use.values())) / 3600
    cpu_hours = Decimal(sum(c for c, _ in use.values())) / 3600
    amount = gpu_hours * Decimal(str(rates.gpu_hour_eur)) + cpu_hours * Decimal(
        str(rates.cpu_hour_eur)
    )
    expected = amount.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert expected > 0

    period = f"from={project['starts_on']}&to={date.today()}"
    report = ok(api(hub, "GET", f"usage/billing?{period}", "sam"))
    assert report["rates"] == rates.model_dump() and report["currency"] == rates.currency
    row = next(r for r in report["rows"] if r["account"] == account)
    assert row["charged"] is True and row["access_mode"] == "fast_lane"
    assert row["applicant_type"] == "industry"
    assert row["period"]["gpu_hours"] == pytest.approx(float(gpu_hours), abs=1 / 60)
    assert row["period"]["cpu_hours"] == pytest.approx(float(cpu_hours), abs=1 / 60)
    assert Decimal(row["charge"]) == expected
    csv_text = ok_text(api(hub, "GET", f"usage/billing.csv?{period}", "sam"))
    line = next(x for x in csv_text.splitlines() if x.startswith(f"{account},"))
    assert line.endswith(f",yes,{expected},{rates.currency}")


def ok_text(resp) -> str:
    assert resp.status_code == 200, resp.text
    return resp.text


# --- bad input ------------------------------------------------------------------------------


def snapshot(store) -> dict[str, Any]:
    """Every row of every table of the store but the collector's."""
    with store() as db:
        return {
            table.name: db.execute(select(table).order_by(*table.primary_key.columns)).all()
            for table in m.Base.metadata.sorted_tables
            if table.name not in BACKGROUND_TABLES
        }


def refused(resp, field: str) -> dict:
    assert resp.status_code == 400, resp.text
    answer = resp.json()
    assert answer["field"] == field and answer["message"], answer
    return answer


@pytest.fixture(scope="module")
def calls(hub) -> dict[str, int]:
    return {mode: open_call(hub, mode, 2 * LARGE)["id"] for mode in
            ("fast_lane", "large_scale", "ai_science")}  # fmt: skip


# GPU-hours each mode takes: a refusal below is for the one thing the case changes.
FITS = {"fast_lane": 1_000, "large_scale": LARGE, "ai_science": 1_000}
NOT_IN_THE_MODE = {
    "an academic applicant in Fast Lane": ("fast_lane", {"applicant_type": "academia"},
                                           "applicant_type"),
    "60,000 GPU-hours in Fast Lane": ("fast_lane", {"requests": [
        {"partition": "gpu", "gpu_hours": 60_000, "cpu_hours": 100}]}, "requests"),
    "6 months in Fast Lane": ("fast_lane", {"length_months": 6}, "length_months"),
    "no length": ("fast_lane", {"length_months": None}, "length_months"),
    "1,000 GPU-hours in Large Scale": ("large_scale", {"requests": [
        {"partition": "gpu", "gpu_hours": 1_000, "cpu_hours": 100}]}, "requests"),
    "3 months in AI for Science": ("ai_science", {"length_months": 3}, "length_months"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(NOT_IN_THE_MODE))
def test_a_draft_outside_its_modes_rules_is_refused_at_submit_and_nothing_changes(
    hub, store, calls, case
):
    """The draft is kept (drafts are saved as they are typed); the check names the field, and
    submitting it is refused with that field and changes nothing."""
    mode, change, field = NOT_IN_THE_MODE[case]
    body = {**draft(calls[mode], f"Outside {mode}", "Bob Labs", FITS[mode]), **change}
    checked = ok(api(hub, "POST", "proposals/check", "bob", json=body))
    assert not checked["eligible"] and field in {f["field"] for f in checked["findings"]}
    pid = ok(api(hub, "POST", "proposals", "bob", json=body), 201)["id"]
    before = snapshot(store)
    refused(api(hub, "POST", f"proposals/{pid}/submit", "bob"), field)
    assert snapshot(store) == before, "a refused submission changed something"
    assert proposal(hub, "bob", pid)["status"] == "draft"


def test_the_same_academic_draft_is_eligible_in_ai_for_science(hub, calls):
    """The control of the refusals above: an academic applicant is the mode's question."""
    body = draft(calls["ai_science"], "Protein language models", "University of Ljubljana",
                 LARGE, length_months=6, applicant_type="academia",
                 public_funding=True)  # fmt: skip
    checked = ok(api(hub, "POST", "proposals/check", "bob", json=body))
    assert checked["eligible"], checked["findings"]


def test_a_call_of_a_mode_the_site_lacks_is_refused_and_nothing_changes(hub, store):
    before = snapshot(store)
    body = {"mode": "moonshot", "title": "A mode no site file names",
            "capacity": {"gpu": {"gpu_hours": 10, "cpu_hours": 10}}}  # fmt: skip
    answer = refused(api(hub, "POST", "calls", "sam", json=body), "mode")
    assert "moonshot" in answer["message"]
    assert snapshot(store) == before


@pytest.mark.parametrize("field", ["cutoff_on", "decision_due_on"])
def test_an_applicant_cannot_set_their_own_cutoff_or_due_date(hub, store, calls, field):
    """The API takes no cut-off: the service sets it at submit from the mode's cut-off days.
    A draft naming one (in the past, to jump the queue) is refused as an unknown field."""
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    body = {**draft(calls["large_scale"], "Early bird", "Bob Labs", LARGE), field: yesterday}
    before = snapshot(store)
    refused(api(hub, "POST", "proposals", "bob", json=body), field)
    assert snapshot(store) == before
