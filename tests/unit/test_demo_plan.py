"""The demo's plan and its pure decisions (ops.demo_plan): what is still missing from what the
API shows, and that the plan itself reaches its stages under the real policy (eligibility on
the demo site, first-come grants against the call's capacity, the review round's ranking)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from aifactory_hub import policy
from aifactory_hub.access import bodies
from aifactory_hub.access.proposals import FIFO_MIN_FRACTION, check
from aifactory_hub.ops import demo_plan as dp
from aifactory_hub.ops.demo_plan import DEMO
from aifactory_hub.site import load_site


def spec(key: str) -> dp.ProposalSpec:
    return next(p for p in DEMO.proposals if p.key == key)


def unchecked(status: str = "in_review", reviews=()) -> dict:
    # As staff see a request: a check record with feasible None until the check is made.
    return {"status": status, "technical_check": {"feasible": None}, "reviews": list(reviews)}


# --- what is still missing -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "steps"),
    [
        ("summaries", [("create",)]),
        ("folding", [("create",), ("submit",)]),
        ("vision", [("create",), ("submit",), ("check",)]),
        ("speech", [("create",), ("submit",), ("check",)]),
        ("clinical-fm", [("create",), ("submit",), ("check",), ("assign", "rita")]),
        (
            "manipulation",
            [("create",), ("submit",), ("check",), ("assign", "rita"), ("review", "rita", "5"),
             ("assign", "rob"), ("review", "rob", "5")],
        ),
    ],
)  # fmt: skip
def test_a_new_request_takes_every_step_to_its_stage(key, steps):
    assert dp.proposal_steps(spec(key), None) == steps


def test_a_request_at_its_stage_needs_nothing_more():
    assert dp.proposal_steps(spec("summaries"), {"status": "draft"}) == []
    assert dp.proposal_steps(spec("folding"), unchecked()) == []
    for status in ("granted", "waitlisted", "partial", "rejected"):
        assert dp.proposal_steps(spec("vision"), {"status": status}) == []
    done = [{"reviewer": "rita", "submitted": True}, {"reviewer": "rob", "submitted": True}]
    checked = {"status": "in_review", "technical_check": {"feasible": True}, "reviews": done}
    assert dp.proposal_steps(spec("manipulation"), checked) == []


def test_a_half_made_request_gets_only_what_it_lacks():
    # A run that stopped after staff assigned rita: rita scores, rob is assigned and scores.
    half = unchecked(reviews=[{"reviewer": "rita", "submitted": False}])
    assert dp.proposal_steps(spec("nowcasting"), half) == [
        ("check",),
        ("review", "rita", "3"),
        ("assign", "rob"),
        ("review", "rob", "3"),
    ]
    # A draft left by a run that failed before the submission.
    assert dp.proposal_steps(spec("vision"), {"status": "draft"}) == [("submit",), ("check",)]
    # The applicant's view has no check record at all before the check.
    assert dp.proposal_steps(spec("vision"), {"status": "in_review"}) == [("check",)]


def test_the_demo_finds_its_own_request_only():
    s = spec("vision")
    rows = [
        {"id": 1, "call_id": 1, "applicant": "alice", "title": s.title, "status": "withdrawn"},
        {"id": 2, "call_id": 2, "applicant": "alice", "title": s.title, "status": "draft"},
        {"id": 3, "call_id": 1, "applicant": "bob", "title": s.title, "status": "draft"},
        {"id": 4, "call_id": 1, "applicant": "alice", "title": s.title, "status": "granted"},
    ]
    assert dp.find_proposal(rows, s, 1)["id"] == 4
    assert dp.find_proposal(rows[:3], s, 1) is None


def test_members_are_added_once():
    project = {"members": [{"username": "alice", "role": "pi"}]}
    assert dp.missing_members(spec("vision"), project) == ["bob"]
    project["members"].append({"username": "bob", "role": "member"})
    assert dp.missing_members(spec("vision"), project) == []


def test_the_round_is_due_only_once_a_cutoff_has_come():
    today = date(2026, 12, 6)
    waiting = [{"status": "in_review", "cutoff_on": "2026-12-15"}]
    assert not dp.round_due(waiting, today)
    assert dp.round_due(waiting, date(2026, 12, 15))
    assert not dp.round_due([{"status": "granted", "cutoff_on": "2026-12-01"}], today)
    assert not dp.round_due([{"status": "in_review", "cutoff_on": None}], today)
    assert dp.next_cutoff([*waiting, {"status": "in_review", "cutoff_on": "2027-01-01"}]) == (
        "2026-12-15"
    )


def test_a_job_already_submitted_is_not_submitted_again():
    recent = [{"name": dp.JOB_NAME, "account": "prj-1"}, {"name": "train", "account": "prj-2"}]
    assert dp.has_demo_job(recent, [], "prj-1")
    assert not dp.has_demo_job(recent, [], "prj-2")
    assert dp.has_demo_job([], ["42"], "prj-2")  # queued, not in accounting yet


def test_jobs_count_from_the_grant_in_utc():
    assert dp.sacct_time("2026-12-06T01:59:07.123+00:00") == "2026-12-06T01:59:07"
    assert dp.sacct_time("2026-12-06T02:59:07+01:00") == "2026-12-06T01:59:07"


def test_job_options_and_script():
    cpu = dp.job_options(dp.JobSpec("alice", "vision", "cpu"), "prj-1", "/home/alice")
    assert "--account=prj-1" in cpu and "--partition=cpu" in cpu
    assert f"--job-name={dp.JOB_NAME}" in cpu and not any(o.startswith("--gres") for o in cpu)
    gpu = dp.job_options(dp.JobSpec("bob", "vision", "gpu", gpus=1), "prj-1", "/home/bob")
    assert "--gres=gpu:1" in gpu and "--output=/home/bob/aifactory-demo-%j.out" in gpu
    script = dp.job_script(20)
    assert script.startswith("#!/bin/bash\n") and "timeout 20 sha256sum /dev/zero || true" in script


def test_the_workshop_is_planned_days_ahead_in_utc():
    ws = DEMO.workshop
    now = datetime(2026, 12, 6, 23, 30, tzinfo=timezone(timedelta(hours=-5)))  # 04:30 UTC
    starts, ends = dp.workshop_window(ws, now)
    assert starts == datetime(2026, 12, 14, ws.start_hour, tzinfo=UTC)
    assert ends - starts == timedelta(hours=ws.hours)
    rows = [
        {"id": 1, "title": ws.title, "status": "ended"},
        {"id": 2, "title": "Other", "status": "planned"},
    ]
    assert dp.planned_workshop(rows, ws) is None
    rows.append({"id": 3, "title": ws.title, "status": "planned"})
    assert dp.planned_workshop(rows, ws)["id"] == 3


def test_everyone_the_demo_acts_as_is_a_demo_user():
    site = load_site()
    names = {u.name for u in site.users}
    assert set(DEMO.users()) <= names
    roles = {u.name: set(u.roles) for u in site.users}
    assert "support" in roles[DEMO.staff] and "trainer" in roles[DEMO.workshop.trainer]
    assert all("reviewer" in roles[r] for p in DEMO.proposals for r, _ in p.reviews)


# --- the plan reaches its stages under the real policy -------------------------------------------


def test_every_request_passes_the_automatic_checks_of_its_mode():
    site = load_site()
    for s in DEMO.proposals:
        mode = DEMO.call(s.call).mode
        result = check(site, mode, s.applicant, bodies.Draft(**s.draft(1)))
        assert result.eligible, (s.key, result.findings)


def _capacity(call: dp.CallSpec) -> dict[str, tuple[float, float]]:
    return {k: (v.get("gpu_hours", 0), v.get("cpu_hours", 0)) for k, v in call.capacity.items()}


def _candidate(pid: int, s: dp.ProposalSpec, score: float = 0.0) -> policy.Candidate:
    requests = tuple(policy.Request(**r) for r in s.requests)
    return policy.Candidate(proposal_id=pid, score=score, requests=requests)


def test_first_come_checks_in_plan_order_grant_then_waitlist():
    """As `record_technical_check` does: each checked request alone against what is left."""
    call = DEMO.call("fast_lane")
    left = _capacity(call)
    outcome = {}
    for pid, s in enumerate(DEMO.proposals):
        if s.call != call.key or s.stage not in ("granted", "waitlisted"):
            continue
        (decision,) = policy.decide([_candidate(pid, s)], left, min_fraction=FIFO_MIN_FRACTION)
        outcome[s.key] = decision.status
        for g in decision.granted:
            gpu, cpu = left[g.partition]
            left[g.partition] = (gpu - g.gpu_hours, cpu - g.cpu_hours)
    assert outcome == {s.key: s.stage for s in DEMO.proposals if s.key in outcome}
    assert sorted(outcome.values()) == ["granted", "granted", "waitlisted"]


def test_the_review_round_grants_one_in_full_and_the_other_partly():
    call = DEMO.call("large_scale")
    round_ = [s for s in DEMO.proposals if s.call == call.key and s.stage == "round"]
    candidates = [
        _candidate(
            pid, s, policy.combined([policy.Score(quality=m, pertinence=m) for _, m in s.reviews])
        )
        for pid, s in enumerate(round_)
    ]
    decisions = {d.proposal_id: d for d in policy.decide(candidates, _capacity(call))}
    assert [decisions[i].status for i in range(len(round_))] == ["granted", "partial"]
    assert 0 < decisions[1].fraction < 1


# --- the summary ------------------------------------------------------------------------------


def test_the_summary_says_what_exists_and_when_the_round_is_decided():
    fifo, review = DEMO.call("fast_lane"), DEMO.call("large_scale")
    seen = dp.Seen(
        calls=[
            {"id": 1, "title": fifo.title, "status": "open",
             "remaining": {"gpu": {"gpu_hours": 200, "cpu_hours": 800}}},
            {"id": 9, "title": "someone else's call", "status": "open", "remaining": {}},
        ],
        proposals=[
            {"id": 1, "applicant": "alice", "title": spec("vision").title, "status": "granted",
             "access_mode": "fast_lane", "project": "prj-1", "reviews": []},
            {"id": 4, "applicant": "bob", "title": spec("folding").title, "status": "in_review",
             "access_mode": "fast_lane", "project": None, "reviews": []},
            {"id": 6, "applicant": "alice", "title": spec("manipulation").title,
             "status": "in_review", "access_mode": "large_scale", "cutoff_on": "2026-12-15",
             "project": None, "reviews": [{"submitted": True}, {"submitted": True}]},
        ],
        projects=[{"account": "prj-1", "status": "active",
                   "members": [{"username": "alice"}, {"username": "bob"}]}],
        jobs={"prj-1": ["17", "18"]},
        collector_interval_s=60,
    )  # fmt: skip
    text = "\n".join(dp.summary(seen))
    assert fifo.title in text and "someone else's call" not in text and review.title not in text
    assert "gpu 200 GPU-h/800 CPU-h" in text
    assert "submitted, waiting for its technical check" in text
    assert "in review (2 reviewer(s), 2 score(s); cut-off 2026-12-15)" in text
    assert "decided at its cut-off, 2026-12-15" in text
    assert "project prj-1 (active in Slurm): alice, bob" in text
    assert "2 demo job(s) submitted now" in text and "every 60 s" in text
    seen.jobs = {}
    assert "none added (each member's demo job is already in Slurm)" in "\n".join(dp.summary(seen))
    assert dp.stage_counts(seen.proposals) == {"granted": 1, "in_review": 2}
